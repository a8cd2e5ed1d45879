/* Tests for ipc: framing at many sizes, bursts, two loops in one process,
   a forked child, fd passing, byte-at-a-time input, malformed input, the
   blocking calls and the payload codec. */
#include "test-lib.h"
#include "ioloop.h"
#include "ipc.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define TEST_TIMEOUT_MSECS 10000

struct rx_msg {
	uint16_t type;
	size_t size;
	unsigned char *data;
	/* the fd if taken, -2 if one came but was left to the ipc, or -1 */
	int fd;
};

struct rx {
	struct ipc *ipc;
	ARRAY(struct rx_msg) msgs;
	bool take_fds;
	/* destroy the ipc from inside the callback at this count (0: no) */
	unsigned int destroy_at;
	unsigned int expect;
	bool done, closed, failed;
	char *reason;
};

static void rx_msg_cb(struct ipc *ipc ATTR_UNUSED, struct ipc_msg *msg,
		      void *context)
{
	struct rx *rx = context;
	struct rx_msg *m = array_append_space(&rx->msgs);

	m->type = msg->type;
	m->size = msg->size;
	m->data = i_malloc(msg->size);
	if (msg->size > 0)
		memcpy(m->data, msg->data, msg->size);
	if (msg->fd == -1)
		m->fd = -1;
	else if (rx->take_fds)
		m->fd = ipc_msg_take_fd(msg);
	else
		m->fd = -2;
	if (rx->expect != 0 && array_count(&rx->msgs) == rx->expect)
		rx->done = true;
	if (rx->destroy_at != 0 && array_count(&rx->msgs) == rx->destroy_at) {
		ipc_destroy(&rx->ipc);
		rx->done = true;
	}
}

static void rx_close_cb(struct ipc *ipc ATTR_UNUSED, const char *reason,
			void *context)
{
	struct rx *rx = context;
	rx->closed = true;
	rx->done = true;
	free(rx->reason);
	rx->reason = i_strdup(reason);
}

static void rx_error_cb(struct ipc *ipc ATTR_UNUSED, const char *error,
			void *context)
{
	struct rx *rx = context;
	rx->failed = true;
	rx->done = true;
	free(rx->reason);
	rx->reason = i_strdup(error);
}

static void rx_init(struct rx *rx, int fd)
{
	static const struct ipc_callbacks cb = {
		.msg = rx_msg_cb,
		.close = rx_close_cb,
		.protocol_error = rx_error_cb,
	};
	memset(rx, 0, sizeof(*rx));
	array_init(&rx->msgs, system_pool, 16);
	rx->ipc = ipc_create(fd, "test-rx", &cb, rx);
}

static void rx_deinit(struct rx *rx)
{
	struct rx_msg *m;
	array_foreach(&rx->msgs, m) {
		free(m->data);
		if (m->fd >= 0)
			close(m->fd);
	}
	array_free(&rx->msgs);
	ipc_destroy(&rx->ipc);
	i_free(rx->reason);
}

/* Run the current loop until *done or the time limit. */
static bool run_until(struct ioloop *ioloop, const bool *done)
{
	uint64_t end = ioloop_msecs_monotonic() + TEST_TIMEOUT_MSECS;
	while (!*done && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	if (!*done)
		test_fail("timed out waiting for the loop");
	return *done;
}

static void fill_pattern(unsigned char *buf, size_t size, unsigned int seed)
{
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static bool check_pattern(const unsigned char *buf, size_t size,
			  unsigned int seed)
{
	for (size_t i = 0; i < size; i++) {
		if (buf[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8)))
			return false;
	}
	return true;
}

static void test_pair(int fds[2])
{
	const char *error;
	if (ipc_pair(fds, &error) < 0)
		i_fatal("%s", error);
}

static void test_ipc_sizes(void)
{
	static const size_t sizes[] = {
		0, 1, 7, 8, 9, 100, 4095, 4096, 4097, 16383, 16384, 16385,
		65535, 65536, 65537, 300000, IPC_DEFAULT_MAX_PAYLOAD - 1,
		IPC_DEFAULT_MAX_PAYLOAD, 0,
	};
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2];

	test_begin("ipc messages of many sizes, 0 to the maximum");
	ioloop = ioloop_create();
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.expect = N_ELEMENTS(sizes);
	struct ipc *tx = ipc_create(fds[1], "test-tx", NULL, NULL);

	unsigned char *buf = i_malloc(IPC_DEFAULT_MAX_PAYLOAD);
	for (unsigned int i = 0; i < N_ELEMENTS(sizes); i++) {
		fill_pattern(buf, sizes[i], i);
		ipc_send(tx, (uint16_t)(1000 + i), buf, sizes[i]);
	}
	free(buf);
	/* a megabyte does not fit in the socket: the rest is queued */
	test_assert(ipc_get_output_size(tx) > 0);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == N_ELEMENTS(sizes));
	for (unsigned int i = 0; i < array_count(&rx.msgs); i++) {
		const struct rx_msg *m = array_idx(&rx.msgs, i);
		test_assert_idx(m->type == 1000 + i, i);
		test_assert_idx(m->size == sizes[i], i);
		test_assert_idx(check_pattern(m->data, m->size, i), i);
		test_assert_idx(m->fd == -1, i);
	}
	test_assert(ipc_get_output_size(tx) == 0);
	test_assert(!rx.failed && !rx.closed);
	ipc_destroy(&tx);
	test_assert(tx == NULL);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_ipc_burst(void)
{
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2];
	unsigned char buf[2000];

	test_begin("ipc 1000 messages in a burst");
	ioloop = ioloop_create();
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.expect = 1000;
	struct ipc *tx = ipc_create(fds[1], "test-tx", NULL, NULL);
	for (unsigned int i = 0; i < 1000; i++) {
		size_t size = (i * 37) % sizeof(buf);
		fill_pattern(buf, size, i);
		ipc_send(tx, (uint16_t)i, buf, size);
	}
	run_until(ioloop, &rx.done);
	bool ok = array_count(&rx.msgs) == 1000;
	for (unsigned int i = 0; ok && i < 1000; i++) {
		const struct rx_msg *m = array_idx(&rx.msgs, i);
		ok = m->type == i && m->size == (i * 37) % sizeof(buf) &&
			check_pattern(m->data, m->size, i);
	}
	test_assert(ok);

	/* and several frames in one write(): the parser splits them */
	rx.done = false;
	rx.expect = 1050;
	string_t *raw = t_str_new(1024);
	for (unsigned int i = 0; i < 50; i++) {
		unsigned char hdr[IPC_HEADER_SIZE];
		ipc_header_encode(hdr, i % 5, (uint16_t)(5000 + i), 0);
		str_append_data(raw, hdr, sizeof(hdr));
		str_append_data(raw, "abcde", i % 5);
	}
	test_assert(write(ipc_get_fd(tx), raw->data, raw->used) ==
		    (ssize_t)raw->used);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 1050);
	for (unsigned int i = 0; i < 50 && array_count(&rx.msgs) == 1050; i++) {
		const struct rx_msg *m = array_idx(&rx.msgs, 1000 + i);
		test_assert_idx(m->type == 5000 + i && m->size == i % 5 &&
				memcmp(m->data, "abcde", m->size) == 0, i);
	}
	ipc_destroy(&tx);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- two loops in one process --- */

