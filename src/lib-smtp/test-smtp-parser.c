/* Tests for smtp-parser.c: command lines, paths (quoted local parts,
   source routes, address literals, SMTPUTF8), ESMTP parameters, address
   encoding and recipient_delimiter splitting. */
#include "test-lib-smtp.h"
#include "smtp-parser.h"

#include <strings.h>

static int null_strcmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b ? 0 : 1;
	return strcmp(a, b);
}

static void test_smtp_command_parse(void)
{
	static const struct {
		const char *line, *verb, *args;
	} good[] = {
		{ "LHLO example.com", "LHLO", "example.com" },
		{ "mail FROM:<a@b>", "MAIL", "FROM:<a@b>" },
		{ "QUIT", "QUIT", "" },
		{ "noop  x", "NOOP", " x" },
		{ "RCPT TO:<x@y>\tz", "RCPT", "TO:<x@y>\tz" },
	};
	static const char *const bad[] = {
		"", " LHLO", "LHLO\x01x", "12AB x", "MAIL:FROM", "ABCDEFGHIJKLMNOPQ x",
		"DATA\x7f",
	};
	const char *verb, *args, *error;

	test_begin("smtp command line");
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		test_assert_idx(smtp_command_parse(good[i].line,
						   strlen(good[i].line), &verb,
						   &args, &error) == 0, i);
		test_assert_strcmp(verb, good[i].verb);
		test_assert_strcmp(args, good[i].args);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(smtp_command_parse(bad[i], strlen(bad[i]),
						   &verb, &args, &error) < 0, i);
	}
	/* a NUL inside the line */
	test_assert(smtp_command_parse("NOOP", 6, &verb, &args, &error) < 0);
	test_end();
}

static void test_smtp_parse_paths(void)
{
	static const struct {
		const char *args;
		enum smtp_parse_flags flags;
		const char *localpart, *domain, *encoded;
		unsigned int param_count;
	} good[] = {
		{ "FROM:<alice@example.com>", 0, "alice", "example.com",
		  "alice@example.com", 0 },
		{ "from: <a.b@c.d> SIZE=100 BODY=8BITMIME", 0, "a.b", "c.d",
		  "a.b@c.d", 2 },
		{ "FROM:<>", SMTP_PARSE_FLAG_ALLOW_EMPTY, NULL, NULL, "", 0 },
		{ "FROM:<\"john doe\"@x.org>", 0, "john doe", "x.org",
		  "\"john doe\"@x.org", 0 },
		{ "FROM:<\"a\\\"b\\\\c\"@x.org>", 0, "a\"b\\c", "x.org",
		  "\"a\\\"b\\\\c\"@x.org", 0 },
		{ "FROM:<\".lead\"@x.org>", 0, ".lead", "x.org",
		  "\".lead\"@x.org", 0 },
		{ "TO:<@r1.example,@r2.example:user@example.com>", 0, "user",
		  "example.com", "user@example.com", 0 },
		{ "TO:<user@[192.0.2.1]>", 0, "user", "[192.0.2.1]",
		  "user@[192.0.2.1]", 0 },
		{ "TO:<user@[IPv6:2001:db8::1]>", 0, "user",
		  "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", 0 },
		{ "TO:<Postmaster>", SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY,
		  "Postmaster", NULL, "Postmaster", 0 },
		{ "TO:<us+er@sub-d.example.com> NOTIFY=NEVER", 0, "us+er",
		  "sub-d.example.com", "us+er@sub-d.example.com", 1 },
		{ "TO:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
		  SMTP_PARSE_FLAG_UTF8, "j\xc3\xb6rg", "b\xc3\xbc" "cher.example",
		  "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0 },
		{ "FROM:<a@b> SMTPUTF8", 0, "a", "b", "a@b", 1 },
		{ "TO:<a@b> ", 0, "a", "b", "a@b", 0 },
		{ "TO:<a@b> X=1  ", 0, "a", "b", "a@b", 1 },
	};
	static const struct {
		const char *args;
		enum smtp_parse_flags flags;
	} bad[] = {
		{ "FROM:alice@example.com", 0 },
		{ "FROM:<>", 0 },
		{ "TO:<alice>", 0 },
		{ "TO:<postmaster>", 0 },
		{ "TO:<alice>", SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY },
		{ "TO:<a..b@c>", 0 },
		{ "TO:<.a@c>", 0 },
		{ "TO:<a.@c>", 0 },
		{ "TO:<a@-c.d>", 0 },
		{ "TO:<a@c-.d>", 0 },
		{ "TO:<a@c..d>", 0 },
		{ "TO:<a@>", 0 },
		{ "TO:<@x:>", 0 },
		{ "TO:<@x,y:a@b>", 0 },
		{ "TO:<a@b", 0 },
		{ "TO:<a@b>x", 0 },
		{ "TO:<a b@c>", 0 },
		{ "TO:<\"a@c>", 0 },
		{ "TO:<\"a\x01\"@c>", 0 },
		{ "TO:<a@[1.2.3.4>", 0 },
		{ "TO:<a@[]>", 0 },
		{ "TO:<j\xc3\xb6rg@x>", 0 },
		{ "TO:<j\xc3@x>", SMTP_PARSE_FLAG_UTF8 },
		{ "TO:<j\xed\xa0\x80@x>", SMTP_PARSE_FLAG_UTF8 },
		{ "TO:<j\xc0\x80@x>", SMTP_PARSE_FLAG_UTF8 },
		{ "TO:<a@b> X=", 0 },
		{ "TO:<a@b> -X=1", 0 },
		{ "TO:<a@b> X=a=b", 0 },
		{ "TO:<a@b> X=1 x=2", 0 },
		{ "TO:<a@b> X Y X", 0 },
		{ "TO:<a@b> X=\xc3\xb6", 0 },
		{ "FROM:<a@b>", SMTP_PARSE_FLAG_UTF8 }, /* wrong prefix below */
	};
	pool_t pool = pool_alloconly_create("test", 1024);
	struct smtp_address addr;
	ARRAY_TYPE(smtp_param) params;
	const char *error;

	test_begin("smtp paths and parameters");
	for (unsigned int i = 0; i < N_ELEMENTS(good); i++) {
		const char *prefix = strncasecmp(good[i].args, "FROM:", 5) == 0 ?
			"FROM:" : "TO:";
		array_init(&params, pool, 4);
		int ret = smtp_parse_path_command(good[i].args, prefix,
						  good[i].flags, pool, &addr,
						  &params, &error);
		test_assert_idx(ret == 0, i);
		if (ret < 0)
			continue;
		test_assert_idx(null_strcmp(addr.localpart,
					    good[i].localpart) == 0, i);
		test_assert_idx(null_strcmp(addr.domain, good[i].domain) == 0, i);
		test_assert_strcmp(smtp_address_encode(&addr), good[i].encoded);
		test_assert_idx(array_count(&params) == good[i].param_count, i);
	}
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		const char *prefix = i == N_ELEMENTS(bad) - 1 ? "TO:" :
			strncasecmp(bad[i].args, "FROM:", 5) == 0 ? "FROM:" : "TO:";
		array_init(&params, pool, 4);
		test_assert_idx(smtp_parse_path_command(bad[i].args, prefix,
							bad[i].flags, pool,
							&addr, &params,
							&error) < 0, i);
	}

	array_init(&params, pool, 4);
	test_assert(smtp_parse_params("SIZE=123 BODY=8BITMIME SMTPUTF8", 0,
				      pool, &params, &error) == 0);
	bool found;
	test_assert_strcmp(smtp_params_get(&params, "size", &found), "123");
	test_assert(found);
	test_assert(smtp_params_get(&params, "SMTPUTF8", &found) == NULL &&
		    found);
	test_assert(smtp_params_get(&params, "RET", &found) == NULL && !found);
	/* a path longer than SMTP_PATH_MAX */
	string_t *longp = t_str_new(2048);
	str_append(longp, "TO:<");
	for (unsigned int i = 0; i < SMTP_PATH_MAX; i++)
		str_append_c(longp, 'a');
	str_append(longp, "@b>");
	test_assert(smtp_parse_path_command(str_c(longp), "TO:", 0, pool,
					    &addr, &params, &error) < 0);
	test_assert_strcmp(error, "Path too long");
	pool_unref(&pool);
	test_end();
}

