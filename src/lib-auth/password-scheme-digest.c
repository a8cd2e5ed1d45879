/* Plain digests and salted digests: PLAIN, SHA*, SSHA*, MD5 (as
   MD5-CRYPT or PLAIN-MD5), SMD5 and DIGEST-MD5, with OpenSSL's EVP. The
   salted forms store digest || salt, as LDAP servers and Dovecot do. */
#include "lib.h"
#include "password-scheme-private.h"

#include <openssl/evp.h>

/* Dovecot makes 4-byte salts; any length verifies, so ours are longer. */
#define PASSWORD_SALTED_SALT_SIZE 8

int password_plain_generate(const char *plaintext,
			    const struct password_params *params ATTR_UNUSED,
			    buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	buffer_append(dest, plaintext, strlen(plaintext));
	return 0;
}

/* digest(part1 || part2) into digest_r (EVP_MAX_MD_SIZE bytes). */
static void password_digest2(const EVP_MD *md, const void *part1,
			     size_t size1, const void *part2, size_t size2,
			     unsigned char *digest_r)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len;

	if (ctx == NULL)
		i_panic("EVP_MD_CTX_new() failed: out of memory");
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, part1, size1) != 1 ||
	    (size2 > 0 && EVP_DigestUpdate(ctx, part2, size2) != 1) ||
	    EVP_DigestFinal_ex(ctx, digest_r, &len) != 1)
		i_panic("EVP digest failed");
	EVP_MD_CTX_free(ctx);
}

static int password_digest_generate(const EVP_MD *md, const char *plaintext,
				    buffer_t *dest)
{
	unsigned char digest[EVP_MAX_MD_SIZE];

	password_digest2(md, plaintext, strlen(plaintext), NULL, 0, digest);
	buffer_append(dest, digest, (size_t)EVP_MD_get_size(md));
	safe_memset(digest, 0, sizeof(digest));
	return 0;
}

int password_sha1_generate(const char *plaintext,
			   const struct password_params *params ATTR_UNUSED,
			   buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_digest_generate(EVP_sha1(), plaintext, dest);
}

int password_sha256_generate(const char *plaintext,
			     const struct password_params *params ATTR_UNUSED,
			     buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_digest_generate(EVP_sha256(), plaintext, dest);
}

int password_sha512_generate(const char *plaintext,
			     const struct password_params *params ATTR_UNUSED,
			     buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_digest_generate(EVP_sha512(), plaintext, dest);
}

int password_md5_generate(const char *plaintext,
			  const struct password_params *params ATTR_UNUSED,
			  buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_digest_generate(EVP_md5(), plaintext, dest);
}

int password_digest_md5_generate(const char *plaintext,
				 const struct password_params *params,
				 buffer_t *dest, const char **error_r)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (params->user == NULL) {
		*error_r = "DIGEST-MD5 needs the user name";
		return -1;
	}
	/* MD5("user:realm:password"), realm being the domain of
	   user@domain (empty without one), as Dovecot stores it */
	const char *at = strchr(params->user, '@');
	size_t user_len = at == NULL ? strlen(params->user) :
		(size_t)(at - params->user);
	const char *realm = at == NULL ? "" : at + 1;

	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		i_panic("EVP_MD_CTX_new() failed: out of memory");
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, params->user, user_len) != 1 ||
	    EVP_DigestUpdate(ctx, ":", 1) != 1 ||
	    EVP_DigestUpdate(ctx, realm, strlen(realm)) != 1 ||
	    EVP_DigestUpdate(ctx, ":", 1) != 1 ||
	    EVP_DigestUpdate(ctx, plaintext, strlen(plaintext)) != 1 ||
	    EVP_DigestFinal_ex(ctx, digest, &len) != 1)
		i_panic("EVP digest failed");
	EVP_MD_CTX_free(ctx);
	buffer_append(dest, digest, len);
	safe_memset(digest, 0, sizeof(digest));
	return 0;
}

