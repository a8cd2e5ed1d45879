/* Change notification between processes sharing an index. A writer, after
   each commit is durable, writes the newest change id into
   "<index>-notify" (one pwrite, no fsync: the file carries a wake-up, not
   data). Watchers hold an inotify watch on that file in their ioloop, so
   a commit anywhere wakes every session of the user at once; each then
   reads the change log from the last id it saw. Writers waiting for
   another writer's lower UID watch "<index>-wake" instead, written right
   after the COMMIT, before its sync: they can then commit while the
   first one syncs and share its next sync (mail-index-durable.c).
   inotify is local to the host, as the index (WAL needs shared memory)
   is anyway. */
#include "lib.h"
#include "ioloop.h"
#include "hash.h"
#include "mail-index-private.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/inotify.h>
#include <poll.h>

/* IN_ATTRIB: the link count changed (removed while a writer holds it
   open, which gives no IN_DELETE_SELF) */
#define NOTIFY_WATCH_MASK \
	(IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* how often watchers whose file could not be watched again (after it was
   replaced) are woken, and the watch retried */
#define NOTIFY_LOST_RETRY_MSECS 1000

/* Every watcher of the process shares one inotify instance: the kernel
   allows 128 per uid by default (fs.inotify.max_user_instances), and a
   mail process may hold thousands of IDLE sessions. Each watched file has
   one inotify watch (fs.inotify.max_user_watches counts these), shared by
   all its watchers (the sessions of one user, in any mailbox): the
   registry maps the watch descriptor to a notify_watch, which lists its
   watchers. One inotify event then costs a hash lookup and one callback
   per watcher of that file. */
struct notify_watch {
	/* -1 while lost: the file was replaced or removed and could not
	   be watched again yet (on the lost list, retried by a timer) */
	int wd;
	/* the watched file, to tell whether it is still the one at the
	   watchers' path */
	dev_t dev;
	ino_t ino;
	/* the watchers plus one per running dispatch of this watch */
	unsigned int refcount;
	struct mail_index_notify *watchers;
	/* on notify_shared.lost */
	struct notify_watch *list_next;
	/* on notify_shared.pending */
	struct notify_watch *pending_next;
	bool pending;
};

struct mail_index_notify {
	struct notify_watch *watch;
	struct mail_index_notify *prev, *next;
	/* "<index>-notify", copied: the watcher needs neither the index
	   nor its connection (an idle session may close it) */
	char *path;
	/* the watch's dispatch has yet to call this one */
	bool pending;
	mail_index_notify_callback_t *callback;
	void *context;
};

static struct {
	int fd;
	struct io *io;
	struct ioloop *ioloop;
	/* wd -> struct notify_watch */
	struct hash_table *watches;
	struct notify_watch *pending, *lost;
	struct timeout *to_lost;
	unsigned int watcher_count;
	/* a dispatch is running: the shared state stays until it ends */
	bool dispatching;
	/* the watcher the running dispatch calls next (deinit moves it on) */
	struct mail_index_notify *dispatch_next;
} notify_shared = { .fd = -1 };

/* True if fd is no longer the file at path: it was removed or renamed
   away (the watchers then watch a new file there). */
static bool notify_fd_is_stale(int fd, const char *path)
{
	struct stat st_fd, st_path;

	if (fstat(fd, &st_fd) < 0 || stat(path, &st_path) < 0)
		return true;
	return st_fd.st_ino != st_path.st_ino || st_fd.st_dev != st_path.st_dev;
}

static int mail_index_notify_open(struct mail_index *index)
{
	if (index->notify_fd != -1) {
		/* a long-lived writer (LMTP's cached index) must not keep
		   writing a file nobody watches any more */
		if (!notify_fd_is_stale(index->notify_fd, index->notify_path))
			return 0;
		(void)close(index->notify_fd);
		index->notify_fd = -1;
	}
	index->notify_fd = open(index->notify_path,
				O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (index->notify_fd == -1) {
		i_error("open(%s) failed: %m", index->notify_path);
		return -1;
	}
	return 0;
}

void mail_index_notify_changed(struct mail_index *index)
{
	uint64_t stamp;

	if (mail_index_notify_open(index) < 0)
		return;
	/* the content only has to change the file; the last rowid of the
	   change log is a handy, increasing value */
	stamp = (uint64_t)sqlite3_last_insert_rowid(index->db);
	if (pwrite(index->notify_fd, &stamp, sizeof(stamp), 0) < 0) {
		/* Watchers would miss this change until the next one:
		   worth a log line, not a failed commit. */
		i_error("pwrite(%s) failed: %m", index->notify_path);
	}
}

void mail_index_notify_writers(struct mail_index *index)
{
	uint64_t stamp = (uint64_t)sqlite3_last_insert_rowid(index->db);

	if (index->wake_fd == -1) {
		index->wake_fd = open(index->wake_path,
				      O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (index->wake_fd == -1) {
			i_error("open(%s) failed: %m", index->wake_path);
			return;
		}
	}
	/* waiters also poll with a timeout: a lost wake-up costs time */
	if (pwrite(index->wake_fd, &stamp, sizeof(stamp), 0) < 0)
		i_error("pwrite(%s) failed: %m", index->wake_path);
}

static void *wd_key(int wd)
{
	/* descriptors start at 1: never the NULL key */
	return (void *)(uintptr_t)(unsigned int)wd;
}

static const char *notify_errno_hint(int err)
{
	if (err == ENOSPC)
		return " (raise fs.inotify.max_user_watches)";
	if (err == EMFILE)
		return " (raise fs.inotify.max_user_instances)";
	return "";
}

/* Create path if missing (a watch needs a file) and watch it. Returns the
   watch descriptor, or -1 with *error_r. The same file gives the same wd
   however many times it is added. */
static int notify_add_watch(const char *path, const char **error_r)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %s", path,
					   t_strerror(errno));
		return -1;
	}
	(void)close(fd);
	int wd = inotify_add_watch(notify_shared.fd, path, NOTIFY_WATCH_MASK);
	if (wd == -1) {
		*error_r = t_strdup_printf("inotify_add_watch(%s) failed: %s%s",
			path, t_strerror(errno), notify_errno_hint(errno));
		return -1;
	}
	return wd;
}

