/* Framed messages with fd passing between Columba's processes: the framing,
   the nonblocking output queue, the input parser that enforces the
   protocol, the blocking request/response helpers and the payload codec. */
#include "lib.h"
#include "ioloop.h"
#include "ipc.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

/* Read at least this much per recvmsg(); a frame known to need more is read
   in one go up to its end. */
#define IPC_READ_MIN_SIZE 16384
/* A buffer grown past this by a large message is given back once empty, so
   an idle connection does not keep a megabyte. */
#define IPC_BUFFER_KEEP_SIZE 65536
/* Room for this many fds per recvmsg(). Our sender attaches at most one fd
   per sendmsg() and the kernel does not merge writes carrying fds into one
   read, so more means a peer that is not one of ours. */
#define IPC_MAX_FDS_PER_READ 8
/* Received fds waiting for their messages. A peer that sends fds without
   messages to claim them must not exhaust our descriptor table. */
#define IPC_MAX_QUEUED_FDS 32

struct ipc_out_fd {
	/* stream offset of the first byte of the frame carrying the fd */
	uint64_t offset;
	/* always owned by the ipc: closed once written or dropped */
	int fd;
};

struct ipc {
	char *name;
	int fd;
	/* input dispatch holds a reference so callbacks may destroy */
	int refcount;
	struct ioloop *ioloop;
	struct io *io_in, *io_out;
	/* runs deferred work: messages left buffered by a blocking receive,
	   or a failed send nobody reading input would notice */
	struct timeout *to_pending;
	struct ipc_callbacks cb;
	void *context;
	size_t max_payload;

	buffer_t in_buf;
	size_t in_pos;
	ARRAY(int) in_fds;
	unsigned int in_fds_head;

	buffer_t out_buf;
	size_t out_pos;
	/* stream offset of out_buf[out_pos] */
	uint64_t out_offset;
	ARRAY(struct ipc_out_fd) out_fds;
	unsigned int out_fds_head;

	/* the last disconnection reason or violation, for error_r */
	char *error;

	bool disconnected;	/* EOF or socket error: no more I/O */
	bool failed;		/* protocol violation reported */
	bool destroyed;
	bool output_failed;	/* a write failed: sends are dropped */
	bool pending_disconnect;/* ...and nobody reads input to notice */
};

static void ipc_input(void *context);
static void ipc_output(void *context);
static void ipc_pending(void *context);

/* --- byte order --- */

static inline void put_be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static inline void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint16_t get_be16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t get_be32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void ipc_header_encode(unsigned char dest[IPC_HEADER_SIZE], uint32_t size,
		       uint16_t type, uint16_t flags)
{
	put_be32(dest, size);
	put_be16(dest + 4, type);
	put_be16(dest + 6, flags);
}

/* --- ioloop plumbing ---
   io_add()/io_remove() act on current_ioloop, but an ipc may be written to
   or destroyed while another loop is current (two loops in one process,
   nested loops): always work on the ipc's own loop. */

static struct io *ipc_io_add(struct ipc *ipc, enum io_condition cond,
			     io_callback_t *callback)
{
	struct ioloop *prev = current_ioloop;
	current_ioloop = ipc->ioloop;
	struct io *io = io_add(ipc->fd, cond, callback, ipc);
	current_ioloop = prev;
	return io;
}

static void ipc_io_remove(struct ipc *ipc, struct io **io)
{
	if (*io == NULL)
		return;
	struct ioloop *prev = current_ioloop;
	current_ioloop = ipc->ioloop;
	io_remove(io);
	current_ioloop = prev;
}

static void ipc_pending_set(struct ipc *ipc)
{
	if (ipc->to_pending != NULL || ipc->ioloop == NULL)
		return;
	struct ioloop *prev = current_ioloop;
	current_ioloop = ipc->ioloop;
	ipc->to_pending = timeout_add(0, ipc_pending, ipc);
	current_ioloop = prev;
}

static void ipc_pending_unset(struct ipc *ipc)
{
	if (ipc->to_pending == NULL)
		return;
	struct ioloop *prev = current_ioloop;
	current_ioloop = ipc->ioloop;
	timeout_remove(&ipc->to_pending);
	current_ioloop = prev;
}

/* --- fd queues --- */

