/* Tests for several processes on one index: two connections seeing each
   other's changes, the change notification reaching another process
   quickly, and concurrent appenders whose UIDs become visible in strictly
   ascending order. */
#include "test-lib-index.h"
#include "ioloop.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static uint64_t now_usecs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void test_two_connections(void)
{
	const char *path;
	struct mail_index *a = test_index_open(&path);
	struct mail_index *b = test_index_open_path(path);
	struct mail_index_status status;
	struct mail_index_mailbox box;
	struct mail_index_transaction *t;

	test_begin("two connections see each other's changes");
	uint32_t id = test_mailbox_create(a, "INBOX");
	test_assert(mail_index_mailbox_lookup(b, "INBOX", pool_datastack, &box) == 1);
	test_assert(box.id == id);
	test_append(a, id, 3, 0, NULL);
	test_assert(mail_index_mailbox_status(b, id, &status) == 0);
	test_assert(status.messages == 3 && status.uidnext == 4);
	/* b changes flags, a sees them */
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
	};
	test_assert(mail_index_transaction_begin(b, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("2"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(mail_index_mailbox_status(a, id, &status) == 0);
	test_assert(status.unseen == 2);
	/* both append: UIDs from one sequence */
	test_assert(test_append(b, id, 1, 0, NULL) == 4);
	test_assert(test_append(a, id, 1, 0, NULL) == 5);
	/* a snapshot in progress does not see a concurrent commit, the
	   next read does */
	struct mail_index_mailbox_changes changes;
	test_assert(mail_index_mailbox_get_changes(a, id, 0, pool_datastack,
						   &changes) == 1);
	test_assert(array_count(&changes.records) == 5);
	/* b deletes the mailbox: a's reservation for it fails cleanly */
	struct mail_index_reservation *res;
	test_assert(mail_index_reserve_uids(a, id, 1, &res) == 0);
	test_mailbox_create(b, "Other");
	test_assert(mail_index_mailbox_rename(b, "INBOX", "Old") == 0);
	test_assert(mail_index_mailbox_delete(b, "Old") == 0);
	test_assert(mail_index_transaction_begin(a, &t) == 0);
	struct mail_index_new_message msg = { .blob_key = "k", .guid = "g" };
	test_expect_log(LOG_TYPE_ERROR, "was dropped");
	test_assert(mail_index_append(t, res, mail_index_reservation_get_uid1(res),
				      &msg) < 0);
	mail_index_transaction_rollback(&t);
	mail_index_reservation_free(&res);
	mail_index_close(&b);
	mail_index_close(&a);
	test_end();
}

struct notify_ctx {
	struct mail_index *index;
	uint32_t mailbox_id;
	/* the mailbox's messages when the watch began */
	unsigned int messages;
	uint64_t fired_usecs;
	unsigned int callbacks;
	bool saw_append;
};

static void notify_start(struct notify_ctx *ctx)
{
	struct mail_index_status status;

	test_assert(mail_index_mailbox_status(ctx->index, ctx->mailbox_id,
					      &status) == 0);
	ctx->messages = status.messages;
}

/* A session reads what changed from the index itself (appends are not in
   the change log): here the mailbox's message count. */
static void notify_callback(void *context)
{
	struct notify_ctx *ctx = context;
	struct mail_index_status status;

	if (ctx->fired_usecs == 0)
		ctx->fired_usecs = now_usecs();
	ctx->callbacks++;
	if (mail_index_mailbox_status(ctx->index, ctx->mailbox_id,
				      &status) == 0 &&
	    status.messages > ctx->messages)
		ctx->saw_append = true;
}

/* The child: watch, report readiness, wait for the change, report the
   time it arrived. */
static int notify_child(const char *path, uint32_t mailbox_id,
			int ready_fd, int result_fd)
{
	struct ioloop *ioloop = ioloop_create();
	struct notify_ctx ctx = {
		.index = test_index_open_path(path), .mailbox_id = mailbox_id,
	};
	struct mail_index_notify *notify;
	const char *error;

	notify_start(&ctx);
	if (mail_index_notify_init(ctx.index, notify_callback, &ctx, &notify,
				   &error) < 0)
		return 1;
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	uint64_t end = now_usecs() + 5000000;
	while (!ctx.saw_append && now_usecs() < end)
		ioloop_run_once(ioloop, 100);
	uint64_t result[2] = { ctx.fired_usecs, ctx.saw_append ? 1 : 0 };
	if (write(result_fd, result, sizeof(result)) != sizeof(result))
		return 1;
	mail_index_notify_deinit(&notify);
	mail_index_close(&ctx.index);
	ioloop_destroy(&ioloop);
	return 0;
}

static void test_notify_other_process(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	int ready[2], result[2];
	char c;

	test_begin("change notification reaches another process < 100 ms");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(pipe(ready) == 0 && pipe(result) == 0);
	mail_index_wait_checkpoints();
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(result[0]);
		_exit(notify_child(path, id, ready[1], result[1]));
	}
	close(ready[1]);
	close(result[1]);
	test_assert(read(ready[0], &c, 1) == 1);

	uint64_t committed = 0;
	/* commit, and the moment it returned */
	test_append(index, id, 1, 0, NULL);
	committed = now_usecs();

	uint64_t res[2] = { 0, 0 };
	test_assert(read(result[0], res, sizeof(res)) == sizeof(res));
	int status;
	test_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	test_assert(res[1] == 1);
	/* the watcher may even wake before our commit call returns */
	int64_t latency = (int64_t)res[0] - (int64_t)committed;
	printf("  notification latency: %.3f ms\n", (double)latency / 1000.0);
	test_assert(res[0] != 0 && latency < 100000);
	close(ready[0]);
	close(result[0]);
	mail_index_close(&index);
	test_end();
}

static void test_notify_same_process(void)
{
	const char *path;
	struct ioloop *ioloop = ioloop_create();
	struct mail_index *writer = test_index_open(&path);
	struct notify_ctx ctx = { .index = test_index_open_path(path) };
	struct mail_index_notify *notify;
	const char *error;

	test_begin("change notification: coalesced, in the same process");
	uint32_t id = test_mailbox_create(writer, "INBOX");
	ctx.mailbox_id = id;
	notify_start(&ctx);
	test_assert(mail_index_notify_init(ctx.index, notify_callback, &ctx,
					   &notify, &error) == 0);
	for (unsigned int i = 0; i < 5; i++)
		test_append(writer, id, 1, 0, NULL);
	ioloop_run_once(ioloop, 1000);
	/* five commits, one wake-up, all five appends read */
	test_assert(ctx.callbacks == 1);
	test_assert(ctx.saw_append);
	ioloop_run_once(ioloop, 10);
	test_assert(ctx.callbacks == 1);
	mail_index_notify_deinit(&notify);
	test_assert(notify == NULL);
	mail_index_close(&ctx.index);
	mail_index_close(&writer);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_wait_change(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);

	test_begin("wait for a change without an ioloop");
	uint32_t id = test_mailbox_create(index, "INBOX");
	/* the first call sets the watch up: nothing has changed since */
	test_assert(mail_index_wait_change(index, 10) == 0);
	mail_index_wait_checkpoints();
	pid_t pid = fork();
	if (pid == 0) {
		struct mail_index *child = test_index_open_path(path);
		usleep(50000);
		_exit(test_append(child, id, 1, 0, NULL) == 1 ? 0 : 1);
	}
	uint64_t start = now_usecs();
	test_assert(mail_index_wait_change(index, 5000) == 1);
	test_assert(now_usecs() - start < 2000000);
	int status;
	test_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	mail_index_close(&index);
	test_end();
}

#define WRITERS 4
#define APPENDS_PER_WRITER 40

/* Append one message the way storage does: reserve, "write the blob"
   (sleep a random while), insert, retrying while a lower UID is
   pending. Returns the UID or 0. */
static uint32_t append_with_wait(struct mail_index *index, uint32_t id,
				 unsigned int *waits)
{
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	uint32_t uid;
	int ret;

	if (mail_index_reserve_uids(index, id, 1, &res) < 0)
		return 0;
	uid = mail_index_reservation_get_uid1(res);
	usleep((useconds_t)(rand() % 3000));
	for (;;) {
		struct mail_index_new_message msg = {
			.blob_key = t_strdup_printf("k/%u", uid), .guid = "g",
			.internal_date = 1,
		};
		if (mail_index_transaction_begin(index, &t) < 0)
			break;
		ret = mail_index_append(t, res, uid, &msg);
		if (ret > 0) {
			ret = mail_index_transaction_commit(&t) < 0 ? -1 : 1;
			break;
		}
		mail_index_transaction_rollback(&t);
		if (ret < 0)
			break;
		(*waits)++;
		usleep(500);
	}
	mail_index_reservation_free(&res);
	return ret > 0 ? uid : 0;
}

static int writer_child(const char *path, uint32_t id, unsigned int seed)
{
	struct mail_index *index = test_index_open_path(path);
	unsigned int waits = 0;

	srand(seed);
	for (unsigned int i = 0; i < APPENDS_PER_WRITER; i++) {
		if (append_with_wait(index, id, &waits) == 0)
			return 1;
	}
	mail_index_close(&index);
	return 0;
}

/* Watch the UID list: a UID that appears must be above every UID seen
   before (visible in ascending order), and none may disappear. */
static int watcher_child(const char *path, uint32_t id, unsigned int total)
{
	struct mail_index *index = test_index_open_path(path);
	ARRAY_TYPE(mail_uid) uids;
	uint32_t max_seen = 0;
	unsigned int seen = 0;
	uint64_t end = now_usecs() + 60000000;

	array_init(&uids, system_pool, 256);
	while (seen < total && now_usecs() < end) {
		array_clear(&uids);
		if (mail_index_get_uids(index, id, &uids) < 0)
			return 2;
		if (array_count(&uids) < seen)
			return 3;
		for (unsigned int i = 0; i < array_count(&uids); i++) {
			if (i > 0 && uids.v[i] <= uids.v[i - 1])
				return 4;
			/* the ones seen before are the first `seen` */
			if (i >= seen && uids.v[i] <= max_seen)
				return 5;
		}
		seen = array_count(&uids);
		if (seen > 0)
			max_seen = uids.v[seen - 1];
		usleep(200);
	}
	array_free(&uids);
	mail_index_close(&index);
	return seen == total ? 0 : 6;
}

static void test_concurrent_appends(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	pid_t pids[WRITERS + 1];
	unsigned int total = WRITERS * APPENDS_PER_WRITER;

	test_begin("concurrent appenders: UIDs unique, visible in order");
	uint32_t id = test_mailbox_create(index, "INBOX");
	mail_index_wait_checkpoints();
	pids[WRITERS] = fork();
	if (pids[WRITERS] == 0)
		_exit(watcher_child(path, id, total));
	for (unsigned int i = 0; i < WRITERS; i++) {
		mail_index_wait_checkpoints();
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(writer_child(path, id, i + 1));
	}
	for (unsigned int i = 0; i <= WRITERS; i++) {
		int status;
		test_assert_idx(waitpid(pids[i], &status, 0) == pids[i] &&
				WIFEXITED(status) && WEXITSTATUS(status) == 0, i);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			printf("  child %u exited with %d\n", i, WEXITSTATUS(status));
	}
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == total);
	test_assert(status.uidnext == total + 1);
	ARRAY_TYPE(mail_uid) uids;
	array_init(&uids, pool_datastack, total);
	test_assert(mail_index_get_uids(index, id, &uids) == 0);
	test_assert(array_count(&uids) == total);
	for (unsigned int i = 0; i < array_count(&uids); i++)
		test_assert_idx(uids.v[i] == i + 1, i);
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_concurrency_tests[] = {
	test_two_connections,
	test_notify_other_process,
	test_notify_same_process,
	test_wait_change,
	test_concurrent_appends,
	NULL
};
