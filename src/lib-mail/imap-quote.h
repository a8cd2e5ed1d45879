/* Writing strings into IMAP responses (RFC 3501 / RFC 9051 string, nstring):
   a quoted string when the text allows it, else a literal. The choices
   match Dovecot's, so ENVELOPE and BODYSTRUCTURE come out byte for byte
   the same. These are message-format helpers for lib-mail's IMAP
   representations; the IMAP grammar library should reuse them. */
#ifndef COLUMBA_IMAP_QUOTE_H
#define COLUMBA_IMAP_QUOTE_H

#include "lib.h"

/* "quoted" or, if src has CR, LF, 8-bit bytes or more than 4 characters
   needing a backslash, a {N}\r\n literal. */
void imap_append_string(string_t *dest, const char *src);
/* NIL for NULL, else imap_append_string(). */
void imap_append_nstring(string_t *dest, const char *src);
/* Like imap_append_nstring() after removing CRs and LFs: a line break
   followed by text (not whitespace) becomes a space. */
void imap_append_nstring_nolf(string_t *dest, const char *src);
/* Always "quoted": CR, LF and 8-bit bytes are dropped. */
void imap_append_quoted(string_t *dest, const char *src);
/* For text people read (Subject, display names): tabs and line breaks
   become spaces, runs of spaces one space, leading and trailing spaces go,
   NULs become 0x80. Unchanged text is written quoted; changed text (or
   text with quotes, backslashes or 8-bit bytes) as a literal. */
void imap_append_string_for_humans(string_t *dest, const void *src,
				   size_t size);

#endif
