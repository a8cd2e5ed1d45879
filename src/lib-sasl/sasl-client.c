/* The client side's layer: mechanism registry, settings copies, the
   initial-response rules of RFC 4422 section 5, and the guard that stops
   a failed exchange from going on. */
#include "lib.h"
#include "sasl-client-private.h"
#include "sasl-scram.h"

#include <strings.h>

static const struct sasl_client_mech *const sasl_client_mechs[] = {
	&sasl_client_mech_scram_sha256_plus,
	&sasl_client_mech_scram_sha256,
	&sasl_client_mech_scram_sha1_plus,
	&sasl_client_mech_scram_sha1,
	&sasl_client_mech_external,
	&sasl_client_mech_cram_md5,
	&sasl_client_mech_plain,
	&sasl_client_mech_login,
	&sasl_client_mech_anonymous,
};

const struct sasl_client_mech *sasl_client_mech_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(sasl_client_mechs); i++) {
		if (strcasecmp(sasl_client_mechs[i]->name, name) == 0)
			return sasl_client_mechs[i];
	}
	return NULL;
}

const char *sasl_client_mech_get_name(const struct sasl_client_mech *mech)
{
	return mech->name;
}

enum sasl_mech_flags
sasl_client_mech_get_flags(const struct sasl_client_mech *mech)
{
	return mech->flags;
}

struct sasl_client *
sasl_client_create(const struct sasl_client_mech *mech,
		   const struct sasl_client_settings *set)
{
	pool_t pool = pool_alloconly_create("sasl client", 1024);
	struct sasl_client *client = mech->alloc(pool);

	client->pool = pool;
	client->mech = mech;
	client->set = *set;
	client->set.authcid = p_strdup(pool, set->authcid);
	client->set.authzid = set->authzid == NULL || set->authzid[0] == '\0' ?
		NULL : p_strdup(pool, set->authzid);
	client->password = p_strdup(pool, set->password);
	client->set.password = NULL;
	if (set->channel_binding != NULL) {
		client->cb.type = p_strdup(pool, set->channel_binding->type);
		client->cb.data = p_memdup(pool, set->channel_binding->data,
					   set->channel_binding->size);
		client->cb.size = set->channel_binding->size;
		client->set.channel_binding = &client->cb;
	}
	if (client->set.nonce_func == NULL)
		client->set.nonce_func = sasl_nonce_random;
	if (client->set.scram_min_iterations == 0)
		client->set.scram_min_iterations = SASL_SCRAM_MIN_ITERATIONS;
	if (client->set.scram_max_iterations == 0)
		client->set.scram_max_iterations = SASL_SCRAM_MAX_ITERATIONS;
	client->output = str_new(pool, 256);
	return client;
}

void sasl_client_destroy(struct sasl_client **_client)
{
	struct sasl_client *client = *_client;

	if (client == NULL)
		return;
	*_client = NULL;
	if (client->mech->wipe != NULL)
		client->mech->wipe(client);
	sasl_secret_free(client->pool, &client->password);
	/* PLAIN's and LOGIN's output is the password itself */
	safe_memset(client->output->data, 0, client->output->alloc);
	pool_t pool = client->pool;
	pool_unref(&pool);
}

static int sasl_client_fail(struct sasl_client *client, const char *error,
			    const char **error_r)
{
	client->failed = true;
	str_truncate(client->output, 0);
	*error_r = p_strdup_printf(client->pool, "%s: %s", client->mech->name,
				   error);
	return -1;
}

static void sasl_client_reset_output(struct sasl_client *client)
{
	safe_memset(client->output->data, 0, client->output->used);
	str_truncate(client->output, 0);
}

static int
sasl_client_start_real(struct sasl_client *client,
		      bool initial_response_allowed,
		      const buffer_t **output_r, const char **error_r)
{
	const char *error;

	*output_r = NULL;
	sasl_client_reset_output(client);
	if (client->mech->init != NULL &&
	    client->mech->init(client, &error) < 0)
		return sasl_client_fail(client, error, error_r);
	if ((client->mech->flags & SASL_MECH_FLAG_SERVER_FIRST) != 0 ||
	    !initial_response_allowed)
		return 0;
	if (client->mech->initial(client, &error) < 0)
		return sasl_client_fail(client, error, error_r);
	client->initial_sent = true;
	*output_r = client->output;
	return 1;
}

static int
sasl_client_input_real(struct sasl_client *client, const void *data,
		      size_t size, const buffer_t **output_r,
		      const char **error_r)
{
	const char *error;
	int ret;

	*output_r = NULL;
	if (client->failed) {
		*error_r = "SASL exchange already failed";
		return -1;
	}
	sasl_client_reset_output(client);
	if (size > SASL_MAX_MESSAGE_SIZE)
		return sasl_client_fail(client, "challenge too long", error_r);
	if (data == NULL)
		data = "";
	if ((client->mech->flags & SASL_MECH_FLAG_SERVER_FIRST) == 0 &&
	    !client->initial_sent) {
		/* RFC 4422 section 5: without an initial response the
		   server sends an empty challenge first */
		if (size > 0)
			return sasl_client_fail(client,
				"non-empty challenge before the initial response", error_r);
		ret = client->mech->initial(client, &error);
		client->initial_sent = true;
	} else {
		ret = client->mech->input(client, data, size, &error);
	}
	if (ret < 0)
		return sasl_client_fail(client, error, error_r);
	*output_r = client->output;
	return 0;
}

static int
sasl_client_success_real(struct sasl_client *client, const void *data,
			size_t size, const char **error_r)
{
	const char *error;

	if (client->failed) {
		*error_r = "SASL exchange already failed";
		return -1;
	}
	if (client->mech->success != NULL) {
		if (client->mech->success(client, data, size, &error) < 0)
			return sasl_client_fail(client, error, error_r);
	} else if (data != NULL && size > 0) {
		return sasl_client_fail(client,
			"unexpected additional data with success", error_r);
	}
	return 0;
}

/* The mechanisms build messages and error texts on the data stack; errors
   are copied into the client's pool before the frame ends. */
int sasl_client_start(struct sasl_client *client,
		      bool initial_response_allowed,
		      const buffer_t **output_r, const char **error_r)
{
	int ret;

	T_BEGIN {
		ret = sasl_client_start_real(client, initial_response_allowed,
					     output_r, error_r);
	} T_END;
	return ret;
}

int sasl_client_input(struct sasl_client *client, const void *data,
		      size_t size, const buffer_t **output_r,
		      const char **error_r)
{
	int ret;

	T_BEGIN {
		ret = sasl_client_input_real(client, data, size, output_r,
					     error_r);
	} T_END;
	return ret;
}

int sasl_client_success(struct sasl_client *client, const void *data,
			size_t size, const char **error_r)
{
	int ret;

	T_BEGIN {
		ret = sasl_client_success_real(client, data, size, error_r);
	} T_END;
	return ret;
}
