/* One post-login IMAP session: its connection, user, selected mailbox,
   enabled extensions and the command being run. See imap-commands.h for
   how commands use this API. */
#ifndef COLUMBA_IMAP_CLIENT_H
#define COLUMBA_IMAP_CLIENT_H

#include "imap-commands.h"
#include "mail-storage.h"

struct conn;
struct master_service;
struct timeout;

/* ENABLE (RFC 5161) state */
enum client_enabled {
	CLIENT_ENABLED_CONDSTORE = 0x01,
	/* implies CONDSTORE */
	CLIENT_ENABLED_QRESYNC = 0x02,
	CLIENT_ENABLED_UTF8_ACCEPT = 0x04,
	CLIENT_ENABLED_IMAP4REV2 = 0x08,
};

struct client_command_context {
	struct client *client;
	/* freed when the command ends; starts small */
	pool_t pool;
	const char *tag;
	/* as in the table (upper case), without "UID " */
	const char *name;
	const struct command *command;
	bool uid;
	/* the parsed arguments (EOL-terminated) */
	const struct imap_arg *args;
	/* what the core calls (again); starts as command->func */
	command_func_t *func;
	/* the handler's state */
	void *context;
	/* called if the session ends while the command waits */
	void (*cancel)(struct client_command_context *cmd);

	/* internal to the core */
	/* the client's commands in progress, in the order they came */
	struct client_command_context *prev, *next;
	bool wants_input:1;
	bool tagline_sent:1;
	/* started (it may be waiting) */
	bool running:1;
	/* the parser stopped at a literal (streaming) */
	bool literal_pending:1;
	/* parsed; starts once its line is consumed from the input */
	bool start_pending:1;
	/* its line is read and consumed: it starts when it may */
	bool parsed:1;
	/* runs alone; uses / may break sequence numbers (imap-commands.h,
	   6.) */
	bool exclusive:1;
	bool uses_seqs:1;
	bool breaks_seqs:1;
	/* to be called: resumed by its callback, or output drained */
	bool resume_pending:1;
	/* the command brought the view up to date itself, in the same
	   ioloop turn as its tagged reply, leaving nothing to report (STORE:
	   imap_sync_own_changes()): the tagged reply does not sync again.
	   What other sessions commit in between is reported by the next
	   command's sync (RFC 9051 §5.2: changes observed while a command
	   runs) */
	bool view_synced:1;
	uint64_t literal_left;
};

struct client {
	struct client *prev, *next;
	struct conn *conn;
	struct master_service *service;
	struct mail_user *user;
	const char *username;
	const char *session_id;
	struct event *event;
	pool_t pool;

	/* the selected mailbox (NULL: authenticated state) */
	struct mailbox *mailbox;
	bool mailbox_readonly;
	/* keywords the client has been told about in FLAGS (for new ones
	   a sync sends FLAGS again) */
	ARRAY(char *) keywords;
	/* message count the client knows (for EXISTS) */
	uint32_t messages_count;
	/* IMAP4rev1: the \Recent count the client was last told (RECENT) */
	uint32_t recent_count;
	/* SEARCHRES "$": the saved search result as UIDs (system pool;
	   freed by client_mailbox_close(); see imap-search.h) */
	ARRAY_TYPE(seq_range) search_saved_uids;

	enum client_enabled enabled;

	struct imap_parser *parser;
	/* the commands in progress, oldest first: running, waiting to
	   start, or being read (RFC 9051 §5.5; imap-client.c) */
	struct client_command_context *cmd, *cmd_last;
	unsigned int cmd_count;
	/* the one whose line is being read (the last), or NULL */
	struct client_command_context *cmd_input;
	/* the one being called now, or NULL */
	struct client_command_context *cmd_executing;
	/* output stops inside a response this command began: only it may
	   write until the response ends */
	struct client_command_context *output_owner;
	/* response grammar of what was written: literal bytes still to
	   come, the end of the unfinished line (for "{n}") */
	uint64_t output_literal_left;
	unsigned char output_tail[23];
	uint8_t output_tail_len;
	/* reading state of the next command */
	unsigned int input_state;
	unsigned int bad_counter;

	bool destroyed:1;
	bool disconnecting:1;
	bool logged_out:1;
	/* end the session when the running commands finish (LOGOUT,
	   shutdown/reload): "* BYE" is sent then, with this text */
	bool disconnect_after_cmd:1;
	/* output is inside a response (see output_owner) */
	bool output_mid_response:1;
	/* client_commands_run() is on the stack */
	bool commands_running:1;
	/* client_input() is on the stack */
	bool in_input:1;
	/* a command ended in the middle of its line: skip the rest */
	bool skip_line_after_cmd:1;
	const char *disconnect_bye, *disconnect_reason;
	/* traffic of conns replaced by client_insert_fd_layer() */
	uint64_t bytes_in_before, bytes_out_before;
	/* COMPRESS=DEFLATE is on */
	bool compress_active:1;
};

/* The session takes the user and the connected conn's fd. */
struct client *client_create(struct master_service *service, int fd,
			     struct mail_user *user, const char *username,
			     const char *session_id);
