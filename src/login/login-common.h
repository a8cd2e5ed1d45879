/* The protocol-independent part of a login process: accepting clients from
   the master's listeners, TLS (implicit and STARTTLS, SNI), timeouts,
   limits, shutdown, and the disconnect log line. A protocol (IMAP today;
   POP3, ManageSieve, Submission later) fills a struct login_protocol and
   calls login_main(). */
#ifndef COLUMBA_LOGIN_COMMON_H
#define COLUMBA_LOGIN_COMMON_H

#include "net.h"

struct conn;
struct event;
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
	/* TLS is active (implicit, or STARTTLS done) */
	bool tls:1;
	/* connected to an implicit-TLS listener */
	bool implicit_tls:1;
	bool destroyed:1;
	/* protocol state lives after the common part */
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
};

struct login_globals {
	struct master_service *service;
	const struct columba_settings *set;
	/* NULL when ssl = no */
	struct tls_context *tls_ctx;
	unsigned int client_count;
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
/* End the session: the protocol's bye (if bye_reason is non-NULL) is sent,
   the disconnect is logged with log_reason, the connection closed. */
void login_client_disconnect(struct login_client *client,
			     const char *bye_reason, const char *log_reason);

#endif
