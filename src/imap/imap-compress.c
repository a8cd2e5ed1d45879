/* The COMPRESS=DEFLATE layer: two pumps on the ioloop between the
   client's socket (compressed) and the session's socket-pair end
   (plain), each with bounded buffers that exist only while data is in
   flight. See imap-compress.h for the flushing and memory rules. */
#include "lib.h"
#include "ioloop.h"
#include "event.h"
#include "master-service.h"
#include "imap-compress.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <zlib.h>

/* compressed bytes read from the client, waiting to be inflated */
#define COMPRESS_IN_Z_SIZE (16 * 1024)
/* inflated bytes waiting for the session */
#define COMPRESS_IN_PLAIN_SIZE (32 * 1024)
/* the session's output, waiting to be deflated */
#define COMPRESS_OUT_PLAIN_SIZE (32 * 1024)
/* deflated bytes waiting for the client */
#define COMPRESS_OUT_Z_SIZE (32 * 1024)

/* zlib's defaults are level 6, windowBits 15, memLevel 8 (268 KiB per
   deflate state); IMAP responses compress nearly as well with a 4 KiB
   window, and an idle session must stay small. Inflating takes any
   window the client chose (15 = up to 32 KiB). */
#define COMPRESS_DEFLATE_LEVEL 6
#define COMPRESS_DEFLATE_WINDOW_BITS 12
#define COMPRESS_DEFLATE_MEM_LEVEL 5
#define COMPRESS_INFLATE_WINDOW_BITS 15
/* the session's own idle timeout no longer covers a client that stops
   reading after the session ended */
#define COMPRESS_LINGER_MSECS (30 * 1000)

struct compress_buf {
	unsigned char *data;
	size_t start, end, size;
};

struct imap_compress {
	int fd_net, fd_sess;
	struct master_service *service;
	struct event *event;
	struct io *io_net_read, *io_net_write, *io_sess_read, *io_sess_write;
	struct timeout *to_deflate_idle;
	/* after the session ended: how long the client gets to take the
	   rest of its output */
	struct timeout *to_linger;

	/* client -> session */
	z_stream zin;
	struct compress_buf in_z, in_plain;
	/* client -> session: the client closed, its stream ended, or its
	   data did not inflate */
	bool in_eof:1;
	bool in_failed:1;
	bool in_stream_end:1;
	bool in_shutdown:1;

	/* session -> client */
	z_stream zout;
	struct compress_buf out_plain, out_z;
	/* the flush deflate() still owes for what out_plain held */
	int out_flush;
	bool zout_initialized:1;
	/* zlib holds output not yet flushed to out_z */
	bool out_unflushed:1;
	bool out_eof:1;
	bool out_finished:1;

	uint64_t in_z_total, in_plain_total, out_plain_total, out_z_total;
};

static size_t compress_memory;
static unsigned int compress_count;

static void compress_update(struct imap_compress *comp);

/* zlib allocations are counted for imap_compress_get_memory_usage();
   the size is kept in front of each block */
#define COMPRESS_ALLOC_HDR 16

static voidpf compress_zalloc(voidpf opaque ATTR_UNUSED, uInt items, uInt size)
{
	size_t total = (size_t)items * size;
	unsigned char *mem = i_malloc(total + COMPRESS_ALLOC_HDR);

	memcpy(mem, &total, sizeof(total));
	compress_memory += total;
	return mem + COMPRESS_ALLOC_HDR;
}

static void compress_zfree(voidpf opaque ATTR_UNUSED, voidpf address)
{
	unsigned char *mem = (unsigned char *)address - COMPRESS_ALLOC_HDR;
	size_t total;

	memcpy(&total, mem, sizeof(total));
	compress_memory -= total;
	i_free(mem);
}

static void compress_buf_alloc(struct compress_buf *buf, size_t size)
{
	if (buf->data == NULL) {
		buf->data = i_malloc(size);
		buf->size = size;
		buf->start = buf->end = 0;
		compress_memory += size;
	}
}

