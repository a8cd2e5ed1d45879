/* Opening the per-user index database, the SQLite plumbing every part of
   the index shares (cached statements, error mapping, snapshots) and
   write transactions with their per-mailbox modseq and change log. */
#include "lib.h"
#include "hash.h"
#include "event.h"
#include "mail-index-private.h"
#include "mail-index-memory.h"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <strings.h>
#include <sys/random.h>

static const struct {
	enum mail_flags flag;
	const char *name;
} mail_flag_names[] = {
	{ MAIL_ANSWERED, "\\Answered" },
	{ MAIL_FLAGGED, "\\Flagged" },
	{ MAIL_DELETED, "\\Deleted" },
	{ MAIL_SEEN, "\\Seen" },
	{ MAIL_DRAFT, "\\Draft" },
};

static const struct {
	enum mail_special_use use;
	const char *name;
} mail_special_use_names[] = {
	{ MAIL_SPECIAL_USE_ALL, "\\All" },
	{ MAIL_SPECIAL_USE_ARCHIVE, "\\Archive" },
	{ MAIL_SPECIAL_USE_DRAFTS, "\\Drafts" },
	{ MAIL_SPECIAL_USE_FLAGGED, "\\Flagged" },
	{ MAIL_SPECIAL_USE_JUNK, "\\Junk" },
	{ MAIL_SPECIAL_USE_SENT, "\\Sent" },
	{ MAIL_SPECIAL_USE_TRASH, "\\Trash" },
	{ MAIL_SPECIAL_USE_IMPORTANT, "\\Important" },
};

const char *mail_flags_to_str(enum mail_flags flags)
{
	string_t *str = t_str_new(64);

	for (unsigned int i = 0; i < N_ELEMENTS(mail_flag_names); i++) {
		if ((flags & mail_flag_names[i].flag) == 0)
			continue;
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		str_append(str, mail_flag_names[i].name);
	}
	return str_c(str);
}

enum mail_flags mail_flag_parse(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(mail_flag_names); i++) {
		if (strcasecmp(name, mail_flag_names[i].name) == 0)
			return mail_flag_names[i].flag;
	}
	return 0;
}

const char *mail_special_use_to_str(enum mail_special_use use)
{
	string_t *str = t_str_new(64);

	for (unsigned int i = 0; i < N_ELEMENTS(mail_special_use_names); i++) {
		if ((use & mail_special_use_names[i].use) == 0)
			continue;
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		str_append(str, mail_special_use_names[i].name);
	}
	return str_c(str);
}

int mail_special_use_parse(const char *str, enum mail_special_use *use_r)
{
	const char *const *names = t_strsplit_spaces(str, " ");
	enum mail_special_use use = 0;

	for (; *names != NULL; names++) {
		unsigned int i;
		for (i = 0; i < N_ELEMENTS(mail_special_use_names); i++) {
			if (strcasecmp(*names, mail_special_use_names[i].name) == 0)
				break;
		}
		if (i == N_ELEMENTS(mail_special_use_names))
			return -1;
		use |= mail_special_use_names[i].use;
	}
	*use_r = use;
	return 0;
}

void mail_index_generate_guid(char guid_r[MAIL_INDEX_MAILBOX_GUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[MAIL_INDEX_MAILBOX_GUID_LEN / 2];
	size_t pos = 0;

	while (pos < sizeof(raw)) {
		ssize_t ret = getrandom(raw + pos, sizeof(raw) - pos, 0);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			i_fatal("getrandom() failed: %m");
		}
		pos += (size_t)ret;
	}
	for (unsigned int i = 0; i < sizeof(raw); i++) {
		guid_r[i * 2] = hex[raw[i] >> 4];
		guid_r[i * 2 + 1] = hex[raw[i] & 0xf];
	}
	guid_r[MAIL_INDEX_MAILBOX_GUID_LEN] = '\0';
}

/* --- errors --- */

int mail_index_set_error(struct mail_index *index, enum mail_error error,
			 const char *user_text)
{
	mail_error_set(&index->error, error, user_text);
	return -1;
}

int mail_index_set_internal_error(struct mail_index *index,
				  enum mail_error error, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	const char *text = p_strdup_vprintf(pool_datastack, fmt, args);
	va_end(args);
	mail_error_set_internal(&index->error, error, index->event,
				t_strdup_printf("%s (index %s)", text,
						index->path));
	return -1;
}

int mail_index_set_sqlite_error(struct mail_index *index, int rc,
				const char *what)
{
	enum mail_error error;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		error = MAIL_ERROR_NOQUOTA;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		error = MAIL_ERROR_INUSE;
		break;
	default:
		error = MAIL_ERROR_TEMP;
		break;
	}
	return mail_index_set_internal_error(index, error, "%s: %s (%s)",
		what, sqlite3_errmsg(index->db), sqlite3_errstr(rc));
}

enum mail_error mail_index_get_last_error(struct mail_index *index,
					  const char **user_text_r,
					  const char **internal_text_r)
{
	return mail_error_get(&index->error, user_text_r, internal_text_r);
}

