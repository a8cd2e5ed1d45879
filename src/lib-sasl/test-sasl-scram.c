/* SCRAM: the published exchanges byte for byte, then every way a client
   or a server can get it wrong. */
#include "test-lib-sasl.h"

struct scram_vector {
	const char *mech;
	const char *client_nonce, *server_nonce;
	const char *salt_b64;
	const char *client_first, *server_first, *client_final, *server_final;
};

static const struct scram_vector rfc5802_vector = {
	/* RFC 5802 section 5 */
	.mech = "SCRAM-SHA-1",
	.client_nonce = "fyko+d2lbbFgONRv9qkxdawL",
	.server_nonce = "3rfcNHYJY1ZVvWVs7j",
	.salt_b64 = "QSXCR+Q6sek8bf92",
	.client_first = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	.server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		"s=QSXCR+Q6sek8bf92,i=4096",
	.client_final = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
		"p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	.server_final = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct scram_vector rfc7677_vector = {
	/* RFC 7677 section 3 */
	.mech = "SCRAM-SHA-256",
	.client_nonce = "rOprNGfwEbeRWgbNEkqO",
	.server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	.salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==",
	.client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	.server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	.client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
		"hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	.server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

static const struct scram_vector *const scram_vectors[] = {
	&rfc5802_vector, &rfc7677_vector,
};

static enum sasl_credentials_type scram_type(const char *mech)
{
	return strstr(mech, "SHA-256") != NULL ?
		SASL_CREDENTIALS_SCRAM_SHA256 : SASL_CREDENTIALS_SCRAM_SHA1;
}

/* The owner's credentials for user/pencil with the vector's salt. */
static void scram_vector_credentials(const struct scram_vector *v,
				     buffer_t *salt,
				     unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE],
				     unsigned char server[SASL_SCRAM_MAX_KEY_SIZE],
				     struct sasl_credentials *creds_r)
{
	const char *error;

	if (base64_decode(v->salt_b64, strlen(v->salt_b64), salt, &error) < 0)
		i_unreached();
	memset(creds_r, 0, sizeof(*creds_r));
	creds_r->type = scram_type(v->mech);
	creds_r->salt = salt->data;
	creds_r->salt_size = salt->used;
	creds_r->iterations = 4096;
	if (sasl_scram_generate_keys(creds_r->type, "pencil", salt->data,
				     salt->used, 4096, stored, server,
				     &error) < 0)
		i_unreached();
	creds_r->stored_key = stored;
	creds_r->server_key = server;
	creds_r->key_size = sasl_scram_key_size(creds_r->type);
}

static void test_scram_server_vectors(void)
{
	test_begin("SCRAM server: RFC 5802 and RFC 7677 exchanges byte-exact");
	for (unsigned int i = 0; i < N_ELEMENTS(scram_vectors); i++) {
		const struct scram_vector *v = scram_vectors[i];
		struct sasl_server_request_settings set = {
			.nonce_func = test_sasl_fixed_nonce,
			.nonce_context = (void *)v->server_nonce,
		};
		struct sasl_server_request *req;
		struct sasl_credentials creds;
		unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE];
		unsigned char server[SASL_SCRAM_MAX_KEY_SIZE];
		const buffer_t *out;
		const char *error;

		enum sasl_server_result ret = test_sasl_server_start(
			&req, v->mech, &set, v->client_first,
			strlen(v->client_first), &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS, i);
		test_assert_idx(sasl_server_request_get_credentials_type(req) ==
				scram_type(v->mech), i);
		test_assert_strcmp(sasl_server_request_get_authcid(req), "user");
		scram_vector_credentials(v, t_str_new(32), stored, server,
					 &creds);
		ret = sasl_server_request_credentials(req, &creds, &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_CONTINUE, i);
		test_assert_strcmp(test_sasl_output_str(out), v->server_first);
		ret = sasl_server_request_input(req, v->client_final,
						strlen(v->client_final), &out,
						&error);
		test_assert_idx(ret == SASL_SERVER_RESULT_SUCCESS, i);
		test_assert_strcmp(test_sasl_output_str(out), v->server_final);
		test_assert_strcmp(sasl_server_request_get_authcid(req), "user");
		test_assert_idx(sasl_server_request_get_authzid(req) == NULL, i);
		test_assert_idx(sasl_server_request_get_channel_binding(req) == NULL, i);
		sasl_server_request_destroy(&req);
		test_assert_idx(req == NULL, i);
	}
	test_end();
}

