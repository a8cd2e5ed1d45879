/* "columba mail ...": storage administration from the command line.
   Finds the user's storage as a session would (mail_user_paths_get():
   config templates, userdb fields from the running auth process, -o
   overrides), drops to the mail service's user when run as root (so the
   files stay the mail process's), and runs one of: import-maildir,
   import-mbox, export-maildir, rebuild, prune-changes, quota get,
   quota recalc. */
#include "lib.h"
#include "config.h"
#include "columba-settings.h"
#include "restrict-access.h"
#include "auth-master-client.h"
#include "blob.h"
#include "mail-storage.h"
#include "mail-migrate.h"
#include "mail-quota.h"
#include "mail-user-setup.h"
#include "mail-admin.h"
#include <getopt.h>
#include <sys/stat.h>
#include <time.h>

/* sysexits.h values, as doveadm uses them */
#define ADMIN_EX_USAGE 64
#define ADMIN_EX_NOUSER 67
#define ADMIN_EX_TEMPFAIL 75

struct mail_admin_context {
	const char *cmd;
	const char *config_path;
	const char *username;
	/* -o fields, NULL-terminated once parsed */
	ARRAY_TYPE(mail_string) overrides;
	bool force;
	const struct columba_settings *set;
	pool_t pool;
	/* userdb fields: from the auth process, then the -o overrides */
	const char *const *fields;
};

static int mail_admin_usage(void)
{
	fprintf(stderr,
"Usage: columba mail COMMAND -u USER [-c CONFIG] [-o FIELD=VALUE]... ARGS\n"
"  import-maildir MAILDIR        import a Maildir++ tree (keeps UIDs and\n"
"                                UIDVALIDITY from dovecot-uidlist, keywords)\n"
"  import-mbox MBOX MAILBOX      import an mbox file into MAILBOX\n"
"  export-maildir DEST           export every mailbox to a Maildir++ tree\n"
"  rebuild [-f]                  rebuild the index from the blobs (-f moves\n"
"                                an existing index aside first)\n"
"  prune-changes                 prune the change log now (by the\n"
"                                mail_index_log* settings)\n"
"  quota get                     the user's quota usage and limits\n"
"                                (STORAGE in KiB, as doveadm quota get)\n"
"  quota recalc                  count the usage again from the index's\n"
"                                messages and store it\n"
"-o FIELD=VALUE sets a userdb field (home=DIR, mail_index_path=...),\n"
"overriding what the auth process returns.\n");
	return ADMIN_EX_USAGE;
}

static bool fields_have(const char *const *fields, const char *key)
{
	size_t len = strlen(key);

	for (; fields != NULL && *fields != NULL; fields++) {
		if (strncmp(*fields, key, len) == 0 && (*fields)[len] == '=')
			return true;
	}
	return false;
}

/* The userdb fields: asked from the auth process when it runs (its
   socket exists); the -o overrides come last, and win. */
static int mail_admin_lookup(struct mail_admin_context *ctx)
{
	ARRAY_TYPE(mail_string) fields;
	const char *const *looked_up = NULL, *const *fp;
	const char *socket_path = t_strdup_printf("%s/auth-userdb",
						  ctx->set->base_dir);
	struct stat st;

	array_init(&fields, pool_datastack, 16);
	if (stat(socket_path, &st) == 0) {
		struct auth_master_user_request req = {
			.username = ctx->username,
			.service = "admin",
		};
		const char *canonical, *error;
		/* not the data stack: the lookup has frames of its own */
		switch (auth_master_user_lookup_sync(socket_path, &req,
				ctx->pool, &canonical, &looked_up, &error)) {
		case AUTH_MASTER_RESULT_OK:
			/* userdb may return the name in its canonical form */
			if (canonical != NULL && canonical[0] != '\0')
				ctx->username = canonical;
			break;
		case AUTH_MASTER_RESULT_NOTFOUND:
			fprintf(stderr, "columba mail: User doesn't exist: %s\n",
				ctx->username);
			return ADMIN_EX_NOUSER;
		case AUTH_MASTER_RESULT_FAIL:
			if (!fields_have(ctx->overrides.v, "home")) {
				fprintf(stderr, "columba mail: userdb lookup "
					"failed: %s (give -o home=DIR to go "
					"without the auth process)\n", error);
				return ADMIN_EX_TEMPFAIL;
			}
			fprintf(stderr, "columba mail: Warning: userdb lookup "
				"failed, using -o fields only: %s\n", error);
			looked_up = NULL;
			break;
		}
	}
	for (fp = looked_up; fp != NULL && *fp != NULL; fp++) {
		const char *key = t_strndup(*fp, strcspn(*fp, "="));
		if (!fields_have(ctx->overrides.v, key))
			array_push(&fields, *fp);
	}
	for (fp = ctx->overrides.v; *fp != NULL; fp++)
		array_push(&fields, *fp);
	array_push(&fields, NULL);
	ctx->fields = fields.v;
	return 0;
}

/* Run as the mail service does: files created here must stay writable
   by the mail processes. */
