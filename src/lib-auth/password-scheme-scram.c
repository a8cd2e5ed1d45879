/* SCRAM-SHA-1 and SCRAM-SHA-256 stored keys in Dovecot's format,
   "iterations,base64(salt),base64(StoredKey),base64(ServerKey)", and the
   credentials a SCRAM mechanism needs, from that format or derived from a
   stored plaintext. Like Dovecot, the password is hashed as given (not
   SASLprepped), so both produce the same keys from the same password. */
#include "lib.h"
#include "base64.h"
#include "password-scheme-private.h"

#include <strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SCRAM_SALT_SIZE 16

struct scram_hash {
	const char *scheme_name;
	const EVP_MD *(*md)(void);
	size_t key_size;
	/* static errors naming the scheme, as Dovecot words them */
	const char *format_error, *iter_error, *salt_error;
	const char *stored_key_error, *server_key_error;
};

static const struct scram_hash scram_sha1 = {
	"SCRAM-SHA-1", EVP_sha1, 20,
	"Invalid SCRAM-SHA-1 passdb entry format",
	"Invalid SCRAM-SHA-1 iteration count in passdb",
	"Invalid SCRAM-SHA-1 salt in passdb",
	"Invalid SCRAM-SHA-1 StoredKey in passdb",
	"Invalid SCRAM-SHA-1 ServerKey in passdb",
};
static const struct scram_hash scram_sha256 = {
	"SCRAM-SHA-256", EVP_sha256, 32,
	"Invalid SCRAM-SHA-256 passdb entry format",
	"Invalid SCRAM-SHA-256 iteration count in passdb",
	"Invalid SCRAM-SHA-256 salt in passdb",
	"Invalid SCRAM-SHA-256 StoredKey in passdb",
	"Invalid SCRAM-SHA-256 ServerKey in passdb",
};

/* SaltedPassword, then StoredKey = H(HMAC(salted, "Client Key")) and
   ServerKey = HMAC(salted, "Server Key") (RFC 5802 section 3). */
static void scram_derive(const struct scram_hash *hash, const char *plaintext,
			 const unsigned char *salt, size_t salt_size,
			 unsigned int iterations, unsigned char *stored_key_r,
			 unsigned char *server_key_r)
{
	unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
	const EVP_MD *md = hash->md();
	unsigned int len;

	i_assert(iterations <= INT_MAX && salt_size <= INT_MAX);
	if (PKCS5_PBKDF2_HMAC(plaintext, (int)strlen(plaintext), salt,
			      (int)salt_size, (int)iterations, md,
			      (int)hash->key_size, salted) != 1 ||
	    HMAC(md, salted, (int)hash->key_size,
		 (const unsigned char *)"Client Key", 10, client_key,
		 &len) == NULL ||
	    EVP_Digest(client_key, hash->key_size, stored_key_r, &len, md,
		       NULL) != 1 ||
	    HMAC(md, salted, (int)hash->key_size,
		 (const unsigned char *)"Server Key", 10, server_key_r,
		 &len) == NULL)
		i_panic("SCRAM key derivation failed");
	safe_memset(salted, 0, sizeof(salted));
	safe_memset(client_key, 0, sizeof(client_key));
}

static int scram_generate(const struct scram_hash *hash, const char *plaintext,
			  unsigned int rounds, buffer_t *dest)
{
	unsigned char salt[SCRAM_SALT_SIZE];
	unsigned char stored_key[EVP_MAX_MD_SIZE], server_key[EVP_MAX_MD_SIZE];
	char iter_str[16];
	/* Dovecot always writes 4096; a higher count is honoured, a lower
	   one raised, since no verifier accepts less */
	unsigned int iterations = rounds == 0 ?
		PASSWORD_SCRAM_DEFAULT_ITERATIONS :
		I_MAX(rounds, PASSWORD_SCRAM_MIN_ITERATIONS);

	if (iterations > INT_MAX)
		iterations = INT_MAX;
	password_random_bytes(salt, sizeof(salt));
	scram_derive(hash, plaintext, salt, sizeof(salt), iterations,
		     stored_key, server_key);

	int len = snprintf(iter_str, sizeof(iter_str), "%u,", iterations);
	buffer_append(dest, iter_str, (size_t)len);
	base64_encode(salt, sizeof(salt), dest);
	buffer_append_c(dest, ',');
	base64_encode(stored_key, hash->key_size, dest);
	buffer_append_c(dest, ',');
	base64_encode(server_key, hash->key_size, dest);
	safe_memset(stored_key, 0, sizeof(stored_key));
	safe_memset(server_key, 0, sizeof(server_key));
	return 0;
}

/* Decode one base64 field of exactly size bytes (0 = 1..max_size). */
static int scram_decode_field(const char *data, size_t len, unsigned char *out,
			      size_t size, size_t max_size, size_t *size_r)
{
	buffer_t *buf = buffer_create(system_pool, len + 4);
	const char *error;
	int ret = 0;

	if (base64_decode(data, len, buf, &error) < 0 ||
	    (size != 0 && buf->used != size) ||
	    (size == 0 && (buf->used == 0 || buf->used > max_size)))
		ret = -1;
	else {
		memcpy(out, buf->data, buf->used);
		*size_r = buf->used;
	}
	password_buffer_free(&buf);
	return ret;
}

