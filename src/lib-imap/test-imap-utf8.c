/* Tests for NFC normalization of UTF-8 mailbox names. */
#include "test-lib-imap.h"
#include "imap-utf8.h"

static void test_nfc(const char *in, const char *nfc)
{
	const char *out = imap_utf8_nfc(in);

	test_assert_strcmp(out, nfc);
	/* already NFC: the same pointer comes back, nothing is copied */
	test_assert((strcmp(in, nfc) == 0) == (out == in));
	/* idempotent */
	test_assert(imap_utf8_nfc(out) == out);
}

static void test_imap_utf8_nfc(void)
{
	test_begin("imap utf8 nfc");
	test_nfc("INBOX", "INBOX");
	test_nfc("", "");
	test_nfc("a/b%*", "a/b%*");
	/* already composed */
	test_nfc("Entw\xc3\xbc" "rfe", "Entw\xc3\xbc" "rfe");
	test_nfc("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		 "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	/* u + COMBINING DIAERESIS -> U+00FC */
	test_nfc("Entwu\xcc\x88rfe", "Entw\xc3\xbc" "rfe");
	/* e + COMBINING ACUTE at the end, and twice */
	test_nfc("Cafe\xcc\x81", "Caf\xc3\xa9");
	test_nfc("e\xcc\x81/e\xcc\x81", "\xc3\xa9/\xc3\xa9");
	/* canonical reordering: dot below (ccc 220) before dot above
	   (ccc 230) composes to U+1E0B U+0323 -> U+1E0D U+0307 */
	test_nfc("d\xcc\x87\xcc\xa3", "\xe1\xb8\x8d\xcc\x87");
	/* a singleton: OHM SIGN U+2126 -> GREEK CAPITAL OMEGA U+03A9 */
	test_nfc("\xe2\x84\xa6", "\xce\xa9");
	/* Hangul jamo L V T -> one syllable U+D55C */
	test_nfc("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c");
	/* composition exclusion: U+0958 stays decomposed (U+0915 U+093C) */
	test_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc");
	/* outside the BMP, untouched */
	test_nfc("\xf0\x9f\x93\xa7 mail", "\xf0\x9f\x93\xa7 mail");
	/* a combining mark with nothing to compose with stays */
	test_nfc("\xcc\x81x", "\xcc\x81x");
	test_end();
}

test_func_t *const test_imap_utf8_tests[] = {
	test_imap_utf8_nfc,
	NULL
};
