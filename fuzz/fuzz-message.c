/* libFuzzer target for the message parser and the header decoders. For
   any input: the parse must account for every byte, give the same tree
   whole and in pieces, and ENVELOPE/BODYSTRUCTURE must be writable; the
   decoders must not crash on the same bytes. Linked with fuzz-replay.c
   instead of libFuzzer it replays files (or directories of them), so the
   seed corpus runs as a unit test. */
#include "lib.h"
#include "message-parser.h"
#include "message-part-data.h"
#include "message-address.h"
#include "message-date.h"
#include "message-header-decode.h"
#include "message-section.h"
#include "rfc2231-parser.h"
#include "base64-decoder.h"
#include "qp-decoder.h"
#include "imap-bodystructure.h"
#include "imap-envelope.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct message_parser_settings fuzz_set = {
	/* small limits so the fuzzer reaches them */
	.max_nested_mime_parts = 10,
	.max_total_mime_parts = 50,
	.max_header_field_size = 512,
};

struct fuzz_ctx {
	uint64_t next_offset;
};

static void fuzz_event(const struct message_event *event, void *context)
{
	struct fuzz_ctx *ctx = context;
	uint64_t offset = event->offset, size = event->size;

	if (event->type == MESSAGE_EVENT_HEADER) {
		offset = event->hdr->offset;
		size = event->hdr->size;
		T_BEGIN {
			pool_t pool = pool_datastack;
			string_t *str = t_str_new(128);
			time_t t;
			int tz;

			(void)message_address_parse(pool, event->hdr->value,
				event->hdr->value_len, 100,
				MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING);
			(void)message_date_parse(event->hdr->value,
						 event->hdr->value_len, &t, &tz);
			message_header_decode_utf8(event->hdr->value,
						   event->hdr->value_len, str);
		} T_END;
	} else if (event->type == MESSAGE_EVENT_BODY) {
		T_BEGIN {
			string_t *str = t_str_new(size);
			struct base64_decoder b64;
			struct qp_decoder *qp = qp_decoder_init();

			base64_decoder_init(&b64, 0);
			(void)base64_decoder_more(&b64, event->data, size, str);
			(void)base64_decoder_finish(&b64, str);
			(void)qp_decoder_more(qp, event->data, size, str);
			(void)qp_decoder_finish(qp, str);
			qp_decoder_deinit(&qp);
		} T_END;
	}
	if (size == 0)
		return;
	if (offset != ctx->next_offset)
		i_panic("event at %llu, expected %llu",
			(unsigned long long)offset,
			(unsigned long long)ctx->next_offset);
	ctx->next_offset = offset + size;
}

static const char *fuzz_parse(pool_t pool, const uint8_t *data, size_t size,
			      size_t chunk)
{
	struct fuzz_ctx ctx = { 0 };
	struct message_parser *parser =
		message_parser_init(pool, &fuzz_set, fuzz_event, &ctx);
	struct message_part *root;
	string_t *str = t_str_new(1024);

	for (size_t pos = 0; pos < size; pos += chunk)
		message_parser_feed(parser, data + pos, I_MIN(chunk, size - pos));
	root = message_parser_finish(&parser);
	if (ctx.next_offset != size ||
	    root->header_size.physical_size + root->body_size.physical_size !=
	    size)
		i_panic("parsed %llu bytes of %zu",
			(unsigned long long)ctx.next_offset, size);
	imap_envelope_write_part(root, str);
	imap_bodystructure_write(root, str, true);
	imap_bodystructure_write(root, str, false);
	str_printfa(str, " %llu", (unsigned long long)
		    message_part_rfc822_size(root));
	return str_c(str);
}

static void fuzz_message(const uint8_t *data, size_t size)
{
	pool_t pool = pool_alloconly_create("fuzz", 4096);
	/* the first byte picks the piece size of the second parse */
	size_t chunk = size == 0 ? 1 : (size_t)data[0] % 17 + 1;
	const char *whole = fuzz_parse(pool, data, size, size == 0 ? 1 : size);
	const char *pieces = fuzz_parse(pool, data, size, chunk);

	if (strcmp(whole, pieces) != 0)
		i_panic("results differ with %zu-byte pieces:\n%s\n---\n%s",
			chunk, whole, pieces);
	T_BEGIN {
		struct rfc822_parser parser;
		const char *const *params;

		rfc822_parser_init(&parser, data, size, NULL);
		(void)rfc2231_parse(&parser, &params);
	} T_END;
	pool_unref(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	T_BEGIN {
		fuzz_message(data, size);
	} T_END;
	return 0;
}
