/* The server side's request layer: the mechanism registry, the request
   life cycle and its state checks, input limits, and the hand-offs to the
   owner (password verification, credentials lookup). Mechanisms only
   parse and compute; everything they share is here. */
#include "lib.h"
#include "sasl-server-private.h"

#include <strings.h>

static const struct sasl_server_mech *const sasl_server_mechs[] = {
	&sasl_server_mech_scram_sha256_plus,
	&sasl_server_mech_scram_sha256,
	&sasl_server_mech_scram_sha1_plus,
	&sasl_server_mech_scram_sha1,
	&sasl_server_mech_external,
	&sasl_server_mech_cram_md5,
	&sasl_server_mech_plain,
	&sasl_server_mech_login,
	&sasl_server_mech_anonymous,
};

const struct sasl_server_mech *sasl_server_mech_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(sasl_server_mechs); i++) {
		if (strcasecmp(sasl_server_mechs[i]->name, name) == 0)
			return sasl_server_mechs[i];
	}
	return NULL;
}

const struct sasl_server_mech *const *
sasl_server_mechs_get(unsigned int *count_r)
{
	*count_r = N_ELEMENTS(sasl_server_mechs);
	return sasl_server_mechs;
}

const char *sasl_server_mech_get_name(const struct sasl_server_mech *mech)
{
	return mech->name;
}

enum sasl_mech_flags
sasl_server_mech_get_flags(const struct sasl_server_mech *mech)
{
	return mech->flags;
}

static const char *
sasl_server_mech_unusable_reason(const struct sasl_server_mech *mech,
				 const struct sasl_server_request_settings *set)
{
	if ((mech->flags & SASL_MECH_FLAG_CLEARTEXT) != 0 &&
	    !set->secured && !set->allow_cleartext)
		return "cleartext authentication is not allowed on an unsecured channel";
	if ((mech->flags & SASL_MECH_FLAG_CHANNEL_BINDING) != 0 &&
	    set->channel_bindings_count == 0)
		return "no channel binding available on this connection";
	if ((mech->flags & SASL_MECH_FLAG_EXTERNAL) != 0) {
		if (!set->secured)
			return "EXTERNAL needs a secured channel";
		if (set->tls_peer_identity == NULL ||
		    set->tls_peer_identity[0] == '\0')
			return "no verified client certificate";
	}
	return NULL;
}

bool sasl_server_mech_is_usable(const struct sasl_server_mech *mech,
				const struct sasl_server_request_settings *set)
{
	return sasl_server_mech_unusable_reason(mech, set) == NULL;
}

struct sasl_server_request *
sasl_server_request_create(const struct sasl_server_mech *mech,
			   const struct sasl_server_request_settings *set)
{
	pool_t pool = pool_alloconly_create("sasl server request", 1024);
	struct sasl_server_request *req = mech->alloc(pool);

	req->pool = pool;
	req->mech = mech;
	req->state = SASL_SERVER_STATE_INIT;
	req->set = *set;
	req->set.tls_peer_identity = p_strdup(pool, set->tls_peer_identity);
	req->set.realm = p_strdup(pool, set->realm);
	if (set->channel_bindings_count > 0) {
		struct sasl_channel_binding *cbs =
			p_new(pool, struct sasl_channel_binding,
			      set->channel_bindings_count);
		for (unsigned int i = 0; i < set->channel_bindings_count; i++) {
			const struct sasl_channel_binding *cb =
				&set->channel_bindings[i];
			cbs[i].type = p_strdup(pool, cb->type);
			cbs[i].data = p_memdup(pool, cb->data, cb->size);
			cbs[i].size = cb->size;
		}
		req->set.channel_bindings = cbs;
	} else {
		req->set.channel_bindings = NULL;
	}
	if (req->set.nonce_func == NULL)
		req->set.nonce_func = sasl_nonce_random;
	req->output = str_new(pool, 256);
	return req;
}

void sasl_server_request_destroy(struct sasl_server_request **_req)
{
	struct sasl_server_request *req = *_req;

	if (req == NULL)
		return;
	*_req = NULL;
	if (req->mech->wipe != NULL)
		req->mech->wipe(req);
	sasl_secret_free(req->pool, &req->password);
	/* challenges hold no secrets, but SCRAM's final output is a
	   signature: wipe it too rather than reason about each case */
	safe_memset(req->output->data, 0, req->output->alloc);
	pool_t pool = req->pool;
	pool_unref(&pool);
}

