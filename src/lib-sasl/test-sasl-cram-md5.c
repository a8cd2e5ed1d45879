/* CRAM-MD5: RFC 2195's example exchange on both sides, the stored-context
   path against the plaintext path, and malformed responses. */
#include "test-lib-sasl.h"

#define RFC2195_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"
#define RFC2195_RESPONSE "tim b913a602c7eda7a495b4e6e7334d3890"
#define CRAM_MD5_TANSTAAF_CONTEXT \
	"d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"

static void test_cram_md5_rfc2195_server(void)
{
	struct sasl_server_request_settings set = {
		.realm = "postoffice.reston.mci.net",
		.nonce_func = test_sasl_fixed_nonce,
		.nonce_context = (void *)"1896.697170952",
	};
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("CRAM-MD5 server: RFC 2195 example");
	for (unsigned int i = 0; i < 2; i++) {
		ret = test_sasl_server_start(&req, "CRAM-MD5", &set, NULL, 0,
					     &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_CONTINUE, i);
		test_assert_strcmp(test_sasl_output_str(out), RFC2195_CHALLENGE);
		ret = sasl_server_request_input(req, RFC2195_RESPONSE,
						strlen(RFC2195_RESPONSE), &out,
						&error);
		test_assert_idx(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS, i);
		test_assert_idx(sasl_server_request_get_credentials_type(req) ==
				SASL_CREDENTIALS_CRAM_MD5, i);
		test_assert_strcmp(sasl_server_request_get_authcid(req), "tim");

		struct sasl_credentials creds = { .type = SASL_CREDENTIALS_NONE };
		unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE];
		if (i == 0) {
			sasl_cram_md5_context("tanstaaftanstaaf", ctx);
			creds.type = SASL_CREDENTIALS_CRAM_MD5;
			creds.cram_md5_context = ctx;
		} else {
			creds.type = SASL_CREDENTIALS_PLAINTEXT;
			creds.password = "tanstaaftanstaaf";
		}
		ret = sasl_server_request_credentials(req, &creds, &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_SUCCESS, i);
		test_assert_idx(out == NULL, i);
		sasl_server_request_destroy(&req);
	}

	/* the wrong password, an unknown user, unusable credentials */
	for (unsigned int i = 0; i < 3; i++) {
		ret = test_sasl_server_start(&req, "CRAM-MD5", &set, NULL, 0,
					     &out, &error);
		ret = sasl_server_request_input(req, RFC2195_RESPONSE,
						strlen(RFC2195_RESPONSE), &out,
						&error);
		struct sasl_credentials creds = {
			.type = i == 2 ? SASL_CREDENTIALS_SCRAM_SHA1 :
				SASL_CREDENTIALS_PLAINTEXT,
			.password = "tanstaaftanstaag",
		};
		ret = sasl_server_request_credentials(req, i == 1 ? NULL : &creds,
						      &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		test_assert_idx(strstr(error, i == 0 ? "digest mismatch" :
				       i == 1 ? "unknown user" :
				       "cannot use SCRAM-SHA-1") != NULL, i);
		sasl_server_request_destroy(&req);
	}
	test_end();
}

static void test_cram_md5_rfc2195_client(void)
{
	struct sasl_client_settings set = {
		.authcid = "tim",
		.password = "tanstaaftanstaaf",
	};
	const buffer_t *out;
	const char *error;

	test_begin("CRAM-MD5 client: RFC 2195 example");
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find("CRAM-MD5"), &set);
	/* server-first: no initial response even where allowed */
	test_assert(sasl_client_start(client, true, &out, &error) == 0);
	test_assert(sasl_client_input(client, RFC2195_CHALLENGE,
				      strlen(RFC2195_CHALLENGE), &out,
				      &error) == 0);
	test_assert_strcmp(test_sasl_output_str(out), RFC2195_RESPONSE);
	test_assert(sasl_client_input(client, "x", 1, &out, &error) < 0);
	sasl_client_destroy(&client);

	client = sasl_client_create(sasl_client_mech_find("CRAM-MD5"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) == 0);
	test_assert(sasl_client_success(client, NULL, 0, &error) < 0);
	sasl_client_destroy(&client);

	client = sasl_client_create(sasl_client_mech_find("CRAM-MD5"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) == 0);
	test_assert(sasl_client_input(client, "", 0, &out, &error) < 0);
	sasl_client_destroy(&client);

	set.authzid = "bob";
	client = sasl_client_create(sasl_client_mech_find("CRAM-MD5"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) < 0);
	sasl_client_destroy(&client);
	test_end();
}

