/* Tests for sequence sets, dates, flag lists and string writing. */
#include "test-lib-imap.h"
#include "imap-seqset.h"
#include "imap-date.h"
#include "imap-flags.h"
#include "imap-string.h"
#include "imap-parser.h"

static const char *seqset(const char *str, uint32_t star)
{
	ARRAY_TYPE(seq_range) arr;
	const char *error;
	string_t *out = t_str_new(32);

	array_init(&arr, pool_datastack, 4);
	if (imap_seq_set_parse(str, star, &arr, &error) < 0)
		return NULL;
	seq_range_write(out, &arr);
	return str_c(out);
}

static void test_imap_seqset(void)
{
	static const char *const invalid[] = {
		"", "0", "1:0", "01", "1,", ",1", "1::2", "a", "1:*:2",
		"4294967296", "99999999999", "1 2", "-1", "$", "*1",
	};
	const char *error;
	ARRAY_TYPE(seq_range) arr;

	test_begin("imap sequence sets");
	test_assert_strcmp(seqset("1", 10), "1");
	test_assert_strcmp(seqset("1:3,5,7:9", 10), "1:3,5,7:9");
	test_assert_strcmp(seqset("3:1", 10), "1:3");
	test_assert_strcmp(seqset("1:*", 10), "1:10");
	test_assert_strcmp(seqset("*", 10), "10");
	test_assert_strcmp(seqset("*:4", 10), "4:10");
	/* n:* above the highest number is *:n (RFC 9051 §9) */
	test_assert_strcmp(seqset("15:*", 10), "10:15");
	test_assert_strcmp(seqset("4294967295", 10), "4294967295");
	test_assert_strcmp(seqset("1,2,3", 10), "1:3");
	/* an empty mailbox: "*" matches nothing */
	test_assert_strcmp(seqset("*", 0), "");
	test_assert_strcmp(seqset("1:*", 0), "1");
	for (unsigned int i = 0; i < N_ELEMENTS(invalid); i++) {
		array_init(&arr, pool_datastack, 4);
		test_assert_idx(imap_seq_set_parse(invalid[i], 10, &arr,
						   &error) < 0, i);
	}
	test_assert(imap_seq_set_is_saved("$"));
	test_assert(!imap_seq_set_is_saved("$1"));
	test_end();
}

static void test_imap_date(void)
{
	static const char *const bad_dates[] = {
		"", "1-Feb-202", "32-Jan-2024", "29-Feb-2023", "1-Foo-2024",
		"1 Feb 2024", "001-Feb-2024", "1-Feb-2024x", "0-Feb-2024",
		"1-Feb-1800",
	};
	static const char *const bad_datetimes[] = {
		"1-Feb-2024 00:00:00 +0000", "01-Feb-2024 24:00:00 +0000",
		"01-Feb-2024 00:60:00 +0000", "01-Feb-2024 00:00:00 0000",
		"01-Feb-2024 00:00:00 +00", "01-Feb-2024 00:00:00 +0060",
		"01-Feb-2024 00:00 +0000", "01-Feb-2024  00:00:00 +0000",
		"31-Apr-2024 00:00:00 +0000",
	};
	time_t t;
	int tz;

	test_begin("imap dates");
	test_assert(imap_parse_date("1-Feb-2024", &t) && t == 1706745600);
	test_assert(imap_parse_date("01-feb-2024", &t) && t == 1706745600);
	test_assert(imap_parse_date("29-Feb-2024", &t));
	for (unsigned int i = 0; i < N_ELEMENTS(bad_dates); i++)
		test_assert_idx(!imap_parse_date(bad_dates[i], &t), i);

	test_assert(imap_parse_datetime("01-Feb-2024 13:14:15 +0100", &t, &tz));
	test_assert(t == 1706745600 + 12 * 3600 + 14 * 60 + 15 && tz == 60);
	test_assert(imap_parse_datetime(" 1-Feb-2024 13:14:15 -0230", &t, &tz));
	test_assert(tz == -150);
	test_assert(t == 1706745600 + 13 * 3600 + 14 * 60 + 15 + 150 * 60);
	for (unsigned int i = 0; i < N_ELEMENTS(bad_datetimes); i++)
		test_assert_idx(!imap_parse_datetime(bad_datetimes[i], &t, &tz),
				i);

	test_assert_strcmp(imap_to_datetime(1706745600 + 12 * 3600 + 14 * 60 + 15,
					    60),
			   "01-Feb-2024 13:14:15 +0100");
	test_assert_strcmp(imap_to_datetime(0, -150),
			   "31-Dec-1969 21:30:00 -0230");
	/* format and parse back */
	test_assert(imap_parse_datetime(imap_to_datetime(1234567890, 330), &t,
					&tz) && t == 1234567890 && tz == 330);
	test_end();
}

