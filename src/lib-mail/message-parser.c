/* The streaming MIME parser: a push state machine (header, body, boundary
   line) that builds the part tree while the message passes through once.
   Only one header field and a boundary line's worth of look-ahead are ever
   buffered; everything else is reported to the callback and forgotten. */
#include "message-parser.h"
#include "message-part-data.h"
#include "rfc822-parser.h"
#include "rfc2231-parser.h"

/* RFC 2046 boundaries are at most 70 characters; allow some more, and
   compare only this much of longer ones (Dovecot does the same, so both
   see the same structure). */
#define BOUNDARY_STRING_MAX_LEN (70 + 10)
#define BOUNDARY_END_MAX_LEN (BOUNDARY_STRING_MAX_LEN + 2 + 2)
/* Bytes of a line, from its start, that decide whether it is a boundary
   line when its end is further away: "--", the longest boundary, "--". */
#define BOUNDARY_LOOKAHEAD (2 + BOUNDARY_END_MAX_LEN + 2)
/* Input held back between pieces: a line end plus the look-ahead. */
#define PARSER_CARRY_SIZE 256

struct message_boundary {
	struct message_boundary *next;
	/* the multipart part whose children this boundary separates */
	struct message_part *part;
	const char *boundary;
	size_t len;
};

enum parser_state {
	PARSER_STATE_HEADER,
	PARSER_STATE_BODY,
	/* after "--boundary": the rest of the boundary line */
	PARSER_STATE_BOUNDARY_LINE,
};

enum boundary_check {
	BOUNDARY_NOT,
	BOUNDARY_FOUND,
	BOUNDARY_NEED_MORE,
};

struct message_parser {
	pool_t part_pool;
	/* boundaries and other state that dies with the parser */
	pool_t pool;
	struct message_parser_settings set;
	message_parser_callback_t *callback;
	void *context;

	struct message_part *root, *part;
	/* where the next child of each open part is linked; index is
	   depth - 1 */
	ARRAY(struct message_part **) next_child;
	unsigned int depth, total_parts;
	/* innermost first */
	struct message_boundary *boundaries;
	/* max_total_mime_parts reached: boundaries are text from now on */
	bool boundaries_disabled;
	bool started;

	enum parser_state state;
	/* offset of the next input byte */
	uint64_t offset;
	/* the byte before it, to see whether an LF has its CR */
	unsigned char last_chr;

	/* header state */
	bool hdr_bol;
	bool hdr_has_nuls;
	bool seen_content_type;
	/* boundary parameter of the current part's Content-Type */
	const char *last_boundary;
	/* the pending header field */
	bool in_field;
	bool field_truncated;
	buffer_t field;
	uint64_t field_offset, field_size;
	/* size of the line end of the field's last complete line */
	unsigned int field_nl_size;
	string_t *name_buf, *value_buf;

	/* body state */
	bool body_first_line;
	/* boundary line state: does a new part follow the line? */
	bool boundary_new_part;

	unsigned char carry[PARSER_CARRY_SIZE];
	size_t carry_len;
};

static void parser_emit(struct message_parser *p,
			const struct message_event *event)
{
	if (p->callback != NULL)
		p->callback(event, p->context);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#  define SIZE_COUNT_SWAR
#endif

#ifdef SIZE_COUNT_SWAR
/* 0x80 in each byte of w equal to the byte repeated in pattern (exact:
   no carries between bytes) */
static inline uint64_t byte_eq_mask(uint64_t w, uint64_t pattern)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
	uint64_t x = w ^ pattern;

	return ~(((x & low7) + low7) | x | low7);
}

/* number of 0x80 bytes in a byte_eq_mask() result (a multiply sums the
   bytes; no popcount instruction is assumed) */
static inline unsigned int mask_count(uint64_t mask)
{
	return ((mask >> 7) * 0x0101010101010101ULL) >> 56;
}
#endif

/* Count data into size: physical bytes, LFs, and LFs without a CR (which
   become CRLF when sent). Every byte of the message passes here, so it
   looks at 8 bytes at a time. */
