/* Unit tests for src/auth: the auth cache and the auth penalty table (the rest runs against the
   real process in tests/test_auth_*.py). */
#include "lib.h"
#include "ioloop.h"
#include "test-common.h"
#include "auth-protocol.h"
#include "auth-cache.h"
#include "auth-penalty.h"

static struct passdb_user *test_cache_user(pool_t pool, const char *name,
					   const char *password)
{
	struct passdb_user *user = p_new(pool, struct passdb_user, 1);

	user->result = PASSDB_RESULT_OK;
	user->user = name;
	user->password = password;
	user->default_scheme = "PLAIN";
	user->extra_fields = auth_fields_create(pool);
	user->userdb_fields = auth_fields_create(pool);
	auth_fields_add(user->extra_fields, "allow_nets", "10.0.0.0/8");
	auth_fields_add(user->extra_fields, "nologin", "");
	auth_fields_add(user->userdb_fields, "home", "/h\tx=y");
	return user;
}

static void test_auth_cache(void)
{
	pool_t pool = pool_alloconly_create("test cache", 1024);
	struct passdb_user found;
	struct auth_cache_stats stats;

	test_begin("auth cache: entries, TTLs, password change rule");
	ioloop_time = 1000000;
	struct auth_cache *cache = auth_cache_create(1024 * 1024, 60, 10);
	test_assert(auth_cache_lookup(cache, "0\ta", pool, &found) ==
		    AUTH_CACHE_MISS);
	auth_cache_insert(cache, "0\ta", test_cache_user(pool, "a", "{PLAIN}x"));
	test_assert(auth_cache_lookup(cache, "0\ta", pool, &found) ==
		    AUTH_CACHE_HIT);
	test_assert_strcmp(found.user, "a");
	test_assert_strcmp(found.password, "{PLAIN}x");
	test_assert_strcmp(found.default_scheme, "PLAIN");
	test_assert_strcmp(auth_fields_find(found.extra_fields, "allow_nets"),
			   "10.0.0.0/8");
	test_assert(auth_fields_exists(found.extra_fields, "nologin"));
	test_assert_strcmp(auth_fields_find(found.userdb_fields, "home"),
			   "/h\tx=y");

	struct passdb_user unknown = { .result = PASSDB_RESULT_USER_UNKNOWN };
	auth_cache_insert(cache, "0\tb", &unknown);
	test_assert(auth_cache_lookup(cache, "0\tb", pool, &found) ==
		    AUTH_CACHE_NEGATIVE_HIT);
	/* failures are not cached */
	struct passdb_user failed = { .result = PASSDB_RESULT_INTERNAL_FAILURE };
	auth_cache_insert(cache, "0\tc", &failed);
	test_assert(auth_cache_lookup(cache, "0\tc", pool, &found) ==
		    AUTH_CACHE_MISS);

	/* a mismatch right away stands; after a success it asks again;
	   after the negative TTL too */
	test_assert(!auth_cache_password_mismatch(cache, "0\ta"));
	auth_cache_password_ok(cache, "0\ta");
	test_assert(auth_cache_password_mismatch(cache, "0\ta"));
	test_assert(!auth_cache_password_mismatch(cache, "0\ta"));
	ioloop_time += 10;
	test_assert(auth_cache_password_mismatch(cache, "0\ta"));
	/* negative TTL 10 s over, positive 60 s not yet */
	test_assert(auth_cache_lookup(cache, "0\tb", pool, &found) ==
		    AUTH_CACHE_MISS);
	test_assert(auth_cache_lookup(cache, "0\ta", pool, &found) ==
		    AUTH_CACHE_HIT);
	ioloop_time += 50;
	test_assert(auth_cache_lookup(cache, "0\ta", pool, &found) ==
		    AUTH_CACHE_MISS);
	auth_cache_get_stats(cache, &stats);
	test_assert(stats.hits == 2 && stats.negative_hits == 1 &&
		    stats.misses == 4 && stats.entries == 0 && stats.size == 0);
	auth_cache_destroy(&cache);
	test_end();

	test_begin("auth cache: bounded by size, least recently used out");
	cache = auth_cache_create(2048, 60, 60);
	for (unsigned int i = 0; i < 100; i++) {
		auth_cache_insert(cache, t_strdup_printf("0\tuser%u", i),
				  test_cache_user(pool, "u", "{PLAIN}x"));
		if (i >= 1) {
			/* user0 stays in use */
			test_assert_idx(auth_cache_lookup(cache, "0\tuser0",
				pool, &found) == AUTH_CACHE_HIT, i);
		}
		auth_cache_get_stats(cache, &stats);
		test_assert_idx(stats.size <= 2048, i);
	}
	test_assert(stats.evictions > 0 && stats.entries < 100);
	test_assert(auth_cache_lookup(cache, "0\tuser1", pool, &found) ==
		    AUTH_CACHE_MISS);
	test_assert(auth_cache_lookup(cache, "0\tuser99", pool, &found) ==
		    AUTH_CACHE_HIT);
	/* an entry larger than half the cache is not kept */
	string_t *big = t_str_new(2048);
	for (unsigned int i = 0; i < 1100; i++)
		str_append_c(big, 'x');
	auth_cache_insert(cache, "0\tbig",
			  test_cache_user(pool, "big", str_c(big)));
	test_assert(auth_cache_lookup(cache, "0\tbig", pool, &found) ==
		    AUTH_CACHE_MISS);
	auth_cache_destroy(&cache);
	pool_unref(&pool);
	test_end();
}

