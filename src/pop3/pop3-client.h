/* The POP3 session in the mail process (RFC 1939 TRANSACTION and UPDATE
   states, RFC 2449 CAPA): its state, the helpers the command files use,
   and the contract of a command. */
#ifndef COLUMBA_POP3_CLIENT_H
#define COLUMBA_POP3_CLIENT_H

#include "lib.h"
#include "mail-storage.h"

struct conn;
struct event;
struct master_service;
struct columba_settings;

/* RFC 1939 §3: an autologout timer of at least 10 minutes */
#define POP3_CLIENT_AUTOLOGOUT_MSECS (10 * 60 * 1000)
#define POP3_CLIENT_MAX_BAD_COMMANDS 20

/* One message of the snapshot taken at login: POP3 numbers them 1..count
   for the whole session, whatever happens to the mailbox meanwhile. */
struct pop3_msg {
	uint32_t uid;
	/* RFC 822 size, CRLF line ends: what LIST says and RETR sends */
	uint64_t size;
	/* the blob as stored, so RETR needs no index lookup */
	uint64_t physical_size;
	const char *blob_key;
	const char *guid;
	bool seen;
	/* DELE was given (until RSET) */
	bool deleted;
	/* RETR was given and \Seen is to be set at the end */
	bool seen_pending;
};

struct pop3_client {
	struct pop3_client *prev, *next;
	pool_t pool;
	struct master_service *service;
	const struct columba_settings *set;
	struct conn *conn;
	struct event *event;
	struct mail_user *user;
	struct mailbox *box;
	/* flock()ed with pop3_lock_session, else -1 */
	int lock_fd;

	struct pop3_msg *msgs;
	uint32_t count;
	uint32_t uidvalidity;
	uint64_t total_size;
	uint32_t deleted_count;
	uint64_t deleted_size;

	/* for the logout line, as Dovecot's */
	unsigned int top_count, retr_count, expunged_count;
	uint64_t top_bytes, retr_bytes;
	unsigned int bad_counter;

	/* RETR/TOP is sending its message: input waits */
	bool streaming:1;
	bool disconnecting:1;
	bool destroyed:1;
};

/* A command: args is the text after the keyword and its space, NULL if
   none. It answers (+OK/-ERR) before it returns, or starts a stream
   (pop3_client_send_message()) whose end resumes input. Returns false if
   input must stop: a stream runs or the client is being disconnected. */
typedef bool pop3_command_func_t(struct pop3_client *client, const char *args);

/* Create the session on fd (owned from now on); the caller fills the
   snapshot with pop3_client_load_snapshot(). */
struct pop3_client *pop3_client_create(struct master_service *service,
				       const struct columba_settings *set,
				       int fd, struct mail_user *user,
				       const char *username,
				       const char *session_id);
/* Open INBOX and record its messages (minus those carrying
   pop3_deleted_flag). Returns 0, or -1 after logging (the storage's
   error is set). Blocks (local index). */
int pop3_client_load_snapshot(struct pop3_client *client) ATTR_WARN_UNUSED;
struct pop3_client *pop3_client_get_list(void);
/* Say "-ERR text" and end the session without the UPDATE state. */
void pop3_client_disconnect(struct pop3_client *client, const char *text,
			    const char *log_reason);
/* Pre-read input from the login process. */
void pop3_client_input_push(struct pop3_client *client, const void *data,
			    size_t size);

void pop3_client_send_line(struct pop3_client *client, const char *line);
void pop3_client_send_linef(struct pop3_client *client, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
/* "-ERR text" for a wrong command, counted; after
   POP3_CLIENT_MAX_BAD_COMMANDS the client is sent away. Returns false if
   it was. */
bool pop3_client_bad(struct pop3_client *client, const char *text);
/* "-ERR [SYS/TEMP] <the storage's client-safe error text>" */
void pop3_client_send_storage_error(struct pop3_client *client);

/* The message argument of RETR, DELE, LIST n...: its index into
   client->msgs. On a bad number, an unknown or (unless allow_deleted)
   deleted message the -ERR is sent here and -1 returned (0 if the
   client was disconnected for too many errors, so the caller stops). */
int pop3_client_get_msg(struct pop3_client *client, const char *arg,
			uint32_t *idx_r);

/* RETR (top_lines ignored) or TOP: "+OK", the message dot-stuffed and
   cut, the end line, streamed from storage as the socket drains
   (pop3-fetch.c). Returns false (input waits for the stream's end), or
   true after an -ERR when the message cannot be opened. */
bool pop3_client_send_message(struct pop3_client *client, uint32_t idx,
			      bool top, uint32_t top_lines);

/* The UPDATE state (QUIT): set \Seen on what was retrieved (unless
   pop3_no_flag_updates), then expunge or flag (pop3_deleted_flag) the
   messages marked deleted. Returns 0 once committed, or -1. */
int pop3_client_update(struct pop3_client *client) ATTR_WARN_UNUSED;

/* The message's UIDL (data stack), or NULL after logging when
   pop3_uidl_format cannot be expanded. */
const char *pop3_client_uidl(struct pop3_client *client, uint32_t idx);

#endif
