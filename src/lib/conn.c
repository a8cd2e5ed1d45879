/* Buffered nonblocking connections: the socket I/O state machine (plain
   and TLS) under every protocol handler. Input is read into a buffer that
   exists only while unconsumed bytes do; output goes straight to the
   socket and only the remainder is buffered; both sides apply
   back-pressure. Callbacks reach the handler only from the ioloop, and
   anything that happens inside a handler's own conn_*() call (a write
   error, an unpause) is finished later from a zero-delay timer. */
#include "lib.h"
#include "ioloop.h"
#include "net.h"
#include "tls.h"
#include "conn.h"
#include <inttypes.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

/* buffer_get_space() keeps one byte for a NUL and rounds the allocation
   up to a power of two: 16 KiB - 1 fills a 16 KiB block exactly, and is
   one TLS record. */
#define CONN_READ_SIZE (16 * 1024 - 1)
/* Read into the free space already allocated if at least this much is
   left, instead of growing the buffer. */
#define CONN_READ_MIN_FREE 1024
#define CONN_STREAM_CHUNK_SIZE (32 * 1024 - 1)
#define CONN_CORK_FLUSH_SIZE (16 * 1024)
/* Bytes one flush may send before other connections get their turn. */
#define CONN_FLUSH_MAX_BYTES (256 * 1024)

struct conn {
	int refcount;
	int fd;
	const struct conn_settings *set;
	const struct conn_vfuncs *v;
	void *context;
	char *name;

	struct io *io_read, *io_write;
	/* the idle timer, or the handshake timer while TLS negotiates */
	struct timeout *to_idle;
	/* zero-delay timer: deferred disconnect, input delivery, retries */
	struct timeout *to_deferred;

	/* unconsumed input is in.data[in_pos..in.used) */
	buffer_t in;
	size_t in_pos;
	/* bytes after in_pos already known to hold no LF */
	size_t in_scanned;
	/* unsent output is out.data[out_pos..out.used) */
	buffer_t out;
	size_t out_pos;

	uint64_t bytes_in, bytes_out;
	struct conn_stream_source *stream;
	struct tls_conn *tls;
	/* set when a disconnect waits for the deferred timer */
	char *disconnect_reason;
	/* the first bytes of out are a plaintext reply to STARTTLS that must
	   reach the peer before the handshake starts */
	uint32_t tls_plain_left;
	uint16_t cork_count;

	/* conn_destroy() or conn_detach(): the fd is no longer ours */
	bool closed:1;
	/* the peer is gone, or idle timeout or conn_disconnect(): no more
	   input, disconnected() is called */
	bool disconnected:1;
	/* the socket or TLS session failed: writes are discarded too (after
	   an EOF, idle timeout or conn_disconnect() a BYE can still go) */
	bool output_broken:1;
	bool input_paused:1;
	/* conn_read_line()/peek() refused input because of output
	   back-pressure: resume when output drains */
	bool input_blocked_output:1;
	/* deliver already buffered input on the next run */
	bool input_kick:1;
	bool stream_waiting:1;
	bool stream_done_pending:1;
	bool sendfile_failed:1;
	bool handshake_timer:1;
};

static unsigned int conn_count;

static void conn_update_io(struct conn *conn);
static void conn_schedule_deferred(struct conn *conn);

static void conn_ignore_sigpipe(void)
{
	static bool checked = false;
	struct sigaction sa;

	if (checked)
		return;
	checked = true;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		(void)signal(SIGPIPE, SIG_IGN);
}

static size_t conn_input_max(const struct conn *conn)
{
	return conn->set->input_max_size != 0 ? conn->set->input_max_size :
		CONN_DEFAULT_INPUT_MAX_SIZE;
}

static size_t conn_output_high(const struct conn *conn)
{
	return conn->set->output_high_watermark != 0 ?
		conn->set->output_high_watermark :
		CONN_DEFAULT_OUTPUT_HIGH_WATERMARK;
}

static size_t conn_output_low(const struct conn *conn)
{
	return conn->set->output_low_watermark != 0 ?
		conn->set->output_low_watermark : conn_output_high(conn) / 4;
}

const char *conn_get_name(const struct conn *conn)
{
	if (conn->name != NULL)
		return conn->name;
	return conn->set->name != NULL ? conn->set->name : "conn";
}

void conn_set_name(struct conn *conn, const char *name)
{
	i_free(conn->name);
	conn->name = i_strdup(name);
}

void *conn_get_context(const struct conn *conn) { return conn->context; }
void conn_set_context(struct conn *conn, void *context) { conn->context = context; }
int conn_get_fd(const struct conn *conn) { return conn->fd; }
uint64_t conn_get_bytes_in(const struct conn *conn) { return conn->bytes_in; }
uint64_t conn_get_bytes_out(const struct conn *conn) { return conn->bytes_out; }
unsigned int conn_get_count(void) { return conn_count; }

