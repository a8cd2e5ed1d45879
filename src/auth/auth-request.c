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
#include "auth-cache.h"
#include "auth-penalty.h"
#include "event.h"
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

	/* master user login ("user*master", or SASL authzid): the user to
	   become, and the master once its password checked */
	bool master_login;
	const char *login_user;
	const char *master_user;
	/* the master's passdb said result_success = continue: the login
	   user is being looked up in the other passdbs */
	bool master_lookup;
	/* SCRAM's server-final message kept across that lookup */
	buffer_t *saved_output;

	/* the current passdb lookup's auth cache key (NULL: not cached),
	   and whether the answer came from the cache */
	const char *cache_key;
	bool from_cache;

	/* the auth penalty: checked once; this failure does not count
	   (a policy refusal, not a guess) */
	bool penalty_checked;
	bool no_penalize;
	uint32_t penalty_checksum;
	struct timeout *to_penalty;
	buffer_t *penalty_data;

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
static void auth_request_passdb_lookup(struct auth_request *req,
				       bool use_cache);

static void auth_request_ref(struct auth_request *req)
{
	req->refcount++;
}

static void auth_request_free(struct auth_request *req)
{
	if (req->to_delay != NULL)
		timeout_remove(&req->to_delay);
	if (req->to_penalty != NULL)
		timeout_remove(&req->to_penalty);
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
	if (params->channel_bindings_count > 0) {
		struct sasl_channel_binding *cbs =
			p_new(pool, struct sasl_channel_binding,
			      params->channel_bindings_count);
		for (unsigned int i = 0; i < params->channel_bindings_count; i++) {
			const struct sasl_channel_binding *cb =
				&params->channel_bindings[i];
			cbs[i].type = p_strdup(pool, cb->type);
			cbs[i].data = p_memdup(pool, cb->data, cb->size);
			cbs[i].size = cb->size;
		}
		req->params.channel_bindings = cbs;
	}
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
	if (req->to_penalty != NULL)
		timeout_remove(&req->to_penalty);
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

/* The auth penalty counts remote clients only: not a client that says
   it applies its own (no-penalty), not one without an address, not the
   local host (a webmail or proxy there speaks for many users at once). */
static bool auth_request_penalty_applies(const struct auth_request *req)
{
	return !req->params.no_penalty && req->params.remote_ip != NULL &&
		*req->params.remote_ip != '\0' &&
		!auth_request_ip_is_local(req);
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
		if (auth_request_penalty_applies(req) && !req->no_penalize) {
			auth_penalty_failure(auth->penalty,
					     req->params.remote_ip,
					     req->penalty_checksum);
		}
	}
	str_printfa(line, "FAIL\t%u", req->id);
	if (req->user != NULL) {
		str_append(line, "\tuser=");
		str_append_tabescaped(line, req->user);
	}
	if (client_reason != NULL) {
		str_append(line, "\treason=");
		str_append_tabescaped(line, client_reason);
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

static void auth_request_penalty_end(void *context)
{
	struct auth_request *req = context;

	timeout_remove(&req->to_penalty);
	req->state = AUTH_REQUEST_STATE_BUSY;
	auth_request_start(req, req->penalty_data == NULL ? NULL :
			   req->penalty_data->data,
			   req->penalty_data == NULL ? 0 :
			   req->penalty_data->used);
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
		req->no_penalize = true;
		/* Dovecot's wording, which admins and log filters know */
		auth_request_fail_full(req,
			"Plaintext authentication disallowed on non-secure (SSL/TLS) connections "
			"(disable_plaintext_auth = yes, the client is neither secured nor local)",
			"Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
			false);
		return;
	}
	if (!req->penalty_checked) {
		req->penalty_checked = true;
		unsigned int msecs = !auth_request_penalty_applies(req) ? 0 :
			auth_penalty_get_delay_msecs(auth->penalty,
						     req->params.remote_ip);
		if (msecs > 0) {
			i_info("%s: Delaying the request by %u ms (auth penalty %u after failed logins from this address)",
			       auth_request_log_prefix(req), msecs,
			       auth_penalty_get(auth->penalty,
						req->params.remote_ip));
			if (data != NULL) {
				req->penalty_data = buffer_create(req->pool,
								  size + 1);
				buffer_append(req->penalty_data, data, size);
			}
			req->state = AUTH_REQUEST_STATE_DELAY;
			req->to_penalty = timeout_add(msecs,
				auth_request_penalty_end, req);
			return;
		}
	}

	memset(&sset, 0, sizeof(sset));
	sset.secured = req->params.secured;
	/* the policy above decided already */
	sset.allow_cleartext = true;
	if (req->params.valid_client_cert)
		sset.tls_peer_identity = req->params.cert_username;
	sset.channel_bindings = req->params.channel_bindings;
	sset.channel_bindings_count = req->params.channel_bindings_count;
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

/* auth_default_realm, then auth_username_format: the name lookups use.
   Returns 0, or fails the request and returns -1. */
static int auth_request_format_user(struct auth_request *req,
				    const char *name, const char **user_r)
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
	*user_r = user;
	return 0;
}

static int auth_request_set_user(struct auth_request *req, const char *name)
{
	const char *user;

	if (auth_request_format_user(req, name, &user) < 0)
		return -1;
	req->user = p_strdup(req->pool, user);
	req->vars.user = req->user;
	req->vars.service = req->params.service;
	req->vars.local_ip = req->params.local_ip;
	req->vars.remote_ip = req->params.remote_ip;
	return 0;
}

/* A master user login? "user*master" (auth_master_user_separator) or
   a SASL authorization identity other than the authenticating one.
   Returns the name whose password is checked in *name_r; -1 if the
   request failed. */
static int auth_request_setup_master(struct auth_request *req,
				     const char *authcid, const char **name_r)
{
	const char *sep = auth->set->auth_master_user_separator;
	const char *authzid = sasl_server_request_get_authzid(req->sasl);
	const char *login = NULL, *master = NULL, *p;

	*name_r = authcid;
	if (*sep != '\0' && (p = strstr(authcid, sep)) != NULL) {
		login = t_strndup(authcid, (size_t)(p - authcid));
		master = p + strlen(sep);
	} else if (authzid != NULL && *authzid != '\0' &&
		   auth->have_master_passdbs) {
		/* the same name formatted is no master login: checked in
		   auth_request_success() */
		const char *a, *b, *error;
		if (auth_username_format(auth->set->auth_username_format,
					 authzid, &a, &error) < 0 ||
		    auth_username_format(auth->set->auth_username_format,
					 authcid, &b, &error) < 0 ||
		    strcmp(a, b) != 0) {
			login = authzid;
			master = authcid;
		}
	}
	if (login == NULL)
		return 0;
	if (!auth->have_master_passdbs) {
		req->fail_code = "authz_fail";
		auth_request_fail(req, "Master user login attempted, but no passdb has master = yes");
		return -1;
	}
	if (*login == '\0' || *master == '\0') {
		auth_request_fail(req, "Master user login with an empty user or master name");
		return -1;
	}
	const char *user;
	if (auth_request_format_user(req, login, &user) < 0)
		return -1;
	req->login_user = p_strdup(req->pool, user);
	req->master_login = true;
	*name_r = master;
	return 0;
}

/* FNV-1a of user and password: tells the auth penalty a retry of the same
   wrong password from a new one, without keeping the password. */
static uint32_t auth_request_password_checksum(const char *user,
					       const char *password)
{
	uint32_t hash = 2166136261u;

	for (const char *p = password; *p != '\0'; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	hash = (hash ^ 0) * 16777619u;
	for (const char *p = user; *p != '\0'; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	return hash == 0 ? 1 : hash;
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
		if (req->from_cache)
			auth_cache_password_ok(auth->cache, req->cache_key);
		break;
	case PASSDB_RESULT_PASSWORD_MISMATCH:
		if (req->from_cache &&
		    auth_cache_password_mismatch(auth->cache, req->cache_key)) {
			/* the password may have changed since the entry was
			   made: ask the passdb itself */
			auth_cache_remove(auth->cache, req->cache_key);
			auth_request_passdb_lookup(req, false);
			return;
		}
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
	if (req->master_lookup) {
		/* the master's password checked; the login user exists */
		auth_request_success(req, req->saved_output);
		return;
	}
	switch (req->need) {
	case SASL_SERVER_RESULT_NEED_VERIFY:
		req->job_plaintext =
			i_strdup(sasl_server_request_get_password(req->sasl));
		if (req->from_cache &&
		    !auth->set->auth_cache_verify_password_with_worker) {
			/* cheap hashes from the cache: in the loop, without
			   the thread handoff (Dovecot's default) */
			auth_request_ref(req);
			auth_request_verify_work(req);
			auth_request_verify_done(req);
			break;
		}
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

	if (req->master_lookup) {
		auth_request_fail(req, t_strdup_printf(
			"Master user %s: login as unknown user %s",
			str_sanitize(req->master_user, 100),
			str_sanitize(req->login_user, 100)));
		return;
	}
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

	if (auth->cache != NULL && req->cache_key != NULL)
		auth_cache_insert(auth->cache, req->cache_key, user);
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

static void auth_cache_event(const char *result)
{
	struct event *event = event_create(NULL);
	struct auth_cache_stats stats;

	auth_cache_get_stats(auth->cache, &stats);
	event_set_category(event, "auth");
	event_add_str(event, "result", result);
	event_add_int(event, "hits", (int64_t)stats.hits);
	event_add_int(event, "negative_hits", (int64_t)stats.negative_hits);
	event_add_int(event, "misses", (int64_t)stats.misses);
	event_add_int(event, "entries", stats.entries);
	event_emit(event, "auth_cache_lookup");
	event_unref(&event);
}

/* The auth cache's answer for the current passdb, if it has one: 1 if
   the request went on with it, 0 if the passdb must be asked. */
static int auth_request_passdb_cache(struct auth_request *req,
				     struct passdb *passdb)
{
	const char *tmpl = passdb_get_cache_key(passdb), *key, *error;

	req->cache_key = NULL;
	req->from_cache = false;
	if (auth->cache == NULL || tmpl == NULL)
		return 0;
	if (auth_vars_expand(tmpl, &req->vars, &key, &error) < 0)
		return 0;
	req->cache_key = p_strdup_printf(req->pool, "%u\t%s",
					 req->passdb_idx, key);
	struct passdb_user *user = p_new(req->pool, struct passdb_user, 1);
	switch (auth_cache_lookup(auth->cache, req->cache_key, req->pool,
				  user)) {
	case AUTH_CACHE_MISS:
		auth_cache_event("miss");
		return 0;
	case AUTH_CACHE_HIT:
		auth_cache_event("hit");
		req->from_cache = true;
		req->passdb_user = user;
		auth_request_passdb_found(req);
		return 1;
	case AUTH_CACHE_NEGATIVE_HIT:
		auth_cache_event("negative_hit");
		req->passdb_idx++;
		auth_request_passdb_next(req);
		return 1;
	}
	i_unreached();
}

/* Is the passdb at idx one this request asks? Master passdbs check a
   master's password; the others everything else, including the login
   user of a master login. */
static bool auth_request_passdb_wanted(const struct auth_request *req,
				       unsigned int idx)
{
	const struct auth_db_settings *set =
		*array_idx(&auth->passdb_sets, idx);

	return set->master == (req->master_login && !req->master_lookup);
}

static void auth_request_passdb_next(struct auth_request *req)
{
	if (array_count(&auth->passdbs) == 0) {
		auth_request_fail_full(req, "No passdb configured", NULL,
				       true);
		return;
	}
	while (req->passdb_idx < array_count(&auth->passdbs) &&
	       !auth_request_passdb_wanted(req, req->passdb_idx))
		req->passdb_idx++;
	if (req->passdb_idx >= array_count(&auth->passdbs)) {
		auth_request_passdb_unknown(req);
		return;
	}
	auth_request_passdb_lookup(req, true);
}

static void auth_request_passdb_lookup(struct auth_request *req,
				       bool use_cache)
{
	struct passdb *passdb = *array_idx(&auth->passdbs, req->passdb_idx);

	if (use_cache && auth_request_passdb_cache(req, passdb) > 0)
		return;
	req->from_cache = false;
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
	if (req->master_login && req->master_user == NULL) {
		/* the master's password checked: become the login user */
		const struct auth_db_settings *mset =
			*array_idx(&auth->passdb_sets, req->passdb_idx);

		req->master_user = req->user;
		req->user = req->login_user;
		req->vars.user = req->login_user;
		i_info("%s: Master user %s logs in as %s",
		       auth_request_log_prefix(req),
		       str_sanitize(req->master_user, 100),
		       str_sanitize(req->login_user, 100));
		if (mset->pass || strcmp(mset->result_success, "continue") == 0) {
			/* Dovecot's pass = yes: the user must exist */
			if (output != NULL) {
				req->saved_output = buffer_create(req->pool,
								  output->used);
				buffer_append(req->saved_output, output->data,
					      output->used);
			}
			req->master_lookup = true;
			req->passdb_idx = 0;
			auth_request_passdb_next(req);
			return;
		}
	}
	if (authzid != NULL && *authzid != '\0' && user != NULL &&
	    req->master_user == NULL) {
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
	str_append_tabescaped(line, req->user);
	if (user != NULL) {
		unsigned int count;
		const struct auth_field *fields =
			auth_fields_get(user->extra_fields, &count);
		for (unsigned int i = 0; i < count; i++) {
			if (auth_request_field_is_internal(fields[i].key) ||
			    strcmp(fields[i].key, "user") == 0)
				continue;
			str_append_c(line, '\t');
			str_append_tabescaped(line, fields[i].key);
			if (*fields[i].value != '\0') {
				str_append_c(line, '=');
				str_append_tabescaped(line, fields[i].value);
			}
		}
	}
	if (output != NULL) {
		/* SCRAM's server-final message, "additional data with
		   success": the client sends it on to its peer */
		str_append(line, "\tresp=");
		base64_encode(output->data, output->used, line);
	}
	if (auth_request_penalty_applies(req))
		auth_penalty_success(auth->penalty, req->params.remote_ip);
	i_info("%s: Login successful%s%s%s%s", auth_request_log_prefix(req),
	       req->params.nologin ? " (nologin request)" : "",
	       req->from_cache ? " (auth cache hit)" : "",
	       req->master_user == NULL ? "" : " (master user ",
	       req->master_user == NULL ? "" : t_strdup_printf("%s)",
			str_sanitize(req->master_user, 100)));
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
		if (auth_request_setup_master(req, authcid, &authcid) < 0 ||
		    auth_request_set_user(req, authcid) < 0)
			return;
		if (ret == SASL_SERVER_RESULT_NEED_VERIFY) {
			req->penalty_checksum = auth_request_password_checksum(
				req->user,
				sasl_server_request_get_password(req->sasl));
		}
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
