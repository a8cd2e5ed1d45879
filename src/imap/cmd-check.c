/* CHECK (RFC 3501 §6.4.1; gone from IMAP4rev2 but still sent by rev1
   clients): every change is already durable, so it is a NOOP with a
   full sync. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_check(struct client_command_context *cmd)
{
	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "CHECK takes no arguments.");
		return true;
	}
	client_send_tagline(cmd, "OK Check completed.");
	return true;
}
