/* Unit tests for mail_user_setup(): where a user's storage goes (settings,
   userdb overrides, "~"), user names that try to leave the directory, and
   the first-use creation of the home and INBOX. */
#include "test-common.h"
#include "config.h"
#include "columba-settings.h"
#include "mail-storage.h"
#include "mail-user-setup.h"
#include <sys/stat.h>

static struct config *test_config(const char *extra)
{
	const char *error = NULL;
	const char *text = t_strdup_printf("state_dir = %s/state\n%s",
					   test_dir(), extra);
	struct config *cfg = config_parse_string(text, "test", NULL, &error);
	if (cfg == NULL)
		i_fatal("config: %s", error);
	return cfg;
}

static void test_paths_defaults(void)
{
	test_begin("mail user paths: defaults");
	struct config *cfg = test_config("");
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user_paths paths;
	const char *error;

	test_assert(mail_user_paths_get(set, "Bob@Example.COM", NULL, &paths,
					&error) == 0);
	test_assert_strcmp(paths.home, t_strdup_printf(
		"%s/state/home/bob@example.com", test_dir()));
	test_assert_strcmp(paths.index_path, t_strdup_printf(
		"%s/state/home/bob@example.com/index.db", test_dir()));
	test_assert_strcmp(paths.blob_spec, t_strdup_printf(
		"posix:%s/state/home/bob@example.com/blobs", test_dir()));
	test_assert_strcmp(paths.blob_prefix, "mail");
	config_free(&cfg);
	test_end();
}

static void test_paths_overrides(void)
{
	test_begin("mail user paths: settings and userdb overrides");
	struct config *cfg = test_config(
		"mail_home = /srv/mail/%d/%n\n"
		"mail_index_path = /var/index/%u.db\n"
		"mail_blob_store = posix:~/objects\n");
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user_paths paths;
	const char *error;

	test_assert(mail_user_paths_get(set, "bob@example.com", NULL, &paths,
					&error) == 0);
	test_assert_strcmp(paths.home, "/srv/mail/example.com/bob");
	test_assert_strcmp(paths.index_path, "/var/index/bob@example.com.db");
	test_assert_strcmp(paths.blob_spec, "posix:/srv/mail/example.com/bob/objects");

	/* userdb wins */
	const char *fields[] = { "uid=1000", "home=/home/bob",
				 "mail_index_path=~/idx/index.db", NULL };
	test_assert(mail_user_paths_get(set, "bob@example.com", fields, &paths,
					&error) == 0);
	test_assert_strcmp(paths.home, "/home/bob");
	test_assert_strcmp(paths.index_path, "/home/bob/idx/index.db");
	test_assert_strcmp(paths.blob_spec, "posix:/home/bob/objects");
	config_free(&cfg);
	test_end();
}

static void test_paths_hostile_names(void)
{
	test_begin("mail user paths: names cannot leave the directory");
	struct config *cfg = test_config("mail_home = /srv/mail/%u\n");
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user_paths paths;
	const char *error;

	test_assert(mail_user_paths_get(set, "../../etc", NULL, &paths,
					&error) < 0);
	test_assert(mail_user_paths_get(set, "..", NULL, &paths, &error) < 0);
	test_assert(mail_user_paths_get(set, "", NULL, &paths, &error) < 0);
	/* a domain part that is ".." is emptied, not followed */
	config_free(&cfg);
	cfg = test_config("mail_home = /srv/mail/%d/%n\n");
	set = config_get_root(cfg);
	test_assert(mail_user_paths_get(set, "bob@..", NULL, &paths,
					&error) == 0);
	test_assert_strcmp(paths.home, "/srv/mail//bob");
	config_free(&cfg);
	test_end();
}

static void test_paths_errors(void)
{
	test_begin("mail user paths: errors");
	struct config *cfg = test_config("mail_blob_store = nodriver\n");
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user_paths paths;
	const char *error = NULL;

	test_assert(mail_user_paths_get(set, "bob", NULL, &paths, &error) < 0);
	test_assert(error != NULL && strstr(error, "mail_blob_store") != NULL);
	const char *fields[] = { "home=relative/dir", NULL };
	error = NULL;
	test_assert(mail_user_paths_get(set, "bob", fields, &paths, &error) < 0);
	test_assert(error != NULL && strstr(error, "absolute") != NULL);
	config_free(&cfg);

	cfg = test_config("mail_index_path = index.db\n");
	set = config_get_root(cfg);
	error = NULL;
	test_assert(mail_user_paths_get(set, "bob", NULL, &paths, &error) < 0);
	test_assert(error != NULL && strstr(error, "mail_index_path") != NULL);
	config_free(&cfg);
	test_end();
}

static void test_setup_creates_inbox(void)
{
	test_begin("mail user setup: home and INBOX on first use");
	struct config *cfg = test_config("");
	const struct columba_settings *set = config_get_root(cfg);
	struct mail_user *user;
	struct mailbox *box;
	const char *error;

	for (int i = 0; i < 2; i++) {
		test_assert(mail_user_setup(set, "alice", NULL, NULL, &user,
					    &error) == 0);
		test_assert(mailbox_open(user, "INBOX", &box) == 0);
		mailbox_close(&box);
		mail_user_deinit(&user);
	}
	struct stat st;
	const char *home = t_strdup_printf("%s/state/home/alice", test_dir());
	test_assert(stat(home, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (st.st_mode & 0777) == 0700);

	/* a file where the home should be */
	const char *fields[] = {
		t_strdup_printf("home=%s/state/home/alice/index.db", test_dir()),
		NULL };
	error = NULL;
	test_assert(mail_user_setup(set, "x", fields, NULL, &user, &error) < 0);
	test_assert(error != NULL && strstr(error, "not a directory") != NULL);
	config_free(&cfg);
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_paths_defaults,
		test_paths_overrides,
		test_paths_hostile_names,
		test_paths_errors,
		test_setup_creates_inbox,
		NULL
	};
	return test_run(tests);
}
