/* The protocol-independent part of a login process: accepting clients from
   the master's listeners, TLS (implicit and STARTTLS, SNI), timeouts,
   limits, shutdown, and the disconnect log line. A protocol (IMAP today;
   POP3, ManageSieve, Submission later) fills a struct login_protocol and
   calls login_main(). */
#ifndef COLUMBA_LOGIN_COMMON_H
#define COLUMBA_LOGIN_COMMON_H

#include "net.h"
#include <time.h>

struct conn;
struct event;
struct auth_client;
struct auth_client_request;
struct login_handoff_send;
struct handoff_mailconn;
struct login_relay;
struct ipc;
struct ipc_msg;
struct login_ip_limit;
struct tls_context;
struct master_service;
struct master_service_listener;
struct columba_settings;

/* A pre-login client that says nothing for this long is disconnected. */
#define LOGIN_CLIENT_IDLE_TIMEOUT_MSECS (3 * 60 * 1000)
/* Clients that send this many invalid commands are disconnected. */
#define LOGIN_CLIENT_MAX_BAD_COMMANDS 10

struct login_client {
	struct login_client *prev, *next;
	struct conn *conn;
	struct event *event;
	const struct login_protocol *protocol;
	const struct master_service_listener *listener;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
	time_t created;

	unsigned int bad_counter;
	/* "session=<...>" in log lines on both sides of the hand-off */
	char session_id[24];

	/* authentication (login-auth.c) */
	struct auth_client_request *auth_request;
	/* the mechanism of the exchange running or last run */
	char *auth_mech;
	/* the user name the auth process last named (for the log) */
	char *auth_user;
	/* the login command's tag, sent with the hand-off */
	char *auth_tag;
	unsigned int auth_attempts, auth_failures;
	time_t auth_started;
	/* the hand-off to the mail process in flight (login-handoff-send.c) */
	struct login_handoff_send *handoff;
	/* the relay once a TLS client was handed off (login-relay.c) */
	struct login_relay *relay;

	/* TLS is active (implicit, or STARTTLS done) */
	bool tls:1;
	/* connected to an implicit-TLS listener */
	bool implicit_tls:1;
	/* in login_trusted_networks */
	bool trusted:1;
	/* TLS, trusted, or the client is this host (remote IP = local IP):
	   plaintext authentication is allowed */
	bool secured:1;
	/* SASL done, waiting for the client to acknowledge the server's
	   final data (SCRAM's v=) before the hand-off */
	bool auth_final_pending:1;
	/* the auth process said OK */
	bool authenticated:1;
	/* counted for login_max_connections_per_ip (login-ip-limit.h) */
	bool ip_counted:1;
	/* accepted before the auth process's handshake: the greeting (and
	   its capabilities, which list the mechanisms) waits for it */
	bool greeting_pending:1;
	bool destroyed:1;
	/* protocol state lives after the common part */
};

/* Why an authentication did not lead to a session. */
enum login_auth_failure {
	/* wrong credentials, unknown user, policy of the auth process
	   (text: the reason it gave, or NULL for the generic one) */
	LOGIN_AUTH_FAILURE_FAILED,
	/* the auth process is down, timed out or failed temporarily, or
	   the mail process could not take the session */
	LOGIN_AUTH_FAILURE_TEMP,
	/* the mail process refused: too many connections */
	LOGIN_AUTH_FAILURE_LIMIT,
	/* the mechanism is not offered (text: NULL) */
	LOGIN_AUTH_FAILURE_UNSUPPORTED,
	/* plaintext authentication is not allowed on this connection */
	LOGIN_AUTH_FAILURE_PRIVACY,
	/* the client sent invalid SASL data (invalid base64) */
	LOGIN_AUTH_FAILURE_BAD_DATA,
};

struct login_protocol {
	/* "imap": log prefix, event category */
	const char *name;
	/* Size of the protocol's client struct, which starts with a
	   struct login_client. */
	size_t client_size;
	/* Longest command line accepted. */
	size_t max_line_length;
	/* The client was accepted: send the greeting. */
	void (*client_created)(struct login_client *client);
	/* Input is available: read lines with conn_read_line(). */
	void (*client_input)(struct login_client *client);
	/* Say goodbye in the protocol's words (e.g. "* BYE <reason>"),
	   before the connection closes for the given reason. May be NULL. */
	void (*client_bye)(struct login_client *client, const char *reason);
	/* Free the protocol's own state. May be NULL. */
	void (*client_destroy)(struct login_client *client);

	/* The SASL exchange needs the client's next response: send the
	   challenge (IMAP: "+ base64"). */
	void (*auth_challenge)(struct login_client *client,
			       const unsigned char *data, size_t size);
	/* The login did not happen: answer the login command (IMAP:
	   "tag NO [AUTHENTICATIONFAILED] ..."). text may be NULL for the
	   protocol's standard wording. Input resumes after this. */
	void (*auth_failed)(struct login_client *client,
			    enum login_auth_failure failure, const char *text);
	/* Name of the service for the auth process and the mail process
	   ("imap"). */
	const char *service;
	/* A mail process handed the client back (IMAP UNAUTHENTICATE): it
	   is in the not-authenticated state again; answer the command
	   tagged tag (IMAP: "tag OK ..."). NULL: the protocol has no
	   hand-back, and one is refused. */
	void (*client_unauthenticated)(struct login_client *client,
				       const char *tag);
};

