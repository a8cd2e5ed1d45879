/* Tests for the passdb drivers: passwd-file parsing (extra fields,
   comments, blank lines, old formats, duplicates), reloading, per-domain
   files, args, and the static passdb; the shared field rules, password
   check and allow_nets. */
#include "test-lib-auth.h"
#include "passdb.h"

#include <fcntl.h>
#include <sys/stat.h>

#define SHA512_SECRET "$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0"

static const char test_passwd_file[] =
	"# a comment\n"
	"\n"
	"bob:{PLAIN}bobpw:1000:1000::/home/bob::userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=1G nodelay\n"
	"alice:{SHA512-CRYPT}" SHA512_SECRET ":1001:1001:Alice A:/home/alice:/bin/sh:allow_nets=127.0.0.0/8,::1 proxy host=10.1.2.3\n"
	"gone:{PLAIN}x::::::nologin reason=Moved\n"
	"nopw:::::::nopassword\n"
	"bare:" SHA512_SECRET "\n"
	"legacy:5ebe2294ecd0e0f08eab7690d2a6ee69[34]\n"
	"legacycrypt:abNANd1rDfiNc[13]\n"
	"old:{PLAIN}old:1002:1002::/home/old:/bin/false::maildir:/var/mail/old\n"
	"onlyname\n"
	"bob:{PLAIN}duplicate\n"
	"crlf:{PLAIN}crlf\r\n"
	"vars:{PLAIN}v::::::copy=%u/%n/%d/%s userdb_home=/home/%n\n"
	"badvar:{PLAIN}v::::::copy=%{nosuch}\n"
	"user@example.com:{PLAIN}full\n"
	"renamed:{PLAIN}r::::::user=other@example.com\n"
	":nouser\n"
	"  # not a comment: the line starts with spaces\n"
	"#commented:{PLAIN}x\n"
	"last:{PLAIN}last";

struct test_lookup {
	unsigned int calls;
	pool_t pool;
	const struct passdb_user *user;
};

static void test_lookup_callback(const struct passdb_user *user,
				 void *context)
{
	struct test_lookup *lookup = context;

	lookup->calls++;
	lookup->user = user;
}

/* Look user up (synchronous drivers) with a pool freed by the next call. */
static const struct passdb_user *
test_passdb_lookup_full(struct passdb *passdb, const struct auth_vars *vars)
{
	static pool_t pool = NULL;
	struct test_lookup lookup = { .calls = 0 };

	if (pool != NULL)
		pool_unref(&pool);
	if (passdb == NULL)
		return NULL;
	pool = pool_alloconly_create("test passdb lookup", 1024);
	passdb_lookup(passdb, vars, pool, test_lookup_callback, &lookup);
	test_assert(lookup.calls == 1);
	return lookup.user;
}

static const struct passdb_user *test_passdb_lookup(struct passdb *passdb,
						    const char *user)
{
	const struct auth_vars vars = { .user = user, .service = "imap" };

	return test_passdb_lookup_full(passdb, &vars);
}

static enum passdb_result test_verify(const struct passdb_user *user,
				      const char *password)
{
	const char *error;

	if (user->result != PASSDB_RESULT_OK)
		return user->result;
	return passdb_user_verify_password(user, password, &error);
}

static struct passdb *test_passdb_create(const char *driver, const char *args)
{
	struct passdb *passdb;
	const char *error;

	if (passdb_create(driver, args, &passdb, &error) < 0) {
		test_fail("passdb_create(%s, %s): %s", driver, args, error);
		return NULL;
	}
	return passdb;
}

