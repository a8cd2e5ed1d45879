/* POP3 before authentication (RFC 1939 AUTHORIZATION state): the
   greeting, command lines read with a length limit and dispatched to
   their files (CAPA, USER/PASS, AUTH, STLS), QUIT, and clear errors for
   everything else. Authentication goes through the auth process
   (src/login/login-auth.c) and ends in the hand-off to a mail process,
   which sends "+OK Logged in." itself. Pipelined commands after a
   successful login travel with the hand-off; while the auth process
   works, input waits in the connection. */
#include "lib.h"
#include "conn.h"
#include "event.h"
#include "str.h"
#include "strfuncs.h"
#include "columba-settings.h"
#include "pop3-command.h"
#include "pop3-login-client.h"
#include "pop3-login.h"

#include <strings.h>

/* Commands of the TRANSACTION state: refused here with a clearer text
   than unknown ones. */
static const char *const pop3_post_login_commands[] = {
	"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "LAST",
	NULL
};

void pop3_login_ok(struct login_client *client, const char *text)
{
	if (*text == '\0')
		conn_write_str(client->conn, "+OK\r\n");
	else
		conn_printf(client->conn, "+OK %s\r\n", text);
}

void pop3_login_err(struct login_client *client, const char *text)
{
	conn_printf(client->conn, "-ERR %s\r\n", text);
}

bool pop3_login_bad(struct login_client *client, const char *text)
{
	pop3_login_err(client, text);
	return !login_client_bad_command(client);
}

static void pop3_login_client_created(struct login_client *client)
{
	pop3_login_ok(client, login_globals.set->login_greeting);
}

static void pop3_login_client_bye(struct login_client *client,
				  const char *reason)
{
	pop3_login_err(client, reason);
}

static bool str_in_list(const char *const *list, const char *str)
{
	for (; *list != NULL; list++) {
		if (strcasecmp(*list, str) == 0)
			return true;
	}
	return false;
}

/* One command line. Returns false if the client is gone or input must
   stop. */
static bool pop3_login_line(struct pop3_login_client *pclient,
			    const char *line, size_t len)
{
	struct login_client *client = &pclient->common;
	struct pop3_command_line cmd;
	const char *error;

	if (pop3_command_parse(line, len, &cmd, &error) < 0)
		return pop3_login_bad(client, error);

	if (strcmp(cmd.name, "CAPA") == 0)
		return pop3_login_cmd_capa(pclient, cmd.args);
	if (strcmp(cmd.name, "USER") == 0)
		return pop3_login_cmd_user(pclient, cmd.args);
	if (strcmp(cmd.name, "PASS") == 0)
		return pop3_login_cmd_pass(pclient, cmd.args);
	if (strcmp(cmd.name, "AUTH") == 0)
		return pop3_login_cmd_auth(pclient, cmd.args);
	if (strcmp(cmd.name, "STLS") == 0)
		return pop3_login_cmd_stls(pclient, cmd.args);
	if (strcmp(cmd.name, "QUIT") == 0) {
		if (cmd.args != NULL)
			return pop3_login_bad(client, "Too many arguments.");
		pop3_login_ok(client, "Logging out");
		login_client_disconnect(client, NULL, "Aborted login by logging out");
		return false;
	}
	if (strcmp(cmd.name, "APOP") == 0) {
		/* APOP needs the plaintext password on the server and an
		   MD5 challenge in the greeting: neither is offered */
		return pop3_login_bad(client, "APOP is not supported.");
	}
	if (str_in_list(pop3_post_login_commands, cmd.name))
		return pop3_login_bad(client, "Command is not valid before "
				      "authentication.");
	return pop3_login_bad(client, t_strdup_printf("Unknown command: %s",
			      str_sanitize(cmd.name, 20)));
}

static void pop3_login_client_input(struct login_client *client)
{
	struct pop3_login_client *pclient = (struct pop3_login_client *)client;

	while (!client->destroyed) {
		const char *line;
		size_t len;
		int ret = conn_read_line(client->conn, POP3_MAX_COMMAND_LINE,
					 &line, &len);
		if (ret == 0)
			return;
		if (ret < 0) {
			login_client_disconnect(client, "Input line too long.",
						"Command line too long");
			return;
		}
		bool cont;
		T_BEGIN {
			if (pclient->authenticating) {
				cont = pop3_login_auth_line(pclient,
					t_strndup(line, len));
			} else {
				char *copy = t_malloc(len + 1);
				memcpy(copy, line, len);
				copy[len] = '\0';
				cont = pop3_login_line(pclient, copy, len);
			}
		} T_END;
		if (!cont)
			return;
	}
}

static void pop3_login_client_destroy(struct login_client *client)
{
	struct pop3_login_client *pclient = (struct pop3_login_client *)client;

	if (pclient->user != NULL)
		safe_memset(pclient->user, 0, strlen(pclient->user));
	i_free(pclient->user);
}

static const struct login_protocol pop3_login_protocol = {
	.name = "pop3",
	.client_size = sizeof(struct pop3_login_client),
	.max_line_length = POP3_MAX_COMMAND_LINE,
	.client_created = pop3_login_client_created,
	.client_input = pop3_login_client_input,
	.client_bye = pop3_login_client_bye,
	.client_destroy = pop3_login_client_destroy,
	.auth_challenge = pop3_login_auth_challenge,
	.auth_failed = pop3_login_auth_failed,
	.service = "pop3",
};

int pop3_login_main(void)
{
	return login_main(&pop3_login_protocol);
}
