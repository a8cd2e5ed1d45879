/* Worker threads for blocking calls. Jobs wait in a FIFO under one mutex;
   finished jobs go on a done list and an eventfd wakes the ioloop, which
   runs their done callbacks in the loop thread. */
#include "lib.h"
#include "ioloop.h"
#include "worker.h"
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>

enum worker_job_state {
	WORKER_JOB_QUEUED,
	WORKER_JOB_RUNNING,
	WORKER_JOB_DONE,
};

struct worker_job {
	/* links in the queue or the done list, under pool->lock */
	struct worker_job *prev, *next;
	struct worker_pool *pool;
	worker_work_fn *work_fn;
	worker_done_fn *done_fn;
	void *ctx;
	enum worker_job_state state;
};

struct worker_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t *threads;
	unsigned int n_threads;

	/* under lock */
	struct worker_job *queue_head, *queue_tail;
	unsigned int queue_count, max_queue;
	struct worker_job *done_head, *done_tail;
	bool shutdown;

	/* loop thread only */
	int efd;
	struct ioloop *ioloop;
	struct io *io;
	unsigned int pending_count;
	bool dispatching;
};

static void job_list_append(struct worker_job **head, struct worker_job **tail,
			    struct worker_job *job)
{
	job->next = NULL;
	job->prev = *tail;
	if (*tail != NULL)
		(*tail)->next = job;
	else
		*head = job;
	*tail = job;
}

static void job_list_unlink(struct worker_job **head, struct worker_job **tail,
			    struct worker_job *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		*head = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		*tail = job->prev;
	job->prev = job->next = NULL;
}

static void worker_pool_wake_loop(struct worker_pool *pool)
{
	uint64_t one = 1;
	/* Can fail only with EAGAIN when the counter is near 2^64: the loop
	   is already woken then. */
	ssize_t ret = write(pool->efd, &one, sizeof(one));
	(void)ret;
}

/* The thread body. Touches nothing but the pool's queue and lists (under
   the lock) and the job's own functions. */
static void *worker_thread(void *context)
{
	struct worker_pool *pool = context;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->queue_head == NULL && !pool->shutdown)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->queue_head == NULL)
			break;
		struct worker_job *job = pool->queue_head;
		job_list_unlink(&pool->queue_head, &pool->queue_tail, job);
		pool->queue_count--;
		job->state = WORKER_JOB_RUNNING;
		pthread_mutex_unlock(&pool->lock);

		job->work_fn(job->ctx);

		pthread_mutex_lock(&pool->lock);
		job->state = WORKER_JOB_DONE;
		/* one wake-up per batch: the loop drains the whole list */
		bool wake = pool->done_head == NULL;
		job_list_append(&pool->done_head, &pool->done_tail, job);
		if (wake)
			worker_pool_wake_loop(pool);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Run the done callbacks of every finished job, in completion order. */
static void worker_pool_deliver(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	struct worker_job *job = pool->done_head;
	pool->done_head = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);

	pool->dispatching = true;
	while (job != NULL) {
		struct worker_job *next = job->next;
		i_assert(pool->pending_count > 0);
		pool->pending_count--;
		job->done_fn(job->ctx);
		free(job);
		job = next;
	}
	pool->dispatching = false;
}

static void worker_pool_input(void *context)
{
	struct worker_pool *pool = context;
	uint64_t count;

	/* Reset the counter before taking the list: a job finishing after
	   the take writes again and wakes us again. The other order could
	   lose that wake-up. */
	if (read(pool->efd, &count, sizeof(count)) < 0 &&
	    errno != EAGAIN && errno != EINTR)
		i_fatal("read(worker eventfd) failed: %m");
	worker_pool_deliver(pool);
}

/* Workers hash passwords (crypt_r()'s data is ~32 KiB), run SQLite
   queries and file system calls: 512 KiB leaves a wide margin. */
#define WORKER_STACK_SIZE (512 * 1024)

/* Every thread that calls malloc() gets a glibc arena of its own, and
   each arena reserves 64 MiB of address space: eight workers would take
   512 MiB of the process's vsz_limit while holding almost nothing. The
   workers allocate little (they mostly wait in system calls), so they
   share two arenas with the main thread. */
