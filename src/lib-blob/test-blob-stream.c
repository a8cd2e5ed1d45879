/* Tests for streaming large objects: a 50 MB object written and read in
   chunks with the process's peak memory staying far below its size, and
   the conn.h stream source that sends an object to a client (as FETCH
   BODY[] will), including a storage failure in the middle of it. */
#include "test-lib-blob.h"
#include "conn.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>

#define BIG_SIZE (50ULL * 1024 * 1024 + 12345)
#define BIG_SEED 5050

/* Peak resident memory since the last reset, in KiB (VmHWM). */
static unsigned long peak_rss_kib(void)
{
	char buf[4096];
	unsigned long kib = 0;

	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strstr(buf, "VmHWM:");
	if (p != NULL)
		kib = strtoul(p + 6, NULL, 10);
	return kib;
}

/* Start measuring the peak from the current resident size. */
static bool peak_rss_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	if (fd < 0)
		return false;
	bool ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

struct big_put {
	struct blob_put *put;
	uint64_t pos;
	unsigned int fulls;
	bool done;
	enum blob_error error;
};

static void big_put_done(const struct blob_result *result, void *context)
{
	struct big_put *bp = context;
	bp->done = true;
	bp->error = result->error;
}

static void big_put_continue(void *context)
{
	struct big_put *bp = context;
	unsigned char buf[64 * 1024];

	while (bp->pos < BIG_SIZE) {
		if (blob_put_is_full(bp->put)) {
			bp->fulls++;
			return;
		}
		size_t n = (size_t)I_MIN((uint64_t)sizeof(buf),
					 BIG_SIZE - bp->pos);
		test_blob_fill(BIG_SEED, bp->pos, buf, n);
		if (blob_put_write(bp->put, buf, n) < 0)
			break;
		bp->pos += n;
	}
	blob_put_finish(&bp->put, big_put_done, bp);
}

struct big_get {
	struct blob_get *get;
	uint64_t total;
	bool done, ok;
	unsigned int waits;
};

static void big_get_ready(void *context)
{
	struct big_get *bg = context;
	const unsigned char *data;
	size_t size;
	int ret;

	while ((ret = blob_get_read_data(bg->get, &data, &size)) > 0) {
		if (!test_blob_check(BIG_SEED, bg->total, data, size))
			bg->ok = false;
		bg->total += size;
		blob_get_skip(bg->get, size);
	}
	if (ret == BLOB_READ_WAIT) {
		bg->waits++;
		return;
	}
	if (blob_get_end(&bg->get, NULL) < 0)
		bg->ok = false;
	bg->done = true;
}

/* shared by both tests: the store's worker threads report to the loop
   they were started under, so the loop lives as long as the store */
static char *big_dir;
static struct blob_store *big_store;
static struct ioloop *big_ioloop;

static void test_stream_big_put_get(void)
{
	struct ioloop *ioloop = big_ioloop = ioloop_create();

	test_begin("blob stream: 50 MB in and out in chunks, memory bounded");
	big_dir = i_strdup(test_blob_mkdir("big"));
	big_store = test_blob_store_create(t_strdup_printf("posix:%s",
							   big_dir));
	bool measured = peak_rss_reset();
	unsigned long base = peak_rss_kib();

	struct big_put bp = { 0 };
	bp.put = blob_put_begin(big_store, "big/obj", 0);
	blob_put_set_drained_callback(bp.put, big_put_continue, &bp);
	big_put_continue(&bp);
	test_assert(test_blob_run_until(ioloop, &bp.done));
	test_assert(bp.error == BLOB_ERROR_NONE);
	/* back-pressure held the producer back */
	test_assert(bp.fulls > 10);

	struct big_get bg = { .ok = true };
	bg.get = blob_get_begin(big_store, "big/obj", 0, UINT64_MAX);
	blob_get_set_callback(bg.get, big_get_ready, &bg);
	test_assert(test_blob_run_until(ioloop, &bg.done));
	test_assert(bg.ok && bg.total == BIG_SIZE);

	unsigned long peak = peak_rss_kib();
	if (measured) {
		/* two 128 KiB chunks each way; 16 MB leaves room for the
		   allocator and sanitizers, and is a third of the object */
		if (peak - base >= 16 * 1024) {
			test_fail("peak RSS grew by %lu KiB (base %lu KiB)",
				  peak - base, base);
		}
	}
	printf("  50 MB put+get: peak RSS grew by %lu KiB\n", peak - base);
	if (measured) {
		/* the control: the measurement does see 24 MB held at once */
		char *mem = i_malloc(24 * 1024 * 1024);
		memset(mem, 1, 24 * 1024 * 1024);
		test_assert(peak_rss_kib() - base >= 20 * 1024);
		i_free(mem);
	}

	/* the same synchronously */
	struct blob_get *get = blob_get_begin_sync(big_store, "big/obj",
						   BIG_SIZE - 3 * 1024 * 1024,
						   UINT64_MAX);
	const unsigned char *data;
	size_t size;
	uint64_t total = 0;
	bool ok = true;
	while (blob_get_read_data(get, &data, &size) > 0) {
		uint64_t offset = BIG_SIZE - 3 * 1024 * 1024 + total;
		ok = ok && test_blob_check(BIG_SEED, offset, data, size);
		total += size;
		blob_get_skip(get, size);
	}
	test_assert(ok && total == 3 * 1024 * 1024);
	test_assert(blob_get_end(&get, NULL) == 0);
	test_end();
}

