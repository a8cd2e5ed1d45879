/* Internals shared by the index's source files: the index and
   transaction structs, the cached-statement helpers and the pieces the
   files call in each other. */
#ifndef COLUMBA_MAIL_INDEX_PRIVATE_H
#define COLUMBA_MAIL_INDEX_PRIVATE_H

#include "mail-index.h"
#include <sqlite3.h>

struct hash_table;

#define MAIL_INDEX_DEFAULT_BUSY_TIMEOUT_MSECS 10000
#define MAIL_INDEX_DEFAULT_RESERVATION_STEAL_SECS 60
#define MAIL_INDEX_NAMESPACE_PRIVATE_ID 1

struct mail_index_reservation {
	struct mail_index *index;
	struct mail_index_reservation *prev, *next;
	int64_t id;
	uint32_t mailbox_id;
	uint32_t uid1, uid2;
	uint32_t uidvalidity;
	/* the transaction that deleted the reservation row (its commit makes
	   the reservation used up; its rollback brings the row back) */
	struct mail_index_transaction *claimed_by;
	bool used;
};

struct mail_index_tx_mailbox {
	uint32_t mailbox_id;
	uint64_t modseq;
	/* change-log ranges, written at commit (flag changes are not
	   logged: mail_index_tx_write_changes()) */
	ARRAY_TYPE(seq_range) appends, expunges;
};

struct mail_index_transaction {
	struct mail_index *index;
	pool_t pool;
	ARRAY(struct mail_index_tx_mailbox *) mailboxes;
	ARRAY(struct mail_index_reservation *) claimed;
	/* mailbox-level change-log entries: type, mailbox id */
	ARRAY(struct mail_index_change) mailbox_changes;
	/* a batch (mail_index_batch_begin()): transactions begun inside
	   it are savepoints; for each open one, the array sizes to go
	   back to if it rolls back */
	bool batch;
	/* mail_index_transaction_set_deferred_sync() */
	bool deferred_sync;
	unsigned int nested;
	struct {
		unsigned int mailboxes, mailbox_changes;
	} savepoints[4];
};

#define MAIL_INDEX_OWNER_CACHE_SIZE 8

struct mail_index {
	char *path, *notify_path;
	/* "<path>-wake": written right after each COMMIT, before its sync,
	   for writers waiting for another's lower UID (mail-index-notify.c) */
	char *wake_path;
	int wake_fd;
	sqlite3 *db;
	struct event *event;
	struct mail_error_state error;
	unsigned int busy_timeout_msecs;
	/* what the busy handler waits now (0 while not waiting at all) */
	unsigned int busy_wait_msecs;
	unsigned int reservation_steal_secs;

	/* prepared statements by the address of their SQL text */
	struct hash_table *stmts;
	struct mail_index_namespace ns;

	/* the open write transaction, if any */
	struct mail_index_transaction *t;
	/* nesting of read snapshots (BEGIN DEFERRED) */
	unsigned int read_depth;
	/* the snapshot ending now reported nothing new: no need to sync
	   what it saw (mail_index_read_end()) */
	bool read_nothing_new;
	/* identifies this process to other processes' stale-reservation
	   checks: "boot-id:pid:start-time" */
	char *owner;
	struct mail_index_reservation *reservations;
	/* recent answers of mail_index_owner_is_alive(): writers waiting
	   for each other ask many times a second, and each uncached answer
	   reads /proc. MAIL_INDEX_OWNER_CACHE_SIZE entries, allocated on
	   first use and dropped by mail_index_suspend() (1.2 KiB that an
	   idle session does not need) */
	struct mail_index_owner_cache {
		char owner[128];
		uint64_t checked_msecs;
		bool alive;
	} *owner_cache;
	unsigned int owner_cache_next;
	/* the notify file, opened on the first commit */
	int notify_fd;
	/* inotify for mail_index_wait_change(), made on first use */
	int wait_fd;
	/* group WAL sync across processes (mail-index-durable.c); when
	   it could not be set up, commits sync themselves (FULL) */
	struct mail_index_durable *durable;
	/* the PRAGMA that restores the index's synchronous level after a
	   statement that lowered it */
	const char *synchronous_sql;
	enum mail_index_fsync_mode fsync_mode;
	/* commits whose sync has not finished (mail_index_commit_sync) */
	unsigned int syncs_in_flight;
	/* the commit counters' ticket of the COMMIT running now (0 when
	   none), and of this handle's last one (mail-index-durable.c) */
	uint64_t commit_ticket, last_commit_ticket;
	/* mail_index_set_memory_limits(), applied again on resume
	   (mail-index-memory.c); cache_kib 0 = never set */
	unsigned int memory_cache_kib;
	uint64_t memory_mmap_bytes;
	/* the connection is closed while idle (mail_index_suspend()):
	   db is NULL until mail_index_stmt()/mail_index_exec() reopen it */
	bool suspended;
	/* mail_index_set_resume_callback() */
	void (*resume_callback)(void *context);
	void *resume_context;
	/* mail_index_is_creating(): db is the temporary database at
	   create_path, renamed to path by mail_index_create_finish() */
	char *create_path;
};

