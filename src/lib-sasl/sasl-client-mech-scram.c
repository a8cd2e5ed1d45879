/* SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants, client side (RFC
   5802, RFC 7677). The client checks the server as much as the server
   checks it: the server's nonce must extend ours, the iteration count must
   stay within bounds, and success counts only with a valid v=. */
#include "lib.h"
#include "base64.h"
#include "sasl-client-private.h"
#include "sasl-saslprep.h"
#include "sasl-scram-private.h"

enum scram_client_state {
	SCRAM_CLIENT_STATE_SERVER_FIRST,
	SCRAM_CLIENT_STATE_SERVER_FINAL,
	SCRAM_CLIENT_STATE_VERIFIED,
};

struct scram_client {
	struct sasl_client client;
	const struct sasl_scram_hash *hash;
	enum scram_client_state state;

	/* SASLprep'd; wiped */
	char *prepared_password;
	const char *gs2_header;
	const char *client_first_bare;
	const char *client_nonce;
	unsigned char server_signature[SASL_SCRAM_MAX_KEY_SIZE];
};

static struct sasl_client *mech_scram_alloc(pool_t pool)
{
	struct scram_client *sclient = p_new(pool, struct scram_client, 1);
	return &sclient->client;
}

static bool scram_client_is_plus(const struct sasl_client *client)
{
	return (client->mech->flags & SASL_MECH_FLAG_CHANNEL_BINDING) != 0;
}

static int mech_scram_init(struct sasl_client *client, const char **error_r)
{
	struct scram_client *sclient = (struct scram_client *)client;
	const char *error;

	sclient->hash = client->mech->context;
	if (client->set.authcid == NULL || client->set.authcid[0] == '\0') {
		*error_r = "no user name";
		return -1;
	}
	if (client->password == NULL || client->password[0] == '\0') {
		*error_r = "no password";
		return -1;
	}
	if (scram_client_is_plus(client) &&
	    client->set.channel_binding == NULL) {
		*error_r = "no channel binding data for a -PLUS mechanism";
		return -1;
	}
	if (client->set.scram_min_iterations >
	    client->set.scram_max_iterations) {
		*error_r = "minimum iteration count above the maximum";
		return -1;
	}
	string_t *prepared = t_str_new(strlen(client->password) + 16);
	if (sasl_saslprep(client->password, prepared, &error) < 0) {
		*error_r = t_strdup_printf("password fails SASLprep: %s", error);
		return -1;
	}
	sclient->prepared_password = p_strdup(client->pool, str_c(prepared));
	safe_memset(prepared->data, 0, prepared->used);
	return 0;
}

static int mech_scram_initial(struct sasl_client *client, const char **error_r)
{
	struct scram_client *sclient = (struct scram_client *)client;
	const char *error;

	/* gs2-header */
	string_t *gs2 = t_str_new(64);
	if (scram_client_is_plus(client))
		str_printfa(gs2, "p=%s,", client->set.channel_binding->type);
	else if (client->set.channel_binding != NULL)
		str_append(gs2, "y,");
	else
		str_append(gs2, "n,");
	if (client->set.authzid != NULL) {
		str_append(gs2, "a=");
		sasl_scram_saslname_encode(client->set.authzid, gs2);
	}
	str_append_c(gs2, ',');
	sclient->gs2_header = p_strdup(client->pool, str_c(gs2));

	/* client-first-message-bare = username "," nonce */
	string_t *user = t_str_new(64);
	if (sasl_saslprep(client->set.authcid, user, &error) < 0) {
		*error_r = t_strdup_printf("user name fails SASLprep: %s", error);
		return -1;
	}
	string_t *nonce = t_str_new(64);
	client->set.nonce_func(nonce, client->set.nonce_context);
	if (!sasl_nonce_is_valid(str_c(nonce)))
		i_panic("SASL nonce generator returned an invalid nonce");
	sclient->client_nonce = p_strdup(client->pool, str_c(nonce));

	string_t *bare = t_str_new(128);
	str_append(bare, "n=");
	sasl_scram_saslname_encode(str_c(user), bare);
	str_printfa(bare, ",r=%s", sclient->client_nonce);
	sclient->client_first_bare = p_strdup(client->pool, str_c(bare));

	str_append(client->output, sclient->gs2_header);
	str_append(client->output, sclient->client_first_bare);
	sclient->state = SCRAM_CLIENT_STATE_SERVER_FIRST;
	return 0;
}

static int scram_parse_iterations(const char *value, unsigned int *iter_r)
{
	/* posit-number = %x31-39 *DIGIT: no leading zero, no sign */
	if (value[0] < '1' || value[0] > '9')
		return -1;
	return str_to_uint(value, iter_r);
}

