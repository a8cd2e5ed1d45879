/* epoll event loop. fds map to io_fd records (one per fd, holding the READ
   and WRITE watchers) in an array indexed by fd; timers live in a binary
   min-heap ordered by their next expiry. */
#include "lib.h"
#include "ioloop.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

time_t ioloop_time;
struct timeval ioloop_timeval;
struct ioloop *current_ioloop;

struct io {
	struct io_fd *iofd;
	enum io_condition cond;
	io_callback_t *callback;
	void *context;
};

struct io_fd {
	int fd;
	struct io *read, *write;
	uint32_t registered; /* epoll events currently registered */
};

struct timeout {
	unsigned int msecs;
	uint64_t next_run;
	unsigned int heap_idx;
	io_callback_t *callback;
	void *context;
};

struct signal_watch {
	struct signal_watch *prev, *next;
	int signo;
	signal_callback_t *callback;
	void *context;
};

struct child_watch {
	struct child_watch *prev, *next;
	pid_t pid;
	child_callback_t *callback;
	void *context;
};

struct ioloop {
	int epfd;
	bool running;
	struct io_fd **fds;
	unsigned int fds_size, io_count;

	struct timeout **heap;
	unsigned int heap_count, heap_alloc;

	int sigfd;
	struct io_fd *sig_iofd;
	struct io *sig_io;
	sigset_t sigmask;
	struct signal_watch *signals;
	struct child_watch *children;
	bool sigchld_added;
};

uint64_t ioloop_msecs_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ioloop_time_update(void)
{
	gettimeofday(&ioloop_timeval, NULL);
	ioloop_time = ioloop_timeval.tv_sec;
}

void fd_set_nonblock(int fd, bool nonblock)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		i_fatal("fcntl(%d, F_GETFL) failed: %m", fd);
	flags = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, flags) < 0)
		i_fatal("fcntl(%d, F_SETFL) failed: %m", fd);
}

void fd_close_on_exec(int fd, bool set)
{
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		i_fatal("fcntl(%d, F_GETFD) failed: %m", fd);
	flags = set ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
	if (fcntl(fd, F_SETFD, flags) < 0)
		i_fatal("fcntl(%d, F_SETFD) failed: %m", fd);
}

struct ioloop *ioloop_create(void)
{
	struct ioloop *ioloop = i_new(struct ioloop, 1);
	ioloop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ioloop->epfd < 0)
		i_fatal("epoll_create1() failed: %m");
	ioloop->sigfd = -1;
	sigemptyset(&ioloop->sigmask);
	ioloop_time_update();
	current_ioloop = ioloop;
	return ioloop;
}

void ioloop_destroy(struct ioloop **_ioloop)
{
	struct ioloop *ioloop = *_ioloop;
	*_ioloop = NULL;
	if (ioloop->sig_io != NULL)
		io_remove(&ioloop->sig_io);
	while (ioloop->signals != NULL) {
		struct signal_watch *w = ioloop->signals;
		signal_remove(&w);
	}
	while (ioloop->children != NULL) {
		struct child_watch *w = ioloop->children;
		child_watch_remove(&w);
	}
	if (ioloop->sigfd != -1) {
		close(ioloop->sigfd);
		sigprocmask(SIG_UNBLOCK, &ioloop->sigmask, NULL);
	}
	if (ioloop->io_count > 0)
		i_warning("ioloop destroyed with %u io watchers left", ioloop->io_count);
	for (unsigned int i = 0; i < ioloop->fds_size; i++)
		free(ioloop->fds[i]);
	free(ioloop->fds);
	if (ioloop->heap_count > 0)
		i_warning("ioloop destroyed with %u timeouts left", ioloop->heap_count);
	free(ioloop->heap);
	close(ioloop->epfd);
	if (current_ioloop == ioloop)
		current_ioloop = NULL;
	free(ioloop);
}

unsigned int ioloop_io_count(struct ioloop *ioloop)
{
	return ioloop->io_count;
}

/* --- fds --- */

