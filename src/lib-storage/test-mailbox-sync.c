/* Tests for the mailbox view: sequence numbers and UIDs, syncing changes
   another session made (EXISTS, EXPUNGE in order, FLAGS), holding
   expunges back, the mailbox going away, and IDLE notification. */
#include "test-lib-storage.h"
#include "ioloop.h"
#include "mail-storage-private.h"

static const char *msg = "Subject: s\n\nbody\n";

static const char *events_str(const struct mailbox_sync_result *res)
{
	string_t *str = t_str_new(128);
	const struct mailbox_sync_event *ev;

	array_foreach(&res->events, ev) {
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		if (ev->type == MAILBOX_SYNC_EVENT_EXPUNGE)
			str_printfa(str, "X%u", ev->seq);
		else
			str_printfa(str, "F%u=%u", ev->seq, (unsigned int)ev->flags);
	}
	if (res->exists_changed)
		str_printfa(str, "%sE%u", str_len(str) > 0 ? " " : "",
			    res->messages_count);
	return str_c(str);
}

static const char *sync_str(struct mailbox *box, enum mailbox_sync_flags flags)
{
	struct mailbox_sync_result res;

	if (mailbox_sync(box, flags, pool_datastack, &res) < 0)
		return "(error)";
	if (res.mailbox_gone)
		return "(gone)";
	return events_str(&res);
}

static void test_sync_two_sessions(void)
{
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	/* a second process's session: its own index connection */
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;

	test_begin("sync: changes of another session");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 5; i++)
		test_save(box1, msg, 0, NULL);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert(mailbox_get_messages_count(box2) == 5);
	test_assert(mailbox_seq_to_uid(box2, 3) == 3);
	test_assert(mailbox_uid_to_seq(box2, 5) == 5);
	test_assert(mailbox_seq_to_uid(box2, 6) == 0);
	test_assert_strcmp(sync_str(box2, 0), "");

	/* session 1: new messages, flags, expunges */
	test_save(box1, msg, 0, NULL);
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
	};
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 4);
	seq_range_array_add(&uids, 4);
	seq_range_array_add(&uids, 5);
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	array_clear(&uids);
	seq_range_array_add(&uids, 2);
	seq_range_array_add(&uids, 3);
	test_assert(mailbox_expunge(box1, &uids, false, NULL) == 0);

	/* session 2 holds the expunges back during a FETCH... */
	test_assert_strcmp(sync_str(box2, MAILBOX_SYNC_FLAG_NO_EXPUNGES),
			   "F4=8 F5=8 E6");
	test_assert(mailbox_get_messages_count(box2) == 6);
	/* ...and reports them after, highest first: 3 then 2 */
	struct mailbox_sync_result res;
	test_assert(mailbox_sync(box2, 0, pool_datastack, &res) == 0);
	/* EXPUNGE alone: the client counts down itself, no EXISTS */
	test_assert_strcmp(events_str(&res), "X3 X2");
	test_assert(seq_range_count(&res.expunged_uids) == 2);
	test_assert(mailbox_get_messages_count(box2) == 4);
	test_assert(mailbox_seq_to_uid(box2, 2) == 4);
	test_assert(mailbox_uid_to_seq(box2, 6) == 4);
	test_assert(mailbox_uid_to_seq(box2, 2) == 0);
	const struct mail_index_flags_rec *rec = mailbox_get_message(box2, 3);
	test_assert(rec != NULL && rec->uid == 5 && rec->flags == MAIL_SEEN);
	test_assert(mailbox_get_highestmodseq(box2) == mailbox_get_highestmodseq(box1) ||
		    mailbox_get_highestmodseq(box2) > 1);

	/* seq <-> uid sets */
	ARRAY_TYPE(seq_range) seqs, out;
	array_init(&seqs, pool_datastack, 4);
	array_init(&out, pool_datastack, 4);
	seq_range_array_add_range(&seqs, 2, 10);
	mailbox_seqs_to_uids(box2, &seqs, &out);
	test_assert(seq_range_count(&out) == 3 && seq_range_exists(&out, 4) &&
		    seq_range_exists(&out, 6));
	array_clear(&seqs);
	mailbox_uids_to_seqs(box2, &out, &seqs);
	test_assert(seq_range_count(&seqs) == 3 && seq_range_exists(&seqs, 2) &&
		    seq_range_exists(&seqs, 4));

	/* session 1's view was opened empty and never synced: it learns
	   of the four messages there are now, nothing of the two that came
	   and went */
	test_assert_strcmp(sync_str(box1, 0), "E4");
	test_assert(mailbox_get_uidnext(box1) == 7);

	/* search maps to the view's UIDs */
	ARRAY_TYPE(mail_uid) found;
	array_init(&found, pool_datastack, 4);
	struct mail_index_search_arg arg = { .type = MAIL_INDEX_SEARCH_FLAGS,
		.value.flags = MAIL_SEEN };
	test_assert(mailbox_search(box2, &arg, &found, NULL) == 0);
	test_assert(array_count(&found) == 2 && found.v[0] == 4 && found.v[1] == 5);

	/* the mailbox goes away */
	mailbox_close(&box1);
	test_assert(mail_user_mailbox_rename(user1, "INBOX", "Renamed") == 0);
	test_assert(mail_user_mailbox_delete(user1, "Renamed") == 0);
	test_assert_strcmp(sync_str(box2, 0), "(gone)");
	mailbox_close(&box2);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	test_end();
}

