/* Tests for mail_fsync modes and the commit paths around them: which
   commits wait for a WAL fdatasync (OPTIMIZED: only those that make a UID
   visible; ALWAYS: all; NEVER: none), the asynchronous commit whose sync
   runs apart from the COMMIT (a reader in the same process waits for it),
   mailbox-list batches, and an open and
   close of an up-to-date index that write nothing. */
#include "test-lib-index.h"
#include "mail-index-private.h"
#include <sys/stat.h>

static struct mail_index *
test_index_open_mode(const char *path, enum mail_index_fsync_mode mode)
{
	struct mail_index_settings set = { .path = path, .fsync_mode = mode };
	struct mail_index *index;
	const char *error;

	if (mail_index_open(&set, &index, &error) < 0)
		i_fatal("mail_index_open(%s) failed: %s", path, error);
	return index;
}

static uint64_t test_fsyncs(struct mail_index *index)
{
	uint64_t fsyncs, joined;

	mail_index_get_durable_stats(index, &fsyncs, &joined);
	return fsyncs + joined;
}

static int test_flag_update(struct mail_index *index, uint32_t id,
			    const char *uids)
{
	struct mail_index_transaction *t;
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
	};

	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	if (mail_index_update_flags(t, id, test_uidset(uids), &upd,
				    NULL, NULL) < 0) {
		mail_index_transaction_rollback(&t);
		return -1;
	}
	return mail_index_transaction_commit(&t);
}

static int test_expunge(struct mail_index *index, uint32_t id,
			const char *uids)
{
	struct mail_index_transaction *t;

	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	if (mail_index_expunge(t, id, test_uidset(uids), false, NULL) < 0) {
		mail_index_transaction_rollback(&t);
		return -1;
	}
	return mail_index_transaction_commit(&t);
}

static void test_fsync_optimized(void)
{
	const char *path = t_strdup_printf("%s/fsync-opt.db", test_dir());
	struct mail_index *index =
		test_index_open_mode(path, MAIL_INDEX_FSYNC_OPTIMIZED);

	test_begin("fsync optimized: only saves wait for the disk");
	test_assert(mail_index_durable_is_grouped(index));
	uint64_t f0 = test_fsyncs(index);
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_mailbox_subscribe(index, "INBOX", true) == 0);
	test_assert(test_fsyncs(index) == f0);
	test_assert(test_append(index, id, 3, 0, NULL) == 1);
	uint64_t f1 = test_fsyncs(index);
	test_assert(f1 == f0 + 1);
	test_assert(test_flag_update(index, id, "1:2") == 0);
	test_assert(test_expunge(index, id, "3") == 0);
	test_assert(test_fsyncs(index) == f1);
	/* no writer holds a slot: a reader reports without syncing */
	struct mail_index *reader =
		test_index_open_mode(path, MAIL_INDEX_FSYNC_OPTIMIZED);
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, pool_datastack, 4);
	test_assert(mail_index_fetch(reader, id, NULL, 0, pool_datastack,
				     &recs) == 0);
	test_assert(array_count(&recs) == 2 &&
		    (array_idx(&recs, 0)->flags & MAIL_SEEN) != 0);
	test_assert(test_fsyncs(reader) == 0);
	/* an explicit sync does sync */
	test_assert(mail_index_sync_all(index) == 0);
	test_assert(test_fsyncs(index) == f1 + 1);
	mail_index_close(&reader);
	mail_index_close(&index);
	test_end();
}

