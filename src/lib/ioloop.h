/* The event loop: one per process, single-threaded, on epoll. It watches
   fds, runs timers (a binary heap), delivers signals (signalfd) and child
   exits (SIGCHLD + waitpid). Every callback runs inside a data stack frame. */
#ifndef COLUMBA_IOLOOP_H
#define COLUMBA_IOLOOP_H

#include <sys/time.h>
#include <time.h>

enum io_condition {
	IO_READ = 0x01,
	IO_WRITE = 0x02,
};

typedef void io_callback_t(void *context);
typedef void signal_callback_t(int signo, void *context);
/* status is as from waitpid(). */
typedef void child_callback_t(pid_t pid, int status, void *context);

struct ioloop;
struct io;
struct timeout;
struct signal_watch;
struct child_watch;

/* Updated before every callback: the loop's notion of "now". */
extern time_t ioloop_time;
extern struct timeval ioloop_timeval;
extern struct ioloop *current_ioloop;

/* Create the process's loop and make it current. */
struct ioloop *ioloop_create(void);
void ioloop_destroy(struct ioloop **ioloop);
/* Run until ioloop_stop(). */
void ioloop_run(struct ioloop *ioloop);
void ioloop_stop(struct ioloop *ioloop);
/* Run one round: wait up to timeout_msecs (or less if a timer is due; -1 =
   no limit), dispatch what is ready. For tests and nested waits. */
void ioloop_run_once(struct ioloop *ioloop, int timeout_msecs);
void ioloop_time_update(void);
/* Monotonic milliseconds. */
uint64_t ioloop_msecs_monotonic(void);

/* Watch fd for one condition. The same fd may have one READ and one WRITE
   io at the same time. A callback may remove any io, including its own.
   The fd stays owned by the caller and must outlive the io. */
struct io *io_add(int fd, enum io_condition cond, io_callback_t *callback,
		  void *context);
void io_remove(struct io **io);
/* Number of io watchers (for leak checks in tests). */
unsigned int ioloop_io_count(struct ioloop *ioloop);

/* A repeating timer: fires every msecs until removed. A 0 msecs timer fires
   on the next loop round. */
struct timeout *timeout_add(unsigned int msecs, io_callback_t *callback,
			    void *context);
void timeout_remove(struct timeout **timeout);
/* Restart the interval from now. */
void timeout_reset(struct timeout *timeout);

/* Deliver signo to callback in the loop (the signal is blocked and read from
   a signalfd). Several watchers per signal are allowed. */
struct signal_watch *signal_add(int signo, signal_callback_t *callback,
				void *context);
void signal_remove(struct signal_watch **watch);

/* Call callback when child pid exits. Reaping is done by the loop for every
   child; exits of pids nobody watches are logged at debug level. */
struct child_watch *child_watch_add(pid_t pid, child_callback_t *callback,
				    void *context);
void child_watch_remove(struct child_watch **watch);

/* In a forked child before exec(): unblock the signals the loop blocked so
   the new program starts with a clean signal mask. */
void ioloop_reset_signals_for_exec(void);

/* Set O_NONBLOCK / FD_CLOEXEC. */
void fd_set_nonblock(int fd, bool nonblock);
void fd_close_on_exec(int fd, bool set);

#endif
