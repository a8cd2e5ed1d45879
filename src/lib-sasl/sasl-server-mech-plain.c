/* PLAIN (RFC 4616): one client message, authzid NUL authcid NUL password.
   The password is handed to the owner to verify against the passdb. */
#include "lib.h"
#include "sasl-server-private.h"

static struct sasl_server_request *mech_plain_alloc(pool_t pool)
{
	return p_new(pool, struct sasl_server_request, 1);
}

static enum sasl_server_result
mech_plain_input(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	const unsigned char *nul1, *nul2;
	const char *error;

	nul1 = memchr(data, '\0', size);
	nul2 = nul1 == NULL ? NULL :
		memchr(nul1 + 1, '\0', size - (size_t)(nul1 + 1 - data));
	if (nul2 == NULL)
		return sasl_server_request_fail(req,
			"PLAIN: message has fewer than two NULs");
	/* the password must not hide a third NUL: the owner gets a C
	   string, and a truncated password must never verify */
	if (memchr(nul2 + 1, '\0', size - (size_t)(nul2 + 1 - data)) != NULL)
		return sasl_server_request_fail(req, "PLAIN: NUL in password");

	size_t authzid_size = (size_t)(nul1 - data);
	size_t authcid_size = (size_t)(nul2 - (nul1 + 1));
	size_t password_size = size - (size_t)(nul2 + 1 - data);
	if (authzid_size > 0) {
		req->authzid = sasl_server_request_name(req, data,
							authzid_size, &error);
		if (req->authzid == NULL)
			return sasl_server_request_fail(req,
				"PLAIN: authzid %s", error);
	}
	req->authcid = sasl_server_request_name(req, nul1 + 1, authcid_size,
						&error);
	if (req->authcid == NULL)
		return sasl_server_request_fail(req,
			"PLAIN: authcid %s", error);
	if (password_size == 0)
		return sasl_server_request_fail(req, "PLAIN: empty password");
	return sasl_server_request_need_verify(req, nul2 + 1, password_size);
}

static enum sasl_server_result
mech_plain_start(struct sasl_server_request *req, const unsigned char *data,
		 size_t size)
{
	if (data == NULL)
		return sasl_server_request_continue(req);
	return mech_plain_input(req, data, size);
}

const struct sasl_server_mech sasl_server_mech_plain = {
	.name = "PLAIN",
	.flags = SASL_MECH_FLAG_CLEARTEXT,
	.alloc = mech_plain_alloc,
	.start = mech_plain_start,
	.input = mech_plain_input,
};
