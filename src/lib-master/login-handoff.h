/* The login -> mail hand-off: what a login process tells a mail process
   when it passes on an authenticated client. The message travels over IPC
   with one fd: the client's socket itself when the connection is
   plaintext, or one end of a socket pair when the login process keeps the
   TLS session and relays the decrypted stream (OpenSSL state cannot move
   between processes). Bytes the login process read past the login command
   travel too, so pipelined commands are not lost. */
#ifndef COLUMBA_LOGIN_HANDOFF_H
#define COLUMBA_LOGIN_HANDOFF_H

#include "net.h"

/* IPC message type on a mail process's hand-off socket. */
#define LOGIN_HANDOFF_MSG_TYPE 1
/* Largest pre-read input carried (a login line plus pipelined commands). */
#define LOGIN_HANDOFF_MAX_PREREAD (64 * 1024)

enum login_handoff_flags {
	/* The client talked TLS to the login process. */
	LOGIN_HANDOFF_FLAG_TLS = 0x01,
	/* The fd is a relay: the login process holds the TLS session and
	   forwards plaintext both ways. Without it the fd is the client's
	   own socket. */
	LOGIN_HANDOFF_FLAG_RELAY = 0x02,
	/* The connection counts as secured (TLS, or a trusted network) for
	   policies such as plaintext authentication. */
	LOGIN_HANDOFF_FLAG_SECURED = 0x04,
};
#define LOGIN_HANDOFF_FLAGS_KNOWN 0x07

struct login_handoff {
	/* "imap" */
	const char *protocol;
	const char *username;
	/* the session id that ties the login's and the mail process's log
	   lines together */
	const char *session_id;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
	uint32_t flags;
	/* e.g. "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", or "" */
	const char *tls_info;
	/* the tag of the command that logged in (IMAP), to which the mail
	   process sends the final OK; "" if the protocol has none */
	const char *tag;
	/* "key=value" fields from passdb/userdb (home, uid, quota_rule...),
	   NULL-terminated */
	const char *const *auth_fields;
	/* input read after the login command */
	const unsigned char *preread;
	size_t preread_size;
};

/* Append the encoded hand-off to dest. */
void login_handoff_encode(const struct login_handoff *handoff, buffer_t *dest);
/* Decode a received payload. Strings point into pool (or into data, which
   must outlive the result). Returns 0, or -1 with *error_r for a malformed
   payload (a protocol violation by the sender). */
int login_handoff_decode(const void *data, size_t size, pool_t pool,
			 struct login_handoff *handoff_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* The mail process's answer on the same IPC socket, one per hand-off. */
#define LOGIN_HANDOFF_REPLY_MSG_TYPE 2

enum login_handoff_status {
	/* The session started: the mail process owns the client now. */
	LOGIN_HANDOFF_STATUS_ACCEPTED = 0,
	/* Temporary failure (userdb, storage): the login process answers
	   the client itself (IMAP NO [UNAVAILABLE]). */
	LOGIN_HANDOFF_STATUS_TEMPFAIL = 1,
	/* A limit was hit (mail_max_userip_connections): IMAP NO [LIMIT]. */
	LOGIN_HANDOFF_STATUS_LIMIT = 2,
	/* This mail process stopped accepting clients but keeps the
	   connection, because sessions relayed through it may still be
	   handed back on it: send the hand-off again on a new connection. */
	LOGIN_HANDOFF_STATUS_RETRY = 3,
};
#define LOGIN_HANDOFF_STATUS_MAX LOGIN_HANDOFF_STATUS_RETRY

struct login_handoff_reply {
	enum login_handoff_status status;
	/* text for the client (without a response code), "" when
	   accepted */
	const char *reason;
};

void login_handoff_reply_encode(const struct login_handoff_reply *reply,
				buffer_t *dest);
/* Strings point into data. Returns 0, or -1 with *error_r. */
int login_handoff_reply_decode(const void *data, size_t size,
			       struct login_handoff_reply *reply_r,
			       const char **error_r) ATTR_WARN_UNUSED;

/* --- the hand-back (IMAP UNAUTHENTICATE, RFC 8437) ---

   A mail process ends a session and gives its client back to a login
   process, which continues it in the not-authenticated state.

   Relayed (TLS) session: the login process that relays it still owns
   the client, so both messages travel on the hand-off connection the
   session came through (a login process keeps that connection open
   while sessions relayed over it live):
     mail -> login  HANDBACK_BEGIN (session id): stop writing into the
                    relay and shut down its write side;
     mail           reads the relay to its end (input the client sent
                    after UNAUTHENTICATE), then
     mail -> login  HANDBACK (no fd) and closes its end of the relay;
     login          copies what the relay still held to the client, and
                    once the relay has ended resumes the client in the
                    not-authenticated state with HANDBACK's input first.
   Plaintext session (the client's socket is in the mail process): a new
   connection to the login service's login/imap-handback socket carries
   HANDBACK with the client's socket; the login process takes it (or
   says goodbye itself when it cannot) and answers HANDBACK_REPLY. No
   answer means no login process took it: the mail process says BYE. */
#define LOGIN_HANDBACK_BEGIN_MSG_TYPE 3
#define LOGIN_HANDBACK_MSG_TYPE 4
#define LOGIN_HANDBACK_REPLY_MSG_TYPE 5

struct login_handback {
	/* "imap" */
	const char *protocol;
	/* the session's id, as the hand-off gave it */
	const char *session_id;
	/* the tag of UNAUTHENTICATE, for the tagged OK */
	const char *tag;
	/* LOGIN_HANDOFF_FLAG_* as in the hand-off */
	uint32_t flags;
	struct ip_addr remote_ip, local_ip;
	in_port_t remote_port, local_port;
	/* input read after the UNAUTHENTICATE line, not yet processed */
	const unsigned char *input;
	size_t input_size;
};

void login_handback_encode(const struct login_handback *hb, buffer_t *dest);
/* Strings and input point into pool. Returns 0, or -1 with *error_r. */
int login_handback_decode(const void *data, size_t size, pool_t pool,
			  struct login_handback *hb_r, const char **error_r)
	ATTR_WARN_UNUSED;
void login_handback_begin_encode(const char *session_id, buffer_t *dest);
/* *session_id_r points into data. Returns 0, or -1 with *error_r. */
int login_handback_begin_decode(const void *data, size_t size,
				const char **session_id_r,
				const char **error_r) ATTR_WARN_UNUSED;
/* HANDBACK_REPLY: an empty acknowledgement ("the client is ours"). */
void login_handback_reply_encode(buffer_t *dest);
int login_handback_reply_decode(const void *data, size_t size,
				const char **error_r) ATTR_WARN_UNUSED;

#endif
