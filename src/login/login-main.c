/* A login process: TLS contexts from the ssl settings (loaded before the
   chroot), accepting clients, the client list and its shutdown. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "tls.h"
#include "event.h"
#include "config.h"
#include "master-service.h"
#include "master-tls.h"
#include "str.h"
#include "base64.h"
#include "restrict-access.h"
#include "auth-client.h"
#include "strfuncs.h"
#include "login-handoff.h"
#include "login-common.h"
#include "login-ip-limit.h"

#include <sys/random.h>
#include <unistd.h>

struct login_globals login_globals;
static const struct login_protocol *login_protocol;
static struct login_client *login_clients;
static struct conn_settings login_conn_set;
/* greet waiting clients anyway when the auth process takes this long
   (their logins then fail as temporarily unavailable) */
#define LOGIN_AUTH_WAIT_MSECS 3000
static struct timeout *to_auth_wait;

static void login_client_destroy(struct login_client *client);
static void client_conn_input(struct conn *conn);

/* Greet the clients that waited for the auth process (connected, or
   waited long enough). */
static void login_greet_waiting(void *context ATTR_UNUSED)
{
	struct login_client *client, *next;

	timeout_remove(&to_auth_wait);
	for (client = login_clients; client != NULL; client = next) {
		next = client->next;
		if (!client->greeting_pending || client->destroyed)
			continue;
		client->greeting_pending = false;
		login_protocol->client_created(client);
		/* input that arrived meanwhile */
		if (!client->destroyed &&
		    conn_input_buffered_size(client->conn) > 0)
			client_conn_input(client->conn);
	}
}

static void login_auth_connected(struct auth_client *auth ATTR_UNUSED,
				 bool connected, void *context ATTR_UNUSED)
{
	if (connected)
		login_greet_waiting(NULL);
}

static void client_conn_input(struct conn *conn)
{
	struct login_client *client = conn_get_context(conn);
	if (client->greeting_pending) {
		/* not greeted yet: leave the input buffered */
		return;
	}
	if (client->relay != NULL)
		login_relay_client_input(client);
	else
		login_protocol->client_input(client);
}

static void client_conn_output_drained(struct conn *conn)
{
	struct login_client *client = conn_get_context(conn);
	if (client->relay != NULL)
		login_relay_client_output_drained(client);
}

static void client_conn_disconnected(struct conn *conn, const char *reason)
{
	struct login_client *client = conn_get_context(conn);
	if (strcmp(reason, "Idle timeout") == 0) {
		login_client_disconnect(client, "Disconnected for inactivity.",
					"Inactivity");
	} else {
		login_client_disconnect(client, NULL, reason);
	}
}

static void client_conn_tls_handshaked(struct conn *conn)
{
	struct login_client *client = conn_get_context(conn);
	client->tls = true;
	client->secured = true;
	e_debug(client->event, "TLS established: %s",
		tls_conn_get_security_string(conn_get_tls(conn)));
}

static const struct conn_vfuncs login_conn_vfuncs = {
	.input = client_conn_input,
	.disconnected = client_conn_disconnected,
	.tls_handshaked = client_conn_tls_handshaked,
	.output_drained = client_conn_output_drained,
};

/* Dovecot's session ids: random bytes in base64, unique enough to find
   one session's lines across processes. */
static void login_session_id_generate(char dest[24])
{
	unsigned char rand[12];

	if (getrandom(rand, sizeof(rand), 0) != sizeof(rand))
		i_fatal("getrandom() failed: %m");
	const char *b64 = t_base64_encode(rand, sizeof(rand));
	i_assert(strlen(b64) < 24);
	strcpy(dest, b64);
}

static bool login_client_is_trusted(const struct login_client *client)
{
	const char *const *nets = login_globals.set->login_trusted_networks;

	for (; *nets != NULL; nets++) {
		struct ip_addr net_ip;
		unsigned int bits;
		if (net_parse_range(*nets, &net_ip, &bits) == 0 &&
		    net_is_in_network(&client->remote_ip, &net_ip, bits))
			return true;
	}
	return false;
}

/* login_max_connections_per_ip for a client from outside
   login_trusted_networks. Returns false if the connection must be
   refused. */
static bool login_client_ip_limit_add(struct login_client *client)
{
	unsigned int max = login_globals.set->login_max_connections_per_ip;

	if (max == 0 || client->trusted)
		return true;
	if (!login_ip_limit_add(login_globals.ip_limit, &client->remote_ip,
				max))
		return false;
	client->ip_counted = true;
	return true;
}

