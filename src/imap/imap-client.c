/* The IMAP session core: reads commands from the connection with the
   lib-imap parser, runs them in the order they came - several at once
   where RFC 9051 §5.5 allows (imap-commands.h, 6.) -, answers protocol
   errors, and ends the session (LOGOUT, disconnect, autologout,
   shutdown). Memory held by an idle session is the client struct, its
   conn and the storage handles: the per-command pool and the parser's
   token buffer exist only while a command is read or runs.

   Pipelining: commands in progress form a list in the order they came.
   The next command is read while those in progress run in parallel
   (none runs alone), fewer than CLIENT_MAX_COMMANDS are in progress and
   output stands between responses. A parsed command starts when every
   earlier one has started and none of them conflicts with it; otherwise
   it waits, and nothing after it is read. The core follows the response
   grammar of everything written (client_output_track()): output stopped
   inside a response belongs to the command that wrote it, and no other
   command is called (nor input read, whose errors and "+ OK" are
   output) until it has ended the response. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "master-service.h"
#include "imap-common.h"
#include "imap-utf7.h"
#include "imap-utf8.h"
#include "mail-session.h"
#include "mail-handoff.h"

/* the first block of a command's pool: enough for most commands' args
   (IDLE, which an idle session keeps running, uses about 460 bytes;
   longer commands grow the pool by a block) */
#define CLIENT_COMMAND_POOL_SIZE 512
#define CLIENT_MAX_BAD_COMMANDS 20
#define CLIENT_MAX_LINE_SIZE (64 * 1024)
/* IDLE's DONE and such */
#define CLIENT_MAX_CMD_LINE 1024
/* commands in progress at once, the one being read included: each holds
   its pool and state (FETCH's record batch and stream, SEARCH's reads);
   beyond it pipelined input waits in the conn's bounded buffer */
#define CLIENT_MAX_COMMANDS 4

enum client_input_state {
	INPUT_NONE = 0,
	INPUT_TAG,
	INPUT_NAME,
	INPUT_UID_NAME,
	INPUT_ARGS,
	INPUT_SKIP,
};

static struct client *clients;
static void (*last_gone_callback)(void);

static void client_input(struct conn *conn);
static void client_conn_disconnected(struct conn *conn, const char *reason);
static void client_output_drained(struct conn *conn);
static void client_commands_run(struct client *client);

/* not const: the autologout comes from the settings (the same for every
   session of the process, set before each session's conn is made) */
static struct conn_settings client_conn_set = {
	.name = "imap",
};
static const struct conn_vfuncs client_conn_vfuncs = {
	.input = client_input,
	.disconnected = client_conn_disconnected,
	.output_drained = client_output_drained,
};

struct client *client_get_list(void)
{
	return clients;
}

void client_set_last_gone_callback(void (*callback)(void))
{
	last_gone_callback = callback;
}

struct client *client_create(struct master_service *service, int fd,
			     struct mail_user *user, const char *username,
			     const char *session_id)
{
	/* the struct (296 bytes), user name and session id: about 350 */
	pool_t pool = pool_alloconly_create("imap client", 384);
	struct client *client = p_new(pool, struct client, 1);

	client->pool = pool;
	client->service = service;
	client->user = user;
	client->username = p_strdup(pool, username);
	client->session_id = p_strdup(pool, session_id);
	client->event = event_create(mail_user_get_event(user));
	event_set_category(client->event, "imap");
	event_add_str(client->event, "user", username);
	event_add_str(client->event, "session", session_id);
	event_replace_log_prefix(client->event,
		session_id[0] == '\0' ? t_strdup_printf("imap(%s): ", username) :
		t_strdup_printf("imap(%s)<%s>: ", username, session_id));
	client_conn_set.idle_timeout_msecs = imap_autologout_msecs();
	client->conn = conn_create(fd, &client_conn_set, &client_conn_vfuncs,
				   client);
	conn_set_name(client->conn, event_get_log_prefix(client->event));

	struct imap_parser_settings pset = {
		.max_line_size = CLIENT_MAX_LINE_SIZE,
		.max_stream_literal_size = IMAP_APPEND_MAX_SIZE,
	};
	client->parser = imap_parser_create(&pset);

	client->next = clients;
	if (clients != NULL)
		clients->prev = client;
	clients = client;
	if (service != NULL)
		master_service_client_connected(service);
	return client;
}

static struct client_command_context *
client_command_new(struct client *client)
{
	pool_t pool = pool_alloconly_create("imap command",
					    CLIENT_COMMAND_POOL_SIZE);
	struct client_command_context *cmd =
		p_new(pool, struct client_command_context, 1);

	cmd->pool = pool;
	cmd->client = client;
	cmd->prev = client->cmd_last;
	if (client->cmd_last != NULL)
		client->cmd_last->next = cmd;
	else
		client->cmd = cmd;
	client->cmd_last = cmd;
	client->cmd_count++;
	return cmd;
}

