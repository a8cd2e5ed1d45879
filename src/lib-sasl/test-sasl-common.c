/* SASLprep, the trace profile, UTF-8 validation, the default nonce and
   the small shared helpers. */
#include "test-lib-sasl.h"
#include "sasl-private.h"

static const char *saslprep(const char *input)
{
	string_t *dest = t_str_new(64);
	const char *error;

	if (sasl_saslprep(input, dest, &error) < 0)
		return t_strdup_printf("ERROR: %s", error);
	return str_c(dest);
}

static void test_saslprep_rfc4013(void)
{
	test_begin("SASLprep: RFC 4013 section 3 examples");
	/* 1-3 and 6 hold in every build */
	test_assert_strcmp(saslprep("I\xc2\xadX"), "IX");
	test_assert_strcmp(saslprep("user"), "user");
	test_assert_strcmp(saslprep("USER"), "USER");
	test_assert(str_begins(saslprep("\x07"), "ERROR: prohibited"));
	/* 4, 5 and 7 need normalization and the bidi check */
	if (sasl_saslprep_is_complete()) {
		test_assert_strcmp(saslprep("\xc2\xaa"), "a");
		test_assert_strcmp(saslprep("\xe2\x85\xa8"), "IX");
		test_assert(str_begins(saslprep("\xd8\xa7" "1"), "ERROR: bidi"));
	} else {
		test_assert_strcmp(saslprep("\xc2\xaa"), "\xc2\xaa");
	}
	test_end();
}

static void test_saslprep_mapping(void)
{
	test_begin("SASLprep: mapping and prohibition");
	/* non-ASCII spaces (C.1.2) become SPACE, including U+200B which is
	   also in B.1 */
	test_assert_strcmp(saslprep("a\xc2\xa0" "b"), "a b");
	test_assert_strcmp(saslprep("a\xe3\x80\x80" "b"), "a b");
	test_assert_strcmp(saslprep("a\xe2\x80\x8b" "b"), "a b");
	/* B.1 vanishes */
	test_assert_strcmp(saslprep("a\xe2\x80\x8c" "b"), "ab");
	test_assert_strcmp(saslprep("a\xef\xb8\x8f" "b"), "ab");
	test_assert_strcmp(saslprep("pass word"), "pass word");
	/* empty, or empty after mapping */
	test_assert(str_begins(saslprep(""), "ERROR: empty"));
	test_assert(str_begins(saslprep("\xef\xbb\xbf"), "ERROR: empty"));
	/* prohibited: controls, DEL, private use, non-characters, C.7,
	   C.8, tagging */
	static const char *const prohibited[] = {
		"a\tb", "a\x7f", "\xc2\x80", "\xee\x80\x80", "\xef\xb7\x90",
		"\xef\xbf\xbe", "\xf0\x9f\xbf\xbf", "\xe2\xbf\xb0",
		"\xe2\x80\x8e", "\xf3\xa0\x80\x81", "\xf3\xb0\x80\x80",
		"\xe2\x80\xa8",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(prohibited); i++)
		test_assert_idx(str_begins(saslprep(prohibited[i]), "ERROR: prohibited"), i);
	/* invalid UTF-8 */
	static const char *const invalid[] = {
		"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xc3", "a\x80",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(invalid); i++)
		test_assert_idx(str_begins(saslprep(invalid[i]), "ERROR: invalid UTF-8"), i);

	/* dest keeps what it had, on error too */
	string_t *dest = t_str_new(16);
	const char *error;
	str_append(dest, "x");
	test_assert(sasl_saslprep("\x07", dest, &error) < 0);
	test_assert_strcmp(str_c(dest), "x");
	test_assert(sasl_saslprep("y", dest, &error) == 0);
	test_assert_strcmp(str_c(dest), "xy");
	test_end();
}

