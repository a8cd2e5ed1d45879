/* IMAP before authentication: the greeting, CAPABILITY, NOOP, STARTTLS,
   ID, LOGOUT, and the login commands LOGIN and AUTHENTICATE (their own
   files), which go through the auth process and end in the hand-off to
   a mail process. Commands are read as lines with a length limit. A LOGIN
   whose arguments are literals is collected into one bounded buffer
   (each literal at most IMAP_LOGIN_MAX_ARG_LITERAL bytes; "+ OK" only
   for synchronising ones); any other command that ends in a literal is
   rejected before the literal is sent (synchronising) or after skipping
   it (non-synchronising), so no unbounded input is ever buffered. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "config.h"
#include "str.h"
#include "auth-client.h"
#include "imap-login-client.h"
#include "imap-login.h"
#include <ctype.h>
#include <strings.h>

/* RFC 9051 asks servers to accept lines of at least 8192 octets; SASL-IR
   with OAuth tokens needs more once authentication exists. */
#define IMAP_LOGIN_MAX_LINE_LENGTH (64 * 1024)
/* Largest non-synchronising literal skipped before giving up. */
#define IMAP_LOGIN_MAX_SKIPPED_LITERAL (64 * 1024)

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

const char *imap_login_capability(struct login_client *client)
{
	string_t *str = t_str_new(128);
	str_append(str, "IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE IDLE LITERAL+");
	if (login_client_can_starttls(client))
		str_append(str, " STARTTLS");
	unsigned int count;
	const struct auth_client_mech *mechs =
		auth_client_get_mechs(login_globals.auth_client, &count);
	for (unsigned int i = 0; i < count; i++) {
		if (login_client_mech_usable(client, mechs[i].name))
			str_printfa(str, " AUTH=%s", mechs[i].name);
	}
	if (!login_client_plaintext_allowed(client))
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

void imap_login_reply(struct login_client *client, const char *tag,
		      const char *text)
{
	conn_printf(client->conn, "%s %s\r\n", tag, text);
}

bool imap_login_bad(struct login_client *client, const char *tag,
		    const char *text)
{
	conn_printf(client->conn, "%s BAD %s\r\n", tag, text);
	return !login_client_bad_command(client);
}

int imap_login_parse_astring(const unsigned char *data, size_t size,
			     size_t *pos, string_t *dest)
{
	size_t i = *pos;

	if (i >= size)
		return -1;
	if (data[i] == '"') {
		for (i++; i < size && data[i] != '"'; i++) {
			if (data[i] == '\\') {
				if (++i == size ||
				    (data[i] != '\\' && data[i] != '"'))
					return -1;
			} else if (data[i] == '\r' || data[i] == '\n' ||
				   data[i] == '\0' || data[i] >= 0x80) {
				return -1;
			}
			str_append_c(dest, (char)data[i]);
		}
		if (i == size)
			return -1;
		*pos = i + 1;
		return 0;
	}
	if (data[i] == '{') {
		uint64_t len = 0;
		size_t start = ++i;
		for (; i < size && data[i] >= '0' && data[i] <= '9'; i++) {
			len = len * 10 + (data[i] - '0');
			if (len > IMAP_LOGIN_MAX_ARG_LITERAL)
				return -1;
		}
		if (i == start)
			return -1;
		if (i < size && (data[i] == '+' || data[i] == '-'))
			i++;
		if (i + 3 > size || data[i] != '}' || data[i + 1] != '\r' ||
		    data[i + 2] != '\n')
			return -1;
		i += 3;
		if (size - i < len)
			return -1;
		str_append_data(dest, data + i, (size_t)len);
		*pos = i + (size_t)len;
		return 0;
	}
	size_t start = i;
	/* ASTRING-CHAR: ATOM-CHAR or resp-specials */
	while (i < size && (imap_is_atom_char(data[i]) || data[i] == ']'))
		i++;
	if (i == start)
		return -1;
	str_append_data(dest, data + start, i - start);
	*pos = i;
	return 0;
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
			return imap_login_bad(client, tag, "Unexpected arguments.");
		conn_printf(client->conn, "* CAPABILITY %s\r\n",
			    imap_login_capability(client));
		imap_login_reply(client, tag, "OK Pre-login capabilities listed, "
			   "post-login capabilities have more.");
	} else if (strcasecmp(cmd, "NOOP") == 0) {
		if (!no_args)
			return imap_login_bad(client, tag, "Unexpected arguments.");
		imap_login_reply(client, tag, "OK NOOP completed.");
	} else if (strcasecmp(cmd, "LOGOUT") == 0) {
		if (!no_args)
			return imap_login_bad(client, tag, "Unexpected arguments.");
		conn_write_str(client->conn, "* BYE Logging out\r\n");
		imap_login_reply(client, tag, "OK Logout completed.");
		login_client_disconnect(client, NULL, "Logged out");
		return false;
	} else if (strcasecmp(cmd, "STARTTLS") == 0) {
		if (!no_args)
			return imap_login_bad(client, tag, "Unexpected arguments.");
		if (client->implicit_tls || conn_is_tls(client->conn))
			return imap_login_bad(client, tag, "TLS is already active.");
		if (!login_client_can_starttls(client))
			return imap_login_bad(client, tag, "TLS support isn't enabled.");
		imap_login_reply(client, tag, "OK Begin TLS negotiation now.");
		if (login_client_starttls(client) < 0) {
			login_client_disconnect(client, NULL, "STARTTLS failed");
			return false;
		}
		/* anything pipelined after STARTTLS was discarded by the
		   conn; the handshake comes next */
		return false;
	} else if (strcasecmp(cmd, "ID") == 0) {
		if (has_literal)
			return imap_login_bad(client, tag, "Literals are not "
					      "accepted in ID before "
					      "authentication.");
		return imap_login_cmd_id(iclient, tag, args);
	} else if (strcasecmp(cmd, "LOGIN") == 0) {
		return imap_login_cmd_login(iclient, tag,
			(const unsigned char *)args, args == NULL ? 0 :
			strlen(args));
	} else if (strcasecmp(cmd, "AUTHENTICATE") == 0) {
		if (has_literal)
			return imap_login_bad(client, tag, "Invalid AUTHENTICATE "
					      "arguments.");
		return imap_login_cmd_authenticate(iclient, tag, args);
	} else if (str_in_list(imap_post_login_commands, cmd)) {
		return imap_login_bad(client, tag, "Command is not valid before "
				"authentication.");
	} else {
		return imap_login_bad(client, tag, "Unknown command.");
	}
	return true;
}

