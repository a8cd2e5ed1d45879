/* userdb sql: args name a dovecot-sql.conf.ext file (db-sql.h), shared
   with a passdb sql of the same file. The user_query's one row gives the
   fields, named by the columns (uid, gid, home, mail, quota_rule...; NULL
   columns left out). iterate_query lists every user: a "user" column, or
   "username" and "domain" columns joined with '@', as in Dovecot. */
#include "lib.h"
#include "db-sql.h"
#include "userdb-private.h"

struct userdb_sql {
	struct db_sql *db;
	const char *query, *iterate_query;
};

struct userdb_sql_iterate {
	pool_t pool;
	userdb_iterate_callback_t *callback;
	void *context;
};

static int userdb_sql_init(struct userdb *userdb, const char *args,
			   const char **error_r)
{
	struct userdb_sql *module = p_new(userdb->pool, struct userdb_sql, 1);
	const char *path = t_str_trim(args, " \t");

	if (*path == '\0') {
		*error_r = "args must name the SQL configuration file";
		return -1;
	}
	if (db_sql_get(path, &module->db, error_r) < 0)
		return -1;
	const struct db_sql_settings *set = db_sql_get_settings(module->db);
	if (set->user_query == NULL) {
		*error_r = t_strdup_printf("%s: user_query not set", path);
		db_sql_unref(&module->db);
		return -1;
	}
	module->query = p_strdup(userdb->pool, set->user_query);
	module->iterate_query = p_strdup(userdb->pool, set->iterate_query);
	userdb->context = module;
	return 0;
}

static void userdb_sql_deinit(struct userdb *userdb)
{
	struct userdb_sql *module = userdb->context;

	db_sql_unref(&module->db);
}

static void userdb_sql_callback(const struct sql_result *result,
				void *context)
{
	struct userdb_request *request = context;

	if (result->error != NULL) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      t_strdup_printf("user_query failed: %s",
						      result->error));
		return;
	}
	if (result->rows == 0) {
		userdb_request_finish(request, USERDB_RESULT_USER_UNKNOWN,
				      NULL);
		return;
	}
	if (result->rows > 1) {
		userdb_request_finish(request, USERDB_RESULT_INTERNAL_FAILURE,
				      "user_query returned multiple matches");
		return;
	}
	for (unsigned int c = 0; c < result->cols; c++) {
		const char *value = sql_result_value(result, 0, c);

		if (value != NULL && result->names[c][0] != '\0')
			userdb_request_set_field(request, result->names[c],
						 value);
	}
	userdb_request_finish(request, USERDB_RESULT_OK, NULL);
}

static void userdb_sql_lookup(struct userdb_request *request)
{
	struct userdb_sql *module = request->userdb->context;

	db_sql_query(module->db, module->query, &request->vars,
		     userdb_sql_callback, request);
}

static int userdb_sql_find_col(const struct sql_result *result,
			       const char *name)
{
	for (unsigned int c = 0; c < result->cols; c++) {
		if (strcmp(result->names[c], name) == 0)
			return (int)c;
	}
	return -1;
}

static void userdb_sql_iterate_callback(const struct sql_result *result,
					void *context)
{
	struct userdb_sql_iterate *ctx = context;
	ARRAY(const char *) users;
	const char *error = NULL;

	array_init(&users, ctx->pool, 16);
	if (result->error != NULL) {
		error = t_strdup_printf("iterate_query failed: %s",
					result->error);
	} else {
		int user_col = userdb_sql_find_col(result, "user");
		int name_col = userdb_sql_find_col(result, "username");
		int domain_col = userdb_sql_find_col(result, "domain");

		if (user_col < 0 && name_col < 0) {
			error = "iterate_query returned neither a user nor a username column";
		}
		for (unsigned int r = 0; error == NULL && r < result->rows;
		     r++) {
			const char *user;
			if (user_col >= 0) {
				user = sql_result_value(result, r,
							(unsigned int)user_col);
			} else {
				user = sql_result_value(result, r,
							(unsigned int)name_col);
				const char *domain = domain_col < 0 ? NULL :
					sql_result_value(result, r,
						(unsigned int)domain_col);
				if (user != NULL && domain != NULL &&
				    *domain != '\0')
					user = t_strdup_printf("%s@%s", user,
							       domain);
			}
			if (user != NULL && *user != '\0')
				array_push(&users, p_strdup(ctx->pool, user));
		}
	}
	array_push(&users, NULL);
	ctx->callback(error != NULL ? NULL : users.v, error, ctx->context);
	pool_t pool = ctx->pool;
	pool_unref(&pool);
}

static bool userdb_sql_iterate(struct userdb *userdb,
			       userdb_iterate_callback_t *callback,
			       void *context)
{
	struct userdb_sql *module = userdb->context;
	const struct auth_vars vars = { .user = "" };

	if (module->iterate_query == NULL)
		return false;
	pool_t pool = pool_alloconly_create("userdb sql iterate", 4096);
	struct userdb_sql_iterate *ctx =
		p_new(pool, struct userdb_sql_iterate, 1);
	ctx->pool = pool;
	ctx->callback = callback;
	ctx->context = context;
	db_sql_query(module->db, module->iterate_query, &vars,
		     userdb_sql_iterate_callback, ctx);
	return true;
}

const struct userdb_driver userdb_driver_sql = {
	.name = "sql",
	.init = userdb_sql_init,
	.deinit = userdb_sql_deinit,
	.lookup = userdb_sql_lookup,
	.iterate = userdb_sql_iterate,
};