static void test_saslprep_subset(void)
{
	const char *error;

	/* what a build without ICU uses, tested in every build */
	test_begin("SASLprep subset (no normalization, no bidi)");
	string_t *dest = t_str_new(16);
	test_assert(sasl_saslprep_subset("I\xc2\xadX\xc2\xa0y", dest, &error) == 0);
	test_assert_strcmp(str_c(dest), "IX y");
	str_truncate(dest, 0);
	/* left as it is where NFKC would change it */
	test_assert(sasl_saslprep_subset("\xc2\xaa", dest, &error) == 0);
	test_assert_strcmp(str_c(dest), "\xc2\xaa");
	str_truncate(dest, 0);
	test_assert(sasl_saslprep_subset("\xd8\xa7" "1", dest, &error) == 0);
	/* prohibited before normalization: U+0340, which NFKC would turn
	   into the allowed U+0300 */
	test_assert(sasl_saslprep_subset("a\xcd\x80" "b", dest, &error) < 0);
	test_assert(sasl_saslprep_subset("\x07", dest, &error) < 0);
	test_assert(sasl_saslprep_subset("\xc3", dest, &error) < 0);
	if (sasl_saslprep_is_complete()) {
		/* U+0340 -> U+0300, composed with the a */
		test_assert_strcmp(saslprep("a\xcd\x80" "b"), "\xc3\xa0" "b");
	}
	test_end();
}

static void test_trace_profile(void)
{
	const char *error;

	test_begin("ANONYMOUS trace profile");
	test_assert(sasl_trace_check("", 0, &error) == 0);
	test_assert(sasl_trace_check("sirhc", 5, &error) == 0);
	/* no mapping and no normalization: these pass as they are */
	test_assert(sasl_trace_check("\xc2\xa0\xc2\xaa", 4, &error) == 0);
	test_assert(sasl_trace_check("\x01", 1, &error) < 0);
	test_assert(sasl_trace_check("\xc3", 1, &error) < 0);
	test_end();
}

static void test_utf8(void)
{
	uint32_t chr;

	test_begin("strict UTF-8 decoding");
	test_assert(sasl_utf8_decode((const unsigned char *)"A", 1, &chr) == 1 && chr == 'A');
	test_assert(sasl_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &chr) == 2 && chr == 0xe9);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &chr) == 3 && chr == 0x20ac);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &chr) == 4 && chr == 0x10ffff);
	/* truncated, overlong, surrogate, beyond U+10FFFF, stray
	   continuation */
	test_assert(sasl_utf8_decode((const unsigned char *)"\xe2\x82", 2, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xe0\x9f\xbf", 3, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xf0\x8f\xbf\xbf", 4, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xed\xbf\xbf", 3, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xf4\x90\x80\x80", 4, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xbf", 1, &chr) == 0);
	test_assert(sasl_utf8_decode((const unsigned char *)"\xc2\x41", 2, &chr) == 0);
	test_assert(sasl_utf8_is_valid("", 0));
	test_assert(!sasl_utf8_is_valid("a\0b", 3));
	test_end();
}

static void test_nonce_and_names(void)
{
	test_begin("default nonce, credentials names, secrets");
	string_t *n1 = t_str_new(32), *n2 = t_str_new(32);
	sasl_nonce_random(n1, NULL);
	sasl_nonce_random(n2, NULL);
	test_assert(str_len(n1) == 24);
	test_assert(sasl_nonce_is_valid(str_c(n1)));
	test_assert(strcmp(str_c(n1), str_c(n2)) != 0);
	test_assert(!sasl_nonce_is_valid(""));
	test_assert(!sasl_nonce_is_valid("a,b"));
	test_assert(!sasl_nonce_is_valid("a b"));
	test_assert(!sasl_nonce_is_valid("\x7f"));

	test_assert_strcmp(sasl_credentials_type_name(SASL_CREDENTIALS_PLAINTEXT), "PLAIN");
	test_assert_strcmp(sasl_credentials_type_name(SASL_CREDENTIALS_CRAM_MD5), "CRAM-MD5");
	test_assert_strcmp(sasl_credentials_type_name(SASL_CREDENTIALS_SCRAM_SHA1), "SCRAM-SHA-1");
	test_assert_strcmp(sasl_credentials_type_name(SASL_CREDENTIALS_SCRAM_SHA256), "SCRAM-SHA-256");

	test_assert(sasl_mem_equals_timing_safe("abc", "abc", 3));
	test_assert(!sasl_mem_equals_timing_safe("abc", "abd", 3));
	char *secret = p_strdup(system_pool, "secret");
	sasl_secret_free(system_pool, &secret);
	test_assert(secret == NULL);
	sasl_secret_free(system_pool, &secret);
	test_end();
}

test_func_t *const test_sasl_common_tests[] = {
	test_saslprep_rfc4013,
	test_saslprep_mapping,
	test_saslprep_subset,
	test_trace_profile,
	test_utf8,
	test_nonce_and_names,
	NULL
};
