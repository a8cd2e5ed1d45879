#include "test-lib-mail.h"
#include "rfc2231-parser.h"

/* "name=value;..." of the parameters after the Content-Type */
static const char *params(const char *value)
{
	struct rfc822_parser parser;
	const char *const *result;
	string_t *str = t_str_new(128);

	rfc822_parser_init(&parser, value, strlen(value), NULL);
	(void)rfc2231_parse(&parser, &result);
	for (; result[0] != NULL; result += 2)
		str_printfa(str, "%s=%s|", result[0], result[1]);
	return str_c(str);
}

static const char *decoded(const char *value, const char *name)
{
	struct rfc822_parser parser;
	const char *const *result;

	rfc822_parser_init(&parser, value, strlen(value), NULL);
	(void)rfc2231_parse(&parser, &result);
	return rfc2231_get_utf8(result, name);
}

static void test_rfc2231_examples(void)
{
	test_begin("RFC 2231 examples");
	/* section 3: continuations */
	test_assert_strcmp(params("; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
				  " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\""),
			   "access-type=URL|"
			   "URL=ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar|");
	/* section 4: charset and language */
	const char *s4 = "; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A";
	test_assert_strcmp(params(s4),
			   "title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A|");
	test_assert_strcmp(decoded(s4, "title"), "This is ***fun***");
	/* section 4.1: both, mixed encoded and plain pieces */
	const char *s41 = "; title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
		" title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"";
	test_assert_strcmp(params(s41),
			   "title*=us-ascii'en'This%20is%20even%20more%20"
			   "%2A%2A%2Afun%2A%2A%2A%20isn't it!|");
	test_assert_strcmp(decoded(s41, "title"),
			   "This is even more ***fun*** isn't it!");
	test_end();
}

static void test_rfc2231_more(void)
{
	struct rfc822_parser parser;
	const char *const *result;
	const char *name, *lang;
	string_t *str = t_str_new(64);

	test_begin("RFC 2231 parameters");
	/* plain ones first, then the joined ones, pieces out of order */
	test_assert_strcmp(params("; charset=x; name*1=b; name*0=a; format=flowed"),
			   "charset=x|format=flowed|name=ab|");
	/* a missing index: no joining */
	test_assert_strcmp(params("; t*0=a; t*2*=c"), "t*0=a|t*2*=c|");
	/* plain first piece with extended ones: '' prefix, % escaped */
	test_assert_strcmp(params("; n*0=\"50%\"; n*1*=%21"), "n*=''50%25%21|");
	test_assert_strcmp(decoded("; n*0=\"50%\"; n*1*=%21", "n"), "50%!");
	/* charsets */
	test_assert_strcmp(decoded("; filename*=utf-8''%E2%82%AC%20rates.pdf",
				   "filename"), "\xe2\x82\xac rates.pdf");
	test_assert_strcmp(decoded("; filename*=iso-8859-1'fr'caf%E9",
				   "FILENAME"), "caf\xc3\xa9");
	/* RFC 2047 in a plain value, as mailers write it */
	test_assert_strcmp(decoded("; filename=\"=?utf-8?B?w6k=?=.txt\"",
				   "filename"), "\xc3\xa9.txt");
	/* unquoted encoded word */
	test_assert_strcmp(params("; name==?utf-8?Q?x?=; a=b"),
			   "name==?utf-8?Q?x?=|a=b|");
	/* broken parameters are skipped, the rest kept */
	/* (like Dovecot, an empty name is kept and everything after a
	   parameter without "=" is lost) */
	test_assert_strcmp(params("; =x; ok=1; bad; also=2"), "=x|ok=1|");
	test_assert_strcmp(params("; q=\"unterminated"), "");
	test_assert(decoded("; a=b", "missing") == NULL);

	const char *value = "; x*=utf-8'de'%C3%A4";
	rfc822_parser_init(&parser, value, strlen(value), NULL);
	(void)rfc2231_parse(&parser, &result);
	rfc2231_decode_value(result[0], result[1], str, &name, &lang);
	test_assert_strcmp(name, "x");
	test_assert_strcmp(lang, "de");
	test_assert_strcmp(str_c(str), "\xc3\xa4");
	test_end();
}

test_func_t *const test_rfc2231_tests[] = {
	test_rfc2231_examples,
	test_rfc2231_more,
	NULL
};
