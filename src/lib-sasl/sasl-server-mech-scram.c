/* SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants (RFC 5802, RFC
   7677), server side: GS2 header and channel-binding negotiation, nonce
   and proof checks, and the server signature that lets the client
   authenticate us. The password never reaches the server: the owner gives
   StoredKey and ServerKey. */
#include "lib.h"
#include "base64.h"
#include "sasl-server-private.h"
#include "sasl-saslprep.h"
#include "sasl-scram-private.h"

#include <openssl/rand.h>

enum scram_state {
	SCRAM_STATE_CLIENT_FIRST,
	SCRAM_STATE_CLIENT_FINAL,
};

struct scram_request {
	struct sasl_server_request req;
	const struct sasl_scram_hash *hash;
	enum scram_state state;

	/* 'n', 'y' or 'p' */
	char cbind_flag;
	const struct sasl_channel_binding *cb;
	/* as received: both go into the proof (AuthMessage, c=) */
	const char *gs2_header;
	const char *client_first_bare;
	const char *client_nonce;
	const char *nonce;
	const char *server_first;

	/* no such user: the exchange goes on with invented keys */
	bool unknown_user;
	unsigned char stored_key[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char server_key[SASL_SCRAM_MAX_KEY_SIZE];
};

static struct sasl_server_request *mech_scram_alloc(pool_t pool)
{
	struct scram_request *sreq = p_new(pool, struct scram_request, 1);
	return &sreq->req;
}

static bool scram_mech_is_plus(const struct sasl_server_request *req)
{
	return (req->mech->flags & SASL_MECH_FLAG_CHANNEL_BINDING) != 0;
}

static bool scram_cb_name_is_valid(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name != '\0'; name++) {
		if (!((*name >= 'a' && *name <= 'z') ||
		      (*name >= 'A' && *name <= 'Z') ||
		      (*name >= '0' && *name <= '9') ||
		      *name == '.' || *name == '-'))
			return false;
	}
	return true;
}

/* The channel-binding flag against what this mechanism and connection
   offer (RFC 5802 section 6). Returns NULL if acceptable. */
static const char *scram_check_cbind(struct scram_request *sreq,
				     const char *cb_name)
{
	struct sasl_server_request *req = &sreq->req;

	if (scram_mech_is_plus(req)) {
		if (sreq->cbind_flag != 'p')
			return t_strdup_printf(
				"%s requires channel binding, but the client sent '%c'",
				req->mech->name, sreq->cbind_flag);
	} else if (sreq->cbind_flag == 'p') {
		return t_strdup_printf(
			"client requests channel binding with %s, which is not a -PLUS mechanism",
			req->mech->name);
	} else if (sreq->cbind_flag == 'y' &&
		   req->set.channel_bindings_count > 0) {
		/* the client can bind and thinks we cannot: someone removed
		   -PLUS from the list it saw */
		return "client believes the server does not support channel binding, "
			"but it does (possible downgrade attack)";
	}
	if (sreq->cbind_flag != 'p')
		return NULL;

	for (unsigned int i = 0; i < req->set.channel_bindings_count; i++) {
		if (strcmp(req->set.channel_bindings[i].type, cb_name) == 0) {
			sreq->cb = &req->set.channel_bindings[i];
			req->cb_type = sreq->cb->type;
			return NULL;
		}
	}
	return t_strdup_printf("unsupported channel binding type '%s'",
			       str_sanitize(cb_name, 64));
}

