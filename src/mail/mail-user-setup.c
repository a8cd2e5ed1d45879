/* Per-user storage locations from settings and userdb. */
#include "lib.h"
#include "str.h"
#include "columba-settings.h"
#include "config-quota.h"
#include "auth-vars.h"
#include "mail-storage.h"
#include "mail-user-setup.h"
#include "mail-autocreate.h"
#include "mail-user-cache.h"
#include "mail-index-memory.h"
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

/* The index's page cache of each open user, at most (SQLite's default is
   2 MiB; mail-index.c opens with 16 MB for tools and benchmarks). */
#define MAIL_USER_INDEX_CACHE_KIB 2048
/* The index's mmap window stays: idle sessions measured the same with
   and without it (200 users: 123.8 vs 123.7 KiB each; the mapped pages
   are the kernel's page cache), and big mailboxes read faster through
   it. What mattered: no page-cache bulk preallocation (200 -> 124 KiB)
   and the release on IDLE (263 -> 200 KiB). */
#define MAIL_USER_INDEX_MMAP_BYTES MAIL_INDEX_MMAP_UNCHANGED

/* "~" and "~/x" are relative to home */
static const char *home_expand(const char *path, const char *home)
{
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0'))
		return t_strdup_printf("%s%s", home, path + 1);
	return path;
}

static int expand_setting(const char *name, const char *template,
			  const struct auth_vars *vars, const char *home,
			  const char **result_r, const char **error_r)
{
	const char *error;

	if (auth_vars_expand_path(template, vars, result_r, &error) < 0) {
		*error_r = t_strdup_printf("%s: %s", name, error);
		return -1;
	}
	*result_r = home_expand(*result_r, home);
	return 0;
}

int mail_user_paths_get(const struct columba_settings *set,
			const char *username, const char *const *userdb_fields,
			struct mail_user_paths *paths_r, const char **error_r)
{
	struct auth_vars vars = { .user = username, .service = NULL };
	const char *home, *value, *blob_store, *prefix;

	memset(paths_r, 0, sizeof(*paths_r));
	/* auth_vars_expand_path() would make these harmless but not
	   distinct: ".." would share its parent with every user */
	if (username[0] == '\0' || strcmp(username, ".") == 0 ||
	    strcmp(username, "..") == 0 || strchr(username, '/') != NULL) {
		*error_r = t_strdup_printf("User name %s cannot name a mail directory",
					   str_sanitize(username, 100));
		return -1;
	}
	home = str_array_kv_get(userdb_fields, "home");
	if (home == NULL || home[0] == '\0') {
		const char *template = set->mail_home;

		if (template == NULL || template[0] == '\0')
			template = t_strdup_printf("%s/home/%%Lu",
						   set->state_dir);
		if (expand_setting("mail_home", template, &vars, "", &home,
				   error_r) < 0)
			return -1;
	}
	if (home[0] != '/') {
		*error_r = t_strdup_printf(
			"Home directory is not an absolute path: %s",
			str_sanitize(home, 200));
		return -1;
	}
	paths_r->home = home;

	value = str_array_kv_get(userdb_fields, "mail_index_path");
	if (value == NULL)
		value = set->mail_index_path;
	if (expand_setting("mail_index_path", value, &vars, home,
			   &paths_r->index_path, error_r) < 0)
		return -1;
	if (paths_r->index_path[0] != '/') {
		*error_r = t_strdup_printf(
			"mail_index_path is not an absolute path: %s",
			str_sanitize(paths_r->index_path, 200));
		return -1;
	}

	blob_store = str_array_kv_get(userdb_fields, "mail_blob_store");
	if (blob_store == NULL)
		blob_store = set->mail_blob_store;
	/* the driver's arguments are a path for posix: "posix:~/blobs" */
	const char *colon = strchr(blob_store, ':');
	if (colon == NULL) {
		*error_r = t_strdup_printf(
			"mail_blob_store: Invalid value %s (expected DRIVER:ARGS)",
			str_sanitize(blob_store, 200));
		return -1;
	}
	if (expand_setting("mail_blob_store", colon + 1, &vars, home, &value,
			   error_r) < 0)
		return -1;
	paths_r->blob_spec = t_strdup_printf("%.*s:%s",
		(int)(colon - blob_store), blob_store, value);

