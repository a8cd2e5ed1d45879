/* Tests for the syntax: every form the scanner accepts, its error messages
   with FILE:LINE, !include and !include_try, <file values and $-variables. */
#include "test-lib-config.h"
#include "config-parser.h"

static void test_tree_append(string_t *out, const struct config_node *parent)
{
	struct config_node *const *child;
	bool first = true;

	array_foreach(&parent->children, child) {
		const struct config_node *node = *child;

		if (!first)
			str_append_c(out, ';');
		first = false;
		if (node->type == CONFIG_NODE_KEYVALUE) {
			str_printfa(out, "%s=[%s]%s%s", node->key, node->value,
				    node->expand ? "$" : "",
				    node->value_file != NULL ? "<" : "");
		} else {
			str_append(out, node->key);
			if (*node->value != '\0')
				str_printfa(out, " %s", node->value);
			str_append_c(out, '{');
			test_tree_append(out, node);
			str_append_c(out, '}');
		}
	}
}

/* The tree of text in a compact form, or the error. */
static const char *test_tree(const char *text)
{
	static const struct config_parser_settings set;
	pool_t pool = pool_alloconly_create("test tree", 1024);
	struct config_node *root;
	const char *error, *ret;

	if (config_parser_parse_string(pool, text, "t.conf", NULL, &set,
				       &root, &error) < 0) {
		ret = error;
	} else {
		string_t *out = t_str_new(128);
		test_tree_append(out, root);
		ret = str_c(out);
	}
	pool_unref(&pool);
	return ret;
}

static void test_parser_syntax(void)
{
	test_begin("config syntax forms");
	static const struct {
		const char *text, *tree;
	} tests[] = {
		{ "a = b", "a=[b]" },
		{ "  a=b  # comment\n", "a=[b]" },
		{ "# only a comment\n\n\t\n", "" },
		{ "a =\nb = \n", "a=[];b=[]" },
		{ "a = b c  d ", "a=[b c  d]" },
		{ "a = x#y", "a=[x]" },
		{ "a = \"quoted # not a comment\"", "a=[quoted # not a comment]" },
		{ "a = 'single \"x\"'  # c", "a=[single \"x\"]" },
		{ "a = \"t\\tn\\nq\\\"b\\\\s\\'r\\r\"",
		  "a=[t\tn\nq\"b\\s'r\r]" },
		{ "a = \"  padded  \"", "a=[  padded  ]" },
		{ "a = \"\"", "a=[]" },
		{ "a = it's \"a # b\" c", "a=[it's \"a # b\" c]" },
		{ "a = back\\slash", "a=[back\\slash]" },
		{ "a = one \\\n    two \\  \n three\nb = c", "a=[one two three];b=[c]" },
		{ "a = \\\n  x", "a=[x]" },
		{ "a = b\r\nc = d\r\n", "a=[b];c=[d]" },
		{ "a = }x", "a=[}x]" },
		{ "a = %{user}@%d", "a=[%{user}@%d]" },
		{ "a = $b c", "a=[$b c]$" },
		{ "a = c $b", "a=[c $b]$" },
		{ "a = x$b pa$$word", "a=[x$b pa$$word]" },
		{ "a = \"$b\"", "a=[$b]" },
		{ "s {\n  a = 1\n}\n", "s{a=[1]}" },
		{ "s{\n}", "s{}" },
		{ "s name {\n}\n", "s name{}" },
		{ "s   name\t{}", "s name{}" },
		{ "s \"quoted # name\" {\n}\n", "s quoted # name{}" },
		{ "s a.example.com b.example.com {\n}\n",
		  "s a.example.com b.example.com{}" },
		{ "s /var/run/x {\n}\n", "s /var/run/x{}" },
		{ "t a { u b { k = v } }", "t a{u b{k=[v]}}" },
		{ "service imap-login { inet_listener imap { port = 143 } }",
		  "service imap-login{inet_listener imap{port=[143]}}" },
		{ "s { a = %{user} }", "s{a=[%{user}]}" },
		{ "s { a = \"x\" }", "s{a=[x]}" },
		{ "s {\n  a = 1 }\nb = 2", "s{a=[1]};b=[2]" },
		{ "s {\n}} ", "t.conf:2: Unexpected '}' (no section is open here)" },
		{ "a = 1\nb = 2\na = 3", "a=[1];b=[2];a=[3]" },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *tree = test_tree(tests[i].text);
		test_assert_idx(strcmp(tree, tests[i].tree) == 0, i);
		if (strcmp(tree, tests[i].tree) != 0)
			test_fail("'%s' -> '%s'", tests[i].text, tree);
	}
	test_end();
}