/* For fds we hold but never handed out: a close() error on them says
   nothing anyone could act on. */
static void ipc_close_fd(int fd)
{
	(void)close(fd);
}

static unsigned int ipc_in_fds_count(const struct ipc *ipc)
{
	return array_count(&ipc->in_fds) - ipc->in_fds_head;
}

static int ipc_in_fds_pop(struct ipc *ipc)
{
	i_assert(ipc_in_fds_count(ipc) > 0);
	int fd = ipc->in_fds.v[ipc->in_fds_head++];
	if (ipc->in_fds_head == array_count(&ipc->in_fds)) {
		array_clear(&ipc->in_fds);
		ipc->in_fds_head = 0;
	}
	return fd;
}

static void ipc_close_in_fds(struct ipc *ipc)
{
	while (ipc_in_fds_count(ipc) > 0)
		ipc_close_fd(ipc_in_fds_pop(ipc));
}

static void ipc_out_fds_pop(struct ipc *ipc)
{
	ipc_close_fd(ipc->out_fds.v[ipc->out_fds_head].fd);
	if (++ipc->out_fds_head == array_count(&ipc->out_fds)) {
		array_clear(&ipc->out_fds);
		ipc->out_fds_head = 0;
	}
}

static void ipc_drop_output(struct ipc *ipc)
{
	while (ipc->out_fds_head < array_count(&ipc->out_fds))
		ipc_out_fds_pop(ipc);
	ipc->out_offset += ipc->out_buf.used - ipc->out_pos;
	buffer_release(&ipc->out_buf);
	ipc->out_pos = 0;
	ipc_io_remove(ipc, &ipc->io_out);
}

/* --- lifecycle --- */

int ipc_pair(int fds_r[2], const char **error_r)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_r) < 0) {
		*error_r = t_strdup_printf("socketpair() failed: %m");
		return -1;
	}
	return 0;
}

struct ipc *ipc_create(int fd, const char *name,
		       const struct ipc_callbacks *callbacks, void *context)
{
	i_assert(fd >= 0);
	struct ipc *ipc = i_new(struct ipc, 1);
	ipc->name = i_strdup(name);
	ipc->fd = fd;
	ipc->refcount = 1;
	ipc->ioloop = current_ioloop;
	if (callbacks != NULL)
		ipc->cb = *callbacks;
	ipc->context = context;
	ipc->max_payload = IPC_DEFAULT_MAX_PAYLOAD;
	buffer_init(&ipc->in_buf, system_pool);
	buffer_init(&ipc->out_buf, system_pool);
	array_init(&ipc->in_fds, system_pool, 0);
	array_init(&ipc->out_fds, system_pool, 0);
	fd_set_nonblock(fd, true);
	if (ipc->cb.msg != NULL && ipc->ioloop != NULL)
		ipc->io_in = ipc_io_add(ipc, IO_READ, ipc_input);
	return ipc;
}

static void ipc_unref(struct ipc **_ipc)
{
	struct ipc *ipc = *_ipc;
	*_ipc = NULL;
	i_assert(ipc->refcount > 0);
	if (--ipc->refcount > 0)
		return;
	i_assert(ipc->destroyed);
	buffer_release(&ipc->in_buf);
	buffer_release(&ipc->out_buf);
	array_free(&ipc->in_fds);
	array_free(&ipc->out_fds);
	i_free(ipc->error);
	i_free(ipc->name);
	free(ipc);
}

void ipc_destroy(struct ipc **_ipc)
{
	struct ipc *ipc = *_ipc;
	*_ipc = NULL;
	if (ipc == NULL)
		return;
	i_assert(!ipc->destroyed);
	ipc->destroyed = true;
	ipc_io_remove(ipc, &ipc->io_in);
	ipc_pending_unset(ipc);
	ipc_drop_output(ipc);
	ipc_close_in_fds(ipc);
	if (close(ipc->fd) < 0)
		i_error("ipc(%s): close() failed: %m", ipc->name);
	ipc->fd = -1;
	ipc_unref(&ipc);
}

