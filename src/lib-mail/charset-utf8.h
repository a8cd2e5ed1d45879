/* Conversion of text in any charset a mail may name to UTF-8, through iconv.
   Charset labels are normalised and mapped through an alias table for the
   names mail software writes but iconv does not know (ks_c_5601-1987,
   x-sjis, iso-8859-8-i...). An unknown charset falls back to "UTF-8 as far as
   it is valid". Invalid input never stops a conversion: each invalid
   sequence becomes U+FFFD. */
#ifndef COLUMBA_CHARSET_UTF8_H
#define COLUMBA_CHARSET_UTF8_H

#include "lib.h"

#define UNICODE_REPLACEMENT_CHAR_UTF8 "\xEF\xBF\xBD"

struct charset_translation;

/* Start converting from charset (NULL means UTF-8). Never fails: for a
   charset iconv cannot convert, *unknown_r (if not NULL) is set and the
   translation validates the input as UTF-8 instead. Free with
   charset_to_utf8_end(). */
struct charset_translation *
charset_to_utf8_begin(const char *charset, bool *unknown_r);
void charset_to_utf8_end(struct charset_translation **t);
/* Forget any state (shift state, a partial sequence) to convert a new
   text with the same charset. */
void charset_to_utf8_reset(struct charset_translation *t);

/* Convert the next piece of a text, appending UTF-8 to dest. A multibyte
   sequence split between calls is kept inside the translation until the
   next call. Returns false if some input was invalid (and replaced). */
bool charset_to_utf8_more(struct charset_translation *t, const void *src,
			  size_t size, buffer_t *dest);
/* End of the text: a pending partial sequence becomes U+FFFD and stateful
   encodings return to their initial state. The translation is reset and
   can be reused. Returns false if there was a partial sequence. */
bool charset_to_utf8_finish(struct charset_translation *t, buffer_t *dest);

/* Convert a whole text in one call. Returns false if the charset was
   unknown or some input was invalid; dest gets the best result anyway. */
bool charset_to_utf8_str(const char *charset, const void *src, size_t size,
			 buffer_t *dest);

/* True for the labels that need no conversion: UTF-8 and US-ASCII (8-bit
   bytes labelled US-ASCII are taken as UTF-8, as Dovecot does, since that is
   what such mail nearly always holds). */
bool charset_is_utf8(const char *charset);
/* The name given to iconv for a label (lowercased, aliases applied);
   data stack. */
const char *charset_get_iconv_name(const char *charset);

/* Append src to dest, replacing each invalid UTF-8 sequence (overlongs,
   surrogates, > U+10FFFF, truncated sequences) by U+FFFD. Returns true if
   src was valid. */
bool charset_utf8_append_valid(buffer_t *dest, const void *src, size_t size);
/* Length of the valid UTF-8 sequence at src (1..4), 0 if the bytes there
   are invalid, or -1 if src ends inside a sequence that may still become
   valid. */
int charset_utf8_seq_len(const unsigned char *src, size_t size);

#endif
