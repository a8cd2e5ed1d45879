/* The life of one authentication (auth-request.h). The SASL state machine
   says what it needs; this module finds the user in the passdbs (in the
   ioloop), checks passwords and derives SCRAM/CRAM-MD5 credentials in the
   worker pool, applies the policy, and answers. Failures are answered only
   after auth_failure_delay, by a timer: a guessing client waits, the
   process does not. */
#include "lib.h"
#include "ioloop.h"
#include "worker.h"
#include "base64.h"
#include "net.h"
#include "columba-settings.h"
#include "sasl-server.h"
#include "password-scheme.h"
#include "passdb.h"
#include "auth-vars.h"
#include "auth-protocol.h"
#include "auth.h"
#include "auth-request.h"

#include <strings.h>

enum auth_request_state {
	/* waiting for the client's CONT */
	AUTH_REQUEST_STATE_INPUT,
	/* a passdb lookup or a worker job runs */
	AUTH_REQUEST_STATE_BUSY,
	/* the failure delay runs */
	AUTH_REQUEST_STATE_DELAY,
	/* OK or FAIL was sent */
	AUTH_REQUEST_STATE_FINISHED,
};

struct auth_request {
	pool_t pool;
	int refcount;
	unsigned int id;
	struct auth_request_params params;
	const struct sasl_server_mech *mech;
	const char *mech_name;
	struct sasl_server_request *sasl;
	enum auth_request_state state;
	/* cancelled by the owner: no more callbacks */
	bool aborted;

	/* what the last SASL step asked for */
	enum sasl_server_result need;
	/* the user name after auth_default_realm and auth_username_format */
	const char *user;
	struct auth_vars vars;
	unsigned int passdb_idx;
	const struct passdb_user *passdb_user;

	/* the worker job; its inputs and outputs live here */
	struct worker_job *job;
	char *job_plaintext;
	enum sasl_credentials_type job_creds_type;
	int job_ret;
	const char *job_error;
	struct password_scram_credentials job_scram;
	unsigned char job_cram[PASSWORD_CRAM_MD5_CONTEXT_SIZE];

	struct timeout *to_delay;
	/* the FAIL line waiting for the delay */
	const char *fail_line;
	/* Dovecot's code= of the FAIL, when there is one */
	const char *fail_code;

	auth_request_reply_callback_t *callback;
	void *context;
};

static void auth_request_handle(struct auth_request *req,
				enum sasl_server_result ret,
				const buffer_t *output, const char *error);

static void auth_request_ref(struct auth_request *req)
{
	req->refcount++;
}

static void auth_request_free(struct auth_request *req)
{
	if (req->to_delay != NULL)
		timeout_remove(&req->to_delay);
	if (req->sasl != NULL)
		sasl_server_request_destroy(&req->sasl);
	if (req->job_plaintext != NULL) {
		safe_memset(req->job_plaintext, 0, strlen(req->job_plaintext));
		i_free(req->job_plaintext);
	}
	password_scram_credentials_wipe(&req->job_scram);
	safe_memset(req->job_cram, 0, sizeof(req->job_cram));
	pool_unref(&req->pool);
}

/* Drop a reference held by something that ran (a lookup, a job). Returns
   false if the request is gone or cancelled: the caller stops. */
static bool auth_request_unref_running(struct auth_request *req)
{
	i_assert(req->refcount > 0);
	if (--req->refcount == 0) {
		auth_request_free(req);
		return false;
	}
	return !req->aborted;
}

struct auth_request *
auth_request_new(unsigned int id, const struct sasl_server_mech *mech,
		 const struct auth_request_params *params,
		 auth_request_reply_callback_t *callback, void *context)
{
	pool_t pool = pool_alloconly_create("auth request", 2048);
	struct auth_request *req = p_new(pool, struct auth_request, 1);

	req->pool = pool;
	req->refcount = 1;
	req->id = id;
	req->mech = mech;
	req->mech_name = p_strdup(pool, sasl_server_mech_get_name(mech));
	req->params = *params;
	req->params.service = p_strdup(pool, params->service);
	req->params.local_ip = p_strdup(pool, params->local_ip);
	req->params.remote_ip = p_strdup(pool, params->remote_ip);
	req->params.session = p_strdup(pool, params->session);
	req->params.cert_username = p_strdup(pool, params->cert_username);
	req->callback = callback;
	req->context = context;
	req->state = AUTH_REQUEST_STATE_BUSY;
	return req;
}

