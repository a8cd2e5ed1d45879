/* Client side of the userdb half of Dovecot's auth master protocol, as the
   auth process serves it on its auth-userdb socket (src/auth/
   auth-userdb-conn.c): the mail process (after a login hand-off) and LMTP
   (at RCPT time) ask who a user is and where their mail lives.

   One connection carries many lookups at once (ids); it connects lazily,
   reconnects after the auth process restarts, and fails lookups in flight
   (FAIL, never a hang) when the connection drops or a lookup takes longer
   than the timeout. */
#ifndef COLUMBA_AUTH_MASTER_CLIENT_H
#define COLUMBA_AUTH_MASTER_CLIENT_H

#include "net.h"

struct auth_master_client;
struct auth_master_lookup;

enum auth_master_result {
	/* the user exists: fields are userdb's (home=, uid=, quota_rule=..) */
	AUTH_MASTER_RESULT_OK,
	/* userdb says there is no such user */
	AUTH_MASTER_RESULT_NOTFOUND,
	/* temporary failure (auth process down, timeout, userdb error):
	   the caller answers with a temporary error (IMAP NO [UNAVAILABLE],
	   LMTP 451 4.3.0) */
	AUTH_MASTER_RESULT_FAIL,
};

struct auth_master_user_request {
	const char *username;
	/* "imap", "pop3", "lmtp" ...; passed as service= */
	const char *service;
	/* optional (unset family = not sent): lip= rip= */
	struct ip_addr local_ip, remote_ip;
	in_port_t local_port, remote_port;
	/* optional: session= */
	const char *session_id;
};

/* On OK: username is the canonical name userdb returned (may differ from
   the one asked, e.g. after auth_username_format) and fields the
   NULL-terminated "key=value" list. On FAIL: error is a text for the log.
   Everything is valid during the callback only. */
typedef void auth_master_user_callback_t(enum auth_master_result result,
					 const char *username,
					 const char *const *fields,
					 const char *error, void *context);

/* socket_path: the auth-userdb socket (normally BASE_DIR/auth-userdb).
   Needs an ioloop for the async calls. */
struct auth_master_client *auth_master_client_init(const char *socket_path);
/* Lookups still in flight get their callback with FAIL ("deinit"). */
void auth_master_client_deinit(struct auth_master_client **client);
void auth_master_client_set_timeout(struct auth_master_client *client,
				    unsigned int msecs);

/* Asynchronous lookup: callback is called exactly once, from the ioloop,
   never before this returns. */
struct auth_master_lookup *
auth_master_user_lookup(struct auth_master_client *client,
			const struct auth_master_user_request *request,
			auth_master_user_callback_t *callback, void *context);
/* Forget a lookup in flight: its callback is not called. */
void auth_master_lookup_abort(struct auth_master_lookup **lookup);

/* Blocking lookup for tools (no ioloop needed). Returns the result with
   *username_r and *fields_r allocated from pool (or *error_r). */
enum auth_master_result
auth_master_user_lookup_sync(const char *socket_path,
			     const struct auth_master_user_request *request,
			     pool_t pool, const char **username_r,
			     const char *const **fields_r,
			     const char **error_r);

#endif