struct pingpong {
	struct ipc *ipc;
	unsigned int received;
	/* each side sees every other number */
	int64_t last;
	bool bad, done;
};

static void pingpong_msg(struct ipc *ipc, struct ipc_msg *msg, void *context)
{
	struct pingpong *pp = context;
	struct ipc_reader r;
	const char *error;

	ipc_reader_init(&r, msg->data, msg->size);
	uint32_t n = ipc_read_u32(&r);
	if (ipc_reader_finish(&r, &error) < 0 || n != pp->last + 2)
		pp->bad = true;
	pp->last = n;
	pp->received++;
	if (n >= 200) {
		pp->done = true;
		return;
	}
	buffer_t *buf = t_str_new(4);
	ipc_put_u32(buf, n + 1);
	ipc_send(ipc, msg->type, buf->data, buf->used);
}

static void test_ipc_two_ioloops(void)
{
	struct pingpong a = { .last = 0 }, b = { .last = -1 };
	const struct ipc_callbacks cb = { .msg = pingpong_msg };
	int fds[2];

	test_begin("ipc between two ioloops in one process");
	test_pair(fds);
	struct ioloop *loop_a = ioloop_create();
	a.ipc = ipc_create(fds[0], "a", &cb, &a);
	struct ioloop *loop_b = ioloop_create();
	b.ipc = ipc_create(fds[1], "b", &cb, &b);
	test_assert(current_ioloop == loop_b);

	/* a sends 1, b answers 2, a answers 3... up to 200, which a gets.
	   a's ipc is written to while loop b is current. */
	buffer_t *buf = t_str_new(4);
	ipc_put_u32(buf, 1);
	ipc_send(a.ipc, 7, buf->data, buf->used);
	uint64_t end = ioloop_msecs_monotonic() + TEST_TIMEOUT_MSECS;
	while (!a.done && ioloop_msecs_monotonic() < end) {
		current_ioloop = loop_b;
		ioloop_run_once(loop_b, 10);
		current_ioloop = loop_a;
		ioloop_run_once(loop_a, 10);
	}
	test_assert(a.done && !b.done);
	test_assert(!a.bad && !b.bad);
	test_assert(a.received == 100 && b.received == 100);

	/* each ipc destroyed while the other loop is current */
	current_ioloop = loop_a;
	ipc_destroy(&b.ipc);
	current_ioloop = loop_b;
	ipc_destroy(&a.ipc);
	test_assert(ioloop_io_count(loop_a) == 0);
	test_assert(ioloop_io_count(loop_b) == 0);
	ioloop_destroy(&loop_b);
	ioloop_destroy(&loop_a);
	test_end();
}

/* --- a forked child --- */

enum child_msg_type {
	CHILD_ECHO = 1,
	CHILD_ECHO_REPLY,
	CHILD_FD,
	CHILD_FD_ACK,
	CHILD_QUIT,
};

/* The child: a blocking request/response loop with no ioloop at all, as a
   process at start-up would run it. Exit code says where it failed. */