/* --- conn stream source --- */

struct stream_conn {
	struct conn *conn;
	char *reason;
	bool finished;
};

static void stream_conn_input(struct conn *conn ATTR_UNUSED)
{
}

static void stream_conn_disconnected(struct conn *conn, const char *reason)
{
	struct stream_conn *sc = conn_get_context(conn);
	sc->reason = i_strdup(reason);
}

static void stream_conn_finished(struct conn *conn)
{
	struct stream_conn *sc = conn_get_context(conn);
	sc->finished = true;
	conn_write_str(conn, ")\r\n");
}

static const struct conn_vfuncs stream_conn_vfuncs = {
	.input = stream_conn_input,
	.disconnected = stream_conn_disconnected,
	.stream_finished = stream_conn_finished,
};

static void socketpair_nb(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, fds) < 0)
		i_fatal("socketpair() failed: %m");
}

struct peer {
	int fd;
	string_t *head;
	uint64_t body_len, body_pos, offset;
	bool ok, eof;
	size_t tail_len;
	char tail[16];
};

/* Read what the peer has: a header line, body_len bytes of content from
   offset, then a tail. */
static void peer_read(struct peer *peer)
{
	unsigned char buf[65536];

	for (;;) {
		ssize_t n = read(peer->fd, buf, sizeof(buf));
		if (n == 0) {
			peer->eof = true;
			return;
		}
		if (n < 0)
			return;
		size_t pos = 0;
		while (pos < (size_t)n) {
			const unsigned char *nl;
			size_t hlen = str_len(peer->head);
			if (hlen == 0 || str_c(peer->head)[hlen - 1] != '\n') {
				nl = memchr(buf + pos, '\n', (size_t)n - pos);
				size_t len = nl == NULL ? (size_t)n - pos :
					(size_t)(nl - (buf + pos)) + 1;
				str_append_data(peer->head, buf + pos, len);
				pos += len;
				continue;
			}
			if (peer->body_pos < peer->body_len) {
				size_t len = (size_t)I_MIN(
					(uint64_t)((size_t)n - pos),
					peer->body_len - peer->body_pos);
				if (!test_blob_check(BIG_SEED, peer->offset +
						     peer->body_pos, buf + pos,
						     len))
					peer->ok = false;
				peer->body_pos += len;
				pos += len;
				continue;
			}
			size_t len = I_MIN((size_t)n - pos,
					   sizeof(peer->tail) - 1 -
					   peer->tail_len);
			memcpy(peer->tail + peer->tail_len, buf + pos, len);
			peer->tail_len += len;
			pos = (size_t)n;
		}
	}
}

struct open_wait {
	bool opened;
};

static void open_wait_ready(void *context)
{
	struct open_wait *ow = context;
	ow->opened = true;
}

