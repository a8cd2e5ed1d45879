/* LMTP (RFC 2033) inside the mail process: what the connection, the
   command files (cmd-*.c) and the delivery (lmtp-delivery.c) share.

   A connection reads one command at a time. A command that waits for
   something (a userdb lookup at RCPT, the storage commits at the end of
   DATA/BDAT) pauses input; pipelined commands wait in the input buffer
   and run in order when it resumes, so replies always come in command
   order (RFC 2920). */
#ifndef COLUMBA_LMTP_COMMON_H
#define COLUMBA_LMTP_COMMON_H

#include "lib.h"
#include "net.h"
#include "smtp-parser.h"
#include "smtp-dot.h"

struct conn;
struct master_service;
struct columba_settings;
struct auth_master_lookup;
struct lmtp_delivery;
struct mail_user;

enum lmtp_input_mode {
	/* reading command lines */
	LMTP_INPUT_COMMAND,
	/* after 354: the dot-stuffed body */
	LMTP_INPUT_DATA,
	/* a BDAT chunk of bdat_left bytes */
	LMTP_INPUT_BDAT,
	/* a BDAT chunk to be read and dropped (BDAT refused, RFC 3030 3:
	   the chunk is still sent and must be consumed) */
	LMTP_INPUT_BDAT_DISCARD,
};

enum lmtp_body_type {
	LMTP_BODY_7BIT,
	LMTP_BODY_8BITMIME,
	LMTP_BODY_BINARYMIME,
};

struct lmtp_recipient {
	struct lmtp_client *client;
	/* as the client gave it (for replies and Delivered-To) */
	struct smtp_address address;
	/* the local part without the detail, and the detail ("" if none) */
	const char *detail;
	/* userdb's canonical name and fields */
	const char *username;
	const char *const *userdb_fields;
};

struct lmtp_client {
	struct lmtp_client *prev, *next;
	struct conn *conn;
	pool_t pool;
	char *session_id;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
	/* "[192.0.2.1]" or "unix socket" for the logs */
	char *peer_name;

	/* LHLO's argument; NULL before LHLO */
	char *lhlo;
	unsigned int bad_commands;

	/* the mail transaction, from MAIL to the end of DATA/BDAT LAST or
	   RSET: everything in tx_pool */
	pool_t tx_pool;
	bool mail_given;
	struct smtp_address mail_from;
	/* MAIL FROM's SIZE= (0 if not given): the RCPT quota check */
	uint64_t mail_size;
	enum lmtp_body_type body_type;
	bool smtputf8;
	ARRAY(struct lmtp_recipient *) rcpts;
	/* a RCPT waiting for userdb */
	struct auth_master_lookup *lookup;
	struct lmtp_recipient *lookup_rcpt;
	/* the output is corked while a RCPT waits for userdb with more
	   commands pipelined behind it (lmtp_client_hold_replies()) */
	bool replies_held;
	/* DATA or the first BDAT started it */
	struct lmtp_delivery *delivery;
	/* BDAT was used in this transaction: DATA is refused */
	bool bdat_used;

	enum lmtp_input_mode input_mode;
	struct smtp_dot_decoder dot;
	uint64_t bdat_left;
	bool bdat_last;
	/* the reply to send after a refused BDAT chunk is consumed */
	char *bdat_discard_reply;
	/* decoded DATA bytes (reused) */
	buffer_t *data_buf;

	/* the process is stopping: disconnect once idle */
	bool stopping;
	bool destroyed;
};

struct lmtp_globals {
	struct master_service *service;
	const struct columba_settings *set;
	struct auth_master_client *auth;
	char *hostname;
	struct lmtp_client *clients;
};
extern struct lmtp_globals lmtp;

