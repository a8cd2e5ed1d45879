/* The relay between a TLS client and the mail process that serves its
   session: the login process holds the TLS state (OpenSSL sessions cannot
   move between processes) and copies plaintext both ways over a socket
   pair. Back-pressure in both directions: a side's input is paused while
   the other side's output is full, and resumes when that output drains,
   so neither a fast client nor a fast mail process makes us buffer
   without bound. When one side ends, what is still buffered for the
   other side is flushed before it is closed.

   UNAUTHENTICATE hands the client back (login-handoff.h has the
   exchange): on HANDBACK_BEGIN the client's input stops flowing into the
   relay and our side of it is shut down once flushed; the relay's last
   output still reaches the client; once the relay has ended and
   HANDBACK has come, the client continues in the not-authenticated state
   with the TLS session it has (login_client_unauthenticated()). */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "tls.h"
#include "ipc.h"
#include "config.h"
#include "event.h"
#include "strfuncs.h"
#include "login-handoff.h"
#include "login-common.h"

#include <sys/socket.h>

/* How long a closing side may take to drain what was buffered for it. */
#define LOGIN_RELAY_DRAIN_TIMEOUT_MSECS (30 * 1000)
/* How long a hand-back may take once it began (the mail process only
   reads what we wrote before it and answers). */
#define LOGIN_RELAY_HANDBACK_TIMEOUT_MSECS (10 * 1000)

struct login_relay {
	struct login_client *client;
	/* our end of the socket pair to the mail process */
	struct conn *pair;
	/* the mail process closed: flush to the client, then end */
	struct timeout *to_drain;
	/* the hand-off connection the session came through: the way back
	   (pinned while we live), or NULL */
	struct handoff_mailconn *mc;

	/* UNAUTHENTICATE: HANDBACK_BEGIN came (client input stays with us) */
	bool handing_back:1;
	/* our side of the relay is shut down */
	bool pair_shut:1;
	/* the relay ended during the hand-back */
	bool pair_ended:1;
	/* HANDBACK came: its tag and input */
	bool handback_received:1;
	char *handback_tag;
	buffer_t *handback_input;
	struct timeout *to_handback;
};

static void relay_pair_input(struct conn *conn);
static void relay_pair_disconnected(struct conn *conn, const char *reason);
static void relay_pair_output_drained(struct conn *conn);
static void relay_handback_finish(struct login_relay *relay);

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

	if (relay->pair == NULL || relay->handing_back) {
		/* draining towards the client: input is moot; or a
		   hand-back: it stays for the login process's protocol */
		return;
	}
	(void)relay_copy(client->conn, relay->pair);
}

static void relay_pair_input(struct conn *conn)
{
	struct login_relay *relay = conn_get_context(conn);
	(void)relay_copy(conn, relay->client->conn);
}

/* Hand-back: once everything the client sent before it is in the relay,
   shut our side so the mail process reads to its end. */
static void relay_handback_shutdown(struct login_relay *relay)
{
	if (relay->pair_shut || relay->pair == NULL ||
	    conn_output_buffered_size(relay->pair) > 0)
		return;
	relay->pair_shut = true;
	if (shutdown(conn_get_fd(relay->pair), SHUT_WR) < 0) {
		e_debug(relay->client->event, "shutdown(relay) failed: %m");
	}
}

/* The pair's output went down: the client's input may flow again. */
static void relay_pair_output_drained(struct conn *conn)
{
	struct login_relay *relay = conn_get_context(conn);

	if (relay->handing_back) {
		relay_handback_shutdown(relay);
		return;
	}
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
	if (relay->handing_back)
		return; /* the client stays: HANDBACK is on its way */
	/* the mail process is gone: end once the client has it all */
	if (conn_output_buffered_size(client->conn) == 0)
		relay_end(relay, "Logged out");
}

