/* Dovecot's auth client protocol, version 1.2 with the 1.3 extension for
   channel binding, server side. The server speaks first:

     VERSION 1 3 / MECH name flags... / SPID pid / CUID id / COOKIE hex /
     DONE

   and the client answers VERSION 1 x and CPID pid. Clients of 1.2 and
   older (Postfix, Exim, Dovecot 2.3's) see exactly the 1.2 handshake: the
   channel-binding (-PLUS) mechanisms are not in it, because such a client
   would offer them and could not pass the binding on. A client that says
   VERSION 1 3 (or later) gets, once its VERSION has come, the -PLUS
   mechanisms as MECH lines with the "channel-binding" flag and a second
   DONE; as Dovecot 2.4 does, only 1.3 clients see -PLUS mechanisms. Such
   a client puts its connection's channel bindings in the AUTH line as
   cbind_<cb-name>=<base64> (cbind_tls-unique=..., cbind_tls-exporter=...)
   whenever it offers the -PLUS mechanisms to its own client. Then it sends any
   number of AUTH id mech params... lines, each a request of its own
   (many may run at once), CONT id base64 for the next SASL step and
   CANCEL id. We answer CONT id base64, OK id user=... fields and
   FAIL id fields. Fields are TAB-separated and escaped (auth-protocol.h).
   A line we cannot parse means a client we cannot trust to parse our
   answers: it is logged and the client is disconnected. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "base64.h"
#include "net.h"
#include "strfuncs.h"
#include "master-service.h"
#include "columba-settings.h"
#include "sasl-server.h"
#include "auth-protocol.h"
#include "auth.h"
#include "auth-request.h"
#include "auth-client-conn.h"

#include <ctype.h>
#include <strings.h>
#include <unistd.h>

/* Requests one connection may have running at once. Postfix and login
   processes run one per SMTP/IMAP session, so this is a process's worth. */
#define AUTH_CLIENT_MAX_REQUESTS 4096
/* A handshake that does not finish in this time is a stuck client. */
#define AUTH_CLIENT_HANDSHAKE_TIMEOUT_MSECS (30 * 1000)

struct auth_client_conn {
	struct auth_client_conn *prev, *next;
	struct conn *conn;
	const char *name;
	unsigned int cuid;
	/* the client's VERSION and CPID lines have come */
	bool version_received;
	/* the client speaks 1.3: it was offered the -PLUS mechanisms */
	bool channel_binding;
	unsigned int cpid;
	ARRAY(struct auth_request *) requests;
	struct timeout *to_handshake;
};

static struct auth_client_conn *auth_client_conns = NULL;

static void auth_client_conn_destroy(struct auth_client_conn *client);

static const struct conn_settings auth_client_conn_set = {
	.name = "auth-client",
	.input_max_size = AUTH_PROTOCOL_MAX_LINE_LENGTH + 2,
};

/* Dovecot's flag names for a mechanism's properties. */
static const char *auth_mech_flags(const struct sasl_server_mech *mech)
{
	enum sasl_mech_flags flags = sasl_server_mech_get_flags(mech);
	const char *name = sasl_server_mech_get_name(mech);
	string_t *str = t_str_new(64);

	if ((flags & SASL_MECH_FLAG_ANONYMOUS) != 0)
		str_append(str, "\tanonymous");
	if ((flags & SASL_MECH_FLAG_CLEARTEXT) != 0)
		str_append(str, "\tplaintext");
	if (strcasecmp(name, "CRAM-MD5") == 0)
		str_append(str, "\tdictionary\tactive");
	if ((flags & SASL_MECH_FLAG_MUTUAL) != 0)
		str_append(str, "\tmutual-auth");
	if ((flags & SASL_MECH_FLAG_CHANNEL_BINDING) != 0)
		str_append(str, "\tchannel-binding");
	return str_c(str);
}

static bool auth_mech_needs_binding(const struct sasl_server_mech *mech)
{
	return (sasl_server_mech_get_flags(mech) &
		SASL_MECH_FLAG_CHANNEL_BINDING) != 0;
}

