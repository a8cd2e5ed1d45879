/* passdb passwd-file: args "[scheme=S] [username_format=F] PATH"; the
   password field is the hash (default scheme CRYPT), every extra field
   is a passdb field, userdb_* ones handed on to the userdb. */
#include "lib.h"
#include "password-scheme.h"
#include "db-passwd-file.h"
#include "passdb-private.h"

struct passdb_passwd_file {
	struct db_passwd_file *db;
	const char *username_format;
};

static int passdb_passwd_file_init(struct passdb *passdb, const char *args,
				   const char **error_r)
{
	const char *scheme, *format, *path;

	if (db_passwd_file_parse_args(passdb->pool, args, &scheme, &format,
				      &path, error_r) < 0)
		return -1;
	if (scheme != NULL) {
		if (!password_scheme_is_known(scheme)) {
			*error_r = t_strdup_printf("Unknown scheme= %s",
						   str_sanitize(scheme, 64));
			return -1;
		}
		passdb->default_scheme = scheme;
	}

	struct passdb_passwd_file *module =
		p_new(passdb->pool, struct passdb_passwd_file, 1);
	module->username_format = format;
	if (db_passwd_file_get(path, &module->db, error_r) < 0)
		return -1;
	/* the user as the file is searched, and the variables choosing
	   the file */
	passdb->cache_key = p_strdup(passdb->pool, auth_vars_cache_key(
		t_strdup_printf("%s\t%s", format, path)));
	passdb->context = module;
	return 0;
}

static void passdb_passwd_file_deinit(struct passdb *passdb)
{
	struct passdb_passwd_file *module = passdb->context;

	db_passwd_file_unref(&module->db);
}

/* Extra field values may hold %variables, expanded per lookup. */
static int passdb_passwd_file_set_fields(struct passdb_request *request,
					 const char *const *fields,
					 const char **error_r)
{
	for (; fields != NULL && *fields != NULL; fields++) {
		const char *eq = strchr(*fields, '='), *value = "";
		const char *key = *fields;

		if (eq != NULL) {
			key = t_strndup(*fields, (size_t)(eq - *fields));
			if (auth_vars_expand(eq + 1, &request->vars, &value,
					     error_r) < 0) {
				*error_r = t_strdup_printf(
					"Failed to expand extra field %s: %s",
					key, *error_r);
				return -1;
			}
		}
		passdb_request_set_field(request, key, value);
	}
	return 0;
}

static void passdb_passwd_file_lookup(struct passdb_request *request)
{
	struct passdb_passwd_file *module = request->passdb->context;
	const struct passwd_file_user *pu;
	const char *key, *error;
	int ret;

	if (auth_vars_expand(module->username_format, &request->vars, &key,
			     &error) < 0) {
		passdb_request_finish(request, PASSDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	ret = db_passwd_file_lookup(module->db, &request->vars, key, &pu,
				    &error);
	if (ret <= 0) {
		passdb_request_finish(request, ret == 0 ?
				      PASSDB_RESULT_USER_UNKNOWN :
				      PASSDB_RESULT_INTERNAL_FAILURE,
				      ret == 0 ? NULL : error);
		return;
	}
	passdb_request_set_password(request, pu->password);
	if (passdb_passwd_file_set_fields(request, pu->extra_fields,
					  &error) < 0) {
		passdb_request_finish(request, PASSDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	passdb_request_finish(request, PASSDB_RESULT_OK, NULL);
}

const struct passdb_driver passdb_driver_passwd_file = {
	.name = "passwd-file",
	.default_scheme = PASSWORD_SCHEME_DEFAULT_PASSWD_FILE,
	.init = passdb_passwd_file_init,
	.deinit = passdb_passwd_file_deinit,
	.lookup = passdb_passwd_file_lookup,
};