static int mail_admin_drop_privileges(struct mail_admin_context *ctx)
{
	if (geteuid() != 0)
		return 0;
	const struct service_settings *sset =
		columba_settings_find_service(ctx->set, "mail");
	const char *user = sset != NULL && sset->user[0] != '\0' ?
		sset->user : ctx->set->default_internal_user;
	struct restrict_access_settings rset = { .chroot_dir = NULL };
	const char *error;

	if (restrict_access_lookup_user(user, &rset.uid, &rset.gid, &error) < 0 ||
	    (sset != NULL && sset->group[0] != '\0' &&
	     restrict_access_lookup_group(sset->group, &rset.gid, &error) < 0)) {
		fprintf(stderr, "columba mail: %s\n", error);
		return FATAL_EXIT_CODE;
	}
	restrict_access_apply(&rset);
	return 0;
}

static int mail_admin_storage_error(struct mail_user *user)
{
	const char *text, *internal;

	(void)mail_user_get_last_error(user, &text, &internal);
	fprintf(stderr, "columba mail: %s\n",
		internal != NULL ? internal : text);
	return 1;
}

/* Move an index (and its WAL and helper files) aside for rebuild -f. */
static int mail_admin_move_index(const char *index_path)
{
	static const char *const suffixes[] = {
		"", "-wal", "-shm", "-sync", "-notify", "-wake",
	};
	const char *aside = t_strdup_printf("%s.broken-%ld", index_path,
					    (long)time(NULL));

	for (unsigned int i = 0; i < N_ELEMENTS(suffixes); i++) {
		const char *from = t_strdup_printf("%s%s", index_path, suffixes[i]);
		const char *to = t_strdup_printf("%s%s", aside, suffixes[i]);
		if (rename(from, to) < 0 && errno != ENOENT) {
			fprintf(stderr, "columba mail: rename(%s, %s) failed: %s\n",
				from, to, strerror(errno));
			return 1;
		}
	}
	printf("moved the old index to %s\n", aside);
	return 0;
}

static int mail_admin_rebuild(struct mail_admin_context *ctx,
			      const struct mail_user_paths *paths)
{
	struct stat st;
	struct blob_store *store;
	const char *error;
	unsigned int count;

	if (stat(paths->index_path, &st) == 0) {
		if (!ctx->force) {
			fprintf(stderr, "columba mail: %s exists: stop the "
				"user's sessions and give -f to move it aside\n",
				paths->index_path);
			return 1;
		}
		if (mail_admin_move_index(paths->index_path) != 0)
			return 1;
	}
	if (blob_store_create(paths->blob_spec, NULL, &store, &error) < 0) {
		fprintf(stderr, "columba mail: %s\n", error);
		return 1;
	}
	int ret = mail_index_rebuild(paths->index_path, store,
				     paths->blob_prefix, &count, &error);
	blob_store_destroy(&store);
	if (ret < 0) {
		fprintf(stderr, "columba mail: rebuild failed: %s\n", error);
		return 1;
	}
	printf("rebuild: %u messages\n", count);
	return 0;
}

static unsigned int quota_percent(uint64_t value, uint64_t limit)
{
	if (limit == 0)
		return 0;
	if (value > UINT64_MAX / 100)
		return value / limit > UINT_MAX / 100 ? UINT_MAX :
			(unsigned int)(value / limit * 100);
	uint64_t pct = value * 100 / limit;
	return pct > UINT_MAX ? UINT_MAX : (unsigned int)pct;
}

/* quota get / quota recalc */
static int mail_admin_quota(struct mail_user *user, const char *cmd)
{
	struct mail_quota_usage usage, old;
	const struct mail_quota_limits *limits =
		mail_user_get_quota_limits(user);

	if (strcmp(cmd, "quota-recalc") == 0) {
		if (mail_user_quota_recalc(user, &old, &usage) < 0)
			return mail_admin_storage_error(user);
		printf("quota recalc: storage %llu -> %llu bytes, "
		       "messages %llu -> %llu\n",
		       (unsigned long long)old.storage,
		       (unsigned long long)usage.storage,
		       (unsigned long long)old.messages,
		       (unsigned long long)usage.messages);
		return 0;
	}
	if (mail_user_quota_get_usage(user, &usage, NULL) < 0)
		return mail_admin_storage_error(user);
	/* doveadm quota get's columns; STORAGE in KiB (rounded up), "-"
	   for no limit */
	printf("Quota name\tType\tValue\tLimit\t%%\n");
	uint64_t kib = usage.storage / 1024 + (usage.storage % 1024 != 0);
	printf("User quota\tSTORAGE\t%llu\t%s\t%u\n",
	       (unsigned long long)kib, limits->storage == 0 ? "-" :
	       t_strdup_printf("%llu", (unsigned long long)
			       (limits->storage / 1024 +
				(limits->storage % 1024 != 0))),
	       quota_percent(usage.storage, limits->storage));
	printf("User quota\tMESSAGE\t%llu\t%s\t%u\n",
	       (unsigned long long)usage.messages, limits->messages == 0 ?
	       "-" : t_strdup_printf("%llu",
				     (unsigned long long)limits->messages),
	       quota_percent(usage.messages, limits->messages));
	return 0;
}

