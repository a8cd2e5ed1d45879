/* IMAP sequence sets (RFC 9051 §9 sequence-set): "1:5,7,9:*", "$". */
#ifndef COLUMBA_IMAP_SEQSET_H
#define COLUMBA_IMAP_SEQSET_H

#include "seq-range.h"

/* Parse str into dest (which may already hold ranges: they are merged).
   "*" stands for star, the largest number in use (the message count or
   the highest UID); when star is 0 (an empty mailbox) "*" matches nothing
   and "n:*" is just n. Ranges may be given high:low. Numbers must be
   1..4294967295 without leading zeros. Returns 0, or -1 with *error_r
   (a static text for a BAD reply). "$" is not a number: check
   imap_seq_set_is_saved() first. */
int imap_seq_set_parse(const char *str, uint32_t star,
		       ARRAY_TYPE(seq_range) *dest, const char **error_r)
	ATTR_WARN_UNUSED;
/* True if str is "$", the saved search result (RFC 5182). */
bool imap_seq_set_is_saved(const char *str);

#endif
