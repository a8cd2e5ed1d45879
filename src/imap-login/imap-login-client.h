/* Internals of the IMAP login process shared by its command files: the
   client state and the small grammar helpers they use. */
#ifndef COLUMBA_IMAP_LOGIN_CLIENT_H
#define COLUMBA_IMAP_LOGIN_CLIENT_H

#include "login-common.h"

/* Largest literal accepted in a LOGIN argument (a user name or a
   password); anything larger is refused without reading it. */
#define IMAP_LOGIN_MAX_ARG_LITERAL 8192

struct imap_login_client {
	struct login_client common;
	/* bytes of a non-synchronising literal still to skip */
	uint64_t skip_literal;
	/* the command being skipped continues after the literal */
	char *skip_tag;

	/* a LOGIN command being collected across its literals: the raw
	   bytes, literal markers included (holds a password: wiped) */
	string_t *cmd_buf;
	/* bytes of the current literal still to append to cmd_buf */
	uint64_t cmd_literal_left;

	/* AUTHENTICATE is running: lines are SASL responses */
	bool authenticating;
};

/* Send "tag text". */
void imap_login_reply(struct login_client *client, const char *tag,
		      const char *text);
/* Send "tag BAD text" and count a bad command. Returns false if the
   client was disconnected. */
/* The [PRIVACYREQUIRED] text, as Dovecot's. */
#define IMAP_PLAINTEXT_DISABLED_MSG \
	"Plaintext authentication disallowed on non-secure (SSL/TLS) connections."

bool imap_login_bad(struct login_client *client, const char *tag,
		    const char *text);
/* The capability list for this connection's current state. */
const char *imap_login_capability(struct login_client *client);

/* Parse one astring (atom, quoted string or literal in raw
   "{N}\r\n<N bytes>" form) at *pos of [data, data+size), appending its
   value to dest. Returns 0 and advances *pos, or -1 if malformed. */
int imap_login_parse_astring(const unsigned char *data, size_t size,
			     size_t *pos, string_t *dest);

/* Commands (one file each). args: the text after the command name and
   its SP, NULL if none. Return false if the client is gone or input
   must stop. */
bool imap_login_cmd_id(struct imap_login_client *client, const char *tag,
		       const char *args);
/* args_size: LOGIN's arguments may hold literals and NULs */
bool imap_login_cmd_login(struct imap_login_client *client, const char *tag,
			  const unsigned char *args, size_t args_size);
bool imap_login_cmd_authenticate(struct imap_login_client *client,
				 const char *tag, const char *args);
/* A line while authenticating: the client's SASL response. */
bool imap_login_authenticate_line(struct imap_login_client *client,
				  const char *line);
/* login_protocol callbacks */
void imap_login_auth_challenge(struct login_client *client,
			       const unsigned char *data, size_t size);
void imap_login_auth_failed(struct login_client *client,
			    enum login_auth_failure failure, const char *text);

#endif