static void test_fsync_always_never(void)
{
	const char *path = t_strdup_printf("%s/fsync-always.db", test_dir());
	struct mail_index *index =
		test_index_open_mode(path, MAIL_INDEX_FSYNC_ALWAYS);

	test_begin("fsync always: every commit syncs; never: none");
	uint64_t f0 = test_fsyncs(index);
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_fsyncs(index) == f0 + 1);
	test_assert(test_append(index, id, 2, 0, NULL) == 1);
	test_assert(test_flag_update(index, id, "1") == 0);
	test_assert(test_fsyncs(index) == f0 + 3);
	mail_index_close(&index);

	index = test_index_open_mode(path, MAIL_INDEX_FSYNC_NEVER);
	test_assert(!mail_index_durable_is_grouped(index));
	test_assert(test_append(index, id, 2, 0, NULL) == 3);
	test_assert(test_flag_update(index, id, "1:4") == 0);
	test_assert(mail_index_sync_all(index) == 0);
	test_assert(test_fsyncs(index) == 0);
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(index->db, "PRAGMA synchronous", -1,
				       &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	/* 0 = OFF */
	test_assert(sqlite3_column_int(stmt, 0) == 0);
	sqlite3_finalize(stmt);
	mail_index_close(&index);

	enum mail_index_fsync_mode mode;
	test_assert(mail_index_fsync_mode_parse("never", &mode) == 0 &&
		    mode == MAIL_INDEX_FSYNC_NEVER);
	test_assert(mail_index_fsync_mode_parse("optimized", &mode) == 0 &&
		    mode == MAIL_INDEX_FSYNC_OPTIMIZED);
	test_assert(mail_index_fsync_mode_parse("Always", &mode) < 0);
	test_assert(mail_index_fsync_mode_parse("", &mode) < 0);
	test_end();
}

/* An append committed asynchronously: visible at once, the sync apart. */
static struct mail_index_commit_sync *
test_append_async(struct mail_index *index, uint32_t id)
{
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	struct mail_index_commit_sync *sync = NULL;
	struct mail_index_new_message msg = {
		.internal_date = 1700000000,
		.physical_size = 10, .rfc822_size = 10,
		.guid = "00112233445566778899aabbccddeeff",
		.blob_key = "test/async",
	};

	if (mail_index_reserve_uids(index, id, 1, &res) < 0 ||
	    mail_index_transaction_begin(index, &t) < 0) {
		test_fail("reserve/begin");
		return NULL;
	}
	test_assert(mail_index_append(t, res,
		mail_index_reservation_get_uid1(res), &msg) == 1);
	test_assert(mail_index_transaction_commit_async(&t, &sync) == 0);
	test_assert(t == NULL);
	mail_index_reservation_free(&res);
	return sync;
}

static void test_fsync_async_commit(void)
{
	const char *path = t_strdup_printf("%s/fsync-async.db", test_dir());
	struct mail_index *index =
		test_index_open_mode(path, MAIL_INDEX_FSYNC_OPTIMIZED);
	struct mail_index *reader =
		test_index_open_mode(path, MAIL_INDEX_FSYNC_OPTIMIZED);

	test_begin("fsync: async commit syncs apart, same-process readers wait");
	uint32_t id = test_mailbox_create(index, "INBOX");
	uint64_t f0 = test_fsyncs(index);
	struct mail_index_commit_sync *sync = test_append_async(index, id);
	test_assert(sync != NULL);
	/* committed, not synced yet */
	test_assert(test_fsyncs(index) == f0);
	/* another transaction may run meanwhile */
	test_assert(test_flag_update(index, id, "1") == 0);
	/* a session of this process reading the row syncs first */
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, pool_datastack, 4);
	test_assert(mail_index_fetch(reader, id, NULL, 0, pool_datastack,
				     &recs) == 0);
	test_assert(array_count(&recs) == 1);
	test_assert(test_fsyncs(reader) == 1);
	if (sync != NULL) {
		mail_index_commit_sync_run(sync);
		test_assert(mail_index_commit_sync_finish(&sync) == 0);
		test_assert(sync == NULL);
	}
	/* the reader's sync came after our ticket: joined, or synced again */
	test_assert(test_fsyncs(index) == f0 + 1);
	/* nothing in flight: reading does not sync */
	test_assert(mail_index_fetch(reader, id, NULL, 0, pool_datastack,
				     &recs) == 0);
	test_assert(test_fsyncs(reader) == 1);

	/* a flag change needs no sync: committed at once */
	struct mail_index_transaction *t;
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_FLAGGED,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit_async(&t, &sync) == 0);
	test_assert(sync == NULL);
	mail_index_close(&reader);
	mail_index_close(&index);
	test_end();
}

