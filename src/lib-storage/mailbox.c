/* An open mailbox and its view: the messages as the session last saw
   them, numbered by sequence, brought up to date by mailbox_sync() from
   the index's changes since the view's modseq (EXPUNGE, EXISTS and FETCH
   FLAGS for IMAP; the expunged UIDs for QRESYNC's VANISHED). Flag
   changes, expunges, search and record fetches go through here too. */
#include "lib.h"
#include "event.h"
#include "ioloop.h"
#include "hash.h"
#include "mail-storage-private.h"
#include "mail-index-memory.h"
#include "mail-index-select.h"
#ifdef __GLIBC__
#  include <malloc.h>
#endif

/* A session that starts waiting for changes (IDLE) closes its index's
   SQLite connection (mail_index_suspend()) right away: ~80 KiB of heap,
   the WAL shared-memory mapping and descriptors per idle user. It has
   just synced, so nothing is lost; a wake-up or the next command reopens
   it (about 0.7 ms). Closing at once also keeps few connections open at
   a time while many sessions start, so their freed memory is reused
   rather than left as holes between the sessions' long-lived objects. */
#define MAILBOX_IDLE_SUSPEND_MSECS 0
/* After a wake-up it waits a little longer: changes come in bursts (a
   MOVE of many messages, flag changes of a whole thread), and each
   reopen would read the schema again. */
#define MAILBOX_WAKE_SUSPEND_MSECS 1000
/* A suspend that had to wait (a commit or its sync still in flight) is
   tried again after this, doubling up to the maximum (a connection that
   cannot close at all is logged by every try). */
#define MAILBOX_SUSPEND_RETRY_MSECS 100
#define MAILBOX_SUSPEND_RETRY_MAX_MSECS (64 * 1000)
/* How long a view trusts its commit stamp (mailbox_sync() skipping the
   read while no process began a commit since) before it reads anyway.
   The counters count every commit of this version's processes; a writer
   they cannot count - one that could not map the sync file, or a
   process of an older version during an upgrade - is then seen within
   this time by a session that keeps issuing commands, and at once by a
   waiting one (a change notification always reads). One read a second
   costs a busy session nothing measurable. */
#define MAILBOX_SYNC_STAMP_MAX_MSECS 1000

/* the mailbox whose change notification callback is running */
static struct mailbox *mailbox_notify_running;

int mailbox_open(struct mail_user *user, const char *name,
		 struct mailbox **box_r)
{
	struct mail_index_select_mailbox sel;
	pool_t pool, view_pool;
	int ret;

	/* small: most mailboxes a session keeps open are small or empty
	   (an empty one's view takes 160 bytes), and a big view grows the
	   pool by doubling blocks anyway (16 KiB here was most of an idle
	   session's view) */
	view_pool = pool_alloconly_create("mailbox view", 256);
	/* the row, the list (a large mailbox's may be shared with other
	   sessions until this one's view changes) and \Recent's start, in
	   one read snapshot */
	ret = mail_index_mailbox_select_name(user->index, name, view_pool, &sel);
	if (ret <= 0) {
		pool_unref(&view_pool);
		return mail_user_set_index_error(user);
	}
	if (sel.box.noselect) {
		pool_unref(&view_pool);
		return mail_user_set_error(user, MAIL_ERROR_NOTPOSSIBLE,
			"Mailbox isn't selectable.");
	}
	/* the struct, its name and GUID: about 320 bytes */
	pool = pool_alloconly_create("mailbox", 512);
	struct mailbox *box = p_new(pool, struct mailbox, 1);
	box->user = user;
	box->pool = pool;
	box->id = sel.box.id;
	box->name = p_strdup(pool, sel.box.name);
	box->guid = p_strdup(pool, sel.box.guid);
	box->view_pool = view_pool;
	array_init(&box->pending_expunges, pool, 4);
	box->uidvalidity = sel.select.uidvalidity;
	box->uidnext = sel.select.uidnext;
	box->highestmodseq = sel.select.highestmodseq;
	/* the array lives in view_pool, which is never cleared while open,
	   or in view_shared */
	box->view = sel.select.messages;
	box->view_shared = sel.view;
	box->open_first_recent_uid = sel.first_recent_uid;
	user->open_mailboxes++;
	*box_r = box;
	return 0;
}

