/* The crypt(3) family through libxcrypt's reentrant calls: SHA512-CRYPT,
   SHA256-CRYPT, BLF-CRYPT, MD5-CRYPT, DES-CRYPT and yescrypt. {CRYPT}
   verifies any format libxcrypt knows, as Dovecot's does through the
   system crypt(). */
#include "lib.h"
#include "password-scheme-private.h"

#include <crypt.h>

#define CRYPT_RANDOM_BYTES 16
#define CRYPT_BLF_DEFAULT_COST 5
#define CRYPT_BLF_MIN_COST 4
#define CRYPT_BLF_MAX_COST 31
#define CRYPT_YESCRYPT_MAX_COST 11

/* crypt(plaintext, setting) compared with setting, which is the whole
   stored hash. */
static int password_crypt_check(const char *plaintext,
				const unsigned char *raw, size_t size,
				const char **error_r)
{
	if (size == 0) {
		/* crypt("") could match an empty setting: never a match */
		return 0;
	}
	if (raw[0] == '!' || raw[0] == '*') {
		/* shadow's locked-account markers: refuse, but as a wrong
		   password rather than a broken passdb */
		return 0;
	}
	if (memchr(raw, '\0', size) != NULL) {
		*error_r = "Malformed crypt hash";
		return -1;
	}

	char *setting = i_strndup((const char *)raw, size);
	/* crypt_data is 32 kB: too big for a worker thread's stack */
	struct crypt_data *data = i_new(struct crypt_data, 1);
	const char *out = crypt_rn(plaintext, setting, data, sizeof(*data));
	int ret;

	if (out == NULL || out[0] == '*') {
		*error_r = "Malformed crypt hash (or a method libcrypt lacks)";
		ret = -1;
	} else {
		ret = password_data_equals(out, strlen(out), setting, size) ?
			1 : 0;
	}
	safe_memset(data, 0, sizeof(*data));
	free(data);
	safe_memset(setting, 0, size);
	free(setting);
	return ret;
}

int password_crypt_verify(const char *plaintext,
			  const struct password_params *params ATTR_UNUSED,
			  const unsigned char *raw, size_t size,
			  const char **error_r)
{
	return password_crypt_check(plaintext, raw, size, error_r);
}

int password_crypt_verify_blowfish(const char *plaintext,
	const struct password_params *params ATTR_UNUSED,
	const unsigned char *raw, size_t size, const char **error_r)
{
	if (size == 0)
		return 0;
	/* $2a$, $2b$, $2x$, $2y$ */
	if (size < 7 || raw[0] != '$' || raw[1] != '2' || raw[3] != '$') {
		*error_r = "Password is not a BLF-CRYPT hash";
		return -1;
	}
	return password_crypt_check(plaintext, raw, size, error_r);
}

int password_crypt_verify_md5(const char *plaintext,
			      const struct password_params *params ATTR_UNUSED,
			      const unsigned char *raw, size_t size,
			      const char **error_r)
{
	if (size == 0)
		return 0;
	if (size < 4 || memcmp(raw, "$1$", 3) != 0) {
		*error_r = "Password is not an MD5-CRYPT hash";
		return -1;
	}
	return password_crypt_check(plaintext, raw, size, error_r);
}

/* Hash plaintext with a fresh setting for prefix and count. */
static int password_crypt_generate(const char *plaintext, const char *prefix,
				   unsigned long count, buffer_t *dest,
				   const char **error_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char rbytes[CRYPT_RANDOM_BYTES];

	password_random_bytes(rbytes, sizeof(rbytes));
	if (crypt_gensalt_rn(prefix, count, rbytes, sizeof(rbytes),
			     setting, sizeof(setting)) == NULL) {
		*error_r = "crypt_gensalt() failed: rounds out of range?";
		return -1;
	}
	safe_memset(rbytes, 0, sizeof(rbytes));

	struct crypt_data *data = i_new(struct crypt_data, 1);
	const char *out = crypt_rn(plaintext, setting, data, sizeof(*data));
	int ret = 0;
	if (out == NULL || out[0] == '*') {
		*error_r = "crypt() failed";
		ret = -1;
	} else {
		buffer_append(dest, out, strlen(out));
	}
	safe_memset(data, 0, sizeof(*data));
	free(data);
	return ret;
}

int password_crypt_generate_sha512(const char *plaintext,
				   const struct password_params *params,
				   buffer_t *dest, const char **error_r)
{
	/* libxcrypt clamps rounds to 1000..999999999 as Dovecot's crypt
	   did, and leaves "rounds=" out at the default 5000 */
	return password_crypt_generate(plaintext, "$6$", params->rounds,
				       dest, error_r);
}

int password_crypt_generate_sha256(const char *plaintext,
				   const struct password_params *params,
				   buffer_t *dest, const char **error_r)
{
	return password_crypt_generate(plaintext, "$5$", params->rounds,
				       dest, error_r);
}

int password_crypt_generate_blowfish(const char *plaintext,
				     const struct password_params *params,
				     buffer_t *dest, const char **error_r)
{
	unsigned long cost = params->rounds;

	if (cost == 0)
		cost = CRYPT_BLF_DEFAULT_COST;
	else if (cost < CRYPT_BLF_MIN_COST)
		cost = CRYPT_BLF_MIN_COST;
	else if (cost > CRYPT_BLF_MAX_COST) {
		*error_r = "BLF-CRYPT rounds must be 4..31 (log2 of the cost)";
		return -1;
	}
	/* $2y$ as Dovecot writes: the same algorithm as $2b$, and what
	   older PHP-based admin tools expect */
	return password_crypt_generate(plaintext, "$2y$", cost, dest, error_r);
}

int password_crypt_generate_md5(const char *plaintext,
	const struct password_params *params ATTR_UNUSED, buffer_t *dest,
	const char **error_r)
{
	return password_crypt_generate(plaintext, "$1$", 0, dest, error_r);
}

int password_crypt_generate_yescrypt(const char *plaintext,
				     const struct password_params *params,
				     buffer_t *dest, const char **error_r)
{
	if (params->rounds > CRYPT_YESCRYPT_MAX_COST) {
		*error_r = "YESCRYPT rounds must be 1..11";
		return -1;
	}
	return password_crypt_generate(plaintext, "$y$", params->rounds,
				       dest, error_r);
}

int password_crypt_generate_des(const char *plaintext,
	const struct password_params *params ATTR_UNUSED, buffer_t *dest,
	const char **error_r)
{
	/* traditional DES crypt: the setting is just two salt characters
	   (and only the first 8 bytes of the password count) */
	char setting[3];
	struct crypt_data *data = i_new(struct crypt_data, 1);

	password_random_salt(setting, 2);
	setting[2] = '\0';
	const char *out = crypt_rn(plaintext, setting, data, sizeof(*data));
	int ret = 0;
	if (out == NULL || out[0] == '*') {
		*error_r = "DES crypt() failed (not supported by libcrypt?)";
		ret = -1;
	} else {
		buffer_append(dest, out, strlen(out));
	}
	safe_memset(data, 0, sizeof(*data));
	free(data);
	return ret;
}
