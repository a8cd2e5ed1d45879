/* Unit tests for src/lib-sasl. Each test-sasl-*.c defines its tests and a
   test_*_tests registration; this file runs them all and holds the owner
   simulation and the client<->server driver they share. */
#include "test-lib-sasl.h"

void test_sasl_fixed_nonce(string_t *dest, void *context)
{
	str_append(dest, context);
}

enum sasl_server_result
test_sasl_owner_answer(struct test_sasl_owner *owner,
		       struct sasl_server_request *req,
		       enum sasl_server_result ret, const buffer_t **output_r,
		       const char **error_r)
{
	while (ret == SASL_SERVER_RESULT_NEED_VERIFY ||
	       ret == SASL_SERVER_RESULT_NEED_CREDENTIALS) {
		const char *authcid = sasl_server_request_get_authcid(req);
		bool known = strcmp(authcid, owner->user) == 0;

		if (ret == SASL_SERVER_RESULT_NEED_VERIFY) {
			owner->verify_count++;
			bool ok = known && strcmp(sasl_server_request_get_password(req),
						  owner->password) == 0;
			ret = sasl_server_request_verify_result(req, ok, output_r,
								error_r);
			continue;
		}
		owner->credentials_count++;
		enum sasl_credentials_type type =
			sasl_server_request_get_credentials_type(req);
		struct sasl_credentials creds;
		unsigned char ctx[SASL_CRAM_MD5_CONTEXT_SIZE];
		unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE];
		unsigned char server[SASL_SCRAM_MAX_KEY_SIZE];
		const char *salt = owner->salt != NULL ? owner->salt : "saltsalt";
		const char *error;

		memset(&creds, 0, sizeof(creds));
		creds.type = type;
		if (!known) {
			ret = sasl_server_request_credentials(req, NULL, output_r,
							      error_r);
			continue;
		}
		switch (type) {
		case SASL_CREDENTIALS_CRAM_MD5:
			if (owner->cram_md5_plaintext) {
				creds.type = SASL_CREDENTIALS_PLAINTEXT;
				creds.password = owner->password;
			} else {
				sasl_cram_md5_context(owner->password, ctx);
				creds.cram_md5_context = ctx;
			}
			break;
		case SASL_CREDENTIALS_SCRAM_SHA1:
		case SASL_CREDENTIALS_SCRAM_SHA256:
			creds.iterations = owner->iterations > 0 ?
				owner->iterations : 4096;
			creds.salt = (const unsigned char *)salt;
			creds.salt_size = strlen(salt);
			if (sasl_scram_generate_keys(type, owner->password,
						     creds.salt, creds.salt_size,
						     creds.iterations, stored,
						     server, &error) < 0)
				i_panic("sasl_scram_generate_keys: %s", error);
			creds.stored_key = stored;
			creds.server_key = server;
			creds.key_size = sasl_scram_key_size(type);
			break;
		default:
			i_unreached();
		}
		ret = sasl_server_request_credentials(req, &creds, output_r,
						      error_r);
	}
	return ret;
}

int test_sasl_exchange_run(const char *mech_name,
			   const struct sasl_client_settings *client_set,
			   const struct sasl_server_request_settings *server_set,
			   struct test_sasl_owner *owner,
			   struct test_sasl_exchange *ex)
{
	const struct sasl_client_mech *cmech = sasl_client_mech_find(mech_name);
	const struct sasl_server_mech *smech = sasl_server_mech_find(mech_name);
	const buffer_t *cout, *sout;
	const char *error;
	enum sasl_server_result ret;
	int cret, result = -1;

	i_assert(cmech != NULL && smech != NULL);
	ex->server_error = ex->client_error = NULL;
	ex->authcid = ex->authzid = ex->cb_type = NULL;
	ex->round_trips = 0;

	struct sasl_client *client = sasl_client_create(cmech, client_set);
	struct sasl_server_request *req =
		sasl_server_request_create(smech, server_set);

	cret = sasl_client_start(client, ex->sasl_ir, &cout, &error);
	if (cret < 0) {
		ex->client_error = t_strdup(error);
		goto out;
	}
	ret = sasl_server_request_start(req, cret > 0 ? cout->data : NULL,
					cret > 0 ? cout->used : 0, &sout,
					&error);
	for (;;) {
		ret = test_sasl_owner_answer(owner, req, ret, &sout, &error);
		if (ret != SASL_SERVER_RESULT_CONTINUE)
			break;
		ex->round_trips++;
		if (sasl_client_input(client, sout->data, sout->used, &cout,
				      &error) < 0) {
			ex->client_error = t_strdup(error);
			goto out;
		}
		ret = sasl_server_request_input(req, cout->data, cout->used,
						&sout, &error);
	}
	ex->server_result = ret;
	if (ret == SASL_SERVER_RESULT_FAILURE) {
		ex->server_error = t_strdup(error);
		goto out;
	}
	i_assert(ret == SASL_SERVER_RESULT_SUCCESS);
	ex->authcid = t_strdup(sasl_server_request_get_authcid(req));
	ex->authzid = t_strdup(sasl_server_request_get_authzid(req));
	ex->cb_type = t_strdup(sasl_server_request_get_channel_binding(req));
	if (sout != NULL && !ex->success_data) {
		/* RFC 4422 section 5: additional data as a challenge, the
		   client answers empty, then success without data */
		ex->round_trips++;
		if (sasl_client_input(client, sout->data, sout->used, &cout,
				      &error) < 0) {
			ex->client_error = t_strdup(error);
			goto out;
		}
		if (cout->used != 0) {
			ex->client_error = "non-empty response to the success data";
			goto out;
		}
		sout = NULL;
	}
	if (sasl_client_success(client, sout == NULL ? NULL : sout->data,
				sout == NULL ? 0 : sout->used, &error) < 0) {
		ex->client_error = t_strdup(error);
		goto out;
	}
	result = 0;
out:
	sasl_client_destroy(&client);
	sasl_server_request_destroy(&req);
	i_assert(client == NULL && req == NULL);
	return result;
}

enum sasl_server_result
test_sasl_server_start(struct sasl_server_request **req_r, const char *mech,
		       const struct sasl_server_request_settings *set,
		       const void *ir, size_t ir_size,
		       const buffer_t **output_r, const char **error_r)
{
	const struct sasl_server_mech *smech = sasl_server_mech_find(mech);

	i_assert(smech != NULL);
	*req_r = sasl_server_request_create(smech, set);
	return sasl_server_request_start(*req_r, ir, ir_size, output_r,
					 error_r);
}

const char *test_sasl_output_str(const buffer_t *output)
{
	if (output == NULL)
		return "(null)";
	return t_strndup(output->data, output->used);
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-sasl.def"
#undef TEST_GROUP
	};
	ARRAY(test_func_t *) all;
	array_init(&all, system_pool, 64);
	for (unsigned int g = 0; g < N_ELEMENTS(groups); g++) {
		for (unsigned int i = 0; groups[g][i] != NULL; i++)
			array_push(&all, groups[g][i]);
	}
	array_push(&all, NULL);
	int ret = test_run(all.v);
	array_free(&all);
	return ret;
}
