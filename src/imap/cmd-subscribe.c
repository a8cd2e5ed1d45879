/* SUBSCRIBE (RFC 9051 §6.3.7): only an existing mailbox can be
   subscribed ([NONEXISTENT] otherwise, as Dovecot); subscribing twice is
   not an error. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"

bool cmd_subscribe(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct mail_index_mailbox box;
	const char *name, *storage_name;
	int ret;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    !IMAP_ARG_IS_EOL(&args[1])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (!client_command_mailbox_name(cmd, name, &storage_name))
		return true;
	ret = mail_index_mailbox_lookup(mail_user_get_index(client->user),
					storage_name, cmd->pool, &box);
	if (ret <= 0) {
		client_send_tagline(cmd, imap_index_error_line(client));
		return true;
	}
	if (mail_user_mailbox_subscribe(client->user, box.name, true) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	client_send_tagline(cmd, "OK Subscribe completed.");
	return true;
}
