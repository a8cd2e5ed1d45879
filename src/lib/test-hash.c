#include "test-lib.h"
#include "hash.h"

static void test_hash_str(void)
{
	test_begin("hash table strings");
	pool_t pool = pool_alloconly_create("hash keys", 1024);
	struct hash_table *h = hash_table_create_str(system_pool, 0);
	for (int i = 0; i < 5000; i++) {
		char *k = p_strdup_printf(pool, "key%d", i);
		hash_table_insert(h, k, (void *)(uintptr_t)(i + 1));
	}
	test_assert(hash_table_count(h) == 5000);
	bool ok = true;
	for (int i = 0; i < 5000; i++) {
		const char *k = t_strdup_printf("key%d", i);
		if (hash_table_lookup(h, k) != (void *)(uintptr_t)(i + 1))
			ok = false;
	}
	test_assert(ok);
	for (int i = 0; i < 5000; i += 2)
		test_assert(hash_table_remove(h, t_strdup_printf("key%d", i)));
	test_assert(!hash_table_remove(h, "key0"));
	test_assert(hash_table_count(h) == 2500);
	ok = true;
	for (int i = 0; i < 5000; i++) {
		void *v = hash_table_lookup(h, t_strdup_printf("key%d", i));
		if ((i % 2 == 0) != (v == NULL))
			ok = false;
	}
	test_assert(ok);
	struct hash_iterate it;
	void *k, *v;
	unsigned int n = 0;
	hash_table_iterate_init(h, &it);
	while (hash_table_iterate(&it, &k, &v))
		n++;
	test_assert(n == 2500);
	hash_table_destroy(&h);
	pool_unref(&pool);
	test_end();
}

static void test_hash_strcase(void)
{
	test_begin("hash table case-insensitive");
	struct hash_table *h = hash_table_create_strcase(system_pool, 4);
	hash_table_insert(h, "Hello", "1");
	test_assert(hash_table_lookup(h, "HELLO") != NULL);
	hash_table_insert(h, "hello", "2");
	test_assert(hash_table_count(h) == 1);
	test_assert_strcmp(hash_table_lookup(h, "hElLo"), "2");
	hash_table_destroy(&h);
	test_end();
}

test_func_t *const test_hash_tests[] = {
	test_hash_str, test_hash_strcase, NULL
};
