/* The SQL database behind passdb sql and userdb sql, configured as
   Dovecot's: the driver args name a file in dovecot-sql.conf.ext syntax

     driver = sqlite | pgsql
     connect = /var/lib/columba/users.db          (sqlite: a path)
     connect = host=db dbname=mail user=columba password=... maxconns=5
                                                  (pgsql: libpq conninfo)
     default_pass_scheme = SHA512-CRYPT
     password_query = SELECT password, allow_nets FROM users WHERE userid = '%u'
     user_query = SELECT home, uid, gid FROM users WHERE userid = '%u'
     iterate_query = SELECT userid AS user FROM users

   ('#' comments, "key = value" lines, a value may be "quoted" and a line
   ending in '\' continues on the next). A passdb and a userdb naming the
   same file share one database handle.

   Queries never block the ioloop: SQLite runs in a worker thread of its
   own, PostgreSQL through libpq's asynchronous API on the ioloop. Every
   %variable is escaped for the database after its modifiers, so a client's
   user name cannot leave the quoted string it is put in. A database that
   cannot be reached fails the query (the lookup answers a temporary
   failure, never "unknown user"); the next query reconnects. */
#ifndef COLUMBA_DB_SQL_H
#define COLUMBA_DB_SQL_H

#include "auth-vars.h"

/* What a query returned. Owned by the database code; valid during the
   callback only. */
struct sql_result {
	/* NULL on success, else why the query failed (for the log) */
	const char *error;
	unsigned int cols, rows;
	/* cols column names */
	char **names;
	/* rows * cols values, row by row; NULL for SQL NULL */
	char **values;
};

typedef void sql_query_callback_t(const struct sql_result *result,
				  void *context);

struct db_sql_settings {
	const char *driver;
	const char *connect;
	/* NULL when not set: the passdb's default (MD5 in Dovecot) */
	const char *default_pass_scheme;
	/* NULL when not set */
	const char *password_query, *user_query, *iterate_query;
};

struct db_sql;

/* The database of the args file at path (shared, one reference more).
   Reads the file now, checks the queries' variables, and opens an SQLite
   file now (so that a file readable only before privileges are dropped
   works); a PostgreSQL connection is made at the first query. Returns 0,
   or -1 with *error_r (data stack) for an unreadable file, an unknown
   setting or driver, a bad query template. */
int db_sql_get(const char *path, struct db_sql **db_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Drop a reference; the last one fails queries still waiting (their
   callbacks run with an error) and closes the database. */
void db_sql_unref(struct db_sql **db);
const struct db_sql_settings *db_sql_get_settings(const struct db_sql *db);

/* Expand template with vars (each value escaped for this database) and
   run it. callback is called exactly once, from the ioloop, never
   before this returns. */
void db_sql_query(struct db_sql *db, const char *template,
		  const struct auth_vars *vars,
		  sql_query_callback_t *callback, void *context);

/* The value of row, col (NULL for SQL NULL). */
static inline const char *
sql_result_value(const struct sql_result *result, unsigned int row,
		 unsigned int col)
{
	return result->values[row * result->cols + col];
}

/* --- for the drivers (sql-driver-*.c) --- */

struct sql_conn;

struct sql_driver {
	const char *name;
	/* Parse connect and set up; may connect now (sqlite) or later.
	   Returns 0, or -1 with *error_r (data stack). */
	int (*init)(const char *connect, struct sql_conn **conn_r,
		    const char **error_r);
	/* Fail (callback with an error) every query not yet answered,
	   then close and free. */
	void (*deinit)(struct sql_conn *conn);
	/* Run template expanded with vars (escaping with the driver's own
	   rules, see db_sql_expand()); callback once, from the ioloop,
	   never before this returns. */
	void (*query)(struct sql_conn *conn, const char *template,
		      const struct auth_vars *vars,
		      sql_query_callback_t *callback, void *context);
};

extern const struct sql_driver sql_driver_sqlite;
extern const struct sql_driver sql_driver_pgsql;
/* The pgsql driver dlopen()s libpq (libpq.so.5) at its first init in a
   process; for tests, another file name (one that does not exist, to see
   the error). Only before that first init. */
void sql_driver_pgsql_set_soname(const char *soname);

/* A result struct of the heap, for a driver to fill: sql_result_add_*()
   and sql_result_free(). */
struct sql_result *sql_result_new(void);
/* Thread-safe (heap only): the drivers fill results in worker threads. */
void sql_result_set_error(struct sql_result *result, const char *error);
void sql_result_set_columns(struct sql_result *result, unsigned int cols,
			    const char *const *names);
/* values: cols of them, NULL for SQL NULL */
void sql_result_add_row(struct sql_result *result, const char *const *values);
void sql_result_free(struct sql_result **result);

/* Call callback with a result holding error, from a 0 ms timeout: for a
   driver that must fail a query before it could start. */
void sql_query_fail_later(const char *error, sql_query_callback_t *callback,
			  void *context);

/* Standard SQL escaping for inside '...': quotes doubled. Data stack. */
const char *sql_escape_standard(const char *value, void *context);

#endif