static int ATTR_NORETURN child_echo_main(int fd)
{
	const char *error;
	struct ipc_msg msg;

	/* the parent's loop shares its epoll instance with us: keep off it */
	current_ioloop = NULL;
	struct ipc *ipc = ipc_create(fd, "parent", NULL, NULL);
	for (;;) {
		if (ipc_recv_blocking(ipc, TEST_TIMEOUT_MSECS, &msg, &error) < 0)
			_exit(10);
		switch (msg.type) {
		case CHILD_ECHO:
			if (ipc_send_blocking(ipc, CHILD_ECHO_REPLY, msg.data,
					      msg.size, TEST_TIMEOUT_MSECS,
					      &error) < 0)
				_exit(11);
			break;
		case CHILD_FD: {
			if (msg.fd < 0)
				_exit(12);
			if (write(msg.fd, msg.data, msg.size) !=
			    (ssize_t)msg.size)
				_exit(13);
			close(msg.fd);
			/* copy: msg.data is only valid until the next call */
			char *copy = i_malloc(msg.size + 1);
			memcpy(copy, msg.data, msg.size);
			if (ipc_send_blocking(ipc, CHILD_FD_ACK, copy, msg.size,
					      TEST_TIMEOUT_MSECS, &error) < 0)
				_exit(14);
			free(copy);
			break;
		}
		case CHILD_QUIT:
			ipc_destroy(&ipc);
			_exit(0);
		default:
			_exit(15);
		}
	}
}

static void test_ipc_fork(void)
{
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2], pipes[4][2];
	unsigned char buf[5000];

	test_begin("ipc across fork() with fds");
	test_pair(fds);
	pid_t pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0) {
		close(fds[0]);
		child_echo_main(fds[1]);
	}
	close(fds[1]);
	ioloop = ioloop_create();
	rx_init(&rx, fds[0]);
	rx.take_fds = true;
	rx.expect = 204;

	unsigned int n_pipes = 0;
	for (unsigned int i = 0; i < 200; i++) {
		size_t size = (i * 97) % sizeof(buf);
		fill_pattern(buf, size, i);
		ipc_send(rx.ipc, CHILD_ECHO, buf, size);
		if (i % 50 == 0) {
			const char *tag = t_strdup_printf("tag-%u", i);
			test_assert(pipe2(pipes[n_pipes], O_CLOEXEC) == 0);
			test_assert(ipc_send_fd(rx.ipc, CHILD_FD,
						pipes[n_pipes][1], true,
						tag, strlen(tag)) == 0);
			n_pipes++;
		}
	}
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 204);

	unsigned int echo = 0, acks = 0;
	for (unsigned int i = 0; i < array_count(&rx.msgs); i++) {
		const struct rx_msg *m = array_idx(&rx.msgs, i);
		if (m->type == CHILD_ECHO_REPLY) {
			test_assert_idx(m->size == (echo * 97) % sizeof(buf) &&
					check_pattern(m->data, m->size, echo), i);
			echo++;
		} else if (m->type == CHILD_FD_ACK) {
			const char *tag = t_strdup_printf("tag-%u", acks * 50);
			char got[32];
			test_assert_idx(m->size == strlen(tag) &&
					memcmp(m->data, tag, m->size) == 0, i);
			/* the child wrote the tag into the pipe we sent */
			ssize_t ret = read(pipes[acks][0], got, sizeof(got));
			test_assert_idx(ret == (ssize_t)strlen(tag) &&
					memcmp(got, tag, (size_t)ret) == 0, i);
			/* and every write end is closed: ours by the ipc
			   after sending, the child's by the child */
			fd_set_nonblock(pipes[acks][0], true);
			test_assert_idx(read(pipes[acks][0], got, 1) == 0, i);
			close(pipes[acks][0]);
			acks++;
		} else {
			test_fail("unexpected type %u", m->type);
		}
	}
	test_assert(echo == 200 && acks == 4);

	rx.done = false;
	ipc_send(rx.ipc, CHILD_QUIT, NULL, 0);
	run_until(ioloop, &rx.done);
	test_assert(rx.closed && !rx.failed);
	test_assert(rx.reason != NULL && strcmp(rx.reason, "EOF") == 0);
	int status;
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- fd passing in one process --- */

static ssize_t send_with_fds(int sock, const void *data, size_t size,
			     const int *fds, unsigned int n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = size };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds),
	};
	i_assert(n_fds > 0 && n_fds <= 16);
	memset(&cbuf, 0, sizeof(cbuf));
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * n_fds);
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* All write ends of the pipe are closed: a nonblocking read sees EOF, not
   EAGAIN. */
static bool pipe_at_eof(int rfd)
{
	char c;
	fd_set_nonblock(rfd, true);
	return read(rfd, &c, 1) == 0;
}

