/* ID (RFC 2971): log what the client says it is, answer with our name.
   The client's list is "(" *(string SP nstring) ")" or NIL, at most 30
   pairs, field names up to 30 bytes, values up to 1024. */
#include "lib.h"
#include "event.h"
#include "imap-common.h"

#define ID_MAX_PAIRS 30
#define ID_MAX_FIELD_LEN 30
#define ID_MAX_VALUE_LEN 1024

static int id_parse(const struct imap_arg *list, string_t *log,
		    const char **error_r)
{
	unsigned int pairs = 0;

	while (!IMAP_ARG_IS_EOL(list)) {
		const char *key, *value;

		if (!imap_arg_get_string(&list[0], &key) ||
		    IMAP_ARG_IS_EOL(&list[1]) ||
		    !imap_arg_get_nstring(&list[1], &value)) {
			*error_r = "Invalid ID list.";
			return -1;
		}
		if (++pairs > ID_MAX_PAIRS || strlen(key) > ID_MAX_FIELD_LEN ||
		    (value != NULL && strlen(value) > ID_MAX_VALUE_LEN)) {
			*error_r = "ID list too long.";
			return -1;
		}
		if (str_len(log) > 0)
			str_append(log, ", ");
		str_printfa(log, "%s=", key);
		/* the log line stays one line whatever the client sends */
		for (const char *p = value == NULL ? "NIL" : value; *p != '\0';
		     p++)
			str_append_c(log, (unsigned char)*p < 0x20 ? '?' : *p);
		list += 2;
	}
	return 0;
}

bool imap_cmd_id(struct client_command_context *cmd)
{
	const struct imap_arg *list;
	const char *error;

	if (IMAP_ARG_IS_EOL(&cmd->args[0]) || !IMAP_ARG_IS_EOL(&cmd->args[1])) {
		client_send_command_error(cmd, "ID takes one argument.");
		return true;
	}
	if (!IMAP_ARG_IS_NIL(&cmd->args[0])) {
		if (!imap_arg_get_list(&cmd->args[0], &list, NULL)) {
			client_send_command_error(cmd, "Invalid ID list.");
			return true;
		}
		string_t *log = t_str_new(128);
		if (id_parse(list, log, &error) < 0) {
			client_send_command_error(cmd, error);
			return true;
		}
		if (str_len(log) > 0)
			e_info(cmd->client->event, "ID sent: %s", str_c(log));
	}
	client_send_line(cmd->client, "* ID (\"name\" \"Columba\")");
	client_send_tagline(cmd, "OK ID completed.");
	return true;
}
