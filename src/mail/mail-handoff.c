/* Hand-offs from login processes: decode, look the user up, open the
   storage, apply mail_max_userip_connections, answer the login process,
   start the session. A malformed hand-off means a broken (or subverted)
   login process: it is logged and the connection closed, never trusted.

   Sessions per user+IP are counted in this process only (with
   process_limit > 1 each mail process counts its own): a session is
   remembered by its session id from the hand-off, and the protocol says
   when it ends with mail_session_ended(). A crash ends the whole process
   and its counts with it, so nothing needs recovering.

   A login process keeps its connection for the next hand-offs, one at a
   time: after each answer the connection waits for another hand-off (the
   per-hand-off state is reset). A process that is no longer accepting
   clients (stopping for a reload or after service_count, or at
   client_limit) closes the connection when a hand-off arrives, without
   answering: the login process then sends it again on a new connection,
   which a process that accepts takes. A connection that relayed
   sessions came through is the way back to their login process
   (UNAUTHENTICATE): it outlives its hand-offs while they live, and a
   process that stops accepting answers LOGIN_HANDOFF_STATUS_RETRY on it
   instead of closing it.

   The hand-back (mail_handback_start()): see login-handoff.h for the
   messages. It ends the session's user+IP count before the login
   process gets the client, so a new login from the same client is
   counted afresh. */
#include "lib.h"
#include "ioloop.h"
#include "hash.h"
#include "ipc.h"
#include "event.h"
#include "strfuncs.h"
#include "master-service.h"
#include "columba-settings.h"
#include "login-handoff.h"
#include "auth-master-client.h"
#include "mail-user-setup.h"
#include "mail-session.h"
#include "mail-handoff.h"

#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>

/* How long a hand-back may take: the login process answers at once, or
   reads the rest of a relay (a few KiB at most). */
#define MAIL_HANDBACK_TIMEOUT_MSECS (10 * 1000)

struct mail_handoff_conn {
	struct mail_handoff_conn *prev, *next;
	struct ipc *ipc;
	struct event *event;
	pool_t pool;
	struct login_handoff handoff;
	int client_fd;
	struct auth_master_lookup *lookup;
	/* relayed sessions that came through here and may be handed back
	   on this connection; the struct lives while there are any */
	unsigned int relay_sessions;
	/* the login process closed the connection (ipc == NULL) */
	bool dead;
};

/* The sessions of one user from one IP. */
struct userip {
	char *key; /* "user\tip" */
	unsigned int count;
};

/* One counted session, with what a hand-back needs to know of it. */
struct userip_session {
	char *session_id;
	struct userip *userip;
	/* relayed: the connection it came over (a reference) */
	struct mail_handoff_conn *hc;
	char *protocol;
	uint32_t flags;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
};

/* A hand-back in progress. */
struct mail_handback {
	struct mail_handback *prev, *next;
	struct event *event;
	/* the client's socket (fd mode) or our end of the relay */
	int fd;
	/* relay mode: the route, a reference */
	struct mail_handoff_conn *hc;
	/* fd mode: the connection to login/imap-handback */
	struct ipc *ipc;
	struct io *io;
	struct timeout *to;
	struct login_handback hb;
	char *protocol, *session_id, *tag;
	buffer_t *input;
	/* sent to the client if no login process takes it */
	char *failure_line;
};

static struct master_service *handoff_service;
static struct auth_master_client *auth_master;
static struct mail_handoff_conn *handoff_conns;
/* key -> struct userip; session id -> struct userip_session */
static struct hash_table *userips;
static struct hash_table *userip_sessions;
static struct mail_handback *handbacks;

bool mail_handoff_is_listener(const char *listener_name)
{
	return str_ends_with(listener_name, "login/mail");
}

static void handoff_event_init(struct mail_handoff_conn *hc)
{
	hc->event = event_create(NULL);
	event_set_category(hc->event, "mail-handoff");
}

static void handoff_conn_free(struct mail_handoff_conn *hc)
{
	event_unref(&hc->event);
	pool_unref(&hc->pool);
	free(hc);
}