int mailbox_open_for_save(struct mail_user *user, const char *name,
			  struct mailbox **box_r)
{
	struct mail_index_mailbox ibox;

	if (mail_index_mailbox_lookup(user->index, name, pool_datastack,
				      &ibox) <= 0)
		return mail_user_set_index_error(user);
	if (ibox.noselect) {
		return mail_user_set_error(user, MAIL_ERROR_NOTPOSSIBLE,
			"Mailbox isn't selectable.");
	}
	pool_t pool = pool_alloconly_create("mailbox", 512);
	struct mailbox *box = p_new(pool, struct mailbox, 1);
	box->user = user;
	box->pool = pool;
	box->id = ibox.id;
	box->name = p_strdup(pool, ibox.name);
	box->guid = p_strdup(pool, ibox.guid);
	/* no view: an empty one, as of the row just read */
	box->view_pool = pool_alloconly_create("mailbox view", 128);
	array_init(&box->pending_expunges, pool, 1);
	array_init(&box->view, box->view_pool, 1);
	box->uidvalidity = ibox.uidvalidity;
	box->uidnext = ibox.uidnext;
	box->highestmodseq = ibox.highestmodseq;
	user->open_mailboxes++;
	*box_r = box;
	return 0;
}

void mailbox_close(struct mailbox **_box)
{
	struct mailbox *box = *_box;

	if (box == NULL)
		return;
	*_box = NULL;
	if (mailbox_notify_running == box)
		mailbox_notify_running = NULL;
	timeout_remove(&box->idle_suspend_to);
	if (box->notify != NULL)
		mail_index_set_resume_callback(box->user->index, NULL, NULL);
	mail_index_notify_deinit(&box->notify);
	box->user->open_mailboxes--;
	mail_index_select_view_unref(&box->view_shared);
	if (box->view_keywords != NULL)
		hash_table_destroy(&box->view_keywords);
	pool_unref(&box->view_pool);
	pool_unref(&box->pool);
}

struct mail_user *mailbox_get_user(struct mailbox *box)
{
	return box->user;
}

uint32_t mailbox_get_id(const struct mailbox *box)
{
	return box->id;
}

const char *mailbox_get_name(const struct mailbox *box)
{
	return box->name;
}

const char *mailbox_get_guid(const struct mailbox *box)
{
	return box->guid;
}

uint32_t mailbox_get_messages_count(const struct mailbox *box)
{
	return array_count(&box->view);
}

uint32_t mailbox_get_uidvalidity(const struct mailbox *box)
{
	return box->uidvalidity;
}

uint32_t mailbox_get_uidnext(const struct mailbox *box)
{
	return box->uidnext;
}

uint64_t mailbox_get_highestmodseq(const struct mailbox *box)
{
	return box->highestmodseq;
}

const struct mail_index_flags_rec *
mailbox_get_message(const struct mailbox *box, uint32_t seq)
{
	if (seq == 0 || seq > array_count(&box->view))
		return NULL;
	return &box->view.v[seq - 1];
}

uint32_t mailbox_get_first_unseen_seq(const struct mailbox *box)
{
	unsigned int i, count = array_count(&box->view);

	if (box->view_shared != NULL)
		i = mail_index_select_view_first_unseen(box->view_shared);
	else {
		for (i = 0; i < count; i++) {
			if ((box->view.v[i].flags & MAIL_SEEN) == 0)
				break;
		}
	}
	return i < count ? i + 1 : 0;
}

uint32_t mailbox_seq_to_uid(const struct mailbox *box, uint32_t seq)
{
	const struct mail_index_flags_rec *rec = mailbox_get_message(box, seq);

	return rec == NULL ? 0 : rec->uid;
}

/* Index of the first view record with uid >= uid. */
static unsigned int view_lower_bound(const struct mailbox *box, uint32_t uid)
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

uint32_t mailbox_uid_to_seq(const struct mailbox *box, uint32_t uid)
{
	unsigned int idx = view_lower_bound(box, uid);

	if (idx < array_count(&box->view) && box->view.v[idx].uid == uid)
		return idx + 1;
	return 0;
}