	prefix = str_array_kv_get(userdb_fields, "mail_blob_prefix");
	if (prefix == NULL)
		prefix = set->mail_blob_prefix;
	if (auth_vars_expand_path(prefix, &vars, &paths_r->blob_prefix,
				  &value) < 0) {
		*error_r = t_strdup_printf("mail_blob_prefix: %s", value);
		return -1;
	}
	return 0;
}

/* fsync() a directory whose entries changed. */
static int fsync_dir(const char *path, const char **error_r)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	if (fsync(fd) < 0) {
		*error_r = t_strdup_printf("fsync(%s) failed: %m", path);
		(void)close(fd);
		return -1;
	}
	(void)close(fd);
	return 0;
}

/* mkdir -p, and each directory made is made durable in its parent: the
   index created in it later must not vanish with its directory in a
   power failure. *created_r is set when path itself was made. */
static int mkdir_parents(const char *path, mode_t mode, bool *created_r,
			 const char **error_r)
{
	struct stat st;
	bool parent_created;

	*created_r = false;
	const char *slash = strrchr(path, '/');
	const char *parent = slash == NULL ? "." : slash == path ? "/" :
		t_strndup(path, (size_t)(slash - path));
	if (mkdir(path, mode) == 0) {
		*created_r = true;
		return fsync_dir(parent, error_r);
	}
	if (errno == EEXIST) {
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		*error_r = t_strdup_printf("%s exists and is not a directory",
					   path);
		return -1;
	}
	if (errno != ENOENT || slash == NULL || slash == path) {
		*error_r = t_strdup_printf("mkdir(%s) failed: %m", path);
		return -1;
	}
	if (mkdir_parents(parent, mode, &parent_created, error_r) < 0)
		return -1;
	if (mkdir(path, mode) < 0) {
		if (errno == EEXIST)
			return 0;
		*error_r = t_strdup_printf("mkdir(%s) failed: %m", path);
		return -1;
	}
	*created_r = true;
	return fsync_dir(parent, error_r);
}

static int mail_user_open_paths(const struct columba_settings *set,
				const char *username,
				const char *const *userdb_fields,
				const struct mail_user_paths *_paths,
				struct event *event_parent,
				bool create_deferred,
				struct mail_user **user_r,
				const char **error_r)
{
	const struct mail_user_paths paths = *_paths;
	bool created;
	struct config_quota_limits quota;
	uint64_t quota_grace;

	/* a bad quota rule from userdb: the user cannot be served (a
	   delivery gets a temporary failure) until it is fixed */
	if (config_quota_get(set, userdb_fields, &quota, &quota_grace,
			     error_r) < 0)
		return -1;

	if (mkdir_parents(paths.home, 0700, &created, error_r) < 0)
		return -1;
	/* absolute, checked above */
	const char *index_dir = t_strndup(paths.index_path,
		(size_t)(strrchr(paths.index_path, '/') - paths.index_path));
	if (index_dir[0] != '\0' &&
	    mkdir_parents(index_dir, 0700, &created, error_r) < 0)
		return -1;

	struct mail_user_settings user_set = {
		.username = username,
		.index_path = paths.index_path,
		.blob_spec = paths.blob_spec,
		.blob_prefix = paths.blob_prefix,
		.event_parent = event_parent,
		.changes_max_age_secs = set->mail_index_log2_max_age,
		.changes_max_count = set->mail_index_log_max_changes,
		.index_create_deferred = create_deferred,
		.quota_storage_limit = quota.storage_bytes,
		.quota_messages_limit = quota.messages,
		.quota_grace = quota_grace,
	};
	if (mail_index_fsync_mode_parse(set->mail_fsync,
					&user_set.fsync_mode) < 0) {
		/* the config parser accepts only the known values */
		*error_r = t_strdup_printf("Invalid mail_fsync: %s",
					   set->mail_fsync);
		return -1;
	}
	mail_index_memory_global_init();
	if (mail_user_init(&user_set, user_r, error_r) < 0)
		return -1;
	/* one process serves many users: a small page cache, given back
	   when their sessions go idle (mailbox_notify_changes()) */
	if (mail_index_set_memory_limits(mail_user_get_index(*user_r),
					 MAIL_USER_INDEX_CACHE_KIB,
					 MAIL_USER_INDEX_MMAP_BYTES) < 0) {
		const char *internal;
		(void)mail_index_get_last_error(mail_user_get_index(*user_r),
						NULL, &internal);
		*error_r = t_strdup_printf("Setting the index memory limits "
					   "failed: %s", internal);
		mail_user_deinit(user_r);
		return -1;
	}
	return 0;
}

