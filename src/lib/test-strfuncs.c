#include "test-lib.h"

static void test_strsplit(void)
{
	test_begin("t_strsplit");
	const char **a = t_strsplit("a,,b", ",");
	test_assert(str_array_length(a) == 3);
	test_assert_strcmp(a[1], "");
	a = t_strsplit_spaces("  a  b ", " ");
	test_assert(str_array_length(a) == 2);
	test_assert_strcmp(t_strarray_join(a, "+"), "a+b");
	test_end();
}

static void test_str_to_num(void)
{
	test_begin("str_to_uint64 strictness");
	uint64_t n;
	unsigned int u;
	int64_t s;
	test_assert(str_to_uint64("18446744073709551615", &n) == 0 && n == UINT64_MAX);
	test_assert(str_to_uint64("18446744073709551616", &n) < 0);
	test_assert(str_to_uint64("", &n) < 0);
	test_assert(str_to_uint64("1 ", &n) < 0);
	test_assert(str_to_uint64("-1", &n) < 0);
	test_assert(str_to_uint("4294967296", &u) < 0);
	test_assert(str_to_int64("-9223372036854775808", &s) == 0 && s == INT64_MIN);
	test_assert(str_to_int64("9223372036854775808", &s) < 0);
	test_end();
}

static void test_str_misc(void)
{
	test_begin("string helpers");
	test_assert(str_begins("foobar", "foo"));
	test_assert(!str_begins("fo", "foo"));
	test_assert(str_begins_icase("FOObar", "foo"));
	test_assert(str_ends_with("foo.conf", ".conf"));
	test_assert_strcmp(t_str_lcase("AbC"), "abc");
	test_assert_strcmp(t_str_trim("  x y \t", " \t"), "x y");
	test_assert_strcmp(str_sanitize("a\r\nb", 100), "a\\x0d\\x0ab");
	test_assert_strcmp(str_sanitize("abcdef", 3), "abc...");
	test_end();
}

static void test_str_array_kv_get(void)
{
	static const char *const fields[] = {
		"home=/h", "quota_rule2=*:messages=5", "quota_rule=*:storage=1G",
		"empty=", "home=/second", "flag", NULL
	};

	test_begin("str_array_kv_get");
	test_assert_strcmp(str_array_kv_get(fields, "home"), "/h");
	test_assert_strcmp(str_array_kv_get(fields, "quota_rule"),
			   "*:storage=1G");
	test_assert_strcmp(str_array_kv_get(fields, "empty"), "");
	test_assert(str_array_kv_get(fields, "flag") == NULL);
	test_assert(str_array_kv_get(fields, "hom") == NULL);
	test_assert(str_array_kv_get(fields, "quota") == NULL);
	test_assert(str_array_kv_get(NULL, "home") == NULL);
	test_end();
}

test_func_t *const test_strfuncs_tests[] = {
	test_strsplit, test_str_to_num, test_str_misc,
	test_str_array_kv_get, NULL
};
