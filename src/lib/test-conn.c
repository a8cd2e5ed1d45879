/* Tests for conn.c over real socketpairs and the real ioloop: line
   parsing with input in one-byte pieces and in multi-megabyte bursts,
   limits, literals across chunk boundaries, back-pressure, streaming,
   timeouts, hand-off, and the memory an idle connection costs. */
#include "test-lib.h"
#include "ioloop.h"
#include "net.h"
#include "conn.h"
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define RUN_UNTIL(ioloop, cond, msecs) do { \
	uint64_t run_deadline_ = ioloop_msecs_monotonic() + (msecs); \
	while (!(cond) && ioloop_msecs_monotonic() < run_deadline_) \
		ioloop_run_once(ioloop, 10); \
	} while (0)

struct tconn {
	struct conn *conn;
	string_t *lines;
	unsigned int line_count, input_calls;
	size_t max_line;
	char *reason;
	unsigned int disconnect_calls;
	bool destroy_on_disconnect;
	/* literal protocol */
	uint64_t literal_left, literal_pos;
	unsigned int literal_seed, literals_ok, literals_bad;
	/* back-pressure */
	size_t reply_size, max_out_buffered;
	/* stream */
	unsigned int streams_finished;
};

static uint32_t test_rand_state = 12345;
static uint32_t test_rand(void)
{
	/* xorshift: reproducible across runs and libcs */
	test_rand_state ^= test_rand_state << 13;
	test_rand_state ^= test_rand_state >> 17;
	test_rand_state ^= test_rand_state << 5;
	return test_rand_state;
}

static void tconn_disconnected(struct conn *conn, const char *reason)
{
	struct tconn *t = conn_get_context(conn);
	t->disconnect_calls++;
	i_free(t->reason);
	t->reason = i_strdup(reason);
	if (t->destroy_on_disconnect)
		conn_destroy(&t->conn);
}

static void tconn_free(struct tconn *t)
{
	conn_destroy(&t->conn);
	if (t->lines != NULL)
		str_free(&t->lines);
	i_free(t->reason);
}

static void lines_input(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	const char *line;
	size_t len;
	int ret;

	t->input_calls++;
	while ((ret = conn_read_line(conn, t->max_line, &line, &len)) > 0) {
		test_assert(strlen(line) == len);
		str_append_data(t->lines, line, len);
		str_append_c(t->lines, '\n');
		t->line_count++;
	}
	if (ret < 0) {
		conn_write_str(conn, "BAD Line too long\r\n");
		conn_disconnect(conn, "Line too long");
	}
}

static const struct conn_vfuncs lines_vfuncs = {
	.input = lines_input,
	.disconnected = tconn_disconnected,
};

/* Lines of printable text, ending in LF or CRLF; *expected_r gets them
   LF-joined, as lines_input() collects them. */
static void make_corpus(size_t size, string_t *corpus, string_t *expected)
{
	while (str_len(corpus) < size) {
		unsigned int len = test_rand() % 300;
		if (test_rand() % 50 == 0)
			len = 0;
		for (unsigned int i = 0; i < len; i++) {
			char c = (char)(' ' + test_rand() % 95);
			str_append_c(corpus, c);
			str_append_c(expected, c);
		}
		str_append(corpus, test_rand() % 2 == 0 ? "\r\n" : "\n");
		str_append_c(expected, '\n');
	}
}

/* Write what the socket takes; returns false on error. */
static bool peer_write_some(int fd, const void *data, size_t size, size_t *pos)
{
	while (*pos < size) {
		ssize_t ret = write(fd, (const char *)data + *pos, size - *pos);
		if (ret < 0)
			return errno == EAGAIN;
		*pos += (size_t)ret;
	}
	return true;
}

static void socketpair_nb(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, fds) < 0)
		i_fatal("socketpair() failed: %m");
}

static void run_lines(struct ioloop *ioloop, const string_t *corpus,
		      size_t max_read, string_t *result,
		      unsigned int *input_calls_r)
{
	struct conn_settings set = {
		.name = "test", .debug_max_read_size = max_read,
	};
	struct tconn t = { .lines = str_new(system_pool, str_len(corpus)),
			   .max_line = 1000 };
	int fds[2];
	size_t pos = 0;

	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	while (pos < str_len(corpus)) {
		test_assert(peer_write_some(fds[1], corpus->data, str_len(corpus), &pos));
		ioloop_run_once(ioloop, 100);
	}
	close(fds[1]);
	RUN_UNTIL(ioloop, t.reason != NULL, 60000);
	test_assert_strcmp(t.reason, "Connection closed");
	test_assert(t.disconnect_calls == 1);
	test_assert(conn_get_buffer_alloc_size(t.conn) == 0);
	str_append_str(result, t.lines);
	*input_calls_r = t.input_calls;
	tconn_free(&t);
}

