/* libFuzzer target for lib-imap's command parser and the grammar helpers
   it feeds. Input: byte 0 holds parser flags (bits 0-4: stream literals,
   literal8, fetch brackets, UTF-8, LITERAL-), byte 1 the chunk size the
   rest is fed in (0 = all at once); the rest is a client's byte stream,
   parsed command after command the way the IMAP session does: tag, name,
   arguments, "+ OK" continuations, streamed literals skipped, errors
   skipped to the end of the line or ending the stream when fatal. Every
   atom and string also goes through the sequence-set, modified UTF-7,
   date and flag parsers. Whatever the bytes, nothing may crash, leak,
   read out of bounds or loop. Linked with fuzz-replay.c instead of
   libFuzzer it replays files, so the corpus runs as a unit test. */
#include "lib.h"
#include "imap-parser.h"
#include "imap-seqset.h"
#include "imap-utf7.h"
#include "imap-date.h"
#include "imap-flags.h"
#include "imap-string.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_args(const struct imap_arg *args, unsigned int depth)
{
	for (; !IMAP_ARG_IS_EOL(args); args++) {
		const char *str;
		const struct imap_arg *list;

		if (imap_arg_get_list(args, &list, NULL)) {
			enum imap_flag flags;
			const char *const *keywords;
			const char *error;
			if (imap_flags_parse(list, pool_datastack, &flags,
					     &keywords, &error) == 0) {
				string_t *out = t_str_new(64);
				imap_flags_write(out, flags, keywords);
			}
			i_assert(depth < 64);
			fuzz_args(list, depth + 1);
			continue;
		}
		if (!imap_arg_get_astring(args, &str))
			continue;
		ARRAY_TYPE(seq_range) seqs;
		const char *error;
		array_init(&seqs, pool_datastack, 4);
		if (imap_seq_set_parse(str, 100, &seqs, &error) == 0) {
			const struct seq_range *r;
			array_foreach(&seqs, r)
				i_assert(r->seq1 >= 1 && r->seq1 <= r->seq2);
		}
		string_t *out = t_str_new(64);
		if (imap_utf7_to_utf8(str, out) == 0) {
			/* a valid name survives the round trip */
			string_t *back = t_str_new(64);
			i_assert(imap_utf8_to_utf7(str_c(out), back) == 0);
			i_assert(strcmp(str_c(back), str) == 0);
		}
		str_truncate(out, 0);
		if (imap_utf8_to_utf7(str, out) == 0) {
			string_t *back = t_str_new(64);
			i_assert(imap_utf7_to_utf8(str_c(out), back) == 0);
			i_assert(strcmp(str_c(back), str) == 0);
		}
		time_t t;
		int tz;
		(void)imap_parse_date(str, &t);
		if (imap_parse_datetime(str, &t, &tz))
			(void)imap_to_datetime(t, tz);
		str_truncate(out, 0);
		imap_write_astring(out, str, true);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_parser_settings set = {
		.max_line_size = 1024,
		.max_literal_size = 2048,
		.max_stream_literal_size = 4096,
		.max_depth = 8,
		.max_args = 64,
	};
	if (size < 2)
		return 0;
	enum imap_parser_flags flags = data[0] & 0x1f;
	size_t chunk = data[1];
	data += 2;
	size -= 2;

	struct imap_parser *parser = imap_parser_create(&set);
	pool_t pool = pool_alloconly_create("fuzz imap", 1024);
	size_t pos = 0, avail = chunk == 0 ? size : I_MIN(size, chunk);
	unsigned int step = 0, guard = 0;
	uint64_t literal_left = 0;
	bool skipping = false;
	const char *word;

	imap_parser_reset(parser, pool);
	while (pos <= size) {
		const struct imap_arg *args;
		size_t consumed = 0;
		enum imap_parser_ret ret;

		/* every call must make progress or ask for more input */
		i_assert(++guard < 10 * size + 100);
		if (literal_left > 0) {
			size_t n = (size_t)I_MIN((uint64_t)(avail - pos),
						 literal_left);
			pos += n;
			literal_left -= n;
			if (literal_left > 0) {
				if (avail == size)
					break;
				avail = I_MIN(size, avail + I_MAX(chunk, 1));
				continue;
			}
			imap_parser_literal_done(parser);
			(void)imap_parser_drop_args(parser);
			continue;
		}
		if (skipping) {
			int r = imap_parser_skip_line(parser, data + pos,
						      avail - pos, &consumed);
			pos += consumed;
			if (r == 1) {
				skipping = false;
				step = 0;
				pool_clear(pool);
				imap_parser_reset(parser, pool);
				continue;
			}
		} else if (step < 2) {
			ret = imap_parser_read_word(parser, data + pos,
						    avail - pos, step == 0,
						    &consumed, &word);
			pos += consumed;
			if (ret == IMAP_PARSER_RET_DONE) {
				if (step++ == 1)
					imap_parser_set_flags(parser, flags);
				continue;
			}
			if (ret == IMAP_PARSER_RET_ERROR) {
				skipping = true;
				continue;
			}
		} else {
			ret = imap_parser_read_args(parser, data + pos,
						    avail - pos, &consumed,
						    &args);
			pos += consumed;
			switch (ret) {
			case IMAP_PARSER_RET_MORE:
				break;
			case IMAP_PARSER_RET_CONTINUE:
				continue;
			case IMAP_PARSER_RET_DONE:
				T_BEGIN {
					fuzz_args(args, 0);
				} T_END;
				step = 0;
				pool_clear(pool);
				imap_parser_reset(parser, pool);
				continue;
			case IMAP_PARSER_RET_LITERAL: {
				unsigned int count = imap_arg_count(args);
				i_assert(count > 0);
				T_BEGIN {
					fuzz_args(args, 0);
				} T_END;
				/* the literal may be nested: find it */
				const struct imap_arg *last = &args[count - 1];
				const struct imap_arg *list;
				unsigned int lcount;
				while (imap_arg_get_list(last, &list, &lcount)) {
					i_assert(lcount > 0);
					last = &list[lcount - 1];
				}
				i_assert(last->type == IMAP_ARG_LITERAL_SIZE);
				literal_left = last->_data.literal_size;
				if (literal_left == 0) {
					imap_parser_literal_done(parser);
					(void)imap_parser_drop_args(parser);
				}
				continue;
			}
			case IMAP_PARSER_RET_ERROR: {
				bool fatal;
				(void)imap_parser_get_error(parser, &fatal,
							    NULL);
				if (fatal)
					goto out;
				skipping = true;
				continue;
			}
			}
		}
		if (avail == size)
			break;
		avail = I_MIN(size, avail + I_MAX(chunk, 1));
	}
out:
	imap_parser_destroy(&parser);
	pool_unref(&pool);
	return 0;
}
