/* Server mechanisms other than SCRAM (see test-sasl-scram.c): PLAIN,
   LOGIN, EXTERNAL, ANONYMOUS, the registry and the request layer's
   rules (cleartext policy, initial responses, limits). */
#include "test-lib-sasl.h"

static const struct sasl_server_request_settings secured_set = {
	.secured = true,
};

static void test_server_registry(void)
{
	static const char *const names[] = {
		"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS",
		"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "EXTERNAL", "ANONYMOUS",
	};
	unsigned int count;

	test_begin("server mechanism registry");
	const struct sasl_server_mech *const *mechs =
		sasl_server_mechs_get(&count);
	test_assert(count == N_ELEMENTS(names));
	for (unsigned int i = 0; i < N_ELEMENTS(names); i++) {
		const struct sasl_server_mech *mech = sasl_server_mech_find(names[i]);
		test_assert_idx(mech != NULL, i);
		test_assert_strcmp(sasl_server_mech_get_name(mech), names[i]);
		test_assert_idx(sasl_server_mech_find(t_str_lcase(names[i])) == mech, i);
		bool listed = false;
		for (unsigned int j = 0; j < count; j++)
			listed = listed || mechs[j] == mech;
		test_assert_idx(listed, i);
	}
	test_assert(sasl_server_mech_find("DIGEST-MD5") == NULL);
	test_assert(sasl_server_mech_find("") == NULL);
	test_assert(sasl_server_mech_find("SCRAM-SHA-256-PLUS ") == NULL);
	test_assert((sasl_server_mech_get_flags(sasl_server_mech_find("ANONYMOUS")) &
		     SASL_MECH_FLAG_ANONYMOUS) != 0);
	test_assert((sasl_server_mech_get_flags(sasl_server_mech_find("PLAIN")) &
		     SASL_MECH_FLAG_CLEARTEXT) != 0);
	test_assert((sasl_server_mech_get_flags(sasl_server_mech_find("SCRAM-SHA-1-PLUS")) &
		     SASL_MECH_FLAG_CHANNEL_BINDING) != 0);
	test_assert((sasl_server_mech_get_flags(sasl_server_mech_find("SCRAM-SHA-1")) &
		     SASL_MECH_FLAG_CHANNEL_BINDING) == 0);

	/* usability on a connection */
	struct sasl_server_request_settings set = { .secured = false };
	test_assert(!sasl_server_mech_is_usable(sasl_server_mech_find("PLAIN"), &set));
	test_assert(sasl_server_mech_is_usable(sasl_server_mech_find("CRAM-MD5"), &set));
	test_assert(!sasl_server_mech_is_usable(sasl_server_mech_find("SCRAM-SHA-256-PLUS"), &set));
	test_assert(!sasl_server_mech_is_usable(sasl_server_mech_find("EXTERNAL"), &set));
	set.allow_cleartext = true;
	test_assert(sasl_server_mech_is_usable(sasl_server_mech_find("LOGIN"), &set));
	set.secured = true;
	set.tls_peer_identity = "client.example.com";
	test_assert(sasl_server_mech_is_usable(sasl_server_mech_find("EXTERNAL"), &set));
	test_end();
}

