/* EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): remove the
   selected mailbox's messages that have \Deleted (for UID EXPUNGE only
   those in the UID set). The EXPUNGE responses - VANISHED for a QRESYNC
   client (RFC 7162 §3.2.10) - come from the sync that precedes the tagged
   reply, in the order RFC 9051 §7.5.1 requires (each number as it is at
   the moment that response is sent). */
#include "lib.h"
#include "imap-common.h"
#include "imap-save.h"
#include "event.h"

bool imap_cmd_expunge(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	ARRAY_TYPE(seq_range) uids, expunged;
	const char *set, *error;
	int ret;

	if (cmd->uid) {
		if (!imap_arg_get_atom(&args[0], &set) ||
		    !IMAP_ARG_IS_EOL(&args[1])) {
			client_send_command_error(cmd,
				"UID EXPUNGE needs a UID set.");
			return true;
		}
	} else if (!IMAP_ARG_IS_EOL(&args[0])) {
		client_send_command_error(cmd, "EXPUNGE takes no arguments.");
		return true;
	}
	if (client->mailbox_readonly) {
		client_send_tagline(cmd, "NO Mailbox is read-only.");
		return true;
	}
	array_init(&uids, cmd->pool, 8);
	array_init(&expunged, cmd->pool, 8);
	if (cmd->uid) {
		if (imap_save_parse_msgset(client, set, true, &uids,
					   &error) < 0) {
			client_send_command_error(cmd, error);
			return true;
		}
		if (array_count(&uids) == 0) {
			client_send_tagline(cmd, "OK Expunge completed.");
			return true;
		}
		ret = mailbox_expunge(client->mailbox, &uids, true, &expunged);
	} else {
		ret = mailbox_expunge(client->mailbox, NULL, true, &expunged);
	}
	if (ret < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	e_debug(client->event, "EXPUNGE: %u messages",
		seq_range_count(&expunged));
	client_send_tagline(cmd, "OK Expunge completed.");
	return true;
}
