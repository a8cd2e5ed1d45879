/* An LMTP connection: greeting, the command loop, the DATA and BDAT input
   modes that stream the body into the delivery, and the end of the
   connection. Commands themselves live in cmd-*.c. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "master-service.h"
#include "columba-settings.h"
#include "auth-master-client.h"
#include "lmtp-common.h"
#include "lmtp-client.h"
#include "lmtp-journal.h"

#include <fcntl.h>
#include <unistd.h>

/* RFC 5321 4.5.3.2.7: 5 minutes for a command; the DATA body is covered
   by the same idle timer (any byte counts as progress). */
#define LMTP_IDLE_TIMEOUT_MSECS (5 * 60 * 1000)
/* Postfix smtpd_hard_error_limit */
#define LMTP_MAX_BAD_COMMANDS 20

struct lmtp_globals lmtp;

static const struct conn_settings lmtp_conn_set = {
	.name = "lmtp",
	.idle_timeout_msecs = LMTP_IDLE_TIMEOUT_MSECS,
};

static const struct {
	const char *name;
	void (*func)(struct lmtp_client *client, const char *args);
} lmtp_commands[] = {
	{ "LHLO", cmd_lhlo },
	{ "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },
	{ "BDAT", cmd_bdat },
	{ "RSET", cmd_rset },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy },
};

static void lmtp_client_destroy(struct lmtp_client *client);

bool lmtp_listener_is(const char *listener_name)
{
	const char *protocol = columba_listener_protocol(listener_name);

	return protocol != NULL && strcmp(protocol, "lmtp") == 0;
}

void lmtp_client_reply(struct lmtp_client *client, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	T_BEGIN {
		string_t *str = t_str_new(128);
		str_vprintfa(str, fmt, args);
		str_append(str, "\r\n");
		conn_write(client->conn, str_c(str), str_len(str));
	} T_END;
	va_end(args);
}

void lmtp_client_disconnect(struct lmtp_client *client, const char *reason)
{
	if (!conn_is_disconnected(client->conn))
		conn_disconnect(client->conn, reason);
}

void lmtp_client_error(struct lmtp_client *client, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	T_BEGIN {
		const char *text = p_strdup_vprintf(pool_datastack, fmt, args);
		i_info("lmtp(%s, session=%s): %s", client->peer_name,
		       client->session_id, str_sanitize(text, 200));
		lmtp_client_reply(client, "%s", text);
	} T_END;
	va_end(args);
	if (++client->bad_commands >= LMTP_MAX_BAD_COMMANDS) {
		lmtp_client_reply(client, "421 4.7.0 %s Too many invalid commands",
				  lmtp.hostname);
		lmtp_client_disconnect(client, "Too many invalid commands");
	}
}

unsigned int lmtp_client_rcpt_count(const struct lmtp_client *client)
{
	return array_is_created(&client->rcpts) ?
		array_count(&client->rcpts) : 0;
}

void lmtp_client_transaction_reset(struct lmtp_client *client)
{
	if (client->lookup != NULL)
		auth_master_lookup_abort(&client->lookup);
	client->lookup_rcpt = NULL;
	if (client->delivery != NULL)
		lmtp_delivery_abort(&client->delivery);
	client->mail_given = false;
	client->bdat_used = false;
	client->smtputf8 = false;
	client->body_type = LMTP_BODY_7BIT;
	memset(&client->mail_from, 0, sizeof(client->mail_from));
	memset(&client->rcpts, 0, sizeof(client->rcpts));
	pool_clear(client->tx_pool);
}

void lmtp_client_pause(struct lmtp_client *client)
{
	conn_set_input_paused(client->conn, true);
}

void lmtp_client_hold_replies(struct lmtp_client *client)
{
	if (client->replies_held ||
	    conn_input_buffered_size(client->conn) == 0)
		return;
	client->replies_held = true;
	conn_cork(client->conn);
}