void ipc_switch_ioloop(struct ipc *ipc)
{
	i_assert(current_ioloop != NULL);
	bool had_pending = ipc->to_pending != NULL;
	ipc_io_remove(ipc, &ipc->io_in);
	ipc_io_remove(ipc, &ipc->io_out);
	ipc_pending_unset(ipc);
	ipc->ioloop = current_ioloop;
	if (ipc->disconnected || ipc->failed)
		return;
	if (ipc->cb.msg != NULL)
		ipc->io_in = ipc_io_add(ipc, IO_READ, ipc_input);
	if (ipc->out_pos < ipc->out_buf.used)
		ipc->io_out = ipc_io_add(ipc, IO_WRITE, ipc_output);
	/* messages may have been buffered by a blocking receive made while
	   there was no loop to deliver the rest */
	if (had_pending || ipc->pending_disconnect ||
	    (ipc->cb.msg != NULL && ipc->in_pos < ipc->in_buf.used))
		ipc_pending_set(ipc);
}

void ipc_set_max_payload(struct ipc *ipc, size_t max_payload)
{
	i_assert(max_payload <= UINT32_MAX);
	ipc->max_payload = max_payload;
}

size_t ipc_get_max_payload(const struct ipc *ipc) { return ipc->max_payload; }
const char *ipc_get_name(const struct ipc *ipc) { return ipc->name; }
int ipc_get_fd(const struct ipc *ipc) { return ipc->fd; }

static bool ipc_can_send(const struct ipc *ipc)
{
	return !ipc->disconnected && !ipc->failed && !ipc->destroyed &&
		!ipc->output_failed;
}

bool ipc_is_connected(const struct ipc *ipc)
{
	return ipc_can_send(ipc);
}

size_t ipc_get_output_size(const struct ipc *ipc)
{
	return ipc->out_buf.used - ipc->out_pos;
}

int ipc_get_peer_cred(const struct ipc *ipc, struct ipc_peer_cred *cred_r,
		      const char **error_r)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(ipc->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
		*error_r = t_strdup_printf("getsockopt(SO_PEERCRED) failed: %m");
		return -1;
	}
	cred_r->pid = uc.pid;
	cred_r->uid = uc.uid;
	cred_r->gid = uc.gid;
	return 0;
}

/* --- failure paths --- */

static void ipc_set_error(struct ipc *ipc, const char *error)
{
	char *old = ipc->error;
	/* error may point into the old text (a pending disconnect reports
	   the send error it recorded) */
	ipc->error = i_strdup(error);
	free(old);
}

/* Stop all I/O: after this the ipc only waits to be destroyed. */
static void ipc_stop(struct ipc *ipc)
{
	ipc_io_remove(ipc, &ipc->io_in);
	ipc_pending_unset(ipc);
	ipc_drop_output(ipc);
	ipc_close_in_fds(ipc);
}

static void ipc_protocol_violationv(struct ipc *ipc, const char *fmt,
				    va_list args) ATTR_FORMAT(2, 0);
static void ipc_protocol_violationv(struct ipc *ipc, const char *fmt,
				    va_list args)
{
	if (ipc->failed || ipc->destroyed)
		return;
	const char *error = t_strdup_printf("ipc(%s): protocol violation: %s",
					    ipc->name,
					    p_strdup_vprintf(pool_datastack,
							     fmt, args));
	ipc->failed = true;
	ipc_set_error(ipc, error);
	ipc_stop(ipc);
	if (ipc->cb.protocol_error == NULL)
		i_fatal("%s", error);
	ipc->cb.protocol_error(ipc, error, ipc->context);
}

void ipc_protocol_violation(struct ipc *ipc, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	ipc_protocol_violationv(ipc, fmt, args);
	va_end(args);
}

/* The peer is gone. With notify the owner's close callback hears of it;
   blocking callers get the reason through error_r instead. */
