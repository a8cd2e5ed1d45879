/* What the password scheme families (password-scheme-*.c) share with the
   registry in password-scheme.c. Everything here follows the rules of
   password-scheme.h: thread-safe, heap only, static error strings,
   secrets wiped. */
#ifndef COLUMBA_PASSWORD_SCHEME_PRIVATE_H
#define COLUMBA_PASSWORD_SCHEME_PRIVATE_H

#include "password-scheme.h"

enum password_encoding {
	PASSWORD_ENCODING_NONE,
	PASSWORD_ENCODING_BASE64,
	PASSWORD_ENCODING_HEX,
};

struct password_params {
	/* login name (DIGEST-MD5), may be NULL */
	const char *user;
	/* generation cost, 0 = the scheme's default */
	unsigned int rounds;
};

/* Check plaintext against the decoded hash (raw, size: not
   NUL-terminated). Returns 1 match, 0 mismatch, -1 when the hash cannot
   be checked: malformed, or the check itself failed (out of memory). */
typedef int password_verify_func_t(const char *plaintext,
				   const struct password_params *params,
				   const unsigned char *raw, size_t size,
				   const char **error_r);
/* Append the raw (not yet encoded) hash of plaintext to dest, a buffer
   from system_pool. Returns 0, or -1 with *error_r. */
typedef int password_generate_func_t(const char *plaintext,
				     const struct password_params *params,
				     buffer_t *dest, const char **error_r);

struct password_scheme {
	const char *name;
	enum password_encoding default_encoding;
	/* The decoded size the scheme needs, 0 = any. With a fixed size and
	   an encoding, a hash without an encoding suffix may be hex or
	   base64 (Dovecot tells them apart by length). */
	size_t raw_size;
	/* NULL: generate with the same inputs and compare (unsalted
	   schemes) */
	password_verify_func_t *verify;
	password_generate_func_t *generate;
	/* The name written in front of generated hashes when it is not
	   name: Dovecot has no YESCRYPT scheme, so such hashes are written
	   as {CRYPT}, which both read. */
	const char *generate_name;
};

/* Look a scheme up by name (case-insensitive, without suffix). */
const struct password_scheme *password_scheme_find(const char *name,
						   size_t name_len);

/* Cryptographically random bytes; aborts if the CSPRNG fails. */
void password_random_bytes(void *buf, size_t size);
/* len random characters of the crypt salt alphabet [./0-9A-Za-z]. */
void password_random_salt(char *dest, size_t len);
/* Constant-time comparison of two equally long byte strings. */
bool password_mem_equals(const void *a, const void *b, size_t size);
/* Constant-time in the contents: equal lengths and equal bytes. */
bool password_data_equals(const void *a, size_t a_size,
			  const void *b, size_t b_size);
/* Wipe a system_pool buffer's storage and free it; *buf = NULL. */
void password_buffer_free(buffer_t **buf);
/* Lowercase hex of data appended to dest. */
void password_hex_encode(const void *data, size_t size, buffer_t *dest);
/* Decode hex (either case) and append to dest. Returns 0, or -1 on an
   odd length or a non-hex character (dest unchanged). */
int password_hex_decode(const char *src, size_t src_len, buffer_t *dest);

/* The families. */
password_verify_func_t password_crypt_verify;
password_verify_func_t password_crypt_verify_blowfish;
password_verify_func_t password_crypt_verify_md5;
password_generate_func_t password_crypt_generate_des;
password_generate_func_t password_crypt_generate_md5;
password_generate_func_t password_crypt_generate_sha256;
password_generate_func_t password_crypt_generate_sha512;
password_generate_func_t password_crypt_generate_blowfish;
password_generate_func_t password_crypt_generate_yescrypt;

password_verify_func_t password_argon2_verify;
password_generate_func_t password_argon2i_generate;
password_generate_func_t password_argon2id_generate;

password_verify_func_t password_pbkdf2_verify;
password_generate_func_t password_pbkdf2_generate;

password_verify_func_t password_scram_sha1_verify;
password_verify_func_t password_scram_sha256_verify;
password_generate_func_t password_scram_sha1_generate;
password_generate_func_t password_scram_sha256_generate;

password_generate_func_t password_cram_md5_generate;

password_generate_func_t password_plain_generate;
password_generate_func_t password_sha1_generate;
password_generate_func_t password_sha256_generate;
password_generate_func_t password_sha512_generate;
password_generate_func_t password_md5_generate;
password_generate_func_t password_digest_md5_generate;
password_verify_func_t password_ssha_verify;
password_verify_func_t password_ssha256_verify;
password_verify_func_t password_ssha512_verify;
password_verify_func_t password_smd5_verify;
password_generate_func_t password_ssha_generate;
password_generate_func_t password_ssha256_generate;
password_generate_func_t password_ssha512_generate;
password_generate_func_t password_smd5_generate;
password_verify_func_t password_md5_verify;

/* Decode the data of a password field as scheme name (with optional
   encoding suffix) into a new system_pool buffer (*raw_r; free with
   password_buffer_free()). Returns 0, or -1 with *error_r. Shared with
   the SASL credential helpers. */
int password_decode(const char *scheme_name, const char *data,
		    size_t data_len, const struct password_scheme **scheme_r,
		    buffer_t **raw_r, const char **error_r);

/* For the SASL credential helpers: decode the password field hash
   (default_scheme when it has no prefix) into *raw_r, NUL-terminated, and
   set *plaintext_r to whether it holds a plaintext rather than
   wanted_scheme's own stored form. Any other scheme is an error. */
int password_get_credentials_raw(const char *hash, const char *default_scheme,
				 const char *wanted_scheme, buffer_t **raw_r,
				 bool *plaintext_r, const char **error_r);

#endif
