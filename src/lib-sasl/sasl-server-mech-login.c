/* LOGIN (draft-murchison-sasl-login): the server prompts "Username:" and
   "Password:", the client answers each. Obsolete but still what many
   clients use; the password goes to the owner as with PLAIN. */
#include "lib.h"
#include "sasl-server-private.h"

struct login_request {
	struct sasl_server_request req;
	bool have_username;
};

static struct sasl_server_request *mech_login_alloc(pool_t pool)
{
	struct login_request *lreq = p_new(pool, struct login_request, 1);
	return &lreq->req;
}

static enum sasl_server_result
mech_login_username(struct sasl_server_request *req,
		    const unsigned char *data, size_t size)
{
	struct login_request *lreq = (struct login_request *)req;
	const char *error;

	req->authcid = sasl_server_request_name(req, data, size, &error);
	if (req->authcid == NULL)
		return sasl_server_request_fail(req,
			"LOGIN: user name %s", error);
	lreq->have_username = true;
	/* the draft's prompt text; clients ignore it but some log it */
	str_append(req->output, "Password:");
	return sasl_server_request_continue(req);
}

static enum sasl_server_result
mech_login_input(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	struct login_request *lreq = (struct login_request *)req;

	if (!lreq->have_username)
		return mech_login_username(req, data, size);
	if (size == 0)
		return sasl_server_request_fail(req, "LOGIN: empty password");
	if (memchr(data, '\0', size) != NULL)
		return sasl_server_request_fail(req, "LOGIN: NUL in password");
	return sasl_server_request_need_verify(req, data, size);
}

static enum sasl_server_result
mech_login_start(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	/* The draft makes LOGIN server-first, but clients using SASL-IR
	   send the user name as the initial response, and refusing that
	   would lock them out; an empty one carries nothing. */
	if (data != NULL && size > 0)
		return mech_login_username(req, data, size);
	str_append(req->output, "Username:");
	return sasl_server_request_continue(req);
}

const struct sasl_server_mech sasl_server_mech_login = {
	.name = "LOGIN",
	.flags = SASL_MECH_FLAG_CLEARTEXT | SASL_MECH_FLAG_SERVER_FIRST,
	.alloc = mech_login_alloc,
	.start = mech_login_start,
	.input = mech_login_input,
};
