/* CLOSE (RFC 9051 §6.4.1): expunge the \Deleted messages silently (no
   EXPUNGE responses) unless the mailbox is read-only, then return to the
   authenticated state. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_close(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "CLOSE takes no arguments.");
		return true;
	}
	if (!client->mailbox_readonly &&
	    mailbox_expunge(client->mailbox, NULL, true, NULL) < 0) {
		/* RFC: the mailbox is closed even when expunging fails */
		const char *line = client_storage_error_line(client);
		client_mailbox_close(client);
		client_send_tagline(cmd, line);
		return true;
	}
	client_mailbox_close(client);
	client_send_tagline(cmd, "OK Close completed.");
	return true;
}
