/* Passdb drivers' registry and the parts of a lookup every driver shares:
   Dovecot's rules for special fields (userdb_*, user, nopassword), the
   password check and the allow_nets check. */
#include "lib.h"
#include "net.h"
#include "password-scheme.h"
#include "passdb-private.h"

#define PASSDB_MAX_EXTRA_DRIVERS 16

static const struct passdb_driver *passdb_builtin_drivers[] = {
	&passdb_driver_passwd_file,
	&passdb_driver_static,
	&passdb_driver_sql,
};
static const struct passdb_driver *
passdb_extra_drivers[PASSDB_MAX_EXTRA_DRIVERS];
static unsigned int passdb_extra_driver_count;

void passdb_register_driver(const struct passdb_driver *driver)
{
	i_assert(passdb_extra_driver_count < N_ELEMENTS(passdb_extra_drivers));
	passdb_extra_drivers[passdb_extra_driver_count++] = driver;
}

static const struct passdb_driver *passdb_driver_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(passdb_builtin_drivers); i++) {
		if (strcmp(passdb_builtin_drivers[i]->name, name) == 0)
			return passdb_builtin_drivers[i];
	}
	for (unsigned int i = 0; i < passdb_extra_driver_count; i++) {
		if (strcmp(passdb_extra_drivers[i]->name, name) == 0)
			return passdb_extra_drivers[i];
	}
	return NULL;
}

int passdb_create(const char *driver_name, const char *args,
		  struct passdb **passdb_r, const char **error_r)
{
	const struct passdb_driver *driver = passdb_driver_find(driver_name);

	if (driver == NULL) {
		*error_r = t_strdup_printf("Unknown passdb driver: %s",
					   str_sanitize(driver_name, 64));
		return -1;
	}
	pool_t pool = pool_alloconly_create("passdb", 1024);
	struct passdb *passdb = p_new(pool, struct passdb, 1);
	passdb->driver = driver;
	passdb->pool = pool;
	passdb->default_scheme = driver->default_scheme;
	if (driver->init(passdb, args == NULL ? "" : args, error_r) < 0) {
		*error_r = t_strdup_printf("passdb %s: %s", driver->name,
					   *error_r);
		pool_unref(&pool);
		return -1;
	}
	*passdb_r = passdb;
	return 0;
}

void passdb_destroy(struct passdb **_passdb)
{
	struct passdb *passdb = *_passdb;

	*_passdb = NULL;
	if (passdb == NULL)
		return;
	if (passdb->driver->deinit != NULL)
		passdb->driver->deinit(passdb);
	pool_unref(&passdb->pool);
}

const char *passdb_get_driver_name(const struct passdb *passdb)
{
	return passdb->driver->name;
}

const char *passdb_get_cache_key(const struct passdb *passdb)
{
	return passdb->cache_key;
}

const char *passdb_get_default_scheme(const struct passdb *passdb)
{
	return passdb->default_scheme;
}

void passdb_lookup(struct passdb *passdb, const struct auth_vars *vars,
		   pool_t pool, passdb_lookup_callback_t *callback,
		   void *context)
{
	/* an asynchronous driver answers after the caller's frame ended */
	i_assert(pool != pool_datastack);

	struct passdb_request *request = p_new(pool, struct passdb_request, 1);
	request->passdb = passdb;
	request->pool = pool;
	auth_vars_copy(pool, &request->vars, vars);
	request->result.user = request->vars.user;
	request->result.default_scheme = p_strdup(pool, passdb->default_scheme);
	request->result.extra_fields = auth_fields_create(pool);
	request->result.userdb_fields = auth_fields_create(pool);
	request->callback = callback;
	request->context = context;
	passdb->driver->lookup(request);
}

void passdb_request_set_password(struct passdb_request *request,
				 const char *password)
{
	request->result.password = password == NULL ? NULL :
		p_strdup(request->pool, password);
}