static void size_count(struct message_parser *p, struct message_size *size,
		       const unsigned char *data, size_t n)
{
	unsigned int lines = 0, crlf = 0;
	unsigned char prev = p->last_chr;
	size_t i = 0;

	if (n == 0)
		return;
#ifdef SIZE_COUNT_SWAR
	for (; i + 8 <= n; i += 8) {
		uint64_t w, lf, cr;

		memcpy(&w, data + i, sizeof(w));
		lf = byte_eq_mask(w, 0x0a0a0a0a0a0a0a0aULL);
		if (lf != 0) {
			cr = byte_eq_mask(w, 0x0d0d0d0d0d0d0d0dULL);
			/* a CR in the byte before each LF (the byte before
			   the first is the previous word's last) */
			cr = (cr << 8) | (prev == '\r' ? 0x80 : 0);
			lines += mask_count(lf);
			crlf += mask_count(lf & cr);
		}
		prev = data[i + 7];
	}
#endif
	for (; i < n; i++) {
		if (data[i] == '\n') {
			lines++;
			crlf += prev == '\r';
		}
		prev = data[i];
	}
	p->last_chr = prev;
	size->physical_size += n;
	size->virtual_size += n + (lines - crlf);
	size->lines += lines;
}

static void message_size_add(struct message_size *dest,
			     const struct message_size *src)
{
	dest->physical_size += src->physical_size;
	dest->virtual_size += src->virtual_size;
	dest->lines += src->lines;
}

static void emit_body(struct message_parser *p, struct message_part *part,
		      const unsigned char *data, size_t n, uint64_t offset)
{
	struct message_event event;

	if (n == 0)
		return;
	if (memchr(data, '\0', n) != NULL)
		part->flags |= MESSAGE_PART_FLAG_HAS_NULS;
	size_count(p, &part->body_size, data, n);

	memset(&event, 0, sizeof(event));
	event.type = MESSAGE_EVENT_BODY;
	event.part = part;
	event.data = data;
	event.size = n;
	event.offset = offset;
	parser_emit(p, &event);
}

/* Body bytes taken from the input at the current offset. */
static void consume_body(struct message_parser *p, const unsigned char *data,
			 size_t n)
{
	uint64_t offset = p->offset;

	p->offset += n;
	emit_body(p, p->part, data, n, offset);
}

static void header_begin(struct message_parser *p)
{
	p->state = PARSER_STATE_HEADER;
	p->hdr_bol = true;
	p->hdr_has_nuls = false;
	p->seen_content_type = false;
	p->last_boundary = NULL;
	p->in_field = false;
}

static void part_begin(struct message_parser *p, bool is_mime)
{
	struct message_part *parent = p->part;
	struct message_part *part = p_new(p->part_pool, struct message_part, 1);
	struct message_event event;

	part->parent = parent;
	part->physical_pos = p->offset;
	if (is_mime)
		part->flags |= MESSAGE_PART_FLAG_IS_MIME;
	if (parent == NULL) {
		p->root = part;
	} else {
		struct message_part ***tail = array_idx(&p->next_child,
							p->depth - 1);
		**tail = part;
		*tail = &part->next;
	}
	array_push(&p->next_child, &part->children);
	p->part = part;
	p->depth++;
	if (++p->total_parts >= p->set.max_total_mime_parts)
		p->boundaries_disabled = true;
	header_begin(p);

	memset(&event, 0, sizeof(event));
	event.type = MESSAGE_EVENT_PART_BEGIN;
	event.part = part;
	event.offset = p->offset;
	parser_emit(p, &event);
}

static void part_end(struct message_parser *p)
{
	struct message_part *part = p->part;
	struct message_event event;

	memset(&event, 0, sizeof(event));
	event.type = MESSAGE_EVENT_PART_END;
	event.part = part;
	event.offset = p->offset;
	parser_emit(p, &event);

	if (part->parent != NULL) {
		message_size_add(&part->parent->body_size, &part->header_size);
		message_size_add(&part->parent->body_size, &part->body_size);
		part->parent->children_count += 1 + part->children_count;
	}
	p->next_child.count--;
	p->depth--;
	p->part = part->parent;
	p->state = PARSER_STATE_BODY;
}