static void ipc_disconnect(struct ipc *ipc, const char *reason, bool notify)
{
	if (ipc->disconnected || ipc->failed || ipc->destroyed)
		return;
	/* Received fds no message claimed are a violation - unless a message
	   was cut short: then they may be its own and the peer simply died
	   in the middle of writing. */
	if (ipc->in_pos == ipc->in_buf.used && ipc_in_fds_count(ipc) > 0) {
		ipc_protocol_violation(ipc,
			"%u fds received without a message to carry them",
			ipc_in_fds_count(ipc));
		return;
	}
	if (ipc->in_pos < ipc->in_buf.used) {
		reason = t_strdup_printf("%s (in the middle of a message, "
					 "%zu bytes buffered)", reason,
					 ipc->in_buf.used - ipc->in_pos);
	}
	ipc->disconnected = true;
	ipc_set_error(ipc, reason);
	ipc_stop(ipc);
	if (!notify)
		return;
	if (ipc->cb.close != NULL)
		ipc->cb.close(ipc, ipc->error, ipc->context);
	else
		i_info("ipc(%s): disconnected: %s", ipc->name, ipc->error);
}

/* --- input --- */

/* Parse the next complete frame. Returns 1 with *msg_r, 0 if more input is
   needed (*need_r: bytes still missing, 0 if unknown), -1 after a
   violation. The header is checked as soon as it is complete, so an
   oversized length is refused before anything is buffered for it. */
static int ipc_parse_frame(struct ipc *ipc, struct ipc_msg *msg_r,
			   size_t *need_r)
{
	size_t avail = ipc->in_buf.used - ipc->in_pos;
	const unsigned char *p = ipc->in_buf.data + ipc->in_pos;

	*need_r = 0;
	if (avail < IPC_HEADER_SIZE)
		return 0;
	uint32_t size = get_be32(p);
	uint16_t type = get_be16(p + 4);
	uint16_t flags = get_be16(p + 6);
	if (size > ipc->max_payload) {
		ipc_protocol_violation(ipc,
			"message type %u: payload length %u exceeds the "
			"maximum %zu", type, size, ipc->max_payload);
		return -1;
	}
	if ((flags & ~IPC_MSG_FLAGS_KNOWN) != 0) {
		ipc_protocol_violation(ipc, "message type %u: unknown flags 0x%x",
				       type, flags);
		return -1;
	}
	if (avail - IPC_HEADER_SIZE < size) {
		*need_r = size - (avail - IPC_HEADER_SIZE);
		return 0;
	}
	msg_r->fd = -1;
	if ((flags & IPC_MSG_FLAG_FD) != 0) {
		/* the sender attached the fd to the write that began this
		   frame, so it has arrived by now if it was sent at all */
		if (ipc_in_fds_count(ipc) == 0) {
			ipc_protocol_violation(ipc,
				"message type %u is flagged to carry an fd, "
				"but none was received", type);
			return -1;
		}
		msg_r->fd = ipc_in_fds_pop(ipc);
	}
	msg_r->type = type;
	msg_r->data = p + IPC_HEADER_SIZE;
	msg_r->size = size;
	ipc->in_pos += IPC_HEADER_SIZE + size;
	return 1;
}

static void ipc_queue_fds(struct ipc *ipc, struct msghdr *mh)
{
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(mh, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *fdp = CMSG_DATA(cmsg);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, fdp + i * sizeof(int), sizeof(fd));
			array_push(&ipc->in_fds, fd);
		}
	}
}

/* One recvmsg(). Returns 1 if data was read, 0 if none was ready, -1 on
   EOF or error (reason in *reason_r), -2 after a violation. */
static int ipc_read(struct ipc *ipc, size_t need, const char **reason_r)
{
	/* Compact before reading. Nothing points into the buffer here:
	   message data handed out earlier was valid only until this call. */
	if (ipc->in_pos == ipc->in_buf.used) {
		if (ipc->in_buf.alloc > IPC_BUFFER_KEEP_SIZE)
			buffer_release(&ipc->in_buf);
		buffer_reset(&ipc->in_buf);
		ipc->in_pos = 0;
	} else if (ipc->in_pos > 0) {
		buffer_delete(&ipc->in_buf, 0, ipc->in_pos);
		ipc->in_pos = 0;
	}

	size_t want = I_MAX(need, IPC_READ_MIN_SIZE);
	void *space = buffer_get_space(&ipc->in_buf, want);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS_PER_READ)];
	} cbuf;
	struct iovec iov = { .iov_base = space, .iov_len = want };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t ret;
	do {
		ret = recvmsg(ipc->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		*reason_r = t_strdup_printf("recvmsg() failed: %m");
		return -1;
	}
	/* queue fds first, even with EOF, so they are closed, not leaked */
	ipc_queue_fds(ipc, &mh);
	if ((mh.msg_flags & MSG_CTRUNC) != 0) {
		ipc_protocol_violation(ipc,
			"more than %d fds arrived with one write",
			IPC_MAX_FDS_PER_READ);
		return -2;
	}
	if (ipc_in_fds_count(ipc) > IPC_MAX_QUEUED_FDS) {
		ipc_protocol_violation(ipc,
			"%u fds received ahead of the messages carrying them",
			ipc_in_fds_count(ipc));
		return -2;
	}
	if (ret == 0) {
		*reason_r = "EOF";
		return -1;
	}
	/* not buffer_set_used_size(): it zero-fills what it grows */
	ipc->in_buf.used += (size_t)ret;
	return 1;
}