void mailbox_seqs_to_uids(const struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *seqs,
			  ARRAY_TYPE(seq_range) *uids)
{
	const struct seq_range *r;
	uint32_t count = array_count(&box->view);

	array_foreach(seqs, r) {
		for (uint32_t seq = r->seq1; seq <= r->seq2 && seq <= count; seq++)
			seq_range_array_add(uids, box->view.v[seq - 1].uid);
	}
}

void mailbox_uids_to_seqs(const struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *uids,
			  ARRAY_TYPE(seq_range) *seqs)
{
	const struct seq_range *r;

	array_foreach(uids, r) {
		unsigned int idx = view_lower_bound(box, r->seq1);
		for (; idx < array_count(&box->view) &&
		       box->view.v[idx].uid <= r->seq2; idx++)
			seq_range_array_add(seqs, idx + 1);
	}
}

/* --- sync --- */

static void sync_apply_expunges(struct mailbox *box,
				const ARRAY_TYPE(seq_range) *expunged,
				struct mailbox_sync_result *result)
{
	unsigned int i, j, count = array_count(&box->view);

	/* events from the end, so each EXPUNGE's number is the one the
	   client has right before it (no renumbering between responses) */
	for (i = count; i-- > 0;) {
		uint32_t uid = box->view.v[i].uid;
		if (!seq_range_exists(expunged, uid))
			continue;
		struct mailbox_sync_event *ev = array_append_space(&result->events);
		ev->type = MAILBOX_SYNC_EVENT_EXPUNGE;
		ev->seq = i + 1;
		ev->uid = uid;
		seq_range_array_add(&result->expunged_uids, uid);
	}
	/* then drop them in one pass */
	for (i = j = 0; i < count; i++) {
		if (!seq_range_exists(expunged, box->view.v[i].uid))
			box->view.v[j++] = box->view.v[i];
	}
	box->view.count = j;
}

static const char *const *keywords_dup(pool_t pool, const char *const *kws)
{
	if (kws == NULL)
		return NULL;
	unsigned int count = str_array_length(kws);
	const char **copy = p_new(pool, const char *, count + 1);
	for (unsigned int i = 0; i < count; i++)
		copy[i] = p_strdup(pool, kws[i]);
	return copy;
}

/* The view's copy of a keyword list: one per distinct combination. */
static const char *const *
view_keywords_intern(struct mailbox *box, const char *const *kws)
{
	if (kws == NULL || kws[0] == NULL)
		return NULL;
	const char *key = t_strarray_join(kws, "\001");
	if (box->view_keywords == NULL)
		box->view_keywords = hash_table_create_str(system_pool, 16);
	const char *const *list = hash_table_lookup(box->view_keywords, key);
	if (list == NULL) {
		list = keywords_dup(box->view_pool, kws);
		hash_table_insert(box->view_keywords,
				  p_strdup(box->view_pool, key), (void *)list);
	}
	return list;
}

/* Before the view changes: a list shared with other sessions becomes
   this session's own, in view_pool, with its keyword lists interned there
   (they belong to the shared list). */
void mailbox_view_unshare(struct mailbox *box)
{
	ARRAY_TYPE(mail_index_flags_rec) copy;
	const struct mail_index_flags_rec *rec;
	const char *const *last_src = NULL, *const *last_dest = NULL;
	struct hash_table *lists = NULL;

	if (box->view_shared == NULL)
		return;
	/* a little room for new messages: the pool doubles a block that
	   must grow, and keeps the old one */
	array_init(&copy, box->view_pool, array_count(&box->view) + 16);
	array_foreach(&box->view, rec) {
		struct mail_index_flags_rec *dest = array_append_space(&copy);
		*dest = *rec;
		if (rec->keywords == NULL)
			continue;
		/* one lookup per run of messages with the same keywords */
		if (rec->keywords != last_src) {
			if (lists == NULL)
				lists = hash_table_create_direct(system_pool, 8);
			last_src = rec->keywords;
			last_dest = hash_table_lookup(lists, last_src);
			if (last_dest == NULL) T_BEGIN {
				last_dest = view_keywords_intern(box, last_src);
				hash_table_insert(lists, (void *)last_src,
						  (void *)last_dest);
			} T_END;
		}
		dest->keywords = last_dest;
	}
	if (lists != NULL)
		hash_table_destroy(&lists);
	box->view = copy;
	mail_index_select_view_unref(&box->view_shared);
}

