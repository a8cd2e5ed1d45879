/* Client mechanisms other than SCRAM and CRAM-MD5 (tested with their
   vectors): message formats, settings checks, unexpected challenges. */
#include "test-lib-sasl.h"

static void test_client_registry(void)
{
	static const char *const names[] = {
		"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS",
		"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "EXTERNAL", "ANONYMOUS",
	};
	test_begin("client mechanism registry");
	for (unsigned int i = 0; i < N_ELEMENTS(names); i++) {
		const struct sasl_client_mech *mech = sasl_client_mech_find(names[i]);
		test_assert_idx(mech != NULL, i);
		test_assert_strcmp(sasl_client_mech_get_name(mech), names[i]);
		/* the same flags as the server's mechanism of that name */
		test_assert_idx(sasl_client_mech_get_flags(mech) ==
				sasl_server_mech_get_flags(sasl_server_mech_find(names[i])), i);
	}
	test_assert(sasl_client_mech_find("GSSAPI") == NULL);
	test_end();
}

static void test_client_plain(void)
{
	struct sasl_client_settings set = {
		.authcid = "admin", .authzid = "bob", .password = "secret",
	};
	const buffer_t *out;
	const char *error;

	test_begin("PLAIN client");
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find("PLAIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(out->used == 16 && memcmp(out->data, "bob\0admin\0secret", 16) == 0);
	test_assert(sasl_client_input(client, "x", 1, &out, &error) < 0);
	sasl_client_destroy(&client);
	test_assert(client == NULL);

	/* without SASL-IR: the empty challenge asks for the message */
	set.authzid = "";
	client = sasl_client_create(sasl_client_mech_find("PLAIN"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) == 0);
	test_assert(out == NULL);
	test_assert(sasl_client_input(client, "", 0, &out, &error) == 0);
	test_assert(out->used == 13 && memcmp(out->data, "\0admin\0secret", 13) == 0);
	test_assert(sasl_client_success(client, NULL, 0, &error) == 0);
	sasl_client_destroy(&client);

	/* success with data PLAIN never sends */
	client = sasl_client_create(sasl_client_mech_find("PLAIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(sasl_client_success(client, "x", 1, &error) < 0);
	sasl_client_destroy(&client);

	/* missing user name or password */
	set.password = "";
	client = sasl_client_create(sasl_client_mech_find("PLAIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	test_assert(strstr(error, "no password") != NULL);
	sasl_client_destroy(&client);
	set.password = "x";
	set.authcid = NULL;
	client = sasl_client_create(sasl_client_mech_find("PLAIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	sasl_client_destroy(&client);
	test_end();
}

static void test_client_login(void)
{
	struct sasl_client_settings set = {
		.authcid = "tim", .password = "tanstaaf",
	};
	const buffer_t *out;
	const char *error;

	test_begin("LOGIN client");
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find("LOGIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 0);
	test_assert(sasl_client_success(client, NULL, 0, &error) < 0);
	sasl_client_destroy(&client);

	client = sasl_client_create(sasl_client_mech_find("LOGIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 0);
	test_assert(sasl_client_input(client, "User Name", 9, &out, &error) == 0);
	test_assert_strcmp(test_sasl_output_str(out), "tim");
	test_assert(sasl_client_input(client, "Password:", 9, &out, &error) == 0);
	test_assert_strcmp(test_sasl_output_str(out), "tanstaaf");
	test_assert(sasl_client_input(client, "More?", 5, &out, &error) < 0);
	sasl_client_destroy(&client);

	set.authzid = "bob";
	client = sasl_client_create(sasl_client_mech_find("LOGIN"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) < 0);
	test_assert(strstr(error, "authorization identity") != NULL);
	sasl_client_destroy(&client);
	test_end();
}

static void test_client_external_anonymous(void)
{
	struct sasl_client_settings set = { .authzid = "bob" };
	const buffer_t *out;
	const char *error;

	test_begin("EXTERNAL and ANONYMOUS clients");
	struct sasl_client *client =
		sasl_client_create(sasl_client_mech_find("EXTERNAL"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out), "bob");
	test_assert(sasl_client_input(client, "x", 1, &out, &error) < 0);
	sasl_client_destroy(&client);

	set.authzid = NULL;
	client = sasl_client_create(sasl_client_mech_find("EXTERNAL"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert(out->used == 0);
	sasl_client_destroy(&client);

	set.authcid = "trace@example.org";
	client = sasl_client_create(sasl_client_mech_find("ANONYMOUS"), &set);
	test_assert(sasl_client_start(client, true, &out, &error) == 1);
	test_assert_strcmp(test_sasl_output_str(out), "trace@example.org");
	sasl_client_destroy(&client);

	/* a challenge too big is refused before parsing */
	client = sasl_client_create(sasl_client_mech_find("ANONYMOUS"), &set);
	test_assert(sasl_client_start(client, false, &out, &error) == 0);
	void *big = t_malloc(SASL_MAX_MESSAGE_SIZE + 1);
	test_assert(sasl_client_input(client, big, SASL_MAX_MESSAGE_SIZE + 1,
				      &out, &error) < 0);
	test_assert(strstr(error, "too long") != NULL);
	sasl_client_destroy(&client);
	test_end();
}

test_func_t *const test_sasl_client_tests[] = {
	test_client_registry,
	test_client_plain,
	test_client_login,
	test_client_external_anonymous,
	NULL
};