static void notify_watch_link(struct notify_watch *watch,
			      struct mail_index_notify *notify)
{
	notify->watch = watch;
	notify->prev = NULL;
	notify->next = watch->watchers;
	if (notify->next != NULL)
		notify->next->prev = notify;
	watch->watchers = notify;
	watch->refcount++;
}

static void notify_watch_unlink(struct mail_index_notify *notify)
{
	struct notify_watch *watch = notify->watch;

	if (notify_shared.dispatch_next == notify)
		notify_shared.dispatch_next = notify->next;
	if (notify->prev != NULL)
		notify->prev->next = notify->next;
	else
		watch->watchers = notify->next;
	if (notify->next != NULL)
		notify->next->prev = notify->prev;
	notify->prev = notify->next = NULL;
	notify->watch = NULL;
}

static void notify_list_remove(struct notify_watch **list,
			       struct notify_watch *watch)
{
	for (; *list != NULL; list = &(*list)->list_next) {
		if (*list == watch) {
			*list = watch->list_next;
			watch->list_next = NULL;
			return;
		}
	}
}

static struct notify_watch *notify_watch_get(int wd, const char *path)
{
	struct notify_watch *watch =
		hash_table_lookup(notify_shared.watches, wd_key(wd));

	if (watch == NULL) {
		struct stat st;

		watch = i_new(struct notify_watch, 1);
		watch->wd = wd;
		/* a failure leaves 0/0: the next IN_ATTRIB rewatches */
		if (stat(path, &st) == 0) {
			watch->dev = st.st_dev;
			watch->ino = st.st_ino;
		}
		hash_table_insert(notify_shared.watches, wd_key(wd), watch);
	}
	return watch;
}