static int password_salted_generate(const EVP_MD *md, const char *plaintext,
				    buffer_t *dest)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned char salt[PASSWORD_SALTED_SALT_SIZE];

	password_random_bytes(salt, sizeof(salt));
	password_digest2(md, plaintext, strlen(plaintext), salt, sizeof(salt),
			 digest);
	buffer_append(dest, digest, (size_t)EVP_MD_get_size(md));
	buffer_append(dest, salt, sizeof(salt));
	safe_memset(digest, 0, sizeof(digest));
	return 0;
}

static int password_salted_verify(const EVP_MD *md, const char *plaintext,
				  const unsigned char *raw, size_t size,
				  const char *too_short_error,
				  const char **error_r)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t digest_size = (size_t)EVP_MD_get_size(md);

	/* digest || salt, with a salt of at least one byte */
	if (size <= digest_size) {
		*error_r = too_short_error;
		return -1;
	}
	password_digest2(md, plaintext, strlen(plaintext), raw + digest_size,
			 size - digest_size, digest);
	int ret = password_mem_equals(digest, raw, digest_size) ? 1 : 0;
	safe_memset(digest, 0, sizeof(digest));
	return ret;
}

int password_ssha_generate(const char *plaintext,
			   const struct password_params *params ATTR_UNUSED,
			   buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_salted_generate(EVP_sha1(), plaintext, dest);
}

int password_ssha256_generate(const char *plaintext,
			      const struct password_params *params ATTR_UNUSED,
			      buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_salted_generate(EVP_sha256(), plaintext, dest);
}

int password_ssha512_generate(const char *plaintext,
			      const struct password_params *params ATTR_UNUSED,
			      buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_salted_generate(EVP_sha512(), plaintext, dest);
}

int password_smd5_generate(const char *plaintext,
			   const struct password_params *params ATTR_UNUSED,
			   buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	return password_salted_generate(EVP_md5(), plaintext, dest);
}

int password_ssha_verify(const char *plaintext,
			 const struct password_params *params ATTR_UNUSED,
			 const unsigned char *raw, size_t size,
			 const char **error_r)
{
	return password_salted_verify(EVP_sha1(), plaintext, raw, size,
				      "SSHA password is too short", error_r);
}

int password_ssha256_verify(const char *plaintext,
			    const struct password_params *params ATTR_UNUSED,
			    const unsigned char *raw, size_t size,
			    const char **error_r)
{
	return password_salted_verify(EVP_sha256(), plaintext, raw, size,
				      "SSHA256 password is too short", error_r);
}

int password_ssha512_verify(const char *plaintext,
			    const struct password_params *params ATTR_UNUSED,
			    const unsigned char *raw, size_t size,
			    const char **error_r)
{
	return password_salted_verify(EVP_sha512(), plaintext, raw, size,
				      "SSHA512 password is too short", error_r);
}

int password_smd5_verify(const char *plaintext,
			 const struct password_params *params ATTR_UNUSED,
			 const unsigned char *raw, size_t size,
			 const char **error_r)
{
	return password_salted_verify(EVP_md5(), plaintext, raw, size,
				      "SMD5 password is too short", error_r);
}

int password_md5_verify(const char *plaintext,
			const struct password_params *params,
			const unsigned char *raw, size_t size,
			const char **error_r)
{
	/* {MD5} is MD5-CRYPT when it looks like one, else PLAIN-MD5 (an
	   old Dovecot ambiguity kept for the files that rely on it) */
	if (size >= 3 && memcmp(raw, "$1$", 3) == 0) {
		return password_crypt_verify_md5(plaintext, params, raw, size,
						 error_r);
	}

	const struct password_scheme *scheme;
	buffer_t *decoded;
	if (password_decode("PLAIN-MD5", (const char *)raw, size, &scheme,
			    &decoded, error_r) < 0) {
		*error_r = "Not a valid MD5-CRYPT or PLAIN-MD5 password";
		return -1;
	}
	unsigned char digest[EVP_MAX_MD_SIZE];
	password_digest2(EVP_md5(), plaintext, strlen(plaintext), NULL, 0,
			 digest);
	int ret = password_mem_equals(digest, decoded->data, 16) ? 1 : 0;
	safe_memset(digest, 0, sizeof(digest));
	password_buffer_free(&decoded);
	return ret;
}
