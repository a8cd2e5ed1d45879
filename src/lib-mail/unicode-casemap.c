/* i;unicode-casemap (RFC 5051): titlecase, then NFKD, per character (see
   unicode-casemap.h). ASCII goes through an 8-bytes-at-a-time upper-casing
   loop; the code points below U+0800 (Latin, Greek, Cyrillic, Hebrew,
   Arabic...) through a table built on first use; the rest asks ICU. */
#include "lib.h"
#include "str.h"
#include "charset-utf8.h"
#include "unicode-casemap.h"

#include <unicode/uchar.h>
#include <unicode/uversion.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>

/* the longest canonical form kept in the table; longer ones (none below
   U+0800 in Unicode 15) are computed each time */
#define CASEMAP_TABLE_MAX 11
#define CASEMAP_TABLE_SIZE 0x800
/* NFKD of one character: U+FDFA is the longest, 18 UTF-16 units */
#define CASEMAP_DECOMP_MAX 32

struct casemap_entry {
	uint8_t len;
	char utf8[CASEMAP_TABLE_MAX];
};

static const UNormalizer2 *casemap_nfkd;
static struct casemap_entry *casemap_table;

static const UNormalizer2 *casemap_get_nfkd(void)
{
	if (casemap_nfkd == NULL) {
		UErrorCode err = U_ZERO_ERROR;
		casemap_nfkd = unorm2_getNFKDInstance(&err);
		if (U_FAILURE(err) || casemap_nfkd == NULL) {
			i_fatal("ICU: no NFKD normalizer: %s",
				u_errorName(err));
		}
	}
	return casemap_nfkd;
}

static size_t utf8_encode(uint32_t cp, unsigned char *b)
{
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (unsigned char)(0xf0 | (cp >> 18));
	b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The canonical form of one code point into out (room for
   CASEMAP_DECOMP_MAX * 4 bytes); returns its length. */
static size_t casemap_char(uint32_t cp, unsigned char *out)
{
	UChar decomp[CASEMAP_DECOMP_MAX];
	UErrorCode err = U_ZERO_ERROR;
	UChar32 title = u_totitle((UChar32)cp);
	int32_t n = unorm2_getDecomposition(casemap_get_nfkd(), title, decomp,
					    CASEMAP_DECOMP_MAX, &err);
	size_t len = 0;

	if (n < 0 || U_FAILURE(err))
		return utf8_encode((uint32_t)title, out);
	for (int32_t i = 0; i < n; ) {
		UChar32 c;
		U16_NEXT(decomp, i, n, c);
		len += utf8_encode((uint32_t)c, out + len);
	}
	return len;
}

static void casemap_table_init(void)
{
	unsigned char buf[CASEMAP_DECOMP_MAX * 4];

	casemap_table = i_new(struct casemap_entry, CASEMAP_TABLE_SIZE);
	for (uint32_t cp = 0x80; cp < CASEMAP_TABLE_SIZE; cp++) {
		size_t len = casemap_char(cp, buf);
		if (len > CASEMAP_TABLE_MAX)
			continue; /* len 0: computed each time */
		casemap_table[cp].len = (uint8_t)len;
		memcpy(casemap_table[cp].utf8, buf, len);
	}
}

/* ASCII upper case of n bytes known to be ASCII. */
static void casemap_ascii(const unsigned char *src, size_t n,
			  unsigned char *dest)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, ge_a, gt_z;
		memcpy(&w, src + i, 8);
		/* per byte (all < 0x80, so no carries between bytes): the high
		   bit of ge_a is set for >= 'a', of gt_z for > 'z' */
		ge_a = w + 0x1f1f1f1f1f1f1f1fULL;
		gt_z = w + 0x0505050505050505ULL;
		w ^= ((ge_a & ~gt_z) & 0x8080808080808080ULL) >> 2;
		memcpy(dest + i, &w, 8);
	}
	for (; i < n; i++) {
		unsigned char c = src[i];
		dest[i] = c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
	}
}

uint32_t unicode_casemap_version(void)
{
	UVersionInfo v;

	u_getUnicodeVersion(v);
	return (uint32_t)v[0] << 16 | (uint32_t)v[1] << 8 | v[2];
}

size_t unicode_casemap_ascii_prefix_len(const unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if ((w & 0x8080808080808080ULL) != 0)
			break;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

bool unicode_casemap_is_ascii(const void *data, size_t size)
{
	return unicode_casemap_ascii_prefix_len(data, size) == size;
}

size_t unicode_casemap_more(const void *data, size_t size, bool last,
			    buffer_t *dest)
{
	const unsigned char *p = data, *end = p + size;
	unsigned char buf[CASEMAP_DECOMP_MAX * 4];

	if (casemap_table == NULL)
		casemap_table_init();
	while (p < end) {
		size_t n = unicode_casemap_ascii_prefix_len(p, (size_t)(end - p));
		if (n > 0) {
			casemap_ascii(p, n, buffer_append_space(dest, n));
			p += n;
			if (p == end)
				break;
		}
		int len = charset_utf8_seq_len(p, (size_t)(end - p));
		if (len < 0 && !last)
			break;
		if (len <= 0) {
			buffer_append(dest, UNICODE_REPLACEMENT_CHAR_UTF8, 3);
			/* as charset_utf8_append_valid(): a cut sequence is
			   one U+FFFD, any other invalid byte one each */
			p = len < 0 ? end : p + 1;
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
		p += len;
		if (cp < CASEMAP_TABLE_SIZE && casemap_table[cp].len > 0) {
			buffer_append(dest, casemap_table[cp].utf8,
				      casemap_table[cp].len);
		} else {
			buffer_append(dest, buf, casemap_char(cp, buf));
		}
	}
	return (size_t)(p - (const unsigned char *)data);
}

void unicode_casemap_append(const void *data, size_t size, buffer_t *dest)
{
	(void)unicode_casemap_more(data, size, true, dest);
}

const char *t_unicode_casemap(const char *str)
{
	size_t len = strlen(str);
	string_t *dest = t_str_new(len + 8);

	unicode_casemap_append(str, len, dest);
	return str_c(dest);
}
