/* The auth cache (auth-cache.h): a hash table of entries on an LRU list,
   each entry one heap block (key and serialized answer inside), so that
   its size is what it costs. */
#include "lib.h"
#include "ioloop.h"
#include "hash.h"
#include "auth-protocol.h"
#include "auth-cache.h"

struct auth_cache_node {
	/* LRU: head is the most recently used */
	struct auth_cache_node *prev, *next;
	time_t created;
	size_t alloc_size;
	bool negative;
	bool last_success;
	/* the answer as tab-separated escaped fields (see
	   auth_cache_serialize()), then the key */
	char *data;
	char *key;
};

struct auth_cache {
	struct hash_table *table;
	struct auth_cache_node *head, *tail;
	size_t max_size, size;
	unsigned int ttl_secs, negative_ttl_secs;
	struct auth_cache_stats stats;
};

struct auth_cache *auth_cache_create(size_t max_size, unsigned int ttl_secs,
				     unsigned int negative_ttl_secs)
{
	struct auth_cache *cache = i_new(struct auth_cache, 1);

	i_assert(max_size > 0);
	cache->table = hash_table_create_str(system_pool, 128);
	cache->max_size = max_size;
	cache->ttl_secs = ttl_secs;
	cache->negative_ttl_secs = negative_ttl_secs;
	return cache;
}

static void auth_cache_unlink(struct auth_cache *cache,
			      struct auth_cache_node *node)
{
	if (node->prev != NULL)
		node->prev->next = node->next;
	else
		cache->head = node->next;
	if (node->next != NULL)
		node->next->prev = node->prev;
	else
		cache->tail = node->prev;
	node->prev = node->next = NULL;
}

static void auth_cache_link_head(struct auth_cache *cache,
				 struct auth_cache_node *node)
{
	node->next = cache->head;
	if (cache->head != NULL)
		cache->head->prev = node;
	cache->head = node;
	if (cache->tail == NULL)
		cache->tail = node;
}

static void auth_cache_node_free(struct auth_cache *cache,
				 struct auth_cache_node *node)
{
	auth_cache_unlink(cache, node);
	(void)hash_table_remove(cache->table, node->key);
	cache->size -= node->alloc_size;
	/* the data holds password hashes */
	safe_memset(node, 0, node->alloc_size);
	free(node);
}

void auth_cache_destroy(struct auth_cache **_cache)
{
	struct auth_cache *cache = *_cache;

	*_cache = NULL;
	while (cache->head != NULL)
		auth_cache_node_free(cache, cache->head);
	hash_table_destroy(&cache->table);
	free(cache);
}

static void auth_cache_append_field(string_t *str, char type,
				    const char *value)
{
	if (str_len(str) > 0)
		str_append_c(str, '\t');
	str_append_c(str, type);
	str_append_tabescaped(str, value);
}

static void auth_cache_append_fields(string_t *str, char type,
				     const struct auth_fields *fields)
{
	unsigned int count;
	const struct auth_field *f = auth_fields_get(fields, &count);

	for (unsigned int i = 0; i < count; i++) {
		/* the key cannot hold '=' (they split at the first) */
		auth_cache_append_field(str, type, t_strdup_printf(
			"%s=%s", f[i].key, f[i].value));
	}
}

/* U user, P password, S default scheme, N nopassword, E extra field,
   D userdb field. */
static const char *auth_cache_serialize(const struct passdb_user *user)
{
	string_t *str = t_str_new(256);

	auth_cache_append_field(str, 'U', user->user);
	if (user->password != NULL)
		auth_cache_append_field(str, 'P', user->password);
	if (user->default_scheme != NULL)
		auth_cache_append_field(str, 'S', user->default_scheme);
	if (user->nopassword)
		auth_cache_append_field(str, 'N', "");
	auth_cache_append_fields(str, 'E', user->extra_fields);
	auth_cache_append_fields(str, 'D', user->userdb_fields);
	return str_c(str);
}

static void auth_cache_deserialize(const char *data, pool_t pool,
				   struct passdb_user *user_r)
{
	const char *const *args = t_strsplit_tabescaped(data, strlen(data));

