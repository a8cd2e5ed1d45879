/* The PostgreSQL driver of db-sql.h, on libpq's asynchronous API in the
   ioloop: connections are made with PQconnectStart()/PQconnectPoll(),
   queries sent with PQsendQuery() and read with PQconsumeInput() when the
   socket is readable. Up to maxconns connections (a Dovecot connect
   setting, default 5, stripped before libpq sees the string) each run one
   query at a time; further queries wait in a queue. A connection that
   fails or breaks fails its query; when no connection is left the queue
   fails too and reconnection waits, doubling from 1 to 30 seconds, so a
   dead server costs each login one quick temporary failure instead of a
   hang. Connect and query timeouts close a connection that stops
   answering.

   libpq is not linked into the binary: it and its dependencies (gnutls,
   krb5, ldap, p11-kit...) would be mapped by every process, each paying
   for its own copy of their relocated data. The first pgsql database of a
   process dlopen()s it and resolves the functions below into pq; only the
   auth process with a pgsql passdb/userdb configured ever does. libpq-fe.h
   gives the types. */
#include "lib.h"
#include "ioloop.h"
#include "db-sql.h"

#include <dlfcn.h>
#include <libpq-fe.h>

/* the package that has it, for the error message: libpq5 (Debian) */
#define PGSQL_LIBPQ_SONAME "libpq.so.5"

/* The functions of libpq this driver calls, resolved by pgsql_load(). */
#define PGSQL_LIBPQ_FUNCS(X) \
	X(PQconnectStart) X(PQconnectPoll) X(PQstatus) X(PQsetnonblocking) \
	X(PQsocket) X(PQfinish) X(PQerrorMessage) X(PQsendQuery) \
	X(PQflush) X(PQconsumeInput) X(PQisBusy) X(PQgetResult) \
	X(PQresultStatus) X(PQresStatus) X(PQresultErrorMessage) \
	X(PQnfields) X(PQntuples) X(PQfname) X(PQgetisnull) X(PQgetvalue) \
	X(PQclear) X(PQescapeStringConn) X(PQconninfoParse) \
	X(PQconninfoFree) X(PQfreemem)

static struct {
#define PGSQL_FUNC_PTR(name) __typeof__(name) *name;
	PGSQL_LIBPQ_FUNCS(PGSQL_FUNC_PTR)
#undef PGSQL_FUNC_PTR
} pq;
/* never closed: libpq and its dependencies keep process-wide state */
static void *pq_handle;
static const char *pq_soname = PGSQL_LIBPQ_SONAME;

#define PGSQL_DEFAULT_MAXCONNS 5
#define PGSQL_MAX_MAXCONNS 64
#define PGSQL_CONNECT_TIMEOUT_MSECS (5 * 1000)
#define PGSQL_QUERY_TIMEOUT_MSECS (30 * 1000)
#define PGSQL_RECONNECT_MIN_SECS 1
#define PGSQL_RECONNECT_MAX_SECS 30
/* queries waiting for a connection; beyond this they fail at once */
#define PGSQL_MAX_QUEUE 4096

enum pgsql_state {
	PGSQL_STATE_DISCONNECTED,
	PGSQL_STATE_CONNECTING,
	PGSQL_STATE_IDLE,
	PGSQL_STATE_BUSY,
};

struct pgsql_query {
	struct pgsql_query *next;
	pool_t pool;
	const char *template;
	struct auth_vars vars;
	sql_query_callback_t *callback;
	void *context;
};

struct pgsql_link {
	struct sql_conn *conn;
	enum pgsql_state state;
	PGconn *pg;
	struct io *io;
	struct timeout *to;
	struct pgsql_query *query;
	struct sql_result *result;
};

struct sql_conn {
	char *conninfo;
	unsigned int maxconns;
	struct pgsql_link *links;
	struct pgsql_query *queue_head, *queue_tail;
	unsigned int queue_count;
	/* no connect attempt before this (after failed ones) */
	time_t reconnect_after;
	unsigned int reconnect_secs;
	char *last_error;
	/* new queries are dispatched from here, never from the caller */
	struct timeout *to_dispatch;
	bool deinitializing;
};

static void pgsql_dispatch(struct sql_conn *conn);
static void pgsql_dispatch_timeout(void *context);
static void pgsql_connect_poll(struct pgsql_link *link);

