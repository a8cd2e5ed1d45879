/* STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438), HIGHESTMODSEQ
   (RFC 7162) and APPENDLIMIT (RFC 7889): a mailbox's counters from the
   index without opening it. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"
#include "imap-status.h"

bool cmd_status(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct mail_index_mailbox box;
	enum imap_status_items items;
	const char *name, *storage_name, *error;
	int ret;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    IMAP_ARG_IS_EOL(&args[1]) || !IMAP_ARG_IS_EOL(&args[2])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (imap_status_parse_items(client, &args[1], &items, &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	if ((ret = client_mailbox_name_to_storage(client, name, &storage_name,
						  &error)) < 0) {
		if (ret == -2)
			client_send_command_error(cmd, error);
		else
			client_send_tagline(cmd, t_strdup_printf("NO %s",
								 error));
		return true;
	}
	ret = mail_index_mailbox_lookup(mail_user_get_index(client->user),
					storage_name, cmd->pool, &box);
	if (ret < 0) {
		client_send_tagline(cmd, imap_index_error_line(client));
		return true;
	}
	if (ret == 0 || box.noselect) {
		/* a \Noselect name has no counters to report */
		client_send_tagline(cmd, ret == 0 ?
			imap_index_error_line(client) :
			"NO [NONEXISTENT] Mailbox isn't selectable.");
		return true;
	}
	if (imap_status_send(client, box.id, box.name, items) < 0) {
		client_send_tagline(cmd, imap_index_error_line(client));
		return true;
	}
	client_send_tagline(cmd, "OK Status completed.");
	return true;
}