static void client_command_unlink(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (cmd->prev != NULL)
		cmd->prev->next = cmd->next;
	else
		client->cmd = cmd->next;
	if (cmd->next != NULL)
		cmd->next->prev = cmd->prev;
	else
		client->cmd_last = cmd->prev;
	client->cmd_count--;
	if (client->cmd_input == cmd)
		client->cmd_input = NULL;
	if (client->cmd_executing == cmd)
		client->cmd_executing = NULL;
	/* a command ending inside its response (a failed FETCH) ends the
	   session; nobody is left to wait for */
	if (client->output_owner == cmd)
		client->output_owner = NULL;
}

/* A streaming command (APPEND) keeps using the parser after its line
   was handed over; it runs alone, so nothing else is being read. */
static bool
client_command_keeps_parser(const struct client_command_context *cmd)
{
	return cmd->parsed && cmd->command != NULL &&
		(cmd->command->flags & COMMAND_FLAG_LITERAL_STREAM) != 0;
}

static void client_command_free(struct client_command_context **_cmd)
{
	struct client_command_context *cmd = *_cmd;
	struct client *client = cmd->client;

	*_cmd = NULL;
	if (client->cmd_input == cmd || client_command_keeps_parser(cmd)) {
		client->input_state = INPUT_NONE;
		/* the parser's token buffer and stack go back to the heap */
		imap_parser_reset(client->parser, NULL);
	}
	client_command_unlink(cmd);
	pool_unref(&cmd->pool);
}

static struct client_command_context *
client_first_running(struct client *client)
{
	struct client_command_context *cmd;

	for (cmd = client->cmd; cmd != NULL; cmd = cmd->next) {
		if (cmd->running)
			return cmd;
	}
	return NULL;
}

void client_destroy(struct client **_client, const char *reason)
{
	struct client *client = *_client;

	*_client = NULL;
	if (client->destroyed)
		return;
	client->destroyed = true;

	while (client->cmd != NULL) {
		struct client_command_context *cmd = client->cmd;
		if (cmd->running && cmd->cancel != NULL)
			cmd->cancel(cmd);
		client_command_free(&cmd);
	}
	/* no conn after client_hand_back() */
	e_info(client->event, "Disconnected: %s in=%llu out=%llu", reason,
	       (unsigned long long)(client->bytes_in_before +
				    (client->conn == NULL ? 0 :
				     conn_get_bytes_in(client->conn))),
	       (unsigned long long)(client->bytes_out_before +
				    (client->conn == NULL ? 0 :
				     conn_get_bytes_out(client->conn))));
	client_mailbox_close(client);
	imap_parser_destroy(&client->parser);
	conn_destroy(&client->conn);
	mail_user_deinit(&client->user);

	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		clients = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	if (client->service != NULL)
		master_service_client_disconnected(client->service);
	mail_session_ended(client->session_id);
	event_unref(&client->event);
	pool_unref(&client->pool);
	if (clients == NULL && last_gone_callback != NULL)
		last_gone_callback();
}

void client_disconnect_with_bye(struct client *client, const char *text,
				const char *log_reason)
{
	if (client->disconnecting)
		return;
	client_send_linef(client, "* BYE %s", text);
	client->disconnecting = true;
	conn_disconnect(client->conn, log_reason);
}

static void client_conn_disconnected(struct conn *conn, const char *reason)
{
	struct client *client = conn_get_context(conn);

	if (strcmp(reason, "Idle timeout") == 0) {
		client_send_line(client, "* BYE Disconnected for inactivity.");
		reason = "Autologged out";
	} else if (strcmp(reason, "Connection closed") == 0 &&
		   client_first_running(client) != NULL) {
		reason = t_strdup_printf("Connection closed (%s running)",
					 client_first_running(client)->name);
	}
	client_destroy(&client, reason);
}

void client_input_push(struct client *client, const void *data, size_t size)
{
	if (size > 0)
		conn_input_push(client->conn, data, size);
}

int client_insert_fd_layer(struct client *client,
			   client_fd_layer_create_t *create,
			   const char **error_r)
{
	buffer_t *pending = buffer_create(pool_datastack, 256);
	uint64_t in = conn_get_bytes_in(client->conn);
	uint64_t out = conn_get_bytes_out(client->conn);
	int fd, new_fd;

	if (conn_detach(&client->conn, &fd, pending, error_r) < 0)
		return -1;
	client->bytes_in_before += in;
	client->bytes_out_before += out;
	if (create(fd, pending->data, pending->used, client->service,
		   client->event, &new_fd, error_r) < 0) {
		/* the client was told the layer is on: end the session */
		new_fd = fd;
	}
	client->conn = conn_create(new_fd, &client_conn_set,
				   &client_conn_vfuncs, client);
	conn_set_name(client->conn, event_get_log_prefix(client->event));
	conn_set_input_paused(client->conn, true);
	if (new_fd == fd) {
		client->disconnecting = true;
		conn_disconnect(client->conn, t_strdup_printf(
			"Failed to start a layer: %s", *error_r));
		return -1;
	}
	return 0;
}

