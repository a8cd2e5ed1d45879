/* LOGIN client: answers the server's two prompts with the user name and
   the password, whatever the prompts say (servers word them freely). */
#include "lib.h"
#include "sasl-client-private.h"

struct login_client {
	struct sasl_client client;
	unsigned int step;
};

static struct sasl_client *mech_login_alloc(pool_t pool)
{
	struct login_client *lclient = p_new(pool, struct login_client, 1);
	return &lclient->client;
}

static int mech_login_init(struct sasl_client *client, const char **error_r)
{
	if (client->set.authcid == NULL || client->set.authcid[0] == '\0') {
		*error_r = "no user name";
		return -1;
	}
	if (client->password == NULL || client->password[0] == '\0') {
		*error_r = "no password";
		return -1;
	}
	/* LOGIN has no field for it: silently dropping it would log in as
	   someone other than asked */
	if (client->set.authzid != NULL) {
		*error_r = "LOGIN cannot carry an authorization identity";
		return -1;
	}
	return 0;
}

static int mech_login_input(struct sasl_client *client,
			    const unsigned char *data ATTR_UNUSED,
			    size_t size ATTR_UNUSED, const char **error_r)
{
	struct login_client *lclient = (struct login_client *)client;

	switch (lclient->step++) {
	case 0:
		str_append(client->output, client->set.authcid);
		return 0;
	case 1:
		str_append(client->output, client->password);
		return 0;
	default:
		*error_r = "unexpected third challenge";
		return -1;
	}
}

static int mech_login_success(struct sasl_client *client,
			      const unsigned char *data, size_t size,
			      const char **error_r)
{
	struct login_client *lclient = (struct login_client *)client;

	if (lclient->step < 2) {
		*error_r = "server reported success before the password was sent";
		return -1;
	}
	if (data != NULL && size > 0) {
		*error_r = "unexpected additional data with success";
		return -1;
	}
	return 0;
}

const struct sasl_client_mech sasl_client_mech_login = {
	.name = "LOGIN",
	.flags = SASL_MECH_FLAG_CLEARTEXT | SASL_MECH_FLAG_SERVER_FIRST,
	.alloc = mech_login_alloc,
	.init = mech_login_init,
	.input = mech_login_input,
	.success = mech_login_success,
};
