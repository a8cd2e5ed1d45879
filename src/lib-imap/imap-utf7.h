/* Modified UTF-7 mailbox names (RFC 3501 §5.1.3) and UTF-8 checks.
   Clients that have not enabled UTF8=ACCEPT see and send mailbox names in
   modified UTF-7; storage keeps them in UTF-8. */
#ifndef COLUMBA_IMAP_UTF7_H
#define COLUMBA_IMAP_UTF7_H

#include "lib.h"

/* True if data is well-formed UTF-8 (no overlongs, no surrogates, nothing
   above U+10FFFF). NUL bytes are valid UTF-8; callers that refuse them
   check separately. */
bool imap_utf8_is_valid(const void *data, size_t size);

/* Append src (UTF-8) to dest in modified UTF-7. Returns 0, or -1 if src
   is not valid UTF-8 (dest is then undefined). */
int imap_utf8_to_utf7(const char *src, string_t *dest) ATTR_WARN_UNUSED;
/* Append src (modified UTF-7) to dest in UTF-8. Strict: returns -1 for
   anything RFC 3501 does not allow: 8-bit or control bytes, "&" not
   followed by "-" or base64, bad base64 characters, a shift sequence not
   closed by "-", an encoded run that holds printable ASCII (which must
   be written directly), that is empty, that directly follows another,
   non-zero padding bits, or broken UTF-16 surrogates. */
int imap_utf7_to_utf8(const char *src, string_t *dest) ATTR_WARN_UNUSED;
/* True if src is valid modified UTF-7 (imap_utf7_to_utf8() would
   succeed). */
bool imap_utf7_is_valid(const char *src);

#endif
