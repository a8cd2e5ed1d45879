/* Writing IMAP strings: the shortest form the grammar allows. */
#ifndef COLUMBA_IMAP_STRING_H
#define COLUMBA_IMAP_STRING_H

#include "lib.h"

/* astring: an atom when every byte is an ASTRING-CHAR, else a quoted
   string, else (CR, LF, NUL, '"'/'\' heavy or 8-bit without utf8) a
   literal. utf8: the client accepts UTF-8 in quoted strings. */
void imap_write_astring(string_t *dest, const char *str, bool utf8);
/* string: quoted or literal (never an atom). */
void imap_write_string(string_t *dest, const char *str, bool utf8);
/* nstring: NIL for NULL, else as imap_write_string(). */
void imap_write_nstring(string_t *dest, const char *str, bool utf8);
/* "quoted" with escapes; str must have no CR, LF or NUL (asserted). */
void imap_write_quoted(string_t *dest, const char *str);

#endif