size_t conn_get_buffer_alloc_size(const struct conn *conn)
{
	return conn->in.alloc + conn->out.alloc;
}

static void conn_idle_timeout(void *context)
{
	struct conn *conn = context;
	conn_disconnect(conn, conn->handshake_timer ?
			"TLS handshake timed out" : "Idle timeout");
}

static void conn_idle_timer_start(struct conn *conn)
{
	timeout_remove(&conn->to_idle);
	conn->handshake_timer = false;
	if (conn->set->idle_timeout_msecs > 0) {
		conn->to_idle = timeout_add(conn->set->idle_timeout_msecs,
					    conn_idle_timeout, conn);
	}
}

void conn_set_settings(struct conn *conn, const struct conn_settings *set)
{
	conn->set = set;
	if (!conn->handshake_timer && !conn->closed)
		conn_idle_timer_start(conn);
}

static void conn_progress(struct conn *conn)
{
	if (conn->to_idle != NULL && !conn->handshake_timer)
		timeout_reset(conn->to_idle);
}

struct conn *conn_create(int fd, const struct conn_settings *set,
			 const struct conn_vfuncs *v, void *context)
{
	i_assert(fd >= 0);
	i_assert(v->input != NULL && v->disconnected != NULL);

	conn_ignore_sigpipe();
	fd_set_nonblock(fd, true);

	struct conn *conn = i_new(struct conn, 1);
	conn->refcount = 1;
	conn->fd = fd;
	conn->set = set;
	conn->v = v;
	conn->context = context;
	i_assert(conn_output_low(conn) < conn_output_high(conn));
	buffer_init(&conn->in, system_pool);
	buffer_init(&conn->out, system_pool);
	conn_idle_timer_start(conn);
	conn_count++;
	conn_update_io(conn);
	return conn;
}

static void conn_stream_abort(struct conn *conn)
{
	struct conn_stream_source *src = conn->stream;
	if (src == NULL)
		return;
	conn->stream = NULL;
	conn->stream_waiting = false;
	src->v->destroy(src);
}

/* A nonblocking last attempt to get queued output (a BYE) and the TLS
   close_notify out before the socket closes. */
static void conn_final_flush(struct conn *conn)
{
	size_t avail = conn->out.used - conn->out_pos;
	const char *error;

	if (conn->tls == NULL || conn->tls_plain_left > 0) {
		if (conn->tls != NULL)
			avail = conn->tls_plain_left;
		if (avail > 0)
			(void)send(conn->fd, conn->out.data + conn->out_pos,
				   avail, MSG_NOSIGNAL | MSG_DONTWAIT);
		return;
	}
	if (!tls_conn_is_handshaked(conn->tls))
		return;
	while (avail > 0) {
		ssize_t ret = tls_conn_write(conn->tls, conn->out.data +
					     conn->out_pos, avail, &error);
		if (ret <= 0)
			return;
		conn->out_pos += (size_t)ret;
		avail -= (size_t)ret;
	}
	tls_conn_shutdown(conn->tls);
}

static void conn_close(struct conn *conn, bool close_fd)
{
	if (conn->closed)
		return;
	/* closed first: nothing below may schedule callbacks */
	conn->closed = true;
	io_remove(&conn->io_read);
	io_remove(&conn->io_write);
	timeout_remove(&conn->to_idle);
	timeout_remove(&conn->to_deferred);
	conn_stream_abort(conn);
	if (close_fd && !conn->output_broken)
		conn_final_flush(conn);
	conn->disconnected = true;
	tls_conn_destroy(&conn->tls);
	if (close_fd && conn->fd >= 0) {
		if (close(conn->fd) < 0)
			i_error("%s: close() failed: %m", conn_get_name(conn));
	}
	conn->fd = -1;
	i_free(conn->disconnect_reason);
}

void conn_ref(struct conn *conn)
{
	i_assert(conn->refcount > 0);
	conn->refcount++;
}

void conn_unref(struct conn **_conn)
{
	struct conn *conn = *_conn;
	*_conn = NULL;
	if (conn == NULL)
		return;
	i_assert(conn->refcount > 0);
	if (--conn->refcount > 0)
		return;
	conn_close(conn, true);
	buffer_release(&conn->in);
	buffer_release(&conn->out);
	i_free(conn->name);
	conn_count--;
	i_free(conn);
}

void conn_destroy(struct conn **_conn)
{
	struct conn *conn = *_conn;
	*_conn = NULL;
	if (conn == NULL)
		return;
	conn_close(conn, true);
	conn_unref(&conn);
}

bool conn_is_disconnected(const struct conn *conn)
{
	return conn->disconnected;
}

/* Stop I/O now and have disconnected() called from the ioloop. The first
   reason wins: later failures are consequences of the first one. broken:
   the transport failed, nothing can be written any more. */
