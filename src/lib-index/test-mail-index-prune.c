/* Tests for change-log pruning: the count and age policies, batches, the
   minimum interval, and QRESYNC staying correct - changes since a modseq
   the pruned log no longer covers report every missing UID, changes
   since a newer one still come from the log. */
#include "test-lib-index.h"
#include "mail-index-private.h"

static void test_expunge_uids(struct mail_index *index, uint32_t id,
			      const char *uids, uint64_t *modseq_r)
{
	struct mail_index_transaction *t;

	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset(uids), false,
				       NULL) == 0);
	*modseq_r = mail_index_transaction_get_modseq(t, id);
	test_assert(mail_index_transaction_commit(&t) == 0);
}

static unsigned int test_count_changes(struct mail_index *index)
{
	ARRAY_TYPE(mail_index_change) changes;

	array_init(&changes, pool_datastack, 16);
	test_assert(mail_index_get_changes(index, 0, 0, &changes) == 0);
	return array_count(&changes);
}

static const char *test_ranges_str(const ARRAY_TYPE(seq_range) *ranges)
{
	string_t *str = t_str_new(64);
	const struct seq_range *r;

	array_foreach(ranges, r) {
		if (str_len(str) > 0)
			str_append_c(str, ',');
		if (r->seq1 == r->seq2)
			str_printfa(str, "%u", r->seq1);
		else
			str_printfa(str, "%u:%u", r->seq1, r->seq2);
	}
	return str_c(str);
}

static void test_prune_count_qresync(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_mailbox_changes changes;
	struct mail_index_prune_settings set = { .max_changes = 1 };
	uint64_t m1, m2, pruned_id;
	unsigned int pruned;

	test_begin("prune: count policy, VANISHED falls back to missing UIDs");
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, 6, 0, NULL);
	uint64_t before = 0;
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	before = status.highestmodseq;
	test_expunge_uids(index, id, "2,4", &m1);
	test_expunge_uids(index, id, "5", &m2);
	test_assert(m2 > m1 && m1 > before);
	unsigned int total = test_count_changes(index);
	test_assert(total >= 3);

	/* nothing pruned yet: answers come from the log */
	test_assert(mail_index_mailbox_get_changes(index, id, before,
		pool_datastack, &changes) == 1);
	test_assert(!changes.expunged_all_missing);
	test_assert(strcmp(test_ranges_str(&changes.expunged), "2,4:5") == 0);

	test_assert(mail_index_changes_prune(index, &set, &pruned) == 0);
	test_assert(pruned == total - 1);
	test_assert(test_count_changes(index) == 1);
	test_assert(mail_index_get_changes_pruned_id(index, &pruned_id) == 0);
	test_assert(pruned_id > 0);

	/* since before m1: the log lost the expunge of 2,4 - every UID
	   below UIDNEXT that is missing */
	test_assert(mail_index_mailbox_get_changes(index, id, before,
		pool_datastack, &changes) == 1);
	test_assert(changes.expunged_all_missing);
	test_assert(strcmp(test_ranges_str(&changes.expunged), "2,4:5") == 0);
	/* since m1: the kept entry (the expunge of 5) answers exactly */
	test_assert(mail_index_mailbox_get_changes(index, id, m1,
		pool_datastack, &changes) == 1);
	test_assert(!changes.expunged_all_missing);
	test_assert(strcmp(test_ranges_str(&changes.expunged), "5") == 0);
	/* nothing new since the newest: nothing at all */
	test_assert(mail_index_mailbox_get_changes(index, id, m2,
		pool_datastack, &changes) == 1);
	test_assert(array_count(&changes.expunged) == 0);

	/* new UIDs above the missing ones are listed too once expunged */
	uint32_t uid = test_append(index, id, 2, 0, NULL);
	test_assert(uid == 7);
	test_expunge_uids(index, id, "8", &m1);
	test_assert(mail_index_mailbox_get_changes(index, id, before,
		pool_datastack, &changes) == 1);
	test_assert(strcmp(test_ranges_str(&changes.expunged), "2,4:5,8") == 0);
	mail_index_close(&index);
	test_end();
}

static void test_prune_age_batch_interval(void)
{
	struct mail_index *index = test_index_open(NULL);
	unsigned int pruned;

	test_begin("prune: age policy, batches, minimum interval");
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, 10, 0, NULL);
	/* five log entries (appends are not logged) */
	for (unsigned int uid = 6; uid <= 10; uid++) {
		uint64_t modseq;
		test_expunge_uids(index, id, t_strdup_printf("%u", uid), &modseq);
	}
	unsigned int total = test_count_changes(index);
	test_assert(total >= 5);

	/* young entries stay */
	struct mail_index_prune_settings set = {
		.max_age_secs = 3600, .batch = 2,
	};
	test_assert(mail_index_changes_prune(index, &set, &pruned) == 0);
	test_assert(pruned == 0);
	test_assert(test_count_changes(index) == total);

	/* age all but the newest two entries */
	test_assert(mail_index_exec(index,
		"UPDATE changes SET time = 1000 WHERE id <= "
		"(SELECT max(id) - 2 FROM changes)") == 0);
	test_assert(mail_index_changes_prune(index, &set, &pruned) == 0);
	test_assert(pruned == 2);
	test_assert(test_count_changes(index) == total - 2);

	/* within the interval another call does nothing */
	set.min_interval_secs = 3600;
	test_assert(mail_index_changes_prune(index, &set, &pruned) == 0);
	test_assert(pruned == 0);
	set.min_interval_secs = 0;
	while (test_count_changes(index) > 2) {
		test_assert(mail_index_changes_prune(index, &set, &pruned) == 0);
		if (pruned == 0)
			break;
	}
	test_assert(test_count_changes(index) == 2);
	/* appends are answered from the messages' modseqs, the pruned
	   expunges from the UIDs missing below UIDNEXT */
	struct mail_index_mailbox_changes changes;
	test_assert(mail_index_mailbox_get_changes(index, id, 0,
		pool_datastack, &changes) == 1);
	test_assert(array_count(&changes.records) == 5);
	test_assert(strcmp(test_ranges_str(&changes.expunged), "6:10") == 0);

	/* no policy: nothing */
	struct mail_index_prune_settings none = { .max_changes = 0 };
	test_assert(mail_index_changes_prune(index, &none, &pruned) == 0);
	test_assert(pruned == 0);
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_prune_tests[] = {
	test_prune_count_qresync,
	test_prune_age_batch_interval,
	NULL
};