/* Free the buffer once it holds nothing (idle sessions keep no buffers). */
static void compress_buf_release_if_empty(struct compress_buf *buf)
{
	if (buf->data != NULL && buf->start == buf->end) {
		compress_memory -= buf->size;
		i_free(buf->data);
		buf->data = NULL;
		buf->start = buf->end = buf->size = 0;
	}
}

static size_t compress_buf_used(const struct compress_buf *buf)
{
	return buf->end - buf->start;
}

/* Room at the end, after moving unconsumed bytes to the front. */
static size_t compress_buf_room(struct compress_buf *buf, size_t size)
{
	compress_buf_alloc(buf, size);
	if (buf->start > 0 && buf->end == buf->size) {
		memmove(buf->data, buf->data + buf->start, buf->end - buf->start);
		buf->end -= buf->start;
		buf->start = 0;
	}
	return buf->size - buf->end;
}

static void compress_destroy(struct imap_compress *comp)
{
	e_debug(comp->event, "COMPRESS: in %llu->%llu bytes, out %llu->%llu bytes",
		(unsigned long long)comp->in_z_total,
		(unsigned long long)comp->in_plain_total,
		(unsigned long long)comp->out_plain_total,
		(unsigned long long)comp->out_z_total);
	io_remove(&comp->io_net_read);
	io_remove(&comp->io_net_write);
	io_remove(&comp->io_sess_read);
	io_remove(&comp->io_sess_write);
	if (comp->to_deflate_idle != NULL)
		timeout_remove(&comp->to_deflate_idle);
	if (comp->to_linger != NULL)
		timeout_remove(&comp->to_linger);
	(void)inflateEnd(&comp->zin);
	if (comp->zout_initialized)
		(void)deflateEnd(&comp->zout);
	struct compress_buf *bufs[] = {
		&comp->in_z, &comp->in_plain, &comp->out_plain, &comp->out_z
	};
	for (unsigned int i = 0; i < N_ELEMENTS(bufs); i++) {
		bufs[i]->start = bufs[i]->end;
		compress_buf_release_if_empty(bufs[i]);
	}
	if (comp->fd_net != -1)
		(void)close(comp->fd_net);
	if (comp->fd_sess != -1)
		(void)close(comp->fd_sess);
	event_unref(&comp->event);
	if (comp->service != NULL)
		master_service_client_disconnected(comp->service);
	compress_count--;
	i_free(comp);
}

/* --- client -> session --- */

/* The client can send nothing usable any more: let the session read
   EOF once what was inflated has reached it. */
static void compress_in_fail(struct imap_compress *comp, const char *error)
{
	e_info(comp->event, "Disconnected: %s (compressed input)", error);
	comp->in_eof = true;
	comp->in_failed = true;
	comp->in_z.start = comp->in_z.end;
}

static void compress_inflate(struct imap_compress *comp)
{
	while (compress_buf_used(&comp->in_z) > 0 && !comp->in_failed) {
		size_t room = compress_buf_room(&comp->in_plain,
						COMPRESS_IN_PLAIN_SIZE);
		if (room == 0)
			break;
		if (comp->in_stream_end) {
			compress_in_fail(comp, "Data after the end of the "
					 "DEFLATE stream");
			break;
		}
		comp->zin.next_in = comp->in_z.data + comp->in_z.start;
		comp->zin.avail_in = (uInt)compress_buf_used(&comp->in_z);
		comp->zin.next_out = comp->in_plain.data + comp->in_plain.end;
		comp->zin.avail_out = (uInt)room;
		int ret = inflate(&comp->zin, Z_SYNC_FLUSH);
		size_t used = compress_buf_used(&comp->in_z) - comp->zin.avail_in;
		size_t produced = room - comp->zin.avail_out;

		comp->in_z.start += used;
		comp->in_plain.end += produced;
		comp->in_plain_total += produced;
		if (ret == Z_STREAM_END) {
			comp->in_stream_end = true;
		} else if (ret == Z_BUF_ERROR || (ret == Z_OK &&
						  used == 0 && produced == 0)) {
			/* needs more input */
			break;
		} else if (ret != Z_OK) {
			compress_in_fail(comp, t_strdup_printf(
				"Invalid compressed data: %s",
				comp->zin.msg != NULL ? comp->zin.msg :
				"inflate() failed"));
			break;
		}
	}
	compress_buf_release_if_empty(&comp->in_z);
	compress_buf_release_if_empty(&comp->in_plain);
}