static void test_ipc_fd_passing(void)
{
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2], pipes[20][2];
	bool is_fd[20];

	test_begin("ipc fd passing interleaved with plain messages");
	ioloop = ioloop_create();
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.take_fds = true;
	rx.expect = 20;
	struct ipc *tx = ipc_create(fds[1], "test-tx", NULL, NULL);

	for (unsigned int i = 0; i < 20; i++) {
		const char *text = t_strdup_printf("msg-%u", i);
		/* runs of fd messages next to each other and apart */
		is_fd[i] = i % 3 == 1 || i % 7 == 0 || i == 11;
		if (!is_fd[i]) {
			ipc_send(tx, (uint16_t)i, text, strlen(text));
			continue;
		}
		test_assert(pipe2(pipes[i], O_CLOEXEC) == 0);
		bool owned = i % 2 == 0;
		test_assert(ipc_send_fd(tx, (uint16_t)i, pipes[i][1], owned,
					text, strlen(text)) == 0);
		test_assert(ipc_get_output_size(tx) == 0);
		if (owned) {
			/* written, so the ipc has closed it already */
			test_assert_idx(fcntl(pipes[i][1], F_GETFD) < 0 &&
					errno == EBADF, i);
		} else {
			/* the ipc sent a dup: ours is still ours */
			test_assert_idx(fcntl(pipes[i][1], F_GETFD) >= 0, i);
			close(pipes[i][1]);
		}
	}
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 20);
	for (unsigned int i = 0; i < array_count(&rx.msgs); i++) {
		struct rx_msg *m = array_idx(&rx.msgs, i);
		const char *text = t_strdup_printf("msg-%u", i);
		test_assert_idx(m->type == i && m->size == strlen(text) &&
				memcmp(m->data, text, m->size) == 0, i);
		if (!is_fd[i]) {
			test_assert_idx(m->fd == -1, i);
			continue;
		}
		test_assert_idx(m->fd >= 0, i);
		if (m->fd < 0)
			continue;
		/* the same pipe: what we write here comes out of the read
		   end kept on the sending side */
		char got[32];
		test_assert(write(m->fd, text, strlen(text)) ==
			    (ssize_t)strlen(text));
		close(m->fd);
		m->fd = -1;
		test_assert_idx(read(pipes[i][0], got, sizeof(got)) ==
				(ssize_t)strlen(text) &&
				memcmp(got, text, strlen(text)) == 0, i);
		test_assert_idx(pipe_at_eof(pipes[i][0]), i);
		close(pipes[i][0]);
	}

	/* an fd the callback does not take is closed by the ipc */
	int p[2];
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	rx.take_fds = false;
	rx.done = false;
	rx.expect = 21;
	test_assert(ipc_send_fd(tx, 99, p[1], true, NULL, 0) == 0);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 21 &&
		    array_last(&rx.msgs)->fd == -2);
	test_assert(pipe_at_eof(p[0]));
	close(p[0]);

	ipc_destroy(&tx);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* fd frames queued behind a large message go out from the output queue in
   batches: each fd must still ride with the first byte of its own frame,
   also when several fd frames follow each other. */