void auth_request_unref(struct auth_request **_req)
{
	struct auth_request *req = *_req;

	*_req = NULL;
	req->aborted = true;
	if (req->to_delay != NULL)
		timeout_remove(&req->to_delay);
	/* a job that has not started never will; one that runs holds its
	   reference until its done callback */
	if (req->job != NULL && worker_job_cancel(&req->job)) {
		i_assert(req->refcount > 1);
		req->refcount--;
	}
	if (--req->refcount == 0)
		auth_request_free(req);
}

unsigned int auth_request_get_id(const struct auth_request *req)
{
	return req->id;
}

/* "plain(user,192.0.2.1)": Dovecot's prefix for an auth log line. */
static const char *auth_request_log_prefix(const struct auth_request *req)
{
	const char *user = req->user;

	if (user == NULL && req->sasl != NULL)
		user = sasl_server_request_get_authcid(req->sasl);
	return t_strdup_printf("%s(%s,%s%s%s)", t_str_lcase(req->mech_name),
			       user == NULL ? "?" : str_sanitize(user, 100),
			       req->params.remote_ip == NULL ? "" :
			       req->params.remote_ip,
			       req->params.session == NULL ? "" : ",<",
			       req->params.session == NULL ? "" :
			       t_strdup_printf("%s>", str_sanitize(
					req->params.session, 64)));
}

static void auth_request_reply(struct auth_request *req, const char *line,
			       bool finished)
{
	if (finished)
		req->state = AUTH_REQUEST_STATE_FINISHED;
	req->callback(req, line, finished, req->context);
}

static void auth_request_delay_end(void *context)
{
	struct auth_request *req = context;

	timeout_remove(&req->to_delay);
	auth_request_reply(req, req->fail_line, true);
}

/* Answer FAIL. reason is for the log; client_reason, if not NULL, is
   sent to the client too (nologin's reason, a policy refusal); temp
   says the failure is ours, not the client's (a retry may work). */
static void auth_request_fail_full(struct auth_request *req,
				   const char *reason,
				   const char *client_reason, bool temp)
{
	string_t *line = t_str_new(128);

	if (temp) {
		i_error("%s: %s", auth_request_log_prefix(req), reason);
	} else {
		i_info("%s: %s%s", auth_request_log_prefix(req), reason,
		       req->params.nologin ? " (nologin request)" : "");
	}
	str_printfa(line, "FAIL\t%u", req->id);
	if (req->user != NULL) {
		str_append(line, "\tuser=");
		auth_protocol_escape(line, req->user);
	}
	if (client_reason != NULL) {
		str_append(line, "\treason=");
		auth_protocol_escape(line, client_reason);
	}
	if (temp)
		str_append(line, "\tcode=temp_fail\ttemp");
	else if (req->fail_code != NULL)
		str_printfa(line, "\tcode=%s", req->fail_code);

	unsigned int delay = auth->set->auth_failure_delay;
	if (req->passdb_user != NULL &&
	    auth_fields_exists(req->passdb_user->extra_fields, "nodelay")) {
		/* the passdb says so (Dovecot's nodelay): e.g. a webmail
		   that does its own throttling */
		delay = 0;
	}
	if (delay == 0 || temp) {
		auth_request_reply(req, str_c(line), true);
		return;
	}
	req->fail_line = p_strdup(req->pool, str_c(line));
	req->state = AUTH_REQUEST_STATE_DELAY;
	req->to_delay = timeout_add(delay * 1000, auth_request_delay_end, req);
}

static void auth_request_fail(struct auth_request *req, const char *reason)
{
	auth_request_fail_full(req, reason, NULL, false);
}

void auth_request_fail_input(struct auth_request *req, const char *reason)
{
	i_assert(req->sasl == NULL || req->state == AUTH_REQUEST_STATE_INPUT);
	auth_request_fail_full(req, reason, reason, false);
}