static void conn_fail(struct conn *conn, const char *reason, bool broken)
{
	if (broken)
		conn->output_broken = true;
	if (conn->disconnected)
		return;
	conn->disconnected = true;
	conn->disconnect_reason = i_strdup(reason);
	timeout_remove(&conn->to_idle);
	conn_stream_abort(conn);
	conn_update_io(conn);
	conn_schedule_deferred(conn);
}

void conn_disconnect(struct conn *conn, const char *reason)
{
	conn_fail(conn, reason, false);
}

static void conn_fail_errno(struct conn *conn, const char *func, int err)
{
	if (err == EPIPE)
		conn_fail(conn, "Connection closed", true);
	else if (err == ECONNRESET)
		conn_fail(conn, "Connection reset by peer", true);
	else
		conn_fail(conn, t_strdup_printf("%s() failed: %s", func,
						t_strerror(err)), true);
}

/* --- io watchers --- */

static size_t conn_input_unconsumed(const struct conn *conn)
{
	return conn->in.used - conn->in_pos;
}

size_t conn_input_buffered_size(const struct conn *conn)
{
	return conn_input_unconsumed(conn);
}

size_t conn_output_buffered_size(const struct conn *conn)
{
	return conn->out.used - conn->out_pos;
}

bool conn_is_streaming(const struct conn *conn)
{
	return conn->stream != NULL || conn->stream_done_pending;
}

bool conn_output_is_full(const struct conn *conn)
{
	return conn_is_streaming(conn) ||
		conn_output_buffered_size(conn) >= conn_output_high(conn);
}

static bool conn_tls_ready(const struct conn *conn)
{
	return conn->tls == NULL ||
		(conn->tls_plain_left == 0 && tls_conn_is_handshaked(conn->tls));
}

/* Should the socket be read? */
static bool conn_input_wanted(const struct conn *conn)
{
	return !conn->input_paused && !conn->input_blocked_output &&
		conn_input_unconsumed(conn) < conn_input_max(conn);
}

static bool conn_output_pending(const struct conn *conn)
{
	return conn_output_buffered_size(conn) > 0 ||
		(conn->stream != NULL && !conn->stream_waiting);
}

static void conn_io_read(void *context);
static void conn_io_write(void *context);

static void conn_update_io(struct conn *conn)
{
	bool want_read = false, want_write = false;

	if (conn->disconnected) {
		/* nothing */
	} else if (conn->tls == NULL) {
		want_read = conn_input_wanted(conn);
		want_write = conn->cork_count == 0 && conn_output_pending(conn);
	} else if (conn->tls_plain_left > 0) {
		/* no reading: the peer's ClientHello is for OpenSSL */
		want_write = true;
	} else if (!tls_conn_is_handshaked(conn->tls)) {
		if (tls_conn_handshake_wants_write(conn->tls))
			want_write = true;
		else
			want_read = true;
	} else {
		if (conn_input_wanted(conn)) {
			if (tls_conn_read_wants_write(conn->tls))
				want_write = true;
			else
				want_read = true;
			/* epoll cannot see what OpenSSL already decrypted:
			   whenever reading is (re)enabled, read it from the
			   loop */
			if (tls_conn_has_pending(conn->tls))
				conn_schedule_deferred(conn);
		}
		if (conn->cork_count == 0 && conn_output_pending(conn)) {
			if (tls_conn_write_wants_read(conn->tls))
				want_read = true;
			else
				want_write = true;
		}
	}

	if (want_read && conn->io_read == NULL)
		conn->io_read = io_add(conn->fd, IO_READ, conn_io_read, conn);
	else if (!want_read)
		io_remove(&conn->io_read);
	if (want_write && conn->io_write == NULL)
		conn->io_write = io_add(conn->fd, IO_WRITE, conn_io_write, conn);
	else if (!want_write)
		io_remove(&conn->io_write);
}

/* --- output --- */

/* Returns bytes written, 0 if the socket is full, -1 on failure (the
   disconnect is scheduled). */