struct login_globals {
	struct master_service *service;
	const struct columba_settings *set;
	/* NULL when ssl = no */
	struct tls_context *tls_ctx;
	unsigned int client_count;
	/* open connections per remote IP */
	struct login_ip_limit *ip_limit;
	/* the connection to the auth process */
	struct auth_client *auth_client;
	/* the mail process's hand-off socket, as seen from inside the
	   chroot */
	const char *mail_socket_path;
};
extern struct login_globals login_globals;

/* Run a login process for protocol; returns the process exit code. */
int login_main(const struct login_protocol *protocol);

/* Upgrade to TLS after the protocol sent its "go ahead" reply. Returns 0,
   or -1 after logging (the caller replies with an error). */
int login_client_starttls(struct login_client *client);
/* Whether STARTTLS can be offered on this connection. */
bool login_client_can_starttls(const struct login_client *client);
/* Count a bad command; after LOGIN_CLIENT_MAX_BAD_COMMANDS the client is
   sent away. Returns true if the client was disconnected. */
bool login_client_bad_command(struct login_client *client);
/* --- authentication (login-auth.c) --- */

/* Whether plaintext mechanisms (and IMAP LOGIN) may be used here:
   secured, or neither disable_plaintext_auth nor ssl = required. */
bool login_client_plaintext_allowed(const struct login_client *client);
/* Whether the mechanism (named as the auth process offers it) may be
   advertised and used on this connection: it is offered, it is not a
   channel-binding (-PLUS) mechanism, and the plaintext policy allows it.
   EXTERNAL needs a verified client certificate. */
bool login_client_mech_usable(const struct login_client *client,
			      const char *mech);
/* Begin an exchange for the login command tagged tag (may be ""). The
   outcome comes through the protocol's auth_challenge()/auth_failed(),
   or the session is handed off (the mail process sends the final OK).
   Input is paused while the auth process works. */
void login_auth_start(struct login_client *client, const char *tag,
		      const char *mech, bool has_initial_response,
		      const void *initial_response, size_t size);
/* The client's answer to a challenge (already base64-decoded). */
void login_auth_continue(struct login_client *client, const void *data,
			 size_t size);
/* The client gave up ("*"): the exchange is dropped, no callback. */
void login_auth_abort(struct login_client *client);
bool login_auth_in_progress(const struct login_client *client);
/* Connect to the auth process (after the chroot). */
void login_auth_init(const char *socket_path);
void login_auth_deinit(void);
/* The client is going away: drop its request. */
void login_auth_client_destroy(struct login_client *client);

/* --- the hand-off (login-handoff-send.c) and relay (login-relay.c) --- */

/* Hand the authenticated client to a mail process. On success the
   client is gone (fd passed) or relayed; on failure the protocol's
   auth_failed() answers and input resumes. fields: the auth process's
   OK fields. */
void login_handoff_send_start(struct login_client *client,
			      const char *const *fields);
void login_handoff_send_abort(struct login_client *client);
/* Close the idle connections to the mail service (process exit). */
void login_handoff_deinit(void);
/* Start relaying plaintext between the TLS client and fd (one end of a
   socketpair given to the mail process). mc: the hand-off connection the
   session went over, pinned for the relay (its way back); the relay
   unpins it when it ends. */
void login_relay_start(struct login_client *client, int fd,
		       struct handoff_mailconn *mc);
/* HANDBACK_BEGIN or HANDBACK arrived on mc (login-handoff-send.c). */
void login_relay_handback_msg(struct handoff_mailconn *mc,
			      struct ipc_msg *msg);
/* A relay is done with mc. */
void login_handoff_conn_unpin(struct handoff_mailconn *mc);
struct ipc *login_handoff_conn_ipc(struct handoff_mailconn *mc);

/* --- the hand-back of plaintext clients (login-handback.c) --- */

/* Whether a connection on this listener is a mail process's hand-back. */
bool login_handback_is_listener(const char *listener_name);
/* Take a hand-back connection (owns fd from now on). */
void login_handback_accept(int fd);
void login_handback_deinit(void);
/* A client handed back in fd mode: a new pre-login client on fd, with
   hb's addresses and input, answered with the protocol's
   client_unauthenticated(). Returns false if it was refused (the client
   was told why and closed). */
struct login_handback;
bool login_client_create_handback(int fd, const struct login_handback *hb);
/* conn callbacks of a relayed client, called by login-main.c */
void login_relay_client_input(struct login_client *client);
void login_relay_client_output_drained(struct login_client *client);
void login_relay_destroy(struct login_client *client);

/* The hand-off gave the socket to a mail process: forget the client
   without a disconnect line (the Login: line was logged). */
void login_client_handed_off(struct login_client *client);
/* The client whose session id is session_id, or NULL. */
struct login_client *login_client_find_session(const char *session_id);
/* A relayed client came back (UNAUTHENTICATE): it is a pre-login client
   again, with a new session id, its TLS session and the input the mail
   process had not processed in front of what we hold. */
void login_client_unauthenticated(struct login_client *client,
				  const char *tag, const void *input,
				  size_t size);
/* A hand-off was refused after the conn was detached: rebuild it from fd
   and put the pre-read input back. */
void login_client_reattach(struct login_client *client, int fd,
			   const void *input, size_t size);

/* End the session: the protocol's bye (if bye_reason is non-NULL) is sent,
   the disconnect is logged with log_reason, the connection closed. */
void login_client_disconnect(struct login_client *client,
			     const char *bye_reason, const char *log_reason);

#endif
