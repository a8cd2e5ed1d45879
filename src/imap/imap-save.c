/* Shared by APPEND, COPY, MOVE and EXPUNGE: UID sets for APPENDUID and
   COPYUID, message sets of the selected view, and keeping a user alive
   past its session while an asynchronous transaction cannot be recalled
   (lib-storage forbids mail_user_deinit() with a transaction open). */
#include "lib.h"
#include "ioloop.h"
#include "imap-common.h"
#include "imap-seqset.h"
#include "imap-save.h"
#include "imap-search.h"

/* how often an orphaned user checks whether its blob writes are over */
#define IMAP_SAVE_RELEASE_POLL_MSECS 20

struct imap_save_orphan {
	struct mail_user *user;
	struct mailbox *box;
	struct timeout *to;
};

void imap_save_write_uids(string_t *dest, const ARRAY_TYPE(mail_uid) *uids)
{
	unsigned int i, count = array_count(uids);
	const uint32_t *u = uids->v;

	for (i = 0; i < count; ) {
		unsigned int j = i;
		while (j + 1 < count && u[j + 1] == u[j] + 1)
			j++;
		if (i > 0)
			str_append_c(dest, ',');
		if (j == i)
			str_printfa(dest, "%u", u[i]);
		else
			str_printfa(dest, "%u:%u", u[i], u[j]);
		i = j + 1;
	}
}

struct mail_user *imap_save_take_user(struct client *client)
{
	struct mail_user *user = client->user;

	i_assert(user != NULL);
	client->user = NULL;
	return user;
}

static void imap_save_orphan_free(struct imap_save_orphan *orphan)
{
	timeout_remove(&orphan->to);
	if (orphan->box != NULL)
		mailbox_close(&orphan->box);
	mail_user_deinit(&orphan->user);
	i_free(orphan);
}

static void imap_save_orphan_poll(void *context)
{
	struct imap_save_orphan *orphan = context;

	if (!mail_user_has_transactions(orphan->user))
		imap_save_orphan_free(orphan);
}

void imap_save_release_user(struct mail_user **user, struct mailbox **box)
{
	struct imap_save_orphan *orphan = i_new(struct imap_save_orphan, 1);

	orphan->user = *user;
	orphan->box = *box;
	*user = NULL;
	*box = NULL;
	if (!mail_user_has_transactions(orphan->user)) {
		imap_save_orphan_free(orphan);
		return;
	}
	/* a rolled-back transaction is freed by lib-storage after its last
	   blob write answers; nothing calls us then, so look now and then */
	orphan->to = timeout_add(IMAP_SAVE_RELEASE_POLL_MSECS,
				 imap_save_orphan_poll, orphan);
}

int imap_save_parse_msgset(struct client *client, const char *str, bool uid,
			   ARRAY_TYPE(seq_range) *uids_r, const char **error_r)
{
	struct mailbox *box = client->mailbox;
	ARRAY_TYPE(seq_range) set;
	uint32_t count = mailbox_get_messages_count(box);

	if (imap_seq_set_is_saved(str)) {
		/* SEARCHRES (RFC 5182): the saved result, maybe empty */
		imap_search_saved_get(client, true, uids_r);
		return 0;
	}
	array_init(&set, pool_datastack, 8);
	if (uid) {
		uint32_t star = count == 0 ? 0 :
			mailbox_seq_to_uid(box, count);
		if (imap_seq_set_parse(str, star, &set, error_r) < 0)
			return -1;
		/* through sequences and back: only UIDs in the view */
		ARRAY_TYPE(seq_range) seqs;
		array_init(&seqs, pool_datastack, 8);
		mailbox_uids_to_seqs(box, &set, &seqs);
		mailbox_seqs_to_uids(box, &seqs, uids_r);
		return 0;
	}
	if (imap_seq_set_parse(str, count, &set, error_r) < 0)
		return -1;
	if (array_count(&set) > 0 &&
	    array_last(&set)->seq2 > count) {
		*error_r = "Invalid messageset.";
		return -1;
	}
	mailbox_seqs_to_uids(box, &set, uids_r);
	return 0;
}