struct mail_error_state *mail_index_get_error_state(struct mail_index *index)
{
	return &index->error;
}

/* --- statements --- */

sqlite3_stmt *mail_index_stmt(struct mail_index *index, const char *sql)
{
	if (unlikely(index->suspended) && mail_index_resume(index) < 0)
		return NULL;

	sqlite3_stmt *stmt = hash_table_lookup(index->stmts, sql);

	if (stmt != NULL) {
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
		return stmt;
	}
	int ret = sqlite3_prepare_v3(index->db, sql, -1,
				     SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (ret != SQLITE_OK) {
		mail_index_set_sqlite_error(index, ret,
			t_strdup_printf("prepare(%s)", sql));
		return NULL;
	}
	hash_table_insert(index->stmts, (void *)sql, stmt);
	return stmt;
}

int mail_index_step(struct mail_index *index, sqlite3_stmt *stmt,
		    const char *what)
{
	int ret = sqlite3_step(stmt);

	if (ret == SQLITE_ROW)
		return 1;
	if (ret == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return 0;
	}
	/* sqlite3_reset() returns the error again; the message stays */
	mail_index_set_sqlite_error(index, ret, what);
	sqlite3_reset(stmt);
	return -1;
}

int mail_index_exec(struct mail_index *index, const char *sql)
{
	if (unlikely(index->suspended) && mail_index_resume(index) < 0)
		return -1;

	int ret = sqlite3_exec(index->db, sql, NULL, NULL, NULL);

	if (ret != SQLITE_OK) {
		return mail_index_set_sqlite_error(index, ret,
			t_strdup_printf("exec(%.60s)", sql));
	}
	return 0;
}

/* BEGIN, BEGIN IMMEDIATE and COMMIT run two or three times per IMAP
   command: as cached prepared statements, not sqlite3_exec(), which
   parses its SQL each time (a tenth of a STORE's CPU). sql must be a
   string literal (the statement cache is keyed by its address). */
static int mail_index_exec_prepared(struct mail_index *index, const char *sql)
{
	sqlite3_stmt *stmt = mail_index_stmt(index, sql);

	if (stmt == NULL)
		return -1;
	return mail_index_step(index, stmt, sql) < 0 ? -1 : 0;
}

const char *mail_index_column_str(pool_t pool, sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);

	if (text == NULL)
		return "";
	return p_strndup(pool, text, (size_t)sqlite3_column_bytes(stmt, col));
}

int mail_index_read_begin(struct mail_index *index)
{
	if (index->t != NULL)
		return 0;
	if (index->read_depth == 0 &&
	    mail_index_exec_prepared(index, "BEGIN") < 0)
		return -1;
	index->read_depth++;
	return 0;
}

void mail_index_read_end(struct mail_index *index)
{
	if (index->t != NULL) {
		index->read_nothing_new = false;
		return;
	}
	i_assert(index->read_depth > 0);
	if (--index->read_depth > 0) {
		/* only the outermost snapshot's result counts */
		index->read_nothing_new = false;
	} else {
		/* a read-only transaction: COMMIT cannot lose anything */
		sqlite3_stmt *stmt = mail_index_stmt(index, "COMMIT");
		if (stmt != NULL) {
			(void)sqlite3_step(stmt);
			sqlite3_reset(stmt);
		}
		/* nothing read may be reported before it is durable (a
		   snapshot that found nothing new reports nothing) */
		bool nothing_new = index->read_nothing_new;
		index->read_nothing_new = false;
		if (!nothing_new && mail_index_reader_durable(index) < 0) {
			e_error(index->event, "%s",
				index->error.internal_text != NULL ?
				index->error.internal_text : "sync failed");
			mail_error_clear(&index->error);
		}
	}
}

/* --- open/close --- */

/* SQLite's own busy handler sleeps 1, 2, 5 ... up to 100 ms between
   tries: with many writers on one index a waiter often sleeps long after
   the lock is free. Commits hold the lock for about one fsync (a few ms),
   so poll every 250 us instead, up to the timeout. */
static int mail_index_busy_handler(void *context, int count)
{
	struct mail_index *index = context;
	uint64_t waited_usecs = (uint64_t)count * 250;

	if (waited_usecs >= (uint64_t)index->busy_wait_msecs * 1000)
		return 0;
	usleep(250);
	return 1;
}

void mail_index_set_busy_timeout(struct mail_index *index,
				 unsigned int msecs)
{
	index->busy_wait_msecs = msecs;
	if (msecs == 0)
		sqlite3_busy_handler(index->db, NULL, NULL);
	else
		sqlite3_busy_handler(index->db, mail_index_busy_handler, index);
}