struct idle_ctx {
	unsigned int notified;
};

static void idle_callback(void *context)
{
	struct idle_ctx *ctx = context;
	ctx->notified++;
}

/* Run the ioloop until the change notification came (5 s at most). */
static void test_wait_notified(struct ioloop *ioloop, struct idle_ctx *ctx)
{
	uint64_t end = ioloop_msecs_monotonic() + 5000;

	while (ctx->notified == 0 && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(ctx->notified > 0);
}

static void test_sync_notify(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;
	struct idle_ctx ctx = { 0 };

	test_begin("sync: IDLE notification, then sync");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert(mailbox_notify_changes(box2, idle_callback, &ctx) == 0);
	test_save(box1, msg, 0, NULL);
	test_wait_notified(ioloop, &ctx);
	test_assert_strcmp(sync_str(box2, 0), "E1");
	test_assert(mailbox_notify_changes(box2, NULL, NULL) == 0);
	mailbox_close(&box1);
	mailbox_close(&box2);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_sync_after_prune(void)
{
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;
	unsigned int pruned;

	test_begin("sync: expunges reach a view older than the pruned log");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 5; i++)
		test_save(box1, msg, 0, NULL);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert(mailbox_get_messages_count(box2) == 5);

	/* session 1 expunges 2 and 4, then the log loses those entries */
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 2);
	seq_range_array_add(&uids, 2);
	seq_range_array_add(&uids, 4);
	test_assert(mailbox_expunge(box1, &uids, false, NULL) == 0);
	test_save(box1, msg, 0, NULL);
	struct mail_index_prune_settings set = { .max_changes = 1 };
	test_assert(mail_index_changes_prune(mail_user_get_index(user1), &set,
					     &pruned) == 0);
	test_assert(pruned > 0);

	/* session 2's view predates the pruned entries: EXPUNGE from the
	   end (4, then 2), then the new message */
	test_assert_strcmp(sync_str(box2, 0), "X4 X2 E4");
	test_assert(mailbox_seq_to_uid(box2, 2) == 3);
	test_assert(mailbox_seq_to_uid(box2, 4) == 6);
	mailbox_close(&box1);
	mailbox_close(&box2);
	mail_user_deinit(&user1);
	mail_user_deinit(&user2);
	test_end();
}

static void test_recent_two_sessions(void)
{
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2, *ro;

	test_begin("recent: one read-write session claims each message");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 3; i++)
		test_save(box1, msg, 0, NULL);
	test_assert_strcmp(sync_str(box1, 0), "E3");
	/* a read-only view sees them without taking them */
	test_assert(mailbox_open(user2, "INBOX", &ro) == 0);
	test_assert(mailbox_recent_update(ro, false) == 0);
	test_assert(mailbox_get_recent_count(ro) == 3);
	test_assert(mailbox_recent_update(box1, true) == 0);
	test_assert(mailbox_get_recent_count(box1) == 3);
	test_assert(mailbox_is_recent(box1, 2));
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert(mailbox_recent_update(box2, true) == 0);
	test_assert(mailbox_get_recent_count(box2) == 0);
	test_assert(mailbox_get_recent_uids(box2) == NULL);
	/* a new message goes to the first one to sync */
	test_save(box1, msg, 0, NULL);
	test_assert_strcmp(sync_str(box2, 0), "E4");
	test_assert(mailbox_recent_update(box2, true) == 0);
	test_assert(mailbox_get_recent_count(box2) == 1);
	test_assert(mailbox_is_recent(box2, 4));
	test_assert_strcmp(sync_str(box1, 0), "E4");
	test_assert(mailbox_recent_update(box1, true) == 0);
	test_assert(mailbox_get_recent_count(box1) == 3);
	test_assert(!mailbox_is_recent(box1, 4));
	/* expunged messages stop counting */
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add_range(&uids, 1, 2);
	test_assert(mailbox_expunge(box1, &uids, false, NULL) == 0);
	test_assert(mailbox_sync(box1, 0, pool_datastack,
		&(struct mailbox_sync_result){ 0 }) == 0);
	test_assert(mailbox_get_recent_count(box1) == 1);
	mailbox_close(&ro);
	mailbox_close(&box2);
	mailbox_close(&box1);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	test_end();
}

