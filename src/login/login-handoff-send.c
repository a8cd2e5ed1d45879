/* The sending side of the login -> mail hand-off: pass the client (its
   own socket, or one end of a socket pair this process relays through
   when it holds the TLS session) to a mail process with a login_handoff
   message, and wait for the mail process's answer. Until the answer the
   client stays ours: on a refusal the protocol answers the login command
   itself and the client may try again.

   Connections to the mail service's hand-off socket are reused: one
   hand-off at a time travels on a connection, and once it is answered the
   connection waits in a small idle pool for the next login (at most
   LOGIN_HANDOFF_MAX_IDLE_CONNS, each for LOGIN_HANDOFF_IDLE_MSECS).
   Concurrent logins take different connections, so the kernel still
   spreads them over the mail processes that accept on the socket. A mail
   process that stops accepting (reload, service_count, client_limit)
   closes the connection when a hand-off arrives, without answering; a
   hand-off whose connection closed before any answer is sent once more
   on a new connection (without an answer the mail process did not start
   the session: it answers before it writes to the client).

   We always keep our own copy of what we send (the client's socket in fd
   mode, our end's peer in relay mode) until the answer, so that the
   retry and, in fd mode, a refusal can use it. Without TLS the conn is
   detached (conn_detach()): after a refusal it is rebuilt from our copy
   with the pre-read input put back.

   A connection that relayed (TLS) sessions went through is also their
   way back (UNAUTHENTICATE, see login-handoff.h): it is pinned while any
   of them lives, kept out of the idle pool's limits and timeout, and
   carries the mail process's HANDBACK_BEGIN/HANDBACK messages to
   login-relay.c. A mail process that stops accepting answers a hand-off
   on a pinned connection with RETRY instead of closing it. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "tls.h"
#include "ipc.h"
#include "event.h"
#include "strfuncs.h"
#include "login-handoff.h"
#include "login-common.h"

#include <unistd.h>

/* The mail process opens the user's storage before it answers: local
   disk work, normally milliseconds. */
#define LOGIN_HANDOFF_TIMEOUT_MSECS (30 * 1000)
/* Idle connections kept for the next hand-offs, and for how long. */
#define LOGIN_HANDOFF_MAX_IDLE_CONNS 16
#define LOGIN_HANDOFF_IDLE_MSECS (30 * 1000)

/* A connection to the mail service's hand-off socket. */
struct handoff_mailconn {
	/* in the idle list (hs == NULL) */
	struct handoff_mailconn *prev, *next;
	struct ipc *ipc;
	/* the hand-off in flight, NULL while idle */
	struct login_handoff_send *hs;
	struct timeout *to_idle;
	/* relayed sessions that came through here (login_relay_start()) */
	unsigned int relay_count;
	/* in the idle list */
	bool idle;
	/* no more hand-offs on it (the mail process asked for RETRY, or an
	   abandoned hand-off may still be answered): only hand-backs */
	bool draining;
	/* closed, kept only for its relays' references */
	bool dead;
};

struct login_handoff_send {
	struct login_client *client;
	struct handoff_mailconn *mc;
	struct timeout *to;
	/* our copy of the client's socket (fd mode), else -1 */
	int client_fd;
	/* our end of the socket pair (relay mode), else -1 */
	int relay_fd;
	/* the mail process's end (relay mode) until the answer, else -1 */
	int relay_peer_fd;
	/* input read past the login command (fd mode) */
	buffer_t *preread;
	/* the encoded message, for the one retry */
	buffer_t *msg;
	bool retried;
};

static struct handoff_mailconn *idle_conns;
static unsigned int idle_count;

static const struct ipc_callbacks mailconn_callbacks;

