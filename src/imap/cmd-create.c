/* CREATE (RFC 9051 §6.3.4) with CREATE-SPECIAL-USE (RFC 6154 §3):
   missing parents are created too; "foo/" creates "foo". The virtual
   special uses (\All, \Flagged, \Important) are refused with
   [USEATTR]: this server has no virtual mailboxes to give them. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"

#define CREATE_VIRTUAL_USES \
	(MAIL_SPECIAL_USE_ALL | MAIL_SPECIAL_USE_FLAGGED | \
	 MAIL_SPECIAL_USE_IMPORTANT)

/* (USE (\Drafts ...)): returns 1 with *use_r, -1 with *error_r for BAD,
   0 with *error_r for NO [USEATTR]. */
static int create_parse_params(const struct imap_arg *params,
			       enum mail_special_use *use_r,
			       const char **error_r)
{
	const struct imap_arg *list;

	for (; !IMAP_ARG_IS_EOL(params); params++) {
		if (!imap_arg_atom_equals(params, "USE")) {
			*error_r = "Unknown CREATE parameter.";
			return -1;
		}
		params++;
		if (!imap_arg_get_list(params, &list, NULL)) {
			*error_r = "USE needs a list of attributes.";
			return -1;
		}
		string_t *str = t_str_new(64);
		const char *attr;
		for (; !IMAP_ARG_IS_EOL(list); list++) {
			if (!imap_arg_get_atom(list, &attr) || attr[0] != '\\') {
				*error_r = "Invalid special-use attribute.";
				return -1;
			}
			if (str_len(str) > 0)
				str_append_c(str, ' ');
			str_append(str, attr);
		}
		enum mail_special_use use = 0;
		if (mail_special_use_parse(str_c(str), &use) < 0) {
			*error_r = "Unknown special-use attribute.";
			return 0;
		}
		if ((use & CREATE_VIRTUAL_USES) != 0) {
			*error_r = t_strdup_printf(
				"%s is a virtual mailbox this server does not provide.",
				mail_special_use_to_str(use & CREATE_VIRTUAL_USES));
			return 0;
		}
		*use_r |= use;
	}
	return 1;
}

bool cmd_create(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args, *params = NULL;
	enum mail_special_use use = 0;
	const char *name, *storage_name, *error;
	int ret;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    (!IMAP_ARG_IS_EOL(&args[1]) &&
	     (!imap_arg_get_list(&args[1], &params, NULL) ||
	      !IMAP_ARG_IS_EOL(&args[2])))) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (params != NULL &&
	    (ret = create_parse_params(params, &use, &error)) <= 0) {
		if (ret < 0)
			client_send_command_error(cmd, error);
		else {
			client_send_tagline(cmd, t_strdup_printf(
				"NO [USEATTR] %s", error));
		}
		return true;
	}
	if (!client_command_mailbox_name(cmd, name, &storage_name))
		return true;
	if (mail_user_mailbox_create(client->user, storage_name, use) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	/* RFC 9051 §6.3.4: a normalized name is reported with OLDNAME */
	imap_list_send_oldname(client, "", name, storage_name);
	/* RFC 8474 §4.1: the new mailbox's MAILBOXID (its GUID, as SELECT
	   and STATUS report it) */
	struct mail_index_mailbox mbox;
	const char *canonical =
		mail_index_mailbox_name_normalize(storage_name, &error);
	if (canonical != NULL &&
	    mail_index_mailbox_lookup(mail_user_get_index(client->user),
				      canonical, pool_datastack, &mbox) > 0) {
		client_send_tagline(cmd, t_strdup_printf(
			"OK [MAILBOXID (F%s)] Create completed.", mbox.guid));
		return true;
	}
	client_send_tagline(cmd, "OK Create completed.");
	return true;
}
