/* Internals shared by the storage's source files: the user, mailbox,
   transaction and save structs, error helpers, the group-commit queue and
   the MIME parse used by save, fetch and rebuild. */
#ifndef COLUMBA_MAIL_STORAGE_PRIVATE_H
#define COLUMBA_MAIL_STORAGE_PRIVATE_H

#include "mail-storage.h"
#include "blob.h"
#include "mail-quota.h"

struct timeout;
struct mail_index_notify;

#define MAIL_USER_DEFAULT_BLOB_PREFIX "mail"
/* a group commit that must wait for a lower UID retries this soon */
#define MAIL_COMMIT_RETRY_MSECS 2

struct mail_user {
	pool_t pool;
	char *username, *blob_prefix;
	struct event *event;
	struct mail_index *index;
	struct blob_store *blobs;
	struct mail_error_state error;

	/* async transactions whose blobs are durable, waiting for the next
	   group commit */
	ARRAY(struct mailbox_transaction *) commit_queue;
	struct timeout *commit_timeout;
	unsigned int open_mailboxes, open_transactions;
	/* group commits whose sync runs in a worker thread (mail-save.c) */
	unsigned int commit_syncs;
	/* this user counts in the users of the sync worker pool */
	bool commit_sync_workers;

	/* change-log pruning from a timer (mail-user.c) */
	struct mail_index_prune_settings prune_set;
	struct timeout *prune_timeout;
	/* quota limits (mail-quota.c) */
	struct mail_quota_limits quota;
};

struct mailbox {
	struct mail_user *user;
	pool_t pool;
	uint32_t id;
	char *name, *guid;

	/* the view */
	pool_t view_pool;
	/* the view's keyword lists, interned: "kw1\001kw2" -> list in
	   view_pool. A flag change reuses the list its combination already
	   has, so view_pool grows with the distinct combinations, not with
	   every change. Created on first use. */
	struct hash_table *view_keywords;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	/* the index's commit stamp the view is current at (0 = unknown):
	   while no commit comes after it, a sync need not read
	   (mail_index_unchanged_since()) */
	uint64_t sync_stamp;
	/* when the view last read the index (ioloop_msecs_monotonic()):
	   the stamp is trusted for MAILBOX_SYNC_STAMP_MAX_MSECS after it */
	uint64_t sync_read_msecs;
	ARRAY_TYPE(mail_index_flags_rec) view;
	/* while set, view is this list shared with other sessions of the
	   process, read-only (mail-index-select.h): whatever changes view
	   calls mailbox_view_unshare() first (mailbox_sync() does) */
	struct mail_index_select_view *view_shared;
	/* expunged, still in the view (synced with NO_EXPUNGES) */
	ARRAY_TYPE(seq_range) pending_expunges;
	/* IMAP4rev1 \Recent: UIDs recent to this session (mailbox-recent.c;
	   created on first use) */
	ARRAY_TYPE(seq_range) recent_uids;
	/* the first unclaimed \Recent UID read with the view by
	   mailbox_open(), for the first mailbox_recent_update() (0 = none) */
	uint32_t open_first_recent_uid;
	/* the UIDNEXT recent_uids was last brought up to (0 = never): below
	   it nothing can become recent to this session any more */
	uint32_t recent_uidnext;

	struct mail_index_notify *notify;
	void (*notify_callback)(void *);
	void *notify_context;
	/* while notified (IDLE): closes the index's connection once the
	   session has been idle a while (mailbox.c) */
	struct timeout *idle_suspend_to;
	/* suspend attempts that found the index busy, for the back-off */
	unsigned int idle_suspend_retries;
};

/* The cached fields of a parsed message (mail-parse.c). */
struct mail_parse_result {
	const char *envelope, *bodystructure, *body;
	buffer_t *parts;
	string_t *headers;
	time_t sent_date;
	int sent_tz;
	uint64_t rfc822_size;
	/* SEARCH's form of the header fields SEARCH SUBJECT/FROM/... use */
	struct mail_index_search_fields search_fields;
};
struct mail_save_context {
	struct mailbox_transaction *t;
	struct mail_index_reservation *res;
	uint32_t uid;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	char *blob_key;

	enum mail_flags flags;
	const char **keywords;
	time_t internal_date, save_date, sent_date;
	int internal_tz, sent_tz;
	uint64_t size;

	struct blob_put *put;
	void (*drained_callback)(void *);
	void *drained_context;

	/* the MIME parse running over the bytes as they are written, and
	   its results for the index row */
	struct mail_parse_ctx *parse;
	struct mail_parse_result parsed;

	/* copy: the source and its blob being streamed into put */
	bool is_copy, move;
	uint32_t src_mailbox_id, src_uid;
	struct blob_get *src_get;

	bool finished, put_done, put_failed, blob_written;
};

struct mailbox_transaction {
	struct mailbox *box;
	pool_t pool;
	enum mailbox_transaction_flags flags;
	ARRAY(struct mail_save_context *) saves;
	unsigned int puts_pending;
	bool commit_requested, failed, queued;
	/* MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC, and the store can */
	bool deferred_sync;
	/* an asynchronous commit found another writer's lower UID pending:
	   later flushes check for that before taking the write lock */
	bool commit_waited;
	mailbox_transaction_callback_t *callback;
	void *context;
	struct mail_error_state error;
	/* counted against the user's quota until the index COMMIT that
	   makes the rows count instead (mail-quota.h) */
	struct mail_quota_reservation *quota;
};

static inline bool mailbox_transaction_is_sync(const struct mailbox_transaction *t)
{
	return (t->flags & MAILBOX_TRANSACTION_FLAG_SYNC) != 0;
}

/* Make box->view the session's own (a copy in view_pool) if it is a list
   shared with other sessions; call before changing it (mailbox.c). */
void mailbox_view_unshare(struct mailbox *box);

/* Errors. */
int mail_user_set_error(struct mail_user *user, enum mail_error error,
			const char *user_text);
int mail_user_set_internal_error(struct mail_user *user, enum mail_error error,
				 const char *fmt, ...) ATTR_FORMAT(3, 4);
/* Copy the index's last error to the user. Returns -1. */
int mail_user_set_index_error(struct mail_user *user);
/* A blob store failure, mapped to a storage error. Returns -1. */
int mail_user_set_blob_error(struct mail_user *user, const char *what,
			     const struct blob_result *result);
void mail_transaction_set_blob_error(struct mailbox_transaction *t,
				     const char *what,
				     const struct blob_result *result);

/* After expunges in a mailbox: record its UIDNEXT in the blob store, so
   an index rebuilt from blobs does not reuse expunged UIDs. Best effort,
   blocking (mail-user.c). */
void mail_user_write_uidnext(struct mail_user *user, uint32_t mailbox_id);

/* Group commit (mail-save.c). */
void mail_user_commit_queue_add(struct mail_user *user,
				struct mailbox_transaction *t);
void mail_user_commit_queue_deinit(struct mail_user *user);

struct mail_parse_ctx;
struct mail_parse_ctx *mail_parse_begin(pool_t pool);
void mail_parse_feed(struct mail_parse_ctx *ctx, const void *data, size_t size);
/* The results, from the pool given to begin; the context is freed. */
struct message_part *mail_parse_finish(struct mail_parse_ctx **ctx,
				       struct mail_parse_result *result_r);
void mail_parse_abort(struct mail_parse_ctx **ctx);

/* Parse the message in its blob (blocking) and fill the index's cached
   fields; returns its part tree from pool (mail-fetch.c). */
int mail_fill_cache(struct mailbox *box, uint32_t uid, const char *blob_key,
		    pool_t pool, struct message_part **root_r);

#endif