/* The view is the index as it is now: no process has begun a commit
   since the view was current, and the view read the index less than
   MAILBOX_SYNC_STAMP_MAX_MSECS ago (a writer the stamps cannot count is
   seen within that). */
static bool mailbox_view_is_current(struct mailbox *box)
{
	return mail_index_unchanged_since(box->user->index, box->sync_stamp) &&
		ioloop_msecs_monotonic() - box->sync_read_msecs <
		MAILBOX_SYNC_STAMP_MAX_MSECS;
}

/* Apply the expunges kept back for a later sync, unless this one keeps
   them back too. */
static void sync_apply_pending_expunges(struct mailbox *box,
					enum mailbox_sync_flags flags,
					struct mailbox_sync_result *result_r)
{
	if ((flags & MAILBOX_SYNC_FLAG_NO_EXPUNGES) != 0 ||
	    array_count(&box->pending_expunges) == 0)
		return;
	mailbox_view_unshare(box);
	sync_apply_expunges(box, &box->pending_expunges, result_r);
	array_clear(&box->pending_expunges);
}

int mailbox_sync(struct mailbox *box, enum mailbox_sync_flags flags,
		 pool_t pool, struct mailbox_sync_result *result_r)
{
	struct mail_index *index = box->user->index;
	struct mail_index_mailbox_changes changes;
	const struct mail_index_record *rec;
	int ret;

	memset(result_r, 0, sizeof(*result_r));
	array_init(&result_r->events, pool, 8);
	array_init(&result_r->expunged_uids, pool, 4);

	if (mailbox_view_is_current(box)) {
		/* No process has committed anything since the view was
		   current: a snapshot would find what the last one did.
		   Only expunges kept back then may be due now. */
		sync_apply_pending_expunges(box, flags, result_r);
		result_r->messages_count = array_count(&box->view);
		result_r->expunges_pending =
			array_count(&box->pending_expunges) > 0;
		return 0;
	}
	/* before the snapshot: it holds every commit the stamp counts */
	uint64_t stamp = mail_index_get_commit_stamp(index);
	ret = mail_index_mailbox_get_changes(index, box->id,
					     box->highestmodseq,
					     pool_datastack, &changes);
	if (ret < 0)
		return mail_user_set_index_error(box->user);
	if (ret == 0 || changes.uidvalidity != box->uidvalidity) {
		box->sync_stamp = 0;
		result_r->mailbox_gone = true;
		result_r->messages_count = array_count(&box->view);
		return 0;
	}
	box->sync_stamp = stamp;
	box->sync_read_msecs = ioloop_msecs_monotonic();

	/* expunges: now, or kept for a later sync */
	seq_range_array_merge(&box->pending_expunges, &changes.expunged);
	if (array_count(&changes.records) > 0 ||
	    array_count(&box->pending_expunges) > 0)
		mailbox_view_unshare(box);
	sync_apply_pending_expunges(box, flags, result_r);

	uint32_t old_count = array_count(&box->view);
	array_foreach(&changes.records, rec) {
		unsigned int idx = view_lower_bound(box, rec->uid);
		if (idx < array_count(&box->view) &&
		    box->view.v[idx].uid == rec->uid) {
			struct mail_index_flags_rec *v = &box->view.v[idx];
			if (v->modseq == rec->modseq)
				continue;
			v->flags = rec->flags;
			v->modseq = rec->modseq;
			v->keywords = view_keywords_intern(box, rec->keywords);
			struct mailbox_sync_event *ev =
				array_append_space(&result_r->events);
			ev->type = MAILBOX_SYNC_EVENT_FLAGS;
			ev->seq = idx + 1;
			ev->uid = rec->uid;
			ev->flags = rec->flags;
			ev->keywords = keywords_dup(pool, rec->keywords);
			ev->modseq = rec->modseq;
		} else if (idx == array_count(&box->view)) {
			/* new: UIDs only ever grow, so it goes at the end */
			struct mail_index_flags_rec *v = array_append_space(&box->view);
			v->uid = rec->uid;
			v->flags = rec->flags;
			v->modseq = rec->modseq;
			v->keywords = view_keywords_intern(box, rec->keywords);
		} else if (!seq_range_exists(&box->pending_expunges, rec->uid)) {
			/* a UID below the view's newest that the view does
			   not have: the index broke the UID order */
			e_error(box->user->event,
				"Mailbox %s: UID %u appeared below UID %u",
				box->name, rec->uid,
				box->view.v[array_count(&box->view) - 1].uid);
		}
	}
	box->highestmodseq = changes.highestmodseq;
	box->uidnext = changes.uidnext;
	result_r->messages_count = array_count(&box->view);
	result_r->exists_changed = array_count(&box->view) != old_count;
	result_r->expunges_pending = array_count(&box->pending_expunges) > 0;
	return 0;
}

