/* A line-driven front end to lib-sasl for test-sasl-interop.py, which
   plays the other side with an independent implementation. Messages
   travel base64-encoded; "-" stands for "none" and "=" for an empty
   message. Not installed; for tests only.

     sasl-interop-helper server MECH [nonce=N] [cb=TYPE:HEX]...
     sasl-interop-helper client MECH USER PASSWORD [authzid=A] [nonce=N]
                         [cb=TYPE:HEX] [noir]
     sasl-interop-helper saslprep       (lines of hex in, results out) */
#include "lib.h"
#include "base64.h"
#include "sasl-client.h"
#include "sasl-saslprep.h"
#include "sasl-server.h"

#define LINE_MAX_SIZE (SASL_MAX_MESSAGE_SIZE * 2 + 256)

static const char *encode(const void *data, size_t size, bool present)
{
	if (!present)
		return "-";
	if (size == 0)
		return "=";
	return t_base64_encode(data, size);
}

static buffer_t *decode(const char *text)
{
	buffer_t *buf = t_str_new(256);
	const char *error;

	if (strcmp(text, "=") == 0)
		return buf;
	if (base64_decode(text, strlen(text), buf, &error) < 0)
		i_fatal("helper: bad base64 from the driver: %s", error);
	return buf;
}

static buffer_t *hex_decode(const char *hex)
{
	buffer_t *buf = t_str_new(64);
	size_t len = strlen(hex);

	if (len % 2 != 0)
		i_fatal("helper: bad hex");
	for (size_t i = 0; i < len; i += 2) {
		unsigned int byte;
		if (sscanf(hex + i, "%2x", &byte) != 1)
			i_fatal("helper: bad hex");
		buffer_append_c(buf, (unsigned char)byte);
	}
	return buf;
}

static const char *hex_encode(const void *data, size_t size)
{
	string_t *str = t_str_new(size * 2 + 1);
	for (size_t i = 0; i < size; i++)
		str_printfa(str, "%02x", ((const unsigned char *)data)[i]);
	return str_c(str);
}

