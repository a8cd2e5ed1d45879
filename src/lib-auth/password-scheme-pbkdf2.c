/* Dovecot's PBKDF2 scheme: PBKDF2-HMAC-SHA1 with a 20-byte key, stored as
   "$1$salt$rounds$hexkey". The salt is used as the text it is (not
   decoded), which is what makes hashes from other tools line up. */
#include "lib.h"
#include "password-scheme-private.h"

#include <openssl/evp.h>

#define PBKDF2_KEY_SIZE 20
#define PBKDF2_SALT_LEN 16
#define PBKDF2_DEFAULT_ROUNDS 5000

static void pbkdf2_run(const char *plaintext, const char *salt,
		       size_t salt_len, unsigned int rounds,
		       unsigned char key_r[PBKDF2_KEY_SIZE])
{
	i_assert(rounds > 0 && rounds <= INT_MAX && salt_len <= INT_MAX);
	if (PKCS5_PBKDF2_HMAC(plaintext, (int)strlen(plaintext),
			      (const unsigned char *)salt, (int)salt_len,
			      (int)rounds, EVP_sha1(), PBKDF2_KEY_SIZE,
			      key_r) != 1)
		i_panic("PKCS5_PBKDF2_HMAC() failed");
}

int password_pbkdf2_generate(const char *plaintext,
			     const struct password_params *params,
			     buffer_t *dest, const char **error_r)
{
	unsigned char key[PBKDF2_KEY_SIZE];
	char salt[PBKDF2_SALT_LEN];
	char rounds_str[16];
	unsigned int rounds = params->rounds == 0 ?
		PBKDF2_DEFAULT_ROUNDS : params->rounds;

	if (rounds > INT_MAX) {
		*error_r = "PBKDF2 rounds out of range";
		return -1;
	}
	password_random_salt(salt, sizeof(salt));
	pbkdf2_run(plaintext, salt, sizeof(salt), rounds, key);

	buffer_append(dest, "$1$", 3);
	buffer_append(dest, salt, sizeof(salt));
	int len = snprintf(rounds_str, sizeof(rounds_str), "$%u$", rounds);
	buffer_append(dest, rounds_str, (size_t)len);
	password_hex_encode(key, sizeof(key), dest);
	safe_memset(key, 0, sizeof(key));
	return 0;
}

int password_pbkdf2_verify(const char *plaintext,
			   const struct password_params *params ATTR_UNUSED,
			   const unsigned char *raw, size_t size,
			   const char **error_r)
{
	const char *str = (const char *)raw, *end = str + size;
	unsigned char key[PBKDF2_KEY_SIZE];
	unsigned int rounds;

	if (size < 3 || memcmp(str, "$1$", 3) != 0) {
		*error_r = "Invalid PBKDF2 passdb entry prefix";
		return -1;
	}
	/* salt$rounds$hexkey: exactly three fields */
	const char *salt = str + 3;
	const char *d1 = memchr(salt, '$', (size_t)(end - salt));
	const char *d2 = d1 == NULL ? NULL :
		memchr(d1 + 1, '$', (size_t)(end - d1 - 1));
	if (d2 == NULL || memchr(d2 + 1, '$', (size_t)(end - d2 - 1)) != NULL) {
		*error_r = "Invalid PBKDF2 passdb entry format";
		return -1;
	}
	char rounds_str[16];
	size_t rounds_len = (size_t)(d2 - d1 - 1);
	if (rounds_len == 0 || rounds_len >= sizeof(rounds_str)) {
		*error_r = "Invalid PBKDF2 passdb entry format";
		return -1;
	}
	memcpy(rounds_str, d1 + 1, rounds_len);
	rounds_str[rounds_len] = '\0';
	if (str_to_uint(rounds_str, &rounds) < 0 || rounds == 0 ||
	    rounds > INT_MAX) {
		*error_r = "Invalid PBKDF2 passdb entry format";
		return -1;
	}

	buffer_t *stored = buffer_create(system_pool, PBKDF2_KEY_SIZE + 1);
	if (password_hex_decode(d2 + 1, (size_t)(end - d2 - 1), stored) < 0 ||
	    stored->used != PBKDF2_KEY_SIZE) {
		password_buffer_free(&stored);
		*error_r = "PBKDF2 hash not 160bit hex-encoded";
		return -1;
	}
	pbkdf2_run(plaintext, salt, (size_t)(d1 - salt), rounds, key);
	int ret = password_mem_equals(key, stored->data, sizeof(key)) ? 1 : 0;
	safe_memset(key, 0, sizeof(key));
	password_buffer_free(&stored);
	return ret;
}