void lmtp_client_release_replies(struct lmtp_client *client, bool force)
{
	if (!client->replies_held)
		return;
	/* held while the buffered commands can still be handled: a lookup
	   is running, or input resumes on the buffered commands (unless
	   the output is full, when input waits for it to drain) */
	if (!force && !conn_is_disconnected(client->conn) &&
	    (client->lookup != NULL ||
	     (conn_input_buffered_size(client->conn) > 0 &&
	      !conn_input_is_paused(client->conn) &&
	      !conn_output_is_full(client->conn))))
		return;
	client->replies_held = false;
	conn_uncork(client->conn);
}

void lmtp_client_command_done(struct lmtp_client *client)
{
	if (client->stopping && client->delivery == NULL &&
	    client->lookup == NULL && client->input_mode == LMTP_INPUT_COMMAND) {
		lmtp_client_reply(client, "421 4.3.2 %s Server shutting down",
				  lmtp.hostname);
		lmtp_client_disconnect(client, "Server shutting down");
		return;
	}
	/* resumes input() for what is already buffered */
	conn_set_input_paused(client->conn, false);
}

static void lmtp_client_handle_command(struct lmtp_client *client,
				       const char *line, size_t len)
{
	const char *verb, *args, *error;

	if (smtp_command_parse(line, len, &verb, &args, &error) < 0) {
		lmtp_client_error(client, "500 5.5.2 %s", error);
		return;
	}
	for (unsigned int i = 0; i < N_ELEMENTS(lmtp_commands); i++) {
		if (strcmp(lmtp_commands[i].name, verb) == 0) {
			lmtp_commands[i].func(client, args);
			return;
		}
	}
	if (strcmp(verb, "HELO") == 0 || strcmp(verb, "EHLO") == 0) {
		lmtp_client_error(client, "500 5.5.1 This is LMTP: use LHLO");
		return;
	}
	lmtp_client_error(client, "500 5.5.1 Unknown command");
}

static void lmtp_client_input_commands(struct lmtp_client *client)
{
	const char *line;
	size_t len;
	int ret;

	while (client->input_mode == LMTP_INPUT_COMMAND &&
	       !conn_input_is_paused(client->conn) &&
	       !conn_is_disconnected(client->conn) &&
	       (ret = conn_read_line(client->conn, SMTP_COMMAND_LINE_MAX,
				     &line, &len)) != 0) {
		if (ret < 0) {
			lmtp_client_reply(client, "500 5.5.2 Line too long");
			lmtp_client_disconnect(client, "Command line too long");
			return;
		}
		T_BEGIN {
			lmtp_client_handle_command(client, line, len);
		} T_END;
		if (client->stopping && client->delivery == NULL &&
		    client->lookup == NULL &&
		    client->input_mode == LMTP_INPUT_COMMAND &&
		    !conn_is_disconnected(client->conn)) {
			/* the process is stopping and no message is on its
			   way: the MTA retries on a new connection */
			lmtp_client_command_done(client);
			return;
		}
	}
}

/* DATA: decode what is buffered, feed the delivery, stop at the end line
   or when the storage wants us to wait. */
static void lmtp_client_input_data(struct lmtp_client *client)
{
	const unsigned char *data;
	size_t size;

	while (client->input_mode == LMTP_INPUT_DATA &&
	       !conn_input_is_paused(client->conn) &&
	       conn_input_peek(client->conn, &data, &size) > 0) {
		bool end;
		buffer_reset(client->data_buf);
		size_t used = smtp_dot_decode(&client->dot, data, size,
					      client->data_buf, &end);
		conn_input_skip(client->conn, used);
		bool more = lmtp_delivery_write(client->delivery,
			buffer_data(client->data_buf),
			buffer_used(client->data_buf));
		if (end) {
			client->input_mode = LMTP_INPUT_COMMAND;
			lmtp_client_pause(client);
			lmtp_delivery_finish(client->delivery);
			return;
		}
		if (!more) {
			/* the delivery resumes us when the saves drained */
			lmtp_client_pause(client);
			return;
		}
	}
}

