/* SELECT and EXAMINE (RFC 9051 §6.3.2-3) with the CONDSTORE and QRESYNC
   select parameters (RFC 7162 §3.1.8, §3.2.5): open the mailbox as the
   session's view and describe it. A previously selected mailbox is closed
   first, even when the new one cannot be opened. */
#include "lib.h"
#include "imap-common.h"
#include "imap-list.h"
#include "imap-seqset.h"

struct select_qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
	/* known-uids, or empty = 1:* */
	ARRAY_TYPE(seq_range) known_uids;
};

static bool parse_u64(const char *str, uint64_t *num_r)
{
	uint64_t n = 0;

	if (str[0] < '1' || str[0] > '9')
		return false;
	for (; *str != '\0'; str++) {
		if (*str < '0' || *str > '9' ||
		    n > (UINT64_MAX - (uint64_t)(*str - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*str - '0');
	}
	*num_r = n;
	return true;
}

/* (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])) */
static int parse_qresync(struct client_command_context *cmd,
			 const struct imap_arg *arg,
			 struct select_qresync *qr, const char **error_r)
{
	const struct imap_arg *list;
	const char *str;
	uint64_t num;
	unsigned int count;

	if (!imap_arg_get_list(arg, &list, &count) || count < 2 ||
	    count > 4) {
		*error_r = "Invalid QRESYNC parameters.";
		return -1;
	}
	if (!imap_arg_get_atom(&list[0], &str) || !parse_u64(str, &num) ||
	    num > UINT32_MAX) {
		*error_r = "Invalid QRESYNC uidvalidity.";
		return -1;
	}
	qr->uidvalidity = (uint32_t)num;
	if (!imap_arg_get_atom(&list[1], &str) || !parse_u64(str, &num)) {
		*error_r = "Invalid QRESYNC modseq.";
		return -1;
	}
	qr->modseq = num;
	array_init(&qr->known_uids, cmd->pool, 4);
	if (count >= 3) {
		if (!imap_arg_get_atom(&list[2], &str) ||
		    imap_seq_set_parse(str, UINT32_MAX, &qr->known_uids,
				       error_r) < 0) {
			*error_r = "Invalid QRESYNC known-uids.";
			return -1;
		}
	}
	/* the sequence match data only helps servers that cannot tell
	   which UIDs were expunged: the change log knows exactly */
	if (count == 4 && list[3].type != IMAP_ARG_LIST) {
		*error_r = "Invalid QRESYNC sequence match data.";
		return -1;
	}
	return 0;
}

static int select_parse_params(struct client_command_context *cmd,
			       const struct imap_arg *params,
			       bool *condstore_r, struct select_qresync *qr,
			       bool *qresync_r, const char **error_r)
{
	for (; !IMAP_ARG_IS_EOL(params); params++) {
		if (imap_arg_atom_equals(params, "CONDSTORE") &&
		    imap_capability_has("CONDSTORE")) {
			*condstore_r = true;
		} else if (imap_arg_atom_equals(params, "QRESYNC") &&
			   imap_capability_has("QRESYNC")) {
			if ((cmd->client->enabled & CLIENT_ENABLED_QRESYNC) == 0) {
				*error_r = "QRESYNC not enabled.";
				return -1;
			}
			if (parse_qresync(cmd, &params[1], qr, error_r) < 0)
				return -1;
			*qresync_r = true;
			params++;
		} else {
			*error_r = "Unknown SELECT parameter.";
			return -1;
		}
	}
	return 0;
}

/* VANISHED (EARLIER) and FETCH for what changed since the client's
   modseq (RFC 7162 §3.2.5.1). */
static int select_send_qresync(struct client *client,
			       const struct select_qresync *qr)
{
	struct mailbox *box = client->mailbox;
	struct mail_index_mailbox_changes changes;
	const struct mail_index_record *rec;
	int ret = 0;

	if (qr->uidvalidity != mailbox_get_uidvalidity(box))
		return 0;
	pool_t pool = pool_alloconly_create("select qresync", 1024);
	if (mail_index_mailbox_get_changes(mail_user_get_index(client->user),
					   mailbox_get_id(box), qr->modseq,
					   pool, &changes) <= 0) {
		pool_unref(&pool);
		return -1;
	}
	T_BEGIN {
		ARRAY_TYPE(seq_range) vanished;
		array_init(&vanished, pool_datastack, 8);
		const struct seq_range *r;
		array_foreach(&changes.expunged, r) {
			for (uint32_t uid = r->seq1; ; uid++) {
				if (array_count(&qr->known_uids) == 0 ||
				    seq_range_exists(&qr->known_uids, uid))
					seq_range_array_add(&vanished, uid);
				if (uid == r->seq2)
					break;
			}
		}
		if (array_count(&vanished) > 0) {
			string_t *str = t_str_new(128);
			str_append(str, "* VANISHED (EARLIER) ");
			seq_range_write(str, &vanished);
			client_send_line(client, str_c(str));
		}
	} T_END;
	array_foreach(&changes.records, rec) {
		uint32_t seq = mailbox_uid_to_seq(box, rec->uid);
		if (seq == 0)
			continue;
		T_BEGIN {
			client_send_linef(client,
				"* %u FETCH (UID %u %s MODSEQ (%llu))", seq,
				rec->uid,
				imap_sync_client_flags_item(client, rec->uid,
					rec->flags, rec->keywords),
				(unsigned long long)rec->modseq);
		} T_END;
	}
	pool_unref(&pool);
	return ret;
}

static void select_send_unseen(struct client *client)
{
	uint32_t seq = mailbox_get_first_unseen_seq(client->mailbox);

	if (seq != 0)
		client_send_linef(client, "* OK [UNSEEN %u] First unseen.", seq);
}

static bool imap_cmd_select_full(struct client_command_context *cmd,
			    bool readonly)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args, *params = NULL;
	struct select_qresync qr;
	const char *name, *storage_name, *error;
	bool condstore = false, qresync = false;
	struct mailbox *box;

	memset(&qr, 0, sizeof(qr));
	if (!imap_arg_get_astring(&args[0], &name) ||
	    (!IMAP_ARG_IS_EOL(&args[1]) &&
	     (!imap_arg_get_list(&args[1], &params, NULL) ||
	      !IMAP_ARG_IS_EOL(&args[2])))) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	if (params != NULL &&
	    select_parse_params(cmd, params, &condstore, &qr, &qresync,
				&error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}

	/* a name that is malformed in the client's encoding is a syntax
	   error: BAD, and the selected mailbox stays selected */
	int name_ret = client_mailbox_name_to_storage(client, name,
						      &storage_name, &error);
	if (name_ret == -2) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (client->mailbox != NULL) {
		client_mailbox_close(client);
		/* RFC 7162 §3.2.11, RFC 9051 §7.1: tell which responses
		   belong to which mailbox */
		if ((client->enabled & (CLIENT_ENABLED_QRESYNC |
					CLIENT_ENABLED_IMAP4REV2)) != 0)
			client_send_line(client,
				"* OK [CLOSED] Previous mailbox closed.");
	}
	if (name_ret < 0) {
		client_send_tagline(cmd, t_strdup_printf("NO %s", error));
		return true;
	}
	if (mailbox_open(client->user, storage_name, &box) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	client->mailbox = box;
	client->mailbox_readonly = readonly;
	client->messages_count = mailbox_get_messages_count(box);
	if (condstore)
		client->enabled |= CLIENT_ENABLED_CONDSTORE;

	if (imap_sync_send_flags(client) < 0) {
		const char *line = client_storage_error_line(client);
		client_mailbox_close(client);
		client_send_tagline(cmd, line);
		return true;
	}
	client_send_linef(client, "* %u EXISTS", client->messages_count);
	if ((client->enabled & CLIENT_ENABLED_IMAP4REV2) == 0) {
		/* IMAP4rev1 \Recent: SELECT claims the messages no session
		   has seen, EXAMINE only sees them (IMAP4rev2 dropped it) */
		if (imap_sync_update_recent(client) < 0) {
			client_mailbox_close(client);
			client_send_tagline(cmd, t_strdup_printf("NO %s",
				MAIL_ERRSTR_INTERNAL));
			return true;
		}
		client->recent_count = mailbox_get_recent_count(box);
		client_send_linef(client, "* %u RECENT", client->recent_count);
		select_send_unseen(client);
	}
	client_send_linef(client, "* OK [UIDVALIDITY %u] UIDs valid",
			  mailbox_get_uidvalidity(box));
	client_send_linef(client, "* OK [UIDNEXT %u] Predicted next UID",
			  mailbox_get_uidnext(box));
	/* RFC 8474 §4.2: the mailbox GUID, kept across renames */
	client_send_linef(client, "* OK [MAILBOXID (F%s)] Ok",
			  mailbox_get_guid(box));
	if ((client->enabled & CLIENT_ENABLED_CONDSTORE) != 0) {
		client_send_linef(client,
			"* OK [HIGHESTMODSEQ %llu] Highest",
			(unsigned long long)mailbox_get_highestmodseq(box));
	}
	if ((client->enabled & CLIENT_ENABLED_IMAP4REV2) != 0) {
		/* RFC 9051 §6.3.2: with OLDNAME when the name sent was
		   not the normalized one */
		string_t *str = t_str_new(64);
		str_append(str, "* LIST ");
		if (!imap_list_oldname(client, str, "", name,
				       mailbox_get_name(box))) {
			str_printfa(str, "() \"%c\" ",
				    MAIL_INDEX_HIERARCHY_SEP);
			imap_write_astring(str, client_mailbox_name_to_imap(
				client, mailbox_get_name(box)),
				client_mailbox_names_utf8(client));
		}
		client_send_line(client, str_c(str));
	}
	if (qresync && select_send_qresync(client, &qr) < 0) {
		const char *line = client_storage_error_line(client);
		client_mailbox_close(client);
		client_send_tagline(cmd, line);
		return true;
	}
	client_send_tagline(cmd, readonly ?
			    "OK [READ-ONLY] Examine completed." :
			    "OK [READ-WRITE] Select completed.");
	return true;
}

bool imap_cmd_select(struct client_command_context *cmd)
{
	return imap_cmd_select_full(cmd, false);
}

bool imap_cmd_examine(struct client_command_context *cmd)
{
	return imap_cmd_select_full(cmd, true);
}