static void test_conn_lines_bytes_vs_burst(void)
{
	struct ioloop *ioloop = ioloop_create();
	string_t *corpus = str_new(system_pool, 4 * 1024 * 1024 + 512);
	string_t *expected = str_new(system_pool, 4 * 1024 * 1024 + 512);
	string_t *burst = str_new(system_pool, 4 * 1024 * 1024 + 512);
	string_t *bytes = str_new(system_pool, 128 * 1024);
	unsigned int burst_calls, byte_calls;

	test_begin("conn lines: one byte at a time vs a 4 MB burst");
	make_corpus(4 * 1024 * 1024, corpus, expected);
	run_lines(ioloop, corpus, 0, burst, &burst_calls);
	test_assert(str_len(burst) == str_len(expected) &&
		    memcmp(burst->data, expected->data, str_len(burst)) == 0);
	/* every complete line available is parsed in one callback */
	unsigned int nlines = 0;
	for (size_t i = 0; i < str_len(expected); i++)
		nlines += expected->data[i] == '\n' ? 1 : 0;
	test_assert(burst_calls * 20 < nlines);

	/* The first 96 KiB of the corpus (cut at a line end), one byte per
	   read(): the lines must be the same as in the burst. */
	size_t cut = 96 * 1024;
	while (corpus->data[cut - 1] != '\n')
		cut++;
	string_t *prefix = str_new(system_pool, cut);
	str_append_data(prefix, corpus->data, cut);
	run_lines(ioloop, prefix, 1, bytes, &byte_calls);
	test_assert(str_len(bytes) > 0 && str_len(bytes) < str_len(burst));
	test_assert(memcmp(bytes->data, burst->data, str_len(bytes)) == 0);
	test_assert(byte_calls >= cut);
	str_free(&prefix);

	str_free(&corpus);
	str_free(&expected);
	str_free(&burst);
	str_free(&bytes);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_conn_line_limits(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test", .input_max_size = 256 };
	struct tconn t = { .lines = str_new(system_pool, 64), .max_line = 100 };
	int fds[2];
	char buf[512];

	test_begin("conn_read_line() length limits");
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);

	/* exactly max_len, with CRLF and with LF, and an empty line */
	memset(buf, 'a', 100);
	memcpy(buf + 100, "\r\n", 2);
	test_assert(write(fds[1], buf, 102) == 102);
	buf[100] = '\n';
	test_assert(write(fds[1], buf, 101) == 101);
	test_assert(write(fds[1], "\r\n", 2) == 2);
	/* a bare CR inside a line is data */
	test_assert(write(fds[1], "x\ry\r\n", 5) == 5);
	RUN_UNTIL(ioloop, t.line_count == 4, 5000);
	test_assert(t.line_count == 4);
	test_assert(str_len(t.lines) == 101 + 101 + 1 + 4);
	test_assert(memcmp(t.lines->data + 202, "\nx\ry\n", 5) == 0);
	test_assert(t.reason == NULL);

	/* 102 bytes without LF: too long before the line is even complete */
	memset(buf, 'b', 102);
	test_assert(write(fds[1], buf, 102) == 102);
	RUN_UNTIL(ioloop, t.reason != NULL, 5000);
	test_assert_strcmp(t.reason, "Line too long");
	test_assert(t.line_count == 4);
	/* the BAD reply written in the input callback got out */
	ssize_t ret = read(fds[1], buf, sizeof(buf));
	test_assert(ret == 19 && memcmp(buf, "BAD Line too long\r\n", 19) == 0);
	tconn_free(&t);
	close(fds[1]);

	/* a complete line over max_len */
	t = (struct tconn){ .lines = str_new(system_pool, 64), .max_line = 10 };
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	test_assert(write(fds[1], "ok\r\n0123456789A\r\n", 18) == 18);
	RUN_UNTIL(ioloop, t.reason != NULL, 5000);
	test_assert(t.line_count == 1);
	test_assert_strcmp(t.reason, "Line too long");
	tconn_free(&t);
	close(fds[1]);

	/* max_len above input_max_size: the buffer is the limit */
	t = (struct tconn){ .lines = str_new(system_pool, 64), .max_line = 100000 };
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	memset(buf, 'c', sizeof(buf));
	test_assert(write(fds[1], buf, sizeof(buf)) == sizeof(buf));
	RUN_UNTIL(ioloop, t.reason != NULL, 5000);
	test_assert_strcmp(t.reason, "Line too long");
	test_assert(conn_get_buffer_alloc_size(t.conn) <= 512);
	tconn_free(&t);
	close(fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

/* "L <size>\r\n" followed by size bytes of a pattern, then the next. */
static unsigned char literal_byte(unsigned int seed, uint64_t pos)
{
	return (unsigned char)((pos * 31 + seed * 7 + (pos >> 9)) & 0xff);
}

static void literal_input(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	const unsigned char *data;
	const char *line;
	size_t size, len;

	t->input_calls++;
	for (;;) {
		if (t->literal_left > 0) {
			if (conn_input_peek(conn, &data, &size) <= 0)
				return;
			size = (size_t)I_MIN((uint64_t)size, t->literal_left);
			for (size_t i = 0; i < size; i++) {
				if (data[i] != literal_byte(t->literal_seed,
							    t->literal_pos + i))
					t->literals_bad++;
			}
			conn_input_skip(conn, size);
			t->literal_pos += size;
			t->literal_left -= size;
			if (t->literal_left == 0)
				t->literals_ok++;
			continue;
		}
		int ret = conn_read_line(conn, 100, &line, &len);
		if (ret <= 0) {
			test_assert(ret == 0);
			return;
		}
		uint64_t n;
		test_assert(line[0] == 'L' && line[1] == ' ');
		test_assert(str_to_uint64(line + 2, &n) == 0);
		t->line_count++;
		t->literal_left = n;
		t->literal_pos = 0;
		t->literal_seed = t->line_count;
		if (n == 0)
			t->literals_ok++;
	}
}

static const struct conn_vfuncs literal_vfuncs = {
	.input = literal_input,
	.disconnected = tconn_disconnected,
};

static void test_conn_literals(size_t max_read)
{
	static const size_t sizes[] = { 0, 1, 5, 1000, 16383, 16384, 70001,
					200000, 3, 0, 65536 };
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = {
		.name = "test", .input_max_size = 16 * 1024,
		.debug_max_read_size = max_read,
	};
	struct tconn t = { .max_line = 100 };
	string_t *data = str_new(system_pool, 400000);
	int fds[2];
	size_t pos = 0, max_alloc = 0;

	for (unsigned int i = 0; i < N_ELEMENTS(sizes); i++) {
		str_printfa(data, "L %zu\r\n", sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			str_append_c(data, (char)literal_byte(i + 1, j));
	}
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &literal_vfuncs, &t);
	while (pos < str_len(data) || t.literals_ok < N_ELEMENTS(sizes)) {
		/* odd-sized writes put chunk boundaries everywhere */
		size_t n = 1 + test_rand() % 9000;
		n = I_MIN(str_len(data) - pos, n);
		size_t wpos = 0;
		if (n > 0)
			test_assert(peer_write_some(fds[1], data->data + pos, n, &wpos));
		pos += wpos;
		ioloop_run_once(ioloop, 100);
		max_alloc = I_MAX(max_alloc, conn_get_buffer_alloc_size(t.conn));
		if (t.reason != NULL) {
			test_fail("disconnected: %s", t.reason);
			break;
		}
	}
	test_assert(t.reason == NULL);
	test_assert(t.line_count == N_ELEMENTS(sizes));
	test_assert(t.literals_ok == N_ELEMENTS(sizes));
	test_assert(t.literals_bad == 0);
	/* literals far larger than the input buffer passed through it */
	test_assert(max_alloc <= 2 * set.input_max_size);
	tconn_free(&t);
	close(fds[1]);
	str_free(&data);
	ioloop_destroy(&ioloop);
}

static void test_conn_literals_chunked(void)
{
	test_begin("conn exact-size reads across chunk boundaries");
	test_conn_literals(0);
	test_conn_literals(7);
	test_end();
}

/* Every request line gets a reply of reply_size bytes. */
static void echo_input(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	const char *line;
	size_t len;

	t->input_calls++;
	while (conn_read_line(conn, 1000, &line, &len) > 0) {
		char *reply = t_malloc(t->reply_size);
		int n = snprintf(reply, t->reply_size, "%s ", line);
		memset(reply + n, 'r', t->reply_size - (size_t)n - 2);
		memcpy(reply + t->reply_size - 2, "\r\n", 2);
		conn_write(conn, reply, t->reply_size);
		t->line_count++;
		t->max_out_buffered = I_MAX(t->max_out_buffered,
					    conn_output_buffered_size(conn));
	}
}

static const struct conn_vfuncs echo_vfuncs = {
	.input = echo_input,
	.disconnected = tconn_disconnected,
};

static void test_conn_backpressure(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = {
		.name = "test", .input_max_size = 4096,
		.output_high_watermark = 32 * 1024,
		.output_low_watermark = 8 * 1024,
	};
	struct tconn t = { .reply_size = 1000 };
	const unsigned int total = 20000;
	string_t *requests = str_new(system_pool, total * 12);
	int fds[2];
	size_t wpos = 0;

	test_begin("conn back-pressure: pipelining peer that never reads");
	/* 2 MB of requests: more than the socket buffers hold */
	for (unsigned int i = 0; i < total; i++)
		str_printfa(requests, "R%u %090u\r\n", i, i);
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &echo_vfuncs, &t);

	/* write until the peer's socket is full in both directions */
	unsigned int stalled_rounds = 0;
	while (stalled_rounds < 20 && wpos < str_len(requests)) {
		size_t before = wpos;
		test_assert(peer_write_some(fds[1], requests->data,
					    str_len(requests), &wpos));
		ioloop_run_once(ioloop, 5);
		stalled_rounds = wpos == before ? stalled_rounds + 1 : 0;
	}
	test_assert(wpos < str_len(requests));
	unsigned int processed = t.line_count;
	size_t buffered = conn_output_buffered_size(t.conn);
	/* the server stopped: more rounds change nothing */
	for (unsigned int i = 0; i < 20; i++)
		ioloop_run_once(ioloop, 5);
	test_assert(t.line_count == processed);
	test_assert(conn_output_buffered_size(t.conn) == buffered);
	test_assert(processed < total);
	/* output never grew past the watermark (plus one reply) */
	test_assert(t.max_out_buffered < set.output_high_watermark + t.reply_size);
	test_assert(conn_get_buffer_alloc_size(t.conn) <=
		    2 * set.output_high_watermark + 2 * set.input_max_size);

	/* the peer starts reading: everything completes */
	char buf[65536];
	size_t received = 0, expected = (size_t)total * t.reply_size;
	uint64_t deadline = ioloop_msecs_monotonic() + 60000;
	while (received < expected && ioloop_msecs_monotonic() < deadline) {
		ssize_t ret;
		while ((ret = read(fds[1], buf, sizeof(buf))) > 0)
			received += (size_t)ret;
		(void)peer_write_some(fds[1], requests->data, str_len(requests),
				      &wpos);
		ioloop_run_once(ioloop, 5);
	}
	test_assert(received == expected);
	test_assert(t.line_count == total);
	test_assert(t.max_out_buffered < set.output_high_watermark + t.reply_size);
	test_assert(t.reason == NULL);
	ioloop_run_once(ioloop, 10);
	test_assert(conn_get_buffer_alloc_size(t.conn) == 0);
	tconn_free(&t);
	close(fds[1]);
	str_free(&requests);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- streams --- */

static unsigned char stream_byte(uint64_t pos)
{
	return (unsigned char)((pos ^ (pos >> 8) ^ (pos >> 16)) & 0xff);
}

static void stream_finished(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	t->streams_finished++;
	test_assert(!conn_is_streaming(conn));
	conn_write_str(conn, "DONE\r\n");
}

static void stream_input(struct conn *conn ATTR_UNUSED)
{
}

static const struct conn_vfuncs stream_vfuncs = {
	.input = stream_input,
	.disconnected = tconn_disconnected,
	.stream_finished = stream_finished,
};

/* Read everything from fd until "DONE\r\n" follows size pattern bytes;
   returns the count of pattern bytes that matched. */
static uint64_t stream_receive(struct ioloop *ioloop, struct tconn *t, int fd,
			       uint64_t size, size_t header_len,
			       size_t *max_alloc_r)
{
	static unsigned char buf[65536];
	uint64_t pos = 0, good = 0, total = size + header_len + 6;
	uint64_t deadline = ioloop_msecs_monotonic() + 60000;
	uint64_t got = 0;
	char tail[6];

	while (got < total && ioloop_msecs_monotonic() < deadline &&
	       t->reason == NULL) {
		ssize_t ret = read(fd, buf, sizeof(buf));
		if (ret <= 0) {
			ioloop_run_once(ioloop, 10);
			if (t->conn != NULL)
				*max_alloc_r = I_MAX(*max_alloc_r,
					conn_get_buffer_alloc_size(t->conn));
			continue;
		}
		for (ssize_t i = 0; i < ret; i++, got++) {
			if (got < header_len)
				continue;
			if (got >= header_len + size) {
				if (got - header_len - size < sizeof(tail))
					tail[got - header_len - size] = (char)buf[i];
				continue;
			}
			if (buf[i] == stream_byte(pos))
				good++;
			pos++;
		}
	}
	test_assert(got == total);
	test_assert(got != total || memcmp(tail, "DONE\r\n", 6) == 0);
	if (got != total)
		test_fail("received %"PRIu64" of %"PRIu64" bytes", got, total);
	return good;
}

static void test_conn_stream_file(void)
{
	const uint64_t size = 20 * 1024 * 1024;
	const char *path = t_strdup_printf("%s/stream", test_dir());
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct tconn t = { 0 };
	unsigned char *buf = i_malloc(1024 * 1024);
	int fds[2];
	size_t max_alloc = 0;

	test_begin("conn streams a 20 MB file");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	test_assert(fd >= 0);
	for (uint64_t off = 0; off < size; off += 1024 * 1024) {
		for (size_t i = 0; i < 1024 * 1024; i++)
			buf[i] = stream_byte(off + i);
		test_assert(write(fd, buf, 1024 * 1024) == 1024 * 1024);
	}
	i_free(buf);

	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &stream_vfuncs, &t);
	conn_printf(t.conn, "FILE %"PRIu64"\r\n", size);
	size_t header_len = strlen("FILE 20971520\r\n");
	/* the file's own offset must not matter: pread()/sendfile() */
	(void)lseek(fd, 12345, SEEK_SET);
	conn_send_stream(t.conn, conn_stream_source_file(fd, 0, size, false));
	test_assert(conn_is_streaming(t.conn) && conn_output_is_full(t.conn));
	uint64_t good = stream_receive(ioloop, &t, fds[1], size, header_len,
				       &max_alloc);
	test_assert(good == size);
	test_assert(t.streams_finished == 1);
	test_assert(max_alloc <= 64 * 1024);
	test_assert(conn_get_bytes_out(t.conn) == size + header_len + 6);
	tconn_free(&t);
	close(fds[1]);

	/* a file shorter than promised is an error, not a short literal */
	t = (struct tconn){ 0 };
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &stream_vfuncs, &t);
	conn_send_stream(t.conn, conn_stream_source_file(fd, size - 100, 1000,
							 true));
	char rbuf[4096];
	uint64_t deadline = ioloop_msecs_monotonic() + 10000;
	while (t.reason == NULL && ioloop_msecs_monotonic() < deadline) {
		ssize_t rret = read(fds[1], rbuf, sizeof(rbuf));
		(void)rret;
		ioloop_run_once(ioloop, 10);
	}
	test_assert(t.reason != NULL &&
		    strstr(t.reason, "900 bytes shorter than expected") != NULL);
	test_assert(t.streams_finished == 0);
	tconn_free(&t);
	close(fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

/* A generated source that is sometimes "not ready" (like a blob still
   being downloaded) and returns small odd-sized pieces. */
struct gen_source {
	struct conn_stream_source src;
	struct conn *conn;
	struct timeout *to;
	uint64_t pos, size;
	unsigned int waits;
	bool *destroyed;
};

static void gen_source_ready(void *context)
{
	struct gen_source *gen = context;
	timeout_remove(&gen->to);
	conn_stream_source_ready(gen->conn);
}

static ssize_t gen_source_read(struct conn_stream_source *src, void *buf,
			       size_t size, const char **error_r ATTR_UNUSED)
{
	struct gen_source *gen = CONTAINER_OF(src, struct gen_source, src);
	unsigned char *p = buf;

	if (gen->to != NULL)
		return CONN_STREAM_WAIT;
	if (test_rand() % 8 == 0) {
		gen->waits++;
		gen->to = timeout_add(1, gen_source_ready, gen);
		return CONN_STREAM_WAIT;
	}
	/* I_MIN() evaluates its arguments twice: draw the number first */
	size_t n = 1 + test_rand() % 20000;
	n = (size_t)I_MIN((uint64_t)I_MIN(size, n), gen->size - gen->pos);
	for (size_t i = 0; i < n; i++)
		p[i] = stream_byte(gen->pos + i);
	gen->pos += n;
	return (ssize_t)n;
}

static void gen_source_destroy(struct conn_stream_source *src)
{
	struct gen_source *gen = CONTAINER_OF(src, struct gen_source, src);
	timeout_remove(&gen->to);
	*gen->destroyed = true;
	i_free(gen);
}

static const struct conn_stream_source_vfuncs gen_source_vfuncs = {
	.read = gen_source_read,
	.destroy = gen_source_destroy,
};

static void test_conn_stream_source(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct tconn t = { 0 };
	int fds[2];
	size_t max_alloc = 0;
	bool destroyed = false;

	test_begin("conn streams a source that waits for data");
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &stream_vfuncs, &t);
	struct gen_source *gen = i_new(struct gen_source, 1);
	gen->src.v = &gen_source_vfuncs;
	gen->conn = t.conn;
	gen->size = 3 * 1024 * 1024 + 17;
	gen->destroyed = &destroyed;
	conn_write_str(t.conn, "HDR\r\n");
	conn_send_stream(t.conn, &gen->src);
	uint64_t good = stream_receive(ioloop, &t, fds[1], 3 * 1024 * 1024 + 17,
				       5, &max_alloc);
	test_assert(good == 3 * 1024 * 1024 + 17);
	test_assert(destroyed && t.streams_finished == 1);
	test_assert(max_alloc <= 64 * 1024);
	tconn_free(&t);

	/* the conn going away first destroys the source */
	destroyed = false;
	t = (struct tconn){ 0 };
	t.conn = conn_create(fds[1], &set, &stream_vfuncs, &t);
	gen = i_new(struct gen_source, 1);
	gen->src.v = &gen_source_vfuncs;
	gen->conn = t.conn;
	gen->size = 100 * 1024 * 1024;
	gen->destroyed = &destroyed;
	conn_send_stream(t.conn, &gen->src);
	test_assert(!destroyed);
	RUN_UNTIL(ioloop, t.reason != NULL, 5000);
	/* the other end is closed */
	test_assert(t.reason != NULL);
	test_assert(destroyed);
	tconn_free(&t);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- timeouts, pausing, destroy in callbacks --- */

static void bye_disconnected(struct conn *conn, const char *reason)
{
	tconn_disconnected(conn, reason);
	/* writes still work after an idle timeout */
	conn_write_str(conn, "* BYE Disconnected for inactivity\r\n");
}

static const struct conn_vfuncs bye_vfuncs = {
	.input = lines_input,
	.disconnected = bye_disconnected,
};

static void test_conn_idle_timeout(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test", .idle_timeout_msecs = 150 };
	struct tconn t = { .lines = str_new(system_pool, 64), .max_line = 100 };
	int fds[2];
	char buf[128];

	test_begin("conn idle timeout");
	socketpair_nb(fds);
	uint64_t start = ioloop_msecs_monotonic();
	t.conn = conn_create(fds[0], &set, &bye_vfuncs, &t);
	/* input every 50 ms keeps it alive well past the timeout */
	for (unsigned int i = 0; i < 8; i++) {
		test_assert(write(fds[1], "NOOP\r\n", 6) == 6);
		uint64_t until = ioloop_msecs_monotonic() + 50;
		RUN_UNTIL(ioloop, ioloop_msecs_monotonic() >= until, 100);
	}
	test_assert(t.reason == NULL && t.line_count == 8);
	uint64_t last = ioloop_msecs_monotonic();
	test_assert(last - start >= 400);
	RUN_UNTIL(ioloop, t.reason != NULL, 5000);
	uint64_t fired = ioloop_msecs_monotonic();
	test_assert_strcmp(t.reason, "Idle timeout");
	test_assert(fired - last >= 90 && fired - last < 1000);
	conn_destroy(&t.conn);
	/* the BYE went out on destroy */
	ssize_t ret = read(fds[1], buf, sizeof(buf));
	test_assert(ret == 35 && memcmp(buf, "* BYE", 5) == 0);
	test_assert(read(fds[1], buf, sizeof(buf)) == 0);
	tconn_free(&t);
	close(fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

static void pause_input(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	const char *line;
	size_t len;

	t->input_calls++;
	while (conn_read_line(conn, 100, &line, &len) > 0) {
		str_append(t->lines, line);
		str_append_c(t->lines, '\n');
		t->line_count++;
		if (strcmp(line, "SLOW") == 0) {
			/* the command continues asynchronously */
			conn_set_input_paused(conn, true);
		} else if (strcmp(line, "QUIT") == 0) {
			/* destroying the conn inside its own callback, with
			   more input pending, must be safe */
			conn_destroy(&t->conn);
			return;
		}
	}
}

static const struct conn_vfuncs pause_vfuncs = {
	.input = pause_input,
	.disconnected = tconn_disconnected,
};

static void unpause_cb(void *context)
{
	struct tconn *t = context;
	conn_set_input_paused(t->conn, false);
}

static void test_conn_pause_and_destroy(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct tconn t = { .lines = str_new(system_pool, 64) };
	int fds[2];

	test_begin("conn pause, resume with buffered input, destroy in input()");
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &pause_vfuncs, &t);
	const char *in = "A\r\nSLOW\r\nB\r\nC\r\nQUIT\r\nD\r\n";
	test_assert(write(fds[1], in, strlen(in)) == (ssize_t)strlen(in));
	RUN_UNTIL(ioloop, t.line_count == 2, 5000);
	for (unsigned int i = 0; i < 5; i++)
		ioloop_run_once(ioloop, 5);
	test_assert_strcmp(str_c(t.lines), "A\nSLOW\n");
	test_assert(conn_input_is_paused(t.conn));
	test_assert(conn_input_buffered_size(t.conn) == strlen("B\r\nC\r\nQUIT\r\nD\r\n"));
	/* resumed without any new input from the socket */
	struct timeout *to = timeout_add(10, unpause_cb, &t);
	RUN_UNTIL(ioloop, t.conn == NULL, 5000);
	timeout_remove(&to);
	test_assert_strcmp(str_c(t.lines), "A\nSLOW\nB\nC\nQUIT\n");
	test_assert(t.conn == NULL && t.disconnect_calls == 0);
	char c;
	test_assert(read(fds[1], &c, 1) == 0);
	tconn_free(&t);
	close(fds[1]);

	/* conn_disconnect() in input(): disconnected() comes later, once */
	t = (struct tconn){ .lines = str_new(system_pool, 64), .max_line = 3,
			    .destroy_on_disconnect = true };
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	test_assert(write(fds[1], "TOOLONG\r\n", 9) == 9);
	RUN_UNTIL(ioloop, t.disconnect_calls > 0, 5000);
	for (unsigned int i = 0; i < 5; i++)
		ioloop_run_once(ioloop, 5);
	test_assert(t.disconnect_calls == 1 && t.conn == NULL);
	test_assert_strcmp(t.reason, "Line too long");
	tconn_free(&t);
	close(fds[1]);

	/* a write error is reported from the ioloop, not inside conn_write() */
	t = (struct tconn){ .lines = str_new(system_pool, 64), .max_line = 3 };
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	close(fds[1]);
	conn_write_str(t.conn, "hello\r\n");
	test_assert(t.disconnect_calls == 0);
	test_assert(conn_is_disconnected(t.conn));
	RUN_UNTIL(ioloop, t.disconnect_calls > 0, 5000);
	test_assert_strcmp(t.reason, "Connection closed");
	tconn_free(&t);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_conn_output_cork(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct tconn t = { .lines = str_new(system_pool, 64) };
	int fds[2];
	char buf[256];

	test_begin("conn direct writes, cork and flush");
	socketpair_nb(fds);
	t.conn = conn_create(fds[0], &set, &lines_vfuncs, &t);
	/* straight to the socket: nothing buffered, nothing allocated */
	conn_write_str(t.conn, "one\r\n");
	test_assert(conn_output_buffered_size(t.conn) == 0);
	test_assert(conn_get_buffer_alloc_size(t.conn) == 0);
	test_assert(read(fds[1], buf, sizeof(buf)) == 5);

	conn_cork(t.conn);
	conn_write_str(t.conn, "two ");
	conn_printf(t.conn, "%s %d\r\n", "three", 3);
	test_assert(conn_output_buffered_size(t.conn) == 13);
	test_assert(read(fds[1], buf, sizeof(buf)) < 0 && errno == EAGAIN);
	conn_uncork(t.conn);
	test_assert(conn_output_buffered_size(t.conn) == 0);
	test_assert(conn_get_buffer_alloc_size(t.conn) == 0);
	test_assert(read(fds[1], buf, sizeof(buf)) == 13 &&
		    memcmp(buf, "two three 3\r\n", 13) == 0);
	test_assert(conn_flush(t.conn) == 1);
	test_assert(conn_get_bytes_out(t.conn) == 18);
	tconn_free(&t);
	close(fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- detach --- */

struct detach_ctx {
	struct tconn t;
	int fd;
	buffer_t *preread;
};

static void detach_input(struct conn *conn)
{
	struct detach_ctx *d = conn_get_context(conn);
	const char *line, *error;
	size_t len;

	if (conn_read_line(conn, 100, &line, &len) <= 0)
		return;
	test_assert_strcmp(line, "LOGIN user pass");
	/* logged in: hand the connection to the "mail process" */
	test_assert(conn_detach(&d->t.conn, &d->fd, d->preread, &error) == 0);
	test_assert(d->t.conn == NULL);
}

static const struct conn_vfuncs detach_vfuncs = {
	.input = detach_input,
	.disconnected = tconn_disconnected,
};

static void test_conn_detach(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct detach_ctx d = { .fd = -1 };
	struct tconn t2 = { .lines = str_new(system_pool, 64), .max_line = 100 };
	int fds[2];

	test_begin("conn_detach() hands over the fd and pre-read input");
	d.preread = buffer_create(system_pool, 64);
	socketpair_nb(fds);
	d.t.conn = conn_create(fds[0], &set, &detach_vfuncs, &d);
	/* pipelined: the second command and half of the third are read
	   together with the LOGIN */
	const char *in = "LOGIN user pass\r\nSELECT INBOX\r\nNO";
	test_assert(write(fds[1], in, strlen(in)) == (ssize_t)strlen(in));
	RUN_UNTIL(ioloop, d.fd != -1, 5000);
	test_assert(d.fd == fds[0]);
	test_assert(d.preread->used == 16 &&
		    memcmp(d.preread->data, "SELECT INBOX\r\nNO", 16) == 0);
	/* the fd is still open and still ours */
	test_assert(fcntl(d.fd, F_GETFD) >= 0);

	t2.conn = conn_create(d.fd, &set, &lines_vfuncs, &t2);
	conn_input_push(t2.conn, d.preread->data, d.preread->used);
	test_assert(write(fds[1], "OP\r\n", 4) == 4);
	RUN_UNTIL(ioloop, t2.line_count == 2, 5000);
	test_assert_strcmp(str_c(t2.lines), "SELECT INBOX\nNOOP\n");
	tconn_free(&t2);
	buffer_free(&d.preread);
	close(fds[1]);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_conn_tcp(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test" };
	struct tconn server = { .lines = str_new(system_pool, 64), .max_line = 100 };
	struct tconn client = { .lines = str_new(system_pool, 64), .max_line = 100 };
	struct ip_addr ip;
	in_port_t port = 0;
	const char *error;

	test_begin("conn over TCP loopback");
	test_assert(net_addr2ip("127.0.0.1", &ip) == 0);
	int lfd = net_listen(&ip, &port, 0, 0, &error);
	test_assert(lfd >= 0);
	int cfd = net_connect_ip(&ip, port, NULL, &error);
	test_assert(cfd >= 0);
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	test_assert(poll(&pfd, 1, 5000) == 1);
	int sfd = net_accept(lfd, NULL, NULL, NULL, NULL);
	test_assert(sfd >= 0);
	server.conn = conn_create(sfd, &set, &lines_vfuncs, &server);
	client.conn = conn_create(cfd, &set, &lines_vfuncs, &client);
	conn_write_str(server.conn, "* OK ready\r\n");
	conn_write_str(client.conn, "a LOGOUT\r\n");
	RUN_UNTIL(ioloop, server.line_count == 1 && client.line_count == 1, 5000);
	test_assert_strcmp(str_c(server.lines), "a LOGOUT\n");
	test_assert_strcmp(str_c(client.lines), "* OK ready\n");
	conn_destroy(&server.conn);
	RUN_UNTIL(ioloop, client.reason != NULL, 5000);
	test_assert_strcmp(client.reason, "Connection closed");
	tconn_free(&server);
	tconn_free(&client);
	close(lfd);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- memory --- */

static unsigned int raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1000000 ? 1000000 : (unsigned int)rl.rlim_cur;
}

static void ping_input(struct conn *conn)
{
	struct tconn *t = conn_get_context(conn);
	const char *line;
	size_t len;

	while (conn_read_line(conn, 100, &line, &len) > 0) {
		t->line_count++;
		if (strcmp(line, "PING") == 0)
			conn_write_str(conn, "PONG\r\n");
	}
}

static const struct conn_vfuncs ping_vfuncs = {
	.input = ping_input,
	.disconnected = tconn_disconnected,
};

static void test_conn_memory(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct conn_settings set = { .name = "test",
				     .idle_timeout_msecs = 60 * 60 * 1000 };
	unsigned int limit = raise_nofile_limit();
	unsigned int pairs = I_MIN(5000, (limit - 64) / 2);
	struct tconn *t = i_new(struct tconn, pairs * 2);

	test_begin("conn memory of idle connections");
	int *fds = i_new(int, pairs * 2);
	for (unsigned int i = 0; i < pairs; i++)
		socketpair_nb(fds + i * 2);

	struct mallinfo2 before = mallinfo2();
	for (unsigned int i = 0; i < pairs * 2; i++) {
		t[i].conn = conn_create(fds[i], &set, &ping_vfuncs, &t[i]);
		conn_set_name(t[i].conn, "imap(1.2.3.4)");
	}
	for (unsigned int i = 0; i < 3; i++)
		ioloop_run_once(ioloop, 1);
	struct mallinfo2 idle = mallinfo2();

	/* traffic on every connection, then idle again: buffers must have
	   been given back */
	for (unsigned int i = 0; i < pairs; i++)
		conn_write_str(t[i * 2].conn, "PING\r\n");
	unsigned int answered = 0;
	uint64_t deadline = ioloop_msecs_monotonic() + 30000;
	while (answered < pairs && ioloop_msecs_monotonic() < deadline) {
		ioloop_run_once(ioloop, 10);
		answered = 0;
		for (unsigned int i = 0; i < pairs; i++)
			answered += t[i * 2].line_count;
	}
	test_assert(answered == pairs);
	for (unsigned int i = 0; i < 3; i++)
		ioloop_run_once(ioloop, 1);
	struct mallinfo2 after = mallinfo2();
	size_t buffers = 0;
	for (unsigned int i = 0; i < pairs * 2; i++)
		buffers += conn_get_buffer_alloc_size(t[i].conn);
	test_assert(buffers == 0);

	unsigned int count = pairs * 2;
	double idle_per = ((double)idle.uordblks - (double)before.uordblks) / count;
	double after_per = ((double)after.uordblks - (double)before.uordblks) / count;
	printf("  plain conn memory: %u idle conns, %.0f bytes each "
	       "(%.0f after traffic)\n", count, idle_per, after_per);
#ifndef __SANITIZE_ADDRESS__
	/* mallinfo2() does not see ASan's allocator */
	test_assert(idle_per > 0 && idle_per < 1024);
	test_assert(after_per < 1024);
#endif
	for (unsigned int i = 0; i < pairs * 2; i++)
		conn_destroy(&t[i].conn);
	test_assert(conn_get_count() == 0);
	i_free(fds);
	i_free(t);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_conn_tests[] = {
	test_conn_lines_bytes_vs_burst,
	test_conn_line_limits,
	test_conn_literals_chunked,
	test_conn_backpressure,
	test_conn_stream_file,
	test_conn_stream_source,
	test_conn_idle_timeout,
	test_conn_pause_and_destroy,
	test_conn_output_cork,
	test_conn_detach,
	test_conn_tcp,
	test_conn_memory,
	NULL
};