/* Open the SQLite connection of an index struct (path and settings
   filled in): pragmas, group sync. mail-index.c, also for resume. */
int mail_index_open_db(struct mail_index *index, const char **error_r);
/* Reopen a suspended index's connection (mail-index-memory.c). Returns 0,
   or -1 with the index error set. Every SQL call path goes through
   mail_index_stmt() or mail_index_exec() first, which call it. */
int mail_index_resume(struct mail_index *index);

/* The cached prepared statement for sql (a string literal: its address is
   the key), reset and with bindings cleared. NULL with the error set if
   it cannot be prepared (or a suspended index cannot be reopened). */
sqlite3_stmt *mail_index_stmt(struct mail_index *index, const char *sql);
/* sqlite3_step(): 1 for a row, 0 when done (the statement is reset), -1
   with the error set (the statement is reset). what names the operation
   in the internal error. */
int mail_index_step(struct mail_index *index, sqlite3_stmt *stmt,
		    const char *what);
/* Run SQL without results. */
int mail_index_exec(struct mail_index *index, const char *sql);
/* Set the index error from an SQLite result code. Returns -1. */
int mail_index_set_sqlite_error(struct mail_index *index, int rc,
				const char *what);
int mail_index_set_error(struct mail_index *index, enum mail_error error,
			 const char *user_text);
int mail_index_set_internal_error(struct mail_index *index,
				  enum mail_error error, const char *fmt, ...)
	ATTR_FORMAT(3, 4);
/* Text column as a pool string ("" for NULL). */
const char *mail_index_column_str(pool_t pool, sqlite3_stmt *stmt, int col);

/* A consistent snapshot for several reads: nests, and inside a write
   transaction does nothing. */
int mail_index_read_begin(struct mail_index *index);
void mail_index_read_end(struct mail_index *index);

/* Wait up to msecs for another process's lock (0: fail at once). */
void mail_index_set_busy_timeout(struct mail_index *index, unsigned int msecs);
bool mail_index_owner_is_alive(struct mail_index *index, const char *owner);

/* Group WAL sync (mail-index-durable.c). init maps "<index>-sync";
   -1 with *error_r if it cannot (the index then commits with
   synchronous=FULL). counters_only (mail_fsync = never): only the
   commit counters, no group sync (is_grouped() is false). */
int mail_index_durable_init(struct mail_index *index, bool counters_only,
			    const char **error_r);
void mail_index_durable_deinit(struct mail_index *index);
bool mail_index_durable_is_grouped(struct mail_index *index);
/* Make everything this process wrote to the WAL durable, sharing the
   fdatasync() with other processes. Blocks for about one disk sync.
   Returns 0, or -1 with the error set (flock/open failure). Exits the
   process if fdatasync() itself fails. */
int mail_index_durable_sync(struct mail_index *index);
/* The same in two steps, for a sync in a worker thread: take a ticket
   (ioloop thread, right after the COMMIT), then sync it. The second step
   is thread-safe (no data stack, events, log or SQLite): it returns 0,
   or -1 with the reason in error; *fdatasync_errno_r is non-zero if
   fdatasync() itself failed (the caller must then stop the process). */
uint64_t mail_index_durable_take_ticket(struct mail_index *index);
int mail_index_durable_sync_ticket(struct mail_index *index, uint64_t ticket,
				   char *error, size_t error_size,
				   int *fdatasync_errno_r);
