/* Tests for the userdb drivers: passwd-file's uid/gid/home columns and
   userdb_ fields, static templates, uid/gid names, allow_all_users. */
#include "test-lib-auth.h"
#include "passdb.h"
#include "userdb.h"

#include <grp.h>
#include <pwd.h>

struct test_lookup {
	unsigned int calls;
	const struct userdb_user *user;
};

static void test_lookup_callback(const struct userdb_user *user,
				 void *context)
{
	struct test_lookup *lookup = context;

	lookup->calls++;
	lookup->user = user;
}

static pool_t test_pool;

static const struct userdb_user *test_userdb_lookup(struct userdb *userdb,
						    const char *user)
{
	const struct auth_vars vars = { .user = user, .service = "lmtp" };
	struct test_lookup lookup = { .calls = 0 };

	if (test_pool != NULL)
		pool_unref(&test_pool);
	test_pool = pool_alloconly_create("test userdb lookup", 1024);
	userdb_lookup(userdb, &vars, test_pool, test_lookup_callback, &lookup);
	test_assert(lookup.calls == 1);
	return lookup.user;
}

static struct userdb *test_userdb_create(const char *driver, const char *args)
{
	struct userdb *userdb;
	const char *error;

	if (userdb_create(driver, args, &userdb, &error) < 0)
		i_fatal("userdb_create(%s, %s): %s", driver, args, error);
	return userdb;
}

/* A system user and group other than root to resolve by name. */
static bool test_find_daemon(const char **user_r, uid_t *uid_r,
			     const char **group_r, gid_t *gid_r)
{
	struct passwd *pw = getpwnam("daemon");
	struct group *gr = getgrnam("daemon");

	if (pw == NULL || gr == NULL || pw->pw_uid == 0 || gr->gr_gid == 0)
		return false;
	*user_r = "daemon";
	*uid_r = pw->pw_uid;
	*group_r = "daemon";
	*gid_r = gr->gr_gid;
	return true;
}

static void test_userdb_passwd_file(void)
{
	const struct userdb_user *u;
	const char *dname, *gname;
	uid_t duid;
	gid_t dgid;

	test_begin("userdb passwd-file");
	bool have_daemon = test_find_daemon(&dname, &duid, &gname, &dgid);
	const char *path = test_auth_write_file("userdb-users", t_strdup_printf(
		"bob:{PLAIN}x:1000:1001::/home/bob::userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=1G nodelay userdb_home=/override/%%n\n"
		"nohome:{PLAIN}x:1000:1000\n"
		"noids:{PLAIN}x\n"
		"named:{PLAIN}x:%s:%s::/home/named\n"
		"rooted:{PLAIN}x:0:1000::/root\n"
		"badname:{PLAIN}x:nosuchuser123:1000\n"
		"badgid:{PLAIN}x:1000:nosuchgroup123\n"
		"old:{PLAIN}x:1002:1002::/home/old:/bin/false::maildir:/var/mail/old\n",
		have_daemon ? dname : "1", have_daemon ? gname : "1"));
	struct userdb *userdb = test_userdb_create("passwd-file", path);
	test_assert_strcmp(userdb_get_driver_name(userdb), "passwd-file");
	test_assert(!userdb_needs_passdb_check(userdb));

	/* a passdb on the same file shares it */
	struct passdb *passdb;
	const char *error;
	test_assert(passdb_create("passwd-file", path, &passdb, &error) == 0);

	u = test_userdb_lookup(userdb, "bob");
	test_assert(u->result == USERDB_RESULT_OK);
	test_assert_strcmp(auth_fields_find(u->fields, "uid"), "1000");
	test_assert_strcmp(auth_fields_find(u->fields, "gid"), "1001");
	/* a userdb_home field comes after the column and wins */
	test_assert_strcmp(auth_fields_find(u->fields, "home"), "/override/bob");
	test_assert_strcmp(auth_fields_find(u->fields, "mail"), "maildir:~/Maildir");
	test_assert_strcmp(auth_fields_find(u->fields, "quota_rule"), "*:storage=1G");
	test_assert(!auth_fields_exists(u->fields, "nodelay"));
	test_assert(!auth_fields_exists(u->fields, "userdb_mail"));

	u = test_userdb_lookup(userdb, "nohome");
	test_assert(u->result == USERDB_RESULT_OK);
	test_assert(!auth_fields_exists(u->fields, "home"));
	u = test_userdb_lookup(userdb, "noids");
	test_assert(u->result == USERDB_RESULT_OK);
	test_assert(auth_fields_count(u->fields) == 0);

	u = test_userdb_lookup(userdb, "named");
	test_assert(u->result == USERDB_RESULT_OK);
	if (have_daemon) {
		test_assert_strcmp(auth_fields_find(u->fields, "uid"),
				   t_strdup_printf("%lu", (unsigned long)duid));
		test_assert_strcmp(auth_fields_find(u->fields, "gid"),
				   t_strdup_printf("%lu", (unsigned long)dgid));
	}
	u = test_userdb_lookup(userdb, "old");
	test_assert_strcmp(auth_fields_find(u->fields, "mail"),
			   "maildir:/var/mail/old");

	static const char *const failing[] = { "rooted", "badname", "badgid" };
	for (unsigned int i = 0; i < N_ELEMENTS(failing); i++) {
		u = test_userdb_lookup(userdb, failing[i]);
		test_assert_idx(u->result == USERDB_RESULT_INTERNAL_FAILURE, i);
		test_assert_idx(u->error != NULL &&
				strstr(u->error, failing[i]) != NULL, i);
	}
	u = test_userdb_lookup(userdb, "nosuch");
	test_assert(u->result == USERDB_RESULT_USER_UNKNOWN);

	userdb_destroy(&userdb);
	test_assert(userdb == NULL);
	passdb_destroy(&passdb);

	/* username_format */
	userdb = test_userdb_create("passwd-file", t_strdup_printf(
		"username_format=%%n %s", path));
	u = test_userdb_lookup(userdb, "bob@example.com");
	test_assert(u->result == USERDB_RESULT_OK);
	test_assert_strcmp(u->user, "bob@example.com");
	userdb_destroy(&userdb);
	test_assert(userdb_create("passwd-file", "scheme=PLAIN /x", &userdb,
				  &error) < 0);
	test_end();
}

