/* From mailbox_sync() results to untagged responses. Expunges come first
   (sequence numbers shift as they are applied), then EXISTS, then flag
   changes numbered in the new view. */
#include "lib.h"
#include "imap-common.h"
#include "imap-flags.h"
#include "event.h"

/* lib-imap repeats the storage's flag bits (grammar may not include
   storage headers): make sure they agree */
_Static_assert((int)IMAP_FLAG_ANSWERED == (int)MAIL_ANSWERED &&
	       (int)IMAP_FLAG_FLAGGED == (int)MAIL_FLAGGED &&
	       (int)IMAP_FLAG_DELETED == (int)MAIL_DELETED &&
	       (int)IMAP_FLAG_SEEN == (int)MAIL_SEEN &&
	       (int)IMAP_FLAG_DRAFT == (int)MAIL_DRAFT,
	       "imap-flags.h and mail-index.h disagree");

const char *imap_sync_flags_item(enum mail_flags flags,
				 const char *const *keywords)
{
	string_t *str = t_str_new(64);

	str_append(str, "FLAGS (");
	imap_flags_write(str, (enum imap_flag)(flags & MAIL_FLAGS_MASK),
			 keywords);
	str_append_c(str, ')');
	return str_c(str);
}

bool imap_sync_tracks_recent(const struct client *client)
{
	return (client->enabled & CLIENT_ENABLED_IMAP4REV2) == 0;
}

int imap_sync_update_recent(struct client *client)
{
	if (client->mailbox == NULL || !imap_sync_tracks_recent(client))
		return 0;
	if (mailbox_recent_update(client->mailbox,
				  !client->mailbox_readonly) < 0) {
		const char *internal;
		(void)mail_user_get_last_error(client->user, NULL, &internal);
		e_error(client->event, "\\Recent claim failed: %s",
			internal != NULL ? internal : "unknown error");
		return -1;
	}
	return 0;
}

const char *imap_sync_client_flags_item(struct client *client, uint32_t uid,
					enum mail_flags flags,
					const char *const *keywords)
{
	string_t *str = t_str_new(64);

	str_append(str, "FLAGS (");
	imap_flags_write(str, (enum imap_flag)(flags & MAIL_FLAGS_MASK),
			 NULL);
	if (client->mailbox != NULL && imap_sync_tracks_recent(client) &&
	    mailbox_is_recent(client->mailbox, uid)) {
		if (str_len(str) > 7)
			str_append_c(str, ' ');
		str_append(str, "\\Recent");
	}
	if (keywords != NULL && keywords[0] != NULL) {
		if (str_len(str) > 7)
			str_append_c(str, ' ');
		imap_flags_write(str, 0, keywords);
	}
	str_append_c(str, ')');
	return str_c(str);
}

static bool client_knows_keyword(struct client *client, const char *name)
{
	char **kw;

	array_foreach(&client->keywords, kw) {
		if (strcasecmp(*kw, name) == 0)
			return true;
	}
	return false;
}

int imap_sync_send_flags(struct client *client)
{
	struct mail_index *index = mail_user_get_index(client->user);
	ARRAY_TYPE(mail_string) names;
	const char **name;
	char **kw;
	int ret = 0;

	T_BEGIN {
		array_init(&names, pool_datastack, 8);
		if (mail_index_mailbox_keywords(index,
				mailbox_get_id(client->mailbox),
				pool_datastack, &names) < 0) {
			ret = -1;
		} else {
			if (!array_is_created(&client->keywords))
				array_init(&client->keywords, system_pool,
					   names.count);
			array_foreach(&client->keywords, kw)
				i_free(*kw);
			array_clear(&client->keywords);
			string_t *kws = t_str_new(128);
			array_foreach(&names, name) {
				array_push(&client->keywords,
					   i_strdup(*name));
				str_append_c(kws, ' ');
				str_append(kws, *name);
			}
			client_send_linef(client,
				"* FLAGS (\\Answered \\Flagged \\Deleted "
				"\\Seen \\Draft%s)", str_c(kws));
			if (client->mailbox_readonly) {
				client_send_line(client,
					"* OK [PERMANENTFLAGS ()] "
					"Read-only mailbox.");
			} else {
				client_send_linef(client,
					"* OK [PERMANENTFLAGS (\\Answered "
					"\\Flagged \\Deleted \\Seen \\Draft%s "
					"\\*)] Flags permitted.", str_c(kws));
			}
		}
	} T_END;
	return ret;
}

