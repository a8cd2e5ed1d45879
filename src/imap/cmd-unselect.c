/* UNSELECT (RFC 3691, IMAP4rev2): close without expunging. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_unselect(struct client_command_context *cmd)
{
	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "UNSELECT takes no arguments.");
		return true;
	}
	client_mailbox_close(cmd->client);
	client_send_tagline(cmd, "OK Unselect completed.");
	return true;
}