static void test_userdb_static(void)
{
	struct userdb *userdb;
	const struct userdb_user *u;
	const char *error, *dname, *gname;
	uid_t duid;
	gid_t dgid;

	test_begin("userdb static");
	userdb = test_userdb_create("static",
		"uid=1000 gid=1000 home=/var/vmail/%Ld/%Ln mail=maildir:~/Maildir");
	test_assert(userdb_needs_passdb_check(userdb));
	u = test_userdb_lookup(userdb, "Bob@Example.COM");
	test_assert(u->result == USERDB_RESULT_OK);
	test_assert_strcmp(u->user, "Bob@Example.COM");
	test_assert_strcmp(auth_fields_find(u->fields, "uid"), "1000");
	test_assert_strcmp(auth_fields_find(u->fields, "home"),
			   "/var/vmail/example.com/bob");
	test_assert_strcmp(auth_fields_find(u->fields, "mail"),
			   "maildir:~/Maildir");
	userdb_destroy(&userdb);

	userdb = test_userdb_create("static", "allow_all_users=yes uid=1 gid=1");
	test_assert(!userdb_needs_passdb_check(userdb));
	test_assert(!auth_fields_exists(test_userdb_lookup(userdb, "x")->fields,
					"allow_all_users"));
	userdb_destroy(&userdb);
	userdb = test_userdb_create("static", "allow_all_users uid=1 gid=1");
	test_assert(!userdb_needs_passdb_check(userdb));
	userdb_destroy(&userdb);
	userdb = test_userdb_create("static", "allow_all_users=no");
	test_assert(userdb_needs_passdb_check(userdb));
	userdb_destroy(&userdb);
	test_assert(userdb_create("static", "allow_all_users=maybe", &userdb,
				  &error) < 0);

	/* names are resolved at start-up, unknown ones refused there */
	if (test_find_daemon(&dname, &duid, &gname, &dgid)) {
		userdb = test_userdb_create("static", t_strdup_printf(
			"uid=%s gid=%s", dname, gname));
		u = test_userdb_lookup(userdb, "bob");
		test_assert_strcmp(auth_fields_find(u->fields, "uid"),
				   t_strdup_printf("%lu", (unsigned long)duid));
		test_assert_strcmp(auth_fields_find(u->fields, "gid"),
				   t_strdup_printf("%lu", (unsigned long)dgid));
		userdb_destroy(&userdb);

		/* ...or per lookup when they hold variables */
		userdb = test_userdb_create("static", "uid=%n gid=1");
		u = test_userdb_lookup(userdb, t_strdup_printf("%s@x", dname));
		test_assert(u->result == USERDB_RESULT_OK);
		test_assert_strcmp(auth_fields_find(u->fields, "uid"),
				   t_strdup_printf("%lu", (unsigned long)duid));
		u = test_userdb_lookup(userdb, "nosuchuser123@x");
		test_assert(u->result == USERDB_RESULT_INTERNAL_FAILURE);
		userdb_destroy(&userdb);
	}
	test_assert(userdb_create("static", "uid=nosuchuser123", &userdb,
				  &error) < 0);
	test_assert(strstr(error, "nosuchuser123") != NULL);
	test_assert(userdb_create("static", "gid=nosuchgroup123", &userdb,
				  &error) < 0);
	test_assert(userdb_create("nosuch", "", &userdb, &error) < 0);

	userdb = test_userdb_create("static", "home=%{nosuch}");
	u = test_userdb_lookup(userdb, "bob");
	test_assert(u->result == USERDB_RESULT_INTERNAL_FAILURE);
	userdb_destroy(&userdb);
	pool_unref(&test_pool);
	test_end();
}

static void test_userdb_parse_ids(void)
{
	uid_t uid;
	gid_t gid;

	test_begin("userdb_parse_uid/gid");
	test_assert(userdb_parse_uid("0", &uid) == 0 && uid == 0);
	test_assert(userdb_parse_uid("65534", &uid) == 0 && uid == 65534);
	test_assert(userdb_parse_uid("root", &uid) == 0 && uid == 0);
	test_assert(userdb_parse_uid("4294967295", &uid) < 0);
	test_assert(userdb_parse_uid("", &uid) < 0);
	test_assert(userdb_parse_uid("-1", &uid) < 0);
	test_assert(userdb_parse_gid("root", &gid) == 0 && gid == 0);
	test_assert(userdb_parse_gid("nosuchgroup123", &gid) < 0);
	test_end();
}

test_func_t *const test_userdb_tests[] = {
	test_userdb_passwd_file,
	test_userdb_static,
	test_userdb_parse_ids,
	NULL
};