/* IN_ATTRIB: is the watched file still the one at its watchers' path? */
static bool notify_watch_is_current(const struct notify_watch *watch)
{
	struct stat st;

	if (watch->watchers == NULL)
		return true;
	if (stat(watch->watchers->path, &st) < 0)
		return false;
	return st.st_ino == watch->ino && st.st_dev == watch->dev;
}

static void notify_pending_remove(struct notify_watch *watch)
{
	for (struct notify_watch **p = &notify_shared.pending; *p != NULL;
	     p = &(*p)->pending_next) {
		if (*p == watch) {
			*p = watch->pending_next;
			break;
		}
	}
	watch->pending_next = NULL;
	watch->pending = false;
}

/* Drop a reference; the last one removes the kernel watch. */
static void notify_watch_unref(struct notify_watch *watch)
{
	i_assert(watch->refcount > 0);
	if (--watch->refcount > 0)
		return;
	i_assert(watch->watchers == NULL);
	if (watch->pending)
		notify_pending_remove(watch);
	if (watch->wd != -1) {
		(void)hash_table_remove(notify_shared.watches,
					wd_key(watch->wd));
		/* EINVAL when the kernel already dropped it */
		(void)inotify_rm_watch(notify_shared.fd, watch->wd);
	} else {
		notify_list_remove(&notify_shared.lost, watch);
		if (notify_shared.lost == NULL && notify_shared.to_lost != NULL)
			timeout_remove(&notify_shared.to_lost);
	}
	i_free(watch);
}

static void notify_mark_pending(struct notify_watch *watch)
{
	if (watch->pending)
		return;
	watch->pending = true;
	watch->pending_next = notify_shared.pending;
	notify_shared.pending = watch;
}

static void notify_lost_retry(void *context);

/* Move every watcher of watch (whose wd is no longer valid, or -1) to the
   watch of its path's current file, each woken once since the change
   that replaced the file went unseen. Those whose file cannot be watched
   stay on a lost watch, woken and retried every NOTIFY_LOST_RETRY_MSECS
   (their sessions then poll). A failure is logged when the watch is
   first lost, not at each retry. */
static void notify_rewatch(struct notify_watch *watch, bool log_errors)
{
	struct notify_watch *lost = NULL;
	const char *last_path = NULL, *error;
	int last_wd = -1;

	/* hold watch so that moving its watchers does not free it */
	watch->refcount++;
	while (watch->watchers != NULL) {
		struct mail_index_notify *notify = watch->watchers;
		int wd;

		/* a user's sessions share one path: one syscall for all */
		if (last_path != NULL && strcmp(last_path, notify->path) == 0)
			wd = last_wd;
		else {
			wd = notify_add_watch(notify->path, &error);
			if (wd == -1 && log_errors) {
				i_error("%s (IDLE sessions watching it "
					"poll until it is back)", error);
			}
			last_path = notify->path;
			last_wd = wd;
		}
		notify_watch_unlink(notify);
		watch->refcount--;
		struct notify_watch *target;
		if (wd != -1)
			target = notify_watch_get(wd, notify->path);
		else {
			if (lost == NULL) {
				lost = i_new(struct notify_watch, 1);
				lost->wd = -1;
				lost->list_next = notify_shared.lost;
				notify_shared.lost = lost;
			}
			target = lost;
		}
		notify_watch_link(target, notify);
		/* woken in the dispatch that follows */
		notify_mark_pending(target);
	}
	if (lost != NULL && notify_shared.to_lost == NULL) {
		notify_shared.to_lost = timeout_add(NOTIFY_LOST_RETRY_MSECS,
						    notify_lost_retry, NULL);
	}
	notify_watch_unref(watch);
}

/* The kernel watch of wd is gone or watches the wrong file: the file was
   removed (IN_DELETE_SELF, then IN_IGNORED) or renamed away
   (IN_MOVE_SELF: an index rebuild replacing it). */
