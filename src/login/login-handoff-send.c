/* The sending side of the login -> mail hand-off: connect to the mail
   service's hand-off socket, pass the client (its own socket, or one end
   of a socket pair this process relays through when it holds the TLS
   session) with a login_handoff message, and wait for the mail process's
   answer. Until the answer the client stays ours: on a refusal the
   protocol answers the login command itself and the client may try again.

   Without TLS the conn is detached (conn_detach()) and a duplicate of its
   fd is sent, so that after a refusal the conn is rebuilt from our copy
   with the pre-read input put back. */
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

struct login_handoff_send {
	struct login_client *client;
	struct ipc *ipc;
	struct timeout *to;
	/* our copy of the client's socket (fd mode), else -1 */
	int client_fd;
	/* our end of the socket pair (relay mode), else -1 */
	int relay_fd;
	/* input read past the login command (fd mode) */
	buffer_t *preread;
};

static void handoff_free(struct login_handoff_send *hs)
{
	if (hs->ipc != NULL)
		ipc_destroy(&hs->ipc);
	if (hs->to != NULL)
		timeout_remove(&hs->to);
	if (hs->client_fd != -1)
		close(hs->client_fd);
	if (hs->relay_fd != -1)
		close(hs->relay_fd);
	if (hs->preread != NULL)
		buffer_free(&hs->preread);
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

static void handoff_accepted(struct login_handoff_send *hs)
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
		login_relay_start(client, fd);
	} else {
		/* the mail process has its own copy of the socket now */
		handoff_free(hs);
		login_client_handed_off(client);
	}
}

static void handoff_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct login_handoff_send *hs = context;
	struct login_handoff_reply reply;
	const char *error;

	if (msg->type != LOGIN_HANDOFF_REPLY_MSG_TYPE ||
	    login_handoff_reply_decode(msg->data, msg->size, &reply,
				       &error) < 0) {
		if (msg->type != LOGIN_HANDOFF_REPLY_MSG_TYPE)
			error = t_strdup_printf("unexpected message type %u",
						msg->type);
		ipc_protocol_violation(ipc, "invalid hand-off reply: %s", error);
		return;
	}
	switch (reply.status) {
	case LOGIN_HANDOFF_STATUS_ACCEPTED:
		handoff_accepted(hs);
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

static void handoff_close(struct ipc *ipc ATTR_UNUSED, const char *reason,
			  void *context)
{
	handoff_failed(context, LOGIN_AUTH_FAILURE_TEMP, NULL,
		       t_strdup_printf("the mail process closed the "
				       "connection: %s", reason));
}

static void handoff_protocol_error(struct ipc *ipc ATTR_UNUSED,
				   const char *error, void *context)
{
	handoff_failed(context, LOGIN_AUTH_FAILURE_TEMP, NULL,
		       t_strdup_printf("protocol error: %s", error));
}

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
	int fds[2], send_fd;

	hs->client = client;
	hs->client_fd = hs->relay_fd = -1;
	client->handoff = hs;

	int mail_fd = net_connect_unix(login_globals.mail_socket_path, &error);
	if (mail_fd < 0) {
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL, error);
		return;
	}
	static const struct ipc_callbacks callbacks = {
		.msg = handoff_msg,
		.close = handoff_close,
		.protocol_error = handoff_protocol_error,
	};
	hs->ipc = ipc_create(mail_fd, "mail", &callbacks, hs);

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
		send_fd = fds[1];
	} else {
		send_fd = hs->client_fd;
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
	buffer_t *msg = t_str_new(512);
	login_handoff_encode(&h, msg);
	/* relay: the mail process gets the only copy of its end; fd mode:
	   a duplicate, ours stays until the answer */
	if (ipc_send_fd(hs->ipc, LOGIN_HANDOFF_MSG_TYPE, send_fd, relay,
			msg->data, msg->used) < 0) {
		if (relay)
			close(send_fd);
		handoff_failed(hs, LOGIN_AUTH_FAILURE_TEMP, NULL,
			       t_strdup_printf("dup() failed: %m"));
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
