/* Plaintext clients coming back from a mail process (IMAP UNAUTHENTICATE)
   on the login/<protocol>-handback socket: one HANDBACK message with the
   client's socket per connection. The client becomes a new pre-login
   client here (login_client_create_handback()), and the mail process is
   told so with HANDBACK_REPLY; until that answer it keeps its copy of
   the socket, to say BYE if nobody takes the client. If the answer
   cannot be written the mail process gave up (and said BYE): the client
   is dropped here too. A malformed message is logged and the connection
   closed; it never takes the login process down. */
#include "lib.h"
#include "ioloop.h"
#include "ipc.h"
#include "strfuncs.h"
#include "login-handoff.h"
#include "login-common.h"

#include <unistd.h>

/* The mail process sends the message right after connecting. */
#define LOGIN_HANDBACK_TIMEOUT_MSECS (10 * 1000)

struct login_handback_conn {
	struct login_handback_conn *prev, *next;
	struct ipc *ipc;
	struct timeout *to;
};

static struct login_handback_conn *handback_conns;

bool login_handback_is_listener(const char *listener_name)
{
	return str_ends_with(listener_name, "-handback");
}

static void handback_conn_destroy(struct login_handback_conn *hc)
{
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		handback_conns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	timeout_remove(&hc->to);
	ipc_destroy(&hc->ipc);
	free(hc);
}

static void handback_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct login_handback_conn *hc = context;
	const char *error;

	if (msg->type != LOGIN_HANDBACK_MSG_TYPE || msg->fd < 0) {
		ipc_protocol_violation(ipc, "expected a hand-back with an fd, "
				       "got type %u%s", msg->type,
				       msg->fd < 0 ? " without an fd" : "");
		return;
	}
	pool_t pool = pool_alloconly_create("handback", 1024);
	struct login_handback hb;
	if (login_handback_decode(msg->data, msg->size, pool, &hb,
				  &error) < 0) {
		ipc_protocol_violation(ipc, "malformed hand-back: %s", error);
		pool_unref(&pool);
		return;
	}
	/* answer first: if the mail process is gone it has told the client
	   BYE, and the socket must not come alive here */
	buffer_t *reply = t_str_new(8);
	login_handback_reply_encode(reply);
	/* a failed write shows as a lost connection, not as an error */
	if (ipc_send_blocking(ipc, LOGIN_HANDBACK_REPLY_MSG_TYPE, reply->data,
			      reply->used, 1000, &error) < 0 ||
	    (!ipc_is_connected(ipc) && (error = "connection lost") != NULL)) {
		i_error("Hand-back of session %s: the mail process gave up: %s",
			str_sanitize(hb.session_id, 40), error);
		pool_unref(&pool);
		handback_conn_destroy(hc);
		return;
	}
	int fd = ipc_msg_take_fd(msg);
	if (!login_client_create_handback(fd, &hb))
		close(fd);
	pool_unref(&pool);
	handback_conn_destroy(hc);
}

static void handback_close(struct ipc *ipc ATTR_UNUSED, const char *reason,
			   void *context)
{
	i_error("Hand-back connection closed before the hand-back: %s",
		reason);
	handback_conn_destroy(context);
}

static void handback_protocol_error(struct ipc *ipc ATTR_UNUSED,
				    const char *error, void *context)
{
	i_error("Invalid hand-back from a mail process: %s", error);
	handback_conn_destroy(context);
}

static void handback_timeout(void *context)
{
	i_error("Hand-back connection: no message in time");
	handback_conn_destroy(context);
}

void login_handback_accept(int fd)
{
	static const struct ipc_callbacks callbacks = {
		.msg = handback_msg,
		.close = handback_close,
		.protocol_error = handback_protocol_error,
	};
	struct login_handback_conn *hc = i_new(struct login_handback_conn, 1);

	hc->ipc = ipc_create(fd, "mail-handback", &callbacks, hc);
	ipc_set_max_payload(hc->ipc, LOGIN_HANDOFF_MAX_PREREAD + 4096);
	hc->to = timeout_add(LOGIN_HANDBACK_TIMEOUT_MSECS, handback_timeout,
			     hc);
	hc->next = handback_conns;
	if (handback_conns != NULL)
		handback_conns->prev = hc;
	handback_conns = hc;
}

void login_handback_deinit(void)
{
	while (handback_conns != NULL)
		handback_conn_destroy(handback_conns);
}