static enum sasl_server_result
mech_scram_client_first(struct scram_request *sreq,
			const unsigned char *data, size_t size)
{
	struct sasl_server_request *req = &sreq->req;
	const char *error, *cb_name = NULL;

	if (size == 0)
		return sasl_server_request_fail(req,
			"SCRAM: empty client-first-message");
	if (memchr(data, '\0', size) != NULL)
		return sasl_server_request_fail(req,
			"SCRAM: NUL in client-first-message");
	const char *msg = t_strndup(data, size);

	/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
	const char *p = msg, *end;
	if (*p == 'n' || *p == 'y') {
		sreq->cbind_flag = *p++;
	} else if (p[0] == 'p' && p[1] == '=') {
		sreq->cbind_flag = 'p';
		end = strchr(p + 2, ',');
		if (end == NULL)
			return sasl_server_request_fail(req,
				"SCRAM: invalid GS2 header");
		cb_name = t_strndup(p + 2, (size_t)(end - (p + 2)));
		if (!scram_cb_name_is_valid(cb_name))
			return sasl_server_request_fail(req,
				"SCRAM: invalid channel binding name");
		p = end;
	} else {
		return sasl_server_request_fail(req,
			"SCRAM: invalid GS2 channel binding flag");
	}
	if (*p != ',')
		return sasl_server_request_fail(req,
			"SCRAM: invalid GS2 header");
	p++;
	if (p[0] == 'a' && p[1] == '=') {
		end = strchr(p, ',');
		if (end == NULL)
			return sasl_server_request_fail(req,
				"SCRAM: invalid GS2 header");
		req->authzid = sasl_scram_saslname_decode(
			req->pool, t_strndup(p + 2, (size_t)(end - (p + 2))),
			&error);
		if (req->authzid == NULL)
			return sasl_server_request_fail(req,
				"SCRAM: invalid authzid: %s", error);
		p = end;
	} else if (*p != ',') {
		return sasl_server_request_fail(req,
			"SCRAM: invalid GS2 header");
	}
	p++;
	sreq->gs2_header = p_strndup(req->pool, msg, (size_t)(p - msg));
	sreq->client_first_bare = p_strdup(req->pool, p);

	/* client-first-message-bare = [reserved-mext ","] username ","
	   nonce ["," extensions] */
	const char *const *fields = t_strsplit(p, ",");
	unsigned int count = str_array_length(fields);
	if (count > 0 && str_begins(fields[0], "m="))
		return sasl_server_request_fail(req,
			"SCRAM: unsupported mandatory extension");
	if (count < 2 || !str_begins(fields[0], "n=") ||
	    !str_begins(fields[1], "r="))
		return sasl_server_request_fail(req,
			"SCRAM: invalid client-first-message");
	const char *username = sasl_scram_saslname_decode(
		pool_datastack, fields[0] + 2, &error);
	if (username == NULL)
		return sasl_server_request_fail(req,
			"SCRAM: invalid username: %s", error);
	if (!sasl_nonce_is_valid(fields[1] + 2))
		return sasl_server_request_fail(req,
			"SCRAM: invalid client nonce");
	sreq->client_nonce = p_strdup(req->pool, fields[1] + 2);
	for (unsigned int i = 2; i < count; i++) {
		if (!sasl_scram_attr_is_valid(fields[i]))
			return sasl_server_request_fail(req,
				"SCRAM: invalid extension attribute");
	}

	error = scram_check_cbind(sreq, cb_name);
	if (error != NULL)
		return sasl_server_request_fail(req, "SCRAM: %s", error);

	/* Look the user up by the prepared name; the name as received
	   stays in the proof. */
	string_t *prepared = t_str_new(strlen(username) + 16);
	if (sasl_saslprep(username, prepared, &error) < 0)
		return sasl_server_request_fail(req,
			"SCRAM: username fails SASLprep: %s", error);
	req->authcid = p_strdup(req->pool, str_c(prepared));

	sreq->state = SCRAM_STATE_CLIENT_FINAL;
	return sasl_server_request_need_credentials(req,
		sreq->hash->credentials_type);
}

/* Keys for a user who does not exist. The salt must look the same each
   time the same name is tried (a fresh random salt per attempt would
   betray the account as fake), so it is derived from the name with a key
   this process picks once. */
static void scram_mock_credentials(struct scram_request *sreq,
				   unsigned char salt_r[16])
{
	static unsigned char mock_key[32];
	static bool mock_key_set = false;
	unsigned char mac[SASL_SCRAM_MAX_KEY_SIZE];

	if (!mock_key_set) {
		if (RAND_bytes(mock_key, sizeof(mock_key)) != 1)
			i_fatal("RAND_bytes() failed");
		mock_key_set = true;
	}
	sasl_scram_hmac(&sasl_scram_hash_sha256, mock_key, sizeof(mock_key),
			sreq->req.authcid, strlen(sreq->req.authcid), mac);
	memcpy(salt_r, mac, 16);
	if (RAND_bytes(sreq->stored_key, sizeof(sreq->stored_key)) != 1 ||
	    RAND_bytes(sreq->server_key, sizeof(sreq->server_key)) != 1)
		i_fatal("RAND_bytes() failed");
}

