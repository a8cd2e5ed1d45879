/* Client of the auth process's userdb socket (Dovecot's auth master
   protocol, USER part): one lazily made connection per client multiplexes
   lookups by id; every lookup ends in exactly one callback, from the
   ioloop, whatever happens to the connection or the auth process. The
   blocking variant speaks the same protocol on its own socket. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "net.h"
#include "strescape.h"
#include "auth-master-client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Dovecot's auth master client waits 30 s; a userdb behind SQL or LDAP
   may be slow, but an MTA waiting on LMTP RCPT must not wait forever. */
#define AUTH_MASTER_DEFAULT_TIMEOUT_MSECS (30 * 1000)
/* Replies carry userdb's fields; Dovecot's limit is 8 KiB per line, ours
   on the server 16 KiB. Anything longer is a broken peer. */
#define AUTH_MASTER_MAX_LINE_LENGTH (64 * 1024)
#define AUTH_MASTER_PROTOCOL_MAJOR 1

struct auth_master_lookup {
	struct auth_master_client *client;
	struct auth_master_lookup *prev, *next;
	unsigned int id;
	struct timeout *to;
	auth_master_user_callback_t *callback;
	void *context;
	/* set when the lookup failed before it could be sent: the callback
	   runs from client->to_failed */
	char *early_error;
};

struct auth_master_client {
	char *socket_path;
	unsigned int timeout_msecs;
	unsigned int next_id;
	/* references held while callbacks run, so a callback may call
	   auth_master_client_deinit() */
	int refcount;
	bool deinitialized;

	struct conn *conn;
	bool version_received;

	/* sent (or failed, waiting for to_failed), in sending order */
	struct auth_master_lookup *lookups, *lookups_tail;
	struct timeout *to_failed;
};

static const struct conn_settings auth_master_conn_set = {
	.name = "auth-master",
	.input_max_size = AUTH_MASTER_MAX_LINE_LENGTH + 2,
};


static void auth_master_append_request(string_t *line, unsigned int id,
				       const struct auth_master_user_request *req)
{
	str_printfa(line, "USER\t%u\t", id);
	str_append_tabescaped(line, req->username);
	if (req->service != NULL) {
		str_append(line, "\tservice=");
		str_append_tabescaped(line, req->service);
	}
	if (IPADDR_IS_SET(&req->local_ip)) {
		str_printfa(line, "\tlip=%s", net_ip2addr(&req->local_ip));
		if (req->local_port != 0)
			str_printfa(line, "\tlport=%u",
				    (unsigned int)req->local_port);
	}
	if (IPADDR_IS_SET(&req->remote_ip)) {
		str_printfa(line, "\trip=%s", net_ip2addr(&req->remote_ip));
		if (req->remote_port != 0)
			str_printfa(line, "\trport=%u",
				    (unsigned int)req->remote_port);
	}
	if (req->session_id != NULL) {
		str_append(line, "\tsession=");
		str_append_tabescaped(line, req->session_id);
	}
	str_append_c(line, '\n');
}

/* Interpret one reply line. Returns 1 if it answers id_wanted (or, with
   id_wanted 0, any id: *id_r says which), 0 for VERSION/SPID/other ids,
   -1 on a protocol error (*error_r). */
static int auth_master_parse_reply(const char *const *args,
				   unsigned int *id_r,
				   enum auth_master_result *result_r,
				   const char **username_r,
				   const char *const **fields_r,
				   const char **error_r)
{
	unsigned int id;

	*username_r = NULL;
	*fields_r = NULL;
	*error_r = NULL;
	if (strcmp(args[0], "USER") == 0) {
		if (args[1] == NULL || str_to_uint(args[1], &id) < 0 ||
		    args[2] == NULL || *args[2] == '\0') {
			*error_r = "Invalid USER reply";
			return -1;
		}
		*result_r = AUTH_MASTER_RESULT_OK;
		*username_r = args[2];
		*fields_r = args + 3;
	} else if (strcmp(args[0], "NOTFOUND") == 0) {
		if (args[1] == NULL || str_to_uint(args[1], &id) < 0) {
			*error_r = "Invalid NOTFOUND reply";
			return -1;
		}
		*result_r = AUTH_MASTER_RESULT_NOTFOUND;
	} else if (strcmp(args[0], "FAIL") == 0) {
		if (args[1] == NULL || str_to_uint(args[1], &id) < 0) {
			*error_r = "Invalid FAIL reply";
			return -1;
		}
		*result_r = AUTH_MASTER_RESULT_FAIL;
		*error_r = "userdb lookup failed";
		for (unsigned int i = 2; args[i] != NULL; i++) {
			if (str_begins(args[i], "reason=")) {
				*error_r = t_strdup_printf(
					"userdb lookup failed: %s",
					args[i] + 7);
			}
		}
	} else {
		/* SPID, and whatever a newer server announces */
		return 0;
	}
	*id_r = id;
	return 1;
}