static void pgsql_query_free(struct pgsql_query *query)
{
	pool_unref(&query->pool);
}

static void pgsql_query_answer(struct pgsql_query *query,
			       const struct sql_result *result)
{
	query->callback(result, query->context);
	pgsql_query_free(query);
}

static void pgsql_query_fail(struct pgsql_query *query, const char *error)
{
	struct sql_result *result = sql_result_new();

	sql_result_set_error(result, error);
	pgsql_query_answer(query, result);
	sql_result_free(&result);
}

static void pgsql_link_close(struct pgsql_link *link)
{
	if (link->io != NULL)
		io_remove(&link->io);
	if (link->to != NULL)
		timeout_remove(&link->to);
	if (link->pg != NULL) {
		pq.PQfinish(link->pg);
		link->pg = NULL;
	}
	sql_result_free(&link->result);
	link->state = PGSQL_STATE_DISCONNECTED;
}

static bool pgsql_have_live_link(const struct sql_conn *conn)
{
	for (unsigned int i = 0; i < conn->maxconns; i++) {
		if (conn->links[i].state != PGSQL_STATE_DISCONNECTED)
			return true;
	}
	return false;
}

static void pgsql_fail_queue(struct sql_conn *conn, const char *error)
{
	while (conn->queue_head != NULL) {
		struct pgsql_query *query = conn->queue_head;
		conn->queue_head = query->next;
		conn->queue_count--;
		pgsql_query_fail(query, error);
	}
	conn->queue_tail = NULL;
}

static void pgsql_set_error(struct sql_conn *conn, const char *error)
{
	free(conn->last_error);
	conn->last_error = i_strdup(error);
}

/* The connection failed or broke: fail its query; if it was the last
   one, the waiting queries too. */
static void pgsql_link_failed(struct pgsql_link *link, const char *error,
			      bool connecting)
{
	struct sql_conn *conn = link->conn;
	struct pgsql_query *query = link->query;

	i_error("pgsql: %s: %s", connecting ? "Connecting failed" :
		"Connection lost", error);
	pgsql_set_error(conn, error);
	link->query = NULL;
	pgsql_link_close(link);
	if (connecting) {
		conn->reconnect_after = ioloop_time + conn->reconnect_secs;
		conn->reconnect_secs = I_MIN(conn->reconnect_secs * 2,
					     PGSQL_RECONNECT_MAX_SECS);
	}
	if (query != NULL) {
		pgsql_query_fail(query, t_strdup_printf(
			"Connection to the database lost: %s", error));
	}
	if (!pgsql_have_live_link(conn) && conn->queue_head != NULL &&
	    ioloop_time < conn->reconnect_after) {
		pgsql_fail_queue(conn, t_strdup_printf(
			"Cannot connect to the database: %s", error));
	}
	pgsql_dispatch(conn);
}

static const char *pgsql_error(PGconn *pg)
{
	const char *msg = pq.PQerrorMessage(pg);

	return msg == NULL || *msg == '\0' ? "unknown error" :
		t_str_trim(msg, "\r\n \t");
}

/* --- connecting --- */

static void pgsql_connect_io(void *context)
{
	pgsql_connect_poll(context);
}

static void pgsql_connect_timeout(void *context)
{
	struct pgsql_link *link = context;

	pgsql_link_failed(link, "Connect timed out", true);
}

static void pgsql_connect_poll(struct pgsql_link *link)
{
	PostgresPollingStatusType status = pq.PQconnectPoll(link->pg);

	/* libpq may change the socket between calls */
	if (link->io != NULL)
		io_remove(&link->io);
	switch (status) {
	case PGRES_POLLING_READING:
		link->io = io_add(pq.PQsocket(link->pg), IO_READ,
				  pgsql_connect_io, link);
		return;
	case PGRES_POLLING_WRITING:
		link->io = io_add(pq.PQsocket(link->pg), IO_WRITE,
				  pgsql_connect_io, link);
		return;
	case PGRES_POLLING_OK:
		timeout_remove(&link->to);
		link->state = PGSQL_STATE_IDLE;
		link->conn->reconnect_secs = PGSQL_RECONNECT_MIN_SECS;
		link->conn->reconnect_after = 0;
		pgsql_dispatch(link->conn);
		return;
	case PGRES_POLLING_FAILED:
	default:
		pgsql_link_failed(link, pgsql_error(link->pg), true);
		return;
	}
}

