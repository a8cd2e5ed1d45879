/* userdb static: the same fields for every user from args such as
   "uid=vmail gid=vmail home=/var/vmail/%d/%n", values expanded per
   lookup. uid and gid names without variables are resolved at start-up,
   so a typo stops the server instead of every delivery. */
#include "lib.h"
#include "userdb-private.h"

struct userdb_static {
	struct auth_fields *tmpl;
};

static int userdb_static_resolve(struct userdb *userdb,
				 struct auth_fields *tmpl, const char *key,
				 const char **error_r)
{
	const char *value = auth_fields_find(tmpl, key);
	unsigned long id;

	if (value == NULL || auth_vars_have_variables(value))
		return 0;
	if (key[0] == 'u') {
		uid_t uid;

		if (userdb_parse_uid(value, &uid) < 0) {
			*error_r = t_strdup_printf("Invalid uid: %s", value);
			return -1;
		}
		id = uid;
	} else {
		gid_t gid;

		if (userdb_parse_gid(value, &gid) < 0) {
			*error_r = t_strdup_printf("Invalid gid: %s", value);
			return -1;
		}
		id = gid;
	}
	auth_fields_add(tmpl, key, p_strdup_printf(userdb->pool, "%lu", id));
	return 0;
}

static int userdb_static_init(struct userdb *userdb, const char *args,
			      const char **error_r)
{
	struct userdb_static *module = p_new(userdb->pool,
					     struct userdb_static, 1);

	module->tmpl = auth_fields_parse_template(userdb->pool, args);
	const char *allow = auth_fields_find(module->tmpl, "allow_all_users");
	if (allow != NULL) {
		if (allow[0] != '\0' && strcmp(allow, "yes") != 0 &&
		    strcmp(allow, "no") != 0) {
			*error_r = t_strdup_printf(
				"allow_all_users must be yes or no, not %s",
				allow);
			return -1;
		}
		userdb->needs_passdb_check = strcmp(allow, "no") == 0;
		(void)auth_fields_remove(module->tmpl, "allow_all_users");
	} else {
		userdb->needs_passdb_check = true;
	}
	if (userdb_static_resolve(userdb, module->tmpl, "uid", error_r) < 0 ||
	    userdb_static_resolve(userdb, module->tmpl, "gid", error_r) < 0)
		return -1;
	userdb->context = module;
	return 0;
}

static void userdb_static_lookup(struct userdb_request *request)
{
	struct userdb_static *module = request->userdb->context;
	const char *error;

	if (userdb_request_set_template(request, module->tmpl, &error) < 0) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	userdb_request_finish(request, USERDB_RESULT_OK, NULL);
}

const struct userdb_driver userdb_driver_static = {
	.name = "static",
	.init = userdb_static_init,
	.lookup = userdb_static_lookup,
};
