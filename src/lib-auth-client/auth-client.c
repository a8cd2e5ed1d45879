/* Dovecot's auth client protocol 1.2 with the 1.3 channel-binding
   extension, client side: one connection to the auth process carrying
   many SASL exchanges, the handshake that lists the mechanisms,
   reconnection after the auth process restarts, and timeouts, so that a
   login process never waits forever for an answer. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "base64.h"
#include "strfuncs.h"
#include "auth-client.h"

#include <strings.h>
#include <unistd.h>

ARRAY_DEFINE_TYPE(auth_client_mech, struct auth_client_mech);

struct auth_client_request {
	struct auth_client_request *prev, *next;
	struct auth_client *client;
	unsigned int id;
	auth_client_request_callback_t *callback;
	void *context;
	/* the AUTH line, until the handshake lets it go out; it may hold
	   an initial response with a password, so it is wiped */
	char *pending_line;
	struct timeout *to;
	/* the final result is being delivered */
	bool finished;
};

struct auth_client {
	char *socket_path;
	struct conn *conn;
	struct timeout *to_reconnect;
	/* connect failures are logged once until the next success */
	bool connect_failure_logged;
	/* the server is stopping or reloading: the auth process going away
	   is expected, not an error */
	bool stopping;

	/* handshake state of the current connection */
	bool version_received;
	/* the server speaks 1.3: after its first DONE come the -PLUS
	   mechanisms and a second DONE, and AUTH may carry cbind_ */
	bool server_binding;
	bool first_done_received;
	bool handshaked;
	ARRAY_TYPE(auth_client_mech) mechs, new_mechs;
	unsigned int server_pid;

	struct auth_client_request *requests;
	unsigned int next_id;
	unsigned int timeout_msecs;

	auth_client_connect_callback_t *connect_callback;
	void *connect_context;
};

static const struct conn_settings auth_client_conn_set = {
	.name = "auth-client",
	.input_max_size = AUTH_CLIENT_MAX_LINE_LENGTH + 2,
};

static void auth_client_connect(struct auth_client *client);
static void auth_client_disconnect(struct auth_client *client,
				   const char *reason, bool log_it);

/* --- requests --- */