static void mailbox_idle_suspend_schedule(struct mailbox *box,
					  unsigned int msecs);

static void mailbox_idle_suspend(void *context)
{
	struct mailbox *box = context;
	struct mail_user *user = box->user;

	timeout_remove(&box->idle_suspend_to);
	if (mail_index_is_suspended(user->index))
		return;
	/* only this session's mailbox, nothing being written: close the
	   connection (the next index call reopens it) */
	if (user->open_mailboxes == 1 && user->open_transactions == 0 &&
	    array_count(&user->commit_queue) == 0 &&
	    user->commit_timeout == NULL && mail_index_suspend(user->index)) {
#ifdef __GLIBC__
		/* what the connection freed is scattered through the heap:
		   give its whole pages back to the kernel (else the process
		   keeps them resident; other sessions reuse only part) */
		(void)malloc_trim(0);
#endif
		box->idle_suspend_retries = 0;
		return;
	}
	/* a commit, its sync or a transaction of this user is still in
	   flight (LOGIN's INBOX creation, an APPEND's group sync): without
	   another try the session would keep its connection all along */
	if (user->open_mailboxes == 1) {
		unsigned int shift = I_MIN(box->idle_suspend_retries, 6);
		box->idle_suspend_retries++;
		mailbox_idle_suspend_schedule(box, I_MIN(
			MAILBOX_SUSPEND_RETRY_MSECS << shift,
			MAILBOX_SUSPEND_RETRY_MAX_MSECS));
	}
}

static void mailbox_idle_suspend_schedule(struct mailbox *box,
					  unsigned int msecs)
{
	timeout_remove(&box->idle_suspend_to);
	if (current_ioloop != NULL) {
		box->idle_suspend_to = timeout_add(msecs, mailbox_idle_suspend,
						   box);
	}
}

/* Something other than the session's own sync reopened the index while
   the session waits (the user's periodic change-log prune): close it
   again after a while, or it would stay open for the rest of the IDLE. */
static void mailbox_index_resumed(void *context)
{
	struct mailbox *box = context;

	if (box->notify != NULL && box->idle_suspend_to == NULL)
		mailbox_idle_suspend_schedule(box, MAILBOX_WAKE_SUSPEND_MSECS);
}

/* A change wakes the waiting session, which syncs (reading the index,
   reopening it if it was suspended); then it waits again: release what
   the sync brought in, and suspend again after a while. */
static void mailbox_notify_input(void *context)
{
	struct mailbox *box = context;

	/* the callback may close the mailbox (and free the user):
	   mailbox_close() clears mailbox_notify_running then */
	mailbox_notify_running = box;
	/* someone committed: read, whatever the stamp says (see
	   MAILBOX_SYNC_STAMP_MAX_MSECS) */
	box->sync_stamp = 0;
	box->notify_callback(box->notify_context);
	if (mailbox_notify_running == box) {
		mail_index_release_memory(box->user->index);
		if (box->notify != NULL)
			mailbox_idle_suspend_schedule(box,
				MAILBOX_WAKE_SUSPEND_MSECS);
	}
	mailbox_notify_running = NULL;
}