void client_hand_back(struct client **_client, const char *tag)
{
	struct client *client = *_client;
	buffer_t *pending = t_str_new(256);
	const char *error;
	int fd;

	*_client = NULL;
	uint64_t in = conn_get_bytes_in(client->conn);
	uint64_t out = conn_get_bytes_out(client->conn);
	if (conn_detach(&client->conn, &fd, pending, &error) < 0) {
		/* the caller flushed: cannot happen */
		e_error(client->event, "UNAUTHENTICATE: %s", error);
		client_disconnect_with_bye(client, "Internal error.",
					   t_strdup_printf("UNAUTHENTICATE: %s",
							   error));
		return;
	}
	client->bytes_in_before += in;
	client->bytes_out_before += out;
	struct mail_handback_request req = {
		.session_id = t_strdup(client->session_id),
		.tag = t_strdup(tag),
		.fd = fd,
		.input = pending->data,
		.input_size = pending->used,
		.failure_line = "* BYE [UNAVAILABLE] Could not return to the "
			"not-authenticated state: reconnect.\r\n",
		.event = client->event,
	};
	/* the hand-back's I/O starts from the ioloop: the mailbox is closed
	   (no expunges reported) and the user released before any login
	   process can see the client */
	mail_handback_start(&req);
	client_destroy(&client, "Unauthenticated");
}

/* --- output --- */

/* Keep the last bytes of the unfinished line (enough for "{n}\r"). */
static void client_output_tail_add(struct client *client,
				   const unsigned char *data, size_t size)
{
	const size_t max = sizeof(client->output_tail);
	size_t keep;

	if (size >= max) {
		memcpy(client->output_tail, data + size - max, max);
		client->output_tail_len = max;
		return;
	}
	keep = I_MIN((size_t)client->output_tail_len, max - size);
	memmove(client->output_tail,
		client->output_tail + client->output_tail_len - keep, keep);
	memcpy(client->output_tail + keep, data, size);
	client->output_tail_len = (uint8_t)(keep + size);
}

/* Does the line just ended (its tail, CR included) announce a literal:
   "{n}" or "~{n}" before the CRLF? */
static bool client_output_tail_literal(const struct client *client,
				       uint64_t *size_r)
{
	const unsigned char *t = client->output_tail;
	size_t i = client->output_tail_len;
	uint64_t size = 0, mul = 1;

	if (i < 4 || t[i - 1] != '\r' || t[i - 2] != '}')
		return false;
	i -= 2;
	if (t[i - 1] < '0' || t[i - 1] > '9')
		return false;
	for (; i > 0 && t[i - 1] >= '0' && t[i - 1] <= '9'; i--) {
		if (mul > UINT64_MAX / 10 / 10)
			return false;
		size += (uint64_t)(t[i - 1] - '0') * mul;
		mul *= 10;
	}
	if (i == 0 || t[i - 1] != '{')
		return false;
	*size_r = size;
	return true;
}

/* Follow the response grammar of what is written: output stands either
   between two responses, or inside one (a line not ended yet, or the
   bytes of a literal announced by a line ending in "{n}"). The server's
   own output is grammatical, so this is exact: a CRLF inside a quoted
   string cannot occur, a string with one is sent as a literal. */
static void client_output_track(struct client *client,
				const unsigned char *data, size_t size)
{
	while (size > 0) {
		if (client->output_literal_left > 0) {
			size_t n = (size_t)I_MIN((uint64_t)size,
						 client->output_literal_left);
			client->output_literal_left -= n;
			data += n;
			size -= n;
			continue;
		}
		const unsigned char *nl = memchr(data, '\n', size);
		size_t len = nl == NULL ? size : (size_t)(nl - data);
		uint64_t literal_size;

		client_output_tail_add(client, data, len);
		client->output_mid_response = true;
		if (nl == NULL)
			break;
		data += len + 1;
		size -= len + 1;
		if (client_output_tail_literal(client, &literal_size))
			client->output_literal_left = literal_size;
		else
			client->output_mid_response = false;
		client->output_tail_len = 0;
	}
	if (!client->output_mid_response)
		client->output_owner = NULL;
	else if (client->output_owner == NULL)
		client->output_owner = client->cmd_executing;
}

static void client_write(struct client *client, const void *data,
			 size_t size)
{
	client_output_track(client, data, size);
	conn_write(client->conn, data, size);
}

void client_send_line(struct client *client, const char *line)
{
	client_write(client, line, strlen(line));
	client_write(client, "\r\n", 2);
}

void client_send_linef(struct client *client, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	T_BEGIN {
		client_send_line(client, p_strdup_vprintf(pool_datastack, fmt, args));
	} T_END;
	va_end(args);
}

void client_send_raw(struct client *client, const void *data, size_t size)
{
	client_write(client, data, size);
}

bool client_output_is_full(struct client *client)
{
	return conn_output_is_full(client->conn);
}

/* Whether a command other than cmd works on the selected mailbox now:
   it holds sequence numbers of the view (a UID command too, inside), so
   no expunge may shift them, and the client may not be told of one while
   a FETCH, STORE or SEARCH is in progress (RFC 9051 §7.5.1). */
static bool client_mailbox_busy(struct client *client,
				const struct client_command_context *cmd)
{
	const struct client_command_context *other;

	for (other = client->cmd; other != NULL; other = other->next) {
		if (other != cmd && other->running &&
		    (other->command->flags & COMMAND_FLAG_SELECTED) != 0)
			return true;
	}
	return false;
}

