/* Put throughput of the posix blob store: 4 KiB objects, durable (fsync)
   or not, one at a time (sync and async) and with 16 in flight. Usage:
     bench-blob DIR [COUNT]
   DIR must be on the filesystem to measure (not tmpfs: fsync is free
   there); each run uses a fresh directory below it. */
#include "lib.h"
#include "ioloop.h"
#include "blob.h"

#include <sys/stat.h>

#define BENCH_OBJECT_SIZE 4096

struct bench {
	struct blob_store *store;
	unsigned int count, started, done, in_flight, max_in_flight;
	unsigned int failed;
	unsigned char data[BENCH_OBJECT_SIZE];
};

static void bench_start(struct bench *b);

static void bench_done(const struct blob_result *result, void *context)
{
	struct bench *b = context;

	if (result->error != BLOB_ERROR_NONE) {
		i_error("put failed: %s", result->internal_error);
		b->failed++;
	}
	b->done++;
	b->in_flight--;
	while (b->in_flight < b->max_in_flight && b->started < b->count)
		bench_start(b);
	if (b->done == b->count)
		ioloop_stop(current_ioloop);
}

static void bench_start(struct bench *b)
{
	const char *key = t_strdup_printf("user%u/obj%u", b->started % 50,
					  b->started);
	b->started++;
	b->in_flight++;
	b->data[b->started % BENCH_OBJECT_SIZE]++;
	(void)blob_put_data(b->store, key, b->data, sizeof(b->data), NULL, 0,
			    0, bench_done, b);
}

static double bench_run(const char *base, const char *options,
			unsigned int count, unsigned int in_flight)
{
	static unsigned int run;
	const char *dir = t_strdup_printf("%s/bench.%ld.%u", base,
					  (long)getpid(), ++run);
	const char *error;
	struct bench b;

	memset(&b, 0, sizeof(b));
	if (blob_store_create(t_strdup_printf("posix:%s%s%s", options,
					      *options == '\0' ? "" : ":", dir),
			      NULL, &b.store, &error) < 0)
		i_fatal("%s", error);
	b.count = count;
	b.max_in_flight = in_flight;
	uint64_t start = ioloop_msecs_monotonic();
	if (in_flight == 0) {
		/* synchronous: the caller waits for each put */
		struct blob_result result;
		for (unsigned int i = 0; i < count; i++) T_BEGIN {
			b.data[i % BENCH_OBJECT_SIZE]++;
			if (blob_put_data_sync(b.store, t_strdup_printf(
				"user%u/obj%u", i % 50, i), b.data,
				sizeof(b.data), NULL, 0, 0, &result) < 0)
				i_fatal("put: %s", result.internal_error);
		} T_END;
	} else {
		while (b.in_flight < b.max_in_flight && b.started < b.count)
			bench_start(&b);
		ioloop_run(current_ioloop);
	}
	uint64_t msecs = ioloop_msecs_monotonic() - start;
	blob_store_destroy(&b.store);
	if (b.failed > 0)
		i_fatal("%u puts failed", b.failed);
	return msecs == 0 ? 0 : count * 1000.0 / (double)msecs;
}

int main(int argc, char *argv[])
{
	unsigned int count = 2000;

	if (argc < 2) {
		fprintf(stderr, "Usage: %s DIR [COUNT]\n", argv[0]);
		return 1;
	}
	if (argc > 2 && str_to_uint(argv[2], &count) < 0)
		i_fatal("bad count");
	struct ioloop *ioloop = ioloop_create();
	static const struct {
		const char *label, *options;
		unsigned int in_flight;
	} runs[] = {
		{ "fsync, sync API, sequential", "", 0 },
		{ "fsync, async, 1 in flight", "", 1 },
		{ "fsync, async, 16 in flight (8 workers)", "", 16 },
		{ "fsync, async, 16 in flight (16 workers)", "workers=16", 16 },
		{ "fsync, async, 64 in flight (32 workers)", "workers=32", 64 },
		{ "no fsync, sync API, sequential", "fsync=no", 0 },
		{ "no fsync, async, 1 in flight", "fsync=no", 1 },
		{ "no fsync, async, 16 in flight", "fsync=no", 16 },
	};
	printf("%u puts of %d bytes each, in %s\n", count, BENCH_OBJECT_SIZE,
	       argv[1]);
	for (unsigned int i = 0; i < N_ELEMENTS(runs); i++) T_BEGIN {
		double rate = bench_run(argv[1], runs[i].options, count,
					runs[i].in_flight);
		printf("  %-42s %8.0f puts/s\n", runs[i].label, rate);
		fflush(stdout);
	} T_END;
	ioloop_destroy(&ioloop);
	return 0;
}
