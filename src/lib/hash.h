/* Hash tables with open addressing (linear probing, backward-shift
   deletion: no tombstones). Keys and values are pointers the caller owns;
   the table only stores them. */
#ifndef COLUMBA_HASH_H
#define COLUMBA_HASH_H

typedef unsigned int hash_callback_t(const void *key);
typedef int hash_cmp_callback_t(const void *a, const void *b);

struct hash_table;
struct hash_iterate {
	struct hash_table *table;
	unsigned int pos;
};

struct hash_table *hash_table_create(pool_t pool, unsigned int initial_size,
				     hash_callback_t *hash_cb,
				     hash_cmp_callback_t *cmp_cb);
/* NUL-terminated string keys, case-sensitive / ASCII case-insensitive. */
struct hash_table *hash_table_create_str(pool_t pool, unsigned int initial_size);
struct hash_table *hash_table_create_strcase(pool_t pool,
					     unsigned int initial_size);
/* The pointer value itself is the key. */
struct hash_table *hash_table_create_direct(pool_t pool,
					    unsigned int initial_size);
void hash_table_destroy(struct hash_table **table);
void hash_table_clear(struct hash_table *table);

void *hash_table_lookup(const struct hash_table *table, const void *key);
bool hash_table_lookup_full(const struct hash_table *table, const void *key,
			    void **orig_key_r, void **value_r);
/* Insert or replace (the stored key is replaced too). */
void hash_table_insert(struct hash_table *table, void *key, void *value);
/* Returns true if the key existed. */
bool hash_table_remove(struct hash_table *table, const void *key);
unsigned int hash_table_count(const struct hash_table *table);

/* Iteration; the table must not change while iterating. */
void hash_table_iterate_init(struct hash_table *table, struct hash_iterate *iter);
bool hash_table_iterate(struct hash_iterate *iter, void **key_r, void **value_r);

unsigned int str_hash(const void *str);
unsigned int strcase_hash(const void *str);
unsigned int direct_hash(const void *p);
int direct_cmp(const void *a, const void *b);
int strcase_cmp(const void *a, const void *b);
int str_cmp(const void *a, const void *b);

#endif
