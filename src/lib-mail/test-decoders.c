#include "test-lib-mail.h"
#include "base64-decoder.h"
#include "qp-decoder.h"

static int b64(const char *input, enum base64_decoder_flags flags,
	       size_t chunk, string_t *dest)
{
	struct base64_decoder dec;
	size_t len = strlen(input);
	int ret = 0;

	base64_decoder_init(&dec, flags);
	if (chunk == 0)
		chunk = len == 0 ? 1 : len;
	for (size_t i = 0; i < len; i += chunk) {
		if (base64_decoder_more(&dec, input + i, I_MIN(chunk, len - i),
					dest) < 0)
			ret = -1;
	}
	if (base64_decoder_finish(&dec, dest) < 0)
		ret = -1;
	return ret;
}

static void test_base64(void)
{
	static const struct {
		const char *input, *output;
		int ret;
		enum base64_decoder_flags flags;
	} tests[] = {
		{ "SGVsbG8sIHdvcmxkIQ==", "Hello, world!", 0, 0 },
		{ "SGVs\r\nbG8s\r\n IHdv\tcmxk\nIQ==\r\n", "Hello, world!", 0, 0 },
		/* missing padding */
		{ "SGk", "Hi", 0, 0 },
		{ "SGVsbA", "Hell", 0, 0 },
		/* what follows the padding is ignored */
		{ "SGk=\r\nSGk=", "Hi", 0, 0 },
		{ "SGVsbG8=garbage!", "Hello", 0, 0 },
		/* invalid bytes: stop there, or skip them */
		{ "SGVs*bG8=", "Hel", -1, 0 },
		{ "SGVs*bG8=", "Hello", -1, BASE64_DECODER_FLAG_SKIP_INVALID },
		/* a lone sextet cannot make a byte */
		{ "SGVsb", "Hel", -1, 0 },
		{ "", "", 0, 0 },
		{ "=", "", 0, 0 },
		{ "4oKs", "\xe2\x82\xac", 0, 0 },
	};

	test_begin("base64 decoder");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		for (size_t chunk = 0; chunk <= 5; chunk++) {
			string_t *str = t_str_new(32);
			int ret = b64(tests[i].input, tests[i].flags, chunk, str);

			test_assert_idx(ret == tests[i].ret, i);
			test_assert_strcmp(str_c(str), tests[i].output);
		}
	}
	test_end();
}

static int qp(const char *input, size_t chunk, string_t *dest)
{
	struct qp_decoder *dec = qp_decoder_init();
	size_t len = strlen(input);
	int ret = 0;

	if (chunk == 0)
		chunk = len == 0 ? 1 : len;
	for (size_t i = 0; i < len; i += chunk) {
		if (qp_decoder_more(dec, input + i, I_MIN(chunk, len - i),
				    dest) < 0)
			ret = -1;
	}
	if (qp_decoder_finish(dec, dest) < 0)
		ret = -1;
	qp_decoder_deinit(&dec);
	test_assert(dec == NULL);
	return ret;
}

static void test_qp(void)
{
	static const struct {
		const char *input, *output;
		int ret;
	} tests[] = {
		{ "a=3Db", "a=b", 0 },
		{ "caf=C3=A9", "caf\xc3\xa9", 0 },
		{ "lower=c3=a9", "lower\xc3\xa9", 0 },
		/* soft line breaks, also with whitespace after the "=" */
		{ "foo=\r\nbar", "foobar", 0 },
		{ "foo=\nbar", "foobar", 0 },
		{ "foo= \t\r\nbar", "foobar", 0 },
		/* trailing whitespace is dropped, line ends become CRLF */
		{ "a  \r\nb\t\nc", "a\r\nb\r\nc", 0 },
		{ "a b\r\n", "a b\r\n", 0 },
		{ "end  ", "end", 0 },
		/* invalid escapes are kept as written */
		{ "x=ZZy", "x=ZZy", -1 },
		{ "x=4y", "x=4y", -1 },
		{ "x= y", "x= y", -1 },
		{ "x=", "x=", -1 },
		{ "lone\rcr", "lone\rcr", 0 },
		{ "=\r", "=\r", -1 },
	};

	test_begin("quoted-printable decoder");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		for (size_t chunk = 0; chunk <= 4; chunk++) {
			string_t *str = t_str_new(32);

			test_assert_idx(qp(tests[i].input, chunk, str) ==
					tests[i].ret, i);
			test_assert_strcmp(str_c(str), tests[i].output);
		}
	}
	test_end();
}

static void test_qp_q(void)
{
	string_t *str = t_str_new(32);

	test_begin("quoted-printable Q encoding");
	test_assert(qp_decode_q("a_b=3F=e9", 9, str) == 0);
	test_assert_strcmp(str_c(str), "a b?\xe9");
	str_truncate(str, 0);
	test_assert(qp_decode_q("bad=Z=", 6, str) < 0);
	test_assert_strcmp(str_c(str), "bad=Z=");
	test_end();
}

test_func_t *const test_decoders_tests[] = {
	test_base64,
	test_qp,
	test_qp_q,
	NULL
};
