/* Client side of Dovecot's auth client protocol, version 1.2, as the auth
   process serves it (src/auth/auth-client-conn.c): what a login process
   uses to run SASL exchanges for its clients. The client says VERSION 1 3:
   a 1.3 server then lists the channel-binding (-PLUS) mechanisms after its
   first DONE, ends with a second DONE, and takes the connection's channel
   bindings as cbind_<type>= in AUTH (auth_client_request_info).

   One struct auth_client is one connection to the auth socket, carrying
   any number of requests at once (each with its own id). The server
   speaks first (VERSION, MECH..., SPID, CUID, COOKIE, DONE); until DONE
   the mechanism list is unknown and new requests wait. The client
   connects at init and again after the connection drops (an auth
   restart), retrying every AUTH_CLIENT_RECONNECT_MSECS. Requests that
   are in flight when the connection drops fail with
   AUTH_CLIENT_RESULT_TEMPFAIL (they cannot survive: the server forgot
   them), as do requests that wait longer than the timeout for an answer.

   Everything runs on the current ioloop and never blocks. Callbacks are
   never called from inside an auth_client_*() call: always from the
   ioloop. */
#ifndef COLUMBA_AUTH_CLIENT_H
#define COLUMBA_AUTH_CLIENT_H

#include "net.h"

struct auth_client;
struct auth_client_request;

/* Seconds between reconnection attempts while the auth process is gone. */
#define AUTH_CLIENT_RECONNECT_MSECS 1000
/* Default time a request may wait for the server's next answer (the
   server's own auth_failure_delay and password hashing are inside it). */
#define AUTH_CLIENT_DEFAULT_TIMEOUT_MSECS (60 * 1000)
/* Longest line either side sends (the server's limit). */
#define AUTH_CLIENT_MAX_LINE_LENGTH 16384

/* Dovecot's MECH flags. */
enum auth_client_mech_flags {
	AUTH_CLIENT_MECH_PLAINTEXT = 0x01,
	AUTH_CLIENT_MECH_DICTIONARY = 0x02,
	AUTH_CLIENT_MECH_ACTIVE = 0x04,
	AUTH_CLIENT_MECH_FORWARD_SECRECY = 0x08,
	AUTH_CLIENT_MECH_MUTUAL_AUTH = 0x10,
	AUTH_CLIENT_MECH_ANONYMOUS = 0x20,
	AUTH_CLIENT_MECH_PRIVATE = 0x40,
	/* a -PLUS mechanism: needs the channel bindings in the request */
	AUTH_CLIENT_MECH_CHANNEL_BINDING = 0x80,
};

/* One TLS channel binding of the client's connection (RFC 5056 name:
   "tls-unique", "tls-exporter"). */
struct auth_client_channel_binding {
	const char *type;
	const void *data;
	size_t size;
};

struct auth_client_mech {
	/* upper case, as the server sent it ("PLAIN", "SCRAM-SHA-256") */
	const char *name;
	enum auth_client_mech_flags flags;
};

enum auth_client_result {
	/* CONT: data is the decoded challenge; the owner answers with
	   auth_client_request_continue() or gives up with _abort(). */
	AUTH_CLIENT_RESULT_CONTINUE,
	/* OK: fields hold user=... and the rest; data is the decoded resp=
	   (SCRAM's server-final message), or NULL if there was none. */
	AUTH_CLIENT_RESULT_OK,
	/* FAIL without temp: wrong credentials, policy. fields may hold
	   reason=, user=, code=, authz... */
	AUTH_CLIENT_RESULT_FAIL,
	/* FAIL with temp, or the connection dropped, or the timeout
	   passed, or the auth process is not reachable: try later.
	   fields may hold reason= (for the log, not the client). */
	AUTH_CLIENT_RESULT_TEMPFAIL,
};

