/* Delivery of one LMTP message to every accepted recipient.

   With the process's delivery journal (lmtp-journal.c, the normal case)
   a body of up to 512 KiB is buffered, appended to the journal at the
   end of DATA with every recipient's header, and each recipient gets
   `250` once the journal's fdatasync() covers it; the journal saves the
   copies afterwards. Otherwise (larger bodies, a full journal, none)
   the delivery goes the direct way described next.

   The body is not spooled: as it arrives it is written to one save per
   recipient at once (each recipient's copy is its own blob, since lib-
   storage keeps one immutable blob per message per user and each copy
   carries its own Delivered-To and Received lines). Memory stays bounded
   by the blob store's buffers: when any save is full, input pauses until
   it drained. A 50 MB message therefore never sits in memory, and no temp
   file is written and read again.

   The replies: each recipient's transaction commits on its own (the
   storage groups concurrent commits into shared fsyncs); when every
   commit has answered, one reply per recipient goes out in RCPT order:
   250 only for a copy that is durable, 451/452 for one that failed (the
   MTA retries just that recipient), so nothing is lost or duplicated. */
#include "lib.h"
#include "hash.h"
#include "llist.h"
#include "conn.h"
#include "ioloop.h"
#include "columba-settings.h"
#include "mail-storage.h"
#include "mail-error.h"
#include "mail-user-setup.h"
#include "mail-user-cache.h"
#include "lmtp-common.h"
#include "lmtp-journal.h"
#include "mail-index.h"
#include "mail-quota.h"

#include <time.h>

/* Users' storage stays open a while after a delivery: an MTA delivers
   to the same users again and again, and reopening a user costs an
   index open and an autocreate check; deliveries to one user from
   several connections share one mail_user, so their commits are grouped
   into one index fsync (lib-storage's group commit). The cache is an
   LRU: at most LMTP_USER_CACHE_MAX users (fewer if the fd limit is low:
   the room mail_user_cache_fd_room() finds, less what the mail
   process's kept users may take), idle ones closed after
   LMTP_USER_CACHE_IDLE_SECS; when full, the least recently used idle
   user is closed to make room. */
#define LMTP_USER_CACHE_IDLE_SECS 60
#define LMTP_USER_CACHE_MAX 1000

struct lmtp_cached_user {
	/* LRU order, least recently used first */
	struct lmtp_cached_user *prev, *next;
	char *username;
	struct mail_user *user;
	unsigned int refcount;
	time_t last_used;
	/* the mailbox last delivered to, kept open for saving; box_refs
	   transactions use it; stale: closed when they are done */
	struct mailbox *box;
	unsigned int box_refs;
	bool box_stale;
};
/* username -> struct lmtp_cached_user, and the LRU list of the same
   users (a delivery found its user by a strcmp() walk of the list: 2-3 %
   of the mail process's time with 100 users) */
static struct hash_table *lmtp_user_cache;
static struct lmtp_cached_user *lmtp_user_lru_head, *lmtp_user_lru_tail;
static unsigned int lmtp_user_cache_max;
static struct timeout *lmtp_user_cache_to;

struct lmtp_delivery_rcpt {
	struct lmtp_delivery *delivery;
	/* encoded address, for replies and the log */
	char *addr;
	struct mail_user *user;
	struct mailbox *box;
	struct mailbox_transaction *t;
	struct mail_save_context *save;
	/* the mailbox chosen, and this copy's own header (journal mode:
	   the save starts only if the delivery goes the direct way) */
	char *mailbox, *header;
	bool committing;
	/* the reply once decided; NULL while undecided */
	char *reply;
	/* this copy counted against the user's quota from the quota check
	   at the end of DATA until its index commit (handed to its
	   transaction, or to the journal, whose save hands it to its own) */
	struct mail_quota_reservation *quota;
};

