/* \Recent for IMAP4rev1 sessions: the view's share of the mailbox's
   unclaimed UIDs (mail-index-recent.c), kept as a UID set beside the
   view. Counting walks the view once per range (binary search), so a
   session's usual one or two ranges cost O(log n). */
#include "lib.h"
#include "mail-storage-private.h"

int mailbox_recent_update(struct mailbox *box, bool claim)
{
	uint32_t first;
	int ret;

	if (!array_is_created(&box->recent_uids))
		array_init(&box->recent_uids, box->pool, 2);
	/* a sync that brought no new message: the claim (or look, for
	   EXAMINE) up to this UIDNEXT is done, and a later one by another
	   session cannot add anything below it */
	if (box->recent_uidnext == box->uidnext)
		return 0;
	first = box->open_first_recent_uid;
	box->open_first_recent_uid = 0;
	if (first != 0 && (!claim || first >= box->uidnext)) {
		/* read with the view (same UIDVALIDITY, same UIDNEXT),
		   nothing to claim: the claim would only read it again
		   (a claim by another session since then cannot make
		   anything below this view's UIDNEXT claimable) */
		ret = 1;
	} else {
		ret = mail_index_mailbox_claim_recent(box->user->index,
						      box->id, box->uidvalidity,
						      box->uidnext, claim,
						      &first);
		if (ret < 0)
			return mail_user_set_index_error(box->user);
	}
	/* 0: the mailbox is gone; the next sync reports that */
	if (ret > 0 && first < box->uidnext) {
		seq_range_array_add_range(&box->recent_uids, first,
					  box->uidnext - 1);
	}
	if (ret > 0)
		box->recent_uidnext = box->uidnext;
	return 0;
}

bool mailbox_is_recent(const struct mailbox *box, uint32_t uid)
{
	return array_is_created(&box->recent_uids) &&
		seq_range_exists(&box->recent_uids, uid);
}

/* Index of the first view record with uid >= uid. */
static unsigned int recent_lower_bound(const struct mailbox *box,
				       uint32_t uid)
{
	unsigned int lo = 0, hi = array_count(&box->view);

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		if (box->view.v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t mailbox_get_recent_count(const struct mailbox *box)
{
	const struct seq_range *r;
	uint32_t count = 0;

	if (!array_is_created(&box->recent_uids))
		return 0;
	array_foreach(&box->recent_uids, r) {
		unsigned int lo = recent_lower_bound(box, r->seq1);
		unsigned int hi = r->seq2 == UINT32_MAX ?
			array_count(&box->view) :
			recent_lower_bound(box, r->seq2 + 1);
		count += hi - lo;
	}
	return count;
}

const ARRAY_TYPE(seq_range) *mailbox_get_recent_uids(const struct mailbox *box)
{
	if (!array_is_created(&box->recent_uids) ||
	    array_count(&box->recent_uids) == 0)
		return NULL;
	return &box->recent_uids;
}