void client_send_tagline(struct client_command_context *cmd,
			 const char *line)
{
	struct client *client = cmd->client;

	i_assert(!cmd->tagline_sent);
	cmd->tagline_sent = true;
	if (client->mailbox != NULL && !cmd->view_synced &&
	    (strncmp(line, "OK", 2) == 0 || strncmp(line, "NO", 2) == 0)) {
		bool no_expunges = client_mailbox_busy(client, cmd) ||
			(!cmd->uid && cmd->command != NULL &&
			 (cmd->command->flags &
			  COMMAND_FLAG_NO_EXPUNGES) != 0);
		imap_sync_send(client, no_expunges);
		/* the mailbox is gone: the BYE is the last word */
		if (client->disconnecting)
			return;
	}
	T_BEGIN {
		client_send_line(client, t_strdup_printf("%s %s", cmd->tag,
							 line));
	} T_END;
}

void client_send_command_error(struct client_command_context *cmd,
			       const char *text)
{
	struct client *client = cmd->client;

	if (text == NULL)
		text = "Error in IMAP command received by server.";
	client_send_tagline(cmd, t_strdup_printf("BAD %s", text));
	if (++client->bad_counter >= CLIENT_MAX_BAD_COMMANDS) {
		client_disconnect_with_bye(client,
			"Too many invalid IMAP commands.",
			"Too many invalid IMAP commands");
	}
}

const char *client_storage_error_line(struct client *client)
{
	const char *text, *code;
	enum mail_error error = mail_user_get_last_error(client->user, &text,
							 NULL);

	if (error == MAIL_ERROR_NONE) {
		error = MAIL_ERROR_TEMP;
		text = MAIL_ERRSTR_INTERNAL;
	}
	code = mail_error_imap_code(error);
	if (text == NULL || text[0] == '\0')
		text = MAIL_ERRSTR_INTERNAL;
	return code == NULL ? t_strdup_printf("NO %s", text) :
		t_strdup_printf("NO [%s] %s", code, text);
}

void client_send_storage_error(struct client_command_context *cmd)
{
	client_send_tagline(cmd, client_storage_error_line(cmd->client));
}

/* --- commands --- */

static void client_command_finish(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (!cmd->tagline_sent) {
		e_error(client->event, "BUG: %s finished without a reply",
			cmd->name);
		client_send_tagline(cmd, "NO [SERVERBUG] Internal error.");
	}
	if (client->skip_line_after_cmd) {
		/* keep the parser's error state for skip_line() */
		client->skip_line_after_cmd = false;
		client_command_unlink(cmd);
		pool_unref(&cmd->pool);
		client->input_state = INPUT_SKIP;
	} else {
		client_command_free(&cmd);
	}
	if (client->disconnect_after_cmd &&
	    client_first_running(client) == NULL) {
		if (client->disconnect_bye != NULL)
			client_send_linef(client, "* BYE %s",
					  client->disconnect_bye);
		client->disconnecting = true;
		conn_disconnect(client->conn, client->disconnect_reason);
	}
	/* what waited for it (a command to start, pipelined input) goes on
	   from client_commands_run() */
}

/* Run cmd->func once and handle its result. */
static void client_command_call(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	bool finished;

	cmd->wants_input = false;
	cmd->resume_pending = false;
	client->cmd_executing = cmd;
	T_BEGIN {
		finished = cmd->func(cmd);
	} T_END;
	if (client->destroyed)
		return;
	client->cmd_executing = NULL;
	if (finished) {
		client_command_finish(cmd);
		return;
	}
	/* waiting: for output to drain (client_output_drained()), for input
	   it asked for, or for an asynchronous callback
	   (client_command_resume()) */
}

void client_command_wait_input(struct client_command_context *cmd)
{
	cmd->wants_input = true;
}

void client_command_resume(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	struct conn *conn;

	if (client->destroyed)
		return;
	cmd->resume_pending = true;
	/* resumed from inside another command's call: it runs after it */
	if (client->commands_running || client->cmd_executing != NULL)
		return;
	/* from a callback, outside the conn's input(): without a cork each
	   write (a line, its CRLF, the next line) is a packet of its own,
	   which Nagle holds until the client's delayed ACK */
	conn = client->conn;
	conn_ref(conn);
	conn_cork(conn);
	client_commands_run(client);
	conn_uncork(conn);
	conn_unref(&conn);
}

static void client_output_drained(struct conn *conn)
{
	struct client *client = conn_get_context(conn);
	struct client_command_context *cmd;

	/* every command not waiting for input hears of it, as it may have
	   stopped for full output or for an unflushed buffer (a command
	   waiting for something else is called in vain, which it allows) */
	for (cmd = client->cmd; cmd != NULL; cmd = cmd->next) {
		if (cmd->running && !cmd->wants_input)
			cmd->resume_pending = true;
	}
	client_commands_run(client);
}

static void client_command_start(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	cmd->running = true;
	if ((cmd->command->flags & COMMAND_FLAG_SELECTED) != 0 &&
	    client->mailbox == NULL) {
		client_send_command_error(cmd, "No mailbox selected.");
		client_command_finish(cmd);
		return;
	}
	cmd->func = cmd->command->func;
	client_command_call(cmd);
}

