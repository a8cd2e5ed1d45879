/* Tests for the commit stamps (mail-index-durable.c): a commit by another
   connection or process is never hidden by a stamp taken before it; a
   commit between its two counts gives no stamp; a handle's own commit
   moves its stamp on only when no other commit came between; a recreated
   sync file starts the counters elsewhere; a writer without the group
   sync (mail_fsync = never) still counts its commits. */
#include "test-lib-index.h"
#include "mail-index-private.h"
#include <sys/stat.h>
#include <sys/wait.h>

static void test_flags_set(struct mail_index *index, uint32_t mailbox_id,
			   uint32_t uid, enum mail_index_modify_type type)
{
	struct mail_index_transaction *t;
	struct mail_index_flag_update upd;
	ARRAY_TYPE(seq_range) uids;

	memset(&upd, 0, sizeof(upd));
	upd.type = type;
	upd.flags = MAIL_FLAGGED;
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add(&uids, uid);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, mailbox_id, &uids, &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
}

static void test_stamp_other_connection(void)
{
	const char *path;
	struct mail_index *a = test_index_open(&path);
	struct mail_index *b = test_index_open_path(path);

	test_begin("stamp: another connection's commit is seen");
	uint32_t id = test_mailbox_create(a, "INBOX");
	test_assert(test_append(a, id, 2, 0, NULL) == 1);

	uint64_t stamp = mail_index_get_commit_stamp(a);
	test_assert(stamp != 0);
	test_assert(mail_index_unchanged_since(a, stamp));
	test_assert(mail_index_unchanged_since(b, stamp));
	/* reads change nothing */
	struct mail_index_mailbox_changes changes;
	test_assert(mail_index_mailbox_get_changes(b, id, 0, pool_datastack,
						   &changes) == 1);
	test_assert(mail_index_unchanged_since(a, stamp));

	test_flags_set(b, id, 1, MAIL_INDEX_MODIFY_ADD);
	test_assert(!mail_index_unchanged_since(a, stamp));
	uint64_t stamp2 = mail_index_get_commit_stamp(a);
	test_assert(stamp2 != 0 && stamp2 != stamp);
	test_assert(mail_index_unchanged_since(a, stamp2));

	/* a commit that changes nothing still counts (and ends) */
	test_flags_set(b, id, 1, MAIL_INDEX_MODIFY_ADD);
	test_assert(!mail_index_unchanged_since(a, stamp2));
	test_assert(mail_index_get_commit_stamp(a) != 0);
	/* no stamp: never unchanged */
	test_assert(!mail_index_unchanged_since(a, 0));
	mail_index_close(&b);
	mail_index_close(&a);
	test_end();
}

static void test_stamp_other_process(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);

	test_begin("stamp: another process's commit is seen");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 1, 0, NULL) == 1);
	uint64_t stamp = mail_index_get_commit_stamp(index);
	test_assert(stamp != 0);

	mail_index_wait_checkpoints();
	pid_t pid = fork();
	if (pid == 0) {
		struct mail_index *child = test_index_open_path(path);
		test_flags_set(child, id, 1, MAIL_INDEX_MODIFY_ADD);
		mail_index_close(&child);
		_exit(0);
	}
	int status;
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	test_assert(!mail_index_unchanged_since(index, stamp));
	/* and what it committed is there to read */
	struct mail_index_mailbox_changes changes;
	test_assert(mail_index_mailbox_get_changes(index, id, 0,
						   pool_datastack,
						   &changes) == 1);
	test_assert(array_count(&changes.records) == 1 &&
		    (changes.records.v[0].flags & MAIL_FLAGGED) != 0);
	mail_index_close(&index);
	test_end();
}

static void test_stamp_commit_between_counts(void)
{
	const char *path;
	struct mail_index *a = test_index_open(&path);
	struct mail_index *b = test_index_open_path(path);

	test_begin("stamp: none while a commit is between its counts");
	uint32_t id = test_mailbox_create(a, "INBOX");
	test_assert(test_append(a, id, 1, 0, NULL) == 1);
	uint64_t stamp = mail_index_get_commit_stamp(a);
	test_assert(stamp != 0);
	/* A write COMMIT that writes no page: the commit hook counts it,
	   nothing raises done after it. That is what other processes see
	   while a writer is between its COMMIT and its second count, or
	   after it was killed there. */
	test_assert(sqlite3_exec(b->db, "BEGIN IMMEDIATE; COMMIT",
				 NULL, NULL, NULL) == SQLITE_OK);
	test_assert(!mail_index_unchanged_since(a, stamp));
	test_assert(mail_index_get_commit_stamp(a) == 0);
	test_assert(mail_index_get_commit_stamp(b) == 0);
	/* the next writer's commit covers the gap */
	test_flags_set(a, id, 1, MAIL_INDEX_MODIFY_ADD);
	uint64_t stamp2 = mail_index_get_commit_stamp(b);
	test_assert(stamp2 != 0 && stamp2 >= stamp + 2);
	test_assert(mail_index_unchanged_since(a, stamp2));
	mail_index_close(&b);
	mail_index_close(&a);
	test_end();
}

