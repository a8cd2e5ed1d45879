/* Mail storage: a user's mail on top of the per-user index (lib-index)
   and the blob store (lib-blob). Each message is one immutable blob
   holding the raw message, with metadata enough to rebuild the index
   from the blobs alone (mail-blob-meta.h); flags, keywords and modseqs
   live in the index.

   Durability: a save writes the blob first; only when the blob store says
   it is durable does the index row commit (fsync), and only then is the
   save acknowledged. A crash in between leaves at most an unreferenced
   blob, which is harmless. Expunge is the reverse: the index row goes
   first, the blob after (a queue in the index remembers blobs whose
   deletion has not been confirmed).

   Modes: a transaction is asynchronous (blob I/O in the blob store's
   worker threads, callbacks from the ioloop, index commits of concurrent
   transactions grouped into one fsync) or synchronous (every call blocks;
   no ioloop needed: tools, import, tests). Index calls always block on
   the local disk.

   Errors: -1 returns put the error in mail_user_get_last_error() (an
   enum, a client-safe text, an internal text already logged). */
#ifndef COLUMBA_MAIL_STORAGE_H
#define COLUMBA_MAIL_STORAGE_H

#include "mail-index.h"

struct blob_store;
struct event;
struct mail_user;
struct mailbox;
struct mailbox_transaction;
struct mail_save_context;
struct mail_section_stream;
struct message_part;

/* --- user --- */

struct mail_user_settings {
	/* for logs */
	const char *username;
	/* the index database, e.g. HOME/index.db */
	const char *index_path;
	/* the blob store, e.g. "posix:HOME/blobs" */
	const char *blob_spec;
	/* the user's blob keys start with this and '/' (default "mail") */
	const char *blob_prefix;
	/* passed to the index (0 = its defaults) */
	unsigned int index_busy_timeout_msecs;
	unsigned int reservation_steal_secs;
	/* mail_fsync (see enum mail_index_fsync_mode; default optimized) */
	enum mail_index_fsync_mode fsync_mode;
	struct event *event_parent;
	/* Change-log pruning (see mail_index_changes_prune()): entries older
	   than this many seconds, and beyond this many, are pruned from a
	   timer while the user is open in a process with an ioloop (first
	   after a minute, then at most hourly per user across processes,
	   in batches). Both 0 = never. */
	unsigned int changes_max_age_secs;
	unsigned int changes_max_count;
	/* a new user's index is built apart until mail_user_create_finish()
	   (mail_index_settings.create_deferred) */
	bool index_create_deferred;
	/* quota (mail-quota.h): bytes and messages (0 = no limit), and the
	   grace a delivery may go over the storage limit */
	uint64_t quota_storage_limit, quota_messages_limit, quota_grace;
};