static void compress_net_read(void *context)
{
	struct imap_compress *comp = context;
	size_t room = compress_buf_room(&comp->in_z, COMPRESS_IN_Z_SIZE);
	ssize_t ret = read(comp->fd_net, comp->in_z.data + comp->in_z.end,
			   room);

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0 && errno != ECONNRESET)
		e_error(comp->event, "COMPRESS: read() failed: %m");
	if (ret <= 0) {
		comp->in_eof = true;
	} else {
		comp->in_z.end += (size_t)ret;
		comp->in_z_total += (size_t)ret;
		compress_inflate(comp);
	}
	compress_update(comp);
}

static void compress_sess_write(void *context)
{
	struct imap_compress *comp = context;
	ssize_t ret = write(comp->fd_sess,
			    comp->in_plain.data + comp->in_plain.start,
			    compress_buf_used(&comp->in_plain));

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0) {
		/* the session is gone: nothing it wrote is lost by ending,
		   its output is read separately until EOF */
		comp->in_eof = true;
		comp->in_plain.start = comp->in_plain.end;
	} else {
		comp->in_plain.start += (size_t)ret;
	}
	compress_buf_release_if_empty(&comp->in_plain);
	compress_inflate(comp);
	compress_update(comp);
}

/* --- session -> client --- */

static void compress_deflate_idle(void *context)
{
	struct imap_compress *comp = context;

	/* only armed after a completed sync flush with nothing pending */
	timeout_remove(&comp->to_deflate_idle);
	if (comp->zout_initialized && compress_buf_used(&comp->out_plain) == 0 &&
	    comp->out_flush == Z_NO_FLUSH && !comp->out_unflushed) {
		(void)deflateEnd(&comp->zout);
		comp->zout_initialized = false;
	}
}

