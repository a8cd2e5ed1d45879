/* STORE and UID STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE
   (RFC 7162 §3.1.3): change flags and keywords (new keywords are
   created; PERMANENTFLAGS offers \*), then report every message of the
   set in an untagged FETCH unless .SILENT, and the messages that failed
   UNCHANGEDSINCE in [MODIFIED set]. */
#include "lib.h"
#include "event.h"
#include "imap-common.h"
#include "imap-flags.h"
#include "imap-msg-util.h"

static bool parse_modseq(const char *str, uint64_t *num_r)
{
	uint64_t n = 0;

	if (*str == '\0')
		return false;
	for (; *str != '\0'; str++) {
		if (*str < '0' || *str > '9' ||
		    n > (UINT64_MAX - (uint64_t)(*str - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*str - '0');
	}
	/* mod-sequence-valzer: 0 is allowed for UNCHANGEDSINCE */
	*num_r = n;
	return true;
}

/* (UNCHANGEDSINCE n) */
static int store_parse_modifiers(const struct imap_arg *arg,
				 struct mail_index_flag_update *update,
				 const char **error_r)
{
	const struct imap_arg *list;
	const char *name, *value;
	unsigned int count;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0 ||
	    count % 2 != 0) {
		*error_r = "Invalid STORE modifiers.";
		return -1;
	}
	for (; !IMAP_ARG_IS_EOL(list); list += 2) {
		if (!imap_arg_get_atom(&list[0], &name) ||
		    !imap_arg_get_atom(&list[1], &value)) {
			*error_r = "Invalid STORE modifiers.";
			return -1;
		}
		if (strcasecmp(name, "UNCHANGEDSINCE") != 0) {
			*error_r = t_strdup_printf("Unknown STORE modifier %s.",
						   str_sanitize(name, 40));
			return -1;
		}
		if (update->unchangedsince_set ||
		    !parse_modseq(value, &update->unchangedsince)) {
			*error_r = "Invalid UNCHANGEDSINCE value.";
			return -1;
		}
		update->unchangedsince_set = true;
	}
	return 0;
}

/* FLAGS / +FLAGS / -FLAGS, optionally .SILENT */
static bool store_parse_item(const char *item,
			     enum mail_index_modify_type *type_r,
			     bool *silent_r)
{
	if (*item == '+') {
		*type_r = MAIL_INDEX_MODIFY_ADD;
		item++;
	} else if (*item == '-') {
		*type_r = MAIL_INDEX_MODIFY_REMOVE;
		item++;
	} else {
		*type_r = MAIL_INDEX_MODIFY_REPLACE;
	}
	if (strcasecmp(item, "FLAGS") == 0)
		*silent_r = false;
	else if (strcasecmp(item, "FLAGS.SILENT") == 0)
		*silent_r = true;
	else
		return false;
	return true;
}

bool cmd_store(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args, *flag_args;
	struct mail_index_flag_update update;
	ARRAY_TYPE(seq_range) seqs, uids, modified, changed, external;
	const char *set_str, *item, *error;
	enum imap_flag flags;
	bool silent;

	memset(&update, 0, sizeof(update));
	if (!imap_arg_get_atom(&args[0], &set_str)) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	args++;
	if (args->type == IMAP_ARG_LIST) {
		if (store_parse_modifiers(args, &update, &error) < 0) {
			client_send_command_error(cmd, error);
			return true;
		}
		args++;
	}
	if (!imap_arg_get_atom(&args[0], &item) ||
	    !store_parse_item(item, &update.type, &silent)) {
		client_send_command_error(cmd, "Invalid STORE data item.");
		return true;
	}
	args++;
	/* a list, or the flags as separate atoms (RFC 9051 store-att-flags) */
	if (args->type == IMAP_ARG_LIST) {
		if (!IMAP_ARG_IS_EOL(&args[1])) {
			client_send_command_error(cmd, "Invalid arguments.");
			return true;
		}
		(void)imap_arg_get_list(args, &flag_args, NULL);
	} else {
		if (IMAP_ARG_IS_EOL(args)) {
			client_send_command_error(cmd, "Missing flags.");
			return true;
		}
		flag_args = args;
	}
	if (imap_flags_parse(flag_args, cmd->pool, &flags, &update.keywords,
			     &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	update.flags = (enum mail_flags)flags;

	array_init(&seqs, cmd->pool, 8);
	if (imap_msgset_parse(client, set_str, cmd->uid, &seqs, &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (update.unchangedsince_set)
		imap_condstore_enable(client);
	if (client->mailbox_readonly) {
		client_send_tagline(cmd, "NO Mailbox is read-only.");
		return true;
	}

	array_init(&uids, cmd->pool, 8);
	array_init(&modified, cmd->pool, 4);
	array_init(&changed, cmd->pool, 8);
	array_init(&external, cmd->pool, 4);
	mailbox_seqs_to_uids(client->mailbox, &seqs, &uids);
	if (array_count(&uids) > 0 &&
	    mailbox_update_flags(client->mailbox, &uids, &update, &modified,
				 &changed, &external) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	/* A message that failed UNCHANGEDSINCE was changed by another
	   session: the sync reports that change like any other (RFC 7162
	   §3.1.3 example 6, RFC 9051 §6.4.6), as this STORE sends none for
	   it. So does a message another session changed since this one
	   last synced, when .SILENT keeps this STORE's FETCH back: "the
	   server SHOULD send an untagged FETCH response if a change to a
	   message's flags from an external source is observed" (RFC 9051
	   §6.4.6). */
	const struct seq_range *mod;
	array_foreach(&modified, mod)
		(void)seq_range_array_remove_range(&uids, mod->seq1, mod->seq2);
	if (!silent)
		array_clear(&external);
	array_foreach(&external, mod)
		(void)seq_range_array_remove_range(&uids, mod->seq1, mod->seq2);
	int ret = imap_sync_own_changes(client, &uids);
	if (ret < 0) {
		/* the flags are stored; the FETCH responses come from the
		   next successful sync */
		e_warning(client->event, "STORE: sync after the update failed");
	} else if (ret > 0) {
		/* the view is current: a second snapshot for the tagged reply
		   (its WAL read lock, its query) would find nothing new */
		cmd->view_synced = true;
	}

	/* RFC 7162 §3.1.3: with UNCHANGEDSINCE every changed message is
	   reported (with MODSEQ) even when .SILENT */
	bool report_changed = silent && update.unchangedsince_set;
	const struct seq_range *r;
	array_foreach(&seqs, r) {
		for (uint32_t seq = r->seq1; seq <= r->seq2; seq++) {
			uint32_t uid = mailbox_seq_to_uid(client->mailbox, seq);
			if (seq_range_exists(&modified, uid) ||
			    seq_range_exists(&external, uid))
				continue;
			if (silent && !(report_changed &&
					seq_range_exists(&changed, uid)))
				continue;
			T_BEGIN {
				imap_send_flags_fetch(client, seq, cmd->uid,
						      !silent);
			} T_END;
			if (seq == r->seq2)
				break;
		}
	}

	if (array_count(&modified) == 0) {
		client_send_tagline(cmd, "OK Store completed.");
		return true;
	}
	string_t *str = t_str_new(128);
	str_append(str, "OK [MODIFIED ");
	if (cmd->uid) {
		seq_range_write(str, &modified);
	} else {
		ARRAY_TYPE(seq_range) mod_seqs;
		array_init(&mod_seqs, pool_datastack, 4);
		mailbox_uids_to_seqs(client->mailbox, &modified, &mod_seqs);
		seq_range_write(str, &mod_seqs);
	}
	str_append(str, "] Conditional STORE failed.");
	client_send_tagline(cmd, str_c(str));
	return true;
}
