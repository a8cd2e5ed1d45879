/* The i;unicode-casemap comparator (RFC 5051), which IMAP uses for SEARCH,
   SORT and THREAD under I18NLEVEL=1 (RFC 5255 §4): every character of the
   UTF-8 text is replaced by its simple titlecase mapping (UnicodeData.txt)
   and then by its full compatibility decomposition (NFKD), character by
   character as RFC 5051 §2 describes it; equality, substring and order are
   then those of i;octet on the result ("titlecased canonicalized UTF-8").
   Invalid UTF-8 becomes U+FFFD, as charset_utf8_append_valid() does.

   Because the mapping is per character, the result of a text cut into
   pieces is the concatenation of the pieces' results, provided no UTF-8
   sequence is cut (unicode_casemap_more() keeps a cut one for the next
   piece). ASCII maps to its upper case (ASCII titlecase = upper case, and
   no ASCII character decomposes) and costs a table-free pass, 8 bytes at
   a time. The Unicode data is ICU's (libicu, icu-uc). */
#ifndef COLUMBA_UNICODE_CASEMAP_H
#define COLUMBA_UNICODE_CASEMAP_H

#include "lib.h"

/* Append the canonical form of size bytes of UTF-8 to dest; a sequence
   cut at the end becomes U+FFFD. */
void unicode_casemap_append(const void *data, size_t size, buffer_t *dest);
/* The same for a piece of a longer text: when !last, a UTF-8 sequence cut
   at the end of data is not consumed. Returns the number of bytes of data
   consumed (size, or up to 3 less); the caller gives the rest again in
   front of the next piece. */
size_t unicode_casemap_more(const void *data, size_t size, bool last,
			    buffer_t *dest);
/* The canonical form of a NUL-terminated string (data stack). */
const char *t_unicode_casemap(const char *str);

/* The Unicode version of the mapping's data (ICU's), as 0x00MMmmuu
   (major, minor, update): what a folded text stored for later depends
   on. */
uint32_t unicode_casemap_version(void);

/* Whether size bytes hold only ASCII (then their canonical form is their
   ASCII upper case). */
bool unicode_casemap_is_ascii(const void *data, size_t size);
/* Bytes of p[0..n) before the first one >= 0x80 (8 at a time). */
size_t unicode_casemap_ascii_prefix_len(const unsigned char *p, size_t n);

#endif
