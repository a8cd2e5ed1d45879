/* Unit tests for src/auth: the protocol's escaping and line splitting
   (the rest runs against the real process in tests/test_auth_*.py). */
#include "lib.h"
#include "test-common.h"
#include "auth-protocol.h"

static void test_auth_protocol_escape(void)
{
	test_begin("auth protocol escape");
	string_t *str = t_str_new(64);
	auth_protocol_escape(str, "a\tb\nc\rd\001e");
	test_assert_strcmp(str_c(str), "a\001tb\001nc\001rd\0011e");
	str_reset(str);
	auth_protocol_escape(str, "");
	test_assert_strcmp(str_c(str), "");
	test_end();
}

static void test_auth_protocol_split(void)
{
	test_begin("auth protocol split");
	const char *line = "AUTH\t1\tPLAIN\tservice=smtp\tx=a\001tb\0011\001n";
	const char *const *args = auth_protocol_split(line, strlen(line));
	test_assert(args != NULL && str_array_length(args) == 5);
	if (args != NULL && str_array_length(args) == 5) {
		test_assert_strcmp(args[0], "AUTH");
		test_assert_strcmp(args[3], "service=smtp");
		test_assert_strcmp(args[4], "x=a\tb\001\n");
	}
	/* Dovecot 2.3's documentation writes LF as \001l */
	args = auth_protocol_split("a\001lb", 4);
	test_assert(args != NULL && strcmp(args[0], "a\nb") == 0);
	/* empty fields are kept */
	args = auth_protocol_split("CONT\t1\t", 7);
	test_assert(args != NULL && str_array_length(args) == 3 &&
		    *args[2] == '\0');
	/* bad escapes, an escape at the end, a NUL byte */
	test_assert(auth_protocol_split("A\001x", 3) == NULL);
	test_assert(auth_protocol_split("A\001", 2) == NULL);
	test_assert(auth_protocol_split("A\0B", 3) == NULL);

	/* escape and split are inverses */
	const char *values[] = { "\001\001t", "\t\t", "x\r\ny", "plain" };
	string_t *str = t_str_new(64);
	for (unsigned int i = 0; i < N_ELEMENTS(values); i++) {
		if (i > 0)
			str_append_c(str, '\t');
		auth_protocol_escape(str, values[i]);
	}
	args = auth_protocol_split(str_c(str), str_len(str));
	test_assert(args != NULL && str_array_length(args) == 4);
	for (unsigned int i = 0; args != NULL && i < 4; i++)
		test_assert_strcmp(args[i], values[i]);
	test_end();
}

int main(void)
{
	static test_func_t *const tests[] = {
		test_auth_protocol_escape,
		test_auth_protocol_split,
		NULL
	};
	return test_run(tests);
}
