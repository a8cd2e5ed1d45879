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
#include "login-common.h"

struct login_globals login_globals;
static const struct login_protocol *login_protocol;
static struct login_client *login_clients;
static struct conn_settings login_conn_set;

static void login_client_destroy(struct login_client *client);

static void client_conn_input(struct conn *conn)
{
	struct login_client *client = conn_get_context(conn);
	login_protocol->client_input(client);
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
	e_debug(client->event, "TLS established: %s",
		tls_conn_get_security_string(conn_get_tls(conn)));
}

static const struct conn_vfuncs login_conn_vfuncs = {
	.input = client_conn_input,
	.disconnected = client_conn_disconnected,
	.tls_handshaked = client_conn_tls_handshaked,
};

static void login_accept(struct master_service_connection *mconn,
			 void *context ATTR_UNUSED)
{
	const struct login_protocol *proto = login_protocol;

	if (mconn->listener->ssl && login_globals.tls_ctx == NULL) {
		i_error("%s: TLS listener %s but ssl = no: closing connection "
			"from %s", proto->name, mconn->listener->name,
			net_ip2addr(&mconn->remote_ip));
		close(mconn->fd);
		return;
	}

	struct login_client *client = i_malloc(proto->client_size);
	client->protocol = proto;
	client->listener = mconn->listener;
	client->remote_ip = mconn->remote_ip;
	client->local_ip = mconn->local_ip;
	client->remote_port = mconn->remote_port;
	client->local_port = mconn->local_port;
	client->created = ioloop_time;
	client->implicit_tls = mconn->listener->ssl;

	client->event = event_create(NULL);
	event_set_category(client->event, proto->name);
	event_add_str(client->event, "remote_ip", net_ip2addr(&client->remote_ip));
	event_add_int(client->event, "remote_port", client->remote_port);
	event_add_str(client->event, "local_ip", net_ip2addr(&client->local_ip));
	event_add_int(client->event, "local_port", client->local_port);

	client->conn = conn_create(mconn->fd, &login_conn_set,
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

	if (client->implicit_tls) {
		const char *error;
		if (conn_start_tls_server(client->conn, login_globals.tls_ctx,
					  &error) < 0) {
			login_client_disconnect(client, NULL, error);
			return;
		}
	}
	proto->client_created(client);
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
	if (bye_reason != NULL && client->protocol->client_bye != NULL)
		client->protocol->client_bye(client, bye_reason);

	/* Dovecot's format, which log parsers (fail2ban filters...)
	   already understand */
	e_info(client->event,
	       "Disconnected: %s (no auth attempts in %ld secs): user=<>, "
	       "rip=%s, lip=%s%s", log_reason,
	       (long)(ioloop_time - client->created),
	       net_ip2addr(&client->remote_ip), net_ip2addr(&client->local_ip),
	       conn_is_tls(client->conn) ? ", TLS" : "");
	event_add_str(client->event, "reason", log_reason);
	event_emit(client->event, "login_client_disconnected");
	login_client_destroy(client);
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

	login_conn_set.name = name;
	login_conn_set.input_max_size = protocol->max_line_length + 2;
	login_conn_set.idle_timeout_msecs = LOGIN_CLIENT_IDLE_TIMEOUT_MSECS;

	/* certificates come from the configuration text, but OpenSSL's own
	   initialisation reads files: all before the chroot */
	login_globals.tls_ctx = login_tls_init(login_globals.set);

	master_service_init_finish(login_globals.service);
	master_service_run(login_globals.service);

	while (login_clients != NULL)
		login_client_disconnect(login_clients, "Server shutting down.",
					"Server shutting down");
	tls_context_unref(&login_globals.tls_ctx);
	master_service_deinit(&login_globals.service);
	return 0;
}