/* What the AUTH line says about the connection being authenticated. */
struct auth_client_request_info {
	const char *mech;
	/* "imap", "pop3", "smtp"... (service=) */
	const char *service;
	/* optional (NULL = not sent): session= */
	const char *session_id;
	/* optional (unset family = not sent): lip= rip=, lport= rport= */
	struct ip_addr local_ip, remote_ip;
	in_port_t local_port, remote_port;
	/* the connection is TLS or otherwise trusted */
	bool secured;
	/* a TLS client certificate was presented and verified */
	bool valid_client_cert;
	/* optional: the certificate's user name (for EXTERNAL) */
	const char *cert_username;
	/* The connection's channel bindings. Give them exactly when the
	   -PLUS mechanisms are offered on the connection (the server reads
	   their presence as "this connection could bind"); sent only to a
	   1.3 server. */
	const struct auth_client_channel_binding *channel_bindings;
	unsigned int channel_bindings_count;
	/* the initial response (SASL-IR); when has_initial_response is set
	   it is sent as resp=, an empty one included */
	bool has_initial_response;
	const void *initial_response;
	size_t initial_response_size;
};

/* One answer from the server. fields: NULL-terminated "key=value" (or
   bare flag) list, never NULL. data/data_size: see enum above. Everything
   is valid during the callback only. On any result but CONTINUE the
   request is finished and freed after the callback returns. */
typedef void auth_client_request_callback_t(struct auth_client_request *request,
					    enum auth_client_result result,
					    const unsigned char *data,
					    size_t data_size,
					    const char *const *fields,
					    void *context);
/* The connection's state changed: connected = the handshake completed
   (the mechanism list is new), or false = it dropped. Optional. */
typedef void auth_client_connect_callback_t(struct auth_client *client,
					    bool connected, void *context);

/* socket_path: the auth client socket (inside the login chroot:
   "/auth"). Starts connecting at once. Needs the current ioloop. */
struct auth_client *auth_client_init(const char *socket_path);
/* Requests in flight are forgotten without callbacks (their owners are
   expected to be gone). */
void auth_client_deinit(struct auth_client **client);
void auth_client_set_connect_callback(struct auth_client *client,
				      auth_client_connect_callback_t *callback,
				      void *context);
/* Per request: the longest wait for the server's next answer. */
void auth_client_set_timeout(struct auth_client *client, unsigned int msecs);

/* The server is stopping or reloading: losing the auth process is
   expected from now on and logged as information, not as an error
   (requests in flight still fail, reconnects still happen). */
void auth_client_set_stopping(struct auth_client *client);
/* True once the handshake completed on the current connection. */
bool auth_client_is_connected(const struct auth_client *client);
/* The mechanisms of the last completed handshake (count 0 before). */
const struct auth_client_mech *
auth_client_get_mechs(const struct auth_client *client, unsigned int *count_r);
/* Case-insensitive; NULL if the server does not offer it. */
const struct auth_client_mech *
auth_client_find_mech(const struct auth_client *client, const char *name);

/* Start an exchange. If the handshake has not completed yet the request
   waits for it (up to the timeout). The callback is called at least once,
   from the ioloop. info's strings are copied. */
struct auth_client_request *
auth_client_request_new(struct auth_client *client,
			const struct auth_client_request_info *info,
			auth_client_request_callback_t *callback,
			void *context);
/* The answer to a CONTINUE (may be empty). */
void auth_client_request_continue(struct auth_client_request *request,
				  const void *data, size_t size);
/* Give up: CANCEL goes to the server, no callback follows. Sets
   *request to NULL. Must not be called from the callback of a final
   result (the request is already finished). */
void auth_client_request_abort(struct auth_client_request **request);
/* The server's id for the request (for logs). */
unsigned int auth_client_request_get_id(const struct auth_client_request *request);
/* The escaping: str_append_tabescaped(), t_strsplit_tabescaped() in
   src/lib/strescape.h. */
#include "strescape.h"

#endif
