/* The MIME parse of a message as it is saved (or read back from its
   blob): one pass that yields what the index caches - ENVELOPE, BODY,
   BODYSTRUCTURE, the part tree, the commonly fetched header fields, the
   Date: header and RFC822.SIZE - without holding the message. */
#include "lib.h"
#include "message-parser.h"
#include "message-date.h"
#include "imap-envelope.h"
#include "imap-bodystructure.h"
#include "message-search-fields.h"
#include "mail-parts.h"
#include "mail-storage-private.h"
#include <strings.h>

struct mail_parse_ctx {
	pool_t pool, part_pool;
	struct message_parser *parser;
	string_t *headers;
	time_t sent_date;
	int sent_tz;
	bool have_date;
};

static void mail_parse_callback(const struct message_event *event,
				void *context)
{
	struct mail_parse_ctx *ctx = context;
	const struct message_header_field *hdr = event->hdr;

	/* the message's own header only, not the parts' */
	if (event->part->parent != NULL)
		return;
	switch (event->type) {
	case MESSAGE_EVENT_HEADER:
		if (hdr->missing_colon || !mail_cached_header_is_cached(hdr->name))
			break;
		buffer_append(ctx->headers, hdr->raw, hdr->raw_size);
		if (!ctx->have_date && strcasecmp(hdr->name, "Date") == 0) {
			time_t t;
			int tz;
			/* the first Date: counts, as for SENTBEFORE in
			   Dovecot */
			if (message_date_parse(hdr->value, hdr->value_len, &t, &tz)) {
				ctx->sent_date = t;
				ctx->sent_tz = tz;
			}
			ctx->have_date = true;
		}
		break;
	case MESSAGE_EVENT_HEADER_END:
		/* the blank line too: the cached block is then a header that
		   HEADER.FIELDS can be cut from exactly as from the message */
		buffer_append(ctx->headers, event->data, event->size);
		break;
	default:
		break;
	}
}

struct mail_parse_ctx *mail_parse_begin(pool_t pool)
{
	struct mail_parse_ctx *ctx = i_new(struct mail_parse_ctx, 1);

	ctx->pool = pool;
	ctx->part_pool = pool_alloconly_create("mail parts", 4096);
	ctx->headers = buffer_create(system_pool, 512);
	ctx->parser = message_parser_init(ctx->part_pool, NULL,
					  mail_parse_callback, ctx);
	return ctx;
}

void mail_parse_feed(struct mail_parse_ctx *ctx, const void *data, size_t size)
{
	message_parser_feed(ctx->parser, data, size);
}

struct message_part *mail_parse_finish(struct mail_parse_ctx **_ctx,
				       struct mail_parse_result *result_r)
{
	struct mail_parse_ctx *ctx = *_ctx;
	pool_t pool = ctx->pool;
	string_t *str;

	*_ctx = NULL;
	struct message_part *root = message_parser_finish(&ctx->parser);
	memset(result_r, 0, sizeof(*result_r));

	str = str_new(pool, 512);
	imap_envelope_write_part(root, str);
	result_r->envelope = str_c(str);
	str = str_new(pool, 256);
	imap_bodystructure_write(root, str, true);
	result_r->bodystructure = str_c(str);
	str = str_new(pool, 256);
	imap_bodystructure_write(root, str, false);
	result_r->body = str_c(str);
	result_r->parts = buffer_create(pool, 64 + 60 * (root->children_count + 1));
	mail_parts_serialize(root, result_r->parts);
	result_r->headers = buffer_create(pool, ctx->headers->used + 1);
	buffer_append(result_r->headers, ctx->headers->data, ctx->headers->used);
	result_r->sent_date = ctx->sent_date;
	result_r->sent_tz = ctx->sent_tz;
	result_r->rfc822_size = message_part_rfc822_size(root);
	/* folded here, outside the index's write lock */
	struct message_search_fields sf;
	memset(&sf, 0, sizeof(sf));
	T_BEGIN {
		message_search_fields_build(&sf, pool, ctx->headers->data,
					    ctx->headers->used);
	} T_END;
	result_r->search_fields.version = message_search_fields_version();
	for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
		if (sf.counts[i] == 0)
			continue;
		result_r->search_fields.values[i] = sf.values[i]->data;
		result_r->search_fields.sizes[i] = sf.values[i]->used;
	}

	/* the tree outlives the parser's pool only as a copy the caller can
	   keep: rebuild it from the serialized form in the caller's pool */
	const char *error;
	struct message_part *copy = mail_parts_deserialize(pool,
		result_r->parts->data, result_r->parts->used, &error);
	i_assert(copy != NULL);
	buffer_free(&ctx->headers);
	pool_unref(&ctx->part_pool);
	i_free(ctx);
	return copy;
}

void mail_parse_abort(struct mail_parse_ctx **_ctx)
{
	struct mail_parse_ctx *ctx = *_ctx;
	struct mail_parse_result result;

	if (ctx == NULL)
		return;
	/* finishing is the only way to free the parser */
	pool_t pool = pool_alloconly_create("mail parse abort", 1024);
	ctx->pool = pool;
	(void)mail_parse_finish(_ctx, &result);
	pool_unref(&pool);
}
