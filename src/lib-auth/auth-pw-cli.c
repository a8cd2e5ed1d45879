/* `columba pw` (doveadm pw): option parsing, password input from the
   terminal without echo or from a pipe, and the generate / test modes on
   top of password-scheme.h. */
#include "lib.h"
#include "password-scheme.h"
#include "auth-pw-cli.h"

#include <getopt.h>
#include <sysexits.h>
#include <termios.h>

/* Longest password read from stdin or the terminal. */
#define AUTH_PW_MAX_LEN 4096

static void auth_pw_usage(void)
{
	fprintf(stderr, "Usage: columba pw [-l] [-p plaintext] [-r rounds] "
		"[-s scheme] [-t hash] [-u user] [-V]\n");
}

static int auth_pw_fail(const char *fmt, ...) ATTR_FORMAT(1, 2);
static int auth_pw_fail(const char *fmt, ...)
{
	va_list args;

	fputs("columba pw: Fatal: ", stderr);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputc('\n', stderr);
	return EX_TEMPFAIL;
}

/* One line from fd with read(2), byte by byte: stdio would keep a copy of
   the password in its buffer that nothing wipes. Returns a heap string
   (without the newline), or NULL at EOF before any byte or on error. */
static char *auth_pw_read_line(int fd)
{
	char *line = i_malloc(AUTH_PW_MAX_LEN + 1);
	size_t len = 0;
	bool got_any = false;

	for (;;) {
		char c;
		ssize_t ret = read(fd, &c, 1);

		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			break;
		got_any = true;
		if (c == '\n')
			break;
		if (len == AUTH_PW_MAX_LEN) {
			safe_memset(line, 0, AUTH_PW_MAX_LEN + 1);
			free(line);
			return NULL;
		}
		line[len++] = c;
	}
	if (!got_any) {
		free(line);
		return NULL;
	}
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	line[len] = '\0';
	return line;
}

static char *auth_pw_ask(const char *prompt)
{
	struct termios old, noecho;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return auth_pw_read_line(STDIN_FILENO);
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	char *line = auth_pw_read_line(STDIN_FILENO);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return line;
}

static void auth_pw_free(char **password)
{
	if (*password == NULL)
		return;
	safe_memset(*password, 0, strlen(*password));
	i_free(*password);
}

/* The password: -p's, or asked on the terminal (twice when confirm), or
   one line of a piped stdin. NULL after printing why. */
static char *auth_pw_get_password(const char *arg, bool confirm)
{
	if (arg != NULL)
		return i_strdup(arg);
	if (!isatty(STDIN_FILENO)) {
		char *line = auth_pw_read_line(STDIN_FILENO);

		if (line == NULL) {
			(void)auth_pw_fail("No password on standard input "
					   "(or longer than %d bytes)",
					   AUTH_PW_MAX_LEN);
		}
		return line;
	}

	char *pw = auth_pw_ask(confirm ? "Enter new password: " :
			       "Enter password to verify: ");
	if (pw == NULL) {
		(void)auth_pw_fail("Could not read the password");
		return NULL;
	}
	if (confirm) {
		char *again = auth_pw_ask("Retype new password: ");

		if (again == NULL || strcmp(pw, again) != 0) {
			auth_pw_free(&again);
			auth_pw_free(&pw);
			(void)auth_pw_fail("Passwords don't match!");
			return NULL;
		}
		auth_pw_free(&again);
	}
	return pw;
}

static int auth_pw_test(const char *hash, const char *password_arg,
			const char *user)
{
	char scheme[PASSWORD_SCHEME_NAME_MAX + 1];
	const char *data, *error;
	size_t data_len;
	int ret;

	/* doveadm insists on a scheme here: a bare hash would be checked
	   against whatever default the reader assumes */
	ret = password_split_scheme(hash, scheme, sizeof(scheme), &data,
				    &data_len);
	if (ret == 0)
		return auth_pw_fail("Missing {scheme} prefix from hash");
	if (ret < 0 || !password_scheme_is_known(scheme))
		return auth_pw_fail("Unknown scheme in hash");

	char *password = auth_pw_get_password(password_arg, false);
	if (password == NULL)
		return EX_TEMPFAIL;
	ret = password_verify_default(password, hash, NULL, user, &error);
	auth_pw_free(&password);
	if (ret < 0)
		return auth_pw_fail("Can't verify the hash: %s", error);
	if (ret == 0)
		return auth_pw_fail("Password verification failed: %s", error);
	printf("%s (verified)\n", hash);
	return 0;
}

static int auth_pw_generate(const char *scheme, const char *password_arg,
			    const char *user, unsigned int rounds,
			    bool reverse_verify)
{
	const char *error;
	char *hash;
	int ret;

	if (!password_scheme_is_known(scheme))
		return auth_pw_fail("Unknown scheme: %s", scheme);
	char *password = auth_pw_get_password(password_arg, true);
	if (password == NULL)
		return EX_TEMPFAIL;
	if (password_generate(password, scheme, user, rounds, &hash,
			      &error) < 0) {
		auth_pw_free(&password);
		return auth_pw_fail("%s: %s", scheme, error);
	}
	if (reverse_verify) {
		ret = password_verify_default(password, hash, NULL, user,
					      &error);
		if (ret <= 0) {
			auth_pw_free(&password);
			password_hash_free(&hash);
			return auth_pw_fail("Reverse verification of the new "
					    "hash failed: %s", error);
		}
	}
	auth_pw_free(&password);
	printf("%s%s\n", hash, reverse_verify ? " (verified)" : "");
	password_hash_free(&hash);
	return 0;
}

int auth_pw_cmd(int argc, char *argv[])
{
	const char *scheme = PASSWORD_SCHEME_DEFAULT_GENERATE;
	const char *password = NULL, *test_hash = NULL, *user = NULL;
	unsigned int rounds = 0;
	bool list = false, reverse_verify = false;
	int c;

	/* 0, not 1: glibc then starts over, so the command can be run more
	   than once in one process (the unit tests do) */
	optind = 0;
	while ((c = getopt(argc, argv, "+lp:r:s:t:u:V")) != -1) {
		switch (c) {
		case 'l':
			list = true;
			break;
		case 'p':
			password = optarg;
			break;
		case 'r':
			if (str_to_uint(optarg, &rounds) < 0) {
				fprintf(stderr, "columba pw: Invalid number "
					"of rounds: %s\n", optarg);
				return EX_USAGE;
			}
			break;
		case 's':
			scheme = optarg;
			break;
		case 't':
			test_hash = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'V':
			reverse_verify = true;
			break;
		default:
			auth_pw_usage();
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		auth_pw_usage();
		return EX_USAGE;
	}

	if (list) {
		const char *const *names = password_scheme_names();

		for (unsigned int i = 0; names[i] != NULL; i++)
			printf("%s ", names[i]);
		printf("\n");
		return 0;
	}
	if (test_hash != NULL)
		return auth_pw_test(test_hash, password, user);
	return auth_pw_generate(scheme, password, user, rounds,
				reverse_verify);
}