int mail_index_open_db(struct mail_index *index, const char **error_r)
{
	int ret = sqlite3_open_v2(index->path, &index->db,
				  SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				  SQLITE_OPEN_NOMUTEX, NULL);
	if (ret != SQLITE_OK) {
		*error_r = t_strdup_printf("sqlite3_open(%s) failed: %s",
			index->path, index->db == NULL ? sqlite3_errstr(ret) :
			sqlite3_errmsg(index->db));
		return -1;
	}
	sqlite3_extended_result_codes(index->db, 1);
	mail_index_set_busy_timeout(index, index->busy_timeout_msecs);

	/* WAL: readers never block the writer nor each other, and a commit
	   is one append + fsync. With the group sync (mail-index-durable.c)
	   the commit runs at synchronous=NORMAL and the fsync follows outside
	   the write lock, shared with other processes' commits; without it
	   synchronous=FULL fsyncs every commit under the lock. Either way an
	   acknowledged change survives a power failure.
	   mmap: warm reads copy nothing out of the page cache. */
	const char *durable_error;
	if (index->fsync_mode == MAIL_INDEX_FSYNC_NEVER) {
		/* nothing to sync, nothing for readers to wait for; but
		   the commit counters, which other processes' views trust
		   to tell them about this one's commits */
		index->synchronous_sql = "PRAGMA synchronous = OFF";
		if (mail_index_durable_init(index, true, &durable_error) < 0) {
			e_warning(index->event, "Commit counters unavailable: "
				  "%s", durable_error);
			mail_index_durable_deinit(index);
		}
	} else {
		if (mail_index_durable_init(index, false, &durable_error) < 0) {
			e_warning(index->event, "Group WAL sync unavailable, "
				  "committing with synchronous=FULL: %s",
				  durable_error);
			mail_index_durable_deinit(index);
		}
		index->synchronous_sql = mail_index_durable_is_grouped(index) ?
			"PRAGMA synchronous = NORMAL" :
			"PRAGMA synchronous = FULL";
	}
	/* The last connection to close would checkpoint the WAL into the
	   database and delete it: two fsyncs and a rewrite of the pages
	   each time a user's last session ends (and an LMTP cache entry
	   expires). Leave the WAL for the next opener instead; checkpoints
	   happen as commits fill it (wal_autocheckpoint). */
	(void)sqlite3_db_config(index->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
				1, NULL);
	const char *const pragmas[] = {
		"PRAGMA journal_mode = WAL",
		index->synchronous_sql,
		"PRAGMA foreign_keys = ON",
		"PRAGMA mmap_size = 268435456",
		"PRAGMA cache_size = -16000",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(pragmas); i++) {
		char *errmsg = NULL;
		ret = sqlite3_exec(index->db, pragmas[i], NULL, NULL, &errmsg);
		if (ret != SQLITE_OK) {
			*error_r = t_strdup_printf("%s: %s failed: %s",
				index->path, pragmas[i],
				errmsg != NULL ? errmsg : sqlite3_errstr(ret));
			sqlite3_free(errmsg);
			return -1;
		}
	}
	return 0;
}

static int mail_index_create_begin(struct mail_index *index,
				   const char **error_r);

int mail_index_open(const struct mail_index_settings *set,
		    struct mail_index **index_r, const char **error_r)
{
	struct mail_index *index = i_new(struct mail_index, 1);

	index->path = i_strdup(set->path);
	index->notify_path = i_strdup_printf("%s-notify", set->path);
	index->notify_fd = -1;
	index->wake_path = i_strdup_printf("%s-wake", set->path);
	index->wake_fd = -1;
	index->wait_fd = -1;
	index->synchronous_sql = "PRAGMA synchronous = FULL";
	index->busy_timeout_msecs = set->busy_timeout_msecs != 0 ?
		set->busy_timeout_msecs : MAIL_INDEX_DEFAULT_BUSY_TIMEOUT_MSECS;
	index->reservation_steal_secs = set->reservation_steal_secs != 0 ?
		set->reservation_steal_secs :
		MAIL_INDEX_DEFAULT_RESERVATION_STEAL_SECS;
	index->fsync_mode = set->fsync_mode;
	index->event = event_create(set->event_parent);
	event_set_category(index->event, "index");
	event_add_str(index->event, "index", set->path);
	index->stmts = hash_table_create_direct(system_pool, 64);
	index->owner = i_strdup(mail_index_owner_id());
	index->ns.id = MAIL_INDEX_NAMESPACE_PRIVATE_ID;
	index->ns.prefix = "";
	index->ns.separator = MAIL_INDEX_HIERARCHY_SEP;
	index->ns.type = "private";

	int ret = set->create_deferred ? mail_index_create_begin(index, error_r) : 0;
	if (ret < 0 ||
	    (ret == 0 && mail_index_open_db(index, error_r) < 0) ||
	    mail_index_schema_init(index, error_r) < 0 ||
	    mail_index_search_init(index, error_r) < 0) {
		mail_index_close(&index);
		return -1;
	}
	mail_error_clear(&index->error);
	*index_r = index;
	return 0;
}

bool mail_index_is_creating(const struct mail_index *index)
{
	return index->create_path != NULL;
}

static void mail_index_stmts_finalize(struct mail_index *index)
{
	struct hash_iterate iter;
	void *key, *value;

	hash_table_iterate_init(index->stmts, &iter);
	while (hash_table_iterate(&iter, &key, &value))
		sqlite3_finalize(value);
	hash_table_clear(index->stmts);
}

