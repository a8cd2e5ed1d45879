/* iconv-based charset conversion to UTF-8 with an alias table and lenient
   error handling: mail names charsets loosely and mislabels text, and a
   search or a display must still get everything that can be read. */
#include "charset-utf8.h"

#include <iconv.h>

/* Longest partial multibyte sequence iconv can leave unconsumed (GB18030
   and UTF-8 are 4 bytes; ISO-2022 escape sequences are at most 4 too, but
   be generous). */
#define CHARSET_PARTIAL_MAX 16

struct charset_translation {
	iconv_t cd;		/* (iconv_t)-1 when validating UTF-8 */
	unsigned char partial[CHARSET_PARTIAL_MAX];
	size_t partial_len;
};

struct charset_alias {
	const char *name, *iconv_name;
};

/* Labels mail software writes that iconv does not know, or knows as a
   narrower charset than what is really sent. Superset choices follow the
   WHATWG Encoding Standard (what browsers and Thunderbird do): iso-8859-1
   mail very often holds windows-1252 punctuation in 0x80-0x9F. */
static const struct charset_alias charset_aliases[] = {
	{ "ascii", "UTF-8" },
	{ "us-ascii", "UTF-8" },
	{ "ansi_x3.4-1968", "UTF-8" },
	{ "utf8", "UTF-8" },
	{ "utf-8", "UTF-8" },
	{ "iso-8859-1", "WINDOWS-1252" },
	{ "iso8859-1", "WINDOWS-1252" },
	{ "iso_8859-1", "WINDOWS-1252" },
	{ "latin1", "WINDOWS-1252" },
	{ "l1", "WINDOWS-1252" },
	{ "iso-8859-9", "WINDOWS-1254" },
	{ "latin5", "WINDOWS-1254" },
	{ "iso-8859-11", "CP874" },
	{ "tis-620", "CP874" },
	{ "windows-874", "CP874" },
	{ "iso-8859-6-i", "ISO-8859-6" },
	{ "iso-8859-6-e", "ISO-8859-6" },
	{ "iso-8859-8-i", "ISO-8859-8" },
	{ "iso-8859-8-e", "ISO-8859-8" },
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "ksc5601", "CP949" },
	{ "ksc_5601", "CP949" },
	{ "euc-kr", "CP949" },
	{ "x-euc-kr", "CP949" },
	{ "gb2312", "GB18030" },
	{ "gb_2312-80", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "euc-cn", "GB18030" },
	{ "x-euc-cn", "GB18030" },
	{ "cp936", "GB18030" },
	{ "chinese", "GB18030" },
	{ "big5", "BIG5-HKSCS" },
	{ "x-x-big5", "BIG5-HKSCS" },
	{ "big5-hkscs", "BIG5-HKSCS" },
	{ "shift_jis", "CP932" },
	{ "shift-jis", "CP932" },
	{ "x-sjis", "CP932" },
	{ "sjis", "CP932" },
	{ "ms_kanji", "CP932" },
	{ "windows-31j", "CP932" },
	{ "x-euc-jp", "EUC-JP" },
	{ "unicode-1-1-utf-7", "UTF-7" },
	{ "x-unicode-2-0-utf-7", "UTF-7" },
	{ "x-mac-roman", "MACINTOSH" },
	{ "macintosh", "MACINTOSH" },
	{ "x-mac-cyrillic", "MAC-CYRILLIC" },
	{ "ibm-1252", "WINDOWS-1252" },
	{ "cp-1252", "WINDOWS-1252" },
	{ "cp-1250", "WINDOWS-1250" },
	{ "cp-1251", "WINDOWS-1251" },
};

const char *charset_get_iconv_name(const char *charset)
{
	const char *trimmed = t_str_trim(charset, " \t\"'");
	const char *lcase = t_str_lcase(trimmed);

	for (unsigned int i = 0; i < N_ELEMENTS(charset_aliases); i++) {
		if (strcmp(charset_aliases[i].name, lcase) == 0)
			return charset_aliases[i].iconv_name;
	}
	return lcase;
}

bool charset_is_utf8(const char *charset)
{
	bool ret;

	if (charset == NULL)
		return true;
	T_BEGIN {
		ret = strcmp(charset_get_iconv_name(charset), "UTF-8") == 0;
	} T_END;
	return ret;
}