static bool auth_request_ip_is_local(const struct auth_request *req)
{
	struct ip_addr rip, lip;

	if (req->params.remote_ip == NULL ||
	    net_addr2ip(req->params.remote_ip, &rip) < 0)
		return false;
	if (net_ip_is_loopback(&rip))
		return true;
	return req->params.local_ip != NULL &&
		net_addr2ip(req->params.local_ip, &lip) == 0 &&
		net_ip_compare(&rip, &lip);
}

void auth_request_start(struct auth_request *req, const void *data,
			size_t size)
{
	const struct columba_settings *set = auth->set;
	struct sasl_server_request_settings sset;
	const buffer_t *output = NULL;
	const char *error = NULL;

	if ((sasl_server_mech_get_flags(req->mech) &
	     SASL_MECH_FLAG_CLEARTEXT) != 0 && !req->params.secured &&
	    set->disable_plaintext_auth && !auth_request_ip_is_local(req)) {
		/* Dovecot's wording, which admins and log filters know */
		auth_request_fail_full(req,
			"Plaintext authentication disallowed on non-secure (SSL/TLS) connections "
			"(disable_plaintext_auth = yes, the client is neither secured nor local)",
			"Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
			false);
		return;
	}

	memset(&sset, 0, sizeof(sset));
	sset.secured = req->params.secured;
	/* the policy above decided already */
	sset.allow_cleartext = true;
	if (req->params.valid_client_cert)
		sset.tls_peer_identity = req->params.cert_username;
	if (set->auth_default_realm[0] != '\0')
		sset.realm = set->auth_default_realm;
	req->sasl = sasl_server_request_create(req->mech, &sset);
	enum sasl_server_result ret =
		sasl_server_request_start(req->sasl, data, size,
					  &output, &error);
	auth_request_handle(req, ret, output, error);
}

bool auth_request_wants_input(const struct auth_request *req)
{
	return req->state == AUTH_REQUEST_STATE_INPUT;
}

bool auth_request_continue(struct auth_request *req, const void *data,
			   size_t size)
{
	const buffer_t *output = NULL;
	const char *error = NULL;

	if (req->state != AUTH_REQUEST_STATE_INPUT)
		return false;
	req->state = AUTH_REQUEST_STATE_BUSY;
	enum sasl_server_result ret =
		sasl_server_request_input(req->sasl, data, size,
					  &output, &error);
	auth_request_handle(req, ret, output, error);
	return true;
}

/* auth_default_realm, then auth_username_format. */
static int auth_request_set_user(struct auth_request *req, const char *name)
{
	const struct columba_settings *set = auth->set;
	const char *user, *error;

	if (set->auth_default_realm[0] != '\0' && strchr(name, '@') == NULL)
		name = t_strdup_printf("%s@%s", name, set->auth_default_realm);
	if (auth_username_format(set->auth_username_format, name,
				 &user, &error) < 0) {
		auth_request_fail_full(req, t_strdup_printf(
			"auth_username_format: %s", error), NULL, true);
		return -1;
	}
	if (*user == '\0') {
		auth_request_fail(req, "Empty user name");
		return -1;
	}
	req->user = p_strdup(req->pool, user);
	req->vars.user = req->user;
	req->vars.service = req->params.service;
	req->vars.local_ip = req->params.local_ip;
	req->vars.remote_ip = req->params.remote_ip;
	return 0;
}

/* --- the worker jobs --- */

static void auth_request_verify_work(void *context)
{
	struct auth_request *req = context;

	req->job_ret = passdb_user_verify_password(req->passdb_user,
						   req->job_plaintext,
						   &req->job_error);
}

