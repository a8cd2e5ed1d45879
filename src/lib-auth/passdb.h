/* Password databases: find a user's password hash and extra fields
   (Dovecot's passdb { driver = ...; args = ... }). Built-in drivers:
   "passwd-file" and "static"; others (SQL, LDAP) register themselves with
   passdb_register_driver() (passdb-private.h).

   A lookup only finds; checking the password is a separate, blocking step
   (passdb_user_verify_password()) so that the caller can run it in a
   worker thread. Lookups themselves run in the ioloop thread: passwd-file
   and static finish before passdb_lookup() returns, drivers that talk to
   a server call back later from the ioloop. A caller must handle both. */
#ifndef COLUMBA_PASSDB_H
#define COLUMBA_PASSDB_H

#include "auth-vars.h"
#include "auth-fields.h"

enum passdb_result {
	PASSDB_RESULT_INTERNAL_FAILURE = -1,
	PASSDB_RESULT_USER_UNKNOWN = -2,
	PASSDB_RESULT_PASSWORD_MISMATCH = 0,
	PASSDB_RESULT_OK = 1,
};

/* What a lookup found. Everything lives in the pool given to
   passdb_lookup(). */
struct passdb_user {
	/* OK (found), USER_UNKNOWN or INTERNAL_FAILURE */
	enum passdb_result result;
	/* INTERNAL_FAILURE: why, for the log (never for the client) */
	const char *error;

	/* The user name: the one looked up, or as a user= or username=
	   field changed it. */
	const char *user;
	/* The password field as stored ("{SCHEME}data", or data taken as
	   default_scheme), NULL if the passdb gave none. */
	const char *password;
	const char *default_scheme;
	/* The nopassword field: any password is accepted. Set only when
	   the passdb gave no password, as in Dovecot. */
	bool nopassword;
	/* Every other field, userdb_* excepted: nologin, reason=, proxy,
	   proxy_maybe, host=, port=, allow_nets=, nodelay, ... for the auth
	   process to act on. */
	struct auth_fields *extra_fields;
	/* userdb_KEY=value fields with the prefix removed: userdb data
	   handed over with the passdb lookup (Dovecot's prefetch). */
	struct auth_fields *userdb_fields;
};

typedef void passdb_lookup_callback_t(const struct passdb_user *user,
				      void *context);

struct passdb;

/* Create a passdb of driver from its args. Returns 0, or -1 with
   *error_r (data stack) for an unknown driver or bad args. May read
   files (passwd-file loads its file now unless the path has variables). */
int passdb_create(const char *driver, const char *args,
		  struct passdb **passdb_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Must not be called while lookups are pending. Sets *passdb to NULL. */
void passdb_destroy(struct passdb **passdb);
const char *passdb_get_driver_name(const struct passdb *passdb);
/* The scheme of passwords stored without a {SCHEME} prefix. */
const char *passdb_get_default_scheme(const struct passdb *passdb);

/* What a lookup's answer depends on, as %variables ("%u", or those of
   an SQL password_query): expanded for a request it is the key of the
   auth cache's entry (Dovecot's cache key). NULL if the passdb's answers
   must not be cached (static: nothing to save). */
const char *passdb_get_cache_key(const struct passdb *passdb);

/* Look vars->user up. The result and everything in it is allocated from
   pool, which must stay valid until callback has been called (the only
   call; it may come before this function returns). */
void passdb_lookup(struct passdb *passdb, const struct auth_vars *vars,
		   pool_t pool, passdb_lookup_callback_t *callback,
		   void *context);

/* Check plaintext against a found user: OK, PASSWORD_MISMATCH, or
   INTERNAL_FAILURE with *error_r (static text) when the stored hash
   cannot be checked (unknown scheme, malformed). nopassword accepts any
   password. Blocks and is thread-safe like password_verify(): run it in a
   worker thread. It only reads *user, which must not change meanwhile. */
enum passdb_result
passdb_user_verify_password(const struct passdb_user *user,
			    const char *plaintext, const char **error_r);

/* The allow_nets field against the client's address: 1 if there is no
   allow_nets or remote_ip is inside one of its networks ("local" matches
   a connection without an IP address: remote_ip NULL or ""), 0 if not,
   -1 with *error_r (data stack) if the field or the address is invalid. */
int passdb_user_check_allow_nets(const struct passdb_user *user,
				 const char *remote_ip, const char **error_r);

#endif
