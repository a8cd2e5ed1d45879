/* Tests for modified UTF-7 and the UTF-8 check. */
#include "test-lib-imap.h"
#include "imap-utf7.h"

static void test_roundtrip(const char *utf8, const char *utf7)
{
	string_t *str = t_str_new(64);

	test_assert(imap_utf8_to_utf7(utf8, str) == 0);
	test_assert_strcmp(str_c(str), utf7);
	str_truncate(str, 0);
	test_assert(imap_utf7_to_utf8(utf7, str) == 0);
	test_assert_strcmp(str_c(str), utf8);
	test_assert(imap_utf7_is_valid(utf7));
}

static void test_imap_utf7_valid(void)
{
	test_begin("imap mutf7 round trips");
	test_roundtrip("INBOX", "INBOX");
	test_roundtrip("", "");
	test_roundtrip("a&b", "a&-b");
	test_roundtrip("&", "&-");
	/* RFC 3501 §5.1.3's example */
	test_roundtrip("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		       "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	test_roundtrip("K\xc3\xa4se", "K&AOQ-se");
	test_roundtrip("\xc3\xa4\xc3\xb6\xc3\xbc", "&AOQA9gD8-");
	/* outside the BMP: a surrogate pair */
	test_roundtrip("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");
	/* control characters are encoded too */
	test_roundtrip("a\tb", "a&AAk-b");
	test_end();
}

static void test_imap_utf7_invalid(void)
{
	static const char *const invalid[] = {
		"&", "&A", "&AOQ", "&AOQ-&AOQ-", "&AGE-", "&-&", "\x80",
		"a\tb", "&ZeVnLIqe", "&AOQ=-", "&AOR-", "&2D0-", "&3efYPQ-",
		"&2D3YPQ-", "&AOQ!-", "&ZeVnLIq-",
	};
	string_t *str = t_str_new(64);

	test_begin("imap mutf7 strict validation");
	for (unsigned int i = 0; i < N_ELEMENTS(invalid); i++) {
		str_truncate(str, 0);
		test_assert_idx(imap_utf7_to_utf8(invalid[i], str) < 0, i);
		test_assert_idx(!imap_utf7_is_valid(invalid[i]), i);
	}
	/* invalid UTF-8 cannot be encoded */
	test_assert(imap_utf8_to_utf7("\xc3", str) < 0);
	test_assert(imap_utf8_to_utf7("\xed\xa0\x80", str) < 0);
	test_end();
}

static void test_imap_utf8_valid(void)
{
	test_begin("imap utf8 validation");
	test_assert(imap_utf8_is_valid("abc", 3));
	test_assert(imap_utf8_is_valid("\xc3\xa4", 2));
	test_assert(imap_utf8_is_valid("\xe2\x82\xac", 3));
	test_assert(imap_utf8_is_valid("\xf4\x8f\xbf\xbf", 4));
	test_assert(!imap_utf8_is_valid("\xf4\x90\x80\x80", 4));
	test_assert(!imap_utf8_is_valid("\xc0\x80", 2));
	test_assert(!imap_utf8_is_valid("\xe0\x80\x80", 3));
	test_assert(!imap_utf8_is_valid("\xf0\x80\x80\x80", 4));
	test_assert(!imap_utf8_is_valid("\xed\xa0\x80", 3));
	test_assert(!imap_utf8_is_valid("\xc3", 1));
	test_assert(!imap_utf8_is_valid("\xc3\x41", 2));
	test_assert(!imap_utf8_is_valid("\xff", 1));
	test_end();
}

test_func_t *const test_imap_utf7_tests[] = {
	test_imap_utf7_valid,
	test_imap_utf7_invalid,
	test_imap_utf8_valid,
	NULL
};
