/* Unit tests for strescape: the TAB escaping of Dovecot's line
   protocols, both ways, and what the strict split refuses. */
#include "test-lib.h"
#include "str.h"
#include "strescape.h"

static void test_str_append_tabescaped(void)
{
	test_begin("tab escape");
	string_t *str = t_str_new(64);
	str_append_tabescaped(str, "a\tb\nc\rd\001e");
	test_assert_strcmp(str_c(str), "a\001tb\001nc\001rd\0011e");
	str_reset(str);
	str_append_tabescaped(str, "");
	test_assert_strcmp(str_c(str), "");
	test_end();
}

static void test_t_strsplit_tabescaped(void)
{
	test_begin("tab split");
	const char *line = "AUTH\t1\tPLAIN\tservice=smtp\tx=a\001tb\0011\001n";
	const char *const *args = t_strsplit_tabescaped(line, strlen(line));
	test_assert(args != NULL && str_array_length(args) == 5);
	if (args != NULL && str_array_length(args) == 5) {
		test_assert_strcmp(args[0], "AUTH");
		test_assert_strcmp(args[3], "service=smtp");
		test_assert_strcmp(args[4], "x=a\tb\001\n");
	}
	/* Dovecot 2.3's documentation writes LF as \001l */
	args = t_strsplit_tabescaped("a\001lb", 4);
	test_assert(args != NULL && strcmp(args[0], "a\nb") == 0);
	/* empty fields are kept */
	args = t_strsplit_tabescaped("CONT\t1\t", 7);
	test_assert(args != NULL && str_array_length(args) == 3 &&
		    *args[2] == '\0');
	/* bad escapes, an escape at the end, a NUL byte */
	test_assert(t_strsplit_tabescaped("A\001x", 3) == NULL);
	test_assert(t_strsplit_tabescaped("A\001", 2) == NULL);
	test_assert(t_strsplit_tabescaped("A\0B", 3) == NULL);

	/* escape and split are inverses */
	const char *values[] = { "\001\001t", "\t\t", "x\r\ny", "plain" };
	string_t *str = t_str_new(64);
	for (unsigned int i = 0; i < N_ELEMENTS(values); i++) {
		if (i > 0)
			str_append_c(str, '\t');
		str_append_tabescaped(str, values[i]);
	}
	args = t_strsplit_tabescaped(str_c(str), str_len(str));
	test_assert(args != NULL && str_array_length(args) == 4);
	for (unsigned int i = 0; args != NULL && i < 4; i++)
		test_assert_strcmp(args[i], values[i]);
	test_end();
}

test_func_t *const test_strescape_tests[] = {
	test_str_append_tabescaped,
	test_t_strsplit_tabescaped,
	NULL
};
