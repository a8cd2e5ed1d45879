/* userdb passwd-file: args "[username_format=F] PATH"; uid, gid and home
   from their columns, plus the extra fields named userdb_KEY=value. */
#include "lib.h"
#include "db-passwd-file.h"
#include "userdb-private.h"

struct userdb_passwd_file {
	struct db_passwd_file *db;
	const char *username_format;
};

static int userdb_passwd_file_init(struct userdb *userdb, const char *args,
				   const char **error_r)
{
	const char *format, *path;

	if (db_passwd_file_parse_args(userdb->pool, args, NULL, &format, &path,
				      error_r) < 0)
		return -1;

	struct userdb_passwd_file *module =
		p_new(userdb->pool, struct userdb_passwd_file, 1);
	module->username_format = format;
	if (db_passwd_file_get(path, &module->db, error_r) < 0)
		return -1;
	userdb->context = module;
	return 0;
}

static void userdb_passwd_file_deinit(struct userdb *userdb)
{
	struct userdb_passwd_file *module = userdb->context;

	db_passwd_file_unref(&module->db);
}

/* Dovecot refuses uid/gid 0 from a passwd-file: a typo must not give a
   user root's files. */
static int userdb_passwd_file_set_id(struct userdb_request *request,
				     const struct passwd_file_user *pu,
				     const char *key, const char *value,
				     const char **error_r)
{
	uid_t uid;
	gid_t gid;
	bool ok = key[0] == 'u' ?
		userdb_parse_uid(value, &uid) == 0 && uid != 0 :
		userdb_parse_gid(value, &gid) == 0 && gid != 0;

	if (!ok) {
		*error_r = t_strdup_printf("passwd-file: User %s has an "
					   "invalid %s: %s",
					   str_sanitize(pu->user, 128),
					   key[0] == 'u' ? "UID" : "GID",
					   str_sanitize(value, 64));
		return -1;
	}
	userdb_request_set_field(request, key, value);
	return 0;
}

static int userdb_passwd_file_set_fields(struct userdb_request *request,
					 const char *const *fields,
					 const char **error_r)
{
	for (; fields != NULL && *fields != NULL; fields++) {
		if (!str_begins(*fields, "userdb_") || (*fields)[7] == '\0')
			continue;

		const char *field = *fields + 7, *key = field, *value = "";
		const char *eq = strchr(field, '=');
		if (eq != NULL) {
			key = t_strndup(field, (size_t)(eq - field));
			if (auth_vars_expand(eq + 1, &request->vars, &value,
					     error_r) < 0) {
				*error_r = t_strdup_printf(
					"Failed to expand extra field %s: %s",
					key, *error_r);
				return -1;
			}
		}
		userdb_request_set_field(request, key, value);
	}
	return 0;
}

static void userdb_passwd_file_lookup(struct userdb_request *request)
{
	struct userdb_passwd_file *module = request->userdb->context;
	const struct passwd_file_user *pu;
	const char *key, *error;
	int ret;

	if (auth_vars_expand(module->username_format, &request->vars, &key,
			     &error) < 0) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	ret = db_passwd_file_lookup(module->db, &request->vars, key, &pu,
				    &error);
	if (ret <= 0) {
		userdb_request_finish(request, ret == 0 ?
				      USERDB_RESULT_USER_UNKNOWN :
				      USERDB_RESULT_INTERNAL_FAILURE,
				      ret == 0 ? NULL : error);
		return;
	}
	if ((pu->uid != NULL &&
	     userdb_passwd_file_set_id(request, pu, "uid", pu->uid,
				       &error) < 0) ||
	    (pu->gid != NULL &&
	     userdb_passwd_file_set_id(request, pu, "gid", pu->gid,
				       &error) < 0)) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	if (pu->home != NULL)
		userdb_request_set_field(request, "home", pu->home);
	if (userdb_passwd_file_set_fields(request, pu->extra_fields,
					  &error) < 0) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      error);
		return;
	}
	userdb_request_finish(request, USERDB_RESULT_OK, NULL);
}

const struct userdb_driver userdb_driver_passwd_file = {
	.name = "passwd-file",
	.init = userdb_passwd_file_init,
	.deinit = userdb_passwd_file_deinit,
	.lookup = userdb_passwd_file_lookup,
};