/* Whether the index is to be created: neither the database nor a WAL
   of it exists. A WAL without its database (someone deleted only the
   database) takes the old path, in which SQLite deals with it. */
static int mail_index_is_missing(struct mail_index *index, bool *missing_r,
				 const char **error_r)
{
	const char *const paths[] = {
		index->path, t_strdup_printf("%s-wal", index->path)
	};
	struct stat st;

	*missing_r = false;
	for (unsigned int i = 0; i < N_ELEMENTS(paths); i++) {
		if (stat(paths[i], &st) == 0)
			return 0;
		if (errno != ENOENT) {
			*error_r = t_strdup_printf("stat(%s) failed: %m",
						   paths[i]);
			return -1;
		}
	}
	*missing_r = true;
	return 0;
}

/* Open a new index's temporary database: no journal file, no WAL, no
   sync. Nobody else sees it; a crash before the rename leaves only the
   temporary file (named after the pid: removed if a later process of
   that pid creates the user, otherwise left over).
   Returns 1 if created, 0 if the index exists (open it normally), -1. */
static int mail_index_create_begin(struct mail_index *index,
				   const char **error_r)
{
	bool missing;

	if (mail_index_is_missing(index, &missing, error_r) < 0)
		return -1;
	if (!missing)
		return 0;
	/* per process: two processes may create the user at once (the
	   rename decides), two creators in one process cannot overlap
	   (creation does not return to the ioloop) */
	index->create_path = i_strdup_printf("%s.new.%ld", index->path,
					     (long)getpid());
	if (unlink(index->create_path) < 0 && errno != ENOENT) {
		*error_r = t_strdup_printf("unlink(%s) failed: %m",
					   index->create_path);
		return -1;
	}
	int ret = sqlite3_open_v2(index->create_path, &index->db,
				  SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				  SQLITE_OPEN_NOMUTEX, NULL);
	if (ret != SQLITE_OK) {
		*error_r = t_strdup_printf("sqlite3_open(%s) failed: %s",
			index->create_path, index->db == NULL ?
			sqlite3_errstr(ret) : sqlite3_errmsg(index->db));
		return -1;
	}
	sqlite3_extended_result_codes(index->db, 1);
	/* MEMORY, not OFF: batches roll savepoints back */
	index->synchronous_sql = "PRAGMA synchronous = OFF";
	const char *const pragmas[] = {
		"PRAGMA journal_mode = MEMORY",
		index->synchronous_sql,
		"PRAGMA foreign_keys = ON",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(pragmas); i++) {
		char *errmsg = NULL;
		ret = sqlite3_exec(index->db, pragmas[i], NULL, NULL, &errmsg);
		if (ret != SQLITE_OK) {
			*error_r = t_strdup_printf("%s: %s failed: %s",
				index->create_path, pragmas[i],
				errmsg != NULL ? errmsg : sqlite3_errstr(ret));
			sqlite3_free(errmsg);
			return -1;
		}
	}
	return 1;
}

static int mail_index_fsync_path(struct mail_index *index, const char *path,
				 bool directory)
{
	int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) |
		      O_CLOEXEC);
	if (fd < 0) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"open(%s) failed: %m", path);
	}
	int ret = directory ? fsync(fd) : fdatasync(fd);
	int saved = errno;
	(void)close(fd);
	if (ret < 0) {
		errno = saved;
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"%s(%s) failed: %m",
			directory ? "fsync" : "fdatasync", path);
	}
	return 0;
}

int mail_index_create_finish(struct mail_index *index)
{
	const char *error;
	char *errmsg = NULL;

	if (index->create_path == NULL)
		return 0;
	i_assert(index->t == NULL && index->read_depth == 0);

	/* WAL in the header now, while nothing syncs: converting later
	   would cost a journal and its syncs. With nothing written since,
	   closing leaves no WAL file behind (checked below). */
	mail_index_stmts_finalize(index);
	int ret = sqlite3_exec(index->db, "PRAGMA journal_mode = WAL",
			       NULL, NULL, &errmsg);
	if (ret != SQLITE_OK) {
		mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"%s: journal_mode=WAL failed: %s", index->create_path,
			errmsg != NULL ? errmsg : sqlite3_errstr(ret));
		sqlite3_free(errmsg);
		return -1;
	}
	ret = sqlite3_close(index->db);
	index->db = NULL;
	if (ret != SQLITE_OK) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"Closing %s failed: %s", index->create_path,
			sqlite3_errstr(ret));
	}
	const char *slash = strrchr(index->path, '/');
	const char *dir = slash == NULL ? "." : slash == index->path ? "/" :
		t_strndup(index->path, (size_t)(slash - index->path));
	/* the content first, then the name: a power failure shows either
	   no index (created again at the next login, before anything was
	   shown) or the whole of it */
	if (mail_index_fsync_path(index, index->create_path, false) < 0)
		return -1;
	if (renameat2(AT_FDCWD, index->create_path, AT_FDCWD, index->path,
		      RENAME_NOREPLACE) < 0) {
		if (errno != EEXIST) {
			return mail_index_set_internal_error(index,
				MAIL_ERROR_TEMP, "rename(%s, %s) failed: %m",
				index->create_path, index->path);
		}
		/* another process created it first: theirs stands */
		if (unlink(index->create_path) < 0 && errno != ENOENT) {
			e_warning(index->event, "unlink(%s) failed: %m",
				  index->create_path);
		}
	} else if (mail_index_fsync_path(index, dir, true) < 0) {
		return -1;
	}
	i_free(index->create_path);
	/* reopen under the real name, as an ordinary index */
	index->synchronous_sql = "PRAGMA synchronous = FULL";
	if (mail_index_open_db(index, &error) < 0 ||
	    mail_index_schema_init(index, &error) < 0 ||
	    mail_index_search_init(index, &error) < 0) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"Reopening the created index failed: %s", error);
	}
	if (index->memory_cache_kib != 0 &&
	    mail_index_set_memory_limits(index, index->memory_cache_kib,
					 index->memory_mmap_bytes) < 0)
		return -1;
	return 0;
}