static void test_passdb_passwd_file_parse(void)
{
	const struct passdb_user *u;
	const char *path, *error;

	test_begin("passdb passwd-file: parsing and fields");
	path = test_auth_write_file("users", test_passwd_file);
	test_expect_log(LOG_TYPE_ERROR, "User bob exists more than once");
	struct passdb *passdb = test_passdb_create("passwd-file", path);
	if (passdb == NULL) {
		test_end();
		return;
	}
	test_assert_strcmp(passdb_get_driver_name(passdb), "passwd-file");
	test_assert_strcmp(passdb_get_default_scheme(passdb), "CRYPT");

	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_OK);
	test_assert_strcmp(u->user, "bob");
	test_assert_strcmp(u->password, "{PLAIN}bobpw");
	test_assert(test_verify(u, "bobpw") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "bobpw ") == PASSDB_RESULT_PASSWORD_MISMATCH);
	test_assert(test_verify(u, "duplicate") == PASSDB_RESULT_PASSWORD_MISMATCH);
	test_assert_strcmp(auth_fields_find(u->userdb_fields, "mail"),
			   "maildir:~/Maildir");
	test_assert_strcmp(auth_fields_find(u->userdb_fields, "quota_rule"),
			   "*:storage=1G");
	test_assert(auth_fields_exists(u->extra_fields, "nodelay"));
	test_assert(!auth_fields_exists(u->extra_fields, "userdb_mail"));
	test_assert(auth_fields_count(u->extra_fields) == 1);

	u = test_passdb_lookup(passdb, "alice");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "Secret") == PASSDB_RESULT_PASSWORD_MISMATCH);
	test_assert(auth_fields_exists(u->extra_fields, "proxy"));
	test_assert_strcmp(auth_fields_find(u->extra_fields, "host"), "10.1.2.3");
	test_assert(passdb_user_check_allow_nets(u, "127.0.0.1", &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "::1", &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "::ffff:127.0.0.2", &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "10.0.0.1", &error) == 0);
	test_assert(passdb_user_check_allow_nets(u, NULL, &error) == 0);
	test_assert(passdb_user_check_allow_nets(u, "not-an-ip", &error) == -1);

	u = test_passdb_lookup(passdb, "gone");
	test_assert(auth_fields_exists(u->extra_fields, "nologin"));
	test_assert_strcmp(auth_fields_find(u->extra_fields, "reason"), "Moved");

	u = test_passdb_lookup(passdb, "nopw");
	test_assert(u->nopassword && u->password == NULL);
	test_assert(test_verify(u, "anything") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "") == PASSDB_RESULT_OK);

	/* no {SCHEME}: the default, CRYPT */
	u = test_passdb_lookup(passdb, "bare");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	/* libpam-pwdfile's password[NN] */
	u = test_passdb_lookup(passdb, "legacy");
	test_assert_strcmp(u->password, "{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	u = test_passdb_lookup(passdb, "legacycrypt");
	test_assert_strcmp(u->password, "{CRYPT}abNANd1rDfiNc");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);

	u = test_passdb_lookup(passdb, "old");
	test_assert_strcmp(auth_fields_find(u->userdb_fields, "mail"),
			   "maildir:/var/mail/old");

	u = test_passdb_lookup(passdb, "onlyname");
	test_assert(u->result == PASSDB_RESULT_OK && u->password == NULL);
	test_assert(test_verify(u, "") == PASSDB_RESULT_PASSWORD_MISMATCH);

	u = test_passdb_lookup(passdb, "crlf");
	test_assert_strcmp(u->password, "{PLAIN}crlf");

	/* extra field values expand %variables */
	u = test_passdb_lookup(passdb, "vars");
	test_assert_strcmp(auth_fields_find(u->extra_fields, "copy"),
			   "vars/vars//imap");
	test_assert_strcmp(auth_fields_find(u->userdb_fields, "home"),
			   "/home/vars");
	u = test_passdb_lookup(passdb, "badvar");
	test_assert(u->result == PASSDB_RESULT_INTERNAL_FAILURE);
	test_assert(u->error != NULL && strstr(u->error, "nosuch") != NULL);

	u = test_passdb_lookup(passdb, "user@example.com");
	test_assert(test_verify(u, "full") == PASSDB_RESULT_OK);
	u = test_passdb_lookup(passdb, "renamed");
	test_assert_strcmp(u->user, "other@example.com");
	u = test_passdb_lookup(passdb, "last");
	test_assert_strcmp(u->password, "{PLAIN}last");

	static const char *const unknown[] = {
		"nosuch", "", "#commented", "Bob", "user",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(unknown); i++) {
		u = test_passdb_lookup(passdb, unknown[i]);
		test_assert_idx(u->result == PASSDB_RESULT_USER_UNKNOWN, i);
	}
	/* only a '#' in the first column starts a comment */
	u = test_passdb_lookup(passdb, "  # not a comment");
	test_assert(u->result == PASSDB_RESULT_OK);

	(void)test_passdb_lookup_full(NULL, NULL);
	passdb_destroy(&passdb);
	test_assert(passdb == NULL);
	test_end();
}