static enum sasl_server_result
mech_scram_credentials(struct sasl_server_request *req,
		       const struct sasl_credentials *creds)
{
	struct scram_request *sreq = (struct scram_request *)req;
	unsigned int min_iterations = req->set.scram_min_iterations > 0 ?
		req->set.scram_min_iterations : SASL_SCRAM_MIN_ITERATIONS;
	unsigned char mock_salt[16];
	const unsigned char *salt;
	size_t salt_size;
	unsigned int iterations;

	if (creds == NULL) {
		sreq->unknown_user = true;
		scram_mock_credentials(sreq, mock_salt);
		salt = mock_salt;
		salt_size = sizeof(mock_salt);
		iterations = min_iterations;
	} else {
		if (creds->type != sreq->hash->credentials_type)
			return sasl_server_request_fail(req,
				"%s: cannot use %s credentials",
				req->mech->name,
				sasl_credentials_type_name(creds->type));
		if (creds->key_size != sreq->hash->size)
			return sasl_server_request_fail(req,
				"%s: stored keys are %zu bytes, expected %zu",
				req->mech->name, creds->key_size,
				sreq->hash->size);
		if (creds->salt_size == 0 ||
		    creds->salt_size > SASL_SCRAM_MAX_SALT_SIZE)
			return sasl_server_request_fail(req,
				"%s: stored salt has invalid size %zu",
				req->mech->name, creds->salt_size);
		if (creds->iterations < min_iterations)
			return sasl_server_request_fail(req,
				"%s: stored iteration count %u is below the minimum %u",
				req->mech->name, creds->iterations,
				min_iterations);
		memcpy(sreq->stored_key, creds->stored_key, creds->key_size);
		memcpy(sreq->server_key, creds->server_key, creds->key_size);
		salt = creds->salt;
		salt_size = creds->salt_size;
		iterations = creds->iterations;
	}

	/* server-first-message = nonce "," salt "," iteration-count */
	string_t *nonce = t_str_new(64);
	str_append(nonce, sreq->client_nonce);
	sasl_server_request_nonce(req, nonce);
	sreq->nonce = p_strdup(req->pool, str_c(nonce));
	str_printfa(req->output, "r=%s,s=", sreq->nonce);
	base64_encode(salt, salt_size, req->output);
	str_printfa(req->output, ",i=%u", iterations);
	sreq->server_first = p_strdup(req->pool, str_c(req->output));
	return sasl_server_request_continue(req);
}

/* The c= attribute must be exactly the GS2 header the client sent first,
   followed by the channel's binding data if it asked to bind. */
static bool scram_cbind_input_matches(struct scram_request *sreq,
				      const buffer_t *cbind_input)
{
	size_t gs2_len = strlen(sreq->gs2_header);
	size_t cb_size = sreq->cb == NULL ? 0 : sreq->cb->size;

	if (cbind_input->used != gs2_len + cb_size)
		return false;
	if (memcmp(cbind_input->data, sreq->gs2_header, gs2_len) != 0)
		return false;
	return cb_size == 0 ||
		sasl_mem_equals_timing_safe(cbind_input->data + gs2_len,
					    sreq->cb->data, cb_size);
}

