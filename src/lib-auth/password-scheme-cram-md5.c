/* {CRAM-MD5} (alias {HMAC-MD5}): the HMAC-MD5 context Dovecot stores, so
   CRAM-MD5 logins work without a plaintext password. The context is MD5's
   internal state after one block, which only OpenSSL's low-level MD5 API
   exposes: this file alone uses it (deprecated in 3.0, still shipped). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "lib.h"
#include "password-scheme-private.h"

#include <openssl/md5.h>

#define CRAM_MD5_BLOCK_SIZE 64

static void cram_md5_put_state(unsigned char *p, const MD5_CTX *ctx)
{
	const MD5_LONG words[4] = { ctx->A, ctx->B, ctx->C, ctx->D };

	/* four little-endian 32-bit words, whatever the host order */
	for (unsigned int i = 0; i < 4; i++) {
		*p++ = words[i] & 0xff;
		*p++ = (words[i] >> 8) & 0xff;
		*p++ = (words[i] >> 16) & 0xff;
		*p++ = (words[i] >> 24) & 0xff;
	}
}

int password_cram_md5_generate(const char *plaintext,
			       const struct password_params *params ATTR_UNUSED,
			       buffer_t *dest, const char **error_r ATTR_UNUSED)
{
	unsigned char key[CRAM_MD5_BLOCK_SIZE], pad[CRAM_MD5_BLOCK_SIZE];
	unsigned char ctx_out[PASSWORD_CRAM_MD5_CONTEXT_SIZE];
	size_t key_len = strlen(plaintext);
	MD5_CTX ictx, octx;

	memset(key, 0, sizeof(key));
	/* RFC 2104: a key longer than the block is hashed first */
	if (key_len > CRAM_MD5_BLOCK_SIZE)
		MD5((const unsigned char *)plaintext, key_len, key);
	else
		memcpy(key, plaintext, key_len);

	for (unsigned int i = 0; i < CRAM_MD5_BLOCK_SIZE; i++)
		pad[i] = key[i] ^ 0x5c;
	MD5_Init(&octx);
	MD5_Update(&octx, pad, sizeof(pad));
	for (unsigned int i = 0; i < CRAM_MD5_BLOCK_SIZE; i++)
		pad[i] = key[i] ^ 0x36;
	MD5_Init(&ictx);
	MD5_Update(&ictx, pad, sizeof(pad));

	/* outer state first, then inner, as Dovecot's
	   hmac_md5_get_cram_context() writes them */
	cram_md5_put_state(ctx_out, &octx);
	cram_md5_put_state(ctx_out + 16, &ictx);
	buffer_append(dest, ctx_out, sizeof(ctx_out));

	safe_memset(key, 0, sizeof(key));
	safe_memset(pad, 0, sizeof(pad));
	safe_memset(ctx_out, 0, sizeof(ctx_out));
	safe_memset(&ictx, 0, sizeof(ictx));
	safe_memset(&octx, 0, sizeof(octx));
	return 0;
}

int password_cram_md5_get_context(const char *hash, const char *default_scheme,
	unsigned char ctx_r[PASSWORD_CRAM_MD5_CONTEXT_SIZE],
	const char **error_r)
{
	const struct password_params params = { .user = NULL };
	buffer_t *raw;
	bool plaintext;

	if (password_get_credentials_raw(hash, default_scheme, "CRAM-MD5",
					 &raw, &plaintext, error_r) < 0)
		return -1;
	if (plaintext) {
		buffer_t *gen = buffer_create(
			system_pool, PASSWORD_CRAM_MD5_CONTEXT_SIZE + 1);

		(void)password_cram_md5_generate((const char *)raw->data,
						 &params, gen, error_r);
		memcpy(ctx_r, gen->data, PASSWORD_CRAM_MD5_CONTEXT_SIZE);
		password_buffer_free(&gen);
	} else {
		/* password_decode() checked the size */
		memcpy(ctx_r, raw->data, PASSWORD_CRAM_MD5_CONTEXT_SIZE);
	}
	password_buffer_free(&raw);
	return 0;
}
