/* Tests for passdb/userdb sql over SQLite: the args file's syntax and
   errors, escaping of %variables (a hostile user name stays inside its
   quotes), cache keys, lookups with every kind of column, multiple rows,
   iteration, and a database file that is missing (a temporary failure,
   then a reconnect once it exists). PostgreSQL runs against a real server
   in tests/test_auth_sql.py. */
#include "test-lib-auth.h"
#include "ioloop.h"
#include "db-sql.h"
#include "passdb.h"
#include "userdb.h"

#include <sqlite3.h>

static const char *test_sql_db_path;

static void test_sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *errmsg = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		i_fatal("sqlite3_open(%s): %s", path, sqlite3_errmsg(db));
	if (sqlite3_exec(db, sql, NULL, NULL, &errmsg) != SQLITE_OK)
		i_fatal("sqlite3_exec(%s): %s", sql, errmsg);
	sqlite3_close(db);
}

static const char *test_sql_conf(const char *name, const char *db_path,
				 const char *extra)
{
	return test_auth_write_file(name, t_strdup_printf(
		"# Dovecot's dovecot-sql.conf.ext syntax\n"
		"driver = sqlite\n"
		"connect = %s\n"
		"default_pass_scheme = PLAIN\n"
		"password_query = SELECT userid AS user, password, \\\n"
		"  password_noscheme, nologin, reason, home AS userdb_home, allow_nets \\\n"
		"  FROM users WHERE userid = '%%u'\n"
		"user_query = \"SELECT home, uid, gid, quota_rule FROM users WHERE userid = '%%u'\"\n"
		"iterate_query = SELECT userid AS user FROM users ORDER BY userid\n"
		"%s", db_path, extra));
}

static void test_sql_setup_db(void)
{
	test_sql_db_path = t_strdup_printf("%s/users.db", test_dir());
	(void)unlink(test_sql_db_path);
	test_sql_exec(test_sql_db_path,
		"CREATE TABLE users (userid TEXT, password TEXT, "
		"password_noscheme TEXT, nologin TEXT, reason TEXT, home TEXT, "
		"uid INTEGER, gid INTEGER, quota_rule TEXT, allow_nets TEXT);"
		"INSERT INTO users VALUES ('alice@example.com', '{PLAIN}alice-pw', NULL, NULL, NULL, '/home/alice', 1000, 1000, '*:storage=1G', NULL);"
		"INSERT INTO users VALUES ('noscheme@example.com', NULL, '{weird}pw', NULL, NULL, '/home/n', 1001, 1001, NULL, '10.0.0.0/8');"
		"INSERT INTO users VALUES ('gone@example.com', 'x', NULL, 'y', 'Moved away', '/home/g', 1002, 1002, NULL, NULL);"
		"INSERT INTO users VALUES ('twice@example.com', 'a', NULL, NULL, NULL, '/a', 1, 1, NULL, NULL);"
		"INSERT INTO users VALUES ('twice@example.com', 'b', NULL, NULL, NULL, '/b', 1, 1, NULL, NULL);"
		"INSERT INTO users VALUES ('o''hara@example.com', '{PLAIN}quote', NULL, NULL, NULL, '/home/o', 1003, 1003, NULL, NULL);");
}

struct test_sql_wait {
	unsigned int calls;
	const struct passdb_user *puser;
	const struct userdb_user *uuser;
	const char *const *users;
	const char *error;
	pool_t pool;
};

static void test_sql_wait_for(struct test_sql_wait *wait)
{
	uint64_t deadline = ioloop_msecs_monotonic() + 10000;

	while (wait->calls == 0 && ioloop_msecs_monotonic() < deadline)
		ioloop_run_once(current_ioloop, 100);
	test_assert(wait->calls == 1);
}

static void test_sql_passdb_cb(const struct passdb_user *user, void *context)
{
	struct test_sql_wait *wait = context;

	wait->calls++;
	wait->puser = user;
}

static const struct passdb_user *
test_sql_passdb_lookup(struct passdb *passdb, const char *user,
		       struct test_sql_wait *wait)
{
	const struct auth_vars vars = { .user = user, .service = "imap",
					.remote_ip = "192.0.2.1" };