static void imap_login_cmd_buf_free(struct imap_login_client *iclient)
{
	if (iclient->cmd_buf == NULL)
		return;
	safe_memset(str_c_modifiable(iclient->cmd_buf), 0,
		    str_len(iclient->cmd_buf));
	buffer_free(&iclient->cmd_buf);
	iclient->cmd_literal_left = 0;
}

/* A LOGIN line ended in a literal: accept it into cmd_buf, or refuse. */
static bool imap_login_literal_begin(struct imap_login_client *iclient,
				     uint64_t size, bool sync)
{
	struct login_client *client = &iclient->common;

	if (sync && !login_client_plaintext_allowed(client)) {
		/* refuse before "+ OK": the client must not send a password
		   in the clear only to have it refused */
		const char *buf = str_c(iclient->cmd_buf);
		const char *tag = t_strndup(buf, strcspn(buf, " "));
		imap_login_cmd_buf_free(iclient);
		conn_printf(client->conn, "%s NO [PRIVACYREQUIRED] %s\r\n", tag,
			    IMAP_PLAINTEXT_DISABLED_MSG);
		return true;
	}
	if (size > IMAP_LOGIN_MAX_ARG_LITERAL ||
	    str_len(iclient->cmd_buf) + size > IMAP_LOGIN_MAX_LINE_LENGTH) {
		const char *buf = str_c(iclient->cmd_buf);
		const char *tag = t_strndup(buf, strcspn(buf, " "));
		imap_login_cmd_buf_free(iclient);
		if (sync)
			return imap_login_bad(client, tag, "Literal too large.");
		if (size > IMAP_LOGIN_MAX_SKIPPED_LITERAL) {
			login_client_disconnect(client, "Literal too large.",
						"Literal too large before "
						"authentication");
			return false;
		}
		iclient->skip_literal = size;
		iclient->skip_tag = i_strdup(tag);
		return true;
	}
	iclient->cmd_literal_left = size;
	if (sync)
		conn_write_str(client->conn, "+ OK\r\n");
	return true;
}

/* The next line of a LOGIN being collected. */
static bool imap_login_cmd_buf_line(struct imap_login_client *iclient,
				    const char *line, size_t len, int lit,
				    uint64_t literal_size, bool literal_sync)
{
	str_append_data(iclient->cmd_buf, line, len);
	if (lit > 0) {
		str_append(iclient->cmd_buf, "\r\n");
		return imap_login_literal_begin(iclient, literal_size,
						literal_sync);
	}
	/* complete: "tag LOGIN args" */
	const unsigned char *data = buffer_data(iclient->cmd_buf);
	size_t size = str_len(iclient->cmd_buf);
	const unsigned char *sp1 = memchr(data, ' ', size);
	i_assert(sp1 != NULL);
	const unsigned char *sp2 = memchr(sp1 + 1, ' ', size - (sp1 + 1 - data));
	const char *tag = t_strndup(data, (size_t)(sp1 - data));
	bool ret;
	if (sp2 == NULL) {
		ret = imap_login_bad(&iclient->common, tag, "Invalid arguments.");
	} else {
		size_t pos = (size_t)(sp2 + 1 - data);
		ret = imap_login_cmd_login(iclient, tag, data + pos, size - pos);
	}
	imap_login_cmd_buf_free(iclient);
	return ret;
}