static int compress_deflate_init(struct imap_compress *comp)
{
	if (comp->zout_initialized)
		return 0;
	memset(&comp->zout, 0, sizeof(comp->zout));
	comp->zout.zalloc = compress_zalloc;
	comp->zout.zfree = compress_zfree;
	if (deflateInit2(&comp->zout, COMPRESS_DEFLATE_LEVEL, Z_DEFLATED,
			 -COMPRESS_DEFLATE_WINDOW_BITS,
			 COMPRESS_DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
		e_error(comp->event, "COMPRESS: deflateInit2() failed");
		return -1;
	}
	comp->zout_initialized = true;
	return 0;
}

/* Deflate out_plain into out_z as far as out_z has room. Returns -1 if
   zlib fails (cannot happen with valid state, but is handled). */
static int compress_deflate(struct imap_compress *comp)
{
	while (comp->out_flush != Z_NO_FLUSH ||
	       compress_buf_used(&comp->out_plain) > 0) {
		size_t room = compress_buf_room(&comp->out_z,
						COMPRESS_OUT_Z_SIZE);
		if (room == 0)
			break;
		if (compress_deflate_init(comp) < 0)
			return -1;
		size_t avail = compress_buf_used(&comp->out_plain);
		comp->zout.next_in = comp->out_plain.data == NULL ? NULL :
			comp->out_plain.data + comp->out_plain.start;
		comp->zout.avail_in = (uInt)avail;
		comp->zout.next_out = comp->out_z.data + comp->out_z.end;
		comp->zout.avail_out = (uInt)room;
		int ret = deflate(&comp->zout, comp->out_flush);
		size_t used = avail - comp->zout.avail_in;
		size_t produced = room - comp->zout.avail_out;

		comp->out_plain.start += used;
		comp->out_z.end += produced;
		comp->out_z_total += produced;
		if (ret == Z_STREAM_ERROR) {
			e_error(comp->event, "COMPRESS: deflate() failed");
			return -1;
		}
		if (comp->zout.avail_in > 0)
			continue;
		/* all input taken: a flush is complete when deflate()
		   left output space (zlib's rule), Z_FINISH at
		   Z_STREAM_END */
		if (comp->out_flush == Z_FINISH) {
			if (ret == Z_STREAM_END) {
				comp->out_flush = Z_NO_FLUSH;
				comp->out_finished = true;
			}
		} else if (comp->out_flush == Z_SYNC_FLUSH) {
			if (comp->zout.avail_out > 0) {
				comp->out_flush = Z_NO_FLUSH;
				comp->out_unflushed = false;
			}
		} else {
			comp->out_unflushed = true;
		}
		if (comp->out_flush == Z_NO_FLUSH)
			break;
	}
	compress_buf_release_if_empty(&comp->out_plain);
	compress_buf_release_if_empty(&comp->out_z);
	if (comp->zout_initialized && comp->out_flush == Z_NO_FLUSH &&
	    !comp->out_unflushed && compress_buf_used(&comp->out_plain) == 0 &&
	    !comp->out_eof) {
		if (comp->to_deflate_idle == NULL) {
			comp->to_deflate_idle =
				timeout_add(IMAP_COMPRESS_DEFLATE_IDLE_MSECS,
					    compress_deflate_idle, comp);
		} else {
			timeout_reset(comp->to_deflate_idle);
		}
	}
	return 0;
}

static void compress_linger_timeout(void *context)
{
	struct imap_compress *comp = context;

	e_info(comp->event, "COMPRESS: client did not read the end of the "
	       "session's output in %u secs: closing",
	       COMPRESS_LINGER_MSECS / 1000);
	compress_destroy(comp);
}

static void compress_sess_read(void *context)
{
	struct imap_compress *comp = context;
	size_t room = compress_buf_room(&comp->out_plain,
					COMPRESS_OUT_PLAIN_SIZE);
	ssize_t ret = read(comp->fd_sess,
			   comp->out_plain.data + comp->out_plain.end, room);

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret <= 0) {
		/* the session ended: finish the stream and close once it
		   has been sent */
		comp->out_eof = true;
		comp->out_flush = Z_FINISH;
		if (comp->to_deflate_idle != NULL)
			timeout_remove(&comp->to_deflate_idle);
		comp->to_linger = timeout_add(COMPRESS_LINGER_MSECS,
					      compress_linger_timeout, comp);
	} else {
		comp->out_plain.end += (size_t)ret;
		comp->out_plain_total += (size_t)ret;
		/* the session has nothing more queued now (a short read,
		   or nothing left after a full one): what it wrote must
		   reach the client without waiting for more */
		int queued = 0;
		if ((size_t)ret == room &&
		    ioctl(comp->fd_sess, FIONREAD, &queued) < 0)
			queued = 0;
		comp->out_flush = queued == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
	}
	if (compress_deflate(comp) < 0) {
		compress_destroy(comp);
		return;
	}
	compress_update(comp);
}

static void compress_net_write(void *context)
{
	struct imap_compress *comp = context;
	ssize_t ret = write(comp->fd_net, comp->out_z.data + comp->out_z.start,
			    compress_buf_used(&comp->out_z));

	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (ret < 0) {
		/* the client is gone: nothing more can be delivered */
		if (errno != EPIPE && errno != ECONNRESET)
			e_error(comp->event, "COMPRESS: write() failed: %m");
		compress_destroy(comp);
		return;
	}
	comp->out_z.start += (size_t)ret;
	compress_buf_release_if_empty(&comp->out_z);
	if (compress_deflate(comp) < 0) {
		compress_destroy(comp);
		return;
	}
	compress_update(comp);
}

/* Set the io watchers from the buffers' state; end the layer when the
   session has closed and everything it sent has gone out. */