/* Deliver every complete buffered message to the message callback.
   Returns true if the ipc is still reading and wants more input, with
   *need_r the bytes the partial frame still lacks (0 if unknown). */
static bool ipc_dispatch(struct ipc *ipc, size_t *need_r)
{
	struct ipc_msg msg;
	int ret;

	*need_r = 0;
	for (;;) {
		if (ipc->destroyed || ipc->failed || ipc->disconnected ||
		    ipc->cb.msg == NULL)
			return false;
		if ((ret = ipc_parse_frame(ipc, &msg, need_r)) <= 0)
			return ret == 0;
		ipc->cb.msg(ipc, &msg, ipc->context);
		if (msg.fd != -1)
			ipc_close_fd(msg.fd);
	}
}

static void ipc_input(void *context)
{
	struct ipc *ipc = context;
	const char *reason;
	size_t need;

	ipc->refcount++;
	/* Messages left buffered by a blocking receive go first, to keep
	   the order. The need computed here lets a large frame be read with
	   one call instead of 16k at a time. */
	if (ipc_dispatch(ipc, &need)) {
		int ret = ipc_read(ipc, need, &reason);
		if (ret > 0)
			(void)ipc_dispatch(ipc, &need);
		else if (ret == -1)
			ipc_disconnect(ipc, reason, true);
	}
	ipc_unref(&ipc);
}

static void ipc_pending(void *context)
{
	struct ipc *ipc = context;
	size_t need;

	ipc_pending_unset(ipc);
	ipc->refcount++;
	if (ipc->pending_disconnect) {
		ipc->pending_disconnect = false;
		ipc_disconnect(ipc, ipc->error != NULL ? ipc->error :
			       "send failed", true);
	} else {
		(void)ipc_dispatch(ipc, &need);
	}
	ipc_unref(&ipc);
}

/* --- output --- */

static ssize_t ipc_sendmsg_fd(int sock, const void *data, size_t size,
			      int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	memset(&cbuf, 0, sizeof(cbuf));
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Write as much queued output as the socket takes. Returns 1 when all is
   written, 0 if the socket is full, -1 on error (reason in *reason_r). */
static int ipc_flush(struct ipc *ipc, const char **reason_r)
{
	while (ipc->out_pos < ipc->out_buf.used) {
		const unsigned char *data = ipc->out_buf.data + ipc->out_pos;
		size_t len = ipc->out_buf.used - ipc->out_pos;
		int fd = -1;

		/* An fd goes with a write that starts exactly at its frame,
		   and no write crosses into the next fd-carrying frame: the
		   kernel attaches the fd to the first byte written, so the
		   receiver has it before it can complete that frame. */
		if (ipc->out_fds_head < array_count(&ipc->out_fds)) {
			const struct ipc_out_fd *ofd =
				&ipc->out_fds.v[ipc->out_fds_head];
			if (ofd->offset == ipc->out_offset) {
				fd = ofd->fd;
				if (ipc->out_fds_head + 1 <
				    array_count(&ipc->out_fds)) {
					len = I_MIN(len, ofd[1].offset -
						    ipc->out_offset);
				}
			} else {
				len = I_MIN(len, ofd->offset - ipc->out_offset);
			}
		}
		ssize_t ret = fd == -1 ?
			send(ipc->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT) :
			ipc_sendmsg_fd(ipc->fd, data, len, fd);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			*reason_r = t_strdup_printf("%s() failed: %m",
				fd == -1 ? "send" : "sendmsg");
			return -1;
		}
		/* even a partial write took the fd along */
		if (fd != -1)
			ipc_out_fds_pop(ipc);
		ipc->out_pos += (size_t)ret;
		ipc->out_offset += (uint64_t)ret;
	}
	if (ipc->out_buf.alloc > IPC_BUFFER_KEEP_SIZE)
		buffer_release(&ipc->out_buf);
	buffer_reset(&ipc->out_buf);
	ipc->out_pos = 0;
	return 1;
}