static void mailconn_idle_unlink(struct handoff_mailconn *mc)
{
	if (mc->idle) {
		if (mc->prev != NULL)
			mc->prev->next = mc->next;
		else
			idle_conns = mc->next;
		if (mc->next != NULL)
			mc->next->prev = mc->prev;
		i_assert(idle_count > 0);
		idle_count--;
		mc->idle = false;
		mc->prev = mc->next = NULL;
	}
	if (mc->to_idle != NULL)
		timeout_remove(&mc->to_idle);
}

/* Close the connection; a pinned one stays allocated (dead) until its
   last relay lets go. */
static void mailconn_destroy(struct handoff_mailconn *mc)
{
	mailconn_idle_unlink(mc);
	if (mc->hs != NULL) {
		mc->hs->mc = NULL;
		mc->hs = NULL;
	}
	if (mc->ipc != NULL)
		ipc_destroy(&mc->ipc);
	mc->dead = true;
	if (mc->relay_count == 0)
		free(mc);
}

/* A hand-off on mc is given up while its answer may still come: the
   connection cannot carry another one. */
static void mailconn_abandon(struct handoff_mailconn *mc)
{
	if (mc->relay_count == 0) {
		mailconn_destroy(mc);
		return;
	}
	mc->hs->mc = NULL;
	mc->hs = NULL;
	mc->draining = true;
}

static void mailconn_idle_timeout(void *context)
{
	struct handoff_mailconn *mc = context;

	if (mc->relay_count > 0) {
		/* pinned: out of the pool, kept for the hand-backs */
		mailconn_idle_unlink(mc);
		return;
	}
	mailconn_destroy(mc);
}

struct ipc *login_handoff_conn_ipc(struct handoff_mailconn *mc)
{
	return mc->ipc;
}

void login_handoff_conn_unpin(struct handoff_mailconn *mc)
{
	i_assert(mc->relay_count > 0);
	if (--mc->relay_count > 0)
		return;
	if (mc->dead)
		free(mc);
	else if (!mc->idle && mc->hs == NULL)
		mailconn_destroy(mc);
}

/* The answered hand-off is done with mc: keep it for the next one, or
   close it when the pool is full. */
static void mailconn_release(struct handoff_mailconn *mc)
{
	i_assert(mc->hs != NULL);
	mc->hs->mc = NULL;
	mc->hs = NULL;
	if (mc->draining || idle_count >= LOGIN_HANDOFF_MAX_IDLE_CONNS ||
	    !ipc_is_connected(mc->ipc) ||
	    ipc_get_output_size(mc->ipc) > 0) {
		/* pinned: kept for the hand-backs, outside the pool */
		if (mc->relay_count == 0 || !ipc_is_connected(mc->ipc))
			mailconn_destroy(mc);
		return;
	}
	mc->idle = true;
	mc->prev = NULL;
	mc->next = idle_conns;
	if (idle_conns != NULL)
		idle_conns->prev = mc;
	idle_conns = mc;
	idle_count++;
	mc->to_idle = timeout_add(LOGIN_HANDOFF_IDLE_MSECS,
				  mailconn_idle_timeout, mc);
}

/* A connection for hs: an idle one (unless fresh_only), else a new one.
   Returns NULL with *error_r if connecting failed. */
static struct handoff_mailconn *
mailconn_get(struct login_handoff_send *hs, bool fresh_only,
	     const char **error_r)
{
	struct handoff_mailconn *mc = fresh_only ? NULL : idle_conns;

	if (mc != NULL) {
		if (mc->next != NULL)
			mc->next->prev = NULL;
		idle_conns = mc->next;
		idle_count--;
		mc->next = mc->prev = NULL;
		mc->idle = false;
		timeout_remove(&mc->to_idle);
	} else {
		int fd = net_connect_unix(login_globals.mail_socket_path,
					  error_r);
		if (fd < 0)
			return NULL;
		mc = i_new(struct handoff_mailconn, 1);
		mc->ipc = ipc_create(fd, "mail", &mailconn_callbacks, mc);
	}
	mc->hs = hs;
	hs->mc = mc;
	return mc;
}

