/* The interface between the client layer (sasl-client.c) and the client
   mechanisms (sasl-client-mech-*.c). */
#ifndef COLUMBA_SASL_CLIENT_PRIVATE_H
#define COLUMBA_SASL_CLIENT_PRIVATE_H

#include "sasl-private.h"
#include "sasl-client.h"

struct sasl_client_mech {
	const char *name;
	enum sasl_mech_flags flags;
	const void *context;

	/* A struct starting with struct sasl_client. */
	struct sasl_client *(*alloc)(pool_t pool);
	/* Check the settings. 0 or -1 with *error_r. NULL: nothing to
	   check. */
	int (*init)(struct sasl_client *client, const char **error_r);
	/* The first client message, into client->output (client-first
	   mechanisms only). */
	int (*initial)(struct sasl_client *client, const char **error_r);
	/* A server challenge; the response goes to client->output. */
	int (*input)(struct sasl_client *client, const unsigned char *data,
		     size_t size, const char **error_r);
	/* The server's success. NULL: always satisfied. */
	int (*success)(struct sasl_client *client, const unsigned char *data,
		       size_t size, const char **error_r);
	void (*wipe)(struct sasl_client *client);
};

struct sasl_client {
	pool_t pool;
	const struct sasl_client_mech *mech;
	/* copied; password wiped at destroy */
	struct sasl_client_settings set;
	char *password;
	struct sasl_channel_binding cb;

	string_t *output;
	/* the client-first message has been produced */
	bool initial_sent;
	bool failed;
};

extern const struct sasl_client_mech sasl_client_mech_plain;
extern const struct sasl_client_mech sasl_client_mech_login;
extern const struct sasl_client_mech sasl_client_mech_cram_md5;
extern const struct sasl_client_mech sasl_client_mech_scram_sha1;
extern const struct sasl_client_mech sasl_client_mech_scram_sha1_plus;
extern const struct sasl_client_mech sasl_client_mech_scram_sha256;
extern const struct sasl_client_mech sasl_client_mech_scram_sha256_plus;
extern const struct sasl_client_mech sasl_client_mech_external;
extern const struct sasl_client_mech sasl_client_mech_anonymous;

#endif