static void io_fd_update(struct ioloop *ioloop, struct io_fd *iofd)
{
	uint32_t events = 0;
	if (iofd->read != NULL)
		events |= EPOLLIN | EPOLLRDHUP;
	if (iofd->write != NULL)
		events |= EPOLLOUT;
	if (events == iofd->registered)
		return;

	struct epoll_event ev = { .events = events, .data.ptr = iofd };
	int op = iofd->registered == 0 ? EPOLL_CTL_ADD :
		(events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
	if (epoll_ctl(ioloop->epfd, op, iofd->fd, &ev) < 0) {
		if (op == EPOLL_CTL_DEL && (errno == EBADF || errno == ENOENT)) {
			/* fd was already closed: epoll dropped it itself */
		} else {
			i_panic("epoll_ctl(%d, fd=%d) failed: %m", op, iofd->fd);
		}
	}
	iofd->registered = events;
}

struct io *io_add(int fd, enum io_condition cond, io_callback_t *callback,
		  void *context)
{
	struct ioloop *ioloop = current_ioloop;
	i_assert(ioloop != NULL && fd >= 0);
	i_assert(cond == IO_READ || cond == IO_WRITE);

	if ((unsigned int)fd >= ioloop->fds_size) {
		unsigned int n = ioloop->fds_size == 0 ? 64 : ioloop->fds_size;
		while (n <= (unsigned int)fd)
			n *= 2;
		ioloop->fds = i_realloc(ioloop->fds,
					sizeof(*ioloop->fds) * ioloop->fds_size,
					sizeof(*ioloop->fds) * n);
		ioloop->fds_size = n;
	}
	struct io_fd *iofd = ioloop->fds[fd];
	if (iofd == NULL) {
		iofd = ioloop->fds[fd] = i_new(struct io_fd, 1);
		iofd->fd = fd;
	}
	struct io **slot = cond == IO_READ ? &iofd->read : &iofd->write;
	if (*slot != NULL)
		i_panic("io_add(fd=%d): %s watcher already exists", fd,
			cond == IO_READ ? "read" : "write");

	struct io *io = i_new(struct io, 1);
	io->iofd = iofd;
	io->cond = cond;
	io->callback = callback;
	io->context = context;
	*slot = io;
	ioloop->io_count++;
	io_fd_update(ioloop, iofd);
	return io;
}

void io_remove(struct io **_io)
{
	struct io *io = *_io;
	*_io = NULL;
	if (io == NULL)
		return;
	struct ioloop *ioloop = current_ioloop;
	struct io_fd *iofd = io->iofd;
	if (io->cond == IO_READ)
		iofd->read = NULL;
	else
		iofd->write = NULL;
	io_fd_update(ioloop, iofd);
	ioloop->io_count--;
	free(io);
}

/* --- timers --- */

static bool heap_less(struct ioloop *l, unsigned int a, unsigned int b)
{
	return l->heap[a]->next_run < l->heap[b]->next_run;
}

static void heap_swap(struct ioloop *l, unsigned int a, unsigned int b)
{
	struct timeout *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->heap_idx = a;
	l->heap[b]->heap_idx = b;
}

static void heap_up(struct ioloop *l, unsigned int i)
{
	while (i > 0 && heap_less(l, i, (i - 1) / 2)) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct ioloop *l, unsigned int i)
{
	for (;;) {
		unsigned int min = i, c1 = 2 * i + 1, c2 = 2 * i + 2;
		if (c1 < l->heap_count && heap_less(l, c1, min))
			min = c1;
		if (c2 < l->heap_count && heap_less(l, c2, min))
			min = c2;
		if (min == i)
			return;
		heap_swap(l, i, min);
		i = min;
	}
}

static void heap_remove(struct ioloop *l, unsigned int i)
{
	unsigned int last = --l->heap_count;
	if (i != last) {
		heap_swap(l, i, last);
		heap_down(l, i);
		heap_up(l, i);
	}
}

static void heap_insert(struct ioloop *l, struct timeout *to)
{
	if (l->heap_count == l->heap_alloc) {
		unsigned int n = l->heap_alloc == 0 ? 64 : l->heap_alloc * 2;
		l->heap = i_realloc(l->heap, sizeof(*l->heap) * l->heap_alloc,
				    sizeof(*l->heap) * n);
		l->heap_alloc = n;
	}
	to->heap_idx = l->heap_count;
	l->heap[l->heap_count++] = to;
	heap_up(l, to->heap_idx);
}

struct timeout *timeout_add(unsigned int msecs, io_callback_t *callback,
			    void *context)
{
	struct timeout *to = i_new(struct timeout, 1);
	to->msecs = msecs;
	to->callback = callback;
	to->context = context;
	to->next_run = ioloop_msecs_monotonic() + msecs;
	heap_insert(current_ioloop, to);
	return to;
}

void timeout_remove(struct timeout **_to)
{
	struct timeout *to = *_to;
	*_to = NULL;
	if (to == NULL)
		return;
	heap_remove(current_ioloop, to->heap_idx);
	free(to);
}

void timeout_reset(struct timeout *to)
{
	to->next_run = ioloop_msecs_monotonic() + to->msecs;
	heap_down(current_ioloop, to->heap_idx);
	heap_up(current_ioloop, to->heap_idx);
}

static int ioloop_next_timeout_msecs(struct ioloop *l, uint64_t now)
{
	if (l->heap_count == 0)
		return -1;
	uint64_t next = l->heap[0]->next_run;
	if (next <= now)
		return 0;
	return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static void ioloop_run_timeouts(struct ioloop *l)
{
	uint64_t now = ioloop_msecs_monotonic();
	/* Only timers due at entry run: one re-added with 0 msecs waits for
	   the next round, so a busy timer cannot starve I/O. */
	unsigned int max_runs = l->heap_count;
	while (max_runs-- > 0 && l->heap_count > 0 && l->heap[0]->next_run <= now) {
		struct timeout *to = l->heap[0];
		to->next_run = now + (to->msecs == 0 ? 1 : to->msecs);
		heap_down(l, 0);
		ioloop_time_update();
		T_BEGIN {
			to->callback(to->context);
		} T_END;
	}
}

/* --- signals and children --- */

static void ioloop_sigfd_input(void *context)
{
	struct ioloop *l = context;
	struct signalfd_siginfo si;
	for (;;) {
		ssize_t ret = read(l->sigfd, &si, sizeof(si));
		if (ret < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			i_fatal("read(signalfd) failed: %m");
		}
		if (ret != sizeof(si))
			return;
		int signo = (int)si.ssi_signo;
		if (signo == SIGCHLD) {
			pid_t pid;
			int status;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				struct child_watch *w, *next;
				bool found = false;
				for (w = l->children; w != NULL; w = next) {
					next = w->next;
					if (w->pid == pid) {
						found = true;
						w->callback(pid, status, w->context);
						break;
					}
				}
				if (!found)
					i_debug("unwatched child %d exited", (int)pid);
			}
		}
		struct signal_watch *w, *next;
		for (w = l->signals; w != NULL; w = next) {
			next = w->next;
			if (w->signo == signo)
				w->callback(signo, w->context);
		}
	}
}

static void ioloop_signal_enable(struct ioloop *l, int signo)
{
	if (sigismember(&l->sigmask, signo))
		return;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		i_fatal("sigprocmask() failed: %m");
	l->sigfd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0)
		i_fatal("signalfd() failed: %m");
	if (l->sig_io == NULL)
		l->sig_io = io_add(l->sigfd, IO_READ, ioloop_sigfd_input, l);
}