static void test_auth_penalty(void)
{
	test_begin("auth penalty: doubling, cap, decay, checksums, IPv6 /48, bound");
	ioloop_time = 2000000;
	ioloop_timeval.tv_sec = ioloop_time;
	ioloop_timeval.tv_usec = 0;
	test_assert(auth_penalty_to_secs(0) == 2);
	test_assert(auth_penalty_to_secs(1) == 4);
	test_assert(auth_penalty_to_secs(2) == 8);
	test_assert(auth_penalty_to_secs(3) == 15);
	test_assert(auth_penalty_to_secs(4) == 15);

	struct auth_penalty *penalty = auth_penalty_create(3);
	test_assert(auth_penalty_get_delay_msecs(penalty, "192.0.2.1") == 0);
	auth_penalty_failure(penalty, "192.0.2.1", 11);
	test_assert(auth_penalty_get(penalty, "192.0.2.1") == 1);
	test_assert(auth_penalty_get_delay_msecs(penalty, "192.0.2.1") == 4000);
	/* the same user+password again: no increase */
	auth_penalty_failure(penalty, "192.0.2.1", 11);
	test_assert(auth_penalty_get(penalty, "192.0.2.1") == 1);
	for (uint32_t i = 0; i < 10; i++)
		auth_penalty_failure(penalty, "192.0.2.1", 100 + i);
	test_assert(auth_penalty_get(penalty, "192.0.2.1") == 4);
	test_assert(auth_penalty_get_delay_msecs(penalty, "192.0.2.1") == 15000);
	ioloop_time += 5;
	ioloop_timeval.tv_sec = ioloop_time;
	test_assert(auth_penalty_get_delay_msecs(penalty, "192.0.2.1") == 10000);
	/* 15 s without a failure: gone */
	ioloop_time += 10;
	ioloop_timeval.tv_sec = ioloop_time;
	test_assert(auth_penalty_get(penalty, "192.0.2.1") == 0);

	/* one IPv6 /48 is one client */
	auth_penalty_failure(penalty, "2001:db8:1:2::1", 0);
	test_assert(auth_penalty_get(penalty, "2001:db8:1:ffff::9") == 1);
	test_assert(auth_penalty_get(penalty, "2001:db8:2::1") == 0);
	auth_penalty_success(penalty, "2001:db8:1:3::3");
	test_assert(auth_penalty_get(penalty, "2001:db8:1:2::1") == 0);
	/* bad or missing addresses have none */
	auth_penalty_failure(penalty, "not-an-ip", 0);
	auth_penalty_failure(penalty, NULL, 0);
	test_assert(auth_penalty_get(penalty, "not-an-ip") == 0);
	/* bounded: the oldest goes */
	auth_penalty_failure(penalty, "192.0.2.10", 0);
	auth_penalty_failure(penalty, "192.0.2.11", 0);
	auth_penalty_failure(penalty, "192.0.2.12", 0);
	auth_penalty_failure(penalty, "192.0.2.13", 0);
	test_assert(auth_penalty_get(penalty, "192.0.2.10") == 0);
	test_assert(auth_penalty_get(penalty, "192.0.2.13") == 1);
	auth_penalty_destroy(&penalty);
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_auth_cache,
		test_auth_penalty,
		NULL
	};
	return test_run(tests);
}