static void handoff_conn_destroy(struct mail_handoff_conn *hc)
{
	if (hc->dead)
		return;
	hc->dead = true;
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		handoff_conns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	if (hc->lookup != NULL)
		auth_master_lookup_abort(&hc->lookup);
	if (hc->client_fd != -1)
		close(hc->client_fd);
	hc->client_fd = -1;
	if (hc->ipc != NULL)
		ipc_destroy(&hc->ipc);
	/* sessions that came through it keep the struct (dead: no way
	   back to their login process) */
	if (hc->relay_sessions == 0)
		handoff_conn_free(hc);
}

static void handoff_conn_unref_session(struct mail_handoff_conn **_hc)
{
	struct mail_handoff_conn *hc = *_hc;

	*_hc = NULL;
	i_assert(hc->relay_sessions > 0);
	if (--hc->relay_sessions == 0 && hc->dead)
		handoff_conn_free(hc);
}

/* The hand-off is answered: forget it and wait for the next one. */
static void handoff_done(struct mail_handoff_conn *hc)
{
	i_assert(hc->lookup == NULL);
	if (hc->client_fd != -1) {
		close(hc->client_fd);
		hc->client_fd = -1;
	}
	event_unref(&hc->event);
	handoff_event_init(hc);
	pool_unref(&hc->pool);
	hc->pool = pool_alloconly_create("mail handoff", 1024);
	memset(&hc->handoff, 0, sizeof(hc->handoff));
}

static void handoff_reply(struct mail_handoff_conn *hc,
			  enum login_handoff_status status, const char *reason)
{
	struct login_handoff_reply reply = { .status = status,
					     .reason = reason };
	buffer_t *buf = t_str_new(128);
	const char *error;

	login_handoff_reply_encode(&reply, buf);
	/* one small message on a socket nobody else writes to: it fits in
	   the socket buffer, so this does not wait */
	if (ipc_send_blocking(hc->ipc, LOGIN_HANDOFF_REPLY_MSG_TYPE,
			      buf->data, buf->used, 1000, &error) < 0)
		e_error(hc->event, "Answering the login process failed: %s",
			error);
}

static void handoff_fail(struct mail_handoff_conn *hc,
			 enum login_handoff_status status,
			 const char *client_reason, const char *log_reason)
{
	e_error(hc->event, "Session not started: %s", log_reason);
	handoff_reply(hc, status, client_reason);
	handoff_done(hc);
}

/* --- mail_max_userip_connections --- */

static unsigned int userip_count(const char *key)
{
	const struct userip *u =
		userips == NULL ? NULL : hash_table_lookup(userips, key);
	return u == NULL ? 0 : u->count;
}

static struct userip_session *
userip_add(const char *key, const char *session_id)
{
	if (userips == NULL) {
		userips = hash_table_create_str(system_pool, 64);
		userip_sessions = hash_table_create_str(system_pool, 64);
	}
	struct userip *u = hash_table_lookup(userips, key);
	if (u == NULL) {
		u = i_new(struct userip, 1);
		u->key = i_strdup(key);
		hash_table_insert(userips, u->key, u);
	}
	u->count++;
	struct userip_session *s = i_new(struct userip_session, 1);
	s->session_id = i_strdup(session_id);
	s->userip = u;
	hash_table_insert(userip_sessions, s->session_id, s);
	return s;
}

static void userip_session_free(struct userip_session *s)
{
	struct userip *u = s->userip;

	hash_table_remove(userip_sessions, s->session_id);
	i_assert(u->count > 0);
	if (--u->count == 0) {
		hash_table_remove(userips, u->key);
		free(u->key);
		free(u);
	}
	if (s->hc != NULL)
		handoff_conn_unref_session(&s->hc);
	free(s->protocol);
	free(s->session_id);
	free(s);
}

void mail_session_ended(const char *session_id)
{
	struct userip_session *s;

	if (userip_sessions == NULL || session_id == NULL)
		return;
	s = hash_table_lookup(userip_sessions, session_id);
	if (s != NULL)
		userip_session_free(s);
}

/* --- the hand-off --- */