/* Parse "tag SP command [SP args]". Returns false if the client is gone. */
static bool imap_login_line(struct imap_login_client *iclient, char *line,
			    size_t len)
{
	struct login_client *client = &iclient->common;
	uint64_t literal_size = 0;
	bool literal_sync = false;

	if (memchr(line, '\0', len) != NULL)
		return imap_login_bad(client, "*", "NUL characters are not allowed.");
	int lit = imap_line_literal(line, len, &literal_size, &literal_sync);
	if (lit < 0)
		return imap_login_bad(client, "*", "Invalid literal size.");

	if (iclient->cmd_buf != NULL) {
		return imap_login_cmd_buf_line(iclient, line, len, lit,
					       literal_size, literal_sync);
	}
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
		bool ret = imap_login_bad(client, tag, "Literals are not accepted "
				    "before authentication.");
		free(tag);
		return ret;
	}

	size_t i = 0;
	while (i < len && imap_is_tag_char((unsigned char)line[i]))
		i++;
	if (i == 0 || i == len || line[i] != ' ')
		return imap_login_bad(client, "*", "Error in IMAP command: invalid tag.");
	const char *tag = t_strndup(line, i);
	size_t cmd_start = ++i;
	while (i < len && imap_is_atom_char((unsigned char)line[i]))
		i++;
	if (i == cmd_start || (i < len && line[i] != ' '))
		return imap_login_bad(client, tag, "Error in IMAP command: invalid "
				"command name.");
	const char *cmd = t_strndup(line + cmd_start, i - cmd_start);
	const char *args = i < len ? t_strndup(line + i + 1, len - i - 1) : NULL;

	if (lit > 0 && strcasecmp(cmd, "LOGIN") == 0) {
		iclient->cmd_buf = str_new(system_pool, 256);
		str_append_data(iclient->cmd_buf, line, len);
		str_append(iclient->cmd_buf, "\r\n");
		return imap_login_literal_begin(iclient, literal_size,
						literal_sync);
	}
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
		if (iclient->cmd_literal_left > 0) {
			const unsigned char *data;
			size_t size;
			if (conn_input_peek(client->conn, &data, &size) <= 0 ||
			    size == 0)
				return;
			size_t n = (size_t)I_MIN((uint64_t)size,
						 iclient->cmd_literal_left);
			str_append_data(iclient->cmd_buf, data, n);
			conn_input_skip(client->conn, n);
			iclient->cmd_literal_left -= n;
			continue;
		}
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
		bool cont;
		if (iclient->authenticating) {
			T_BEGIN {
				cont = imap_login_authenticate_line(iclient,
					t_strndup(line, len));
			} T_END;
			/* SCRAM's last (empty) response may start the
			   hand-off at once, which takes the conn away */
			if (!cont || client->conn == NULL)
				return;
			continue;
		}
		if (len == 0 && iclient->skip_tag == NULL &&
		    iclient->cmd_buf == NULL)
			continue; /* empty lines are ignored, as Dovecot does */
		T_BEGIN {
			char *copy = t_malloc(len + 1);
			memcpy(copy, line, len);
			cont = imap_login_line(iclient, copy, len);
		} T_END;
		if (!cont)
			return;
	}
}

/* RFC 8437: the OK of UNAUTHENTICATE comes once the client is in the
   not-authenticated state here; it lists what CAPABILITY would now. */
static void imap_login_client_unauthenticated(struct login_client *client,
					      const char *tag)
{
	struct imap_login_client *iclient = (struct imap_login_client *)client;

	iclient->authenticating = false;
	conn_printf(client->conn, "%s OK [CAPABILITY %s] Unauthenticate "
		    "completed, now in not authenticated state.\r\n", tag,
		    imap_login_capability(client));
}

static void imap_login_client_destroy(struct login_client *client)
{
	struct imap_login_client *iclient = (struct imap_login_client *)client;
	i_free(iclient->skip_tag);
	imap_login_cmd_buf_free(iclient);
}

static const struct login_protocol imap_login_protocol = {
	.name = "imap",
	.client_size = sizeof(struct imap_login_client),
	.max_line_length = IMAP_LOGIN_MAX_LINE_LENGTH,
	.client_created = imap_login_client_created,
	.client_input = imap_login_client_input,
	.client_bye = imap_login_client_bye,
	.client_destroy = imap_login_client_destroy,
	.auth_challenge = imap_login_auth_challenge,
	.auth_failed = imap_login_auth_failed,
	.service = "imap",
	.client_unauthenticated = imap_login_client_unauthenticated,
};

int imap_login_main(void)
{
	return login_main(&imap_login_protocol);
}
