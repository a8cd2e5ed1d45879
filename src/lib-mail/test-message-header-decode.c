#include "test-lib-mail.h"
#include "message-header-decode.h"
#include "charset-utf8.h"

static const char *decode(const char *input)
{
	string_t *str = t_str_new(64);

	message_header_decode_utf8(input, strlen(input), str);
	return str_c(str);
}

static void test_rfc2047_examples(void)
{
	test_begin("RFC 2047 section 8 examples");
	test_assert_strcmp(decode("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>"),
			   "Keith Moore <moore@cs.utk.edu>");
	test_assert_strcmp(decode("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>"),
			   "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>");
	test_assert_strcmp(decode("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>"),
			   "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
	/* the Subject, unfolded */
	test_assert_strcmp(decode("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= "
				  "=?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="),
			   "If you can read this you understand the example.");
	test_assert_strcmp(decode("=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>"),
			   "Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>");
	test_assert_strcmp(decode("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>"),
			   "Patrik F\xc3\xa4ltstr\xc3\xb6m <paf@nada.kth.se>");
	test_assert_strcmp(decode("Nathaniel Borenstein <nsb@thumper.bellcore.com> "
				  "(=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)"),
			   "Nathaniel Borenstein <nsb@thumper.bellcore.com> ("
			   "\xd7\x9d\xd7\x95\xd7\x9c\xd7\xa9 \xd7\x9f\xd7\x91 "
			   "\xd7\x99\xd7\x9c\xd7\x98\xd7\xa4\xd7\xa0)");
	/* the "encoded form / displayed as" table */
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?=)"), "(a)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?= b)"), "(a b)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(ab)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)"), "(ab)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)"), "(ab)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a_b?=)"), "(a b)");
	test_assert_strcmp(decode("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)"), "(a b)");
	test_end();
}

static void test_rfc2047_broken(void)
{
	test_begin("RFC 2047 broken encoded words");
	/* not encoded words: kept */
	test_assert_strcmp(decode("=?utf-8?Q?unterminated"), "=?utf-8?Q?unterminated");
	test_assert_strcmp(decode("=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
	test_assert_strcmp(decode("=??Q?abc?="), "=??Q?abc?=");
	test_assert_strcmp(decode("a =? b ?= c"), "a =? b ?= c");
	test_assert_strcmp(decode("x=?"), "x=?");
	/* text between a broken and a good word is kept */
	test_assert_strcmp(decode("=?utf-8?X?a?= =?utf-8?Q?b?="), "=?utf-8?X?a?= b");
	/* a character split over two words */
	test_assert_strcmp(decode("=?utf-8?B?4oI=?= =?utf-8?B?rA==?="), "\xe2\x82\xac");
	/* RFC 2231 language suffix */
	test_assert_strcmp(decode("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
	/* unknown charset, bad bytes */
	test_assert_strcmp(decode("=?x-unknown?Q?abc=FF?="),
			   "abc" UNICODE_REPLACEMENT_CHAR_UTF8);
	test_assert_strcmp(decode("caf\xe9 \xc3\xa9"),
			   "caf" UNICODE_REPLACEMENT_CHAR_UTF8 " \xc3\xa9");
	/* bad base64 inside: what decoded is kept */
	test_assert_strcmp(decode("=?utf-8?B?SGk*?="), "Hi");
	/* whitespace inside Q text (broken but common) */
	test_assert_strcmp(decode("=?utf-8?Q?a b?= c"), "a b c");
	test_assert_strcmp(decode("pre=?utf-8?Q?fix?=post"), "prefixpost");
	test_assert_strcmp(decode(""), "");
	test_end();
}

test_func_t *const test_message_header_decode_tests[] = {
	test_rfc2047_examples,
	test_rfc2047_broken,
	NULL
};