int mailbox_notify_changes(struct mailbox *box, void (*callback)(void *),
			   void *context)
{
	const char *error;

	if (callback == NULL) {
		timeout_remove(&box->idle_suspend_to);
		if (box->notify != NULL) {
			mail_index_set_resume_callback(box->user->index,
						       NULL, NULL);
		}
		mail_index_notify_deinit(&box->notify);
		return 0;
	}
	box->notify_callback = callback;
	box->notify_context = context;
	if (box->notify == NULL &&
	    mail_index_notify_init(box->user->index, mailbox_notify_input,
				   box, &box->notify, &error) < 0) {
		return mail_user_set_internal_error(box->user, MAIL_ERROR_TEMP,
			"Change notification for %s: %s", box->name, error);
	}
	/* the session waits (IDLE): give back the index's page cache and
	   statements until it wakes, and its connection after a while */
	mail_index_release_memory(box->user->index);
	box->idle_suspend_retries = 0;
	mail_index_set_resume_callback(box->user->index, mailbox_index_resumed,
				       box);
	mailbox_idle_suspend_schedule(box, MAILBOX_IDLE_SUSPEND_MSECS);
	return 0;
}

/* --- flags, expunge, search, records --- */

/* After this session's flag update committed: if no other commit came
   between the view's last sync and it, the view plus the update is the
   index as the commit left it, so put the new flags in the view and
   move its stamp on (the next sync then reads nothing). Otherwise leave
   the view to the next sync, which reads the update back with the rest. */
static void
mailbox_view_apply_own_flags(struct mailbox *box, uint64_t prev_stamp,
			     uint64_t modseq,
			     const ARRAY_TYPE(mail_index_flag_result) *results)
{
	const struct mail_index_flag_result *res;
	uint64_t stamp =
		mail_index_get_own_commit_stamp(box->user->index, prev_stamp);

	if (stamp == 0)
		return;
	unsigned int changed = 0;
	array_foreach(results, res) {
		if (!res->changed)
			continue;
		changed++;
		unsigned int idx = view_lower_bound(box, res->uid);
		/* keywords are read back (the view interns their names) */
		if (res->keywords_changed || idx >= array_count(&box->view) ||
		    box->view.v[idx].uid != res->uid)
			return;
	}
	if (changed == 0) {
		/* the commit changed nothing */
		box->sync_stamp = stamp;
		return;
	}
	if (modseq <= box->highestmodseq)
		return;
	mailbox_view_unshare(box);
	array_foreach(results, res) {
		if (!res->changed)
			continue;
		struct mail_index_flags_rec *v =
			&box->view.v[view_lower_bound(box, res->uid)];
		v->flags = res->flags;
		v->modseq = modseq;
	}
	box->highestmodseq = modseq;
	box->sync_stamp = stamp;
}

/* True if adding or removing update's system flags changes none of the
   messages, by a view that is the index as it is now: then there is
   nothing to commit. Not for keywords (the view holds their names, the
   index their bits) nor UNCHANGEDSINCE or REPLACE (kept simple). */
static bool
mailbox_update_flags_is_noop(struct mailbox *box,
			     const ARRAY_TYPE(seq_range) *uids,
			     const struct mail_index_flag_update *update)
{
	const struct seq_range *r;

	if (update->keywords != NULL || update->unchangedsince_set ||
	    update->type == MAIL_INDEX_MODIFY_REPLACE ||
	    mail_index_in_batch(box->user->index) ||
	    !mailbox_view_is_current(box))
		return false;
	array_foreach(uids, r) {
		unsigned int idx = view_lower_bound(box, r->seq1);
		for (; idx < array_count(&box->view) &&
		     box->view.v[idx].uid <= r->seq2; idx++) {
			enum mail_flags old = box->view.v[idx].flags;
			enum mail_flags new = update->type == MAIL_INDEX_MODIFY_ADD ?
				old | update->flags : old & ~update->flags;
			if ((new & MAIL_FLAGS_MASK) != (old & MAIL_FLAGS_MASK))
				return false;
		}
	}
	return true;
}

