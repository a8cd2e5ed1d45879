/* The comparator of SEARCH, SORT and THREAD: i;unicode-casemap (RFC 5051,
   unicode-casemap.h), the default comparator of I18NLEVEL=1 (RFC 5255
   §4.3) and the one RFC 5256 §7 requires for SORT and THREAD. Strings are
   compared as octets after every character has been replaced by its
   titlecase and then by its NFKD; a SEARCH string matches if its canonical
   form is a substring of the text's. Invalid UTF-8 becomes U+FFFD. */
#ifndef COLUMBA_IMAP_CASEMAP_H
#define COLUMBA_IMAP_CASEMAP_H

#include "lib.h"

/* Append the canonical form of size bytes of UTF-8 (a sequence cut at
   the end becomes U+FFFD: feed whole characters) to dest. */
void imap_casemap_fold(const void *data, size_t size, buffer_t *dest);
/* The canonical form of a NUL-terminated string (data stack). */
const char *t_imap_casemap_fold(const char *str);

/* RFC 5256 section 2.1 base subject of a subject header value (raw,
   unfolded): RFC 2047 decoded, whitespace runs made one space, the
   leaders (Re:, Fw:, Fwd:, [blob]s), trailers ("(fwd)") and
   "[fwd: ...]" wrappers removed, then folded as above. *is_reply_r (may
   be NULL) says whether a reply/forward marker was removed (THREAD).
   Data stack. */
const char *imap_get_base_subject(const char *subject, bool *is_reply_r);

#endif