/* --- asynchronous client --- */

static void auth_master_client_ref(struct auth_master_client *client)
{
	client->refcount++;
}

static void auth_master_client_free(struct auth_master_client *client)
{
	i_assert(client->lookups == NULL);
	i_assert(client->conn == NULL);
	if (client->to_failed != NULL)
		timeout_remove(&client->to_failed);
	i_free(client->socket_path);
	free(client);
}

/* Returns false if the client was freed. */
static bool auth_master_client_unref(struct auth_master_client *client)
{
	i_assert(client->refcount > 0);
	if (--client->refcount > 0)
		return true;
	auth_master_client_free(client);
	return false;
}

static void auth_master_lookup_unlink(struct auth_master_lookup *lookup)
{
	struct auth_master_client *client = lookup->client;

	if (lookup->prev != NULL)
		lookup->prev->next = lookup->next;
	else
		client->lookups = lookup->next;
	if (lookup->next != NULL)
		lookup->next->prev = lookup->prev;
	else
		client->lookups_tail = lookup->prev;
	lookup->prev = lookup->next = NULL;
}

static void auth_master_lookup_free(struct auth_master_lookup *lookup)
{
	auth_master_lookup_unlink(lookup);
	if (lookup->to != NULL)
		timeout_remove(&lookup->to);
	i_free(lookup->early_error);
	free(lookup);
}

static struct auth_master_lookup *
auth_master_lookup_find(struct auth_master_client *client, unsigned int id)
{
	for (struct auth_master_lookup *l = client->lookups; l != NULL;
	     l = l->next) {
		if (l->id == id)
			return l;
	}
	return NULL;
}

/* Unlink the lookup, call its callback, free it. The caller holds a
   client reference. */
static void auth_master_lookup_finish(struct auth_master_lookup *lookup,
				      enum auth_master_result result,
				      const char *username,
				      const char *const *fields,
				      const char *error)
{
	auth_master_user_callback_t *callback = lookup->callback;
	void *context = lookup->context;

	auth_master_lookup_free(lookup);
	T_BEGIN {
		callback(result, username, fields, error, context);
	} T_END;
}

/* Fail every lookup in flight (they cannot be answered any more). */
static void auth_master_fail_all(struct auth_master_client *client,
				 const char *error)
{
	auth_master_client_ref(client);
	while (client->lookups != NULL) {
		auth_master_lookup_finish(client->lookups,
					  AUTH_MASTER_RESULT_FAIL, NULL, NULL,
					  error);
	}
	auth_master_client_unref(client);
}

static void auth_master_conn_close(struct auth_master_client *client)
{
	if (client->conn != NULL)
		conn_destroy(&client->conn);
	client->version_received = false;
}

static void auth_master_disconnect_fail(struct auth_master_client *client,
					const char *error)
{
	auth_master_conn_close(client);
	if (client->lookups != NULL)
		auth_master_fail_all(client, error);
}

static void auth_master_protocol_error(struct auth_master_client *client,
				       const char *error)
{
	i_error("auth-master(%s): %s", client->socket_path, error);
	auth_master_disconnect_fail(client, t_strdup_printf(
		"Protocol error from auth server: %s", error));
}

