/* ARGON2I and ARGON2ID through libsodium, as Dovecot builds them: the PHC
   string "$argon2id$v=19$m=KiB,t=passes,p=1$salt$hash", with the memory
   chosen from the passes the same way, so `-r N` gives what doveadm gives. */
#include "lib.h"
#include "password-scheme-private.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>

/* libsodium refuses Argon2i below 3 passes; Dovecot applies the floor to
   both variants. */
#define ARGON2_MIN_PASSES 3

static pthread_once_t argon2_sodium_once = PTHREAD_ONCE_INIT;

static void argon2_sodium_init(void)
{
	if (sodium_init() < 0)
		i_panic("sodium_init() failed");
}

/* Skip a run of characters accepted by ok(); false if the run is empty. */
static bool argon2_skip(const char **p, const char *end, int (*ok)(int))
{
	const char *start = *p;

	while (*p < end && ok((unsigned char)**p))
		(*p)++;
	return *p > start;
}

static bool argon2_skip_str(const char **p, const char *end, const char *str)
{
	size_t len = strlen(str);

	if ((size_t)(end - *p) < len || memcmp(*p, str, len) != 0)
		return false;
	*p += len;
	return true;
}

static int argon2_is_b64(int c)
{
	return isalnum(c) || c == '+' || c == '/';
}

/* The PHC string's shape, so that a malformed hash is an error instead of
   a mismatch (libsodium answers -1 to both). */
static bool argon2_is_wellformed(const char *str, size_t len)
{
	const char *p = str, *end = str + len;

	if (!argon2_skip_str(&p, end, "$argon2id$") &&
	    !argon2_skip_str(&p, end, "$argon2i$"))
		return false;
	if (argon2_skip_str(&p, end, "v=")) {
		if (!argon2_skip(&p, end, isdigit) ||
		    !argon2_skip_str(&p, end, "$"))
			return false;
	}
	return argon2_skip_str(&p, end, "m=") &&
		argon2_skip(&p, end, isdigit) &&
		argon2_skip_str(&p, end, ",t=") &&
		argon2_skip(&p, end, isdigit) &&
		argon2_skip_str(&p, end, ",p=") &&
		argon2_skip(&p, end, isdigit) &&
		argon2_skip_str(&p, end, "$") &&
		argon2_skip(&p, end, argon2_is_b64) &&
		argon2_skip_str(&p, end, "$") &&
		argon2_skip(&p, end, argon2_is_b64) && p == end;
}

int password_argon2_verify(const char *plaintext,
			   const struct password_params *params ATTR_UNUSED,
			   const unsigned char *raw, size_t size,
			   const char **error_r)
{
	if (!argon2_is_wellformed((const char *)raw, size)) {
		*error_r = "Malformed Argon2 hash";
		return -1;
	}
	(void)pthread_once(&argon2_sodium_once, argon2_sodium_init);

	char *str = i_strndup((const char *)raw, size);
	/* either variant verifies under either name, as in Dovecot */
	int ret = crypto_pwhash_str_verify(str, plaintext,
					   strlen(plaintext)) == 0 ? 1 : 0;
	free(str);
	return ret;
}

static int argon2_generate(const char *plaintext, unsigned long long passes,
			   size_t memlimit, int alg, buffer_t *dest,
			   const char **error_r)
{
	char result[crypto_pwhash_STRBYTES];

	(void)pthread_once(&argon2_sodium_once, argon2_sodium_init);
	if (passes < ARGON2_MIN_PASSES)
		passes = ARGON2_MIN_PASSES;
	if (crypto_pwhash_str_alg(result, plaintext, strlen(plaintext),
				  passes, memlimit, alg) != 0) {
		*error_r = "Argon2 hashing failed (out of memory?)";
		return -1;
	}
	buffer_append(dest, result, strlen(result));
	return 0;
}

int password_argon2i_generate(const char *plaintext,
			      const struct password_params *params,
			      buffer_t *dest, const char **error_r)
{
	unsigned long long passes = params->rounds;
	size_t memlimit;

	if (passes == 0)
		passes = crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE;
	if (passes >= crypto_pwhash_argon2i_OPSLIMIT_SENSITIVE)
		memlimit = crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE;
	else if (passes >= crypto_pwhash_argon2i_OPSLIMIT_MODERATE)
		memlimit = crypto_pwhash_argon2i_MEMLIMIT_MODERATE;
	else
		memlimit = crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE;
	return argon2_generate(plaintext, passes, memlimit,
			       crypto_pwhash_ALG_ARGON2I13, dest, error_r);
}

int password_argon2id_generate(const char *plaintext,
			       const struct password_params *params,
			       buffer_t *dest, const char **error_r)
{
	unsigned long long passes = params->rounds;
	size_t memlimit;

	if (passes == 0)
		passes = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
	if (passes >= crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE)
		memlimit = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
	else if (passes >= crypto_pwhash_argon2id_OPSLIMIT_MODERATE)
		memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
	else
		memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
	return argon2_generate(plaintext, passes, memlimit,
			       crypto_pwhash_ALG_ARGON2ID13, dest, error_r);
}