static void auth_request_verify_done(void *context)
{
	struct auth_request *req = context;
	const buffer_t *output = NULL;
	const char *error = NULL;

	req->job = NULL;
	safe_memset(req->job_plaintext, 0, strlen(req->job_plaintext));
	i_free(req->job_plaintext);
	if (!auth_request_unref_running(req))
		return;

	switch ((enum passdb_result)req->job_ret) {
	case PASSDB_RESULT_OK:
		break;
	case PASSDB_RESULT_PASSWORD_MISMATCH:
		/* the SASL request learns it too, and wipes its copy */
		(void)sasl_server_request_verify_result(req->sasl, false,
							&output, &error);
		auth_request_fail(req, "Password mismatch");
		return;
	default:
		(void)sasl_server_request_verify_result(req->sasl, false,
							&output, &error);
		auth_request_fail_full(req, t_strdup_printf(
			"Cannot check the password: %s", req->job_error),
			NULL, true);
		return;
	}
	enum sasl_server_result ret =
		sasl_server_request_verify_result(req->sasl, true,
						  &output, &error);
	auth_request_handle(req, ret, output, error);
}

static void auth_request_creds_work(void *context)
{
	struct auth_request *req = context;
	const struct passdb_user *user = req->passdb_user;

	switch (req->job_creds_type) {
	case SASL_CREDENTIALS_CRAM_MD5:
		req->job_ret = password_cram_md5_get_context(
			user->password, user->default_scheme, req->job_cram,
			&req->job_error);
		break;
	case SASL_CREDENTIALS_SCRAM_SHA1:
	case SASL_CREDENTIALS_SCRAM_SHA256:
		req->job_ret = password_scram_get_credentials(
			sasl_credentials_type_name(req->job_creds_type),
			user->password, user->default_scheme, &req->job_scram,
			&req->job_error);
		break;
	default:
		req->job_ret = -1;
		req->job_error = "Unsupported credentials type";
		break;
	}
}

static void auth_request_creds_done(void *context)
{
	struct auth_request *req = context;
	struct sasl_credentials creds;
	const buffer_t *output = NULL;
	const char *error = NULL;

	req->job = NULL;
	if (!auth_request_unref_running(req))
		return;

	memset(&creds, 0, sizeof(creds));
	creds.type = req->job_creds_type;
	if (req->job_ret < 0) {
		/* a hash of another scheme cannot serve this mechanism; SCRAM
		   goes on with invented data so the exchange looks the same */
		i_info("%s: Cannot use the stored password for %s: %s",
		       auth_request_log_prefix(req), req->mech_name,
		       req->job_error);
	} else if (creds.type == SASL_CREDENTIALS_CRAM_MD5) {
		creds.cram_md5_context = req->job_cram;
	} else {
		creds.salt = req->job_scram.salt;
		creds.salt_size = req->job_scram.salt_size;
		creds.iterations = req->job_scram.iterations;
		creds.stored_key = req->job_scram.stored_key;
		creds.server_key = req->job_scram.server_key;
		creds.key_size = req->job_scram.key_size;
	}
	enum sasl_server_result ret = sasl_server_request_credentials(
		req->sasl, req->job_ret < 0 ? NULL : &creds, &output, &error);
	password_scram_credentials_wipe(&req->job_scram);
	safe_memset(req->job_cram, 0, sizeof(req->job_cram));
	auth_request_handle(req, ret, output, error);
}

static void auth_request_run_job(struct auth_request *req,
				 worker_work_fn *work, worker_done_fn *done)
{
	auth_request_ref(req);
	req->job = worker_pool_run(auth->workers, work, done, req);
	if (req->job == NULL) {
		req->refcount--;
		auth_request_fail_full(req,
			"Too many password checks queued (auth_worker_max_count)",
			NULL, true);
	}
}

/* --- passdb lookups --- */

static void auth_request_success(struct auth_request *req,
				 const buffer_t *output);
static void auth_request_passdb_next(struct auth_request *req);