static void pgsql_link_connect(struct pgsql_link *link)
{
	i_assert(link->state == PGSQL_STATE_DISCONNECTED);

	link->pg = pq.PQconnectStart(link->conn->conninfo);
	link->state = PGSQL_STATE_CONNECTING;
	if (link->pg == NULL) {
		pgsql_link_failed(link, "Out of memory", true);
		return;
	}
	if (pq.PQstatus(link->pg) == CONNECTION_BAD) {
		pgsql_link_failed(link, pgsql_error(link->pg), true);
		return;
	}
	if (pq.PQsetnonblocking(link->pg, 1) < 0) {
		pgsql_link_failed(link, pgsql_error(link->pg), true);
		return;
	}
	link->to = timeout_add(PGSQL_CONNECT_TIMEOUT_MSECS,
			       pgsql_connect_timeout, link);
	pgsql_connect_poll(link);
}

/* --- queries --- */

static void pgsql_query_finished(struct pgsql_link *link)
{
	struct pgsql_query *query = link->query;
	struct sql_result *result = link->result;

	io_remove(&link->io);
	timeout_remove(&link->to);
	link->query = NULL;
	link->result = NULL;
	link->state = PGSQL_STATE_IDLE;
	pgsql_query_answer(query, result);
	sql_result_free(&result);
	pgsql_dispatch(link->conn);
}

static void pgsql_take_result(struct pgsql_link *link, PGresult *res)
{
	struct sql_result *result = link->result;

	switch (pq.PQresultStatus(res)) {
	case PGRES_TUPLES_OK: {
		if (result->names != NULL || result->error != NULL)
			break; /* only the first statement's rows count */
		unsigned int cols = (unsigned int)pq.PQnfields(res);
		unsigned int rows = (unsigned int)pq.PQntuples(res);
		const char **names = t_new(const char *, cols + 1);
		const char **values = t_new(const char *, cols + 1);
		for (unsigned int c = 0; c < cols; c++)
			names[c] = pq.PQfname(res, (int)c);
		sql_result_set_columns(result, cols, names);
		for (unsigned int r = 0; r < rows; r++) {
			for (unsigned int c = 0; c < cols; c++) {
				values[c] = pq.PQgetisnull(res, (int)r, (int)c) ?
					NULL : pq.PQgetvalue(res, (int)r, (int)c);
			}
			sql_result_add_row(result, values);
		}
		break;
	}
	case PGRES_COMMAND_OK:
	case PGRES_EMPTY_QUERY:
		break;
	default:
		if (result->error == NULL) {
			const char *msg = pq.PQresultErrorMessage(res);
			sql_result_set_error(result, msg == NULL || *msg == '\0' ?
				pq.PQresStatus(pq.PQresultStatus(res)) :
				t_str_trim(msg, "\r\n \t"));
		}
		break;
	}
}

static void pgsql_query_input(void *context)
{
	struct pgsql_link *link = context;

	if (pq.PQconsumeInput(link->pg) == 0) {
		pgsql_link_failed(link, pgsql_error(link->pg), false);
		return;
	}
	while (!pq.PQisBusy(link->pg)) {
		PGresult *res = pq.PQgetResult(link->pg);
		if (res == NULL) {
			pgsql_query_finished(link);
			return;
		}
		pgsql_take_result(link, res);
		pq.PQclear(res);
	}
}

static void pgsql_query_flush(void *context)
{
	struct pgsql_link *link = context;
	int ret = pq.PQflush(link->pg);

	if (ret < 0) {
		pgsql_link_failed(link, pgsql_error(link->pg), false);
		return;
	}
	io_remove(&link->io);
	if (ret > 0) {
		link->io = io_add(pq.PQsocket(link->pg), IO_WRITE,
				  pgsql_query_flush, link);
	} else {
		link->io = io_add(pq.PQsocket(link->pg), IO_READ,
				  pgsql_query_input, link);
	}
}

static void pgsql_query_timeout(void *context)
{
	struct pgsql_link *link = context;

	pgsql_link_failed(link, "Query timed out", false);
}