static int mech_scram_server_first(struct scram_client *sclient,
				   const unsigned char *data, size_t size,
				   const char **error_r)
{
	struct sasl_client *client = &sclient->client;
	const struct sasl_scram_hash *hash = sclient->hash;
	const char *error;
	unsigned int iterations;

	const char *const *fields = sasl_scram_split(data, size, &error);
	if (fields == NULL) {
		*error_r = t_strdup_printf("server-first-message: %s", error);
		return -1;
	}
	unsigned int count = str_array_length(fields);
	if (str_begins(fields[0], "m=")) {
		*error_r = "server requires an unsupported extension";
		return -1;
	}
	if (count < 3 || !str_begins(fields[0], "r=") ||
	    !str_begins(fields[1], "s=") || !str_begins(fields[2], "i=")) {
		*error_r = "invalid server-first-message";
		return -1;
	}
	for (unsigned int i = 3; i < count; i++) {
		if (!sasl_scram_attr_is_valid(fields[i])) {
			*error_r = "invalid extension in server-first-message";
			return -1;
		}
	}
	const char *nonce = fields[0] + 2;
	if (!sasl_nonce_is_valid(nonce) ||
	    !str_begins(nonce, sclient->client_nonce) ||
	    strlen(nonce) == strlen(sclient->client_nonce)) {
		*error_r = "server nonce does not extend the client nonce";
		return -1;
	}
	buffer_t *salt = t_str_new(64);
	if (sasl_scram_base64_decode(fields[1] + 2, salt, &error) < 0) {
		*error_r = t_strdup_printf("invalid salt: %s", error);
		return -1;
	}
	if (salt->used == 0 || salt->used > SASL_SCRAM_MAX_SALT_SIZE) {
		*error_r = "invalid salt size";
		return -1;
	}
	if (scram_parse_iterations(fields[2] + 2, &iterations) < 0) {
		*error_r = "invalid iteration count";
		return -1;
	}
	if (iterations < client->set.scram_min_iterations) {
		/* a weak count makes a captured exchange cheap to crack */
		*error_r = t_strdup_printf("iteration count %u below the minimum %u",
			iterations, client->set.scram_min_iterations);
		return -1;
	}
	if (iterations > client->set.scram_max_iterations ||
	    iterations > INT_MAX) {
		*error_r = t_strdup_printf("iteration count %u above the maximum %u",
			iterations, client->set.scram_max_iterations);
		return -1;
	}

	/* client-final-message-without-proof = channel-binding "," nonce */
	string_t *without_proof = t_str_new(256);
	string_t *cbind_input = t_str_new(128);
	str_append(cbind_input, sclient->gs2_header);
	if (scram_client_is_plus(client)) {
		buffer_append(cbind_input, client->set.channel_binding->data,
			      client->set.channel_binding->size);
	}
	str_append(without_proof, "c=");
	base64_encode(cbind_input->data, cbind_input->used, without_proof);
	str_printfa(without_proof, ",r=%s", nonce);

	string_t *auth_message = t_str_new(512);
	str_printfa(auth_message, "%s,", sclient->client_first_bare);
	str_append_data(auth_message, data, size);
	str_append_c(auth_message, ',');
	str_append_str(auth_message, without_proof);

	unsigned char salted[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char client_key[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char stored_key[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char signature[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char server_key[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char proof[SASL_SCRAM_MAX_KEY_SIZE];
	sasl_scram_hi(hash, sclient->prepared_password, salt->data, salt->used,
		      iterations, salted);
	sasl_scram_hmac(hash, salted, hash->size, "Client Key", 10, client_key);
	sasl_scram_digest(hash, client_key, hash->size, stored_key);
	sasl_scram_hmac(hash, stored_key, hash->size, auth_message->data,
			auth_message->used, signature);
	for (size_t i = 0; i < hash->size; i++)
		proof[i] = client_key[i] ^ signature[i];
	sasl_scram_hmac(hash, salted, hash->size, "Server Key", 10, server_key);
	sasl_scram_hmac(hash, server_key, hash->size, auth_message->data,
			auth_message->used, sclient->server_signature);

	str_append_str(client->output, without_proof);
	str_append(client->output, ",p=");
	base64_encode(proof, hash->size, client->output);

	safe_memset(salted, 0, sizeof(salted));
	safe_memset(client_key, 0, sizeof(client_key));
	safe_memset(stored_key, 0, sizeof(stored_key));
	safe_memset(signature, 0, sizeof(signature));
	safe_memset(server_key, 0, sizeof(server_key));
	safe_memset(proof, 0, sizeof(proof));
	sclient->state = SCRAM_CLIENT_STATE_SERVER_FINAL;
	return 0;
}

static int mech_scram_server_final(struct scram_client *sclient,
				   const unsigned char *data, size_t size,
				   const char **error_r)
{
	const struct sasl_scram_hash *hash = sclient->hash;
	const char *error;

	const char *const *fields = sasl_scram_split(data, size, &error);
	if (fields == NULL) {
		*error_r = t_strdup_printf("server-final-message: %s", error);
		return -1;
	}
	if (str_begins(fields[0], "e=")) {
		*error_r = t_strdup_printf("server error: %s",
					   str_sanitize(fields[0] + 2, 64));
		return -1;
	}
	if (!str_begins(fields[0], "v=")) {
		*error_r = "invalid server-final-message";
		return -1;
	}
	buffer_t *verifier = t_str_new(SASL_SCRAM_MAX_KEY_SIZE + 4);
	if (sasl_scram_base64_decode(fields[0] + 2, verifier, &error) < 0) {
		*error_r = t_strdup_printf("invalid server signature encoding: %s", error);
		return -1;
	}
	if (verifier->used != hash->size ||
	    !sasl_mem_equals_timing_safe(verifier->data,
					 sclient->server_signature,
					 hash->size)) {
		*error_r = "wrong server signature: the server does not know the credentials";
		return -1;
	}
	sclient->state = SCRAM_CLIENT_STATE_VERIFIED;
	return 0;
}

static int mech_scram_input(struct sasl_client *client,
			    const unsigned char *data, size_t size,
			    const char **error_r)
{
	struct scram_client *sclient = (struct scram_client *)client;

	switch (sclient->state) {
	case SCRAM_CLIENT_STATE_SERVER_FIRST:
		return mech_scram_server_first(sclient, data, size, error_r);
	case SCRAM_CLIENT_STATE_SERVER_FINAL:
		/* the protocol has no success data: v= comes as a
		   challenge, answered with an empty response */
		return mech_scram_server_final(sclient, data, size, error_r);
	case SCRAM_CLIENT_STATE_VERIFIED:
		break;
	}
	*error_r = "unexpected challenge after the server's signature";
	return -1;
}

static int mech_scram_success(struct sasl_client *client,
			      const unsigned char *data, size_t size,
			      const char **error_r)
{
	struct scram_client *sclient = (struct scram_client *)client;

	if (sclient->state == SCRAM_CLIENT_STATE_SERVER_FINAL &&
	    data != NULL && size > 0)
		return mech_scram_server_final(sclient, data, size, error_r);
	if (data != NULL && size > 0) {
		*error_r = "unexpected additional data with success";
		return -1;
	}
	if (sclient->state != SCRAM_CLIENT_STATE_VERIFIED) {
		*error_r = "server reported success without proving it knows the credentials";
		return -1;
	}
	return 0;
}

static void mech_scram_wipe(struct sasl_client *client)
{
	struct scram_client *sclient = (struct scram_client *)client;

	sasl_secret_free(client->pool, &sclient->prepared_password);
	safe_memset(sclient->server_signature, 0,
		    sizeof(sclient->server_signature));
}

#define SCRAM_CLIENT_MECH(_name, _hash, _flags) { \
	.name = _name, \
	.flags = SASL_MECH_FLAG_MUTUAL | (_flags), \
	.context = &_hash, \
	.alloc = mech_scram_alloc, \
	.init = mech_scram_init, \
	.initial = mech_scram_initial, \
	.input = mech_scram_input, \
	.success = mech_scram_success, \
	.wipe = mech_scram_wipe, \
}

const struct sasl_client_mech sasl_client_mech_scram_sha1 =
	SCRAM_CLIENT_MECH("SCRAM-SHA-1", sasl_scram_hash_sha1, 0);
const struct sasl_client_mech sasl_client_mech_scram_sha1_plus =
	SCRAM_CLIENT_MECH("SCRAM-SHA-1-PLUS", sasl_scram_hash_sha1,
			  SASL_MECH_FLAG_CHANNEL_BINDING);
const struct sasl_client_mech sasl_client_mech_scram_sha256 =
	SCRAM_CLIENT_MECH("SCRAM-SHA-256", sasl_scram_hash_sha256, 0);
const struct sasl_client_mech sasl_client_mech_scram_sha256_plus =
	SCRAM_CLIENT_MECH("SCRAM-SHA-256-PLUS", sasl_scram_hash_sha256,
			  SASL_MECH_FLAG_CHANNEL_BINDING);
