/* Quota enforcement for a user's mail (Dovecot's quota plugin, the
   subset docs/configuration.md lists): a limit on the storage (the sum
   of RFC822.SIZEs) and on the number of messages, over all of the
   user's mailboxes.

   Usage = what the index has committed (mail-index-quota.h: kept in
   the same transaction as every save and expunge, by any process) +
   what this process has accepted but not committed yet (reservations:
   saves in flight, LMTP deliveries acknowledged from the journal and
   not yet saved). A caller that adds mail tests and reserves before it
   says yes, and frees the reservation once the save has committed (or
   failed). Within one process nothing can then overshoot; processes do
   not see each other's reservations, so concurrent saves in different
   processes may each pass the test: the overshoot is bounded by the
   saves in flight in the other processes at that moment (see
   docs/architecture.md, "Quota").

   The limits are not syntax here: src/lib-config/config-quota.c turns
   settings and userdb fields into numbers. */
#ifndef COLUMBA_MAIL_QUOTA_H
#define COLUMBA_MAIL_QUOTA_H

#include "lib.h"
#include "seq-range.h"

struct mail_user;
struct mailbox;
struct mailbox_transaction;
struct mail_quota_reservation;

struct mail_quota_limits {
	/* bytes; 0 = no limit */
	uint64_t storage;
	/* 0 = no limit */
	uint64_t messages;
	/* bytes a delivery (MAIL_QUOTA_FLAG_GRACE) may take a user who is
	   under the storage limit over it: quota_grace */
	uint64_t grace;
};

struct mail_quota_usage {
	uint64_t storage;
	uint64_t messages;
};

enum mail_quota_flags {
	/* LMTP delivery: quota_grace applies (as in Dovecot, "LDA/LMTP
	   allows saving the last mail to bring user from under quota to
	   over quota") */
	MAIL_QUOTA_FLAG_GRACE = 0x01,
	/* mail_user_quota_reserve() without the test: a delivery that was
	   accepted already and whose save is tried again counts whatever
	   the usage is now */
	MAIL_QUOTA_FLAG_FORCE = 0x02,
};

enum mail_quota_result {
	MAIL_QUOTA_OK = 0,
	MAIL_QUOTA_OVER_STORAGE,
	MAIL_QUOTA_OVER_MESSAGES,
	/* one message larger than the whole storage limit: never fits */
	MAIL_QUOTA_TOO_LARGE,
};

/* The user's limits: set from mail_user_settings at init; LMTP sets
   them again from each recipient's current userdb fields (its users
   stay open across deliveries). */
void mail_user_set_quota_limits(struct mail_user *user,
				const struct mail_quota_limits *limits);
const struct mail_quota_limits *
mail_user_get_quota_limits(const struct mail_user *user);
/* True if the user has a storage or message limit. */
bool mail_user_quota_is_limited(const struct mail_user *user);

/* committed_r: what the index holds now; pending_r: this process's
   reservations for the user (either may be NULL). Reads the index
   (blocks on the local disk). Returns 0, or -1 with the user's error
   set. */
int mail_user_quota_get_usage(struct mail_user *user,
			      struct mail_quota_usage *committed_r,
			      struct mail_quota_usage *pending_r)
	ATTR_WARN_UNUSED;

/* Would adding count messages of size bytes in all go over a limit?
   count 0 with size 0 asks whether the user is at or over a limit
   already (LMTP's RCPT check: nothing more fits). A user without
   limits is OK without reading the index. Returns 0 with *result_r,
   or -1 with the user's error set. */
int mail_user_quota_test(struct mail_user *user, uint64_t size,
			 uint64_t count, enum mail_quota_flags flags,
			 enum mail_quota_result *result_r) ATTR_WARN_UNUSED;
/* mail_user_quota_test(), and when the result is OK, count size and
   count as pending until the reservation is freed (*res_r; NULL when
   the user has no limits or the result is not OK). Free it after the
   save committed (its usage is then in the index) or failed. Returns
   0 or -1 as the test. */
int mail_user_quota_reserve(struct mail_user *user, uint64_t size,
			    uint64_t count, enum mail_quota_flags flags,
			    enum mail_quota_result *result_r,
			    struct mail_quota_reservation **res_r)
	ATTR_WARN_UNUSED;
/* A reservation outlives the mail_user it was made for (it is keyed by
   the user's index path): the LMTP journal holds it until its
   background save commits. NULL is allowed. Sets *res to NULL. */
void mail_quota_reservation_free(struct mail_quota_reservation **res);

/* Count the user's usage again from the index's messages and store it
   (columba mail quota recalc): *old_r what was stored, *new_r what is
   now. Blocks. Returns 0, or -1 with the user's error set. */
int mail_user_quota_recalc(struct mail_user *user,
			   struct mail_quota_usage *old_r,
			   struct mail_quota_usage *new_r) ATTR_WARN_UNUSED;

/* The usage of box's messages uids (ascending UID ranges): what a COPY
   of them adds. Returns 0, or -1 with the user's error set. */
int mailbox_quota_get_uids(struct mailbox *box,
			   const ARRAY_TYPE(seq_range) *uids,
			   struct mail_quota_usage *usage_r) ATTR_WARN_UNUSED;

/* The transaction takes the reservation (*res is set to NULL): it is
   freed at the index COMMIT that adds the messages (their usage counts
   in the index from then on), or when the transaction fails or is
   rolled back. */
void mailbox_transaction_set_quota_reservation(
	struct mailbox_transaction *t, struct mail_quota_reservation **res);

/* Set the user's last error for a refused result: NOQUOTA with
   message (quota_exceeded_message). Returns -1. */
int mail_user_quota_set_error(struct mail_user *user,
			      enum mail_quota_result result,
			      const char *message);
/* "storage", "messages", "message larger than the storage limit": for
   logs. */
const char *mail_quota_result_str(enum mail_quota_result result);

#endif