static const char *pgsql_escape(const char *value, void *context)
{
	PGconn *pg = context;
	size_t len = strlen(value);
	char *out = t_malloc(len * 2 + 1);
	int error = 0;

	(void)pq.PQescapeStringConn(pg, out, value, len, &error);
	/* invalid multibyte input: libpq wrote a valid but different
	   string; the lookup then finds no one, which is right */
	return out;
}

static void pgsql_link_send(struct pgsql_link *link, struct pgsql_query *query)
{
	const char *sql, *error;

	if (auth_vars_expand_escaped(query->template, &query->vars,
				     pgsql_escape, link->pg, &sql,
				     &error) < 0) {
		pgsql_query_fail(query, error);
		return;
	}
	link->query = query;
	link->result = sql_result_new();
	link->state = PGSQL_STATE_BUSY;
	if (pq.PQsendQuery(link->pg, sql) == 0) {
		pgsql_link_failed(link, pgsql_error(link->pg), false);
		return;
	}
	link->to = timeout_add(PGSQL_QUERY_TIMEOUT_MSECS,
			       pgsql_query_timeout, link);
	link->io = io_add(pq.PQsocket(link->pg), IO_WRITE, pgsql_query_flush,
			  link);
}

static void pgsql_dispatch(struct sql_conn *conn)
{
	while (conn->queue_head != NULL) {
		struct pgsql_link *idle = NULL, *free_link = NULL;
		unsigned int connecting = 0;

		for (unsigned int i = 0; i < conn->maxconns; i++) {
			struct pgsql_link *link = &conn->links[i];
			if (link->state == PGSQL_STATE_IDLE && idle == NULL)
				idle = link;
			else if (link->state == PGSQL_STATE_DISCONNECTED &&
				 free_link == NULL)
				free_link = link;
			else if (link->state == PGSQL_STATE_CONNECTING)
				connecting++;
		}
		if (idle != NULL) {
			struct pgsql_query *query = conn->queue_head;
			conn->queue_head = query->next;
			if (conn->queue_head == NULL)
				conn->queue_tail = NULL;
			conn->queue_count--;
			query->next = NULL;
			pgsql_link_send(idle, query);
			continue;
		}
		/* open one more connection per waiting query at most */
		if (free_link != NULL && connecting < conn->queue_count &&
		    ioloop_time >= conn->reconnect_after) {
			pgsql_link_connect(free_link);
			/* it may have failed at once and dispatched */
			continue;
		}
		if (!pgsql_have_live_link(conn)) {
			/* waiting for the reconnect delay */
			pgsql_fail_queue(conn, t_strdup_printf(
				"Not connected to the database (retrying in %ld s): %s",
				(long)(conn->reconnect_after - ioloop_time),
				conn->last_error == NULL ? "" :
				conn->last_error));
		}
		return;
	}
}

static void pgsql_query(struct sql_conn *conn, const char *template,
			const struct auth_vars *vars,
			sql_query_callback_t *callback, void *context)
{
	if (conn->deinitializing) {
		sql_query_fail_later("Database closed (shutting down)",
				     callback, context);
		return;
	}
	if (conn->queue_count >= PGSQL_MAX_QUEUE) {
		sql_query_fail_later("Too many PostgreSQL queries waiting",
				     callback, context);
		return;
	}
	pool_t pool = pool_alloconly_create("pgsql query", 512);
	struct pgsql_query *query = p_new(pool, struct pgsql_query, 1);
	query->pool = pool;
	query->template = p_strdup(pool, template);
	auth_vars_copy(pool, &query->vars, vars);
	query->callback = callback;
	query->context = context;

	/* the callback must not run before this returns: dispatch from
	   the ioloop */
	if (conn->queue_tail != NULL)
		conn->queue_tail->next = query;
	else
		conn->queue_head = query;
	conn->queue_tail = query;
	conn->queue_count++;
	if (conn->to_dispatch == NULL)
		conn->to_dispatch = timeout_add(0, pgsql_dispatch_timeout, conn);
}

static void pgsql_dispatch_timeout(void *context)
{
	struct sql_conn *conn = context;

	timeout_remove(&conn->to_dispatch);
	pgsql_dispatch(conn);
}