void passdb_request_set_field(struct passdb_request *request,
			      const char *key, const char *value)
{
	struct passdb_user *result = &request->result;

	if (str_begins(key, "userdb_")) {
		if (key[7] != '\0')
			auth_fields_add(result->userdb_fields, key + 7, value);
	} else if (strcmp(key, "password") == 0) {
		passdb_request_set_password(request, value);
	} else if (strcmp(key, "user") == 0) {
		if (value[0] == '\0')
			request->field_error = "Empty user field";
		else
			result->user = p_strdup(request->pool, value);
	} else if (strcmp(key, "username") == 0) {
		const char *at = strchr(result->user, '@');

		if (value[0] == '\0')
			request->field_error = "Empty username field";
		else if (strchr(value, '@') != NULL || at == NULL)
			result->user = p_strdup(request->pool, value);
		else {
			result->user = p_strdup_printf(request->pool, "%s%s",
						       value, at);
		}
	} else {
		if (strcmp(key, "nopassword") == 0)
			result->nopassword = true;
		auth_fields_add(result->extra_fields, key, value);
	}
}

int passdb_request_set_template(struct passdb_request *request,
				const struct auth_fields *tmpl,
				const char **error_r)
{
	const struct auth_field *fields;
	unsigned int count;
	const char *value;

	fields = auth_fields_get(tmpl, &count);
	for (unsigned int i = 0; i < count; i++) {
		if (auth_vars_expand(fields[i].value, &request->vars, &value,
				     error_r) < 0)
			return -1;
		passdb_request_set_field(request, fields[i].key, value);
	}
	return 0;
}

void passdb_request_finish(struct passdb_request *request,
			   enum passdb_result result, const char *error)
{
	struct passdb_user *user = &request->result;

	if (result == PASSDB_RESULT_OK && request->field_error != NULL) {
		result = PASSDB_RESULT_INTERNAL_FAILURE;
		error = request->field_error;
	}
	if (result == PASSDB_RESULT_OK && user->nopassword &&
	    user->password != NULL) {
		char scheme[PASSWORD_SCHEME_NAME_MAX + 1];
		const char *data;
		size_t data_len;

		(void)password_split_scheme(user->password, scheme,
					    sizeof(scheme), &data, &data_len);
		if (data_len > 0) {
			/* Dovecot's rule: a forgotten nopassword must not
			   turn a real password into "anything goes" */
			i_error("passdb %s(%s): nopassword set but password is "
				"non-empty: ignoring nopassword",
				request->passdb->driver->name,
				str_sanitize(user->user, 128));
			user->nopassword = false;
			(void)auth_fields_remove(user->extra_fields,
						 "nopassword");
		} else {
			user->password = NULL;
		}
	}
	user->result = result;
	user->error = error == NULL ? NULL : p_strdup(request->pool, error);
	request->callback(user, request->context);
}

enum passdb_result
passdb_user_verify_password(const struct passdb_user *user,
			    const char *plaintext, const char **error_r)
{
	i_assert(user->result == PASSDB_RESULT_OK);

	if (user->nopassword)
		return PASSDB_RESULT_OK;
	if (user->password == NULL) {
		*error_r = "No password returned (and no nopassword)";
		return PASSDB_RESULT_PASSWORD_MISMATCH;
	}
	switch (password_verify_default(plaintext, user->password,
					user->default_scheme, user->user,
					error_r)) {
	case 1:
		return PASSDB_RESULT_OK;
	case 0:
		return PASSDB_RESULT_PASSWORD_MISMATCH;
	default:
		return PASSDB_RESULT_INTERNAL_FAILURE;
	}
}

int passdb_user_check_allow_nets(const struct passdb_user *user,
				 const char *remote_ip, const char **error_r)
{
	const char *nets = auth_fields_find(user->extra_fields, "allow_nets");
	bool have_ip = remote_ip != NULL && remote_ip[0] != '\0';
	struct ip_addr ip, net_ip;
	unsigned int bits;

	if (nets == NULL)
		return 1;
	if (have_ip && net_addr2ip(remote_ip, &ip) < 0) {
		*error_r = t_strdup_printf("Invalid remote IP address: %s",
					   str_sanitize(remote_ip, 64));
		return -1;
	}
	const char **list = t_strsplit_spaces(nets, ", \t");
	for (unsigned int i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], "local") == 0) {
			if (!have_ip)
				return 1;
			continue;
		}
		if (net_parse_range(list[i], &net_ip, &bits) < 0) {
			*error_r = t_strdup_printf(
				"allow_nets: Invalid network: %s",
				str_sanitize(list[i], 64));
			return -1;
		}
		if (have_ip && net_is_in_network(&ip, &net_ip, bits))
			return 1;
	}
	return 0;
}