static int scram_parse(const struct scram_hash *hash, const unsigned char *raw,
		       size_t size, struct password_scram_credentials *creds_r,
		       const char **error_r)
{
	const char *fields[4], *p = (const char *)raw, *end = p + size;
	size_t lens[4];
	unsigned int n = 0;
	bool more = true;

	memset(creds_r, 0, sizeof(*creds_r));
	while (more && n < N_ELEMENTS(fields)) {
		const char *comma = memchr(p, ',', (size_t)(end - p));

		fields[n] = p;
		lens[n] = (size_t)((comma == NULL ? end : comma) - p);
		n++;
		more = comma != NULL;
		if (more)
			p = comma + 1;
	}
	if (n != N_ELEMENTS(fields) || more) {
		*error_r = hash->format_error;
		return -1;
	}

	char iter_str[16];
	if (lens[0] == 0 || lens[0] >= sizeof(iter_str)) {
		*error_r = hash->iter_error;
		return -1;
	}
	memcpy(iter_str, fields[0], lens[0]);
	iter_str[lens[0]] = '\0';
	if (str_to_uint(iter_str, &creds_r->iterations) < 0 ||
	    creds_r->iterations < PASSWORD_SCRAM_MIN_ITERATIONS ||
	    creds_r->iterations > INT_MAX) {
		*error_r = hash->iter_error;
		return -1;
	}
	if (scram_decode_field(fields[1], lens[1], creds_r->salt, 0,
			       sizeof(creds_r->salt),
			       &creds_r->salt_size) < 0) {
		*error_r = hash->salt_error;
		return -1;
	}
	creds_r->key_size = hash->key_size;
	size_t key_size;
	if (scram_decode_field(fields[2], lens[2], creds_r->stored_key,
			       hash->key_size, 0, &key_size) < 0) {
		*error_r = hash->stored_key_error;
		return -1;
	}
	if (scram_decode_field(fields[3], lens[3], creds_r->server_key,
			       hash->key_size, 0, &key_size) < 0) {
		*error_r = hash->server_key_error;
		return -1;
	}
	return 0;
}

static int scram_verify(const struct scram_hash *hash, const char *plaintext,
			const unsigned char *raw, size_t size,
			const char **error_r)
{
	struct password_scram_credentials creds;
	unsigned char stored_key[EVP_MAX_MD_SIZE], server_key[EVP_MAX_MD_SIZE];

	if (scram_parse(hash, raw, size, &creds, error_r) < 0) {
		password_scram_credentials_wipe(&creds);
		return -1;
	}
	scram_derive(hash, plaintext, creds.salt, creds.salt_size,
		     creds.iterations, stored_key, server_key);
	int ret = password_mem_equals(stored_key, creds.stored_key,
				      hash->key_size) ? 1 : 0;
	safe_memset(stored_key, 0, sizeof(stored_key));
	safe_memset(server_key, 0, sizeof(server_key));
	password_scram_credentials_wipe(&creds);
	return ret;
}

int password_scram_sha1_verify(const char *plaintext,
			       const struct password_params *params ATTR_UNUSED,
			       const unsigned char *raw, size_t size,
			       const char **error_r)
{
	return scram_verify(&scram_sha1, plaintext, raw, size, error_r);
}

int password_scram_sha256_verify(const char *plaintext,
	const struct password_params *params ATTR_UNUSED,
	const unsigned char *raw, size_t size, const char **error_r)
{
	return scram_verify(&scram_sha256, plaintext, raw, size, error_r);
}

int password_scram_sha1_generate(const char *plaintext,
	const struct password_params *params, buffer_t *dest,
	const char **error_r ATTR_UNUSED)
{
	return scram_generate(&scram_sha1, plaintext, params->rounds, dest);
}

int password_scram_sha256_generate(const char *plaintext,
	const struct password_params *params, buffer_t *dest,
	const char **error_r ATTR_UNUSED)
{
	return scram_generate(&scram_sha256, plaintext, params->rounds, dest);
}

void password_scram_credentials_wipe(struct password_scram_credentials *creds)
{
	safe_memset(creds, 0, sizeof(*creds));
}

int password_scram_get_credentials(const char *scram_scheme, const char *hash,
				   const char *default_scheme,
				   struct password_scram_credentials *creds_r,
				   const char **error_r)
{
	const struct scram_hash *shash;
	buffer_t *raw;
	bool plaintext;
	int ret = 0;

	memset(creds_r, 0, sizeof(*creds_r));
	if (strcasecmp(scram_scheme, "SCRAM-SHA-1") == 0)
		shash = &scram_sha1;
	else if (strcasecmp(scram_scheme, "SCRAM-SHA-256") == 0)
		shash = &scram_sha256;
	else {
		*error_r = "Not a SCRAM scheme";
		return -1;
	}
	if (password_get_credentials_raw(hash, default_scheme,
					 shash->scheme_name, &raw, &plaintext,
					 error_r) < 0)
		return -1;
	if (!plaintext)
		ret = scram_parse(shash, raw->data, raw->used, creds_r,
				  error_r);
	else {
		creds_r->iterations = PASSWORD_SCRAM_DEFAULT_ITERATIONS;
		creds_r->salt_size = SCRAM_SALT_SIZE;
		creds_r->key_size = shash->key_size;
		password_random_bytes(creds_r->salt, SCRAM_SALT_SIZE);
		scram_derive(shash, (const char *)raw->data, creds_r->salt,
			     creds_r->salt_size, creds_r->iterations,
			     creds_r->stored_key, creds_r->server_key);
	}
	if (ret < 0)
		password_scram_credentials_wipe(creds_r);
	password_buffer_free(&raw);
	return ret;
}