static void handoff_lookup_callback(enum auth_master_result result,
				    const char *username,
				    const char *const *fields,
				    const char *error, void *context)
{
	struct mail_handoff_conn *hc = context;
	const struct columba_settings *set =
		master_service_get_settings(handoff_service);
	struct login_handoff *h = &hc->handoff;

	hc->lookup = NULL;
	if (result == AUTH_MASTER_RESULT_NOTFOUND) {
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_TEMPFAIL, "",
			     t_strdup_printf("user %s not found in userdb",
					     str_sanitize(h->username, 80)));
		return;
	}
	if (result != AUTH_MASTER_RESULT_OK) {
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_TEMPFAIL, "",
			     t_strdup_printf("userdb lookup failed: %s", error));
		return;
	}
	h->username = p_strdup(hc->pool, username);

	unsigned int max = set->mail_max_userip_connections;
	const char *key = t_strdup_printf("%s\t%s", username,
					  net_ip2addr(&h->remote_ip));
	if (h->session_id == NULL || h->session_id[0] == '\0' ||
	    (userip_sessions != NULL &&
	     hash_table_lookup(userip_sessions, h->session_id) != NULL)) {
		/* the count could never be given back: a broken login
		   process (ours sends a fresh random id every time) */
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_TEMPFAIL, "",
			     t_strdup_printf("hand-off with %s session id",
				h->session_id == NULL ||
				h->session_id[0] == '\0' ? "no" :
				"an already used"));
		return;
	}
	if (max > 0 && userip_count(key) >= max) {
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_LIMIT, t_strdup_printf(
			"Maximum number of connections from user+IP exceeded "
			"(mail_max_userip_connections=%u)", max),
			"mail_max_userip_connections reached");
		return;
	}

	struct mail_user *user;
	if (mail_user_setup(set, username, fields, hc->event, &user,
			    &error) < 0) {
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_TEMPFAIL, "",
			     t_strdup_printf("storage: %s", error));
		return;
	}
	handoff_reply(hc, LOGIN_HANDOFF_STATUS_ACCEPTED, "");
	struct userip_session *s = userip_add(key, h->session_id);
	s->protocol = i_strdup(h->protocol);
	s->flags = h->flags;
	s->remote_ip = h->remote_ip;
	s->local_ip = h->local_ip;
	s->remote_port = h->remote_port;
	s->local_port = h->local_port;
	if ((h->flags & LOGIN_HANDOFF_FLAG_RELAY) != 0) {
		s->hc = hc;
		hc->relay_sessions++;
	}

	unsigned int count = str_array_length(fields);
	const char **userdb_fields = p_new(hc->pool, const char *, count + 1);
	for (unsigned int i = 0; i < count; i++)
		userdb_fields[i] = p_strdup(hc->pool, fields[i]);
	struct mail_session_start start = {
		.service = handoff_service,
		.handoff = h,
		.userdb_fields = userdb_fields,
		.user = user,
		.fd_in = hc->client_fd,
		.fd_out = hc->client_fd,
		.send_login_reply = true,
	};
	hc->client_fd = -1;
	if (strcmp(h->protocol, "pop3") == 0)
		pop3_session_start(&start);
	else
		imap_session_start(&start);
	handoff_done(hc);
}

static void handoff_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct mail_handoff_conn *hc = context;
	struct login_handoff *h = &hc->handoff;
	const char *error;

	if (hc->client_fd != -1 || hc->lookup != NULL) {
		ipc_protocol_violation(ipc, "a second hand-off before the "
				       "first was answered");
		return;
	}
	if (!master_service_is_accepting(handoff_service)) {
		/* not answered: the login process sends it to a process
		   that accepts (the fd is closed with the message) */
		if (hc->relay_sessions > 0) {
			/* ...but this connection is the way back for the
			   sessions relayed through it: keep it */
			e_debug(hc->event, "Not accepting clients: asking for "
				"the hand-off to go elsewhere");
			handoff_reply(hc, LOGIN_HANDOFF_STATUS_RETRY, "");
			return;
		}
		e_debug(hc->event, "Not accepting clients: closing a hand-off "
			"connection");
		handoff_conn_destroy(hc);
		return;
	}
	if (msg->type != LOGIN_HANDOFF_MSG_TYPE || msg->fd < 0) {
		ipc_protocol_violation(ipc, "expected a hand-off with an fd, "
				       "got type %u%s", msg->type,
				       msg->fd < 0 ? " without an fd" : "");
		return;
	}
	if (login_handoff_decode(msg->data, msg->size, hc->pool, h,
				 &error) < 0) {
		ipc_protocol_violation(ipc, "malformed hand-off: %s", error);
		return;
	}
	hc->client_fd = ipc_msg_take_fd(msg);
	event_add_str(hc->event, "user", h->username);
	event_add_str(hc->event, "session", h->session_id);
	event_add_str(hc->event, "remote_ip", net_ip2addr(&h->remote_ip));
	event_set_append_log_prefix(hc->event, t_strdup_printf(
		"%s(%s)<%s>: ", h->protocol, str_sanitize(h->username, 80),
		str_sanitize(h->session_id, 40)));

	if (strcmp(h->protocol, "imap") != 0 &&
	    strcmp(h->protocol, "pop3") != 0) {
		handoff_fail(hc, LOGIN_HANDOFF_STATUS_TEMPFAIL, "",
			     t_strdup_printf("protocol %s is not served here",
					     str_sanitize(h->protocol, 20)));
		return;
	}
	struct auth_master_user_request req = {
		.username = h->username,
		.service = h->protocol,
		.local_ip = h->local_ip,
		.remote_ip = h->remote_ip,
		.local_port = h->local_port,
		.remote_port = h->remote_port,
		.session_id = h->session_id,
	};
	hc->lookup = auth_master_user_lookup(auth_master, &req,
					     handoff_lookup_callback, hc);
}