static void test_parser_lines(void)
{
	test_begin("config syntax line numbers");
	static const struct config_parser_settings set;
	pool_t pool = pool_alloconly_create("test tree", 1024);
	struct config_node *root;
	const char *error;

	test_assert(config_parser_parse_string(pool,
		"# 1\n"
		"a = 1\n"
		"b = x \\\n"
		"  y\n"
		"s n {\n"
		"\n"
		"  c = \"q\"\n"
		"}\n", "t.conf", NULL, &set, &root, &error) == 0);
	test_assert(array_count(&root->children) == 3);
	test_assert((*array_idx(&root->children, 0))->line == 2);
	test_assert((*array_idx(&root->children, 1))->line == 3);
	const struct config_node *s = *array_idx(&root->children, 2);
	test_assert(s->line == 5);
	test_assert_strcmp(s->file, "t.conf");
	test_assert((*array_idx(&s->children, 0))->line == 7);
	pool_unref(&pool);
	test_end();
}

static void test_parser_errors(void)
{
	test_begin("config syntax errors");
	static const struct {
		const char *text, *error;
	} tests[] = {
		{ "}", "t.conf:1: Unexpected '}' (no section is open here)" },
		{ "a = 1\n\n}\n", "t.conf:3: Unexpected '}' (no section is open here)" },
		{ "s {\n  a = 1\n",
		  "t.conf:1: Section s is not closed (expected '}' before the end of t.conf)" },
		{ "\ns n {\n  t {\n  }\n",
		  "t.conf:2: Section s n is not closed (expected '}' before the end of t.conf)" },
		{ "a = \"abc\n",
		  "t.conf:1: Unterminated quoted value (expected a closing \" on the same line)" },
		{ "\n\na = 'abc",
		  "t.conf:3: Unterminated quoted value (expected a closing ' on the same line)" },
		{ "a = \"abc\\",
		  "t.conf:1: Unterminated quoted value (expected a closing \" on the same line)" },
		{ "a = \"x\" y",
		  "t.conf:1: Unexpected text after the quoted value: y (expected the end of the line)" },
		{ "a = \"\\q\"",
		  "t.conf:1: Invalid escape \\q in a quoted value (expected \\\\, \\\", \\', \\n, \\r or \\t)" },
		{ "foo\n",
		  "t.conf:1: Expecting '=' or '{' after foo (expected foo = VALUE or foo [NAME] { ... })" },
		{ "foo bar\n",
		  "t.conf:1: Expecting '=' or '{' after foo (expected foo = VALUE or foo [NAME] { ... })" },
		{ "foo \"bar\" baz {",
		  "t.conf:1: Expecting '=' or '{' after foo (expected foo = VALUE or foo [NAME] { ... })" },
		{ "s { foo }",
		  "t.conf:1: Expecting '=' or '{' after foo (expected foo = VALUE or foo [NAME] { ... })" },
		{ "= x",
		  "t.conf:1: Unexpected '=' (expected a setting name, a section or '}')" },
		{ "\"a\" = x",
		  "t.conf:1: Unexpected '\"' (expected a setting name, a section or '}')" },
		{ "!foo x",
		  "t.conf:1: Unknown directive !foo (expected !include or !include_try)" },
		{ "!include",
		  "t.conf:1: Missing file name after !include (expected !include PATH)" },
		{ "!include_try   # nothing",
		  "t.conf:1: Missing file name after !include_try (expected !include_try PATH)" },
		{ "a = <",
		  "t.conf:1: Missing file name after '<' (expected a = </path/to/file)" },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(tests); i++) {
		const char *error = test_tree(tests[i].text);
		test_assert_idx(strcmp(error, tests[i].error) == 0, i);
		if (strcmp(error, tests[i].error) != 0)
			test_fail("'%s' -> '%s'", tests[i].text, error);
	}

	/* too long a line */
	string_t *text = t_str_new(CONFIG_MAX_LINE_LENGTH + 64);
	str_append(text, "a = b\nc = ");
	for (unsigned int i = 0; i < CONFIG_MAX_LINE_LENGTH; i++)
		str_append_c(text, 'x');
	test_assert_strcmp(test_tree(str_c(text)),
			   "t.conf:2: Line is too long (expected at most 1048576 bytes)");
	str_truncate(text, str_len(text) - 4);
	test_assert(strncmp(test_tree(str_c(text)), "a=[b];c=[x", 10) == 0);

	/* sections nested past the limit */
	str_reset(text);
	for (unsigned int i = 0; i <= CONFIG_MAX_SECTION_DEPTH; i++)
		str_append(text, "s {\n");
	test_assert_strcmp(test_tree(str_c(text)),
			   "t.conf:33: Sections are nested too deeply (expected at most 32 levels)");
	test_end();
}

