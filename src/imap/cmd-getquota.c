/* GETQUOTA quota-root (RFC 9208 §4.1.1): the user's one root's usage and
   limits (imap-quota.h); any other name is NO. */
#include "lib.h"
#include "imap-common.h"
#include "imap-quota.h"

bool imap_cmd_getquota(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const char *root;

	if (!imap_arg_get_astring(&cmd->args[0], &root) ||
	    !IMAP_ARG_IS_EOL(&cmd->args[1])) {
		client_send_command_error(cmd, "GETQUOTA needs a quota root.");
		return true;
	}
	if (strcmp(root, IMAP_QUOTA_ROOT_NAME) != 0) {
		client_send_tagline(cmd, "NO [NONEXISTENT] Quota root does not exist.");
		return true;
	}
	if (imap_quota_send(client) < 0) {
		client_send_tagline(cmd, client_storage_error_line(client));
		return true;
	}
	client_send_tagline(cmd, "OK Getquota completed.");
	return true;
}