/* A new client on fd, counted and listed. */
static struct login_client *
login_client_new(const struct master_service_listener *listener, int fd,
		 const struct ip_addr *remote_ip, in_port_t remote_port,
		 const struct ip_addr *local_ip, in_port_t local_port)
{
	const struct login_protocol *proto = login_protocol;
	struct login_client *client = i_malloc(proto->client_size);
	client->protocol = proto;
	client->listener = listener;
	client->remote_ip = *remote_ip;
	client->local_ip = *local_ip;
	client->remote_port = remote_port;
	client->local_port = local_port;
	client->created = ioloop_time;
	client->implicit_tls = listener != NULL && listener->ssl;
	login_session_id_generate(client->session_id);
	client->trusted = login_client_is_trusted(client);
	/* Dovecot 2.3's rule: TLS, a trusted network, or a client on this
	   very host (its address is ours, e.g. 127.0.0.1 -> 127.0.0.1) */
	client->secured = client->implicit_tls || client->trusted ||
		net_ip_compare(&client->remote_ip, &client->local_ip);

	client->event = event_create(NULL);
	/* the five below and "reason" at the disconnect: in one array, the
	   event then fits its first 512-byte block (a relayed TLS client
	   keeps it for the whole session) */
	event_reserve_fields(client->event, 6);
	event_set_category(client->event, proto->name);
	event_add_str(client->event, "remote_ip", net_ip2addr(&client->remote_ip));
	event_add_int(client->event, "remote_port", client->remote_port);
	event_add_str(client->event, "local_ip", net_ip2addr(&client->local_ip));
	event_add_int(client->event, "local_port", client->local_port);
	event_add_str(client->event, "session", client->session_id);

	client->conn = conn_create(fd, &login_conn_set,
				   &login_conn_vfuncs, client);
	conn_set_name(client->conn, t_strdup_printf("%s-login %s",
		proto->name, net_ipport2str(&client->remote_ip,
					    client->remote_port)));

	client->next = login_clients;
	if (login_clients != NULL)
		login_clients->prev = client;
	login_clients = client;
	login_globals.client_count++;
	master_service_client_connected(login_globals.service);
	return client;
}

static void login_accept(struct master_service_connection *mconn,
			 void *context ATTR_UNUSED)
{
	const struct login_protocol *proto = login_protocol;

	if (mconn->listener->type == MASTER_LISTENER_UNIX &&
	    login_handback_is_listener(mconn->listener->name)) {
		login_handback_accept(mconn->fd);
		return;
	}
	if (mconn->listener->ssl && login_globals.tls_ctx == NULL) {
		i_error("%s: TLS listener %s but ssl = no: closing connection "
			"from %s", proto->name, mconn->listener->name,
			net_ip2addr(&mconn->remote_ip));
		close(mconn->fd);
		return;
	}

	struct login_client *client =
		login_client_new(mconn->listener, mconn->fd,
				 &mconn->remote_ip, mconn->remote_port,
				 &mconn->local_ip, mconn->local_port);
	if (!login_client_ip_limit_add(client)) {
		unsigned int max = login_globals.set->login_max_connections_per_ip;
		e_info(client->event, "Connection refused: too many connections "
		       "from %s (login_max_connections_per_ip=%u)",
		       net_ip2addr(&client->remote_ip), max);
		/* on imaps a goodbye would cost a whole handshake, which is
		   what a flood wants from us: just close */
		login_client_disconnect(client, client->implicit_tls ? NULL :
			"Too many connections from your IP.",
			"Too many connections from this IP");
		return;
	}
	if (client->implicit_tls) {
		const char *error;
		if (conn_start_tls_server(client->conn, login_globals.tls_ctx,
					  &error) < 0) {
			login_client_disconnect(client, NULL, error);
			return;
		}
	}
	if (!auth_client_is_connected(login_globals.auth_client)) {
		/* as Dovecot: the greeting waits for the auth handshake, so
		   that its capabilities name the mechanisms */
		client->greeting_pending = true;
		if (to_auth_wait == NULL) {
			to_auth_wait = timeout_add(LOGIN_AUTH_WAIT_MSECS,
						   login_greet_waiting, NULL);
		}
		return;
	}
	proto->client_created(client);
}

