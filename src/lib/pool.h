/* Memory pools. An alloconly pool is an arena: allocations are freed all at
   once when the pool is cleared or its last reference goes. The system pool
   maps onto the heap. The data stack (t_*) is a process-wide arena with
   frames: everything allocated inside T_BEGIN..T_END is released at T_END;
   the event loop wraps every callback in a frame. */
#ifndef COLUMBA_POOL_H
#define COLUMBA_POOL_H

typedef struct pool *pool_t;

/* The heap: p_free() really frees, p_realloc() reallocates. */
extern pool_t system_pool;

/* Create an arena. initial_size is the first block's size (grows by
   doubling). The pool starts with one reference. */
pool_t pool_alloconly_create(const char *name, size_t initial_size);
void pool_ref(pool_t pool);
/* Drop a reference and set *pool to NULL. The last one frees everything. */
void pool_unref(pool_t *pool);
/* Free everything allocated from an alloconly pool, keeping its first block. */
void pool_clear(pool_t pool);
const char *pool_get_name(pool_t pool);
/* Bytes handed out by an alloconly pool (for accounting and tests). */
size_t pool_get_used_size(pool_t pool);
bool pool_is_alloconly(pool_t pool);

/* Zeroed memory, never NULL. */
void *p_malloc(pool_t pool, size_t size);
/* Grow or shrink; new bytes are zeroed. On an alloconly pool the last
   allocation grows in place, others are copied. */
void *p_realloc(pool_t pool, void *mem, size_t old_size, size_t new_size);
/* Free on the system pool; no-op on alloconly pools. */
void p_free_(pool_t pool, void *mem);
#define p_free(pool, mem) do { p_free_(pool, mem); (mem) = NULL; } while (0)
#define p_new(pool, type, count) \
	((type *)p_malloc(pool, size_mul(sizeof(type), (count))))

char *p_strdup(pool_t pool, const char *str);
char *p_strndup(pool_t pool, const void *str, size_t max_len);
void *p_memdup(pool_t pool, const void *data, size_t size);
char *p_strdup_printf(pool_t pool, const char *fmt, ...) ATTR_FORMAT(2, 3);
char *p_strdup_vprintf(pool_t pool, const char *fmt, va_list args)
	ATTR_FORMAT(2, 0);

/* Data stack. Memory from it must not be grown from a deeper frame than
   the one it was allocated in (T_END of the deeper frame would reclaim the
   growth): buffers check this and panic. */
extern pool_t pool_datastack;
unsigned int t_push(void);
void t_pop(unsigned int *frame_id);
#define T_BEGIN { unsigned int t_frame_id_ = t_push();
#define T_END t_pop(&t_frame_id_); }
#define t_malloc(size) p_malloc(pool_datastack, size)
#define t_new(type, count) p_new(pool_datastack, type, count)
#define t_strdup(str) p_strdup(pool_datastack, str)
#define t_strndup(str, len) p_strndup(pool_datastack, str, len)
#define t_strdup_printf(...) p_strdup_printf(pool_datastack, __VA_ARGS__)
/* Frames currently open (0 outside any T_BEGIN). */
unsigned int t_depth(void);

#endif
