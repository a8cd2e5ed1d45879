/* RFC 5322 / MIME tokenizer shared by the header decoders (Content-Type,
   addresses, dates, RFC 2231 parameters). It never fails hard: broken input
   returns -1 with the position reached so callers can keep what they got,
   as mail clients and Dovecot do. */
#include "rfc822-parser.h"

const unsigned char rfc822_atext_chars[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0-15 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 16-31 */
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 4, /* 32-47 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 4, 0, 4, /* 48-63 */
	0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 64-79 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1, /* 80-95 */
	1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 96-111 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, /* 112-127 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 128-143 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 144-159 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 160-175 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 176-191 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 192-207 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 208-223 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 224-239 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 240-255 */
};

void rfc822_parser_init(struct rfc822_parser *ctx, const void *data,
			size_t size, string_t *last_comment)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->data = data;
	ctx->end = ctx->data + size;
	ctx->last_comment = last_comment;
}

static int rfc822_more(const struct rfc822_parser *ctx)
{
	return ctx->data < ctx->end ? 1 : 0;
}

int rfc822_skip_comment(struct rfc822_parser *ctx)
{
	const unsigned char *start;
	unsigned int depth = 1;

	i_assert(ctx->data < ctx->end && *ctx->data == '(');
	if (ctx->last_comment != NULL)
		str_truncate(ctx->last_comment, 0);

	start = ++ctx->data;
	for (; ctx->data < ctx->end; ctx->data++) {
		switch (*ctx->data) {
		case '(':
			depth++;
			break;
		case ')':
			if (--depth > 0)
				break;
			if (ctx->last_comment != NULL) {
				str_append_data(ctx->last_comment, start,
						ctx->data - start);
			}
			ctx->data++;
			return rfc822_more(ctx);
		case '\\':
			/* quoted-pair: keep the escaped byte, drop the \ */
			if (ctx->last_comment != NULL) {
				str_append_data(ctx->last_comment, start,
						ctx->data - start);
			}
			if (++ctx->data >= ctx->end)
				return -1;
			start = ctx->data;
			break;
		}
	}
	/* unterminated comment */
	return -1;
}

int rfc822_skip_lwsp(struct rfc822_parser *ctx)
{
	while (ctx->data < ctx->end) {
		unsigned char c = *ctx->data;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			ctx->data++;
		else if (c != '(')
			break;
		else if (rfc822_skip_comment(ctx) < 0)
			return -1;
	}
	return rfc822_more(ctx);
}

int rfc822_parse_atom(struct rfc822_parser *ctx, string_t *str)
{
	const unsigned char *start = ctx->data;

	if (ctx->data >= ctx->end || !RFC822_IS_ATEXT(*ctx->data))
		return -1;
	while (ctx->data < ctx->end && RFC822_IS_ATEXT(*ctx->data))
		ctx->data++;
	str_append_data(str, start, ctx->data - start);
	return rfc822_skip_lwsp(ctx);
}

int rfc822_parse_dot_atom(struct rfc822_parser *ctx, string_t *str)
{
	int ret;

	if (ctx->data >= ctx->end || !RFC822_IS_ATEXT(*ctx->data))
		return -1;
	for (;;) {
		const unsigned char *start = ctx->data;

		while (ctx->data < ctx->end && RFC822_IS_ATEXT(*ctx->data))
			ctx->data++;
		str_append_data(str, start, ctx->data - start);
		/* RFC 822 allowed CFWS around dots: "jdoe@test . example" */
		if ((ret = rfc822_skip_lwsp(ctx)) <= 0)
			return ret;
		if (*ctx->data != '.')
			return 1;
		ctx->data++;
		str_append_c(str, '.');
		/* an atom must follow the dot: "host." is broken (Dovecot
		   then shows MISSING_DOMAIN) */
		if (rfc822_skip_lwsp(ctx) <= 0 || !RFC822_IS_ATEXT(*ctx->data))
			return -1;
	}
}

int rfc822_parse_dot_atom_lenient(struct rfc822_parser *ctx, string_t *str)
{
	int ret = -1;

	/* dots anywhere, as local parts in real mail have them: "....",
	   ".a", "a..b" (but no CFWS after a dot) */
	do {
		while (ctx->data < ctx->end && *ctx->data == '.') {
			str_append_c(str, '.');
			if (++ctx->data == ctx->end)
				return 0;
			ret = 1;
		}
		if (*ctx->data == '@')
			break;
		ret = rfc822_parse_atom(ctx, str);
	} while (ret > 0 && *ctx->data == '.');
	return ret;
}

int rfc822_parse_mime_token(struct rfc822_parser *ctx, string_t *str)
{
	const unsigned char *start = ctx->data;

	while (ctx->data < ctx->end &&
	       (RFC822_IS_TOKEN_CHAR(*ctx->data) || *ctx->data == '.'))
		ctx->data++;
	str_append_data(str, start, ctx->data - start);
	return rfc822_skip_lwsp(ctx);
}

