/* User databases: where a user's mail lives and as whom it is accessed
   (uid, gid, home, mail and other fields; Dovecot's userdb { driver;
   args }). Built-in drivers: "passwd-file" and "static"; others register
   with userdb_register_driver() (userdb-private.h). Lookups run in the
   ioloop thread and may answer before userdb_lookup() returns or later,
   as passdb lookups do (passdb.h). */
#ifndef COLUMBA_USERDB_H
#define COLUMBA_USERDB_H

#include "auth-vars.h"
#include "auth-fields.h"

enum userdb_result {
	USERDB_RESULT_INTERNAL_FAILURE = -1,
	USERDB_RESULT_USER_UNKNOWN = -2,
	USERDB_RESULT_OK = 1,
};

/* What a lookup found; everything lives in the lookup's pool. */
struct userdb_user {
	enum userdb_result result;
	/* INTERNAL_FAILURE: why, for the log */
	const char *error;
	/* the user name, possibly changed by a user= field */
	const char *user;
	/* uid and gid as numbers (names are resolved), home, mail, quota
	   rules and anything else the userdb returned */
	struct auth_fields *fields;
};

typedef void userdb_lookup_callback_t(const struct userdb_user *user,
				      void *context);

struct userdb;

/* As passdb_create(). */
int userdb_create(const char *driver, const char *args,
		  struct userdb **userdb_r, const char **error_r)
	ATTR_WARN_UNUSED;
void userdb_destroy(struct userdb **userdb);
const char *userdb_get_driver_name(const struct userdb *userdb);
/* True if the userdb cannot tell by itself whether a user exists (static
   without allow_all_users=yes): a lookup not preceded by a successful
   passdb lookup (LMTP delivery, admin commands) must ask the passdb
   first, or every name would be accepted. */
bool userdb_needs_passdb_check(const struct userdb *userdb);

/* As passdb_lookup(). */
void userdb_lookup(struct userdb *userdb, const struct auth_vars *vars,
		   pool_t pool, userdb_lookup_callback_t *callback,
		   void *context);

/* The list of every user (doveadm user '*', Dovecot's LIST on the
   auth-userdb socket). callback gets the names (NULL-terminated) or, if
   the listing failed, NULL and an error; it is called exactly once, from
   the ioloop, never before this returns, and everything it gets lives
   only during the call. Returns false (and never calls back) if the
   driver cannot list (static, or sql without iterate_query). */
typedef void userdb_iterate_callback_t(const char *const *users,
				       const char *error, void *context);
bool userdb_iterate(struct userdb *userdb,
		    userdb_iterate_callback_t *callback, void *context);

/* A uid or gid setting's value: a number or a user / group name looked
   up in the system's databases (NSS: may block briefly). Returns 0, or
   -1 if it is neither. */
int userdb_parse_uid(const char *str, uid_t *uid_r) ATTR_WARN_UNUSED;
int userdb_parse_gid(const char *str, gid_t *gid_r) ATTR_WARN_UNUSED;

#endif