void mail_index_close(struct mail_index **_index)
{
	struct mail_index *index = *_index;

	if (index == NULL)
		return;
	*_index = NULL;

	if (index->t != NULL) {
		struct mail_index_transaction *t = index->t;
		t->batch = false;
		mail_index_transaction_rollback(&t);
	}
	i_assert(index->syncs_in_flight == 0);
	mail_index_reservations_free_all(index);
	mail_index_stmts_finalize(index);
	hash_table_destroy(&index->stmts);
	i_free(index->owner_cache);
	if (index->db != NULL)
		(void)sqlite3_close(index->db);
	if (index->create_path != NULL) {
		/* never finished: nothing of it was acknowledged */
		if (unlink(index->create_path) < 0 && errno != ENOENT)
			i_error("unlink(%s) failed: %m", index->create_path);
		i_free(index->create_path);
	}
	if (index->notify_fd != -1)
		(void)close(index->notify_fd);
	if (index->wake_fd != -1)
		(void)close(index->wake_fd);
	if (index->wait_fd != -1)
		(void)close(index->wait_fd);
	mail_index_durable_deinit(index);
	mail_error_clear(&index->error);
	event_unref(&index->event);
	i_free(index->owner);
	i_free(index->notify_path);
	i_free(index->wake_path);
	i_free(index->path);
	i_free(index);
}

const char *mail_index_get_path(const struct mail_index *index)
{
	return index->path;
}

struct event *mail_index_get_event(struct mail_index *index)
{
	return index->event;
}

const struct mail_index_namespace *
mail_index_get_namespaces(struct mail_index *index, unsigned int *count_r)
{
	*count_r = 1;
	return &index->ns;
}

/* --- transactions --- */

int mail_index_transaction_begin(struct mail_index *index,
				 struct mail_index_transaction **t_r)
{
	if (index->t != NULL && index->t->batch) {
		/* a call inside a batch: a savepoint of it */
		struct mail_index_transaction *t = index->t;
		i_assert(t->nested < N_ELEMENTS(t->savepoints));
		if (mail_index_exec(index, "SAVEPOINT batch_call") < 0)
			return -1;
		t->savepoints[t->nested].mailboxes = array_count(&t->mailboxes);
		t->savepoints[t->nested].mailbox_changes =
			array_count(&t->mailbox_changes);
		t->nested++;
		*t_r = t;
		return 0;
	}
	i_assert(index->t == NULL);
	i_assert(index->read_depth == 0);

	if (mail_index_exec_prepared(index, "BEGIN IMMEDIATE") < 0)
		return -1;
	pool_t pool = pool_alloconly_create("mail index transaction", 1024);
	struct mail_index_transaction *t =
		p_new(pool, struct mail_index_transaction, 1);
	t->index = index;
	t->pool = pool;
	array_init(&t->mailboxes, pool, 4);
	array_init(&t->claimed, pool, 4);
	array_init(&t->mailbox_changes, pool, 4);
	index->t = t;
	*t_r = t;
	return 0;
}

struct mail_index_tx_mailbox *
mail_index_tx_mailbox(struct mail_index_transaction *t, uint32_t mailbox_id)
{
	struct mail_index_tx_mailbox **boxp, *box;

	array_foreach(&t->mailboxes, boxp) {
		if ((*boxp)->mailbox_id == mailbox_id)
			return *boxp;
	}
	box = p_new(t->pool, struct mail_index_tx_mailbox, 1);
	box->mailbox_id = mailbox_id;
	array_init(&box->appends, t->pool, 4);
	array_init(&box->expunges, t->pool, 4);
	array_push(&t->mailboxes, box);
	return box;
}