static void worker_limit_arenas(void)
{
#ifdef M_ARENA_MAX
	static bool done = false;

	if (!done) {
		done = true;
		(void)mallopt(M_ARENA_MAX, 2);
	}
#endif
}

struct worker_pool *worker_pool_create(unsigned int n_threads,
				       unsigned int max_queue)
{
	i_assert(n_threads > 0 && max_queue > 0);
	i_assert(current_ioloop != NULL);

	struct worker_pool *pool = i_new(struct worker_pool, 1);
	pool->max_queue = max_queue;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd < 0)
		i_fatal("eventfd() failed: %m");
	pool->ioloop = current_ioloop;
	pool->io = io_add(pool->efd, IO_READ, worker_pool_input, pool);

	/* Threads inherit the creator's signal mask: block everything around
	   pthread_create() so no signal is ever delivered to a worker, with
	   no window where a new thread could take one. */
	sigset_t all, old;
	sigfillset(&all);
	worker_limit_arenas();
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	/* the address space (vsz_limit) is shared with every session of the
	   process: a worker needs far less than the default 8 MiB stack */
	(void)pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pool->threads = i_new(pthread_t, n_threads);
	for (unsigned int i = 0; i < n_threads; i++) {
		int ret = pthread_create(&pool->threads[i], &attr,
					 worker_thread, pool);
		if (ret != 0) {
			errno = ret;
			i_fatal("pthread_create() failed: %m");
		}
		pthread_setname_np(pool->threads[i], "columba-worker");
		pool->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return pool;
}

void worker_pool_destroy(struct worker_pool **_pool)
{
	struct worker_pool *pool = *_pool;
	*_pool = NULL;
	if (pool == NULL)
		return;
	i_assert(!pool->dispatching);

	pthread_mutex_lock(&pool->lock);
	pool->shutdown = true;
	while (pool->queue_head != NULL) {
		struct worker_job *job = pool->queue_head;
		job_list_unlink(&pool->queue_head, &pool->queue_tail, job);
		pool->queue_count--;
		pool->pending_count--;
		free(job);
	}
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);

	for (unsigned int i = 0; i < pool->n_threads; i++)
		pthread_join(pool->threads[i], NULL);
	/* every thread is gone: no lock contention, nothing left running */
	worker_pool_deliver(pool);
	i_assert(pool->pending_count == 0);

	struct ioloop *prev = current_ioloop;
	current_ioloop = pool->ioloop;
	io_remove(&pool->io);
	current_ioloop = prev;
	if (close(pool->efd) < 0)
		i_error("close(worker eventfd) failed: %m");
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

struct worker_job *worker_pool_run(struct worker_pool *pool,
				   worker_work_fn *work_fn,
				   worker_done_fn *done_fn, void *ctx)
{
	i_assert(work_fn != NULL && done_fn != NULL);

	pthread_mutex_lock(&pool->lock);
	if (pool->shutdown || pool->queue_count >= pool->max_queue) {
		pthread_mutex_unlock(&pool->lock);
		return NULL;
	}
	struct worker_job *job = i_new(struct worker_job, 1);
	job->pool = pool;
	job->work_fn = work_fn;
	job->done_fn = done_fn;
	job->ctx = ctx;
	job->state = WORKER_JOB_QUEUED;
	job_list_append(&pool->queue_head, &pool->queue_tail, job);
	pool->queue_count++;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	pool->pending_count++;
	return job;
}

bool worker_job_cancel(struct worker_job **_job)
{
	struct worker_job *job = *_job;
	struct worker_pool *pool = job->pool;

	pthread_mutex_lock(&pool->lock);
	if (job->state != WORKER_JOB_QUEUED) {
		pthread_mutex_unlock(&pool->lock);
		return false;
	}
	job_list_unlink(&pool->queue_head, &pool->queue_tail, job);
	pool->queue_count--;
	pthread_mutex_unlock(&pool->lock);

	pool->pending_count--;
	free(job);
	*_job = NULL;
	return true;
}

unsigned int worker_pool_get_thread_count(const struct worker_pool *pool)
{
	return pool->n_threads;
}

unsigned int worker_pool_get_queued_count(struct worker_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	unsigned int count = pool->queue_count;
	pthread_mutex_unlock(&pool->lock);
	return count;
}

unsigned int worker_pool_get_pending_count(const struct worker_pool *pool)
{
	return pool->pending_count;
}