static void request_unlink(struct auth_client_request *req)
{
	struct auth_client *client = req->client;

	if (req->prev != NULL)
		req->prev->next = req->next;
	else if (client->requests == req)
		client->requests = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

static void request_free(struct auth_client_request *req)
{
	if (req->to != NULL)
		timeout_remove(&req->to);
	if (req->pending_line != NULL) {
		safe_memset(req->pending_line, 0, strlen(req->pending_line));
		i_free(req->pending_line);
	}
	free(req);
}

/* Deliver a final result and free the request. */
static void request_finish(struct auth_client_request *req,
			   enum auth_client_result result,
			   const unsigned char *data, size_t data_size,
			   const char *const *fields)
{
	static const char *const no_fields[] = { NULL };

	request_unlink(req);
	req->finished = true;
	if (req->to != NULL)
		timeout_remove(&req->to);
	T_BEGIN {
		req->callback(req, result, data, data_size,
			      fields == NULL ? no_fields : fields, req->context);
	} T_END;
	request_free(req);
}

static void request_tempfail(struct auth_client_request *req,
			     const char *reason)
{
	const char *fields[] = {
		t_strdup_printf("reason=%s", reason), "temp", NULL
	};
	request_finish(req, AUTH_CLIENT_RESULT_TEMPFAIL, NULL, 0, fields);
}

static void request_timeout(void *context)
{
	struct auth_client_request *req = context;
	struct auth_client *client = req->client;

	i_error("auth-client: request %u timed out after %u ms waiting for "
		"the auth process (%s)", req->id, client->timeout_msecs,
		client->handshaked ? "no answer" : "not connected");
	if (req->pending_line == NULL && client->conn != NULL) {
		/* the server may still answer: make it forget the request
		   so that the id can be reused safely */
		conn_printf(client->conn, "CANCEL\t%u\n", req->id);
	}
	request_tempfail(req, "Timed out waiting for the auth process");
}

static void request_unreachable(void *context)
{
	struct auth_client_request *req = context;
	request_tempfail(req, "The auth process is not reachable");
}

static void request_reset_timeout(struct auth_client_request *req)
{
	if (req->to != NULL)
		timeout_remove(&req->to);
	req->to = timeout_add(req->client->timeout_msecs, request_timeout, req);
}

static void request_send_pending(struct auth_client_request *req)
{
	struct auth_client *client = req->client;
	size_t len = strlen(req->pending_line);

	conn_write(client->conn, req->pending_line, len);
	safe_memset(req->pending_line, 0, len);
	i_free(req->pending_line);
}

static bool auth_client_id_in_use(const struct auth_client *client,
				  unsigned int id)
{
	for (const struct auth_client_request *req = client->requests;
	     req != NULL; req = req->next) {
		if (req->id == id)
			return true;
	}
	return false;
}

struct auth_client_request *
auth_client_request_new(struct auth_client *client,
			const struct auth_client_request_info *info,
			auth_client_request_callback_t *callback,
			void *context)
{
	struct auth_client_request *req = i_new(struct auth_client_request, 1);

	req->client = client;
	req->callback = callback;
	req->context = context;
	do {
		if (++client->next_id == 0)
			client->next_id = 1;
	} while (auth_client_id_in_use(client, client->next_id));
	req->id = client->next_id;

	string_t *line = t_str_new(256);
	str_printfa(line, "AUTH\t%u\t", req->id);
	str_append_tabescaped(line, info->mech);
	str_append(line, "\tservice=");
	str_append_tabescaped(line, info->service);
	if (info->session_id != NULL) {
		str_append(line, "\tsession=");
		str_append_tabescaped(line, info->session_id);
	}
	if (info->local_ip.family != 0) {
		str_printfa(line, "\tlip=%s", net_ip2addr(&info->local_ip));
		if (info->local_port != 0)
			str_printfa(line, "\tlport=%u", info->local_port);
	}
	if (info->remote_ip.family != 0) {
		str_printfa(line, "\trip=%s", net_ip2addr(&info->remote_ip));
		if (info->remote_port != 0)
			str_printfa(line, "\trport=%u", info->remote_port);
	}
	if (info->secured)
		str_append(line, "\tsecured");
	if (info->valid_client_cert)
		str_append(line, "\tvalid-client-cert");
	if (info->cert_username != NULL) {
		str_append(line, "\tcert_username=");
		str_append_tabescaped(line, info->cert_username);
	}
	/* a 1.2 server has offered no -PLUS mechanism and would not know
	   what to do with these */
	for (unsigned int i = 0; client->server_binding &&
	     i < info->channel_bindings_count; i++) {
		const struct auth_client_channel_binding *cb =
			&info->channel_bindings[i];
		str_append(line, "\tcbind_");
		str_append_tabescaped(line, cb->type);
		str_append_c(line, '=');
		base64_encode(cb->data, cb->size, line);
	}
	if (info->has_initial_response) {
		str_append(line, "\tresp=");
		base64_encode(info->initial_response,
			      info->initial_response_size, line);
	}
	str_append_c(line, '\n');
	req->pending_line = i_strdup(str_c(line));
	safe_memset(str_c_modifiable(line), 0, str_len(line));

	req->next = client->requests;
	if (client->requests != NULL)
		client->requests->prev = req;
	client->requests = req;

	if (client->handshaked) {
		request_send_pending(req);
		request_reset_timeout(req);
	} else if (client->conn == NULL && client->to_reconnect != NULL &&
		   client->connect_failure_logged) {
		/* the auth process is known to be unreachable: say so now
		   rather than after the timeout */
		req->to = timeout_add(0, request_unreachable, req);
	} else {
		request_reset_timeout(req);
	}
	return req;
}

void auth_client_request_continue(struct auth_client_request *req,
				  const void *data, size_t size)
{
	struct auth_client *client = req->client;

	i_assert(!req->finished);
	if (client->conn == NULL || !client->handshaked ||
	    req->pending_line != NULL)
		return; /* failed from the ioloop soon */
	string_t *line = t_str_new(size * 4 / 3 + 32);
	str_printfa(line, "CONT\t%u\t", req->id);
	base64_encode(data, size, line);
	str_append_c(line, '\n');
	conn_write(client->conn, buffer_data(line), str_len(line));
	safe_memset(str_c_modifiable(line), 0, str_len(line));
	request_reset_timeout(req);
}

void auth_client_request_abort(struct auth_client_request **_req)
{
	struct auth_client_request *req = *_req;
	struct auth_client *client = req->client;

	*_req = NULL;
	i_assert(!req->finished);
	if (req->pending_line == NULL && client->conn != NULL &&
	    client->handshaked)
		conn_printf(client->conn, "CANCEL\t%u\n", req->id);
	request_unlink(req);
	request_free(req);
}

unsigned int auth_client_request_get_id(const struct auth_client_request *req)
{
	return req->id;
}

static struct auth_client_request *
auth_client_find_request(struct auth_client *client, unsigned int id)
{
	for (struct auth_client_request *req = client->requests; req != NULL;
	     req = req->next) {
		if (req->id == id && req->pending_line == NULL)
			return req;
	}
	return NULL;
}

static void auth_client_fail_all(struct auth_client *client,
				 const char *reason)
{
	while (client->requests != NULL)
		request_tempfail(client->requests, reason);
}

/* --- the connection --- */

static enum auth_client_mech_flags mech_flag(const char *name)
{
	if (strcmp(name, "plaintext") == 0)
		return AUTH_CLIENT_MECH_PLAINTEXT;
	if (strcmp(name, "dictionary") == 0)
		return AUTH_CLIENT_MECH_DICTIONARY;
	if (strcmp(name, "active") == 0)
		return AUTH_CLIENT_MECH_ACTIVE;
	if (strcmp(name, "forward-secrecy") == 0)
		return AUTH_CLIENT_MECH_FORWARD_SECRECY;
	if (strcmp(name, "mutual-auth") == 0)
		return AUTH_CLIENT_MECH_MUTUAL_AUTH;
	if (strcmp(name, "anonymous") == 0)
		return AUTH_CLIENT_MECH_ANONYMOUS;
	if (strcmp(name, "private") == 0)
		return AUTH_CLIENT_MECH_PRIVATE;
	if (strcmp(name, "channel-binding") == 0)
		return AUTH_CLIENT_MECH_CHANNEL_BINDING;
	return 0; /* unknown flags are ignored, as Dovecot does */
}

static void mechs_clear(ARRAY_TYPE(auth_client_mech) *mechs)
{
	struct auth_client_mech *mech;

	array_foreach(mechs, mech)
		free((char *)mech->name);
	array_clear(mechs);
}

static void auth_client_protocol_error(struct auth_client *client,
				       const char *fmt, ...) ATTR_FORMAT(2, 3);
static void auth_client_protocol_error(struct auth_client *client,
				       const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	const char *msg = p_strdup_vprintf(pool_datastack, fmt, args);
	va_end(args);
	i_error("auth-client: %s: protocol error: %s", client->socket_path, msg);
	auth_client_disconnect(client, t_strdup_printf("Protocol error: %s",
						       msg), false);
}

static int auth_client_handshake_line(struct auth_client *client,
				      const char *const *args)
{
	const char *cmd = args[0];

	if (!client->version_received) {
		unsigned int major;
		if (strcmp(cmd, "VERSION") != 0 || args[1] == NULL ||
		    str_to_uint(args[1], &major) < 0) {
			auth_client_protocol_error(client, "expected VERSION first");
			return -1;
		}
		if (major != 1) {
			auth_client_protocol_error(client,
				"unsupported protocol version %s (expected 1)",
				str_sanitize(args[1], 16));
			return -1;
		}
		unsigned int minor;
		client->server_binding = args[2] != NULL &&
			str_to_uint(args[2], &minor) == 0 && minor >= 3;
		client->version_received = true;
		return 0;
	}
	if (strcmp(cmd, "MECH") == 0) {
		if (args[1] == NULL || args[1][0] == '\0') {
			auth_client_protocol_error(client, "MECH without a name");
			return -1;
		}
		struct auth_client_mech *mech =
			array_append_space(&client->new_mechs);
		mech->name = i_strdup(t_str_ucase(args[1]));
		for (unsigned int i = 2; args[i] != NULL; i++)
			mech->flags |= mech_flag(args[i]);
	} else if (strcmp(cmd, "SPID") == 0) {
		if (args[1] == NULL ||
		    str_to_uint(args[1], &client->server_pid) < 0) {
			auth_client_protocol_error(client, "invalid SPID");
			return -1;
		}
	} else if (strcmp(cmd, "DONE") == 0) {
		if (client->server_binding && !client->first_done_received) {
			/* the -PLUS part follows, answering our VERSION */
			client->first_done_received = true;
			return 0;
		}
		mechs_clear(&client->mechs);
		ARRAY_TYPE(auth_client_mech) tmp = client->mechs;
		client->mechs = client->new_mechs;
		client->new_mechs = tmp;
		client->handshaked = true;
		client->connect_failure_logged = false;
		i_debug("auth-client: connected to auth process %u with %u "
			"mechanisms", client->server_pid,
			array_count(&client->mechs));
		/* newest first in the list: send the oldest first */
		struct auth_client_request *req = client->requests;
		while (req != NULL && req->next != NULL)
			req = req->next;
		for (; req != NULL; req = req->prev) {
			if (req->pending_line != NULL) {
				request_send_pending(req);
				request_reset_timeout(req);
			}
		}
		if (client->connect_callback != NULL)
			client->connect_callback(client, true,
						 client->connect_context);
	}
	/* CUID, COOKIE and lines of later versions: not needed here */
	return 0;
}

static int auth_client_parse_id(struct auth_client *client,
				const char *const *args,
				struct auth_client_request **req_r)
{
	unsigned int id;

	if (args[1] == NULL || str_to_uint(args[1], &id) < 0) {
		auth_client_protocol_error(client, "%s without a valid id",
					   args[0]);
		return -1;
	}
	/* NULL: cancelled or timed out while the answer was on its way */
	*req_r = auth_client_find_request(client, id);
	return 0;
}

static int auth_client_reply_line(struct auth_client *client,
				  const char *const *args)
{
	const char *cmd = args[0];
	struct auth_client_request *req;
	buffer_t *data = t_str_new(256);
	const char *error;

	if (strcmp(cmd, "CONT") == 0) {
		if (auth_client_parse_id(client, args, &req) < 0)
			return -1;
		if (args[2] == NULL ||
		    base64_decode(args[2], strlen(args[2]), data, &error) < 0) {
			auth_client_protocol_error(client,
				"CONT with invalid base64 data");
			return -1;
		}
		if (req == NULL)
			return 0;
		request_reset_timeout(req);
		T_BEGIN {
			static const char *const no_fields[] = { NULL };
			req->callback(req, AUTH_CLIENT_RESULT_CONTINUE,
				      data->data, data->used, no_fields,
				      req->context);
		} T_END;
		return 0;
	}
	bool ok = strcmp(cmd, "OK") == 0;
	if (!ok && strcmp(cmd, "FAIL") != 0) {
		/* Dovecot's clients ignore what they do not know */
		i_debug("auth-client: ignoring unknown reply %s",
			str_sanitize(cmd, 32));
		return 0;
	}
	if (auth_client_parse_id(client, args, &req) < 0)
		return -1;
	const char *const *fields = args + 2;
	bool temp = false, have_resp = false;
	for (unsigned int i = 0; fields[i] != NULL; i++) {
		if (strcmp(fields[i], "temp") == 0)
			temp = true;
		else if (ok && str_begins(fields[i], "resp=")) {
			const char *b64 = fields[i] + 5;
			if (base64_decode(b64, strlen(b64), data, &error) < 0) {
				auth_client_protocol_error(client,
					"OK with invalid base64 resp");
				return -1;
			}
			have_resp = true;
		}
	}
	if (req == NULL)
		return 0;
	enum auth_client_result result = ok ? AUTH_CLIENT_RESULT_OK :
		(temp ? AUTH_CLIENT_RESULT_TEMPFAIL : AUTH_CLIENT_RESULT_FAIL);
	request_finish(req, result, have_resp ? data->data : NULL,
		       data->used, fields);
	safe_memset(data->data, 0, data->used);
	return 0;
}

static void auth_client_input(struct conn *conn)
{
	struct auth_client *client = conn_get_context(conn);
	const char *line;
	size_t len;
	int ret;

	while (client->conn == conn &&
	       (ret = conn_read_line(conn, AUTH_CLIENT_MAX_LINE_LENGTH,
				     &line, &len)) != 0) {
		if (ret < 0) {
			auth_client_protocol_error(client, "line too long");
			return;
		}
		int hret;
		T_BEGIN {
			const char *const *args =
				t_strsplit_tabescaped(line, len);
			if (args == NULL || args[0][0] == '\0') {
				auth_client_protocol_error(client,
					"malformed line: %s",
					str_sanitize(line, 80));
				hret = -1;
			} else if (!client->handshaked) {
				hret = auth_client_handshake_line(client, args);
			} else {
				hret = auth_client_reply_line(client, args);
			}
		} T_END;
		if (hret < 0)
			return;
	}
}

static void auth_client_conn_disconnected(struct conn *conn,
					  const char *reason)
{
	struct auth_client *client = conn_get_context(conn);
	auth_client_disconnect(client, reason, true);
}

static const struct conn_vfuncs auth_client_conn_vfuncs = {
	.input = auth_client_input,
	.disconnected = auth_client_conn_disconnected,
};

static void auth_client_reconnect_timeout(void *context)
{
	struct auth_client *client = context;

	timeout_remove(&client->to_reconnect);
	auth_client_connect(client);
}

static void auth_client_schedule_reconnect(struct auth_client *client)
{
	if (client->to_reconnect == NULL) {
		client->to_reconnect = timeout_add(AUTH_CLIENT_RECONNECT_MSECS,
						   auth_client_reconnect_timeout,
						   client);
	}
}

/* Drop the connection (if any), fail what was in flight, retry later. */
static void auth_client_disconnect(struct auth_client *client,
				   const char *reason, bool log_it)
{
	bool was_handshaked = client->handshaked;

	if (client->conn != NULL) {
		if (was_handshaked && log_it && client->stopping) {
			i_info("auth-client: auth process %u went away "
			       "(server stopping or reloading): %s",
			       client->server_pid, reason);
		} else if (was_handshaked && log_it) {
			i_error("auth-client: connection to auth process %u "
				"lost: %s", client->server_pid, reason);
		}
		conn_destroy(&client->conn);
	}
	client->handshaked = false;
	client->version_received = false;
	client->server_binding = false;
	client->first_done_received = false;
	mechs_clear(&client->new_mechs);
	auth_client_schedule_reconnect(client);
	auth_client_fail_all(client, t_strdup_printf(
		"Connection to the auth process lost: %s", reason));
	if (was_handshaked && client->connect_callback != NULL)
		client->connect_callback(client, false, client->connect_context);
}

static void auth_client_connect(struct auth_client *client)
{
	const char *error;

	i_assert(client->conn == NULL);
	int fd = net_connect_unix(client->socket_path, &error);
	if (fd < 0) {
		if (!client->connect_failure_logged) {
			i_error("auth-client: %s (retrying every %u ms)", error,
				AUTH_CLIENT_RECONNECT_MSECS);
			client->connect_failure_logged = true;
		}
		auth_client_schedule_reconnect(client);
		auth_client_fail_all(client, "The auth process is not reachable");
		return;
	}
	client->conn = conn_create(fd, &auth_client_conn_set,
				   &auth_client_conn_vfuncs, client);
	conn_set_name(client->conn, t_strdup_printf("auth-client %s",
						    client->socket_path));
	conn_printf(client->conn, "VERSION\t1\t3\nCPID\t%ld\n",
		    (long)getpid());
}

struct auth_client *auth_client_init(const char *socket_path)
{
	struct auth_client *client = i_new(struct auth_client, 1);

	client->socket_path = i_strdup(socket_path);
	client->timeout_msecs = AUTH_CLIENT_DEFAULT_TIMEOUT_MSECS;
	array_init(&client->mechs, system_pool, 8);
	array_init(&client->new_mechs, system_pool, 8);
	auth_client_connect(client);
	return client;
}

void auth_client_deinit(struct auth_client **_client)
{
	struct auth_client *client = *_client;

	*_client = NULL;
	while (client->requests != NULL) {
		struct auth_client_request *req = client->requests;
		request_unlink(req);
		request_free(req);
	}
	if (client->conn != NULL)
		conn_destroy(&client->conn);
	if (client->to_reconnect != NULL)
		timeout_remove(&client->to_reconnect);
	mechs_clear(&client->mechs);
	mechs_clear(&client->new_mechs);
	array_free(&client->mechs);
	array_free(&client->new_mechs);
	free(client->socket_path);
	free(client);
}

void auth_client_set_connect_callback(struct auth_client *client,
				      auth_client_connect_callback_t *callback,
				      void *context)
{
	client->connect_callback = callback;
	client->connect_context = context;
}

void auth_client_set_timeout(struct auth_client *client, unsigned int msecs)
{
	client->timeout_msecs = msecs;
}

void auth_client_set_stopping(struct auth_client *client)
{
	client->stopping = true;
}

bool auth_client_is_connected(const struct auth_client *client)
{
	return client->handshaked;
}

const struct auth_client_mech *
auth_client_get_mechs(const struct auth_client *client, unsigned int *count_r)
{
	*count_r = array_count(&client->mechs);
	return client->mechs.v;
}

const struct auth_client_mech *
auth_client_find_mech(const struct auth_client *client, const char *name)
{
	const struct auth_client_mech *mech;

	array_foreach(&client->mechs, mech) {
		if (strcasecmp(mech->name, name) == 0)
			return mech;
	}
	return NULL;
}
