/* Tests for unicode-casemap.c: RFC 5051 vectors, the ASCII fast path
   against the slow one, and text cut into pieces. */
#include "test-lib-mail.h"
#include "str.h"
#include "unicode-casemap.h"

static const char *casemap(const char *s)
{
	return t_unicode_casemap(s);
}

static void test_unicode_casemap_vectors(void)
{
	test_begin("unicode casemap: RFC 5051 vectors");
	/* ASCII: titlecase = upper case, no decomposition */
	test_assert_strcmp(casemap("Hello, World! az AZ @[`{~"),
			   "HELLO, WORLD! AZ AZ @[`{~");
	/* U+01C6 dz with caron: titlecase U+01C5 (not the upper case
	   U+01C4), whose NFKD is D, z, U+030C; the z stays small because
	   titlecasing is not applied again to the decomposition */
	test_assert_strcmp(casemap("\xc7\x86"), "Dz\xcc\x8c");
	test_assert_strcmp(casemap("\xc7\x84"), "Dz\xcc\x8c");
	test_assert_strcmp(casemap("\xc7\x85"), "Dz\xcc\x8c");
	/* d + z with caron: each character on its own */
	test_assert_strcmp(casemap("d\xc5\xbe"), "DZ\xcc\x8c");
	/* U+FB01 ligature fi: no simple titlecase, NFKD "fi" */
	test_assert_strcmp(casemap("\xef\xac\x81"), "fi");
	/* A with ring, precomposed or not, either case */
	test_assert_strcmp(casemap("\xc3\x85"), "A\xcc\x8a");
	test_assert_strcmp(casemap("\xc3\xa5"), "A\xcc\x8a");
	test_assert_strcmp(casemap("A\xcc\x8a"), "A\xcc\x8a");
	test_assert_strcmp(casemap("a\xcc\x8a"), "A\xcc\x8a");
	/* U+212B ANGSTROM SIGN decomposes to A + ring too */
	test_assert_strcmp(casemap("\xe2\x84\xab"), "A\xcc\x8a");
	/* sharp s: no simple titlecase mapping, so not "SS" */
	test_assert_strcmp(casemap("stra\xc3\x9f" "e"), "STRA\xc3\x9f" "E");
	/* Greek: sigma and final sigma both titlecase to capital sigma */
	test_assert_strcmp(casemap("\xcf\x83"), "\xce\xa3");
	test_assert_strcmp(casemap("\xcf\x82"), "\xce\xa3");
	test_assert_strcmp(casemap("\xce\xa3"), "\xce\xa3");
	/* small alpha with tonos: capital alpha + acute */
	test_assert_strcmp(casemap("\xce\xac"), "\xce\x91\xcc\x81");
	/* compatibility: circled one, fullwidth A, superscript two */
	test_assert_strcmp(casemap("\xe2\x91\xa0"), "1");
	test_assert_strcmp(casemap("\xef\xbc\xa1\xef\xbd\x81"), "AA");
	test_assert_strcmp(casemap("\xc2\xb2"), "2");
	/* Cyrillic */
	test_assert_strcmp(casemap("\xd0\xbf\xd1\x80\xd0\xb8"),
			   "\xd0\x9f\xd0\xa0\xd0\x98");
	/* Hangul syllable U+D55C: NFKD is the jamo U+1112 U+1161 U+11AB
	   (Unicode's algorithmic Decomposition_Mapping; Dovecot keeps the
	   syllable, docs/compatibility.md) */
	test_assert_strcmp(casemap("\xed\x95\x9c"),
			   "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab");
	test_assert_strcmp(casemap("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab"),
			   "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab");
	/* outside the BMP: Deseret small letter long i -> capital */
	test_assert_strcmp(casemap("\xf0\x90\x90\xa8"), "\xf0\x90\x90\x80");
	/* U+FDFA, the longest decomposition (18 characters) */
	test_assert(strlen(casemap("\xef\xb7\xba")) == 33);
	/* invalid UTF-8 */
	test_assert_strcmp(casemap("a\xff" "b"), "A\xef\xbf\xbd" "B");
	test_assert_strcmp(casemap("a\xc3"), "A\xef\xbf\xbd");
	test_assert_strcmp(casemap("\xe0\x80\x80"),
			   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	test_assert_strcmp(casemap("\xed\xa0\x80" "x"),
			   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdX");
	test_assert(unicode_casemap_is_ascii("abcdefghijklmnop", 16));
	test_assert(!unicode_casemap_is_ascii("abcdefghijk\xc3\xa9mnop", 17));
	test_end();
}

static void test_unicode_casemap_ascii_path(void)
{
	unsigned char in[300], expect[300];

	test_begin("unicode casemap: ASCII fast path");
	/* every ASCII byte at every alignment, against the obvious fold */
	for (unsigned int off = 0; off < 8; off++) {
		size_t n = 0;
		for (unsigned int c = 1; c < 128; c++, n++) {
			in[off + n] = (unsigned char)c;
			expect[n] = c >= 'a' && c <= 'z' ? c - 32 : c;
		}
		buffer_t *out = t_str_new(256);
		unicode_casemap_append(in + off, n, out);
		test_assert_idx(out->used == n &&
				memcmp(out->data, expect, n) == 0, off);
	}
	test_end();
}

static void test_unicode_casemap_pieces(void)
{
	const char *text = "K\xc3\xb6ln \xef\xac\x81 \xed\x95\x9c "
		"\xf0\x90\x90\xa8 z\xc3\xa9" "bra \xe2\x91\xa0 end";
	size_t len = strlen(text);
	const char *whole = t_unicode_casemap(text);

	test_begin("unicode casemap: text cut into pieces");
	for (size_t piece = 1; piece <= 5; piece++) {
		buffer_t *out = t_str_new(128);
		buffer_t *pending = t_str_new(16);
		for (size_t pos = 0; pos < len; pos += piece) {
			size_t n = I_MIN(piece, len - pos);
			buffer_append(pending, text + pos, n);
			size_t used = unicode_casemap_more(pending->data,
				pending->used, pos + n == len, out);
			test_assert(pending->used - used <= 3);
			buffer_delete(pending, 0, used);
		}
		test_assert_idx(pending->used == 0, piece);
		test_assert_idx(out->used == strlen(whole) &&
				memcmp(out->data, whole, out->used) == 0, piece);
	}
	test_end();
}

test_func_t *const test_unicode_casemap_tests[] = {
	test_unicode_casemap_vectors,
	test_unicode_casemap_ascii_path,
	test_unicode_casemap_pieces,
	NULL
};