static void test_cram_md5_context(void)
{
	test_begin("CRAM-MD5 stored context equals HMAC-MD5");
	static const char *const passwords[] = {
		"", "a", "tanstaaftanstaaf",
		/* 64 bytes: the block size exactly */
		"0123456789012345678901234567890123456789012345678901234567890123",
		/* 65 bytes: hashed first (RFC 2104) */
		"01234567890123456789012345678901234567890123456789012345678901234",
		"p\xc3\xa4ssw\xc3\xb6rd",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(passwords); i++) {
		unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE];
		unsigned char d1[SASL_CRAM_MD5_DIGEST_SIZE];
		unsigned char d2[SASL_CRAM_MD5_DIGEST_SIZE];

		sasl_cram_md5_context(passwords[i], ctx);
		sasl_cram_md5_digest_context(ctx, RFC2195_CHALLENGE,
					     strlen(RFC2195_CHALLENGE), d1);
		sasl_cram_md5_digest(passwords[i], RFC2195_CHALLENGE,
				     strlen(RFC2195_CHALLENGE), d2);
		test_assert_idx(memcmp(d1, d2, sizeof(d1)) == 0, i);
	}
	/* Dovecot's {CRAM-MD5} value for "tanstaaftanstaaf": the MD5
	   states (outer, then inner) as little-endian words, computed
	   independently with a Python MD5 compression function */
	unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE];
	sasl_cram_md5_context("tanstaaftanstaaf", ctx);
	string_t *hex = t_str_new(65);
	for (unsigned int i = 0; i < sizeof(ctx); i++)
		str_printfa(hex, "%02x", ctx[i]);
	test_assert_strcmp(str_c(hex), CRAM_MD5_TANSTAAF_CONTEXT);
	test_end();
}

static void test_cram_md5_server_malformed(void)
{
	static const char *const bad[] = {
		"timb913a602c7eda7a495b4e6e7334d3890",
		"tim b913a602c7eda7a495b4e6e7334d389",
		"tim b913a602c7eda7a495b4e6e7334d38900",
		"tim b913a602c7eda7a495b4e6e7334d389g",
		"tim ",
		" b913a602c7eda7a495b4e6e7334d3890",
		"",
	};
	test_begin("CRAM-MD5 server: malformed responses");
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		struct sasl_server_request *req;
		const buffer_t *out;
		const char *error;
		struct sasl_server_request_settings set = { .secured = false };
		enum sasl_server_result ret = test_sasl_server_start(
			&req, "CRAM-MD5", &set, NULL, 0, &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_CONTINUE, i);
		/* a random challenge: <nonce@localhost> */
		test_assert_idx(str_begins(test_sasl_output_str(out), "<") &&
				str_ends_with(test_sasl_output_str(out), "@localhost>"), i);
		ret = sasl_server_request_input(req, bad[i], strlen(bad[i]),
						&out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		sasl_server_request_destroy(&req);
	}

	/* a user name with spaces, uppercase hex */
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	struct sasl_server_request_settings set = { .secured = false };
	enum sasl_server_result ret = test_sasl_server_start(
		&req, "CRAM-MD5", &set, NULL, 0, &out, &error);
	const char *resp = "tim smith B913A602C7EDA7A495B4E6E7334D3890";
	ret = sasl_server_request_input(req, resp, strlen(resp), &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "tim smith");
	sasl_server_request_destroy(&req);
	test_end();
}

test_func_t *const test_sasl_cram_md5_tests[] = {
	test_cram_md5_rfc2195_server,
	test_cram_md5_rfc2195_client,
	test_cram_md5_context,
	test_cram_md5_server_malformed,
	NULL
};