/* Keyword changes seen by a session reuse the view's copy of each
   keyword combination: the view does not grow with every change. */
static void test_sync_keywords_bounded(void)
{
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;
	const char *kw_a[] = { "$Label1", "a-rather-long-keyword-name", NULL };
	const char *kw_b[] = { "$Label2", NULL };

	test_begin("sync: keyword changes do not grow the view");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 50; i++)
		test_save(box1, msg, 0, NULL);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);

	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 4);
	seq_range_array_add_range(&uids, 1, 50);
	size_t used_after_first = 0;
	for (unsigned int round = 0; round < 40; round++) {
		struct mail_index_flag_update upd = {
			.type = MAIL_INDEX_MODIFY_REPLACE,
			.keywords = round % 2 == 0 ? kw_a : kw_b,
		};
		test_assert(mailbox_update_flags(box1, &uids, &upd, NULL,
						 NULL, NULL) == 0);
		struct mailbox_sync_result res;
		test_assert(mailbox_sync(box2, 0, pool_datastack, &res) == 0);
		test_assert_idx(array_count(&res.events) == 50, round);
		const struct mail_index_flags_rec *rec =
			mailbox_get_message(box2, 7);
		test_assert_idx(rec != NULL && rec->keywords != NULL &&
				strcmp(rec->keywords[0], round % 2 == 0 ?
				       "$Label1" : "$Label2") == 0, round);
		if (round == 1)
			used_after_first = pool_get_used_size(box2->view_pool);
	}
	/* both combinations are interned after two rounds */
	test_assert(pool_get_used_size(box2->view_pool) == used_after_first);
	mailbox_close(&box2);
	mailbox_close(&box1);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	test_end();
}

/* The commit stamp lets a sync skip its read when nothing was committed
   since the view's last one: another session's commit is still seen by
   the next sync, and a session's own flag update moves its view on
   without a read only when no other commit came between. */
static void test_sync_stamp(void)
{
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_FLAGGED,
	};
	ARRAY_TYPE(seq_range) uids;

	test_begin("sync: nothing committed since the last sync, no read");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 3; i++)
		test_save(box1, msg, 0, NULL);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert_strcmp(sync_str(box1, 0), "E3");
	test_assert_strcmp(sync_str(box2, 0), "");
	uint64_t stamp2 = box2->sync_stamp;
	test_assert(stamp2 != 0);
	/* nothing new: the stamp stays, nothing is reported */
	test_assert_strcmp(sync_str(box2, 0), "");
	test_assert(box2->sync_stamp == stamp2);

	/* session 1's own update: its view has it, no read needed */
	array_init(&uids, pool_datastack, 4);
	seq_range_array_add(&uids, 2);
	uint64_t stamp1 = box1->sync_stamp;
	test_assert(stamp1 != 0);
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	test_assert(box1->sync_stamp == stamp1 + 1);
	const struct mail_index_flags_rec *rec = mailbox_get_message(box1, 2);
	test_assert(rec != NULL && rec->flags == MAIL_FLAGGED);
	test_assert(rec->modseq == mailbox_get_highestmodseq(box1));
	test_assert_strcmp(sync_str(box1, 0), "");

	/* session 2 was current before it: it reads the change */
	test_assert(!mail_index_unchanged_since(mail_user_get_index(user2),
						stamp2));
	test_assert_strcmp(sync_str(box2, 0), "F2=2");
	test_assert(mailbox_get_highestmodseq(box2) ==
		    mailbox_get_highestmodseq(box1));

	/* session 2 changes uid 1, then session 1 uid 3: session 1 must
	   not take its own stamp (it never read uid 1's change) */
	array_clear(&uids);
	seq_range_array_add(&uids, 1);
	test_assert(mailbox_update_flags(box2, &uids, &upd, NULL, NULL, NULL) == 0);
	array_clear(&uids);
	seq_range_array_add(&uids, 3);
	stamp1 = box1->sync_stamp;
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	test_assert(box1->sync_stamp == stamp1);
	test_assert_strcmp(sync_str(box1, 0), "F1=2 F3=2");
	test_assert_strcmp(sync_str(box2, 0), "F3=2");
	rec = mailbox_get_message(box1, 1);
	test_assert(rec != NULL && rec->flags == MAIL_FLAGGED);

	/* an update that changes nothing, by a current view, commits
	   nothing: the stamps stay */
	stamp1 = box1->sync_stamp;
	uint64_t index_stamp =
		mail_index_get_commit_stamp(mail_user_get_index(user1));
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	test_assert(box1->sync_stamp == stamp1);
	test_assert(mail_index_get_commit_stamp(mail_user_get_index(user1)) ==
		    index_stamp);
	test_assert_strcmp(sync_str(box1, 0), "");
	test_assert_strcmp(sync_str(box2, 0), "");
	/* the same update after session 2 took the flag off: session 1's
	   view is no longer current, the update commits */
	struct mail_index_flag_update unflag = {
		.type = MAIL_INDEX_MODIFY_REMOVE, .flags = MAIL_FLAGGED,
	};
	test_assert(mailbox_update_flags(box2, &uids, &unflag, NULL, NULL,
					 NULL) == 0);
	ARRAY_TYPE(seq_range) changed, external;
	array_init(&changed, pool_datastack, 4);
	array_init(&external, pool_datastack, 4);
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, &changed,
					 &external) == 0);
	test_assert(seq_range_exists(&changed, 3) &&
		    seq_range_exists(&external, 3));
	test_assert_strcmp(sync_str(box1, 0), "F3=2");
	rec = mailbox_get_message(box1, 3);
	test_assert(rec != NULL && rec->flags == MAIL_FLAGGED);
	test_assert_strcmp(sync_str(box2, 0), "F3=2");

	/* an expunge by session 2 kept back, then let through by a sync
	   that reads nothing */
	test_assert(mailbox_expunge(box2, &uids, false, NULL) == 0);
	test_assert_strcmp(sync_str(box1, MAILBOX_SYNC_FLAG_NO_EXPUNGES), "");
	stamp1 = box1->sync_stamp;
	test_assert(mail_index_unchanged_since(mail_user_get_index(user1),
					       stamp1));
	test_assert_strcmp(sync_str(box1, 0), "X3");
	test_assert(mailbox_get_messages_count(box1) == 2);

	mailbox_close(&box2);
	mailbox_close(&box1);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	test_end();
}