int rfc822_parse_quoted_string(struct rfc822_parser *ctx, string_t *str)
{
	const unsigned char *start;

	i_assert(ctx->data < ctx->end && *ctx->data == '"');
	start = ++ctx->data;
	for (; ctx->data < ctx->end; ctx->data++) {
		switch (*ctx->data) {
		case '"':
			str_append_data(str, start, ctx->data - start);
			ctx->data++;
			return rfc822_skip_lwsp(ctx);
		case '\n': {
			/* folding inside the string: drop the [CR]LF */
			size_t len = ctx->data - start;

			if (len > 0 && start[len - 1] == '\r')
				len--;
			str_append_data(str, start, len);
			start = ctx->data + 1;
			break;
		}
		case '\\':
			str_append_data(str, start, ctx->data - start);
			if (++ctx->data >= ctx->end)
				return -1;
			start = ctx->data;
			break;
		}
	}
	/* unterminated string */
	return -1;
}

/* Atom with dots and no CFWS inside, for phrases: "Joe Q. Public". */
static int rfc822_parse_atom_or_dot(struct rfc822_parser *ctx, string_t *str)
{
	const unsigned char *start = ctx->data;

	while (ctx->data < ctx->end &&
	       (RFC822_IS_ATEXT(*ctx->data) || *ctx->data == '.'))
		ctx->data++;
	str_append_data(str, start, ctx->data - start);
	return rfc822_skip_lwsp(ctx);
}

int rfc822_parse_phrase(struct rfc822_parser *ctx, string_t *str)
{
	int ret;

	if (ctx->data >= ctx->end)
		return 0;
	if (*ctx->data == '.')
		return -1;
	for (;;) {
		if (*ctx->data == '"')
			ret = rfc822_parse_quoted_string(ctx, str);
		else
			ret = rfc822_parse_atom_or_dot(ctx, str);
		if (ret <= 0)
			return ret;
		if (!RFC822_IS_ATEXT(*ctx->data) && *ctx->data != '"' &&
		    *ctx->data != '.')
			break;
		str_append_c(str, ' ');
	}
	return rfc822_skip_lwsp(ctx);
}

static int rfc822_parse_domain_literal(struct rfc822_parser *ctx,
				       string_t *str)
{
	const unsigned char *start = ctx->data;

	i_assert(ctx->data < ctx->end && *ctx->data == '[');
	for (; ctx->data < ctx->end; ctx->data++) {
		if (*ctx->data == '\\') {
			if (++ctx->data >= ctx->end)
				break;
		} else if (*ctx->data == ']') {
			ctx->data++;
			str_append_data(str, start, ctx->data - start);
			return rfc822_skip_lwsp(ctx);
		}
	}
	return -1;
}

int rfc822_parse_domain(struct rfc822_parser *ctx, string_t *str)
{
	i_assert(ctx->data < ctx->end && *ctx->data == '@');
	ctx->data++;
	if (rfc822_skip_lwsp(ctx) <= 0)
		return -1;
	if (*ctx->data == '[')
		return rfc822_parse_domain_literal(ctx, str);
	return rfc822_parse_dot_atom(ctx, str);
}

int rfc822_parse_content_type(struct rfc822_parser *ctx, string_t *str)
{
	size_t start = str_len(str), subtype;
	int ret;

	if (rfc822_skip_lwsp(ctx) <= 0)
		return -1;
	/* a lone type ("text") is kept, as far as it went */
	if (rfc822_parse_mime_token(ctx, str) <= 0 || str_len(str) == start)
		return -1;
	if (*ctx->data != '/')
		return -1;
	ctx->data++;
	/* but with a "/" the subtype must be there, and nothing but
	   parameters may follow it; else the whole type is invalid (this
	   is where Dovecot 2.3 draws the line) */
	subtype = str_len(str) + 1;
	str_append_c(str, '/');
	if (rfc822_skip_lwsp(ctx) <= 0 ||
	    (ret = rfc822_parse_mime_token(ctx, str)) < 0 ||
	    str_len(str) == subtype ||
	    (ctx->data < ctx->end && *ctx->data != ';')) {
		str_truncate(str, start);
		return -1;
	}
	return ret;
}

int rfc822_parse_content_param(struct rfc822_parser *ctx, const char **key_r,
			       string_t *value)
{
	string_t *key;
	int ret;

	*key_r = NULL;
	str_truncate(value, 0);
	if (ctx->data >= ctx->end)
		return 0;
	if (*ctx->data != ';')
		return -1;
	ctx->data++;
	if (rfc822_skip_lwsp(ctx) <= 0)
		return -1;

	key = t_str_new(64);
	if (rfc822_parse_mime_token(ctx, key) <= 0)
		return -1;
	if (*ctx->data != '=')
		return -1;
	ctx->data++;

	if ((ret = rfc822_skip_lwsp(ctx)) <= 0) {
		/* "name=" with nothing after it: an empty value */
	} else if (*ctx->data == '"') {
		ret = rfc822_parse_quoted_string(ctx, value);
	} else if (*ctx->data == '=') {
		/* unquoted encoded word, a common breakage:
		   name==?utf-8?b?...?= - take it up to the next separator */
		while (ctx->data < ctx->end && *ctx->data != ';' &&
		       *ctx->data != ' ' && *ctx->data != '\t' &&
		       *ctx->data != '\r' && *ctx->data != '\n') {
			str_append_c(value, *ctx->data);
			ctx->data++;
		}
	} else {
		ret = rfc822_parse_mime_token(ctx, value);
	}
	*key_r = str_c(key);
	return ret < 0 ? -1 : 1;
}
