/* Section ranges for FETCH: arithmetic on the part tree for BODY[n],
   MIME, HEADER and TEXT, and a header re-scan for HEADER.FIELDS. */
#include "message-section.h"
#include "message-parser.h"

static void range_of_header(const struct message_part *part,
			    struct message_range *range_r)
{
	range_r->offset = part->physical_pos;
	range_r->size = part->header_size.physical_size;
	range_r->virtual_size = part->header_size.virtual_size;
}

static void range_of_body(const struct message_part *part,
			  struct message_range *range_r)
{
	range_r->offset = message_part_body_pos(part);
	range_r->size = part->body_size.physical_size;
	range_r->virtual_size = part->body_size.virtual_size;
}

int message_section_range(struct message_part *root, const char *number,
			  enum message_section_kind kind,
			  struct message_range *range_r, const char **error_r)
{
	struct message_part *part, *msg;

	part = message_part_find(root, number, error_r);
	if (part == NULL)
		return -1;

	switch (kind) {
	case MESSAGE_SECTION_CONTENT:
		if (*number == '\0') {
			range_r->offset = root->physical_pos;
			range_r->size = root->header_size.physical_size +
				root->body_size.physical_size;
			range_r->virtual_size =
				message_part_rfc822_size(root);
		} else {
			range_of_body(part, range_r);
		}
		return 0;
	case MESSAGE_SECTION_MIME:
		if (*number == '\0') {
			*error_r = "MIME needs a part number";
			return -1;
		}
		range_of_header(part, range_r);
		return 0;
	case MESSAGE_SECTION_HEADER:
	case MESSAGE_SECTION_TEXT:
		if (*number == '\0')
			msg = root;
		else if ((part->flags &
			  MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0 &&
			 part->children != NULL)
			msg = part->children;
		else {
			*error_r = "Part is not a message/rfc822";
			return -1;
		}
		if (kind == MESSAGE_SECTION_HEADER)
			range_of_header(msg, range_r);
		else
			range_of_body(msg, range_r);
		return 0;
	}
	i_unreached();
}

uint64_t message_crlf_virtual_size(const void *_data, size_t size)
{
	const unsigned char *data = _data, *s = data, *end = data + size, *lf;
	uint64_t vsize = size;

	while ((lf = memchr(s, '\n', end - s)) != NULL) {
		if (lf == data || lf[-1] != '\r')
			vsize++;
		s = lf + 1;
	}
	return vsize;
}

struct header_fields_ctx {
	const unsigned char *hdr;
	uint64_t hdr_offset;
	const char *const *fields;
	bool match;
	bool done;
	uint64_t vsize;
	ARRAY_TYPE(message_range) *ranges;
};

static void header_fields_add(struct header_fields_ctx *ctx,
			      uint64_t offset, uint64_t size)
{
	struct message_range *range = array_append_space(ctx->ranges);

	range->offset = offset;
	range->size = size;
	range->virtual_size = message_crlf_virtual_size(
		ctx->hdr + (offset - ctx->hdr_offset), size);
	ctx->vsize += range->virtual_size;
}

static void header_fields_callback(const struct message_event *event,
				   void *context)
{
	struct header_fields_ctx *ctx = context;
	bool found = false;

	if (ctx->done || event->part->parent != NULL)
		return;
	switch (event->type) {
	case MESSAGE_EVENT_HEADER:
		for (unsigned int i = 0; ctx->fields[i] != NULL; i++) {
			if (strcasecmp(ctx->fields[i], event->hdr->name) == 0) {
				found = true;
				break;
			}
		}
		if (found == ctx->match) {
			header_fields_add(ctx, ctx->hdr_offset +
					  event->hdr->offset, event->hdr->size);
		}
		break;
	case MESSAGE_EVENT_HEADER_END:
		if (event->size > 0) {
			header_fields_add(ctx, ctx->hdr_offset + event->offset,
					  event->size);
		}
		ctx->done = true;
		break;
	default:
		break;
	}
}

uint64_t message_header_fields_ranges(const void *hdr, size_t hdr_size,
				      uint64_t hdr_offset,
				      const char *const *fields, bool match,
				      ARRAY_TYPE(message_range) *ranges)
{
	struct header_fields_ctx ctx;
	struct message_parser *parser;
	pool_t pool = pool_alloconly_create("header fields", 1024);

	memset(&ctx, 0, sizeof(ctx));
	ctx.hdr = hdr;
	ctx.hdr_offset = hdr_offset;
	ctx.fields = fields;
	ctx.match = match;
	ctx.ranges = ranges;
	/* the same field splitting as the message parser, so that the
	   ranges agree with what the parser reported */
	parser = message_parser_init(pool, NULL, header_fields_callback, &ctx);
	message_parser_feed(parser, hdr, hdr_size);
	(void)message_parser_finish(&parser);
	pool_unref(&pool);
	return ctx.vsize;
}

void message_crlf_convert(struct message_crlf_converter *conv,
			  const void *_data, size_t size, buffer_t *dest)
{
	const unsigned char *data = _data, *s = data, *end = data + size, *lf;

	if (size == 0)
		return;
	while ((lf = memchr(s, '\n', end - s)) != NULL) {
		bool has_cr = lf > data ? lf[-1] == '\r' : conv->last_cr;

		buffer_append(dest, s, lf - s);
		buffer_append(dest, has_cr ? "\n" : "\r\n", has_cr ? 1 : 2);
		s = lf + 1;
	}
	buffer_append(dest, s, end - s);
	conv->last_cr = data[size - 1] == '\r';
}