static void handoff_close(struct ipc *ipc ATTR_UNUSED, const char *reason,
			  void *context)
{
	struct mail_handoff_conn *hc = context;
	e_debug(hc->event, "Login process closed the hand-off connection: %s",
		reason);
	handoff_conn_destroy(hc);
}

static void handoff_protocol_error(struct ipc *ipc ATTR_UNUSED,
				   const char *error, void *context)
{
	struct mail_handoff_conn *hc = context;
	e_error(hc->event, "Invalid hand-off from a login process: %s", error);
	handoff_conn_destroy(hc);
}

void mail_handoff_accept(struct master_service_connection *mconn)
{
	static const struct ipc_callbacks callbacks = {
		.msg = handoff_msg,
		.close = handoff_close,
		.protocol_error = handoff_protocol_error,
	};
	struct mail_handoff_conn *hc = i_new(struct mail_handoff_conn, 1);

	hc->pool = pool_alloconly_create("mail handoff", 1024);
	hc->client_fd = -1;
	handoff_event_init(hc);
	hc->ipc = ipc_create(mconn->fd, "login", &callbacks, hc);
	ipc_set_max_payload(hc->ipc, LOGIN_HANDOFF_MAX_PREREAD + 64 * 1024);
	hc->next = handoff_conns;
	if (handoff_conns != NULL)
		handoff_conns->prev = hc;
	handoff_conns = hc;
}

/* --- the hand-back (UNAUTHENTICATE) --- */

static const char *handback_socket_path(const char *protocol)
{
	const struct columba_settings *set =
		master_service_get_settings(handoff_service);
	return t_strdup_printf("%s/login/%s-handback", set->base_dir,
			       protocol);
}

bool mail_handback_available(const char *session_id)
{
	const struct userip_session *s;

	if (handoff_service == NULL || userip_sessions == NULL ||
	    !master_service_get_settings(handoff_service)->imap_unauthenticate)
		return false;
	s = hash_table_lookup(userip_sessions, session_id);
	if (s == NULL)
		return false;
	/* a relayed session needs the connection it came over */
	if ((s->flags & LOGIN_HANDOFF_FLAG_RELAY) != 0)
		return s->hc != NULL && !s->hc->dead;
	return true;
}

/* End the hand-back. error == NULL: a login process has the client;
   else the client is told failure_line and our fd closed. */
static void handback_finish(struct mail_handback *hb, const char *error)
{
	if (error == NULL) {
		e_debug(hb->event, "Handed back to the login process");
	} else {
		e_error(hb->event, "Hand-back to a login process failed: %s",
			error);
		if (hb->fd != -1) {
			/* a short line into an idle socket: it fits */
			if (write(hb->fd, hb->failure_line,
				  strlen(hb->failure_line)) < 0) {
				e_debug(hb->event, "write(BYE) failed: %m");
			}
			/* not just close(): a copy of the socket may still
			   be in flight to a login process that wakes up
			   later; the connection itself must end now */
			(void)shutdown(hb->fd, SHUT_RDWR);
		}
	}
	if (hb->prev != NULL)
		hb->prev->next = hb->next;
	else
		handbacks = hb->next;
	if (hb->next != NULL)
		hb->next->prev = hb->prev;
	if (hb->io != NULL)
		io_remove(&hb->io);
	if (hb->to != NULL)
		timeout_remove(&hb->to);
	if (hb->ipc != NULL)
		ipc_destroy(&hb->ipc);
	if (hb->fd != -1)
		close(hb->fd);
	if (hb->hc != NULL)
		handoff_conn_unref_session(&hb->hc);
	buffer_free(&hb->input);
	free(hb->protocol);
	free(hb->session_id);
	free(hb->tag);
	free(hb->failure_line);
	event_unref(&hb->event);
	free(hb);
	master_service_client_disconnected(handoff_service);
}

