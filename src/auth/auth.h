/* The auth process's shared state: its settings, the passdbs and userdbs
   in the order the configuration lists them, the mechanisms it offers and
   the worker pool where passwords are hashed. One per process. */
#ifndef COLUMBA_AUTH_H
#define COLUMBA_AUTH_H

#include "lib.h"
#include "array.h"

struct columba_settings;
struct auth_db_settings;
struct master_service;
struct passdb;
struct userdb;
struct sasl_server_mech;
struct worker_pool;
struct auth_cache;
struct auth_penalty;

struct auth {
	struct master_service *service;
	const struct columba_settings *set;
	/* password verification and credential derivation run here */
	struct worker_pool *workers;
	ARRAY(struct passdb *) passdbs;
	/* the passdbs' sections, same order: master, result_success */
	ARRAY(const struct auth_db_settings *) passdb_sets;
	/* master passdbs configured */
	bool have_master_passdbs;
	/* NULL when auth_cache_size is 0 */
	struct auth_cache *cache;
	struct auth_penalty *penalty;
	ARRAY(struct userdb *) userdbs;
	/* auth_mechanisms, in the order written */
	ARRAY(const struct sasl_server_mech *) mechs;
	/* COOKIE of the handshake: random per process, 32 hex digits */
	char cookie[33];
	unsigned int next_client_id;
};

extern struct auth *auth;

/* Build the passdbs, userdbs, mechanism list and worker pool from set.
   Fatal on an error (a bad passdb args line stops startup, as any other
   bad setting does). Reads the passdb files: call before dropping
   privileges. */
void auth_init(struct master_service *service,
	       const struct columba_settings *set);
void auth_deinit(void);

/* The mechanism of that name if auth_mechanisms enables it, else NULL. */
const struct sasl_server_mech *auth_find_mech(const char *name);

#endif