static void test_ipc_fd_passing_queued(void)
{
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2], pipes[30][2];
	bool is_fd[30];

	test_begin("ipc fd passing from a queued output");
	ioloop = ioloop_create();
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.take_fds = true;
	rx.expect = 31;
	struct ipc *tx = ipc_create(fds[1], "test-tx", NULL, NULL);

	unsigned char *big = i_malloc(IPC_DEFAULT_MAX_PAYLOAD);
	ipc_send(tx, 1000, big, IPC_DEFAULT_MAX_PAYLOAD);
	free(big);
	test_assert(ipc_get_output_size(tx) > 0);
	for (unsigned int i = 0; i < 30; i++) {
		const char *text = t_strdup_printf("q-%u", i);
		is_fd[i] = i % 2 == 0 || i % 5 == 0;
		if (!is_fd[i]) {
			ipc_send(tx, (uint16_t)i, text, strlen(text));
			continue;
		}
		test_assert(pipe2(pipes[i], O_CLOEXEC) == 0);
		test_assert(ipc_send_fd(tx, (uint16_t)i, pipes[i][1], true,
					text, strlen(text)) == 0);
	}
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 31);
	test_assert(ipc_get_output_size(tx) == 0);
	for (unsigned int i = 0; i < 30 && array_count(&rx.msgs) == 31; i++) {
		struct rx_msg *m = array_idx(&rx.msgs, i + 1);
		const char *text = t_strdup_printf("q-%u", i);
		char got[16];

		test_assert_idx(m->type == i && m->size == strlen(text), i);
		if (!is_fd[i]) {
			test_assert_idx(m->fd == -1, i);
			continue;
		}
		test_assert_idx(m->fd >= 0, i);
		if (m->fd < 0)
			continue;
		test_assert(write(m->fd, text, strlen(text)) ==
			    (ssize_t)strlen(text));
		close(m->fd);
		m->fd = -1;
		test_assert_idx(read(pipes[i][0], got, sizeof(got)) ==
				(ssize_t)strlen(text) &&
				memcmp(got, text, strlen(text)) == 0, i);
		test_assert_idx(pipe_at_eof(pipes[i][0]), i);
		close(pipes[i][0]);
	}
	test_assert(!rx.failed);
	ipc_destroy(&tx);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_ipc_byte_at_a_time(void)
{
	static const uint32_t sizes[] = { 0, 1, 10, 300, 0, 5 };
	const unsigned int fd_frame = 3;
	struct ioloop *ioloop;
	struct rx rx;
	int fds[2], p[2];
	size_t frame_end[N_ELEMENTS(sizes)], fd_offset = 0;

	test_begin("ipc input written one byte at a time");
	ioloop = ioloop_create();
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.take_fds = true;
	test_assert(pipe2(p, O_CLOEXEC) == 0);

	buffer_t *stream = t_str_new(512);
	unsigned char payload[300];
	for (unsigned int i = 0; i < N_ELEMENTS(sizes); i++) {
		unsigned char hdr[IPC_HEADER_SIZE];
		if (i == fd_frame)
			fd_offset = stream->used;
		ipc_header_encode(hdr, sizes[i], (uint16_t)i,
				  i == fd_frame ? IPC_MSG_FLAG_FD : 0);
		buffer_append(stream, hdr, sizeof(hdr));
		fill_pattern(payload, sizes[i], i);
		buffer_append(stream, payload, sizes[i]);
		frame_end[i] = stream->used;
	}

	bool progress_ok = true;
	for (size_t pos = 0; pos < stream->used; pos++) {
		const unsigned char *b = stream->data + pos;
		ssize_t ret = pos == fd_offset ?
			send_with_fds(fds[1], b, 1, &p[1], 1) :
			write(fds[1], b, 1);
		test_assert(ret == 1);
		ioloop_run_once(ioloop, 100);
		/* a message is delivered exactly when its last byte is in */
		unsigned int complete = 0;
		while (complete < N_ELEMENTS(sizes) &&
		       frame_end[complete] <= pos + 1)
			complete++;
		if (array_count(&rx.msgs) != complete)
			progress_ok = false;
	}
	test_assert(progress_ok);
	test_assert(array_count(&rx.msgs) == N_ELEMENTS(sizes));
	for (unsigned int i = 0; i < array_count(&rx.msgs); i++) {
		struct rx_msg *m = array_idx(&rx.msgs, i);
		test_assert_idx(m->type == i && m->size == sizes[i] &&
				check_pattern(m->data, m->size, i), i);
		test_assert_idx((m->fd >= 0) == (i == fd_frame), i);
	}
	/* the fd that came with the first byte of its frame is the pipe */
	struct rx_msg *m = array_idx(&rx.msgs, fd_frame);
	char c = 0;
	close(p[1]);
	test_assert(m->fd >= 0 && write(m->fd, "z", 1) == 1);
	test_assert(read(p[0], &c, 1) == 1 && c == 'z');
	close(p[0]);
	test_assert(!rx.failed && !rx.closed);
	close(fds[1]);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- malformed input --- */

/* Start a receiver with error callback on one end of a pair; the test
   writes raw bytes into *raw_r. */
static struct ioloop *malformed_init(struct rx *rx, int *raw_r)
{
	struct ioloop *ioloop = ioloop_create();
	int fds[2];
	test_pair(fds);
	rx_init(rx, fds[0]);
	rx->take_fds = true;
	*raw_r = fds[1];
	return ioloop;
}

static void malformed_deinit(struct ioloop **ioloop, struct rx *rx, int raw)
{
	test_assert(rx->failed);
	test_assert(!ipc_is_connected(rx->ipc));
	/* input has stopped: more garbage wakes nobody */
	unsigned int count = array_count(&rx->msgs);
	/* send(): the test may have shut the socket down for writing */
	ssize_t ret = send(raw, "garbage!garbage!", 16, MSG_NOSIGNAL);
	(void)ret;
	ioloop_run_once(*ioloop, 10);
	test_assert(array_count(&rx->msgs) == count);
	test_assert(ioloop_io_count(*ioloop) == 0);
	close(raw);
	rx_deinit(rx);
	ioloop_destroy(ioloop);
}

static void write_frame(int fd, uint32_t size, uint16_t type, uint16_t flags,
			const void *data, size_t data_size)
{
	unsigned char hdr[IPC_HEADER_SIZE];
	ipc_header_encode(hdr, size, type, flags);
	test_assert(write(fd, hdr, sizeof(hdr)) == sizeof(hdr));
	if (data_size > 0)
		test_assert(write(fd, data, data_size) == (ssize_t)data_size);
}

static bool reason_has(const struct rx *rx, const char *substr)
{
	return rx->reason != NULL && strstr(rx->reason, substr) != NULL;
}

static void destroy_on_error_cb(struct ipc *ipc, const char *error ATTR_UNUSED,
				void *context)
{
	struct rx *rx = context;
	test_assert(ipc == rx->ipc);
	ipc_destroy(&rx->ipc);
	rx->failed = true;
	rx->done = true;
}

static void test_ipc_malformed(void)
{
	struct ioloop *ioloop;
	struct rx rx;
	int raw, p[2], many[10];
	unsigned char buf[101];

	test_begin("ipc malformed input: oversized length");
	ioloop = malformed_init(&rx, &raw);
	ipc_set_max_payload(rx.ipc, 100);
	test_assert(ipc_get_max_payload(rx.ipc) == 100);
	memset(buf, 'x', sizeof(buf));
	write_frame(raw, 100, 1, 0, buf, 100);
	/* refused from the header alone: no payload follows */
	write_frame(raw, 101, 2, 0, NULL, 0);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 1);
	test_assert(reason_has(&rx, "ipc(test-rx): protocol violation: "
			       "message type 2: payload length 101 exceeds "
			       "the maximum 100"));
	malformed_deinit(&ioloop, &rx, raw);

	ioloop = malformed_init(&rx, &raw);
	write_frame(raw, UINT32_MAX, 3, 0, NULL, 0);
	run_until(ioloop, &rx.done);
	test_assert(reason_has(&rx, "payload length 4294967295 exceeds the "
			       "maximum 1048576"));
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: unknown flags");
	ioloop = malformed_init(&rx, &raw);
	write_frame(raw, 0, 4, 0x0002, NULL, 0);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 0);
	test_assert(reason_has(&rx, "unknown flags 0x2"));
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: fd flag without fd");
	ioloop = malformed_init(&rx, &raw);
	write_frame(raw, 0, 5, 0, NULL, 0);
	write_frame(raw, 3, 6, IPC_MSG_FLAG_FD, "abc", 3);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 1);
	test_assert(reason_has(&rx, "message type 6 is flagged to carry an "
			       "fd, but none was received"));
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: fd without flag at close");
	ioloop = malformed_init(&rx, &raw);
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	unsigned char hdr[IPC_HEADER_SIZE];
	ipc_header_encode(hdr, 0, 7, 0);
	test_assert(send_with_fds(raw, hdr, sizeof(hdr), &p[1], 1) ==
		    sizeof(hdr));
	close(p[1]);
	ioloop_run_once(ioloop, 100);
	/* the message arrives without an fd; the fd waits in the queue */
	test_assert(array_count(&rx.msgs) == 1 &&
		    array_idx(&rx.msgs, 0)->fd == -1);
	test_assert(!rx.failed);
	shutdown(raw, SHUT_WR);
	run_until(ioloop, &rx.done);
	test_assert(!rx.closed);
	test_assert(reason_has(&rx, "1 fds received without a message to "
			       "carry them"));
	/* and the stray fd was closed, not leaked */
	test_assert(pipe_at_eof(p[0]));
	close(p[0]);
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: too many fds in one write");
	ioloop = malformed_init(&rx, &raw);
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	for (unsigned int i = 0; i < N_ELEMENTS(many); i++)
		many[i] = p[1];
	ipc_header_encode(hdr, 0, 8, IPC_MSG_FLAG_FD);
	test_assert(send_with_fds(raw, hdr, sizeof(hdr), many,
				  N_ELEMENTS(many)) == sizeof(hdr));
	close(p[1]);
	run_until(ioloop, &rx.done);
	test_assert(reason_has(&rx, "more than 8 fds arrived with one write"));
	test_assert(array_count(&rx.msgs) == 0);
	test_assert(pipe_at_eof(p[0]));
	close(p[0]);
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: reported by the owner's decoder");
	ioloop = malformed_init(&rx, &raw);
	ipc_protocol_violation(rx.ipc, "bad payload for type %d", 9);
	test_assert(rx.failed);
	test_assert_strcmp(rx.reason, "ipc(test-rx): protocol violation: "
			   "bad payload for type 9");
	malformed_deinit(&ioloop, &rx, raw);
	test_end();

	test_begin("ipc malformed input: error callback destroys the ipc");
	{
		const struct ipc_callbacks cb = {
			.msg = rx_msg_cb,
			.protocol_error = destroy_on_error_cb,
		};
		int fds[2];
		ioloop = ioloop_create();
		test_pair(fds);
		memset(&rx, 0, sizeof(rx));
		array_init(&rx.msgs, system_pool, 4);
		rx.ipc = ipc_create(fds[0], "test-rx", &cb, &rx);
		/* a good frame, a bad one, more good ones in the same read */
		write_frame(fds[1], 1, 1, 0, "a", 1);
		write_frame(fds[1], 0, 2, 0xff00, NULL, 0);
		write_frame(fds[1], 1, 3, 0, "b", 1);
		run_until(ioloop, &rx.done);
		test_assert(rx.ipc == NULL);
		test_assert(array_count(&rx.msgs) == 1);
		test_assert(ioloop_io_count(ioloop) == 0);
		close(fds[1]);
		rx_deinit(&rx);
		ioloop_destroy(&ioloop);
	}
	test_end();

	test_begin("ipc EOF in the middle of a message is a disconnection");
	ioloop = malformed_init(&rx, &raw);
	write_frame(raw, 10, 1, 0, "12345", 5);
	close(raw);
	run_until(ioloop, &rx.done);
	test_assert(rx.closed && !rx.failed);
	test_assert(reason_has(&rx, "EOF (in the middle of a message, 13 "
			       "bytes buffered)"));
	test_assert(!ipc_is_connected(rx.ipc));
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- the default: a violation is fatal --- */

