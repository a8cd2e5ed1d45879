/* Base64 (RFC 4648 section 4, the standard alphabet with padding). The
   decoder is strict, because every protocol that carries base64 from a
   client (IMAP AUTHENTICATE, SCRAM's attributes, the auth protocol) must
   treat a malformed encoding as an error rather than guess. */
#ifndef COLUMBA_BASE64_H
#define COLUMBA_BASE64_H

/* Length of the encoding of size bytes (always a multiple of 4). */
size_t base64_encoded_size(size_t size);
/* Largest number of bytes the decoding of size characters can give. */
size_t base64_decoded_size_max(size_t size);

/* Append the encoding of data to dest. Never fails. */
void base64_encode(const void *data, size_t size, buffer_t *dest);
/* The encoding of data as a NUL-terminated string on the data stack. */
const char *t_base64_encode(const void *data, size_t size);

/* Decode src and append the bytes to dest. Strict: only the alphabet and
   '=' padding, no whitespace or line breaks, the length a multiple of 4,
   padding only at the end, and the unused bits of the last character zero
   (RFC 4648 section 3.5: a canonical encoding, so one value has exactly one
   text). Empty input decodes to nothing. Returns 0, or -1 with *error_r
   (static text) and dest as it was. */
int base64_decode(const void *src, size_t src_size, buffer_t *dest,
		  const char **error_r) ATTR_WARN_UNUSED;

#endif
