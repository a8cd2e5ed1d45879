/* The server side of SASL (RFC 4422) as state machines without I/O. The
   auth process owns each request: it feeds the client's messages in
   (already base64-decoded: a bad encoding is the protocol layer's error,
   since IMAP answers it with BAD, SMTP with 501), sends the challenges the
   request returns, and when a request needs a password checked or
   credentials looked up, does that however slowly it likes and calls the
   request back. Nothing here blocks or allocates outside the request's
   pool.

     req = sasl_server_request_create(mech, &set);
     ret = sasl_server_request_start(req, initial_response, size, &out, &error);
     while (ret == SASL_SERVER_RESULT_CONTINUE) {
             send out as a challenge; read the response;
             ret = sasl_server_request_input(req, data, size, &out, &error);
     }
     NEED_VERIFY: verify sasl_server_request_get_password() for
       sasl_server_request_get_authcid(), then
       ret = sasl_server_request_verify_result(req, ok, &out, &error);
     NEED_CREDENTIALS: look up sasl_server_request_get_credentials_type()
       for the authcid, then
       ret = sasl_server_request_credentials(req, &creds or NULL, &out, &error);
     SUCCESS: the authcid authenticated; the owner decides whether it may
       act as the authzid (master-user logins) -- the library never does.
       out, when not NULL, is "additional data with success" (SCRAM's
       v=...): send it with the success where the protocol can, otherwise
       as a last challenge whose response must be empty (RFC 4422 section
       5, IMAP/POP3/SMTP all work that way).
     FAILURE: error says why, for the log. It never holds the password.
     sasl_server_request_destroy(&req);

   Calling a function the request's state does not expect (input while a
   lookup is pending, anything after SUCCESS or FAILURE) is a bug in the
   owner and panics. */
#ifndef COLUMBA_SASL_SERVER_H
#define COLUMBA_SASL_SERVER_H

#include "sasl-common.h"

struct sasl_server_mech;
struct sasl_server_request;

enum sasl_server_result {
	/* Send *output_r (possibly empty) as a challenge and pass the
	   client's response to sasl_server_request_input(). */
	SASL_SERVER_RESULT_CONTINUE,
	/* Verify the plaintext password (PLAIN, LOGIN) and call
	   sasl_server_request_verify_result(). */
	SASL_SERVER_RESULT_NEED_VERIFY,
	/* Look up credentials of sasl_server_request_get_credentials_type()
	   and call sasl_server_request_credentials(). */
	SASL_SERVER_RESULT_NEED_CREDENTIALS,
	SASL_SERVER_RESULT_SUCCESS,
	SASL_SERVER_RESULT_FAILURE,
};

struct sasl_server_request_settings {
	/* The channel is protected (TLS, or a connection the admin trusts
	   such as a local socket). */
	bool secured;
	/* Let cleartext mechanisms (PLAIN, LOGIN) run on an unsecured
	   channel (Dovecot's auth_allow_cleartext). */
	bool allow_cleartext;

	/* Channel bindings of this connection, for SCRAM-*-PLUS. Give them
	   exactly when the -PLUS mechanisms are advertised on this
	   connection: their presence is what tells a SCRAM request that the
	   server supports channel binding, so that a client saying 'y'
	   ("I could bind, but the server seems unable to") reveals a
	   downgrade (RFC 5802 section 6). */
	const struct sasl_channel_binding *channel_bindings;
	unsigned int channel_bindings_count;

	/* The identity of the verified TLS client certificate, for
	   EXTERNAL; NULL if the client sent none or it did not verify. */
	const char *tls_peer_identity;

	/* The local realm or host name; CRAM-MD5's challenge names it
	   (RFC 2195: "<nonce@host>"). NULL = "localhost". */
	const char *realm;

	/* Lowest SCRAM iteration count accepted in stored credentials;
	   0 = SASL_SCRAM_MIN_ITERATIONS. */
	unsigned int scram_min_iterations;

	/* Nonce generator (SCRAM's server nonce, CRAM-MD5's challenge);
	   NULL = sasl_nonce_random. */
	sasl_nonce_func_t *nonce_func;
	void *nonce_context;
};

/* --- the mechanism registry --- */

/* A mechanism by its SASL name (case-insensitive), or NULL if unknown.
   Known: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-1-PLUS,
   SCRAM-SHA-256, SCRAM-SHA-256-PLUS, EXTERNAL, ANONYMOUS. Which of them a
   server offers is the auth process's setting; ANONYMOUS carries
   SASL_MECH_FLAG_ANONYMOUS so it is never on by accident. */
