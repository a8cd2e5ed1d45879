/* Append throughput with fsync (every message durable before its ack):
   one writer; N writer processes on one user's INBOX; N writer processes
   each on its own user (LMTP delivering to many users); and one process
   with N concurrent asynchronous saves on one user (group commit).
   BENCH_ONLY=latency instead measures index call latencies (p50/p99) in
   a reader while 0 or 4 processes append to the same user.
   Usage: bench-mail-save [DIR [MESSAGES_PER_WRITER]]. */
#include "lib.h"
#include "ioloop.h"
#include "mail-storage.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static const char *bench_msg;
/* per writer: WAL syncs it did, and commits another process's sync
   covered (shared with the forked writers) */
static uint64_t (*bench_sync_stats)[2];

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct mail_user *bench_user(const char *home)
{
	struct mail_user_settings set = {
		.username = "bench",
		.index_path = t_strdup_printf("%s/index.db", home),
		.blob_spec = t_strdup_printf("posix:%s/blobs", home),
	};
	struct mail_user *user;
	const char *error;

	(void)mkdir(home, 0700);
	if (mail_user_init(&set, &user, &error) < 0)
		i_fatal("%s", error);
	return user;
}

static void bench_prepare(const char *home)
{
	struct mail_user *user = bench_user(home);
	struct mail_index_mailbox box;

	if (mail_index_mailbox_lookup(mail_user_get_index(user), "INBOX",
				      pool_datastack, &box) == 0 &&
	    mail_user_mailbox_create(user, "INBOX", 0) < 0)
		i_fatal("create INBOX failed");
	mail_user_deinit(&user);
}

static int bench_writer(const char *home, unsigned int count,
			unsigned int writer)
{
	struct mail_user *user = bench_user(home);
	struct mailbox *box;

	if (mailbox_open(user, "INBOX", &box) < 0)
		return 1;
	for (unsigned int i = 0; i < count; i++) T_BEGIN {
		struct mailbox_transaction *t =
			mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
		struct mail_transaction_commit_result result;
		struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);
		if (ctx == NULL ||
		    mail_save_write(ctx, bench_msg, strlen(bench_msg)) < 0 ||
		    mail_save_finish(&ctx) < 0 ||
		    mailbox_transaction_commit_sync(&t, pool_datastack, &result) < 0)
			i_fatal("save failed");
	} T_END;
	mail_index_get_durable_stats(mail_user_get_index(user),
				     &bench_sync_stats[writer][0],
				     &bench_sync_stats[writer][1]);
	mailbox_close(&box);
	mail_user_deinit(&user);
	return 0;
}

/* writers processes, on one home or one home each */
static void bench_processes(const char *dir, unsigned int writers,
			    unsigned int count, bool separate_users)
{
	pid_t pids[64];
	const char *label = separate_users ? "users" : "user";

	for (unsigned int w = 0; w < writers; w++) {
		bench_prepare(t_strdup_printf("%s/%s-%u-%u", dir, label, writers,
					      separate_users ? w : 0));
	}
	double start = now_secs();
	for (unsigned int w = 0; w < writers; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			_exit(bench_writer(t_strdup_printf("%s/%s-%u-%u", dir,
				label, writers, separate_users ? w : 0), count, w));
		}
	}
	for (unsigned int w = 0; w < writers; w++) {
		int status;
		if (waitpid(pids[w], &status, 0) != pids[w] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			i_fatal("writer failed");
	}
	double secs = now_secs() - start;
	uint64_t syncs = 0;
	for (unsigned int w = 0; w < writers; w++)
		syncs += bench_sync_stats[w][0];
	printf("%2u writer process%s, %s: %5u messages in %.2f s = %6.0f msg/s"
	       " (%.2f WAL syncs/msg)\n",
	       writers, writers == 1 ? "  " : "es",
	       writers == 1 ? "one user        " :
	       separate_users ? "one user each   " : "same user, INBOX",
	       writers * count, secs, (double)(writers * count) / secs,
	       (double)syncs / (writers * count));
}

struct async_bench {
	struct mailbox *box;
	unsigned int started, done, total, concurrency;
};

static void async_start(struct async_bench *b);

static void async_done(int ret, const struct mail_transaction_commit_result *result ATTR_UNUSED,
		       void *context)
{
	struct async_bench *b = context;

	if (ret < 0)
		i_fatal("async save failed");
	b->done++;
	if (b->started < b->total)
		async_start(b);
}

static void async_start(struct async_bench *b)
{
	struct mailbox_transaction *t = mailbox_transaction_begin(b->box, 0);
	struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);

	if (ctx == NULL || mail_save_write(ctx, bench_msg, strlen(bench_msg)) < 0 ||
	    mail_save_finish(&ctx) < 0)
		i_fatal("async save failed");
	b->started++;
	mailbox_transaction_commit(&t, async_done, b);
}

static void bench_async(const char *dir, unsigned int concurrency,
			unsigned int total)
{
	struct ioloop *ioloop = ioloop_create();
	const char *home = t_strdup_printf("%s/async-%u", dir, concurrency);
	struct async_bench b = { .total = total, .concurrency = concurrency };

	bench_prepare(home);
	struct mail_user *user = bench_user(home);
	if (mailbox_open(user, "INBOX", &b.box) < 0)
		i_fatal("open failed");
	double start = now_secs();
	for (unsigned int i = 0; i < concurrency && b.started < total; i++)
		async_start(&b);
	while (b.done < total)
		ioloop_run_once(ioloop, 1000);
	double secs = now_secs() - start;
	printf("1 process, %2u concurrent async saves, same user: %5u messages "
	       "in %.2f s = %6.0f msg/s\n", concurrency, total, secs,
	       (double)total / secs);
	mailbox_close(&b.box);
	mail_user_deinit(&user);
	ioloop_destroy(&ioloop);
}

