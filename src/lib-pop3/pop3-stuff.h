/* The POP3 multi-line response body (RFC 1939 section 3): a message's
   bytes with every line that begins with "." given one more ".", ended
   by CRLF "." CRLF; optionally cut after the header and n body lines
   (TOP). A push encoder: any split of the input gives the same output,
   so the message can stream from storage in whatever chunks it comes. */
#ifndef COLUMBA_POP3_STUFF_H
#define COLUMBA_POP3_STUFF_H

#include "lib.h"

struct pop3_stuffer {
	/* TOP: stop after the header and this many body lines */
	bool limit_lines;
	uint32_t body_lines_left;

	/* the next byte starts a line */
	bool line_start;
	/* still in the header */
	bool in_header;
	/* the previous byte was CR */
	bool last_cr;
	/* bytes on the current line before its LF, counted up to 2 */
	unsigned int line_bytes;
	/* the limit was reached: nothing more is taken */
	bool done;
};

/* Start a message: limit_lines false sends it whole (RETR); true cuts it
   after the header and top_lines body lines (TOP). */
void pop3_stuffer_init(struct pop3_stuffer *st, bool limit_lines,
		       uint32_t top_lines);
/* Encode data into dest. Returns the number of input bytes taken: all of
   them, or fewer when a TOP limit is reached (then st->done is set and
   the rest of the message is not wanted). */
size_t pop3_stuff(struct pop3_stuffer *st, const unsigned char *data,
		  size_t size, buffer_t *dest);
/* End the response: CRLF if the message did not end with a line end,
   then ".\r\n". */
void pop3_stuff_finish(struct pop3_stuffer *st, buffer_t *dest);

#endif
