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
   which a process that accepts takes. */
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

struct mail_handoff_conn {
	struct mail_handoff_conn *prev, *next;
	struct ipc *ipc;
	struct event *event;
	pool_t pool;
	struct login_handoff handoff;
	int client_fd;
	struct auth_master_lookup *lookup;
};

/* The sessions of one user from one IP. */
struct userip {
	char *key; /* "user\tip" */
	unsigned int count;
};

/* One counted session. */
struct userip_session {
	char *session_id;
	struct userip *userip;
};

static struct master_service *handoff_service;
static struct auth_master_client *auth_master;
static struct mail_handoff_conn *handoff_conns;
/* key -> struct userip; session id -> struct userip_session */
static struct hash_table *userips;
static struct hash_table *userip_sessions;

bool mail_handoff_is_listener(const char *listener_name)
{
	return str_ends_with(listener_name, "login/mail");
}

static void handoff_event_init(struct mail_handoff_conn *hc)
{
	hc->event = event_create(NULL);
	event_set_category(hc->event, "mail-handoff");
}

static void handoff_conn_destroy(struct mail_handoff_conn *hc)
{
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
	if (hc->ipc != NULL)
		ipc_destroy(&hc->ipc);
	event_unref(&hc->event);
	pool_unref(&hc->pool);
	free(hc);
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

static void userip_add(const char *key, const char *session_id)
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
	userip_add(key, h->session_id);

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

void mail_handoff_init(struct master_service *service)
{
	const struct columba_settings *set = master_service_get_settings(service);

	handoff_service = service;
	auth_master = auth_master_client_init(t_strdup_printf(
		"%s/auth-userdb", set->base_dir));
}

void mail_handoff_deinit(void)
{
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
