/* Unit-test runner: counts units and failed asserts, checks that a unit logs
   no unexpected warning or error, and prints the closing summary line. */
#include "test-common.h"
#include <ftw.h>

static const char *test_name;
static bool test_failed, test_in_unit;
static unsigned int tests_passed, tests_failed;
static char *expect_substr;
static enum log_type expect_type;
static bool expect_seen;
static char test_dir_path[] = "/tmp/columba-test.XXXXXX";
static bool test_dir_created;

static void test_log_handler(enum log_type type, const char *line,
			     void *context ATTR_UNUSED)
{
	if (expect_substr != NULL && type == expect_type &&
	    strstr(line, expect_substr) != NULL) {
		expect_seen = true;
		return;
	}
	fprintf(stderr, "%s\n", line);
	if (type >= LOG_TYPE_WARNING && test_in_unit) {
		fprintf(stderr, "  (unexpected %s in test %s)\n",
			log_type_name(type), test_name);
		test_failed = true;
	}
}

void test_begin(const char *name)
{
	i_assert(!test_in_unit);
	test_name = name;
	test_failed = false;
	test_in_unit = true;
}

void test_expect_log(enum log_type type, const char *substring)
{
	free(expect_substr);
	expect_substr = strdup(substring);
	expect_type = type;
	expect_seen = false;
}

void test_end(void)
{
	i_assert(test_in_unit);
	if (expect_substr != NULL && !expect_seen) {
		fprintf(stderr, "  expected %s log containing '%s' was not seen\n",
			log_type_name(expect_type), expect_substr);
		test_failed = true;
	}
	free(expect_substr);
	expect_substr = NULL;
	printf("%-60s %s\n", test_name, test_failed ? "FAILED" : "ok");
	fflush(stdout);
	if (test_failed)
		tests_failed++;
	else
		tests_passed++;
	test_in_unit = false;
}

void test_assert_(bool ok, const char *expr, const char *file, int line,
		  long long idx)
{
	if (ok)
		return;
	if (idx >= 0)
		printf("  %s:%d: assert(#%lld) failed: %s\n", file, line, idx, expr);
	else
		printf("  %s:%d: assert failed: %s\n", file, line, expr);
	test_failed = true;
}

void test_assert_strcmp_(const char *a, const char *b, const char *file,
			 int line)
{
	if (a != NULL && b != NULL && strcmp(a, b) == 0)
		return;
	if (a == NULL && b == NULL)
		return;
	printf("  %s:%d: strings differ: '%s' != '%s'\n", file, line,
	       a == NULL ? "(null)" : a, b == NULL ? "(null)" : b);
	test_failed = true;
}

void test_fail(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	printf("  %s: ", test_name);
	vprintf(fmt, args);
	printf("\n");
	va_end(args);
	test_failed = true;
}

static int rm_cb(const char *path, const struct stat *st ATTR_UNUSED,
		 int flag ATTR_UNUSED, struct FTW *ftw ATTR_UNUSED)
{
	return remove(path);
}

static void test_dir_cleanup(void)
{
	if (test_dir_created)
		nftw(test_dir_path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_dir(void)
{
	if (!test_dir_created) {
		if (mkdtemp(test_dir_path) == NULL)
			i_fatal("mkdtemp(%s) failed: %m", test_dir_path);
		test_dir_created = true;
		atexit(test_dir_cleanup);
	}
	return test_dir_path;
}

int test_run(test_func_t *const tests[])
{
	log_set_handler(test_log_handler, NULL);
	for (unsigned int i = 0; tests[i] != NULL; i++) {
		T_BEGIN {
			tests[i]();
		} T_END;
		if (test_in_unit) {
			printf("test %s did not call test_end()\n", test_name);
			tests_failed++;
			test_in_unit = false;
		}
	}
	printf("%u passed, %u failed\n", tests_passed, tests_failed);
	return tests_failed == 0 ? 0 : 1;
}
