/* DELETE (RFC 9051 §6.3.5): a mailbox with children becomes \Noselect;
   a \Noselect name with children cannot be deleted ([HASCHILDREN]); INBOX
   cannot be deleted ([CANNOT]); subscriptions stay (RFC 9051 §6.3.7).
   Deleting the selected mailbox first leaves the selected state, as
   Dovecot does, with [CLOSED] for clients that track it. */
#include "lib.h"
#include "imap-common.h"

bool cmd_delete(struct client_command_context *cmd)
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
	if (client->mailbox != NULL && strcmp(storage_name, "INBOX") != 0 &&
	    strcmp(mailbox_get_name(client->mailbox), storage_name) == 0) {
		client_mailbox_close(client);
		if ((client->enabled & (CLIENT_ENABLED_QRESYNC |
					CLIENT_ENABLED_IMAP4REV2)) != 0)
			client_send_line(client,
				"* OK [CLOSED] Previous mailbox closed.");
	}
	if (mail_user_mailbox_delete(client->user, storage_name) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	client_send_tagline(cmd, "OK Delete completed.");
	return true;
}
