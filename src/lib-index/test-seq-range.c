/* Tests for UID/sequence range sets: merging, removal, membership, IMAP
   set syntax. */
#include "test-lib-index.h"

static const char *set_str(const ARRAY_TYPE(seq_range) *arr)
{
	string_t *str = t_str_new(64);
	seq_range_write(str, arr);
	return str_c(str);
}

static void test_seq_range_add(void)
{
	ARRAY_TYPE(seq_range) arr;

	test_begin("seq_range add and merge");
	array_init(&arr, pool_datastack, 4);
	seq_range_array_add(&arr, 5);
	seq_range_array_add(&arr, 6);
	seq_range_array_add(&arr, 8);
	test_assert_strcmp(set_str(&arr), "5:6,8");
	seq_range_array_add(&arr, 7);
	test_assert_strcmp(set_str(&arr), "5:8");
	seq_range_array_add(&arr, 1);
	seq_range_array_add_range(&arr, 10, 12);
	test_assert_strcmp(set_str(&arr), "1,5:8,10:12");
	seq_range_array_add_range(&arr, 2, 11);
	test_assert_strcmp(set_str(&arr), "1:12");
	seq_range_array_add(&arr, UINT32_MAX);
	seq_range_array_add(&arr, UINT32_MAX - 1);
	test_assert(seq_range_exists(&arr, UINT32_MAX));
	test_assert(!seq_range_exists(&arr, 13));
	test_assert(seq_range_count(&arr) == 14);
	test_end();
}

static void test_seq_range_remove(void)
{
	ARRAY_TYPE(seq_range) arr;

	test_begin("seq_range remove");
	array_init(&arr, pool_datastack, 4);
	seq_range_array_add_range(&arr, 1, 10);
	seq_range_array_add_range(&arr, 20, 30);
	test_assert(seq_range_array_remove_range(&arr, 5, 6) == 2);
	test_assert_strcmp(set_str(&arr), "1:4,7:10,20:30");
	test_assert(seq_range_array_remove_range(&arr, 9, 25) == 8);
	test_assert_strcmp(set_str(&arr), "1:4,7:8,26:30");
	test_assert(seq_range_array_remove_range(&arr, 1, 100) == 11);
	test_assert(array_count(&arr) == 0);
	test_end();
}

static void test_seq_range_parse(void)
{
	ARRAY_TYPE(seq_range) arr;

	test_begin("seq_range parse");
	array_init(&arr, pool_datastack, 4);
	test_assert(seq_range_parse("1:3,5,9:7,20:*", 25, &arr) == 0);
	test_assert_strcmp(set_str(&arr), "1:3,5,7:9,20:25");
	array_clear(&arr);
	test_assert(seq_range_parse("*", 0, &arr) == 0);
	test_assert(array_count(&arr) == 0);
	test_assert(seq_range_parse("0", 10, &arr) < 0);
	test_assert(seq_range_parse("1,", 10, &arr) < 0);
	test_assert(seq_range_parse("1:a", 10, &arr) < 0);
	test_assert(seq_range_parse("4294967296", 10, &arr) < 0);
	test_assert(seq_range_parse("", 10, &arr) < 0);
	test_end();
}

test_func_t *const test_seq_range_tests[] = {
	test_seq_range_add,
	test_seq_range_remove,
	test_seq_range_parse,
	NULL
};
