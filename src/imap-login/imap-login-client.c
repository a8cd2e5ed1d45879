/* IMAP before authentication: the greeting, CAPABILITY, NOOP, STARTTLS and
   LOGOUT. LOGIN and AUTHENTICATE are refused until an authentication
   back-end exists, and the capabilities say so (LOGINDISABLED, no AUTH=).
   Commands are read as lines; a command that ends in a literal is rejected
   before the literal is sent (synchronising) or after skipping it
   (non-synchronising), so no literal is ever buffered. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "config.h"
#include "login-common.h"
#include "imap-login.h"
#include <ctype.h>
#include <strings.h>

/* RFC 9051 asks servers to accept lines of at least 8192 octets; SASL-IR
   with OAuth tokens needs more once authentication exists. */
#define IMAP_LOGIN_MAX_LINE_LENGTH (64 * 1024)
/* Largest non-synchronising literal skipped before giving up. */
#define IMAP_LOGIN_MAX_SKIPPED_LITERAL (64 * 1024)

struct imap_login_client {
	struct login_client common;
	/* bytes of a non-synchronising literal still to skip */
	uint64_t skip_literal;
	/* the command being skipped continues after the literal */
	char *skip_tag;
};

/* Commands of the authenticated and selected states (RFC 9051 and the
   extensions): refused here with a clearer text than unknown ones. */
static const char *const imap_post_login_commands[] = {
	"APPEND", "CHECK", "CLOSE", "COPY", "CREATE", "DELETE", "ENABLE",
	"EXAMINE", "EXPUNGE", "FETCH", "GETQUOTA", "GETQUOTAROOT", "IDLE",
	"LIST", "LSUB", "MOVE", "NAMESPACE", "RENAME", "SEARCH", "SELECT",
	"SETQUOTA", "SORT", "STATUS", "STORE", "SUBSCRIBE", "THREAD", "UID",
	"UNSELECT", "UNSUBSCRIBE", "GETACL", "SETACL", "MYRIGHTS",
	"GETMETADATA", "SETMETADATA", "NOTIFY", "UNAUTHENTICATE", "COMPRESS",
	NULL
};

static const char *imap_login_capability(struct login_client *client)
{
	string_t *str = t_str_new(64);
	str_append(str, "IMAP4rev1");
	if (login_client_can_starttls(client))
		str_append(str, " STARTTLS");
	/* no authentication back-end yet: say so rather than let clients
	   try and fail */
	str_append(str, " LOGINDISABLED");
	return str_c(str);
}

static void imap_login_client_created(struct login_client *client)
{
	conn_printf(client->conn, "* OK [CAPABILITY %s] %s\r\n",
		    imap_login_capability(client),
		    login_globals.set->login_greeting);
}

static void imap_login_client_bye(struct login_client *client,
				  const char *reason)
{
	conn_printf(client->conn, "* BYE %s\r\n", reason);
}

/* tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9) */
static bool imap_is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\+", c) == NULL;
}

static bool imap_is_atom_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

/* If line ends with a literal "{N}", "{N+}" or "{N-}", return 1 with its
   size and whether it is synchronising; 0 if no literal; -1 if malformed. */
static int imap_line_literal(const char *line, size_t len, uint64_t *size_r,
			     bool *sync_r)
{
	if (len < 3 || line[len - 1] != '}')
		return 0;
	size_t end = len - 1;
	*sync_r = true;
	if (line[end - 1] == '+' || line[end - 1] == '-') {
		*sync_r = false;
		end--;
	}
	size_t start = end;
	while (start > 0 && isdigit((unsigned char)line[start - 1]))
		start--;
	if (start == 0 || line[start - 1] != '{')
		return 0;
	if (start == end)
		return -1;
	if (str_to_uint64(t_strndup(line + start, end - start), size_r) < 0)
		return -1;
	return 1;
}

static void imap_reply(struct login_client *client, const char *tag,
		       const char *text)
{
	conn_printf(client->conn, "%s %s\r\n", tag, text);
}

/* Returns false if the client was disconnected. */
static bool imap_bad(struct login_client *client, const char *tag,
		     const char *text)
{
	conn_printf(client->conn, "%s BAD %s\r\n", tag, text);
	return !login_client_bad_command(client);
}

static bool str_in_list(const char *const *list, const char *str)
{
	for (; *list != NULL; list++) {
		if (strcasecmp(*list, str) == 0)
			return true;
	}
	return false;
}

/* Handle one complete command line (without a trailing literal). Returns
   false if the client is gone or input must stop. */