/* Log reason, close, free. *client = NULL. */
void client_destroy(struct client **client, const char *reason);
/* Say "* BYE text" and end the session once output is flushed. */
void client_disconnect_with_bye(struct client *client, const char *text,
				const char *log_reason);
/* UNAUTHENTICATE: end the session (as client_destroy()) and give its
   connection, with the input not yet processed, back to a login process
   (mail_handback_start()), which sends "tag OK". Output must be flushed.
   Not from inside a conn or command callback that uses the client
   afterwards: the client is freed. */
void client_hand_back(struct client **client, const char *tag);
/* Feed bytes that arrived before the session (the login process's
   pre-read input). */
void client_input_push(struct client *client, const void *data, size_t size);
struct client *client_get_list(void);
/* Called after a session ends and none is left (the PREAUTH tool stops
   its ioloop then). NULL to unset. */
void client_set_last_gone_callback(void (*callback)(void));

/* Creates a layer over the session's socket (COMPRESS): takes fd and
   the input already read from it past the current command; returns 0
   with *fd_r for the session, or -1 with *error_r (fd is still the
   caller's then). */
typedef int client_fd_layer_create_t(int fd, const void *pending,
				     size_t pending_size,
				     struct master_service *service,
				     struct event *event, int *fd_r,
				     const char **error_r);
/* Move the session onto a layer over its socket. Only while a command
   runs (input is paused) and with all output flushed. Returns 0, or -1
   with *error_r: the session then stays on its socket unchanged (detach
   refused), or is being disconnected (the layer could not be created). */
int client_insert_fd_layer(struct client *client,
			   client_fd_layer_create_t *create,
			   const char **error_r) ATTR_WARN_UNUSED;

/* --- output --- */
void client_send_line(struct client *client, const char *line);
void client_send_linef(struct client *client, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
/* Raw bytes (a literal's data), no CRLF added. */
void client_send_raw(struct client *client, const void *data, size_t size);
/* "tag line": for "OK ..." and "NO ..." the selected mailbox's pending
   changes are sent first. Exactly once per command. */
void client_send_tagline(struct client_command_context *cmd,
			 const char *line);
/* "tag BAD text" (and counts towards the too-many-errors limit). */
void client_send_command_error(struct client_command_context *cmd,
			       const char *text);
/* "tag NO [CODE] text" from mail_user_get_last_error(). */
void client_send_storage_error(struct client_command_context *cmd);
/* "NO [CODE] text" of the user's last storage error, without the tag
   (for commands that report per-item errors). */
const char *client_storage_error_line(struct client *client);
/* Producers of long replies stop while this is true (back-pressure). */
bool client_output_is_full(struct client *client);

/* --- command life cycle (imap-commands.h) --- */
void client_command_wait_input(struct client_command_context *cmd);
void client_command_resume(struct client_command_context *cmd);
/* Streamed literals (imap-commands.h, 5.). */
void client_command_literal_begin(struct client_command_context *cmd,
				  uint64_t size, bool sync);
size_t client_command_literal_read(struct client_command_context *cmd,
				   const unsigned char **data_r);
void client_command_literal_skip(struct client_command_context *cmd,
				 size_t size);
int client_command_read_more_args(struct client_command_context *cmd,
				  const struct imap_arg **args_r);
/* Read one input line for a command waiting for input (IDLE's DONE).
   Returns 1 with the line (no CRLF), 0 if none is complete yet, -1 if
   it is too long (the session has been disconnected). */
int client_command_read_line(struct client_command_context *cmd,
			     const char **line_r);

/* --- mailbox state --- */
/* Close the selected mailbox (if any) and forget its state. */
void client_mailbox_close(struct client *client);
/* True when the client's mailbox names are UTF-8 (ENABLE UTF8=ACCEPT,
   RFC 6855, or ENABLE IMAP4rev2, RFC 9051 §5.1), else modified UTF-7. */
bool client_mailbox_names_utf8(const struct client *client);
/* The client's name (UTF-8 if client_mailbox_names_utf8(), else modified
   UTF-7; "inbox" in any case is INBOX) to the storage's UTF-8 name.
   The result is in NFC (RFC 5198), so a decomposed name and its
   composed form are one mailbox. Names with C1 controls, U+2028 or
   U+2029 are refused (RFC 6855 §3). Returns 0; -1 with *error_r for a NO
   (a name the server does not allow, or not valid modified UTF-7); -2
   with *error_r when a UTF-8 client's name is malformed UTF-8, which
   RFC 6855 §3 answers with BAD. */
int client_mailbox_name_to_storage(struct client *client, const char *name,
				   const char **storage_name_r,
				   const char **error_r) ATTR_WARN_UNUSED;
/* client_mailbox_name_to_storage() for a command that answers a name it
   cannot take with BAD (malformed UTF-8) or NO [CANNOT]: returns false
   when the tagged reply was sent. */
bool client_command_mailbox_name(struct client_command_context *cmd,
				 const char *name,
				 const char **storage_name_r) ATTR_WARN_UNUSED;
/* The storage's name as the client must see it (data stack). */
const char *client_mailbox_name_to_imap(struct client *client,
					const char *storage_name);

#endif
