/* AUTH (RFC 5034): "AUTH mechanism [initial-response]" runs a SASL
   exchange through the auth process; challenges go out as "+ base64",
   the client's lines come back base64 ("=" is an empty initial
   response), "*" cancels. "AUTH" alone lists the mechanisms, one a line,
   as the older RFC 1734 clients (Outlook) expect and Dovecot does. The
   failure replies carry RFC 2449/3206 response codes: [AUTH] for bad
   credentials or policy, [SYS/TEMP] for a temporary failure, [IN-USE]
   when the mail process refuses for too many connections. USER/PASS
   end here too (pop3-login-cmd-pass.c). */
#include "lib.h"
#include "conn.h"
#include "str.h"
#include "base64.h"
#include "auth-client.h"
#include "pop3-login-client.h"

#include <ctype.h>

#define POP3_AUTH_FAILED_MSG "[AUTH] Authentication failed."
#define POP3_AUTH_TEMPFAIL_MSG "[SYS/TEMP] Temporary authentication failure."
#define POP3_PLAINTEXT_DISABLED_MSG "[AUTH] Plaintext authentication " \
	"disallowed on non-secure (SSL/TLS) connections."

static bool is_mech_name(const char *str)
{
	/* RFC 4422 §3.1: upper-case letters, digits, '-' and '_' (we
	   accept lower case, as mechanisms compare case-insensitively) */
	if (*str == '\0' || strlen(str) > 20)
		return false;
	for (; *str != '\0'; str++) {
		if (!isalnum((unsigned char)*str) && *str != '-' && *str != '_')
			return false;
	}
	return true;
}

static bool pop3_login_auth_list(struct login_client *client)
{
	string_t *str = t_str_new(128);
	unsigned int count;
	const struct auth_client_mech *mechs =
		auth_client_get_mechs(login_globals.auth_client, &count);

	str_append(str, "+OK\r\n");
	for (unsigned int i = 0; i < count; i++) {
		if (login_client_mech_usable(client, mechs[i].name))
			str_printfa(str, "%s\r\n", mechs[i].name);
	}
	str_append(str, ".\r\n");
	conn_write(client->conn, buffer_data(str), str_len(str));
	return true;
}

bool pop3_login_cmd_auth(struct pop3_login_client *pclient, const char *args)
{
	struct login_client *client = &pclient->common;

	if (args == NULL)
		return pop3_login_auth_list(client);
	const char *sp = strchr(args, ' ');
	const char *mech = sp == NULL ? args :
		t_strndup(args, (size_t)(sp - args));
	const char *ir = sp == NULL ? NULL : sp + 1;
	if (!is_mech_name(mech) ||
	    (ir != NULL && (*ir == '\0' || strchr(ir, ' ') != NULL)))
		return pop3_login_bad(client, "Invalid AUTH arguments.");

	buffer_t *data = t_str_new(ir == NULL ? 0 : strlen(ir));
	const char *error;
	if (ir != NULL && strcmp(ir, "=") != 0 &&
	    base64_decode(ir, strlen(ir), data, &error) < 0)
		return pop3_login_bad(client, "Invalid base64 data in initial "
				      "response.");
	pclient->authenticating = true;
	login_auth_start(client, "", mech, ir != NULL, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	return !client->destroyed;
}

bool pop3_login_auth_line(struct pop3_login_client *pclient, const char *line)
{
	struct login_client *client = &pclient->common;

	if (strcmp(line, "*") == 0) {
		pclient->authenticating = false;
		login_auth_abort(client);
		return pop3_login_bad(client, "Authentication aborted by client.");
	}
	buffer_t *data = t_str_new(strlen(line));
	const char *error;
	if (base64_decode(line, strlen(line), data, &error) < 0) {
		pclient->authenticating = false;
		login_auth_abort(client);
		return pop3_login_bad(client, "Invalid base64 data in "
				      "continued response.");
	}
	login_auth_continue(client, data->data, data->used);
	safe_memset(data->data, 0, data->used);
	return !client->destroyed;
}

void pop3_login_auth_challenge(struct login_client *client,
			       const unsigned char *data, size_t size)
{
	conn_printf(client->conn, "+ %s\r\n", t_base64_encode(data, size));
}

void pop3_login_auth_failed(struct login_client *client,
			    enum login_auth_failure failure, const char *text)
{
	struct pop3_login_client *pclient = (struct pop3_login_client *)client;
	const char *reply = NULL;

	pclient->authenticating = false;
	switch (failure) {
	case LOGIN_AUTH_FAILURE_FAILED:
		reply = text == NULL ? POP3_AUTH_FAILED_MSG :
			t_strdup_printf("[AUTH] %s", text);
		break;
	case LOGIN_AUTH_FAILURE_TEMP:
		reply = text == NULL ? POP3_AUTH_TEMPFAIL_MSG :
			t_strdup_printf("[SYS/TEMP] %s", text);
		break;
	case LOGIN_AUTH_FAILURE_LIMIT:
		reply = t_strdup_printf("[IN-USE] %s", text == NULL ?
					"Too many connections." : text);
		break;
	case LOGIN_AUTH_FAILURE_UNSUPPORTED:
		reply = "Unsupported authentication mechanism.";
		break;
	case LOGIN_AUTH_FAILURE_PRIVACY:
		reply = POP3_PLAINTEXT_DISABLED_MSG;
		break;
	case LOGIN_AUTH_FAILURE_BAD_DATA:
		reply = "Invalid SASL data.";
		break;
	}
	i_assert(reply != NULL);
	pop3_login_err(client, reply);
}
