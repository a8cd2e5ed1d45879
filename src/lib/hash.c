/* Open-addressing hash table. The slot array is a power of two, kept at most
   3/4 full; removal shifts later entries of the same run back so lookups
   never need tombstones. */
#include "lib.h"
#include "hash.h"
#include <strings.h>
#include <ctype.h>

struct hash_slot {
	void *key, *value;
	unsigned int hash;
	bool used;
};

struct hash_table {
	pool_t pool;
	hash_callback_t *hash_cb;
	hash_cmp_callback_t *cmp_cb;
	struct hash_slot *slots;
	unsigned int size, count;
};

unsigned int str_hash(const void *p)
{
	/* FNV-1a */
	const unsigned char *s = p;
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ *s) * 16777619u;
	return h;
}

unsigned int strcase_hash(const void *p)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)tolower(*s)) * 16777619u;
	return h;
}

unsigned int direct_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (unsigned int)x;
}

int direct_cmp(const void *a, const void *b)
{
	return a == b ? 0 : ((uintptr_t)a < (uintptr_t)b ? -1 : 1);
}

int str_cmp(const void *a, const void *b) { return strcmp(a, b); }
int strcase_cmp(const void *a, const void *b) { return strcasecmp(a, b); }

static unsigned int round_pow2(unsigned int n)
{
	unsigned int s = 8;
	while (s < n)
		s *= 2;
	return s;
}

struct hash_table *hash_table_create(pool_t pool, unsigned int initial_size,
				     hash_callback_t *hash_cb,
				     hash_cmp_callback_t *cmp_cb)
{
	struct hash_table *t = p_new(pool, struct hash_table, 1);
	t->pool = pool;
	t->hash_cb = hash_cb;
	t->cmp_cb = cmp_cb;
	t->size = round_pow2(initial_size + initial_size / 3);
	t->slots = p_new(pool, struct hash_slot, t->size);
	return t;
}

struct hash_table *hash_table_create_str(pool_t pool, unsigned int n)
{
	return hash_table_create(pool, n, str_hash, str_cmp);
}

struct hash_table *hash_table_create_strcase(pool_t pool, unsigned int n)
{
	return hash_table_create(pool, n, strcase_hash, strcase_cmp);
}

struct hash_table *hash_table_create_direct(pool_t pool, unsigned int n)
{
	return hash_table_create(pool, n, direct_hash, direct_cmp);
}

void hash_table_destroy(struct hash_table **_t)
{
	struct hash_table *t = *_t;
	*_t = NULL;
	if (t == NULL)
		return;
	p_free_(t->pool, t->slots);
	p_free_(t->pool, t);
}

void hash_table_clear(struct hash_table *t)
{
	memset(t->slots, 0, sizeof(*t->slots) * t->size);
	t->count = 0;
}

static struct hash_slot *
hash_find(const struct hash_table *t, const void *key, unsigned int hash)
{
	unsigned int mask = t->size - 1;
	for (unsigned int i = hash & mask;; i = (i + 1) & mask) {
		struct hash_slot *s = &t->slots[i];
		if (!s->used)
			return s;
		if (s->hash == hash && t->cmp_cb(s->key, key) == 0)
			return s;
	}
}

void *hash_table_lookup(const struct hash_table *t, const void *key)
{
	struct hash_slot *s = hash_find(t, key, t->hash_cb(key));
	return s->used ? s->value : NULL;
}

bool hash_table_lookup_full(const struct hash_table *t, const void *key,
			    void **orig_key_r, void **value_r)
{
	struct hash_slot *s = hash_find(t, key, t->hash_cb(key));
	if (!s->used)
		return false;
	if (orig_key_r != NULL)
		*orig_key_r = s->key;
	if (value_r != NULL)
		*value_r = s->value;
	return true;
}

static void hash_grow(struct hash_table *t)
{
	struct hash_slot *old = t->slots;
	unsigned int old_size = t->size;
	t->size = size_mul(t->size, 2) > UINT_MAX ? t->size : t->size * 2;
	t->slots = p_new(t->pool, struct hash_slot, t->size);
	for (unsigned int i = 0; i < old_size; i++) {
		if (old[i].used)
			*hash_find(t, old[i].key, old[i].hash) = old[i];
	}
	p_free_(t->pool, old);
}

void hash_table_insert(struct hash_table *t, void *key, void *value)
{
	unsigned int hash = t->hash_cb(key);
	struct hash_slot *s = hash_find(t, key, hash);
	if (!s->used) {
		if ((t->count + 1) * 4 > t->size * 3) {
			hash_grow(t);
			s = hash_find(t, key, hash);
		}
		t->count++;
	}
	s->key = key;
	s->value = value;
	s->hash = hash;
	s->used = true;
}

bool hash_table_remove(struct hash_table *t, const void *key)
{
	struct hash_slot *s = hash_find(t, key, t->hash_cb(key));
	if (!s->used)
		return false;
	unsigned int mask = t->size - 1;
	unsigned int i = (unsigned int)(s - t->slots), j = i;
	for (;;) {
		t->slots[i].used = false;
		for (;;) {
			j = (j + 1) & mask;
			if (!t->slots[j].used)
				goto done;
			unsigned int k = t->slots[j].hash & mask;
			/* move j back to i unless its home k lies cyclically
			   in (i, j] */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		t->slots[i] = t->slots[j];
		i = j;
	}
done:
	t->count--;
	return true;
}

unsigned int hash_table_count(const struct hash_table *t)
{
	return t->count;
}

void hash_table_iterate_init(struct hash_table *t, struct hash_iterate *iter)
{
	iter->table = t;
	iter->pos = 0;
}

bool hash_table_iterate(struct hash_iterate *iter, void **key_r, void **value_r)
{
	struct hash_table *t = iter->table;
	while (iter->pos < t->size) {
		struct hash_slot *s = &t->slots[iter->pos++];
		if (s->used) {
			if (key_r != NULL)
				*key_r = s->key;
			if (value_r != NULL)
				*value_r = s->value;
			return true;
		}
	}
	return false;
}