/* Opens the index and the blob store. Blocks. */
int mail_user_init(const struct mail_user_settings *set,
		   struct mail_user **user_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Every mailbox must be closed and every transaction finished. Sets
   *user to NULL. With a release hook set (below) the user may be kept
   open for reuse instead of closed; either way the caller is done with
   it. */
void mail_user_deinit(struct mail_user **user);

/* Keeping closed users open (src/mail/mail-user-cache.c). The hook is
   called for every user mail_user_deinit() closes, so that its owner
   can forget users it tracks; reusable is true when the user is idle
   (mail_user_is_idle()) and its last error was not an internal one
   (TEMP, UNAVAILABLE). It returns true if it took the user (only when
   reusable: the caller's pointer is cleared, nothing is closed). One
   hook per process, NULL to unset. */
typedef bool mail_user_release_hook_t(struct mail_user *user, bool reusable);
void mail_user_set_release_hook(mail_user_release_hook_t *hook);
/* Nothing in progress: no mailbox open, no transaction, queued commit
   or commit sync, no mailbox batch, not a new index still being built. */
bool mail_user_is_idle(struct mail_user *user);
/* A user taken by the hook, put aside: its errors cleared, its event
   detached from the session that ended (which can then be freed), its
   index's page cache and prepared statements given back; the
   connection and its parsed schema stay. Must be idle. */
void mail_user_detach(struct mail_user *user);
/* A user put aside handed to a new session: its event (and so the
   index's and the blob store's) logs under event_parent from now on.
   Nothing is re-read: each index call starts a new SQLite read
   snapshot, which sees every commit made meanwhile by any process. */
void mail_user_attach(struct mail_user *user, struct event *event_parent);
/* Close the user for good, bypassing the release hook (the hook's own
   owner evicting it). Same contract as mail_user_deinit(). */
void mail_user_destroy(struct mail_user **user);
/* True while a transaction of the user is not freed yet (a rolled-back
   one whose blob writes are still finishing counts): its mailbox must
   stay open and mail_user_deinit() must wait until this is false. */
bool mail_user_has_transactions(const struct mail_user *user);
struct mail_index *mail_user_get_index(struct mail_user *user);
struct blob_store *mail_user_get_blob_store(struct mail_user *user);
const char *mail_user_get_blob_prefix(struct mail_user *user);
struct event *mail_user_get_event(struct mail_user *user);
enum mail_error mail_user_get_last_error(struct mail_user *user,
					 const char **user_text_r,
					 const char **internal_text_r);

/* Mailbox list operations (see mail-index.h for their rules). Deleting a
   mailbox deletes its blobs after the index commit. */
int mail_user_mailbox_create(struct mail_user *user, const char *name,
			     enum mail_special_use special_use)
	ATTR_WARN_UNUSED;
int mail_user_mailbox_delete(struct mail_user *user, const char *name)
	ATTR_WARN_UNUSED;
int mail_user_mailbox_rename(struct mail_user *user, const char *old_name,
			     const char *new_name) ATTR_WARN_UNUSED;

int mail_user_mailbox_subscribe(struct mail_user *user, const char *name,
				bool subscribe) ATTR_WARN_UNUSED;
int mail_user_mailbox_set_special_use(struct mail_user *user, const char *name,
				      enum mail_special_use special_use)
	ATTR_WARN_UNUSED;
/* Several of mail_user_mailbox_create(), _subscribe() and
   _set_special_use() as one index transaction (mail_index_batch_begin()),
   the mailbox list blob written once at the commit: autocreate of a new
   user's mailboxes costs one commit instead of one per call. Nothing
   else may use the user's index inside the batch. */
int mail_user_mailbox_batch_begin(struct mail_user *user) ATTR_WARN_UNUSED;
int mail_user_mailbox_batch_commit(struct mail_user *user) ATTR_WARN_UNUSED;
void mail_user_mailbox_batch_rollback(struct mail_user *user);
/* For a user opened with index_create_deferred whose index was new:
   make it durable and put it in place (mail_index_create_finish()),
   then write the mailbox list blob, without a sync of its own (the
   index holds the same, durably; the blob is a rebuild's aid and
   reaches the disk with the next sync or the kernel's writeback).
   Nothing done before this may be acknowledged. Does nothing for a
   user whose index existed. Blocks. Returns 0, or -1 with the user's
   error set. */
int mail_user_create_finish(struct mail_user *user) ATTR_WARN_UNUSED;

/* Prune the change log now by the user's policy (for tools; sessions
   prune from a timer). *pruned_r gets the number of entries deleted.
   Blocks. */
int mail_user_prune_changes(struct mail_user *user, unsigned int *pruned_r)
	ATTR_WARN_UNUSED;

/* Delete the blobs the index has queued for deletion (expunged messages,
   deleted mailboxes) and confirm them to the index. Blocks. */
int mail_user_purge_blobs(struct mail_user *user, unsigned int *deleted_r)
	ATTR_WARN_UNUSED;

/* --- mailbox and its view ---
   An open mailbox has a view: the messages as the session last saw them,
   numbered 1..count (message sequence numbers). mailbox_sync() brings the
   view up to date with changes committed anywhere and reports them. */

int mailbox_open(struct mail_user *user, const char *name,
		 struct mailbox **box_r) ATTR_WARN_UNUSED;
/* A mailbox opened only to save into (LMTP delivery): its view is not
   read (it stays empty; do not sync, fetch or search through it), which
   saves a read of the mailbox's UID list per open and keeps a handle
   held open across deliveries small. Same errors as mailbox_open(). */
int mailbox_open_for_save(struct mail_user *user, const char *name,
			  struct mailbox **box_r) ATTR_WARN_UNUSED;
void mailbox_close(struct mailbox **box);
struct mail_user *mailbox_get_user(struct mailbox *box);
uint32_t mailbox_get_id(const struct mailbox *box);
const char *mailbox_get_name(const struct mailbox *box);
const char *mailbox_get_guid(const struct mailbox *box);

uint32_t mailbox_get_messages_count(const struct mailbox *box);
uint32_t mailbox_get_uidvalidity(const struct mailbox *box);
uint32_t mailbox_get_uidnext(const struct mailbox *box);
uint64_t mailbox_get_highestmodseq(const struct mailbox *box);
/* The view's record of message seq (1..count), or NULL. */
const struct mail_index_flags_rec *
mailbox_get_message(const struct mailbox *box, uint32_t seq);
/* The sequence number of the view's first message without \Seen, 0 if
   there is none. */
uint32_t mailbox_get_first_unseen_seq(const struct mailbox *box);
/* 0 if there is no such message in the view. */
uint32_t mailbox_seq_to_uid(const struct mailbox *box, uint32_t seq);
uint32_t mailbox_uid_to_seq(const struct mailbox *box, uint32_t uid);
/* Sequence set to UID set and back, over the view (numbers outside it
   are dropped). */
void mailbox_seqs_to_uids(const struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *seqs,
			  ARRAY_TYPE(seq_range) *uids);
void mailbox_uids_to_seqs(const struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *uids,
			  ARRAY_TYPE(seq_range) *seqs);

enum mailbox_sync_flags {
	/* Don't remove expunged messages from the view yet (during FETCH,
	   STORE, SEARCH an IMAP server may not send EXPUNGE); they are
	   reported by a later sync without this flag. */
	MAILBOX_SYNC_FLAG_NO_EXPUNGES = 0x01,
};

enum mailbox_sync_event_type {
	/* a message left the view: seq is its number just before (the
	   IMAP EXPUNGE response, in order) */
	MAILBOX_SYNC_EVENT_EXPUNGE,
	/* flags, keywords or modseq of a message in the view changed */
	MAILBOX_SYNC_EVENT_FLAGS,
};

struct mailbox_sync_event {
	enum mailbox_sync_event_type type;
	uint32_t seq, uid;
	/* FLAGS */
	enum mail_flags flags;
	const char *const *keywords;
	uint64_t modseq;
};
ARRAY_DEFINE_TYPE(mailbox_sync_event, struct mailbox_sync_event);

struct mailbox_sync_result {
	/* EXPUNGEs first (in the order to send them), then FLAGS */
	ARRAY_TYPE(mailbox_sync_event) events;
	/* the UIDs of the EXPUNGE events (QRESYNC's VANISHED) */
	ARRAY_TYPE(seq_range) expunged_uids;
	/* the count changed by new messages: send EXISTS */
	bool exists_changed;
	uint32_t messages_count;
	/* expunged messages stay in the view (MAILBOX_SYNC_FLAG_NO_EXPUNGES,
	   now or by an earlier sync): a later sync reports them */
	bool expunges_pending;
	/* the mailbox was deleted (or recreated with a new UIDVALIDITY):
	   the session must close it */
	bool mailbox_gone;
};

/* Bring the view up to date. Arrays come from pool. Returns 0, or -1 on
   error. */
int mailbox_sync(struct mailbox *box, enum mailbox_sync_flags flags,
		 pool_t pool, struct mailbox_sync_result *result_r)
	ATTR_WARN_UNUSED;

/* Call callback (from the ioloop) whenever the mailbox may have changed
   in any process: then mailbox_sync(). For IDLE. NULL callback stops. */
int mailbox_notify_changes(struct mailbox *box, void (*callback)(void *),
			   void *context) ATTR_WARN_UNUSED;

/* --- \Recent (IMAP4rev1, RFC 3501 §2.3.2) ---
   A message is \Recent to exactly one session: the first read-write
   session whose view has it (see mail_index_mailbox_claim_recent()). */

/* Take the view's messages that no read-write session has claimed:
   claimed for this session if claim (a read-write session), else only
   seen as recent (EXAMINE). Call after mailbox_open() and after each
   mailbox_sync(). Returns 0, or -1 with the error set (the recent set is
   then unchanged). */
int mailbox_recent_update(struct mailbox *box, bool claim) ATTR_WARN_UNUSED;
/* Whether the message uid is \Recent to this session. */
bool mailbox_is_recent(const struct mailbox *box, uint32_t uid);
/* The number of the view's messages that are \Recent to this session. */
uint32_t mailbox_get_recent_count(const struct mailbox *box);
/* The UIDs \Recent to this session (may name UIDs no longer in the
   view), or NULL if none. */
const ARRAY_TYPE(seq_range) *mailbox_get_recent_uids(const struct mailbox *box);

/* --- flags, expunge, search, fetch of records --- */

/* See mail_index_update_flags(); commits at once. external_r (may be
   NULL) gets the messages the update applied to that another commit
   changed since the view was last synced: their flags are not only this
   update's doing. */
int mailbox_update_flags(struct mailbox *box,
			 const ARRAY_TYPE(seq_range) *uids,
			 const struct mail_index_flag_update *update,
			 ARRAY_TYPE(seq_range) *modified_r,
			 ARRAY_TYPE(seq_range) *changed_r,
			 ARRAY_TYPE(seq_range) *external_r) ATTR_WARN_UNUSED;
/* Expunge (the index rows commit, then the blobs are deleted). uids NULL
   = every message. */
int mailbox_expunge(struct mailbox *box, const ARRAY_TYPE(seq_range) *uids,
		    bool only_deleted, ARRAY_TYPE(seq_range) *expunged_r)
	ATTR_WARN_UNUSED;
int mailbox_search(struct mailbox *box,
		   const struct mail_index_search_arg *args,
		   ARRAY_TYPE(mail_uid) *uids_r, uint64_t *highest_modseq_r)
	ATTR_WARN_UNUSED;
/* Records with the cached fields; a record whose cache is missing (after
   an index rebuild) gets it filled from its blob first (blocking). */
int mailbox_fetch_records(struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *uids,
			  enum mail_index_fetch_fields fields, pool_t pool,
			  ARRAY_TYPE(mail_index_record) *records)
	ATTR_WARN_UNUSED;

/* --- saving: APPEND, COPY, MOVE --- */

enum mailbox_transaction_flags {
	/* every call blocks until done; no ioloop needed */
	MAILBOX_TRANSACTION_FLAG_SYNC = 0x01,
	/* with SYNC, for bulk imports: the saves' blobs are not made
	   durable one by one; the commit makes all of them durable with
	   one blob_store_sync() before the index rows that point to them
	   commit (one index sync). A commit's success still means every
	   message of the transaction is on disk. */
	MAILBOX_TRANSACTION_FLAG_BULK = 0x02,
	/* Asynchronous saves whose messages the caller holds durably
	   elsewhere (the LMTP journal) until it has made them durable
	   itself. With a local blob store (mail_user_get_syncfs_targets()
	   returns true) the blobs are written without fsync()s and the
	   index rows commit without an fdatasync(), and without making
	   readers wait for one: the callback's success then means written
	   and visible, not on disk. A syncfs() of the filesystems
	   mail_user_get_syncfs_targets() names, started after the
	   callback, makes them durable; until it returns, a power failure
	   may lose the row, the blob, or leave the row pointing to a
	   missing or short blob, and the caller must be able to redo the
	   save (mailbox_verify_saved_blob()). Other stores (S3): as
	   without the flag. */
	MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC = 0x04,
	/* Saves replace a blob already under their key instead of failing
	   (a replay re-saving a message whose earlier, deferred save left
	   its blob but lost its index row: the UID, and so the key, may be
	   handed out again). */
	MAILBOX_TRANSACTION_FLAG_REPLACE_BLOBS = 0x08,
};

struct mail_transaction_commit_result {
	uint32_t uidvalidity;
	/* the new UIDs of saved and copied messages, in the order they were
	   saved (APPENDUID, and COPYUID's destination) */
	ARRAY_TYPE(mail_uid) uids;
	/* COPYUID's source UIDs, in the same order as their uids */
	ARRAY_TYPE(mail_uid) src_uids;
};

struct mailbox_transaction *
mailbox_transaction_begin(struct mailbox *box,
			  enum mailbox_transaction_flags flags);
/* Called once from the ioloop: ret 0 with result (valid during the call)
   once every message is durable and indexed, or -1 (the error is in
   mail_user_get_last_error(); nothing was committed). */
typedef void mailbox_transaction_callback_t(
	int ret, const struct mail_transaction_commit_result *result,
	void *context);
/* Commit when every save and copy is durable. The transaction is freed
   after the callback; *t is set to NULL at once. */
void mailbox_transaction_commit(struct mailbox_transaction **t,
				mailbox_transaction_callback_t *callback,
				void *context);
/* For a SYNC transaction: returns 0 with result_r filled from pool, or
   -1. */
int mailbox_transaction_commit_sync(struct mailbox_transaction **t,
				    pool_t pool,
				    struct mail_transaction_commit_result *result_r)
	ATTR_WARN_UNUSED;
/* Drop everything; blobs already written are deleted. */
void mailbox_transaction_rollback(struct mailbox_transaction **t);
/* Saves and copies of t whose blob is not durable yet. Each holds buffers
   (and a blob read for a copy): a command adding many messages keeps this
   bounded by waiting before it adds more. */
unsigned int
mailbox_transaction_get_pending(const struct mailbox_transaction *t);

/* Save one message. The UID is reserved here (the blob's metadata
   carries it). internal_date 0 = now. keywords may be NULL. Returns NULL
   with the error set if the UID cannot be reserved. */
struct mail_save_context *
mail_save_begin(struct mailbox_transaction *t, enum mail_flags flags,
		const char *const *keywords, time_t internal_date,
		int internal_tz);
/* Save under a UID of the caller's choosing (import keeping another
   server's UIDs): uid must be above every UID the mailbox has had; the
   commit fails (INUSE) if another process saves into the mailbox
   meanwhile. */
struct mail_save_context *
mail_save_begin_uid(struct mailbox_transaction *t, uint32_t uid,
		    enum mail_flags flags, const char *const *keywords,
		    time_t internal_date, int internal_tz);
/* mail_save_begin() with the message's GUID given (32 hex digits): a
   delivery journaled before it is saved keeps one GUID however many
   times it is replayed, so a replay can tell whether it was saved. */
struct mail_save_context *
mail_save_begin_guid(struct mailbox_transaction *t, enum mail_flags flags,
		     time_t internal_date, int internal_tz, const char *guid);
/* Append message bytes: they go to the blob and through the MIME parser
   as they come. Returns 0, or -1 if the save has failed (the commit will
   fail). Never blocks an async transaction; respect mail_save_is_full(). */
int mail_save_write(struct mail_save_context *ctx, const void *data,
		    size_t size);
/* True while the blob put holds as much as it wants: wait for the drained
   callback before writing more (back-pressure to the client). */
bool mail_save_is_full(struct mail_save_context *ctx);
void mail_save_set_drained_callback(struct mail_save_context *ctx,
				    void (*callback)(void *), void *context);
/* The message is complete: parse results are final and the blob is made
   durable. Returns -1 if the save already failed. *ctx is set to NULL
   (the transaction owns it). */
int mail_save_finish(struct mail_save_context **ctx) ATTR_WARN_UNUSED;

/* Whether the user's MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC saves are
   deferred (the blob store is a local directory that needs syncing). If
   so, *blob_fd_r is an fd on the blob store's filesystem (the store's:
   valid while the user is, dup() it to keep it) and *index_path_r the
   index database's path (valid while the user is): a syncfs() of the
   filesystems of both makes the user's deferred saves durable. */
bool mail_user_get_syncfs_targets(struct mail_user *user, int *blob_fd_r,
				  const char **index_path_r);
/* For a replay of a save whose bytes the caller holds (the LMTP
   journal): box has a message with guid, whose blob must be exactly
   data1 followed by data2 with its metadata. Reads the blob; if it is
   missing, short, different or without metadata (a power failure after
   a deferred save), writes it again under the same key with the
   metadata of its index row, durably. Returns 1 if it was rewritten, 0
   if it was intact (it may not be on disk yet: see
   mail_user_get_syncfs_targets()), -1 on error (NOTFOUND if there is no
   message with guid). Blocks. */
int mailbox_verify_saved_blob(struct mailbox *box, const char *guid,
			      const void *data1, size_t size1,
			      const void *data2, size_t size2)
	ATTR_WARN_UNUSED;

/* Copy (or move: the source is expunged when the transaction commits)
   message src_uid of src into the transaction's mailbox, with its own new
   blob. Returns 0, or -1 (EXPUNGED if the source is gone). */
int mail_copy(struct mailbox_transaction *t, struct mailbox *src,
	      uint32_t src_uid, bool move) ATTR_WARN_UNUSED;

/* --- fetching message content ---
   A section stream yields the bytes of BODY[section]<partial> with CRLF
   line ends. section is IMAP's: "" (whole message), "HEADER", "TEXT",
   "1.2", "1.2.MIME", "2.HEADER", "2.TEXT", "HEADER.FIELDS (A B)",
   "1.HEADER.FIELDS.NOT (A)". partial_size UINT64_MAX = to the end. */
struct mail_section_request {
	const char *section;
	uint64_t partial_offset;
	uint64_t partial_size;
};

/* Returns 0 with the stream, or -1 (EXPUNGED, or PARAMS for a section
   that does not exist in this message). An async stream reads the blob
   in the background (see mail_section_stream_read()); working out the
   ranges may read the message once, blocking, when its part tree is not
   cached. */
int mail_section_stream_open(struct mailbox *box, uint32_t uid,
			     const struct mail_section_request *req,
			     bool sync, struct mail_section_stream **stream_r)
	ATTR_WARN_UNUSED;
/* The number of bytes the stream yields: the literal's length. */
uint64_t mail_section_stream_get_size(const struct mail_section_stream *stream);
/* Returns 1 with data (valid until the next call), 0 if an async stream
   must wait (the callback follows), -1 at the end, -2 on error. */
int mail_section_stream_read(struct mail_section_stream *stream,
			     const unsigned char **data_r, size_t *size_r);
void mail_section_stream_set_callback(struct mail_section_stream *stream,
				      void (*callback)(void *), void *context);
void mail_section_stream_close(struct mail_section_stream **stream);
/* The whole section in memory (tests, small sections). Blocks. */
int mail_fetch_section_sync(struct mailbox *box, uint32_t uid,
			    const struct mail_section_request *req,
			    buffer_t *dest) ATTR_WARN_UNUSED;

/* --- rebuild ---
   Recreate the index at index_path (which must not exist) from the blobs
   under prefix "/" alone: mailboxes (names, GUIDs, UIDVALIDITY; the
   newest mailbox list the store holds, else the names in the messages'
   metadata), messages with their UIDs, flags and keywords as saved,
   dates and sizes. Cached fields are filled again on first fetch. Blocks.
   *count_r (may be NULL) gets the number of messages indexed. */
int mail_index_rebuild(const char *index_path, struct blob_store *store,
		       const char *prefix, unsigned int *count_r,
		       const char **error_r) ATTR_WARN_UNUSED;

#endif
