/* Authentication in a login process: the plaintext policy (which
   mechanisms a connection may use), one SASL exchange per client through
   the auth process (auth-client.h), and what follows its end: the
   protocol's failure reply, or the hand-off to a mail process. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "tls.h"
#include "event.h"
#include "strfuncs.h"
#include "columba-settings.h"
#include "auth-client.h"
#include "login-common.h"

#include <strings.h>

/* After this many failed logins on one connection it is closed (the
   auth process's failure delay already slows each attempt down). */
#define LOGIN_MAX_AUTH_FAILURES 3

bool login_client_plaintext_allowed(const struct login_client *client)
{
	const struct columba_settings *set = login_globals.set;

	if (client->secured)
		return true;
	return !set->disable_plaintext_auth &&
		strcmp(set->ssl.ssl, "required") != 0;
}

static bool mech_is_plaintext(const char *mech)
{
	const struct auth_client_mech *m =
		auth_client_find_mech(login_globals.auth_client, mech);
	if (m != NULL)
		return (m->flags & AUTH_CLIENT_MECH_PLAINTEXT) != 0;
	/* before the handshake: the cleartext mechanisms by name */
	return strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0;
}

static bool client_has_verified_cert(const struct login_client *client)
{
	struct tls_conn *tls = conn_get_tls(client->conn);
	return tls != NULL && tls_conn_is_handshaked(tls) &&
		tls_conn_peer_cert_verified(tls);
}

/* The TLS channel bindings of the client's connection, on the data
   stack: tls-unique where it is defined (TLS 1.2 and older), tls-exporter
   where it is (TLS 1.3, or TLS 1.2 with the extended master secret).
   Returns the count (0 without TLS). */
static unsigned int
client_get_channel_bindings(const struct login_client *client,
			    struct auth_client_channel_binding cbs[2])
{
	static const struct {
		enum tls_channel_binding type;
		const char *name;
	} types[] = {
		{ TLS_CHANNEL_BINDING_UNIQUE, "tls-unique" },
		{ TLS_CHANNEL_BINDING_EXPORTER, "tls-exporter" },
	};
	struct tls_conn *tls = client->conn == NULL ? NULL :
		conn_get_tls(client->conn);
	unsigned int count = 0;
	const char *error;

	if (tls == NULL || !tls_conn_is_handshaked(tls))
		return 0;
	for (unsigned int i = 0; i < N_ELEMENTS(types); i++) {
		buffer_t *buf = t_str_new(64);
		if (tls_conn_get_channel_binding(tls, types[i].type, buf,
						 &error) < 0)
			continue;
		cbs[count].type = types[i].name;
		cbs[count].data = buf->data;
		cbs[count].size = buf->used;
		count++;
	}
	return count;
}

/* Whether any -PLUS mechanism may be offered here: TLS that gives a
   channel binding, and a 1.3 auth process that listed one. */
static bool client_offers_binding(const struct login_client *client)
{
	struct auth_client_channel_binding cbs[2];
	unsigned int count, mech_count;
	const struct auth_client_mech *mechs =
		auth_client_get_mechs(login_globals.auth_client, &mech_count);
	bool have_plus = false;

	for (unsigned int i = 0; i < mech_count && !have_plus; i++)
		have_plus = (mechs[i].flags & AUTH_CLIENT_MECH_CHANNEL_BINDING) != 0;
	if (!have_plus)
		return false;
	T_BEGIN {
		count = client_get_channel_bindings(client, cbs);
	} T_END;
	return count > 0;
}

