/* Common definitions every Columba source file includes first: standard
   headers, attribute macros, assertions and the aborting allocator. */
#ifndef COLUMBA_LIB_H
#define COLUMBA_LIB_H

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define N_ELEMENTS(arr) (sizeof(arr) / sizeof((arr)[0]))
#define ATTR_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_WARN_UNUSED __attribute__((warn_unused_result))
#define ATTR_UNUSED __attribute__((unused))
#define ATTR_NULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define I_MIN(a, b) ((a) < (b) ? (a) : (b))
#define I_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CONTAINER_OF(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* i_panic() is declared here so that i_assert() works everywhere. */
void i_panic(const char *fmt, ...) ATTR_FORMAT(1, 2) ATTR_NORETURN;

#define i_assert(expr) do { \
	if (unlikely(!(expr))) \
		i_panic("file %s: line %d (%s): assertion failed: (%s)", \
			__FILE__, __LINE__, __func__, #expr); \
	} while (0)
/* Expression form, for use inside other expressions. */
#define i_assert_expr(expr) \
	((void)(likely(expr) ? 0 : \
		(i_panic("file %s: line %d (%s): assertion failed: (%s)", \
			 __FILE__, __LINE__, __func__, #expr), 0)))
#define i_unreached() \
	i_panic("file %s: line %d (%s): unreached", __FILE__, __LINE__, __func__)

/* Heap allocation. Memory is zeroed. Allocation failure aborts the process:
   callers never check for NULL. */
void *i_malloc(size_t size);
void *i_realloc(void *mem, size_t old_size, size_t new_size);
char *i_strdup(const char *str);
char *i_strndup(const char *str, size_t max_len);
char *i_strdup_printf(const char *fmt, ...) ATTR_FORMAT(1, 2);
char *i_strdup_vprintf(const char *fmt, va_list args) ATTR_FORMAT(1, 0);
#define i_new(type, count) ((type *)i_malloc(sizeof(type) * (count)))
/* Free and set the pointer to NULL. */
#define i_free(mem) do { free(mem); (mem) = NULL; } while (0)
/* Overwrite a secret before freeing or leaving scope (not optimised away). */
void safe_memset(void *data, int c, size_t size);

/* Overflow-checked size arithmetic: aborts instead of wrapping. */
size_t size_add(size_t a, size_t b);
size_t size_mul(size_t a, size_t b);

#include "pool.h"
#include "str.h"
#include "array.h"
#include "log.h"
#include "strfuncs.h"

#endif