/* A write failed. Whoever reads input will see the EOF and report it
   (after the messages the peer sent before going away); with no reader,
   report it from the loop rather than from inside the caller's send. */
static void ipc_output_failed(struct ipc *ipc, const char *reason)
{
	ipc->output_failed = true;
	ipc_set_error(ipc, reason);
	ipc_drop_output(ipc);
	if (ipc->io_in == NULL && !ipc->disconnected && !ipc->failed) {
		ipc->pending_disconnect = true;
		ipc_pending_set(ipc);
	}
}

static void ipc_output(void *context)
{
	struct ipc *ipc = context;
	const char *reason;

	int ret = ipc_flush(ipc, &reason);
	if (ret > 0)
		ipc_io_remove(ipc, &ipc->io_out);
	else if (ret < 0)
		ipc_output_failed(ipc, reason);
}

static void ipc_send_frame(struct ipc *ipc, uint16_t type, int fd,
			   const void *data, size_t size)
{
	unsigned char hdr[IPC_HEADER_SIZE];
	const char *reason;

	/* the peer would refuse it as a violation: this is our bug */
	i_assert(size <= ipc->max_payload);

	if (!ipc_can_send(ipc)) {
		if (fd != -1)
			ipc_close_fd(fd);
		return;
	}
	ipc_header_encode(hdr, (uint32_t)size, type,
			  fd == -1 ? 0 : IPC_MSG_FLAG_FD);
	if (fd != -1) {
		struct ipc_out_fd ofd = {
			.offset = ipc->out_offset +
				(ipc->out_buf.used - ipc->out_pos),
			.fd = fd,
		};
		array_push(&ipc->out_fds, ofd);
	}
	/* compact once the written part dominates */
	if (ipc->out_pos > 4096 && ipc->out_pos > ipc->out_buf.used / 2) {
		buffer_delete(&ipc->out_buf, 0, ipc->out_pos);
		ipc->out_pos = 0;
	}
	buffer_append(&ipc->out_buf, hdr, sizeof(hdr));
	if (size > 0)
		buffer_append(&ipc->out_buf, data, size);

	if (ipc->io_out != NULL)
		return;
	int ret = ipc_flush(ipc, &reason);
	if (ret < 0)
		ipc_output_failed(ipc, reason);
	else if (ret == 0 && ipc->ioloop != NULL)
		ipc->io_out = ipc_io_add(ipc, IO_WRITE, ipc_output);
}

void ipc_send(struct ipc *ipc, uint16_t type, const void *data, size_t size)
{
	ipc_send_frame(ipc, type, -1, data, size);
}

int ipc_send_fd(struct ipc *ipc, uint16_t type, int fd, bool pass_ownership,
		const void *data, size_t size)
{
	i_assert(fd >= 0);
	if (!pass_ownership) {
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -1;
	}
	ipc_send_frame(ipc, type, fd, data, size);
	return 0;
}

int ipc_msg_take_fd(struct ipc_msg *msg)
{
	int fd = msg->fd;
	msg->fd = -1;
	return fd;
}

/* --- blocking --- */

/* Wait for events on the socket until deadline (0 = forever). Returns 1
   if ready, -1 on timeout or error. */
static int ipc_poll(struct ipc *ipc, short events, uint64_t deadline,
		    const char **error_r)
{
	struct pollfd pfd = { .fd = ipc->fd, .events = events };
	int timeout = -1;

	for (;;) {
		if (deadline != 0) {
			uint64_t now = ioloop_msecs_monotonic();
			if (now >= deadline) {
				*error_r = t_strdup_printf("ipc(%s): timed out",
							   ipc->name);
				return -1;
			}
			timeout = deadline - now > INT_MAX ? INT_MAX :
				(int)(deadline - now);
		}
		int ret = poll(&pfd, 1, timeout);
		if (ret > 0)
			return 1;
		if (ret < 0 && errno != EINTR) {
			*error_r = t_strdup_printf("ipc(%s): poll() failed: %m",
						   ipc->name);
			return -1;
		}
	}
}

