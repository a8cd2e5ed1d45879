/* A user's quota usage as the index accounts it: the sum of the
   RFC822.SIZEs of every message in every mailbox and their count, read
   as the sums of the mailboxes' counters (size, messages). Triggers on
   the messages table keep those, so every save, copy, move, expunge and
   mailbox delete changes the usage in the same SQLite transaction as the
   rows themselves (whichever process commits, and however
   concurrently). Until schema 7 a quota_usage row held the sums too, at
   the cost of a WAL page per saved and expunged message. */
#ifndef COLUMBA_MAIL_INDEX_QUOTA_H
#define COLUMBA_MAIL_INDEX_QUOTA_H

#include "mail-index.h"

struct mail_index_quota_usage {
	/* bytes: the sum of the messages' RFC822.SIZE */
	uint64_t storage;
	uint64_t messages;
};

/* The usage as committed now (one read of the mailboxes' rows; reads
   of a snapshot see commits made meanwhile by any process). Returns 0,
   or -1 with the index error set. */
int mail_index_quota_get(struct mail_index *index,
			 struct mail_index_quota_usage *usage_r)
	ATTR_WARN_UNUSED;
/* The usage of the messages uids (ascending ranges) of mailbox_id:
   what a COPY of them adds. UIDs that do not exist count nothing.
   Returns 0, or -1 with the index error set. */
int mail_index_quota_get_uids(struct mail_index *index, uint32_t mailbox_id,
			      const ARRAY_TYPE(seq_range) *uids,
			      struct mail_index_quota_usage *usage_r)
	ATTR_WARN_UNUSED;
/* The sum of the RFC822.SIZEs of mailbox_id's \Deleted messages: what
   an EXPUNGE would free (RFC 9208 STATUS DELETED-STORAGE). Reads the
   mailbox's rows. Returns 0, or -1 with the index error set. */
int mail_index_quota_get_deleted(struct mail_index *index,
				 uint32_t mailbox_id, uint64_t *bytes_r)
	ATTR_WARN_UNUSED;
/* Count every mailbox's counters (messages, size, unseen, deleted)
   again from the messages themselves and store them (in one write
   transaction, so no save or expunge slips between the count and the
   store). *old_r (may be NULL) gets the usage before, *new_r the usage
   now. Blocks. Returns 0, or -1 with the error set. */
int mail_index_quota_recalc(struct mail_index *index,
			    struct mail_index_quota_usage *old_r,
			    struct mail_index_quota_usage *new_r)
	ATTR_WARN_UNUSED;

#endif
