#include "test-lib.h"
#include "ioloop.h"
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

struct tctx {
	struct ioloop *ioloop;
	int count;
	uint64_t start;
	uint64_t fired_at[3];
	struct timeout *to;
	struct io *io;
	int fd;
	char buf[64];
	size_t buf_len;
};

static void timeout_cb(void *context)
{
	struct tctx *ctx = context;
	ctx->fired_at[ctx->count++] = ioloop_msecs_monotonic() - ctx->start;
	if (ctx->count == 3) {
		timeout_remove(&ctx->to);
		ioloop_stop(ctx->ioloop);
	}
}

static void test_ioloop_timeout(void)
{
	test_begin("ioloop repeating timeout");
	struct tctx ctx = { .ioloop = ioloop_create() };
	ctx.start = ioloop_msecs_monotonic();
	ctx.to = timeout_add(20, timeout_cb, &ctx);
	ioloop_run(ctx.ioloop);
	test_assert(ctx.count == 3);
	test_assert(ctx.fired_at[0] >= 20 && ctx.fired_at[2] >= 60);
	test_assert(ctx.fired_at[2] < 1000);
	ioloop_destroy(&ctx.ioloop);
	test_end();
}

static void order_cb(void *context)
{
	int *order = context;
	static int seq;
	if (*order == 0)
		*order = ++seq;
}

static void stop_cb(void *context)
{
	ioloop_stop(context);
}

static void test_ioloop_timeout_order(void)
{
	test_begin("ioloop timeouts fire in expiry order");
	struct ioloop *ioloop = ioloop_create();
	int order[50] = { 0 };
	struct timeout *tos[50];
	/* expiry times out of insertion order */
	for (int i = 0; i < 50; i++)
		tos[i] = timeout_add((unsigned int)((i * 7) % 50), order_cb, &order[i]);
	struct timeout *stop = timeout_add(80, stop_cb, ioloop);
	/* remove every fifth before it fires */
	for (int i = 0; i < 50; i += 5)
		timeout_remove(&tos[i]);
	ioloop_run(ioloop);
	bool ok = true;
	for (int i = 0; i < 50; i++) {
		if (i % 5 == 0) {
			if (order[i] != 0)
				ok = false;
			continue;
		}
		for (int j = 0; j < 50; j++) {
			if (j % 5 == 0 || order[i] == 0 || order[j] == 0)
				continue;
			/* each fires at least once; the first firing keeps the
			   order of their intervals */
			if ((i * 7) % 50 + 2 < (j * 7) % 50 && order[i] > order[j])
				ok = false;
		}
	}
	test_assert(ok);
	for (int i = 0; i < 50; i++)
		timeout_remove(&tos[i]);
	timeout_remove(&stop);
	ioloop_destroy(&ioloop);
	test_end();
}

static void read_cb(void *context)
{
	struct tctx *ctx = context;
	ssize_t ret = read(ctx->fd, ctx->buf + ctx->buf_len,
			   sizeof(ctx->buf) - ctx->buf_len);
	if (ret <= 0) {
		io_remove(&ctx->io);
		ioloop_stop(ctx->ioloop);
		return;
	}
	ctx->buf_len += (size_t)ret;
}

static void test_ioloop_io(void)
{
	test_begin("ioloop fd read and EOF");
	int fds[2];
	test_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	struct tctx ctx = { .ioloop = ioloop_create(), .fd = fds[0] };
	ctx.io = io_add(fds[0], IO_READ, read_cb, &ctx);
	test_assert(write(fds[1], "hello", 5) == 5);
	ioloop_run_once(ctx.ioloop, 1000);
	test_assert(ctx.buf_len == 5);
	close(fds[1]);
	ioloop_run(ctx.ioloop);
	test_assert(ctx.io == NULL);
	test_assert(ioloop_io_count(ctx.ioloop) == 0);
	close(fds[0]);
	ioloop_destroy(&ctx.ioloop);
	test_end();
}

static void sig_cb(int signo, void *context)
{
	struct tctx *ctx = context;
	if (signo == SIGUSR1)
		ctx->count++;
	ioloop_stop(ctx->ioloop);
}

static void child_cb(pid_t pid ATTR_UNUSED, int status, void *context)
{
	struct tctx *ctx = context;
	ctx->count = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	ioloop_stop(ctx->ioloop);
}

static void test_ioloop_signals_children(void)
{
	test_begin("ioloop signals and child exits");
	struct tctx ctx = { .ioloop = ioloop_create() };
	struct signal_watch *sw = signal_add(SIGUSR1, sig_cb, &ctx);
	kill(getpid(), SIGUSR1);
	ioloop_run(ctx.ioloop);
	test_assert(ctx.count == 1);
	signal_remove(&sw);

	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	struct child_watch *cw = child_watch_add(pid, child_cb, &ctx);
	ioloop_run(ctx.ioloop);
	test_assert(ctx.count == 7);
	child_watch_remove(&cw);
	ioloop_destroy(&ctx.ioloop);
	test_end();
}

test_func_t *const test_ioloop_tests[] = {
	test_ioloop_timeout, test_ioloop_timeout_order, test_ioloop_io,
	test_ioloop_signals_children, NULL
};