static uint64_t ipc_deadline(int timeout_msecs)
{
	/* +1: a deadline of "now" must still allow one poll() */
	return timeout_msecs < 0 ? 0 :
		ioloop_msecs_monotonic() + (uint64_t)timeout_msecs + 1;
}

/* Why the ipc can no longer be used, for error_r. */
static const char *ipc_error_text(struct ipc *ipc)
{
	/* a violation's text already names the ipc */
	if (ipc->failed)
		return t_strdup(ipc->error);
	return t_strdup_printf("ipc(%s): %s", ipc->name,
			       ipc->error != NULL ? ipc->error :
			       "disconnected");
}

static int ipc_check_usable(struct ipc *ipc, const char **error_r)
{
	if (ipc_can_send(ipc))
		return 0;
	*error_r = ipc_error_text(ipc);
	return -1;
}

int ipc_flush_blocking(struct ipc *ipc, int timeout_msecs,
		       const char **error_r)
{
	uint64_t deadline = ipc_deadline(timeout_msecs);
	const char *reason;

	if (ipc_check_usable(ipc, error_r) < 0)
		return -1;
	for (;;) {
		int ret = ipc_flush(ipc, &reason);
		if (ret > 0)
			break;
		if (ret < 0) {
			ipc_output_failed(ipc, reason);
			*error_r = t_strdup_printf("ipc(%s): %s", ipc->name,
						   reason);
			return -1;
		}
		if (ipc_poll(ipc, POLLOUT, deadline, error_r) < 0)
			return -1;
	}
	ipc_io_remove(ipc, &ipc->io_out);
	return 0;
}

int ipc_send_blocking(struct ipc *ipc, uint16_t type, const void *data,
		      size_t size, int timeout_msecs, const char **error_r)
{
	if (ipc_check_usable(ipc, error_r) < 0)
		return -1;
	ipc_send(ipc, type, data, size);
	return ipc_flush_blocking(ipc, timeout_msecs, error_r);
}

int ipc_recv_blocking(struct ipc *ipc, int timeout_msecs,
		      struct ipc_msg *msg_r, const char **error_r)
{
	uint64_t deadline = ipc_deadline(timeout_msecs);
	const char *reason;
	size_t need;

	for (;;) {
		if (ipc->failed || ipc->disconnected || ipc->destroyed) {
			*error_r = ipc_error_text(ipc);
			return -1;
		}
		int ret = ipc_parse_frame(ipc, msg_r, &need);
		if (ret > 0) {
			/* The next message may already be buffered; the
			   socket will not wake the loop for it. */
			if (ipc->cb.msg != NULL &&
			    ipc->in_pos < ipc->in_buf.used)
				ipc_pending_set(ipc);
			return 1;
		}
		if (ret < 0)
			continue;
		ret = ipc_read(ipc, need, &reason);
		if (ret == 0) {
			if (ipc_poll(ipc, POLLIN, deadline, error_r) < 0)
				return -1;
		} else if (ret == -1) {
			ipc_disconnect(ipc, reason, false);
		}
	}
}

/* --- payload encoding --- */

void ipc_put_u8(buffer_t *buf, uint8_t value)
{
	buffer_append_c(buf, value);
}

void ipc_put_u16(buffer_t *buf, uint16_t value)
{
	put_be16(buffer_append_space(buf, 2), value);
}

void ipc_put_u32(buffer_t *buf, uint32_t value)
{
	put_be32(buffer_append_space(buf, 4), value);
}

void ipc_put_u64(buffer_t *buf, uint64_t value)
{
	unsigned char *p = buffer_append_space(buf, 8);
	put_be32(p, (uint32_t)(value >> 32));
	put_be32(p + 4, (uint32_t)value);
}

void ipc_put_bool(buffer_t *buf, bool value)
{
	buffer_append_c(buf, value ? 1 : 0);
}

