/* LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258: selection options
   SUBSCRIBED, REMOTE, RECURSIVEMATCH; return options SUBSCRIBED,
   CHILDREN; several patterns; CHILDINFO), SPECIAL-USE (RFC 6154) and
   LIST-STATUS (RFC 5819). The answer is computed at once (imap-list.c)
   and written with back-pressure. Plain LIST reports children and
   special-use attributes unasked, as Dovecot does; an extended LIST
   reports what its options ask for. */
#include "lib.h"
#include "event.h"
#include "imap-common.h"
#include "imap-list.h"
#include "imap-status.h"

struct cmd_list_context {
	ARRAY_TYPE(imap_list_entry) entries;
	unsigned int next;
	enum imap_list_select select;
	enum imap_status_items status_items;
	bool extended;
	bool ret_subscribed, ret_children, ret_special_use;
};

static int list_parse_select(struct cmd_list_context *ctx,
			     const struct imap_arg *list, const char **error_r)
{
	const char *name;

	for (; !IMAP_ARG_IS_EOL(list); list++) {
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid LIST selection option.";
			return -1;
		}
		if (strcasecmp(name, "SUBSCRIBED") == 0) {
			ctx->select |= IMAP_LIST_SELECT_SUBSCRIBED;
			ctx->ret_subscribed = true;
		} else if (strcasecmp(name, "SPECIAL-USE") == 0) {
			ctx->select |= IMAP_LIST_SELECT_SPECIAL_USE;
			ctx->ret_special_use = true;
		} else if (strcasecmp(name, "RECURSIVEMATCH") == 0) {
			ctx->select |= IMAP_LIST_SELECT_RECURSIVEMATCH;
		} else if (strcasecmp(name, "REMOTE") == 0) {
			/* there are no remote mailboxes to add */
		} else {
			*error_r = t_strdup_printf(
				"Unknown LIST selection option: %s",
				str_sanitize(name, 40));
			return -1;
		}
	}
	if ((ctx->select & IMAP_LIST_SELECT_RECURSIVEMATCH) != 0 &&
	    (ctx->select & (IMAP_LIST_SELECT_SUBSCRIBED |
			    IMAP_LIST_SELECT_SPECIAL_USE)) == 0) {
		/* RFC 5258 §3.1 */
		*error_r = "RECURSIVEMATCH needs another selection option.";
		return -1;
	}
	return 0;
}

static int list_parse_return(struct client *client,
			     struct cmd_list_context *ctx,
			     const struct imap_arg *list, const char **error_r)
{
	const char *name;

	for (; !IMAP_ARG_IS_EOL(list); list++) {
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid LIST return option.";
			return -1;
		}
		if (strcasecmp(name, "SUBSCRIBED") == 0)
			ctx->ret_subscribed = true;
		else if (strcasecmp(name, "CHILDREN") == 0)
			ctx->ret_children = true;
		else if (strcasecmp(name, "SPECIAL-USE") == 0)
			ctx->ret_special_use = true;
		else if (strcasecmp(name, "STATUS") == 0) {
			list++;
			if (IMAP_ARG_IS_EOL(list) ||
			    imap_status_parse_items(client, list,
						    &ctx->status_items,
						    error_r) < 0) {
				if (IMAP_ARG_IS_EOL(list))
					*error_r = "STATUS needs a list of items.";
				return -1;
			}
		} else {
			*error_r = t_strdup_printf(
				"Unknown LIST return option: %s",
				str_sanitize(name, 40));
			return -1;
		}
	}
	return 0;
}

static void list_send_entry(struct client *client,
			    const struct cmd_list_context *ctx,
			    const struct imap_list_entry *e)
{
	bool utf8 = client_mailbox_names_utf8(client);
	string_t *str = t_str_new(128);
	size_t start;

	str_append(str, "* LIST (");
	start = str_len(str);
	/* the order of RFC 5258's examples: children, \Subscribed,
	   \NonExistent */
	if (!ctx->extended || ctx->ret_children) {
		str_append(str, e->has_children ? "\\HasChildren " :
			   "\\HasNoChildren ");
	}
	if (ctx->ret_subscribed && e->subscribed)
		str_append(str, "\\Subscribed ");
	if (!e->exists)
		str_append(str, "\\NonExistent ");
	else if (e->noselect)
		str_append(str, "\\Noselect ");
	if ((!ctx->extended || ctx->ret_special_use) && e->special_use != 0)
		str_printfa(str, "%s ", mail_special_use_to_str(e->special_use));
	if (str_len(str) > start)
		str_truncate(str, str_len(str) - 1);
	str_printfa(str, ") \"%c\" ", MAIL_INDEX_HIERARCHY_SEP);
	imap_write_astring(str, client_mailbox_name_to_imap(client, e->name),
			   utf8);
	if (e->childinfo) {
		str_append(str, " (\"CHILDINFO\" (");
		if ((ctx->select & IMAP_LIST_SELECT_SUBSCRIBED) != 0)
			str_append(str, "\"SUBSCRIBED\" ");
		if ((ctx->select & IMAP_LIST_SELECT_SPECIAL_USE) != 0)
			str_append(str, "\"SPECIAL-USE\" ");
		str_truncate(str, str_len(str) - 1);
		str_append(str, "))");
	}
	client_send_line(client, str_c(str));

	/* RFC 5819: STATUS only for the selectable mailboxes listed; one
	   that went away meanwhile is simply left out */
	if (ctx->status_items != 0 && e->exists && !e->noselect &&
	    imap_status_send(client, e->id, e->name, ctx->status_items) < 0) {
		e_debug(client->event, "LIST-STATUS of %s skipped: %s",
			str_sanitize(e->name, 100),
			imap_index_error_line(client));
	}
}

