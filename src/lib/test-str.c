#include "test-lib.h"

static void test_str_basic(void)
{
	test_begin("str append/printf");
	string_t *s = str_new(system_pool, 4);
	str_append(s, "abc");
	str_append_c(s, 'd');
	str_printfa(s, "%d%s", 123, "xyz");
	test_assert_strcmp(str_c(s), "abcd123xyz");
	test_assert(str_len(s) == 10);
	str_truncate(s, 3);
	test_assert_strcmp(str_c(s), "abc");
	for (int i = 0; i < 10000; i++)
		str_append(s, "0123456789");
	test_assert(str_len(s) == 100003);
	buffer_delete(s, 0, 3);
	test_assert(memcmp(str_c(s), "0123", 4) == 0);
	str_free(&s);
	test_assert(s == NULL);
	test_end();
}

static void test_buffer_lazy(void)
{
	test_begin("buffer lazy allocation and release");
	buffer_t buf;
	buffer_init(&buf, system_pool);
	test_assert(buf.data == NULL && buf.alloc == 0);
	buffer_append(&buf, "x", 1);
	test_assert(buf.alloc > 0);
	buffer_release(&buf);
	test_assert(buf.data == NULL && buf.used == 0);
	test_end();
}

static void test_str_datastack_frames(void)
{
	test_begin("data stack string grows in its own frame");
	string_t *s = t_str_new(8);
	T_BEGIN {
		/* appending within capacity from an inner frame is fine */
		str_append(s, "abc");
	} T_END;
	for (int i = 0; i < 1000; i++)
		str_append(s, "0123456789");
	test_assert(str_len(s) == 10003);
	test_assert(memcmp(str_c(s), "abc0123", 7) == 0);
	test_end();
}

test_func_t *const test_str_tests[] = {
	test_str_basic, test_buffer_lazy, test_str_datastack_frames, NULL
};
