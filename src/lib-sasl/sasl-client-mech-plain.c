/* PLAIN client (RFC 4616): authzid NUL authcid NUL password, once. */
#include "lib.h"
#include "sasl-client-private.h"

static struct sasl_client *mech_plain_alloc(pool_t pool)
{
	return p_new(pool, struct sasl_client, 1);
}

static int mech_plain_init(struct sasl_client *client, const char **error_r)
{
	if (client->set.authcid == NULL || client->set.authcid[0] == '\0') {
		*error_r = "no user name";
		return -1;
	}
	if (client->password == NULL || client->password[0] == '\0') {
		*error_r = "no password";
		return -1;
	}
	return 0;
}

static int mech_plain_initial(struct sasl_client *client,
			      const char **error_r ATTR_UNUSED)
{
	if (client->set.authzid != NULL)
		str_append(client->output, client->set.authzid);
	str_append_c(client->output, '\0');
	str_append(client->output, client->set.authcid);
	str_append_c(client->output, '\0');
	str_append(client->output, client->password);
	return 0;
}

static int mech_plain_input(struct sasl_client *client ATTR_UNUSED,
			    const unsigned char *data ATTR_UNUSED,
			    size_t size ATTR_UNUSED, const char **error_r)
{
	*error_r = "unexpected challenge after the credentials";
	return -1;
}

const struct sasl_client_mech sasl_client_mech_plain = {
	.name = "PLAIN",
	.flags = SASL_MECH_FLAG_CLEARTEXT,
	.alloc = mech_plain_alloc,
	.init = mech_plain_init,
	.initial = mech_plain_initial,
	.input = mech_plain_input,
};