bool login_client_create_handback(int fd, const struct login_handback *hb)
{
	if (login_protocol->client_unauthenticated == NULL) {
		i_error("%s: a hand-back, but the protocol has none",
			login_protocol->name);
		return false;
	}
	struct login_client *client =
		login_client_new(NULL, fd, &hb->remote_ip, hb->remote_port,
				 &hb->local_ip, hb->local_port);
	e_info(client->event, "Unauthenticated: back from session=<%s>",
	       str_sanitize(hb->session_id, 40));
	if (!login_client_ip_limit_add(client)) {
		unsigned int max = login_globals.set->login_max_connections_per_ip;
		e_info(client->event, "Connection refused: too many connections "
		       "from %s (login_max_connections_per_ip=%u)",
		       net_ip2addr(&client->remote_ip), max);
		login_client_disconnect(client,
			"Too many connections from your IP.",
			"Too many connections from this IP");
		return true;
	}
	if (hb->input_size > 0)
		conn_input_push(client->conn, hb->input, hb->input_size);
	login_protocol->client_unauthenticated(client, hb->tag);
	return true;
}

struct login_client *login_client_find_session(const char *session_id)
{
	struct login_client *client;

	for (client = login_clients; client != NULL; client = client->next) {
		if (!client->destroyed &&
		    strcmp(client->session_id, session_id) == 0)
			return client;
	}
	return NULL;
}

void login_client_unauthenticated(struct login_client *client,
				  const char *tag, const void *input,
				  size_t size)
{
	char old_session[sizeof(client->session_id)];

	i_assert(client->relay == NULL && client->conn != NULL);
	memcpy(old_session, client->session_id, sizeof(old_session));
	/* a new pre-login session: its own id in the log lines, its own
	   login (the attempt counters and their limits carry on) */
	login_session_id_generate(client->session_id);
	event_add_str(client->event, "session", client->session_id);
	e_info(client->event, "Unauthenticated: user=<%s>, back from "
	       "session=<%s>", client->auth_user == NULL ? "" :
	       str_sanitize(client->auth_user, 80), old_session);
	client->authenticated = false;
	client->auth_final_pending = false;
	i_free(client->auth_user);
	i_free(client->auth_tag);
	client->created = ioloop_time;
	conn_set_settings(client->conn, &login_conn_set);
	if (size > 0)
		conn_input_push(client->conn, input, size);
	client->protocol->client_unauthenticated(client, tag);
	conn_set_input_paused(client->conn, false);
}

bool login_client_can_starttls(const struct login_client *client)
{
	return login_globals.tls_ctx != NULL && !client->tls &&
		!client->implicit_tls && !conn_is_tls(client->conn);
}

int login_client_starttls(struct login_client *client)
{
	const char *error;
	if (conn_start_tls_server(client->conn, login_globals.tls_ctx,
				  &error) < 0) {
		e_error(client->event, "STARTTLS failed: %s", error);
		return -1;
	}
	return 0;
}

bool login_client_bad_command(struct login_client *client)
{
	if (++client->bad_counter < LOGIN_CLIENT_MAX_BAD_COMMANDS)
		return false;
	login_client_disconnect(client, "Too many invalid commands.",
				"Too many invalid commands");
	return true;
}

void login_client_disconnect(struct login_client *client,
			     const char *bye_reason, const char *log_reason)
{
	if (client->destroyed)
		return;
	if (client->relay != NULL || client->conn == NULL) {
		/* logged in: the session belongs to the mail process,
		   which says goodbye and logs the logout */
		e_debug(client->event, "Relayed session ended: %s", log_reason);
		login_client_destroy(client);
		return;
	}
	if (bye_reason != NULL && client->protocol->client_bye != NULL)
		client->protocol->client_bye(client, bye_reason);

	/* Dovecot's format, which log parsers (fail2ban filters...)
	   already understand */
	const char *auth_info;
	long secs = (long)(ioloop_time - client->created);
	if (client->auth_attempts == 0) {
		auth_info = t_strdup_printf("no auth attempts in %ld secs", secs);
	} else if (login_auth_in_progress(client)) {
		auth_info = t_strdup_printf(
			"client didn't finish SASL auth, waited %ld secs",
			(long)(ioloop_time - client->auth_started));
	} else {
		auth_info = t_strdup_printf("auth failed, %u attempts in %ld secs",
					    client->auth_attempts, secs);
	}
	e_info(client->event,
	       "Disconnected: %s (%s): user=<%s>, %s%srip=%s, lip=%s%s, "
	       "session=<%s>", log_reason, auth_info,
	       client->auth_user == NULL ? "" :
	       str_sanitize(client->auth_user, 80),
	       client->auth_mech == NULL ? "" : "method=",
	       client->auth_mech == NULL ? "" :
	       t_strdup_printf("%s, ", client->auth_mech),
	       net_ip2addr(&client->remote_ip), net_ip2addr(&client->local_ip),
	       conn_is_tls(client->conn) ? ", TLS" : "", client->session_id);
	event_add_str(client->event, "reason", log_reason);
	event_emit(client->event, "login_client_disconnected");
	login_client_destroy(client);
}

