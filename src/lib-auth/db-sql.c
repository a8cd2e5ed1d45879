/* The SQL database of passdb/userdb sql (db-sql.h): the args file, the
   shared handles, the result structure the drivers fill and the query
   entry point. The drivers themselves are sql-driver-sqlite.c and
   sql-driver-pgsql.c. */
#include "lib.h"
#include "ioloop.h"
#include "db-sql.h"

#include <fcntl.h>

/* a line continued with '\' may not grow beyond this */
#define DB_SQL_MAX_LINE (64 * 1024)
#define DB_SQL_MAX_FILE (1024 * 1024)

struct db_sql {
	struct db_sql *prev, *next;
	int refcount;
	pool_t pool;
	char *path;
	struct db_sql_settings set;
	const struct sql_driver *driver;
	struct sql_conn *conn;
};

static struct db_sql *db_sql_list = NULL;

/* --- the args file --- */

static const char *db_sql_unquote(const char *value, const char **error_r)
{
	size_t len = strlen(value);

	if (len == 0 || value[0] != '"')
		return value;
	if (len < 2 || value[len - 1] != '"') {
		*error_r = "Missing closing '\"'";
		return NULL;
	}
	string_t *out = t_str_new(len);
	for (size_t i = 1; i < len - 1; i++) {
		if (value[i] == '\\' && i + 1 < len - 1)
			i++;
		str_append_c(out, value[i]);
	}
	return str_c(out);
}

static int db_sql_set(struct db_sql *db, const char *key, const char *value,
		      const char **error_r)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{ "driver", offsetof(struct db_sql_settings, driver) },
		{ "connect", offsetof(struct db_sql_settings, connect) },
		{ "default_pass_scheme",
		  offsetof(struct db_sql_settings, default_pass_scheme) },
		{ "password_query",
		  offsetof(struct db_sql_settings, password_query) },
		{ "user_query", offsetof(struct db_sql_settings, user_query) },
		{ "iterate_query",
		  offsetof(struct db_sql_settings, iterate_query) },
	};

	for (unsigned int i = 0; i < N_ELEMENTS(keys); i++) {
		if (strcmp(keys[i].key, key) == 0) {
			const char **dest = (const char **)(void *)
				((char *)&db->set + keys[i].offset);
			*dest = p_strdup(db->pool, value);
			return 0;
		}
	}
	*error_r = t_strdup_printf("Unknown setting: %s (expected driver, connect, default_pass_scheme, password_query, user_query or iterate_query)",
				   str_sanitize(key, 64));
	return -1;
}

static int db_sql_read_file(struct db_sql *db, const char **error_r)
{
	int fd = open(db->path, O_RDONLY);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %s", db->path,
					   t_strerror(errno));
		return -1;
	}
	string_t *data = t_str_new(4096);
	for (;;) {
		char buf[4096];
		ssize_t ret = read(fd, buf, sizeof(buf));
		if (ret < 0) {
			*error_r = t_strdup_printf("read(%s) failed: %s",
						   db->path,
						   t_strerror(errno));
			(void)close(fd);
			return -1;
		}
		if (ret == 0)
			break;
		str_append_data(data, buf, (size_t)ret);
		if (str_len(data) > DB_SQL_MAX_FILE) {
			*error_r = t_strdup_printf("%s: file too large",
						   db->path);
			(void)close(fd);
			return -1;
		}
	}
	(void)close(fd);

	const char *const *lines = t_strsplit(str_c(data), "\n");
	string_t *line = t_str_new(256);
	unsigned int start_lineno = 0;
	for (unsigned int i = 0; lines[i] != NULL; i++) {
		const char *l = lines[i];
		size_t len = strlen(l);

		if (str_len(line) == 0)
			start_lineno = i + 1;
		if (len > 0 && l[len - 1] == '\r')
			len--;
		if (len > 0 && l[len - 1] == '\\') {
			/* continued: Dovecot joins with a space */
			str_append_data(line, l, len - 1);
			str_append_c(line, ' ');
			if (str_len(line) > DB_SQL_MAX_LINE) {
				*error_r = t_strdup_printf("%s:%u: line too long",
					db->path, start_lineno);
				return -1;
			}
			continue;
		}
		str_append_data(line, l, len);
		const char *text = t_str_trim(str_c(line), " \t");
		str_reset(line);
		if (*text == '\0' || *text == '#')
			continue;

		const char *eq = strchr(text, '=');
		if (eq == NULL) {
			*error_r = t_strdup_printf("%s:%u: Expected key = value",
						   db->path, start_lineno);
			return -1;
		}
		const char *key = t_str_trim(t_strndup(text, (size_t)(eq - text)),
					     " \t");
		const char *value = t_str_trim(eq + 1, " \t"), *error;
		value = db_sql_unquote(value, &error);
		if (value == NULL || db_sql_set(db, key, value, &error) < 0) {
			*error_r = t_strdup_printf("%s:%u: %s", db->path,
						   start_lineno, error);
			return -1;
		}
	}
	return 0;
}