struct lmtp_delivery {
	/* NULL once the client has gone (abort while commits run) */
	struct lmtp_client *client;
	char *session_id;
	ARRAY(struct lmtp_delivery_rcpt *) rcpts;
	/* users referenced by this delivery (one reference each) */
	ARRAY(struct lmtp_cached_user *) users;
	/* the replies go out from the ioloop after the last commit: the
	   storage frees a transaction after its callback returns */
	struct timeout *to_finish;
	uint64_t size;
	/* LFs without a CR before them: each is one more byte of
	   RFC822.SIZE (the quota counts that); last_cr: the previous chunk
	   ended with CR */
	uint64_t bare_lfs;
	bool last_cr;
	/* some recipient has a quota: count bare_lfs (a pass over the
	   body that deliveries without quotas skip) */
	bool quota_limited;
	/* journal mode (lmtp-journal.c): the body is buffered here until
	   the end of DATA, then appended to the journal; the direct way
	   (a save per recipient, streamed) if it grows too large or the
	   journal has no room */
	bool journal;
	buffer_t *body;
	bool too_big;
	bool finishing;
	/* input paused until the saves drain */
	bool waiting_drain;
	unsigned int commits_pending;
};

static void lmtp_delivery_free(struct lmtp_delivery *delivery);

static void drcpt_fail(struct lmtp_delivery_rcpt *drcpt, const char *reply)
{
	/* nothing will be saved */
	mail_quota_reservation_free(&drcpt->quota);
	if (drcpt->save != NULL) {
		/* the transaction owns the unfinished save: rollback frees
		   it and deletes its blob */
		drcpt->save = NULL;
	}
	if (drcpt->t != NULL)
		mailbox_transaction_rollback(&drcpt->t);
	if (drcpt->box != NULL)
		mailbox_close(&drcpt->box);
	if (drcpt->reply == NULL)
		drcpt->reply = i_strdup(reply);
}

/* Log a storage error and return the reply for it. */
static const char *drcpt_storage_error(struct lmtp_delivery_rcpt *drcpt,
				       struct mail_user *user, const char *what)
{
	const char *user_text, *internal_text;
	enum mail_error error = mail_user_get_last_error(user, &user_text,
							 &internal_text);

	i_error("lmtp(session=%s): <%s>: %s failed: %s",
		drcpt->delivery->session_id, str_sanitize(drcpt->addr, 200),
		what, internal_text != NULL ? internal_text : user_text);
	if (error == MAIL_ERROR_NOQUOTA) {
		return t_strdup_printf("452 4.2.2 <%s> Mailbox is full",
				       drcpt->addr);
	}
	return t_strdup_printf("451 4.3.0 <%s> Temporary internal error",
			       drcpt->addr);
}

static void drcpt_fail_storage(struct lmtp_delivery_rcpt *drcpt,
			       struct mail_user *user, const char *what)
{
	drcpt_fail(drcpt, drcpt_storage_error(drcpt, user, what));
}

static void lmtp_cached_user_free(struct lmtp_cached_user *cu)
{
	/* unused: every save holds a reference to the user */
	i_assert(cu->box_refs == 0);
	mailbox_close(&cu->box);
	mail_user_deinit(&cu->user);
	i_free(cu->username);
	free(cu);
}

static void lmtp_user_cache_remove(struct lmtp_cached_user *cu)
{
	DLLIST2_REMOVE(&lmtp_user_lru_head, &lmtp_user_lru_tail, cu);
	if (!hash_table_remove(lmtp_user_cache, cu->username))
		i_unreached();
	lmtp_cached_user_free(cu);
}

/* Close users idle long enough (all idle ones with force). */
static void lmtp_user_cache_expire(bool force)
{
	struct lmtp_cached_user *cu, *next;
	time_t now = time(NULL);

	for (cu = lmtp_user_lru_head; cu != NULL; cu = next) {
		next = cu->next;
		if (cu->refcount == 0 &&
		    (force || cu->last_used + LMTP_USER_CACHE_IDLE_SECS <= now))
			lmtp_user_cache_remove(cu);
	}
	if (lmtp_user_lru_head == NULL && lmtp_user_cache_to != NULL)
		timeout_remove(&lmtp_user_cache_to);
}