static void compress_update(struct imap_compress *comp)
{
	if (comp->out_eof && comp->out_finished &&
	    compress_buf_used(&comp->out_z) == 0) {
		compress_destroy(comp);
		return;
	}
	if (comp->in_eof && compress_buf_used(&comp->in_plain) == 0 &&
	    !comp->in_shutdown) {
		/* the session reads EOF and ends */
		comp->in_shutdown = true;
		(void)shutdown(comp->fd_sess, SHUT_WR);
	}

	bool net_read = !comp->in_eof &&
		compress_buf_used(&comp->in_z) < COMPRESS_IN_Z_SIZE;
	bool sess_write = compress_buf_used(&comp->in_plain) > 0;
	bool sess_read = !comp->out_eof && comp->out_flush == Z_NO_FLUSH &&
		compress_buf_used(&comp->out_z) == 0;
	bool net_write = compress_buf_used(&comp->out_z) > 0;

	if (net_read && comp->io_net_read == NULL) {
		comp->io_net_read = io_add(comp->fd_net, IO_READ,
					   compress_net_read, comp);
	} else if (!net_read) {
		io_remove(&comp->io_net_read);
	}
	if (sess_write && comp->io_sess_write == NULL) {
		comp->io_sess_write = io_add(comp->fd_sess, IO_WRITE,
					     compress_sess_write, comp);
	} else if (!sess_write) {
		io_remove(&comp->io_sess_write);
	}
	if (sess_read && comp->io_sess_read == NULL) {
		comp->io_sess_read = io_add(comp->fd_sess, IO_READ,
					    compress_sess_read, comp);
	} else if (!sess_read) {
		io_remove(&comp->io_sess_read);
	}
	if (net_write && comp->io_net_write == NULL) {
		comp->io_net_write = io_add(comp->fd_net, IO_WRITE,
					    compress_net_write, comp);
	} else if (!net_write) {
		io_remove(&comp->io_net_write);
	}
}

int imap_compress_create(int fd_net, const void *pending, size_t pending_size,
			 struct master_service *service, struct event *event,
			 int *fd_session_r, const char **error_r)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*error_r = t_strdup_printf("socketpair() failed: %m");
		return -1;
	}
	struct imap_compress *comp = i_new(struct imap_compress, 1);
	comp->zin.zalloc = compress_zalloc;
	comp->zin.zfree = compress_zfree;
	if (inflateInit2(&comp->zin, -COMPRESS_INFLATE_WINDOW_BITS) != Z_OK) {
		*error_r = "inflateInit2() failed";
		(void)close(sv[0]);
		(void)close(sv[1]);
		i_free(comp);
		return -1;
	}
	compress_count++;
	comp->fd_net = fd_net;
	comp->fd_sess = sv[0];
	comp->out_flush = Z_NO_FLUSH;
	comp->event = event;
	event_ref(event);
	comp->service = service;
	if (service != NULL)
		master_service_client_connected(service);
	fd_set_nonblock(fd_net, true);
	fd_set_nonblock(sv[0], true);
	fd_set_nonblock(sv[1], true);

	if (pending_size > 0) {
		/* in_z holds what the client sent after COMPRESS; more than
		   its size waits in a larger first buffer */
		comp->in_z.data = i_malloc(pending_size > COMPRESS_IN_Z_SIZE ?
					   pending_size : COMPRESS_IN_Z_SIZE);
		comp->in_z.size = pending_size > COMPRESS_IN_Z_SIZE ?
			pending_size : COMPRESS_IN_Z_SIZE;
		compress_memory += comp->in_z.size;
		memcpy(comp->in_z.data, pending, pending_size);
		comp->in_z.end = pending_size;
		comp->in_z_total = pending_size;
		compress_inflate(comp);
	}
	compress_update(comp);
	*fd_session_r = sv[1];
	return 0;
}

size_t imap_compress_get_memory_usage(void)
{
	return compress_memory;
}

unsigned int imap_compress_get_count(void)
{
	return compress_count;
}
