/* passdb sql: args name a dovecot-sql.conf.ext file (db-sql.h); the
   password_query's one row gives the password (column "password", or
   "password_noscheme" for a value that must not be read as "{SCHEME}...")
   and fields named by the other columns, userdb_* ones handed on to the
   userdb. NULL columns are left out. No row: unknown user; more than one:
   an error, as in Dovecot. */
#include "lib.h"
#include "password-scheme.h"
#include "db-sql.h"
#include "passdb-private.h"

struct passdb_sql {
	struct db_sql *db;
	const char *query;
};

static int passdb_sql_init(struct passdb *passdb, const char *args,
			   const char **error_r)
{
	struct passdb_sql *module = p_new(passdb->pool, struct passdb_sql, 1);
	const char *path = t_str_trim(args, " \t");

	if (*path == '\0') {
		*error_r = "args must name the SQL configuration file";
		return -1;
	}
	if (db_sql_get(path, &module->db, error_r) < 0)
		return -1;
	const struct db_sql_settings *set = db_sql_get_settings(module->db);
	if (set->password_query == NULL) {
		*error_r = t_strdup_printf("%s: password_query not set", path);
		db_sql_unref(&module->db);
		return -1;
	}
	if (set->default_pass_scheme != NULL) {
		if (!password_scheme_is_known(set->default_pass_scheme)) {
			*error_r = t_strdup_printf(
				"%s: Unknown default_pass_scheme: %s", path,
				str_sanitize(set->default_pass_scheme, 64));
			db_sql_unref(&module->db);
			return -1;
		}
		passdb->default_scheme = set->default_pass_scheme;
	}
	module->query = p_strdup(passdb->pool, set->password_query);
	passdb->cache_key = p_strdup(passdb->pool,
				     auth_vars_cache_key(module->query));
	passdb->context = module;
	return 0;
}

static void passdb_sql_deinit(struct passdb *passdb)
{
	struct passdb_sql *module = passdb->context;

	db_sql_unref(&module->db);
}

static void passdb_sql_callback(const struct sql_result *result,
				void *context)
{
	struct passdb_request *request = context;

	if (result->error != NULL) {
		passdb_request_finish(request, PASSDB_RESULT_INTERNAL_FAILURE,
				      t_strdup_printf("password_query failed: %s",
						      result->error));
		return;
	}
	if (result->rows == 0) {
		passdb_request_finish(request, PASSDB_RESULT_USER_UNKNOWN,
				      NULL);
		return;
	}
	if (result->rows > 1) {
		passdb_request_finish(request, PASSDB_RESULT_INTERNAL_FAILURE,
				      "password_query returned multiple matches");
		return;
	}
	for (unsigned int c = 0; c < result->cols; c++) {
		const char *name = result->names[c];
		const char *value = sql_result_value(result, 0, c);

		if (value == NULL || *name == '\0')
			continue;
		if (strcmp(name, "password_noscheme") == 0) {
			/* a leading "{" is part of the password */
			passdb_request_set_password(request, t_strdup_printf(
				"{%s}%s", request->result.default_scheme,
				value));
		} else {
			passdb_request_set_field(request, name, value);
		}
	}
	passdb_request_finish(request, PASSDB_RESULT_OK, NULL);
}

static void passdb_sql_lookup(struct passdb_request *request)
{
	struct passdb_sql *module = request->passdb->context;

	db_sql_query(module->db, module->query, &request->vars,
		     passdb_sql_callback, request);
}

const struct passdb_driver passdb_driver_sql = {
	.name = "sql",
	.default_scheme = "MD5",
	.init = passdb_sql_init,
	.deinit = passdb_sql_deinit,
	.lookup = passdb_sql_lookup,
};