/* Make room for one more user: close the least recently used idle one.
   If every cached user is in use the cache grows past its limit until
   deliveries finish (they hold the users anyway). */
static void lmtp_user_cache_make_room(void)
{
	for (struct lmtp_cached_user *cu = lmtp_user_lru_head; cu != NULL;
	     cu = cu->next) {
		if (cu->refcount == 0) {
			lmtp_user_cache_remove(cu);
			return;
		}
	}
}

/* LMTP_USER_CACHE_MAX, or fewer when the fd limit would not hold it
   next to the mail process's kept users (they take at most half). */
static unsigned int lmtp_user_cache_get_max(void)
{
	unsigned int room = mail_user_cache_fd_room();
	unsigned int kept = mail_user_cache_max();
	unsigned int max = room > kept ? room - kept : 0;

	if (max > LMTP_USER_CACHE_MAX)
		max = LMTP_USER_CACHE_MAX;
	return max < 1 ? 1 : max;
}

static void lmtp_user_cache_timeout(void *context ATTR_UNUSED)
{
	lmtp_user_cache_expire(false);
}

void lmtp_user_cache_deinit(void)
{
	if (lmtp_user_cache == NULL)
		return;
	lmtp_user_cache_expire(true);
	/* deliveries still running own the rest; the process is exiting */
	hash_table_destroy(&lmtp_user_cache);
	lmtp_user_lru_head = lmtp_user_lru_tail = NULL;
}

struct lmtp_cached_user *
lmtp_user_cache_ref(const char *username, const char *const *userdb_fields,
		    const char **error_r)
{
	struct lmtp_cached_user *cu = NULL;
	struct mail_user *user;

	if (lmtp_user_cache == NULL) {
		lmtp_user_cache = hash_table_create_str(system_pool, 64);
		lmtp_user_cache_max = lmtp_user_cache_get_max();
	}
	cu = hash_table_lookup(lmtp_user_cache, username);
	if (cu != NULL) {
		/* most recently used: to the end */
		DLLIST2_REMOVE(&lmtp_user_lru_head, &lmtp_user_lru_tail, cu);
		DLLIST2_APPEND(&lmtp_user_lru_head, &lmtp_user_lru_tail, cu);
	} else {
		if (mail_user_setup(lmtp.set, username, userdb_fields, NULL,
				    &user, error_r) < 0)
			return NULL;
		if (hash_table_count(lmtp_user_cache) >= lmtp_user_cache_max)
			lmtp_user_cache_make_room();
		cu = i_new(struct lmtp_cached_user, 1);
		cu->username = i_strdup(username);
		cu->user = user;
		hash_table_insert(lmtp_user_cache, cu->username, cu);
		DLLIST2_APPEND(&lmtp_user_lru_head, &lmtp_user_lru_tail, cu);
		if (lmtp_user_cache_to == NULL) {
			lmtp_user_cache_to = timeout_add(
				LMTP_USER_CACHE_IDLE_SECS * 1000 / 2,
				lmtp_user_cache_timeout, NULL);
		}
	}
	cu->refcount++;
	return cu;
}

struct mail_user *lmtp_cached_user_get(struct lmtp_cached_user *cu)
{
	return cu->user;
}

struct mailbox *lmtp_cached_user_mailbox_get(struct lmtp_cached_user *cu,
					     const char *name, bool *kept_r)
{
	struct mailbox *box;

	if (cu->box != NULL && !cu->box_stale &&
	    strcmp(mailbox_get_name(cu->box), name) == 0) {
		cu->box_refs++;
		*kept_r = true;
		return cu->box;
	}
	if (mailbox_open_for_save(cu->user, name, &box) < 0)
		return NULL;
	if (cu->box != NULL && cu->box_refs > 0) {
		/* the kept one is in use (another name, or stale) */
		*kept_r = false;
		return box;
	}
	mailbox_close(&cu->box);
	cu->box = box;
	cu->box_refs = 1;
	cu->box_stale = false;
	*kept_r = true;
	return box;
}

