/* A small pool of POSIX threads for calls that block: password hashing,
   DNS, disk-heavy work. The process stays single-threaded in spirit: only
   work_fn runs in a worker thread; everything else, including done_fn,
   runs in the ioloop thread.

   What work_fn may do: compute, make blocking system calls, malloc/free
   (i_malloc, i_new, i_free). What it must NOT do: touch the ioloop (io_add,
   timeouts...), the data stack (t_*, T_BEGIN, t_strdup_printf, str_sanitize,
   error_r strings - the data stack is one process-wide arena and is not
   thread-safe), pools shared with the loop thread, events or the log.
   Results and errors go back in ctx, as heap memory or fixed buffers, for
   done_fn to use. Worker threads block every signal, so signals keep going
   to the loop's signalfd. */
#ifndef COLUMBA_WORKER_H
#define COLUMBA_WORKER_H

struct worker_pool;
struct worker_job;

/* Runs in a worker thread. */
typedef void worker_work_fn(void *ctx);
/* Runs in the ioloop thread after work_fn returned. */
typedef void worker_done_fn(void *ctx);

/* Start n_threads threads. At most max_queue jobs wait for a thread at any
   time (both > 0). Done callbacks are delivered through an eventfd watched
   on the current ioloop, which must exist. */
struct worker_pool *worker_pool_create(unsigned int n_threads,
				       unsigned int max_queue);
/* Queued jobs that have not started are dropped (neither function is
   called: owners that must free their ctx cancel their jobs first). Jobs
   running now are waited for, and every job whose work_fn ran gets its
   done_fn before this returns. Must not be called from a done_fn. Sets
   *pool to NULL. */
void worker_pool_destroy(struct worker_pool **pool);

/* Queue work_fn(ctx); done_fn(ctx) follows in the ioloop thread. Jobs start
   in submission order; done callbacks come in completion order (the same
   order with one thread). Returns a handle valid until done_fn is called
   or the job is cancelled, or NULL if max_queue jobs are already waiting:
   back-pressure - fail the request or retry later. */
struct worker_job *worker_pool_run(struct worker_pool *pool,
				   worker_work_fn *work_fn,
				   worker_done_fn *done_fn, void *ctx)
	ATTR_WARN_UNUSED;
/* Cancel a job that has not started: returns true, neither function will
   be called and *job is set to NULL. Returns false if work_fn is running
   or has run: done_fn will still be called, so ctx must stay valid until
   then (*job is left alone). */
bool worker_job_cancel(struct worker_job **job);

unsigned int worker_pool_get_thread_count(const struct worker_pool *pool);
/* Jobs queued, not yet started. */
unsigned int worker_pool_get_queued_count(struct worker_pool *pool);
/* Jobs submitted whose done_fn has not been called yet (queued, running,
   or finished and waiting for the loop). */
unsigned int worker_pool_get_pending_count(const struct worker_pool *pool);

#endif