/* The passdb found the user: go on with what SASL asked for. */
static void auth_request_passdb_found(struct auth_request *req)
{
	const struct passdb_user *user = req->passdb_user;
	const buffer_t *output = NULL;
	const char *error = NULL;

	if (user->user != NULL && strcmp(user->user, req->user) != 0)
		req->user = p_strdup(req->pool, user->user);
	switch (req->need) {
	case SASL_SERVER_RESULT_NEED_VERIFY:
		req->job_plaintext =
			i_strdup(sasl_server_request_get_password(req->sasl));
		auth_request_run_job(req, auth_request_verify_work,
				     auth_request_verify_done);
		break;
	case SASL_SERVER_RESULT_NEED_CREDENTIALS:
		req->job_creds_type =
			sasl_server_request_get_credentials_type(req->sasl);
		if (user->password == NULL) {
			/* nopassword cannot give credentials */
			enum sasl_server_result ret =
				sasl_server_request_credentials(
					req->sasl, NULL, &output, &error);
			auth_request_handle(req, ret, output, error);
			break;
		}
		auth_request_run_job(req, auth_request_creds_work,
				     auth_request_creds_done);
		break;
	case SASL_SERVER_RESULT_SUCCESS:
		/* EXTERNAL: the certificate authenticated, the passdb had to
		   know the user */
		auth_request_success(req, NULL);
		break;
	default:
		i_unreached();
	}
}

static void auth_request_passdb_unknown(struct auth_request *req)
{
	const buffer_t *output = NULL;
	const char *error = NULL;

	if (req->need == SASL_SERVER_RESULT_NEED_CREDENTIALS) {
		/* SCRAM continues with invented credentials so that the
		   exchange does not tell who exists */
		enum sasl_server_result ret = sasl_server_request_credentials(
			req->sasl, NULL, &output, &error);
		if (ret == SASL_SERVER_RESULT_FAILURE) {
			auth_request_fail(req, "unknown user");
			return;
		}
		auth_request_handle(req, ret, output, error);
		return;
	}
	if (req->need == SASL_SERVER_RESULT_NEED_VERIFY) {
		(void)sasl_server_request_verify_result(req->sasl, false,
							&output, &error);
	}
	auth_request_fail(req, "unknown user");
}

static void auth_request_passdb_callback(const struct passdb_user *user,
					 void *context)
{
	struct auth_request *req = context;

	if (!auth_request_unref_running(req))
		return;
	switch (user->result) {
	case PASSDB_RESULT_OK:
		req->passdb_user = user;
		auth_request_passdb_found(req);
		break;
	case PASSDB_RESULT_USER_UNKNOWN:
		req->passdb_idx++;
		auth_request_passdb_next(req);
		break;
	default:
		auth_request_fail_full(req, t_strdup_printf(
			"passdb %s failed: %s", passdb_get_driver_name(
				*array_idx(&auth->passdbs, req->passdb_idx)),
			user->error == NULL ? "unknown error" : user->error),
			NULL, true);
		break;
	}
}

static void auth_request_passdb_next(struct auth_request *req)
{
	if (array_count(&auth->passdbs) == 0) {
		auth_request_fail_full(req, "No passdb configured", NULL,
				       true);
		return;
	}
	if (req->passdb_idx >= array_count(&auth->passdbs)) {
		auth_request_passdb_unknown(req);
		return;
	}
	struct passdb *passdb = *array_idx(&auth->passdbs, req->passdb_idx);
	/* one reference for the callback, one for this call: the callback
	   may come before passdb_lookup() returns and finish the request,
	   and the lookup must not find its pool gone */
	auth_request_ref(req);
	auth_request_ref(req);
	passdb_lookup(passdb, &req->vars, req->pool,
		      auth_request_passdb_callback, req);
	(void)auth_request_unref_running(req);
}

/* --- results --- */

/* Fields of the passdb that are the auth process's business only. */
static bool auth_request_field_is_internal(const char *key)
{
	return strcmp(key, "allow_nets") == 0 ||
		strcmp(key, "nodelay") == 0 ||
		strcmp(key, "nologin") == 0 ||
		strcmp(key, "reason") == 0;
}

