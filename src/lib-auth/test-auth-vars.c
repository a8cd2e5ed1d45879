/* Tests for the lookups' %-variables, the path-safe expansion,
   auth_username_format and the args templates. */
#include "test-lib-auth.h"
#include "auth-vars.h"
#include "auth-fields.h"

static const char *test_expand(const char *template,
			       const struct auth_vars *vars, bool path)
{
	const char *result, *error;
	int ret = path ? auth_vars_expand_path(template, vars, &result, &error) :
		auth_vars_expand(template, vars, &result, &error);

	return ret < 0 ? t_strdup_printf("ERROR: %s", error) : result;
}

static void test_auth_vars_expand(void)
{
	const struct auth_vars vars = {
		.user = "Bob.Smith@Example.COM",
		.service = "imap",
		.local_ip = "192.0.2.1",
		.remote_ip = "2001:db8::7",
	};
	const struct auth_vars bare = { .user = "bob" };

	test_begin("auth vars: expansion");
	test_assert_strcmp(test_expand("%u|%n|%d|%s|%l|%r", &vars, false),
			   "Bob.Smith@Example.COM|Bob.Smith|Example.COM|imap|192.0.2.1|2001:db8::7");
	test_assert_strcmp(test_expand("%{user}|%{username}|%{domain}|%{service}|%{lip}|%{rip}",
				       &vars, false),
			   "Bob.Smith@Example.COM|Bob.Smith|Example.COM|imap|192.0.2.1|2001:db8::7");
	test_assert_strcmp(test_expand("/var/vmail/%Ld/%Ln", &vars, false),
			   "/var/vmail/example.com/bob.smith");
	test_assert_strcmp(test_expand("%1Ln/%Ln", &vars, false), "b/bob.smith");
	test_assert_strcmp(test_expand("%n@%d|%s|%r", &bare, false), "bob@||");
	test_assert_strcmp(test_expand("100%%", &vars, false), "100%");
	test_assert(str_begins(test_expand("%{nosuch}", &vars, false), "ERROR: "));
	test_assert(str_begins(test_expand("%x", &vars, false), "ERROR: "));
	test_end();
}

static void test_auth_vars_expand_path(void)
{
	const struct auth_vars up = { .user = "x@../../etc" };
	const struct auth_vars dots = { .user = "..@.." };
	const struct auth_vars slash = { .user = "a/b@c/d" };

	test_begin("auth vars: path-safe expansion");
	test_assert_strcmp(test_expand("/etc/mail/%d/passwd", &up, true),
			   "/etc/mail//passwd");
	test_assert_strcmp(test_expand("/etc/mail/%d/%n", &dots, true),
			   "/etc/mail//");
	test_assert_strcmp(test_expand("/m/%d/%n/%u", &slash, true),
			   "/m/c/a/a");
	/* the plain expansion leaves values alone */
	test_assert_strcmp(test_expand("/etc/mail/%d/passwd", &up, false),
			   "/etc/mail/../../etc/passwd");
	test_assert(auth_vars_have_variables("/etc/%d/passwd"));
	test_assert(auth_vars_have_variables("%{domain}"));
	test_assert(!auth_vars_have_variables("/etc/100%%/passwd"));
	test_assert(!auth_vars_have_variables("/etc/passwd"));
	test_end();
}

static void test_auth_username_format(void)
{
	const char *result, *error;

	test_begin("auth_username_format");
	test_assert(auth_username_format("%Lu", "Bob@Example.COM", &result,
					  &error) == 0);
	test_assert_strcmp(result, "bob@example.com");
	test_assert(auth_username_format("%Ln", "Bob@Example.COM", &result,
					  &error) == 0);
	test_assert_strcmp(result, "bob");
	test_assert(auth_username_format("%u", "Bob", &result, &error) == 0);
	test_assert_strcmp(result, "Bob");
	test_assert(auth_username_format("%z", "Bob", &result, &error) < 0);
	test_end();
}

static void test_auth_fields(void)
{
	pool_t pool = pool_alloconly_create("test fields", 256);
	struct auth_fields *fields;
	const struct auth_field *f;
	unsigned int count;

	test_begin("auth fields");
	fields = auth_fields_parse_template(pool,
		"  uid=vmail gid=vmail\thome=/var/vmail/%d/%n nologin  x=a=b ");
	f = auth_fields_get(fields, &count);
	test_assert(count == 5);
	test_assert_strcmp(f[0].key, "uid");
	test_assert_strcmp(f[0].value, "vmail");
	test_assert_strcmp(f[2].value, "/var/vmail/%d/%n");
	test_assert_strcmp(f[3].key, "nologin");
	test_assert_strcmp(f[3].value, "");
	test_assert_strcmp(auth_fields_find(fields, "x"), "a=b");
	test_assert(auth_fields_find(fields, "nosuch") == NULL);

	/* replacing keeps the place */
	auth_fields_add(fields, "gid", "100");
	f = auth_fields_get(fields, &count);
	test_assert(count == 5 && strcmp(f[1].value, "100") == 0);
	test_assert(auth_fields_remove(fields, "uid"));
	test_assert(!auth_fields_remove(fields, "uid"));
	test_assert(!auth_fields_exists(fields, "uid"));
	f = auth_fields_get(fields, &count);
	test_assert(count == 4 && strcmp(f[0].key, "gid") == 0);
	test_assert(auth_fields_count(auth_fields_parse_template(pool, "")) == 0);
	pool_unref(&pool);
	test_end();
}

test_func_t *const test_auth_vars_tests[] = {
	test_auth_vars_expand,
	test_auth_vars_expand_path,
	test_auth_username_format,
	test_auth_fields,
	NULL
};