/* FETCH-like: open the range, announce its length, stream it. */
static void stream_range(struct ioloop *ioloop, uint64_t offset,
			 uint64_t length, uint64_t expected, bool *failed_r,
			 const char *truncate_path)
{
	struct conn_settings set = { .name = "test" };
	struct stream_conn sc = { 0 };
	struct peer peer = { .ok = true, .offset = offset };
	int fds[2];

	*failed_r = false;
	socketpair_nb(fds);
	peer.fd = fds[1];
	peer.head = str_new(system_pool, 64);
	sc.conn = conn_create(fds[0], &set, &stream_conn_vfuncs, &sc);

	struct open_wait ow = { false };
	struct blob_get *get = blob_get_begin(big_store, "big/obj", offset,
					      length);
	blob_get_set_callback(get, open_wait_ready, &ow);
	test_assert(test_blob_run_until(ioloop, &ow.opened));
	test_assert(blob_get_info(get) != NULL);
	uint64_t len = blob_get_get_length(get);
	test_assert(len == expected);
	peer.body_len = len;
	conn_printf(sc.conn, "* 1 FETCH (BODY[] {%"PRIu64"}\r\n", len);
	conn_send_stream(sc.conn, blob_get_stream_source(&get, sc.conn));
	test_assert(get == NULL);
	if (truncate_path != NULL) {
		/* the storage loses the object's tail while it is sent */
		if (truncate(truncate_path, (off_t)(offset + len / 2)) < 0)
			i_fatal("truncate(%s) failed: %m", truncate_path);
	}

	uint64_t end = ioloop_msecs_monotonic() + TEST_BLOB_TIMEOUT_MSECS;
	size_t max_alloc = 0;
	while (ioloop_msecs_monotonic() < end) {
		ioloop_run_once(ioloop, 1);
		peer_read(&peer);
		size_t alloc = conn_get_buffer_alloc_size(sc.conn);
		max_alloc = I_MAX(max_alloc, alloc);
		if (sc.reason != NULL || (sc.finished && peer.tail_len >= 3))
			break;
	}
	if (truncate_path == NULL) {
		test_assert(sc.reason == NULL);
		test_assert(sc.finished);
		test_assert(peer.ok && peer.body_pos == len);
		test_assert(peer.tail_len == 3 &&
			    memcmp(peer.tail, ")\r\n", 3) == 0);
		test_assert_strcmp(str_c(peer.head), t_strdup_printf(
			"* 1 FETCH (BODY[] {%"PRIu64"}\r\n", len));
		/* the conn never buffered more than its chunks */
		test_assert(max_alloc <= 256 * 1024);
	} else {
		*failed_r = sc.reason != NULL;
		test_assert(sc.reason != NULL &&
			    strstr(sc.reason, "Stream source failed") != NULL &&
			    strstr(sc.reason, "ended at") != NULL);
		test_assert(!sc.finished);
		test_assert(peer.body_pos < len);
	}
	conn_destroy(&sc.conn);
	close(fds[1]);
	str_free(&peer.head);
	i_free(sc.reason);
}

static char *found_path;

static int find_obj_cb(const char *path, const struct stat *st ATTR_UNUSED,
		       int flag, struct FTW *ftw ATTR_UNUSED)
{
	if (flag == FTW_F && str_ends_with(path, "/big%obj")) {
		found_path = i_strdup(path);
		return 1;
	}
	return 0;
}

static void test_stream_conn_source(void)
{
	struct ioloop *ioloop = big_ioloop;
	bool failed;

	test_begin("blob stream: conn stream source (FETCH BODY[])");
	if (big_store == NULL) {
		test_fail("needs the 50 MB object");
		ioloop_destroy(&big_ioloop);
		test_end();
		return;
	}
	stream_range(ioloop, 0, UINT64_MAX, BIG_SIZE, &failed, NULL);
	stream_range(ioloop, 1000, 100000, 100000, &failed, NULL);
	stream_range(ioloop, BIG_SIZE - 10, 100, 10, &failed, NULL);
	stream_range(ioloop, BIG_SIZE, 100, 0, &failed, NULL);

	/* a storage failure in the middle disconnects the client: the
	   size was promised */
	(void)nftw(big_dir, find_obj_cb, 16, FTW_PHYS);
	test_assert(found_path != NULL);
	if (found_path != NULL)
		stream_range(ioloop, 0, UINT64_MAX, BIG_SIZE, &failed,
			     found_path);
	i_free(found_path);
	blob_store_destroy(&big_store);
	i_free(big_dir);
	test_assert(conn_get_count() == 0);
	ioloop_destroy(&big_ioloop);
	test_end();
}

test_func_t *const test_blob_stream_tests[] = {
	test_stream_big_put_get,
	test_stream_conn_source,
	NULL
};