static void handoff_free(struct login_handoff_send *hs)
{
	/* an answer may still come on the connection: not reusable */
	if (hs->mc != NULL)
		mailconn_abandon(hs->mc);
	if (hs->to != NULL)
		timeout_remove(&hs->to);
	if (hs->client_fd != -1)
		close(hs->client_fd);
	if (hs->relay_fd != -1)
		close(hs->relay_fd);
	if (hs->relay_peer_fd != -1)
		close(hs->relay_peer_fd);
	if (hs->preread != NULL)
		buffer_free(&hs->preread);
	if (hs->msg != NULL)
		buffer_free(&hs->msg);
	free(hs);
}

/* The session did not start: give the client back to the protocol. */
static void handoff_failed(struct login_handoff_send *hs,
			   enum login_auth_failure failure,
			   const char *client_text, const char *log_reason)
{
	struct login_client *client = hs->client;

	client->handoff = NULL;
	client->authenticated = false;
	e_error(client->event, "Login hand-off to the mail process failed: "
		"user=<%s>: %s", str_sanitize(client->auth_user, 80),
		log_reason);
	if (hs->client_fd != -1) {
		login_client_reattach(client, hs->client_fd,
				      hs->preread->data, hs->preread->used);
		hs->client_fd = -1;
	}
	handoff_free(hs);
	client->protocol->auth_failed(client, failure, client_text);
	if (!client->destroyed)
		conn_set_input_paused(client->conn, false);
}

static void handoff_accepted(struct login_handoff_send *hs,
			     struct handoff_mailconn *mc)
{
	struct login_client *client = hs->client;
	bool relay = hs->relay_fd != -1;

	/* Dovecot's line, which log tools already parse (without mpid=:
	   the socket's peer credentials name the master, which bound it) */
	e_info(client->event, "Login: user=<%s>, method=%s, rip=%s, lip=%s"
	       "%s, session=<%s>", str_sanitize(client->auth_user, 80),
	       client->auth_mech, net_ip2addr(&client->remote_ip),
	       net_ip2addr(&client->local_ip),
	       client->tls ? ", TLS" : (client->secured ? ", secured" : ""),
	       client->session_id);
	client->handoff = NULL;
	if (relay) {
		int fd = hs->relay_fd;
		hs->relay_fd = -1;
		handoff_free(hs);
		/* mc was pinned for this relay by handoff_reply() */
		login_relay_start(client, fd, mc);
	} else {
		/* the mail process has its own copy of the socket now */
		handoff_free(hs);
		login_client_handed_off(client);
	}
}

/* Queue the hand-off on hs->mc. Returns 0, or -1 with *error_r. */
static int handoff_send(struct login_handoff_send *hs, const char **error_r)
{
	int fd = hs->relay_fd != -1 ? hs->relay_peer_fd : hs->client_fd;

	/* the mail process gets a duplicate: ours stays until the answer */
	if (ipc_send_fd(hs->mc->ipc, LOGIN_HANDOFF_MSG_TYPE, fd, false,
			hs->msg->data, hs->msg->used) < 0) {
		*error_r = t_strdup_printf("dup() failed: %m");
		return -1;
	}
	return 0;
}

/* Send the hand-off once more on a new connection (hs has none now).
   Returns false if it was retried already. */
static bool handoff_try_elsewhere(struct login_handoff_send *hs)
{
	const char *error;

	if (hs->retried)
		return false;
	hs->retried = true;
	if (mailconn_get(hs, true, &error) == NULL) {
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
		return true;
	}
	if (handoff_send(hs, &error) < 0)
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
	return true;
}

/* The connection closed before an answer: a mail process that stopped
   accepting (or died). Try once more on a new connection. */