static void test_parser_nul_byte(void)
{
	test_begin("config file with a NUL byte");
	const char *path = test_config_write("nul/columba.conf", "a = b\n");
	FILE *f = fopen(path, "a");
	fwrite("c = \0\n", 1, 6, f);
	fclose(f);
	const char *error;
	test_assert(config_parse_file(path, NULL, &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:2: NUL byte in the configuration (expected text)", path));
	test_end();
}

static const char *test_lookup_file(const char *path, const char *key,
				    const char **error_r)
{
	struct config *cfg = config_parse_file(path, NULL, error_r);
	if (cfg == NULL)
		return NULL;
	const char *value = config_lookup(cfg, key);
	config_free(&cfg);
	return value;
}

static void test_parser_include(void)
{
	test_begin("config !include");
	const char *dir = t_strdup_printf("%s/inc", test_dir());
	const char *error;

	test_config_write("inc/conf.d/10-first.conf",
			  "login_greeting = first\nlog_timestamp = first\n");
	test_config_write("inc/conf.d/20-second.conf",
			  "login_greeting = second\n!include ../extra/more.conf\n");
	test_config_write("inc/conf.d/README", "not = included\n");
	test_config_write("inc/extra/more.conf", "default_login_user = more\n");
	test_config_write("inc/listener.conf", "port = 10143\n");
	const char *path = test_config_write("inc/columba.conf",
		"log_timestamp = main\n"
		"!include conf.d/*.conf\n"
		"!include_try missing.conf\n"
		"!include_try nothing/*.conf\n"
		"service imap-login {\n"
		"  inet_listener imap {\n"
		"    !include \"listener.conf\"\n"
		"  }\n"
		"}\n");
	struct config *cfg = config_parse_file(path, NULL, &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	/* glob order, later files override, relative to the includer */
	test_assert_strcmp(config_lookup(cfg, "login_greeting"), "second");
	test_assert_strcmp(config_lookup(cfg, "log_timestamp"), "first");
	test_assert_strcmp(config_lookup(cfg, "default_login_user"), "more");
	test_assert_strcmp(config_lookup(cfg, "service/imap-login/inet_listener/imap/port"),
			   "10143");
	config_free(&cfg);

	/* an absolute path works from anywhere */
	path = test_config_write("inc/abs.conf", t_strdup_printf(
		"!include %s/extra/more.conf\n", dir));
	test_assert_strcmp(test_lookup_file(path, "default_login_user", &error),
			   "more");
	test_end();
}

static void test_parser_include_errors(void)
{
	test_begin("config !include errors");
	const char *dir = t_strdup_printf("%s/incerr", test_dir());
	const char *error, *path;

	path = test_config_write("incerr/missing.conf", "# x\n!include nope.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:2: Can't include %s/nope.conf: No such file or directory (use !include_try for optional files)",
		path, dir));

	path = test_config_write("incerr/noglob.conf", "!include none.d/*.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:1: No files match !include %s/none.d/*.conf (use !include_try if none need to exist)",
		path, dir));

	/* a directory is not a file */
	test_config_write("incerr/sub/x.conf", "");
	path = test_config_write("incerr/dir.conf", "!include_try sub\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:1: Can't include %s/sub: Not a regular file (expected a configuration file)",
		path, dir));

	/* errors inside an included file name that file and line */
	test_config_write("incerr/bad.conf", "\n\nssl = maybe\n");
	path = test_config_write("incerr/inc-bad.conf", "!include bad.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/bad.conf:3: Invalid value for ssl: maybe (expected one of: yes, no, required)",
		dir));

	/* sections do not cross file boundaries */
	test_config_write("incerr/open.conf", "service mail {\n");
	path = test_config_write("incerr/inc-open.conf",
				 "!include open.conf\n}\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/open.conf:1: Section service mail is not closed (expected '}' before the end of %s/open.conf)",
		dir, dir));
	test_config_write("incerr/close.conf", "}\n");
	path = test_config_write("incerr/inc-close.conf",
				 "service mail {\n  !include close.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/close.conf:1: Unexpected '}' (no section is open here)", dir));

	/* a file including itself, and a longer loop */
	path = test_config_write("incerr/self.conf", "!include self.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:1: Recursive !include of %s/self.conf (it is already being read)",
		path, dir));
	test_config_write("incerr/loop-b.conf", "\n!include loop-c.conf\n");
	test_config_write("incerr/loop-c.conf", "!include_try loop-*.conf\n");
	path = test_config_write("incerr/loop-a.conf", "!include loop-b.conf\n");
	test_assert(test_lookup_file(path, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/loop-c.conf:1: Recursive !include of %s/loop-a.conf (it is already being read)",
		dir, dir));
	test_end();
}