static void test_stamp_own_commit(void)
{
	const char *path;
	struct mail_index *a = test_index_open(&path);
	struct mail_index *b = test_index_open_path(path);

	test_begin("stamp: own commit moves the stamp on only when alone");
	uint32_t id = test_mailbox_create(a, "INBOX");
	test_assert(test_append(a, id, 1, 0, NULL) == 1);
	uint64_t stamp = mail_index_get_commit_stamp(a);
	test_assert(stamp != 0);
	test_flags_set(a, id, 1, MAIL_INDEX_MODIFY_ADD);
	uint64_t own = mail_index_get_own_commit_stamp(a, stamp);
	test_assert(own == stamp + 1);
	test_assert(mail_index_unchanged_since(a, own));
	/* not for b, which did not commit it */
	test_assert(mail_index_get_own_commit_stamp(b, stamp) == 0);

	/* another commit between the stamp and ours: no own stamp */
	stamp = own;
	test_flags_set(b, id, 1, MAIL_INDEX_MODIFY_REMOVE);
	test_flags_set(a, id, 1, MAIL_INDEX_MODIFY_ADD);
	test_assert(mail_index_get_own_commit_stamp(a, stamp) == 0);
	test_assert(mail_index_get_own_commit_stamp(a, 0) == 0);
	mail_index_close(&b);
	mail_index_close(&a);
	test_end();
}

static void test_stamp_recreated(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);

	test_begin("stamp: a recreated index starts its counter elsewhere");
	(void)test_mailbox_create(index, "INBOX");
	uint64_t stamp = mail_index_get_commit_stamp(index);
	test_assert(stamp != 0);
	mail_index_close(&index);
	static const char *const suffixes[] = { "", "-wal", "-shm", "-sync" };
	for (unsigned int i = 0; i < N_ELEMENTS(suffixes); i++) {
		const char *p = t_strdup_printf("%s%s", path, suffixes[i]);
		test_assert(unlink(p) == 0 || errno == ENOENT);
	}
	index = test_index_open_path(path);
	(void)test_mailbox_create(index, "INBOX");
	uint64_t stamp2 = mail_index_get_commit_stamp(index);
	test_assert(stamp2 != 0 && stamp2 != stamp);
	test_assert(!mail_index_unchanged_since(index, stamp));
	mail_index_close(&index);
	test_end();
}

static void test_stamp_fsync_never(void)
{
	const char *path = t_strdup_printf("%s/index-stamp-never.db",
					   test_dir());
	struct mail_index_settings set = {
		.path = path, .fsync_mode = MAIL_INDEX_FSYNC_NEVER,
	};
	struct mail_index *never, *reader;
	const char *error;

	test_begin("stamp: a writer with mail_fsync = never counts too");
	test_assert(mail_index_open(&set, &never, &error) == 0);
	test_assert(!mail_index_durable_is_grouped(never));
	uint32_t id = test_mailbox_create(never, "INBOX");
	test_assert(test_append(never, id, 1, 0, NULL) == 1);
	reader = test_index_open_path(path);
	uint64_t stamp = mail_index_get_commit_stamp(reader);
	test_assert(stamp != 0);
	test_assert(mail_index_get_commit_stamp(never) == stamp);
	test_flags_set(never, id, 1, MAIL_INDEX_MODIFY_ADD);
	test_assert(!mail_index_unchanged_since(reader, stamp));
	test_assert(mail_index_get_own_commit_stamp(never, stamp) ==
		    stamp + 1);
	mail_index_close(&reader);
	mail_index_close(&never);
	test_end();
}

static void test_stamp_no_shared_file(void)
{
	const char *path = t_strdup_printf("%s/index-stamp-nofile.db",
					   test_dir());
	struct mail_index *index;

	test_begin("stamp: none without the shared file");
	/* a directory where the sync file would be: it cannot be mapped */
	test_assert(mkdir(t_strdup_printf("%s-sync", path), 0700) == 0);
	test_expect_log(LOG_TYPE_WARNING, "Group WAL sync unavailable");
	index = test_index_open_path(path);
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 1, 0, NULL) == 1);
	test_assert(mail_index_get_commit_stamp(index) == 0);
	test_assert(!mail_index_unchanged_since(index, 1));
	test_flags_set(index, id, 1, MAIL_INDEX_MODIFY_ADD);
	test_assert(mail_index_get_own_commit_stamp(index, 1) == 0);
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_stamp_tests[] = {
	test_stamp_other_connection,
	test_stamp_other_process,
	test_stamp_commit_between_counts,
	test_stamp_own_commit,
	test_stamp_recreated,
	test_stamp_fsync_never,
	test_stamp_no_shared_file,
	NULL
};
