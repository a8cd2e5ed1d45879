/* LOGOUT (RFC 9051 §6.1.3): BYE, then the tagged OK, then close. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_logout(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "LOGOUT takes no arguments.");
		return true;
	}
	client_send_line(client, "* BYE Logging out");
	/* no untagged updates after the BYE */
	client_mailbox_close(client);
	client_send_tagline(cmd, "OK Logout completed.");
	client->logged_out = true;
	client->disconnect_after_cmd = true;
	client->disconnect_bye = NULL;
	client->disconnect_reason = "Logged out";
	return true;
}
