/* Tests for the index's quota usage: the triggers keep it with appends,
   expunges and mailbox deletes, a second connection (another process)
   sees the first one's commits, recalc repairs a wrong row, and the
   migration computes it for an index that already holds messages. */
#include "test-lib-index.h"
#include "mail-index-private.h"
#include "mail-index-quota.h"
#include <sys/wait.h>

static void test_quota_usage_is(struct mail_index *index, uint64_t storage,
				uint64_t messages)
{
	struct mail_index_quota_usage usage;

	test_assert(mail_index_quota_get(index, &usage) == 0);
	if (usage.storage != storage || usage.messages != messages) {
		test_fail("quota usage %llu bytes %llu messages, expected "
			  "%llu / %llu", (unsigned long long)usage.storage,
			  (unsigned long long)usage.messages,
			  (unsigned long long)storage,
			  (unsigned long long)messages);
	}
}

static void test_quota_triggers(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);

	test_begin("quota usage: appends, expunges, mailbox delete");
	test_quota_usage_is(index, 0, 0);
	uint32_t inbox = test_mailbox_create(index, "INBOX");
	uint32_t other = test_mailbox_create(index, "Other");
	/* test_append(): RFC822.SIZE 110, 111, 112... */
	(void)test_append(index, inbox, 3, 0, NULL);
	test_quota_usage_is(index, 110 + 111 + 112, 3);
	(void)test_append(index, other, 2, 0, NULL);
	test_quota_usage_is(index, 333 + 110 + 111, 5);
	test_expunge_set(index, inbox, "2");
	test_quota_usage_is(index, 333 - 111 + 221, 4);
	/* a second connection, as another process, sees the commits and
	   adds its own */
	struct mail_index *index2 = test_index_open_path(path);
	test_quota_usage_is(index2, 443, 4);
	(void)test_append(index2, inbox, 1, 0, NULL);
	test_quota_usage_is(index, 443 + 110, 5);
	mail_index_close(&index2);
	/* deleting a mailbox removes its messages' usage (the cascade
	   fires the trigger) */
	test_assert(mail_index_mailbox_delete(index, "Other") == 0);
	test_quota_usage_is(index, 553 - 221, 3);
	/* a rollback leaves nothing */
	struct mail_index_transaction *t;
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, inbox, test_uidset("1:*"), false,
				       NULL) == 0);
	mail_index_transaction_rollback(&t);
	test_quota_usage_is(index, 332, 3);
	/* what copying some of them would add: UIDs 1, 3, 4 are left
	   (110, 112, 110), 2 and 9 do not exist */
	struct mail_index_quota_usage part;
	test_assert(mail_index_quota_get_uids(index, inbox,
					      test_uidset("1:3,9"), &part) == 0);
	test_assert(part.storage == 222 && part.messages == 2);
	test_assert(mail_index_quota_get_uids(index, inbox,
					      test_uidset("1:*"), &part) == 0);
	test_assert(part.storage == 332 && part.messages == 3);
	/* what expunging the \Deleted ones would free */
	uint64_t deleted;
	test_assert(mail_index_quota_get_deleted(index, inbox, &deleted) == 0);
	test_assert(deleted == 0);
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_DELETED,
	};
	struct mail_index_transaction *t2;
	test_assert(mail_index_transaction_begin(index, &t2) == 0);
	test_assert(mail_index_update_flags(t2, inbox, test_uidset("3:4"),
					    &upd, NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t2) == 0);
	test_assert(mail_index_quota_get_deleted(index, inbox, &deleted) == 0);
	test_assert(deleted == 112 + 110);
	test_expunge_set(index, inbox, "1:*");
	test_quota_usage_is(index, 0, 0);
	mail_index_close(&index);
	test_end();
}

static void test_quota_recalc(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index_quota_usage old, new;
	sqlite3 *db;

	test_begin("quota usage: recalc repairs wrong mailbox counters");
	uint32_t inbox = test_mailbox_create(index, "INBOX");
	uint32_t other = test_mailbox_create(index, "Other");
	(void)test_append(index, inbox, 2, 0, NULL);
	(void)test_append(index, other, 1, 0, NULL);
	test_quota_usage_is(index, 221 + 110, 3);
	mail_index_close(&index);

	/* the usage is the mailboxes' counters: edited by hand, both are
	   wrong until recalc counts them again */
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db,
		"UPDATE mailboxes SET size = 5, messages = 99, unseen = 7, "
		"deleted = 3 WHERE name = 'INBOX';"
		"UPDATE mailboxes SET size = -40 WHERE name = 'Other'",
		NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	index = test_index_open_path(path);
	test_quota_usage_is(index, 0, 100);
	test_assert(mail_index_quota_recalc(index, &old, &new) == 0);
	test_assert(old.storage == 0 && old.messages == 100);
	test_assert(new.storage == 331 && new.messages == 3);
	test_quota_usage_is(index, 331, 3);
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, inbox, &status) == 0);
	test_assert(status.messages == 2 && status.unseen == 2 &&
		    status.deleted == 0);
	(void)test_append(index, inbox, 1, 0, NULL);
	test_quota_usage_is(index, 331 + 110, 4);
	mail_index_close(&index);
	test_end();
}

