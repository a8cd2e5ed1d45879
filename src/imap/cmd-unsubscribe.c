/* UNSUBSCRIBE (RFC 9051 §6.3.8): any name, existing or not, can be
   removed from the subscriptions; removing one that is not there is not
   an error (Dovecot agrees). */
#include "lib.h"
#include "imap-common.h"

bool cmd_unsubscribe(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	const char *name, *storage_name, *error;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    !IMAP_ARG_IS_EOL(&args[1])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	int ret = client_mailbox_name_to_storage(client, name,
						 &storage_name, &error);
	if (ret == -2) {
		/* malformed in the client's encoding (RFC 6855 §3) */
		client_send_command_error(cmd, error);
		return true;
	}
	if (ret < 0) {
		client_send_tagline(cmd, t_strdup_printf("NO [CANNOT] %s",
							 error));
		return true;
	}
	if (mail_user_mailbox_subscribe(client->user, storage_name,
					false) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	client_send_tagline(cmd, "OK Unsubscribe completed.");
	return true;
}