static bool handoff_try_again(struct login_handoff_send *hs)
{
	const char *error;

	if (hs->retried || hs->mc == NULL)
		return false;
	hs->retried = true;
	mailconn_destroy(hs->mc);
	if (mailconn_get(hs, true, &error) == NULL) {
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
		return true;
	}
	if (handoff_send(hs, &error) < 0)
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
	return true;
}

static void handoff_reply(struct handoff_mailconn *mc, struct ipc_msg *msg)
{
	struct login_handoff_send *hs = mc->hs;
	struct login_handoff_reply reply;
	const char *error;

	if (msg->type != LOGIN_HANDOFF_REPLY_MSG_TYPE ||
	    login_handoff_reply_decode(msg->data, msg->size, &reply,
				       &error) < 0) {
		if (msg->type != LOGIN_HANDOFF_REPLY_MSG_TYPE)
			error = t_strdup_printf("unexpected message type %u",
						msg->type);
		ipc_protocol_violation(mc->ipc, "invalid hand-off reply: %s",
				       error);
		return;
	}
	bool relay = hs->relay_fd != -1;
	if (reply.status == LOGIN_HANDOFF_STATUS_ACCEPTED && relay) {
		/* the relay's way back (UNAUTHENTICATE) */
		mc->relay_count++;
	} else if (reply.status == LOGIN_HANDOFF_STATUS_RETRY) {
		mc->draining = true;
	}
	/* answered: the connection is free for the next hand-off */
	mailconn_release(mc);
	switch (reply.status) {
	case LOGIN_HANDOFF_STATUS_ACCEPTED:
		handoff_accepted(hs, relay ? mc : NULL);
		return;
	case LOGIN_HANDOFF_STATUS_RETRY:
		if (!handoff_try_elsewhere(hs)) {
			handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL,
				       "the mail process is not accepting "
				       "clients");
		}
		return;
	case LOGIN_HANDOFF_STATUS_TEMPFAIL:
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP,
			       reply.reason[0] == '\0' ? NULL :
			       t_strdup(reply.reason), t_strdup_printf(
			       "the mail process refused: %s",
			       str_sanitize(reply.reason, 200)));
		return;
	case LOGIN_HANDOFF_STATUS_LIMIT:
		handoff_failed(hs, LOGIN_AUTH_FAILURE_LIMIT,
			       t_strdup(reply.reason), t_strdup_printf(
			       "the mail process refused: %s",
			       str_sanitize(reply.reason, 200)));
		return;
	}
	i_unreached();
}

static void mailconn_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct handoff_mailconn *mc = context;

	if (msg->type == LOGIN_HANDBACK_BEGIN_MSG_TYPE ||
	    msg->type == LOGIN_HANDBACK_MSG_TYPE) {
		/* for a relay that may just have ended: ignored then */
		login_relay_handback_msg(mc, msg);
		return;
	}
	if (mc->hs == NULL && mc->draining &&
	    msg->type == LOGIN_HANDOFF_REPLY_MSG_TYPE) {
		/* the answer to an abandoned hand-off */
		return;
	}
	if (mc->hs == NULL) {
		ipc_protocol_violation(ipc, "message type %u on an idle "
				       "hand-off connection", msg->type);
		return;
	}
	handoff_reply(mc, msg);
}

static void mailconn_close(struct ipc *ipc ATTR_UNUSED, const char *reason,
			   void *context)
{
	struct handoff_mailconn *mc = context;
	struct login_handoff_send *hs = mc->hs;

	if (hs == NULL) {
		/* idle: a mail process that stopped, or went away */
		mailconn_destroy(mc);
		return;
	}
	if (handoff_try_again(hs))
		return;
	handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL,
		       t_strdup_printf("the mail process closed the "
				       "connection: %s", reason));
}

static void mailconn_protocol_error(struct ipc *ipc ATTR_UNUSED,
				    const char *error, void *context)
{
	struct handoff_mailconn *mc = context;

	if (mc->hs == NULL) {
		i_error("Invalid message on an idle "
			"hand-off connection: %s", error);
		mailconn_destroy(mc);
		return;
	}
	handoff_failed(mc->hs, LOGIN_AUTH_FAILURE_TEMP, NULL,
		       t_strdup_printf("protocol error: %s", error));
}