static enum sasl_server_result
sasl_server_request_finish(struct sasl_server_request *req,
			   enum sasl_server_result result,
			   const buffer_t **output_r, const char **error_r)
{
	*output_r = NULL;
	*error_r = NULL;
	switch (result) {
	case SASL_SERVER_RESULT_CONTINUE:
		i_assert(req->state == SASL_SERVER_STATE_INPUT);
		*output_r = req->output;
		break;
	case SASL_SERVER_RESULT_NEED_VERIFY:
		i_assert(req->state == SASL_SERVER_STATE_VERIFY);
		break;
	case SASL_SERVER_RESULT_NEED_CREDENTIALS:
		i_assert(req->state == SASL_SERVER_STATE_CREDENTIALS);
		break;
	case SASL_SERVER_RESULT_SUCCESS:
		i_assert(req->state == SASL_SERVER_STATE_DONE);
		if (req->have_output)
			*output_r = req->output;
		break;
	case SASL_SERVER_RESULT_FAILURE:
		i_assert(req->state == SASL_SERVER_STATE_DONE);
		i_assert(req->error != NULL);
		*error_r = req->error;
		break;
	}
	return result;
}

static void sasl_server_request_reset_output(struct sasl_server_request *req)
{
	str_truncate(req->output, 0);
	req->have_output = false;
}

enum sasl_server_result
sasl_server_request_start(struct sasl_server_request *req,
			  const void *initial_response, size_t size,
			  const buffer_t **output_r, const char **error_r)
{
	enum sasl_server_result ret;
	const char *reason;

	if (req->state != SASL_SERVER_STATE_INIT)
		i_panic("sasl_server_request_start() called twice");
	sasl_server_request_reset_output(req);

	reason = sasl_server_mech_unusable_reason(req->mech, &req->set);
	if (reason != NULL)
		ret = sasl_server_request_fail(req, "%s", reason);
	else if (initial_response != NULL && size > SASL_MAX_MESSAGE_SIZE)
		ret = sasl_server_request_fail(req,
			"initial response too long (%zu bytes)", size);
	else T_BEGIN {
		/* mechanisms parse on the data stack; what outlives the
		   call is copied into the request's pool */
		ret = req->mech->start(req, initial_response, size);
	} T_END;
	return sasl_server_request_finish(req, ret, output_r, error_r);
}

enum sasl_server_result
sasl_server_request_input(struct sasl_server_request *req, const void *data,
			  size_t size, const buffer_t **output_r,
			  const char **error_r)
{
	enum sasl_server_result ret;

	if (req->state != SASL_SERVER_STATE_INPUT)
		i_panic("sasl_server_request_input() called in state %d",
			req->state);
	sasl_server_request_reset_output(req);
	if (size > SASL_MAX_MESSAGE_SIZE) {
		ret = sasl_server_request_fail(req,
			"response too long (%zu bytes)", size);
	} else T_BEGIN {
		/* mechanisms may treat data as a pointer even when empty */
		if (data == NULL)
			data = "";
		ret = req->mech->input(req, data, size);
	} T_END;
	return sasl_server_request_finish(req, ret, output_r, error_r);
}

enum sasl_server_result
sasl_server_request_credentials(struct sasl_server_request *req,
				const struct sasl_credentials *creds,
				const buffer_t **output_r,
				const char **error_r)
{
	enum sasl_server_result ret;

	if (req->state != SASL_SERVER_STATE_CREDENTIALS)
		i_panic("sasl_server_request_credentials() called in state %d",
			req->state);
	sasl_server_request_reset_output(req);
	req->credentials_type = SASL_CREDENTIALS_NONE;
	T_BEGIN {
		ret = req->mech->credentials(req, creds);
	} T_END;
	return sasl_server_request_finish(req, ret, output_r, error_r);
}

