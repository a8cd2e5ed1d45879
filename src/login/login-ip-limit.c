/* Per-IP connection counts of a login process (login-ip-limit.h): a hash
   table from the address to its count, entries freed when their count
   drops to zero. */
#include "lib.h"
#include "hash.h"
#include "login-ip-limit.h"

struct login_ip_limit_entry {
	struct ip_addr ip;
	unsigned int count;
};

struct login_ip_limit {
	struct hash_table *ips;
};

static unsigned int ip_hash_cb(const void *key)
{
	return net_ip_hash(key);
}

static int ip_cmp_cb(const void *a, const void *b)
{
	return net_ip_cmp(a, b);
}

struct login_ip_limit *login_ip_limit_create(void)
{
	struct login_ip_limit *limit = i_new(struct login_ip_limit, 1);

	limit->ips = hash_table_create(system_pool, 64, ip_hash_cb, ip_cmp_cb);
	return limit;
}

void login_ip_limit_destroy(struct login_ip_limit **_limit)
{
	struct login_ip_limit *limit = *_limit;
	struct hash_iterate iter;
	void *key, *value;

	*_limit = NULL;
	hash_table_iterate_init(limit->ips, &iter);
	while (hash_table_iterate(&iter, &key, &value))
		free(value);
	hash_table_destroy(&limit->ips);
	free(limit);
}

bool login_ip_limit_add(struct login_ip_limit *limit,
			const struct ip_addr *ip, unsigned int max)
{
	struct login_ip_limit_entry *e = hash_table_lookup(limit->ips, ip);

	if (e == NULL) {
		e = i_new(struct login_ip_limit_entry, 1);
		e->ip = *ip;
		hash_table_insert(limit->ips, &e->ip, e);
	} else if (max > 0 && e->count >= max) {
		return false;
	}
	e->count++;
	return true;
}

void login_ip_limit_remove(struct login_ip_limit *limit,
			   const struct ip_addr *ip)
{
	struct login_ip_limit_entry *e = hash_table_lookup(limit->ips, ip);

	if (e == NULL || e->count == 0)
		i_panic("login_ip_limit_remove(%s): nothing counted",
			net_ip2addr(ip));
	if (--e->count == 0) {
		hash_table_remove(limit->ips, &e->ip);
		free(e);
	}
}

unsigned int login_ip_limit_count(const struct login_ip_limit *limit,
				  const struct ip_addr *ip)
{
	const struct login_ip_limit_entry *e =
		hash_table_lookup(limit->ips, ip);
	return e == NULL ? 0 : e->count;
}

unsigned int login_ip_limit_ip_count(const struct login_ip_limit *limit)
{
	return hash_table_count(limit->ips);
}