static void test_mailbox_batch(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	uint64_t change1, change2, change3;

	test_begin("mailbox batch: one commit, a failing call undoes itself");
	(void)test_mailbox_create(index, "INBOX");
	test_assert(mail_index_get_last_change_id(index, &change1) == 0);
	test_assert(mail_index_batch_begin(index) == 0);
	test_assert(mail_index_in_batch(index));
	test_assert(mail_index_mailbox_create(index, "Sent", MAIL_SPECIAL_USE_SENT,
					      NULL, NULL) == 0);
	test_assert(mail_index_mailbox_subscribe(index, "Sent", true) == 0);
	/* exists: fails, and only this call is undone */
	test_assert(mail_index_mailbox_create(index, "INBOX", 0, NULL, NULL) < 0);
	test_assert(mail_index_get_last_error(index, NULL, NULL) ==
		    MAIL_ERROR_EXISTS);
	test_assert(mail_index_mailbox_create(index, "Trash", 0, NULL, NULL) == 0);
	test_assert(mail_index_mailbox_set_special_use(index, "Trash",
		MAIL_SPECIAL_USE_TRASH) == 0);
	/* invalid name: fails before touching anything */
	test_assert(mail_index_mailbox_create(index, "a/../b", 0, NULL, NULL) < 0);
	test_assert(mail_index_batch_commit(index) == 0);
	test_assert(!mail_index_in_batch(index));

	struct mail_index_mailbox box;
	test_assert(mail_index_mailbox_lookup(index, "Trash", pool_datastack,
					      &box) == 1 &&
		    box.special_use == MAIL_SPECIAL_USE_TRASH);
	ARRAY_TYPE(mail_index_list_entry) subs;
	const char *const all[] = { "*", NULL };
	array_init(&subs, pool_datastack, 4);
	test_assert(mail_index_mailbox_list(index, all,
		MAIL_INDEX_LIST_SUBSCRIBED, pool_datastack, &subs) == 0);
	test_assert(array_count(&subs) == 1 &&
		    strcmp(array_idx(&subs, 0)->name, "Sent") == 0);
	test_assert(mail_index_get_last_change_id(index, &change2) == 0);
	/* create Sent, subscribe, create Trash, special-use */
	test_assert(change2 == change1 + 4);

	/* a rolled-back batch leaves nothing */
	test_assert(mail_index_batch_begin(index) == 0);
	test_assert(mail_index_mailbox_create(index, "Junk", 0, NULL, NULL) == 0);
	mail_index_batch_rollback(index);
	test_assert(mail_index_mailbox_lookup(index, "Junk", pool_datastack,
					      &box) == 0);
	test_assert(mail_index_get_last_change_id(index, &change3) == 0);
	test_assert(change3 == change2);
	/* a batch still open at close is rolled back */
	test_assert(mail_index_batch_begin(index) == 0);
	test_assert(mail_index_mailbox_create(index, "Junk", 0, NULL, NULL) == 0);
	mail_index_close(&index);
	index = test_index_open_path(path);
	test_assert(mail_index_mailbox_lookup(index, "Junk", pool_datastack,
					      &box) == 0);
	mail_index_close(&index);
	test_end();
}

/* Size and mtime of the database and its WAL. */
static void test_index_files_stat(const char *path, struct stat st_r[2])
{
	memset(st_r, 0, sizeof(struct stat) * 2);
	test_assert(stat(path, &st_r[0]) == 0);
	(void)stat(t_strdup_printf("%s-wal", path), &st_r[1]);
}

static void test_open_close_writes_nothing(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct stat before[2], after[2];

	test_begin("open and close of an up-to-date index write nothing");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 2, 0, NULL) == 1);
	mail_index_close(&index);
	/* the last close leaves the WAL (no checkpoint) */
	test_index_files_stat(path, before);
	test_assert(before[1].st_size > 0);
	for (unsigned int i = 0; i < 3; i++) {
		index = test_index_open_path(path);
		test_assert(test_fsyncs(index) == 0);
		mail_index_close(&index);
	}
	test_index_files_stat(path, after);
	for (unsigned int i = 0; i < 2; i++) {
		test_assert_idx(before[i].st_size == after[i].st_size, i);
		test_assert_idx(before[i].st_mtim.tv_sec == after[i].st_mtim.tv_sec &&
				before[i].st_mtim.tv_nsec == after[i].st_mtim.tv_nsec, i);
	}
	test_end();
}

test_func_t *const test_mail_index_fsync_tests[] = {
	test_fsync_optimized,
	test_fsync_always_never,
	test_fsync_async_commit,
	test_mailbox_batch,
	test_open_close_writes_nothing,
	NULL
};