static void lmtp_client_input_bdat(struct lmtp_client *client)
{
	const unsigned char *data;
	size_t size;

	while ((client->input_mode == LMTP_INPUT_BDAT ||
		client->input_mode == LMTP_INPUT_BDAT_DISCARD) &&
	       !conn_input_is_paused(client->conn)) {
		if (client->bdat_left > 0) {
			if (conn_input_peek(client->conn, &data, &size) <= 0)
				return;
			size_t n = (size_t)I_MIN((uint64_t)size,
						 client->bdat_left);
			bool more = true;
			if (client->input_mode == LMTP_INPUT_BDAT)
				more = lmtp_delivery_write(client->delivery,
							   data, n);
			conn_input_skip(client->conn, n);
			client->bdat_left -= n;
			if (!more && client->bdat_left > 0) {
				lmtp_client_pause(client);
				return;
			}
			continue;
		}
		/* the chunk is complete */
		if (client->input_mode == LMTP_INPUT_BDAT_DISCARD) {
			client->input_mode = LMTP_INPUT_COMMAND;
			lmtp_client_error(client, "%s",
					  client->bdat_discard_reply);
			i_free(client->bdat_discard_reply);
			return;
		}
		client->input_mode = LMTP_INPUT_COMMAND;
		if (client->bdat_last) {
			lmtp_client_pause(client);
			lmtp_delivery_finish(client->delivery);
			return;
		}
		lmtp_client_reply(client, "250 2.0.0 OK %llu octets received",
				  (unsigned long long)
				  lmtp_delivery_get_size(client->delivery));
		return;
	}
}

static void lmtp_client_input(struct conn *conn)
{
	struct lmtp_client *client = conn_get_context(conn);

	/* after a mode change the next mode's reader takes the rest */
	for (;;) {
		enum lmtp_input_mode mode = client->input_mode;

		switch (mode) {
		case LMTP_INPUT_COMMAND:
			lmtp_client_input_commands(client);
			break;
		case LMTP_INPUT_DATA:
			lmtp_client_input_data(client);
			break;
		case LMTP_INPUT_BDAT:
		case LMTP_INPUT_BDAT_DISCARD:
			lmtp_client_input_bdat(client);
			break;
		}
		if (client->input_mode == mode || client->destroyed ||
		    conn_input_is_paused(conn) || conn_is_disconnected(conn))
			break;
	}
	/* what could be handled without the client was: unless a RCPT
	   waits for userdb, the held replies go (with those of this call:
	   input() runs corked) */
	if (!client->destroyed && client->lookup == NULL)
		lmtp_client_release_replies(client, true);
}

static void lmtp_client_disconnected(struct conn *conn, const char *reason)
{
	struct lmtp_client *client = conn_get_context(conn);

	if (client->delivery != NULL || client->input_mode != LMTP_INPUT_COMMAND) {
		i_info("lmtp(%s, session=%s): Disconnected in the middle of a transaction: %s",
		       client->peer_name, client->session_id, reason);
	} else if (strcmp(reason, "Connection closed") != 0) {
		i_info("lmtp(%s, session=%s): Disconnected: %s",
		       client->peer_name, client->session_id, reason);
	}
	lmtp_client_destroy(client);
}

static const struct conn_vfuncs lmtp_conn_vfuncs = {
	.input = lmtp_client_input,
	.disconnected = lmtp_client_disconnected,
};

static char *lmtp_session_id_new(void)
{
	static const char chars[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static unsigned int counter;
	unsigned char rnd[12];
	char id[17];

	if (getentropy(rnd, sizeof(rnd)) < 0) {
		/* no entropy source: unique in this process is enough for
		   a log correlation id */
		uint64_t v = ((uint64_t)getpid() << 32) ^ ++counter ^
			ioloop_msecs_monotonic();
		memcpy(rnd, &v, sizeof(v));
		memset(rnd + 8, 0, 4);
	}
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = i * 6;
		unsigned int v = ((unsigned int)rnd[bits / 8] << 8 |
				  (bits / 8 + 1 < sizeof(rnd) ?
				   rnd[bits / 8 + 1] : 0)) >> (10 - bits % 8);
		id[i] = chars[v & 63];
	}
	id[16] = '\0';
	return i_strdup(id);
}