/* lmtp-client.c */
void lmtp_client_reply(struct lmtp_client *client, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
/* A protocol error: count it, reply, disconnect after too many. */
void lmtp_client_error(struct lmtp_client *client, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
/* An asynchronous step finished: resume reading commands (or disconnect
   if the process is stopping or the client left meanwhile). */
void lmtp_client_command_done(struct lmtp_client *client);
void lmtp_client_pause(struct lmtp_client *client);
/* Before an asynchronous step: if more commands are buffered behind
   this one, hold the replies until they are handled, so that the
   replies to a pipelined MAIL, RCPT and DATA leave in one send
   (RFC 2920 section 3.2 lets the server batch them) instead of one each.
   lmtp_client_release_replies() sends what is held when no lookup runs
   and input() will not run on buffered commands (force: input() just
   ran, and whatever it could handle was). */
void lmtp_client_hold_replies(struct lmtp_client *client);
void lmtp_client_release_replies(struct lmtp_client *client, bool force);
/* End the mail transaction (after DATA/BDAT LAST, RSET, a new LHLO). */
void lmtp_client_transaction_reset(struct lmtp_client *client);
void lmtp_client_disconnect(struct lmtp_client *client, const char *reason);
/* The number of recipients accepted so far. */
unsigned int lmtp_client_rcpt_count(const struct lmtp_client *client);

/* The commands, one file each. args is what follows "VERB ". */
void cmd_lhlo(struct lmtp_client *client, const char *args);
void cmd_mail(struct lmtp_client *client, const char *args);
void cmd_rcpt(struct lmtp_client *client, const char *args);
void cmd_data(struct lmtp_client *client, const char *args);
void cmd_bdat(struct lmtp_client *client, const char *args);
void cmd_rset(struct lmtp_client *client, const char *args);
void cmd_noop(struct lmtp_client *client, const char *args);
void cmd_quit(struct lmtp_client *client, const char *args);
void cmd_vrfy(struct lmtp_client *client, const char *args);

/* lmtp-delivery.c: the message to every accepted recipient's storage.
   begin opens each recipient's storage and starts a save (a recipient
   whose storage fails is answered 451 at the end); write feeds body bytes
   to every save; finish makes the saves durable and, once every commit
   has answered, sends one reply per recipient in RCPT order and calls
   lmtp_client_command_done(). */
void lmtp_delivery_begin(struct lmtp_client *client);
/* Returns false if writing should pause (a save's buffer is full): the
   delivery calls lmtp_client_command_done() when it drained. */
bool lmtp_delivery_write(struct lmtp_delivery *delivery,
			 const unsigned char *data, size_t size);
void lmtp_delivery_finish(struct lmtp_delivery *delivery);
/* The client went away or RSET: drop everything, nothing is saved. */
void lmtp_delivery_abort(struct lmtp_delivery **delivery);
/* Close the users' storage kept open between deliveries. */
void lmtp_user_cache_deinit(void);
/* Bytes of body received so far. */
uint64_t lmtp_delivery_get_size(const struct lmtp_delivery *delivery);

/* The users' storage kept open between deliveries (an LRU): a
   reference to username's, opened with userdb_fields if it is not open;
   NULL with error_r if it cannot be opened. */
struct lmtp_cached_user;
struct lmtp_cached_user *
lmtp_user_cache_ref(const char *username, const char *const *userdb_fields,
		    const char **error_r);
struct mail_user *lmtp_cached_user_get(struct lmtp_cached_user *cu);
/* The user's mailbox name opened for saving (mailbox_open_for_save()),
   kept open with the user for the next deliveries: no lookup, no view
   read per delivery. *kept_r tells whether it is the kept handle (give
   it back with lmtp_cached_user_mailbox_put()) or, when the kept one is
   busy with another name, a handle of its own (mailbox_close() it).
   NULL on error (the user's last error says why). */
struct mailbox *lmtp_cached_user_mailbox_get(struct lmtp_cached_user *cu,
					     const char *name, bool *kept_r);
/* Give the kept handle back; failed: a save into it failed (the mailbox
   may have been renamed or deleted), so it is closed once nobody uses
   it and the next delivery opens the name afresh. */
void lmtp_cached_user_mailbox_put(struct lmtp_cached_user *cu,
				  struct mailbox **box, bool failed);
void lmtp_user_cache_unref(struct lmtp_cached_user **cu);

/* lmtp-quota.c: the reply for a recipient over quota (452 4.2.2 with
   quota_full_tempfail, else 552 5.2.2, and quota_exceeded_message). */
const char *lmtp_quota_reply(const char *addr);
/* Set a (cached) user's quota limits from the recipient's userdb
   fields. Returns 0, or -1 with *error_r (a bad quota rule). */
int lmtp_quota_limits_update(struct mail_user *user,
			     const char *const *userdb_fields,
			     const char **error_r);
/* lmtp_rcpt_check_quota: 1 if the recipient may get the message (MAIL
   FROM's SIZE=, or without it the user is not full already), 0 with
   *reply_r if not, -1 if the storage or quota cannot be read
   (logged: the caller answers a temporary failure). Opens the user's
   storage (blocks on the local disk). */
int lmtp_quota_rcpt_check(struct lmtp_client *client,
			  const struct lmtp_recipient *rcpt,
			  const char *addr, const char **reply_r);

/* The Sieve hook: the mailbox a recipient's copy goes to. Today the
   detail mailbox (lmtp_save_to_detail_mailbox, when the detail names an
   existing mailbox) or INBOX. A Sieve implementation replaces this with
   the script's decision (fileinto, discard, redirect...). */
const char *lmtp_delivery_choose_mailbox(struct lmtp_recipient *rcpt,
					 struct mail_user *user);

#endif
