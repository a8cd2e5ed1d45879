/* SELECT's list of a mailbox's messages shared between the sessions of a
   process (mail-index-select.c). Additive to mail-index.h, whose
   mail_index_mailbox_select() always reads the list into the caller's
   pool.

   A large mailbox's list (uid, flags, modseq, keywords per message:
   24 bytes each, 480 KiB for 20,000 messages) is kept in a per-process
   cache after a SELECT, keyed by the index file (path, device, inode),
   the mailbox id, its UIDVALIDITY and its GUID, as of a modseq. The next
   SELECT of that mailbox, by any session of any user object of this
   process, reads only the mailbox's row in a new read snapshot; if
   nothing changed it shares the cached list, else it lays the rows
   changed since and the change log's expunges over it (as a session's
   sync does), the count of messages in the row cross-checking the
   result. Other processes' and LMTP's changes are in the index, so they
   are seen exactly as by a full read. A session may keep a shared list
   read-only until its view first changes (mailbox_sync()), when it copies
   it. The cache holds at most MAIL_INDEX_SELECT_CACHE_MAX_BYTES and drops
   lists unused for MAIL_INDEX_SELECT_CACHE_IDLE_SECS. */
#ifndef COLUMBA_MAIL_INDEX_SELECT_H
#define COLUMBA_MAIL_INDEX_SELECT_H

#include "mail-index.h"

/* mailboxes smaller than this are read into the caller's pool: the row
   scan is cheap and a session's own copy is smaller than a shared one */
#define MAIL_INDEX_SELECT_SHARE_MIN_MESSAGES 1000
#define MAIL_INDEX_SELECT_CACHE_MAX_BYTES (16 * 1024 * 1024)
#define MAIL_INDEX_SELECT_CACHE_IDLE_SECS 120

struct mail_index_select_view;

/* As mail_index_mailbox_select(), but for a large mailbox (outside a
   write transaction) the list may be shared: then *view_r is set and
   select_r->messages is the view's array, read-only (its pool is NULL:
   growing it panics), valid until mail_index_select_view_unref().
   Otherwise *view_r is NULL and the array is from pool, as with
   mail_index_mailbox_select(). Returns 1, 0 if the mailbox does not
   exist (or is \Noselect), -1 on error. Blocking (SQLite). */
int mail_index_mailbox_select_view(struct mail_index *index,
				   uint32_t mailbox_id, pool_t pool,
				   struct mail_index_select *select_r,
				   struct mail_index_select_view **view_r)
	ATTR_WARN_UNUSED;

/* What opening a mailbox by name needs, read in one snapshot (and one row
   of mailboxes): the row, the list as mail_index_mailbox_select_view()
   gives it (nothing if box.noselect) and \Recent's first unclaimed UID
   (mail_index_mailbox_claim_recent() can start from it). */
struct mail_index_select_mailbox {
	struct mail_index_mailbox box;
	struct mail_index_select select;
	struct mail_index_select_view *view;
	uint32_t first_recent_uid;
};
/* Returns 1, 0 if there is no such mailbox (or the name is invalid), -1
   on error. A private list comes from pool, box's strings from the data
   stack. */
int mail_index_mailbox_select_name(struct mail_index *index, const char *name,
				   pool_t pool,
				   struct mail_index_select_mailbox *result_r)
	ATTR_WARN_UNUSED;

void mail_index_select_view_unref(struct mail_index_select_view **view);
/* The index in the view's array of its first message without \Seen
   (the array's count if every message is seen). */
unsigned int
mail_index_select_view_first_unseen(const struct mail_index_select_view *view);

struct mail_index_select_cache_stats {
	/* lists in the cache and their bytes (lists still used by
	   sessions after being dropped from it are not counted) */
	unsigned int views;
	size_t bytes;
	/* SELECTs answered from the cache: as it was, or brought up to
	   date; and those that read the list from the index */
	uint64_t hits, updates, misses;
};
void mail_index_select_cache_get_stats(struct mail_index_select_cache_stats *stats_r);
/* Drop every cached list and the cache's timer (a process stopping, a
   test). Lists still used by sessions live until they are unreferenced. */
void mail_index_select_cache_clear(void);

#endif