enum sasl_server_result
sasl_server_request_verify_result(struct sasl_server_request *req, bool ok,
				  const buffer_t **output_r,
				  const char **error_r)
{
	enum sasl_server_result ret;

	if (req->state != SASL_SERVER_STATE_VERIFY)
		i_panic("sasl_server_request_verify_result() called in state %d",
			req->state);
	sasl_server_request_reset_output(req);
	sasl_secret_free(req->pool, &req->password);
	if (ok)
		ret = sasl_server_request_success(req, false);
	else
		ret = sasl_server_request_fail(req, "password mismatch");
	return sasl_server_request_finish(req, ret, output_r, error_r);
}

const struct sasl_server_mech *
sasl_server_request_get_mech(const struct sasl_server_request *req)
{
	return req->mech;
}

const char *
sasl_server_request_get_authcid(const struct sasl_server_request *req)
{
	return req->authcid;
}

const char *
sasl_server_request_get_authzid(const struct sasl_server_request *req)
{
	return req->authzid;
}

const char *
sasl_server_request_get_password(const struct sasl_server_request *req)
{
	i_assert(req->state == SASL_SERVER_STATE_VERIFY);
	return req->password;
}

enum sasl_credentials_type
sasl_server_request_get_credentials_type(const struct sasl_server_request *req)
{
	i_assert(req->state == SASL_SERVER_STATE_CREDENTIALS);
	return req->credentials_type;
}

const char *
sasl_server_request_get_channel_binding(const struct sasl_server_request *req)
{
	return req->cb_type;
}

const char *
sasl_server_request_get_anonymous_trace(const struct sasl_server_request *req)
{
	return req->anonymous_trace;
}

/* --- for mechanisms --- */

enum sasl_server_result
sasl_server_request_continue(struct sasl_server_request *req)
{
	req->state = SASL_SERVER_STATE_INPUT;
	return SASL_SERVER_RESULT_CONTINUE;
}

enum sasl_server_result
sasl_server_request_fail(struct sasl_server_request *req, const char *fmt,
			 ...)
{
	va_list args;

	va_start(args, fmt);
	req->error = p_strdup_vprintf(req->pool, fmt, args);
	va_end(args);
	req->state = SASL_SERVER_STATE_DONE;
	sasl_secret_free(req->pool, &req->password);
	str_truncate(req->output, 0);
	return SASL_SERVER_RESULT_FAILURE;
}

enum sasl_server_result
sasl_server_request_success(struct sasl_server_request *req,
			    bool with_output)
{
	req->state = SASL_SERVER_STATE_DONE;
	req->have_output = with_output;
	return SASL_SERVER_RESULT_SUCCESS;
}

enum sasl_server_result
sasl_server_request_need_verify(struct sasl_server_request *req,
				const unsigned char *password, size_t size)
{
	i_assert(req->authcid != NULL);
	i_assert(memchr(password, '\0', size) == NULL);
	req->password = p_strndup(req->pool, password, size);
	req->state = SASL_SERVER_STATE_VERIFY;
	return SASL_SERVER_RESULT_NEED_VERIFY;
}

enum sasl_server_result
sasl_server_request_need_credentials(struct sasl_server_request *req,
				     enum sasl_credentials_type type)
{
	i_assert(req->authcid != NULL);
	req->credentials_type = type;
	req->state = SASL_SERVER_STATE_CREDENTIALS;
	return SASL_SERVER_RESULT_NEED_CREDENTIALS;
}

void sasl_server_request_nonce(struct sasl_server_request *req,
			       string_t *dest)
{
	size_t pos = str_len(dest);

	req->set.nonce_func(dest, req->set.nonce_context);
	/* an injected generator that breaks the grammar is a bug, and
	   sending its nonce would make every exchange fail mysteriously */
	T_BEGIN {
		const char *nonce = t_strndup(str_c(dest) + pos,
					      str_len(dest) - pos);
		if (!sasl_nonce_is_valid(nonce))
			i_panic("SASL nonce generator returned an invalid nonce");
	} T_END;
}

const char *sasl_server_request_name(struct sasl_server_request *req,
				     const unsigned char *data, size_t size,
				     const char **error_r)
{
	if (size == 0) {
		*error_r = "empty";
		return NULL;
	}
	if (size > SASL_MAX_NAME_SIZE) {
		*error_r = "too long";
		return NULL;
	}
	if (!sasl_utf8_is_valid(data, size)) {
		*error_r = "not valid UTF-8";
		return NULL;
	}
	return p_strndup(req->pool, data, size);
}
