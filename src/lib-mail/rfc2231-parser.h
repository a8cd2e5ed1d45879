/* MIME parameters with RFC 2231 continuations, charsets and languages. */
#ifndef COLUMBA_RFC2231_PARSER_H
#define COLUMBA_RFC2231_PARSER_H

#include "rfc822-parser.h"

/* Parse "; name=value" parameters from ctx until its end. *result_r is a
   NULL-terminated name, value, name, value... array on the data stack, in
   the form IMAP BODYSTRUCTURE shows (and Dovecot writes):
   - plain parameters first, in their order, names as written;
   - then RFC 2231 ones: continuations "name*0", "name*1"... are joined in
     index order (sorted by name); a name with any extended ("*") piece is
     returned as "name*" with the value still in charset'lang'%XX form,
     and plain pieces of such a parameter get their "%" escaped as "%25"
     so that the joined value decodes correctly;
   - if indexes are missing, each piece is returned on its own
     ("name*0", "name*2*").
   Broken parameters are skipped. Returns -1 if something was skipped. */
int rfc2231_parse(struct rfc822_parser *ctx, const char *const **result_r);

/* Decode one (name, value) pair from rfc2231_parse() to UTF-8: for
   "name*" the value is charset'language'percent-encoded text (RFC 2231
   section 4), converted from its charset; otherwise RFC 2047 encoded words
   in the value are decoded (mailers put them in filename="..."). *name_r
   is the name without the "*" and *language_r the language or NULL (both
   data stack). */
void rfc2231_decode_value(const char *name, const char *value,
			  buffer_t *dest, const char **name_r,
			  const char **language_r);

/* Find a parameter by name (case-insensitively, with or without the "*")
   in a rfc2231_parse() result and return its decoded UTF-8 value (data
   stack), or NULL. */
const char *rfc2231_get_utf8(const char *const *params, const char *name);

#endif