void login_client_handed_off(struct login_client *client)
{
	i_assert(client->conn == NULL);
	login_client_destroy(client);
}

void login_client_reattach(struct login_client *client, int fd,
			   const void *input, size_t size)
{
	i_assert(client->conn == NULL);
	client->conn = conn_create(fd, &login_conn_set, &login_conn_vfuncs,
				   client);
	conn_set_name(client->conn, t_strdup_printf("%s-login %s",
		client->protocol->name, net_ipport2str(&client->remote_ip,
						       client->remote_port)));
	if (size > 0)
		conn_input_push(client->conn, input, size);
}

static void login_client_destroy(struct login_client *client)
{
	client->destroyed = true;
	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		login_clients = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;

	if (client->ip_counted)
		login_ip_limit_remove(login_globals.ip_limit, &client->remote_ip);
	login_auth_client_destroy(client);
	if (client->protocol->client_destroy != NULL)
		client->protocol->client_destroy(client);
	conn_destroy(&client->conn);
	event_unref(&client->event);
	free(client);
	i_assert(login_globals.client_count > 0);
	login_globals.client_count--;
	master_service_client_disconnected(login_globals.service);
}

static void login_stop(bool shutdown, void *context ATTR_UNUSED)
{
	/* the master stops (or replaces) the auth process too */
	if (login_globals.auth_client != NULL)
		auth_client_set_stopping(login_globals.auth_client);
	if (!shutdown) {
		/* reload: pre-login sessions are short; let them finish on the
		   old configuration */
		return;
	}
	while (login_clients != NULL) {
		login_client_disconnect(login_clients, "Server shutting down.",
					"Server shutting down");
	}
}

static struct tls_context *login_tls_init(const struct columba_settings *set)
{
	const char *error;
	struct tls_context *ctx = master_tls_context_create(set, &error);
	if (ctx == NULL && error != NULL)
		i_fatal("%s", error);
	return ctx;
}

int login_main(const struct login_protocol *protocol)
{
	static const struct master_service_callbacks callbacks = {
		.accept = login_accept,
		.stop = login_stop,
	};
	const char *name = t_strdup_printf("%s-login", protocol->name);

	login_protocol = protocol;
	login_globals.service = master_service_init(name, &callbacks, NULL);
	login_globals.set = master_service_get_settings(login_globals.service);
	login_globals.ip_limit = login_ip_limit_create();

	login_conn_set.name = name;
	login_conn_set.input_max_size = protocol->max_line_length + 2;
	login_conn_set.idle_timeout_msecs = LOGIN_CLIENT_IDLE_TIMEOUT_MSECS;

	/* certificates come from the configuration text, but OpenSSL's own
	   initialisation reads files: all before the chroot */
	login_globals.tls_ctx = login_tls_init(login_globals.set);

	/* The sockets live in base_dir/login, which is the chroot when
	   the master runs as root; as seen from inside it they are
	   "/auth" and "/mail". */
	struct restrict_access_settings ra;
	restrict_access_get_env(&ra);
	const char *auth_path = t_strdup_printf("%s/login/auth",
						login_globals.set->base_dir);
	const char *mail_path = t_strdup_printf("%s/login/mail",
						login_globals.set->base_dir);
	if (ra.chroot_dir != NULL && geteuid() == 0) {
		size_t len = strlen(ra.chroot_dir);
		if (strncmp(auth_path, ra.chroot_dir, len) == 0 &&
		    auth_path[len] == '/')
			auth_path += len;
		if (strncmp(mail_path, ra.chroot_dir, len) == 0 &&
		    mail_path[len] == '/')
			mail_path += len;
	}
	login_globals.mail_socket_path = i_strdup(mail_path);
	auth_path = t_strdup(auth_path);

	master_service_init_finish(login_globals.service);
	login_auth_init(auth_path);
	auth_client_set_connect_callback(login_globals.auth_client,
					 login_auth_connected, NULL);
	master_service_run(login_globals.service);

	while (login_clients != NULL)
		login_client_disconnect(login_clients, "Server shutting down.",
					"Server shutting down");
	login_handback_deinit();
	login_handoff_deinit();
	timeout_remove(&to_auth_wait);
	login_auth_deinit();
	login_ip_limit_destroy(&login_globals.ip_limit);
	free((char *)login_globals.mail_socket_path);
	tls_context_unref(&login_globals.tls_ctx);
	master_service_deinit(&login_globals.service);
	return 0;
}