static const struct imap_arg *parse_args(const char *line)
{
	struct imap_parser_settings set;
	struct imap_parser *parser;
	const struct imap_arg *args = NULL;
	size_t consumed;

	memset(&set, 0, sizeof(set));
	parser = imap_parser_create(&set);
	imap_parser_reset(parser, pool_datastack);
	if (imap_parser_read_args(parser, (const void *)line, strlen(line),
				  &consumed, &args) != IMAP_PARSER_RET_DONE)
		args = NULL;
	imap_parser_destroy(&parser);
	return args;
}

static void test_imap_flags(void)
{
	enum imap_flag flags;
	const char *const *keywords;
	const char *error;
	const struct imap_arg *args;
	string_t *str = t_str_new(64);

	test_begin("imap flag lists");
	args = parse_args("\\Seen \\ANSWERED $Label1 foo $label1 \\Draft\r\n");
	test_assert(args != NULL);
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) == 0);
	test_assert(flags == (IMAP_FLAG_SEEN | IMAP_FLAG_ANSWERED |
			      IMAP_FLAG_DRAFT));
	test_assert(keywords != NULL && strcmp(keywords[0], "$Label1") == 0 &&
		    strcmp(keywords[1], "foo") == 0 && keywords[2] == NULL);
	imap_flags_write(str, flags, keywords);
	test_assert_strcmp(str_c(str), "\\Answered \\Seen \\Draft $Label1 foo");

	args = parse_args("\r\n");
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) == 0 && flags == 0 &&
		    keywords == NULL);
	args = parse_args("\\Recent\r\n");
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) < 0);
	args = parse_args("\\Foo\r\n");
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) < 0);
	args = parse_args("\"quoted\"\r\n");
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) < 0);
	args = parse_args("a]b\r\n");
	test_assert(imap_flags_parse(args, pool_datastack, &flags, &keywords,
				     &error) < 0);
	test_assert(imap_flag_parse("\\flagged") == IMAP_FLAG_FLAGGED);
	test_assert(imap_flag_parse("\\Recent") == 0);
	test_assert(imap_keyword_is_valid("$Forwarded"));
	test_assert(!imap_keyword_is_valid(""));
	test_assert(!imap_keyword_is_valid("a b"));
	test_assert(!imap_keyword_is_valid("a%"));
	test_end();
}

static void test_imap_string(void)
{
	string_t *str = t_str_new(64);

	test_begin("imap string writing");
	imap_write_astring(str, "INBOX", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "a b", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "nil", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "q\"\\", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "line\r\nbreak", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "K\xc3\xa4se", false);
	str_append_c(str, ' ');
	imap_write_astring(str, "K\xc3\xa4se", true);
	test_assert_strcmp(str_c(str),
		"INBOX \"a b\" \"\" \"nil\" \"q\\\"\\\\\" {11}\r\nline\r\nbreak "
		"{5}\r\nK\xc3\xa4se \"K\xc3\xa4se\"");
	str_truncate(str, 0);
	imap_write_nstring(str, NULL, false);
	str_append_c(str, ' ');
	imap_write_nstring(str, "x", false);
	str_append_c(str, ' ');
	imap_write_string(str, "atom", false);
	test_assert_strcmp(str_c(str), "NIL \"x\" \"atom\"");
	test_end();
}

test_func_t *const test_imap_grammar_tests[] = {
	test_imap_seqset,
	test_imap_date,
	test_imap_flags,
	test_imap_string,
	NULL
};