static void auth_master_handle_line(struct auth_master_client *client,
				    const char *line, size_t len)
{
	const char *const *args = t_strsplit_tabescaped(line, len);
	enum auth_master_result result;
	const char *username, *const *fields, *error;
	unsigned int id;
	int ret;

	if (args == NULL || args[0] == NULL) {
		auth_master_protocol_error(client, t_strdup_printf(
			"Malformed line: %s", str_sanitize(line, 80)));
		return;
	}
	if (!client->version_received) {
		unsigned int major;
		if (strcmp(args[0], "VERSION") != 0 || args[1] == NULL ||
		    str_to_uint(args[1], &major) < 0) {
			auth_master_protocol_error(client,
				"Expected VERSION first");
			return;
		}
		if (major != AUTH_MASTER_PROTOCOL_MAJOR) {
			auth_master_protocol_error(client, t_strdup_printf(
				"Incompatible protocol version %u (we speak %u)",
				major, AUTH_MASTER_PROTOCOL_MAJOR));
			return;
		}
		client->version_received = true;
		return;
	}
	ret = auth_master_parse_reply(args, &id, &result, &username, &fields,
				      &error);
	if (ret < 0) {
		auth_master_protocol_error(client, error);
		return;
	}
	if (ret == 0)
		return;
	struct auth_master_lookup *lookup = auth_master_lookup_find(client, id);
	if (lookup == NULL || lookup->early_error != NULL) {
		/* aborted or timed out: the answer came too late */
		return;
	}
	auth_master_lookup_finish(lookup, result, username, fields, error);
}

static void auth_master_input(struct conn *conn)
{
	struct auth_master_client *client = conn_get_context(conn);
	const char *line;
	size_t len;
	int ret;

	auth_master_client_ref(client);
	while (client->conn == conn &&
	       (ret = conn_read_line(conn, AUTH_MASTER_MAX_LINE_LENGTH,
				     &line, &len)) != 0) {
		if (ret < 0) {
			auth_master_protocol_error(client, "Reply line too long");
			break;
		}
		T_BEGIN {
			auth_master_handle_line(client, line, len);
		} T_END;
		if (client->deinitialized)
			break;
	}
	auth_master_client_unref(client);
}

static void auth_master_disconnected(struct conn *conn, const char *reason)
{
	struct auth_master_client *client = conn_get_context(conn);

	if (client->lookups != NULL) {
		i_error("auth-master(%s): Disconnected with %s: %s",
			client->socket_path, "lookups in flight", reason);
	}
	auth_master_disconnect_fail(client, t_strdup_printf(
		"Disconnected from auth server: %s", reason));
}

static const struct conn_vfuncs auth_master_conn_vfuncs = {
	.input = auth_master_input,
	.disconnected = auth_master_disconnected,
};

static int auth_master_connect(struct auth_master_client *client,
			       const char **error_r)
{
	const char *error;
	int fd;

	if (client->conn != NULL)
		return 0;
	fd = net_connect_unix(client->socket_path, &error);
	if (fd < 0) {
		*error_r = t_strdup_printf("Cannot connect to auth server: %s",
					   error);
		return -1;
	}
	client->conn = conn_create(fd, &auth_master_conn_set,
				   &auth_master_conn_vfuncs, client);
	client->version_received = false;
	conn_printf(client->conn, "VERSION\t%d\t0\n",
		    AUTH_MASTER_PROTOCOL_MAJOR);
	return 0;
}

static void auth_master_failed_run(void *context)
{
	struct auth_master_client *client = context;
	struct auth_master_lookup *lookup, *next;

	timeout_remove(&client->to_failed);
	auth_master_client_ref(client);
	for (lookup = client->lookups; lookup != NULL; lookup = next) {
		next = lookup->next;
		if (lookup->early_error == NULL)
			continue;
		const char *error = t_strdup(lookup->early_error);
		auth_master_lookup_finish(lookup, AUTH_MASTER_RESULT_FAIL,
					  NULL, NULL, error);
		if (client->deinitialized)
			break;
		/* the callback may have aborted others: start over */
		next = client->lookups;
	}
	auth_master_client_unref(client);
}

/* Fail a lookup from the ioloop (never inside the call that made it). */
static void auth_master_lookup_fail_later(struct auth_master_lookup *lookup,
					 const char *error)
{
	struct auth_master_client *client = lookup->client;

	i_free(lookup->early_error);
	lookup->early_error = i_strdup(error);
	if (lookup->to != NULL)
		timeout_remove(&lookup->to);
	if (client->to_failed == NULL)
		client->to_failed = timeout_add(0, auth_master_failed_run,
						client);
}

