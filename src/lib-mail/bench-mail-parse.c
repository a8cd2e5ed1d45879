/* Parse throughput over a mail corpus (default: the shared SpamAssassin
   corpus). Messages are loaded into memory first, so the figures are the
   parser's alone: parse only, and parse + ENVELOPE + BODYSTRUCTURE.
     bench-mail-parse [-n rounds] [-c chunk_size] [path...] */
#include "lib.h"
#include "mail-corpus.h"
#include "message-parser.h"
#include "imap-bodystructure.h"
#include "imap-envelope.h"

#include <time.h>

struct bench_msg {
	unsigned char *data;
	size_t size;
};

static ARRAY(struct bench_msg) msgs;
static uint64_t total_bytes;

static void bench_load(const char *name ATTR_UNUSED, const unsigned char *data,
		       size_t size, void *context ATTR_UNUSED)
{
	struct bench_msg msg;

	msg.data = i_malloc(size + 1);
	memcpy(msg.data, data, size);
	msg.size = size;
	array_push(&msgs, msg);
	total_bytes += size;
}

/* CPU time of this process, not wall time: the figures should not
   depend on what else the machine is running */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double bench_round(size_t chunk, bool imap_output)
{
	pool_t pool = pool_alloconly_create("bench", 16384);
	string_t *str = str_new(system_pool, 4096);
	double start = now();
	struct bench_msg *msg;

	array_foreach(&msgs, msg) {
		struct message_parser *parser =
			message_parser_init(pool, NULL, NULL, NULL);
		size_t step = chunk == 0 ? msg->size : chunk;

		for (size_t pos = 0; pos < msg->size; pos += step)
			message_parser_feed(parser, msg->data + pos,
					    I_MIN(step, msg->size - pos));
		struct message_part *root = message_parser_finish(&parser);
		if (imap_output) {
			str_truncate(str, 0);
			imap_envelope_write_part(root, str);
			imap_bodystructure_write(root, str, true);
		}
		pool_clear(pool);
	}
	double secs = now() - start;
	str_free(&str);
	pool_unref(&pool);
	return secs;
}

int main(int argc, char *argv[])
{
	unsigned int rounds = 5;
	size_t chunk = 0;
	int i = 1, count = 0;
	const char *error;

	array_init(&msgs, system_pool, 8192);
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			i_fatal("usage: %s [-n rounds] [-c chunk] [path...]",
				argv[0]);
		if (strcmp(argv[i], "-n") == 0)
			rounds = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "-c") == 0)
			chunk = atoi(argv[i + 1]);
	}
	T_BEGIN {
		if (i == argc) {
			count = mail_corpus_foreach(MAIL_CORPUS_DIR, bench_load,
						    NULL, &error);
		}
		for (; i < argc && count >= 0; i++) {
			int ret = mail_corpus_foreach(argv[i], bench_load, NULL,
						      &error);
			count = ret < 0 ? -1 : count + ret;
		}
		if (count < 0)
			i_fatal("corpus: %s", error);
	} T_END;
	printf("%u messages, %.1f MB, %u rounds, %s\n", msgs.count,
	       total_bytes / 1e6, rounds,
	       chunk == 0 ? "whole messages" :
	       t_strdup_printf("%zu-byte pieces", chunk));

	for (unsigned int pass = 0; pass < 2; pass++) {
		double best = 1e9;

		for (unsigned int r = 0; r < rounds; r++) {
			double secs = bench_round(chunk, pass == 1);
			if (secs < best)
				best = secs;
		}
		printf("%-40s %8.1f MB/s  %8.0f msgs/s (CPU time)\n",
		       pass == 0 ? "parse (tree, Content-*, envelope)" :
		       "parse + ENVELOPE + BODYSTRUCTURE",
		       total_bytes / 1e6 / best, msgs.count / best);
	}
	struct bench_msg *msg;
	array_foreach(&msgs, msg)
		free(msg->data);
	array_free(&msgs);
	return 0;
}
