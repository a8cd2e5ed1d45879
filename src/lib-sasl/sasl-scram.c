/* SCRAM's cryptography (RFC 5802 section 3) over OpenSSL, and the parts
   of its grammar both sides parse: saslnames, nonces, attributes. Kept
   apart from the mechanisms so the server and the client cannot drift. */
#include "lib.h"
#include "base64.h"
#include "sasl-private.h"
#include "sasl-saslprep.h"
#include "sasl-scram-private.h"

#include <openssl/hmac.h>

const struct sasl_scram_hash sasl_scram_hash_sha1 = {
	.name = "SHA-1",
	.credentials_type = SASL_CREDENTIALS_SCRAM_SHA1,
	.md = EVP_sha1,
	.size = 20,
};

const struct sasl_scram_hash sasl_scram_hash_sha256 = {
	.name = "SHA-256",
	.credentials_type = SASL_CREDENTIALS_SCRAM_SHA256,
	.md = EVP_sha256,
	.size = 32,
};

static const struct sasl_scram_hash *
sasl_scram_hash_find(enum sasl_credentials_type type)
{
	switch (type) {
	case SASL_CREDENTIALS_SCRAM_SHA1:
		return &sasl_scram_hash_sha1;
	case SASL_CREDENTIALS_SCRAM_SHA256:
		return &sasl_scram_hash_sha256;
	default:
		return NULL;
	}
}

size_t sasl_scram_key_size(enum sasl_credentials_type type)
{
	const struct sasl_scram_hash *hash = sasl_scram_hash_find(type);
	return hash == NULL ? 0 : hash->size;
}

void sasl_scram_hmac(const struct sasl_scram_hash *hash, const void *key,
		     size_t key_size, const void *data, size_t size,
		     unsigned char *out)
{
	unsigned int out_len;

	if (HMAC(hash->md(), key, (int)key_size, data, size, out,
		 &out_len) == NULL || out_len != hash->size)
		i_panic("HMAC-%s failed", hash->name);
}

void sasl_scram_digest(const struct sasl_scram_hash *hash, const void *data,
		       size_t size, unsigned char *out)
{
	unsigned int out_len;

	if (EVP_Digest(data, size, out, &out_len, hash->md(), NULL) != 1 ||
	    out_len != hash->size)
		i_panic("%s digest failed", hash->name);
}

void sasl_scram_hi(const struct sasl_scram_hash *hash, const char *password,
		   const unsigned char *salt, size_t salt_size,
		   unsigned int iterations, unsigned char *out)
{
	/* Hi() is PBKDF2 (RFC 8018) with one block of the hash's size. */
	i_assert(iterations > 0 && iterations <= INT_MAX);
	i_assert(salt_size <= INT_MAX);
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
			      (int)salt_size, (int)iterations, hash->md(),
			      (int)hash->size, out) != 1)
		i_panic("PBKDF2-HMAC-%s failed", hash->name);
}

int sasl_scram_generate_keys(enum sasl_credentials_type type,
			     const char *password, const unsigned char *salt,
			     size_t salt_size, unsigned int iterations,
			     unsigned char stored_key_r[SASL_SCRAM_MAX_KEY_SIZE],
			     unsigned char server_key_r[SASL_SCRAM_MAX_KEY_SIZE],
			     const char **error_r)
{
	const struct sasl_scram_hash *hash = sasl_scram_hash_find(type);
	unsigned char salted[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char client_key[SASL_SCRAM_MAX_KEY_SIZE];
	int ret = 0;

	if (hash == NULL) {
		*error_r = "not a SCRAM credentials type";
		return -1;
	}
	if (iterations == 0 || iterations > INT_MAX) {
		*error_r = "invalid iteration count";
		return -1;
	}
	if (salt_size == 0 || salt_size > SASL_SCRAM_MAX_SALT_SIZE) {
		*error_r = "invalid salt size";
		return -1;
	}
	T_BEGIN {
		string_t *prepared = t_str_new(strlen(password) + 16);
		if (sasl_saslprep(password, prepared, error_r) < 0) {
			*error_r = t_strdup_printf("password: %s", *error_r);
			ret = -1;
		} else {
			sasl_scram_hi(hash, str_c(prepared), salt, salt_size,
				      iterations, salted);
			safe_memset(prepared->data, 0, prepared->used);
			sasl_scram_hmac(hash, salted, hash->size, "Client Key",
					10, client_key);
			sasl_scram_digest(hash, client_key, hash->size,
					  stored_key_r);
			sasl_scram_hmac(hash, salted, hash->size, "Server Key",
					10, server_key_r);
		}
	} T_END;
	safe_memset(salted, 0, sizeof(salted));
	safe_memset(client_key, 0, sizeof(client_key));
	return ret;
}

const char *sasl_scram_saslname_decode(pool_t pool, const char *value,
				       const char **error_r)
{
	string_t *name = t_str_new(strlen(value) + 1);

	for (const char *p = value; *p != '\0'; p++) {
		if (*p != '=') {
			str_append_c(name, *p);
		} else if (p[1] == '2' && p[2] == 'C') {
			str_append_c(name, ',');
			p += 2;
		} else if (p[1] == '3' && p[2] == 'D') {
			str_append_c(name, '=');
			p += 2;
		} else {
			*error_r = "'=' not followed by 2C or 3D";
			return NULL;
		}
	}
	if (str_len(name) == 0) {
		*error_r = "empty name";
		return NULL;
	}
	if (str_len(name) > SASL_MAX_NAME_SIZE) {
		*error_r = "name too long";
		return NULL;
	}
	if (!sasl_utf8_is_valid(name->data, name->used)) {
		*error_r = "name is not valid UTF-8";
		return NULL;
	}
	return p_strdup(pool, str_c(name));
}

void sasl_scram_saslname_encode(const char *name, string_t *dest)
{
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == ',')
			str_append(dest, "=2C");
		else if (*p == '=')
			str_append(dest, "=3D");
		else
			str_append_c(dest, *p);
	}
}

bool sasl_scram_attr_is_valid(const char *field)
{
	if (!((field[0] >= 'a' && field[0] <= 'z') ||
	      (field[0] >= 'A' && field[0] <= 'Z')) ||
	    field[1] != '=' || field[2] == '\0')
		return false;
	return sasl_utf8_is_valid(field + 2, strlen(field + 2));
}

int sasl_scram_base64_decode(const char *value, buffer_t *dest,
			     const char **error_r)
{
	if (base64_decode(value, strlen(value), dest, error_r) < 0)
		return -1;
	return 0;
}

const char *const *sasl_scram_split(const void *data, size_t size,
				    const char **error_r)
{
	if (size == 0) {
		*error_r = "empty message";
		return NULL;
	}
	if (size > SASL_MAX_MESSAGE_SIZE) {
		*error_r = "message too long";
		return NULL;
	}
	if (memchr(data, '\0', size) != NULL) {
		*error_r = "NUL in message";
		return NULL;
	}
	return t_strsplit(t_strndup(data, size), ",");
}
