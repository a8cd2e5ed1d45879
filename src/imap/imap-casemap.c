/* Case folding and RFC 5256 base subjects (see imap-casemap.h). */
#include "lib.h"
#include "str.h"
#include "charset-utf8.h"
#include "message-header-decode.h"
#include "imap-casemap.h"

#include <locale.h>
#include <wctype.h>

static locale_t casemap_locale;
static bool casemap_locale_tried;

static locale_t casemap_get_locale(void)
{
	if (!casemap_locale_tried) {
		casemap_locale_tried = true;
		casemap_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (casemap_locale == (locale_t)0)
			i_warning("C.UTF-8 locale missing: non-ASCII text is "
				  "compared case-sensitively");
	}
	return casemap_locale;
}

static void utf8_put(buffer_t *dest, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp; n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f)); n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f)); n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f)); n = 4;
	}
	buffer_append(dest, b, n);
}

void imap_casemap_fold(const void *data, size_t size, buffer_t *dest)
{
	const unsigned char *p = data, *end = p + size;

	while (p < end) {
		/* ASCII runs: straight through a table, in place */
		const unsigned char *start = p;
		while (p < end && *p < 0x80)
			p++;
		if (p > start) {
			size_t n = (size_t)(p - start);
			unsigned char *out = buffer_append_space(dest, n);
			for (size_t i = 0; i < n; i++) {
				unsigned char c = start[i];
				out[i] = c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
			}
			if (p == end)
				break;
		}
		int len = charset_utf8_seq_len(p, (size_t)(end - p));
		if (len <= 0) {
			buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
			p++;
			continue;
		}
		uint32_t cp;
		if (len == 2)
			cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		else if (len == 3)
			cp = (uint32_t)(p[0] & 0x0f) << 12 |
				(uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		else
			cp = (uint32_t)(p[0] & 0x07) << 18 |
				(uint32_t)(p[1] & 0x3f) << 12 |
				(uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		locale_t loc = casemap_get_locale();
		uint32_t up = cp;
		if (loc != (locale_t)0) {
			wint_t w = towupper_l((wint_t)cp, loc);
			/* keep folds within the same UTF-8 length class
			   sane: any valid code point will do */
			if (w != WEOF && w > 0 && (uint32_t)w <= 0x10ffff &&
			    !((uint32_t)w >= 0xd800 && (uint32_t)w <= 0xdfff))
				up = (uint32_t)w;
		}
		utf8_put(dest, up);
		p += len;
	}
}

const char *t_imap_casemap_fold(const char *str)
{
	size_t len = strlen(str);
	string_t *dest = t_str_new(len + 8);

	imap_casemap_fold(str, len, dest);
	return str_c(dest);
}

/* --- base subject --- */

/* After "[": skip *BLOBCHAR "]" *WSP; NULL if unterminated. */
static const char *skip_blob(const char *p)
{
	i_assert(*p == '[');
	p++;
	while (*p != '\0' && *p != '[' && *p != ']')
		p++;
	if (*p != ']')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP */
static bool remove_subj_leader(const char **_p, bool *is_reply)
{
	const char *p = *_p;

	if (*p == ' ') {
		*_p = p + 1;
		return true;
	}
	while (*p == '[') {
		if ((p = skip_blob(p)) == NULL)
			return false;
	}
	if (strncmp(p, "RE", 2) == 0)
		p += 2;
	else if (strncmp(p, "FWD", 3) == 0)
		p += 3;
	else if (strncmp(p, "FW", 2) == 0)
		p += 2;
	else
		return false;
	while (*p == ' ')
		p++;
	if (*p == '[') {
		if ((p = skip_blob(p)) == NULL)
			return false;
	}
	if (*p != ':')
		return false;
	*_p = p + 1;
	*is_reply = true;
	return true;
}

/* (4): a leading subj-blob, if something is left after it */
static bool remove_blob_when_nonempty(const char **_p)
{
	const char *p = *_p;

	if (*p != '[')
		return false;
	if ((p = skip_blob(p)) == NULL || *p == '\0')
		return false;
	*_p = p;
	return true;
}

/* (2): subj-trailer = "(fwd)" / WSP, repeated */
static void remove_subj_trailers(const char *start, size_t *len,
				 bool *is_reply)
{
	for (;;) {
		if (*len > 0 && start[*len - 1] == ' ')
			(*len)--;
		else if (*len >= 5 && memcmp(start + *len - 5, "(FWD)", 5) == 0) {
			*len -= 5;
			*is_reply = true;
		} else
			break;
	}
}

const char *imap_get_base_subject(const char *subject, bool *is_reply_r)
{
	bool is_reply = false;
	string_t *dec, *folded, *ws;

	if (subject == NULL)
		subject = "";
	/* (1) decode, fold, whitespace */
	dec = t_str_new(strlen(subject) + 16);
	message_header_decode_utf8(subject, strlen(subject), dec);
	folded = t_str_new(str_len(dec) + 16);
	imap_casemap_fold(dec->data, dec->used, folded);
	ws = t_str_new(str_len(folded) + 1);
	bool last_space = false;
	for (size_t i = 0; i < folded->used; i++) {
		char c = ((const char *)folded->data)[i];
		if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
			if (!last_space)
				str_append_c(ws, ' ');
			last_space = true;
		} else if (c == '\0') {
			/* cannot be part of a C string */
			continue;
		} else {
			str_append_c(ws, c);
			last_space = false;
		}
	}

	char *buf = str_c_modifiable(ws);
	const char *p = buf;
	size_t len;
	for (;;) {
		/* (2) trailers */
		len = strlen(p);
		remove_subj_trailers(p, &len, &is_reply);
		buf = t_strndup(p, len);
		p = buf;
		/* (3)-(5) leaders and blobs */
		bool changed;
		do {
			changed = false;
			while (remove_subj_leader(&p, &is_reply))
				changed = true;
			if (remove_blob_when_nonempty(&p))
				changed = true;
		} while (changed);
		/* (6) [fwd: ...] */
		len = strlen(p);
		if (len >= 6 && strncmp(p, "[FWD:", 5) == 0 && p[len - 1] == ']') {
			p = t_strndup(p + 5, len - 6);
			is_reply = true;
			continue;
		}
		break;
	}
	if (is_reply_r != NULL)
		*is_reply_r = is_reply;
	return p;
}