static const char *read_line(void)
{
	static char line[LINE_MAX_SIZE];

	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return NULL;
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static void fixed_nonce(string_t *dest, void *context)
{
	str_append(dest, context);
}

static int parse_cb(const char *arg, struct sasl_channel_binding *cb_r)
{
	const char *colon = strchr(arg, ':');
	if (colon == NULL)
		return -1;
	cb_r->type = t_strndup(arg, (size_t)(colon - arg));
	buffer_t *data = hex_decode(colon + 1);
	cb_r->data = data->data;
	cb_r->size = data->used;
	return 0;
}

static int run_server(const char *mech_name, int argc, char **argv)
{
	const struct sasl_server_mech *mech = sasl_server_mech_find(mech_name);
	struct sasl_server_request_settings set = { .secured = true };
	struct sasl_channel_binding cbs[4];
	const buffer_t *out;
	const char *error, *line;
	enum sasl_server_result ret;

	if (mech == NULL)
		i_fatal("helper: unknown mechanism %s", mech_name);
	for (int i = 0; i < argc; i++) {
		if (str_begins(argv[i], "nonce=")) {
			set.nonce_func = fixed_nonce;
			set.nonce_context = argv[i] + 6;
		} else if (str_begins(argv[i], "cb=") &&
			   set.channel_bindings_count < N_ELEMENTS(cbs)) {
			if (parse_cb(argv[i] + 3, &cbs[set.channel_bindings_count]) < 0)
				i_fatal("helper: bad cb=");
			set.channel_bindings_count++;
			set.channel_bindings = cbs;
		} else {
			i_fatal("helper: unknown argument %s", argv[i]);
		}
	}
	struct sasl_server_request *req = sasl_server_request_create(mech, &set);
	/* "IR <msg>" or "IR -" */
	line = read_line();
	if (line == NULL || !str_begins(line, "IR "))
		i_fatal("helper: expected IR");
	if (strcmp(line + 3, "-") == 0) {
		ret = sasl_server_request_start(req, NULL, 0, &out, &error);
	} else {
		buffer_t *ir = decode(line + 3);
		ret = sasl_server_request_start(req, ir->data, ir->used, &out,
						&error);
	}
	for (;;) {
		switch (ret) {
		case SASL_SERVER_RESULT_CONTINUE:
			printf("CHALLENGE %s\n", encode(out->data, out->used, true));
			line = read_line();
			if (line == NULL || !str_begins(line, "RESPONSE "))
				i_fatal("helper: expected RESPONSE");
			buffer_t *resp = decode(line + 9);
			ret = sasl_server_request_input(req, resp->data,
							resp->used, &out,
							&error);
			break;
		case SASL_SERVER_RESULT_NEED_CREDENTIALS: {
			const char *authcid = sasl_server_request_get_authcid(req);
			printf("NEED_CREDENTIALS %s %s\n",
			       encode(authcid, strlen(authcid), true),
			       sasl_credentials_type_name(
				       sasl_server_request_get_credentials_type(req)));
			/* "CREDS salt iterations stored server", "CREDS_PLAIN
			   password", "CREDS_CRAM hex-context" or "NOUSER" */
			line = read_line();
			if (line == NULL)
				i_fatal("helper: expected CREDS");
			if (strcmp(line, "NOUSER") == 0) {
				ret = sasl_server_request_credentials(req, NULL,
								      &out,
								      &error);
				break;
			}
			if (str_begins(line, "CREDS_PLAIN ")) {
				buffer_t *pw = decode(line + 12);
				struct sasl_credentials creds = {
					.type = SASL_CREDENTIALS_PLAINTEXT,
					.password = str_c(pw),
				};
				ret = sasl_server_request_credentials(req, &creds,
								      &out,
								      &error);
				break;
			}
			if (str_begins(line, "CREDS_CRAM ")) {
				buffer_t *ctx = hex_decode(line + 11);
				if (ctx->used != 32)
					i_fatal("helper: bad CREDS_CRAM");
				struct sasl_credentials creds = {
					.type = SASL_CREDENTIALS_CRAM_MD5,
					.cram_md5_context = ctx->data,
				};
				ret = sasl_server_request_credentials(req, &creds,
								      &out,
								      &error);
				break;
			}
			const char *const *args = t_strsplit(line, " ");
			if (str_array_length(args) != 5 ||
			    strcmp(args[0], "CREDS") != 0)
				i_fatal("helper: bad CREDS");
			struct sasl_credentials creds = {
				.type = sasl_server_request_get_credentials_type(req),
			};
			buffer_t *salt = decode(args[1]);
			buffer_t *stored = decode(args[3]);
			buffer_t *server = decode(args[4]);
			if (str_to_uint(args[2], &creds.iterations) < 0 ||
			    stored->used != server->used)
				i_fatal("helper: bad CREDS");
			creds.salt = salt->data;
			creds.salt_size = salt->used;
			creds.stored_key = stored->data;
			creds.server_key = server->data;
			creds.key_size = stored->used;
			ret = sasl_server_request_credentials(req, &creds, &out,
							      &error);
			break;
		}
		case SASL_SERVER_RESULT_NEED_VERIFY: {
			const char *authcid = sasl_server_request_get_authcid(req);
			const char *password = sasl_server_request_get_password(req);
			printf("NEED_VERIFY %s %s\n",
			       encode(authcid, strlen(authcid), true),
			       encode(password, strlen(password), true));
			line = read_line();
			if (line == NULL || !str_begins(line, "VERIFY "))
				i_fatal("helper: expected VERIFY");
			ret = sasl_server_request_verify_result(
				req, strcmp(line + 7, "1") == 0, &out, &error);
			break;
		}
		case SASL_SERVER_RESULT_SUCCESS: {
			const char *authcid = sasl_server_request_get_authcid(req);
			const char *authzid = sasl_server_request_get_authzid(req);
			const char *cb = sasl_server_request_get_channel_binding(req);
			printf("SUCCESS %s %s %s %s\n",
			       encode(authcid, authcid == NULL ? 0 : strlen(authcid),
				      authcid != NULL),
			       encode(authzid, authzid == NULL ? 0 : strlen(authzid),
				      authzid != NULL),
			       cb == NULL ? "-" : cb,
			       encode(out == NULL ? NULL : out->data,
				      out == NULL ? 0 : out->used, out != NULL));
			sasl_server_request_destroy(&req);
			return 0;
		}
		case SASL_SERVER_RESULT_FAILURE:
			printf("FAILURE %s\n", error);
			sasl_server_request_destroy(&req);
			return 0;
		}
	}
}

static int run_client(const char *mech_name, int argc, char **argv)
{
	const struct sasl_client_mech *mech = sasl_client_mech_find(mech_name);
	struct sasl_client_settings set;
	struct sasl_channel_binding cb;
	bool ir = true;
	const buffer_t *out;
	const char *error, *line;
	int ret;

	if (mech == NULL || argc < 2)
		i_fatal("helper: usage: client MECH USER PASSWORD ...");
	memset(&set, 0, sizeof(set));
	set.authcid = argv[0];
	set.password = argv[1];
	for (int i = 2; i < argc; i++) {
		if (str_begins(argv[i], "authzid=")) {
			set.authzid = argv[i] + 8;
		} else if (str_begins(argv[i], "nonce=")) {
			set.nonce_func = fixed_nonce;
			set.nonce_context = argv[i] + 6;
		} else if (str_begins(argv[i], "cb=")) {
			if (parse_cb(argv[i] + 3, &cb) < 0)
				i_fatal("helper: bad cb=");
			set.channel_binding = &cb;
		} else if (strcmp(argv[i], "noir") == 0) {
			ir = false;
		} else {
			i_fatal("helper: unknown argument %s", argv[i]);
		}
	}
	struct sasl_client *client = sasl_client_create(mech, &set);
	ret = sasl_client_start(client, ir, &out, &error);
	if (ret < 0) {
		printf("ERROR %s\n", error);
		sasl_client_destroy(&client);
		return 0;
	}
	printf("START %s\n", ret > 0 ? encode(out->data, out->used, true) : "-");
	while ((line = read_line()) != NULL) {
		if (str_begins(line, "CHALLENGE ")) {
			buffer_t *chal = decode(line + 10);
			if (sasl_client_input(client, chal->data, chal->used,
					      &out, &error) < 0) {
				printf("ERROR %s\n", error);
				break;
			}
			printf("RESPONSE %s\n", encode(out->data, out->used, true));
		} else if (str_begins(line, "SUCCESS ")) {
			buffer_t *data = strcmp(line + 8, "-") == 0 ? NULL :
				decode(line + 8);
			if (sasl_client_success(client,
						data == NULL ? NULL : data->data,
						data == NULL ? 0 : data->used,
						&error) < 0)
				printf("ERROR %s\n", error);
			else
				printf("OK\n");
			break;
		} else {
			i_fatal("helper: unexpected line");
		}
	}
	sasl_client_destroy(&client);
	return 0;
}

static int run_saslprep(void)
{
	const char *line, *error;

	printf("COMPLETE %d\n", sasl_saslprep_is_complete() ? 1 : 0);
	while ((line = read_line()) != NULL) {
		T_BEGIN {
			buffer_t *in = hex_decode(line);
			string_t *out = t_str_new(64);
			if (memchr(in->data, '\0', in->used) != NULL)
				printf("ERR NUL\n");
			else if (sasl_saslprep(str_c(in), out, &error) < 0)
				printf("ERR %s\n", error);
			else
				printf("OK %s\n", hex_encode(out->data, out->used));
		} T_END;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc < 2)
		i_fatal("helper: usage: server|client|saslprep ...");
	T_BEGIN {
		if (strcmp(argv[1], "server") == 0 && argc >= 3)
			ret = run_server(argv[2], argc - 3, argv + 3);
		else if (strcmp(argv[1], "client") == 0 && argc >= 3)
			ret = run_client(argv[2], argc - 3, argv + 3);
		else if (strcmp(argv[1], "saslprep") == 0)
			ret = run_saslprep();
		else
			i_fatal("helper: unknown mode %s", argv[1]);
	} T_END;
	fflush(stdout);
	return ret;
}
