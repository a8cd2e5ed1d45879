#include "test-lib-mail.h"
#include "message-date.h"

static void test_message_date_valid(void)
{
	static const struct {
		const char *input;
		time_t time;
		int tz;
	} tests[] = {
		{ "Fri, 21 Nov 1997 09:55:06 -0600", 880127706, -360 },
		/* RFC 5322 A.6.2: obsolete zone name and two-digit year */
		{ "21 Nov 97 09:55:06 GMT", 880106106, 0 },
		/* A.5: folding everywhere, no seconds, a comment */
		{ "Thu,\r\n      13\r\n        Feb\r\n          1969\r\n"
		  "      23:32\r\n               -0330 (Newfoundland Time)",
		  -27723480, -210 },
		/* A.6.3: comments and whitespace inside the time */
		{ "Fri, 21 Nov 1997 09(comment):   55  :  06 -0600",
		  880127706, -360 },
		{ "Tue, 1 Jul 2003 10:52:37 +0200 (CEST)", 1057049557, 120 },
		{ "Wed, 02 Oct 2002 08:00:00 EST", 1033563600, -300 },
		{ "Wed, 02 Oct 2002 09:00:00 EDT", 1033563600, -240 },
		/* broken forms */
		{ "Tue 1 Jan 2002 12:00:00 +0000", 1009886400, 0 },
		{ "Tuesday, 1 January 2002 12:00:00 +0000", 1009886400, 0 },
		{ "1 Jan 2002 12:00 +0100", 1009882800, 60 },
		{ "1 Jan 2002 12.00.00 +0100", 1009882800, 60 },
		{ "1 Jan 2002 12:00:00 +100", 1009882800, 60 },
		{ "1 Jan 2002 12:00:00 GMT+0100", 1009882800, 60 },
		{ "1 Jan 2002 12:00:00", 1009886400, 0 },
		{ "1 Jan 2002 12:00:00 XYZ", 1009886400, 0 },
		{ "1 Jan 2002 12:00:00 -0000", 1009886400, 0 },
		{ "1 Jan 2002 12:00:00 M", 1009886400, 0 },
		{ "Tue Jan  1 12:00:00 2002", 1009886400, 0 },
		{ "Tue Jan  1 12:00:00 GMT 2002", 1009886400, 0 },
		{ "2002-01-01 12:00:00", 1009886400, 0 },
		{ "2002-01-01T12:00:00Z", 1009886400, 0 },
		{ "2002-01-01T12:00:00.123+01:00", 1009882800, 60 },
		{ "1 Jan 2002 07:30:00 -0500", 1009888200, -300 },
		{ "31 Dec 49 00:00:00 +0000", 2524521600, 0 },
		{ "1 Jan 50 00:00:00 +0000", -631152000, 0 },
	};

	test_begin("message date: valid");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		time_t t = 0;
		int tz = 12345;

		test_assert_idx(message_date_parse(tests[i].input,
			strlen(tests[i].input), &t, &tz), i);
		test_assert_idx(t == tests[i].time, i);
		test_assert_idx(tz == tests[i].tz, i);
	}
	test_end();
}

static void test_message_date_invalid(void)
{
	static const char *const tests[] = {
		"", "   ", "garbage", "Fri, 21 Nov", "32 Jan 2002 12:00:00",
		"1 Foo 2002 12:00:00", "1 Jan 2002 25:00:00", "1 Jan 2002 12:61",
		"1 Jan 2002 12:00:00 +12345", "(unterminated", "1 Jan 1 1:00",
		"Fri, 21 Nov 1997 09:55:06 -0600 1 2 3 4 5 6 7 8 9 10",
	};

	test_begin("message date: invalid");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		time_t t;
		int tz;

		test_assert_idx(!message_date_parse(tests[i], strlen(tests[i]),
						    &t, &tz), i);
	}
	test_end();
}

test_func_t *const test_message_date_tests[] = {
	test_message_date_valid,
	test_message_date_invalid,
	NULL
};
