/* The client side of SASL, for the proxy logging in to a backend, for
   Submission relaying to an upstream MTA, and for tests. Like the server
   side it does no I/O: the caller carries the messages (decoded from
   base64) between it and the server.

     client = sasl_client_create(mech, &set);
     if (sasl_client_start(client, protocol_has_sasl_ir, &out, &error) > 0)
             send out as the initial response;
     for each challenge from the server:
             sasl_client_input(client, data, size, &out, &error); send out;
     on the server's success (with its additional data, if any):
             if (sasl_client_success(client, data, size, &error) < 0)
                     the server did not prove itself: treat as failure;
     sasl_client_destroy(&client); */
#ifndef COLUMBA_SASL_CLIENT_H
#define COLUMBA_SASL_CLIENT_H

#include "sasl-common.h"

struct sasl_client_mech;
struct sasl_client;

struct sasl_client_settings {
	/* Authentication identity (not used by EXTERNAL). */
	const char *authcid;
	/* Authorization identity to act as, NULL or "" for none. */
	const char *authzid;
	/* Not used by EXTERNAL and ANONYMOUS (whose trace is authcid). */
	const char *password;

	/* The channel binding of the TLS connection to the server, or NULL.
	   Required by -PLUS; with a non-PLUS SCRAM it makes the client say
	   'y' ("I could bind, the server did not offer to"), which a server
	   that does offer -PLUS treats as a downgrade. */
	const struct sasl_channel_binding *channel_binding;

	/* Bounds on the iteration count a SCRAM server may ask for; 0 =
	   SASL_SCRAM_MIN_ITERATIONS and SASL_SCRAM_MAX_ITERATIONS. */
	unsigned int scram_min_iterations, scram_max_iterations;

	/* SCRAM's client nonce; NULL = sasl_nonce_random. */
	sasl_nonce_func_t *nonce_func;
	void *nonce_context;
};

/* PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1(-PLUS), SCRAM-SHA-256(-PLUS),
   EXTERNAL, ANONYMOUS; case-insensitive. NULL if unknown. */
const struct sasl_client_mech *sasl_client_mech_find(const char *name);
const char *sasl_client_mech_get_name(const struct sasl_client_mech *mech);
enum sasl_mech_flags
sasl_client_mech_get_flags(const struct sasl_client_mech *mech);

/* Settings are copied (the password into memory that is wiped). */
struct sasl_client *
sasl_client_create(const struct sasl_client_mech *mech,
		   const struct sasl_client_settings *set);
/* Free, wiping secrets; sets *client to NULL. */
void sasl_client_destroy(struct sasl_client **client);

/* Begin. If initial_response_allowed (the protocol has SASL-IR) and the
   mechanism is client-first, returns 1 with the initial response in
   *output_r. Otherwise returns 0: send the command without one and give
   the server's first challenge (empty for client-first mechanisms) to
   sasl_client_input(). -1 with *error_r if the settings cannot work
   (missing password, -PLUS without channel binding, a user name that
   fails SASLprep). *output_r is valid until the next call. */
int sasl_client_start(struct sasl_client *client,
		      bool initial_response_allowed,
		      const buffer_t **output_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* A challenge from the server. Returns 0 with the response in *output_r
   (possibly empty), or -1 with *error_r: a malformed or hostile challenge
   (for SCRAM: a nonce not extending ours, an iteration count out of
   bounds, a wrong server signature); abort the exchange. */
int sasl_client_input(struct sasl_client *client, const void *data,
		      size_t size, const buffer_t **output_r,
		      const char **error_r) ATTR_WARN_UNUSED;
/* The server reported success, with its additional data (data NULL if
   none). Returns 0 if the client is satisfied, or -1 with *error_r if the
   server failed to authenticate itself (SCRAM: no or a wrong v=): the
   connection must then be treated as failed, not logged in. */
int sasl_client_success(struct sasl_client *client, const void *data,
			size_t size, const char **error_r) ATTR_WARN_UNUSED;

#endif
