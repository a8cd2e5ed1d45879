/* Tests for pop3-stuff.c: dot-stuffing and TOP cuts give the same output
   for every split of the input, and stop taking input at the limit. */
#include "test-lib-pop3.h"
#include "pop3-stuff.h"

static const struct {
	const char *input;
	bool top;
	uint32_t lines;
	const char *output;
} cases[] = {
	{ "a\r\n", false, 0, "a\r\n.\r\n" },
	{ "", false, 0, ".\r\n" },
	{ ".\r\n", false, 0, "..\r\n.\r\n" },
	{ "H: v\r\n\r\n.\r\n..x\r\nend", false, 0,
	  "H: v\r\n\r\n..\r\n...x\r\nend\r\n.\r\n" },
	{ "a.\r\n.b\r\n", false, 0, "a.\r\n..b\r\n.\r\n" },
	{ "bare\n.lf\n", false, 0, "bare\n..lf\n.\r\n" },
	{ "x\r.y\r\n", false, 0, "x\r.y\r\n.\r\n" },
	{ "8bit \xe4\xff\r\n", false, 0, "8bit \xe4\xff\r\n.\r\n" },
	{ ".a\n.\n\n..", false, 0, "..a\n..\n\n...\r\n.\r\n" },
	{ "\n.", false, 0, "\n..\r\n.\r\n" },
	/* TOP */
	{ "H: v\r\nI: w\r\n\r\nb1\r\nb2\r\nb3\r\n", true, 0,
	  "H: v\r\nI: w\r\n\r\n.\r\n" },
	{ "H: v\r\n\r\nb1\r\n.b2\r\nb3\r\n", true, 2,
	  "H: v\r\n\r\nb1\r\n..b2\r\n.\r\n" },
	{ "H: v\r\n\r\nb1\r\n", true, 10, "H: v\r\n\r\nb1\r\n.\r\n" },
	{ "H: v\r\n\r\nb1", true, 10, "H: v\r\n\r\nb1\r\n.\r\n" },
	{ "H: v\r\nno blank line\r\n", true, 0,
	  "H: v\r\nno blank line\r\n.\r\n" },
	{ "\r\nbody\r\nmore\r\n", true, 1, "\r\nbody\r\n.\r\n" },
	{ "H: v\n\nb1\nb2\n", true, 1, "H: v\n\nb1\n.\r\n" },
	/* a line of one space is not the end of the header */
	{ "H: v\r\n \r\nI: w\r\n\r\nb\r\n", true, 0,
	  "H: v\r\n \r\nI: w\r\n\r\n.\r\n" },
};

static void test_pop3_stuff_splits(void)
{
	test_begin("pop3 stuff splits");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		const unsigned char *in = (const unsigned char *)cases[i].input;
		size_t len = strlen(cases[i].input);
		for (size_t split = 0; split <= len; split++) {
			struct pop3_stuffer st;
			buffer_t *out = buffer_create(system_pool, 64);
			pop3_stuffer_init(&st, cases[i].top, cases[i].lines);
			size_t used = pop3_stuff(&st, in, split, out);
			if (!st.done)
				used += pop3_stuff(&st, in + split, len - split, out);
			pop3_stuff_finish(&st, out);
			test_assert_idx(buffer_used(out) == strlen(cases[i].output) &&
					memcmp(buffer_data(out), cases[i].output,
					       buffer_used(out)) == 0, i);
			test_assert_idx(used <= len, i);
			if (!cases[i].top)
				test_assert_idx(used == len, i);
			buffer_free(&out);
		}
	}
	test_end();
}

static void test_pop3_stuff_top_stops(void)
{
	struct pop3_stuffer st;
	const char *msg = "H: v\r\n\r\nb1\r\nb2\r\n";
	buffer_t *out = buffer_create(system_pool, 64);

	test_begin("pop3 stuff TOP stops taking input");
	pop3_stuffer_init(&st, true, 1);
	size_t used = pop3_stuff(&st, (const unsigned char *)msg, strlen(msg), out);
	test_assert(st.done && used == strlen("H: v\r\n\r\nb1\r\n"));
	test_assert(pop3_stuff(&st, (const unsigned char *)"x", 1, out) == 0);
	buffer_free(&out);
	test_end();
}

/* RETR's memchr() path against the byte-at-a-time one (TOP with no
   reachable limit) on random messages of dots, CRs and LFs, fed in
   random chunks. */
static void test_pop3_stuff_retr_matches_bytewise(void)
{
	static const char alphabet[] = "..\r\n\nab";
	unsigned int seed = 12345;

	test_begin("pop3 stuff RETR = byte-wise stuffing");
	for (unsigned int round = 0; round < 300; round++) {
		unsigned char msg[512];
		size_t len = (size_t)(rand_r(&seed) % sizeof(msg));
		for (size_t i = 0; i < len; i++)
			msg[i] = (unsigned char)alphabet[rand_r(&seed) %
						       (sizeof(alphabet) - 1)];
		buffer_t *fast = buffer_create(system_pool, 1024);
		buffer_t *slow = buffer_create(system_pool, 1024);
		struct pop3_stuffer st_fast, st_slow;
		pop3_stuffer_init(&st_fast, false, 0);
		pop3_stuffer_init(&st_slow, true, UINT32_MAX);
		size_t pos = 0;
		while (pos < len) {
			size_t n = 1 + (size_t)(rand_r(&seed) % 40);
			n = I_MIN(n, len - pos);
			test_assert_idx(pop3_stuff(&st_fast, msg + pos, n,
						   fast) == n, round);
			(void)pop3_stuff(&st_slow, msg + pos, n, slow);
			pos += n;
		}
		pop3_stuff_finish(&st_fast, fast);
		pop3_stuff_finish(&st_slow, slow);
		test_assert_idx(buffer_used(fast) == buffer_used(slow) &&
				memcmp(buffer_data(fast), buffer_data(slow),
				       buffer_used(fast)) == 0, round);
		buffer_free(&fast);
		buffer_free(&slow);
	}
	test_end();
}

test_func_t *const test_pop3_stuff_tests[] = {
	test_pop3_stuff_splits,
	test_pop3_stuff_top_stops,
	test_pop3_stuff_retr_matches_bytewise,
	NULL
};
