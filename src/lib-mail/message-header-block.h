/* A stored header block (the index's cached header fields, or a whole
   message header), read in place: each field's name and extent without a
   parser or an allocation, and a field's value unfolded exactly as
   message-parser.c reports it, only when the caller wants it. */
#ifndef COLUMBA_MESSAGE_HEADER_BLOCK_H
#define COLUMBA_MESSAGE_HEADER_BLOCK_H

#include "lib.h"

struct message_header_block_field {
	/* the name, without the whitespace before the colon */
	const unsigned char *name;
	size_t name_len;
	/* the colon, and the end of the field (after its last line's LF,
	   continuation lines included) */
	const unsigned char *colon, *end;
};

/* The next field of block[0..size) at *pos, which is moved past it. Lines
   without a colon are skipped. Returns false at the blank line that ends
   the header, or at the end of the block. */
bool message_header_block_next(const unsigned char *block, size_t size,
			       size_t *pos,
			       struct message_header_block_field *field_r);
/* Whether the field's name is name (name_len bytes), case-insensitively. */
bool message_header_block_name_equals(
	const struct message_header_block_field *field,
	const char *name, size_t name_len);
/* Append the field's unfolded value to dest, as message_parser gives it
   (message-parser.c field_split()): the whitespace after the colon
   skipped, except one when the first line's value is nothing but
   whitespace; the line ends of continuation lines removed. */
void message_header_block_unfold(const struct message_header_block_field *field,
				 buffer_t *dest);

#endif