static void test_server_plain(void)
{
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("PLAIN server");
	/* initial response without authzid */
	ret = test_sasl_server_start(&req, "PLAIN", &secured_set,
				     "\0tim\0tanstaaf", 13, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	test_assert(out == NULL);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "tim");
	test_assert(sasl_server_request_get_authzid(req) == NULL);
	test_assert_strcmp(sasl_server_request_get_password(req), "tanstaaf");
	ret = sasl_server_request_verify_result(req, true, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS && out == NULL);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "tim");
	sasl_server_request_destroy(&req);

	/* master user: authzid reported, not judged */
	ret = test_sasl_server_start(&req, "PLAIN", &secured_set,
				     "bob\0admin\0secret", 16, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "admin");
	test_assert_strcmp(sasl_server_request_get_authzid(req), "bob");
	ret = sasl_server_request_verify_result(req, false, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "password mismatch") != NULL);
	test_assert(strstr(error, "secret") == NULL);
	sasl_server_request_destroy(&req);

	/* no initial response: empty challenge, then the message */
	ret = test_sasl_server_start(&req, "PLAIN", &secured_set, NULL, 0,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	test_assert(out != NULL && out->used == 0);
	ret = sasl_server_request_input(req, "\0u\0p", 4, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	sasl_server_request_destroy(&req);

	/* a Latin-1 password is passed on as it is */
	ret = test_sasl_server_start(&req, "PLAIN", &secured_set,
				     "\0u\0p\xe4ss", 7, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	test_assert_strcmp(sasl_server_request_get_password(req), "p\xe4ss");
	/* destroyed while the owner is verifying: no leak, no crash */
	sasl_server_request_destroy(&req);
	test_end();
}

struct bad_input {
	const char *data;
	size_t size;
	const char *error;
};

static void test_server_bad_inputs(const char *mech,
				   const struct bad_input *cases,
				   unsigned int count, bool as_ir)
{
	for (unsigned int i = 0; i < count; i++) {
		struct sasl_server_request *req;
		const buffer_t *out;
		const char *error = NULL;
		enum sasl_server_result ret;

		if (as_ir) {
			ret = test_sasl_server_start(&req, mech, &secured_set,
						     cases[i].data, cases[i].size,
						     &out, &error);
		} else {
			ret = test_sasl_server_start(&req, mech, &secured_set,
						     NULL, 0, &out, &error);
			test_assert_idx(ret == SASL_SERVER_RESULT_CONTINUE, i);
			ret = sasl_server_request_input(req, cases[i].data,
							cases[i].size, &out,
							&error);
		}
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		if (error == NULL || strstr(error, cases[i].error) == NULL) {
			test_fail("%s case %u: error '%s', expected '%s'", mech,
				  i, error == NULL ? "(null)" : error,
				  cases[i].error);
		}
		sasl_server_request_destroy(&req);
	}
}

static void test_server_plain_failures(void)
{
	static const struct bad_input cases[] = {
		{ "", 0, "fewer than two NULs" },
		{ "user", 4, "fewer than two NULs" },
		{ "\0user", 5, "fewer than two NULs" },
		{ "\0\0pass", 6, "authcid empty" },
		{ "\0user\0", 6, "empty password" },
		{ "\0user\0pa\0ss", 11, "NUL in password" },
		{ "a\0b\0c\0", 6, "NUL in password" },
		{ "\0us\xff" "er\0pass", 11, "authcid not valid UTF-8" },
		{ "\xc0\xaf\0user\0pass", 12, "authzid not valid UTF-8" },
	};
	test_begin("PLAIN server: malformed messages");
	test_server_bad_inputs("PLAIN", cases, N_ELEMENTS(cases), true);
	test_server_bad_inputs("PLAIN", cases, N_ELEMENTS(cases), false);

	/* oversized: message and name */
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	string_t *big = t_str_new(SASL_MAX_MESSAGE_SIZE + 16);
	str_append_c(big, '\0');
	for (unsigned int i = 0; i <= SASL_MAX_NAME_SIZE; i++)
		str_append_c(big, 'u');
	str_append_data(big, "\0p", 2);
	enum sasl_server_result ret =
		test_sasl_server_start(&req, "PLAIN", &secured_set, big->data,
				       big->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "authcid too long") != NULL);
	sasl_server_request_destroy(&req);
	while (str_len(big) <= SASL_MAX_MESSAGE_SIZE)
		str_append_c(big, 'p');
	ret = test_sasl_server_start(&req, "PLAIN", &secured_set, big->data,
				     big->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "too long") != NULL);
	sasl_server_request_destroy(&req);
	test_end();
}