static ssize_t conn_raw_write(struct conn *conn, const void *data, size_t size)
{
	ssize_t ret = send(conn->fd, data, size, MSG_NOSIGNAL);
	if (ret < 0 && errno == ENOTSOCK)
		ret = write(conn->fd, data, size);
	if (ret >= 0) {
		conn->bytes_out += (uint64_t)ret;
		if (ret > 0)
			conn_progress(conn);
		return ret;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	conn_fail_errno(conn, "write", errno);
	return -1;
}

static ssize_t conn_transport_write(struct conn *conn, const void *data,
				    size_t size)
{
	const char *error;

	if (conn->tls == NULL)
		return conn_raw_write(conn, data, size);
	ssize_t ret = tls_conn_write(conn->tls, data, size, &error);
	if (ret < 0) {
		conn_fail(conn, strcmp(error, "Connection closed") == 0 ? error :
			  t_strdup_printf("TLS write failed: %s", error), true);
		return -1;
	}
	if (ret > 0) {
		conn->bytes_out += (uint64_t)ret;
		conn_progress(conn);
	}
	return ret;
}

/* Send the plaintext STARTTLS reply. 1 = done, 0 = blocked, -1 = failed. */
static int conn_flush_plain(struct conn *conn)
{
	while (conn->tls_plain_left > 0) {
		ssize_t ret = conn_raw_write(conn, conn->out.data + conn->out_pos,
					     conn->tls_plain_left);
		if (ret <= 0)
			return (int)ret;
		conn->out_pos += (size_t)ret;
		conn->tls_plain_left -= (uint32_t)ret;
	}
	if (conn->out_pos == conn->out.used) {
		buffer_release(&conn->out);
		conn->out_pos = 0;
	}
	return 1;
}

static void conn_stream_finish(struct conn *conn)
{
	conn_stream_abort(conn);
	conn->stream_done_pending = true;
}

/* Pull from the stream: 1 = progress, 0 = blocked (socket full or source
   waiting), -1 = failed. */
static int conn_stream_pull(struct conn *conn, size_t *total)
{
	struct conn_stream_source *src = conn->stream;
	const char *error = NULL;
	ssize_t ret;

	if (src->can_sendfile && conn->tls == NULL && !conn->sendfile_failed) {
		size_t max = CONN_FLUSH_MAX_BYTES;
		if (src->sendfile_left != UINT64_MAX)
			max = (size_t)I_MIN((uint64_t)max, src->sendfile_left);
		if (max == 0) {
			conn_stream_finish(conn);
			return 1;
		}
		ret = sendfile(conn->fd, src->sendfile_fd, &src->sendfile_offset,
			       max);
		if (ret > 0) {
			if (src->sendfile_left != UINT64_MAX)
				src->sendfile_left -= (uint64_t)ret;
			conn->bytes_out += (uint64_t)ret;
			*total += (size_t)ret;
			conn_progress(conn);
			return 1;
		}
		if (ret == 0) {
			if (src->sendfile_left == UINT64_MAX) {
				conn_stream_finish(conn);
				return 1;
			}
			conn_fail(conn, t_strdup_printf("sendfile(): file is %"
				PRIu64" bytes shorter than expected",
				src->sendfile_left), true);
			return -1;
		}
		switch (errno) {
		case EAGAIN:
			return 0;
		case EINTR:
			return 1;
		case EINVAL:
		case ENOSYS:
		case EOPNOTSUPP:
			/* not a file the kernel can splice: read() instead */
			conn->sendfile_failed = true;
			return 1;
		default:
			conn_fail_errno(conn, "sendfile", errno);
			return -1;
		}
	}

	/* the output buffer is empty here: the chunk goes into it so a
	   partial write leaves the rest where the next flush finds it */
	void *buf = buffer_get_space(&conn->out, CONN_STREAM_CHUNK_SIZE);
	ret = src->v->read(src, buf, CONN_STREAM_CHUNK_SIZE, &error);
	if (ret > 0) {
		i_assert((size_t)ret <= CONN_STREAM_CHUNK_SIZE);
		conn->out.used += (size_t)ret;
		return 1;
	}
	if (ret == 0) {
		conn_stream_finish(conn);
		return 1;
	}
	if (ret == CONN_STREAM_WAIT) {
		conn->stream_waiting = true;
		return 0;
	}
	conn_fail(conn, t_strdup_printf("Stream source failed: %s",
					error != NULL ? error : "Unknown error"),
		  true);
	return -1;
}

/* Send buffered output; pull_stream (ioloop callers only) also feeds the
   stream. Returns 1 if everything is sent, 0 if something remains, -1 on
   failure. */
static int conn_output_send(struct conn *conn, bool pull_stream)
{
	size_t total = 0;

	if (conn->output_broken)
		return -1;
	if (conn->tls != NULL) {
		if (conn->tls_plain_left > 0) {
			int ret = conn_flush_plain(conn);
			if (ret <= 0)
				return ret;
		}
		if (!tls_conn_is_handshaked(conn->tls))
			return 0;
	}
	for (;;) {
		while (conn->out_pos < conn->out.used) {
			ssize_t ret = conn_transport_write(conn,
				conn->out.data + conn->out_pos,
				conn->out.used - conn->out_pos);
			if (ret <= 0)
				return (int)ret;
			conn->out_pos += (size_t)ret;
			total += (size_t)ret;
		}
		conn->out_pos = 0;
		conn->out.used = 0;
		if (conn->stream == NULL || !pull_stream || conn->stream_waiting ||
		    total >= CONN_FLUSH_MAX_BYTES) {
			/* keep the chunk buffer only while actively streaming */
			buffer_release(&conn->out);
			if (conn->stream == NULL && conn->tls != NULL)
				tls_conn_release_buffers(conn->tls);
			return conn->stream == NULL ? 1 : 0;
		}
		int ret = conn_stream_pull(conn, &total);
		if (ret <= 0) {
			if (conn->out.used == 0)
				buffer_release(&conn->out);
			return ret;
		}
	}
}

/* After a flush: finish a stream, lift output back-pressure, tell a
   producer it may write more. from_ioloop says whether handler callbacks
   may be called right here. */
static void conn_output_flushed(struct conn *conn, bool from_ioloop)
{
	if (conn->stream_done_pending && from_ioloop) {
		conn->stream_done_pending = false;
		i_assert(conn->v->stream_finished != NULL);
		conn->v->stream_finished(conn);
		if (conn->disconnected)
			return;
	}
	if (conn_is_streaming(conn) ||
	    conn_output_buffered_size(conn) > conn_output_low(conn))
		return;
	if (conn->input_blocked_output) {
		conn->input_blocked_output = false;
		conn->input_kick = true;
		if (!from_ioloop)
			conn_schedule_deferred(conn);
	}
	if (from_ioloop && conn->v->output_drained != NULL)
		conn->v->output_drained(conn);
}

void conn_write(struct conn *conn, const void *data, size_t size)
{
	i_assert(!conn_is_streaming(conn));
	if (conn->closed || conn->output_broken || size == 0)
		return;

	if (conn->cork_count == 0 && conn_output_buffered_size(conn) == 0 &&
	    conn_tls_ready(conn)) {
		const unsigned char *p = data;
		while (size > 0) {
			ssize_t ret = conn_transport_write(conn, p, size);
			if (ret < 0)
				return;
			if (ret == 0)
				break;
			p += ret;
			size -= (size_t)ret;
		}
		if (size == 0)
			return;
		data = p;
	}
	buffer_append(&conn->out, data, size);
	if (conn->cork_count > 0 &&
	    conn_output_buffered_size(conn) >= CONN_CORK_FLUSH_SIZE &&
	    conn_tls_ready(conn)) {
		/* corking batches small writes; it must not hold big ones */
		(void)conn_output_send(conn, false);
	}
	if (!conn->disconnected)
		conn_update_io(conn);
}

void conn_write_str(struct conn *conn, const char *str)
{
	conn_write(conn, str, strlen(str));
}

void conn_printf(struct conn *conn, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	T_BEGIN {
		string_t *str = t_str_new(256);
		str_vprintfa(str, fmt, args);
		conn_write(conn, buffer_data(str), str_len(str));
	} T_END;
	va_end(args);
}

void conn_cork(struct conn *conn)
{
	i_assert(conn->cork_count < UINT16_MAX);
	conn->cork_count++;
}

void conn_uncork(struct conn *conn)
{
	i_assert(conn->cork_count > 0);
	if (--conn->cork_count > 0 || conn->closed || conn->output_broken)
		return;
	if (conn_output_send(conn, false) >= 0 && !conn->disconnected)
		conn_output_flushed(conn, false);
	if (!conn->disconnected)
		conn_update_io(conn);
}

int conn_flush(struct conn *conn)
{
	if (conn->closed || conn->output_broken)
		return -1;
	int ret = conn_output_send(conn, false);
	if (ret >= 0 && !conn->disconnected) {
		conn_output_flushed(conn, false);
		conn_update_io(conn);
	}
	if (conn->output_broken)
		return -1;
	return ret > 0 && !conn_is_streaming(conn) ? 1 : 0;
}

void conn_send_stream(struct conn *conn, struct conn_stream_source *src)
{
	i_assert(!conn_is_streaming(conn));
	if (conn->disconnected) {
		src->v->destroy(src);
		return;
	}
	conn->stream = src;
	conn->stream_waiting = false;
	conn->sendfile_failed = false;
	conn_update_io(conn);
}

void conn_stream_source_ready(struct conn *conn)
{
	if (conn->stream == NULL || !conn->stream_waiting)
		return;
	conn->stream_waiting = false;
	if (!conn->disconnected)
		conn_update_io(conn);
}

struct conn_file_source {
	struct conn_stream_source src;
	bool autoclose;
};

static ssize_t conn_file_source_read(struct conn_stream_source *src,
				     void *buf, size_t size,
				     const char **error_r)
{
	if (src->sendfile_left == 0)
		return 0;
	size = (size_t)I_MIN((uint64_t)size, src->sendfile_left);
	for (;;) {
		ssize_t ret = pread(src->sendfile_fd, buf, size,
				    src->sendfile_offset);
		if (ret > 0) {
			src->sendfile_offset += ret;
			if (src->sendfile_left != UINT64_MAX)
				src->sendfile_left -= (uint64_t)ret;
			return ret;
		}
		if (ret == 0) {
			if (src->sendfile_left == UINT64_MAX)
				return 0;
			*error_r = t_strdup_printf("pread(): file is %"PRIu64
				" bytes shorter than expected",
				src->sendfile_left);
			return CONN_STREAM_ERROR;
		}
		if (errno != EINTR) {
			*error_r = t_strdup_printf("pread() failed: %m");
			return CONN_STREAM_ERROR;
		}
	}
}

static void conn_file_source_destroy(struct conn_stream_source *src)
{
	struct conn_file_source *fsrc =
		CONTAINER_OF(src, struct conn_file_source, src);
	if (fsrc->autoclose)
		close(src->sendfile_fd);
	i_free(fsrc);
}

static const struct conn_stream_source_vfuncs conn_file_source_vfuncs = {
	.read = conn_file_source_read,
	.destroy = conn_file_source_destroy,
};

struct conn_stream_source *
conn_stream_source_file(int fd, off_t offset, uint64_t length, bool autoclose)
{
	struct conn_file_source *fsrc = i_new(struct conn_file_source, 1);
	fsrc->src.v = &conn_file_source_vfuncs;
	fsrc->src.can_sendfile = true;
	fsrc->src.sendfile_fd = fd;
	fsrc->src.sendfile_offset = offset;
	fsrc->src.sendfile_left = length;
	fsrc->autoclose = autoclose;
	return &fsrc->src;
}

/* --- input --- */

static void conn_call_input(struct conn *conn)
{
	conn->input_kick = false;
	conn_ref(conn);
	/* replies to pipelined commands leave in one send (and one TLS
	   record) instead of one per reply */
	conn->cork_count++;
	conn->v->input(conn);
	if (!conn->closed) {
		conn->cork_count--;
		if (conn->in_pos == conn->in.used) {
			buffer_release(&conn->in);
			conn->in_pos = 0;
			conn->in_scanned = 0;
		}
		/* after conn_disconnect() a reply (BAD, BYE) still goes out */
		if (conn->cork_count == 0 && !conn->output_broken &&
		    conn_output_send(conn, false) >= 0 && !conn->disconnected)
			conn_output_flushed(conn, false);
	}
	conn_unref(&conn);
}

/* Read once and hand the data to input(). */
static void conn_read(struct conn *conn)
{
	size_t max = conn_input_max(conn);
	size_t unconsumed = conn_input_unconsumed(conn);
	const char *error;
	ssize_t ret;

	if (unconsumed >= max)
		return;
	if (conn->in_pos > 0) {
		buffer_delete(&conn->in, 0, conn->in_pos);
		conn->in_pos = 0;
	}
	size_t free_now = conn->in.alloc > conn->in.used + 1 ?
		conn->in.alloc - conn->in.used - 1 : 0;
	size_t want = free_now >= CONN_READ_MIN_FREE ? free_now : CONN_READ_SIZE;
	want = I_MIN(want, max - unconsumed);
	if (conn->set->debug_max_read_size > 0)
		want = I_MIN(want, conn->set->debug_max_read_size);
	unsigned char *p = buffer_get_space(&conn->in, want);

	if (conn->tls != NULL) {
		ret = tls_conn_read(conn->tls, p, want, &error);
		if (ret <= 0 && conn->in.used == 0)
			buffer_release(&conn->in);
		if (ret < 0) {
			/* after a TLS failure or close_notify nothing more
			   can be written either */
			conn_fail(conn, error == NULL ? "Connection closed" :
				  t_strdup_printf("TLS read failed: %s", error),
				  true);
			return;
		}
	} else {
		ret = read(conn->fd, p, want);
		if (ret <= 0 && conn->in.used == 0) {
			/* an idle conn keeps no buffer after a wakeup */
			buffer_release(&conn->in);
		}
		if (ret == 0) {
			conn_fail(conn, "Connection closed", false);
			return;
		}
		if (ret < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				conn_fail_errno(conn, "read", errno);
				return;
			}
			ret = 0;
		}
	}
	if (ret == 0)
		return;
	conn->in.used += (size_t)ret;
	conn->bytes_in += (uint64_t)ret;
	conn_progress(conn);
	/* more data already decrypted inside OpenSSL is noticed by
	   conn_update_io() afterwards */
	conn_call_input(conn);
}

