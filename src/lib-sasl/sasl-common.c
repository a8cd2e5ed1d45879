/* Pieces both sides of lib-sasl use: the default nonce generator, strict
   UTF-8 decoding, constant-time comparison and the wiping of secrets. */
#include "lib.h"
#include "base64.h"
#include "sasl-private.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

void sasl_nonce_random(string_t *dest, void *context ATTR_UNUSED)
{
	unsigned char rnd[18];

	/* A SCRAM or CRAM-MD5 nonce that an attacker could predict would
	   let them replay a recorded exchange, so a failing CSPRNG is
	   fatal, not a fall-back to something weaker. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		i_fatal("RAND_bytes() failed: cannot generate a SASL nonce");
	base64_encode(rnd, sizeof(rnd), dest);
}

const char *sasl_credentials_type_name(enum sasl_credentials_type type)
{
	switch (type) {
	case SASL_CREDENTIALS_NONE:
		return "NONE";
	case SASL_CREDENTIALS_PLAINTEXT:
		return "PLAIN";
	case SASL_CREDENTIALS_CRAM_MD5:
		return "CRAM-MD5";
	case SASL_CREDENTIALS_SCRAM_SHA1:
		return "SCRAM-SHA-1";
	case SASL_CREDENTIALS_SCRAM_SHA256:
		return "SCRAM-SHA-256";
	}
	i_unreached();
}

unsigned int sasl_utf8_decode(const unsigned char *p, size_t size,
			      uint32_t *chr_r)
{
	uint32_t chr, min;
	unsigned int len;

	if (size == 0)
		return 0;
	if (p[0] < 0x80) {
		*chr_r = p[0];
		return 1;
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2; chr = p[0] & 0x1f; min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3; chr = p[0] & 0x0f; min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4; chr = p[0] & 0x07; min = 0x10000;
	} else {
		/* continuation byte, 0xc0/0xc1 (always overlong) or > 0xf4 */
		return 0;
	}
	if (size < len)
		return 0;
	for (unsigned int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		chr = (chr << 6) | (p[i] & 0x3f);
	}
	if (chr < min || chr > 0x10ffff || (chr >= 0xd800 && chr <= 0xdfff))
		return 0;
	*chr_r = chr;
	return len;
}

bool sasl_utf8_is_valid(const void *data, size_t size)
{
	const unsigned char *p = data;
	uint32_t chr;

	for (size_t i = 0; i < size;) {
		unsigned int len = sasl_utf8_decode(p + i, size - i, &chr);
		if (len == 0 || chr == 0)
			return false;
		i += len;
	}
	return true;
}

bool sasl_mem_equals_timing_safe(const void *a, const void *b, size_t size)
{
	return CRYPTO_memcmp(a, b, size) == 0;
}

void sasl_secret_free(pool_t pool, char **_secret)
{
	char *secret = *_secret;

	if (secret == NULL)
		return;
	safe_memset(secret, 0, strlen(secret));
	p_free(pool, secret);
	*_secret = NULL;
}

bool sasl_nonce_is_valid(const char *nonce)
{
	if (*nonce == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)nonce;
	     *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e || *p == ',')
			return false;
	}
	return true;
}
