/* NOOP (RFC 9051 §6.1.2): nothing but the untagged updates that
   client_send_tagline() sends for a selected mailbox. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_noop(struct client_command_context *cmd)
{
	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "NOOP takes no arguments.");
		return true;
	}
	client_send_tagline(cmd, "OK NOOP completed.");
	return true;
}
