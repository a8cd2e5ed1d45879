/* Our client against our server for every mechanism, with and without
   initial responses and success data, right and wrong passwords,
   authorization identities and both channel-binding types. */
#include "test-lib-sasl.h"

static const struct sasl_channel_binding cb_unique = {
	.type = SASL_CHANNEL_BINDING_TLS_UNIQUE,
	.data = (const unsigned char *)"\x8f\x01\x00\x7e finished-message",
	.size = 21,
};
static const struct sasl_channel_binding cb_exporter = {
	.type = SASL_CHANNEL_BINDING_TLS_EXPORTER,
	.data = (const unsigned char *)"0123456789abcdef0123456789ABCDEF",
	.size = 32,
};

static const char *const all_mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "EXTERNAL", "ANONYMOUS",
};

static void roundtrip_settings(struct sasl_client_settings *cset,
			       struct sasl_server_request_settings *sset,
			       struct sasl_channel_binding *server_cbs)
{
	memset(cset, 0, sizeof(*cset));
	memset(sset, 0, sizeof(*sset));
	cset->authcid = "alice";
	cset->password = "correct horse battery staple";
	cset->channel_binding = &cb_exporter;
	server_cbs[0] = cb_unique;
	server_cbs[1] = cb_exporter;
	sset->secured = true;
	sset->channel_bindings = server_cbs;
	sset->channel_bindings_count = 2;
	sset->tls_peer_identity = "alice";
}

static bool mech_is_scram(const char *mech)
{
	return str_begins(mech, "SCRAM-");
}

static void test_roundtrip_all_mechs(void)
{
	test_begin("round trip: every mechanism, with and without SASL-IR");
	for (unsigned int i = 0; i < N_ELEMENTS(all_mechs); i++) {
		for (unsigned int mode = 0; mode < 4; mode++) {
			const char *mech = all_mechs[i];
			struct sasl_client_settings cset;
			struct sasl_server_request_settings sset;
			struct sasl_channel_binding cbs[2];
			struct test_sasl_owner owner = {
				.user = "alice",
				.password = "correct horse battery staple",
				.cram_md5_plaintext = mode % 2 == 1,
			};
			struct test_sasl_exchange ex = {
				.sasl_ir = mode < 2,
				.success_data = mode % 2 == 0,
			};
			roundtrip_settings(&cset, &sset, cbs);
			/* the non-PLUS SCRAMs on a connection without -PLUS */
			if (mech_is_scram(mech) && !str_ends_with(mech, "-PLUS")) {
				cset.channel_binding = NULL;
				sset.channel_bindings_count = 0;
			}
			int ret = test_sasl_exchange_run(mech, &cset, &sset,
							 &owner, &ex);
			if (ret < 0) {
				test_fail("%s mode %u: server '%s', client '%s'",
					  mech, mode, ex.server_error,
					  ex.client_error);
				continue;
			}
			if (strcmp(mech, "ANONYMOUS") == 0)
				test_assert_idx(ex.authcid == NULL, i);
			else
				test_assert_strcmp(ex.authcid, "alice");
			test_assert_idx(ex.authzid == NULL, i);
			if (str_ends_with(mech, "-PLUS"))
				test_assert_strcmp(ex.cb_type, "tls-exporter");
			else
				test_assert_idx(ex.cb_type == NULL, i);
			/* round trips: how many challenges the server sent */
			unsigned int expect;
			if (strcmp(mech, "LOGIN") == 0)
				expect = 2;
			else if (strcmp(mech, "CRAM-MD5") == 0)
				expect = 1;
			else if (mech_is_scram(mech))
				expect = 1 + (ex.sasl_ir ? 0 : 1) +
					(ex.success_data ? 0 : 1);
			else
				expect = ex.sasl_ir ? 0 : 1;
			test_assert_idx(ex.round_trips == expect, i * 4 + mode);
		}
	}
	test_end();
}

static void test_roundtrip_wrong_password(void)
{
	static const char *const mechs[] = {
		"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS",
	};
	test_begin("round trip: wrong password and unknown user fail");
	for (unsigned int i = 0; i < N_ELEMENTS(mechs); i++) {
		for (unsigned int unknown = 0; unknown < 2; unknown++) {
			struct sasl_client_settings cset;
			struct sasl_server_request_settings sset;
			struct sasl_channel_binding cbs[2];
			struct test_sasl_owner owner = {
				.user = unknown == 1 ? "bob" : "alice",
				.password = "Correct horse battery staple",
			};
			struct test_sasl_exchange ex = { .sasl_ir = true };
			roundtrip_settings(&cset, &sset, cbs);
			if (!str_ends_with(mechs[i], "-PLUS")) {
				cset.channel_binding = NULL;
				sset.channel_bindings_count = 0;
			}
			test_assert_idx(test_sasl_exchange_run(mechs[i], &cset,
					&sset, &owner, &ex) < 0, i);
			test_assert_idx(ex.server_result == SASL_SERVER_RESULT_FAILURE, i);
			test_assert_idx(ex.server_error != NULL &&
					strstr(ex.server_error, "Correct") == NULL &&
					strstr(ex.server_error, "correct") == NULL, i);
			if (mech_is_scram(mechs[i])) {
				test_assert_idx(strstr(ex.server_error, unknown ?
					"unknown user" : "invalid proof") != NULL, i);
			}
		}
	}
	test_end();
}