bool login_client_mech_usable(const struct login_client *client,
			      const char *mech)
{
	const struct auth_client_mech *m =
		auth_client_find_mech(login_globals.auth_client, mech);

	if (m == NULL || (m->flags & AUTH_CLIENT_MECH_PRIVATE) != 0)
		return false;
	/* -PLUS: only on TLS, where the binding can go with the request
	   (a mechanism without the auth process's channel-binding flag but
	   named -PLUS comes from a server that cannot take it) */
	if (str_ends_with(t_str_ucase(mech), "-PLUS") &&
	    ((m->flags & AUTH_CLIENT_MECH_CHANNEL_BINDING) == 0 ||
	     !client_offers_binding(client)))
		return false;
	if (strcasecmp(mech, "EXTERNAL") == 0 &&
	    !client_has_verified_cert(client))
		return false;
	if ((m->flags & AUTH_CLIENT_MECH_PLAINTEXT) != 0 &&
	    !login_client_plaintext_allowed(client))
		return false;
	return true;
}

bool login_auth_in_progress(const struct login_client *client)
{
	return client->auth_request != NULL || client->auth_final_pending ||
		client->handoff != NULL;
}

static const char *auth_log_user(const struct login_client *client)
{
	return client->auth_user == NULL ? "" :
		str_sanitize(client->auth_user, 80);
}

static void login_auth_failed(struct login_client *client,
			      enum login_auth_failure failure,
			      const char *text, const char *log_reason)
{
	client->auth_failures++;
	e_info(client->event, "Authentication failed: user=<%s>, method=%s, "
	       "rip=%s: %s", auth_log_user(client),
	       client->auth_mech == NULL ? "" : client->auth_mech,
	       net_ip2addr(&client->remote_ip), log_reason);
	client->protocol->auth_failed(client, failure, text);
	if (client->destroyed)
		return;
	if (client->auth_failures >= LOGIN_MAX_AUTH_FAILURES &&
	    failure == LOGIN_AUTH_FAILURE_FAILED) {
		login_client_disconnect(client, "Too many invalid "
					"authentication attempts.",
					"Too many authentication failures");
		return;
	}
	conn_set_input_paused(client->conn, false);
}

static const char *fields_find(const char *const *fields, const char *key)
{
	size_t len = strlen(key);
	for (; *fields != NULL; fields++) {
		if (strncmp(*fields, key, len) == 0 && (*fields)[len] == '=')
			return *fields + len + 1;
	}
	return NULL;
}

static void login_auth_success(struct login_client *client,
			       const char *const *fields)
{
	client->authenticated = true;
	conn_set_input_paused(client->conn, true);
	login_handoff_send_start(client, fields);
}

static void login_auth_callback(struct auth_client_request *request ATTR_UNUSED,
				enum auth_client_result result,
				const unsigned char *data, size_t size,
				const char *const *fields, void *context)
{
	struct login_client *client = context;
	const char *user = fields_find(fields, "user");
	const char *reason = fields_find(fields, "reason");

	if (user != NULL) {
		free(client->auth_user);
		client->auth_user = i_strdup(user);
	}
	switch (result) {
	case AUTH_CLIENT_RESULT_CONTINUE:
		client->protocol->auth_challenge(client, data, size);
		conn_set_input_paused(client->conn, false);
		return;
	case AUTH_CLIENT_RESULT_OK:
		client->auth_request = NULL;
		if (client->auth_user == NULL || client->auth_user[0] == '\0') {
			login_auth_failed(client, LOGIN_AUTH_FAILURE_TEMP, NULL,
					  "auth process said OK without user=");
			return;
		}
		if (data != NULL) {
			/* SCRAM's server-final message goes out as one more
			   challenge; the client's (empty) answer ends it */
			client->auth_final_pending = true;
			client->protocol->auth_challenge(client, data, size);
			conn_set_input_paused(client->conn, false);
			return;
		}
		login_auth_success(client, fields);
		return;
	case AUTH_CLIENT_RESULT_FAIL:
		client->auth_request = NULL;
		login_auth_failed(client, LOGIN_AUTH_FAILURE_FAILED, reason,
				  reason != NULL ? reason : "Authentication failed");
		return;
	case AUTH_CLIENT_RESULT_TEMPFAIL:
		client->auth_request = NULL;
		login_auth_failed(client, LOGIN_AUTH_FAILURE_TEMP, NULL,
				  reason != NULL ? reason :
				  "Temporary authentication failure");
		return;
	}
	i_unreached();
}

