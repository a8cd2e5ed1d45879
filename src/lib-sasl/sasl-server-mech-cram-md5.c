/* CRAM-MD5 (RFC 2195): the server sends "<nonce@host>", the client answers
   "user HMAC-MD5(password, challenge) in hex". The owner supplies the
   stored HMAC context or the plaintext password; the digest is compared
   here. */
#include "lib.h"
#include "sasl-server-private.h"
#include "sasl-cram-md5.h"

struct cram_md5_request {
	struct sasl_server_request req;
	const char *challenge;
	unsigned char digest[SASL_CRAM_MD5_DIGEST_SIZE];
};

static struct sasl_server_request *mech_cram_md5_alloc(pool_t pool)
{
	struct cram_md5_request *creq =
		p_new(pool, struct cram_md5_request, 1);
	return &creq->req;
}

static enum sasl_server_result
mech_cram_md5_start(struct sasl_server_request *req,
		    const unsigned char *data, size_t size ATTR_UNUSED)
{
	struct cram_md5_request *creq = (struct cram_md5_request *)req;

	/* RFC 4422 section 5: an initial response to a server-first
	   mechanism fails the exchange, even an empty one */
	if (data != NULL)
		return sasl_server_request_fail(req,
			"CRAM-MD5 does not take an initial response");

	/* RFC 2195 uses an RFC 822 msg-id, "<unique@host>"; clients only
	   HMAC it, so the form matters for looks, the nonce for security */
	str_append_c(req->output, '<');
	sasl_server_request_nonce(req, req->output);
	str_printfa(req->output, "@%s>",
		    req->set.realm != NULL ? req->set.realm : "localhost");
	creq->challenge = p_strdup(req->pool, str_c(req->output));
	return sasl_server_request_continue(req);
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	/* RFC 2195 shows lowercase; uppercase carries the same digest and
	   refusing it would gain nothing */
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static enum sasl_server_result
mech_cram_md5_input(struct sasl_server_request *req,
		    const unsigned char *data, size_t size)
{
	struct cram_md5_request *creq = (struct cram_md5_request *)req;
	const unsigned char *space = NULL;
	const char *error;

	/* The user name may itself contain spaces; the digest cannot, so
	   the last space separates them. */
	for (size_t i = size; i > 0; i--) {
		if (data[i - 1] == ' ') {
			space = data + i - 1;
			break;
		}
	}
	if (space == NULL)
		return sasl_server_request_fail(req,
			"CRAM-MD5: no space in response");
	const unsigned char *hex = space + 1;
	size_t hex_size = size - (size_t)(hex - data);
	if (hex_size != SASL_CRAM_MD5_DIGEST_SIZE * 2)
		return sasl_server_request_fail(req,
			"CRAM-MD5: digest is not 32 hex digits");
	for (unsigned int i = 0; i < SASL_CRAM_MD5_DIGEST_SIZE; i++) {
		int hi = hex_digit(hex[i * 2]), lo = hex_digit(hex[i * 2 + 1]);
		if (hi < 0 || lo < 0)
			return sasl_server_request_fail(req,
				"CRAM-MD5: digest is not 32 hex digits");
		creq->digest[i] = (unsigned char)((hi << 4) | lo);
	}
	req->authcid = sasl_server_request_name(req, data,
						(size_t)(space - data), &error);
	if (req->authcid == NULL)
		return sasl_server_request_fail(req,
			"CRAM-MD5: user name %s", error);
	return sasl_server_request_need_credentials(req,
						    SASL_CREDENTIALS_CRAM_MD5);
}

static enum sasl_server_result
mech_cram_md5_credentials(struct sasl_server_request *req,
			  const struct sasl_credentials *creds)
{
	struct cram_md5_request *creq = (struct cram_md5_request *)req;
	unsigned char expected[SASL_CRAM_MD5_DIGEST_SIZE];
	bool ok;

	if (creds == NULL)
		return sasl_server_request_fail(req, "CRAM-MD5: unknown user");
	switch (creds->type) {
	case SASL_CREDENTIALS_CRAM_MD5:
		i_assert(creds->cram_md5_context != NULL);
		sasl_cram_md5_digest_context(creds->cram_md5_context,
					     creq->challenge,
					     strlen(creq->challenge), expected);
		break;
	case SASL_CREDENTIALS_PLAINTEXT:
		i_assert(creds->password != NULL);
		sasl_cram_md5_digest(creds->password, creq->challenge,
				     strlen(creq->challenge), expected);
		break;
	default:
		return sasl_server_request_fail(req,
			"CRAM-MD5: cannot use %s credentials",
			sasl_credentials_type_name(creds->type));
	}
	ok = sasl_mem_equals_timing_safe(expected, creq->digest,
					 sizeof(expected));
	safe_memset(expected, 0, sizeof(expected));
	if (!ok)
		return sasl_server_request_fail(req,
			"CRAM-MD5: digest mismatch (wrong password)");
	return sasl_server_request_success(req, false);
}

static void mech_cram_md5_wipe(struct sasl_server_request *req)
{
	struct cram_md5_request *creq = (struct cram_md5_request *)req;
	safe_memset(creq->digest, 0, sizeof(creq->digest));
}

const struct sasl_server_mech sasl_server_mech_cram_md5 = {
	.name = "CRAM-MD5",
	.flags = SASL_MECH_FLAG_SERVER_FIRST,
	.alloc = mech_cram_md5_alloc,
	.start = mech_cram_md5_start,
	.input = mech_cram_md5_input,
	.credentials = mech_cram_md5_credentials,
	.wipe = mech_cram_md5_wipe,
};