void lmtp_cached_user_mailbox_put(struct lmtp_cached_user *cu,
				  struct mailbox **_box, bool failed)
{
	i_assert(*_box == cu->box && cu->box_refs > 0);
	*_box = NULL;
	cu->box_refs--;
	if (failed)
		cu->box_stale = true;
	if (cu->box_stale && cu->box_refs == 0)
		mailbox_close(&cu->box);
}

void lmtp_user_cache_unref(struct lmtp_cached_user **_cu)
{
	struct lmtp_cached_user *cu = *_cu;

	*_cu = NULL;
	i_assert(cu->refcount > 0);
	cu->refcount--;
	cu->last_used = time(NULL);
}

static struct mail_user *
lmtp_delivery_get_user(struct lmtp_delivery *delivery,
		       const struct lmtp_recipient *rcpt, const char **error_r)
{
	struct lmtp_cached_user *const *cup, *cu;

	/* alice+a and alice+b in one delivery share one reference */
	array_foreach(&delivery->users, cup) {
		if (strcmp((*cup)->username, rcpt->username) == 0)
			return (*cup)->user;
	}
	cu = lmtp_user_cache_ref(rcpt->username, rcpt->userdb_fields, error_r);
	if (cu == NULL)
		return NULL;
	array_push(&delivery->users, cu);
	return cu->user;
}

const char *lmtp_delivery_choose_mailbox(struct lmtp_recipient *rcpt,
					 struct mail_user *user)
{
	struct mail_index_mailbox box;

	if (lmtp.set->lmtp_save_to_detail_mailbox && rcpt->detail[0] != '\0' &&
	    mail_index_mailbox_lookup(mail_user_get_index(user), rcpt->detail,
				      pool_datastack, &box) > 0)
		return rcpt->detail;
	return "INBOX";
}

static const char *lmtp_rfc822_date(time_t t)
{
	struct tm tm;
	char buf[64];

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return "Thu, 01 Jan 1970 00:00:00 +0000";
	return t_strdup(buf);
}

/* Return-Path, Delivered-To and Received for one recipient's copy. */
static const char *lmtp_delivery_headers(struct lmtp_client *client,
					 const struct lmtp_delivery_rcpt *drcpt)
{
	string_t *hdr = t_str_new(512);
	const char *from = smtp_address_encode(&client->mail_from);

	str_printfa(hdr, "Return-Path: <%s>\r\n", from);
	str_printfa(hdr, "Delivered-To: <%s>\r\n", drcpt->addr);
	str_printfa(hdr, "Received: from %s", client->lhlo);
	if (IPADDR_IS_SET(&client->remote_ip))
		str_printfa(hdr, " ([%s])", net_ip2addr(&client->remote_ip));
	str_printfa(hdr, "\r\n\tby %s with %s id %s\r\n", lmtp.hostname,
		    client->smtputf8 ? "UTF8LMTP" : "LMTP", client->session_id);
	str_printfa(hdr, "\t(envelope-from <%s>)\r\n", from);
	str_printfa(hdr, "\tfor <%s>; %s\r\n", drcpt->addr,
		    lmtp_rfc822_date(time(NULL)));
	return str_c(hdr);
}

static void lmtp_delivery_drained(void *context)
{
	struct lmtp_delivery *delivery = context;
	struct lmtp_delivery_rcpt **drcptp;

	if (!delivery->waiting_drain || delivery->client == NULL)
		return;
	array_foreach(&delivery->rcpts, drcptp) {
		if ((*drcptp)->save != NULL && mail_save_is_full((*drcptp)->save))
			return;
	}
	delivery->waiting_drain = false;
	lmtp_client_command_done(delivery->client);
}

