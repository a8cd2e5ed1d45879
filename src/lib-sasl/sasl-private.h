/* Helpers shared by lib-sasl's own files; not part of its API. */
#ifndef COLUMBA_SASL_PRIVATE_H
#define COLUMBA_SASL_PRIVATE_H

#include "sasl-common.h"

/* Decode one UTF-8 character strictly (RFC 3629: shortest form, no
   surrogates, at most U+10FFFF). Returns its length in bytes, or 0 if the
   bytes at p are not a complete valid character. */
unsigned int sasl_utf8_decode(const unsigned char *p, size_t size,
			      uint32_t *chr_r);
/* Valid UTF-8 without NUL. */
bool sasl_utf8_is_valid(const void *data, size_t size);

/* A nonce as SCRAM's grammar allows it: printable = %x21-2B / %x2D-7E,
   at least one character. */
bool sasl_nonce_is_valid(const char *nonce);

/* Stringprep tables (RFC 3454 appendices B.1, C.1.2, C.2-C.9). */
bool sasl_stringprep_mapped_to_nothing(uint32_t chr);
bool sasl_stringprep_is_nonascii_space(uint32_t chr);
/* In C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.8 or C.9: the set both SASLprep
   and the trace profile prohibit (SASLprep adds C.1.2, which it maps away
   first, and C.7). */
bool sasl_stringprep_is_prohibited(uint32_t chr);
/* C.7: inappropriate for canonical representation. */
bool sasl_stringprep_is_non_canonical(uint32_t chr);

/* SASLprep's mapping and prohibition steps without normalization and the
   bidi check: what sasl_saslprep() is in a build without ICU (compiled in
   every build so its tests run everywhere). Does not check for an empty
   result. */
int sasl_saslprep_subset(const char *input, string_t *dest,
			 const char **error_r);

/* Constant-time comparison of equal-length secrets. */
bool sasl_mem_equals_timing_safe(const void *a, const void *b, size_t size);

/* Wipe and free a secret string from a pool. */
void sasl_secret_free(pool_t pool, char **secret);

#endif