uint64_t mail_index_tx_modseq(struct mail_index_transaction *t,
			      uint32_t mailbox_id)
{
	struct mail_index *index = t->index;
	struct mail_index_tx_mailbox *box = mail_index_tx_mailbox(t, mailbox_id);

	if (box->modseq != 0)
		return box->modseq;
	/* Read, then write (the write transaction holds the lock): not
	   UPDATE ... RETURNING, which SQLite runs as a trigger, and a
	   statement with a trigger keeps a statement journal: a 64 KiB
	   buffer allocated and freed each time, which glibc gave back to
	   the kernel and asked for again (two brk() per flag change). */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT highestmodseq FROM mailboxes WHERE id = ?1");
	if (stmt == NULL)
		return 0;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	int ret = mail_index_step(index, stmt, "modseq");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
		return 0;
	}
	uint64_t modseq = (uint64_t)sqlite3_column_int64(stmt, 0) + 1;
	sqlite3_reset(stmt);
	stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET highestmodseq = ?2 WHERE id = ?1");
	if (stmt == NULL)
		return 0;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)modseq);
	if (mail_index_step(index, stmt, "modseq") < 0)
		return 0;
	box->modseq = modseq;
	return box->modseq;
}

uint64_t mail_index_transaction_get_modseq(struct mail_index_transaction *t,
					   uint32_t mailbox_id)
{
	struct mail_index_tx_mailbox *const *boxp;

	array_foreach(&t->mailboxes, boxp) {
		if ((*boxp)->mailbox_id == mailbox_id)
			return (*boxp)->modseq;
	}
	return 0;
}

void mail_index_tx_mailbox_change(struct mail_index_transaction *t,
				  uint32_t mailbox_id,
				  enum mail_index_change_type type)
{
	struct mail_index_change *change = array_append_space(&t->mailbox_changes);

	change->mailbox_id = mailbox_id;
	change->type = type;
}

static int mail_index_tx_log_ranges(struct mail_index_transaction *t,
				    const struct mail_index_tx_mailbox *box,
				    enum mail_index_change_type type,
				    const ARRAY_TYPE(seq_range) *ranges)
{
	const struct seq_range *r;

	array_foreach(ranges, r) {
		sqlite3_stmt *stmt = mail_index_stmt(t->index,
			"INSERT INTO changes (mailbox_id, modseq, type, uid1, uid2, time) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, box->mailbox_id);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)box->modseq);
		sqlite3_bind_int(stmt, 3, type);
		sqlite3_bind_int64(stmt, 4, r->seq1);
		sqlite3_bind_int64(stmt, 5, r->seq2);
		sqlite3_bind_int64(stmt, 6, (sqlite3_int64)time(NULL));
		if (mail_index_step(t->index, stmt, "change log") < 0)
			return -1;
	}
	return 0;
}

/* Write the change log of the transaction: expunges as UID ranges with
   the mailbox's new modseq, mailbox-level changes after them. Appends and
   flag and keyword changes are not logged: the message row carries the
   modseq of its insert or last change, which is all a reader needs
   (messages with modseq > n, mail_index_mailbox_get_changes()), while a
   log row costs a commit three WAL pages (the row, its index, the
   AUTOINCREMENT sequence): three of a STORE's seven, three of the
   seventeen of a delivery's two commits. */
static int mail_index_tx_write_changes(struct mail_index_transaction *t)
{
	struct mail_index_tx_mailbox *const *boxp;
	const struct mail_index_change *change;

	array_foreach(&t->mailboxes, boxp) {
		const struct mail_index_tx_mailbox *box = *boxp;
		if (box->modseq == 0)
			continue;
		if (mail_index_tx_log_ranges(t, box, MAIL_INDEX_CHANGE_EXPUNGE,
					     &box->expunges) < 0)
			return -1;
	}
	array_foreach(&t->mailbox_changes, change) {
		sqlite3_stmt *stmt = mail_index_stmt(t->index,
			"INSERT INTO changes (mailbox_id, modseq, type, time) "
			"VALUES (?1, coalesce((SELECT highestmodseq FROM mailboxes "
			"WHERE id = ?1), 0), ?2, ?3)");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, change->mailbox_id);
		sqlite3_bind_int(stmt, 2, change->type);
		sqlite3_bind_int64(stmt, 3, (sqlite3_int64)time(NULL));
		if (mail_index_step(t->index, stmt, "change log") < 0)
			return -1;
	}
	return 0;
}

static bool mail_index_tx_changed(const struct mail_index_transaction *t)
{
	return array_count(&t->mailboxes) > 0 ||
		array_count(&t->mailbox_changes) > 0;
}

static void mail_index_transaction_free(struct mail_index_transaction *t)
{
	t->index->t = NULL;
	pool_unref(&t->pool);
}

int mail_index_fsync_mode_parse(const char *str,
				enum mail_index_fsync_mode *mode_r)
{
	if (strcmp(str, "optimized") == 0)
		*mode_r = MAIL_INDEX_FSYNC_OPTIMIZED;
	else if (strcmp(str, "always") == 0)
		*mode_r = MAIL_INDEX_FSYNC_ALWAYS;
	else if (strcmp(str, "never") == 0)
		*mode_r = MAIL_INDEX_FSYNC_NEVER;
	else
		return -1;
	return 0;
}

/* Whether the commit makes a UID visible: appends, copies, imports. */
static bool mail_index_tx_has_appends(const struct mail_index_transaction *t)
{
	struct mail_index_tx_mailbox *const *boxp;

	array_foreach(&t->mailboxes, boxp) {
		if (array_count(&(*boxp)->appends) > 0)
			return true;
	}
	return false;
}

