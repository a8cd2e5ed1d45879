/* Unit tests for mail_user_setup(): where a user's storage goes (settings,
   userdb overrides, "~"), user names that try to leave the directory, and
   the first-use creation of the home and INBOX. */
#include "test-common.h"
#include "config.h"
#include "columba-settings.h"
#include "mail-storage.h"
/* mail_user_set_internal_error(): a failed call without a broken disk */
#include "mail-storage-private.h"
#include "mail-user-setup.h"
#include "mail-user-cache.h"
#include "ioloop.h"
#include "event.h"
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Files in dir whose name starts with prefix. */
static unsigned int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_setup_new_user_one_write(void)
{
	test_begin("mail user setup: a new user's index is built apart and "
		   "renamed into place with its mailboxes");
	struct config *cfg = test_config(
		"namespace inbox {\n"
		"  inbox = yes\n"
		"  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }\n"
		"  mailbox Trash {\n    special_use = \\Trash\n    auto = create\n  }\n"
		"}\n");
	const struct columba_settings *set = config_get_root(cfg);
	const char *home = t_strdup_printf("%s/state/home/carol", test_dir());
	struct mail_index_mailbox box;
	struct mail_user *user;
	struct stat st;
	const char *error;
	uint32_t uidvalidity;

	test_assert(mail_user_setup(set, "carol", NULL, NULL, &user,
				    &error) == 0);
	struct mail_index *index = mail_user_get_index(user);
	test_assert(!mail_index_is_creating(index));
	/* in place, nothing temporary left, no WAL written yet */
	test_assert(stat(t_strdup_printf("%s/index.db", home), &st) == 0);
	test_assert(count_files(home, "index.db.new") == 0);
	test_assert(stat(t_strdup_printf("%s/index.db-wal", home), &st) < 0 ||
		    st.st_size == 0);
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack,
					      &box) == 1);
	uidvalidity = box.uidvalidity;
	test_assert(mail_index_mailbox_lookup(index, "Sent", pool_datastack,
					      &box) == 1 &&
		    box.special_use == MAIL_SPECIAL_USE_SENT);
	test_assert(mail_index_mailbox_lookup(index, "Trash", pool_datastack,
					      &box) == 1);
	/* the index is usable as an ordinary one */
	test_assert(mail_user_mailbox_create(user, "Work", 0) == 0);
	mail_user_deinit(&user);

	/* a second login finds the same INBOX (same UIDVALIDITY) */
	test_assert(mail_user_setup(set, "carol", NULL, NULL, &user,
				    &error) == 0);
	index = mail_user_get_index(user);
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack,
					      &box) == 1 &&
		    box.uidvalidity == uidvalidity);
	test_assert(mail_index_mailbox_lookup(index, "Work", pool_datastack,
					      &box) == 1);
	mail_user_deinit(&user);
	config_free(&cfg);
	test_end();
}

static void test_index_create_deferred(void)
{
	test_begin("mail index: deferred creation discarded, and losing the "
		   "race to another creator");
	const char *dir = t_strdup_printf("%s/deferred", test_dir());
	const char *path = t_strdup_printf("%s/index.db", dir);
	struct mail_index_settings set = {
		.path = path, .create_deferred = true,
	};
	struct mail_index_settings plain_set = { .path = path };
	struct mail_index_mailbox box;
	struct mail_index *index, *other;
	struct stat st;
	const char *error;

	test_assert(mkdir(dir, 0700) == 0);
	/* closed before it was finished: nothing stays */
	test_assert(mail_index_open(&set, &index, &error) == 0);
	test_assert(mail_index_is_creating(index));
	test_assert(mail_index_mailbox_create(index, "INBOX", 0, NULL,
					      NULL) == 0);
	test_assert(stat(path, &st) < 0 && errno == ENOENT);
	test_assert(count_files(dir, "index.db.new") == 1);
	mail_index_close(&index);
	test_assert(stat(path, &st) < 0 && errno == ENOENT);
	test_assert(count_files(dir, "index.db.new") == 0);

	/* another process creates it meanwhile: theirs stands */
	test_assert(mail_index_open(&set, &index, &error) == 0);
	test_assert(mail_index_mailbox_create(index, "Mine", 0, NULL,
					      NULL) == 0);
	test_assert(mail_index_open(&plain_set, &other, &error) == 0);
	test_assert(!mail_index_is_creating(other));
	test_assert(mail_index_mailbox_create(other, "Theirs", 0, NULL,
					      NULL) == 0);
	test_assert(mail_index_create_finish(index) == 0);
	test_assert(!mail_index_is_creating(index));
	test_assert(mail_index_mailbox_lookup(index, "Theirs", pool_datastack,
					      &box) == 1);
	test_assert(mail_index_mailbox_lookup(index, "Mine", pool_datastack,
					      &box) == 0);
	test_assert(count_files(dir, "index.db.new") == 0);
	mail_index_close(&other);
	mail_index_close(&index);

	/* an existing index is opened as it is */
	test_assert(mail_index_open(&set, &index, &error) == 0);
	test_assert(!mail_index_is_creating(index));
	test_assert(mail_index_create_finish(index) == 0);
	mail_index_close(&index);
	test_end();
}

