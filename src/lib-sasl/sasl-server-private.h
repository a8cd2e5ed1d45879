/* The interface between the server request layer (sasl-server.c) and the
   mechanisms (sasl-server-mech-*.c). */
#ifndef COLUMBA_SASL_SERVER_PRIVATE_H
#define COLUMBA_SASL_SERVER_PRIVATE_H

#include "sasl-private.h"
#include "sasl-server.h"

enum sasl_server_state {
	SASL_SERVER_STATE_INIT,
	/* waiting for sasl_server_request_input() */
	SASL_SERVER_STATE_INPUT,
	SASL_SERVER_STATE_VERIFY,
	SASL_SERVER_STATE_CREDENTIALS,
	SASL_SERVER_STATE_DONE,
};

struct sasl_server_mech {
	const char *name;
	enum sasl_mech_flags flags;
	/* constant data of the mechanism (SCRAM: its hash) */
	const void *context;

	/* Allocate the request from pool: a struct that starts with a
	   struct sasl_server_request. */
	struct sasl_server_request *(*alloc)(pool_t pool);
	/* The first step; data is NULL without an initial response. */
	enum sasl_server_result (*start)(struct sasl_server_request *req,
					 const unsigned char *data,
					 size_t size);
	enum sasl_server_result (*input)(struct sasl_server_request *req,
					 const unsigned char *data,
					 size_t size);
	/* creds NULL = unknown user. NULL for mechanisms that never ask. */
	enum sasl_server_result (*credentials)(
		struct sasl_server_request *req,
		const struct sasl_credentials *creds);
	/* Wipe the mechanism's secrets; NULL if it keeps none. */
	void (*wipe)(struct sasl_server_request *req);
};

struct sasl_server_request {
	pool_t pool;
	const struct sasl_server_mech *mech;
	/* a copy: strings and channel-binding data live in pool */
	struct sasl_server_request_settings set;
	enum sasl_server_state state;

	string_t *output;
	bool have_output;
	const char *error;

	const char *authcid, *authzid;
	const char *cb_type;
	const char *anonymous_trace;
	/* NEED_VERIFY: wiped once the owner answers */
	char *password;
	enum sasl_credentials_type credentials_type;
};

extern const struct sasl_server_mech sasl_server_mech_plain;
extern const struct sasl_server_mech sasl_server_mech_login;
extern const struct sasl_server_mech sasl_server_mech_cram_md5;
extern const struct sasl_server_mech sasl_server_mech_scram_sha1;
extern const struct sasl_server_mech sasl_server_mech_scram_sha1_plus;
extern const struct sasl_server_mech sasl_server_mech_scram_sha256;
extern const struct sasl_server_mech sasl_server_mech_scram_sha256_plus;
extern const struct sasl_server_mech sasl_server_mech_external;
extern const struct sasl_server_mech sasl_server_mech_anonymous;

/* What a mechanism returns through. Each sets the request up for the
   result it names. */
/* Send req->output (which the mechanism filled) as a challenge. */
enum sasl_server_result
sasl_server_request_continue(struct sasl_server_request *req);
/* Fail with a reason for the log. Untrusted text in it must be passed
   through str_sanitize(). */
enum sasl_server_result
sasl_server_request_fail(struct sasl_server_request *req, const char *fmt,
			 ...) ATTR_FORMAT(2, 3);
/* Succeed; with_output: req->output holds additional data. */
enum sasl_server_result
sasl_server_request_success(struct sasl_server_request *req,
			    bool with_output);
/* Ask the owner to verify password (copied; size bytes, no NUL) for
   req->authcid. */
enum sasl_server_result
sasl_server_request_need_verify(struct sasl_server_request *req,
				const unsigned char *password, size_t size);
enum sasl_server_result
sasl_server_request_need_credentials(struct sasl_server_request *req,
				     enum sasl_credentials_type type);

/* Append a nonce from the settings' generator, checked to be printable
   ASCII without ','. */
void sasl_server_request_nonce(struct sasl_server_request *req,
			       string_t *dest);
/* A name the client sent (authcid, authzid) checked: not empty, at most
   SASL_MAX_NAME_SIZE, valid UTF-8 without NUL. Returns it on the request's
   pool, or NULL with *error_r. */
const char *sasl_server_request_name(struct sasl_server_request *req,
				     const unsigned char *data, size_t size,
				     const char **error_r);

#endif