static void test_passdb_passwd_file_args(void)
{
	struct passdb *passdb;
	const struct passdb_user *u;
	const char *path, *error;

	test_begin("passdb passwd-file: args");
	path = test_auth_write_file("args-users",
		"bob:{PLAIN}bob\n"
		"carol:" SHA512_SECRET "\n"
		"dave:secret\n");

	/* username_format=%n: bob@example.com is "bob" in the file */
	passdb = test_passdb_create("passwd-file", t_strdup_printf(
		"username_format=%%n %s", path));
	u = test_passdb_lookup(passdb, "bob@example.com");
	test_assert(test_verify(u, "bob") == PASSDB_RESULT_OK);
	test_assert_strcmp(u->user, "bob@example.com");
	passdb_destroy(&passdb);
	(void)test_passdb_lookup_full(NULL, NULL);

	/* scheme= changes the default */
	passdb = test_passdb_create("passwd-file", t_strdup_printf(
		"scheme=PLAIN  username_format=%%Lu %s ", path));
	test_assert_strcmp(passdb_get_default_scheme(passdb), "PLAIN");
	u = test_passdb_lookup(passdb, "DAVE");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	u = test_passdb_lookup(passdb, "carol");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_PASSWORD_MISMATCH);
	passdb_destroy(&passdb);
	(void)test_passdb_lookup_full(NULL, NULL);

	/* with the default CRYPT, "secret" is no crypt hash of "secret" */
	passdb = test_passdb_create("passwd-file", path);
	u = test_passdb_lookup(passdb, "dave");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_PASSWORD_MISMATCH);
	u = test_passdb_lookup(passdb, "carol");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	passdb_destroy(&passdb);
	(void)test_passdb_lookup_full(NULL, NULL);

	/* Dovecot's rule: nopassword next to a real password is ignored */
	path = test_auth_write_file("nopw-users",
				    "nopwbad:{PLAIN}x::::::nopassword\n");
	passdb = test_passdb_create("passwd-file", path);
	test_expect_log(LOG_TYPE_ERROR, "nopassword set but password is non-empty");
	u = test_passdb_lookup(passdb, "nopwbad");
	test_assert(!u->nopassword);
	test_assert(!auth_fields_exists(u->extra_fields, "nopassword"));
	test_assert(test_verify(u, "x") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "y") == PASSDB_RESULT_PASSWORD_MISMATCH);
	passdb_destroy(&passdb);
	(void)test_passdb_lookup_full(NULL, NULL);

	test_assert(passdb_create("passwd-file", "", &passdb, &error) < 0);
	test_assert(strstr(error, "path") != NULL);
	test_assert(passdb_create("passwd-file", "scheme=NOSUCH /x", &passdb,
				  &error) < 0);
	test_assert(passdb_create("passwd-file",
				  t_strdup_printf("%s/nonexistent", test_dir()),
				  &passdb, &error) < 0);
	test_assert(strstr(error, "No such file") != NULL);
	test_assert(passdb_create("nosuchdriver", "", &passdb, &error) < 0);
	test_assert(strstr(error, "nosuchdriver") != NULL);
	test_end();
}

