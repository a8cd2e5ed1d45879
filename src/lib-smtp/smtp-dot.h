/* Streaming decoder for the SMTP DATA body (RFC 5321 4.5.2): removes the
   transparency dot at the start of lines and finds the terminating
   <CRLF>.<CRLF>, for input arriving in pieces of any size. It never holds
   more than a few bytes of state, so a message of any size streams
   through it. A bare LF also ends a line (".\n" ends the data too): some
   clients send LF-only lines and Dovecot accepts them. */
#ifndef COLUMBA_SMTP_DOT_H
#define COLUMBA_SMTP_DOT_H

#include "lib.h"

enum smtp_dot_state {
	SMTP_DOT_STATE_LINE_START = 0,
	SMTP_DOT_STATE_MIDLINE,
	SMTP_DOT_STATE_DOT,
	SMTP_DOT_STATE_DOT_CR,
	SMTP_DOT_STATE_END,
};

struct smtp_dot_decoder {
	enum smtp_dot_state state;
};

/* The data starts at a line start. */
static inline void smtp_dot_decoder_init(struct smtp_dot_decoder *dec)
{
	dec->state = SMTP_DOT_STATE_LINE_START;
}

/* Decode data, appending the message bytes (line ends as sent) to dest.
   Returns how many input bytes were consumed: all of them, or fewer when
   the end line was found (the input after it is the next command).
   *end_r says whether the end was found. */
size_t smtp_dot_decode(struct smtp_dot_decoder *dec, const unsigned char *data,
		       size_t size, buffer_t *dest, bool *end_r);

#endif
