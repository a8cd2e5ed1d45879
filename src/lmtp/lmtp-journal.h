/* The LMTP delivery journal of a mail process (lmtp-journal.c): a
   delivery is appended to one preallocated file and acknowledged once an
   fdatasync() of that file covers it; every delivery of the process that
   was appended meanwhile (any connection, any user) shares the same
   fdatasync(). The copy in the journal is then saved to each recipient's
   storage in the background without syncs of its own, and its journal
   space is reused once a syncfs() of the storage's filesystems has
   covered those saves. A journal left by a process
   that died is replayed into the storage by the next mail process that
   starts. */
#ifndef COLUMBA_LMTP_JOURNAL_H
#define COLUMBA_LMTP_JOURNAL_H

#include <time.h>

struct lmtp_journal_record;
struct mail_quota_reservation;

struct lmtp_journal_rcpt {
	const char *username;
	/* userdb fields, NULL-terminated (the replay opens the user's
	   storage without asking userdb) */
	const char *const *userdb_fields;
	const char *mailbox;
	/* the message GUID (32 hex digits): a replay saves the message
	   only if the mailbox has no message with this GUID yet */
	const char *guid;
	/* Return-Path, Delivered-To, Received: this copy's own header */
	const char *header;
	/* the recipient's quota reservation (mail-quota.h), or NULL: not
	   written to the file; lmtp_journal_append() takes it and frees it
	   once this copy's save has committed, so a delivery acknowledged
	   but not saved yet still counts against the quota */
	struct mail_quota_reservation *quota;
};

struct lmtp_journal_entry {
	/* INTERNALDATE */
	time_t date;
	const struct lmtp_journal_rcpt *rcpts;
	unsigned int rcpt_count;
	const unsigned char *body;
	size_t body_size;
};

/* Called once the entry is durable in the journal (from the ioloop, never
   inside lmtp_journal_append()), before anything else is done for it:
   the callback may reply to the client at once. */
typedef void lmtp_journal_callback_t(void *context);

/* Replay the journals of dead processes found in dir into their users'
   storage, then create this process's journal there. Without a usable
   directory the process runs without a journal (logged; every delivery
   then takes the direct path). */
void lmtp_journal_init(const char *dir);
/* Close the journal; it is removed if everything in it was saved. */
void lmtp_journal_deinit(void);
/* Whether deliveries can be journaled now. */
bool lmtp_journal_is_enabled(void);
/* The largest body lmtp_journal_append() may take (the delivery buffers
   up to this much before it decides). */
size_t lmtp_journal_max_body_size(void);

/* Append an entry. Returns false if it does not fit (too large, or the
   journal is full of deliveries not yet saved) or cannot be written: the
   caller then saves the delivery directly. Otherwise callback follows
   once the entry is durable; after it, the journal saves the entry to
   every recipient's storage by itself (retrying a failure until it
   succeeds, and at the next start if the process goes first). */
bool lmtp_journal_append(const struct lmtp_journal_entry *entry,
			 lmtp_journal_callback_t *callback, void *context);

/* For tests: journal statistics of this process. */
void lmtp_journal_get_stats(unsigned long long *appends_r,
			    unsigned long long *fdatasyncs_r);

#endif
