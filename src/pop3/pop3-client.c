/* The POP3 session core: the snapshot of INBOX taken at login, command
   lines read one at a time (pipelined ones wait in the connection while a
   message streams out), the replies, the UPDATE state, and the end of the
   session. Nothing in the mailbox changes before QUIT: DELE and RETR's
   \Seen are remembered and applied by pop3_client_update(), so a lost
   connection deletes nothing (RFC 1939 §6). */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "str.h"
#include "strfuncs.h"
#include "seq-range.h"
#include "master-service.h"
#include "columba-settings.h"
#include "pop3-command.h"
#include "pop3-uidl.h"
#include "pop3-commands.h"
#include "mail-session.h"

#include <strings.h>
#include <unistd.h>

static struct pop3_client *pop3_clients;

static void pop3_client_input(struct conn *conn);
static void pop3_client_conn_disconnected(struct conn *conn,
					  const char *reason);
static void pop3_client_stream_finished(struct conn *conn);

static const struct conn_settings pop3_conn_set = {
	.name = "pop3",
	.input_max_size = POP3_MAX_COMMAND_LINE + 2,
	.idle_timeout_msecs = POP3_CLIENT_AUTOLOGOUT_MSECS,
};
static const struct conn_vfuncs pop3_conn_vfuncs = {
	.input = pop3_client_input,
	.disconnected = pop3_client_conn_disconnected,
	.stream_finished = pop3_client_stream_finished,
};

struct pop3_client *pop3_client_get_list(void)
{
	return pop3_clients;
}

struct pop3_client *pop3_client_create(struct master_service *service,
				       const struct columba_settings *set,
				       int fd, struct mail_user *user,
				       const char *username,
				       const char *session_id)
{
	pool_t pool = pool_alloconly_create("pop3 client", 1024);
	struct pop3_client *client = p_new(pool, struct pop3_client, 1);

	client->pool = pool;
	client->service = service;
	client->set = set;
	client->user = user;
	client->lock_fd = -1;
	client->event = event_create(mail_user_get_event(user));
	event_set_category(client->event, "pop3");
	event_add_str(client->event, "user", username);
	event_add_str(client->event, "session", session_id);
	/* the parent (the hand-off's event, through the user's) may carry a
	   prefix of its own: ours replaces it */
	event_replace_log_prefix(client->event,
		session_id[0] == '\0' ? t_strdup_printf("pop3(%s): ", username) :
		t_strdup_printf("pop3(%s)<%s>: ", username, session_id));
	client->conn = conn_create(fd, &pop3_conn_set, &pop3_conn_vfuncs,
				   client);
	conn_set_name(client->conn, event_get_log_prefix(client->event));

	client->next = pop3_clients;
	if (pop3_clients != NULL)
		pop3_clients->prev = client;
	pop3_clients = client;
	if (service != NULL)
		master_service_client_connected(service);
	return client;
}

static bool pop3_deleted_flag_set(const struct pop3_client *client)
{
	return client->set->pop3_deleted_flag != NULL &&
		client->set->pop3_deleted_flag[0] != '\0';
}

static bool has_keyword(const char *const *keywords, const char *name)
{
	if (keywords == NULL)
		return false;
	for (; *keywords != NULL; keywords++) {
		if (strcasecmp(*keywords, name) == 0)
			return true;
	}
	return false;
}

int pop3_client_load_snapshot(struct pop3_client *client)
{
	ARRAY_TYPE(seq_range) uids;
	ARRAY_TYPE(mail_index_record) recs;

	if (mailbox_open(client->user, "INBOX", &client->box) < 0)
		return -1;
	client->uidvalidity = mailbox_get_uidvalidity(client->box);

	/* the view as it was opened is the snapshot: records of UIDs
	   outside it (saved since) are not asked for */
	uint32_t count = mailbox_get_messages_count(client->box);
	array_init(&uids, pool_datastack, 16);
	for (uint32_t seq = 1; seq <= count; seq++)
		seq_range_array_add(&uids, mailbox_seq_to_uid(client->box, seq));
	array_init(&recs, pool_datastack, count + 1);
	if (count > 0 &&
	    mailbox_fetch_records(client->box, &uids, MAIL_INDEX_FETCH_DETAILS,
				  pool_datastack, &recs) < 0)
		return -1;

	client->msgs = p_new(client->pool, struct pop3_msg, array_count(&recs) + 1);
	const struct mail_index_record *rec;
	array_foreach(&recs, rec) {
		if (pop3_deleted_flag_set(client) &&
		    has_keyword(rec->keywords, client->set->pop3_deleted_flag))
			continue;
		struct pop3_msg *msg = &client->msgs[client->count++];
		msg->uid = rec->uid;
		msg->size = rec->rfc822_size;
		msg->physical_size = rec->physical_size;
		msg->blob_key = p_strdup(client->pool, rec->blob_key);
		msg->guid = p_strdup(client->pool, rec->guid == NULL ? "" :
				     rec->guid);
		msg->seen = (rec->flags & MAIL_SEEN) != 0;
		client->total_size += msg->size;
	}
	return 0;
}