enum mail_index_commit_durability {
	/* as durable as the mode wants once COMMIT returns */
	MAIL_INDEX_COMMIT_NO_SYNC,
	/* group sync before acknowledging */
	MAIL_INDEX_COMMIT_SYNC,
};

static enum mail_index_commit_durability
mail_index_tx_durability(const struct mail_index_transaction *t)
{
	struct mail_index *index = t->index;

	/* FULL synced in the COMMIT, NEVER never syncs */
	if (!mail_index_durable_is_grouped(index))
		return MAIL_INDEX_COMMIT_NO_SYNC;
	/* durable elsewhere until the caller's own sync: no slot either,
	   so readers do not wait for one */
	if (t->deferred_sync)
		return MAIL_INDEX_COMMIT_NO_SYNC;
	if (index->fsync_mode == MAIL_INDEX_FSYNC_OPTIMIZED &&
	    !mail_index_tx_has_appends(t))
		return MAIL_INDEX_COMMIT_NO_SYNC;
	return MAIL_INDEX_COMMIT_SYNC;
}

/* The COMMIT, with the durable slot taken if it is to be synced.
   Returns 0, or -1 (rolled back, the slot released). */
static int
mail_index_tx_commit_sql(struct mail_index_transaction *t,
			 enum mail_index_commit_durability durability)
{
	struct mail_index *index = t->index;
	bool take_slot = durability == MAIL_INDEX_COMMIT_SYNC;

	if (take_slot)
		mail_index_durable_commit_begin(index);
	if (mail_index_tx_write_changes(t) < 0 ||
	    mail_index_exec_prepared(index, "COMMIT") < 0) {
		(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
		mail_index_durable_commit_done(index);
		if (take_slot)
			mail_index_durable_commit_end(index);
		mail_index_reservations_tx_end(t, false);
		mail_index_transaction_free(t);
		return -1;
	}
	/* the WAL hook did it if the commit wrote pages; one that changed
	   nothing wrote none */
	mail_index_durable_commit_done(index);
	/* Wake waiting writers now, not after the sync: one waiting for
	   our reservation can commit while we sync, and share the next
	   sync. Sessions are told after the sync, so that what they then
	   read is durable and they need not wait for it. Writers wait only
	   for reservations to go, which flag changes and expunges never
	   do (a mailbox deleted takes its reservations along). */
	if (array_count(&t->claimed) > 0 || mail_index_tx_has_appends(t) ||
	    array_count(&t->mailbox_changes) > 0)
		mail_index_notify_writers(index);
	return 0;
}

/* Leave a savepoint of a batch: released (kept) or rolled back. */
static int mail_index_tx_nested_end(struct mail_index_transaction *t,
				    bool commit)
{
	struct mail_index *index = t->index;

	i_assert(t->nested > 0);
	t->nested--;
	if (commit) {
		if (mail_index_exec(index, "RELEASE batch_call") == 0)
			return 0;
		/* not released: undo it, as a failed call */
	}
	(void)sqlite3_exec(index->db, "ROLLBACK TO batch_call; "
			   "RELEASE batch_call", NULL, NULL, NULL);
	t->mailboxes.count = t->savepoints[t->nested].mailboxes;
	t->mailbox_changes.count = t->savepoints[t->nested].mailbox_changes;
	return commit ? -1 : 0;
}

int mail_index_batch_begin(struct mail_index *index)
{
	struct mail_index_transaction *t;

	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	t->batch = true;
	return 0;
}

int mail_index_batch_commit(struct mail_index *index)
{
	struct mail_index_transaction *t = index->t;

	i_assert(t != NULL && t->batch && t->nested == 0);
	t->batch = false;
	return mail_index_transaction_commit(&t);
}

void mail_index_batch_rollback(struct mail_index *index)
{
	struct mail_index_transaction *t = index->t;

	i_assert(t != NULL && t->batch && t->nested == 0);
	t->batch = false;
	mail_index_transaction_rollback(&t);
}

bool mail_index_in_batch(struct mail_index *index)
{
	return index->t != NULL && index->t->batch;
}

void mail_index_transaction_set_deferred_sync(struct mail_index_transaction *t)
{
	t->deferred_sync = true;
}

int mail_index_transaction_commit(struct mail_index_transaction **_t)
{
	struct mail_index_transaction *t = *_t;
	struct mail_index *index = t->index;

	if (t->batch) {
		*_t = NULL;
		return mail_index_tx_nested_end(t, true);
	}
	bool changed = mail_index_tx_changed(t);
	enum mail_index_commit_durability durability =
		mail_index_tx_durability(t);

	*_t = NULL;
	if (mail_index_tx_commit_sql(t, durability) < 0)
		return -1;
	if (durability == MAIL_INDEX_COMMIT_SYNC) {
		/* The rows are committed (visible) but maybe not on disk.
		   Failing here and letting the caller delete blobs the
		   committed rows point to would be worse than stopping:
		   the process exits, nothing is acknowledged, and the next
		   sync by anyone covers these frames. */
		if (mail_index_durable_sync(index) < 0) {
			i_fatal("Syncing the index's WAL failed: %s",
				index->error.internal_text);
		}
		mail_index_durable_commit_end(index);
	}
	if (changed)
		mail_index_notify_changed(index);
	mail_index_reservations_tx_end(t, true);
	mail_index_transaction_free(t);
	return 0;
}

struct mail_index_commit_sync {
	struct mail_index *index;
	uint64_t ticket;
	bool changed;
	/* the result of run(), for finish() */
	int ret, fdatasync_errno;
	char error[512];
};

int mail_index_transaction_commit_async(struct mail_index_transaction **_t,
					struct mail_index_commit_sync **sync_r)
{
	struct mail_index_transaction *t = *_t;
	struct mail_index *index = t->index;
	bool changed = mail_index_tx_changed(t);
	enum mail_index_commit_durability durability =
		mail_index_tx_durability(t);

