/* The auth process's cache of passdb answers (Dovecot's auth cache):
   entries keyed by the passdb's number and its cache key expanded for the
   login (passdb_get_cache_key()), holding the password hash and fields of
   a found user (verified again against the cached hash at each login, so
   a password changed in the database is seen once the entry expires) or
   a negative entry for an unknown user. Bounded by auth_cache_size bytes,
   least recently used first out; auth_cache_ttl and
   auth_cache_negative_ttl bound their age. Lives as long as the process:
   a reload restarts auth and so empties it. Not thread-safe: ioloop only. */
#ifndef COLUMBA_AUTH_CACHE_H
#define COLUMBA_AUTH_CACHE_H

#include "passdb.h"

struct auth_cache;

struct auth_cache_stats {
	uint64_t hits, negative_hits, misses, inserts, evictions;
	unsigned int entries;
	size_t size;
};

/* max_size in bytes (> 0); ttl and negative ttl in seconds. */
struct auth_cache *auth_cache_create(size_t max_size, unsigned int ttl_secs,
				     unsigned int negative_ttl_secs);
void auth_cache_destroy(struct auth_cache **cache);

/* What a lookup found. */
enum auth_cache_result {
	AUTH_CACHE_MISS,
	/* *user_r filled (from pool) */
	AUTH_CACHE_HIT,
	/* the user is known not to exist */
	AUTH_CACHE_NEGATIVE_HIT,
};

/* Look key up; an entry older than its TTL is dropped and is a miss. */
enum auth_cache_result
auth_cache_lookup(struct auth_cache *cache, const char *key, pool_t pool,
		  struct passdb_user *user_r);
/* Remember a passdb's answer for key: OK (everything in user) or
   USER_UNKNOWN (negative; dropped if the negative TTL is 0). Other
   results are not cached. */
void auth_cache_insert(struct auth_cache *cache, const char *key,
		       const struct passdb_user *user);
/* Dovecot's rule for a wrong password against a cached hash: returns
   true if the passdb should be asked again instead (the last login with
   this entry succeeded - the password may have changed - or the entry is
   older than the negative TTL); false if the cached answer stands. Then
   records the outcome. */
bool auth_cache_password_mismatch(struct auth_cache *cache, const char *key);
void auth_cache_password_ok(struct auth_cache *cache, const char *key);
/* Forget key. */
void auth_cache_remove(struct auth_cache *cache, const char *key);

void auth_cache_get_stats(const struct auth_cache *cache,
			  struct auth_cache_stats *stats_r);

#endif