static int db_sql_check_query(const char *name, const char *query,
			      const char **error_r)
{
	const struct auth_vars vars = {
		.user = "user@example.com", .service = "imap",
		.local_ip = "127.0.0.1", .remote_ip = "127.0.0.1",
	};
	const char *result, *error;

	if (query == NULL)
		return 0;
	if (auth_vars_expand_escaped(query, &vars, sql_escape_standard, NULL,
				     &result, &error) < 0) {
		*error_r = t_strdup_printf("%s: %s", name, error);
		return -1;
	}
	return 0;
}

static int db_sql_init(struct db_sql *db, const char **error_r)
{
	if (db_sql_read_file(db, error_r) < 0)
		return -1;
	if (db->set.driver == NULL) {
		*error_r = t_strdup_printf("%s: driver not set (expected sqlite or pgsql)",
					   db->path);
		return -1;
	}
	if (strcmp(db->set.driver, "sqlite") == 0)
		db->driver = &sql_driver_sqlite;
	else if (strcmp(db->set.driver, "pgsql") == 0)
		db->driver = &sql_driver_pgsql;
	else {
		*error_r = t_strdup_printf("%s: Unknown driver: %s (expected sqlite or pgsql)",
					   db->path,
					   str_sanitize(db->set.driver, 64));
		return -1;
	}
	if (db->set.connect == NULL || db->set.connect[0] == '\0') {
		*error_r = t_strdup_printf("%s: connect not set", db->path);
		return -1;
	}
	if (db_sql_check_query("password_query", db->set.password_query,
			       error_r) < 0 ||
	    db_sql_check_query("user_query", db->set.user_query,
			       error_r) < 0 ||
	    db_sql_check_query("iterate_query", db->set.iterate_query,
			       error_r) < 0) {
		*error_r = t_strdup_printf("%s: %s", db->path, *error_r);
		return -1;
	}
	if (db->driver->init(db->set.connect, &db->conn, error_r) < 0) {
		*error_r = t_strdup_printf("%s: %s", db->path, *error_r);
		return -1;
	}
	return 0;
}

int db_sql_get(const char *path, struct db_sql **db_r, const char **error_r)
{
	for (struct db_sql *db = db_sql_list; db != NULL; db = db->next) {
		if (strcmp(db->path, path) == 0) {
			db->refcount++;
			*db_r = db;
			return 0;
		}
	}

	pool_t pool = pool_alloconly_create("db sql", 1024);
	struct db_sql *db = p_new(pool, struct db_sql, 1);
	db->pool = pool;
	db->refcount = 1;
	db->path = p_strdup(pool, path);
	if (db_sql_init(db, error_r) < 0) {
		pool_unref(&pool);
		return -1;
	}
	db->next = db_sql_list;
	if (db_sql_list != NULL)
		db_sql_list->prev = db;
	db_sql_list = db;
	*db_r = db;
	return 0;
}