static void child_silent_log(enum log_type type ATTR_UNUSED,
			     const char *line ATTR_UNUSED,
			     void *context ATTR_UNUSED)
{
}

/* i_fatal() calls exit(): leave before the test runner's atexit cleanup
   would remove the parent's test directory. Registered last, runs first. */
static void child_exit_now(void)
{
	_exit(FATAL_EXIT_CODE);
}

static void child_noop_msg(struct ipc *ipc ATTR_UNUSED,
			   struct ipc_msg *msg ATTR_UNUSED,
			   void *context ATTR_UNUSED)
{
}

static void child_timeout(void *context ATTR_UNUSED)
{
	_exit(1);
}

static void test_ipc_violation_fatal(void)
{
	int fds[2], status;

	test_begin("ipc violation without error callback is fatal");
	test_pair(fds);
	pid_t pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0) {
		const struct ipc_callbacks cb = { .msg = child_noop_msg };
		close(fds[0]);
		log_set_handler(child_silent_log, NULL);
		atexit(child_exit_now);
		/* a loop of our own: the inherited one shares the parent's
		   epoll instance */
		current_ioloop = NULL;
		struct ioloop *ioloop = ioloop_create();
		struct ipc *ipc = ipc_create(fds[1], "parent", &cb, NULL);
		struct timeout *to = timeout_add(TEST_TIMEOUT_MSECS,
						 child_timeout, NULL);
		ioloop_run(ioloop);
		(void)ipc;
		(void)to;
		_exit(2);
	}
	close(fds[1]);
	write_frame(fds[0], 1, 1, 0, "x", 1);
	write_frame(fds[0], 0, 1, IPC_MSG_FLAG_FD, NULL, 0);
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) &&
		    WEXITSTATUS(status) == FATAL_EXIT_CODE);
	close(fds[0]);
	test_end();
}

/* --- blocking calls --- */