static int mail_admin_run(struct mail_admin_context *ctx, int argc,
			  char *argv[])
{
	struct mail_user_paths paths;
	struct mail_migrate_stats stats;
	struct mail_user *user;
	const char *error;
	int ret;

	bool ok_args =
		(strcmp(ctx->cmd, "import-maildir") == 0 && argc == 1) ||
		(strcmp(ctx->cmd, "import-mbox") == 0 && argc == 2) ||
		(strcmp(ctx->cmd, "export-maildir") == 0 && argc == 1) ||
		(strcmp(ctx->cmd, "rebuild") == 0 && argc == 0) ||
		(strcmp(ctx->cmd, "prune-changes") == 0 && argc == 0) ||
		(strcmp(ctx->cmd, "quota-get") == 0 && argc == 0) ||
		(strcmp(ctx->cmd, "quota-recalc") == 0 && argc == 0);
	if (!ok_args)
		return mail_admin_usage();
	if ((ret = mail_admin_lookup(ctx)) != 0 ||
	    (ret = mail_admin_drop_privileges(ctx)) != 0)
		return ret;
	if (mail_user_paths_get(ctx->set, ctx->username, ctx->fields, &paths,
				&error) < 0) {
		fprintf(stderr, "columba mail: %s\n", error);
		return 1;
	}
	if (strcmp(ctx->cmd, "rebuild") == 0)
		return mail_admin_rebuild(ctx, &paths);

	/* not mail_user_setup(): an import must create INBOX itself to
	   keep the Maildir's UIDVALIDITY */
	if (mail_user_open(ctx->set, ctx->username, ctx->fields, NULL,
			   &user, &error) < 0) {
		fprintf(stderr, "columba mail: %s\n", error);
		return 1;
	}
	if (str_begins(ctx->cmd, "quota-")) {
		ret = mail_admin_quota(user, ctx->cmd);
		mail_user_deinit(&user);
		return ret;
	}
	if (strcmp(ctx->cmd, "prune-changes") == 0) {
		unsigned int pruned;
		if (mail_user_prune_changes(user, &pruned) < 0)
			ret = mail_admin_storage_error(user);
		else
			printf("prune-changes: %u entries\n", pruned);
		mail_user_deinit(&user);
		return ret;
	}
	if (strcmp(ctx->cmd, "import-maildir") == 0)
		ret = mail_import_maildir(user, argv[0], &stats);
	else if (strcmp(ctx->cmd, "import-mbox") == 0)
		ret = mail_import_mbox(user, argv[0], argv[1], &stats);
	else
		ret = mail_export_maildir(user, argv[0], &stats);
	if (ret < 0)
		ret = mail_admin_storage_error(user);
	else {
		printf("%s: %u mailboxes, %u messages\n", ctx->cmd,
		       stats.mailboxes, stats.messages);
	}
	mail_user_deinit(&user);
	return ret;
}

int mail_admin_cmd(int argc, char *argv[], const char *default_config_path)
{
	struct mail_admin_context ctx = {
		.config_path = default_config_path,
	};
	int c;

	if (argc < 2)
		return mail_admin_usage();
	ctx.cmd = argv[1];
	array_init(&ctx.overrides, pool_datastack, 8);
	/* options after the command name: "+" stops at the first operand */
	optind = 1;
	argc--;
	argv++;
	if (strcmp(ctx.cmd, "quota") == 0) {
		/* "quota get|recalc": a command of two words */
		if (argc < 2 || (strcmp(argv[1], "get") != 0 &&
				 strcmp(argv[1], "recalc") != 0))
			return mail_admin_usage();
		ctx.cmd = t_strdup_printf("quota-%s", argv[1]);
		argc--;
		argv++;
	}
	while ((c = getopt(argc, argv, "+u:c:o:f")) != -1) {
		switch (c) {
		case 'u':
			ctx.username = optarg;
			break;
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'o':
			if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
				fprintf(stderr, "columba mail: -o needs "
					"FIELD=VALUE: %s\n", optarg);
				return ADMIN_EX_USAGE;
			}
			array_push(&ctx.overrides, optarg);
			break;
		case 'f':
			ctx.force = true;
			break;
		default:
			return mail_admin_usage();
		}
	}
	array_push(&ctx.overrides, NULL);
	if (ctx.username == NULL || ctx.username[0] == '\0') {
		fprintf(stderr, "columba mail: -u USER is required\n");
		return mail_admin_usage();
	}

	const char *error;
	struct config *config = config_parse_file(ctx.config_path, NULL, &error);
	if (config == NULL) {
		fprintf(stderr, "columba mail: Fatal: %s\n", error);
		return FATAL_EXIT_CODE;
	}
	ctx.set = config_get_root(config);
	ctx.pool = pool_alloconly_create("columba mail", 1024);
	int ret = mail_admin_run(&ctx, argc - optind, argv + optind);
	pool_unref(&ctx.pool);
	config_free(&config);
	return ret;
}