	*sync_r = NULL;
	if (durability != MAIL_INDEX_COMMIT_SYNC || t->batch)
		return mail_index_transaction_commit(_t);
	*_t = NULL;
	if (mail_index_tx_commit_sql(t, durability) < 0)
		return -1;
	struct mail_index_commit_sync *sync =
		i_new(struct mail_index_commit_sync, 1);
	sync->index = index;
	sync->changed = changed;
	/* after our COMMIT: a sync that starts from now on covers it */
	sync->ticket = mail_index_durable_take_ticket(index);
	index->syncs_in_flight++;
	mail_index_durable_inflight_add(index);
	mail_index_reservations_tx_end(t, true);
	mail_index_transaction_free(t);
	*sync_r = sync;
	return 0;
}

void mail_index_commit_sync_run(struct mail_index_commit_sync *sync)
{
	sync->ret = mail_index_durable_sync_ticket(sync->index, sync->ticket,
						   sync->error,
						   sizeof(sync->error),
						   &sync->fdatasync_errno);
}

int mail_index_commit_sync_finish(struct mail_index_commit_sync **_sync)
{
	struct mail_index_commit_sync *sync = *_sync;
	struct mail_index *index = sync->index;
	int ret = sync->ret;

	*_sync = NULL;
	if (sync->fdatasync_errno != 0) {
		/* see mail_index_durable_sync() */
		i_fatal("Syncing the index's WAL failed: %s", sync->error);
	}
	i_assert(index->syncs_in_flight > 0);
	index->syncs_in_flight--;
	mail_index_durable_inflight_remove(index);
	mail_index_durable_commit_end(index);
	if (ret < 0) {
		(void)mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
						    "%s", sync->error);
	} else if (sync->changed) {
		mail_index_notify_changed(index);
	}
	i_free(sync);
	return ret;
}

int mail_index_sync_all(struct mail_index *index)
{
	if (!mail_index_durable_is_grouped(index))
		return 0;
	return mail_index_durable_sync(index);
}

void mail_index_transaction_rollback(struct mail_index_transaction **_t)
{
	struct mail_index_transaction *t = *_t;

	*_t = NULL;
	if (t->batch) {
		(void)mail_index_tx_nested_end(t, false);
		return;
	}
	(void)sqlite3_exec(t->index->db, "ROLLBACK", NULL, NULL, NULL);
	mail_index_reservations_tx_end(t, false);
	mail_index_transaction_free(t);
}

/* --- blob deletions --- */

int mail_index_blob_deletions_get(struct mail_index *index,
				  unsigned int limit, pool_t pool,
				  ARRAY_TYPE(mail_string) *keys)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT blob_key FROM blob_deletions ORDER BY queued LIMIT ?1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, limit == 0 ? -1 : (sqlite3_int64)limit);
	while ((ret = mail_index_step(index, stmt, "blob deletions")) > 0) {
		const char *key = mail_index_column_str(pool, stmt, 0);
		array_push(keys, key);
	}
	return ret;
}

int mail_index_blob_deletions_done(struct mail_index *index,
				   const char *const *keys, unsigned int count)
{
	bool own_tx = index->t == NULL;

	if (count == 0)
		return 0;
	/* no fsync needed: losing this only makes a delete run twice */
	if (own_tx && (mail_index_exec(index, "PRAGMA synchronous = NORMAL") < 0 ||
		       mail_index_exec(index, "BEGIN IMMEDIATE") < 0))
		goto failed;
	for (unsigned int i = 0; i < count; i++) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"DELETE FROM blob_deletions WHERE blob_key = ?1");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_text(stmt, 1, keys[i], -1, SQLITE_STATIC);
		if (mail_index_step(index, stmt, "blob deletions") < 0)
			goto failed;
	}
	if (own_tx && mail_index_exec(index, "COMMIT") < 0)
		goto failed;
	if (own_tx)
		(void)mail_index_exec(index, index->synchronous_sql);
	return 0;
failed:
	if (own_tx) {
		(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
		(void)sqlite3_exec(index->db, index->synchronous_sql,
				   NULL, NULL, NULL);
	}
	return -1;
}
