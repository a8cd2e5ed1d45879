/* Tests for smtp-dot.c: every input split at every point decodes the same,
   stuffed dots are removed, the end line is found exactly once and what
   follows it is left for the next command. */
#include "test-lib-smtp.h"
#include "smtp-dot.h"

static const struct {
	const char *input;
	const char *output;
	/* bytes of input consumed up to and including the end line, or
	   strlen(input) if the end is not there */
	size_t consumed;
	bool end;
	/* lengths for inputs holding a NUL (0 = strlen) */
	size_t inlen, outlen;
} cases[] = {
	{ ".\r\n", "", 3, true, 0, 0 },
	{ "a\r\n.\r\nQUIT\r\n", "a\r\n", 6, true, 0, 0 },
	{ "..\r\n.\r\n", ".\r\n", 7, true, 0, 0 },
	{ "..x\r\n...\r\n.\r\n", ".x\r\n..\r\n", 13, true, 0, 0 },
	{ "a.\r\n.b\r\n.\r\n", "a.\r\nb\r\n", 11, true, 0, 0 },
	{ "line\nbare\n.\n", "line\nbare\n", 12, true, 0, 0 },
	{ ".\rx\r\n.\r\n", "\rx\r\n", 8, true, 0, 0 },
	{ "x\r\n.\r", "x\r\n", 5, false, 0, 0 },
	{ "no end", "no end", 6, false, 0, 0 },
	{ "\r\n\r\n.\r\n", "\r\n\r\n", 7, true, 0, 0 },
	{ "x\r.\r\n.\r\n", "x\r.\r\n", 8, true, 0, 0 },
	{ "8bit \xe4\xf6\x00\xff\r\n.\r\n", "8bit \xe4\xf6\x00\xff\r\n", 14, true, 14, 11 },
};

static void test_smtp_dot_splits(void)
{
	test_begin("smtp DATA dot decoding at every split");
	for (unsigned int c = 0; c < N_ELEMENTS(cases); c++) {
		size_t len = cases[c].inlen != 0 ? cases[c].inlen :
			strlen(cases[c].input);
		size_t outlen = cases[c].outlen != 0 ? cases[c].outlen :
			strlen(cases[c].output);
		if (cases[c].end)
			test_assert_idx(cases[c].consumed <= len, c);
		for (size_t split = 0; split <= len; split++) {
			struct smtp_dot_decoder dec;
			buffer_t *out = buffer_create(system_pool, 64);
			bool end;
			size_t used;

			smtp_dot_decoder_init(&dec);
			used = smtp_dot_decode(&dec,
				(const unsigned char *)cases[c].input, split,
				out, &end);
			if (!end && split < len) {
				used += smtp_dot_decode(&dec,
					(const unsigned char *)cases[c].input + split,
					len - split, out, &end);
			}
			test_assert_idx(end == cases[c].end, c * 100 + split);
			test_assert_idx(used == cases[c].consumed, c * 100 + split);
			test_assert_idx(buffer_used(out) == outlen &&
					memcmp(buffer_data(out), cases[c].output,
					       outlen) == 0, c * 100 + split);
			buffer_free(&out);
		}
	}
	test_end();
}

static void test_smtp_dot_bytewise(void)
{
	test_begin("smtp DATA dot decoding one byte at a time");
	const char *in = "Subject: x\r\n\r\n..hidden\r\n.\r\n";
	struct smtp_dot_decoder dec;
	buffer_t *out = buffer_create(system_pool, 64);
	bool end = false;
	size_t i;

	smtp_dot_decoder_init(&dec);
	for (i = 0; i < strlen(in) && !end; i++) {
		test_assert(smtp_dot_decode(&dec, (const unsigned char *)in + i,
					    1, out, &end) == 1);
	}
	test_assert(end && i == strlen(in));
	test_assert(buffer_used(out) == 23 &&
		    memcmp(buffer_data(out), "Subject: x\r\n\r\n.hidden\r\n", 23) == 0);
	/* after the end nothing more is consumed */
	test_assert(smtp_dot_decode(&dec, (const unsigned char *)"x", 1, out,
				    &end) == 0 && end);
	buffer_free(&out);
	test_end();
}

test_func_t *const test_smtp_dot_tests[] = {
	test_smtp_dot_splits,
	test_smtp_dot_bytewise,
	NULL
};