/* Open the recipient's mailbox and start its save with its header. */
static void drcpt_start_save(struct lmtp_delivery_rcpt *drcpt)
{
	if (mailbox_open_for_save(drcpt->user, drcpt->mailbox,
				  &drcpt->box) < 0) {
		drcpt_fail_storage(drcpt, drcpt->user,
			t_strdup_printf("Opening mailbox %s",
					str_sanitize(drcpt->mailbox, 100)));
		return;
	}
	drcpt->t = mailbox_transaction_begin(drcpt->box, 0);
	drcpt->save = mail_save_begin(drcpt->t, 0, NULL, 0, 0);
	if (drcpt->save == NULL) {
		drcpt_fail_storage(drcpt, drcpt->user, "Starting the save");
		return;
	}
	mail_save_set_drained_callback(drcpt->save, lmtp_delivery_drained,
				       drcpt->delivery);
	if (mail_save_write(drcpt->save, drcpt->header,
			    strlen(drcpt->header)) < 0)
		drcpt_fail_storage(drcpt, drcpt->user, "Writing the message");
}

/* Leave journal mode: a save per recipient, fed what was buffered. */
static void lmtp_delivery_go_direct(struct lmtp_delivery *delivery)
{
	struct lmtp_delivery_rcpt **drcptp;

	i_assert(delivery->journal);
	delivery->journal = false;
	array_foreach(&delivery->rcpts, drcptp) T_BEGIN {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		if (drcpt->reply == NULL) {
			drcpt_start_save(drcpt);
			if (drcpt->save != NULL && delivery->body->used > 0 &&
			    mail_save_write(drcpt->save, delivery->body->data,
					    delivery->body->used) < 0) {
				drcpt_fail_storage(drcpt, drcpt->user,
						   "Writing the message");
			}
			if (drcpt->save != NULL &&
			    mail_save_is_full(drcpt->save))
				delivery->waiting_drain = true;
		}
	} T_END;
	buffer_free(&delivery->body);
}

static void lmtp_delivery_rcpt_begin(struct lmtp_delivery *delivery,
				     struct lmtp_recipient *rcpt)
{
	struct lmtp_client *client = delivery->client;
	struct lmtp_delivery_rcpt *drcpt = i_new(struct lmtp_delivery_rcpt, 1);
	const char *error;

	drcpt->delivery = delivery;
	drcpt->addr = i_strdup(smtp_address_encode(&rcpt->address));
	array_push(&delivery->rcpts, drcpt);

	drcpt->user = lmtp_delivery_get_user(delivery, rcpt, &error);
	if (drcpt->user == NULL) {
		i_error("lmtp(session=%s): <%s>: Opening the storage of %s failed: %s",
			delivery->session_id, str_sanitize(drcpt->addr, 200),
			str_sanitize(rcpt->username, 200), error);
		drcpt_fail(drcpt, t_strdup_printf(
			"451 4.3.0 <%s> Temporary internal error", drcpt->addr));
		return;
	}
	/* the cached user may be older than the recipient's userdb
	   fields: the quota is theirs now */
	if (lmtp_quota_limits_update(drcpt->user, rcpt->userdb_fields,
				     &error) < 0) {
		i_error("lmtp(session=%s): <%s>: %s", delivery->session_id,
			str_sanitize(drcpt->addr, 200), error);
		drcpt_fail(drcpt, t_strdup_printf(
			"451 4.3.0 <%s> Temporary internal error", drcpt->addr));
		return;
	}
	/* the Sieve hook */
	drcpt->mailbox = i_strdup(lmtp_delivery_choose_mailbox(rcpt, drcpt->user));
	drcpt->header = i_strdup(lmtp_delivery_headers(client, drcpt));
	if (!delivery->journal)
		drcpt_start_save(drcpt);
}

void lmtp_delivery_begin(struct lmtp_client *client)
{
	struct lmtp_delivery *delivery = i_new(struct lmtp_delivery, 1);
	struct lmtp_recipient *const *rcptp;

	i_assert(client->delivery == NULL);
	delivery->client = client;
	delivery->session_id = i_strdup(client->session_id);
	array_init(&delivery->rcpts, system_pool, array_count(&client->rcpts));
	array_init(&delivery->users, system_pool, 4);
	if (lmtp_journal_is_enabled()) {
		delivery->journal = true;
		delivery->body = buffer_create(system_pool, 8192);
	}
	client->delivery = delivery;
	array_foreach(&client->rcpts, rcptp) T_BEGIN {
		lmtp_delivery_rcpt_begin(delivery, *rcptp);
	} T_END;
	struct lmtp_delivery_rcpt **drcptp;
	array_foreach(&delivery->rcpts, drcptp) {
		if ((*drcptp)->user != NULL &&
		    mail_user_quota_is_limited((*drcptp)->user))
			delivery->quota_limited = true;
	}
}

