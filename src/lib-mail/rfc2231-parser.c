/* RFC 2231 parameter parsing: continuations are joined, extended values are
   kept encoded for BODYSTRUCTURE (as Dovecot shows them) and decoded to
   UTF-8 on request. */
#include "rfc2231-parser.h"
#include "charset-utf8.h"
#include "message-header-decode.h"

struct rfc2231_piece {
	const char *name, *value;
	unsigned int idx;
	bool extended;
};

static int rfc2231_piece_cmp(const void *p1, const void *p2)
{
	const struct rfc2231_piece *a = p1, *b = p2;
	int ret = strcmp(a->name, b->name);

	if (ret != 0)
		return ret;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

/* Split "name*N*" into its parts. Returns false if the key is not an RFC
   2231 one (then it is an ordinary parameter). */
static bool rfc2231_split_key(const char *key, struct rfc2231_piece *piece_r)
{
	const char *star = strchr(key, '*');
	const char *p;
	unsigned int idx = 0;

	if (star == NULL || star == key)
		return false;
	p = star + 1;
	if (*p >= '0' && *p <= '9') {
		for (; *p >= '0' && *p <= '9'; p++) {
			if (idx > 100000)
				return false;
			idx = idx * 10 + (*p - '0');
		}
		piece_r->extended = *p == '*';
		if (*p == '*')
			p++;
	} else {
		/* "name*": a single extended value */
		piece_r->extended = true;
	}
	if (*p != '\0')
		return false;
	piece_r->name = t_strndup(key, star - key);
	piece_r->idx = idx;
	return true;
}

static void rfc2231_escape_percent(string_t *dest, const char *src)
{
	for (; *src != '\0'; src++) {
		if (*src == '%')
			str_append(dest, "%25");
		else
			str_append_c(dest, *src);
	}
}

int rfc2231_parse(struct rfc822_parser *ctx, const char *const **result_r)
{
	ARRAY(const char *) result;
	ARRAY(struct rfc2231_piece) pieces;
	string_t *value = t_str_new(64);
	const char *key;
	bool broken = false;
	int ret;

	array_init(&result, pool_datastack, 8);
	array_init(&pieces, pool_datastack, 4);
	while ((ret = rfc822_parse_content_param(ctx, &key, value)) != 0) {
		struct rfc2231_piece piece;

		if (ret < 0) {
			/* skip the broken byte and try the rest */
			broken = true;
			if (ctx->data >= ctx->end)
				break;
			ctx->data++;
			continue;
		}
		memset(&piece, 0, sizeof(piece));
		if (rfc2231_split_key(key, &piece)) {
			piece.value = t_strdup(str_c(value));
			array_push(&pieces, piece);
		} else {
			array_push(&result, key);
			array_push(&result, t_strdup(str_c(value)));
		}
	}

	if (pieces.count > 0) {
		qsort(pieces.v, pieces.count, sizeof(pieces.v[0]),
		      rfc2231_piece_cmp);
	}
	for (unsigned int i = 0, next; i < pieces.count; i = next) {
		bool complete = true, have_extended = false;
		unsigned int want_idx = 0;

		for (next = i; next < pieces.count; next++) {
			const struct rfc2231_piece *p = &pieces.v[next];

			if (strcasecmp(pieces.v[i].name, p->name) != 0)
				break;
			if (p->idx != want_idx++)
				complete = false;
			if (p->extended)
				have_extended = true;
		}
		if (!complete) {
			/* missing or duplicate indexes: no joining */
			for (unsigned int j = i; j < next; j++) {
				const struct rfc2231_piece *p = &pieces.v[j];

				array_push(&result, t_strdup_printf(
					p->extended ? "%s*%u*" : "%s*%u",
					p->name, p->idx));
				array_push(&result, p->value);
			}
			continue;
		}
		string_t *joined = t_str_new(128);
		if (have_extended && !pieces.v[i].extended) {
			/* first piece is plain: give it an empty charset and
			   language so the joined value has the extended form */
			str_append(joined, "''");
		}
		for (unsigned int j = i; j < next; j++) {
			const struct rfc2231_piece *p = &pieces.v[j];

			if (have_extended && !p->extended)
				rfc2231_escape_percent(joined, p->value);
			else
				str_append(joined, p->value);
		}
		array_push(&result, have_extended ?
			   t_strdup_printf("%s*", pieces.v[i].name) :
			   pieces.v[i].name);
		array_push(&result, str_c(joined));
	}
	array_push(&result, NULL);
	*result_r = result.v;
	return broken ? -1 : 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void rfc2231_decode_value(const char *name, const char *value,
			  buffer_t *dest, const char **name_r,
			  const char **language_r)
{
	size_t name_len = strlen(name);

	*language_r = NULL;
	if (name_len == 0 || name[name_len - 1] != '*') {
		*name_r = name;
		message_header_decode_utf8(value, strlen(value), dest);
		return;
	}
	*name_r = t_strndup(name, name_len - 1);

	/* charset'language'text; a value without the quotes is taken as
	   the text (a common breakage) */
	const char *q1 = strchr(value, '\''), *q2 = NULL, *charset = NULL;
	if (q1 != NULL)
		q2 = strchr(q1 + 1, '\'');
	if (q2 != NULL) {
		charset = t_strndup(value, q1 - value);
		if (q2 > q1 + 1)
			*language_r = t_strndup(q1 + 1, q2 - q1 - 1);
		value = q2 + 1;
	}

	buffer_t *raw = t_str_new(strlen(value) + 1);
	for (const char *p = value; *p != '\0'; p++) {
		int hi, lo;

		if (*p == '%' && (hi = hex_digit(p[1])) >= 0 &&
		    (lo = hex_digit(p[2])) >= 0) {
			buffer_append_c(raw, (hi << 4) | lo);
			p += 2;
		} else {
			buffer_append_c(raw, *p);
		}
	}
	(void)charset_to_utf8_str(charset == NULL || *charset == '\0' ?
				  NULL : charset, raw->data, raw->used, dest);
}

const char *rfc2231_get_utf8(const char *const *params, const char *name)
{
	size_t name_len = strlen(name);

	for (; params[0] != NULL; params += 2) {
		if (strncasecmp(params[0], name, name_len) != 0 ||
		    (params[0][name_len] != '\0' &&
		     strcmp(params[0] + name_len, "*") != 0))
			continue;
		string_t *str = t_str_new(128);
		const char *pname, *lang;

		rfc2231_decode_value(params[0], params[1], str, &pname, &lang);
		return str_c(str);
	}
	return NULL;
}