static void imap_sync_send_events(struct client *client,
				  const struct mailbox_sync_result *res)
{
	const struct mailbox_sync_event *ev;
	bool qresync = (client->enabled & CLIENT_ENABLED_QRESYNC) != 0;
	bool condstore = (client->enabled & (CLIENT_ENABLED_CONDSTORE |
					     CLIENT_ENABLED_QRESYNC)) != 0;
	bool new_keywords = false;

	if (qresync && array_count(&res->expunged_uids) > 0) {
		string_t *str = t_str_new(64);
		str_append(str, "* VANISHED ");
		seq_range_write(str, &res->expunged_uids);
		client_send_line(client, str_c(str));
	}
	array_foreach(&res->events, ev) {
		if (ev->type == MAILBOX_SYNC_EVENT_EXPUNGE) {
			if (!qresync)
				client_send_linef(client, "* %u EXPUNGE",
						  ev->seq);
			/* an EXPUNGE (or VANISHED) lowers the count the
			   client keeps by itself */
			if (client->messages_count > 0)
				client->messages_count--;
			continue;
		}
		for (const char *const *kw = ev->keywords;
		     kw != NULL && *kw != NULL; kw++) {
			if (!client_knows_keyword(client, *kw))
				new_keywords = true;
		}
	}
	bool exists_sent = false;
	if (res->messages_count != client->messages_count) {
		client->messages_count = res->messages_count;
		client_send_linef(client, "* %u EXISTS", res->messages_count);
		exists_sent = true;
	}
	if (imap_sync_tracks_recent(client)) {
		/* RFC 3501 §7.3.2: RECENT with the new count, after EXISTS
		   (as Dovecot does, whenever EXISTS is sent); expunges
		   lower it silently, as they lower EXISTS */
		uint32_t recent = mailbox_get_recent_count(client->mailbox);
		if (exists_sent || recent > client->recent_count)
			client_send_linef(client, "* %u RECENT", recent);
		client->recent_count = recent;
	}
	if (new_keywords)
		(void)imap_sync_send_flags(client);
	array_foreach(&res->events, ev) {
		if (ev->type != MAILBOX_SYNC_EVENT_FLAGS)
			continue;
		T_BEGIN {
			string_t *str = t_str_new(128);
			str_printfa(str, "* %u FETCH (", ev->seq);
			/* QRESYNC clients need the UID in every flag change
			   (RFC 7162 §3.2.4), IMAP4rev2 ones in every
			   unsolicited FETCH (RFC 9051 §7.5.2) */
			if (qresync || (client->enabled &
					CLIENT_ENABLED_IMAP4REV2) != 0)
				str_printfa(str, "UID %u ", ev->uid);
			str_append(str, imap_sync_client_flags_item(client,
					ev->uid, ev->flags, ev->keywords));
			if (condstore)
				str_printfa(str, " MODSEQ (%llu)",
					    (unsigned long long)ev->modseq);
			str_append_c(str, ')');
			client_send_line(client, str_c(str));
		} T_END;
	}
}

int imap_sync_send(struct client *client, bool no_expunges)
{
	struct mailbox_sync_result res;
	pool_t pool;
	int ret = 0;

	if (client->mailbox == NULL)
		return 0;
	pool = pool_alloconly_create("imap sync", 1024);
	if (mailbox_sync(client->mailbox,
			 no_expunges ? MAILBOX_SYNC_FLAG_NO_EXPUNGES : 0,
			 pool, &res) < 0) {
		/* the storage has logged the cause; the client hears about
		   the changes on its next command */
		pool_unref(&pool);
		return -1;
	}
	if (res.mailbox_gone) {
		client_mailbox_close(client);
		client_disconnect_with_bye(client,
			"Selected mailbox was deleted, have to disconnect.",
			"Selected mailbox was deleted");
		ret = -1;
	} else {
		(void)imap_sync_update_recent(client);
		T_BEGIN {
			imap_sync_send_events(client, &res);
		} T_END;
	}
	pool_unref(&pool);
	return ret;
}