static enum sasl_server_result
mech_scram_client_final(struct scram_request *sreq,
			const unsigned char *data, size_t size)
{
	struct sasl_server_request *req = &sreq->req;
	const struct sasl_scram_hash *hash = sreq->hash;
	const char *error;

	const char *const *fields = sasl_scram_split(data, size, &error);
	if (fields == NULL)
		return sasl_server_request_fail(req,
			"SCRAM: client-final-message: %s", error);
	unsigned int count = str_array_length(fields);
	/* client-final-message = channel-binding "," nonce
	   ["," extensions] "," proof */
	if (count < 3 || !str_begins(fields[0], "c=") ||
	    !str_begins(fields[1], "r=") ||
	    !str_begins(fields[count - 1], "p="))
		return sasl_server_request_fail(req,
			"SCRAM: invalid client-final-message");
	for (unsigned int i = 2; i < count - 1; i++) {
		if (!sasl_scram_attr_is_valid(fields[i]) ||
		    strchr("cmpr", fields[i][0]) != NULL)
			return sasl_server_request_fail(req,
				"SCRAM: invalid extension attribute in client-final-message");
	}

	buffer_t *cbind_input = t_str_new(128);
	if (sasl_scram_base64_decode(fields[0] + 2, cbind_input, &error) < 0)
		return sasl_server_request_fail(req,
			"SCRAM: invalid channel binding encoding: %s", error);
	if (!scram_cbind_input_matches(sreq, cbind_input)) {
		return sasl_server_request_fail(req, sreq->cb != NULL ?
			"SCRAM: channel binding data mismatch" :
			"SCRAM: GS2 header in c= differs from the client-first-message");
	}
	if (strcmp(fields[1] + 2, sreq->nonce) != 0)
		return sasl_server_request_fail(req, "SCRAM: nonce mismatch");

	buffer_t *proof = t_str_new(SASL_SCRAM_MAX_KEY_SIZE + 4);
	if (sasl_scram_base64_decode(fields[count - 1] + 2, proof, &error) < 0)
		return sasl_server_request_fail(req,
			"SCRAM: invalid proof encoding: %s", error);
	if (proof->used != hash->size)
		return sasl_server_request_fail(req,
			"SCRAM: proof has %zu bytes, expected %zu",
						proof->used, hash->size);

	/* AuthMessage = client-first-message-bare "," server-first-message
	   "," client-final-message-without-proof */
	size_t without_proof_len = size - strlen(fields[count - 1]) - 1;
	string_t *auth_message = t_str_new(512);
	str_printfa(auth_message, "%s,%s,", sreq->client_first_bare,
		    sreq->server_first);
	str_append_data(auth_message, data, without_proof_len);

	unsigned char signature[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char client_key[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char stored_key[SASL_SCRAM_MAX_KEY_SIZE];
	sasl_scram_hmac(hash, sreq->stored_key, hash->size,
			auth_message->data, auth_message->used, signature);
	for (size_t i = 0; i < hash->size; i++)
		client_key[i] = proof->data[i] ^ signature[i];
	sasl_scram_digest(hash, client_key, hash->size, stored_key);
	bool proof_ok = sasl_mem_equals_timing_safe(stored_key,
						    sreq->stored_key,
						    hash->size);
	safe_memset(client_key, 0, sizeof(client_key));
	safe_memset(signature, 0, sizeof(signature));
	safe_memset(stored_key, 0, sizeof(stored_key));

	if (sreq->unknown_user)
		return sasl_server_request_fail(req, "SCRAM: unknown user");
	if (!proof_ok)
		return sasl_server_request_fail(req,
			"SCRAM: invalid proof (wrong password)");

	/* server-final-message = verifier */
	unsigned char server_signature[SASL_SCRAM_MAX_KEY_SIZE];
	sasl_scram_hmac(hash, sreq->server_key, hash->size,
			auth_message->data, auth_message->used,
			server_signature);
	str_append(req->output, "v=");
	base64_encode(server_signature, hash->size, req->output);
	return sasl_server_request_success(req, true);
}

static enum sasl_server_result
mech_scram_input(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	struct scram_request *sreq = (struct scram_request *)req;

	switch (sreq->state) {
	case SCRAM_STATE_CLIENT_FIRST:
		return mech_scram_client_first(sreq, data, size);
	case SCRAM_STATE_CLIENT_FINAL:
		return mech_scram_client_final(sreq, data, size);
	}
	i_unreached();
}

static enum sasl_server_result
mech_scram_start(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	struct scram_request *sreq = (struct scram_request *)req;

	sreq->hash = req->mech->context;
	sreq->state = SCRAM_STATE_CLIENT_FIRST;
	if (data == NULL)
		return sasl_server_request_continue(req);
	return mech_scram_input(req, data, size);
}

static void mech_scram_wipe(struct sasl_server_request *req)
{
	struct scram_request *sreq = (struct scram_request *)req;

	safe_memset(sreq->stored_key, 0, sizeof(sreq->stored_key));
	safe_memset(sreq->server_key, 0, sizeof(sreq->server_key));
}

#define SCRAM_MECH(_name, _hash, _flags) { \
	.name = _name, \
	.flags = SASL_MECH_FLAG_MUTUAL | (_flags), \
	.context = &_hash, \
	.alloc = mech_scram_alloc, \
	.start = mech_scram_start, \
	.input = mech_scram_input, \
	.credentials = mech_scram_credentials, \
	.wipe = mech_scram_wipe, \
}

const struct sasl_server_mech sasl_server_mech_scram_sha1 =
	SCRAM_MECH("SCRAM-SHA-1", sasl_scram_hash_sha1, 0);
const struct sasl_server_mech sasl_server_mech_scram_sha1_plus =
	SCRAM_MECH("SCRAM-SHA-1-PLUS", sasl_scram_hash_sha1,
		   SASL_MECH_FLAG_CHANNEL_BINDING);
const struct sasl_server_mech sasl_server_mech_scram_sha256 =
	SCRAM_MECH("SCRAM-SHA-256", sasl_scram_hash_sha256, 0);
const struct sasl_server_mech sasl_server_mech_scram_sha256_plus =
	SCRAM_MECH("SCRAM-SHA-256-PLUS", sasl_scram_hash_sha256,
		   SASL_MECH_FLAG_CHANNEL_BINDING);