static void test_ipc_blocking(void)
{
	struct ipc_msg msg;
	const char *error;
	int fds[2];

	test_begin("ipc blocking send and receive");
	test_pair(fds);
	struct ipc *a = ipc_create(fds[0], "a", NULL, NULL);
	struct ipc *b = ipc_create(fds[1], "b", NULL, NULL);
	test_assert(ipc_send_blocking(a, 42, "hello", 5, 1000, &error) == 0);
	test_assert(ipc_recv_blocking(b, 1000, &msg, &error) == 1);
	test_assert(msg.type == 42 && msg.size == 5 && msg.fd == -1 &&
		    memcmp(msg.data, "hello", 5) == 0);

	uint64_t start = ioloop_msecs_monotonic();
	test_assert(ipc_recv_blocking(b, 50, &msg, &error) == -1);
	test_assert(ioloop_msecs_monotonic() - start >= 50);
	test_assert_strcmp(error, "ipc(b): timed out");
	/* a timeout is not fatal to the ipc */
	test_assert(ipc_is_connected(b));

	/* an fd through the blocking path */
	int p[2];
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	test_assert(ipc_send_fd(a, 43, p[1], true, NULL, 0) == 0);
	test_assert(ipc_flush_blocking(a, 1000, &error) == 0);
	test_assert(ipc_recv_blocking(b, 1000, &msg, &error) == 1);
	test_assert(msg.type == 43 && msg.fd >= 0);
	test_assert(write(msg.fd, "q", 1) == 1);
	close(msg.fd);
	char c;
	test_assert(read(p[0], &c, 1) == 1 && c == 'q');
	close(p[0]);

	ipc_destroy(&a);
	test_assert(ipc_recv_blocking(b, 1000, &msg, &error) == -1);
	test_assert_strcmp(error, "ipc(b): EOF");
	test_assert(!ipc_is_connected(b));
	test_assert(ipc_send_blocking(b, 1, NULL, 0, 1000, &error) == -1);
	ipc_destroy(&b);
	test_end();

	test_begin("ipc blocking receive, the rest delivered by the loop");
	struct ioloop *ioloop = ioloop_create();
	struct rx rx;
	test_pair(fds);
	rx_init(&rx, fds[0]);
	rx.expect = 2;
	/* three frames arrive in one read */
	write_frame(fds[1], 1, 1, 0, "1", 1);
	write_frame(fds[1], 1, 2, 0, "2", 1);
	write_frame(fds[1], 1, 3, 0, "3", 1);
	test_assert(ipc_recv_blocking(rx.ipc, 1000, &msg, &error) == 1);
	test_assert(msg.type == 1);
	run_until(ioloop, &rx.done);
	test_assert(array_count(&rx.msgs) == 2 &&
		    array_idx(&rx.msgs, 0)->type == 2 &&
		    array_idx(&rx.msgs, 1)->type == 3);
	close(fds[1]);
	rx.done = false;
	run_until(ioloop, &rx.done);
	test_assert(rx.closed && reason_has(&rx, "EOF"));
	rx_deinit(&rx);
	test_end();

	test_begin("ipc send to a peer that is gone");
	const struct ipc_callbacks close_only = { .close = rx_close_cb };
	test_pair(fds);
	memset(&rx, 0, sizeof(rx));
	array_init(&rx.msgs, system_pool, 1);
	rx.ipc = ipc_create(fds[0], "tx", &close_only, &rx);
	close(fds[1]);
	/* no callback from inside ipc_send(): it comes from the loop */
	ipc_send(rx.ipc, 1, "x", 1);
	test_assert(!rx.closed);
	test_assert(!ipc_is_connected(rx.ipc));
	run_until(ioloop, &rx.done);
	test_assert(rx.closed && reason_has(&rx, "send() failed"));
	/* later sends are dropped quietly */
	ipc_send(rx.ipc, 1, "x", 1);
	test_assert(ipc_get_output_size(rx.ipc) == 0);
	rx_deinit(&rx);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- peer credentials --- */

static void test_ipc_peer_cred(void)
{
	struct ipc_peer_cred cred;
	const char *error;
	int fds[2], status;

	test_begin("ipc peer credentials");
	test_pair(fds);
	struct ipc *ipc = ipc_create(fds[0], "pair", NULL, NULL);
	test_assert(ipc_get_peer_cred(ipc, &cred, &error) == 0);
	test_assert(cred.pid == getpid() && cred.uid == getuid() &&
		    cred.gid == getgid());
	ipc_destroy(&ipc);
	close(fds[1]);

	/* an accepted connection names the connecting process. Abstract
	   address: nothing to clean up in the filesystem. */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		 "columba-test-ipc-%d", (int)getpid());
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      1 + strlen(sa.sun_path + 1));
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	test_assert(lfd >= 0);
	test_assert(bind(lfd, (struct sockaddr *)&sa, salen) == 0);
	test_assert(listen(lfd, 1) == 0);
	pid_t pid = fork();
	if (pid < 0)
		i_fatal("fork() failed: %m");
	if (pid == 0) {
		char c;
		int cfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, salen) < 0)
			_exit(1);
		/* wait for the parent to hang up */
		while (read(cfd, &c, 1) > 0) ;
		_exit(0);
	}
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	test_assert(fd >= 0);
	close(lfd);
	if (fd >= 0) {
		ipc = ipc_create(fd, "child", NULL, NULL);
		test_assert(ipc_get_peer_cred(ipc, &cred, &error) == 0);
		test_assert(cred.pid == pid && cred.uid == getuid());
		ipc_destroy(&ipc);
	}
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	test_end();
}

/* --- payload codec --- */