int mail_user_open(const struct columba_settings *set, const char *username,
		   const char *const *userdb_fields, struct event *event_parent,
		   struct mail_user **user_r, const char **error_r)
{
	struct mail_user_paths paths;

	if (mail_user_paths_get(set, username, userdb_fields, &paths,
				error_r) < 0)
		return -1;
	return mail_user_open_paths(set, username, userdb_fields, &paths,
				    event_parent, false, user_r, error_r);
}

static const char *mail_user_error(struct mail_user *user)
{
	const char *internal_text;

	(void)mail_user_get_last_error(user, NULL, &internal_text);
	return internal_text;
}

int mail_user_setup(const struct columba_settings *set, const char *username,
		    const char *const *userdb_fields, struct event *event_parent,
		    struct mail_user **user_r, const char **error_r)
{
	struct mail_user_paths paths;
	struct mail_user *user;
	bool batch = false;

	if (mail_user_paths_get(set, username, userdb_fields, &paths,
				error_r) < 0)
		return -1;
	/* the same user closed a moment ago in this process: its index is
	   open, its INBOX and autocreated mailboxes were made then */
	user = mail_user_cache_take(set, username, userdb_fields, &paths,
				    event_parent);
	if (user != NULL) {
		*user_r = user;
		return 0;
	}

	/* A new user's index is built apart with INBOX and the autocreated
	   mailboxes in it, then synced and renamed into place at once
	   (mail_user_create_finish()) before the session shows anything:
	   one file sync and one directory sync instead of one per step. */
	if (mail_user_open_paths(set, username, userdb_fields, &paths,
				 event_parent, true, &user, error_r) < 0)
		return -1;

	/* every user has an INBOX (RFC 9051 §5.1): create it on first use
	   rather than make every protocol handle its absence */
	struct mail_index_mailbox box;
	int ret = mail_index_mailbox_lookup(mail_user_get_index(user), "INBOX",
					    pool_datastack, &box);
	if (ret == 0) {
		/* INBOX and the special-use mailboxes in one transaction,
		   with one mailbox list write */
		if (mail_user_mailbox_batch_begin(user) < 0) {
			*error_r = t_strdup_printf("Creating INBOX failed: %s",
						   mail_user_error(user));
			ret = -1;
		} else if (mail_user_mailbox_create(user, "INBOX", 0) < 0) {
			/* another session of the same user created it
			   meanwhile */
			if (mail_user_get_last_error(user, NULL, NULL) ==
			    MAIL_ERROR_EXISTS) {
				batch = true;
				ret = 1;
			} else {
				*error_r = t_strdup_printf(
					"Creating INBOX failed: %s",
					mail_user_error(user));
				mail_user_mailbox_batch_rollback(user);
				ret = -1;
			}
		} else {
			batch = true;
		}
	} else if (ret < 0) {
		*error_r = "Looking up INBOX failed";
	}
	if (ret < 0) {
		mail_user_deinit(&user);
		return -1;
	}
	/* the configured special-use mailboxes (Drafts, Sent...): a
	   failure is logged and the user works without them */
	(void)mail_user_autocreate(set, user);
	if (batch && mail_user_mailbox_batch_commit(user) < 0) {
		*error_r = t_strdup_printf("Creating INBOX failed: %s",
					   mail_user_error(user));
		mail_user_deinit(&user);
		return -1;
	}
	if (mail_user_create_finish(user) < 0) {
		*error_r = t_strdup_printf("Creating the index failed: %s",
					   mail_user_error(user));
		mail_user_deinit(&user);
		return -1;
	}
	mail_user_cache_lend(user, set, username, userdb_fields, &paths);
	*user_r = user;
	return 0;
}