static const struct ipc_callbacks mailconn_callbacks = {
	.msg = mailconn_msg,
	.close = mailconn_close,
	.protocol_error = mailconn_protocol_error,
};

static void handoff_timeout(void *context)
{
	handoff_failed(context, LOGIN_AUTH_FAILURE_TEMP, NULL,
		       "no answer from the mail process in time");
}

void login_handoff_send_start(struct login_client *client,
			      const char *const *fields)
{
	struct login_handoff_send *hs = i_new(struct login_handoff_send, 1);
	const char *error;
	int fds[2];

	hs->client = client;
	hs->client_fd = hs->relay_fd = hs->relay_peer_fd = -1;
	client->handoff = hs;

	if (mailconn_get(hs, false, &error) == NULL) {
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
		return;
	}

	/* Plaintext sockets move to the mail process; TLS sessions cannot,
	   and neither can a socket whose output is not flushed yet. */
	bool relay = conn_is_tls(client->conn) || conn_flush(client->conn) < 1;
	if (!relay) {
		hs->preread = buffer_create(system_pool, 256);
		if (conn_detach(&client->conn, &hs->client_fd, hs->preread,
				&error) < 0) {
			buffer_free(&hs->preread);
			relay = true;
		} else if (hs->preread->used > LOGIN_HANDOFF_MAX_PREREAD) {
			/* cannot happen with the line limit, but the
			   message format has a bound of its own */
			handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL,
				       "too much pipelined input");
			return;
		}
	}
	if (relay) {
		if (ipc_pair(fds, &error) < 0) {
			handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
			return;
		}
		hs->relay_fd = fds[0];
		hs->relay_peer_fd = fds[1];
	}

	const char *const *auth_fields = fields;
	ARRAY(const char *) filtered;
	array_init(&filtered, pool_datastack, 8);
	for (; *auth_fields != NULL; auth_fields++) {
		/* user= travels as the user name; resp= is SASL data */
		if (!str_begins(*auth_fields, "user=") &&
		    !str_begins(*auth_fields, "resp="))
			array_push(&filtered, *auth_fields);
	}
	const char *end = NULL;
	array_push(&filtered, end);

	struct login_handoff h = {
		.protocol = client->protocol->service,
		.username = client->auth_user,
		.session_id = client->session_id,
		.remote_ip = client->remote_ip,
		.local_ip = client->local_ip,
		.remote_port = client->remote_port,
		.local_port = client->local_port,
		.flags = (client->tls ? LOGIN_HANDOFF_FLAG_TLS : 0) |
			(relay ? LOGIN_HANDOFF_FLAG_RELAY : 0) |
			(client->secured ? LOGIN_HANDOFF_FLAG_SECURED : 0),
		.tls_info = client->tls ? tls_conn_get_security_string(
			conn_get_tls(client->conn)) : "",
		.tag = client->auth_tag,
		.auth_fields = filtered.v,
		.preread = relay ? NULL : hs->preread->data,
		.preread_size = relay ? 0 : hs->preread->used,
	};
	hs->msg = buffer_create(system_pool, 512);
	login_handoff_encode(&h, hs->msg);
	if (handoff_send(hs, &error) < 0) {
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
		return;
	}
	hs->to = timeout_add(LOGIN_HANDOFF_TIMEOUT_MSECS, handoff_timeout, hs);
}

void login_handoff_send_abort(struct login_client *client)
{
	struct login_handoff_send *hs = client->handoff;

	client->handoff = NULL;
	handoff_free(hs);
}

void login_handoff_deinit(void)
{
	while (idle_conns != NULL)
		mailconn_destroy(idle_conns);
}
