/* libFuzzer target for lib-sasl: arbitrary messages fed to a server
   request or a client of any mechanism, with an owner that knows one user.
   Input: byte 0 picks the mechanism, byte 1 the options (bit 0: play the
   client instead of the server, bit 1: the connection offers channel
   binding, bit 2: no initial response), then the messages, separated by
   "\n--\n". Whatever the bytes, each side must end in success or a failure
   with a reason, never crash, leak or read out of bounds. Linked with
   fuzz-replay.c instead of libFuzzer it replays files (or directories of
   them), so the corpus runs as a unit test. */
#include "lib.h"
#include "sasl-client.h"
#include "sasl-scram.h"
#include "sasl-server.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SEPARATOR "\n--\n"
#define FUZZ_MAX_MESSAGES 8

/* exchanges that ended in success: the replay reports them, so a corpus
   that stops reaching the success paths shows */
static unsigned int fuzz_successes;

static const char *const fuzz_mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "EXTERNAL", "ANONYMOUS",
};

static const struct sasl_channel_binding fuzz_cb = {
	.type = "tls-unique",
	.data = (const unsigned char *)"fuzz-binding",
	.size = 12,
};

struct fuzz_scram_keys {
	bool set;
	unsigned char stored[SASL_SCRAM_MAX_KEY_SIZE];
	unsigned char server[SASL_SCRAM_MAX_KEY_SIZE];
};

static void fuzz_nonce(string_t *dest, void *context)
{
	str_append(dest, context);
}

/* user/pencil, salt "saltsalt", 4096 iterations: derived once, since
   PBKDF2 per input would make fuzzing crawl */
static const struct fuzz_scram_keys *
fuzz_scram_keys(enum sasl_credentials_type type)
{
	static struct fuzz_scram_keys keys[2];
	struct fuzz_scram_keys *k =
		&keys[type == SASL_CREDENTIALS_SCRAM_SHA256 ? 1 : 0];
	const char *error;

	if (!k->set) {
		if (sasl_scram_generate_keys(type, "pencil",
					     (const unsigned char *)"saltsalt",
					     8, 4096, k->stored, k->server,
					     &error) < 0)
			i_panic("%s", error);
		k->set = true;
	}
	return k;
}

static enum sasl_server_result
fuzz_owner(struct sasl_server_request *req, enum sasl_server_result ret,
	   const buffer_t **out, const char **error)
{
	while (ret == SASL_SERVER_RESULT_NEED_VERIFY ||
	       ret == SASL_SERVER_RESULT_NEED_CREDENTIALS) {
		const char *authcid = sasl_server_request_get_authcid(req);
		bool known = strcmp(authcid, "user") == 0;

		if (ret == SASL_SERVER_RESULT_NEED_VERIFY) {
			bool ok = known && strcmp(sasl_server_request_get_password(req),
						  "pencil") == 0;
			ret = sasl_server_request_verify_result(req, ok, out, error);
			continue;
		}
		enum sasl_credentials_type type =
			sasl_server_request_get_credentials_type(req);
		struct sasl_credentials creds = { .type = type };
		if (!known) {
			ret = sasl_server_request_credentials(req, NULL, out, error);
			continue;
		}
		if (type == SASL_CREDENTIALS_CRAM_MD5) {
			creds.type = SASL_CREDENTIALS_PLAINTEXT;
			creds.password = "pencil";
		} else {
			const struct fuzz_scram_keys *k = fuzz_scram_keys(type);
			creds.salt = (const unsigned char *)"saltsalt";
			creds.salt_size = 8;
			creds.iterations = 4096;
			creds.stored_key = k->stored;
			creds.server_key = k->server;
			creds.key_size = sasl_scram_key_size(type);
		}
		ret = sasl_server_request_credentials(req, &creds, out, error);
	}
	return ret;
}

