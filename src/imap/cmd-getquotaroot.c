/* GETQUOTAROOT mailbox (RFC 9208 §4.1.2): every mailbox of the user,
   existing or not (the RFC lets a client ask before creating one), is
   under the user's one quota root. */
#include "lib.h"
#include "imap-common.h"
#include "imap-quota.h"

bool imap_cmd_getquotaroot(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const char *name, *storage_name;

	if (!imap_arg_get_astring(&cmd->args[0], &name) ||
	    !IMAP_ARG_IS_EOL(&cmd->args[1])) {
		client_send_command_error(cmd, "GETQUOTAROOT needs a mailbox.");
		return true;
	}
	if (!client_command_mailbox_name(cmd, name, &storage_name))
		return true;
	string_t *str = t_str_new(128);
	str_append(str, "* QUOTAROOT ");
	imap_write_astring(str, client_mailbox_name_to_imap(client,
							    storage_name),
			   client_mailbox_names_utf8(client));
	str_append_c(str, ' ');
	imap_write_astring(str, IMAP_QUOTA_ROOT_NAME, false);
	client_send_line(client, str_c(str));
	if (imap_quota_send(client) < 0) {
		client_send_tagline(cmd, client_storage_error_line(client));
		return true;
	}
	client_send_tagline(cmd, "OK Getquotaroot completed.");
	return true;
}
