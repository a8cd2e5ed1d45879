/* Tests for `columba pw` (auth_pw_cmd): its options, output and exit
   codes next to doveadm pw's, with stdin, stdout and stderr redirected to
   files. */
#include "test-lib-auth.h"
#include "auth-pw-cli.h"

#include <fcntl.h>
#include <sysexits.h>

struct test_pw_result {
	int ret;
	const char *out, *err;
};

static const char *test_read_file(const char *path)
{
	string_t *str = t_str_new(256);
	char buf[1024];
	int fd = open(path, O_RDONLY);
	ssize_t ret;

	if (fd < 0)
		i_fatal("open(%s) failed: %m", path);
	while ((ret = read(fd, buf, sizeof(buf))) > 0)
		str_append_data(str, buf, (size_t)ret);
	(void)close(fd);
	return str_c(str);
}

/* Run `columba pw ARGS` with stdin from stdin_data (NULL: /dev/null). */
static struct test_pw_result test_pw_run(const char *stdin_data, ...)
{
	const char *in_path = t_strdup_printf("%s/pw-stdin", test_dir());
	const char *out_path = t_strdup_printf("%s/pw-stdout", test_dir());
	const char *err_path = t_strdup_printf("%s/pw-stderr", test_dir());
	ARRAY(char *) args;
	va_list va;
	const char *arg;

	array_init(&args, pool_datastack, 8);
	array_push(&args, p_strdup(pool_datastack, "pw"));
	va_start(va, stdin_data);
	while ((arg = va_arg(va, const char *)) != NULL)
		array_push(&args, p_strdup(pool_datastack, arg));
	va_end(va);
	array_push(&args, NULL);

	(void)test_auth_write_file("pw-stdin",
				   stdin_data == NULL ? "" : stdin_data);
	fflush(stdout);
	fflush(stderr);
	int saved[3] = { dup(0), dup(1), dup(2) };
	int in_fd = stdin_data == NULL ? open("/dev/null", O_RDONLY) :
		open(in_path, O_RDONLY);
	int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	i_assert(in_fd >= 0 && out_fd >= 0 && err_fd >= 0);
	(void)dup2(in_fd, 0);
	(void)dup2(out_fd, 1);
	(void)dup2(err_fd, 2);

	struct test_pw_result result;
	result.ret = auth_pw_cmd((int)array_count(&args) - 1, args.v);
	fflush(stdout);
	fflush(stderr);

	for (int fd = 0; fd < 3; fd++) {
		(void)dup2(saved[fd], fd);
		(void)close(saved[fd]);
	}
	(void)close(in_fd);
	(void)close(out_fd);
	(void)close(err_fd);
	result.out = test_read_file(out_path);
	result.err = test_read_file(err_path);
	return result;
}

static void test_pw_generate(void)
{
	struct test_pw_result r;

	test_begin("columba pw: generate");
	r = test_pw_run(NULL, "-s", "SHA", "-p", "secret", NULL);
	test_assert(r.ret == 0);
	test_assert_strcmp(r.out, "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n");

	r = test_pw_run(NULL, "-p", "secret", NULL);
	test_assert(r.ret == 0);
	test_assert(str_begins(r.out, "{SHA512-CRYPT}$6$"));

	r = test_pw_run(NULL, "-s", "sha256.hex", "-p", "secret", NULL);
	test_assert_strcmp(r.out, "{SHA256.HEX}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\n");

	r = test_pw_run(NULL, "-s", "SHA512-CRYPT", "-r", "10000", "-p", "x",
			NULL);
	test_assert(r.ret == 0 && str_begins(r.out, "{SHA512-CRYPT}$6$rounds=10000$"));

	r = test_pw_run(NULL, "-s", "DIGEST-MD5", "-u", "bob@example.com",
			"-p", "secret", NULL);
	test_assert_strcmp(r.out, "{DIGEST-MD5}2664cba6663a734ef3a6fefc0c0d0821\n");

	r = test_pw_run(NULL, "-V", "-s", "SSHA", "-p", "x", NULL);
	test_assert(r.ret == 0 && str_begins(r.out, "{SSHA}") &&
		    str_ends_with(r.out, " (verified)\n"));

	/* from a pipe: one line, no confirmation */
	r = test_pw_run("piped secret\n", "-s", "PLAIN", NULL);
	test_assert(r.ret == 0);
	test_assert_strcmp(r.out, "{PLAIN}piped secret\n");
	r = test_pw_run("crlf\r\n", "-s", "PLAIN", NULL);
	test_assert_strcmp(r.out, "{PLAIN}crlf\n");
	r = test_pw_run("no newline", "-s", "PLAIN", NULL);
	test_assert_strcmp(r.out, "{PLAIN}no newline\n");
	r = test_pw_run("\n", "-s", "PLAIN", NULL);
	test_assert_strcmp(r.out, "{PLAIN}\n");
	test_end();
}