static void test_scram_client_vectors(void)
{
	test_begin("SCRAM client: RFC 5802 and RFC 7677 exchanges byte-exact");
	for (unsigned int i = 0; i < N_ELEMENTS(scram_vectors); i++) {
		const struct scram_vector *v = scram_vectors[i];
		struct sasl_client_settings set = {
			.authcid = "user",
			.password = "pencil",
			.nonce_func = test_sasl_fixed_nonce,
			.nonce_context = (void *)v->client_nonce,
		};
		struct sasl_client *client =
			sasl_client_create(sasl_client_mech_find(v->mech), &set);
		const buffer_t *out;
		const char *error;

		test_assert_idx(sasl_client_start(client, true, &out, &error) == 1, i);
		test_assert_strcmp(test_sasl_output_str(out), v->client_first);
		test_assert_idx(sasl_client_input(client, v->server_first,
						  strlen(v->server_first), &out,
						  &error) == 0, i);
		test_assert_strcmp(test_sasl_output_str(out), v->client_final);
		test_assert_idx(sasl_client_success(client, v->server_final,
						    strlen(v->server_final),
						    &error) == 0, i);
		sasl_client_destroy(&client);
		test_assert_idx(client == NULL, i);

		/* the same, with v= as a challenge (no success data) */
		client = sasl_client_create(sasl_client_mech_find(v->mech), &set);
		test_assert_idx(sasl_client_start(client, false, &out, &error) == 0, i);
		test_assert_idx(sasl_client_input(client, "", 0, &out, &error) == 0, i);
		test_assert_strcmp(test_sasl_output_str(out), v->client_first);
		test_assert_idx(sasl_client_input(client, v->server_first,
						  strlen(v->server_first), &out,
						  &error) == 0, i);
		test_assert_idx(sasl_client_input(client, v->server_final,
						  strlen(v->server_final), &out,
						  &error) == 0, i);
		test_assert_idx(out->used == 0, i);
		test_assert_idx(sasl_client_success(client, NULL, 0, &error) == 0, i);
		sasl_client_destroy(&client);
	}
	test_end();
}

static void test_scram_generate_keys(void)
{
	unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char server[SASL_SCRAM_MAX_KEY_SIZE];
	const char *error;

	test_begin("SCRAM key derivation");
	test_assert(sasl_scram_key_size(SASL_CREDENTIALS_SCRAM_SHA1) == 20);
	test_assert(sasl_scram_key_size(SASL_CREDENTIALS_SCRAM_SHA256) == 32);
	test_assert(sasl_scram_key_size(SASL_CREDENTIALS_PLAINTEXT) == 0);
	/* RFC 7677: StoredKey and ServerKey of user/pencil, computed from
	   the vector with an independent implementation (Python hashlib) */
	test_assert(sasl_scram_generate_keys(SASL_CREDENTIALS_SCRAM_SHA256,
		"pencil", (const unsigned char *)"\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12\x36\xfa\x81",
		16, 4096, stored, server, &error) == 0);
	test_assert_strcmp(t_base64_encode(stored, 32),
			   "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
	test_assert_strcmp(t_base64_encode(server, 32),
			   "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	test_assert(sasl_scram_generate_keys(SASL_CREDENTIALS_CRAM_MD5,
		"pencil", (const unsigned char *)"salt", 4, 4096, stored,
		server, &error) < 0);
	test_assert(sasl_scram_generate_keys(SASL_CREDENTIALS_SCRAM_SHA1,
		"pencil", (const unsigned char *)"salt", 4, 0, stored,
		server, &error) < 0);
	test_assert(sasl_scram_generate_keys(SASL_CREDENTIALS_SCRAM_SHA1,
		"pencil", (const unsigned char *)"", 0, 4096, stored,
		server, &error) < 0);
	/* a password that fails SASLprep (a control character) */
	test_assert(sasl_scram_generate_keys(SASL_CREDENTIALS_SCRAM_SHA1,
		"pen\007cil", (const unsigned char *)"salt", 4, 4096, stored,
		server, &error) < 0);
	test_assert(strstr(error, "password") != NULL);
	test_end();
}

