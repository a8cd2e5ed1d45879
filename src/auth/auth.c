/* The auth process's shared state (auth.h): what the configuration's
   passdb, userdb and auth_* settings become at startup. */
#include "lib.h"
#include "worker.h"
#include "columba-settings.h"
#include "sasl-server.h"
#include "passdb.h"
#include "userdb.h"
#include "auth-cache.h"
#include "auth-penalty.h"
#include "auth.h"

#include <strings.h>
#include <openssl/rand.h>

/* Password checks waiting for a thread; beyond this a request fails
   (temp) rather than queueing without bound under a flood. */
#define AUTH_WORKER_MAX_QUEUE 4096
/* client addresses the auth penalty remembers */
#define AUTH_PENALTY_MAX_ENTRIES 65536

struct auth *auth = NULL;

static void auth_init_mechs(const struct columba_settings *set)
{
	array_init(&auth->mechs, system_pool, 8);
	for (unsigned int i = 0; set->auth_mechanisms[i] != NULL; i++) {
		const char *name = set->auth_mechanisms[i];
		const struct sasl_server_mech *mech =
			sasl_server_mech_find(name);

		i_assert(mech != NULL); /* the setting's values are known */
		/* -PLUS mechanisms are offered to protocol 1.3 clients
		   only, which pass the channel binding on
		   (auth-client-conn.c) */
		array_push(&auth->mechs, mech);
	}
}

void auth_init(struct master_service *service,
	       const struct columba_settings *set)
{
	struct auth_db_settings *const *db;
	unsigned char rnd[16];
	const char *error;

	auth = i_new(struct auth, 1);
	auth->service = service;
	auth->set = set;
	array_init(&auth->passdbs, system_pool, 2);
	array_init(&auth->passdb_sets, system_pool, 2);
	array_init(&auth->userdbs, system_pool, 2);

	array_foreach(&set->passdbs, db) {
		struct passdb *passdb;
		if (passdb_create((*db)->driver, (*db)->args, &passdb,
				  &error) < 0)
			i_fatal("%s", error);
		array_push(&auth->passdbs, passdb);
		array_push(&auth->passdb_sets, *db);
		if ((*db)->master)
			auth->have_master_passdbs = true;
	}
	array_foreach(&set->userdbs, db) {
		struct userdb *userdb;
		if (userdb_create((*db)->driver, (*db)->args, &userdb,
				  &error) < 0)
			i_fatal("%s", error);
		array_push(&auth->userdbs, userdb);
	}
	auth_init_mechs(set);

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		i_fatal("RAND_bytes() failed");
	for (unsigned int i = 0; i < sizeof(rnd); i++)
		snprintf(auth->cookie + i * 2, 3, "%02x", rnd[i]);
	auth->workers = worker_pool_create(set->auth_worker_max_count,
					   AUTH_WORKER_MAX_QUEUE);
	if (set->auth_cache_size > 0) {
		auth->cache = auth_cache_create(set->auth_cache_size,
						set->auth_cache_ttl,
						set->auth_cache_negative_ttl);
	}
	auth->penalty = auth_penalty_create(AUTH_PENALTY_MAX_ENTRIES);
}

void auth_deinit(void)
{
	struct passdb **passdb;
	struct userdb **userdb;

	/* every request is gone: no job's done callback is left to run */
	worker_pool_destroy(&auth->workers);
	array_foreach(&auth->passdbs, passdb)
		passdb_destroy(passdb);
	array_foreach(&auth->userdbs, userdb)
		userdb_destroy(userdb);
	array_free(&auth->passdbs);
	array_free(&auth->passdb_sets);
	if (auth->cache != NULL)
		auth_cache_destroy(&auth->cache);
	auth_penalty_destroy(&auth->penalty);
	array_free(&auth->userdbs);
	array_free(&auth->mechs);
	i_free(auth);
}

const struct sasl_server_mech *auth_find_mech(const char *name)
{
	const struct sasl_server_mech *const *mech;

	array_foreach(&auth->mechs, mech) {
		if (strcasecmp(sasl_server_mech_get_name(*mech), name) == 0)
			return *mech;
	}
	return NULL;
}
