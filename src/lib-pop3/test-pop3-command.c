/* Tests for pop3-command.c: keywords, arguments, message numbers. */
#include "test-lib-pop3.h"
#include "pop3-command.h"

static void test_pop3_command_parse(void)
{
	static const struct {
		const char *line;
		const char *name, *args; /* name NULL: an error */
	} cases[] = {
		{ "STAT", "STAT", NULL },
		{ "stat", "STAT", NULL },
		{ "Retr 1", "RETR", "1" },
		{ "TOP 1 10", "TOP", "1 10" },
		{ "PASS my secret pass", "PASS", "my secret pass" },
		{ "PASS ", "PASS", "" },
		{ "LIST\t1", NULL, NULL },
		{ "", NULL, NULL },
		{ " STAT", NULL, NULL },
		{ "ST4T", NULL, NULL },
		{ "STAT\r", NULL, NULL },
		{ "ABCDEFGHIJKLMNOPQ", NULL, NULL },
		{ "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP", NULL },
		{ "PASS a\tb", "PASS", "a\tb" },
		{ "PASS a\x7f", NULL, NULL },
		{ "USER \xc3\xa4li", "USER", "\xc3\xa4li" },
	};
	test_begin("pop3 command parse");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		struct pop3_command_line cmd;
		const char *error = NULL;
		int ret = pop3_command_parse(cases[i].line,
					     strlen(cases[i].line), &cmd, &error);
		if (cases[i].name == NULL) {
			test_assert_idx(ret < 0 && error != NULL, i);
			continue;
		}
		test_assert_idx(ret == 0, i);
		if (ret < 0)
			continue;
		test_assert_idx(strcmp(cmd.name, cases[i].name) == 0, i);
		test_assert_idx((cmd.args == NULL) == (cases[i].args == NULL), i);
		if (cmd.args != NULL && cases[i].args != NULL)
			test_assert_idx(strcmp(cmd.args, cases[i].args) == 0, i);
	}
	/* a NUL inside the line */
	struct pop3_command_line cmd;
	const char *error;
	test_assert(pop3_command_parse("USER a\0b", 8, &cmd, &error) < 0 &&
		    strstr(error, "NUL") != NULL);
	test_end();
}

static void test_pop3_command_args(void)
{
	const char *const *args;
	const char *error;

	test_begin("pop3 command args");
	test_assert(pop3_command_args(NULL, 0, 1, &args, &error) == 0 &&
		    args[0] == NULL);
	test_assert(pop3_command_args(NULL, 1, 1, &args, &error) < 0 &&
		    strcmp(error, "Missing argument.") == 0);
	test_assert(pop3_command_args("1", 0, 1, &args, &error) == 1 &&
		    strcmp(args[0], "1") == 0 && args[1] == NULL);
	test_assert(pop3_command_args("1 2", 2, 2, &args, &error) == 2 &&
		    strcmp(args[1], "2") == 0);
	test_assert(pop3_command_args("1 2", 1, 1, &args, &error) < 0 &&
		    strcmp(error, "Too many arguments.") == 0);
	test_assert(pop3_command_args("1  2", 2, 2, &args, &error) < 0);
	test_assert(pop3_command_args("1 ", 1, 2, &args, &error) < 0);
	test_assert(pop3_command_args("", 0, 1, &args, &error) < 0);
	test_end();
}

static void test_pop3_parse_uint(void)
{
	uint32_t n;

	test_begin("pop3 parse uint");
	test_assert(pop3_parse_uint("0", &n) == 0 && n == 0);
	test_assert(pop3_parse_uint("17", &n) == 0 && n == 17);
	test_assert(pop3_parse_uint("0004", &n) == 0 && n == 4);
	test_assert(pop3_parse_uint("4294967295", &n) == 0 && n == UINT32_MAX);
	test_assert(pop3_parse_uint("4294967296", &n) < 0);
	test_assert(pop3_parse_uint("99999999999999999999999", &n) < 0);
	test_assert(pop3_parse_uint("", &n) < 0);
	test_assert(pop3_parse_uint("+1", &n) < 0);
	test_assert(pop3_parse_uint("-1", &n) < 0);
	test_assert(pop3_parse_uint("1a", &n) < 0);
	test_assert(pop3_parse_uint(" 1", &n) < 0);
	test_end();
}

test_func_t *const test_pop3_command_tests[] = {
	test_pop3_command_parse,
	test_pop3_command_args,
	test_pop3_parse_uint,
	NULL
};
