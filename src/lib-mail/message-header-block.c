/* Stored header blocks read in place (see message-header-block.h). */
#include "lib.h"
#include "message-header-block.h"

#include <strings.h>

/* The end of the header line at p (after its LF, or end). */
static const unsigned char *
line_next(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *lf = memchr(p, '\n', (size_t)(end - p));

	return lf == NULL ? end : lf + 1;
}

bool message_header_block_next(const unsigned char *block, size_t size,
			       size_t *pos,
			       struct message_header_block_field *field_r)
{
	const unsigned char *end = block + size, *p = block + *pos;

	while (p < end && *p != '\n' &&
	       !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
		const unsigned char *field = p, *line_end;
		p = line_end = line_next(p, end);
		while (p < end && (*p == ' ' || *p == '\t'))
			p = line_next(p, end);
		const unsigned char *colon =
			memchr(field, ':', (size_t)(line_end - field));
		if (colon == NULL)
			continue;
		const unsigned char *n_end = colon;
		while (n_end > field && (n_end[-1] == ' ' || n_end[-1] == '\t'))
			n_end--;
		*pos = (size_t)(p - block);
		field_r->name = field;
		field_r->name_len = (size_t)(n_end - field);
		field_r->colon = colon;
		field_r->end = p;
		return true;
	}
	*pos = (size_t)(p - block);
	return false;
}

bool message_header_block_name_equals(
	const struct message_header_block_field *field,
	const char *name, size_t name_len)
{
	return field->name_len == name_len &&
		strncasecmp((const char *)field->name, name, name_len) == 0;
}

void message_header_block_unfold(const struct message_header_block_field *field,
				 buffer_t *dest)
{
	const unsigned char *v = field->colon + 1, *field_end = field->end;
	bool first = true;

	while (v < field_end) {
		const unsigned char *next = line_next(v, field_end);
		const unsigned char *seg_end = next;

		if (seg_end > v && seg_end[-1] == '\n') {
			seg_end--;
			if (seg_end > v && seg_end[-1] == '\r')
				seg_end--;
		}
		if (first) {
			const unsigned char *s = v;
			while (s < seg_end && (*s == ' ' || *s == '\t'))
				s++;
			if (s == seg_end && seg_end > v)
				s = v + 1;
			v = s;
			first = false;
		}
		buffer_append(dest, v, (size_t)(seg_end - v));
		v = next;
	}
}