/* --- server failure paths --- */

struct scram_server_case {
	const char *name;
	const char *mech;
	/* channel bindings offered */
	bool cb_offered;
	const char *client_first;
	/* NULL: the first message must already fail */
	const char *client_final;
	/* substring of the expected failure reason */
	const char *error;
};

#define CB_DATA "\x01\x02\x03\x04tls-unique-data"
/* "p=tls-unique,," + CB_DATA, base64 */
#define CB_C_GOOD "cD10bHMtdW5pcXVlLCwBAgMEdGxzLXVuaXF1ZS1kYXRh"

static const struct scram_server_case scram_server_cases[] = {
	{ "bad flag", "SCRAM-SHA-256", false, "x,,n=user,r=abc", NULL,
	  "channel binding flag" },
	{ "flag p without =", "SCRAM-SHA-256", false, "p,,n=user,r=abc", NULL,
	  "channel binding flag" },
	{ "empty cb-name", "SCRAM-SHA-256-PLUS", true, "p=,,n=user,r=abc", NULL,
	  "channel binding name" },
	{ "bad cb-name", "SCRAM-SHA-256-PLUS", true, "p=tls_unique,,n=user,r=abc",
	  NULL, "channel binding name" },
	{ "missing second comma", "SCRAM-SHA-256", false, "n,n=user,r=abc",
	  NULL, "GS2 header" },
	{ "no comma at all", "SCRAM-SHA-256", false, "n", NULL, "GS2 header" },
	{ "GS2 nonstandard flag", "SCRAM-SHA-256", false, "F,n,,n=user,r=abc",
	  NULL, "channel binding flag" },
	{ "bad authzid escape", "SCRAM-SHA-256", false,
	  "n,a=bob=2X,n=user,r=abc", NULL, "authzid" },
	{ "empty authzid", "SCRAM-SHA-256", false, "n,a=,n=user,r=abc", NULL,
	  "authzid" },
	{ "mandatory extension", "SCRAM-SHA-256", false,
	  "n,,m=ext,n=user,r=abc", NULL, "mandatory extension" },
	{ "missing username", "SCRAM-SHA-256", false, "n,,r=abc", NULL,
	  "invalid client-first" },
	{ "empty username", "SCRAM-SHA-256", false, "n,,n=,r=abc", NULL,
	  "empty name" },
	{ "bad username escape", "SCRAM-SHA-256", false, "n,,n=us=er,r=abc",
	  NULL, "2C or 3D" },
	{ "username fails SASLprep", "SCRAM-SHA-256", false,
	  "n,,n=us\x7f" "er,r=abc", NULL, "SASLprep" },
	{ "username invalid UTF-8", "SCRAM-SHA-256", false,
	  "n,,n=us\xc3\x28,r=abc", NULL, "UTF-8" },
	{ "missing nonce", "SCRAM-SHA-256", false, "n,,n=user", NULL,
	  "invalid client-first" },
	{ "empty nonce", "SCRAM-SHA-256", false, "n,,n=user,r=", NULL,
	  "nonce" },
	{ "nonce with space", "SCRAM-SHA-256", false, "n,,n=user,r=a b", NULL,
	  "nonce" },
	{ "bad extension", "SCRAM-SHA-256", false, "n,,n=user,r=abc,1=x", NULL,
	  "extension" },
	{ "PLUS without binding", "SCRAM-SHA-256-PLUS", true,
	  "n,,n=user,r=abc", NULL, "requires channel binding" },
	{ "PLUS with y", "SCRAM-SHA-256-PLUS", true, "y,,n=user,r=abc", NULL,
	  "requires channel binding" },
	{ "binding with non-PLUS", "SCRAM-SHA-256", true,
	  "p=tls-unique,,n=user,r=abc", NULL, "not a -PLUS" },
	{ "downgrade", "SCRAM-SHA-256", true, "y,,n=user,r=abc", NULL,
	  "downgrade" },
	{ "unsupported binding type", "SCRAM-SHA-256-PLUS", true,
	  "p=tls-server-end-point,,n=user,r=abc", NULL,
	  "unsupported channel binding type" },

	/* client-final (the server nonce is "SNONCE") */
	{ "wrong nonce", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcXNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "nonce mismatch" },
	{ "client nonce only", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "nonce mismatch" },
	{ "wrong proof", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "invalid proof" },
	{ "short proof", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+", "proof has 12 bytes" },
	{ "proof not base64", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=dHzbZapWIk4j!hN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "proof encoding" },
	{ "c= not base64", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biw,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "channel binding encoding" },
	{ "c= with another header", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=eSws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "GS2 header" },
	{ "c= drops the authzid", "SCRAM-SHA-256", false,
	  "n,a=admin,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "GS2 header" },
	{ "tampered channel binding", "SCRAM-SHA-256-PLUS", true,
	  "p=tls-unique,,n=user,r=abc",
	  "c=cD10bHMtdW5pcXVlLCwBAgMEdGxzLXVuaXF1ZS1kYXRi,r=abcSNONCE,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "channel binding data mismatch" },
	{ "binding data missing", "SCRAM-SHA-256-PLUS", true,
	  "p=tls-unique,,n=user,r=abc",
	  "c=cD10bHMtdW5pcXVlLCw=,r=abcSNONCE,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "channel binding data mismatch" },
	{ "binding correct, proof wrong", "SCRAM-SHA-256-PLUS", true,
	  "p=tls-unique,,n=user,r=abc",
	  "c=" CB_C_GOOD ",r=abcSNONCE,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "invalid proof" },
	{ "attributes out of order", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "r=abcSNONCE,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "invalid client-final" },
	{ "missing proof", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE", "invalid client-final" },
	{ "proof not last", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
	  "invalid client-final" },
	{ "duplicate proof", "SCRAM-SHA-256", false, "n,,n=user,r=abc",
	  "c=biws,r=abcSNONCE,p=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "extension attribute" },
	{ "empty client-final", "SCRAM-SHA-256", false, "n,,n=user,r=abc", "",
	  "empty message" },
};

static void test_scram_server_failures(void)
{
	static const struct sasl_channel_binding cb = {
		.type = "tls-unique",
		.data = (const unsigned char *)CB_DATA,
		.size = sizeof(CB_DATA) - 1,
	};
	test_begin("SCRAM server: malformed and hostile input fails cleanly");
	for (unsigned int i = 0; i < N_ELEMENTS(scram_server_cases); i++) {
		const struct scram_server_case *c = &scram_server_cases[i];
		struct sasl_server_request_settings set = {
			.secured = true,
			.channel_bindings = c->cb_offered ? &cb : NULL,
			.channel_bindings_count = c->cb_offered ? 1 : 0,
			.nonce_func = test_sasl_fixed_nonce,
			.nonce_context = (void *)"SNONCE",
		};
		struct test_sasl_owner owner = {
			.user = "user", .password = "pencil",
		};
		struct sasl_server_request *req;
		const buffer_t *out;
		const char *error = NULL;

		enum sasl_server_result ret = test_sasl_server_start(
			&req, c->mech, &set, c->client_first,
			strlen(c->client_first), &out, &error);
		if (c->client_final != NULL) {
			test_assert_idx(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS, i);
			ret = test_sasl_owner_answer(&owner, req, ret, &out, &error);
			test_assert_idx(ret == SASL_SERVER_RESULT_CONTINUE, i);
			ret = sasl_server_request_input(req, c->client_final,
							strlen(c->client_final),
							&out, &error);
		}
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		test_assert_idx(out == NULL, i);
		if (error == NULL || strstr(error, c->error) == NULL) {
			test_fail("case '%s': error '%s', expected '%s'",
				  c->name, error == NULL ? "(null)" : error,
				  c->error);
		}
		sasl_server_request_destroy(&req);
	}
	test_end();
}

static void test_scram_server_extensions_and_authzid(void)
{
	test_begin("SCRAM server: authzid, escapes, ignored extensions");
	struct sasl_server_request_settings set = {
		.nonce_func = test_sasl_fixed_nonce,
		.nonce_context = (void *)"SNONCE",
	};
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	const char *first = "n,a=master=2Cuser=3D,n=us=2Cer,r=abc,x=ignored";
	enum sasl_server_result ret = test_sasl_server_start(
		&req, "SCRAM-SHA-1", &set, first, strlen(first), &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "us,er");
	test_assert_strcmp(sasl_server_request_get_authzid(req), "master,user=");
	sasl_server_request_destroy(&req);

	/* 'y' is fine when the server offers no channel binding */
	first = "y,,n=user,r=abc";
	ret = test_sasl_server_start(&req, "SCRAM-SHA-1", &set, first,
				     strlen(first), &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS);
	sasl_server_request_destroy(&req);

	/* without an initial response: an empty challenge first */
	ret = test_sasl_server_start(&req, "SCRAM-SHA-1", &set, NULL, 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE && out->used == 0);
	ret = sasl_server_request_input(req, "n,,n=user,r=abc", 15, &out,
					&error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS);
	sasl_server_request_destroy(&req);

	/* NUL in the middle of the message */
	ret = test_sasl_server_start(&req, "SCRAM-SHA-1", &set,
				     "n,,n=us\0er,r=abc", 16, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "NUL") != NULL);
	sasl_server_request_destroy(&req);
	test_end();
}

static void test_scram_server_credentials_checks(void)
{
	test_begin("SCRAM server: stored credentials are checked");
	struct sasl_server_request_settings set = { .secured = true };
	struct sasl_server_request *req;
	struct sasl_credentials creds;
	unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char server[SASL_SCRAM_MAX_KEY_SIZE];
	const buffer_t *out;
	const char *error;
	const char *first = "n,,n=user,r=abc";

	for (unsigned int i = 0; i < 5; i++) {
		enum sasl_server_result ret = test_sasl_server_start(
			&req, "SCRAM-SHA-256", &set, first, strlen(first),
			&out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS, i);
		scram_vector_credentials(&rfc7677_vector, t_str_new(32),
					 stored, server, &creds);
		const char *expect = NULL;
		switch (i) {
		case 0:
			creds.iterations = 4095;
			expect = "below the minimum 4096";
			break;
		case 1:
			creds.type = SASL_CREDENTIALS_SCRAM_SHA1;
			expect = "cannot use SCRAM-SHA-1";
			break;
		case 2:
			creds.key_size = 20;
			expect = "stored keys are 20 bytes";
			break;
		case 3:
			creds.salt_size = 0;
			expect = "salt";
			break;
		case 4:
			creds.type = SASL_CREDENTIALS_PLAINTEXT;
			creds.password = "pencil";
			expect = "cannot use PLAIN";
			break;
		}
		ret = sasl_server_request_credentials(req, &creds, &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		test_assert_idx(strstr(error, expect) != NULL, i);
		sasl_server_request_destroy(&req);
	}

	/* a higher minimum from the settings */
	set.scram_min_iterations = 10000;
	enum sasl_server_result ret = test_sasl_server_start(
		&req, "SCRAM-SHA-256", &set, first, strlen(first), &out, &error);
	scram_vector_credentials(&rfc7677_vector, t_str_new(32), stored,
				 server, &creds);
	ret = sasl_server_request_credentials(req, &creds, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "below the minimum 10000") != NULL);
	sasl_server_request_destroy(&req);
	test_end();
}

static const char *scram_unknown_user_salt(const char *user)
{
	struct sasl_server_request_settings set = { .secured = true };
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	const char *first = t_strdup_printf("n,,n=%s,r=abc", user);
	const char *salt;

	enum sasl_server_result ret = test_sasl_server_start(
		&req, "SCRAM-SHA-256", &set, first, strlen(first), &out, &error);
	i_assert(ret == SASL_SERVER_RESULT_NEED_CREDENTIALS);
	ret = sasl_server_request_credentials(req, NULL, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	const char *const *fields = t_strsplit(test_sasl_output_str(out), ",");
	test_assert(str_array_length(fields) == 3);
	test_assert(str_begins(fields[0], "r=abc") && strlen(fields[0]) > 5);
	salt = t_strdup(fields[1]);
	test_assert_strcmp(fields[2], "i=4096");
	const char *final = t_strdup_printf(
		"c=biws,%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		fields[0]);
	ret = sasl_server_request_input(req, final, strlen(final), &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "unknown user") != NULL);
	sasl_server_request_destroy(&req);
	return salt;
}

static void test_scram_server_unknown_user(void)
{
	test_begin("SCRAM server: unknown user looks like a known one");
	const char *salt1 = scram_unknown_user_salt("nobody");
	const char *salt2 = scram_unknown_user_salt("nobody");
	const char *salt3 = scram_unknown_user_salt("someone");
	/* the same invented salt each time for one name, another for
	   another name */
	test_assert_strcmp(salt1, salt2);
	test_assert(strcmp(salt1, salt3) != 0);
	test_end();
}

static void test_scram_server_oversized(void)
{
	test_begin("SCRAM server: oversized input and names");
	struct sasl_server_request_settings set = { .secured = true };
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;

	string_t *big = t_str_new(SASL_MAX_MESSAGE_SIZE + 64);
	str_append(big, "n,,n=user,r=");
	while (str_len(big) <= SASL_MAX_MESSAGE_SIZE)
		str_append_c(big, 'a');
	enum sasl_server_result ret = test_sasl_server_start(
		&req, "SCRAM-SHA-256", &set, big->data, big->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "too long") != NULL);
	sasl_server_request_destroy(&req);

	ret = test_sasl_server_start(&req, "SCRAM-SHA-256", &set, NULL, 0,
				     &out, &error);
	ret = sasl_server_request_input(req, big->data, big->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	sasl_server_request_destroy(&req);

	string_t *longname = t_str_new(SASL_MAX_NAME_SIZE + 64);
	str_append(longname, "n,,n=");
	for (unsigned int i = 0; i <= SASL_MAX_NAME_SIZE; i++)
		str_append_c(longname, 'u');
	str_append(longname, ",r=abc");
	ret = test_sasl_server_start(&req, "SCRAM-SHA-256", &set,
				     longname->data, longname->used, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "name too long") != NULL);
	sasl_server_request_destroy(&req);
	test_end();
}

/* --- client failure paths --- */

struct scram_client_case {
	const char *name;
	const char *server_first;
	/* NULL: server_first must fail; otherwise this server-final must */
	const char *server_final;
	const char *error;
};

static const struct scram_client_case scram_client_cases[] = {
	{ "nonce not extended", "r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
	  NULL, "does not extend" },
	{ "nonce replaced", "r=XXXX+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
	  NULL, "does not extend" },
	{ "iterations too low", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4095",
	  NULL, "below the minimum" },
	{ "iterations too high", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=10000001",
	  NULL, "above the maximum" },
	{ "iterations leading zero", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=04096",
	  NULL, "invalid iteration count" },
	{ "iterations overflow", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=99999999999999",
	  NULL, "invalid iteration count" },
	{ "salt not base64", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf9,i=4096",
	  NULL, "invalid salt" },
	{ "empty salt", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",
	  NULL, "invalid salt size" },
	{ "mandatory extension", "m=x,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
	  NULL, "unsupported extension" },
	{ "missing salt", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",
	  NULL, "invalid server-first" },
	{ "NUL", "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096\0",
	  NULL, "NUL" },
	{ "server error", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "e=invalid-proof", "server error: invalid-proof" },
	{ "wrong signature", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKA=", "server signature" },
	{ "short signature", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "v=rmF9pqV8", "wrong server signature" },
	{ "garbage final", "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "x=1", "invalid server-final" },
};

static void test_scram_client_failures(void)
{
	test_begin("SCRAM client: hostile servers are refused");
	struct sasl_client_settings set = {
		.authcid = "user",
		.password = "pencil",
		.nonce_func = test_sasl_fixed_nonce,
		.nonce_context = (void *)"fyko+d2lbbFgONRv9qkxdawL",
	};
	for (unsigned int i = 0; i < N_ELEMENTS(scram_client_cases); i++) {
		const struct scram_client_case *c = &scram_client_cases[i];
		struct sasl_client *client = sasl_client_create(
			sasl_client_mech_find("SCRAM-SHA-1"), &set);
		const buffer_t *out;
		const char *error = NULL;
		size_t size = strlen(c->server_first) +
			(strcmp(c->name, "NUL") == 0 ? 1 : 0);
		int ret;

		test_assert_idx(sasl_client_start(client, true, &out, &error) == 1, i);
		ret = sasl_client_input(client, c->server_first, size, &out,
					&error);
		if (c->server_final != NULL) {
			test_assert_idx(ret == 0, i);
			/* both as a challenge and as success data */
			if (i % 2 == 0) {
				ret = sasl_client_input(client, c->server_final,
							strlen(c->server_final),
							&out, &error);
			} else {
				ret = sasl_client_success(client, c->server_final,
							  strlen(c->server_final),
							  &error);
			}
		}
		test_assert_idx(ret < 0, i);
		if (ret == 0 || strstr(error, c->error) == NULL) {
			test_fail("case '%s': error '%s', expected '%s'",
				  c->name, ret == 0 ? "(none)" : error, c->error);
		}
		/* once failed, it stays failed */
		test_assert_idx(sasl_client_success(client, NULL, 0, &error) < 0, i);
		sasl_client_destroy(&client);
	}
	test_end();
}

static void test_scram_client_success_checks(void)
{
	test_begin("SCRAM client: success needs the server's signature");
	struct sasl_client_settings set = {
		.authcid = "user",
		.password = "pencil",
		.nonce_func = test_sasl_fixed_nonce,
		.nonce_context = (void *)"fyko+d2lbbFgONRv9qkxdawL",
	};
	const struct scram_vector *v = &rfc5802_vector;
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	const buffer_t *out;
	const char *error;

	/* success before anything happened */
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(sasl_client_success(client, NULL, 0, &error) < 0);
	test_assert(strstr(error, "without proving") != NULL);
	sasl_client_destroy(&client);

	/* success without v= after the proof */
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(sasl_client_input(client, v->server_first,
				      strlen(v->server_first), &out, &error) == 0);
	test_assert(sasl_client_success(client, NULL, 0, &error) < 0);
	sasl_client_destroy(&client);

	/* v= twice: as a challenge, then again with success */
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(sasl_client_input(client, v->server_first,
				      strlen(v->server_first), &out, &error) == 0);
	test_assert(sasl_client_input(client, v->server_final,
				      strlen(v->server_final), &out, &error) == 0);
	test_assert(sasl_client_success(client, v->server_final,
					strlen(v->server_final), &error) < 0);
	sasl_client_destroy(&client);

	/* a challenge after the signature */
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(sasl_client_input(client, v->server_first,
				      strlen(v->server_first), &out, &error) == 0);
	test_assert(sasl_client_input(client, v->server_final,
				      strlen(v->server_final), &out, &error) == 0);
	test_assert(sasl_client_input(client, "x", 1, &out, &error) < 0);
	sasl_client_destroy(&client);

	/* a non-empty first challenge when the initial response is due */
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) == 0);
	test_assert(sasl_client_input(client, "x", 1, &out, &error) < 0);
	sasl_client_destroy(&client);
	test_end();
}

static void test_scram_client_settings(void)
{
	test_begin("SCRAM client: settings checks and GS2 header");
	static const struct sasl_channel_binding cb = {
		.type = "tls-exporter",
		.data = (const unsigned char *)"0123456789abcdef0123456789abcdef",
		.size = 32,
	};
	struct sasl_client_settings set = {
		.authcid = "us,er=",
		.authzid = "ad,min",
		.password = "pencil",
		.nonce_func = test_sasl_fixed_nonce,
		.nonce_context = (void *)"NONCE",
	};
	struct sasl_client *client;
	const buffer_t *out;
	const char *error;

	/* escapes in both names, 'n' without channel binding */
	client = sasl_client_create(sasl_client_mech_find("scram-sha-256"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out),
			   "n,a=ad=2Cmin,n=us=2Cer=3D,r=NONCE");
	sasl_client_destroy(&client);

	/* 'y' with channel binding on a non-PLUS mechanism */
	set.channel_binding = &cb;
	set.authzid = NULL;
	set.authcid = "user";
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-256"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out), "y,,n=user,r=NONCE");
	sasl_client_destroy(&client);

	/* 'p=' with -PLUS */
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-256-PLUS"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out),
			   "p=tls-exporter,,n=user,r=NONCE");
	sasl_client_destroy(&client);

	/* -PLUS without channel binding */
	set.channel_binding = NULL;
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-256-PLUS"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	test_assert(strstr(error, "channel binding") != NULL);
	sasl_client_destroy(&client);

	/* no password; a password or user name failing SASLprep */
	set.password = NULL;
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	sasl_client_destroy(&client);
	set.password = "pen\x01";
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	test_assert(strstr(error, "SASLprep") != NULL);
	sasl_client_destroy(&client);
	set.password = "pencil";
	set.authcid = "\xc2\xad";
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	test_assert(strstr(error, "SASLprep") != NULL);
	sasl_client_destroy(&client);

	/* the user name is SASLprep'd: a no-break space becomes a space */
	set.authcid = "a\xc2\xa0" "b";
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out), "n,,n=a b,r=NONCE");
	sasl_client_destroy(&client);

	/* min above max */
	set.authcid = "user";
	set.scram_min_iterations = 5000;
	set.scram_max_iterations = 4096;
	client = sasl_client_create(sasl_client_mech_find("SCRAM-SHA-1"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	sasl_client_destroy(&client);
	test_end();
}

test_func_t *const test_sasl_scram_tests[] = {
	test_scram_server_vectors,
	test_scram_client_vectors,
	test_scram_generate_keys,
	test_scram_server_failures,
	test_scram_server_extensions_and_authzid,
	test_scram_server_credentials_checks,
	test_scram_server_unknown_user,
	test_scram_server_oversized,
	test_scram_client_failures,
	test_scram_client_success_checks,
	test_scram_client_settings,
	NULL
};