uint64_t lmtp_delivery_get_size(const struct lmtp_delivery *delivery)
{
	return delivery->size;
}

static void lmtp_delivery_count_bare_lfs(struct lmtp_delivery *delivery,
					 const unsigned char *data,
					 size_t size)
{
	const unsigned char *p = data, *end = data + size;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (p == data ? !delivery->last_cr : p[-1] != '\r')
			delivery->bare_lfs++;
		p++;
	}
	delivery->last_cr = data[size - 1] == '\r';
}

bool lmtp_delivery_write(struct lmtp_delivery *delivery,
			 const unsigned char *data, size_t size)
{
	struct lmtp_delivery_rcpt **drcptp;
	bool full = false;

	if (size == 0)
		return true;
	delivery->size += size;
	if (delivery->quota_limited)
		lmtp_delivery_count_bare_lfs(delivery, data, size);
	if (!delivery->too_big && lmtp.set->lmtp_max_message_size > 0 &&
	    delivery->size > lmtp.set->lmtp_max_message_size) {
		/* read the rest and drop it: the client is still sending */
		delivery->too_big = true;
		array_foreach(&delivery->rcpts, drcptp) T_BEGIN {
			drcpt_fail(*drcptp, t_strdup_printf(
				"552 5.3.4 <%s> Message size exceeds fixed maximum message size",
				(*drcptp)->addr));
		} T_END;
	}
	if (delivery->too_big)
		return true;
	if (delivery->journal) {
		if (delivery->body->used + size <= lmtp_journal_max_body_size()) {
			buffer_append(delivery->body, data, size);
			return true;
		}
		lmtp_delivery_go_direct(delivery);
	}
	array_foreach(&delivery->rcpts, drcptp) {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		if (drcpt->save == NULL)
			continue;
		if (mail_save_write(drcpt->save, data, size) < 0) {
			T_BEGIN {
				drcpt_fail_storage(drcpt, drcpt->user,
						   "Writing the message");
			} T_END;
			continue;
		}
		if (mail_save_is_full(drcpt->save))
			full = true;
	}
	if (full)
		delivery->waiting_drain = true;
	return !delivery->waiting_drain;
}

static void lmtp_delivery_reply_all(struct lmtp_delivery *delivery)
{
	struct lmtp_client *client = delivery->client;
	struct lmtp_delivery_rcpt **drcptp;

	if (client != NULL) {
		array_foreach(&delivery->rcpts, drcptp)
			lmtp_client_reply(client, "%s", (*drcptp)->reply);
		i_info("lmtp(%s, session=%s): %u recipient(s), %llu bytes",
		       client->peer_name, client->session_id,
		       array_count(&delivery->rcpts),
		       (unsigned long long)delivery->size);
		/* the transaction is over: forget it without aborting */
		client->delivery = NULL;
		lmtp_client_transaction_reset(client);
	}
	lmtp_delivery_free(delivery);
	if (client != NULL)
		lmtp_client_command_done(client);
}

static void lmtp_delivery_finish_timeout(void *context)
{
	struct lmtp_delivery *delivery = context;

	timeout_remove(&delivery->to_finish);
	lmtp_delivery_reply_all(delivery);
}