static void relay_pair_disconnected(struct conn *conn, const char *reason)
{
	struct login_relay *relay = conn_get_context(conn);
	struct login_client *client = relay->client;

	if (relay->handing_back) {
		/* the mail process read the rest and closed: all it wrote
		   has been copied to the client */
		conn_destroy(&relay->pair);
		relay->pair_ended = true;
		if (relay->handback_received)
			relay_handback_finish(relay);
		return;
	}
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

void login_relay_start(struct login_client *client, int fd,
		       struct handoff_mailconn *mc)
{
	struct login_relay *relay = i_new(struct login_relay, 1);

	relay->client = client;
	relay->mc = mc;
	client->relay = relay;
	conn_set_settings(client->conn, &relay_client_set);
	/* from now on TLS only carries the session's bytes: OpenSSL's
	   ~13 KiB per session give way to a record layer of ~2.6 KiB
	   (unless ssl_relay_record_layer = openssl) */
	struct tls_conn *tls = conn_get_tls(client->conn);
	if (tls != NULL &&
	    strcmp(login_globals.set->ssl_relay_record_layer, "columba") == 0)
		tls_conn_set_data_only(tls);
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
	if (relay->to_handback != NULL)
		timeout_remove(&relay->to_handback);
	if (relay->mc != NULL)
		login_handoff_conn_unpin(relay->mc);
	free(relay->handback_tag);
	if (relay->handback_input != NULL)
		buffer_free(&relay->handback_input);
	free(relay);
}

/* --- the hand-back --- */

static void relay_handback_timeout(void *context)
{
	struct login_relay *relay = context;
	relay_end(relay, "Hand-back from the mail process did not complete");
}

/* Both the relay's end and HANDBACK are here: the client is ours. */
static void relay_handback_finish(struct login_relay *relay)
{
	struct login_client *client = relay->client;
	const char *tag = t_strdup(relay->handback_tag);
	size_t size = relay->handback_input->used;
	void *input = t_malloc(size + 1);

	memcpy(input, relay->handback_input->data, size);
	login_relay_destroy(client);
	login_client_unauthenticated(client, tag, input, size);
}

/* The relayed client whose session is session_id, if it came over mc. */
static struct login_relay *
relay_find(struct handoff_mailconn *mc, const char *session_id)
{
	struct login_client *client = login_client_find_session(session_id);

	if (client == NULL || client->relay == NULL ||
	    client->relay->mc != mc)
		return NULL;
	return client->relay;
}

void login_relay_handback_msg(struct handoff_mailconn *mc,
			      struct ipc_msg *msg)
{
	struct login_relay *relay;
	const char *session_id, *error;

	if (msg->fd != -1) {
		ipc_protocol_violation(login_handoff_conn_ipc(mc),
				       "hand-back with an fd on a relay");
		return;
	}
	if (msg->type == LOGIN_HANDBACK_BEGIN_MSG_TYPE) {
		if (login_handback_begin_decode(msg->data, msg->size,
						&session_id, &error) < 0) {
			ipc_protocol_violation(login_handoff_conn_ipc(mc),
				"invalid HANDBACK_BEGIN: %s", error);
			return;
		}
		relay = relay_find(mc, session_id);
		if (relay == NULL || relay->handing_back) {
			/* the client went away meanwhile: the mail process
			   sees its relay end */
			return;
		}
		e_debug(relay->client->event, "UNAUTHENTICATE: hand-back "
			"begins");
		relay->handing_back = true;
		conn_set_input_paused(relay->client->conn, true);
		relay->to_handback = timeout_add(
			LOGIN_RELAY_HANDBACK_TIMEOUT_MSECS,
			relay_handback_timeout, relay);
		(void)conn_flush(relay->pair);
		relay_handback_shutdown(relay);
		return;
	}

	pool_t pool = pool_alloconly_create("handback", 1024);
	struct login_handback hb;
	if (login_handback_decode(msg->data, msg->size, pool, &hb,
				  &error) < 0) {
		ipc_protocol_violation(login_handoff_conn_ipc(mc),
				       "invalid HANDBACK: %s", error);
		pool_unref(&pool);
		return;
	}
	relay = relay_find(mc, hb.session_id);
	if (relay != NULL && relay->handing_back &&
	    !relay->handback_received) {
		relay->handback_received = true;
		relay->handback_tag = i_strdup(hb.tag);
		relay->handback_input = buffer_create(system_pool,
						      hb.input_size + 1);
		buffer_append(relay->handback_input, hb.input, hb.input_size);
		if (relay->pair_ended)
			relay_handback_finish(relay);
	}
	pool_unref(&pool);
}