static void test_passdb_passwd_file_reload(void)
{
	struct passdb *passdb;
	const struct passdb_user *u;
	const char *path;

	test_begin("passdb passwd-file: reload on change");
	path = test_auth_write_file("reload-users", "bob:{PLAIN}aaaa\n");
	passdb = test_passdb_create("passwd-file", path);
	u = test_passdb_lookup(passdb, "bob");
	test_assert(test_verify(u, "aaaa") == PASSDB_RESULT_OK);

	/* the same size, replaced by rename: a new inode */
	(void)test_auth_write_file("reload-users", "bob:{PLAIN}bbbb\n");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(test_verify(u, "bbbb") == PASSDB_RESULT_OK);

	/* rewritten in place, the same size, within the same second */
	FILE *f = fopen(path, "w");
	fputs("bob:{PLAIN}cccc\n", f);
	fclose(f);
	struct stat st;
	test_assert(stat(path, &st) == 0);
	u = test_passdb_lookup(passdb, "bob");
	test_assert(test_verify(u, "cccc") == PASSDB_RESULT_OK);

	/* a user added */
	(void)test_auth_write_file("reload-users",
				   "bob:{PLAIN}cccc\ncarol:{PLAIN}c\n");
	u = test_passdb_lookup(passdb, "carol");
	test_assert(test_verify(u, "c") == PASSDB_RESULT_OK);

	/* the file disappears: lookups fail, then recover */
	test_assert(unlink(path) == 0);
	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_INTERNAL_FAILURE);
	test_assert(u->error != NULL && strstr(u->error, "No such file") != NULL);
	(void)test_auth_write_file("reload-users", "bob:{PLAIN}dddd\n");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(test_verify(u, "dddd") == PASSDB_RESULT_OK);
	u = test_passdb_lookup(passdb, "carol");
	test_assert(u->result == PASSDB_RESULT_USER_UNKNOWN);

	/* unreadable (only without root's powers) */
	if (geteuid() != 0) {
		test_assert(chmod(path, 0) == 0);
		test_assert(utimensat(AT_FDCWD, path, NULL, 0) == 0);
		u = test_passdb_lookup(passdb, "bob");
		test_assert(u->result == PASSDB_RESULT_INTERNAL_FAILURE);
		test_assert(chmod(path, 0600) == 0);
	}
	(void)test_passdb_lookup_full(NULL, NULL);
	passdb_destroy(&passdb);
	test_end();
}

static void test_passdb_passwd_file_vars(void)
{
	struct passdb *passdb;
	const struct passdb_user *u;
	const char *dir = t_strdup_printf("%s/domains", test_dir());

	test_begin("passdb passwd-file: a file per domain");
	test_assert(mkdir(dir, 0700) == 0);
	test_assert(mkdir(t_strdup_printf("%s/example.com", dir), 0700) == 0);
	(void)test_auth_write_file("domains/example.com/passwd",
				   "bob:{PLAIN}bob-example\n");
	/* what "domains/%d/passwd" would reach with %d = ".." */
	(void)test_auth_write_file("passwd", "bob:{PLAIN}escaped\n");

	passdb = test_passdb_create("passwd-file", t_strdup_printf(
		"username_format=%%n %s/%%d/passwd", dir));
	u = test_passdb_lookup(passdb, "bob@example.com");
	test_assert(test_verify(u, "bob-example") == PASSDB_RESULT_OK);
	u = test_passdb_lookup(passdb, "bob@other.org");
	test_assert(u->result == PASSDB_RESULT_USER_UNKNOWN);
	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_USER_UNKNOWN);
	/* a user name cannot lead the path elsewhere */
	static const char *const evil[] = {
		"bob@..", "bob@.", "bob@../", "bob@/",
		"bob@example.com/../..",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(evil); i++) {
		u = test_passdb_lookup(passdb, evil[i]);
		test_assert_idx(u->result != PASSDB_RESULT_OK ||
				strcmp(u->password, "{PLAIN}escaped") != 0, i);
	}
	/* "bob@example.com/.." is cut at '/': example.com's file */
	u = test_passdb_lookup(passdb, "bob@example.com/..");
	test_assert(test_verify(u, "bob-example") == PASSDB_RESULT_OK);

	/* a new domain appears while running */
	test_assert(mkdir(t_strdup_printf("%s/new.org", dir), 0700) == 0);
	(void)test_auth_write_file("domains/new.org/passwd", "bob:{PLAIN}new\n");
	u = test_passdb_lookup(passdb, "bob@new.org");
	test_assert(test_verify(u, "new") == PASSDB_RESULT_OK);
	(void)test_passdb_lookup_full(NULL, NULL);
	passdb_destroy(&passdb);
	test_end();
}

