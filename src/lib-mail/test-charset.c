#include "test-lib-mail.h"
#include "charset-utf8.h"

static const char *conv(const char *charset, const char *input, bool *ok_r)
{
	string_t *str = t_str_new(64);

	*ok_r = charset_to_utf8_str(charset, input, strlen(input), str);
	return str_c(str);
}

static void test_charset_basic(void)
{
	bool ok;

	test_begin("charset: iconv, aliases");
	test_assert_strcmp(conv("ISO-8859-1", "caf\xe9", &ok), "caf\xc3\xa9");
	test_assert(ok);
	/* iso-8859-1 decodes as windows-1252 (WHATWG): 0x80 is the euro */
	test_assert_strcmp(conv("iso-8859-1", "\x80", &ok), "\xe2\x82\xac");
	test_assert_strcmp(conv(" \"Latin1\" ", "\xe9", &ok), "\xc3\xa9");
	test_assert_strcmp(conv("ks_c_5601-1987", "\xc7\xd1", &ok),
			   "\xed\x95\x9c");
	test_assert_strcmp(conv("x-sjis", "\x82\xa0", &ok), "\xe3\x81\x82");
	test_assert_strcmp(conv("iso-8859-8-i", "\xf9", &ok), "\xd7\xa9");
	/* stateful: ISO-2022-JP */
	test_assert_strcmp(conv("ISO-2022-JP", "\x1b$B$3$s\x1b(B", &ok),
			   "\xe3\x81\x93\xe3\x82\x93");
	test_assert(ok);
	test_assert(charset_is_utf8("UTF8"));
	test_assert(charset_is_utf8("us-ascii"));
	test_assert(!charset_is_utf8("iso-8859-2"));
	test_end();
}

static void test_charset_invalid(void)
{
	bool ok;

	test_begin("charset: invalid input replaced");
	test_assert_strcmp(conv("utf-8", "a\xff" "b", &ok),
			   "a" UNICODE_REPLACEMENT_CHAR_UTF8 "b");
	test_assert(!ok);
	/* overlong and surrogate encodings are invalid */
	test_assert_strcmp(conv("utf-8", "\xc0\xaf", &ok),
			   UNICODE_REPLACEMENT_CHAR_UTF8
			   UNICODE_REPLACEMENT_CHAR_UTF8);
	test_assert(strstr(conv("utf-8", "\xed\xa0\x80", &ok), "\xed\xa0") ==
		    NULL);
	test_assert(!ok);
	/* truncated at the end */
	test_assert_strcmp(conv("utf-8", "x\xe2\x82", &ok),
			   "x" UNICODE_REPLACEMENT_CHAR_UTF8);
	/* invalid multibyte in an iconv charset */
	test_assert_strcmp(conv("shift_jis", "a\x82 b", &ok),
			   "a" UNICODE_REPLACEMENT_CHAR_UTF8 " b");
	test_assert(!ok);
	/* us-ascii labelled 8-bit is taken as UTF-8 */
	test_assert_strcmp(conv("us-ascii", "\xc3\xa9", &ok), "\xc3\xa9");
	test_assert(ok);
	test_end();
}

static void test_charset_unknown(void)
{
	struct charset_translation *t;
	string_t *str = t_str_new(64);
	bool unknown, ok;

	test_begin("charset: unknown charset falls back to UTF-8");
	t = charset_to_utf8_begin("x-no-such-charset", &unknown);
	test_assert(unknown);
	test_assert(charset_to_utf8_more(t, "ok \xc3\xa9", 5, str));
	test_assert(!charset_to_utf8_more(t, "\xff", 1, str));
	test_assert(charset_to_utf8_finish(t, str));
	charset_to_utf8_end(&t);
	test_assert(t == NULL);
	test_assert_strcmp(str_c(str),
			   "ok \xc3\xa9" UNICODE_REPLACEMENT_CHAR_UTF8);
	test_assert_strcmp(conv("x-unknown", "abc", &ok), "abc");
	test_assert(!ok);
	test_end();
}

static void test_charset_split(void)
{
	static const struct {
		const char *charset, *input, *output;
	} tests[] = {
		{ "utf-8", "\xe2\x82\xac\xf0\x9f\x98\x80x", "\xe2\x82\xac\xf0\x9f\x98\x80x" },
		{ "shift_jis", "\x82\xa0\x82\xa2", "\xe3\x81\x82\xe3\x81\x84" },
		{ "gb2312", "\xc4\xe3\xba\xc3", "\xe4\xbd\xa0\xe5\xa5\xbd" },
		{ "ISO-2022-JP", "\x1b$B$3$s\x1b(Bx", "\xe3\x81\x93\xe3\x82\x93x" },
		{ "utf-16le", "a\0b\0", "ab" },
	};

	test_begin("charset: sequences split between pieces");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		size_t len = tests[i].charset[4] == '1' ? 4 :
			strlen(tests[i].input);
		string_t *str = t_str_new(64);
		struct charset_translation *t =
			charset_to_utf8_begin(tests[i].charset, NULL);

		for (size_t j = 0; j < len; j++) {
			test_assert_idx(charset_to_utf8_more(t,
				tests[i].input + j, 1, str), i);
		}
		test_assert_idx(charset_to_utf8_finish(t, str), i);
		test_assert_strcmp(str_c(str), tests[i].output);
		/* reusable after finish */
		str_truncate(str, 0);
		test_assert(charset_to_utf8_more(t, tests[i].input, len, str));
		(void)charset_to_utf8_finish(t, str);
		test_assert_strcmp(str_c(str), tests[i].output);
		charset_to_utf8_end(&t);
	}
	test_end();
}

test_func_t *const test_charset_tests[] = {
	test_charset_basic,
	test_charset_invalid,
	test_charset_unknown,
	test_charset_split,
	NULL
};
