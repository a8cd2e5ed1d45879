/* Internals of the POP3 login process shared by its command files: the
   client state and the reply helpers. */
#ifndef COLUMBA_POP3_LOGIN_CLIENT_H
#define COLUMBA_POP3_LOGIN_CLIENT_H

#include "login-common.h"

struct pop3_login_client {
	struct login_client common;
	/* the name given by USER, waiting for PASS (NULL if none) */
	char *user;
	/* AUTH is running: lines are SASL responses */
	bool authenticating;
};

/* Send "+OK text" ("+OK" for "") / "-ERR text". */
void pop3_login_ok(struct login_client *client, const char *text);
void pop3_login_err(struct login_client *client, const char *text);
/* "-ERR text" for a command that is wrong, counted as a bad command.
   Returns false if the client was disconnected. */
bool pop3_login_bad(struct login_client *client, const char *text);

/* Commands (one file each). args: the text after the keyword and its
   space, NULL if none. Return false if the client is gone or input must
   stop (authentication running, TLS starting). */
bool pop3_login_cmd_capa(struct pop3_login_client *client, const char *args);
bool pop3_login_cmd_user(struct pop3_login_client *client, const char *args);
bool pop3_login_cmd_pass(struct pop3_login_client *client, const char *args);
bool pop3_login_cmd_auth(struct pop3_login_client *client, const char *args);
bool pop3_login_cmd_stls(struct pop3_login_client *client, const char *args);
/* A line while AUTH runs: the client's SASL response. */
bool pop3_login_auth_line(struct pop3_login_client *client, const char *line);

/* login_protocol callbacks (pop3-login-cmd-auth.c) */
void pop3_login_auth_challenge(struct login_client *client,
			       const unsigned char *data, size_t size);
void pop3_login_auth_failed(struct login_client *client,
			    enum login_auth_failure failure, const char *text);

#endif
