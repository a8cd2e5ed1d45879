/* HMAC-MD5 for CRAM-MD5, including resuming it from a stored context.
   Resuming MD5 from an intermediate state has no EVP interface, so this
   file alone uses OpenSSL's low-level MD5 (deprecated in 3.0, still
   shipped); everything else in lib-sasl uses EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "lib.h"
#include "sasl-cram-md5.h"

#include <openssl/hmac.h>
#include <openssl/md5.h>

#define CRAM_MD5_BLOCK_SIZE 64

static void sasl_cram_md5_put_state(unsigned char *p, const MD5_CTX *ctx)
{
	const MD5_LONG words[4] = { ctx->A, ctx->B, ctx->C, ctx->D };

	for (unsigned int i = 0; i < 4; i++) {
		*p++ = words[i] & 0xff;
		*p++ = (words[i] >> 8) & 0xff;
		*p++ = (words[i] >> 16) & 0xff;
		*p++ = (words[i] >> 24) & 0xff;
	}
}

static void sasl_cram_md5_get_state(MD5_CTX *ctx, const unsigned char *p)
{
	MD5_LONG words[4];

	for (unsigned int i = 0; i < 4; i++, p += 4) {
		words[i] = (MD5_LONG)p[0] | ((MD5_LONG)p[1] << 8) |
			((MD5_LONG)p[2] << 16) | ((MD5_LONG)p[3] << 24);
	}
	MD5_Init(ctx);
	ctx->A = words[0];
	ctx->B = words[1];
	ctx->C = words[2];
	ctx->D = words[3];
	/* one 64-byte block (the padded key) has been hashed: 512 bits */
	ctx->Nl = CRAM_MD5_BLOCK_SIZE * 8;
	ctx->Nh = 0;
}

void sasl_cram_md5_context(const char *password,
			   unsigned char ctx_r[SASL_CRAM_MD5_CONTEXT_SIZE])
{
	unsigned char key[CRAM_MD5_BLOCK_SIZE], ipad[CRAM_MD5_BLOCK_SIZE];
	unsigned char opad[CRAM_MD5_BLOCK_SIZE];
	size_t key_len = strlen(password);
	MD5_CTX ictx, octx;

	memset(key, 0, sizeof(key));
	/* RFC 2104: a key longer than the block is hashed first */
	if (key_len > CRAM_MD5_BLOCK_SIZE) {
		MD5((const unsigned char *)password, key_len, key);
	} else {
		memcpy(key, password, key_len);
	}
	for (unsigned int i = 0; i < CRAM_MD5_BLOCK_SIZE; i++) {
		ipad[i] = key[i] ^ 0x36;
		opad[i] = key[i] ^ 0x5c;
	}
	MD5_Init(&ictx);
	MD5_Update(&ictx, ipad, sizeof(ipad));
	MD5_Init(&octx);
	MD5_Update(&octx, opad, sizeof(opad));
	sasl_cram_md5_put_state(ctx_r, &octx);
	sasl_cram_md5_put_state(ctx_r + 16, &ictx);

	safe_memset(key, 0, sizeof(key));
	safe_memset(ipad, 0, sizeof(ipad));
	safe_memset(opad, 0, sizeof(opad));
	safe_memset(&ictx, 0, sizeof(ictx));
	safe_memset(&octx, 0, sizeof(octx));
}

void sasl_cram_md5_digest(const char *password, const void *challenge,
			  size_t size,
			  unsigned char digest_r[SASL_CRAM_MD5_DIGEST_SIZE])
{
	unsigned int len;

	if (HMAC(EVP_md5(), password, (int)strlen(password), challenge, size,
		 digest_r, &len) == NULL || len != SASL_CRAM_MD5_DIGEST_SIZE)
		i_panic("HMAC-MD5 failed");
}

void sasl_cram_md5_digest_context(
	const unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE],
	const void *challenge, size_t size,
	unsigned char digest_r[SASL_CRAM_MD5_DIGEST_SIZE])
{
	MD5_CTX ictx, octx;
	unsigned char inner[MD5_DIGEST_LENGTH];

	sasl_cram_md5_get_state(&octx, ctx);
	sasl_cram_md5_get_state(&ictx, ctx + 16);
	MD5_Update(&ictx, challenge, size);
	MD5_Final(inner, &ictx);
	MD5_Update(&octx, inner, sizeof(inner));
	MD5_Final(digest_r, &octx);
	safe_memset(&ictx, 0, sizeof(ictx));
	safe_memset(&octx, 0, sizeof(octx));
}