/* What a parsed command may run alongside (imap-commands.h, 6.). */
static void client_command_classify(struct client_command_context *cmd,
				    bool streaming)
{
	struct client *client = cmd->client;
	enum command_flags flags = cmd->command->flags;
	bool condstore = (client->enabled & (CLIENT_ENABLED_CONDSTORE |
					     CLIENT_ENABLED_QRESYNC)) != 0;

	cmd->exclusive = (flags & COMMAND_FLAG_PARALLEL) == 0 || streaming ||
		command_args_run_alone(cmd->command, cmd->args,
				       client->mailbox_readonly, condstore);
	cmd->uses_seqs = (flags & COMMAND_FLAG_USES_SEQS) != 0 && !cmd->uid;
	/* RFC 9051 §5.5: EXPUNGE responses are allowed during UID
	   commands */
	cmd->breaks_seqs = (flags & COMMAND_FLAG_BREAKS_SEQS) != 0 || cmd->uid;
}

/* Whether the parsed cmd may start now: every earlier command has started
   and none conflicts with it, and output stands between responses. */
static bool client_command_may_start(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct client_command_context *old;

	if (client->output_owner != NULL || client->disconnecting ||
	    client->disconnect_after_cmd)
		return false;
	for (old = client->cmd; old != cmd; old = old->next) {
		if (!old->running || old->exclusive || cmd->exclusive)
			return false;
		/* sequence numbers would mean something else than when
		   they were sent */
		if (cmd->uses_seqs && old->breaks_seqs)
			return false;
		if (cmd->breaks_seqs && old->uses_seqs)
			return false;
	}
	return true;
}

/* The next command to call, or NULL: one that may start, else a running
   one that was resumed (or whose output drained). Output inside a
   response allows only its owner. */
static struct client_command_context *
client_commands_next(struct client *client)
{
	struct client_command_context *cmd;

	for (cmd = client->cmd; cmd != NULL; cmd = cmd->next) {
		if (!cmd->running) {
			/* commands start in order: nothing after one that
			   waits to start (or is still being read) has */
			if (cmd->parsed && client_command_may_start(cmd))
				return cmd;
			return NULL;
		}
		if (client->output_owner != NULL && client->output_owner != cmd)
			continue;
		if (cmd->resume_pending)
			return cmd;
	}
	return NULL;
}

/* A running command that reads input itself (IDLE, APPEND), or NULL. */
static struct client_command_context *
client_input_reader(struct client *client)
{
	struct client_command_context *cmd;

	for (cmd = client->cmd; cmd != NULL; cmd = cmd->next) {
		if (cmd->running && cmd->wants_input)
			return cmd;
	}
	return NULL;
}

/* Whether the next command (or the rest of the one being read) may be
   read now. */
static bool client_may_read_command(struct client *client)
{
	const struct client_command_context *cmd;

	/* a parse error's BAD, "+ OK" for a literal: output of their own */
	if (client->disconnect_after_cmd || client->output_owner != NULL)
		return false;
	if (client->cmd_input != NULL || client->input_state == INPUT_SKIP)
		return true;
	if (client->cmd_count >= CLIENT_MAX_COMMANDS)
		return false;
	for (cmd = client->cmd; cmd != NULL; cmd = cmd->next) {
		if (!cmd->running || cmd->exclusive)
			return false;
	}
	return true;
}

static void client_update_input(struct client *client)
{
	if (client->destroyed || client->disconnecting)
		return;
	conn_set_input_paused(client->conn,
			      client_input_reader(client) == NULL &&
			      !client_may_read_command(client));
}

/* Call every command that can go on, until none can; then read input if
   it may be. Not re-entered: a command resumed meanwhile is called by the
   loop already running. */
static void client_commands_run(struct client *client)
{
	struct client_command_context *cmd;

	if (client->commands_running || client->cmd_executing != NULL)
		return;
	client->commands_running = true;
	while ((cmd = client_commands_next(client)) != NULL) {
		if (!cmd->running) {
			client_command_start(cmd);
			/* a command that reads input is called again at once,
			   as client_input() does after starting one: APPEND
			   sends its "+ OK" then */
			if (!client->destroyed && !client->in_input &&
			    client_input_reader(client) == cmd)
				client_command_call(cmd);
		} else {
			client_command_call(cmd);
		}
		if (client->destroyed)
			return;
	}
	client->commands_running = false;
	client_update_input(client);
}

static enum imap_parser_flags
client_parser_flags(struct client *client, const struct command *command)
{
	enum imap_parser_flags flags = 0;

	if ((command->flags & COMMAND_FLAG_LITERAL_STREAM) != 0)
		flags |= IMAP_PARSE_FLAG_LITERAL_STREAM;
	if ((command->flags & COMMAND_FLAG_LITERAL8) != 0)
		flags |= IMAP_PARSE_FLAG_LITERAL8;
	if ((command->flags & COMMAND_FLAG_FETCH_BRACKETS) != 0)
		flags |= IMAP_PARSE_FLAG_FETCH_BRACKETS;
	if ((client->enabled & (CLIENT_ENABLED_UTF8_ACCEPT |
				CLIENT_ENABLED_IMAP4REV2)) != 0)
		flags |= IMAP_PARSE_FLAG_UTF8;
	return flags;
}

