/* The relay between a TLS client and the mail process that serves its
   session: the login process holds the TLS state (OpenSSL sessions cannot
   move between processes) and copies plaintext both ways over a socket
   pair. Back-pressure in both directions: a side's input is paused while
   the other side's output is full, and resumes when that output drains,
   so neither a fast client nor a fast mail process makes us buffer
   without bound. When one side ends, what is still buffered for the
   other side is flushed before it is closed. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "login-common.h"

/* How long a closing side may take to drain what was buffered for it. */
#define LOGIN_RELAY_DRAIN_TIMEOUT_MSECS (30 * 1000)

struct login_relay {
	struct login_client *client;
	/* our end of the socket pair to the mail process */
	struct conn *pair;
	/* the mail process closed: flush to the client, then end */
	struct timeout *to_drain;
};

static void relay_pair_input(struct conn *conn);
static void relay_pair_disconnected(struct conn *conn, const char *reason);
static void relay_pair_output_drained(struct conn *conn);

static const struct conn_settings relay_pair_set = {
	.name = "login-relay",
	.input_ignores_output_full = true,
};
/* The client's conn from now on: no pre-login idle limit (the mail
   process has its own autologout), our own back-pressure. */
static const struct conn_settings relay_client_set = {
	.name = "login-relay-client",
	.input_ignores_output_full = true,
};
static const struct conn_vfuncs relay_pair_vfuncs = {
	.input = relay_pair_input,
	.disconnected = relay_pair_disconnected,
	.output_drained = relay_pair_output_drained,
};

/* Copy what from has buffered into to; pause from when to is full.
   Returns the number of bytes copied. */
static size_t relay_copy(struct conn *from, struct conn *to)
{
	const unsigned char *data;
	size_t size, total = 0;

	while (!conn_output_is_full(to) &&
	       conn_input_peek(from, &data, &size) > 0) {
		conn_write(to, data, size);
		conn_input_skip(from, size);
		total += size;
	}
	if (conn_output_is_full(to))
		conn_set_input_paused(from, true);
	return total;
}

static void relay_end(struct login_relay *relay, const char *reason)
{
	struct login_client *client = relay->client;

	e_debug(client->event, "Relay ended: %s", reason);
	login_client_disconnect(client, NULL, reason);
}

void login_relay_client_input(struct login_client *client)
{
	struct login_relay *relay = client->relay;

	if (relay->pair == NULL)
		return; /* draining towards the client: input is moot */
	(void)relay_copy(client->conn, relay->pair);
}

static void relay_pair_input(struct conn *conn)
{
	struct login_relay *relay = conn_get_context(conn);
	(void)relay_copy(conn, relay->client->conn);
}

/* The pair's output went down: the client's input may flow again. */
static void relay_pair_output_drained(struct conn *conn)
{
	struct login_relay *relay = conn_get_context(conn);
	conn_set_input_paused(relay->client->conn, false);
}

static void relay_drain_timeout(void *context)
{
	struct login_relay *relay = context;
	relay_end(relay, "Relay: client did not read the rest of the output");
}

void login_relay_client_output_drained(struct login_client *client)
{
	struct login_relay *relay = client->relay;

	if (relay->pair != NULL) {
		conn_set_input_paused(relay->pair, false);
		return;
	}
	/* the mail process is gone: end once the client has it all */
	if (conn_output_buffered_size(client->conn) == 0)
		relay_end(relay, "Logged out");
}

static void relay_pair_disconnected(struct conn *conn, const char *reason)
{
	struct login_relay *relay = conn_get_context(conn);
	struct login_client *client = relay->client;

	/* the mail process ended the session (LOGOUT, autologout, a
	   crash): whatever it said last still goes to the client */
	conn_destroy(&relay->pair);
	int ret = conn_flush(client->conn);
	if (ret != 0) {
		relay_end(relay, ret > 0 ? "Logged out" : reason);
		return;
	}
	conn_set_input_paused(client->conn, true);
	relay->to_drain = timeout_add(LOGIN_RELAY_DRAIN_TIMEOUT_MSECS,
				      relay_drain_timeout, relay);
}

void login_relay_start(struct login_client *client, int fd)
{
	struct login_relay *relay = i_new(struct login_relay, 1);

	relay->client = client;
	client->relay = relay;
	conn_set_settings(client->conn, &relay_client_set);
	relay->pair = conn_create(fd, &relay_pair_set, &relay_pair_vfuncs,
				  relay);
	conn_set_name(relay->pair, t_strdup_printf("login-relay %s",
						   client->session_id));
	/* input pipelined after the login command is still buffered in
	   the client's conn: it flows now */
	conn_set_input_paused(client->conn, false);
}

void login_relay_destroy(struct login_client *client)
{
	struct login_relay *relay = client->relay;

	client->relay = NULL;
	/* conn_destroy() makes a last attempt to flush to the mail
	   process, which then sees EOF and ends the session */
	conn_destroy(&relay->pair);
	if (relay->to_drain != NULL)
		timeout_remove(&relay->to_drain);
	free(relay);
}