static bool cmd_list_continue(struct client_command_context *cmd)
{
	struct cmd_list_context *ctx = cmd->context;

	while (ctx->next < array_count(&ctx->entries)) {
		if (client_output_is_full(cmd->client))
			return false;
		T_BEGIN {
			list_send_entry(cmd->client, ctx,
					&ctx->entries.v[ctx->next]);
		} T_END;
		ctx->next++;
	}
	client_send_tagline(cmd, "OK List completed.");
	return true;
}

bool cmd_list(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args, *list;
	struct cmd_list_context *ctx;
	ARRAY(const char *) patterns;
	const char *ref, *pattern, *error;
	bool utf8 = client_mailbox_names_utf8(client);
	bool single_empty = false;

	ctx = p_new(cmd->pool, struct cmd_list_context, 1);
	array_init(&patterns, cmd->pool, 4);

	if (imap_arg_get_list(args, &list, NULL)) {
		ctx->extended = true;
		if (list_parse_select(ctx, list, &error) < 0) {
			client_send_command_error(cmd, error);
			return true;
		}
		args++;
	}
	if (!imap_arg_get_astring(&args[0], &ref)) {
		client_send_command_error(cmd, "Invalid reference.");
		return true;
	}
	if (imap_arg_get_list(&args[1], &list, NULL)) {
		ctx->extended = true;
		if (IMAP_ARG_IS_EOL(list)) {
			client_send_command_error(cmd, "Empty pattern list.");
			return true;
		}
		for (; !IMAP_ARG_IS_EOL(list); list++) {
			if (!imap_arg_get_astring(list, &pattern)) {
				client_send_command_error(cmd,
							  "Invalid pattern.");
				return true;
			}
			array_push(&patterns, pattern);
		}
	} else if (imap_arg_get_astring(&args[1], &pattern)) {
		array_push(&patterns, pattern);
		single_empty = pattern[0] == '\0';
	} else {
		client_send_command_error(cmd, "Invalid pattern.");
		return true;
	}
	args += 2;
	if (!IMAP_ARG_IS_EOL(args)) {
		ctx->extended = true;
		if (!imap_arg_atom_equals(&args[0], "RETURN") ||
		    !imap_arg_get_list(&args[1], &list, NULL) ||
		    !IMAP_ARG_IS_EOL(&args[2])) {
			client_send_command_error(cmd,
				"Invalid arguments after the pattern.");
			return true;
		}
		if (list_parse_return(client, ctx, list, &error) < 0) {
			client_send_command_error(cmd, error);
			return true;
		}
	}

	if (single_empty) {
		/* RFC 9051 §6.3.9: the hierarchy delimiter and the root
		   name; the one namespace's root is "" */
		client_send_linef(client, "* LIST (\\Noselect) \"%c\" \"\"",
				  MAIL_INDEX_HIERARCHY_SEP);
		client_send_tagline(cmd, "OK List completed.");
		return true;
	}
	for (unsigned int i = 0; i < array_count(&patterns); i++) {
		const char *p = imap_list_pattern_to_storage(
			ref, patterns.v[i], utf8, &error);
		if (p == NULL) {
			client_send_command_error(cmd, error);
			return true;
		}
		patterns.v[i] = p_strdup(cmd->pool, p);
	}
	array_push(&patterns, NULL);

	array_init(&ctx->entries, cmd->pool, 16);
	if (imap_list_collect(client->user, patterns.v, ctx->select,
			      cmd->pool, &ctx->entries) < 0) {
		client_send_tagline(cmd, imap_index_error_line(client));
		return true;
	}
	cmd->context = ctx;
	cmd->func = cmd_list_continue;
	return cmd_list_continue(cmd);
}
