/* Tests for the group WAL sync across processes (mail-index-durable.c):
   commits that wait behind another process's sync share one fdatasync();
   a reader that sees a commit whose writer has not synced it yet waits for
   that sync; a writer killed between its COMMIT and its sync leaves a slot
   that the next reader clears (and syncs for it). The sync lock is held
   from the test itself to make "a sync is in progress" deterministic.
   WAL checkpoints run in a thread beside the commits and the WAL still
   restarts, and stays bounded when commits never pause. */
#include "test-lib-index.h"
#include "mail-index-private.h"
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t now_msecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Take the sync lock as if a sync were in progress. */
static int test_sync_lock(const char *path)
{
	int fd = open(t_strdup_printf("%s-sync", path), O_RDWR | O_CLOEXEC);

	test_assert(fd != -1);
	test_assert(flock(fd, LOCK_EX) == 0);
	return fd;
}

static void test_sync_unlock(int fd)
{
	test_assert(flock(fd, LOCK_UN) == 0);
	(void)close(fd);
}

/* Wait (bounded) until the processes have taken n more tickets. */
static bool test_wait_requested(struct mail_index *index, uint64_t target)
{
	uint64_t deadline = now_msecs() + 10000;

	while (mail_index_durable_get_requested(index) < target) {
		if (now_msecs() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

/* A child appending one message; reports its sync statistics. */
static pid_t test_fork_appender(const char *path, uint32_t mailbox_id, int fd)
{
	mail_index_wait_checkpoints();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	struct mail_index *index = test_index_open_path(path);
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	struct mail_index_new_message msg = {
		.internal_date = 1700000000,
		.physical_size = 10, .rfc822_size = 10,
		.guid = "00112233445566778899aabbccddeeff",
		.blob_key = t_strdup_printf("test/%ld", (long)getpid()),
	};
	if (mail_index_reserve_uids(index, mailbox_id, 1, &res) < 0 ||
	    mail_index_transaction_begin(index, &t) < 0)
		_exit(2);
	/* each child's own reservation is the only one it waits for */
	int ret;
	while ((ret = mail_index_append(t, res, mail_index_reservation_get_uid1(res),
					&msg)) == 0) {
		mail_index_transaction_rollback(&t);
		usleep(1000);
		if (mail_index_transaction_begin(index, &t) < 0)
			_exit(3);
	}
	if (ret < 0 || mail_index_transaction_commit(&t) < 0)
		_exit(4);
	uint64_t stats[2];
	mail_index_get_durable_stats(index, &stats[0], &stats[1]);
	if (write(fd, stats, sizeof(stats)) != sizeof(stats))
		_exit(5);
	mail_index_reservation_free(&res);
	mail_index_close(&index);
	_exit(0);
}

static void test_wait_child(pid_t pid)
{
	int status;

	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_group_sync_shared(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	int fds[2];

	test_begin("durable: commits behind a sync share the next one");
	test_assert(mail_index_durable_is_grouped(index));
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(pipe(fds) == 0);
	uint64_t base = mail_index_durable_get_requested(index);
	int lock_fd = test_sync_lock(path);
	pid_t a = test_fork_appender(path, id, fds[1]);
	pid_t b = test_fork_appender(path, id, fds[1]);
	pid_t c = test_fork_appender(path, id, fds[1]);
	/* all three committed and wait for the sync "in progress"; the
	   rows are visible already (read with SQLite itself: a read through
	   the index would wait for the sync, like any reader) */
	test_assert(test_wait_requested(index, base + 3));
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(index->db,
		"SELECT count(*) FROM messages", -1, &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	test_assert(sqlite3_column_int(stmt, 0) == 3);
	sqlite3_finalize(stmt);
	test_sync_unlock(lock_fd);
	test_wait_child(a);
	test_wait_child(b);
	test_wait_child(c);
	uint64_t fsyncs = 0, joined = 0, stats[2];
	for (unsigned int i = 0; i < 3; i++) {
		test_assert(read(fds[0], stats, sizeof(stats)) == sizeof(stats));
		fsyncs += stats[0];
		joined += stats[1];
	}
	/* the first to get the lock synced for all three */
	test_assert(fsyncs == 1);
	test_assert(joined == 2);
	(void)close(fds[0]);
	(void)close(fds[1]);
	mail_index_close(&index);
	test_end();
}

static void test_reader_waits_for_sync(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index *reader = test_index_open_path(path);
	int fds[2];

	test_begin("durable: a reader seeing an unsynced commit syncs it first");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(pipe(fds) == 0);
	uint64_t base = mail_index_durable_get_requested(index);
	int lock_fd = test_sync_lock(path);
	pid_t a = test_fork_appender(path, id, fds[1]);
	test_assert(test_wait_requested(index, base + 1));

	/* the reader forks too: it must block until the lock is released */
	mail_index_wait_checkpoints();
	pid_t r = fork();
	if (r == 0) {
		ARRAY_TYPE(mail_index_record) recs;
		uint64_t start = now_msecs(), f, j;
		array_init(&recs, pool_datastack, 4);
		if (mail_index_fetch(reader, id, NULL, 0, pool_datastack,
				     &recs) < 0 || array_count(&recs) != 1)
			_exit(2);
		mail_index_get_durable_stats(reader, &f, &j);
		/* it waited for the lock and then synced (or joined) */
		_exit(now_msecs() - start >= 200 && f + j == 1 ? 0 : 3);
	}
	usleep(300 * 1000);
	test_sync_unlock(lock_fd);
	test_wait_child(r);
	test_wait_child(a);

	/* nothing pending: a read does not sync */
	uint64_t f1, j1, f2, j2;
	mail_index_get_durable_stats(reader, &f1, &j1);
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, pool_datastack, 4);
	test_assert(mail_index_fetch(reader, id, NULL, 0, pool_datastack,
				     &recs) == 0);
	mail_index_get_durable_stats(reader, &f2, &j2);
	test_assert(f1 == f2 && j1 == j2);
	(void)close(fds[0]);
	(void)close(fds[1]);
	mail_index_close(&reader);
	mail_index_close(&index);
	test_end();
}

static void test_dead_writer_slot(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);

	test_begin("durable: a writer killed before its sync leaves no stuck slot");
	(void)test_mailbox_create(index, "INBOX");
	mail_index_wait_checkpoints();
	pid_t pid = fork();
	if (pid == 0) {
		struct mail_index *w = test_index_open_path(path);
		/* as if killed between COMMIT and its sync */
		mail_index_durable_commit_begin(w);
		_exit(0);
	}
	test_wait_child(pid);
	uint64_t f1, j1, f2, j2, f3, j3;
	mail_index_get_durable_stats(index, &f1, &j1);
	test_assert(mail_index_reader_durable(index) == 0);
	mail_index_get_durable_stats(index, &f2, &j2);
	/* the dead writer's frames were synced on its behalf */
	test_assert(f2 + j2 == f1 + j1 + 1);
	test_assert(mail_index_reader_durable(index) == 0);
	mail_index_get_durable_stats(index, &f3, &j3);
	/* and the slot is free again: no more syncs */
	test_assert(f3 == f2 && j3 == j2);
	mail_index_close(&index);
	test_end();
}

static void test_fallback_full(void)
{
	const char *path = t_strdup_printf("%s/index-fallback.db", test_dir());
	struct mail_index *index;
	uint64_t fsyncs, joined;

	test_begin("durable: without the shared file, commits sync themselves");
	/* a directory where the sync file would be: it cannot be mapped */
	test_assert(mkdir(t_strdup_printf("%s-sync", path), 0700) == 0);
	test_expect_log(LOG_TYPE_WARNING, "Group WAL sync unavailable");
	index = test_index_open_path(path);
	test_assert(!mail_index_durable_is_grouped(index));
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 2, 0, NULL) == 1);
	mail_index_get_durable_stats(index, &fsyncs, &joined);
	test_assert(fsyncs == 0 && joined == 0);
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(index->db, "PRAGMA synchronous", -1,
				       &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	/* 2 = FULL */
	test_assert(sqlite3_column_int(stmt, 0) == 2);
	sqlite3_finalize(stmt);
	mail_index_close(&index);
	test_end();
}

/* One commit that flips \Flagged on uid. */
static void test_flag_flip(struct mail_index *index, uint32_t mailbox_id,
			   uint32_t uid, unsigned int i)
{
	struct mail_index_transaction *t;
	struct mail_index_flag_update upd;
	ARRAY_TYPE(seq_range) uids;

	memset(&upd, 0, sizeof(upd));
	upd.type = i % 2 == 0 ? MAIL_INDEX_MODIFY_ADD : MAIL_INDEX_MODIFY_REMOVE;
	upd.flags = MAIL_FLAGGED;
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add(&uids, uid);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, mailbox_id, &uids, &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
}

/* The WAL's size in frames, as a PASSIVE checkpoint reports it. */
static int test_wal_frames(struct mail_index *index)
{
	sqlite3_stmt *stmt;
	int frames = -1;

	test_assert(sqlite3_prepare_v2(index->db,
		"PRAGMA wal_checkpoint(PASSIVE)", -1, &stmt, NULL) == SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		frames = sqlite3_column_int(stmt, 1);
	sqlite3_finalize(stmt);
	return frames;
}

static bool test_wait_checkpoint_thread(struct mail_index *index)
{
	uint64_t deadline = now_msecs() + 30000;

	while (mail_index_checkpoint_running(index)) {
		if (now_msecs() > deadline)
			return false;
		usleep(1000);
	}
	return true;
}

static void test_checkpoint_thread(void)
{
	const char *path = t_strdup_printf("%s/index-ckpt.db", test_dir());
	struct mail_index *index = test_index_open_path(path);
	uint64_t async, sync;
	unsigned int i;

	test_begin("durable: WAL checkpoints run in a thread, not in the commit");
	test_assert(mail_index_durable_is_grouped(index));
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 1, 0, NULL) == 1);
	/* commits until the WAL passes 1,000 pages start one */
	for (i = 0; i < 20000; i++) {
		test_flag_flip(index, id, 1, i);
		mail_index_get_checkpoint_stats(index, &async, &sync);
		if (async > 0)
			break;
	}
	test_assert(async == 1);
	/* the commit that started it did not checkpoint itself */
	test_assert(sync == 0);
	/* alone, the thread copies the whole WAL: the next writer then
	   starts it over from its beginning */
	test_assert(test_wait_checkpoint_thread(index));
	test_flag_flip(index, id, 1, ++i);
	test_flag_flip(index, id, 1, ++i);
	int frames = test_wal_frames(index);
	test_assert(frames >= 0 && frames < 100);
	mail_index_get_checkpoint_stats(index, &async, &sync);
	test_assert(async == 1 && sync == 0);
	mail_index_close(&index);
	test_end();
}

static void test_checkpoint_bounded(void)
{
	const char *path = t_strdup_printf("%s/index-ckpt2.db", test_dir());
	struct mail_index *index = test_index_open_path(path);
	uint64_t async = 0, sync = 0;
	unsigned int i;
	int max_frames = 0;

	test_begin("durable: WAL stays bounded while commits never pause");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(test_append(index, id, 1, 0, NULL) == 1);
	/* a checkpoint beside running commits cannot finish the WAL; at
	   4,000 pages a commit checkpoints it itself and it restarts */
	for (i = 0; i < 40000 && sync == 0; i++) {
		test_flag_flip(index, id, 1, i);
		mail_index_get_checkpoint_stats(index, &async, &sync);
	}
	test_assert(async >= 1);
	test_assert(sync >= 1);
	test_assert(test_wait_checkpoint_thread(index));
	for (unsigned int j = 0; j < 10; j++)
		test_flag_flip(index, id, 1, ++i);
	max_frames = test_wal_frames(index);
	test_assert(max_frames >= 0 && max_frames < 4000);
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_durable_tests[] = {
	test_group_sync_shared,
	test_reader_waits_for_sync,
	test_dead_writer_slot,
	test_fallback_full,
	test_checkpoint_thread,
	test_checkpoint_bounded,
	NULL
};