/* The Content-Type seen first in a header decides the part's kind. */
static void parse_content_type(struct message_parser *p,
			       const struct message_header_field *hdr)
{
	struct message_part *part = p->part;
	struct rfc822_parser parser;
	string_t *ctype = t_str_new(64);
	const char *const *params;
	const char *ct;
	int ret;

	rfc822_parser_init(&parser, hdr->value, hdr->value_len, NULL);
	ret = rfc822_parse_content_type(&parser, ctype);
	ct = str_c(ctype);

	if (strcasecmp(ct, "message/rfc822") == 0)
		part->flags |= MESSAGE_PART_FLAG_MESSAGE_RFC822;
	else if (strncasecmp(ct, "text", 4) == 0 &&
		 (ct[4] == '\0' || ct[4] == '/'))
		part->flags |= MESSAGE_PART_FLAG_TEXT;
	else if (strncasecmp(ct, "multipart/", 10) == 0) {
		part->flags |= MESSAGE_PART_FLAG_MULTIPART;
		if (strcasecmp(ct + 10, "digest") == 0)
			part->flags |= MESSAGE_PART_FLAG_MULTIPART_DIGEST;
	}
	if (ret < 0 || (part->flags & MESSAGE_PART_FLAG_MULTIPART) == 0)
		return;

	(void)rfc2231_parse(&parser, &params);
	for (; params[0] != NULL; params += 2) {
		if (strcasecmp(params[0], "boundary") == 0) {
			p->last_boundary = p_strndup(p->pool, params[1],
						     BOUNDARY_STRING_MAX_LEN);
			break;
		}
	}
}

/* Build name and unfolded value of the pending field. */
static void field_split(struct message_parser *p,
			struct message_header_field *hdr)
{
	const unsigned char *raw = hdr->raw, *end = raw + hdr->raw_size;
	const unsigned char *line_end, *colon, *v;
	bool first = true;

	line_end = memchr(raw, '\n', hdr->raw_size);
	if (line_end == NULL)
		line_end = end;
	colon = memchr(raw, ':', line_end - raw);

	str_truncate(p->name_buf, 0);
	str_truncate(p->value_buf, 0);
	if (colon == NULL) {
		/* no colon: the whole line is the name */
		const unsigned char *n_end = line_end;

		if (n_end < end && n_end > raw && n_end[-1] == '\r')
			n_end--;
		str_append_data(p->name_buf, raw, n_end - raw);
		hdr->missing_colon = true;
		v = line_end < end ? line_end + 1 : end;
		hdr->raw_value_pos = v - raw;
		first = false;
	} else {
		const unsigned char *n_end = colon;

		while (n_end > raw && (n_end[-1] == ' ' || n_end[-1] == '\t'))
			n_end--;
		str_append_data(p->name_buf, raw, n_end - raw);
		v = colon + 1;
		hdr->raw_value_pos = v - raw;
	}

	/* unfold: each line's text without its [CR]LF */
	while (v < end) {
		const unsigned char *lf = memchr(v, '\n', end - v);
		const unsigned char *seg_end = lf != NULL ? lf : end;

		if (lf != NULL && seg_end > v && seg_end[-1] == '\r')
			seg_end--;
		if (first) {
			/* skip the whitespace after the colon; if that is
			   all there is, only the first (Dovecot) */
			const unsigned char *s = v;

			while (s < seg_end && (*s == ' ' || *s == '\t'))
				s++;
			if (s == seg_end && seg_end > v)
				s = v + 1;
			v = s;
			hdr->raw_value_pos = v - raw;
			first = false;
		}
		str_append_data(p->value_buf, v, seg_end - v);
		v = lf != NULL ? lf + 1 : end;
	}
	hdr->name = str_c(p->name_buf);
	hdr->name_len = str_len(p->name_buf);
	hdr->value_len = str_len(p->value_buf);
	/* str_c() NUL-terminates it for callers that want a C string */
	hdr->value = (const unsigned char *)str_c(p->value_buf);
}