/* Can buffered input be handed out now? Notes output back-pressure so
   input resumes when output drains. */
static bool conn_input_can_deliver(struct conn *conn)
{
	if (conn->disconnected || conn->input_paused || !conn_tls_ready(conn))
		return false;
	if (conn_output_is_full(conn) && !conn->set->input_ignores_output_full) {
		conn->input_blocked_output = true;
		return false;
	}
	return true;
}

static void conn_input_consumed(struct conn *conn, size_t unconsumed_before)
{
	if (unconsumed_before >= conn_input_max(conn) &&
	    conn_input_unconsumed(conn) < conn_input_max(conn))
		conn_update_io(conn);
}

int conn_read_line(struct conn *conn, size_t max_len, const char **line_r,
		   size_t *len_r)
{
	if (!conn_input_can_deliver(conn))
		return 0;

	unsigned char *data = conn->in.data + conn->in_pos;
	size_t avail = conn_input_unconsumed(conn);
	unsigned char *lf = avail == 0 ? NULL :
		memchr(data + conn->in_scanned, '\n', avail - conn->in_scanned);
	if (lf == NULL) {
		conn->in_scanned = avail;
		/* max_len bytes and a CR may still be waiting for their LF */
		if (avail > size_add(max_len, 1) || avail >= conn_input_max(conn))
			return -1;
		return 0;
	}
	size_t consumed = (size_t)(lf - data) + 1;
	size_t len = consumed - 1;
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (len > max_len)
		return -1;
	data[len] = '\0';
	conn->in_pos += consumed;
	conn->in_scanned = 0;
	*line_r = (const char *)data;
	*len_r = len;
	conn_input_consumed(conn, avail);
	return 1;
}