static void test_server_cleartext_policy(void)
{
	struct sasl_server_request_settings set = { .secured = false };
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("cleartext mechanisms on an unsecured channel");
	ret = test_sasl_server_start(&req, "PLAIN", &set, "\0u\0p", 4, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "unsecured") != NULL);
	sasl_server_request_destroy(&req);
	ret = test_sasl_server_start(&req, "LOGIN", &set, NULL, 0, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	sasl_server_request_destroy(&req);
	set.allow_cleartext = true;
	ret = test_sasl_server_start(&req, "PLAIN", &set, "\0u\0p", 4, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	sasl_server_request_destroy(&req);
	test_end();
}

static void test_server_login(void)
{
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("LOGIN server");
	ret = test_sasl_server_start(&req, "LOGIN", &secured_set, NULL, 0,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	test_assert_strcmp(test_sasl_output_str(out), "Username:");
	ret = sasl_server_request_input(req, "tim", 3, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	test_assert_strcmp(test_sasl_output_str(out), "Password:");
	ret = sasl_server_request_input(req, "tanstaaf", 8, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_NEED_VERIFY);
	test_assert_strcmp(sasl_server_request_get_authcid(req), "tim");
	test_assert_strcmp(sasl_server_request_get_password(req), "tanstaaf");
	ret = sasl_server_request_verify_result(req, true, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	sasl_server_request_destroy(&req);

	/* the user name as initial response */
	ret = test_sasl_server_start(&req, "LOGIN", &secured_set, "tim", 3,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	test_assert_strcmp(test_sasl_output_str(out), "Password:");
	sasl_server_request_destroy(&req);
	/* an empty initial response carries nothing */
	ret = test_sasl_server_start(&req, "LOGIN", &secured_set, "", 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	test_assert_strcmp(test_sasl_output_str(out), "Username:");
	sasl_server_request_destroy(&req);

	static const struct bad_input cases[] = {
		{ "", 0, "user name empty" },
		{ "t\0m", 3, "user name not valid UTF-8" },
		{ "\xed\xa0\x80", 3, "user name not valid UTF-8" },
	};
	test_server_bad_inputs("LOGIN", cases, N_ELEMENTS(cases), false);

	/* password problems */
	for (unsigned int i = 0; i < 2; i++) {
		ret = test_sasl_server_start(&req, "LOGIN", &secured_set, "tim",
					     3, &out, &error);
		ret = sasl_server_request_input(req, i == 0 ? "" : "a\0b",
						i == 0 ? 0 : 3, &out, &error);
		test_assert_idx(ret == SASL_SERVER_RESULT_FAILURE, i);
		test_assert_idx(strstr(error, i == 0 ? "empty password" :
				       "NUL in password") != NULL, i);
		sasl_server_request_destroy(&req);
	}
	test_end();
}

static void test_server_external(void)
{
	struct sasl_server_request_settings set = {
		.secured = true,
		.tls_peer_identity = "alice@example.com",
	};
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("EXTERNAL server");
	ret = test_sasl_server_start(&req, "EXTERNAL", &set, "", 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	test_assert_strcmp(sasl_server_request_get_authcid(req),
			   "alice@example.com");
	test_assert(sasl_server_request_get_authzid(req) == NULL);
	sasl_server_request_destroy(&req);

	ret = test_sasl_server_start(&req, "EXTERNAL", &set, NULL, 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE && out->used == 0);
	ret = sasl_server_request_input(req, "bob", 3, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	test_assert_strcmp(sasl_server_request_get_authcid(req),
			   "alice@example.com");
	test_assert_strcmp(sasl_server_request_get_authzid(req), "bob");
	sasl_server_request_destroy(&req);

	ret = test_sasl_server_start(&req, "EXTERNAL", &set, "b\0b", 3, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	sasl_server_request_destroy(&req);

	/* no verified certificate, or not secured */
	set.tls_peer_identity = NULL;
	ret = test_sasl_server_start(&req, "EXTERNAL", &set, "", 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "certificate") != NULL);
	sasl_server_request_destroy(&req);
	set.tls_peer_identity = "alice";
	set.secured = false;
	ret = test_sasl_server_start(&req, "EXTERNAL", &set, "", 0, &out,
				     &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	sasl_server_request_destroy(&req);
	test_end();
}

static void test_server_anonymous(void)
{
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("ANONYMOUS server");
	ret = test_sasl_server_start(&req, "ANONYMOUS", &secured_set,
				     "sirhc@example.org", 17, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	test_assert(sasl_server_request_get_authcid(req) == NULL);
	test_assert_strcmp(sasl_server_request_get_anonymous_trace(req),
			   "sirhc@example.org");
	sasl_server_request_destroy(&req);

	ret = test_sasl_server_start(&req, "ANONYMOUS", &secured_set, NULL, 0,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_CONTINUE);
	ret = sasl_server_request_input(req, "", 0, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	test_assert_strcmp(sasl_server_request_get_anonymous_trace(req), "");
	sasl_server_request_destroy(&req);

	/* 255 characters of 2 bytes each pass, 256 do not */
	string_t *trace = t_str_new(600);
	for (unsigned int i = 0; i < 255; i++)
		str_append(trace, "\xc3\xa9");
	ret = test_sasl_server_start(&req, "ANONYMOUS", &secured_set,
				     trace->data, trace->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	sasl_server_request_destroy(&req);
	str_append_c(trace, 'x');
	static const struct bad_input cases[] = {
		{ "a\tb", 3, "prohibited" },
		{ "a\0b", 3, "prohibited" },
		{ "\xee\x80\x80", 3, "prohibited" }, /* private use */
		{ "\xe2\x80\x8e", 3, "prohibited" }, /* LRM, C.8 */
		{ "\xff", 1, "invalid UTF-8" },
	};
	test_server_bad_inputs("ANONYMOUS", cases, N_ELEMENTS(cases), true);
	ret = test_sasl_server_start(&req, "ANONYMOUS", &secured_set,
				     trace->data, trace->used, &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "255") != NULL);
	sasl_server_request_destroy(&req);
	test_end();
}

static void test_server_initial_response_rules(void)
{
	struct sasl_server_request *req;
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;

	test_begin("initial responses for server-first mechanisms");
	/* CRAM-MD5 refuses any initial response, even an empty one */
	ret = test_sasl_server_start(&req, "CRAM-MD5", &secured_set, "x", 1,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	test_assert(strstr(error, "initial response") != NULL);
	sasl_server_request_destroy(&req);
	ret = test_sasl_server_start(&req, "CRAM-MD5", &secured_set, "", 0,
				     &out, &error);
	test_assert(ret == SASL_SERVER_RESULT_FAILURE);
	sasl_server_request_destroy(&req);
	test_end();
}

test_func_t *const test_sasl_server_tests[] = {
	test_server_registry,
	test_server_plain,
	test_server_plain_failures,
	test_server_cleartext_policy,
	test_server_login,
	test_server_external,
	test_server_anonymous,
	test_server_initial_response_rules,
	NULL
};
