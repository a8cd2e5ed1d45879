/* Unit tests for src/lib-mail. Each test-*.c here defines its tests and a
   test_*_tests registration; this file runs them all and holds the helpers
   they share (parsing in pieces with an event log, tree dumps). */
#include "test-lib-mail.h"
#include "imap-bodystructure.h"
#include "imap-envelope.h"

struct test_event_ctx {
	string_t *events;
	uint64_t next_offset;
	bool bad_offset;
	/* body data of one part may come in several events: log it merged
	   so that the log does not depend on how the input was cut */
	const struct message_part *body_part;
	string_t *body;
};

static void test_event_flush_body(struct test_event_ctx *ctx)
{
	if (ctx->body_part == NULL)
		return;
	if (ctx->events != NULL) {
		str_printfa(ctx->events, "body %zu:", str_len(ctx->body));
		str_append(ctx->events,
			   str_sanitize(str_c(ctx->body), 40));
		str_append_c(ctx->events, '\n');
	}
	str_truncate(ctx->body, 0);
	ctx->body_part = NULL;
}

static void test_event_cb(const struct message_event *event, void *context)
{
	struct test_event_ctx *ctx = context;
	string_t *ev = ctx->events;
	uint64_t size = 0;

	if (event->type != MESSAGE_EVENT_BODY ||
	    event->part != ctx->body_part)
		test_event_flush_body(ctx);
	switch (event->type) {
	case MESSAGE_EVENT_PART_BEGIN:
		if (ev != NULL)
			str_printfa(ev, "begin @%llu\n",
				    (unsigned long long)event->offset);
		break;
	case MESSAGE_EVENT_HEADER:
		size = event->hdr->size;
		if (ev != NULL) {
			str_printfa(ev, "hdr @%llu+%llu %s%s: ",
				    (unsigned long long)event->hdr->offset,
				    (unsigned long long)event->hdr->size,
				    str_sanitize(event->hdr->name, 40),
				    event->hdr->missing_colon ? " (no colon)" : "");
			str_append(ev, str_sanitize(t_strndup(event->hdr->value,
				event->hdr->value_len), 60));
			str_append_c(ev, '\n');
		}
		break;
	case MESSAGE_EVENT_HEADER_END:
		size = event->size;
		if (ev != NULL)
			str_printfa(ev, "eoh %zu\n", event->size);
		break;
	case MESSAGE_EVENT_BODY:
		size = event->size;
		ctx->body_part = event->part;
		str_append_data(ctx->body, event->data, event->size);
		break;
	case MESSAGE_EVENT_PART_END:
		if (ev != NULL)
			str_printfa(ev, "end @%llu\n",
				    (unsigned long long)event->offset);
		break;
	}
	if (size > 0) {
		uint64_t offset = event->type == MESSAGE_EVENT_HEADER ?
			event->hdr->offset : event->offset;

		if (offset != ctx->next_offset)
			ctx->bad_offset = true;
		ctx->next_offset = offset + size;
	}
}

struct message_part *test_parse_message(pool_t pool, const void *msg,
					size_t size, size_t chunk_size,
					string_t *events)
{
	struct test_event_ctx ctx;
	struct message_parser *parser;
	struct message_part *root;
	const unsigned char *data = msg;

	memset(&ctx, 0, sizeof(ctx));
	ctx.events = events;
	ctx.body = str_new(system_pool, 256);
	parser = message_parser_init(pool, NULL, test_event_cb, &ctx);
	if (chunk_size == 0)
		chunk_size = size;
	for (size_t pos = 0; pos < size; pos += chunk_size) {
		message_parser_feed(parser, data + pos,
				    I_MIN(chunk_size, size - pos));
	}
	root = message_parser_finish(&parser);
	test_event_flush_body(&ctx);
	str_free(&ctx.body);
	/* every byte reported once, in order */
	test_assert(!ctx.bad_offset);
	test_assert(ctx.next_offset == size);
	test_assert(root->header_size.physical_size +
		    root->body_size.physical_size == size);
	return root;
}

void test_dump_parts(string_t *dest, const struct message_part *part)
{
	for (; part != NULL; part = part->next) {
		str_printfa(dest, "(pos=%llu hdr=%llu/%llu/%u body=%llu/%llu/%u "
			    "flags=%x children=%u",
			    (unsigned long long)part->physical_pos,
			    (unsigned long long)part->header_size.physical_size,
			    (unsigned long long)part->header_size.virtual_size,
			    part->header_size.lines,
			    (unsigned long long)part->body_size.physical_size,
			    (unsigned long long)part->body_size.virtual_size,
			    part->body_size.lines, part->flags,
			    part->children_count);
		test_dump_parts(dest, part->children);
		str_append_c(dest, ')');
	}
}

const char *test_bodystructure(const char *msg, bool extended)
{
	pool_t pool = pool_alloconly_create("test bodystructure", 1024);
	struct message_part *root = message_parse_data(pool, msg, strlen(msg),
						       NULL);
	string_t *str = t_str_new(256);

	imap_bodystructure_write(root, str, extended);
	pool_unref(&pool);
	return str_c(str);
}

const char *test_envelope(const char *msg)
{
	pool_t pool = pool_alloconly_create("test envelope", 1024);
	struct message_part *root = message_parse_data(pool, msg, strlen(msg),
						       NULL);
	string_t *str = t_str_new(256);

	imap_envelope_write_part(root, str);
	pool_unref(&pool);
	return str_c(str);
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-mail.def"
#undef TEST_GROUP
	};
	ARRAY(test_func_t *) all;
	array_init(&all, system_pool, 64);
	for (unsigned int g = 0; g < N_ELEMENTS(groups); g++) {
		for (unsigned int i = 0; groups[g][i] != NULL; i++)
			array_push(&all, groups[g][i]);
	}
	array_push(&all, NULL);
	int ret = test_run(all.v);
	array_free(&all);
	return ret;
}