static void test_smtp_detail_split(void)
{
	const char *user, *detail;

	test_begin("smtp recipient_delimiter");
	smtp_address_detail_split("alice+lists", "+", &user, &detail);
	test_assert_strcmp(user, "alice");
	test_assert_strcmp(detail, "lists");
	smtp_address_detail_split("alice-a+b", "+-", &user, &detail);
	test_assert_strcmp(user, "alice");
	test_assert_strcmp(detail, "a+b");
	smtp_address_detail_split("alice", "+", &user, &detail);
	test_assert_strcmp(user, "alice");
	test_assert_strcmp(detail, "");
	smtp_address_detail_split("alice+x", "", &user, &detail);
	test_assert_strcmp(user, "alice+x");
	test_assert_strcmp(detail, "");
	smtp_address_detail_split("alice+", "+", &user, &detail);
	test_assert_strcmp(user, "alice");
	test_assert_strcmp(detail, "");
	test_end();
}

static void test_smtp_utf8(void)
{
	test_begin("smtp utf8 validation");
	test_assert(smtp_utf8_is_valid((const unsigned char *)"abc", 3));
	test_assert(smtp_utf8_is_valid((const unsigned char *)"\xe2\x82\xac", 3));
	test_assert(smtp_utf8_is_valid((const unsigned char *)"\xf0\x9f\x98\x80", 4));
	test_assert(!smtp_utf8_is_valid((const unsigned char *)"\xe2\x82", 2));
	test_assert(!smtp_utf8_is_valid((const unsigned char *)"\xc1\xbf", 2));
	test_assert(!smtp_utf8_is_valid((const unsigned char *)"\xe0\x80\xaf", 3));
	test_assert(!smtp_utf8_is_valid((const unsigned char *)"\xf4\x90\x80\x80", 4));
	test_assert(!smtp_utf8_is_valid((const unsigned char *)"\xff", 1));
	test_end();
}

test_func_t *const test_smtp_parser_tests[] = {
	test_smtp_command_parse,
	test_smtp_parse_paths,
	test_smtp_detail_split,
	test_smtp_utf8,
	NULL
};