/* The pending field is complete: report it. nl_exclude is the size of its
   final line end when that belongs to a boundary line instead. */
static void field_flush(struct message_parser *p, unsigned int nl_exclude)
{
	struct message_part *part = p->part;
	struct message_header_field hdr;
	struct message_event event;

	if (!p->in_field)
		return;
	p->in_field = false;

	memset(&hdr, 0, sizeof(hdr));
	hdr.raw = p->field.data;
	hdr.raw_size = p->field.used;
	hdr.offset = p->field_offset;
	hdr.size = p->field_size;
	hdr.truncated = p->field_truncated;
	if (nl_exclude > 0) {
		part->header_size.physical_size -= nl_exclude;
		part->header_size.virtual_size -= 2;
		part->header_size.lines--;
		hdr.size -= nl_exclude;
		if (hdr.raw_size > hdr.size)
			hdr.raw_size = hdr.size;
	}

	T_BEGIN {
		field_split(p, &hdr);
		if (strcasecmp(hdr.name, "MIME-Version") == 0) {
			part->flags |= MESSAGE_PART_FLAG_IS_MIME;
		} else if (strcasecmp(hdr.name, "Content-Type") == 0) {
			/* Content-Type alone makes the part MIME: much
			   mail has no MIME-Version */
			part->flags |= MESSAGE_PART_FLAG_IS_MIME;
			if (!p->seen_content_type) {
				p->seen_content_type = true;
				parse_content_type(p, &hdr);
			}
		}
		message_part_data_add_header(p->part_pool, part, &hdr,
			part->parent == NULL ||
			(part->parent->flags &
			 MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0);
	} T_END;

	/* outside our frame: the callback may grow its own data stack
	   buffers */
	memset(&event, 0, sizeof(event));
	event.type = MESSAGE_EVENT_HEADER;
	event.part = part;
	event.hdr = &hdr;
	event.offset = hdr.offset;
	parser_emit(p, &event);
	buffer_reset(&p->field);
}

static void field_append(struct message_parser *p, const unsigned char *data,
			 size_t n)
{
	size_t room = p->set.max_header_field_size - p->field.used;

	if (memchr(data, '\0', n) != NULL)
		p->hdr_has_nuls = true;
	size_count(p, &p->part->header_size, data, n);
	p->offset += n;
	p->field_size += n;
	if (n > room) {
		p->field_truncated = true;
		n = room;
	}
	buffer_append(&p->field, data, n);
}

static void field_begin(struct message_parser *p)
{
	p->in_field = true;
	p->field_truncated = false;
	p->field_offset = p->offset;
	p->field_size = 0;
	p->field_nl_size = 0;
	buffer_reset(&p->field);
}

static bool part_can_contain(const struct message_parser *p)
{
	/* the root is depth 1; a part at the depth limit cannot have
	   children, nor can any part once the part limit is reached */
	return p->depth < p->set.max_nested_mime_parts &&
		p->total_parts < p->set.max_total_mime_parts;
}

/* The current part's header ended: with a blank line (blank != NULL), at
   a boundary line, or at the end of the message. Decide what the part is
   and go on to its body. */
static void header_end(struct message_parser *p, const unsigned char *blank,
		       size_t blank_size)
{
	struct message_part *part = p->part;
	struct message_event event;
	bool is_mime;

	field_flush(p, 0);
	if (blank != NULL) {
		size_count(p, &part->header_size, blank, blank_size);
		p->offset += blank_size;
	}

	is_mime = (part->flags & MESSAGE_PART_FLAG_IS_MIME) != 0;
	if (!is_mime) {
		/* not MIME: Content-Type does not count */
		part->flags = 0;
	}
	if (!p->seen_content_type || !is_mime) {
		/* the default type: message/rfc822 in a digest, else text */
		if (part->parent != NULL &&
		    (part->parent->flags &
		     MESSAGE_PART_FLAG_MULTIPART_DIGEST) != 0)
			part->flags |= MESSAGE_PART_FLAG_MESSAGE_RFC822;
		else
			part->flags |= MESSAGE_PART_FLAG_TEXT;
	}
	if ((part->flags & (MESSAGE_PART_FLAG_MULTIPART |
			    MESSAGE_PART_FLAG_MESSAGE_RFC822)) != 0 &&
	    !part_can_contain(p)) {
		/* too deep or too many parts: its content is just body */
		part->flags &= ~(MESSAGE_PART_FLAG_MULTIPART |
				 MESSAGE_PART_FLAG_MULTIPART_DIGEST |
				 MESSAGE_PART_FLAG_MESSAGE_RFC822);
	}
	if (p->hdr_has_nuls)
		part->flags |= MESSAGE_PART_FLAG_HAS_NULS;
	message_part_data_header_end(p->part_pool, part);

	memset(&event, 0, sizeof(event));
	event.type = MESSAGE_EVENT_HEADER_END;
	event.part = part;
	event.data = blank;
	event.size = blank != NULL ? blank_size : 0;
	event.offset = p->offset - event.size;
	parser_emit(p, &event);

	/* A multipart's boundary counts only when its header ended
	   normally (as in Dovecot); without it the body is text up to the
	   enclosing boundary. */
	if ((part->flags & MESSAGE_PART_FLAG_MULTIPART) != 0 &&
	    blank != NULL && p->last_boundary != NULL &&
	    !p->boundaries_disabled) {
		struct message_boundary *b =
			p_new(p->pool, struct message_boundary, 1);

		b->part = part;
		b->boundary = p->last_boundary;
		b->len = strlen(b->boundary);
		b->next = p->boundaries;
		p->boundaries = b;
	}
	p->last_boundary = NULL;

	if ((part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0) {
		/* the body is a message: its header starts now */
		part_begin(p, false);
	} else {
		p->state = PARSER_STATE_BODY;
		p->body_first_line = true;
	}
}

/* Close parts until target is the current one (NULL: close them all). A
   part whose header is still open gets its header ended first, which may
   open a message/rfc822 child that is then closed too. */
static void parts_close_until(struct message_parser *p,
			      struct message_part *target)
{
	while (p->part != target) {
		if (p->state == PARSER_STATE_HEADER)
			header_end(p, NULL, 0);
		else
			part_end(p);
	}
}

static struct message_boundary *
boundary_find(struct message_boundary *boundaries,
	      const unsigned char *data, size_t len)
{
	struct message_boundary *best = NULL;

	/* RFC 2046: the newest boundary first, so that a nested part may
	   reuse its parent's boundary. Only the start of the line has to
	   match; of several matching boundaries take the longest. */
	for (; boundaries != NULL; boundaries = boundaries->next) {
		if (boundaries->len <= len &&
		    memcmp(boundaries->boundary, data, boundaries->len) == 0 &&
		    (best == NULL || best->len < boundaries->len)) {
			best = boundaries;
			if (best->len == len)
				break;
		}
	}
	return best;
}

/* Is the line at data a boundary line? On BOUNDARY_FOUND, *match_len_r is
   the size of "--boundary" or "--boundary--". */
static enum boundary_check
boundary_check(struct message_parser *p, const unsigned char *data,
	       size_t avail, bool eof, struct message_boundary **b_r,
	       bool *closing_r, size_t *match_len_r)
{
	const unsigned char *line, *lf;
	size_t find_size, scan;
	struct message_boundary *b;

	if (p->boundaries == NULL || p->boundaries_disabled)
		return BOUNDARY_NOT;
	if (avail < 2) {
		if (eof || (avail == 1 && data[0] != '-'))
			return BOUNDARY_NOT;
		return BOUNDARY_NEED_MORE;
	}
	if (data[0] != '-' || data[1] != '-')
		return BOUNDARY_NOT;

	line = data + 2;
	scan = I_MIN(avail, BOUNDARY_LOOKAHEAD) - 2;
	lf = memchr(line, '\n', scan);
	if (lf == NULL && avail < BOUNDARY_LOOKAHEAD && !eof)
		return BOUNDARY_NEED_MORE;
	/* Only the start of the line has to match (the longest matching
	   boundary wins). A trailing "--" is not cut off before matching:
	   boundaries may end in dashes ("----=_b---"), and Dovecot 2.3
	   matches them. A long line is decided by its beginning. */
	if (lf != NULL)
		find_size = lf - line;
	else
		find_size = I_MIN(avail - 2, BOUNDARY_END_MAX_LEN);
	b = boundary_find(p->boundaries, line, find_size);
	if (b == NULL)
		return BOUNDARY_NOT;
	*b_r = b;
	*closing_r = avail - 2 >= b->len + 2 &&
		line[b->len] == '-' && line[b->len + 1] == '-';
	*match_len_r = 2 + b->len + (*closing_r ? 2 : 0);
	return BOUNDARY_FOUND;
}

/* A boundary line was found. nl is the line end before it (which belongs
   to the boundary, not to the part it ends); text is "--boundary[--]" at
   the current input offset. */
static void boundary_found(struct message_parser *p,
			   struct message_boundary *b, bool closing,
			   const unsigned char *nl, size_t nl_size,
			   const unsigned char *text, size_t text_len)
{
	unsigned char buf[2 + BOUNDARY_END_MAX_LEN];
	uint64_t offset = p->offset;

	parts_close_until(p, b->part);
	/* a closing boundary ends its part's children; any inner boundary
	   still open was never closed and is forgotten */
	p->boundaries = closing ? b->next : b;

	i_assert(nl_size + text_len <= sizeof(buf));
	if (nl_size > 0)
		memcpy(buf, nl, nl_size);
	memcpy(buf + nl_size, text, text_len);
	p->offset += nl_size + text_len;
	emit_body(p, b->part, buf, nl_size + text_len, offset);

	p->state = PARSER_STATE_BOUNDARY_LINE;
	p->boundary_new_part = !closing;
}

/* At the start of a header line, see what the line is: a folded
   continuation, the blank line ending the header, a boundary ending it, or
   a new field. Returns true if parse_header() must return *consumed_r. */
static bool header_line_begin(struct message_parser *p,
			      const unsigned char *data, size_t size, bool eof,
			      size_t *consumed_r, bool *need_more_r)
{
	static const unsigned char crlf[] = "\r\n";
	struct message_boundary *b;
	unsigned char c = data[0];
	bool closing;
	size_t len;

	*consumed_r = 0;
	if ((c == ' ' || c == '\t') && p->in_field)
		return false;
	if (c == '\n' || (c == '\r' && size > 1 && data[1] == '\n')) {
		*consumed_r = c == '\n' ? 1 : 2;
		header_end(p, data, *consumed_r);
		return true;
	}
	if (c == '\r' && size == 1 && !eof) {
		*need_more_r = true;
		return true;
	}
	switch (boundary_check(p, data, size, eof, &b, &closing, &len)) {
	case BOUNDARY_NEED_MORE:
		*need_more_r = true;
		return true;
	case BOUNDARY_FOUND: {
		/* the header ends without a blank line; the last field's
		   line end belongs to the boundary */
		unsigned int nl = p->in_field ? p->field_nl_size : 0;

		field_flush(p, nl);
		if (nl > 0) {
			/* Dovecot counts this line end into the body of the
			   cut part's parent (which is not the multipart when
			   the cut header is a message/rfc822 part's message),
			   so the sizes of that part match */
			emit_body(p, p->part->parent, crlf + (2 - nl), nl,
				  p->offset - nl);
		}
		boundary_found(p, b, closing, NULL, 0, data, len);
		*consumed_r = len;
		return true;
	}
	case BOUNDARY_NOT:
		break;
	}
	field_flush(p, 0);
	field_begin(p);
	return false;
}

static size_t parse_header(struct message_parser *p, const unsigned char *data,
			   size_t size, bool eof, bool *need_more_r)
{
	size_t pos = 0, consumed;

	while (pos < size) {
		if (p->hdr_bol) {
			if (header_line_begin(p, data + pos, size - pos, eof,
					      &consumed, need_more_r))
				return pos + consumed;
			p->hdr_bol = false;
		}

		const unsigned char *lf = memchr(data + pos, '\n', size - pos);
		size_t end = lf != NULL ? (size_t)(lf - data) + 1 : size;

		if (lf != NULL) {
			unsigned char before = lf > data + pos ? lf[-1] :
				p->last_chr;

			p->field_nl_size = before == '\r' ? 2 : 1;
			p->hdr_bol = true;
		}
		field_append(p, data + pos, end - pos);
		pos = end;
	}
	return pos;
}

static size_t parse_body(struct message_parser *p, const unsigned char *data,
			 size_t size, bool eof, bool *need_more_r)
{
	struct message_boundary *b;
	size_t pos = 0, start = 0, len;
	bool closing;

	if (p->boundaries == NULL || p->boundaries_disabled) {
		consume_body(p, data, size);
		return size;
	}
	if (p->body_first_line) {
		/* a boundary right at the start has no line end before it */
		switch (boundary_check(p, data, size, eof, &b, &closing,
				       &len)) {
		case BOUNDARY_NEED_MORE:
			*need_more_r = true;
			return 0;
		case BOUNDARY_FOUND:
			p->body_first_line = false;
			boundary_found(p, b, closing, NULL, 0, data, len);
			return len;
		case BOUNDARY_NOT:
			break;
		}
		p->body_first_line = false;
	}

	for (;;) {
		const unsigned char *lf = memchr(data + pos, '\n', size - pos);

		if (lf == NULL) {
			size_t end = size;

			/* a CR at the end may start the CRLF before a
			   boundary: keep it until we know */
			if (!eof && end > start && data[end - 1] == '\r') {
				end--;
				*need_more_r = true;
			}
			consume_body(p, data + start, end - start);
			return end;
		}
		size_t nl_start = lf - data, line = nl_start + 1;

		if (nl_start > start && data[nl_start - 1] == '\r')
			nl_start--;
		switch (boundary_check(p, data + line, size - line, eof,
				       &b, &closing, &len)) {
		case BOUNDARY_NEED_MORE:
			consume_body(p, data + start, nl_start - start);
			*need_more_r = true;
			return nl_start;
		case BOUNDARY_FOUND:
			consume_body(p, data + start, nl_start - start);
			boundary_found(p, b, closing, data + nl_start,
				       line - nl_start, data + line, len);
			return line + len;
		case BOUNDARY_NOT:
			break;
		}
		pos = line;
	}
}

static size_t parse_boundary_line(struct message_parser *p,
				  const unsigned char *data, size_t size)
{
	const unsigned char *lf = memchr(data, '\n', size);
	size_t n = lf != NULL ? (size_t)(lf - data) + 1 : size;

	consume_body(p, data, n);
	if (lf != NULL) {
		if (p->boundary_new_part) {
			/* children of a multipart are MIME parts */
			part_begin(p, true);
		} else {
			/* the epilogue */
			p->state = PARSER_STATE_BODY;
			p->body_first_line = true;
		}
	}
	return n;
}

static size_t parse_buffer(struct message_parser *p, const unsigned char *data,
			   size_t size, bool eof)
{
	size_t pos = 0;

	while (pos < size) {
		bool need_more = false;
		size_t n = 0;

		switch (p->state) {
		case PARSER_STATE_HEADER:
			n = parse_header(p, data + pos, size - pos, eof,
					 &need_more);
			break;
		case PARSER_STATE_BODY:
			n = parse_body(p, data + pos, size - pos, eof,
				       &need_more);
			break;
		case PARSER_STATE_BOUNDARY_LINE:
			n = parse_boundary_line(p, data + pos, size - pos);
			break;
		}
		pos += n;
		if (need_more)
			break;
	}
	return pos;
}

static void parser_start(struct message_parser *p)
{
	if (!p->started) {
		p->started = true;
		part_begin(p, false);
	}
}

struct message_parser *
message_parser_init(pool_t part_pool,
		    const struct message_parser_settings *set,
		    message_parser_callback_t *callback, void *context)
{
	struct message_parser *p = i_new(struct message_parser, 1);

	/* the parser allocates from part_pool inside data stack frames
	   of its own, which would free data stack allocations */
	i_assert(part_pool != pool_datastack);
	p->part_pool = part_pool;
	p->pool = pool_alloconly_create("message parser", 1024);
	if (set != NULL)
		p->set = *set;
	if (p->set.max_nested_mime_parts == 0)
		p->set.max_nested_mime_parts =
			MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS;
	if (p->set.max_total_mime_parts == 0)
		p->set.max_total_mime_parts =
			MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS;
	if (p->set.max_header_field_size == 0)
		p->set.max_header_field_size =
			MESSAGE_PARSER_DEFAULT_MAX_HEADER_FIELD_SIZE;
	p->callback = callback;
	p->context = context;
	/* as if a line had just ended before the message */
	p->last_chr = '\n';
	array_init(&p->next_child, system_pool, 8);
	buffer_init(&p->field, system_pool);
	p->name_buf = str_new(system_pool, 64);
	p->value_buf = str_new(system_pool, 256);
	return p;
}

void message_parser_feed(struct message_parser *p, const void *_data,
			 size_t size)
{
	const unsigned char *data = _data;

	parser_start(p);
	while (size > 0) {
		if (p->carry_len > 0) {
			/* complete what was held back from the last piece */
			size_t n = I_MIN(size,
					 PARSER_CARRY_SIZE - p->carry_len);
			size_t used;

			memcpy(p->carry + p->carry_len, data, n);
			p->carry_len += n;
			data += n;
			size -= n;
			used = parse_buffer(p, p->carry, p->carry_len, false);
			memmove(p->carry, p->carry + used, p->carry_len - used);
			p->carry_len -= used;
			i_assert(p->carry_len < PARSER_CARRY_SIZE);
			continue;
		}
		size_t used = parse_buffer(p, data, size, false);

		i_assert(size - used <= PARSER_CARRY_SIZE);
		memcpy(p->carry, data + used, size - used);
		p->carry_len = size - used;
		break;
	}
}

uint64_t message_parser_get_offset(const struct message_parser *p)
{
	return p->offset + p->carry_len;
}

struct message_part *message_parser_finish(struct message_parser **_p)
{
	struct message_parser *p = *_p;
	struct message_part *root;

	*_p = NULL;
	parser_start(p);
	if (p->carry_len > 0) {
		size_t used = parse_buffer(p, p->carry, p->carry_len, true);

		i_assert(used == p->carry_len);
		p->carry_len = 0;
	}
	parts_close_until(p, NULL);
	root = p->root;

	array_free(&p->next_child);
	buffer_release(&p->field);
	str_free(&p->name_buf);
	str_free(&p->value_buf);
	pool_unref(&p->pool);
	free(p);
	return root;
}

void message_header_field_get_value_nl(const struct message_header_field *hdr,
				       buffer_t *dest)
{
	const unsigned char *v = hdr->raw + hdr->raw_value_pos;
	const unsigned char *end = hdr->raw + hdr->raw_size;

	while (v < end) {
		const unsigned char *lf = memchr(v, '\n', end - v);
		const unsigned char *seg_end = lf != NULL ? lf : end;

		if (lf != NULL && seg_end > v && seg_end[-1] == '\r')
			seg_end--;
		buffer_append(dest, v, seg_end - v);
		if (lf == NULL || lf + 1 == end)
			break;
		buffer_append_c(dest, '\n');
		v = lf + 1;
	}
}

struct message_part *
message_parse_data(pool_t part_pool, const void *data, size_t size,
		   const struct message_parser_settings *set)
{
	struct message_parser *parser =
		message_parser_init(part_pool, set, NULL, NULL);

	message_parser_feed(parser, data, size);
	return message_parser_finish(&parser);
}
