/* AUTHENTICATE mechanism [initial-response] (RFC 9051 6.2.2, SASL-IR RFC
   4959): the exchange runs through the auth process; challenges go out
   as "+ base64", the client's lines come back base64 ("=" is an empty
   initial response), "*" cancels. The failure texts are Dovecot's. */
#include "lib.h"
#include "conn.h"
#include "str.h"
#include "base64.h"
#include "imap-login-client.h"

#include <strings.h>

#define IMAP_AUTH_FAILED_MSG "Authentication failed."
#define IMAP_AUTH_TEMPFAIL_MSG "Temporary authentication failure."

static bool is_atom(const char *str)
{
	if (*str == '\0')
		return false;
	for (; *str != '\0'; str++) {
		unsigned char c = (unsigned char)*str;
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

bool imap_login_cmd_authenticate(struct imap_login_client *iclient,
				 const char *tag, const char *args)
{
	struct login_client *client = &iclient->common;

	if (args == NULL)
		return imap_login_bad(client, tag, "Missing SASL mechanism.");
	const char *sp = strchr(args, ' ');
	const char *mech = sp == NULL ? args :
		t_strndup(args, (size_t)(sp - args));
	const char *ir = sp == NULL ? NULL : sp + 1;
	if (!is_atom(mech) || (ir != NULL && (*ir == '\0' || strchr(ir, ' ') != NULL)))
		return imap_login_bad(client, tag, "Invalid AUTHENTICATE arguments.");

	buffer_t *data = t_str_new(ir == NULL ? 0 : strlen(ir));
	const char *error;
	if (ir != NULL && strcmp(ir, "=") != 0 &&
	    base64_decode(ir, strlen(ir), data, &error) < 0)
		return imap_login_bad(client, tag, "Invalid base64 data in "
				      "initial response.");
	iclient->authenticating = true;
	login_auth_start(client, tag, mech, ir != NULL, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	return !client->destroyed;
}

bool imap_login_authenticate_line(struct imap_login_client *iclient,
				  const char *line)
{
	struct login_client *client = &iclient->common;

	if (strcmp(line, "*") == 0) {
		iclient->authenticating = false;
		login_auth_abort(client);
		return imap_login_bad(client, client->auth_tag,
				      "Authentication aborted by client.");
	}
	buffer_t *data = t_str_new(strlen(line));
	const char *error;
	if (base64_decode(line, strlen(line), data, &error) < 0) {
		iclient->authenticating = false;
		login_auth_abort(client);
		return imap_login_bad(client, client->auth_tag,
				      "Invalid base64 data in continued response.");
	}
	login_auth_continue(client, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	return !client->destroyed;
}

void imap_login_auth_challenge(struct login_client *client,
			       const unsigned char *data, size_t size)
{
	conn_printf(client->conn, "+ %s\r\n", t_base64_encode(data, size));
}

void imap_login_auth_failed(struct login_client *client,
			    enum login_auth_failure failure, const char *text)
{
	struct imap_login_client *iclient = (struct imap_login_client *)client;
	const char *tag = client->auth_tag;
	const char *reply = NULL;

	iclient->authenticating = false;
	switch (failure) {
	case LOGIN_AUTH_FAILURE_FAILED:
		reply = text == NULL ?
			"NO [AUTHENTICATIONFAILED] " IMAP_AUTH_FAILED_MSG :
			t_strdup_printf("NO [AUTHENTICATIONFAILED] %s", text);
		break;
	case LOGIN_AUTH_FAILURE_TEMP:
		reply = text == NULL ?
			"NO [UNAVAILABLE] " IMAP_AUTH_TEMPFAIL_MSG :
			t_strdup_printf("NO [UNAVAILABLE] %s", text);
		break;
	case LOGIN_AUTH_FAILURE_LIMIT:
		reply = t_strdup_printf("NO [LIMIT] %s", text == NULL ?
					"Too many connections." : text);
		break;
	case LOGIN_AUTH_FAILURE_UNSUPPORTED:
		reply = "NO Unsupported authentication mechanism.";
		break;
	case LOGIN_AUTH_FAILURE_PRIVACY:
		reply = "NO [PRIVACYREQUIRED] " IMAP_PLAINTEXT_DISABLED_MSG;
		break;
	case LOGIN_AUTH_FAILURE_BAD_DATA:
		reply = "BAD Invalid SASL data.";
		break;
	}
	i_assert(reply != NULL);
	imap_login_reply(client, tag, reply);
}
