/* NAMESPACE (RFC 2342): one personal namespace, prefix "", hierarchy
   separator "/" (the storage's MAIL_INDEX_HIERARCHY_SEP); no other
   users' or shared namespaces. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_namespace(struct client_command_context *cmd)
{
	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "NAMESPACE takes no arguments.");
		return true;
	}
	client_send_linef(cmd->client, "* NAMESPACE ((\"\" \"%c\")) NIL NIL",
			  MAIL_INDEX_HIERARCHY_SEP);
	client_send_tagline(cmd, "OK Namespace completed.");
	return true;
}