static void test_passdb_static(void)
{
	struct passdb *passdb;
	const struct passdb_user *u;
	const char *error;

	test_begin("passdb static");
	passdb = test_passdb_create("static", "password=%Ln-pw allow_nets=local,192.0.2.0/24 userdb_uid=1000");
	test_assert_strcmp(passdb_get_default_scheme(passdb), "PLAIN");
	u = test_passdb_lookup(passdb, "Bob@Example.com");
	test_assert(u->result == PASSDB_RESULT_OK);
	test_assert_strcmp(u->password, "bob-pw");
	test_assert(test_verify(u, "bob-pw") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "Bob-pw") == PASSDB_RESULT_PASSWORD_MISMATCH);
	test_assert_strcmp(auth_fields_find(u->userdb_fields, "uid"), "1000");
	test_assert(passdb_user_check_allow_nets(u, NULL, &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "", &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "192.0.2.200", &error) == 1);
	test_assert(passdb_user_check_allow_nets(u, "198.51.100.1", &error) == 0);
	passdb_destroy(&passdb);

	passdb = test_passdb_create("static", "password={SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=");
	u = test_passdb_lookup(passdb, "anyone");
	test_assert(test_verify(u, "secret") == PASSDB_RESULT_OK);
	test_assert(test_verify(u, "x") == PASSDB_RESULT_PASSWORD_MISMATCH);
	passdb_destroy(&passdb);

	passdb = test_passdb_create("static", "nopassword proxy host=%{domain}");
	u = test_passdb_lookup(passdb, "bob@backend1");
	test_assert(u->nopassword);
	test_assert(test_verify(u, "whatever") == PASSDB_RESULT_OK);
	test_assert_strcmp(auth_fields_find(u->extra_fields, "host"), "backend1");
	passdb_destroy(&passdb);

	/* no password and no nopassword: nobody gets in */
	passdb = test_passdb_create("static", "");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_OK && u->password == NULL);
	test_assert(test_verify(u, "") == PASSDB_RESULT_PASSWORD_MISMATCH);
	passdb_destroy(&passdb);

	/* user= renames, username= keeps the domain */
	passdb = test_passdb_create("static", "password=x user=%Lu");
	u = test_passdb_lookup(passdb, "Bob@X.org");
	test_assert_strcmp(u->user, "bob@x.org");
	passdb_destroy(&passdb);
	passdb = test_passdb_create("static", "password=x username=%Ln");
	u = test_passdb_lookup(passdb, "Bob@X.org");
	test_assert_strcmp(u->user, "bob@X.org");
	passdb_destroy(&passdb);
	passdb = test_passdb_create("static", "password=x user=");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_INTERNAL_FAILURE);
	passdb_destroy(&passdb);

	/* bad allow_nets and variables */
	passdb = test_passdb_create("static", "password=x allow_nets=10.0.0.0/99");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(passdb_user_check_allow_nets(u, "10.0.0.1", &error) == -1);
	passdb_destroy(&passdb);
	passdb = test_passdb_create("static", "password=%{nosuch}");
	u = test_passdb_lookup(passdb, "bob");
	test_assert(u->result == PASSDB_RESULT_INTERNAL_FAILURE);
	passdb_destroy(&passdb);
	(void)test_passdb_lookup_full(NULL, NULL);
	test_end();
}

test_func_t *const test_passdb_tests[] = {
	test_passdb_passwd_file_parse,
	test_passdb_passwd_file_args,
	test_passdb_passwd_file_reload,
	test_passdb_passwd_file_vars,
	test_passdb_static,
	NULL
};