void lmtp_client_create(struct master_service_connection *mconn)
{
	struct lmtp_client *client = i_new(struct lmtp_client, 1);

	client->pool = pool_alloconly_create("lmtp client", 1024);
	client->tx_pool = pool_alloconly_create("lmtp transaction", 4096);
	client->session_id = lmtp_session_id_new();
	client->remote_ip = mconn->remote_ip;
	client->local_ip = mconn->local_ip;
	client->remote_port = mconn->remote_port;
	client->local_port = mconn->local_port;
	client->peer_name = IPADDR_IS_SET(&mconn->remote_ip) ?
		i_strdup_printf("%s", net_ip2addr(&mconn->remote_ip)) :
		i_strdup("local");
	client->data_buf = buffer_create(system_pool, 4096);
	client->conn = conn_create(mconn->fd, &lmtp_conn_set,
				   &lmtp_conn_vfuncs, client);
	client->next = lmtp.clients;
	if (lmtp.clients != NULL)
		lmtp.clients->prev = client;
	lmtp.clients = client;
	master_service_client_connected(lmtp.service);

	lmtp_client_reply(client, "220 %s Columba LMTP ready", lmtp.hostname);
}

static void lmtp_client_destroy(struct lmtp_client *client)
{
	i_assert(!client->destroyed);
	client->destroyed = true;
	lmtp_client_transaction_reset(client);
	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		lmtp.clients = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;
	conn_destroy(&client->conn);
	buffer_free(&client->data_buf);
	pool_unref(&client->tx_pool);
	pool_unref(&client->pool);
	i_free(client->lhlo);
	i_free(client->bdat_discard_reply);
	i_free(client->peer_name);
	i_free(client->session_id);
	free(client);
	master_service_client_disconnected(lmtp.service);
}

void lmtp_init(struct master_service *service)
{
	char hostname[256];

	memset(&lmtp, 0, sizeof(lmtp));
	lmtp.service = service;
	lmtp.set = master_service_get_settings(service);
	lmtp.auth = auth_master_client_init(t_strdup_printf(
		"%s/auth-userdb", lmtp.set->base_dir));
	if (lmtp.set->hostname != NULL && lmtp.set->hostname[0] != '\0')
		lmtp.hostname = i_strdup(lmtp.set->hostname);
	else if (gethostname(hostname, sizeof(hostname)) == 0) {
		hostname[sizeof(hostname) - 1] = '\0';
		lmtp.hostname = i_strdup(hostname);
	} else {
		lmtp.hostname = i_strdup("localhost");
	}
	/* mail_fsync = never saves without a single flush: nothing for a
	   journal to save */
	if (lmtp.set->state_dir[0] != '\0' &&
	    strcmp(lmtp.set->mail_fsync, "never") != 0) T_BEGIN {
		lmtp_journal_init(t_strdup_printf("%s/lmtp",
						  lmtp.set->state_dir));
	} T_END;
}

void lmtp_clients_stop(bool shutdown ATTR_UNUSED)
{
	struct lmtp_client *client, *next;

	/* clients between commands go now (421 may be sent at any time,
	   RFC 5321 3.8); a client whose message is arriving or being
	   committed finishes it (the MTA gets its replies) and goes after */
	for (client = lmtp.clients; client != NULL; client = next) {
		next = client->next;
		client->stopping = true;
		if (client->delivery == NULL && client->lookup == NULL &&
		    client->input_mode == LMTP_INPUT_COMMAND) {
			lmtp_client_reply(client, "421 4.3.2 %s Server shutting down",
					  lmtp.hostname);
			lmtp_client_disconnect(client, "Server shutting down");
		}
	}
}

void lmtp_deinit(void)
{
	while (lmtp.clients != NULL)
		lmtp_client_destroy(lmtp.clients);
	lmtp_journal_deinit();
	lmtp_user_cache_deinit();
	if (lmtp.auth != NULL)
		auth_master_client_deinit(&lmtp.auth);
	i_free(lmtp.hostname);
}