/* A parse error in the command line: BAD (or NO [TOOBIG]) and skip the
   rest of the line, or close the connection when the stream cannot be
   resynchronised. */
static void client_parse_error(struct client *client,
			       struct client_command_context *cmd)
{
	bool fatal;
	const char *code;
	const char *error = imap_parser_get_error(client->parser, &fatal,
						  &code);

	if (cmd->tag == NULL) {
		client_send_linef(client, "* BAD %s", error);
		client->bad_counter++;
	} else if (code != NULL && cmd->command != NULL &&
		   (cmd->command->flags & COMMAND_FLAG_LITERAL_STREAM) != 0) {
		cmd->tagline_sent = true;
		client_send_linef(client, "%s NO [%s] %s", cmd->tag, code,
				  error);
	} else {
		cmd->tagline_sent = true;
		client_send_linef(client, "%s BAD %s", cmd->tag, error);
		client->bad_counter++;
	}
	if (fatal) {
		e_info(client->event, "Protocol error: %s", error);
		client_disconnect_with_bye(client, error, t_strdup_printf(
			"Protocol error: %s", error));
		return;
	}
	if (client->bad_counter >= CLIENT_MAX_BAD_COMMANDS) {
		client_disconnect_with_bye(client,
			"Too many invalid IMAP commands.",
			"Too many invalid IMAP commands");
		return;
	}
	client->input_state = INPUT_SKIP;
}

static void client_skip_done(struct client *client)
{
	if (client->cmd_input != NULL) {
		struct client_command_context *cmd = client->cmd_input;
		client_command_free(&cmd);
	} else {
		client->input_state = INPUT_NONE;
		imap_parser_reset(client->parser, NULL);
	}
}

/* Parse what input there is. Returns the bytes consumed; stops when a
   command starts running. */
static size_t client_parse_input(struct client *client,
				 const unsigned char *data, size_t size)
{
	struct client_command_context *cmd = client->cmd_input;
	const struct imap_arg *args;
	const char *word;
	size_t pos = 0, consumed;
	enum imap_parser_ret ret;

	while (pos < size && !client->disconnecting) {
		switch (client->input_state) {
		case INPUT_NONE: {
			/* stray line ends between commands are ignored */
			if (data[pos] == '\r' || data[pos] == '\n') {
				pos++;
				continue;
			}
			if (!client_may_read_command(client))
				return pos;
			cmd = client_command_new(client);
			client->cmd_input = cmd;
			imap_parser_reset(client->parser, cmd->pool);
			client->input_state = INPUT_TAG;
			continue;
		}
		case INPUT_TAG:
		case INPUT_NAME:
		case INPUT_UID_NAME:
			ret = imap_parser_read_word(client->parser, data + pos,
				size - pos, client->input_state == INPUT_TAG,
				&consumed, &word);
			pos += consumed;
			if (ret == IMAP_PARSER_RET_MORE)
				return pos;
			if (ret == IMAP_PARSER_RET_ERROR) {
				client_parse_error(client, cmd);
				continue;
			}
			if (client->input_state == INPUT_TAG) {
				cmd->tag = word;
				client->input_state = INPUT_NAME;
				if (imap_parser_at_eol(client->parser)) {
					client_send_linef(client,
						"%s BAD Missing command name.",
						cmd->tag);
					cmd->tagline_sent = true;
					client->bad_counter++;
					client->input_state = INPUT_SKIP;
				}
				continue;
			}
			if (client->input_state == INPUT_NAME &&
			    strcasecmp(word, "UID") == 0 &&
			    !imap_parser_at_eol(client->parser)) {
				cmd->uid = true;
				client->input_state = INPUT_UID_NAME;
				continue;
			}
			cmd->command = command_find(word);
			if (cmd->command == NULL ||
			    (cmd->uid &&
			     (cmd->command->flags & COMMAND_FLAG_UID) == 0)) {
				cmd->command = NULL;
				cmd->tagline_sent = true;
				client_send_linef(client, "%s BAD Unknown command.",
						  cmd->tag);
				client->input_state = INPUT_SKIP;
				if (++client->bad_counter >=
				    CLIENT_MAX_BAD_COMMANDS) {
					client_disconnect_with_bye(client,
						"Too many invalid IMAP commands.",
						"Too many invalid IMAP commands");
				}
				continue;
			}
			cmd->name = cmd->command->name;
			imap_parser_set_flags(client->parser,
				client_parser_flags(client, cmd->command));
			client->input_state = INPUT_ARGS;
			continue;
		case INPUT_ARGS:
			ret = imap_parser_read_args(client->parser, data + pos,
						    size - pos, &consumed, &args);
			pos += consumed;
			switch (ret) {
			case IMAP_PARSER_RET_MORE:
				return pos;
			case IMAP_PARSER_RET_CONTINUE:
				client_send_line(client, "+ OK");
				continue;
			case IMAP_PARSER_RET_ERROR:
				client_parse_error(client, cmd);
				continue;
			case IMAP_PARSER_RET_DONE:
			case IMAP_PARSER_RET_LITERAL:
				cmd->args = args;
				cmd->literal_pending =
					ret == IMAP_PARSER_RET_LITERAL;
				client_command_classify(cmd,
					ret == IMAP_PARSER_RET_LITERAL);
				/* client_input() starts it once the line is
				   consumed: a handler that reads input (a
				   literal, COMPRESS's pending bytes) must not
				   see the command line again */
				cmd->start_pending = true;
				return pos;
			}
			i_unreached();
		case INPUT_SKIP: {
			int r = imap_parser_skip_line(client->parser, data + pos,
						      size - pos, &consumed);
			pos += consumed;
			if (r == 0)
				return pos;
			client_skip_done(client);
			cmd = NULL;
			continue;
		}
		}
	}
	/* a word or an error at the end of the line may leave the command
	   finished without more bytes to come */
	if (client->input_state == INPUT_SKIP &&
	    imap_parser_skip_line(client->parser, data, 0, &consumed) == 1)
		client_skip_done(client);
	return pos;
}

