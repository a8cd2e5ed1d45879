/* Message sets, CONDSTORE enabling and own-change syncing for FETCH and
   STORE (see imap-msg-util.h). */
#include "lib.h"
#include "imap-common.h"
#include "imap-seqset.h"
#include "imap-msg-util.h"
#include "imap-search.h"

int imap_msgset_parse(struct client *client, const char *str, bool uid,
		      ARRAY_TYPE(seq_range) *seqs_r, const char **error_r)
{
	struct mailbox *box = client->mailbox;
	uint32_t count = mailbox_get_messages_count(box);
	ARRAY_TYPE(seq_range) set;

	if (imap_seq_set_is_saved(str)) {
		/* SEARCHRES (RFC 5182 §2.1): the last SEARCH ... RETURN
		   (SAVE) result; empty is a valid set matching nothing */
		imap_search_saved_get(client, false, seqs_r);
		return 0;
	}
	array_init(&set, pool_datastack, 8);
	if (!uid) {
		if (imap_seq_set_parse(str, count, &set, error_r) < 0)
			return -1;
		if (array_count(&set) > 0 &&
		    set.v[array_count(&set) - 1].seq2 > count) {
			*error_r = "Invalid messageset: message number out of range.";
			return -1;
		}
		seq_range_array_merge(seqs_r, &set);
		return 0;
	}
	uint32_t star = count == 0 ? 0 : mailbox_seq_to_uid(box, count);
	if (imap_seq_set_parse(str, star, &set, error_r) < 0)
		return -1;
	mailbox_uids_to_seqs(box, &set, seqs_r);
	return 0;
}

bool imap_condstore_enabled(const struct client *client)
{
	return (client->enabled & (CLIENT_ENABLED_CONDSTORE |
				   CLIENT_ENABLED_QRESYNC)) != 0;
}

void imap_condstore_enable(struct client *client)
{
	if (imap_condstore_enabled(client))
		return;
	client->enabled |= CLIENT_ENABLED_CONDSTORE;
	if (client->mailbox != NULL) {
		client_send_linef(client, "* OK [HIGHESTMODSEQ %llu] Highest",
			(unsigned long long)
			mailbox_get_highestmodseq(client->mailbox));
	}
}

void imap_send_flags_fetch(struct client *client, uint32_t seq, bool uid,
			   bool flags)
{
	const struct mail_index_flags_rec *rec =
		mailbox_get_message(client->mailbox, seq);
	/* QRESYNC (RFC 7162 §3.2.4) and IMAP4rev2 (RFC 9051 §7.5.2)
	   clients get the UID in every FETCH they did not ask for */
	bool qresync = (client->enabled & (CLIENT_ENABLED_QRESYNC |
					   CLIENT_ENABLED_IMAP4REV2)) != 0;
	string_t *str = t_str_new(128);

	i_assert(rec != NULL);
	str_printfa(str, "* %u FETCH (", seq);
	if (flags)
		str_append(str, imap_sync_client_flags_item(client, rec->uid,
					rec->flags, rec->keywords));
	if (uid || qresync) {
		if (flags)
			str_append_c(str, ' ');
		str_printfa(str, "UID %u", rec->uid);
		flags = true;
	}
	if (imap_condstore_enabled(client)) {
		if (flags)
			str_append_c(str, ' ');
		str_printfa(str, "MODSEQ (%llu)",
			    (unsigned long long)rec->modseq);
	}
	str_append_c(str, ')');
	client_send_line(client, str_c(str));
}

static bool client_knows_keyword(struct client *client, const char *name)
{
	char **kw;

	if (!array_is_created(&client->keywords))
		return false;
	array_foreach(&client->keywords, kw) {
		if (strcasecmp(*kw, name) == 0)
			return true;
	}
	return false;
}

int imap_sync_own_changes(struct client *client,
			  const ARRAY_TYPE(seq_range) *own_uids)
{
	struct mailbox_sync_result res;
	const struct mailbox_sync_event *ev;
	bool new_keywords = false;
	bool exists_sent = false;
	pool_t pool;

	pool = pool_alloconly_create("imap own sync", 1024);
	if (mailbox_sync(client->mailbox, MAILBOX_SYNC_FLAG_NO_EXPUNGES,
			 pool, &res) < 0) {
		pool_unref(&pool);
		return -1;
	}
	if (res.mailbox_gone) {
		/* the tagged reply's sync closes it and says BYE */
		pool_unref(&pool);
		return 0;
	}
	array_foreach(&res.events, ev) {
		for (const char *const *kw = ev->keywords;
		     kw != NULL && *kw != NULL; kw++) {
			if (!client_knows_keyword(client, *kw))
				new_keywords = true;
		}
	}
	if (res.exists_changed ||
	    res.messages_count != client->messages_count) {
		client->messages_count = res.messages_count;
		client_send_linef(client, "* %u EXISTS", res.messages_count);
		exists_sent = true;
	}
	/* the keywords must be announced before a FETCH names them */
	if (new_keywords)
		(void)imap_sync_send_flags(client);
	array_foreach(&res.events, ev) {
		if (ev->type != MAILBOX_SYNC_EVENT_FLAGS ||
		    seq_range_exists(own_uids, ev->uid))
			continue;
		T_BEGIN {
			imap_send_flags_fetch(client, ev->seq, false, true);
		} T_END;
	}
	pool_unref(&pool);
	/* new messages bring \Recent and RECENT, kept-back expunges their
	   EXPUNGE: both are the tagged reply's sync's to send */
	return exists_sent || res.expunges_pending ? 0 : 1;
}
