/* IMAP string quoting with Dovecot's choices between quoted strings and
   literals, since clients have seen those for two decades and a
   differential test against Dovecot must find no difference. */
#include "imap-quote.h"

/* A quoted string with many escapes is longer than a literal: past this
   many, write a literal (Dovecot's threshold). */
#define IMAP_QUOTED_MAX_ESCAPES 4

static void imap_append_literal(string_t *dest, const char *src, size_t len)
{
	str_printfa(dest, "{%zu}\r\n", len);
	str_append_data(dest, src, len);
}

void imap_append_quoted(string_t *dest, const char *src)
{
	const char *start = src;

	str_append_c(dest, '"');
	for (; *src != '\0'; src++) {
		unsigned char c = *src;

		if (c != '\r' && c != '\n' && c < 0x80 && c != '"' &&
		    c != '\\')
			continue;
		/* copy the plain run in one go */
		str_append_data(dest, start, src - start);
		start = src + 1;
		if (c == '"' || c == '\\') {
			str_append_c(dest, '\\');
			str_append_c(dest, c);
		}
	}
	str_append_data(dest, start, src - start);
	str_append_c(dest, '"');
}

void imap_append_string(string_t *dest, const char *src)
{
	unsigned int escapes = 0;

	i_assert(src != NULL);
	for (const char *p = src; *p != '\0'; p++) {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			if (++escapes <= IMAP_QUOTED_MAX_ESCAPES)
				continue;
		} else if (c != '\r' && c != '\n' && c < 0x80) {
			continue;
		}
		imap_append_literal(dest, src, strlen(src));
		return;
	}
	imap_append_quoted(dest, src);
}

void imap_append_nstring(string_t *dest, const char *src)
{
	if (src == NULL)
		str_append(dest, "NIL");
	else
		imap_append_string(dest, src);
}

void imap_append_nstring_nolf(string_t *dest, const char *src)
{
	if (src == NULL || strpbrk(src, "\r\n") == NULL) {
		imap_append_nstring(dest, src);
		return;
	}
	/* not the data stack: dest may be a data stack buffer that must
	   not grow inside a frame of ours */
	string_t *clean = str_new(system_pool, strlen(src) + 1);

	for (const char *p = src; *p != '\0'; p++) {
		if (*p != '\r' && *p != '\n') {
			str_append_c(clean, *p);
		} else if (p[1] != ' ' && p[1] != '\t' && p[1] != '\r' &&
			   p[1] != '\n' && p[1] != '\0') {
			/* keep the words on both sides apart */
			str_append_c(clean, ' ');
		}
	}
	imap_append_nstring(dest, str_c(clean));
	str_free(&clean);
}

static bool is_human_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void imap_append_string_for_humans(string_t *dest, const void *_src,
				   size_t size)
{
	const unsigned char *src = _src;
	size_t i, start, end, out_len = 0;
	bool changed = false, last_ws = false;

	/* trim, then collapse whitespace runs */
	for (start = 0; start < size && is_human_ws(src[start]); start++)
		changed = true;
	for (end = size; end > start && is_human_ws(src[end - 1]); end--)
		changed = true;
	for (i = start; i < end; i++) {
		unsigned char c = src[i];

		if (is_human_ws(c)) {
			if (c != ' ' || last_ws)
				changed = true;
			if (!last_ws)
				out_len++;
			last_ws = true;
			continue;
		}
		last_ws = false;
		out_len++;
		if (c == '"' || c == '\\' || c == '\0' || c >= 0x80)
			changed = true;
	}
	if (!changed) {
		str_append_c(dest, '"');
		str_append_data(dest, src, size);
		str_append_c(dest, '"');
		return;
	}
	if (out_len == 0) {
		str_append(dest, "\"\"");
		return;
	}
	str_printfa(dest, "{%zu}\r\n", out_len);
	unsigned char *out = buffer_append_space(dest, out_len);
	size_t o = 0;
	last_ws = false;
	for (i = start; i < end; i++) {
		unsigned char c = src[i];

		if (is_human_ws(c)) {
			if (!last_ws)
				out[o++] = ' ';
			last_ws = true;
			continue;
		}
		last_ws = false;
		/* NUL cannot be sent; 0x80 is what Dovecot shows */
		out[o++] = c == '\0' ? 0x80 : c;
	}
	i_assert(o == out_len);
}
