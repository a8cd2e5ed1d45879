/* LSUB (RFC 3501 §6.3.9; IMAP4rev1 only, RFC 9051 dropped it for
   LIST (SUBSCRIBED)): the subscribed names matching the pattern. A name
   that is not subscribed itself but has a subscribed descendant the
   pattern does not match is reported \Noselect, as RFC 3501 asks for
   "%" patterns; a subscribed name that is not a selectable mailbox is
   \Noselect too. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"

struct cmd_lsub_context {
	ARRAY_TYPE(imap_list_entry) entries;
	unsigned int next;
};

static void lsub_send_entry(struct client *client,
			    const struct imap_list_entry *e)
{
	string_t *str = t_str_new(128);
	bool noselect = !e->selected || !e->exists || e->noselect;

	str_printfa(str, "* LSUB (%s) \"%c\" ", noselect ? "\\Noselect" : "",
		    MAIL_INDEX_HIERARCHY_SEP);
	imap_write_astring(str, client_mailbox_name_to_imap(client, e->name),
			   client_mailbox_names_utf8(client));
	client_send_line(client, str_c(str));
}

static bool cmd_lsub_continue(struct client_command_context *cmd)
{
	struct cmd_lsub_context *ctx = cmd->context;

	while (ctx->next < array_count(&ctx->entries)) {
		if (client_output_is_full(cmd->client))
			return false;
		T_BEGIN {
			lsub_send_entry(cmd->client,
					&ctx->entries.v[ctx->next]);
		} T_END;
		ctx->next++;
	}
	client_send_tagline(cmd, "OK Lsub completed.");
	return true;
}

bool cmd_lsub(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct cmd_lsub_context *ctx;
	const char *ref, *pattern, *error;

	if ((client->enabled & CLIENT_ENABLED_IMAP4REV2) != 0) {
		client_send_command_error(cmd,
			"LSUB is not an IMAP4rev2 command; use LIST (SUBSCRIBED).");
		return true;
	}
	if (!imap_arg_get_astring(&args[0], &ref) ||
	    !imap_arg_get_astring(&args[1], &pattern) ||
	    !IMAP_ARG_IS_EOL(&args[2])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (pattern[0] == '\0') {
		/* as LIST: the delimiter (RFC 3501 allows LSUB "" "") */
		client_send_linef(client, "* LSUB (\\Noselect) \"%c\" \"\"",
				  MAIL_INDEX_HIERARCHY_SEP);
		client_send_tagline(cmd, "OK Lsub completed.");
		return true;
	}
	pattern = imap_list_pattern_to_storage(ref, pattern,
		client_mailbox_names_utf8(client), &error);
	if (pattern == NULL) {
		client_send_command_error(cmd, error);
		return true;
	}
	const char *patterns[] = { pattern, NULL };
	ctx = p_new(cmd->pool, struct cmd_lsub_context, 1);
	array_init(&ctx->entries, cmd->pool, 16);
	if (imap_list_collect(client->user, patterns,
			      IMAP_LIST_SELECT_SUBSCRIBED |
			      IMAP_LIST_SELECT_RECURSIVEMATCH,
			      cmd->pool, &ctx->entries) < 0) {
		client_send_tagline(cmd, imap_index_error_line(client));
		return true;
	}
	cmd->context = ctx;
	cmd->func = cmd_lsub_continue;
	return cmd_lsub_continue(cmd);
}
