#ifndef COLUMBA_TEST_LIB_SASL_H
#define COLUMBA_TEST_LIB_SASL_H
#include "test-common.h"
#include "base64.h"
#include "sasl-client.h"
#include "sasl-cram-md5.h"
#include "sasl-saslprep.h"
#include "sasl-scram.h"
#include "sasl-server.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-sasl.def"
#undef TEST_GROUP

/* Helpers shared by the test files (test-lib-sasl.c). */

/* A nonce generator that appends context (a string) as it is. */
void test_sasl_fixed_nonce(string_t *dest, void *context);

/* The owner's side of a server request: a one-user passdb. */
struct test_sasl_owner {
	const char *user;
	const char *password;
	/* SCRAM credentials: salt (default "saltsalt") and iterations
	   (default 4096) */
	const char *salt;
	unsigned int iterations;
	/* answer CRAM-MD5 with the plaintext password, not the context */
	bool cram_md5_plaintext;
	/* how many times the owner was asked */
	unsigned int verify_count, credentials_count;
};

/* Answer NEED_VERIFY / NEED_CREDENTIALS until the request says something
   else; returns that result. */
enum sasl_server_result
test_sasl_owner_answer(struct test_sasl_owner *owner,
		       struct sasl_server_request *req,
		       enum sasl_server_result ret, const buffer_t **output_r,
		       const char **error_r);

struct test_sasl_exchange {
	/* the protocol carries initial responses (SASL-IR) */
	bool sasl_ir;
	/* the protocol carries additional data with success; otherwise
	   it goes as a last challenge with an empty response */
	bool success_data;

	/* results */
	enum sasl_server_result server_result;
	const char *server_error;
	const char *client_error;
	const char *authcid, *authzid, *cb_type;
	unsigned int round_trips;
};

/* Run a whole exchange of mech between a client and a server. Returns 0
   when both sides agree on success, -1 otherwise (with the errors in
   ex). Strings in ex are on the data stack. */
int test_sasl_exchange_run(const char *mech,
			   const struct sasl_client_settings *client_set,
			   const struct sasl_server_request_settings *server_set,
			   struct test_sasl_owner *owner,
			   struct test_sasl_exchange *ex);

/* Server-side convenience: create a request, start it with an initial
   response (NULL = none) and return the result. */
enum sasl_server_result
test_sasl_server_start(struct sasl_server_request **req_r, const char *mech,
		       const struct sasl_server_request_settings *set,
		       const void *ir, size_t ir_size,
		       const buffer_t **output_r, const char **error_r);
/* The bytes of an output as a string on the data stack ("(null)" for
   NULL). */
const char *test_sasl_output_str(const buffer_t *output);
#endif
