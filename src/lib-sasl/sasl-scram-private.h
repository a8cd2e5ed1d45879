/* SCRAM pieces the server and client mechanisms share: the hash
   functions, key derivation steps and the message grammar (RFC 5802
   section 7). */
#ifndef COLUMBA_SASL_SCRAM_PRIVATE_H
#define COLUMBA_SASL_SCRAM_PRIVATE_H

#include "sasl-scram.h"

#include <openssl/evp.h>

struct sasl_scram_hash {
	/* "SHA-1", for messages */
	const char *name;
	enum sasl_credentials_type credentials_type;
	const EVP_MD *(*md)(void);
	size_t size;
};

extern const struct sasl_scram_hash sasl_scram_hash_sha1;
extern const struct sasl_scram_hash sasl_scram_hash_sha256;

void sasl_scram_hmac(const struct sasl_scram_hash *hash, const void *key,
		     size_t key_size, const void *data, size_t size,
		     unsigned char *out);
void sasl_scram_digest(const struct sasl_scram_hash *hash, const void *data,
		       size_t size, unsigned char *out);
/* Hi() of an already SASLprep'd password. */
void sasl_scram_hi(const struct sasl_scram_hash *hash, const char *password,
		   const unsigned char *salt, size_t salt_size,
		   unsigned int iterations, unsigned char *out);

/* A saslname: '=' only as "=2C" (',') or "=3D" ('='), valid UTF-8, not
   empty, at most SASL_MAX_NAME_SIZE bytes. Returns the decoded name on
   pool, or NULL with *error_r. */
const char *sasl_scram_saslname_decode(pool_t pool, const char *value,
				       const char **error_r);
void sasl_scram_saslname_encode(const char *name, string_t *dest);

/* attr-val = ALPHA "=" value, value = 1*(UTF-8 except NUL and ','): the
   shape of an extension attribute, which is otherwise ignored. */
bool sasl_scram_attr_is_valid(const char *field);

/* Strictly decode a base64 attribute value into dest. */
int sasl_scram_base64_decode(const char *value, buffer_t *dest,
			     const char **error_r);

/* Split a SCRAM message at ',' into fields on the data stack. Fails if
   the message contains NUL, is empty, or exceeds SASL_MAX_MESSAGE_SIZE. */
const char *const *sasl_scram_split(const void *data, size_t size,
				    const char **error_r);

#endif