static int u64_cmp(const void *p1, const void *p2)
{
	uint64_t a = *(const uint64_t *)p1, b = *(const uint64_t *)p2;
	return a < b ? -1 : (a > b ? 1 : 0);
}

static void latency_report(const char *what, uint64_t *usecs, unsigned int n)
{
	qsort(usecs, n, sizeof(*usecs), u64_cmp);
	printf("  %-40s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms (n=%u)\n",
	       what, usecs[n / 2] / 1000.0, usecs[n * 99 / 100] / 1000.0,
	       usecs[n - 1] / 1000.0, n);
}

/* Index call latencies in one process while `writers` other processes
   append to the same user (what a session's ioloop waits for). */
static void bench_latency(const char *dir, unsigned int writers,
			  unsigned int count)
{
	const char *home = t_strdup_printf("%s/latency-%u", dir, writers);
	pid_t pids[64];
	const unsigned int n = 400;
	uint64_t *status_us = i_new(uint64_t, n), *select_us = i_new(uint64_t, n);
	uint64_t *changes_us = i_new(uint64_t, n), *sync_us = i_new(uint64_t, n);

	bench_prepare(home);
	/* a mailbox with some history to read */
	(void)bench_writer(home, 200, 0);
	for (unsigned int w = 0; w < writers; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			_exit(bench_writer(home, count, w));
	}
	struct mail_user *user = bench_user(home);
	struct mail_index *index = mail_user_get_index(user);
	struct mailbox *box;
	if (mailbox_open(user, "INBOX", &box) < 0)
		i_fatal("open failed");
	uint32_t id = mailbox_get_id(box);
	uint64_t since = mailbox_get_highestmodseq(box);
	for (unsigned int i = 0; i < n; i++) T_BEGIN {
		struct mail_index_status status;
		struct mail_index_select sel;
		struct mail_index_mailbox_changes changes;
		struct mailbox_sync_result res;
		double t0 = now_secs();
		if (mail_index_mailbox_status(index, id, &status) < 0)
			i_fatal("status failed");
		double t1 = now_secs();
		if (mail_index_mailbox_select(index, id, pool_datastack, &sel) <= 0)
			i_fatal("select failed");
		double t2 = now_secs();
		if (mail_index_mailbox_get_changes(index, id, since, pool_datastack,
						   &changes) <= 0)
			i_fatal("changes failed");
		double t3 = now_secs();
		if (mailbox_sync(box, 0, pool_datastack, &res) < 0)
			i_fatal("sync failed");
		double t4 = now_secs();
		status_us[i] = (uint64_t)((t1 - t0) * 1e6);
		select_us[i] = (uint64_t)((t2 - t1) * 1e6);
		changes_us[i] = (uint64_t)((t3 - t2) * 1e6);
		sync_us[i] = (uint64_t)((t4 - t3) * 1e6);
		usleep(2000);
	} T_END;
	printf("index call latency, %u writer processes appending to the same user:\n",
	       writers);
	latency_report("mail_index_mailbox_status()", status_us, n);
	latency_report("mail_index_mailbox_select() (SELECT)", select_us, n);
	latency_report("mail_index_mailbox_get_changes()", changes_us, n);
	latency_report("mailbox_sync() (NOOP/IDLE wake-up)", sync_us, n);
	for (unsigned int w = 0; w < writers; w++) {
		int status;
		(void)waitpid(pids[w], &status, 0);
	}
	mailbox_close(&box);
	mail_user_deinit(&user);
	i_free(status_us);
	i_free(select_us);
	i_free(changes_us);
	i_free(sync_us);
}

int main(int argc, char *argv[])
{
	const char *dir = argc > 1 ? argv[1] :
		t_strdup_printf("/tmp/bench-mail-save-%ld", (long)getpid());
	unsigned int count = 200;

	if (argc > 2 && str_to_uint(argv[2], &count) < 0)
		i_fatal("bad count");
	(void)mkdir(dir, 0700);
	bench_sync_stats = mmap(NULL, 64 * sizeof(*bench_sync_stats),
				PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (bench_sync_stats == MAP_FAILED)
		i_fatal("mmap() failed: %m");

	/* a typical small message: ~4 KB */
	string_t *msg = t_str_new(5000);
	str_append(msg, "From: sender@example.com\r\nTo: rcpt@example.org\r\n"
		   "Subject: benchmark\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
		   "Message-ID: <bench@example.com>\r\n\r\n");
	while (str_len(msg) < 4000)
		str_append(msg, "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
	bench_msg = str_c(msg);

	/* BENCH_ONLY=processes|users|async runs one group */
	const char *only = getenv("BENCH_ONLY");
	if (only == NULL || strcmp(only, "processes") == 0) {
		bench_processes(dir, 1, count, false);
		bench_processes(dir, 4, count, false);
		bench_processes(dir, 16, count / 2, false);
	}
	if (only == NULL || strcmp(only, "users") == 0) {
		bench_processes(dir, 4, count, true);
		bench_processes(dir, 16, count / 2, true);
	}
	if (only == NULL || strcmp(only, "async") == 0) {
		bench_async(dir, 16, count * 4);
		bench_async(dir, 64, count * 4);
	}
	if (only != NULL && strcmp(only, "latency") == 0) {
		bench_latency(dir, 0, count);
		bench_latency(dir, 4, count);
	}
	printf("(data left in %s)\n", dir);
	return 0;
}
