/* SASLprep (RFC 4013), the string preparation SCRAM applies to user names
   and passwords, and the "trace" profile check of ANONYMOUS (RFC 4505).

   With ICU (the icu-uc package at build time) this is all of SASLprep:
   mapping, NFKC normalization (Unicode 3.2, as stringprep fixes it),
   prohibition and the bidirectional check. Without ICU it does the mapping
   and prohibition steps only: non-ASCII input is not normalised and not
   bidi-checked. ASCII input -- nearly every user name and password in
   practice -- is prepared identically either way, because NFKC and the
   bidi rule change nothing in ASCII. */
#ifndef COLUMBA_SASL_SASLPREP_H
#define COLUMBA_SASL_SASLPREP_H

/* Prepare a NUL-terminated UTF-8 string as a stringprep query (unassigned
   code points allowed), as RFC 5802 asks, and append the result to dest.
   Returns 0, or -1 with *error_r (static text): invalid UTF-8, a
   prohibited character, a failed bidirectional check, or an empty
   result. */
int sasl_saslprep(const char *input, string_t *dest, const char **error_r)
	ATTR_WARN_UNUSED;
/* True if sasl_saslprep() is the complete algorithm (built with ICU). */
bool sasl_saslprep_is_complete(void);

/* Check a string against RFC 4505's "trace" profile: valid UTF-8 without
   the prohibited characters (controls, private use, non-characters,
   surrogates, change-display and tagging characters). No mapping. Returns
   0 or -1 with *error_r. */
int sasl_trace_check(const void *data, size_t size, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
