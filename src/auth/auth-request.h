/* One authentication: a SASL exchange driven by an auth client's AUTH and
   CONT lines, the passdb lookups it needs, password checks in the worker
   pool, the policy (cleartext, allow_nets, nologin) and the failure delay.
   The request writes its protocol lines (CONT, OK, FAIL) through its
   owner's callback. */
#ifndef COLUMBA_AUTH_REQUEST_H
#define COLUMBA_AUTH_REQUEST_H

#include "lib.h"

struct sasl_server_mech;
struct sasl_channel_binding;
struct auth_request;

/* What the AUTH line said about the connection it authenticates. Strings
   are copied. */
struct auth_request_params {
	const char *service;
	const char *local_ip, *remote_ip;
	unsigned int local_port, remote_port;
	const char *session;
	/* the client's channel is TLS or otherwise trusted ("secured") */
	bool secured;
	/* valid-client-cert: the TLS client certificate verified */
	bool valid_client_cert;
	/* cert_username: the identity from that certificate (EXTERNAL) */
	const char *cert_username;
	/* no-penalty: the client applies its own penalty */
	bool no_penalty;
	/* nologin: the client only wants to know if the password is right
	   (Postfix): nothing changes here, but it is logged */
	bool nologin;
	/* cbind_<type>=: the TLS channel bindings of the client's
	   connection (protocol 1.3). The auth client sends them exactly
	   when it offers the -PLUS mechanisms on that connection, so their
	   presence also tells SCRAM that the server could have bound (a
	   client's 'y' flag is then a downgrade). Up to
	   AUTH_REQUEST_MAX_CHANNEL_BINDINGS; data is copied. */
	const struct sasl_channel_binding *channel_bindings;
	unsigned int channel_bindings_count;
};
#define AUTH_REQUEST_MAX_CHANNEL_BINDINGS 4

/* A reply line for the auth client, without the LF. finished: it is the
   last one (OK or FAIL); the owner forgets the request after this call
   (it must call auth_request_unref()). */
typedef void auth_request_reply_callback_t(struct auth_request *req,
					   const char *line, bool finished,
					   void *context);

struct auth_request *
auth_request_new(unsigned int id, const struct sasl_server_mech *mech,
		 const struct auth_request_params *params,
		 auth_request_reply_callback_t *callback, void *context);
/* Drop the owner's reference; sets *req to NULL. A request that is still
   running (a lookup or a hash in a worker) is cancelled: no callback
   follows, and it is freed when what runs ends. */
void auth_request_unref(struct auth_request **req);

unsigned int auth_request_get_id(const struct auth_request *req);

/* Begin with the initial response (NULL if the client sent none). */
void auth_request_start(struct auth_request *req, const void *data,
			size_t size);
/* True when the request waits for the client's CONT. */
bool auth_request_wants_input(const struct auth_request *req);
/* The client's CONT. Returns false if the request did not expect input
   (it is waiting for a lookup): a protocol error of the client's. */
bool auth_request_continue(struct auth_request *req, const void *data,
			   size_t size) ATTR_WARN_UNUSED;
/* Fail with a reason for the client and the log (invalid base64...).
   Only before auth_request_start() or while auth_request_wants_input(). */
void auth_request_fail_input(struct auth_request *req, const char *reason);

#endif