int conn_input_peek(struct conn *conn, const unsigned char **data_r,
		    size_t *size_r)
{
	*data_r = NULL;
	*size_r = 0;
	if (!conn_input_can_deliver(conn))
		return 0;
	size_t avail = conn_input_unconsumed(conn);
	if (avail == 0)
		return 0;
	*data_r = conn->in.data + conn->in_pos;
	*size_r = avail;
	return 1;
}

void conn_input_skip(struct conn *conn, size_t size)
{
	size_t avail = conn_input_unconsumed(conn);

	i_assert(size <= avail);
	conn->in_pos += size;
	conn->in_scanned = conn->in_scanned > size ? conn->in_scanned - size : 0;
	if (!conn->disconnected)
		conn_input_consumed(conn, avail);
}

void conn_input_push(struct conn *conn, const void *data, size_t size)
{
	if (conn->disconnected || size == 0)
		return;
	size_t avail = conn_input_unconsumed(conn);
	if (avail == 0) {
		buffer_reset(&conn->in);
		buffer_append(&conn->in, data, size);
	} else T_BEGIN {
		void *old = t_malloc(avail);
		memcpy(old, conn->in.data + conn->in_pos, avail);
		buffer_reset(&conn->in);
		buffer_append(&conn->in, data, size);
		buffer_append(&conn->in, old, avail);
	} T_END;
	conn->in_pos = 0;
	conn->in_scanned = 0;
	conn->input_kick = true;
	conn_schedule_deferred(conn);
	conn_update_io(conn);
}

