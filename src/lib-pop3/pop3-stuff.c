/* Dot-stuffing for RETR and TOP (see pop3-stuff.h). Lines end at LF (the
   storage hands out CRLF; a bare LF still ends a line for a client, so it
   is where a stuffed "." must go). A line of the header that is empty
   (nothing but CR before its LF) ends the header. */
#include "lib.h"
#include "str.h"
#include "pop3-stuff.h"

void pop3_stuffer_init(struct pop3_stuffer *st, bool limit_lines,
		       uint32_t top_lines)
{
	memset(st, 0, sizeof(*st));
	st->limit_lines = limit_lines;
	st->body_lines_left = top_lines;
	st->line_start = true;
	st->in_header = true;
}

/* A line ended (its LF was just written): returns true when the TOP
   limit says the message ends here. */
static bool pop3_stuff_line_end(struct pop3_stuffer *st)
{
	bool was_header = st->in_header;

	/* empty: nothing, or a lone CR, before the LF */
	if (st->in_header &&
	    (st->line_bytes == 0 || (st->line_bytes == 1 && st->last_cr)))
		st->in_header = false;
	st->line_start = true;
	st->line_bytes = 0;
	if (!st->limit_lines || st->in_header)
		return false;
	if (was_header) {
		/* this was the blank line ending the header */
		return st->body_lines_left == 0;
	}
	return --st->body_lines_left == 0;
}

/* RETR: no line counting, so only the byte after each LF is looked at
   (memchr() runs over the lines; a byte-by-byte loop was most of the
   CPU a large download spent in POP3). The header state is not kept:
   only TOP reads it. */
static size_t pop3_stuff_all(struct pop3_stuffer *st,
			     const unsigned char *data, size_t size,
			     buffer_t *dest)
{
	size_t i = 0, start = 0;

	while (i < size) {
		if (st->line_start) {
			st->line_start = false;
			if (data[i] == '.') {
				buffer_append(dest, data + start, i - start);
				buffer_append_c(dest, '.');
				start = i;
			}
		}
		const unsigned char *lf = memchr(data + i, '\n', size - i);
		if (lf == NULL)
			break;
		i = (size_t)(lf - data) + 1;
		st->line_start = true;
	}
	buffer_append(dest, data + start, size - start);
	return size;
}

size_t pop3_stuff(struct pop3_stuffer *st, const unsigned char *data,
		  size_t size, buffer_t *dest)
{
	size_t i = 0, start = 0;

	if (st->done)
		return 0;
	if (!st->limit_lines)
		return pop3_stuff_all(st, data, size, dest);
	while (i < size) {
		unsigned char c = data[i];
		if (st->line_start) {
			st->line_start = false;
			if (c == '.') {
				buffer_append(dest, data + start, i - start);
				buffer_append_c(dest, '.');
				start = i;
			}
		}
		i++;
		if (c == '\n') {
			if (pop3_stuff_line_end(st)) {
				st->done = true;
				break;
			}
		} else if (st->line_bytes < 2) {
			st->line_bytes++;
		}
		st->last_cr = c == '\r';
	}
	buffer_append(dest, data + start, i - start);
	return i;
}

void pop3_stuff_finish(struct pop3_stuffer *st, buffer_t *dest)
{
	if (!st->line_start && !st->done)
		buffer_append(dest, "\r\n", 2);
	buffer_append(dest, ".\r\n", 3);
}