static bool imap_login_command(struct imap_login_client *iclient,
			       const char *tag, const char *cmd,
			       const char *args, bool has_literal)
{
	struct login_client *client = &iclient->common;
	bool no_args = args == NULL && !has_literal;

	if (strcasecmp(cmd, "CAPABILITY") == 0) {
		if (!no_args)
			return imap_bad(client, tag, "Unexpected arguments.");
		conn_printf(client->conn, "* CAPABILITY %s\r\n",
			    imap_login_capability(client));
		imap_reply(client, tag, "OK Pre-login capabilities listed, "
			   "post-login capabilities have more.");
	} else if (strcasecmp(cmd, "NOOP") == 0) {
		if (!no_args)
			return imap_bad(client, tag, "Unexpected arguments.");
		imap_reply(client, tag, "OK NOOP completed.");
	} else if (strcasecmp(cmd, "LOGOUT") == 0) {
		if (!no_args)
			return imap_bad(client, tag, "Unexpected arguments.");
		conn_write_str(client->conn, "* BYE Logging out\r\n");
		imap_reply(client, tag, "OK Logout completed.");
		login_client_disconnect(client, NULL, "Logged out");
		return false;
	} else if (strcasecmp(cmd, "STARTTLS") == 0) {
		if (!no_args)
			return imap_bad(client, tag, "Unexpected arguments.");
		if (client->implicit_tls || conn_is_tls(client->conn))
			return imap_bad(client, tag, "TLS is already active.");
		if (!login_client_can_starttls(client))
			return imap_bad(client, tag, "TLS support isn't enabled.");
		imap_reply(client, tag, "OK Begin TLS negotiation now.");
		if (login_client_starttls(client) < 0) {
			login_client_disconnect(client, NULL, "STARTTLS failed");
			return false;
		}
		/* anything pipelined after STARTTLS was discarded by the
		   conn; the handshake comes next */
		return false;
	} else if (strcasecmp(cmd, "LOGIN") == 0) {
		imap_reply(client, tag, "NO [UNAVAILABLE] Authentication is not "
			   "available on this server yet (LOGINDISABLED).");
	} else if (strcasecmp(cmd, "AUTHENTICATE") == 0) {
		if (args == NULL)
			return imap_bad(client, tag, "Missing SASL mechanism.");
		imap_reply(client, tag, "NO Unsupported authentication mechanism.");
	} else if (str_in_list(imap_post_login_commands, cmd)) {
		return imap_bad(client, tag, "Command is not valid before "
				"authentication.");
	} else {
		return imap_bad(client, tag, "Unknown command.");
	}
	return true;
}

/* Parse "tag SP command [SP args]". Returns false if the client is gone. */
static bool imap_login_line(struct imap_login_client *iclient, char *line,
			    size_t len)
{
	struct login_client *client = &iclient->common;
	uint64_t literal_size = 0;
	bool literal_sync = false;

	if (memchr(line, '\0', len) != NULL)
		return imap_bad(client, "*", "NUL characters are not allowed.");
	int lit = imap_line_literal(line, len, &literal_size, &literal_sync);
	if (lit < 0)
		return imap_bad(client, "*", "Invalid literal size.");

	if (iclient->skip_tag != NULL) {
		/* continuation of a command whose literal we skipped: it is
		   rejected as a whole when its last line arrives */
		if (lit > 0 && !literal_sync &&
		    literal_size <= IMAP_LOGIN_MAX_SKIPPED_LITERAL) {
			iclient->skip_literal = literal_size;
			return true;
		}
		char *tag = iclient->skip_tag;
		iclient->skip_tag = NULL;
		bool ret = imap_bad(client, tag, "Literals are not accepted "
				    "before authentication.");
		free(tag);
		return ret;
	}

	size_t i = 0;
	while (i < len && imap_is_tag_char((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return imap_bad(client, "*", "Error in IMAP command: invalid tag.");
	const char *tag = t_strndup(line, i);
	size_t cmd_start = ++i;
	while (i < len && imap_is_atom_char((unsigned char)line[i]))
		i++;
	if (i == cmd_start || (i < len && line[i] != ' '))
		return imap_bad(client, tag, "Error in IMAP command: invalid "
				"command name.");
	const char *cmd = t_strndup(line + cmd_start, i - cmd_start);
	const char *args = i < len ? t_strndup(line + i + 1, len - i - 1) : NULL;

	if (lit > 0 && literal_sync) {
		/* Reject now: without a "+" continuation the client does not
		   send the literal (RFC 9051 §7.5). */
		(void)imap_login_command(iclient, tag, cmd, args, true);
		return !client->destroyed;
	}
	if (lit > 0) {
		if (literal_size > IMAP_LOGIN_MAX_SKIPPED_LITERAL) {
			login_client_disconnect(client, "Literal too large.",
						"Literal too large before "
						"authentication");
			return false;
		}
		iclient->skip_literal = literal_size;
		iclient->skip_tag = i_strdup(tag);
		return true;
	}
	return imap_login_command(iclient, tag, cmd, args, false);
}

static void imap_login_client_input(struct login_client *client)
{
	struct imap_login_client *iclient = (struct imap_login_client *)client;

	while (!client->destroyed) {
		if (iclient->skip_literal > 0) {
			const unsigned char *data;
			size_t size;
			if (conn_input_peek(client->conn, &data, &size) <= 0 ||
			    size == 0)
				return;
			size_t n = (size_t)I_MIN((uint64_t)size,
						 iclient->skip_literal);
			conn_input_skip(client->conn, n);
			iclient->skip_literal -= n;
			continue;
		}
		const char *line;
		size_t len;
		int ret = conn_read_line(client->conn, IMAP_LOGIN_MAX_LINE_LENGTH,
					 &line, &len);
		if (ret == 0)
			return;
		if (ret < 0) {
			login_client_disconnect(client, "Command line too long.",
						"Command line too long");
			return;
		}
		if (len == 0 && iclient->skip_tag == NULL)
			continue; /* empty lines are ignored, as Dovecot does */
		bool cont;
		T_BEGIN {
			char *copy = t_malloc(len + 1);
			memcpy(copy, line, len);
			cont = imap_login_line(iclient, copy, len);
		} T_END;
		if (!cont)
			return;
	}
}

static void imap_login_client_destroy(struct login_client *client)
{
	struct imap_login_client *iclient = (struct imap_login_client *)client;
	i_free(iclient->skip_tag);
}

static const struct login_protocol imap_login_protocol = {
	.name = "imap",
	.client_size = sizeof(struct imap_login_client),
	.max_line_length = IMAP_LOGIN_MAX_LINE_LENGTH,
	.client_created = imap_login_client_created,
	.client_input = imap_login_client_input,
	.client_bye = imap_login_client_bye,
	.client_destroy = imap_login_client_destroy,
};

int imap_login_main(void)
{
	return login_main(&imap_login_protocol);
}
