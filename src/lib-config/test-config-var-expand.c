/* Tests for config_var_expand(): both variable forms, the modifiers and
   substrings, and the errors. */
#include "test-lib-config.h"
#include "config-var-expand.h"

static const struct config_var_expand_table test_table[] = {
	{ 'u', "user", "Timo.Sirainen@Example.COM" },
	{ 'n', "username", "Timo.Sirainen" },
	{ 'd', "domain", "Example.COM" },
	{ 'h', "home", "/home/timo" },
	{ 'e', NULL, "" },
	{ '\0', "service", "imap" },
	{ 'x', "unset", NULL },
	{ '\0', NULL, NULL }
};

static const char *test_expand(const char *template)
{
	const char *result, *error;

	if (config_var_expand(template, test_table, &result, &error) < 0)
		return t_strdup_printf("ERROR: %s", error);
	return result;
}

static void test_var_expand(void)
{
	test_begin("config_var_expand");
	static const struct {
		const char *template, *result;
	} tests[] = {
		{ "", "" },
		{ "no variables", "no variables" },
		{ "%u", "Timo.Sirainen@Example.COM" },
		{ "%{user}", "Timo.Sirainen@Example.COM" },
		{ "%{home}/Maildir:INDEX=/var/idx/%d/%n",
		  "/home/timo/Maildir:INDEX=/var/idx/Example.COM/Timo.Sirainen" },
		{ "%{service}-%e-%x-%{unset}.", "imap---." },
		{ "100%%", "100%" },
		{ "%%u", "%u" },
		{ "%Lu", "timo.sirainen@example.com" },
		{ "%L{domain}", "example.com" },
		{ "%Ud", "EXAMPLE.COM" },
		{ "%Rn", "neniariS.omiT" },
		{ "%LRn", "neniaris.omit" },
		{ "%1n/%2n/%n", "T/Ti/Timo.Sirainen" },
		{ "%2.1n", "m" },
		{ "%5.100n", "Sirainen" },
		{ "%100.2n", "" },
		{ "%-3.3d", "COM" },
		{ "%-3.2d", "CO" },
		{ "%-100.2d", "Ex" },
		{ "%1.Ln", "imo.sirainen" },
		{ "%2L{username}", "ti" },
		{ "%0n", "" },
		/* errors */
		{ "%z", "ERROR: Unknown variable %z in %z" },
		{ "/var/%{nosuch}/x", "ERROR: Unknown variable %{nosuch} in /var/%{nosuch}/x" },
		{ "%{user", "ERROR: Unterminated %{ in %{user (expected %{name})" },
		{ "abc%", "ERROR: Incomplete variable at the end of abc% (expected %x, %{name} or %%)" },
		{ "%L", "ERROR: Incomplete variable at the end of %L (expected %x, %{name} or %%)" },
		{ "%-2n", "ERROR: Invalid variable %-2n in %-2n (a negative offset needs a width: %-2.2u)" },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *result = test_expand(tests[i].template);
		test_assert_idx(strcmp(result, tests[i].result) == 0, i);
		if (strcmp(result, tests[i].result) != 0)
			test_fail("%s -> %s", tests[i].template, result);
	}
	test_end();
}

static void test_var_expand_config_value(void)
{
	test_begin("config_var_expand on a parsed value");
	/* the parser keeps %-variables as written, for later expansion */
	const char *error, *result;
	struct config *cfg = test_config_parse(
		"login_greeting = Hello %{user}, this is %{service}\n", &error);
	test_assert(cfg != NULL);
	const struct columba_settings *set = config_get_root(cfg);
	test_assert_strcmp(set->login_greeting, "Hello %{user}, this is %{service}");
	test_assert(config_var_expand(set->login_greeting, test_table,
				      &result, &error) == 0);
	test_assert_strcmp(result,
		"Hello Timo.Sirainen@Example.COM, this is imap");
	config_free(&cfg);
	test_end();
}

test_func_t *const test_config_var_expand_tests[] = {
	test_var_expand,
	test_var_expand_config_value,
	NULL
};
