/* RFC 2047 encoded words in header values, decoded to UTF-8. */
#ifndef COLUMBA_MESSAGE_HEADER_DECODE_H
#define COLUMBA_MESSAGE_HEADER_DECODE_H

#include "lib.h"

/* Decode data (an unfolded header value, or a phrase or comment taken from
   one) to UTF-8 and append it to dest:
   - "=?charset[*lang]?B|Q?text?=" words are decoded and converted from
     their charset (unknown charsets: the bytes as far as they are UTF-8);
   - whitespace between two encoded words is dropped (RFC 2047 section 6.2),
     other text is kept as it is, invalid UTF-8 in it replaced by U+FFFD;
   - adjacent encoded words in the same charset are joined before
     conversion, so a character split across two words (which RFC 2047
     forbids but mailers do) still decodes;
   - anything that looks like an encoded word but is not one is kept as
     written.
   Like Dovecot, an encoded word need not be delimited by whitespace:
   "(=?ISO-8859-1?Q?a?=)" gives "(a)". */
void message_header_decode_utf8(const void *data, size_t size,
				buffer_t *dest);

#endif
