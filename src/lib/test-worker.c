/* Tests for the worker pool: many jobs on several threads with done
   callbacks in the loop thread, ordering, cancellation, the queue limit and
   destroy waiting for running jobs. Worker threads only record results;
   every assert runs in the main thread (the test runner is not
   thread-safe). */
#include "test-lib.h"
#include "ioloop.h"
#include "worker.h"
#include <pthread.h>
#include <signal.h>

#define TEST_TIMEOUT_MSECS 20000

static pthread_t main_thread;

static bool run_until(struct ioloop *ioloop, const bool *done)
{
	uint64_t end = ioloop_msecs_monotonic() + TEST_TIMEOUT_MSECS;
	while (!*done && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	if (!*done)
		test_fail("timed out waiting for the loop");
	return *done;
}

struct many_job {
	unsigned int idx;
	uint64_t result;
	pthread_t work_thread;
	bool worked, work_in_main, signals_blocked;
	bool done, done_in_main, done_after_work;
};

struct many_ctx {
	struct many_job jobs[1000];
	unsigned int done_count;
	bool all_done;
};

static struct many_ctx *many_ctx;

static void many_work(void *context)
{
	struct many_job *job = context;
	sigset_t mask;

	job->work_thread = pthread_self();
	job->work_in_main = pthread_equal(pthread_self(), main_thread) != 0;
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	job->signals_blocked = sigismember(&mask, SIGTERM) == 1 &&
		sigismember(&mask, SIGINT) == 1 &&
		sigismember(&mask, SIGUSR1) == 1 &&
		sigismember(&mask, SIGCHLD) == 1;
	/* some real work, and a pause now and then so the other threads get
	   their share */
	uint64_t x = job->idx;
	for (unsigned int i = 0; i < 1000; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	job->result = x;
	if (job->idx % 50 == 0)
		usleep(1000);
	job->worked = true;
}

static void many_done(void *context)
{
	struct many_job *job = context;

	job->done = true;
	job->done_in_main = pthread_equal(pthread_self(), main_thread) != 0;
	job->done_after_work = job->worked;
	if (++many_ctx->done_count == N_ELEMENTS(many_ctx->jobs))
		many_ctx->all_done = true;
}

static void test_worker_many(void)
{
	test_begin("worker 1000 jobs on 4 threads");
	main_thread = pthread_self();
	struct ioloop *ioloop = ioloop_create();
	struct worker_pool *pool = worker_pool_create(4, 1000);
	many_ctx = i_new(struct many_ctx, 1);

	test_assert(worker_pool_get_thread_count(pool) == 4);
	for (unsigned int i = 0; i < N_ELEMENTS(many_ctx->jobs); i++) {
		many_ctx->jobs[i].idx = i;
		test_assert(worker_pool_run(pool, many_work, many_done,
					    &many_ctx->jobs[i]) != NULL);
	}
	test_assert(worker_pool_get_pending_count(pool) == 1000);
	run_until(ioloop, &many_ctx->all_done);

	bool ok = true;
	unsigned int n_threads = 0;
	pthread_t threads[4];
	for (unsigned int i = 0; i < N_ELEMENTS(many_ctx->jobs); i++) {
		const struct many_job *job = &many_ctx->jobs[i];
		uint64_t x = i;
		for (unsigned int j = 0; j < 1000; j++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if (!job->worked || job->work_in_main || !job->signals_blocked ||
		    !job->done || !job->done_in_main || !job->done_after_work ||
		    job->result != x) {
			test_fail("job %u: worked=%d in_main=%d signals=%d "
				  "done=%d done_in_main=%d", i, job->worked,
				  job->work_in_main, job->signals_blocked,
				  job->done, job->done_in_main);
			ok = false;
			break;
		}
		unsigned int t;
		for (t = 0; t < n_threads; t++) {
			if (pthread_equal(threads[t], job->work_thread))
				break;
		}
		if (t == n_threads && n_threads < N_ELEMENTS(threads))
			threads[n_threads++] = job->work_thread;
	}
	test_assert(ok);
	/* the work was spread, not run by one thread */
	test_assert(n_threads >= 2);
	test_assert(worker_pool_get_pending_count(pool) == 0);
	worker_pool_destroy(&pool);
	test_assert(pool == NULL);
	test_assert(ioloop_io_count(ioloop) == 0);
	i_free(many_ctx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- ordering, cancellation, queue limit --- */

struct gate {
	int fds[2];
};

struct order_ctx {
	struct gate gate;
	int started_first;
	unsigned int work_order[16], work_count;
	unsigned int done_order[16], done_count, expect_done;
	bool done;
};

struct order_job {
	struct order_ctx *ctx;
	unsigned int idx;
};

static void order_work(void *context)
{
	struct order_job *job = context;
	struct order_ctx *ctx = job->ctx;

	if (job->idx == 0) {
		char c;
		__atomic_store_n(&ctx->started_first, 1, __ATOMIC_SEQ_CST);
		/* hold the only thread until the test opens the gate */
		if (read(ctx->gate.fds[0], &c, 1) != 1)
			abort();
	}
	/* one thread: no other job runs concurrently */
	ctx->work_order[ctx->work_count++] = job->idx;
}

static void order_done(void *context)
{
	struct order_job *job = context;
	struct order_ctx *ctx = job->ctx;

	ctx->done_order[ctx->done_count++] = job->idx;
	if (ctx->done_count == ctx->expect_done)
		ctx->done = true;
}

static void wait_atomic(int *flag)
{
	uint64_t end = ioloop_msecs_monotonic() + TEST_TIMEOUT_MSECS;
	while (__atomic_load_n(flag, __ATOMIC_SEQ_CST) == 0 &&
	       ioloop_msecs_monotonic() < end)
		usleep(1000);
}

static void test_worker_order_cancel(void)
{
	struct order_ctx ctx;
	struct order_job jobs[11];
	struct worker_job *handles[11];

	test_begin("worker ordering, cancel and queue limit");
	struct ioloop *ioloop = ioloop_create();
	memset(&ctx, 0, sizeof(ctx));
	test_assert(pipe(ctx.gate.fds) == 0);
	struct worker_pool *pool = worker_pool_create(1, 9);

	for (unsigned int i = 0; i < N_ELEMENTS(jobs); i++) {
		jobs[i].ctx = &ctx;
		jobs[i].idx = i;
	}
	handles[0] = worker_pool_run(pool, order_work, order_done, &jobs[0]);
	test_assert(handles[0] != NULL);
	wait_atomic(&ctx.started_first);
	test_assert(ctx.started_first == 1);
	for (unsigned int i = 1; i <= 9; i++) {
		handles[i] = worker_pool_run(pool, order_work, order_done,
					     &jobs[i]);
		test_assert_idx(handles[i] != NULL, i);
	}
	test_assert(worker_pool_get_queued_count(pool) == 9);
	/* full: back-pressure */
	test_assert(worker_pool_run(pool, order_work, order_done,
				    &jobs[10]) == NULL);

	/* the running job cannot be cancelled; queued ones can */
	struct worker_job *h0 = handles[0];
	test_assert(!worker_job_cancel(&h0));
	test_assert(h0 == handles[0]);
	test_assert(worker_job_cancel(&handles[3]) && handles[3] == NULL);
	test_assert(worker_job_cancel(&handles[5]));
	test_assert(worker_job_cancel(&handles[9]));
	test_assert(worker_pool_get_queued_count(pool) == 6);
	test_assert(worker_pool_get_pending_count(pool) == 7);
	handles[10] = worker_pool_run(pool, order_work, order_done, &jobs[10]);
	test_assert(handles[10] != NULL);

	ctx.expect_done = 8;
	test_assert(write(ctx.gate.fds[1], "x", 1) == 1);
	run_until(ioloop, &ctx.done);
	static const unsigned int expect[] = { 0, 1, 2, 4, 6, 7, 8, 10 };
	test_assert(ctx.work_count == N_ELEMENTS(expect));
	test_assert(ctx.done_count == N_ELEMENTS(expect));
	test_assert(memcmp(ctx.work_order, expect, sizeof(expect)) == 0);
	test_assert(memcmp(ctx.done_order, expect, sizeof(expect)) == 0);

	worker_pool_destroy(&pool);
	close(ctx.gate.fds[0]);
	close(ctx.gate.fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- done callbacks submitting more work --- */

struct chain_ctx {
	struct worker_pool *pool;
	unsigned int count;
	bool done;
};

static void chain_work(void *context ATTR_UNUSED)
{
}

static void chain_done(void *context)
{
	struct chain_ctx *ctx = context;

	if (++ctx->count == 100) {
		ctx->done = true;
		return;
	}
	if (worker_pool_run(ctx->pool, chain_work, chain_done, ctx) == NULL)
		ctx->done = true;
}

static void test_worker_chain(void)
{
	struct chain_ctx ctx = { .count = 0 };

	test_begin("worker done callback queues the next job");
	struct ioloop *ioloop = ioloop_create();
	ctx.pool = worker_pool_create(2, 1);
	test_assert(worker_pool_run(ctx.pool, chain_work, chain_done, &ctx) != NULL);
	run_until(ioloop, &ctx.done);
	test_assert(ctx.count == 100);
	worker_pool_destroy(&ctx.pool);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- destroy --- */

struct destroy_ctx {
	struct worker_pool *pool;
	struct gate gate;
	int started;
	unsigned int work_count, done_count;
};

static void destroy_work(void *context)
{
	struct destroy_ctx *ctx = context;
	char c;

	__atomic_add_fetch(&ctx->started, 1, __ATOMIC_SEQ_CST);
	if (read(ctx->gate.fds[0], &c, 1) != 1)
		abort();
	__atomic_add_fetch(&ctx->work_count, 1, __ATOMIC_SEQ_CST);
}

static void destroy_quick_work(void *context)
{
	struct destroy_ctx *ctx = context;
	__atomic_add_fetch(&ctx->work_count, 100, __ATOMIC_SEQ_CST);
}

static void destroy_done(void *context)
{
	struct destroy_ctx *ctx = context;
	if (pthread_equal(pthread_self(), main_thread))
		ctx->done_count++;
}

/* Opens the gate only once destroy has emptied the queue, so the queued
   jobs are certainly dropped rather than picked up. */
static void *destroy_opener(void *context)
{
	struct destroy_ctx *ctx = context;
	while (worker_pool_get_queued_count(ctx->pool) > 0)
		usleep(1000);
	if (write(ctx->gate.fds[1], "xx", 2) != 2)
		abort();
	return NULL;
}

static void test_worker_destroy(void)
{
	struct destroy_ctx ctx;
	pthread_t opener;

	test_begin("worker destroy waits for running jobs");
	main_thread = pthread_self();
	struct ioloop *ioloop = ioloop_create();
	memset(&ctx, 0, sizeof(ctx));
	test_assert(pipe(ctx.gate.fds) == 0);
	ctx.pool = worker_pool_create(2, 100);
	for (unsigned int i = 0; i < 2; i++)
		test_assert(worker_pool_run(ctx.pool, destroy_work,
					    destroy_done, &ctx) != NULL);
	wait_atomic(&ctx.started);
	while (__atomic_load_n(&ctx.started, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	for (unsigned int i = 0; i < 10; i++)
		test_assert(worker_pool_run(ctx.pool, destroy_quick_work,
					    destroy_done, &ctx) != NULL);
	test_assert(worker_pool_get_queued_count(ctx.pool) == 10);
	test_assert(pthread_create(&opener, NULL, destroy_opener, &ctx) == 0);

	struct worker_pool *pool = ctx.pool;
	worker_pool_destroy(&pool);
	pthread_join(opener, NULL);
	/* both running jobs finished and were delivered; none queued ran */
	test_assert(ctx.work_count == 2);
	test_assert(ctx.done_count == 2);
	test_assert(ioloop_io_count(ioloop) == 0);
	close(ctx.gate.fds[0]);
	close(ctx.gate.fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_worker_tests[] = {
	test_worker_many,
	test_worker_order_cancel,
	test_worker_chain,
	test_worker_destroy,
	NULL
};