static void notify_watch_lost(struct notify_watch *watch)
{
	(void)hash_table_remove(notify_shared.watches, wd_key(watch->wd));
	/* for IN_MOVE_SELF the watch still exists, on the old file; its
	   IN_IGNORED then finds no watch */
	(void)inotify_rm_watch(notify_shared.fd, watch->wd);
	watch->wd = -1;
	notify_rewatch(watch, true);
}

static void notify_dispatch_watchers(void);
static void notify_shared_unref(void);

static void notify_lost_retry(void *context ATTR_UNUSED)
{
	struct notify_watch *lost = notify_shared.lost;

	notify_shared.lost = NULL;
	timeout_remove(&notify_shared.to_lost);
	while (lost != NULL) {
		struct notify_watch *next = lost->list_next;
		lost->list_next = NULL;
		/* wakes every watcher, whether its watch is back or not */
		notify_rewatch(lost, false);
		lost = next;
	}
	notify_dispatch_watchers();
}

static void notify_event(const struct inotify_event *ev)
{
	struct notify_watch *watch;

	if ((ev->mask & IN_Q_OVERFLOW) != 0) {
		/* events were lost: wake everyone */
		struct hash_iterate iter;
		void *key, *value;

		hash_table_iterate_init(notify_shared.watches, &iter);
		while (hash_table_iterate(&iter, &key, &value))
			notify_mark_pending(value);
		return;
	}
	watch = hash_table_lookup(notify_shared.watches, wd_key(ev->wd));
	if (watch == NULL) {
		/* IN_IGNORED of a watch already removed or lost */
		return;
	}
	if ((ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0)
		notify_watch_lost(watch);
	else if ((ev->mask & IN_ATTRIB) != 0) {
		/* a chmod or touch is no change; a removal is */
		if (!notify_watch_is_current(watch))
			notify_watch_lost(watch);
	} else
		notify_mark_pending(watch);
}

static void notify_dispatch_watchers(void)
{
	struct notify_watch *watch;

	/* a callback may deinit any watcher (its session ended, maybe the
	   watch's last) or add new ones (at the head of their watch, not
	   pending): each pending watch is held while dispatched, and
	   deinit moves dispatch_next past the watcher it frees */
	notify_shared.dispatching = true;
	while ((watch = notify_shared.pending) != NULL) {
		notify_shared.pending = watch->pending_next;
		watch->pending_next = NULL;
		watch->pending = false;
		watch->refcount++;
		for (struct mail_index_notify *n = watch->watchers; n != NULL;
		     n = n->next)
			n->pending = true;
		struct mail_index_notify *n = watch->watchers;
		while (n != NULL) {
			notify_shared.dispatch_next = n->next;
			if (n->pending) {
				n->pending = false;
				n->callback(n->context);
			}
			n = notify_shared.dispatch_next;
		}
		notify_shared.dispatch_next = NULL;
		notify_watch_unref(watch);
	}
	notify_shared.dispatching = false;
	/* the callbacks may have ended the last watcher */
	notify_shared_unref();
}

static void mail_index_notify_input(void *context ATTR_UNUSED)
{
	/* aligned as inotify_event requires */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t ret;

	/* drain everything: many commits make one callback per watcher */
	while ((ret = read(notify_shared.fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + ret;) {
			const struct inotify_event *ev = (const void *)p;
			notify_event(ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (ret < 0 && errno != EAGAIN && errno != EINTR)
		i_error("read(inotify) failed: %m");
	notify_dispatch_watchers();
}

static int notify_shared_ref(const char **error_r)
{
	if (notify_shared.fd == -1) {
		notify_shared.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (notify_shared.fd == -1) {
			*error_r = t_strdup_printf("inotify_init1() failed: %s%s",
				t_strerror(errno), notify_errno_hint(errno));
			return -1;
		}
		notify_shared.watches =
			hash_table_create_direct(system_pool, 64);
	}
	/* the process's ioloop, or a test's: follow the current one */
	if (notify_shared.io != NULL && notify_shared.ioloop != current_ioloop)
		io_remove(&notify_shared.io);
	if (notify_shared.io == NULL) {
		notify_shared.io = io_add(notify_shared.fd, IO_READ,
					  mail_index_notify_input, NULL);
		notify_shared.ioloop = current_ioloop;
	}
	return 0;
}

static void notify_shared_unref(void)
{
	if (notify_shared.watcher_count > 0 || notify_shared.dispatching)
		return;
	i_assert(notify_shared.pending == NULL);
	i_assert(notify_shared.lost == NULL);
	if (notify_shared.to_lost != NULL)
		timeout_remove(&notify_shared.to_lost);
	io_remove(&notify_shared.io);
	notify_shared.ioloop = NULL;
	if (notify_shared.watches != NULL) {
		i_assert(hash_table_count(notify_shared.watches) == 0);
		hash_table_destroy(&notify_shared.watches);
	}
	if (notify_shared.fd != -1) {
		(void)close(notify_shared.fd);
		notify_shared.fd = -1;
	}
}

int mail_index_notify_init(struct mail_index *index,
			   mail_index_notify_callback_t *callback,
			   void *context, struct mail_index_notify **notify_r,
			   const char **error_r)
{
	int wd;

	if (notify_shared_ref(error_r) < 0 ||
	    (wd = notify_add_watch(index->notify_path, error_r)) == -1) {
		notify_shared_unref();
		return -1;
	}
	struct mail_index_notify *notify = i_new(struct mail_index_notify, 1);
	notify->path = i_strdup(index->notify_path);
	notify->callback = callback;
	notify->context = context;
	notify_watch_link(notify_watch_get(wd, notify->path), notify);
	notify_shared.watcher_count++;
	*notify_r = notify;
	return 0;
}

void mail_index_notify_deinit(struct mail_index_notify **_notify)
{
	struct mail_index_notify *notify = *_notify;

	if (notify == NULL)
		return;
	*_notify = NULL;
	struct notify_watch *watch = notify->watch;
	notify_watch_unlink(notify);
	/* the last watcher of the file removes the watch */
	notify_watch_unref(watch);
	i_free(notify->path);
	i_free(notify);
	i_assert(notify_shared.watcher_count > 0);
	notify_shared.watcher_count--;
	notify_shared_unref();
}

void mail_index_notify_get_stats(struct mail_index_notify_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	stats_r->instances = notify_shared.fd == -1 ? 0 : 1;
	stats_r->watchers = notify_shared.watcher_count;
	if (notify_shared.watches != NULL)
		stats_r->watches = hash_table_count(notify_shared.watches);
	for (struct notify_watch *w = notify_shared.lost; w != NULL;
	     w = w->list_next)
		stats_r->lost_watches++;
}

int mail_index_wait_change(struct mail_index *index, unsigned int timeout_msecs)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd;

	if (index->wait_fd == -1) {
		int fd = open(index->wake_path, O_WRONLY | O_CREAT | O_CLOEXEC,
			      0600);
		if (fd != -1)
			(void)close(fd);
		index->wait_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (index->wait_fd == -1 ||
		    inotify_add_watch(index->wait_fd, index->wake_path,
				      NOTIFY_WATCH_MASK) == -1) {
			/* no inotify: just sleep */
			if (index->wait_fd != -1)
				(void)close(index->wait_fd);
			index->wait_fd = -1;
			usleep(I_MIN(timeout_msecs, 10) * 1000);
			return 0;
		}
	}
	pfd.fd = index->wait_fd;
	pfd.events = POLLIN;
	int ret = poll(&pfd, 1, (int)timeout_msecs);
	/* drain: the next wait waits for the next change */
	while (read(index->wait_fd, buf, sizeof(buf)) > 0) ;
	return ret > 0 ? 1 : 0;
}