static void lmtp_delivery_commit_callback(int ret,
	const struct mail_transaction_commit_result *result ATTR_UNUSED,
	void *context)
{
	struct lmtp_delivery_rcpt *drcpt = context;
	struct lmtp_delivery *delivery = drcpt->delivery;

	/* the storage frees the transaction after this returns, and the
	   transaction uses its mailbox: the mailbox is closed later */
	drcpt->committing = false;
	if (ret < 0) {
		drcpt->reply = i_strdup(drcpt_storage_error(drcpt, drcpt->user,
							    "Saving the message"));
	} else {
		drcpt->reply = i_strdup_printf("250 2.0.0 <%s> %s Saved",
					       drcpt->addr,
					       delivery->session_id);
	}
	i_assert(delivery->commits_pending > 0);
	if (--delivery->commits_pending == 0 && delivery->finishing) {
		delivery->to_finish = timeout_add(0, lmtp_delivery_finish_timeout,
						  delivery);
	}
}

static void lmtp_delivery_journal_callback(void *context)
{
	struct lmtp_delivery *delivery = context;
	struct lmtp_delivery_rcpt **drcptp;

	/* on disk in the journal: the journal saves it to the storage */
	array_foreach(&delivery->rcpts, drcptp) {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		if (drcpt->reply == NULL) {
			drcpt->reply = i_strdup_printf("250 2.0.0 <%s> %s Saved",
						       drcpt->addr,
						       delivery->session_id);
		}
	}
	i_assert(delivery->commits_pending == 1);
	delivery->commits_pending = 0;
	/* at once, before the journal starts the saves: it calls us from
	   the ioloop, never from inside lmtp_journal_append(), and the
	   client's next commands are read later from the ioloop
	   (lmtp_client_command_done() only resumes input) */
	lmtp_delivery_reply_all(delivery);
}

/* Append the delivery to the journal. Returns false if it has to go
   the direct way. */
static bool lmtp_delivery_journal(struct lmtp_delivery *delivery)
{
	struct lmtp_delivery_rcpt **drcptp;
	ARRAY(struct lmtp_journal_rcpt) jrcpts;
	bool ret;

	T_BEGIN {
		array_init(&jrcpts, pool_datastack, array_count(&delivery->rcpts));
		array_foreach(&delivery->rcpts, drcptp) {
			struct lmtp_delivery_rcpt *drcpt = *drcptp;
			if (drcpt->reply != NULL)
				continue;
			struct lmtp_recipient *rcpt =
				*array_idx(&delivery->client->rcpts,
					   (unsigned int)(drcptp - delivery->rcpts.v));
			char *guid = t_malloc(MAIL_INDEX_MAILBOX_GUID_LEN + 1);
			mail_index_generate_guid(guid);
			struct lmtp_journal_rcpt *jr = array_append_space(&jrcpts);
			jr->username = rcpt->username;
			jr->userdb_fields = rcpt->userdb_fields;
			jr->mailbox = drcpt->mailbox;
			jr->guid = guid;
			jr->header = drcpt->header;
			jr->quota = drcpt->quota;
		}
		struct lmtp_journal_entry entry = {
			.date = time(NULL),
			.rcpts = jrcpts.v,
			.rcpt_count = array_count(&jrcpts),
			.body = delivery->body->data,
			.body_size = delivery->body->used,
		};
		ret = entry.rcpt_count > 0 &&
			lmtp_journal_append(&entry, lmtp_delivery_journal_callback,
					    delivery);
	} T_END;
	if (ret) {
		/* the journal holds the reservations until it has saved */
		array_foreach(&delivery->rcpts, drcptp)
			(*drcptp)->quota = NULL;
	}
	return ret;
}

/* Each recipient's copy against their quota, before anything is
   acknowledged: one that does not fit gets the quota reply and is not
   saved; one that fits is reserved (counted as pending) until its save
   commits, so the deliveries of this process that are accepted but not
   yet saved (journaled, or saving) count too. */