void db_sql_unref(struct db_sql **_db)
{
	struct db_sql *db = *_db;

	*_db = NULL;
	i_assert(db->refcount > 0);
	if (--db->refcount > 0)
		return;
	if (db->prev != NULL)
		db->prev->next = db->next;
	else
		db_sql_list = db->next;
	if (db->next != NULL)
		db->next->prev = db->prev;
	db->driver->deinit(db->conn);
	pool_unref(&db->pool);
}

const struct db_sql_settings *db_sql_get_settings(const struct db_sql *db)
{
	return &db->set;
}

void db_sql_query(struct db_sql *db, const char *template,
		  const struct auth_vars *vars,
		  sql_query_callback_t *callback, void *context)
{
	db->driver->query(db->conn, template, vars, callback, context);
}

/* --- results --- */

struct sql_result *sql_result_new(void)
{
	return i_new(struct sql_result, 1);
}

void sql_result_set_error(struct sql_result *result, const char *error)
{
	free((char *)result->error);
	result->error = i_strdup(error);
}

void sql_result_set_columns(struct sql_result *result, unsigned int cols,
			    const char *const *names)
{
	i_assert(result->names == NULL);
	result->cols = cols;
	result->names = i_new(char *, cols + 1);
	for (unsigned int i = 0; i < cols; i++)
		result->names[i] = i_strdup(names[i]);
}

void sql_result_add_row(struct sql_result *result, const char *const *values)
{
	size_t old = size_mul(result->rows, result->cols);
	size_t add = result->cols;

	if (add == 0) {
		/* rows without columns: nothing to keep but their count */
		result->rows++;
		return;
	}

	/* grow by doubling the row count */
	if ((result->rows & (result->rows - 1)) == 0) {
		size_t cap = result->rows == 0 ? 1 : result->rows * 2;
		result->values = i_realloc(result->values,
			old * sizeof(char *),
			size_mul(size_mul(cap, result->cols), sizeof(char *)));
	}
	for (size_t i = 0; i < add; i++) {
		result->values[old + i] = values[i] == NULL ? NULL :
			i_strdup(values[i]);
	}
	result->rows++;
}

void sql_result_free(struct sql_result **_result)
{
	struct sql_result *result = *_result;

	*_result = NULL;
	if (result == NULL)
		return;
	size_t n = size_mul(result->rows, result->cols);
	for (size_t i = 0; i < n; i++) {
		if (result->values[i] != NULL) {
			/* values may be password hashes */
			safe_memset(result->values[i], 0,
				    strlen(result->values[i]));
			free(result->values[i]);
		}
	}
	free(result->values);
	for (unsigned int i = 0; i < result->cols; i++)
		free(result->names[i]);
	free(result->names);
	free((char *)result->error);
	free(result);
}

struct sql_fail_later {
	struct timeout *to;
	struct sql_result *result;
	sql_query_callback_t *callback;
	void *context;
};

static void sql_fail_later_run(void *context)
{
	struct sql_fail_later *ctx = context;

	timeout_remove(&ctx->to);
	ctx->callback(ctx->result, ctx->context);
	sql_result_free(&ctx->result);
	free(ctx);
}

void sql_query_fail_later(const char *error, sql_query_callback_t *callback,
			  void *context)
{
	struct sql_fail_later *ctx = i_new(struct sql_fail_later, 1);

	ctx->result = sql_result_new();
	sql_result_set_error(ctx->result, error);
	ctx->callback = callback;
	ctx->context = context;
	ctx->to = timeout_add(0, sql_fail_later_run, ctx);
}

const char *sql_escape_standard(const char *value, void *context ATTR_UNUSED)
{
	if (strchr(value, '\'') == NULL)
		return value;
	string_t *out = t_str_new(strlen(value) + 8);
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\'')
			str_append_c(out, '\'');
		str_append_c(out, *p);
	}
	return str_c(out);
}