static void test_roundtrip_authzid(void)
{
	static const char *const mechs[] = {
		"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
		"EXTERNAL",
	};
	test_begin("round trip: authzid reaches the owner");
	for (unsigned int i = 0; i < N_ELEMENTS(mechs); i++) {
		struct sasl_client_settings cset;
		struct sasl_server_request_settings sset;
		struct sasl_channel_binding cbs[2];
		struct test_sasl_owner owner = {
			.user = "alice",
			.password = "correct horse battery staple",
		};
		struct test_sasl_exchange ex = { .sasl_ir = true };
		roundtrip_settings(&cset, &sset, cbs);
		if (!str_ends_with(mechs[i], "-PLUS")) {
			cset.channel_binding = NULL;
			sset.channel_bindings_count = 0;
		}
		cset.authzid = "user,with=odd chars";
		test_assert_idx(test_sasl_exchange_run(mechs[i], &cset, &sset,
						       &owner, &ex) == 0, i);
		test_assert_strcmp(ex.authcid, "alice");
		test_assert_strcmp(ex.authzid, "user,with=odd chars");
	}
	test_end();
}

static void test_roundtrip_channel_binding(void)
{
	struct sasl_client_settings cset;
	struct sasl_server_request_settings sset;
	struct sasl_channel_binding cbs[2];
	struct test_sasl_owner owner = {
		.user = "alice", .password = "correct horse battery staple",
	};
	struct test_sasl_exchange ex = { .sasl_ir = true, .success_data = true };

	test_begin("round trip: channel binding");
	/* tls-unique */
	roundtrip_settings(&cset, &sset, cbs);
	cset.channel_binding = &cb_unique;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-1-PLUS", &cset, &sset,
					   &owner, &ex) == 0);
	test_assert_strcmp(ex.cb_type, "tls-unique");

	/* a man in the middle: the client's TLS channel is not the
	   server's, so the binding data differ */
	struct sasl_channel_binding mitm = cb_exporter;
	mitm.data = (const unsigned char *)"0123456789abcdef0123456789ABCDEf";
	cset.channel_binding = &mitm;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256-PLUS", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.server_error, "channel binding data mismatch") != NULL);

	/* the server offers only tls-unique (TLS 1.2) but the client binds
	   to tls-exporter */
	roundtrip_settings(&cset, &sset, cbs);
	sset.channel_bindings_count = 1;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256-PLUS", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.server_error, "unsupported channel binding type") != NULL);

	/* downgrade: the client can bind, an attacker hid -PLUS from it,
	   it uses SCRAM-SHA-256 with 'y'; the server does offer binding */
	roundtrip_settings(&cset, &sset, cbs);
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.server_error, "downgrade") != NULL);
	/* ... and without binding on the server 'y' is fine */
	sset.channel_bindings_count = 0;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) == 0);
	/* -PLUS on a connection without binding data */
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256-PLUS", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.server_error, "no channel binding") != NULL);
	test_end();
}

static void test_roundtrip_scram_iterations(void)
{
	struct sasl_client_settings cset;
	struct sasl_server_request_settings sset;
	struct sasl_channel_binding cbs[2];
	struct test_sasl_owner owner = {
		.user = "alice", .password = "correct horse battery staple",
		.iterations = 5000, .salt = "another salt",
	};
	struct test_sasl_exchange ex = { .sasl_ir = true, .success_data = true };

	test_begin("round trip: SCRAM iteration bounds");
	roundtrip_settings(&cset, &sset, cbs);
	cset.channel_binding = NULL;
	sset.channel_bindings_count = 0;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) == 0);
	/* the client wants more than the server stores */
	cset.scram_min_iterations = 6000;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.client_error, "below the minimum 6000") != NULL);
	/* the client refuses a count above its ceiling */
	cset.scram_min_iterations = 0;
	cset.scram_max_iterations = 4999;
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) < 0);
	test_assert(strstr(ex.client_error, "above the maximum 4999") != NULL);
	test_end();
}

static void test_roundtrip_non_ascii(void)
{
	struct sasl_client_settings cset;
	struct sasl_server_request_settings sset;
	struct sasl_channel_binding cbs[2];
	/* the owner stores keys of the prepared password; the client sends
	   the unprepared one and SASLprep makes them meet */
	struct test_sasl_owner owner = {
		.user = "j\xc3\xb6rg", .password = "pa\xc2\xa0ss\xc2\xad" "word",
	};
	struct test_sasl_exchange ex = { .sasl_ir = true, .success_data = true };

	test_begin("round trip: non-ASCII names and passwords");
	roundtrip_settings(&cset, &sset, cbs);
	cset.channel_binding = NULL;
	sset.channel_bindings_count = 0;
	cset.authcid = "j\xc3\xb6rg";
	cset.password = "pa ssword";
	test_assert(test_sasl_exchange_run("SCRAM-SHA-256", &cset, &sset,
					   &owner, &ex) == 0);
	test_assert_strcmp(ex.authcid, "j\xc3\xb6rg");
	/* PLAIN passes the password on unprepared: a different password */
	test_assert(test_sasl_exchange_run("PLAIN", &cset, &sset, &owner,
					   &ex) < 0);
	cset.password = owner.password;
	test_assert(test_sasl_exchange_run("PLAIN", &cset, &sset, &owner,
					   &ex) == 0);
	test_end();
}

test_func_t *const test_sasl_roundtrip_tests[] = {
	test_roundtrip_all_mechs,
	test_roundtrip_wrong_password,
	test_roundtrip_authzid,
	test_roundtrip_channel_binding,
	test_roundtrip_scram_iterations,
	test_roundtrip_non_ascii,
	NULL
};