static void lmtp_delivery_quota_check(struct lmtp_delivery *delivery)
{
	struct lmtp_delivery_rcpt **drcptp;
	enum mail_quota_result result;

	array_foreach(&delivery->rcpts, drcptp) {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		if (drcpt->reply != NULL || drcpt->user == NULL)
			continue;
		/* RFC822.SIZE as the index will count it: this copy's
		   header (CRLF) and the body with bare LFs as CRLF */
		uint64_t size = strlen(drcpt->header) + delivery->size +
			delivery->bare_lfs;
		T_BEGIN {
			if (mail_user_quota_reserve(drcpt->user, size, 1,
					MAIL_QUOTA_FLAG_GRACE, &result,
					&drcpt->quota) < 0) {
				drcpt_fail_storage(drcpt, drcpt->user,
						   "Checking the quota");
			} else if (result != MAIL_QUOTA_OK) {
				i_info("lmtp(session=%s): <%s>: not delivered: "
				       "%s (%llu bytes)", delivery->session_id,
				       str_sanitize(drcpt->addr, 200),
				       mail_quota_result_str(result),
				       (unsigned long long)size);
				drcpt_fail(drcpt,
					   lmtp_quota_reply(drcpt->addr));
			}
		} T_END;
	}
}

void lmtp_delivery_finish(struct lmtp_delivery *delivery)
{
	struct lmtp_delivery_rcpt **drcptp;

	delivery->waiting_drain = false;
	if (!delivery->too_big)
		lmtp_delivery_quota_check(delivery);
	if (delivery->journal && !delivery->too_big &&
	    delivery->client != NULL) {
		delivery->finishing = true;
		delivery->commits_pending = 1;
		if (lmtp_delivery_journal(delivery))
			return;
		delivery->finishing = false;
		delivery->commits_pending = 0;
	}
	if (delivery->journal)
		lmtp_delivery_go_direct(delivery);
	delivery->waiting_drain = false;
	/* commits_pending counts one extra until every commit was started,
	   so that a commit answering at once cannot end the delivery while
	   this loop still runs */
	delivery->commits_pending++;
	delivery->finishing = true;
	array_foreach(&delivery->rcpts, drcptp) T_BEGIN {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		if (drcpt->save == NULL) {
			i_assert(drcpt->reply != NULL);
		} else {
			/* a save that failed makes its commit fail: the
			   commit callback answers it (a rollback here could
			   leave the transaction alive behind our back while
			   its blob put finishes) */
			if (mail_save_finish(&drcpt->save) < 0) {
				/* logged with the commit's error */
			}
			mailbox_transaction_set_quota_reservation(drcpt->t,
				&drcpt->quota);
			drcpt->committing = true;
			delivery->commits_pending++;
			mailbox_transaction_commit(&drcpt->t,
				lmtp_delivery_commit_callback, drcpt);
		}
	} T_END;
	if (--delivery->commits_pending == 0)
		lmtp_delivery_reply_all(delivery);
}

static void lmtp_delivery_free(struct lmtp_delivery *delivery)
{
	struct lmtp_delivery_rcpt **drcptp;

	i_assert(delivery->to_finish == NULL);
	array_foreach(&delivery->rcpts, drcptp) {
		struct lmtp_delivery_rcpt *drcpt = *drcptp;
		i_assert(!drcpt->committing);
		T_BEGIN {
			drcpt_fail(drcpt, "");
		} T_END;
		i_free(drcpt->reply);
		i_free(drcpt->addr);
		i_free(drcpt->mailbox);
		i_free(drcpt->header);
		free(drcpt);
	}
	struct lmtp_cached_user **cup;
	array_foreach(&delivery->users, cup)
		lmtp_user_cache_unref(cup);
	if (delivery->body != NULL)
		buffer_free(&delivery->body);
	array_free(&delivery->rcpts);
	array_free(&delivery->users);
	i_free(delivery->session_id);
	free(delivery);
}

void lmtp_delivery_abort(struct lmtp_delivery **_delivery)
{
	struct lmtp_delivery *delivery = *_delivery;

	*_delivery = NULL;
	delivery->client = NULL;
	if (delivery->finishing) {
		/* commits are running: they cannot be recalled. What they
		   saved stays saved (the MTA, not told, delivers again: a
		   duplicate is better than a loss); the last callback frees
		   the delivery. */
		return;
	}
	lmtp_delivery_free(delivery);
}
