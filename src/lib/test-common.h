/* The unit-test runner shared by every library's test program.
     static void test_foo(void) {
             test_begin("foo");
             test_assert(1 + 1 == 2);
             test_end();
     }
   test_run() runs a NULL-terminated list and prints "N passed, N failed"
   (N counts test_begin()..test_end() units). */
#ifndef COLUMBA_TEST_COMMON_H
#define COLUMBA_TEST_COMMON_H

#include "lib.h"

void test_begin(const char *name);
void test_end(void);
#define test_assert(expr) test_assert_(!!(expr), #expr, __FILE__, __LINE__, -1)
#define test_assert_idx(expr, idx) \
	test_assert_(!!(expr), #expr, __FILE__, __LINE__, (long long)(idx))
#define test_assert_strcmp(a, b) test_assert_strcmp_(a, b, __FILE__, __LINE__)
void test_assert_(bool ok, const char *expr, const char *file, int line,
		  long long idx);
void test_assert_strcmp_(const char *a, const char *b, const char *file,
			 int line);
/* Fail the current test with a message. */
void test_fail(const char *fmt, ...) ATTR_FORMAT(1, 2);
/* Expect the next log line of this type (at least once) inside the test;
   unexpected warnings/errors fail the test. */
void test_expect_log(enum log_type type, const char *substring);
/* A fresh empty directory for this test program (removed at exit). */
const char *test_dir(void);

typedef void test_func_t(void);
/* Returns the process exit code: 0 when all passed. */
int test_run(test_func_t *const tests[]);

#endif
