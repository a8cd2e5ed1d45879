/* RFC 2047 decoding of header text to UTF-8, lenient the way mail readers
   are: encoded words are recognised wherever they appear, broken ones stay
   as text, and bad bytes become U+FFFD rather than an error. */
#include "message-header-decode.h"
#include "base64-decoder.h"
#include "qp-decoder.h"
#include "charset-utf8.h"

struct header_decode_ctx {
	buffer_t *dest;
	/* decoded bytes of consecutive encoded words in one charset */
	buffer_t *pending;
	char *pending_charset;
};

static void header_decode_flush(struct header_decode_ctx *ctx)
{
	if (ctx->pending_charset == NULL)
		return;
	(void)charset_to_utf8_str(ctx->pending_charset, ctx->pending->data,
				  ctx->pending->used, ctx->dest);
	buffer_reset(ctx->pending);
	i_free(ctx->pending_charset);
}

static bool is_lwsp_only(const unsigned char *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] != ' ' && data[i] != '\t' &&
		    data[i] != '\r' && data[i] != '\n')
			return false;
	}
	return true;
}

/* data points just after "=?". If an encoded word starts there, decode it
   into ctx and return its length from data (up to and including "?="),
   else return 0. */
static size_t header_decode_word(struct header_decode_ctx *ctx,
				 const unsigned char *data, size_t size)
{
	size_t q[3], n = 0, i;

	for (i = 0; i < size && n < 3; i++) {
		if (data[i] == '?')
			q[n++] = i;
	}
	/* charset ? encoding ? text ?= */
	if (n < 3 || i >= size || data[i] != '=' || q[0] == 0 ||
	    q[1] != q[0] + 2)
		return 0;

	char encoding = data[q[0] + 1];
	if (encoding != 'B' && encoding != 'b' &&
	    encoding != 'Q' && encoding != 'q')
		return 0;

	/* RFC 2231 section 5: charset*language */
	size_t charset_len = q[0];
	const unsigned char *star = memchr(data, '*', charset_len);
	if (star != NULL)
		charset_len = star - data;
	char *charset = i_strndup((const char *)data, charset_len);

	if (ctx->pending_charset != NULL &&
	    strcasecmp(ctx->pending_charset, charset) != 0)
		header_decode_flush(ctx);
	if (ctx->pending_charset == NULL)
		ctx->pending_charset = charset;
	else
		free(charset);

	const unsigned char *text = data + q[1] + 1;
	size_t text_len = q[2] - q[1] - 1;
	if (encoding == 'B' || encoding == 'b')
		(void)base64_decode_lenient(text, text_len, ctx->pending);
	else
		(void)qp_decode_q(text, text_len, ctx->pending);
	return q[2] + 2;
}

void message_header_decode_utf8(const void *_data, size_t size,
				buffer_t *dest)
{
	const unsigned char *data = _data;
	struct header_decode_ctx ctx;
	size_t pos = 0, text_start = 0, len;

	memset(&ctx, 0, sizeof(ctx));
	ctx.dest = dest;
	ctx.pending = buffer_create(system_pool, 64);

	while (pos + 1 < size) {
		const unsigned char *p =
			memchr(data + pos, '=', size - pos - 1);

		if (p == NULL)
			break;
		pos = p - data;
		if (data[pos + 1] != '?') {
			pos++;
			continue;
		}
		/* text between two encoded words is dropped if it is only
		   whitespace; otherwise it is written out */
		bool between = ctx.pending_charset != NULL &&
			is_lwsp_only(data + text_start, pos - text_start);
		if (!between) {
			header_decode_flush(&ctx);
			(void)charset_utf8_append_valid(dest, data + text_start,
							pos - text_start);
		}
		len = header_decode_word(&ctx, data + pos + 2, size - pos - 2);
		if (len == 0) {
			/* not an encoded word: it is text */
			header_decode_flush(&ctx);
			if (between) {
				(void)charset_utf8_append_valid(dest,
					data + text_start, pos - text_start);
			}
			text_start = pos;
			pos += 2;
			continue;
		}
		pos += 2 + len;
		text_start = pos;
	}
	header_decode_flush(&ctx);
	(void)charset_utf8_append_valid(dest, data + text_start,
					size - text_start);
	buffer_free(&ctx.pending);
}