	/* we wrote it */
	i_assert(args != NULL);
	memset(user_r, 0, sizeof(*user_r));
	user_r->result = PASSDB_RESULT_OK;
	user_r->extra_fields = auth_fields_create(pool);
	user_r->userdb_fields = auth_fields_create(pool);
	for (unsigned int i = 0; args[i] != NULL; i++) {
		const char *value = args[i] + 1, *eq;

		switch (args[i][0]) {
		case 'U':
			user_r->user = p_strdup(pool, value);
			break;
		case 'P':
			user_r->password = p_strdup(pool, value);
			break;
		case 'S':
			user_r->default_scheme = p_strdup(pool, value);
			break;
		case 'N':
			user_r->nopassword = true;
			break;
		case 'E':
		case 'D':
			eq = strchr(value, '=');
			i_assert(eq != NULL);
			auth_fields_add(args[i][0] == 'E' ?
					user_r->extra_fields :
					user_r->userdb_fields,
					t_strndup(value, (size_t)(eq - value)),
					eq + 1);
			break;
		default:
			i_unreached();
		}
	}
}

static bool auth_cache_node_expired(const struct auth_cache *cache,
				    const struct auth_cache_node *node)
{
	unsigned int ttl = node->negative ? cache->negative_ttl_secs :
		cache->ttl_secs;

	return ioloop_time - node->created >= (time_t)ttl ||
		node->created > ioloop_time;
}

static struct auth_cache_node *
auth_cache_find(struct auth_cache *cache, const char *key)
{
	struct auth_cache_node *node = hash_table_lookup(cache->table, key);

	if (node == NULL)
		return NULL;
	if (auth_cache_node_expired(cache, node)) {
		auth_cache_node_free(cache, node);
		return NULL;
	}
	return node;
}

enum auth_cache_result
auth_cache_lookup(struct auth_cache *cache, const char *key, pool_t pool,
		  struct passdb_user *user_r)
{
	struct auth_cache_node *node = auth_cache_find(cache, key);

	if (node == NULL) {
		cache->stats.misses++;
		return AUTH_CACHE_MISS;
	}
	auth_cache_unlink(cache, node);
	auth_cache_link_head(cache, node);
	if (node->negative) {
		cache->stats.negative_hits++;
		return AUTH_CACHE_NEGATIVE_HIT;
	}
	cache->stats.hits++;
	auth_cache_deserialize(node->data, pool, user_r);
	return AUTH_CACHE_HIT;
}

void auth_cache_insert(struct auth_cache *cache, const char *key,
		       const struct passdb_user *user)
{
	const char *data;
	bool negative;

	if (user->result == PASSDB_RESULT_OK) {
		data = auth_cache_serialize(user);
		negative = false;
	} else if (user->result == PASSDB_RESULT_USER_UNKNOWN) {
		if (cache->negative_ttl_secs == 0)
			return;
		data = "";
		negative = true;
	} else {
		return;
	}

	size_t data_len = strlen(data), key_len = strlen(key);
	size_t size = sizeof(struct auth_cache_node) + data_len + 1 +
		key_len + 1;
	if (size > cache->max_size / 2) {
		/* one entry may not push out most of the others */
		return;
	}
	struct auth_cache_node *old = hash_table_lookup(cache->table, key);
	if (old != NULL)
		auth_cache_node_free(cache, old);
	while (cache->size + size > cache->max_size && cache->tail != NULL) {
		auth_cache_node_free(cache, cache->tail);
		cache->stats.evictions++;
	}

	struct auth_cache_node *node = i_malloc(size);
	node->alloc_size = size;
	node->created = ioloop_time;
	node->negative = negative;
	node->data = (char *)(node + 1);
	memcpy(node->data, data, data_len + 1);
	node->key = node->data + data_len + 1;
	memcpy(node->key, key, key_len + 1);
	hash_table_insert(cache->table, node->key, node);
	auth_cache_link_head(cache, node);
	cache->size += size;
	cache->stats.inserts++;
}

bool auth_cache_password_mismatch(struct auth_cache *cache, const char *key)
{
	struct auth_cache_node *node = auth_cache_find(cache, key);

	if (node == NULL)
		return true;
	bool neg_expired = ioloop_time - node->created >=
		(time_t)cache->negative_ttl_secs;
	if (node->last_success || neg_expired) {
		node->last_success = false;
		return true;
	}
	return false;
}

void auth_cache_password_ok(struct auth_cache *cache, const char *key)
{
	struct auth_cache_node *node = hash_table_lookup(cache->table, key);

	if (node != NULL)
		node->last_success = true;
}

void auth_cache_remove(struct auth_cache *cache, const char *key)
{
	struct auth_cache_node *node = hash_table_lookup(cache->table, key);

	if (node != NULL)
		auth_cache_node_free(cache, node);
}

void auth_cache_get_stats(const struct auth_cache *cache,
			  struct auth_cache_stats *stats_r)
{
	*stats_r = cache->stats;
	stats_r->entries = hash_table_count(cache->table);
	stats_r->size = cache->size;
}