static void auth_client_send_handshake(struct auth_client_conn *client)
{
	const struct sasl_server_mech *const *mech;
	string_t *str = t_str_new(512);

	str_append(str, "VERSION\t1\t3\n");
	array_foreach(&auth->mechs, mech) {
		if (auth_mech_needs_binding(*mech))
			continue;
		str_printfa(str, "MECH\t%s%s\n",
			    sasl_server_mech_get_name(*mech),
			    auth_mech_flags(*mech));
	}
	str_printfa(str, "SPID\t%ld\n", (long)getpid());
	str_printfa(str, "CUID\t%u\n", client->cuid);
	str_printfa(str, "COOKIE\t%s\n", auth->cookie);
	str_append(str, "DONE\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
}

/* The 1.3 part of the handshake: the -PLUS mechanisms and DONE. */
static void auth_client_send_binding_mechs(struct auth_client_conn *client)
{
	const struct sasl_server_mech *const *mech;
	string_t *str = t_str_new(256);

	array_foreach(&auth->mechs, mech) {
		if (!auth_mech_needs_binding(*mech))
			continue;
		str_printfa(str, "MECH\t%s%s\n",
			    sasl_server_mech_get_name(*mech),
			    auth_mech_flags(*mech));
	}
	str_append(str, "DONE\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
}

static void auth_client_error(struct auth_client_conn *client,
			      const char *fmt, ...) ATTR_FORMAT(2, 3);
static void auth_client_error(struct auth_client_conn *client,
			      const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	const char *msg = p_strdup_vprintf(pool_datastack, fmt, args);
	va_end(args);
	i_error("%s: Disconnecting: %s", client->name, msg);
	conn_disconnect(client->conn, msg);
}

static struct auth_request *
auth_client_find_request(struct auth_client_conn *client, unsigned int id,
			 unsigned int *idx_r)
{
	struct auth_request *const *reqs = client->requests.v;

	for (unsigned int i = 0; i < array_count(&client->requests); i++) {
		if (auth_request_get_id(reqs[i]) == id) {
			*idx_r = i;
			return reqs[i];
		}
	}
	return NULL;
}

static void auth_client_request_reply(struct auth_request *req,
				      const char *line, bool finished,
				      void *context)
{
	struct auth_client_conn *client = context;
	unsigned int idx = 0;

	conn_write_str(client->conn, line);
	conn_write_str(client->conn, "\n");
	if (!finished)
		return;
	if (auth_client_find_request(client, auth_request_get_id(req),
				     &idx) == req) {
		array_delete(&client->requests, idx, 1);
		auth_request_unref(&req);
	}
}

static int auth_client_parse_id(const char *str, unsigned int *id_r)
{
	return str == NULL || str_to_uint(str, id_r) < 0 ? -1 : 0;
}

/* cbind_<cb-name>=<base64>: one channel binding of the client's
   connection. Returns -1 after disconnecting the client. */
static int auth_client_parse_cbind(struct auth_client_conn *client,
				   const char *type, const char *value,
				   struct sasl_channel_binding *cbs,
				   struct auth_request_params *params)
{
	const char *error;

	/* RFC 5056 cb-names: letters, digits, '.', '-' */
	bool type_ok = *type != '\0' && strlen(type) <= 64;
	for (const char *p = type; type_ok && *p != '\0'; p++) {
		type_ok = isalnum((unsigned char)*p) || *p == '.' || *p == '-';
	}
	if (!type_ok || !client->channel_binding) {
		auth_client_error(client, "AUTH with an invalid channel binding cbind_%s%s",
				  str_sanitize(type, 64),
				  client->channel_binding ? "" :
				  " (the client did not say VERSION 1 3)");
		return -1;
	}
	for (unsigned int i = 0; i < params->channel_bindings_count; i++) {
		if (strcmp(cbs[i].type, type) == 0) {
			auth_client_error(client, "AUTH with cbind_%s twice",
					  type);
			return -1;
		}
	}
	if (params->channel_bindings_count >= AUTH_REQUEST_MAX_CHANNEL_BINDINGS) {
		auth_client_error(client, "AUTH with too many channel bindings");
		return -1;
	}
	buffer_t *data = t_str_new(strlen(value));
	if (base64_decode(value, strlen(value), data, &error) < 0 ||
	    data->used == 0) {
		auth_client_error(client, "AUTH with invalid base64 in cbind_%s",
				  type);
		return -1;
	}
	struct sasl_channel_binding *cb = &cbs[params->channel_bindings_count++];
	cb->type = type;
	cb->data = data->data;
	cb->size = data->used;
	params->channel_bindings = cbs;
	return 0;
}

/* AUTH id mech [params...] */
static int auth_client_cmd_auth(struct auth_client_conn *client,
				const char *const *args)
{
	struct auth_request_params params;
	struct sasl_channel_binding cbs[AUTH_REQUEST_MAX_CHANNEL_BINDINGS];
	const char *resp = NULL;
	unsigned int id, idx = 0;

	if (auth_client_parse_id(args[0], &id) < 0 || args[1] == NULL) {
		auth_client_error(client, "Invalid AUTH line (expected AUTH id mechanism [params])");
		return -1;
	}
	if (auth_client_find_request(client, id, &idx) != NULL) {
		auth_client_error(client, "AUTH with an id already in use: %u",
				  id);
		return -1;
	}
	if (array_count(&client->requests) >= AUTH_CLIENT_MAX_REQUESTS) {
		auth_client_error(client, "Too many requests at once (%u)",
				  AUTH_CLIENT_MAX_REQUESTS);
		return -1;
	}

	memset(&params, 0, sizeof(params));
	for (unsigned int i = 2; args[i] != NULL; i++) {
		const char *arg = args[i], *eq = strchr(arg, '=');
		const char *key = eq == NULL ? arg :
			t_strndup(arg, (size_t)(eq - arg));
		const char *value = eq == NULL ? NULL : eq + 1;
		unsigned int port;

		if (value == NULL) {
			if (strcmp(key, "secured") == 0)
				params.secured = true;
			else if (strcmp(key, "valid-client-cert") == 0)
				params.valid_client_cert = true;
			else if (strcmp(key, "no-penalty") == 0)
				params.no_penalty = true;
			else if (strcmp(key, "nologin") == 0)
				params.nologin = true;
			/* other flags (debug, final-resp-ok...) are
			   accepted and ignored, as Dovecot does with fields
			   it does not know */
			continue;
		}
		if (strcmp(key, "service") == 0)
			params.service = value;
		else if (strcmp(key, "lip") == 0 || strcmp(key, "rip") == 0) {
			struct ip_addr ip;
			if (net_addr2ip(value, &ip) < 0) {
				auth_client_error(client, "AUTH with an invalid %s: %s",
						  key, str_sanitize(value, 64));
				return -1;
			}
			if (key[0] == 'l')
				params.local_ip = value;
			else
				params.remote_ip = value;
		} else if (strcmp(key, "lport") == 0 ||
			   strcmp(key, "rport") == 0) {
			if (str_to_uint(value, &port) < 0 || port > 65535) {
				auth_client_error(client, "AUTH with an invalid %s: %s",
						  key, str_sanitize(value, 64));
				return -1;
			}
			if (key[0] == 'l')
				params.local_port = port;
			else
				params.remote_port = port;
		} else if (strcmp(key, "resp") == 0)
			resp = value;
		else if (strcmp(key, "session") == 0)
			params.session = value;
		else if (strcmp(key, "cert_username") == 0)
			params.cert_username = value;
		else if (str_begins(key, "cbind_")) {
			if (auth_client_parse_cbind(client, key + 6, value, cbs,
						    &params) < 0)
				return -1;
		}
		else if (strcmp(key, "secured") == 0)
			params.secured = true;
	}
	if (params.service == NULL) {
		auth_client_error(client, "AUTH without service= (id %u)", id);
		return -1;
	}

	const struct sasl_server_mech *mech = auth_find_mech(args[1]);
	if (mech != NULL && auth_mech_needs_binding(mech) &&
	    !client->channel_binding) {
		/* never offered to this client: it could not bind */
		mech = NULL;
	}
	if (mech == NULL) {
		i_info("%s: Unsupported authentication mechanism %s (rip=%s)",
		       client->name, str_sanitize(args[1], 64),
		       params.remote_ip == NULL ? "" : params.remote_ip);
		conn_printf(client->conn,
			    "FAIL\t%u\treason=Unsupported authentication mechanism.\n",
			    id);
		return 0;
	}

	struct auth_request *req =
		auth_request_new(id, mech, &params,
				 auth_client_request_reply, client);
	array_push(&client->requests, req);
	if (resp == NULL) {
		auth_request_start(req, NULL, 0);
		return 0;
	}
	buffer_t *data = t_str_new(strlen(resp));
	const char *error;
	if (base64_decode(resp, strlen(resp), data, &error) < 0) {
		auth_request_fail_input(req, "Invalid base64 data in initial response");
		return 0;
	}
	/* resp= with nothing after it is an empty initial response */
	auth_request_start(req, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	return 0;
}

/* CONT id base64 */
static int auth_client_cmd_cont(struct auth_client_conn *client,
				const char *const *args)
{
	unsigned int id, idx = 0;

	if (auth_client_parse_id(args[0], &id) < 0 || args[1] == NULL ||
	    args[2] != NULL) {
		auth_client_error(client, "Invalid CONT line (expected CONT id data)");
		return -1;
	}
	struct auth_request *req = auth_client_find_request(client, id, &idx);
	if (req == NULL) {
		/* it may have failed or been cancelled while this was on
		   its way */
		i_info("%s: CONT for an unknown request %u, ignored",
		       client->name, id);
		return 0;
	}
	if (!auth_request_wants_input(req)) {
		auth_client_error(client, "CONT %u while the request was not waiting for one",
				  id);
		return -1;
	}
	buffer_t *data = t_str_new(strlen(args[1]));
	const char *error;
	if (base64_decode(args[1], strlen(args[1]), data, &error) < 0) {
		auth_request_fail_input(req, "Invalid base64 data in continued response");
		return 0;
	}
	bool ok = auth_request_continue(req, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	i_assert(ok);
	return 0;
}

/* CANCEL id */
static int auth_client_cmd_cancel(struct auth_client_conn *client,
				  const char *const *args)
{
	unsigned int id, idx = 0;

	if (auth_client_parse_id(args[0], &id) < 0 || args[1] != NULL) {
		auth_client_error(client, "Invalid CANCEL line (expected CANCEL id)");
		return -1;
	}
	struct auth_request *req = auth_client_find_request(client, id, &idx);
	if (req != NULL) {
		array_delete(&client->requests, idx, 1);
		auth_request_unref(&req);
	}
	return 0;
}

static int auth_client_handle_line(struct auth_client_conn *client,
				   const char *const *args)
{
	const char *cmd = args[0];

	if (!client->version_received) {
		unsigned int major;
		if (strcmp(cmd, "VERSION") != 0 || args[1] == NULL ||
		    args[2] == NULL || str_to_uint(args[1], &major) < 0) {
			auth_client_error(client, "Expected VERSION first");
			return -1;
		}
		if (major != 1) {
			auth_client_error(client, "Unsupported protocol version %s (expected 1)",
					  str_sanitize(args[1], 16));
			return -1;
		}
		client->version_received = true;
		unsigned int minor;
		if (str_to_uint(args[2], &minor) == 0 && minor >= 3) {
			client->channel_binding = true;
			auth_client_send_binding_mechs(client);
		}
		return 0;
	}
	if (strcmp(cmd, "CPID") == 0) {
		if (client->cpid != 0 || args[1] == NULL || args[2] != NULL ||
		    str_to_uint(args[1], &client->cpid) < 0 ||
		    client->cpid == 0) {
			auth_client_error(client, "Invalid CPID line");
			return -1;
		}
		if (client->to_handshake != NULL)
			timeout_remove(&client->to_handshake);
		return 0;
	}
	if (client->cpid == 0) {
		auth_client_error(client, "Expected CPID before %s",
				  str_sanitize(cmd, 32));
		return -1;
	}
	if (strcmp(cmd, "AUTH") == 0)
		return auth_client_cmd_auth(client, args + 1);
	if (strcmp(cmd, "CONT") == 0)
		return auth_client_cmd_cont(client, args + 1);
	if (strcmp(cmd, "CANCEL") == 0)
		return auth_client_cmd_cancel(client, args + 1);
	auth_client_error(client, "Unknown command %s", str_sanitize(cmd, 32));
	return -1;
}

static void auth_client_input(struct conn *conn)
{
	struct auth_client_conn *client = conn_get_context(conn);
	const char *line;
	size_t len;
	int ret;

	while ((ret = conn_read_line(conn, AUTH_PROTOCOL_MAX_LINE_LENGTH,
				     &line, &len)) > 0) {
		int hret;

		T_BEGIN {
			const char *const *args = t_strsplit_tabescaped(line, len);
			if (args == NULL || args[0] == NULL || *args[0] == '\0') {
				auth_client_error(client, "Malformed line: %s",
						  str_sanitize(line, 80));
				hret = -1;
			} else {
				hret = auth_client_handle_line(client, args);
			}
		} T_END;
		if (hret < 0 || conn_is_disconnected(conn))
			return;
	}
	if (ret < 0) {
		auth_client_error(client, "Line too long (over %u bytes)",
				  AUTH_PROTOCOL_MAX_LINE_LENGTH);
	}
}

static void auth_client_disconnected(struct conn *conn, const char *reason)
{
	struct auth_client_conn *client = conn_get_context(conn);

	if (array_count(&client->requests) > 0) {
		i_info("%s: Disconnected with %u requests running: %s",
		       client->name, array_count(&client->requests), reason);
	}
	auth_client_conn_destroy(client);
}

static const struct conn_vfuncs auth_client_conn_vfuncs = {
	.input = auth_client_input,
	.disconnected = auth_client_disconnected,
};

static void auth_client_handshake_timeout(void *context)
{
	struct auth_client_conn *client = context;

	timeout_remove(&client->to_handshake);
	auth_client_error(client, "Handshake not finished in %u secs",
			  AUTH_CLIENT_HANDSHAKE_TIMEOUT_MSECS / 1000);
}

void auth_client_conn_create(struct master_service_connection *mconn)
{
	struct auth_client_conn *client = i_new(struct auth_client_conn, 1);

	client->cuid = ++auth->next_client_id;
	client->name = i_strdup(t_strdup_printf("auth-client(%u, %s)",
		client->cuid, mconn->listener->name));
	array_init(&client->requests, system_pool, 8);
	client->conn = conn_create(mconn->fd, &auth_client_conn_set,
				   &auth_client_conn_vfuncs, client);
	client->to_handshake = timeout_add(AUTH_CLIENT_HANDSHAKE_TIMEOUT_MSECS,
					   auth_client_handshake_timeout,
					   client);
	client->next = auth_client_conns;
	if (auth_client_conns != NULL)
		auth_client_conns->prev = client;
	auth_client_conns = client;
	master_service_client_connected(auth->service);
	auth_client_send_handshake(client);
}

static void auth_client_conn_destroy(struct auth_client_conn *client)
{
	struct auth_request **req;

	if (client->prev != NULL)
		client->prev->next = client->next;
	else
		auth_client_conns = client->next;
	if (client->next != NULL)
		client->next->prev = client->prev;

	array_foreach(&client->requests, req)
		auth_request_unref(req);
	array_free(&client->requests);
	if (client->to_handshake != NULL)
		timeout_remove(&client->to_handshake);
	conn_destroy(&client->conn);
	free((void *)client->name);
	free(client);
	master_service_client_disconnected(auth->service);
}

void auth_client_conns_destroy_all(void)
{
	while (auth_client_conns != NULL)
		auth_client_conn_destroy(auth_client_conns);
}
