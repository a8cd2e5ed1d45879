/* IMAP ENVELOPE (RFC 3501 section 7.4.2, RFC 9051 section 7.5.2). */
#ifndef COLUMBA_IMAP_ENVELOPE_H
#define COLUMBA_IMAP_ENVELOPE_H

#include "lib.h"

struct message_part;
struct message_part_envelope;

/* Append the envelope's ten fields (without the surrounding parentheses):
   date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
   message-id. Sender and Reply-To default to From. NULL env writes ten
   NILs. */
void imap_envelope_write(const struct message_part_envelope *env,
			 string_t *dest);

/* The ENVELOPE of a parsed message (its root part). */
void imap_envelope_write_part(const struct message_part *root,
			      string_t *dest);

#endif
