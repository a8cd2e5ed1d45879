/* CRAM-MD5 (RFC 2195) digests, from a plaintext password or from the
   32-byte HMAC-MD5 context Dovecot's {CRAM-MD5} scheme stores (RFC 2104
   section 4: the MD5 states after the key's outer and inner pads, four
   little-endian 32-bit words each, outer first). */
#ifndef COLUMBA_SASL_CRAM_MD5_H
#define COLUMBA_SASL_CRAM_MD5_H

#define SASL_CRAM_MD5_CONTEXT_SIZE 32
#define SASL_CRAM_MD5_DIGEST_SIZE 16

/* The context a {CRAM-MD5} password hash holds (hex-encoded there). */
void sasl_cram_md5_context(const char *password,
			   unsigned char ctx_r[SASL_CRAM_MD5_CONTEXT_SIZE]);
/* HMAC-MD5(password, challenge). */
void sasl_cram_md5_digest(const char *password, const void *challenge,
			  size_t size,
			  unsigned char digest_r[SASL_CRAM_MD5_DIGEST_SIZE]);
/* The same digest, from a stored context instead of the password. */
void sasl_cram_md5_digest_context(
	const unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE],
	const void *challenge, size_t size,
	unsigned char digest_r[SASL_CRAM_MD5_DIGEST_SIZE]);

#endif