static void client_input_loop(struct client *client)
{
	const unsigned char *data;
	size_t size;

	while (!client->destroyed && !client->disconnecting) {
		/* COMPRESS puts the session on a new conn */
		struct conn *conn = client->conn;
		struct client_command_context *cmd =
			client_input_reader(client);

		if (cmd != NULL) {
			/* it runs alone: nothing else is read meanwhile */
			size_t before = conn_input_buffered_size(conn);
			client_command_call(cmd);
			if (client->destroyed)
				return;
			bool done = client->cmd != cmd;
			client_commands_run(client);
			if (client->destroyed || !done ||
			    conn_input_buffered_size(conn) == before)
				return;
			continue;
		}
		if (client->cmd_executing != NULL)
			return;
		if (!client_may_read_command(client)) {
			client_update_input(client);
			return;
		}
		if (conn_input_peek(conn, &data, &size) <= 0)
			return;
		size_t consumed = client_parse_input(client, data, size);
		if (client->destroyed)
			return;
		conn_input_skip(conn, consumed);
		cmd = client->cmd_input;
		if (cmd != NULL && cmd->start_pending) {
			cmd->start_pending = false;
			cmd->parsed = true;
			client->cmd_input = NULL;
			client->input_state = INPUT_NONE;
			/* its arguments are in its pool; the parser's buffers
			   go back to the heap (a streaming command keeps the
			   parser) */
			if (!client_command_keeps_parser(cmd))
				imap_parser_reset(client->parser, NULL);
			client_commands_run(client);
			continue;
		}
		if (consumed == 0)
			return;
	}
}

static void client_input(struct conn *conn)
{
	struct client *client = conn_get_context(conn);

	client->in_input = true;
	client_input_loop(client);
	if (!client->destroyed)
		client->in_input = false;
}

/* --- literal streaming and command input --- */

void client_command_literal_begin(struct client_command_context *cmd,
				  uint64_t size, bool sync)
{
	cmd->literal_left = size;
	if (sync)
		client_send_line(cmd->client, "+ OK");
}

size_t client_command_literal_read(struct client_command_context *cmd,
				   const unsigned char **data_r)
{
	size_t size;

	if (cmd->literal_left == 0 ||
	    conn_input_peek(cmd->client->conn, data_r, &size) <= 0)
		return 0;
	return (size_t)I_MIN((uint64_t)size, cmd->literal_left);
}

void client_command_literal_skip(struct client_command_context *cmd,
				 size_t size)
{
	i_assert(size <= cmd->literal_left);
	conn_input_skip(cmd->client->conn, size);
	cmd->literal_left -= size;
}

int client_command_read_more_args(struct client_command_context *cmd,
				  const struct imap_arg **args_r)
{
	struct client *client = cmd->client;
	const unsigned char *data;
	size_t size, consumed;

	i_assert(cmd->literal_left == 0);
	if (cmd->literal_pending) {
		cmd->literal_pending = false;
		imap_parser_literal_done(client->parser);
		/* MULTIAPPEND: what came before the literal is the handler's
		   now; keep the parser's memory flat */
		(void)imap_parser_drop_args(client->parser);
	}
	for (;;) {
		if (conn_input_peek(client->conn, &data, &size) <= 0)
			return 0;
		enum imap_parser_ret ret =
			imap_parser_read_args(client->parser, data, size,
					      &consumed, args_r);
		conn_input_skip(client->conn, consumed);
		switch (ret) {
		case IMAP_PARSER_RET_MORE:
			continue;
		case IMAP_PARSER_RET_CONTINUE:
			client_send_line(client, "+ OK");
			continue;
		case IMAP_PARSER_RET_DONE:
			cmd->args = *args_r;
			return 1;
		case IMAP_PARSER_RET_LITERAL:
			cmd->literal_pending = true;
			cmd->args = *args_r;
			return 1;
		case IMAP_PARSER_RET_ERROR: {
			bool fatal;
			const char *code, *error =
				imap_parser_get_error(client->parser, &fatal,
						      &code);
			/* the rest of this line belongs to a command we
			   are abandoning: after a streamed literal the
			   client has nothing pending but the line end */
			if (code != NULL)
				client_send_tagline(cmd, t_strdup_printf(
					"NO [%s] %s", code, error));
			else
				client_send_command_error(cmd, error);
			if (fatal) {
				client_disconnect_with_bye(client, error,
					t_strdup_printf("Protocol error: %s",
							error));
			} else {
				/* the rest of the line is skipped once the
				   command has ended */
				client->skip_line_after_cmd = true;
			}
			return -1;
		}
		}
	}
}

