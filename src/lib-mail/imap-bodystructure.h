/* IMAP BODY and BODYSTRUCTURE (RFC 3501 section 7.4.2, RFC 9051 section
   7.5.2) of a parsed message. Where the RFCs leave latitude the output is
   Dovecot 2.3's: types as written (case kept), "text" "plain" and charset
   "us-ascii" as defaults, "7bit" when there is no Content-Transfer-Encoding,
   RFC 2231 parameters as "name*" with the encoded value, a multipart
   without parts shown with one empty text/plain part, and a part that
   would have been a container past the parser's limits shown as
   "application" "octet-stream". */
#ifndef COLUMBA_IMAP_BODYSTRUCTURE_H
#define COLUMBA_IMAP_BODYSTRUCTURE_H

#include "lib.h"

struct message_part;

/* Append the BODYSTRUCTURE (extended) or BODY (!extended) of part
   without the outer parentheses: for the root, what goes inside
   "BODYSTRUCTURE (...)". */
void imap_bodystructure_write(const struct message_part *part,
			      string_t *dest, bool extended);

#endif
