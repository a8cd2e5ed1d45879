/* EXTERNAL and ANONYMOUS clients: one message (the authzid, or the trace)
   and nothing to verify. */
#include "lib.h"
#include "sasl-client-private.h"

static struct sasl_client *mech_single_alloc(pool_t pool)
{
	return p_new(pool, struct sasl_client, 1);
}

static int mech_external_initial(struct sasl_client *client,
				 const char **error_r ATTR_UNUSED)
{
	if (client->set.authzid != NULL)
		str_append(client->output, client->set.authzid);
	return 0;
}

static int mech_anonymous_initial(struct sasl_client *client,
				  const char **error_r ATTR_UNUSED)
{
	/* the trace: RFC 4505 suggests an e-mail address or a token */
	if (client->set.authcid != NULL)
		str_append(client->output, client->set.authcid);
	return 0;
}

static int mech_single_input(struct sasl_client *client ATTR_UNUSED,
			     const unsigned char *data ATTR_UNUSED,
			     size_t size ATTR_UNUSED, const char **error_r)
{
	*error_r = "unexpected challenge after the only message";
	return -1;
}

const struct sasl_client_mech sasl_client_mech_external = {
	.name = "EXTERNAL",
	.flags = SASL_MECH_FLAG_EXTERNAL,
	.alloc = mech_single_alloc,
	.initial = mech_external_initial,
	.input = mech_single_input,
};

const struct sasl_client_mech sasl_client_mech_anonymous = {
	.name = "ANONYMOUS",
	.flags = SASL_MECH_FLAG_ANONYMOUS,
	.alloc = mech_single_alloc,
	.initial = mech_anonymous_initial,
	.input = mech_single_input,
};