int client_command_read_line(struct client_command_context *cmd,
			     const char **line_r)
{
	struct client *client = cmd->client;
	size_t len;
	int ret = conn_read_line(client->conn, CLIENT_MAX_CMD_LINE, line_r,
				 &len);

	if (ret < 0) {
		client_disconnect_with_bye(client, "Too long line.",
					   "Too long line");
	}
	return ret;
}

/* --- mailbox names --- */

/* RFC 6855 §3: no C1 controls (U+0080-U+009F), line or paragraph
   separators (U+2028, U+2029) in a mailbox name, whichever encoding the
   client used (ASCII controls are refused by the storage). name is valid
   UTF-8. */
static bool mailbox_name_has_forbidden_chars(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;

	for (; *p != '\0'; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return true;
		if (p[0] == 0xe2 && p[1] == 0x80 &&
		    (p[2] == 0xa8 || p[2] == 0xa9))
			return true;
	}
	return false;
}

bool client_mailbox_names_utf8(const struct client *client)
{
	return (client->enabled & (CLIENT_ENABLED_UTF8_ACCEPT |
				   CLIENT_ENABLED_IMAP4REV2)) != 0;
}

int client_mailbox_name_to_storage(struct client *client, const char *name,
				   const char **storage_name_r,
				   const char **error_r)
{
	if (strcasecmp(name, "INBOX") == 0) {
		*storage_name_r = "INBOX";
		return 0;
	}
	if (name[0] == '\0') {
		*error_r = "Empty mailbox name.";
		return -1;
	}
	if (client_mailbox_names_utf8(client)) {
		if (!imap_utf8_is_valid(name, strlen(name))) {
			*error_r = "Mailbox name is not valid UTF-8.";
			return -2;
		}
		*storage_name_r = name;
	} else {
		string_t *dest = t_str_new(strlen(name) + 16);
		if (imap_utf7_to_utf8(name, dest) < 0) {
			/* NO, as before: RFC 6855 §3's BAD is for UTF-8 */
			*error_r = "Mailbox name is not valid mUTF-7.";
			return -1;
		}
		*storage_name_r = str_c(dest);
	}
	/* RFC 6855 §3, RFC 9051 §5.1: storage names are NFC whatever the
	   client's encoding, so both forms of a name find one mailbox */
	*storage_name_r = imap_utf8_nfc(*storage_name_r);
	if (mailbox_name_has_forbidden_chars(*storage_name_r)) {
		*error_r = "Mailbox name contains control or separator "
			"characters.";
		return -1;
	}
	/* "INBOX/child" keeps INBOX's canonical case */
	if (strncasecmp(*storage_name_r, "INBOX/", 6) == 0) {
		*storage_name_r = t_strdup_printf("INBOX%s",
						  *storage_name_r + 5);
	}
	return 0;
}

bool client_command_mailbox_name(struct client_command_context *cmd,
				 const char *name,
				 const char **storage_name_r)
{
	const char *error;
	int ret = client_mailbox_name_to_storage(cmd->client, name,
						 storage_name_r, &error);

	if (ret == -2) {
		/* malformed in the client's encoding (RFC 6855 §3) */
		client_send_command_error(cmd, error);
		return false;
	}
	if (ret < 0) {
		client_send_tagline(cmd, t_strdup_printf("NO [CANNOT] %s",
							 error));
		return false;
	}
	return true;
}

const char *client_mailbox_name_to_imap(struct client *client,
					const char *storage_name)
{
	if (client_mailbox_names_utf8(client))
		return storage_name;
	string_t *dest = t_str_new(strlen(storage_name) + 16);
	if (imap_utf8_to_utf7(storage_name, dest) < 0) {
		/* storage names are validated UTF-8; this cannot happen,
		   but never send 8-bit to a client that did not ask */
		return "INBOX";
	}
	return str_c(dest);
}

void client_mailbox_close(struct client *client)
{
	struct client_command_context *cmd, *next;
	char **kw;

	if (client->mailbox == NULL)
		return;
	/* The mailbox went away under commands in progress (a sync found it
	   deleted; SELECT, CLOSE and the like run alone): they hold its view
	   and will not be answered - the session ends with BYE. */
	for (cmd = client->cmd; cmd != NULL; cmd = next) {
		next = cmd->next;
		if (cmd == client->cmd_executing || !cmd->running ||
		    (cmd->command->flags & COMMAND_FLAG_SELECTED) == 0)
			continue;
		if (cmd->cancel != NULL)
			cmd->cancel(cmd);
		client_command_free(&cmd);
	}
	if (mailbox_notify_changes(client->mailbox, NULL, NULL) < 0) {
		/* nothing to undo: the mailbox is closed next anyway */
	}
	mailbox_close(&client->mailbox);
	array_foreach(&client->keywords, kw)
		i_free(*kw);
	array_free(&client->keywords);
	array_free(&client->search_saved_uids);
	client->messages_count = 0;
	client->mailbox_readonly = false;
}
