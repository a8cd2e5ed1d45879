/* UNSUBSCRIBE (RFC 9051 §6.3.8): any name, existing or not, can be
   removed from the subscriptions; removing one that is not there is not
   an error (Dovecot agrees). */
#include "lib.h"
#include "imap-common.h"

bool cmd_unsubscribe(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	const char *name, *storage_name;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    !IMAP_ARG_IS_EOL(&args[1])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (!client_command_mailbox_name(cmd, name, &storage_name))
		return true;
	if (mail_user_mailbox_subscribe(client->user, storage_name,
					false) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	client_send_tagline(cmd, "OK Unsubscribe completed.");
	return true;
}