static void pop3_client_destroy(struct pop3_client *client, const char *reason)
{
	if (client->destroyed)
		return;
	client->destroyed = true;

	if (!client->disconnecting && client->box != NULL &&
	    !client->set->pop3_no_flag_updates) {
		/* RETRieved without QUIT: the client has the messages, so
		   they are marked \Seen all the same (as Dovecot does);
		   deletions wait for a QUIT that never came */
		for (uint32_t i = 0; i < client->count; i++)
			client->msgs[i].deleted = false;
		client->deleted_count = 0;
		if (pop3_client_update(client) < 0)
			e_error(client->event, "Setting \\Seen at disconnect failed");
	}
	e_info(client->event, "Disconnected: %s top=%u/%llu, retr=%u/%llu, "
	       "del=%u/%u, size=%llu", reason, client->top_count,
	       (unsigned long long)client->top_bytes, client->retr_count,
	       (unsigned long long)client->retr_bytes,
	       client->expunged_count, client->count,
	       (unsigned long long)client->total_size);
	if (client->box != NULL)
		mailbox_close(&client->box);
	conn_destroy(&client->conn);
	mail_user_deinit(&client->user);
	if (client->lock_fd != -1 && close(client->lock_fd) < 0)
		e_error(client->event, "close(pop3 lock) failed: %m");

	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		pop3_clients = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	if (client->service != NULL)
		master_service_client_disconnected(client->service);
	/* mail_max_userip_connections stops counting the session */
	const struct event_field *sid = event_find_field(client->event,
							 "session");
	mail_session_ended(sid == NULL ? NULL : sid->value.str);
	event_unref(&client->event);
	pool_unref(&client->pool);
}

void pop3_client_disconnect(struct pop3_client *client, const char *text,
			    const char *log_reason)
{
	if (client->disconnecting)
		return;
	if (text != NULL && !conn_is_streaming(client->conn))
		pop3_client_send_linef(client, "-ERR %s", text);
	client->disconnecting = true;
	conn_disconnect(client->conn, log_reason);
}

static void pop3_client_conn_disconnected(struct conn *conn,
					  const char *reason)
{
	struct pop3_client *client = conn_get_context(conn);

	if (strcmp(reason, "Idle timeout") == 0) {
		if (!conn_is_streaming(conn))
			pop3_client_send_line(client, "-ERR Disconnected for inactivity.");
		reason = "Disconnected for inactivity";
		/* an autologout is not a QUIT: no UPDATE (RFC 1939 §3) */
	}
	pop3_client_destroy(client, reason);
}

void pop3_client_input_push(struct pop3_client *client, const void *data,
			    size_t size)
{
	if (size > 0)
		conn_input_push(client->conn, data, size);
}

/* --- output --- */

void pop3_client_send_line(struct pop3_client *client, const char *line)
{
	conn_write_str(client->conn, line);
	conn_write(client->conn, "\r\n", 2);
}

void pop3_client_send_linef(struct pop3_client *client, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	T_BEGIN {
		pop3_client_send_line(client,
			p_strdup_vprintf(pool_datastack, fmt, args));
	} T_END;
	va_end(args);
}

bool pop3_client_bad(struct pop3_client *client, const char *text)
{
	pop3_client_send_linef(client, "-ERR %s", text);
	if (++client->bad_counter < POP3_CLIENT_MAX_BAD_COMMANDS)
		return true;
	pop3_client_disconnect(client, "Too many invalid commands.",
			       "Too many invalid commands");
	return false;
}

void pop3_client_send_storage_error(struct pop3_client *client)
{
	const char *text;
	enum mail_error error = mail_user_get_last_error(client->user, &text,
							 NULL);

	if (error == MAIL_ERROR_NONE || text == NULL || text[0] == '\0')
		text = MAIL_ERRSTR_INTERNAL;
	pop3_client_send_linef(client, "-ERR [SYS/TEMP] %s", text);
}