void conn_set_input_paused(struct conn *conn, bool paused)
{
	if (conn->input_paused == paused)
		return;
	conn->input_paused = paused;
	if (conn->disconnected)
		return;
	if (!paused) {
		conn->input_kick = true;
		conn_schedule_deferred(conn);
	}
	conn_update_io(conn);
}

bool conn_input_is_paused(const struct conn *conn)
{
	return conn->input_paused;
}

static void conn_input_run(struct conn *conn, bool read_socket)
{
	if (conn->input_kick) {
		conn->input_kick = false;
		if (conn_input_unconsumed(conn) > 0 && !conn->input_paused &&
		    !conn->input_blocked_output && conn_tls_ready(conn)) {
			conn_call_input(conn);
			if (conn->disconnected)
				return;
		}
	}
	if (read_socket && conn_tls_ready(conn) && conn_input_wanted(conn))
		conn_read(conn);
}

/* --- TLS --- */

static void conn_tls_handshake_step(struct conn *conn)
{
	const char *error;
	int ret = tls_conn_handshake(conn->tls, &error);

	if (ret == 0)
		return;
	if (ret < 0) {
		conn_fail(conn, t_strdup_printf("TLS handshake failed: %s",
						error), true);
		return;
	}
	conn_idle_timer_start(conn);
	/* the handshake's record buffers are not needed by an idle conn */
	tls_conn_release_buffers(conn->tls);
	if (conn->v->tls_handshaked != NULL)
		conn->v->tls_handshaked(conn);
}

static int conn_start_tls(struct conn *conn, struct tls_context *ctx,
			  const char *servername, bool client,
			  const char **error_r)
{
	i_assert(conn->tls == NULL);
	i_assert(!conn_is_streaming(conn));

	if (conn->disconnected) {
		*error_r = "Connection already closed";
		return -1;
	}
	size_t discarded = conn_input_unconsumed(conn);
	if (discarded > 0) {
		/* see conn.h: CVE-2011-0411 */
		i_info("%s: Discarded %zu bytes of plaintext input received "
		       "before the TLS handshake", conn_get_name(conn),
		       discarded);
	}
	buffer_release(&conn->in);
	conn->in_pos = 0;
	conn->in_scanned = 0;
	conn->input_kick = false;

	const char *session_key = NULL;
	if (client) {
		struct ip_addr ip;
		in_port_t port;
		if (servername != NULL)
			session_key = servername;
		else if (net_getpeername(conn->fd, &ip, &port) == 0 &&
			 IPADDR_IS_SET(&ip))
			session_key = net_ipport2str(&ip, port);
	}
	conn->tls = tls_conn_create(ctx, conn->fd, servername, session_key,
				    error_r);
	if (conn->tls == NULL)
		return -1;
	size_t buffered = conn_output_buffered_size(conn);
	i_assert(buffered <= UINT32_MAX);
	conn->tls_plain_left = (uint32_t)buffered;

	timeout_remove(&conn->to_idle);
	conn->to_idle = timeout_add(tls_context_get_handshake_timeout_msecs(ctx),
				    conn_idle_timeout, conn);
	conn->handshake_timer = true;
	/* the client speaks first: start from the ioloop */
	conn_schedule_deferred(conn);
	conn_update_io(conn);
	return 0;
}

