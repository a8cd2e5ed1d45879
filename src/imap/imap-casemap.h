/* Case folding for SEARCH, SORT and THREAD: text is compared after every
   character has been mapped to its simple upper-case form (ASCII by table,
   the rest through the C.UTF-8 locale's towupper()), which gives the same
   order for ASCII as Dovecot's titlecase comparator. This is not the full
   i;unicode-casemap of RFC 5255 (no canonical decomposition), so
   I18NLEVEL=1 is not advertised. Invalid UTF-8 becomes U+FFFD. */
#ifndef COLUMBA_IMAP_CASEMAP_H
#define COLUMBA_IMAP_CASEMAP_H

#include "lib.h"

/* Append the folded form of size bytes of UTF-8 (a sequence cut at the
   end is folded as U+FFFD: feed whole characters) to dest. */
void imap_casemap_fold(const void *data, size_t size, buffer_t *dest);
/* The folded form of a NUL-terminated string (data stack). */
const char *t_imap_casemap_fold(const char *str);

/* RFC 5256 section 2.1 base subject of a subject header value (raw,
   unfolded): RFC 2047 decoded, whitespace runs made one space, the
   leaders (Re:, Fw:, Fwd:, [blob]s), trailers ("(fwd)") and
   "[fwd: ...]" wrappers removed, then folded as above. *is_reply_r (may
   be NULL) says whether a reply/forward marker was removed (THREAD).
   Data stack. */
const char *imap_get_base_subject(const char *subject, bool *is_reply_r);

#endif