static void fuzz_server(const char *mech_name, uint8_t options,
			const char *const *msgs, const size_t *sizes,
			unsigned int count)
{
	struct sasl_server_request_settings set = {
		.secured = true,
		.tls_peer_identity = "peer",
		.channel_bindings = (options & 2) != 0 ? &fuzz_cb : NULL,
		.channel_bindings_count = (options & 2) != 0 ? 1 : 0,
		.nonce_func = fuzz_nonce,
		.nonce_context = (void *)"SNONCE",
	};
	struct sasl_server_request *req =
		sasl_server_request_create(sasl_server_mech_find(mech_name), &set);
	const buffer_t *out;
	const char *error;
	enum sasl_server_result ret;
	unsigned int i = 0;

	if ((options & 4) != 0 || count == 0)
		ret = sasl_server_request_start(req, NULL, 0, &out, &error);
	else {
		ret = sasl_server_request_start(req, msgs[0], sizes[0], &out,
						&error);
		i++;
	}
	for (;;) {
		ret = fuzz_owner(req, ret, &out, &error);
		if (ret != SASL_SERVER_RESULT_CONTINUE || i == count)
			break;
		i_assert(out != NULL);
		ret = sasl_server_request_input(req, msgs[i], sizes[i], &out,
						&error);
		i++;
	}
	if (ret == SASL_SERVER_RESULT_FAILURE)
		i_assert(error != NULL && out == NULL);
	if (ret == SASL_SERVER_RESULT_SUCCESS) {
		fuzz_successes++;
		i_assert(sasl_server_request_get_authcid(req) != NULL ||
			 strcmp(mech_name, "ANONYMOUS") == 0);
	}
	sasl_server_request_destroy(&req);
}

static void fuzz_client(const char *mech_name, uint8_t options,
			const char *const *msgs, const size_t *sizes,
			unsigned int count)
{
	struct sasl_client_settings set = {
		.authcid = "user",
		.password = "pencil",
		.channel_binding = (options & 2) != 0 ? &fuzz_cb : NULL,
		/* the default ceiling lets a server ask for seconds of
		   PBKDF2, which would only slow the fuzzer down */
		.scram_max_iterations = 8192,
		.nonce_func = fuzz_nonce,
		.nonce_context = (void *)"CNONCE",
	};
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find(mech_name), &set);
	const buffer_t *out;
	const char *error;

	if (sasl_client_start(client, (options & 4) == 0, &out, &error) >= 0) {
		unsigned int i;
		/* the last message is the server's success data */
		for (i = 0; i + 1 < count; i++) {
			if (sasl_client_input(client, msgs[i], sizes[i], &out,
					      &error) < 0)
				break;
			i_assert(out != NULL);
		}
		if (i + 1 >= count) {
			if (sasl_client_success(client,
					count == 0 ? NULL : msgs[count - 1],
					count == 0 ? 0 : sizes[count - 1],
					&error) < 0)
				i_assert(error != NULL);
			else
				fuzz_successes++;
		}
	}
	sasl_client_destroy(&client);
}

static void fuzz_one(const uint8_t *data, size_t size)
{
	const char *msgs[FUZZ_MAX_MESSAGES];
	size_t sizes[FUZZ_MAX_MESSAGES];
	unsigned int count = 0;

	const char *mech = fuzz_mechs[data[0] % N_ELEMENTS(fuzz_mechs)];
	uint8_t options = data[1];
	const char *p = (const char *)data + 2, *end = (const char *)data + size;
	while (count < FUZZ_MAX_MESSAGES) {
		const char *sep = memmem(p, (size_t)(end - p), FUZZ_SEPARATOR,
					 strlen(FUZZ_SEPARATOR));
		const char *msg_end = sep == NULL ? end : sep;
		/* a copy of exactly the message's size, so ASan sees any
		   read past it */
		char *msg = t_malloc((size_t)(msg_end - p) + 1);
		memcpy(msg, p, (size_t)(msg_end - p));
		msgs[count] = msg;
		sizes[count++] = (size_t)(msg_end - p);
		if (sep == NULL)
			break;
		p = sep + strlen(FUZZ_SEPARATOR);
	}
	if ((options & 1) != 0)
		fuzz_client(mech, options, msgs, sizes, count);
	else
		fuzz_server(mech, options, msgs, sizes, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 64 * 1024)
		return 0;
	T_BEGIN {
		fuzz_one(data, size);
	} T_END;
	return 0;
}