static void handback_timeout(void *context)
{
	handback_finish(context, "no login process answered in time");
}

static void handback_encode(struct mail_handback *hb, buffer_t *dest)
{
	hb->hb.input = hb->input->data;
	hb->hb.input_size = hb->input->used;
	login_handback_encode(&hb->hb, dest);
}

/* fd mode: the login process's answer on login/imap-handback */
static void handback_ipc_msg(struct ipc *ipc, struct ipc_msg *msg,
			     void *context)
{
	struct mail_handback *hb = context;
	const char *error;

	if (msg->type != LOGIN_HANDBACK_REPLY_MSG_TYPE ||
	    login_handback_reply_decode(msg->data, msg->size, &error) < 0) {
		if (msg->type != LOGIN_HANDBACK_REPLY_MSG_TYPE)
			error = t_strdup_printf("message type %u", msg->type);
		ipc_protocol_violation(ipc, "invalid hand-back reply: %s",
				       error);
		return;
	}
	handback_finish(hb, NULL);
}

static void handback_ipc_close(struct ipc *ipc ATTR_UNUSED,
			       const char *reason, void *context)
{
	handback_finish(context, t_strdup_printf(
		"the login process closed the connection: %s", reason));
}

static void handback_ipc_error(struct ipc *ipc ATTR_UNUSED,
			       const char *error, void *context)
{
	handback_finish(context, t_strdup_printf("protocol error: %s", error));
}

static void handback_start_fd(struct mail_handback *hb)
{
	static const struct ipc_callbacks callbacks = {
		.msg = handback_ipc_msg,
		.close = handback_ipc_close,
		.protocol_error = handback_ipc_error,
	};
	const char *error;

	/* the listening socket is the master's: while no login process
	   runs (restarting) the connection waits in its backlog */
	int fd = net_connect_unix(handback_socket_path(hb->protocol), &error);
	if (fd < 0) {
		handback_finish(hb, error);
		return;
	}
	hb->ipc = ipc_create(fd, "login-handback", &callbacks, hb);
	buffer_t *msg = t_str_new(256 + hb->input->used);
	handback_encode(hb, msg);
	/* a copy goes: ours stays for the BYE if nobody takes it */
	if (ipc_send_fd(hb->ipc, LOGIN_HANDBACK_MSG_TYPE, hb->fd, false,
			msg->data, msg->used) < 0) {
		handback_finish(hb, t_strdup_printf("dup() failed: %m"));
		return;
	}
}

/* relay mode: read what the login process wrote into the relay until
   it shuts down its side (it does on HANDBACK_BEGIN) */
static void handback_relay_input(void *context)
{
	struct mail_handback *hb = context;
	unsigned char buf[4096];
	ssize_t ret;

	for (;;) {
		ret = read(hb->fd, buf, sizeof(buf));
		if (ret < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			handback_finish(hb, t_strdup_printf(
				"read(relay) failed: %m"));
			return;
		}
		if (ret == 0)
			break;
		if (hb->input->used + (size_t)ret > LOGIN_HANDOFF_MAX_PREREAD) {
			handback_finish(hb, "too much pipelined input after "
					"UNAUTHENTICATE");
			return;
		}
		buffer_append(hb->input, buf, (size_t)ret);
	}
	io_remove(&hb->io);
	if (hb->hc->dead) {
		handback_finish(hb, "the login process closed the hand-off "
				"connection");
		return;
	}
	buffer_t *msg = t_str_new(256 + hb->input->used);
	handback_encode(hb, msg);
	ipc_send(hb->hc->ipc, LOGIN_HANDBACK_MSG_TYPE, msg->data, msg->used);
	/* closing our end tells the login process the relay has ended:
	   everything we wrote before is in front of the EOF */
	close(hb->fd);
	hb->fd = -1;
	handback_finish(hb, NULL);
}

