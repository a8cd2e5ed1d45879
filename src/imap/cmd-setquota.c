/* SETQUOTA quota-root (resource limit ...) (RFC 9208 §4.1.3): quotas
   are the administrator's (quota_rule settings and userdb fields), so
   the command is refused; QUOTASET is not advertised. The arguments
   are still checked, so a malformed command is BAD as the grammar says. */
#include "lib.h"
#include "imap-common.h"

bool imap_cmd_setquota(struct client_command_context *cmd)
{
	const struct imap_arg *list;
	const char *root, *resource, *limit;
	uint64_t value;

	if (!imap_arg_get_astring(&cmd->args[0], &root) ||
	    !imap_arg_get_list(&cmd->args[1], &list, NULL) ||
	    !IMAP_ARG_IS_EOL(&cmd->args[2])) {
		client_send_command_error(cmd,
			"SETQUOTA needs a quota root and a list of limits.");
		return true;
	}
	for (; !IMAP_ARG_IS_EOL(list); list += 2) {
		if (!imap_arg_get_atom(&list[0], &resource) ||
		    !imap_arg_get_atom(&list[1], &limit) ||
		    str_to_uint64(limit, &value) < 0) {
			client_send_command_error(cmd,
				"Invalid SETQUOTA resource limit.");
			return true;
		}
	}
	client_send_tagline(cmd, "NO [NOPERM] Quota limits are set by the "
			    "administrator.");
	return true;
}