int mailbox_update_flags(struct mailbox *box,
			 const ARRAY_TYPE(seq_range) *uids,
			 const struct mail_index_flag_update *update,
			 ARRAY_TYPE(seq_range) *modified_r,
			 ARRAY_TYPE(seq_range) *changed_r,
			 ARRAY_TYPE(seq_range) *external_r)
{
	struct mail_index *index = box->user->index;
	struct mail_index_transaction *t;
	ARRAY_TYPE(mail_index_flag_result) results;

	/* a client setting a flag the message has (\Seen again): no write
	   transaction, no commit to wake the user's other sessions */
	if (mailbox_update_flags_is_noop(box, uids, update))
		return 0;
	/* inside a batch nothing is committed here: the view must read
	   the batch's result once it is */
	uint64_t prev_stamp = mail_index_in_batch(index) ||
		update->keywords != NULL ? 0 : box->sync_stamp;
	array_init(&results, pool_datastack, 8);
	if (mail_index_transaction_begin(index, &t) < 0)
		return mail_user_set_index_error(box->user);
	if (mail_index_update_flags_results(t, box->id, uids, update,
					    modified_r, changed_r,
					    &results) < 0) {
		mail_index_transaction_rollback(&t);
		return mail_user_set_index_error(box->user);
	}
	uint64_t modseq = mail_index_transaction_get_modseq(t, box->id);
	/* before the view moves on: a modseq above the view's was given by
	   a commit the view has not read */
	uint64_t view_modseq = box->highestmodseq;
	if (mail_index_transaction_commit(&t) < 0)
		return mail_user_set_index_error(box->user);
	if (external_r != NULL) {
		const struct mail_index_flag_result *res;
		array_foreach(&results, res) {
			if (res->old_modseq > view_modseq)
				seq_range_array_add(external_r, res->uid);
		}
	}
	if (prev_stamp != 0)
		mailbox_view_apply_own_flags(box, prev_stamp, modseq, &results);
	return 0;
}

int mailbox_expunge(struct mailbox *box, const ARRAY_TYPE(seq_range) *uids,
		    bool only_deleted, ARRAY_TYPE(seq_range) *expunged_r)
{
	struct mail_index_transaction *t;
	ARRAY_TYPE(seq_range) all;
	unsigned int deleted;

	if (uids == NULL) {
		array_init(&all, pool_datastack, 1);
		seq_range_array_add_range(&all, 1, UINT32_MAX);
		uids = &all;
	}
	if (mail_index_transaction_begin(box->user->index, &t) < 0)
		return mail_user_set_index_error(box->user);
	if (mail_index_expunge(t, box->id, uids, only_deleted, expunged_r) < 0) {
		mail_index_transaction_rollback(&t);
		return mail_user_set_index_error(box->user);
	}
	if (mail_index_transaction_commit(&t) < 0)
		return mail_user_set_index_error(box->user);
	/* before the blobs go: they held the highest UIDs */
	mail_user_write_uidnext(box->user, box->id);
	/* the index no longer points at the blobs: delete them now; what
	   fails stays queued for the next purge */
	if (mail_user_purge_blobs(box->user, &deleted) < 0) {
		/* logged; what is left stays queued */
	}
	return 0;
}

int mailbox_search(struct mailbox *box,
		   const struct mail_index_search_arg *args,
		   ARRAY_TYPE(mail_uid) *uids_r, uint64_t *highest_modseq_r)
{
	if (mail_index_search(box->user->index, box->id, args, uids_r,
			      highest_modseq_r) < 0)
		return mail_user_set_index_error(box->user);
	return 0;
}

int mailbox_fetch_records(struct mailbox *box,
			  const ARRAY_TYPE(seq_range) *uids,
			  enum mail_index_fetch_fields fields, pool_t pool,
			  ARRAY_TYPE(mail_index_record) *records)
{
	struct mail_index_record *rec;
	unsigned int first = array_count(records);

	if (mail_index_fetch(box->user->index, box->id, uids, fields, pool,
			     records) < 0)
		return mail_user_set_index_error(box->user);
	if ((fields & MAIL_INDEX_FETCH_CACHE) == 0)
		return 0;
	for (unsigned int i = first; i < array_count(records); i++) {
		rec = &records->v[i];
		if (rec->envelope != NULL && rec->bodystructure != NULL &&
		    rec->parts != NULL)
			continue;
		/* not cached (an index rebuilt from blobs): parse the
		   message once and keep the result */
		ARRAY_TYPE(mail_index_record) one;
		ARRAY_TYPE(seq_range) uid;
		struct message_part *root;
		array_init(&one, pool, 1);
		array_init(&uid, pool_datastack, 1);
		seq_range_array_add(&uid, rec->uid);
		if (mail_fill_cache(box, rec->uid, rec->blob_key, pool, &root) < 0 ||
		    mail_index_fetch(box->user->index, box->id, &uid, fields,
				     pool, &one) < 0)
			return -1;
		if (array_count(&one) == 1)
			*rec = one.v[0];
	}
	return 0;
}