void login_auth_start(struct login_client *client, const char *tag,
		      const char *mech, bool has_initial_response,
		      const void *initial_response, size_t size)
{
	i_assert(!login_auth_in_progress(client));

	client->auth_attempts++;
	client->auth_started = ioloop_time;
	free(client->auth_tag);
	client->auth_tag = i_strdup(tag);
	free(client->auth_mech);
	client->auth_mech = i_strdup(t_str_ucase(mech));
	free(client->auth_user);
	client->auth_user = NULL;

	if (mech_is_plaintext(mech) && !login_client_plaintext_allowed(client)) {
		login_auth_failed(client, LOGIN_AUTH_FAILURE_PRIVACY, NULL,
				  "Plaintext authentication disallowed on "
				  "non-secure connection");
		return;
	}
	if (auth_client_is_connected(login_globals.auth_client) &&
	    !login_client_mech_usable(client, mech)) {
		login_auth_failed(client, LOGIN_AUTH_FAILURE_UNSUPPORTED, NULL,
				  "Unsupported mechanism");
		return;
	}

	struct auth_client_request_info info = {
		.mech = client->auth_mech,
		.service = client->protocol->service,
		.session_id = client->session_id,
		.local_ip = client->local_ip,
		.remote_ip = client->remote_ip,
		.local_port = client->local_port,
		.remote_port = client->remote_port,
		.secured = client->secured,
		.has_initial_response = has_initial_response,
		.initial_response = initial_response,
		.initial_response_size = size,
	};
	if (client_has_verified_cert(client)) {
		info.valid_client_cert = true;
		info.cert_username = tls_conn_get_peer_cn(conn_get_tls(client->conn));
	}
	/* the bindings go exactly where -PLUS is offered: with them the
	   auth process also catches a SCRAM client told (falsely) that the
	   server cannot bind */
	struct auth_client_channel_binding cbs[2];
	if (client_offers_binding(client)) {
		info.channel_bindings = cbs;
		info.channel_bindings_count =
			client_get_channel_bindings(client, cbs);
	}
	conn_set_input_paused(client->conn, true);
	client->auth_request = auth_client_request_new(login_globals.auth_client,
						       &info, login_auth_callback,
						       client);
}

void login_auth_continue(struct login_client *client, const void *data,
			 size_t size)
{
	if (client->auth_final_pending) {
		client->auth_final_pending = false;
		if (size != 0) {
			login_auth_failed(client, LOGIN_AUTH_FAILURE_BAD_DATA,
					  NULL, "Unexpected data after the "
					  "server's final SASL message");
			return;
		}
		/* the OK's fields were used already: the hand-off needs
		   only what the client struct holds */
		static const char *const no_fields[] = { NULL };
		login_auth_success(client, no_fields);
		return;
	}
	i_assert(client->auth_request != NULL);
	conn_set_input_paused(client->conn, true);
	auth_client_request_continue(client->auth_request, data, size);
}

void login_auth_abort(struct login_client *client)
{
	if (client->auth_request != NULL)
		auth_client_request_abort(&client->auth_request);
	client->auth_final_pending = false;
	client->auth_failures++;
	conn_set_input_paused(client->conn, false);
}

void login_auth_client_destroy(struct login_client *client)
{
	if (client->auth_request != NULL)
		auth_client_request_abort(&client->auth_request);
	if (client->handoff != NULL)
		login_handoff_send_abort(client);
	if (client->relay != NULL)
		login_relay_destroy(client);
	i_free(client->auth_tag);
	i_free(client->auth_mech);
	i_free(client->auth_user);
}

void login_auth_init(const char *socket_path)
{
	login_globals.auth_client = auth_client_init(socket_path);
}

void login_auth_deinit(void)
{
	if (login_globals.auth_client != NULL)
		auth_client_deinit(&login_globals.auth_client);
}