static void auth_request_success(struct auth_request *req,
				 const buffer_t *output)
{
	const struct passdb_user *user = req->passdb_user;
	const char *authzid = sasl_server_request_get_authzid(req->sasl);
	const char *error;

	if (req->user == NULL) {
		/* ANONYMOUS: no one authenticated */
		req->user = p_strdup(req->pool,
				     auth->set->auth_anonymous_username);
	}
	if (authzid != NULL && *authzid != '\0' && user != NULL) {
		const char *authz_user;
		if (auth_username_format(auth->set->auth_username_format,
					 authzid, &authz_user, &error) < 0 ||
		    strcmp(authz_user, req->user) != 0) {
			/* master users are not supported yet */
			req->fail_code = "authz_fail";
			auth_request_fail(req, t_strdup_printf(
				"Authorization as %s refused (no master users)",
				str_sanitize(authzid, 100)));
			return;
		}
	}
	if (user != NULL) {
		int ret = passdb_user_check_allow_nets(
			user, req->params.remote_ip, &error);
		if (ret < 0) {
			auth_request_fail_full(req, t_strdup_printf(
				"allow_nets: %s", error), NULL, true);
			return;
		}
		if (ret == 0) {
			auth_request_fail(req, t_strdup_printf(
				"allow_nets check failed: IP %s not in allowed networks",
				req->params.remote_ip == NULL ? "(none)" :
				req->params.remote_ip));
			return;
		}
		if (auth_fields_exists(user->extra_fields, "nologin")) {
			const char *reason = auth_fields_find(
				user->extra_fields, "reason");
			if (reason == NULL || *reason == '\0')
				reason = "Login disabled";
			req->fail_code = "user_disabled";
			auth_request_fail_full(req, t_strdup_printf(
				"Login disabled (nologin): %s", reason),
				reason, false);
			return;
		}
	}

	string_t *line = t_str_new(256);
	str_printfa(line, "OK\t%u\tuser=", req->id);
	auth_protocol_escape(line, req->user);
	if (user != NULL) {
		unsigned int count;
		const struct auth_field *fields =
			auth_fields_get(user->extra_fields, &count);
		for (unsigned int i = 0; i < count; i++) {
			if (auth_request_field_is_internal(fields[i].key) ||
			    strcmp(fields[i].key, "user") == 0)
				continue;
			str_append_c(line, '\t');
			auth_protocol_escape(line, fields[i].key);
			if (*fields[i].value != '\0') {
				str_append_c(line, '=');
				auth_protocol_escape(line, fields[i].value);
			}
		}
	}
	if (output != NULL) {
		/* SCRAM's server-final message, "additional data with
		   success": the client sends it on to its peer */
		str_append(line, "\tresp=");
		base64_encode(output->data, output->used, line);
	}
	i_info("%s: Login successful%s", auth_request_log_prefix(req),
	       req->params.nologin ? " (nologin request)" : "");
	auth_request_reply(req, str_c(line), true);
}

static void auth_request_handle(struct auth_request *req,
				enum sasl_server_result ret,
				const buffer_t *output, const char *error)
{
	const char *authcid;

	switch (ret) {
	case SASL_SERVER_RESULT_CONTINUE: {
		string_t *line = t_str_new(128);
		str_printfa(line, "CONT\t%u\t", req->id);
		if (output != NULL)
			base64_encode(output->data, output->used, line);
		req->state = AUTH_REQUEST_STATE_INPUT;
		auth_request_reply(req, str_c(line), false);
		return;
	}
	case SASL_SERVER_RESULT_NEED_VERIFY:
	case SASL_SERVER_RESULT_NEED_CREDENTIALS:
		req->need = ret;
		authcid = sasl_server_request_get_authcid(req->sasl);
		if (auth_request_set_user(req, authcid) < 0)
			return;
		req->passdb_idx = 0;
		auth_request_passdb_next(req);
		return;
	case SASL_SERVER_RESULT_SUCCESS:
		authcid = sasl_server_request_get_authcid(req->sasl);
		if (authcid != NULL && req->passdb_user == NULL) {
			/* EXTERNAL: authenticated by the certificate, but the
			   user must exist */
			req->need = ret;
			if (auth_request_set_user(req, authcid) < 0)
				return;
			req->passdb_idx = 0;
			auth_request_passdb_next(req);
			return;
		}
		auth_request_success(req, output);
		return;
	case SASL_SERVER_RESULT_FAILURE:
		auth_request_fail(req, error == NULL ? "Authentication failed" :
				  error);
		return;
	}
	i_unreached();
}