void ipc_put_str_n(buffer_t *buf, const void *data, size_t len)
{
	i_assert(len <= UINT32_MAX);
	ipc_put_u32(buf, (uint32_t)len);
	buffer_append(buf, data, len);
	buffer_append_c(buf, '\0');
}

void ipc_put_str(buffer_t *buf, const char *str)
{
	ipc_put_str_n(buf, str, strlen(str));
}

void ipc_put_blob(buffer_t *buf, const void *data, size_t size)
{
	i_assert(size <= UINT32_MAX);
	ipc_put_u32(buf, (uint32_t)size);
	buffer_append(buf, data, size);
}

void ipc_reader_init(struct ipc_reader *reader, const void *data,
		     size_t size)
{
	memset(reader, 0, sizeof(*reader));
	reader->data = data;
	reader->size = size;
}

static void ipc_reader_fail(struct ipc_reader *reader, size_t pos,
			    const char *error)
{
	if (reader->error != NULL)
		return;
	reader->error = error;
	reader->error_pos = pos;
}

/* Returns a pointer to the next n bytes and consumes them, or NULL. */
static const unsigned char *
ipc_reader_take(struct ipc_reader *reader, size_t n, const char *what)
{
	if (reader->error != NULL)
		return NULL;
	if (reader->size - reader->pos < n) {
		ipc_reader_fail(reader, reader->pos, what);
		return NULL;
	}
	const unsigned char *p = reader->data + reader->pos;
	reader->pos += n;
	return p;
}

uint8_t ipc_read_u8(struct ipc_reader *reader)
{
	const unsigned char *p = ipc_reader_take(reader, 1, "truncated u8");
	return p == NULL ? 0 : p[0];
}

uint16_t ipc_read_u16(struct ipc_reader *reader)
{
	const unsigned char *p = ipc_reader_take(reader, 2, "truncated u16");
	return p == NULL ? 0 : get_be16(p);
}

uint32_t ipc_read_u32(struct ipc_reader *reader)
{
	const unsigned char *p = ipc_reader_take(reader, 4, "truncated u32");
	return p == NULL ? 0 : get_be32(p);
}

uint64_t ipc_read_u64(struct ipc_reader *reader)
{
	const unsigned char *p = ipc_reader_take(reader, 8, "truncated u64");
	return p == NULL ? 0 :
		((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

bool ipc_read_bool(struct ipc_reader *reader)
{
	size_t start = reader->pos;
	const unsigned char *p = ipc_reader_take(reader, 1, "truncated bool");
	if (p == NULL)
		return false;
	if (p[0] > 1) {
		ipc_reader_fail(reader, start, "bool is neither 0 nor 1");
		return false;
	}
	return p[0] == 1;
}

const char *ipc_read_str(struct ipc_reader *reader, size_t *len_r)
{
	size_t start = reader->pos;
	uint32_t len = ipc_read_u32(reader);
	const unsigned char *p = NULL;

	if (reader->error != NULL) {
		/* the length itself was truncated */
	} else if (reader->size - reader->pos <= len) {
		/* checked apart from the take: len + 1 may wrap a 32-bit
		   size_t */
		ipc_reader_fail(reader, start, "truncated string");
	} else {
		p = ipc_reader_take(reader, (size_t)len + 1, "truncated string");
		if (p[len] != '\0') {
			ipc_reader_fail(reader, start,
					"string is not NUL-terminated");
			p = NULL;
		}
	}
	if (len_r != NULL)
		*len_r = p == NULL ? 0 : len;
	return p == NULL ? "" : (const char *)p;
}

const void *ipc_read_blob(struct ipc_reader *reader, size_t *size_r)
{
	uint32_t size = ipc_read_u32(reader);
	const unsigned char *p = NULL;

	if (reader->error == NULL)
		p = ipc_reader_take(reader, size, "truncated blob");
	*size_r = p == NULL ? 0 : size;
	return p;
}

int ipc_reader_finish(struct ipc_reader *reader, const char **error_r)
{
	if (reader->error == NULL && reader->pos != reader->size)
		ipc_reader_fail(reader, reader->pos, "trailing bytes");
	if (reader->error == NULL)
		return 0;
	*error_r = t_strdup_printf("%s at offset %zu of %zu-byte payload",
				   reader->error, reader->error_pos,
				   reader->size);
	return -1;
}