static void auth_master_lookup_timeout(void *context)
{
	struct auth_master_lookup *lookup = context;
	struct auth_master_client *client = lookup->client;

	i_error("auth-master(%s): userdb lookup %u timed out after %u ms",
		client->socket_path, lookup->id, client->timeout_msecs);
	auth_master_client_ref(client);
	auth_master_lookup_finish(lookup, AUTH_MASTER_RESULT_FAIL, NULL, NULL,
		t_strdup_printf("userdb lookup timed out after %u ms",
				client->timeout_msecs));
	auth_master_client_unref(client);
}

struct auth_master_client *auth_master_client_init(const char *socket_path)
{
	struct auth_master_client *client = i_new(struct auth_master_client, 1);

	client->socket_path = i_strdup(socket_path);
	client->timeout_msecs = AUTH_MASTER_DEFAULT_TIMEOUT_MSECS;
	client->refcount = 1;
	return client;
}

void auth_master_client_deinit(struct auth_master_client **_client)
{
	struct auth_master_client *client = *_client;

	*_client = NULL;
	i_assert(!client->deinitialized);
	client->deinitialized = true;
	auth_master_conn_close(client);
	auth_master_fail_all(client, "deinit");
	auth_master_client_unref(client);
}

void auth_master_client_set_timeout(struct auth_master_client *client,
				    unsigned int msecs)
{
	i_assert(msecs > 0);
	client->timeout_msecs = msecs;
}

struct auth_master_lookup *
auth_master_user_lookup(struct auth_master_client *client,
			const struct auth_master_user_request *request,
			auth_master_user_callback_t *callback, void *context)
{
	struct auth_master_lookup *lookup = i_new(struct auth_master_lookup, 1);
	const char *error;

	i_assert(!client->deinitialized);
	i_assert(request->username != NULL);

	lookup->client = client;
	lookup->callback = callback;
	lookup->context = context;
	if (++client->next_id == 0)
		client->next_id = 1;
	lookup->id = client->next_id;
	lookup->prev = client->lookups_tail;
	if (client->lookups_tail != NULL)
		client->lookups_tail->next = lookup;
	else
		client->lookups = lookup;
	client->lookups_tail = lookup;

	if (*request->username == '\0') {
		auth_master_lookup_fail_later(lookup, "Empty user name");
		return lookup;
	}
	if (auth_master_connect(client, &error) < 0) {
		i_error("auth-master(%s): %s", client->socket_path, error);
		auth_master_lookup_fail_later(lookup, error);
		return lookup;
	}
	T_BEGIN {
		string_t *line = t_str_new(256);
		auth_master_append_request(line, lookup->id, request);
		conn_write(client->conn, str_c(line), str_len(line));
	} T_END;
	lookup->to = timeout_add(client->timeout_msecs,
				 auth_master_lookup_timeout, lookup);
	return lookup;
}

void auth_master_lookup_abort(struct auth_master_lookup **_lookup)
{
	struct auth_master_lookup *lookup = *_lookup;

	*_lookup = NULL;
	if (lookup != NULL)
		auth_master_lookup_free(lookup);
}

/* --- blocking variant --- */