/* A commit the counters did not count (a writer that could not map the
   sync file, an older version during an upgrade) is still seen: by a
   session that keeps issuing commands once the stamp is a second old,
   by a waiting one at its change notification. The uncounted commit is
   made by setting the view's stamp past a counted one. */
static void test_sync_stamp_bounded(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *home;
	struct mail_user *user1 = test_user_init(&home);
	struct mail_user *user2 = test_user_init_home(home);
	struct mailbox *box1, *box2;
	struct mail_index *index2 = mail_user_get_index(user2);
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_FLAGGED,
	};
	ARRAY_TYPE(seq_range) uids;
	struct idle_ctx ctx = { 0 };

	test_begin("sync: a commit the stamps missed is read within a second");
	test_assert(mail_user_mailbox_create(user1, "INBOX", 0) == 0);
	test_assert(mailbox_open(user1, "INBOX", &box1) == 0);
	for (unsigned int i = 0; i < 2; i++)
		test_save(box1, msg, 0, NULL);
	test_assert(mailbox_open(user2, "INBOX", &box2) == 0);
	test_assert_strcmp(sync_str(box1, 0), "E2");
	test_assert_strcmp(sync_str(box2, 0), "");

	array_init(&uids, pool_datastack, 4);
	seq_range_array_add(&uids, 1);
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	box2->sync_stamp = mail_index_get_commit_stamp(index2);
	test_assert(box2->sync_stamp != 0);
	/* within the second the stamp is trusted */
	test_assert_strcmp(sync_str(box2, 0), "");
	/* then no longer */
	box2->sync_read_msecs -= 1000;
	test_assert_strcmp(sync_str(box2, 0), "F1=2");
	test_assert(mailbox_get_highestmodseq(box2) ==
		    mailbox_get_highestmodseq(box1));

	/* a waiting session: the notification reads at once */
	test_assert(mailbox_notify_changes(box2, idle_callback, &ctx) == 0);
	array_clear(&uids);
	seq_range_array_add(&uids, 2);
	test_assert(mailbox_update_flags(box1, &uids, &upd, NULL, NULL, NULL) == 0);
	box2->sync_stamp = mail_index_get_commit_stamp(index2);
	test_assert(box2->sync_stamp != 0);
	test_wait_notified(ioloop, &ctx);
	test_assert_strcmp(sync_str(box2, 0), "F2=2");
	test_assert(mailbox_notify_changes(box2, NULL, NULL) == 0);

	mailbox_close(&box2);
	mailbox_close(&box1);
	mail_user_deinit(&user2);
	mail_user_deinit(&user1);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_mailbox_sync_tests[] = {
	test_sync_two_sessions,
	test_sync_stamp,
	test_sync_stamp_bounded,
	test_sync_keywords_bounded,
	test_sync_after_prune,
	test_sync_notify,
	test_recent_two_sessions,
	NULL
};