/* Take Dovecot's maxconns=N out of the conninfo string. */
static int pgsql_parse_connect(struct sql_conn *conn, const char *connect,
			       const char **error_r)
{
	string_t *conninfo = t_str_new(strlen(connect));
	const char *const *args = t_strsplit_spaces(connect, " ");

	conn->maxconns = PGSQL_DEFAULT_MAXCONNS;
	for (unsigned int i = 0; args[i] != NULL; i++) {
		if (str_begins(args[i], "maxconns=")) {
			if (str_to_uint(args[i] + 9, &conn->maxconns) < 0 ||
			    conn->maxconns == 0 ||
			    conn->maxconns > PGSQL_MAX_MAXCONNS) {
				*error_r = t_strdup_printf(
					"Invalid maxconns: %s (expected 1..%u)",
					str_sanitize(args[i] + 9, 32),
					PGSQL_MAX_MAXCONNS);
				return -1;
			}
			continue;
		}
		if (str_len(conninfo) > 0)
			str_append_c(conninfo, ' ');
		str_append(conninfo, args[i]);
	}
	char *errmsg = NULL;
	PQconninfoOption *opts = pq.PQconninfoParse(str_c(conninfo), &errmsg);
	if (opts == NULL) {
		*error_r = t_strdup_printf("Invalid connect string: %s",
			errmsg == NULL ? "out of memory" :
			t_str_trim(errmsg, "\r\n \t"));
		pq.PQfreemem(errmsg);
		return -1;
	}
	pq.PQconninfoFree(opts);
	conn->conninfo = i_strdup(str_c(conninfo));
	return 0;
}

void sql_driver_pgsql_set_soname(const char *soname)
{
	i_assert(pq_handle == NULL);
	pq_soname = soname;
}

/* Load libpq once per process. */
static int pgsql_load(const char **error_r)
{
	void *handle, *sym;

	if (pq_handle != NULL)
		return 0;
	handle = dlopen(pq_soname, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		const char *err = dlerror();
		*error_r = t_strdup_printf(
			"driver pgsql: Cannot load the PostgreSQL client library %s "
			"(install the libpq5 package): %s", pq_soname,
			err == NULL ? "unknown error" : err);
		return -1;
	}
#define PGSQL_FUNC_RESOLVE(name) \
	if ((sym = dlsym(handle, #name)) == NULL) { \
		*error_r = t_strdup_printf( \
			"driver pgsql: %s has no %s (libpq5 too old?)", \
			pq_soname, #name); \
		(void)dlclose(handle); \
		memset(&pq, 0, sizeof(pq)); \
		return -1; \
	} \
	pq.name = (__typeof__(pq.name))sym;
	PGSQL_LIBPQ_FUNCS(PGSQL_FUNC_RESOLVE)
#undef PGSQL_FUNC_RESOLVE
	pq_handle = handle;
	return 0;
}

static int pgsql_init(const char *connect, struct sql_conn **conn_r,
		      const char **error_r)
{
	struct sql_conn *conn;

	if (pgsql_load(error_r) < 0)
		return -1;
	conn = i_new(struct sql_conn, 1);
	if (pgsql_parse_connect(conn, connect, error_r) < 0) {
		free(conn);
		return -1;
	}
	conn->links = i_new(struct pgsql_link, conn->maxconns);
	for (unsigned int i = 0; i < conn->maxconns; i++)
		conn->links[i].conn = conn;
	conn->reconnect_secs = PGSQL_RECONNECT_MIN_SECS;
	*conn_r = conn;
	return 0;
}

static void pgsql_deinit(struct sql_conn *conn)
{
	if (conn->to_dispatch != NULL)
		timeout_remove(&conn->to_dispatch);
	/* failing a query may make its owner ask again: no more queueing
	   and no reconnecting while the links close */
	conn->deinitializing = true;
	conn->reconnect_after = ioloop_time + 3600;
	for (unsigned int i = 0; i < conn->maxconns; i++) {
		struct pgsql_link *link = &conn->links[i];
		struct pgsql_query *query = link->query;

		link->query = NULL;
		pgsql_link_close(link);
		if (query != NULL)
			pgsql_query_fail(query, "Database closed (shutting down)");
	}
	pgsql_fail_queue(conn, "Database closed (shutting down)");
	free(conn->links);
	free(conn->conninfo);
	free(conn->last_error);
	free(conn);
}

const struct sql_driver sql_driver_pgsql = {
	.name = "pgsql",
	.init = pgsql_init,
	.deinit = pgsql_deinit,
	.query = pgsql_query,
};
