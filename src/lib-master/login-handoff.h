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
};
#define LOGIN_HANDOFF_STATUS_MAX LOGIN_HANDOFF_STATUS_LIMIT

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

#endif
