#include "test-lib.h"
#include "base64.h"

static const struct {
	const char *plain, *encoded;
} base64_vectors[] = {
	/* RFC 4648 section 10 */
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_base64_rfc4648(void)
{
	test_begin("base64 RFC 4648 vectors both ways");
	for (unsigned int i = 0; i < N_ELEMENTS(base64_vectors); i++) {
		const char *plain = base64_vectors[i].plain;
		const char *enc = base64_vectors[i].encoded;
		const char *error;
		test_assert_idx(strcmp(t_base64_encode(plain, strlen(plain)),
				       enc) == 0, i);
		test_assert_idx(base64_encoded_size(strlen(plain)) ==
				strlen(enc), i);
		string_t *dec = t_str_new(16);
		test_assert_idx(base64_decode(enc, strlen(enc), dec,
					      &error) == 0, i);
		test_assert_idx(strcmp(str_c(dec), plain) == 0, i);
		test_assert_idx(base64_decoded_size_max(strlen(enc)) >=
				strlen(plain), i);
	}
	test_end();
}

static void test_base64_binary(void)
{
	test_begin("base64 round trip of all byte values and lengths");
	unsigned char data[256];
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= sizeof(data); len++) {
		const char *enc = t_base64_encode(data, len);
		buffer_t *dec = t_str_new(len + 1);
		const char *error;
		test_assert_idx(base64_decode(enc, strlen(enc), dec,
					      &error) == 0, len);
		test_assert_idx(dec->used == len &&
				memcmp(dec->data, data, len) == 0, len);
	}
	test_end();
}

static void test_base64_strict(void)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Zm9vY", /* length */
		"Zg==Zm8=", /* padding in the middle */
		"Z===", "====", "Zm9v====", /* too much padding */
		"Zh==", "Zm9=", /* non-zero pad bits */
		"Zm9v\n", "Zm 9v", " Zm9", "Zm9\r", /* whitespace */
		"Zm-_", /* base64url alphabet */
		"Zm\0v", "Zm=v", "=m9v",
	};
	test_begin("base64 strict decoding rejects malformed input");
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		buffer_t *dec = t_str_new(8);
		buffer_append(dec, "keep", 4);
		const char *error = NULL;
		size_t len = i == N_ELEMENTS(bad) - 3 ? 4 : strlen(bad[i]);
		test_assert_idx(base64_decode(bad[i], len, dec, &error) < 0, i);
		test_assert_idx(error != NULL, i);
		/* dest is left as it was */
		test_assert_idx(dec->used == 4, i);
	}
	test_end();
}

test_func_t *const test_base64_tests[] = {
	test_base64_rfc4648, test_base64_binary, test_base64_strict, NULL
};