static void test_user_cache(void)
{
	test_begin("mail user cache: kept, reused, keyed, dropped when stale");
	struct config *cfg = test_config("");
	const struct columba_settings *set = config_get_root(cfg);
	struct ioloop *ioloop = ioloop_create();
	const char *home = t_strdup_printf("%s/state/home/dave", test_dir());
	const char *fields_a[] = { "quota_rule=*:storage=1G", NULL };
	const char *fields_b[] = { "quota_rule=*:storage=2G", NULL };
	struct mail_user *user, *kept, *other;
	struct event *session = event_create(NULL);
	const char *error;

	/* off: nothing kept */
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &user,
				    &error) == 0);
	mail_user_deinit(&user);
	test_assert(mail_user_cache_count() == 0);

	mail_user_cache_init();
	test_assert(mail_user_cache_max() > 0);
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &kept,
				    &error) == 0);
	test_assert(mail_user_mailbox_create(kept, "Work", 0) == 0);
	mail_user_deinit(&kept);
	test_assert(kept == NULL && mail_user_cache_count() == 1);

	/* the same user again: the same mail_user, under the new event */
	test_assert(mail_user_setup(set, "dave", fields_a, session, &user,
				    &error) == 0);
	test_assert(mail_user_cache_count() == 0);
	test_assert(event_get_parent(mail_user_get_event(user)) == session);
	/* a concurrent session of the same user gets its own */
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &other,
				    &error) == 0);
	test_assert(other != user);
	kept = user;
	mail_user_deinit(&other);
	mail_user_deinit(&user);
	test_assert(mail_user_cache_count() == 2);
	/* detached from the ended session */
	test_assert(event_get_parent(mail_user_get_event(kept)) == NULL);

	/* other userdb fields: not reused */
	test_assert(mail_user_setup(set, "dave", fields_b, NULL, &user,
				    &error) == 0);
	test_assert(mail_user_cache_count() == 2);
	mail_user_deinit(&user);
	test_assert(mail_user_cache_count() == 3);

	/* a user whose last error was internal is closed, and forgotten
	   (a stale entry would match the next user at its address) */
	test_assert(mail_user_setup(set, "dave", fields_b, NULL, &user,
				    &error) == 0);
	test_assert(mail_user_cache_count() == 2 &&
		    mail_user_cache_lent_count() == 1);
	test_expect_log(LOG_TYPE_ERROR, "test: a failed call");
	(void)mail_user_set_internal_error(user, MAIL_ERROR_TEMP,
					   "test: a failed call");
	mail_user_deinit(&user);
	test_assert(mail_user_cache_count() == 2 &&
		    mail_user_cache_lent_count() == 0);

	/* a user with a mailbox open is closed, not kept */
	struct mailbox *box;
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &user,
				    &error) == 0);
	test_assert(mail_user_cache_count() == 1);
	test_assert(mailbox_open(user, "Work", &box) == 0);
	test_assert(!mail_user_is_idle(user));
	mailbox_close(&box);
	mail_user_deinit(&user);

	/* the index replaced (a rebuild renamed into place, a home moved
	   back): every kept user of it is stale and dropped when found */
	const char *index_path = t_strdup_printf("%s/index.db", home);
	test_assert(rename(index_path, t_strdup_printf("%s.old", index_path))
		    == 0);
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &user,
				    &error) == 0);
	struct mail_index_mailbox ibox;
	test_assert(mail_index_mailbox_lookup(mail_user_get_index(user),
					      "Work", pool_datastack,
					      &ibox) == 0);
	mail_user_deinit(&user);

	mail_user_cache_deinit();
	test_assert(mail_user_cache_count() == 0 && mail_user_cache_max() == 0);
	/* off again: closed at once */
	test_assert(mail_user_setup(set, "dave", fields_a, NULL, &user,
				    &error) == 0);
	mail_user_deinit(&user);
	test_assert(mail_user_cache_count() == 0);
	event_unref(&session);
	ioloop_destroy(&ioloop);
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
		test_setup_new_user_one_write,
		test_index_create_deferred,
		test_user_cache,
		NULL
	};
	return test_run(tests);
}
