/* EXTERNAL (RFC 4422 appendix A): the identity is the one the TLS layer
   verified from the client certificate; the client's only message is the
   authorization identity it wants (empty: the certificate's own). */
#include "lib.h"
#include "sasl-server-private.h"

static struct sasl_server_request *mech_external_alloc(pool_t pool)
{
	return p_new(pool, struct sasl_server_request, 1);
}

static enum sasl_server_result
mech_external_input(struct sasl_server_request *req,
		    const unsigned char *data, size_t size)
{
	const char *error;

	if (size > 0) {
		req->authzid = sasl_server_request_name(req, data, size,
							&error);
		if (req->authzid == NULL)
			return sasl_server_request_fail(req,
				"EXTERNAL: authzid %s", error);
	}
	/* checked non-empty before start() */
	req->authcid = req->set.tls_peer_identity;
	return sasl_server_request_success(req, false);
}

static enum sasl_server_result
mech_external_start(struct sasl_server_request *req,
		    const unsigned char *data, size_t size)
{
	if (data == NULL)
		return sasl_server_request_continue(req);
	return mech_external_input(req, data, size);
}

const struct sasl_server_mech sasl_server_mech_external = {
	.name = "EXTERNAL",
	.flags = SASL_MECH_FLAG_EXTERNAL,
	.alloc = mech_external_alloc,
	.start = mech_external_start,
	.input = mech_external_input,
};