static void handback_start_relay(struct mail_handback *hb)
{
	if (hb->hc == NULL || hb->hc->dead) {
		handback_finish(hb, "the login process closed the hand-off "
				"connection");
		return;
	}
	buffer_t *msg = t_str_new(64);
	login_handback_begin_encode(hb->session_id, msg);
	ipc_send(hb->hc->ipc, LOGIN_HANDBACK_BEGIN_MSG_TYPE,
		 msg->data, msg->used);
	fd_set_nonblock(hb->fd, true);
	hb->io = io_add(hb->fd, IO_READ, handback_relay_input, hb);
}

static void handback_start_io(void *context)
{
	struct mail_handback *hb = context;

	timeout_remove(&hb->to);
	hb->to = timeout_add(MAIL_HANDBACK_TIMEOUT_MSECS, handback_timeout, hb);
	if (hb->hc != NULL)
		handback_start_relay(hb);
	else
		handback_start_fd(hb);
}

void mail_handback_start(const struct mail_handback_request *req)
{
	struct mail_handback *hb = i_new(struct mail_handback, 1);
	struct userip_session *s = userip_sessions == NULL ? NULL :
		hash_table_lookup(userip_sessions, req->session_id);

	hb->fd = req->fd;
	hb->event = event_create(req->event);
	hb->failure_line = i_strdup(req->failure_line);
	hb->session_id = i_strdup(req->session_id);
	hb->tag = i_strdup(req->tag);
	hb->input = buffer_create(system_pool, req->input_size + 64);
	buffer_append(hb->input, req->input, req->input_size);
	hb->next = handbacks;
	if (handbacks != NULL)
		handbacks->prev = hb;
	handbacks = hb;
	/* the process must not exit while the client is in our hands */
	master_service_client_connected(handoff_service);

	if (s == NULL) {
		handback_finish(hb, "the session did not come from a login "
				"process");
		return;
	}
	hb->protocol = i_strdup(s->protocol);
	hb->hb = (struct login_handback){
		.protocol = hb->protocol,
		.session_id = hb->session_id,
		.tag = hb->tag,
		.flags = s->flags,
		.remote_ip = s->remote_ip,
		.local_ip = s->local_ip,
		.remote_port = s->remote_port,
		.local_port = s->local_port,
	};
	if ((s->flags & LOGIN_HANDOFF_FLAG_RELAY) != 0) {
		if (s->hc == NULL) {
			handback_finish(hb, "no way back to the login process");
			return;
		}
		hb->hc = s->hc;
		hb->hc->relay_sessions++;
	}
	/* the session is over: its user+IP count goes now, before the
	   client can log in again */
	mail_session_ended(req->session_id);
	if (req->input_size > LOGIN_HANDOFF_MAX_PREREAD) {
		handback_finish(hb, "too much pipelined input after "
				"UNAUTHENTICATE");
		return;
	}
	/* from the ioloop: the caller ends the session first */
	hb->to = timeout_add(0, handback_start_io, hb);
}

void mail_handoff_init(struct master_service *service)
{
	const struct columba_settings *set = master_service_get_settings(service);

	handoff_service = service;
	auth_master = auth_master_client_init(t_strdup_printf(
		"%s/auth-userdb", set->base_dir));
}

void mail_handoff_deinit(void)
{
	while (handbacks != NULL)
		handback_finish(handbacks, "Server shutting down");
	while (handoff_conns != NULL)
		handoff_conn_destroy(handoff_conns);
	if (userip_sessions != NULL) {
		struct hash_iterate iter;
		void *key, *value;
		/* sessions still running at exit: the table goes anyway */
		while (hash_table_count(userip_sessions) > 0) {
			hash_table_iterate_init(userip_sessions, &iter);
			if (!hash_table_iterate(&iter, &key, &value))
				break;
			userip_session_free(value);
		}
		hash_table_destroy(&userip_sessions);
		hash_table_destroy(&userips);
	}
	if (auth_master != NULL)
		auth_master_client_deinit(&auth_master);
}
