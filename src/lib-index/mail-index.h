/* The per-user mail index: one SQLite database (WAL) holding the user's
   namespaces, mailboxes, subscriptions, messages (UID, flags, keywords,
   modseq, dates, sizes, the key of the blob holding the message, cached
   ENVELOPE/BODYSTRUCTURE/headers) and a logical change log (appends, flag
   changes, expunges, each with its modseq). Schema: mail-index-schema.c.

   Several processes may open the same index at once; SQLite's locking
   keeps them consistent. Every call blocks on the local disk (a write
   commits with fsync) and may wait up to busy_timeout_msecs for another
   process's write transaction. A change committed by one process is
   announced to the others through the notify file (mail-index-notify.c).

   UIDs. A message's UID must be known before its blob is written (the
   blob's metadata carries it), and a blob is written before the index row
   that points to it commits, while UIDs must become visible in ascending
   order. So UIDs are handed out by reservations: mail_index_reserve_uids()
   takes the next UIDs of a mailbox in a short transaction; the caller
   writes its blobs; mail_index_append() then inserts the rows. An append
   whose mailbox still has a lower reservation pending (another writer's
   blob is still being written) must wait: it returns 0 and the caller
   rolls back and retries a little later, so commits become visible in UID
   order. Reservations of dead processes are dropped; a reservation older
   than reservation_steal_secs is dropped too, and its owner's append then
   fails with MAIL_ERROR_UNAVAILABLE.

   Errors: functions returning int give -1 on error, with the error in
   mail_index_get_last_error(). */
#ifndef COLUMBA_MAIL_INDEX_H
#define COLUMBA_MAIL_INDEX_H

#include "seq-range.h"
#include "mail-error.h"
#include <time.h>

struct event;
struct mail_index;
struct mail_index_transaction;
struct mail_index_reservation;

ARRAY_DEFINE_TYPE(mail_string, const char *);

#define MAIL_INDEX_HIERARCHY_SEP '/'
#define MAIL_INDEX_MAILBOX_NAME_MAX_LEN 1024
#define MAIL_INDEX_MAILBOX_GUID_LEN 32
/* most keywords a mailbox may define */
#define MAIL_INDEX_MAX_KEYWORDS 1024
#define MAIL_INDEX_KEYWORD_MAX_LEN 255

/* System flags, as stored (the bits never change). */
enum mail_flags {
	MAIL_ANSWERED = 0x01,
	MAIL_FLAGGED = 0x02,
	MAIL_DELETED = 0x04,
	MAIL_SEEN = 0x08,
	MAIL_DRAFT = 0x10,
	MAIL_FLAGS_MASK = 0x1f,
};

/* RFC 6154 special-use attributes, plus RFC 8457 \Important. */
enum mail_special_use {
	MAIL_SPECIAL_USE_ALL = 0x01,
	MAIL_SPECIAL_USE_ARCHIVE = 0x02,
	MAIL_SPECIAL_USE_DRAFTS = 0x04,
	MAIL_SPECIAL_USE_FLAGGED = 0x08,
	MAIL_SPECIAL_USE_JUNK = 0x10,
	MAIL_SPECIAL_USE_SENT = 0x20,
	MAIL_SPECIAL_USE_TRASH = 0x40,
	MAIL_SPECIAL_USE_IMPORTANT = 0x80,
};

/* A new GUID (mailboxes, messages): 32 random hex digits. */
void mail_index_generate_guid(char guid_r[MAIL_INDEX_MAILBOX_GUID_LEN + 1]);

/* "\Seen \Flagged" (data stack); "" for none. */
const char *mail_flags_to_str(enum mail_flags flags);
/* One system flag name, case-insensitive ("\Seen"); 0 if unknown. */
enum mail_flags mail_flag_parse(const char *name);
/* "\Sent \Trash" (data stack); "" for none. */
const char *mail_special_use_to_str(enum mail_special_use use);
/* A list of attributes separated by spaces, case-insensitive. Returns 0,
   or -1 for an unknown one. */
int mail_special_use_parse(const char *str, enum mail_special_use *use_r);

/* When commits wait for the disk (Dovecot's mail_fsync).
   OPTIMIZED: a commit that makes a UID visible (append, copy, move,
   import) is durable before mail_index_transaction_commit() returns, as
   with ALWAYS; every other commit (flags, keywords, expunges, \Recent,
   mailbox create/delete/rename, subscriptions, special-use) returns
   once SQLite has written its WAL frames, without an fdatasync(): it
   becomes durable with the next group sync of the index (any process's
   save), a checkpoint, or the kernel's writeback of dirty pages
   (typically within 30 s). A power failure may lose such changes made
   in the last seconds: flags come back as they were, an expunged
   message reappears (its blob is deleted only after a sync: see
   mail_index_sync_all()), a new mailbox is gone. A crash of the
   process alone loses nothing (the frames are in the page cache).
   Readers wait for a pending sync only when some writer has an unsynced
   save.
   ALWAYS: every commit is durable before it returns.
   NEVER: nothing is ever fsynced (synchronous=OFF; tests, bench
   set-up): a power failure may lose or corrupt anything. */
enum mail_index_fsync_mode {
	MAIL_INDEX_FSYNC_OPTIMIZED = 0,
	MAIL_INDEX_FSYNC_ALWAYS,
	MAIL_INDEX_FSYNC_NEVER,
};

/* "optimized", "always", "never": returns 0, or -1 for anything else. */
int mail_index_fsync_mode_parse(const char *str,
				enum mail_index_fsync_mode *mode_r);

