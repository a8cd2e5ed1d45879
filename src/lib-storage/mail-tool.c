/* columba-mail-tool: storage maintenance on a bare home directory, for
   tests (not installed; administrators use "columba mail ...", which
   finds the user's storage through the config and userdb, in
   src/mail/mail-admin.c). A user is a home directory: index at HOME/index.db,
   blobs in "posix:HOME/blobs" (or the store given with -b).
     columba-mail-tool import-maildir HOME MAILDIR
     columba-mail-tool import-mbox HOME MBOX MAILBOX
     columba-mail-tool export-maildir HOME DEST
     columba-mail-tool rebuild HOME            (HOME/index.db must be gone) */
#include "lib.h"
#include "blob.h"
#include "mail-migrate.h"
#include <sys/stat.h>

static const char *blob_spec;

static void usage(void) ATTR_NORETURN;
static void usage(void)
{
	fprintf(stderr,
		"usage: columba-mail-tool [-b BLOB_SPEC] import-maildir HOME MAILDIR\n"
		"       columba-mail-tool [-b BLOB_SPEC] import-mbox HOME MBOX MAILBOX\n"
		"       columba-mail-tool [-b BLOB_SPEC] export-maildir HOME DEST\n"
		"       columba-mail-tool [-b BLOB_SPEC] rebuild HOME\n");
	exit(2);
}

static const char *home_blob_spec(const char *home)
{
	return blob_spec != NULL ? blob_spec :
		t_strdup_printf("posix:%s/blobs", home);
}

static struct mail_user *tool_user(const char *home)
{
	struct mail_user_settings set = {
		.username = home,
		.index_path = t_strdup_printf("%s/index.db", home),
		.blob_spec = home_blob_spec(home),
	};
	struct mail_user *user;
	const char *error;

	if (mkdir(home, 0700) < 0 && errno != EEXIST)
		i_fatal("mkdir(%s) failed: %m", home);
	if (mail_user_init(&set, &user, &error) < 0)
		i_fatal("%s", error);
	return user;
}

static int tool_fail(struct mail_user *user)
{
	const char *text, *internal;

	(void)mail_user_get_last_error(user, &text, &internal);
	fprintf(stderr, "columba-mail-tool: %s\n", internal);
	return 1;
}

int main(int argc, char *argv[])
{
	struct mail_migrate_stats stats;
	struct mail_user *user;
	int ret;

	if (argc > 2 && strcmp(argv[1], "-b") == 0) {
		blob_spec = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 3)
		usage();
	const char *cmd = argv[1], *home = argv[2];

	if (strcmp(cmd, "rebuild") == 0 && argc == 3) {
		struct blob_store *store;
		const char *error;
		unsigned int count;
		if (blob_store_create(home_blob_spec(home), NULL, &store, &error) < 0)
			i_fatal("%s", error);
		ret = mail_index_rebuild(t_strdup_printf("%s/index.db", home), store,
					 "mail", &count, &error);
		blob_store_destroy(&store);
		if (ret < 0)
			i_fatal("%s", error);
		printf("rebuilt: %u messages\n", count);
		return 0;
	}
	user = tool_user(home);
	if (strcmp(cmd, "import-maildir") == 0 && argc == 4)
		ret = mail_import_maildir(user, argv[3], &stats);
	else if (strcmp(cmd, "import-mbox") == 0 && argc == 5)
		ret = mail_import_mbox(user, argv[3], argv[4], &stats);
	else if (strcmp(cmd, "export-maildir") == 0 && argc == 4)
		ret = mail_export_maildir(user, argv[3], &stats);
	else {
		mail_user_deinit(&user);
		usage();
	}
	if (ret < 0) {
		ret = tool_fail(user);
	} else {
		printf("%s: %u mailboxes, %u messages\n", cmd, stats.mailboxes,
		       stats.messages);
	}
	mail_user_deinit(&user);
	return ret;
}
