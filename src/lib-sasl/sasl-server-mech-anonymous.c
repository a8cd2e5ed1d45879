/* ANONYMOUS (RFC 4505): the client sends optional trace information and
   is let in as no one. Whether that is allowed, and as which local user,
   is the owner's decision; here only the trace is checked. */
#include "lib.h"
#include "sasl-server-private.h"
#include "sasl-saslprep.h"

/* RFC 4505: a token is at most 255 characters */
#define ANONYMOUS_TRACE_MAX_CHARS 255

static struct sasl_server_request *mech_anonymous_alloc(pool_t pool)
{
	return p_new(pool, struct sasl_server_request, 1);
}

static enum sasl_server_result
mech_anonymous_input(struct sasl_server_request *req,
		     const unsigned char *data, size_t size)
{
	unsigned int chars = 0;
	const char *error;

	if (sasl_trace_check(data, size, &error) < 0)
		return sasl_server_request_fail(req,
			"ANONYMOUS: trace: %s", error);
	for (size_t i = 0; i < size; i++) {
		/* count characters, not bytes: skip continuation bytes */
		if ((data[i] & 0xc0) != 0x80)
			chars++;
	}
	if (chars > ANONYMOUS_TRACE_MAX_CHARS)
		return sasl_server_request_fail(req,
			"ANONYMOUS: trace longer than 255 characters");
	req->anonymous_trace = p_strndup(req->pool, data, size);
	return sasl_server_request_success(req, false);
}

static enum sasl_server_result
mech_anonymous_start(struct sasl_server_request *req,
		     const unsigned char *data, size_t size)
{
	if (data == NULL)
		return sasl_server_request_continue(req);
	return mech_anonymous_input(req, data, size);
}

const struct sasl_server_mech sasl_server_mech_anonymous = {
	.name = "ANONYMOUS",
	.flags = SASL_MECH_FLAG_ANONYMOUS,
	.alloc = mech_anonymous_alloc,
	.start = mech_anonymous_start,
	.input = mech_anonymous_input,
};