int charset_utf8_seq_len(const unsigned char *src, size_t size)
{
	unsigned char c = src[0];
	unsigned int len, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		len = 2;
	else if (c < 0xF0) {
		len = 3;
		/* no overlongs (E0 80..9F), no surrogates (ED A0..BF) */
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		len = 4;
		/* no overlongs (F0 80..8F), nothing past U+10FFFF */
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if (i >= size)
			return -1;
		if (src[i] < lo || src[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xBF;
	}
	return (int)len;
}

/* Validate as much of src as is complete; returns the number of bytes
   handled (a trailing partial sequence is left when !final). */
static size_t utf8_append_valid(buffer_t *dest, const unsigned char *src,
				size_t size, bool final, bool *valid)
{
	size_t i = 0, start = 0;

	while (i < size) {
		if (src[i] < 0x80) {
			i++;
			continue;
		}
		int len = charset_utf8_seq_len(src + i, size - i);
		if (len > 0) {
			i += len;
			continue;
		}
		buffer_append(dest, src + start, i - start);
		if (len < 0 && !final) {
			/* may complete with the next piece */
			return i;
		}
		buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
		*valid = false;
		/* skip the maximal invalid subpart: the lead byte and any
		   continuation bytes it could still have taken */
		i++;
		if (len < 0)
			i = size;
		start = i;
	}
	buffer_append(dest, src + start, i - start);
	return i;
}

bool charset_utf8_append_valid(buffer_t *dest, const void *src, size_t size)
{
	bool valid = true;

	(void)utf8_append_valid(dest, src, size, true, &valid);
	return valid;
}

struct charset_translation *
charset_to_utf8_begin(const char *charset, bool *unknown_r)
{
	struct charset_translation *t = i_new(struct charset_translation, 1);

	t->cd = (iconv_t)-1;
	if (unknown_r != NULL)
		*unknown_r = false;
	if (charset == NULL)
		return t;
	T_BEGIN {
		const char *name = charset_get_iconv_name(charset);

		if (strcmp(name, "UTF-8") != 0) {
			t->cd = iconv_open("UTF-8", name);
			if (t->cd == (iconv_t)-1 && unknown_r != NULL)
				*unknown_r = true;
		}
	} T_END;
	return t;
}

void charset_to_utf8_end(struct charset_translation **_t)
{
	struct charset_translation *t = *_t;

	if (t == NULL)
		return;
	*_t = NULL;
	if (t->cd != (iconv_t)-1)
		iconv_close(t->cd);
	free(t);
}

void charset_to_utf8_reset(struct charset_translation *t)
{
	t->partial_len = 0;
	if (t->cd != (iconv_t)-1)
		(void)iconv(t->cd, NULL, NULL, NULL, NULL);
}

/* Run iconv over src; returns bytes consumed (a trailing incomplete
   sequence is left unconsumed). */
static size_t iconv_more(struct charset_translation *t,
			 const unsigned char *src, size_t size,
			 buffer_t *dest, bool *valid)
{
	char *in = (char *)src;
	size_t inleft = size;

	while (inleft > 0) {
		size_t want = I_MAX(inleft * 4, 64);
		char *out = buffer_get_space(dest, want);
		size_t outleft = want;
		size_t ret = iconv(t->cd, &in, &inleft, &out, &outleft);

		/* iconv wrote into the space buffer_get_space() gave */
		dest->used += want - outleft;
		if (ret != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		if (errno == EINVAL) {
			/* incomplete sequence at the end */
			break;
		}
		/* EILSEQ (or anything else): replace one byte and go on */
		buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
		*valid = false;
		in++;
		inleft--;
	}
	return size - inleft;
}

static size_t translation_more(struct charset_translation *t,
			       const unsigned char *src, size_t size,
			       buffer_t *dest, bool final, bool *valid)
{
	if (t->cd == (iconv_t)-1)
		return utf8_append_valid(dest, src, size, final, valid);
	size_t n = iconv_more(t, src, size, dest, valid);
	if (n < size && final) {
		buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
		*valid = false;
		n = size;
	}
	return n;
}

bool charset_to_utf8_more(struct charset_translation *t, const void *_src,
			  size_t size, buffer_t *dest)
{
	const unsigned char *src = _src;
	bool valid = true;
	size_t n;

	if (t->partial_len > 0) {
		/* complete the sequence left over from the previous piece,
		   one byte at a time: it is at most a few bytes */
		while (t->partial_len > 0 && size > 0) {
			t->partial[t->partial_len++] = *src++;
			size--;
			n = translation_more(t, t->partial, t->partial_len,
					     dest, false, &valid);
			memmove(t->partial, t->partial + n,
				t->partial_len - n);
			t->partial_len -= n;
			if (t->partial_len == CHARSET_PARTIAL_MAX) {
				/* iconv keeps asking for more: give up on
				   this sequence */
				buffer_append(dest,
					      UNICODE_REPLACEMENT_CHAR_UTF8, 3);
				valid = false;
				t->partial_len = 0;
			}
		}
		if (size == 0)
			return valid;
	}
	n = translation_more(t, src, size, dest, false, &valid);
	if (size - n > CHARSET_PARTIAL_MAX) {
		/* cannot happen with sane converters; do not loop */
		buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
		return false;
	}
	memcpy(t->partial, src + n, size - n);
	t->partial_len = size - n;
	return valid;
}

bool charset_to_utf8_finish(struct charset_translation *t, buffer_t *dest)
{
	bool valid = true;

	if (t->partial_len > 0) {
		(void)translation_more(t, t->partial, t->partial_len, dest,
				       true, &valid);
		t->partial_len = 0;
	}
	if (t->cd != (iconv_t)-1) {
		/* flush a stateful encoding's pending output */
		char buf[64], *out = buf;
		size_t outleft = sizeof(buf);

		(void)iconv(t->cd, NULL, NULL, &out, &outleft);
		buffer_append(dest, buf, sizeof(buf) - outleft);
		(void)iconv(t->cd, NULL, NULL, NULL, NULL);
	}
	return valid;
}

bool charset_to_utf8_str(const char *charset, const void *src, size_t size,
			 buffer_t *dest)
{
	bool unknown, valid;
	struct charset_translation *t = charset_to_utf8_begin(charset,
							      &unknown);

	valid = charset_to_utf8_more(t, src, size, dest);
	if (!charset_to_utf8_finish(t, dest))
		valid = false;
	charset_to_utf8_end(&t);
	return valid && !unknown;
}
