/* Modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands for itself
   except "&", which starts a run of UTF-16 in a base64 variant ("," for
   "/", no padding) ended by "-"; "&-" is "&". */
#include "lib.h"
#include "imap-utf7.h"

static const char mbase64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

bool imap_utf8_is_valid(const void *data, size_t size)
{
	const unsigned char *p = data, *end = p + size;

	while (p < end) {
		unsigned char c = *p;
		unsigned int len;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) < len)
			return false;
		for (unsigned int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

/* Decode one UTF-8 character (already validated). */
static uint32_t utf8_next(const unsigned char **_p)
{
	const unsigned char *p = *_p;
	uint32_t cp;
	unsigned int len;

	if (*p < 0x80) {
		*_p = p + 1;
		return *p;
	}
	if (*p < 0xe0) {
		len = 2;
		cp = *p & 0x1f;
	} else if (*p < 0xf0) {
		len = 3;
		cp = *p & 0x0f;
	} else {
		len = 4;
		cp = *p & 0x07;
	}
	for (unsigned int i = 1; i < len; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	*_p = p + len;
	return cp;
}

static void utf8_append(string_t *dest, uint32_t cp)
{
	if (cp < 0x80) {
		str_append_c(dest, (char)cp);
	} else if (cp < 0x800) {
		str_append_c(dest, (char)(0xc0 | (cp >> 6)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		str_append_c(dest, (char)(0xe0 | (cp >> 12)));
		str_append_c(dest, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	} else {
		str_append_c(dest, (char)(0xf0 | (cp >> 18)));
		str_append_c(dest, (char)(0x80 | ((cp >> 12) & 0x3f)));
		str_append_c(dest, (char)(0x80 | ((cp >> 6) & 0x3f)));
		str_append_c(dest, (char)(0x80 | (cp & 0x3f)));
	}
}

static void utf7_flush_units(string_t *dest, const uint16_t *units,
			     unsigned int count)
{
	uint32_t bits = 0;
	unsigned int nbits = 0;

	str_append_c(dest, '&');
	for (unsigned int i = 0; i < count; i++) {
		bits = (bits << 16) | units[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			str_append_c(dest, mbase64[(bits >> nbits) & 0x3f]);
		}
		bits &= (1U << nbits) - 1;
	}
	if (nbits > 0)
		str_append_c(dest, mbase64[(bits << (6 - nbits)) & 0x3f]);
	str_append_c(dest, '-');
}

int imap_utf8_to_utf7(const char *src, string_t *dest)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t len = strlen(src);
	ARRAY(uint16_t) units;

	if (!imap_utf8_is_valid(p, len))
		return -1;
	array_init(&units, pool_datastack, 0);
	while (*p != '\0') {
		if (*p >= 0x20 && *p <= 0x7e) {
			if (units.count > 0) {
				utf7_flush_units(dest, units.v, units.count);
				array_clear(&units);
			}
			if (*p == '&')
				str_append(dest, "&-");
			else
				str_append_c(dest, (char)*p);
			p++;
			continue;
		}
		uint32_t cp = utf8_next(&p);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			array_push(&units, (uint16_t)(0xd800 | (cp >> 10)));
			array_push(&units, (uint16_t)(0xdc00 | (cp & 0x3ff)));
		} else {
			array_push(&units, (uint16_t)cp);
		}
	}
	if (units.count > 0)
		utf7_flush_units(dest, units.v, units.count);
	return 0;
}

static int mbase64_value(unsigned char c)
{
	const char *p = c == '\0' ? NULL : strchr(mbase64, c);
	return p == NULL ? -1 : (int)(p - mbase64);
}

/* Decode the run after "&" up to "-". *_p points after "&"; on success it
   points after "-". */
static int utf7_decode_run(const unsigned char **_p, string_t *dest)
{
	const unsigned char *p = *_p;
	uint32_t bits = 0, high = 0;
	unsigned int nbits = 0, nunits = 0;

	for (; *p != '-'; p++) {
		int v = mbase64_value(*p);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t unit = (bits >> nbits) & 0xffff;
		bits &= (1U << nbits) - 1;
		nunits++;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return -1;
			utf8_append(dest, 0x10000 + ((high - 0xd800) << 10) +
				    (unit - 0xdc00));
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return -1;
		} else if (unit >= 0x20 && unit <= 0x7e) {
			/* printable ASCII must be written directly */
			return -1;
		} else {
			utf8_append(dest, unit);
		}
	}
	/* leftover bits must be fewer than 6 and all zero; no dangling
	   high surrogate; no empty run ("&-" is handled by the caller) */
	if (nunits == 0 || nbits >= 6 || bits != 0 || high != 0)
		return -1;
	*_p = p + 1;
	return 0;
}

int imap_utf7_to_utf8(const char *src, string_t *dest)
{
	const unsigned char *p = (const unsigned char *)src;
	bool prev_run = false;

	while (*p != '\0') {
		if (*p < 0x20 || *p > 0x7e)
			return -1;
		if (*p != '&') {
			str_append_c(dest, (char)*p++);
			prev_run = false;
			continue;
		}
		p++;
		if (*p == '-') {
			str_append_c(dest, '&');
			p++;
			prev_run = false;
			continue;
		}
		/* two runs in a row must have been one */
		if (prev_run)
			return -1;
		if (utf7_decode_run(&p, dest) < 0)
			return -1;
		prev_run = true;
	}
	return 0;
}

bool imap_utf7_is_valid(const char *src)
{
	bool ret;

	T_BEGIN {
		string_t *tmp = t_str_new(64);
		ret = imap_utf7_to_utf8(src, tmp) == 0;
	} T_END;
	return ret;
}
