#include "test-lib.h"

static void test_pool_alloconly(void)
{
	test_begin("pool alloconly");
	pool_t pool = pool_alloconly_create("test", 64);
	char *a = p_strdup(pool, "hello");
	void *big = p_malloc(pool, 100000);
	test_assert(((uintptr_t)big % 16) == 0);
	test_assert(((unsigned char *)big)[99999] == 0);
	test_assert_strcmp(a, "hello");
	char *b = p_malloc(pool, 10);
	memcpy(b, "123456789", 10);
	char *c = p_realloc(pool, b, 10, 20);
	test_assert(c == b); /* last allocation grows in place */
	test_assert_strcmp(c, "123456789");
	test_assert(c[19] == 0);
	test_assert(pool_get_used_size(pool) >= 100000);
	pool_clear(pool);
	test_assert(pool_get_used_size(pool) == 0);
	pool_ref(pool);
	pool_t p2 = pool;
	pool_unref(&p2);
	test_assert(p2 == NULL);
	pool_unref(&pool);
	test_assert(pool == NULL);
	test_end();
}

static void test_pool_datastack(void)
{
	test_begin("data stack frames");
	unsigned int depth = t_depth();
	const char *outer = t_strdup("outer");
	T_BEGIN {
		test_assert(t_depth() == depth + 1);
		for (int i = 0; i < 1000; i++)
			(void)t_malloc(1000);
		const char *s = t_strdup_printf("%d-%s", 42, "x");
		test_assert_strcmp(s, "42-x");
	} T_END;
	test_assert(t_depth() == depth);
	test_assert_strcmp(outer, "outer");
	test_end();
}

static void test_array(void)
{
	test_begin("array");
	ARRAY(int) arr;
	array_init(&arr, system_pool, 0);
	for (int i = 0; i < 100; i++)
		array_push(&arr, i);
	test_assert(array_count(&arr) == 100);
	array_delete(&arr, 10, 5);
	test_assert(array_count(&arr) == 95);
	test_assert(*array_idx(&arr, 10) == 15);
	int *p, sum = 0;
	array_foreach(&arr, p)
		sum += *p;
	test_assert(sum == 4950 - (10 + 11 + 12 + 13 + 14));
	int *n = array_append_space(&arr);
	test_assert(*n == 0 && array_count(&arr) == 96);
	array_free(&arr);
	test_end();
}

test_func_t *const test_pool_tests[] = {
	test_pool_alloconly, test_pool_datastack, test_array, NULL
};
