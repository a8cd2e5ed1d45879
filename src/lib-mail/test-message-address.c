#include "test-lib-mail.h"
#include "message-address.h"

static const char *addr_dump(const char *input)
{
	pool_t pool = pool_alloconly_create("address test", 1024);
	struct message_address *addr =
		message_address_parse(pool, input, strlen(input), UINT_MAX,
				      MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING);
	string_t *str = t_str_new(128);

	for (; addr != NULL; addr = addr->next) {
		str_printfa(str, "(%s|%s|%s|%s)",
			    addr->name == NULL ? "NIL" : addr->name,
			    addr->route == NULL ? "NIL" : addr->route,
			    addr->mailbox == NULL ? "NIL" : addr->mailbox,
			    addr->domain == NULL ? "NIL" : addr->domain);
	}
	pool_unref(&pool);
	return str_c(str);
}

static void test_message_address_valid(void)
{
	static const struct {
		const char *input, *output;
	} tests[] = {
		{ "user@domain", "(NIL|NIL|user|domain)" },
		{ "Real Name <user@domain>", "(Real Name|NIL|user|domain)" },
		{ "user@domain (Real Name)", "(Real Name|NIL|user|domain)" },
		{ "\"Joe Q. Public\" <john.q.public@example.com>",
		  "(Joe Q. Public|NIL|john.q.public|example.com)" },
		{ "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
		  "(Mary Smith|NIL|mary|x.test)(NIL|NIL|jdoe|example.org)"
		  "(Who?|NIL|one|y.test)" },
		{ "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
		  "(NIL|NIL|boss|nil.test)"
		  "(Giant; \"Big\" Box|NIL|sysservices|example.net)" },
		/* groups */
		{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
		  "(NIL|NIL|A Group|NIL)(Ed Jones|NIL|c|a.test)"
		  "(NIL|NIL|joe|where.test)(John|NIL|jdoe|one.test)"
		  "(NIL|NIL|NIL|NIL)" },
		{ "Undisclosed recipients:;",
		  "(NIL|NIL|Undisclosed recipients|NIL)(NIL|NIL|NIL|NIL)" },
		{ "g1: a@b;, g2: (foo) ;",
		  "(NIL|NIL|g1|NIL)(NIL|NIL|a|b)(NIL|NIL|NIL|NIL)"
		  "(NIL|NIL|g2|NIL)(NIL|NIL|NIL|NIL)" },
		/* comments everywhere (RFC 5322 A.5) */
		{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
		  "(Pete|NIL|pete|silly.test)" },
		{ "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
		  "(NIL|NIL|Hidden recipients|NIL)(NIL|NIL|NIL|NIL)" },
		/* obsolete forms (A.6.1, A.6.3) */
		{ "Joe Q. Public <john.q.public@example.com>",
		  "(Joe Q. Public|NIL|john.q.public|example.com)" },
		{ "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
		  "(Mary Smith|@node.test|mary|example.net)"
		  "(NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN)"
		  "(NIL|NIL|jdoe|test.example)" },
		{ "<@a.example,@b.example:user@c.example>",
		  "(NIL|@a.example,@b.example|user|c.example)" },
		{ "John Doe <jdoe@machine(comment).  example>",
		  "(John Doe|NIL|jdoe|machine.example)" },
		{ "\"quoted local\"@domain", "(NIL|NIL|quoted local|domain)" },
		{ "user@[192.0.2.1]", "(NIL|NIL|user|[192.0.2.1])" },
		{ "=?utf-8?q?J=C3=B6rg?= <j@x>", "(=?utf-8?q?J=C3=B6rg?=|NIL|j|x)" },
		{ "r\xc3\xa9" "al <u@d>", "(r\xc3\xa9" "al|NIL|u|d)" },
	};

	test_begin("message address: valid");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *out = addr_dump(tests[i].input);

		if (strcmp(out, tests[i].output) != 0)
			test_fail("#%u: %s != %s", i, out, tests[i].output);
	}
	test_end();
}

static void test_message_address_broken(void)
{
	static const struct {
		const char *input, *output;
	} tests[] = {
		{ "", "" },
		{ "   ", "" },
		{ "user", "(NIL|NIL|user|MISSING_DOMAIN)" },
		{ "Mary Smith", "(Mary Smith|NIL|MISSING_MAILBOX|MISSING_DOMAIN)" },
		{ "\"quoted\"", "(quoted|NIL|MISSING_MAILBOX|MISSING_DOMAIN)" },
		{ "<>", "(NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN)" },
		{ "Name <user@domain", "(Name|NIL|user|SYNTAX_ERROR)" },
		{ "<@route>", "(NIL|INVALID_ROUTE|MISSING_MAILBOX|MISSING_DOMAIN)" },
		{ ";", "(NIL|NIL|MISSING_MAILBOX|MISSING_DOMAIN)" },
		{ "user@", "(NIL|NIL|user|MISSING_DOMAIN)" },
		/* no comma: the rest is ignored */
		{ "a@b c@d", "(NIL|NIL|a|b)" },
		{ "a@b,", "(NIL|NIL|a|b)" },
		{ "group: a@b", "(NIL|NIL|group|NIL)(NIL|NIL|a|b)(NIL|NIL|NIL|NIL)" },
		{ "a@b (unterminated", "(NIL|NIL|a|MISSING_DOMAIN)" },
		{ "nul\0name <a@b>", "(NIL|NIL|nul|MISSING_DOMAIN)" },
	};

	test_begin("message address: broken");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *out = addr_dump(tests[i].input);

		if (strcmp(out, tests[i].output) != 0)
			test_fail("#%u: %s != %s", i, out, tests[i].output);
	}
	test_end();
}

static void test_message_address_nul(void)
{
	pool_t pool = pool_alloconly_create("address test", 1024);
	struct message_address *addr;

	test_begin("message address: NUL bytes");
	addr = message_address_parse(pool, "\"a\0b\" <c@d>", 11, UINT_MAX, 0);
	test_assert(addr != NULL && addr->next == NULL);
	test_assert_strcmp(addr->name, "a\xef\xbf\xbd" "b");
	pool_unref(&pool);
	test_end();
}

static void test_message_address_write(void)
{
	static const char *const tests[] = {
		"user@domain",
		"Real Name <user@domain>",
		"\"Joe Q. Public\" <john.q.public@example.com>",
		"g: a@b, c d <e@f>;, x@y",
		"\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
		"<@a.example:user@c.example>",
	};
	pool_t pool = pool_alloconly_create("address test", 1024);

	test_begin("message address: write");
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		struct message_address *addr = message_address_parse(pool,
			tests[i], strlen(tests[i]), UINT_MAX, 0);
		string_t *str = t_str_new(64);

		message_address_write(str, addr);
		test_assert_strcmp(str_c(str), tests[i]);
	}
	pool_unref(&pool);
	test_end();
}

test_func_t *const test_message_address_tests[] = {
	test_message_address_valid,
	test_message_address_broken,
	test_message_address_nul,
	test_message_address_write,
	NULL
};
