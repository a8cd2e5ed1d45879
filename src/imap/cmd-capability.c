/* CAPABILITY (RFC 9051 §6.1.1). */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_capability(struct client_command_context *cmd)
{
	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "CAPABILITY takes no arguments.");
		return true;
	}
	client_send_linef(cmd->client, "* CAPABILITY %s",
			  client_capability_string(cmd->client));
	client_send_tagline(cmd, "OK Capability completed.");
	return true;
}
