/* CRAM-MD5 client (RFC 2195): "user hex(HMAC-MD5(password, challenge))". */
#include "lib.h"
#include "sasl-client-private.h"
#include "sasl-cram-md5.h"

struct cram_md5_client {
	struct sasl_client client;
	bool answered;
};

static struct sasl_client *mech_cram_md5_alloc(pool_t pool)
{
	struct cram_md5_client *cclient =
		p_new(pool, struct cram_md5_client, 1);
	return &cclient->client;
}

static int mech_cram_md5_init(struct sasl_client *client,
			      const char **error_r)
{
	if (client->set.authcid == NULL || client->set.authcid[0] == '\0') {
		*error_r = "no user name";
		return -1;
	}
	if (client->password == NULL || client->password[0] == '\0') {
		*error_r = "no password";
		return -1;
	}
	if (client->set.authzid != NULL) {
		*error_r = "CRAM-MD5 cannot carry an authorization identity";
		return -1;
	}
	return 0;
}

static int mech_cram_md5_input(struct sasl_client *client,
			       const unsigned char *data, size_t size,
			       const char **error_r)
{
	struct cram_md5_client *cclient = (struct cram_md5_client *)client;
	unsigned char digest[SASL_CRAM_MD5_DIGEST_SIZE];
	static const char hex[] = "0123456789abcdef";

	if (cclient->answered) {
		*error_r = "unexpected second challenge";
		return -1;
	}
	if (size == 0) {
		*error_r = "empty challenge";
		return -1;
	}
	sasl_cram_md5_digest(client->password, data, size, digest);
	str_append(client->output, client->set.authcid);
	str_append_c(client->output, ' ');
	for (unsigned int i = 0; i < sizeof(digest); i++) {
		str_append_c(client->output, hex[digest[i] >> 4]);
		str_append_c(client->output, hex[digest[i] & 0x0f]);
	}
	safe_memset(digest, 0, sizeof(digest));
	cclient->answered = true;
	return 0;
}

static int mech_cram_md5_success(struct sasl_client *client,
				 const unsigned char *data, size_t size,
				 const char **error_r)
{
	struct cram_md5_client *cclient = (struct cram_md5_client *)client;

	if (!cclient->answered) {
		*error_r = "server reported success before the challenge was answered";
		return -1;
	}
	if (data != NULL && size > 0) {
		*error_r = "unexpected additional data with success";
		return -1;
	}
	return 0;
}

const struct sasl_client_mech sasl_client_mech_cram_md5 = {
	.name = "CRAM-MD5",
	.flags = SASL_MECH_FLAG_SERVER_FIRST,
	.alloc = mech_cram_md5_alloc,
	.init = mech_cram_md5_init,
	.input = mech_cram_md5_input,
	.success = mech_cram_md5_success,
};
