/* RENAME (RFC 9051 §6.3.6): children and subscriptions follow, the new
   name's missing parents are created; renaming INBOX moves its messages
   to the new name and leaves an empty INBOX (lib-index does the work).
   The selected mailbox may be renamed: the session's view follows the
   mailbox, not its name. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"

bool cmd_rename(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	const char *old_name, *new_name, *old_storage, *new_storage;

	if (!imap_arg_get_astring(&args[0], &old_name) ||
	    !imap_arg_get_astring(&args[1], &new_name) ||
	    !IMAP_ARG_IS_EOL(&args[2])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (!client_command_mailbox_name(cmd, old_name, &old_storage) ||
	    !client_command_mailbox_name(cmd, new_name, &new_storage))
		return true;
	if (mail_user_mailbox_rename(client->user, old_storage,
				     new_storage) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	/* RFC 9051 §6.3.6: when either name was normalized, LIST with the
	   new name and the supplied old one as OLDNAME */
	if (strcasecmp(client_mailbox_name_to_imap(client, old_storage),
		       old_name) != 0 ||
	    strcasecmp(client_mailbox_name_to_imap(client, new_storage),
		       new_name) != 0)
		imap_list_send_oldname(client, "", old_name, new_storage);
	client_send_tagline(cmd, "OK Rename completed.");
	return true;
}