struct mail_index_settings {
	/* the database file; the directory must exist */
	const char *path;
	/* wait this long for another process's write lock (0 = 10 s) */
	unsigned int busy_timeout_msecs;
	/* drop a live process's UID reservation after this long (0 = 60 s) */
	unsigned int reservation_steal_secs;
	/* parent of the index's event; may be NULL */
	struct event *event_parent;
	/* default OPTIMIZED */
	enum mail_index_fsync_mode fsync_mode;
	/* When the index does not exist yet, build it under a temporary
	   name (no fsync, no WAL) until mail_index_create_finish() makes
	   it durable and puts it in place at once: a new user's schema and
	   first mailboxes cost one file sync and one directory sync. The
	   caller must call mail_index_create_finish() before anything it
	   writes is acknowledged or shown to a client. */
	bool create_deferred;
};

/* Open (creating and migrating as needed) the index at set->path. Blocks.
   Returns -1 with *error_r if it cannot be opened or its schema is newer
   than this code. Opening an index whose schema is current writes
   nothing; closing writes nothing either (no checkpoint on close: the
   WAL stays for the next opener). */
int mail_index_open(const struct mail_index_settings *set,
		    struct mail_index **index_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Reservations still held are released. Sets *index to NULL. An index
   still being created (mail_index_is_creating()) is discarded. */
void mail_index_close(struct mail_index **index);
/* Wait until no WAL checkpoint thread of this process runs (a closed
   index's may still be running). For fork() without exec(): a child
   forked while such a thread holds one of SQLite's mutexes blocks on it
   forever. Checkpoint threads start only in this thread's commits. */
void mail_index_wait_checkpoints(void);
/* The index was opened with create_deferred and did not exist: what is
   written goes to a temporary database that no other process sees. */
bool mail_index_is_creating(const struct mail_index *index);
/* Make the index being created durable (one fdatasync) and rename it
   into place (then one fsync of its directory), then reopen it there as
   an ordinary index. If another process created the index meanwhile,
   ours is dropped and theirs opened: the caller looks up again what it
   needs (mailbox ids, GUIDs). No transaction may be open. Blocks.
   Returns 0, or -1 with the index error set (the index is unusable
   then: close it). Does nothing for an index not being created. */
int mail_index_create_finish(struct mail_index *index) ATTR_WARN_UNUSED;
const char *mail_index_get_path(const struct mail_index *index);
struct event *mail_index_get_event(struct mail_index *index);
/* The schema version this code writes (and the database has once open). */
unsigned int mail_index_get_schema_version(void);

enum mail_error mail_index_get_last_error(struct mail_index *index,
					  const char **user_text_r,
					  const char **internal_text_r);
struct mail_error_state *mail_index_get_error_state(struct mail_index *index);

/* Durability of commits. Commits made by several processes at once share
   one fdatasync() of the WAL, done outside the write lock
   (mail-index-durable.c); a commit returns only once it is on disk.
   fsyncs_r gets how many WAL syncs this index handle did itself, joined_r
   how many of its commits another process's sync covered (benchmarks,
   tests). Both 0 when the index runs with synchronous=FULL instead. */
void mail_index_get_durable_stats(struct mail_index *index,
				  uint64_t *fsyncs_r, uint64_t *joined_r);

/* --- namespaces --- */

struct mail_index_namespace {
	uint32_t id;
	/* "" for the private namespace */
	const char *prefix;
	char separator;
	/* "private", "shared" or "public" */
	const char *type;
};

/* There is one private namespace (prefix "", separator '/'). *ns_r
   points into the index (valid while it is open). */
const struct mail_index_namespace *
mail_index_get_namespaces(struct mail_index *index, unsigned int *count_r);

/* --- mailboxes ---
   Names are UTF-8 with '/' as hierarchy separator. INBOX is
   case-insensitive, also as the first component of its children's names
   ("inbox/x" is "INBOX/x"). */

struct mail_index_mailbox {
	uint32_t id;
	const char *name;
	/* 32 hex digits, kept across renames */
	const char *guid;
	uint32_t uidvalidity;
	/* UIDNEXT as clients see it: above every committed UID */
	uint32_t uidnext;
	uint64_t highestmodseq;
	enum mail_special_use special_use;
	/* a name kept only because it has children (\Noselect) */
	bool noselect;
};

/* The canonical form of a mailbox name: INBOX upper-cased, a trailing
   separator removed (CREATE "foo/" means "foo"). Returns NULL with
   *error_r for an invalid name: empty, too long, an empty, "." or ".."
   component, control characters, '*' or '%'. Data stack. */
const char *mail_index_mailbox_name_normalize(const char *name,
					      const char **error_r);

/* Create a mailbox as it was elsewhere (rebuild, import): with its GUID
   (NULL = a new one), UIDVALIDITY and UIDNEXT, and missing parents.
   Later UIDVALIDITYs of this index stay above the given one. *id_r gets
   the id. EXISTS if the name exists. */
struct mail_index_mailbox_restore {
	const char *name;
	const char *guid;
	uint32_t uidvalidity;
	uint32_t uidnext;
	enum mail_special_use special_use;
};
int mail_index_mailbox_restore(struct mail_index *index,
			       const struct mail_index_mailbox_restore *restore,
			       uint32_t *id_r) ATTR_WARN_UNUSED;

/* Raise a mailbox's UIDNEXT (never lowers it): after a restore, to the
   UIDNEXT the mailbox had, above its last message. */
int mail_index_mailbox_raise_uidnext(struct mail_index *index,
				     uint32_t mailbox_id, uint32_t uidnext)
	ATTR_WARN_UNUSED;

/* Create a mailbox, and its missing parents (as ordinary mailboxes).
   Creating a \Noselect name makes it selectable again, with a new
   UIDVALIDITY. box_r (may be NULL) is filled from pool. */
int mail_index_mailbox_create(struct mail_index *index, const char *name,
			      enum mail_special_use special_use, pool_t pool,
			      struct mail_index_mailbox *box_r)
	ATTR_WARN_UNUSED;
/* Returns 1 and fills *box_r from pool, 0 if there is no such mailbox
   (NOTFOUND is set), -1 on error. A \Noselect name is found (noselect). */
int mail_index_mailbox_lookup(struct mail_index *index, const char *name,
			      pool_t pool, struct mail_index_mailbox *box_r)
	ATTR_WARN_UNUSED;
int mail_index_mailbox_lookup_id(struct mail_index *index, uint32_t id,
				 pool_t pool, struct mail_index_mailbox *box_r)
	ATTR_WARN_UNUSED;
/* Delete a mailbox and its messages (their blob keys are queued, see
   mail_index_blob_deletions_get()). A mailbox with children becomes
   \Noselect instead; deleting a \Noselect name with children fails with
   HASCHILDREN; INBOX cannot be deleted. Subscriptions are kept. */
int mail_index_mailbox_delete(struct mail_index *index, const char *name)
	ATTR_WARN_UNUSED;
/* Rename a mailbox and its children, creating the new name's missing
   parents; subscriptions follow. Renaming INBOX moves its messages to a
   new mailbox (which keeps INBOX's GUID, UIDVALIDITY and UIDs) and leaves
   an empty INBOX with a new UIDVALIDITY; INBOX's children stay. */
int mail_index_mailbox_rename(struct mail_index *index, const char *old_name,
			      const char *new_name) ATTR_WARN_UNUSED;
int mail_index_mailbox_set_special_use(struct mail_index *index,
				       const char *name,
				       enum mail_special_use special_use)
	ATTR_WARN_UNUSED;
/* Several mailbox-list changes as one write transaction (one commit,
   one lock): between begin and commit, mail_index_mailbox_create(),
   _subscribe() and _set_special_use() join the batch, each as a
   savepoint (a call that fails undoes only itself). Nothing is visible
   to others before the commit. Only these calls may run inside a batch.
   Returns 0 or -1 (rollback: everything in the batch is undone). */
int mail_index_batch_begin(struct mail_index *index) ATTR_WARN_UNUSED;
int mail_index_batch_commit(struct mail_index *index) ATTR_WARN_UNUSED;
void mail_index_batch_rollback(struct mail_index *index);
bool mail_index_in_batch(struct mail_index *index);

/* Subscriptions are names, independent of existence. */
int mail_index_mailbox_subscribe(struct mail_index *index, const char *name,
				 bool subscribe) ATTR_WARN_UNUSED;

enum mail_index_mailbox_attr {
	MAIL_INDEX_MAILBOX_ATTR_NOSELECT = 0x01,
	/* subscribed but does not exist */
	MAIL_INDEX_MAILBOX_ATTR_NONEXISTENT = 0x02,
	MAIL_INDEX_MAILBOX_ATTR_HASCHILDREN = 0x04,
	MAIL_INDEX_MAILBOX_ATTR_HASNOCHILDREN = 0x08,
	MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED = 0x10,
};

enum mail_index_list_flags {
	/* only subscribed names, existing or not (LIST (SUBSCRIBED)) */
	MAIL_INDEX_LIST_SUBSCRIBED = 0x01,
	/* only mailboxes with a special-use attribute */
	MAIL_INDEX_LIST_SPECIAL_USE = 0x02,
};

struct mail_index_list_entry {
	/* 0 for a name that does not exist */
	uint32_t id;
	const char *name;
	enum mail_index_mailbox_attr attrs;
	enum mail_special_use special_use;
};
ARRAY_DEFINE_TYPE(mail_index_list_entry, struct mail_index_list_entry);

/* Names matching any of the patterns ('*' matches anything, '%' anything
   but the separator), sorted by name with INBOX first. */
int mail_index_mailbox_list(struct mail_index *index,
			    const char *const *patterns,
			    enum mail_index_list_flags flags, pool_t pool,
			    ARRAY_TYPE(mail_index_list_entry) *result)
	ATTR_WARN_UNUSED;
/* Whether name matches an IMAP LIST pattern (INBOX case-insensitive). */
bool mail_index_mailbox_name_match(const char *pattern, const char *name);

struct mail_index_status {
	uint32_t messages;
	uint32_t unseen;
	/* \Deleted messages (RFC 9051 STATUS DELETED) */
	uint32_t deleted;
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint64_t highestmodseq;
	/* sum of RFC822.SIZE (RFC 8438 STATUS SIZE) */
	uint64_t size;
};

int mail_index_mailbox_status(struct mail_index *index, uint32_t mailbox_id,
			      struct mail_index_status *status_r)
	ATTR_WARN_UNUSED;

/* The keywords defined in the mailbox, in definition order. */
int mail_index_mailbox_keywords(struct mail_index *index, uint32_t mailbox_id,
				pool_t pool, ARRAY_TYPE(mail_string) *names)
	ATTR_WARN_UNUSED;

/* --- \Recent (IMAP4rev1, mail-index-recent.c) ---
   A message is \Recent to exactly one session: the first read-write
   session to see it after it arrived. Each mailbox keeps the lowest UID
   no such session has claimed yet (its "first recent UID"). */

/* Claim the mailbox's unclaimed UIDs below uidnext (the caller's view's
   UIDNEXT) for the calling session: *first_r gets the first recent UID
   as it was before the call, so the caller's recent UIDs are
   [*first_r, uidnext). Atomic: two sessions never get the same UID.
   With claim false nothing changes (a read-only session, EXAMINE, sees
   the unclaimed UIDs as recent without taking them). Returns 1, 0 if the
   mailbox no longer exists or has another UIDVALIDITY, -1 on error. */
int mail_index_mailbox_claim_recent(struct mail_index *index,
				    uint32_t mailbox_id, uint32_t uidvalidity,
				    uint32_t uidnext, bool claim,
				    uint32_t *first_r) ATTR_WARN_UNUSED;
/* The number of the mailbox's messages no session has claimed (STATUS
   RECENT). Returns 1, 0 if there is no such mailbox, -1 on error. */
int mail_index_mailbox_count_recent(struct mail_index *index,
				    uint32_t mailbox_id, uint32_t *count_r)
	ATTR_WARN_UNUSED;

/* --- UID reservations (see the top of this file) --- */

/* Reserve count (>= 1) UIDs of a mailbox. Blocks while another process
   holds the write lock; does not fsync (a reservation lost in a power
   failure costs nothing: its UIDs were never acknowledged). */
int mail_index_reserve_uids(struct mail_index *index, uint32_t mailbox_id,
			    unsigned int count,
			    struct mail_index_reservation **res_r)
	ATTR_WARN_UNUSED;
/* The same, if the mailbox is still called name (normalized, as
   mail_index_mailbox_lookup() returned it): a writer that keeps a
   mailbox's id across operations (LMTP) learns this way, at no extra
   read, that it was renamed meanwhile (INBOX's rename moves the row):
   NOTFOUND then. */
int mail_index_reserve_uids_named(struct mail_index *index,
				  uint32_t mailbox_id, const char *name,
				  unsigned int count,
				  struct mail_index_reservation **res_r)
	ATTR_WARN_UNUSED;
uint32_t mail_index_reservation_get_uid1(const struct mail_index_reservation *res);
uint32_t mail_index_reservation_get_uid2(const struct mail_index_reservation *res);
uint32_t mail_index_reservation_get_uidvalidity(
	const struct mail_index_reservation *res);
/* Release a reservation. One that a committed transaction used is gone
   already; an unused one is deleted (its UIDs are never handed out
   again). Sets *res to NULL. */
void mail_index_reservation_free(struct mail_index_reservation **res);

/* --- write transactions ---
   A transaction is BEGIN IMMEDIATE: it holds the index's write lock until
   commit or rollback, so keep it short (no blob I/O inside). Every
   mailbox it changes gets one new modseq, shared by all its changes. */

/* Returns -1 if the lock was not obtained within busy_timeout_msecs
   (INUSE). */
int mail_index_transaction_begin(struct mail_index *index,
				 struct mail_index_transaction **t_r)
	ATTR_WARN_UNUSED;
/* The commit writes its WAL frames without an fdatasync() and without
   taking a slot that makes readers wait for one, whatever the fsync
   mode: for a caller that holds what it commits durably elsewhere (the
   LMTP journal) until it made the index's filesystem durable itself
   (syncfs()). A power failure before that may lose the commit; any
   later synced commit of the index covers it (the WAL is sequential).
   With synchronous=FULL (no shared sync file) the COMMIT still syncs. */
void mail_index_transaction_set_deferred_sync(struct mail_index_transaction *t);
/* Commit, sync as the fsync mode says (see enum mail_index_fsync_mode)
   and announce the change. Returns 0 or -1; either way *t is set to
   NULL. */
int mail_index_transaction_commit(struct mail_index_transaction **t)
	ATTR_WARN_UNUSED;

/* Asynchronous commit, for an ioloop process that must not block on the
   disk: the COMMIT runs now (the lock is released, the rows are visible
   to readers, who wait for the sync before reporting them), and if the
   commit needs a sync *sync_r is set: run mail_index_commit_sync_run()
   in a worker thread, then mail_index_commit_sync_finish() in the ioloop
   thread, and only then acknowledge the commit. *sync_r is NULL when
   nothing is to wait for (the commit is as durable as the mode wants).
   Returns 0, or -1 (nothing committed, *sync_r NULL). Another
   transaction may begin while a sync is in flight; the index must not
   be closed until every sync is finished. */
struct mail_index_commit_sync;
int mail_index_transaction_commit_async(struct mail_index_transaction **t,
					struct mail_index_commit_sync **sync_r)
	ATTR_WARN_UNUSED;
/* The group fdatasync() of a commit. Thread-safe: touches no SQLite, no
   data stack, no events or log. */
void mail_index_commit_sync_run(struct mail_index_commit_sync *sync);
/* After run (ioloop thread): announces the change. Returns 0, or -1 with
   the index error set (the commit is visible but may not be durable: do
   not acknowledge it). Exits the process if fdatasync() failed. Sets
   *sync to NULL. */
int mail_index_commit_sync_finish(struct mail_index_commit_sync **sync)
	ATTR_WARN_UNUSED;

/* Make every commit of any process durable now (one group sync, shared
   with concurrent ones): e.g. before deleting blobs whose index rows an
   OPTIMIZED expunge removed. Blocks for one disk sync; no-op in NEVER
   mode. Returns 0 or -1. */
int mail_index_sync_all(struct mail_index *index) ATTR_WARN_UNUSED;
void mail_index_transaction_rollback(struct mail_index_transaction **t);

/* --- commit stamps ---
   A cross-process counter in the sync file ("<index>-sync", shared
   memory): every write COMMIT of any process counts itself before it
   takes effect (under SQLite's write lock) and again once it ended. A
   reader that knows nothing was committed since its last sync can skip
   the sync's read snapshot (its WAL read lock and queries) entirely.

   Take a stamp before reading a snapshot: every commit the stamp counts
   has ended, so the snapshot holds it. Returns 0 (no stamp: never
   "unchanged") while a commit is between its two counts, inside a
   transaction or snapshot of this handle, or without the shared file
   (it could not be mapped; fsync mode NEVER maps it for the counters
   too). No system call. */
uint64_t mail_index_get_commit_stamp(struct mail_index *index);
/* True if no process has begun a commit since stamp was taken: what a
   snapshot read then would find is what the stamped one found. False
   for stamp 0. No system call. */
bool mail_index_unchanged_since(struct mail_index *index, uint64_t stamp);
/* After a commit of this handle: the stamp a reader that was current
   at prev_stamp may take if it applies that commit's changes itself,
   because no other commit came between (prev_stamp's and this one's
   tickets are consecutive). 0 otherwise (it must read). */
uint64_t mail_index_get_own_commit_stamp(struct mail_index *index,
					 uint64_t prev_stamp);
/* The modseq the transaction gives changes in mailbox_id, or 0 if it has
   changed nothing there. */
uint64_t mail_index_transaction_get_modseq(struct mail_index_transaction *t,
					   uint32_t mailbox_id);

struct mail_index_search_fields;
struct mail_index_new_message {
	enum mail_flags flags;
	/* NULL-terminated, may be NULL */
	const char *const *keywords;
	time_t internal_date;
	/* minutes east of UTC */
	int internal_tz;
	/* the Date: header (0 if none) */
	time_t sent_date;
	int sent_tz;
	/* 0 = now */
	time_t save_date;
	uint64_t physical_size;
	uint64_t rfc822_size;
	/* 32 hex digits: the message's GUID (kept by copies) */
	const char *guid;
	const char *blob_key;
	/* cached fields, may be NULL */
	const char *envelope, *bodystructure, *body;
	/* commonly fetched header fields, raw */
	const void *headers;
	size_t headers_size;
	/* the serialized MIME part tree */
	const void *parts;
	size_t parts_size;
	/* SEARCH's form of the header fields (message_search), may be
	   NULL: filled by the first SEARCH that needs it */
	const struct mail_index_search_fields *search_fields;
};

/* Insert a message under uid, which must belong to res (a reservation of
   this mailbox). Returns 1 on success, 0 if a lower UID reservation of the
   mailbox is still pending elsewhere (roll back, retry later), -1 on
   error (UNAVAILABLE if res was dropped as stale, NOTFOUND if the mailbox
   was deleted). */
int mail_index_append(struct mail_index_transaction *t,
		      struct mail_index_reservation *res, uint32_t uid,
		      const struct mail_index_new_message *msg)
	ATTR_WARN_UNUSED;
/* 1 with *uid_r if the mailbox holds a message with this GUID (the
   lowest UID if several do), 0 if not, -1 on error. One query that
   scans the mailbox's rows (no index on guid): for recovery paths. */
int mail_index_message_guid_uid(struct mail_index *index,
				uint32_t mailbox_id, const char *guid,
				uint32_t *uid_r)
	ATTR_WARN_UNUSED;
/* 1 if the mailbox holds a message with this GUID, 0 if not, -1 on
   error (mail_index_message_guid_uid()). */
int mail_index_message_guid_exists(struct mail_index *index,
				   uint32_t mailbox_id, const char *guid)
	ATTR_WARN_UNUSED;
/* A hint, read without the write lock: 1 if a lower reservation than
   these (of a live writer) is pending, so that a commit now would only
   have to wait; 0 if not; -1 on error. Lets a waiting writer poll without
   taking the lock other writers need. */
int mail_index_reservations_pending(struct mail_index *index,
				    struct mail_index_reservation *const *res,
				    unsigned int count) ATTR_WARN_UNUSED;
/* The same, not counting the reservations in except (those of other
   transactions that a group commit is about to commit with these). */
int mail_index_reservations_pending_except(struct mail_index *index,
	struct mail_index_reservation *const *res, unsigned int count,
	struct mail_index_reservation *const *except, unsigned int except_count)
	ATTR_WARN_UNUSED;
/* Insert a message under a UID of the caller's choosing: for import
   (keeping another server's UIDs) and rebuild only. uid must be at or
   above the mailbox's UIDNEXT. Returns 1, 0 if a reservation of the
   mailbox is pending (wait, as for append), -1 on error (PARAMS for a
   UID below UIDNEXT). */
int mail_index_append_uid(struct mail_index_transaction *t,
			  uint32_t mailbox_id, uint32_t uid,
			  const struct mail_index_new_message *msg)
	ATTR_WARN_UNUSED;
/* Whether rows for all of these reservations can be inserted now (a group
   commit checks each storage transaction this way before its appends):
   claims them and checks that no lower reservation of their mailboxes is
   pending elsewhere. Returns 1 (appends under them will not wait), 0 if
   they must wait (nothing changed), -1 on error (UNAVAILABLE: one was
   dropped as stale; nothing changed). */
int mail_index_reservations_ready(struct mail_index_transaction *t,
				  struct mail_index_reservation *const *res,
				  unsigned int count) ATTR_WARN_UNUSED;
/* Copy the message src_uid of src_mailbox_id to res's mailbox under
   dest_uid (from res), with its flags, keywords (defined in the
   destination as needed), dates, sizes, GUID and cache, and its own blob
   dest_blob_key. Returns 1, 0 (wait, as for append), or -1;
   EXPUNGED if the source message no longer exists. */
int mail_index_copy(struct mail_index_transaction *t,
		    uint32_t src_mailbox_id, uint32_t src_uid,
		    struct mail_index_reservation *res, uint32_t dest_uid,
		    const char *dest_blob_key) ATTR_WARN_UNUSED;

/* Expunge the messages in uids (all of them, or only those with \Deleted)
   and queue their blobs for deletion. expunged_r (may be NULL) gets the
   UIDs actually expunged. */
int mail_index_expunge(struct mail_index_transaction *t, uint32_t mailbox_id,
		       const ARRAY_TYPE(seq_range) *uids, bool only_deleted,
		       ARRAY_TYPE(seq_range) *expunged_r) ATTR_WARN_UNUSED;

enum mail_index_modify_type {
	MAIL_INDEX_MODIFY_ADD,
	MAIL_INDEX_MODIFY_REMOVE,
	MAIL_INDEX_MODIFY_REPLACE,
};

struct mail_index_flag_update {
	enum mail_index_modify_type type;
	enum mail_flags flags;
	/* NULL-terminated, may be NULL */
	const char *const *keywords;
	/* CONDSTORE UNCHANGEDSINCE (0 is a valid value, hence the bool) */
	bool unchangedsince_set;
	uint64_t unchangedsince;
};

/* Change flags and keywords of the messages in uids. A message whose
   modseq is above unchangedsince is left alone and added to modified_r
   (for the MODIFIED response code). Messages whose flags really change
   get the transaction's modseq and go to changed_r. Both may be NULL. */
int mail_index_update_flags(struct mail_index_transaction *t,
			    uint32_t mailbox_id,
			    const ARRAY_TYPE(seq_range) *uids,
			    const struct mail_index_flag_update *update,
			    ARRAY_TYPE(seq_range) *modified_r,
			    ARRAY_TYPE(seq_range) *changed_r)
	ATTR_WARN_UNUSED;
/* A message's flags as mail_index_update_flags_results() left them. */
struct mail_index_flag_result {
	uint32_t uid;
	/* the flags now */
	enum mail_flags flags;
	/* the message's modseq before this update (if changed, the new one
	   is the transaction's) */
	uint64_t old_modseq;
	/* this update changed the message (it is in changed_r) */
	bool changed;
	/* its keywords changed too (the result does not carry them) */
	bool keywords_changed;
};
ARRAY_DEFINE_TYPE(mail_index_flag_result, struct mail_index_flag_result);
/* The same, and in results_r each message the update applied to (not
   those in modified_r), changed or not, with its flags and its modseq
   before the update: for a caller that applies its own change to a view
   instead of reading it back, and tells which messages something else
   changed since its view was read. */
int mail_index_update_flags_results(struct mail_index_transaction *t,
				    uint32_t mailbox_id,
				    const ARRAY_TYPE(seq_range) *uids,
				    const struct mail_index_flag_update *update,
				    ARRAY_TYPE(seq_range) *modified_r,
				    ARRAY_TYPE(seq_range) *changed_r,
				    ARRAY_TYPE(mail_index_flag_result) *results_r)
	ATTR_WARN_UNUSED;

/* Cached fields filled in after the append (a builder that was not there
   at save time). Needs no transaction; does not change the modseq. NULL
   fields are left as they are. */
struct mail_index_cache_update {
	const char *envelope, *bodystructure, *body;
	const void *headers;
	size_t headers_size;
	const void *parts;
	size_t parts_size;
};
int mail_index_cache_update(struct mail_index *index, uint32_t mailbox_id,
			    uint32_t uid,
			    const struct mail_index_cache_update *update)
	ATTR_WARN_UNUSED;

/* --- reading messages --- */

enum mail_index_fetch_fields {
	/* uid, flags, keywords and modseq are always filled */
	MAIL_INDEX_FETCH_DETAILS = 0x01,	/* dates, sizes, guid, blob key */
	MAIL_INDEX_FETCH_CACHE = 0x02,		/* cached fields */
	/* of the cached fields only headers (for SEARCH's header keys);
	   implies DETAILS */
	MAIL_INDEX_FETCH_CACHE_HEADERS = 0x04,
};

struct mail_index_record {
	uint32_t uid;
	enum mail_flags flags;
	/* NULL-terminated, NULL if none */
	const char *const *keywords;
	uint64_t modseq;

	time_t internal_date;
	int internal_tz;
	time_t sent_date;
	int sent_tz;
	time_t save_date;
	uint64_t physical_size;
	uint64_t rfc822_size;
	const char *guid;
	const char *blob_key;

	const char *envelope, *bodystructure, *body;
	const unsigned char *headers;
	size_t headers_size;
	const unsigned char *parts;
	size_t parts_size;
};
ARRAY_DEFINE_TYPE(mail_index_record, struct mail_index_record);

/* The records of uids (NULL = all) in UID order, strings from pool. */
int mail_index_fetch(struct mail_index *index, uint32_t mailbox_id,
		     const ARRAY_TYPE(seq_range) *uids,
		     enum mail_index_fetch_fields fields, pool_t pool,
		     ARRAY_TYPE(mail_index_record) *records)
	ATTR_WARN_UNUSED;
/* The UIDs of the mailbox's messages, ascending (the cheapest listing). */
int mail_index_get_uids(struct mail_index *index, uint32_t mailbox_id,
			ARRAY_TYPE(mail_uid) *uids) ATTR_WARN_UNUSED;

/* What SELECT needs, read as one snapshot: the mailbox's state and every
   message's UID, flags, keywords and modseq in UID order. A mailbox's
   list is kept packed in a blob as of some modseq (refreshed here when
   enough has changed since), so this reads one blob plus the rows
   changed after it rather than stepping through every row: about
   twenty times cheaper for a large mailbox. */
struct mail_index_flags_rec {
	uint32_t uid;
	enum mail_flags flags;
	uint64_t modseq;
	/* NULL-terminated, NULL if none */
	const char *const *keywords;
};
ARRAY_DEFINE_TYPE(mail_index_flags_rec, struct mail_index_flags_rec);

struct mail_index_select {
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	ARRAY_TYPE(mail_index_flags_rec) messages;
};

/* Returns 1, 0 if the mailbox does not exist (or is \Noselect), -1 on
   error. The arrays and strings come from pool. */
int mail_index_mailbox_select(struct mail_index *index, uint32_t mailbox_id,
			      pool_t pool, struct mail_index_select *select_r)
	ATTR_WARN_UNUSED;

/* --- search over indexed fields --- */

enum mail_index_search_type {
	/* every message */
	MAIL_INDEX_SEARCH_ALL,
	/* value.uids */
	MAIL_INDEX_SEARCH_UIDSET,
	/* all of value.flags set */
	MAIL_INDEX_SEARCH_FLAGS,
	/* value.str set */
	MAIL_INDEX_SEARCH_KEYWORD,
	/* value.day: days since 1970-01-01 of the date, compared with the
	   message's date in its own zone (BEFORE, ON, SINCE) */
	MAIL_INDEX_SEARCH_BEFORE,
	MAIL_INDEX_SEARCH_ON,
	MAIL_INDEX_SEARCH_SINCE,
	MAIL_INDEX_SEARCH_SENTBEFORE,
	MAIL_INDEX_SEARCH_SENTON,
	MAIL_INDEX_SEARCH_SENTSINCE,
	/* RFC 8514, save date in UTC */
	MAIL_INDEX_SEARCH_SAVEDBEFORE,
	MAIL_INDEX_SEARCH_SAVEDON,
	MAIL_INDEX_SEARCH_SAVEDSINCE,
	/* value.time: internal date < / >= the time (OLDER, YOUNGER) */
	MAIL_INDEX_SEARCH_INTERNAL_TIME_BEFORE,
	MAIL_INDEX_SEARCH_INTERNAL_TIME_SINCE,
	/* value.size: RFC822.SIZE > / < */
	MAIL_INDEX_SEARCH_LARGER,
	MAIL_INDEX_SEARCH_SMALLER,
	/* value.modseq: modseq >= */
	MAIL_INDEX_SEARCH_MODSEQ,
	/* value.str: the message GUID (EMAILID) */
	MAIL_INDEX_SEARCH_GUID,
	/* value.subargs: all / any of them */
	MAIL_INDEX_SEARCH_AND,
	MAIL_INDEX_SEARCH_OR,
};

struct mail_index_search_arg {
	struct mail_index_search_arg *next;
	enum mail_index_search_type type;
	/* negate the result */
	bool not;
	union {
		const ARRAY_TYPE(seq_range) *uids;
		enum mail_flags flags;
		const char *str;
		int64_t day;
		time_t time;
		uint64_t size;
		uint64_t modseq;
		struct mail_index_search_arg *subargs;
	} value;
};

/* SEARCH's form of a message's Subject, From, To, Cc and Bcc (lib-mail's
   message-search-fields.h, whose enum gives the order), kept per message
   so that SEARCH on them reads a short row and folds nothing. */
#define MAIL_INDEX_SEARCH_FIELD_COUNT 5
struct mail_index_search_fields {
	/* message_search_fields_version() of the form */
	uint32_t version;
	/* per field its values, NUL-separated; NULL = no such field
	   (an empty value is "" with size 0) */
	const unsigned char *values[MAIL_INDEX_SEARCH_FIELD_COUNT];
	size_t sizes[MAIL_INDEX_SEARCH_FIELD_COUNT];
};
struct mail_index_search_fields_rec {
	uint32_t uid;
	struct mail_index_search_fields fields;
};
ARRAY_DEFINE_TYPE(mail_index_search_fields_rec,
		  struct mail_index_search_fields_rec);

/* The stored search fields of the messages in uids (NULL = all), in UID
   order, copied into pool: only the rows of this version (a message
   without one, saved before the table existed or folded with other
   Unicode data, is missing from recs_r), and of each row only the fields
   whose bit (1 << field) is in field_mask (the others NULL). */
int mail_index_search_fields_read(struct mail_index *index,
				  uint32_t mailbox_id,
				  const ARRAY_TYPE(seq_range) *uids,
				  uint32_t version, unsigned int field_mask,
				  pool_t pool,
				  ARRAY_TYPE(mail_index_search_fields_rec) *recs_r)
	ATTR_WARN_UNUSED;
/* Store the search fields of messages that had none (or an old version),
   in one write transaction that does not wait for the lock: it is only a
   cache, so when another writer holds the lock, or a transaction is open
   on this connection, nothing is stored and 0 is returned. Messages
   expunged meanwhile are skipped. Returns the number of rows stored, or
   -1 on error. */
int mail_index_search_fields_store(struct mail_index *index,
				   uint32_t mailbox_id,
				   const struct mail_index_search_fields_rec *recs,
				   unsigned int count) ATTR_WARN_UNUSED;

/* UIDs of the messages matching every arg of the list args (ascending).
   highest_modseq_r (may be NULL) gets the highest modseq among them (0 if
   none), for SEARCH's (MODSEQ n). */
int mail_index_search(struct mail_index *index, uint32_t mailbox_id,
		      const struct mail_index_search_arg *args,
		      ARRAY_TYPE(mail_uid) *uids_r, uint64_t *highest_modseq_r)
	ATTR_WARN_UNUSED;

/* --- changes --- */

enum mail_index_change_type {
	/* appends, flag and keyword changes: no longer logged (a message's
	   modseq tells them: mail_index_mailbox_get_changes()); an index
	   written by an earlier build may hold such entries until they are
	   pruned */
	MAIL_INDEX_CHANGE_APPEND = 1,
	MAIL_INDEX_CHANGE_FLAGS = 2,
	MAIL_INDEX_CHANGE_EXPUNGE = 3,
	MAIL_INDEX_CHANGE_MAILBOX_CREATE = 10,
	MAIL_INDEX_CHANGE_MAILBOX_DELETE = 11,
	MAIL_INDEX_CHANGE_MAILBOX_RENAME = 12,
	MAIL_INDEX_CHANGE_SUBSCRIPTIONS = 13,
	MAIL_INDEX_CHANGE_MAILBOX_ATTRS = 14,
};

struct mail_index_change {
	/* ascending over the whole index */
	uint64_t id;
	uint32_t mailbox_id;
	/* the mailbox's modseq of the change (0 for subscriptions) */
	uint64_t modseq;
	enum mail_index_change_type type;
	/* the UID range changed (0 for mailbox-level changes) */
	uint32_t uid1, uid2;
};
ARRAY_DEFINE_TYPE(mail_index_change, struct mail_index_change);

/* The id of the newest change-log entry (0 if none). */
int mail_index_get_last_change_id(struct mail_index *index, uint64_t *id_r)
	ATTR_WARN_UNUSED;
/* Change-log entries after after_id, ascending, at most limit (0 = no
   limit). */
int mail_index_get_changes(struct mail_index *index, uint64_t after_id,
			   unsigned int limit,
			   ARRAY_TYPE(mail_index_change) *changes)
	ATTR_WARN_UNUSED;

/* What changed in a mailbox since a modseq, read as one snapshot: for
   IDLE/NOOP (EXISTS, EXPUNGE, FETCH FLAGS) and QRESYNC (VANISHED). */
struct mail_index_mailbox_changes {
	/* the mailbox now */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	/* messages with modseq > since (new ones and changed ones), by
	   UID; only the always-filled fields */
	ARRAY_TYPE(mail_index_record) records;
	/* UIDs expunged with modseq > since */
	ARRAY_TYPE(seq_range) expunged;
	/* since is older than the pruned part of the change log
	   (mail_index_changes_prune()): expunged holds every UID below
	   uidnext that is not in the mailbox, the full answer RFC 7162
	   allows (it may name UIDs that never existed) */
	bool expunged_all_missing;
};

/* Returns 1, or 0 if the mailbox no longer exists. changes_r's arrays
   are allocated from pool. */
int mail_index_mailbox_get_changes(struct mail_index *index,
				   uint32_t mailbox_id, uint64_t since_modseq,
				   pool_t pool,
				   struct mail_index_mailbox_changes *changes_r)
	ATTR_WARN_UNUSED;

/* --- change-log pruning ---
   The change log would grow forever; old entries are pruned on a policy.
   Appends need no log to be answered (the messages carry their modseq;
   flag changes are not even logged); expunges do, so each mailbox remembers the highest
   modseq of a pruned expunge entry, and a request for changes since an
   older modseq gets every missing UID instead (expunged_all_missing
   above). Mailbox-level entries (create, delete, rename...) are pruned
   by the same rule: a watcher whose last seen id is at or below
   mail_index_get_changes_pruned_id() must re-read the mailbox list. */
struct mail_index_prune_settings {
	/* entries older than this go (0 = no age limit) */
	unsigned int max_age_secs;
	/* at most this many entries are kept for the user, the newest
	   (0 = no count limit) */
	unsigned int max_changes;
	/* do nothing if any process pruned less than this long ago */
	unsigned int min_interval_secs;
	/* delete at most this many entries per call, so a call stays
	   short (0 = 5000) */
	unsigned int batch;
};

/* Prune in one short write transaction. *pruned_r gets the number of
   entries deleted; if it equals the batch, more are due (call again
   soon). Returns 0 or -1. Blocks (local disk, one commit). */
int mail_index_changes_prune(struct mail_index *index,
			     const struct mail_index_prune_settings *set,
			     unsigned int *pruned_r) ATTR_WARN_UNUSED;
/* Change-log ids at or below *id_r have been pruned (0 if none). */
int mail_index_get_changes_pruned_id(struct mail_index *index,
				     uint64_t *id_r) ATTR_WARN_UNUSED;

/* --- blob deletions ---
   Expunged messages' and deleted mailboxes' blob keys wait in a queue
   until the blob store confirms their deletion: a process that dies
   between the index commit and the blob delete leaves them queued for the
   next one. */
int mail_index_blob_deletions_get(struct mail_index *index,
				  unsigned int limit, pool_t pool,
				  ARRAY_TYPE(mail_string) *keys)
	ATTR_WARN_UNUSED;
int mail_index_blob_deletions_done(struct mail_index *index,
				   const char *const *keys, unsigned int count)
	ATTR_WARN_UNUSED;

/* --- change notification ---
   After each commit the writer rewrites the small file "<path>-notify"
   with the newest change id; a watcher sees that with inotify on the
   ioloop and calls its callback (at most once per loop round, whatever
   the number of commits), typically within a millisecond. The callback
   then reads the change log (mail_index_get_changes()) from the last id
   it saw. The watcher's own process's commits are announced too. */
struct mail_index_notify;
typedef void mail_index_notify_callback_t(void *context);

/* Watch index's notify file: callback(context) runs from the current
   ioloop after changes (once per loop round for any number of them).
   Every watcher of the process shares one inotify instance and each
   notify file one inotify watch, however many watchers it has (sessions
   of one user, any mailbox, the same index opened twice): 10,000 IDLE
   sessions need one instance and a watch per user. If the file is
   replaced or removed, its watchers move to the new file and are called
   back once; if it cannot be watched again they are called back every
   second until it can. Callbacks may deinit any watcher, including
   their own, and init new ones; they must not run the ioloop. The
   watcher keeps its own copy of the path: the index may be closed
   first. Returns -1 with *error_r (naming fs.inotify.max_user_instances
   or max_user_watches when those are the cause) if inotify fails. */
int mail_index_notify_init(struct mail_index *index,
			   mail_index_notify_callback_t *callback,
			   void *context, struct mail_index_notify **notify_r,
			   const char **error_r) ATTR_WARN_UNUSED;
/* Stop watching; the file's last watcher removes its inotify watch, the
   process's last watcher closes the inotify instance. */
void mail_index_notify_deinit(struct mail_index_notify **notify);
struct mail_index_notify_stats {
	/* inotify instances (0 or 1), watchers, kernel watches held, and
	   watches lost (file replaced, not watchable again yet) */
	unsigned int instances, watchers, watches, lost_watches;
};
/* The process-wide registry's figures (tests, diagnostics). */
void mail_index_notify_get_stats(struct mail_index_notify_stats *stats_r);
/* Block until a change is committed (or a reservation released) by any
   process, or timeout_msecs pass. Returns 1 if something changed, 0 on
   timeout. For writers waiting for a lower UID without an ioloop: changes
   made before the first call may not wake it, so wait with a timeout. */
int mail_index_wait_change(struct mail_index *index,
			   unsigned int timeout_msecs);

#endif