static void test_pw_test_mode(void)
{
	struct test_pw_result r;

	test_begin("columba pw: -t");
	r = test_pw_run(NULL, "-t", "{PLAIN}secret", "-p", "secret", NULL);
	test_assert(r.ret == 0);
	test_assert_strcmp(r.out, "{PLAIN}secret (verified)\n");

	r = test_pw_run("secret\n", "-t",
			"{SHA512-CRYPT}$6$saltsalt1234$Jzx4Wae8pi9RPOzMzzzpteRFlAukgjIekvrujxvQsIAIkzoHg28m3wEsiThWW4NZCiw9qq26Jdx2oIzBnIWKL0",
			NULL);
	test_assert(r.ret == 0 && str_ends_with(r.out, " (verified)\n"));

	r = test_pw_run(NULL, "-t", "$1$saltsalt$9xy1btjgzLYfb7hivXtC//",
			"-p", "secret", NULL);
	test_assert(r.ret == 0);

	r = test_pw_run(NULL, "-t", "{PLAIN}secret", "-p", "wrong", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_assert(r.out[0] == '\0');
	test_assert(strstr(r.err, "Password mismatch") != NULL);

	r = test_pw_run(NULL, "-t", "secret", "-p", "secret", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_assert(strstr(r.err, "Missing {scheme} prefix") != NULL);

	r = test_pw_run(NULL, "-t", "{FOO}x", "-p", "x", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	r = test_pw_run(NULL, "-t", "{SHA}@@@@", "-p", "x", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_assert(strstr(r.err, "base64") != NULL);
	r = test_pw_run(NULL, "-t", "{DIGEST-MD5}2664cba6663a734ef3a6fefc0c0d0821",
			"-p", "secret", "-u", "bob@example.com", NULL);
	test_assert(r.ret == 0);
	test_end();
}

static void test_pw_errors(void)
{
	struct test_pw_result r;

	test_begin("columba pw: errors and -l");
	r = test_pw_run(NULL, "-l", NULL);
	test_assert(r.ret == 0);
	test_assert(strstr(r.out, "SHA512-CRYPT ") != NULL);
	test_assert(strstr(r.out, "ARGON2ID ") != NULL);
	test_assert(strstr(r.out, "SCRAM-SHA-256 ") != NULL);
	test_assert(str_ends_with(r.out, " \n"));

	r = test_pw_run(NULL, "-s", "FOO", "-p", "x", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_assert(strstr(r.err, "Unknown scheme: FOO") != NULL);
	r = test_pw_run(NULL, "-s", "DIGEST-MD5", "-p", "x", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_assert(strstr(r.err, "user name") != NULL);
	r = test_pw_run(NULL, "-s", "BLF-CRYPT", "-r", "40", "-p", "x", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	r = test_pw_run(NULL, "-r", "many", "-p", "x", NULL);
	test_assert(r.ret == EX_USAGE);
	r = test_pw_run(NULL, "-x", NULL);
	test_assert(r.ret == EX_USAGE);
	test_assert(strstr(r.err, "Usage:") != NULL);
	r = test_pw_run(NULL, "-p", "x", "extra", NULL);
	test_assert(r.ret == EX_USAGE);
	/* nothing on stdin */
	r = test_pw_run("", "-s", "PLAIN", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	r = test_pw_run(NULL, "-s", "PLAIN", NULL);
	test_assert(r.ret == EX_TEMPFAIL);
	test_end();
}

test_func_t *const test_auth_pw_cli_tests[] = {
	test_pw_generate,
	test_pw_test_mode,
	test_pw_errors,
	NULL
};
