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
#include "mail-index-private.h"
#include <fcntl.h>
#include <sys/inotify.h>
#include <poll.h>

#define NOTIFY_WATCH_MASK (IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF)

struct mail_index_notify {
	struct mail_index *index;
	int fd, wd;
	struct io *io;
	mail_index_notify_callback_t *callback;
	void *context;
};

static int mail_index_notify_open(struct mail_index *index)
{
	if (index->notify_fd != -1)
		return 0;
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

static int mail_index_notify_add_watch(struct mail_index_notify *notify,
				       const char **error_r)
{
	struct mail_index *index = notify->index;
	int fd = open(index->notify_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %s",
			index->notify_path, t_strerror(errno));
		return -1;
	}
	(void)close(fd);
	notify->wd = inotify_add_watch(notify->fd, index->notify_path,
				       NOTIFY_WATCH_MASK);
	if (notify->wd == -1) {
		*error_r = t_strdup_printf("inotify_add_watch(%s) failed: %s",
			index->notify_path, t_strerror(errno));
		return -1;
	}
	return 0;
}

static void mail_index_notify_input(void *context)
{
	struct mail_index_notify *notify = context;
	/* aligned as inotify_event requires */
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false, rewatch = false;
	ssize_t ret;

	/* drain everything: many commits make one callback */
	while ((ret = read(notify->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + ret;) {
			const struct inotify_event *ev = (const void *)p;
			if ((ev->mask & (IN_IGNORED | IN_DELETE_SELF |
					 IN_MOVE_SELF)) != 0)
				rewatch = true;
			changed = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (ret < 0 && errno != EAGAIN && errno != EINTR)
		i_error("read(inotify) failed: %m");
	if (rewatch) {
		/* the file was replaced (an index rebuild): watch the new
		   one */
		const char *error;
		(void)inotify_rm_watch(notify->fd, notify->wd);
		if (mail_index_notify_add_watch(notify, &error) < 0)
			i_error("%s", error);
	}
	if (changed)
		notify->callback(notify->context);
}

int mail_index_notify_init(struct mail_index *index,
			   mail_index_notify_callback_t *callback,
			   void *context, struct mail_index_notify **notify_r,
			   const char **error_r)
{
	struct mail_index_notify *notify = i_new(struct mail_index_notify, 1);

	notify->index = index;
	notify->callback = callback;
	notify->context = context;
	notify->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (notify->fd == -1) {
		*error_r = t_strdup_printf("inotify_init1() failed: %s",
					   t_strerror(errno));
		i_free(notify);
		return -1;
	}
	if (mail_index_notify_add_watch(notify, error_r) < 0) {
		(void)close(notify->fd);
		i_free(notify);
		return -1;
	}
	notify->io = io_add(notify->fd, IO_READ, mail_index_notify_input, notify);
	*notify_r = notify;
	return 0;
}

void mail_index_notify_deinit(struct mail_index_notify **_notify)
{
	struct mail_index_notify *notify = *_notify;

	if (notify == NULL)
		return;
	*_notify = NULL;
	io_remove(&notify->io);
	(void)close(notify->fd);
	i_free(notify);
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