/* Around a write COMMIT: mark this process as a writer whose commit may
   be visible before it is synced (for readers). Counted: the slot is
   released when every begin has had its end. */
void mail_index_durable_commit_begin(struct mail_index *index);
void mail_index_durable_commit_end(struct mail_index *index);
/* After a COMMIT of the index's connection, whether it took effect or
   not: raises the shared commits_done to its ticket. */
void mail_index_durable_commit_done(struct mail_index *index);
/* Around an asynchronous commit's sync (worker thread): readers of this
   process then wait for it too. */
void mail_index_durable_inflight_add(struct mail_index *index);
void mail_index_durable_inflight_remove(struct mail_index *index);
/* After reading a snapshot: if some writer's commit may be visible but
   not yet synced, sync it before anything read is reported. Cheap when
   no writer is between its COMMIT and its sync. */
int mail_index_reader_durable(struct mail_index *index);
/* Tickets taken so far by every process (tests). */
uint64_t mail_index_durable_get_requested(struct mail_index *index);
/* WAL checkpoints of this index handle so far: started in a thread, and
   run by a commit itself (the threads far behind); tests. */
void mail_index_get_checkpoint_stats(struct mail_index *index,
				     uint64_t *async_r, uint64_t *sync_r);
/* Whether this handle's last checkpoint thread is still running. */
bool mail_index_checkpoint_running(struct mail_index *index);

/* Schema (mail-index-schema.c): create or migrate. */
int mail_index_schema_init(struct mail_index *index, const char **error_r);

/* Register the SQL functions search uses (mail-index-search.c). */
int mail_index_search_init(struct mail_index *index, const char **error_r);


/* The transaction's modseq for mailbox_id, allocating it on first use
   (bumps the mailbox's HIGHESTMODSEQ). Returns 0 on error. */
uint64_t mail_index_tx_modseq(struct mail_index_transaction *t,
			      uint32_t mailbox_id);
struct mail_index_tx_mailbox *
mail_index_tx_mailbox(struct mail_index_transaction *t, uint32_t mailbox_id);
void mail_index_tx_mailbox_change(struct mail_index_transaction *t,
				  uint32_t mailbox_id,
				  enum mail_index_change_type type);
/* Announce a commit to watchers (mail-index-notify.c): sessions, after
   the commit is durable. */
void mail_index_notify_changed(struct mail_index *index);
/* Wake writers waiting in mail_index_wait_change(): right after COMMIT
   (the lower UID they wait for is committed, even if not yet synced), or
   after releasing a reservation. */
void mail_index_notify_writers(struct mail_index *index);

/* Keywords (mail-index-keywords.c). The mailbox's keyword names indexed
   by their bit, from pool. */
int mail_index_keywords_load(struct mail_index *index, uint32_t mailbox_id,
			     pool_t pool, ARRAY_TYPE(mail_string) *names);
/* The bitmap of keywords (defining missing ones when create). Returns 0,
   or -1 (LIMIT for too many keywords, PARAMS for a bad name). */
int mail_index_keywords_to_bitmap(struct mail_index *index,
				  uint32_t mailbox_id,
				  const char *const *keywords, bool create,
				  buffer_t *bitmap);
/* The names for a bitmap, NULL-terminated (NULL if none). */
const char *const *
mail_index_keywords_from_bitmap(pool_t pool,
				const ARRAY_TYPE(mail_string) *names,
				const void *bitmap, size_t size);
/* Drop trailing zero bytes. */
void mail_index_bitmap_trim(buffer_t *bitmap);
bool mail_index_keyword_is_valid(const char *keyword);

/* Reservations (mail-index-reserve.c). */
int mail_index_reservation_claim(struct mail_index_transaction *t,
				 struct mail_index_reservation *res);
/* 1 if no lower pending reservation blocks uid in mailbox_id, 0 if one
   does, -1 on error. Drops stale ones. */
int mail_index_reservations_check_order(struct mail_index_transaction *t,
					uint32_t mailbox_id, uint32_t uid);
void mail_index_reservations_tx_end(struct mail_index_transaction *t,
				    bool committed);
void mail_index_reservations_free_all(struct mail_index *index);
const char *mail_index_owner_id(void);

#endif
