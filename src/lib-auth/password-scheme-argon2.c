/* ARGON2I and ARGON2ID through libsodium, as Dovecot builds them: the PHC
   string "$argon2id$v=19$m=KiB,t=passes,p=1$salt$hash", with the memory
   chosen from the passes the same way, so `-r N` gives what doveadm gives. */
#include "lib.h"
#include "password-scheme-private.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/mman.h>

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

/* Whether the m= KiB the hash needs can be mapped now (the way libsodium
   allocates it). The hash is well-formed. */
static bool argon2_memory_available(const char *str, size_t len)
{
	const char *m = memmem(str, len, "m=", 2);
	unsigned long long kib = 0;

	i_assert(m != NULL);
	for (m += 2; isdigit((unsigned char)*m); m++) {
		kib = kib * 10 + (unsigned long long)(*m - '0');
		if (kib > (SIZE_MAX >> 10))
			return false;
	}
	size_t bytes = (size_t)kib << 10;
	if (bytes == 0)
		return true;
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return false;
	(void)munmap(mem, bytes);
	return true;
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
	int ret = crypto_pwhash_str_verify(str, plaintext, strlen(plaintext));
	free(str);
	if (ret == 0)
		return 1;
	/* libsodium answers -1 (errno EINVAL) both to a wrong password and
	   to a hash it could not compute because the m= memory could not be
	   allocated. The second must not look like a wrong password, or a
	   user whose hash needs more memory than the process may take could
	   never log in and no one would know why: when the memory cannot be
	   mapped now either, it is an error. */
	if (!argon2_memory_available((const char *)raw, size)) {
		*error_r = "Argon2: out of memory computing the hash (its m= is more than the process may allocate)";
		return -1;
	}
	return 0;
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