static void test_parser_include_depth(void)
{
	test_begin("config !include depth limit");
	const char *error, *path = NULL;

	/* depth-0.conf includes depth-1.conf ... includes depth-11.conf */
	for (unsigned int i = 0; i <= 11; i++) {
		path = test_config_write(
			t_strdup_printf("depth/depth-%u.conf", i),
			i == 11 ? "log_timestamp = deep\n" :
			t_strdup_printf("!include depth-%u.conf\n", i + 1));
	}
	const char *dir = t_strdup_printf("%s/depth", test_dir());
	const char *top = t_strdup_printf("%s/depth-0.conf", dir);
	test_assert(test_lookup_file(top, "x", &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/depth-10.conf:1: !include nesting is too deep (expected at most 10 levels)",
		dir));
	/* ten levels are fine */
	const char *second = t_strdup_printf("%s/depth-1.conf", dir);
	test_assert_strcmp(test_lookup_file(second, "log_timestamp", &error),
			   "deep");

	/* the limit is a setting */
	struct config_parse_settings set = { .max_include_depth = 2 };
	const char *nine = t_strdup_printf("%s/depth-9.conf", dir);
	struct config *cfg = config_parse_file(nine, &set, &error);
	test_assert(cfg != NULL);
	config_free(&cfg);
	const char *eight = t_strdup_printf("%s/depth-8.conf", dir);
	test_assert(config_parse_file(eight, &set, &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s/depth-10.conf:1: !include nesting is too deep (expected at most 2 levels)",
		dir));
	(void)path;
	test_end();
}

static void test_parser_value_file(void)
{
	test_begin("config <file values");
	const char *dir = t_strdup_printf("%s/vfile", test_dir());
	const char *cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	const char *key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
	const char *error;

	test_config_write("vfile/certs/cert.pem", cert);
	test_config_write("vfile/certs/my key.pem", key);
	test_config_write("vfile/greeting.txt", "Hello there\n");
	const char *path = test_config_write("vfile/columba.conf",
		"ssl_cert = <certs/cert.pem\n"
		"ssl_key = < \"certs/my key.pem\"  # comment\n"
		"login_greeting = <greeting.txt\n");
	struct config *cfg = config_parse_file(path, NULL, &error);
	test_assert(cfg == NULL);
	/* the greeting may not hold a newline: the check says so, at the line */
	test_assert_strcmp(error, t_strdup_printf(
		"%s:3: Invalid value for login_greeting: control characters (expected one line of text)",
		path));

	path = test_config_write("vfile/columba.conf",
		"ssl_cert = <certs/cert.pem\n"
		"ssl_key = < \"certs/my key.pem\"  # comment\n");
	cfg = config_parse_file(path, NULL, &error);
	test_assert(cfg != NULL);
	if (cfg != NULL) {
		const struct columba_settings *set = config_get_root(cfg);
		/* the trailing newline is kept: PEM wants it */
		test_assert_strcmp(set->ssl.ssl_cert, cert);
		test_assert_strcmp(set->ssl.ssl_key, key);
		test_assert_strcmp(config_lookup(cfg, "ssl_cert"), cert);
		string_t *out = t_str_new(1024);
		config_dump(cfg, out, true);
		test_assert_strcmp(str_c(out), t_strdup_printf(
			"# columba %s: %s\n"
			"ssl_cert = <%s/certs/cert.pem\n"
			"ssl_key = <%s/certs/my key.pem\n",
			COLUMBA_VERSION, path, dir, dir));
		config_free(&cfg);
	}

	path = test_config_write("vfile/missing.conf",
				 "\nssl_cert = </nonexistent/cert.pem\n");
	test_assert(config_parse_file(path, NULL, &error) == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"%s:2: Can't read /nonexistent/cert.pem for ssl_cert: No such file or directory (expected a readable file)",
		path));

	/* no_file_access refuses both <file and !include */
	struct config_parse_settings set = { .no_file_access = true };
	test_assert(config_parse_string("ssl_cert = </etc/passwd", "t.conf",
					&set, &error) == NULL);
	test_assert_strcmp(error,
		"t.conf:1: Reading ssl_cert from a file is not allowed here (expected a value, not </etc/passwd)");
	test_assert(config_parse_string("\n!include /etc/passwd", "t.conf",
					&set, &error) == NULL);
	test_assert_strcmp(error, "t.conf:2: !include is not allowed here");
	test_end();
}