static void test_quota_migration(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	sqlite3 *db;

	test_begin("quota usage: migration counts an older index's messages");
	uint32_t inbox = test_mailbox_create(index, "INBOX");
	uint32_t other = test_mailbox_create(index, "Other");
	(void)test_append(index, inbox, 3, 0, NULL);
	(void)test_append(index, other, 1, 0, NULL);
	mail_index_close(&index);
	/* back to version 3, as an index made before quota existed (and
	   what later steps added: they run again too) */
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db,
		"DROP TABLE IF EXISTS message_search;"
		"DROP TRIGGER IF EXISTS quota_messages_insert;"
		"DROP TRIGGER IF EXISTS quota_messages_delete;"
		"DROP TRIGGER IF EXISTS quota_messages_size;"
		"DROP TABLE IF EXISTS quota_usage;"
		"DROP TRIGGER messages_size;"
		"DELETE FROM schema_version WHERE version >= 4",
		NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	index = test_index_open_path(path);
	test_quota_usage_is(index, 333 + 110, 4);
	(void)test_append(index, other, 1, 0, NULL);
	test_quota_usage_is(index, 443 + 110, 5);
	mail_index_close(&index);
	test_end();
}

#define QUOTA_WRITERS 4
#define QUOTA_ROUNDS 15

/* A writer process: QUOTA_ROUNDS transactions of 2 appends each, and
   an expunge of its first message of every round but the last. */
static int quota_writer_child(const char *path, uint32_t mailbox_id)
{
	struct mail_index *index = test_index_open_path(path);

	for (unsigned int i = 0; i < QUOTA_ROUNDS; i++) {
		uint32_t uid = test_append(index, mailbox_id, 2, 0, NULL);
		if (uid == 0)
			return 2;
		if (i + 1 < QUOTA_ROUNDS) {
			struct mail_index_transaction *t;
			if (mail_index_transaction_begin(index, &t) < 0)
				return 3;
			if (mail_index_expunge(t, mailbox_id,
					test_uidset(t_strdup_printf("%u", uid)),
					false, NULL) < 0) {
				mail_index_transaction_rollback(&t);
				return 4;
			}
			if (mail_index_transaction_commit(&t) < 0)
				return 5;
		}
	}
	mail_index_close(&index);
	return 0;
}

static void test_quota_concurrent_processes(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index_quota_usage old, new;
	pid_t pids[QUOTA_WRITERS];

	test_begin("quota usage: exact under concurrent writer processes");
	/* a mailbox each (UIDs of one mailbox commit in order, which
	   would make them wait for each other), one usage row for all */
	uint32_t boxes[QUOTA_WRITERS];
	for (unsigned int i = 0; i < QUOTA_WRITERS; i++)
		boxes[i] = test_mailbox_create(index, t_strdup_printf("b%u", i));
	for (unsigned int i = 0; i < QUOTA_WRITERS; i++) {
		mail_index_wait_checkpoints();
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(quota_writer_child(path, boxes[i]));
	}
	for (unsigned int i = 0; i < QUOTA_WRITERS; i++) {
		int status;
		test_assert_idx(waitpid(pids[i], &status, 0) == pids[i] &&
				WIFEXITED(status) && WEXITSTATUS(status) == 0,
				i);
	}
	/* every writer keeps both of its last round and the second of
	   every other round: the usage kept by the triggers is exactly
	   what the messages add up to */
	test_assert(mail_index_quota_recalc(index, &old, &new) == 0);
	test_assert(old.storage == new.storage && old.messages == new.messages);
	test_assert(new.messages == QUOTA_WRITERS * (QUOTA_ROUNDS + 1));
	test_assert(new.storage == QUOTA_WRITERS * (QUOTA_ROUNDS * 111 + 110));
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_quota_tests[] = {
	test_quota_triggers,
	test_quota_recalc,
	test_quota_migration,
	test_quota_concurrent_processes,
	NULL
};
