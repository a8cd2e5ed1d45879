/* STATUS items: parsing and the untagged STATUS response (see
   imap-status.h). The numbers come from the index's per-mailbox
   counters, so STATUS never opens a mailbox view. */
#include "lib.h"
#include "imap-common.h"
#include "imap-status.h"
#include "mail-index-quota.h"

static const struct {
	const char *name;
	enum imap_status_items item;
} status_item_names[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },
	{ "RECENT", IMAP_STATUS_RECENT },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "DELETED", IMAP_STATUS_DELETED },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
	{ "MAILBOXID", IMAP_STATUS_MAILBOXID },
	{ "DELETED-STORAGE", IMAP_STATUS_DELETED_STORAGE },
};

int imap_status_parse_items(struct client *client, const struct imap_arg *arg,
			    enum imap_status_items *items_r,
			    const char **error_r)
{
	const struct imap_arg *list;
	enum imap_status_items items = 0;
	const char *name;
	unsigned int count, i;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		*error_r = "STATUS items must be a non-empty list.";
		return -1;
	}
	for (; !IMAP_ARG_IS_EOL(list); list++) {
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid STATUS item.";
			return -1;
		}
		for (i = 0; i < N_ELEMENTS(status_item_names); i++) {
			if (strcasecmp(status_item_names[i].name, name) == 0)
				break;
		}
		if (i == N_ELEMENTS(status_item_names) ||
		    (status_item_names[i].item == IMAP_STATUS_RECENT &&
		     (client->enabled & CLIENT_ENABLED_IMAP4REV2) != 0)) {
			*error_r = t_strdup_printf("Unknown STATUS item: %s",
						   str_sanitize(name, 40));
			return -1;
		}
		items |= status_item_names[i].item;
	}
	if ((items & IMAP_STATUS_HIGHESTMODSEQ) != 0 &&
	    imap_capability_has("CONDSTORE"))
		client->enabled |= CLIENT_ENABLED_CONDSTORE;
	*items_r = items;
	return 0;
}

int imap_status_send(struct client *client, uint32_t mailbox_id,
		     const char *storage_name, enum imap_status_items items)
{
	struct mail_index_status st;
	string_t *str;

	if (mail_index_mailbox_status(mail_user_get_index(client->user),
				      mailbox_id, &st) < 0)
		return -1;
	str = t_str_new(128);
	str_append(str, "* STATUS ");
	imap_write_astring(str, client_mailbox_name_to_imap(client,
							    storage_name),
			   client_mailbox_names_utf8(client));
	str_append(str, " (");
	size_t start = str_len(str);
	if ((items & IMAP_STATUS_MESSAGES) != 0)
		str_printfa(str, "MESSAGES %u ", st.messages);
	if ((items & IMAP_STATUS_RECENT) != 0) {
		/* IMAP4rev1 \Recent: the selected mailbox's as this session
		   sees them, another's as no session has claimed yet */
		uint32_t recent;
		if (client->mailbox != NULL &&
		    mailbox_get_id(client->mailbox) == mailbox_id)
			recent = mailbox_get_recent_count(client->mailbox);
		else if (mail_index_mailbox_count_recent(
				mail_user_get_index(client->user),
				mailbox_id, &recent) < 0)
			return -1;
		str_printfa(str, "RECENT %u ", recent);
	}
	if ((items & IMAP_STATUS_UIDNEXT) != 0)
		str_printfa(str, "UIDNEXT %u ", st.uidnext);
	if ((items & IMAP_STATUS_UIDVALIDITY) != 0)
		str_printfa(str, "UIDVALIDITY %u ", st.uidvalidity);
	if ((items & IMAP_STATUS_UNSEEN) != 0)
		str_printfa(str, "UNSEEN %u ", st.unseen);
	if ((items & IMAP_STATUS_DELETED) != 0)
		str_printfa(str, "DELETED %u ", st.deleted);
	if ((items & IMAP_STATUS_SIZE) != 0)
		str_printfa(str, "SIZE %llu ", (unsigned long long)st.size);
	if ((items & IMAP_STATUS_DELETED_STORAGE) != 0) {
		/* RFC 9208 allows the sum of the \Deleted messages'
		   RFC822.SIZE: exactly what the quota's usage loses */
		uint64_t deleted;
		if (mail_index_quota_get_deleted(
			mail_user_get_index(client->user), mailbox_id,
			&deleted) < 0)
			return -1;
		str_printfa(str, "DELETED-STORAGE %llu ",
			    (unsigned long long)deleted);
	}
	if ((items & IMAP_STATUS_HIGHESTMODSEQ) != 0) {
		str_printfa(str, "HIGHESTMODSEQ %llu ",
			    (unsigned long long)st.highestmodseq);
	}
	if ((items & IMAP_STATUS_APPENDLIMIT) != 0) {
		/* RFC 7889 §3: NIL = no limit */
		if (IMAP_APPEND_MAX_SIZE == 0)
			str_append(str, "APPENDLIMIT NIL ");
		else {
			str_printfa(str, "APPENDLIMIT %llu ",
				    (unsigned long long)IMAP_APPEND_MAX_SIZE);
		}
	}
	if ((items & IMAP_STATUS_MAILBOXID) != 0) {
		/* RFC 8474 §4.3: the GUID SELECT reports too */
		struct mail_index_mailbox mbox;
		if (mail_index_mailbox_lookup_id(
			mail_user_get_index(client->user), mailbox_id,
			pool_datastack, &mbox) < 0)
			return -1;
		str_printfa(str, "MAILBOXID (F%s) ", mbox.guid);
	}
	if (str_len(str) > start)
		str_truncate(str, str_len(str) - 1);
	str_append_c(str, ')');
	client_send_line(client, str_c(str));
	return 0;
}