struct signal_watch *signal_add(int signo, signal_callback_t *callback,
				void *context)
{
	struct ioloop *l = current_ioloop;
	struct signal_watch *w = i_new(struct signal_watch, 1);
	w->signo = signo;
	w->callback = callback;
	w->context = context;
	w->next = l->signals;
	if (l->signals != NULL)
		l->signals->prev = w;
	l->signals = w;
	ioloop_signal_enable(l, signo);
	return w;
}

void signal_remove(struct signal_watch **_w)
{
	struct signal_watch *w = *_w;
	*_w = NULL;
	if (w == NULL)
		return;
	struct ioloop *l = current_ioloop;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		l->signals = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	/* The signal stays blocked and routed to the signalfd: unblocking
	   SIGTERM now would let its default action kill the process. */
	free(w);
}

struct child_watch *child_watch_add(pid_t pid, child_callback_t *callback,
				    void *context)
{
	struct ioloop *l = current_ioloop;
	struct child_watch *w = i_new(struct child_watch, 1);
	w->pid = pid;
	w->callback = callback;
	w->context = context;
	w->next = l->children;
	if (l->children != NULL)
		l->children->prev = w;
	l->children = w;
	if (!sigismember(&l->sigmask, SIGCHLD)) {
		ioloop_signal_enable(l, SIGCHLD);
		/* The child may have exited before SIGCHLD was blocked, and
		   its signal was then discarded: make sure a reap pass runs. */
		raise(SIGCHLD);
	}
	return w;
}

void child_watch_remove(struct child_watch **_w)
{
	struct child_watch *w = *_w;
	*_w = NULL;
	if (w == NULL)
		return;
	struct ioloop *l = current_ioloop;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		l->children = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

void ioloop_reset_signals_for_exec(void)
{
	sigset_t empty;
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
}

/* --- the loop --- */

#define IOLOOP_MAX_EVENTS 256

void ioloop_run_once(struct ioloop *l, int timeout_msecs)
{
	struct epoll_event events[IOLOOP_MAX_EVENTS];
	int wait_msecs = ioloop_next_timeout_msecs(l, ioloop_msecs_monotonic());
	if (timeout_msecs >= 0 && (wait_msecs < 0 || timeout_msecs < wait_msecs))
		wait_msecs = timeout_msecs;

	int n = epoll_wait(l->epfd, events, IOLOOP_MAX_EVENTS, wait_msecs);
	if (n < 0) {
		if (errno != EINTR)
			i_fatal("epoll_wait() failed: %m");
		n = 0;
	}
	ioloop_time_update();
	for (int i = 0; i < n; i++) {
		struct io_fd *iofd = events[i].data.ptr;
		uint32_t ev = events[i].events;
		/* Errors and hangups go to whichever watchers exist, so each
		   sees the failure on its next read() or write(). A callback
		   may remove watchers (and the io_fd's ios) of this fd, so
		   check again before each call. The io_fd itself is kept for
		   the fd's lifetime of the loop, never freed here. */
		bool rd = (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
		bool wr = (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
		if (rd && iofd->read != NULL) {
			struct io *io = iofd->read;
			T_BEGIN {
				io->callback(io->context);
			} T_END;
		}
		if (wr && iofd->write != NULL) {
			struct io *io = iofd->write;
			T_BEGIN {
				io->callback(io->context);
			} T_END;
		}
	}
	ioloop_run_timeouts(l);
}

void ioloop_run(struct ioloop *l)
{
	l->running = true;
	while (l->running)
		ioloop_run_once(l, -1);
}

void ioloop_stop(struct ioloop *l)
{
	l->running = false;
}