	memset(wait, 0, sizeof(*wait));
	wait->pool = pool_alloconly_create("test sql", 1024);
	passdb_lookup(passdb, &vars, wait->pool, test_sql_passdb_cb, wait);
	/* the answer never comes before passdb_lookup() returns */
	test_assert(wait->calls == 0);
	test_sql_wait_for(wait);
	return wait->puser;
}

static void test_sql_userdb_cb(const struct userdb_user *user, void *context)
{
	struct test_sql_wait *wait = context;

	wait->calls++;
	wait->uuser = user;
}

static void test_sql_iterate_cb(const char *const *users, const char *error,
				void *context)
{
	struct test_sql_wait *wait = context;

	wait->calls++;
	wait->error = error == NULL ? NULL : p_strdup(wait->pool, error);
	if (users != NULL) {
		unsigned int n = str_array_length(users);
		const char **copy = p_new(wait->pool, const char *, n + 1);
		for (unsigned int i = 0; i < n; i++)
			copy[i] = p_strdup(wait->pool, users[i]);
		wait->users = copy;
	}
}

static void test_sql_args_file(void)
{
	struct passdb *passdb;
	const char *error, *path;

	test_begin("sql: args file syntax and errors");
	test_sql_setup_db();
	path = test_sql_conf("sql-ok.conf", test_sql_db_path, "");
	test_assert(passdb_create("sql", path, &passdb, &error) == 0);
	if (passdb != NULL) {
		test_assert_strcmp(passdb_get_default_scheme(passdb), "PLAIN");
		test_assert_strcmp(passdb_get_cache_key(passdb), "%u");
		passdb_destroy(&passdb);
	}

	path = test_sql_conf("sql-bad1.conf", test_sql_db_path,
			     "password_quer = x\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "sql-bad1.conf:10: Unknown setting: password_quer") != NULL);
	path = test_auth_write_file("sql-bad2.conf", "connect = /x\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "driver not set") != NULL);
	path = test_auth_write_file("sql-bad3.conf",
				    "driver = mysql\nconnect = x\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "Unknown driver: mysql") != NULL);
	path = test_auth_write_file("sql-bad4.conf",
		"driver = sqlite\nconnect = /x\npassword_query = SELECT '%{nosuch}'\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "nosuch") != NULL);
	path = test_auth_write_file("sql-bad5.conf",
		"driver = sqlite\nconnect = /x\nuser_query = SELECT 1\n");
	test_expect_log(LOG_TYPE_ERROR, "sqlite3_open(/x) failed");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "password_query not set") != NULL);
	path = test_auth_write_file("sql-bad6.conf", "driver\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "sql-bad6.conf:1: Expected key = value") != NULL);
	/* libpq is dlopen()ed at the first pgsql init: without it, a clear
	   error naming the package (before anything loaded it here) */
	path = test_auth_write_file("sql-nolibpq.conf",
		"driver = pgsql\nconnect = host=x\npassword_query = x\n");
	sql_driver_pgsql_set_soname("libpq-columba-test-missing.so.5");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "sql-nolibpq.conf: driver pgsql: Cannot load "
			    "the PostgreSQL client library "
			    "libpq-columba-test-missing.so.5 (install the "
			    "libpq5 package)") != NULL);
	sql_driver_pgsql_set_soname("libpq.so.5");
	path = test_auth_write_file("sql-bad7.conf",
		"driver = pgsql\nconnect = host=x maxconns=0\npassword_query = x\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "Invalid maxconns") != NULL);
	path = test_auth_write_file("sql-bad8.conf",
		"driver = pgsql\nconnect = host=x nosuchoption=1\npassword_query = x\n");
	test_assert(passdb_create("sql", path, &passdb, &error) < 0);
	test_assert(strstr(error, "Invalid connect string") != NULL);
	test_assert(passdb_create("sql", "/nonexistent/sql.conf", &passdb,
				  &error) < 0);
	test_assert(strstr(error, "open(/nonexistent/sql.conf) failed") != NULL);
	test_end();
}

static void test_sql_escape(void)
{
	const struct auth_vars vars = { .user = "x' OR '1'='1@ex'ample.com" };
	const char *result, *error;

	test_begin("sql: %variables are escaped after their modifiers");
	test_assert(auth_vars_expand_escaped("u='%u' n='%Ln' d='%d' %%",
		&vars, sql_escape_standard, NULL, &result, &error) == 0);
	test_assert_strcmp(result,
		"u='x'' OR ''1''=''1@ex''ample.com' n='x'' or ''1''=''1' d='ex''ample.com' %");
	/* a substring cut at a quote cannot leave it unpaired */
	test_assert(auth_vars_expand_escaped("'%2u'", &vars,
		sql_escape_standard, NULL, &result, &error) == 0);
	test_assert_strcmp(result, "'x'''");
	test_assert(auth_vars_expand_escaped("'%{user}' '%{nosuch}'", &vars,
		sql_escape_standard, NULL, &result, &error) < 0);
	test_assert(auth_vars_expand_escaped("'%", &vars,
		sql_escape_standard, NULL, &result, &error) < 0);

	test_assert_strcmp(auth_vars_cache_key(
		"SELECT x WHERE a='%u' AND b='%Ld' AND c='%u' AND r=%{rip} %%"),
		"%u\t%Ld\t%{rip}");
	test_assert_strcmp(auth_vars_cache_key("SELECT 1"), "");
	test_end();
}

static void test_sql_passdb(void)
{
	struct test_sql_wait wait;
	struct passdb *passdb;
	const struct passdb_user *user;
	const char *error;

	test_begin("sql: passdb over SQLite");
	struct ioloop *ioloop = ioloop_create();
	test_sql_setup_db();
	const char *path = test_sql_conf("sql.conf", test_sql_db_path, "");
	test_assert(passdb_create("sql", path, &passdb, &error) == 0);

	user = test_sql_passdb_lookup(passdb, "alice@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_OK);
	test_assert_strcmp(user->password, "{PLAIN}alice-pw");
	test_assert(passdb_user_verify_password(user, "alice-pw", &error) ==
		    PASSDB_RESULT_OK);
	test_assert(passdb_user_verify_password(user, "wrong", &error) ==
		    PASSDB_RESULT_PASSWORD_MISMATCH);
	test_assert_strcmp(auth_fields_find(user->userdb_fields, "home"),
			   "/home/alice");
	/* NULL columns are left out */
	test_assert(!auth_fields_exists(user->extra_fields, "nologin"));
	test_assert(!auth_fields_exists(user->extra_fields, "allow_nets"));
	pool_unref(&wait.pool);

	/* password_noscheme: the braces are part of the password */
	user = test_sql_passdb_lookup(passdb, "noscheme@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_OK);
	test_assert(passdb_user_verify_password(user, "{weird}pw", &error) ==
		    PASSDB_RESULT_OK);
	test_assert(passdb_user_check_allow_nets(user, "192.0.2.1",
						 &error) == 0);
	pool_unref(&wait.pool);

	user = test_sql_passdb_lookup(passdb, "gone@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_OK);
	test_assert(auth_fields_exists(user->extra_fields, "nologin"));
	test_assert_strcmp(auth_fields_find(user->extra_fields, "reason"),
			   "Moved away");
	pool_unref(&wait.pool);

	user = test_sql_passdb_lookup(passdb, "o'hara@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_OK);
	pool_unref(&wait.pool);
	user = test_sql_passdb_lookup(passdb, "nobody@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_USER_UNKNOWN);
	pool_unref(&wait.pool);
	/* an injection attempt finds no one */
	user = test_sql_passdb_lookup(passdb, "x' OR '1'='1", &wait);
	test_assert(user->result == PASSDB_RESULT_USER_UNKNOWN);
	pool_unref(&wait.pool);
	user = test_sql_passdb_lookup(passdb, "twice@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_INTERNAL_FAILURE);
	test_assert(strstr(user->error, "multiple matches") != NULL);
	pool_unref(&wait.pool);
	passdb_destroy(&passdb);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_sql_missing_db(void)
{
	struct test_sql_wait wait;
	struct passdb *passdb;
	const struct passdb_user *user;
	const char *error;

	test_begin("sql: a missing database is a temporary failure, then reconnects");
	struct ioloop *ioloop = ioloop_create();
	const char *db_path = t_strdup_printf("%s/later.db", test_dir());
	(void)unlink(db_path);
	const char *path = test_sql_conf("sql-later.conf", db_path, "");
	test_expect_log(LOG_TYPE_ERROR, "unable to open database file");
	test_assert(passdb_create("sql", path, &passdb, &error) == 0);
	user = test_sql_passdb_lookup(passdb, "alice@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_INTERNAL_FAILURE);
	test_assert(strstr(user->error, "unable to open database file") != NULL);
	pool_unref(&wait.pool);

	test_sql_exec(db_path, "CREATE TABLE users (userid TEXT, password TEXT, "
		"password_noscheme TEXT, nologin TEXT, reason TEXT, home TEXT, "
		"allow_nets TEXT);"
		"INSERT INTO users VALUES ('alice@example.com', 'pw', NULL, NULL, NULL, '/h', NULL);");
	user = test_sql_passdb_lookup(passdb, "alice@example.com", &wait);
	test_assert(user->result == PASSDB_RESULT_OK);
	/* default_pass_scheme PLAIN for a password without {SCHEME} */
	test_assert(passdb_user_verify_password(user, "pw", &error) ==
		    PASSDB_RESULT_OK);
	pool_unref(&wait.pool);
	passdb_destroy(&passdb);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_sql_userdb(void)
{
	struct test_sql_wait wait;
	struct userdb *userdb;
	struct passdb *passdb;
	const char *error;

	test_begin("sql: userdb lookups and iteration, sharing the passdb's database");
	struct ioloop *ioloop = ioloop_create();
	test_sql_setup_db();
	const char *path = test_sql_conf("sql-u.conf", test_sql_db_path, "");
	test_assert(passdb_create("sql", path, &passdb, &error) == 0);
	test_assert(userdb_create("sql", path, &userdb, &error) == 0);

	const struct auth_vars vars = { .user = "alice@example.com" };
	memset(&wait, 0, sizeof(wait));
	wait.pool = pool_alloconly_create("test sql", 1024);
	userdb_lookup(userdb, &vars, wait.pool, test_sql_userdb_cb, &wait);
	test_sql_wait_for(&wait);
	test_assert(wait.uuser->result == USERDB_RESULT_OK);
	test_assert_strcmp(auth_fields_find(wait.uuser->fields, "home"),
			   "/home/alice");
	test_assert_strcmp(auth_fields_find(wait.uuser->fields, "uid"), "1000");
	test_assert_strcmp(auth_fields_find(wait.uuser->fields, "quota_rule"),
			   "*:storage=1G");
	pool_unref(&wait.pool);

	const struct auth_vars vars2 = { .user = "nobody@example.com" };
	memset(&wait, 0, sizeof(wait));
	wait.pool = pool_alloconly_create("test sql", 1024);
	userdb_lookup(userdb, &vars2, wait.pool, test_sql_userdb_cb, &wait);
	test_sql_wait_for(&wait);
	test_assert(wait.uuser->result == USERDB_RESULT_USER_UNKNOWN);
	pool_unref(&wait.pool);

	memset(&wait, 0, sizeof(wait));
	wait.pool = pool_alloconly_create("test sql", 1024);
	test_assert(userdb_iterate(userdb, test_sql_iterate_cb, &wait));
	test_assert(wait.calls == 0);
	test_sql_wait_for(&wait);
	test_assert(wait.error == NULL && wait.users != NULL);
	if (wait.users != NULL) {
		test_assert(str_array_length(wait.users) == 6);
		test_assert_strcmp(wait.users[0], "alice@example.com");
		test_assert_strcmp(wait.users[3], "o'hara@example.com");
	}
	pool_unref(&wait.pool);
	userdb_destroy(&userdb);
	passdb_destroy(&passdb);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_db_sql_tests[] = {
	test_sql_args_file,
	test_sql_escape,
	test_sql_passdb,
	test_sql_missing_db,
	test_sql_userdb,
	NULL
};