static int auth_master_sync_connect(const char *socket_path,
				    const char **error_r)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		*error_r = t_strdup_printf("Socket path too long: %s",
					   socket_path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = t_strdup_printf("socket() failed: %s",
					   t_strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		*error_r = t_strdup_printf("connect(%s) failed: %s",
					   socket_path, t_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int auth_master_sync_write(int fd, const char *data, size_t size,
				  const char **error_r)
{
	while (size > 0) {
		ssize_t ret = send(fd, data, size, MSG_NOSIGNAL);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			*error_r = t_strdup_printf("write() failed: %s",
						   t_strerror(errno));
			return -1;
		}
		data += ret;
		size -= (size_t)ret;
	}
	return 0;
}

enum auth_master_result
auth_master_user_lookup_sync(const char *socket_path,
			     const struct auth_master_user_request *request,
			     pool_t pool, const char **username_r,
			     const char *const **fields_r,
			     const char **error_r)
{
	const unsigned int id = 1;
	uint64_t deadline = ioloop_msecs_monotonic() +
		AUTH_MASTER_DEFAULT_TIMEOUT_MSECS;
	enum auth_master_result result = AUTH_MASTER_RESULT_FAIL;
	const char *error = NULL;
	bool version_received = false, done = false;
	buffer_t *buf;
	int fd;

	*username_r = NULL;
	*fields_r = NULL;
	*error_r = NULL;
	if (request->username == NULL || *request->username == '\0') {
		*error_r = "Empty user name";
		return AUTH_MASTER_RESULT_FAIL;
	}
	fd = auth_master_sync_connect(socket_path, &error);
	if (fd < 0) {
		*error_r = p_strdup_printf(pool,
			"Cannot connect to auth server: %s", error);
		return AUTH_MASTER_RESULT_FAIL;
	}

	buf = buffer_create(system_pool, 1024);
	T_BEGIN {
		string_t *req = t_str_new(256);
		str_printfa(req, "VERSION\t%d\t0\n", AUTH_MASTER_PROTOCOL_MAJOR);
		auth_master_append_request(req, id, request);
		if (auth_master_sync_write(fd, str_c(req), str_len(req),
					   &error) < 0) {
			error = p_strdup(pool, error);
			done = true;
		}
	} T_END;

	while (!done) {
		/* handle every complete line in buf */
		const unsigned char *data = buffer_data(buf);
		const unsigned char *nl = memchr(data, '\n', buffer_used(buf));
		if (nl != NULL) {
			size_t len = (size_t)(nl - data);
			T_BEGIN {
				const char *line = t_strndup(data, len);
				size_t llen = len;
				if (llen > 0 && line[llen - 1] == '\r')
					llen--;
				line = t_strndup(line, llen);
				const char *const *args =
					t_strsplit_tabescaped(line, llen);
				const char *uname, *const *fields, *err;
				unsigned int rid;
				if (args == NULL || args[0] == NULL) {
					error = "Malformed reply line";
					done = true;
				} else if (!version_received) {
					unsigned int major;
					if (strcmp(args[0], "VERSION") != 0 ||
					    args[1] == NULL ||
					    str_to_uint(args[1], &major) < 0 ||
					    major != AUTH_MASTER_PROTOCOL_MAJOR) {
						error = "Expected VERSION 1 first";
						done = true;
					}
					version_received = true;
				} else {
					int ret = auth_master_parse_reply(
						args, &rid, &result, &uname,
						&fields, &err);
					if (ret < 0) {
						result = AUTH_MASTER_RESULT_FAIL;
						error = p_strdup(pool, err);
						done = true;
					} else if (ret > 0 && rid == id) {
						done = true;
						error = err == NULL ? NULL :
							p_strdup(pool, err);
						if (result == AUTH_MASTER_RESULT_OK) {
							unsigned int n = str_array_length(fields);
							const char **f = p_new(pool, const char *, n + 1);
							for (unsigned int i = 0; i < n; i++)
								f[i] = p_strdup(pool, fields[i]);
							*username_r = p_strdup(pool, uname);
							*fields_r = f;
						}
					}
				}
			} T_END;
			buffer_delete(buf, 0, len + 1);
			continue;
		}
		if (buffer_used(buf) > AUTH_MASTER_MAX_LINE_LENGTH) {
			error = "Reply line too long";
			break;
		}

		uint64_t now = ioloop_msecs_monotonic();
		if (now >= deadline) {
			error = "userdb lookup timed out";
			break;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pret = poll(&pfd, 1, (int)(deadline - now));
		if (pret < 0) {
			if (errno == EINTR)
				continue;
			error = p_strdup_printf(pool, "poll() failed: %s",
						t_strerror(errno));
			break;
		}
		if (pret == 0)
			continue;
		unsigned char *space = buffer_append_space(buf, 4096);
		ssize_t ret = read(fd, space, 4096);
		if (ret <= 0) {
			buffer_set_used_size(buf, buffer_used(buf) - 4096);
			if (ret < 0 && errno == EINTR)
				continue;
			error = ret == 0 ?
				"Disconnected from auth server" :
				p_strdup_printf(pool, "read() failed: %s",
						t_strerror(errno));
			break;
		}
		buffer_set_used_size(buf, buffer_used(buf) - 4096 + (size_t)ret);
	}
	buffer_free(&buf);
	close(fd);

	if (!done || (error != NULL && result != AUTH_MASTER_RESULT_OK &&
		      result != AUTH_MASTER_RESULT_NOTFOUND)) {
		*error_r = error != NULL ? error : "userdb lookup failed";
		return AUTH_MASTER_RESULT_FAIL;
	}
	return result;
}
