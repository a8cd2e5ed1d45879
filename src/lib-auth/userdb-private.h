/* The userdb driver interface, the counterpart of passdb-private.h. */
#ifndef COLUMBA_USERDB_PRIVATE_H
#define COLUMBA_USERDB_PRIVATE_H

#include "userdb.h"

struct userdb_request;

struct userdb_driver {
	const char *name;
	/* Parse args, set userdb->context. Returns 0, or -1 with
	   *error_r. */
	int (*init)(struct userdb *userdb, const char *args,
		    const char **error_r);
	/* May be NULL. */
	void (*deinit)(struct userdb *userdb);
	/* userdb_request_finish() must follow, now or later. */
	void (*lookup)(struct userdb_request *request);
	/* userdb_iterate(); NULL if the driver cannot list */
	bool (*iterate)(struct userdb *userdb,
			userdb_iterate_callback_t *callback, void *context);
};

struct userdb {
	const struct userdb_driver *driver;
	pool_t pool;
	/* see userdb_needs_passdb_check() */
	bool needs_passdb_check;
	void *context;
};

struct userdb_request {
	struct userdb *userdb;
	pool_t pool;
	struct auth_vars vars;
	struct userdb_user result;

	userdb_lookup_callback_t *callback;
	void *context;
	const char *field_error;
};

extern const struct userdb_driver userdb_driver_passwd_file;
extern const struct userdb_driver userdb_driver_static;
extern const struct userdb_driver userdb_driver_sql;

void userdb_register_driver(const struct userdb_driver *driver);

/* Set a field: uid and gid names become numbers (an unknown name fails
   the lookup), "user" changes the user name, others are kept as they
   are. */
void userdb_request_set_field(struct userdb_request *request,
			      const char *key, const char *value);
/* Set the template's fields, values expanded. Returns 0, or -1 with
   *error_r (data stack). */
int userdb_request_set_template(struct userdb_request *request,
				const struct auth_fields *tmpl,
				const char **error_r);
void userdb_request_finish(struct userdb_request *request,
			   enum userdb_result result, const char *error);

#endif