static void codec_read_all(struct ipc_reader *r, bool check)
{
	size_t len;
	const void *blob;

	uint8_t u8 = ipc_read_u8(r);
	uint16_t u16 = ipc_read_u16(r);
	uint32_t u32 = ipc_read_u32(r);
	uint64_t u64 = ipc_read_u64(r);
	bool t = ipc_read_bool(r), f = ipc_read_bool(r);
	const char *s1 = ipc_read_str(r, &len);
	size_t len1 = len;
	const char *s2 = ipc_read_str(r, &len);
	size_t len2 = len;
	const char *s3 = ipc_read_str(r, NULL);
	blob = ipc_read_blob(r, &len);
	size_t blob_len = len;
	const void *empty = ipc_read_blob(r, &len);
	size_t empty_len = len;
	if (!check)
		return;
	test_assert(u8 == 0xab && u16 == 0xbeef && u32 == 0xdeadbeef);
	test_assert(u64 == 0x0123456789abcdefULL);
	test_assert(t && !f);
	test_assert(len1 == 5 && strcmp(s1, "hello") == 0);
	test_assert(len2 == 3 && memcmp(s2, "a\0b", 4) == 0);
	test_assert(strcmp(s3, "") == 0);
	test_assert(blob_len == 3 && memcmp(blob, "\x00\x01\x02", 3) == 0);
	test_assert(empty != NULL && empty_len == 0);
}

static void test_ipc_codec(void)
{
	struct ipc_reader r;
	const char *error;

	test_begin("ipc payload encoder and decoder");
	buffer_t *buf = t_str_new(128);
	ipc_put_u8(buf, 0xab);
	ipc_put_u16(buf, 0xbeef);
	ipc_put_u32(buf, 0xdeadbeef);
	ipc_put_u64(buf, 0x0123456789abcdefULL);
	ipc_put_bool(buf, true);
	ipc_put_bool(buf, false);
	ipc_put_str(buf, "hello");
	ipc_put_str_n(buf, "a\0b", 3);
	ipc_put_str(buf, "");
	ipc_put_blob(buf, "\x00\x01\x02", 3);
	ipc_put_blob(buf, NULL, 0);
	static const unsigned char expect_head[] = {
		0xab, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 1, 0,
		0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0,
	};
	test_assert(buf->used == 1 + 2 + 4 + 8 + 2 + 10 + 8 + 5 + 7 + 4);
	test_assert(memcmp(buf->data, expect_head, sizeof(expect_head)) == 0);

	ipc_reader_init(&r, buf->data, buf->used);
	codec_read_all(&r, true);
	test_assert(ipc_reader_finish(&r, &error) == 0);

	/* every truncation fails, and nothing is read out of bounds (the
	   copy is exactly len bytes, so ASan sees any overrun) */
	bool all_failed = true;
	for (size_t len = 0; len < buf->used; len++) {
		unsigned char *copy = i_malloc(len);
		memcpy(copy, buf->data, len);
		ipc_reader_init(&r, copy, len);
		codec_read_all(&r, false);
		if (!ipc_reader_failed(&r) ||
		    ipc_reader_finish(&r, &error) == 0)
			all_failed = false;
		free(copy);
	}
	test_assert(all_failed);

	ipc_reader_init(&r, buf->data, 5);
	(void)ipc_read_u8(&r);
	(void)ipc_read_u16(&r);
	test_assert(ipc_read_u32(&r) == 0);
	/* after a failure every read fails */
	test_assert(ipc_read_u8(&r) == 0);
	test_assert(ipc_reader_finish(&r, &error) < 0);
	test_assert_strcmp(error, "truncated u32 at offset 3 of 5-byte payload");

	static const unsigned char bad_bool[] = { 2 };
	ipc_reader_init(&r, bad_bool, sizeof(bad_bool));
	test_assert(!ipc_read_bool(&r));
	test_assert(ipc_reader_finish(&r, &error) < 0);
	test_assert_strcmp(error, "bool is neither 0 nor 1 at offset 0 of "
			   "1-byte payload");

	static const unsigned char no_nul[] = { 0, 0, 0, 3, 'a', 'b', 'c', 'X' };
	ipc_reader_init(&r, no_nul, sizeof(no_nul));
	test_assert(strcmp(ipc_read_str(&r, NULL), "") == 0);
	test_assert(ipc_reader_finish(&r, &error) < 0);
	test_assert(strstr(error, "not NUL-terminated") != NULL);

	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff, 'a', 0 };
	size_t len = 99;
	ipc_reader_init(&r, huge, sizeof(huge));
	test_assert(strcmp(ipc_read_str(&r, &len), "") == 0 && len == 0);
	test_assert(ipc_reader_failed(&r));
	ipc_reader_init(&r, huge, sizeof(huge));
	test_assert(ipc_read_blob(&r, &len) == NULL && len == 0);
	test_assert(ipc_reader_finish(&r, &error) < 0);
	test_assert(strstr(error, "truncated blob") != NULL);

	static const unsigned char trailing[] = { 1, 2 };
	ipc_reader_init(&r, trailing, sizeof(trailing));
	test_assert(ipc_read_u8(&r) == 1);
	test_assert(!ipc_reader_failed(&r));
	test_assert(ipc_reader_finish(&r, &error) < 0);
	test_assert_strcmp(error, "trailing bytes at offset 1 of 2-byte payload");
	test_end();
}

test_func_t *const test_ipc_tests[] = {
	test_ipc_codec,
	test_ipc_sizes,
	test_ipc_burst,
	test_ipc_two_ioloops,
	test_ipc_fork,
	test_ipc_fd_passing,
	test_ipc_fd_passing_queued,
	test_ipc_byte_at_a_time,
	test_ipc_malformed,
	test_ipc_violation_fatal,
	test_ipc_blocking,
	test_ipc_peer_cred,
	NULL
};