const struct sasl_server_mech *sasl_server_mech_find(const char *name);
/* All known mechanisms, strongest first. */
const struct sasl_server_mech *const *
sasl_server_mechs_get(unsigned int *count_r);
const char *sasl_server_mech_get_name(const struct sasl_server_mech *mech);
enum sasl_mech_flags
sasl_server_mech_get_flags(const struct sasl_server_mech *mech);
/* Whether mech can succeed on a connection with these settings: -PLUS
   needs channel-binding data, EXTERNAL a verified certificate, cleartext
   mechanisms a secured channel or allow_cleartext. For building the
   advertised list; a request for an unusable mechanism fails anyway. */
bool sasl_server_mech_is_usable(const struct sasl_server_mech *mech,
				const struct sasl_server_request_settings *set);

/* --- requests --- */

/* Start an authentication with mech. The settings (strings, channel
   binding data) are copied. Never fails: a mechanism that cannot run here
   fails at sasl_server_request_start(). */
struct sasl_server_request *
sasl_server_request_create(const struct sasl_server_mech *mech,
			   const struct sasl_server_request_settings *set);
/* Free the request, wiping every secret it held; sets *req to NULL. May be
   called in any state (the client cancelled, the connection dropped). */
void sasl_server_request_destroy(struct sasl_server_request **req);

/* The first step. initial_response is the client's initial response
   (SASL-IR), or NULL when the client sent none; an empty initial response
   is a non-NULL pointer with size 0. A server-first mechanism given an
   initial response fails (RFC 4422 section 5), except LOGIN, which takes
   it as the user name as clients have long sent it.
   *output_r: CONTINUE's challenge or SUCCESS's additional data (NULL if
   none), owned by the request and valid until the next call on it.
   *error_r: FAILURE's reason, valid until the request is destroyed. */
enum sasl_server_result
sasl_server_request_start(struct sasl_server_request *req,
			  const void *initial_response, size_t size,
			  const buffer_t **output_r, const char **error_r);
/* The client's response to the last challenge. Same outputs. */
enum sasl_server_result
sasl_server_request_input(struct sasl_server_request *req, const void *data,
			  size_t size, const buffer_t **output_r,
			  const char **error_r);
/* Answer NEED_CREDENTIALS. creds NULL means the user does not exist (or
   has no credentials of that kind): CRAM-MD5 fails at once; SCRAM goes on
   with invented salt and keys and fails at the proof, so that the
   exchange does not tell who exists. CRAM-MD5 also accepts
   SASL_CREDENTIALS_PLAINTEXT; SCRAM needs its own kind (derive it with
   sasl_scram_generate_keys(), off the event loop). */
enum sasl_server_result
sasl_server_request_credentials(struct sasl_server_request *req,
				const struct sasl_credentials *creds,
				const buffer_t **output_r,
				const char **error_r);
/* Answer NEED_VERIFY: ok is whether the password matched. The request
   wipes its copy of the password here. */
enum sasl_server_result
sasl_server_request_verify_result(struct sasl_server_request *req, bool ok,
				  const buffer_t **output_r,
				  const char **error_r);

const struct sasl_server_mech *
sasl_server_request_get_mech(const struct sasl_server_request *req);
/* The authentication identity the client claims (after NEED_* or SUCCESS;
   for SCRAM it is SASLprep'd, for EXTERNAL the certificate's identity).
   NULL before it is known, and for ANONYMOUS. */
const char *
sasl_server_request_get_authcid(const struct sasl_server_request *req);
/* The authorization identity the client asked for (PLAIN's authzid,
   SCRAM's a=, EXTERNAL's message), or NULL if it asked for none. */
const char *
sasl_server_request_get_authzid(const struct sasl_server_request *req);
/* NEED_VERIFY only: the password to verify (NUL-free, any bytes: old
   clients send Latin-1 and stored hashes were made from those bytes). */
const char *
sasl_server_request_get_password(const struct sasl_server_request *req);
/* NEED_CREDENTIALS only: what to look up. */
enum sasl_credentials_type
sasl_server_request_get_credentials_type(const struct sasl_server_request *req);
/* The channel-binding type the exchange bound to, or NULL. */
const char *
sasl_server_request_get_channel_binding(const struct sasl_server_request *req);
/* ANONYMOUS after SUCCESS: the client's trace string ("" if none). */
const char *
sasl_server_request_get_anonymous_trace(const struct sasl_server_request *req);

#endif