static void test_parser_variables(void)
{
	test_begin("config $ENV and $setting");
	const char *error;
	struct config *cfg;

	setenv("COLUMBA_TEST_ENV", "fromenv", 1);
	setenv("COLUMBA_TEST_DIR", "/srv/columba", 1);
	unsetenv("COLUMBA_TEST_UNSET");
	cfg = test_config_parse(
		"log_timestamp = $ENV:COLUMBA_TEST_ENV\n"
		"base_dir = $ENV:COLUMBA_TEST_DIR/run\n"
		"ssl_cipher_suites = \"$ENV:COLUMBA_TEST_DIR\"\n"
		"log_path = $ENV:COLUMBA_TEST_UNSET\n"
		"login_greeting = Hi $ENV:COLUMBA_TEST_ENV pa$$word $ x\n"
		"default_internal_user = vmail\n"
		"default_internal_group = $default_internal_user\n"
		"import_environment = $import_environment FOO=bar\n"
		"service mail {\n"
		"  user = $default_login_user\n"
		"}\n"
		"default_login_user = later\n", &error);
	test_assert(cfg != NULL);
	if (cfg == NULL) {
		test_fail("%s", error);
		test_end();
		return;
	}
	const struct columba_settings *set = config_get_root(cfg);
	test_assert_strcmp(set->log_timestamp, "fromenv");
	test_assert_strcmp(set->base_dir, "/srv/columba/run");
	test_assert_strcmp(set->ssl.ssl_cipher_suites, "$ENV:COLUMBA_TEST_DIR");
	/* unset is empty, as in Dovecot */
	test_assert_strcmp(set->log_path, "");
	test_assert_strcmp(set->login_greeting, "Hi fromenv pa$$word $ x");
	/* $setting is the value at that point of the top level... */
	test_assert_strcmp(set->default_internal_group, "vmail");
	test_assert_strcmp(t_strarray_join(set->import_environment, " "),
			   "TZ FOO=bar");
	/* ...and sections are applied after all top-level settings, so they
	   (and the built-in ones) see the final values */
	test_assert_strcmp(config_lookup(cfg, "service/mail/user"), "later");
	test_assert_strcmp(config_lookup(cfg, "service/imap-login/user"), "later");
	test_assert_strcmp(config_lookup(cfg, "service/auth/user"), "vmail");
	config_free(&cfg);

	test_assert_strcmp(test_config_error("\nlog_timestamp = $nosuch_setting"),
		"t.conf:2: Unknown variable $nosuch_setting in the value of log_timestamp (expected $ENV:NAME or the name of a top-level setting)");
	/* a value from a variable is validated like any other */
	setenv("COLUMBA_TEST_ENV", "maybe", 1);
	test_assert_strcmp(test_config_error("ssl = $ENV:COLUMBA_TEST_ENV"),
		"t.conf:1: Invalid value for ssl: maybe (expected one of: yes, no, required)");
	unsetenv("COLUMBA_TEST_ENV");
	unsetenv("COLUMBA_TEST_DIR");
	test_end();
}

test_func_t *const test_config_parser_tests[] = {
	test_parser_syntax,
	test_parser_lines,
	test_parser_errors,
	test_parser_nul_byte,
	test_parser_include,
	test_parser_include_errors,
	test_parser_include_depth,
	test_parser_value_file,
	test_parser_variables,
	NULL
};
