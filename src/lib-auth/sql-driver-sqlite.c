/* The SQLite driver of db-sql.h. SQLite has no asynchronous API, so every
   query runs in a worker thread of the driver's own (one: SQLite
   serializes the statements of one connection anyway), and its result
   comes back to the ioloop. The file is opened at init, before the auth
   process drops privileges, and opened again by the next query if it
   could not be. */
#include "lib.h"
#include "worker.h"
#include "db-sql.h"

#include <sqlite3.h>

/* queries waiting for the thread; beyond this they fail at once */
#define SQLITE_MAX_QUEUE 4096
#define SQLITE_BUSY_TIMEOUT_MSECS 5000

struct sqlite_query;

struct sql_conn {
	char *path;
	/* touched only by the worker thread once init is over */
	sqlite3 *db;
	struct worker_pool *workers;
	/* queries not yet answered, to fail them at deinit */
	struct sqlite_query *queries;
	bool deinitializing;
};

struct sqlite_query {
	struct sqlite_query *prev, *next;
	struct sql_conn *conn;
	struct worker_job *job;
	char *sql;
	struct sql_result *result;
	sql_query_callback_t *callback;
	void *context;
};

/* Worker thread or init: open the file. Returns NULL or an error (heap). */
static char *sqlite_open(struct sql_conn *conn)
{
	sqlite3 *db = NULL;
	int ret = sqlite3_open_v2(conn->path, &db, SQLITE_OPEN_READWRITE |
				  SQLITE_OPEN_FULLMUTEX, NULL);
	if (ret != SQLITE_OK) {
		char *error = i_strdup_printf("sqlite3_open(%s) failed: %s",
			conn->path, db == NULL ? sqlite3_errstr(ret) :
			sqlite3_errmsg(db));
		sqlite3_close(db);
		return error;
	}
	(void)sqlite3_busy_timeout(db, SQLITE_BUSY_TIMEOUT_MSECS);
	conn->db = db;
	return NULL;
}

static int sqlite_init(const char *connect, struct sql_conn **conn_r,
		       const char **error_r)
{
	struct sql_conn *conn = i_new(struct sql_conn, 1);

	conn->path = i_strdup(connect);
	char *error = sqlite_open(conn);
	if (error != NULL) {
		/* not fatal: the file may appear later; every query until
		   then fails (temporary failure) and says why */
		i_error("sqlite: %s (retrying at each query)", error);
		free(error);
	}
	*conn_r = conn;
	(void)error_r;
	return 0;
}

static void sqlite_query_unlink(struct sqlite_query *query)
{
	struct sql_conn *conn = query->conn;

	if (query->prev != NULL)
		query->prev->next = query->next;
	else
		conn->queries = query->next;
	if (query->next != NULL)
		query->next->prev = query->prev;
}

static void sqlite_query_free(struct sqlite_query *query)
{
	sql_result_free(&query->result);
	free(query->sql);
	free(query);
}

/* Worker thread: run the statement, collect every row. */
static void sqlite_query_work(void *context)
{
	struct sqlite_query *query = context;
	struct sql_conn *conn = query->conn;
	struct sql_result *result = query->result;
	sqlite3_stmt *stmt;
	int ret;

	if (conn->db == NULL) {
		char *error = sqlite_open(conn);
		if (error != NULL) {
			sql_result_set_error(result, error);
			free(error);
			return;
		}
	}
	ret = sqlite3_prepare_v2(conn->db, query->sql, -1, &stmt, NULL);
	if (ret != SQLITE_OK) {
		sql_result_set_error(result, sqlite3_errmsg(conn->db));
		return;
	}
	if (stmt == NULL) {
		sql_result_set_error(result, "Empty query");
		return;
	}
	unsigned int cols = (unsigned int)sqlite3_column_count(stmt);
	const char **names = i_new(const char *, cols + 1);
	const char **values = i_new(const char *, cols + 1);
	for (unsigned int i = 0; i < cols; i++) {
		names[i] = sqlite3_column_name(stmt, (int)i);
		if (names[i] == NULL)
			names[i] = "";
	}
	sql_result_set_columns(result, cols, names);
	while ((ret = sqlite3_step(stmt)) == SQLITE_ROW) {
		for (unsigned int i = 0; i < cols; i++) {
			values[i] = (const char *)
				sqlite3_column_text(stmt, (int)i);
		}
		sql_result_add_row(result, values);
	}
	if (ret != SQLITE_DONE)
		sql_result_set_error(result, sqlite3_errmsg(conn->db));
	free(names);
	free(values);
	(void)sqlite3_finalize(stmt);
}

static void sqlite_query_done(void *context)
{
	struct sqlite_query *query = context;

	query->job = NULL;
	sqlite_query_unlink(query);
	query->callback(query->result, query->context);
	sqlite_query_free(query);
}

static const char *sqlite_escape(const char *value, void *context)
{
	return sql_escape_standard(value, context);
}

static void sqlite_query(struct sql_conn *conn, const char *template,
			 const struct auth_vars *vars,
			 sql_query_callback_t *callback, void *context)
{
	const char *sql, *error;

	if (conn->deinitializing) {
		sql_query_fail_later("Database closed (shutting down)",
				     callback, context);
		return;
	}
	if (auth_vars_expand_escaped(template, vars, sqlite_escape, NULL,
				     &sql, &error) < 0) {
		sql_query_fail_later(error, callback, context);
		return;
	}
	if (conn->workers == NULL) {
		/* at the first query: there is an ioloop by then */
		conn->workers = worker_pool_create(1, SQLITE_MAX_QUEUE);
	}
	struct sqlite_query *query = i_new(struct sqlite_query, 1);
	query->conn = conn;
	query->sql = i_strdup(sql);
	query->result = sql_result_new();
	query->callback = callback;
	query->context = context;
	query->job = worker_pool_run(conn->workers, sqlite_query_work,
				     sqlite_query_done, query);
	if (query->job == NULL) {
		sqlite_query_free(query);
		sql_query_fail_later("Too many SQLite queries waiting",
				     callback, context);
		return;
	}
	query->next = conn->queries;
	if (conn->queries != NULL)
		conn->queries->prev = query;
	conn->queries = query;
}

static void sqlite_deinit(struct sql_conn *conn)
{
	conn->deinitializing = true;
	/* queued queries will never run: answer them now */
	struct sqlite_query *query = conn->queries, *next;
	for (; query != NULL; query = next) {
		next = query->next;
		if (query->job != NULL && worker_job_cancel(&query->job)) {
			sqlite_query_unlink(query);
			sql_result_set_error(query->result,
					     "Database closed (shutting down)");
			query->callback(query->result, query->context);
			sqlite_query_free(query);
		}
	}
	/* the running one finishes and gets its done callback here */
	if (conn->workers != NULL)
		worker_pool_destroy(&conn->workers);
	i_assert(conn->queries == NULL);
	if (conn->db != NULL)
		(void)sqlite3_close(conn->db);
	free(conn->path);
	free(conn);
}

const struct sql_driver sql_driver_sqlite = {
	.name = "sqlite",
	.init = sqlite_init,
	.deinit = sqlite_deinit,
	.query = sqlite_query,
};
