/* The passdb driver interface: what passwd-file and static implement and
   what later drivers (SQL, LDAP) will. A driver parses its args once, then
   answers lookups, at once or later from the ioloop, by filling the
   request with passdb_request_set_password()/_set_field() and calling
   passdb_request_finish(). */
#ifndef COLUMBA_PASSDB_PRIVATE_H
#define COLUMBA_PASSDB_PRIVATE_H

#include "passdb.h"

struct passdb_request;

struct passdb_driver {
	const char *name;
	/* passdb->default_scheme before init may change it */
	const char *default_scheme;
	/* Parse args and set passdb->context (allocated from
	   passdb->pool). Returns 0, or -1 with *error_r. */
	int (*init)(struct passdb *passdb, const char *args,
		    const char **error_r);
	/* Free what init set up beyond passdb->pool. May be NULL. */
	void (*deinit)(struct passdb *passdb);
	/* Look request->vars.user up; passdb_request_finish() must follow,
	   now or later. */
	void (*lookup)(struct passdb_request *request);
};

struct passdb {
	const struct passdb_driver *driver;
	/* lives until passdb_destroy() */
	pool_t pool;
	const char *default_scheme;
	/* passdb_get_cache_key(); NULL = not cacheable (set by init) */
	const char *cache_key;
	void *context;
};

struct passdb_request {
	struct passdb *passdb;
	/* the caller's: every result string goes here */
	pool_t pool;
	struct auth_vars vars;
	struct passdb_user result;

	passdb_lookup_callback_t *callback;
	void *context;
	/* a field failed (bad user= etc.): the lookup fails with this */
	const char *field_error;
};

extern const struct passdb_driver passdb_driver_passwd_file;
extern const struct passdb_driver passdb_driver_static;
extern const struct passdb_driver passdb_driver_sql;

/* Make driver available to passdb_create(). The built-in ones are always
   there. driver must stay valid for the life of the process. */
void passdb_register_driver(const struct passdb_driver *driver);

/* The password field as stored. */
void passdb_request_set_password(struct passdb_request *request,
				 const char *password);
/* Set one field the way Dovecot's passdbs do: userdb_KEY goes to
   userdb_fields, "password" sets the password, "user" replaces the user
   name, "username" its part before '@' (or all of it if the value has an
   '@'), anything else goes to extra_fields. */
void passdb_request_set_field(struct passdb_request *request,
			      const char *key, const char *value);
/* Set the template's fields with their values expanded for this request.
   Returns 0, or -1 with *error_r (data stack). */
int passdb_request_set_template(struct passdb_request *request,
				const struct auth_fields *tmpl,
				const char **error_r);
/* End the lookup with result (OK, USER_UNKNOWN, INTERNAL_FAILURE with
   error) and call the callback. A field error recorded earlier turns OK
   into INTERNAL_FAILURE. */
void passdb_request_finish(struct passdb_request *request,
			   enum passdb_result result, const char *error);

#endif
