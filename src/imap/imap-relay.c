/* Relay between stdin/stdout and a socket pair. Each direction has one
   buffer of RELAY_BUF_SIZE: when it is full the source is not read until
   the destination has taken some, so memory stays bounded. */
#include "lib.h"
#include "ioloop.h"
#include "imap-relay.h"
#include <sys/socket.h>

#define RELAY_BUF_SIZE (32 * 1024)

struct relay_dir {
	struct relay *relay;
	int fd_src, fd_dest;
	struct io *io_src, *io_dest;
	unsigned char *buf;
	size_t start, end;
	bool src_eof;
};

struct relay {
	/* 0: stdin -> socket, 1: socket -> stdout */
	struct relay_dir dir[2];
	int fd_in, fd_out, fd_sock;
	void (*finished)(void *);
	void *context;
};

static void relay_dir_update(struct relay_dir *d);

static void relay_destroy(struct relay *relay)
{
	void (*finished)(void *) = relay->finished;
	void *context = relay->context;

	for (unsigned int i = 0; i < 2; i++) {
		io_remove(&relay->dir[i].io_src);
		io_remove(&relay->dir[i].io_dest);
		i_free(relay->dir[i].buf);
	}
	close(relay->fd_in);
	if (relay->fd_out != relay->fd_in)
		close(relay->fd_out);
	close(relay->fd_sock);
	i_free(relay);
	if (finished != NULL)
		finished(context);
}

static void relay_dir_read(void *context)
{
	struct relay_dir *d = context;
	ssize_t ret = read(d->fd_src, d->buf + d->end, RELAY_BUF_SIZE - d->end);

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret <= 0) {
		d->src_eof = true;
	} else {
		d->end += (size_t)ret;
	}
	relay_dir_update(d);
}

static void relay_dir_write(void *context)
{
	struct relay_dir *d = context;
	ssize_t ret = write(d->fd_dest, d->buf + d->start, d->end - d->start);

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0) {
		/* the destination is gone: nothing more can be delivered */
		relay_destroy(d->relay);
		return;
	}
	d->start += (size_t)ret;
	if (d->start == d->end)
		d->start = d->end = 0;
	relay_dir_update(d);
}

static void relay_dir_update(struct relay_dir *d)
{
	struct relay *relay = d->relay;

	if (d->src_eof && d->start == d->end) {
		/* everything delivered: half-close towards the socket, or
		   end the relay when the session's side ended */
		if (d == &relay->dir[0]) {
			io_remove(&d->io_src);
			io_remove(&d->io_dest);
			(void)shutdown(relay->fd_sock, SHUT_WR);
			return;
		}
		relay_destroy(relay);
		return;
	}
	bool want_read = !d->src_eof && d->end < RELAY_BUF_SIZE;
	bool want_write = d->end > d->start;
	if (want_read && d->io_src == NULL)
		d->io_src = io_add(d->fd_src, IO_READ, relay_dir_read, d);
	else if (!want_read)
		io_remove(&d->io_src);
	if (want_write && d->io_dest == NULL)
		d->io_dest = io_add(d->fd_dest, IO_WRITE, relay_dir_write, d);
	else if (!want_write)
		io_remove(&d->io_dest);
}

int imap_relay_create(int fd_in, int fd_out, void (*finished)(void *),
		      void *context, int *fd_r, const char **error_r)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = t_strdup_printf("socketpair() failed: %m");
		return -1;
	}
	struct relay *relay = i_new(struct relay, 1);
	relay->fd_in = fd_in;
	relay->fd_out = fd_out;
	relay->fd_sock = sv[0];
	relay->finished = finished;
	relay->context = context;
	fd_set_nonblock(fd_in, true);
	fd_set_nonblock(fd_out, true);
	fd_set_nonblock(sv[0], true);
	relay->dir[0] = (struct relay_dir){ .relay = relay, .fd_src = fd_in,
					    .fd_dest = sv[0] };
	relay->dir[1] = (struct relay_dir){ .relay = relay, .fd_src = sv[0],
					    .fd_dest = fd_out };
	for (unsigned int i = 0; i < 2; i++) {
		relay->dir[i].buf = i_malloc(RELAY_BUF_SIZE);
		relay_dir_update(&relay->dir[i]);
	}
	*fd_r = sv[1];
	return 0;
}