int conn_start_tls_server(struct conn *conn, struct tls_context *ctx,
			  const char **error_r)
{
	return conn_start_tls(conn, ctx, NULL, false, error_r);
}

int conn_start_tls_client(struct conn *conn, struct tls_context *ctx,
			  const char *servername, const char **error_r)
{
	return conn_start_tls(conn, ctx, servername, true, error_r);
}

bool conn_is_tls(const struct conn *conn)
{
	return conn->tls != NULL;
}

bool conn_is_tls_handshaked(const struct conn *conn)
{
	return conn->tls != NULL && tls_conn_is_handshaked(conn->tls);
}

struct tls_conn *conn_get_tls(const struct conn *conn)
{
	return conn->tls;
}

/* --- the state machine --- */

static void conn_handle_io_real(struct conn *conn, bool readable,
				bool writable)
{
	if (conn->tls != NULL && !tls_conn_is_handshaked(conn->tls)) {
		if (conn->tls_plain_left > 0) {
			if (!writable || conn_flush_plain(conn) <= 0)
				return;
		}
		conn_tls_handshake_step(conn);
		if (conn->disconnected || !tls_conn_is_handshaked(conn->tls))
			return;
		/* data may already wait inside OpenSSL or the socket */
		readable = writable = true;
	}

	bool try_read = readable, try_write = writable;
	if (conn->tls != NULL) {
		if (readable && tls_conn_write_wants_read(conn->tls))
			try_write = true;
		if (writable && tls_conn_read_wants_write(conn->tls))
			try_read = true;
	}
	if (try_write && conn->cork_count == 0 &&
	    (conn_output_pending(conn) || conn->stream_done_pending)) {
		if (conn_output_send(conn, true) < 0 || conn->disconnected)
			return;
		conn_output_flushed(conn, true);
		if (conn->disconnected)
			return;
	}
	conn_input_run(conn, try_read);
}

static void conn_handle_io(struct conn *conn, bool readable, bool writable)
{
	conn_ref(conn);
	conn_handle_io_real(conn, readable, writable);
	if (!conn->disconnected)
		conn_update_io(conn);
	conn_unref(&conn);
}

static void conn_io_read(void *context)
{
	conn_handle_io(context, true, false);
}

static void conn_io_write(void *context)
{
	conn_handle_io(context, false, true);
}

static void conn_deferred(void *context)
{
	struct conn *conn = context;

	timeout_remove(&conn->to_deferred);
	if (conn->disconnect_reason != NULL) {
		/* the handler may destroy the conn in the callback: keep the
		   reason on the data stack */
		const char *reason = t_strdup(conn->disconnect_reason);
		i_free(conn->disconnect_reason);
		conn_ref(conn);
		conn->v->disconnected(conn, reason);
		conn_unref(&conn);
		return;
	}
	if (!conn->disconnected)
		conn_handle_io(conn, true, true);
}

static void conn_schedule_deferred(struct conn *conn)
{
	if (conn->to_deferred == NULL && !conn->closed)
		conn->to_deferred = timeout_add(0, conn_deferred, conn);
}

int conn_detach(struct conn **_conn, int *fd_r, buffer_t *input_r,
		const char **error_r)
{
	struct conn *conn = *_conn;

	if (conn->disconnected) {
		*error_r = "Connection already closed";
		return -1;
	}
	if (conn->tls != NULL) {
		*error_r = "TLS is active: the connection can't be handed over";
		return -1;
	}
	if (conn_is_streaming(conn)) {
		*error_r = "A stream is being sent";
		return -1;
	}
	if (conn_output_buffered_size(conn) > 0 &&
	    (conn_output_send(conn, false) <= 0 || conn->disconnected)) {
		*error_r = "Output is not flushed yet";
		return -1;
	}
	buffer_append(input_r, conn->in.data + conn->in_pos,
		      conn_input_unconsumed(conn));
	conn->in_pos = conn->in.used;
	*fd_r = conn->fd;
	conn->fd = -1;
	conn_close(conn, false);
	*_conn = NULL;
	conn_unref(&conn);
	return 0;
}