int pop3_client_get_msg(struct pop3_client *client, const char *arg,
			uint32_t *idx_r)
{
	uint32_t num;

	if (pop3_parse_uint(arg, &num) < 0) {
		return pop3_client_bad(client, t_strdup_printf(
			"Invalid message number: %s", str_sanitize(arg, 20))) ?
			-1 : 0;
	}
	if (num == 0 || num > client->count) {
		return pop3_client_bad(client, t_strdup_printf(
			"There's no message %u.", num)) ? -1 : 0;
	}
	if (client->msgs[num - 1].deleted) {
		pop3_client_send_line(client, "-ERR Message is deleted.");
		return -1;
	}
	*idx_r = num - 1;
	return 1;
}

const char *pop3_client_uidl(struct pop3_client *client, uint32_t idx)
{
	const struct pop3_uidl_params params = {
		.uid = client->msgs[idx].uid,
		.uidvalidity = client->uidvalidity,
		.guid = client->msgs[idx].guid,
	};
	const char *uidl, *error;

	if (pop3_uidl_expand(client->set->pop3_uidl_format, &params, &uidl,
			     &error) < 0) {
		e_error(client->event, "Invalid pop3_uidl_format %s: %s",
			str_sanitize(client->set->pop3_uidl_format, 100), error);
		return NULL;
	}
	return uidl;
}

/* --- the UPDATE state --- */

int pop3_client_update(struct pop3_client *client)
{
	ARRAY_TYPE(seq_range) seen, del;

	array_init(&seen, pool_datastack, 8);
	array_init(&del, pool_datastack, 8);
	for (uint32_t i = 0; i < client->count; i++) {
		struct pop3_msg *msg = &client->msgs[i];
		if (msg->deleted)
			seq_range_array_add(&del, msg->uid);
		else if (msg->seen_pending && !msg->seen)
			seq_range_array_add(&seen, msg->uid);
	}
	if (array_count(&seen) > 0 && !client->set->pop3_no_flag_updates) {
		const struct mail_index_flag_update upd = {
			.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
		};
		if (mailbox_update_flags(client->box, &seen, &upd, NULL,
					 NULL, NULL) < 0)
			return -1;
		for (uint32_t i = 0; i < client->count; i++) {
			if (client->msgs[i].seen_pending)
				client->msgs[i].seen = true;
		}
	}
	if (array_count(&del) == 0)
		return 0;
	if (pop3_deleted_flag_set(client)) {
		const char *keywords[] = { client->set->pop3_deleted_flag, NULL };
		const struct mail_index_flag_update upd = {
			.type = MAIL_INDEX_MODIFY_ADD, .keywords = keywords,
		};
		if (mailbox_update_flags(client->box, &del, &upd, NULL, NULL,
					 NULL) < 0)
			return -1;
	} else {
		if (mailbox_expunge(client->box, &del, false, NULL) < 0)
			return -1;
	}
	client->expunged_count = client->deleted_count;
	return 0;
}

/* --- input --- */

/* Returns false if input must stop. */
static bool pop3_client_line(struct pop3_client *client, const char *line,
			     size_t len)
{
	struct pop3_command_line cmd;
	const char *error;

	if (pop3_command_parse(line, len, &cmd, &error) < 0)
		return pop3_client_bad(client, error);
	pop3_command_func_t *func = pop3_command_find(cmd.name);
	if (func == NULL) {
		return pop3_client_bad(client, t_strdup_printf(
			"Unknown command: %s", str_sanitize(cmd.name, 20)));
	}
	return func(client, cmd.args);
}

static void pop3_client_input(struct conn *conn)
{
	struct pop3_client *client = conn_get_context(conn);

	while (!client->disconnecting && !client->streaming) {
		const char *line;
		size_t len;
		int ret = conn_read_line(conn, POP3_MAX_COMMAND_LINE, &line, &len);
		if (ret == 0)
			return;
		if (ret < 0) {
			pop3_client_disconnect(client, "Input line too long.",
					       "Command line too long");
			return;
		}
		bool cont;
		T_BEGIN {
			cont = pop3_client_line(client, t_strndup(line, len), len);
		} T_END;
		if (!cont)
			return;
	}
}

static void pop3_client_stream_finished(struct conn *conn)
{
	struct pop3_client *client = conn_get_context(conn);

	/* the stream ended with the ".\r\n" line: next command */
	client->streaming = false;
	conn_set_input_paused(conn, false);
}
