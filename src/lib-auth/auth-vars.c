/* The %-variables of authentication lookups, on top of lib-config's
   config_var_expand(): builds the table from the login's facts, with a
   path-safe variant for templates that name files. */
#include "lib.h"
#include "config-var-expand.h"
#include "auth-vars.h"

void auth_vars_copy(pool_t pool, struct auth_vars *dest,
		    const struct auth_vars *src)
{
	dest->user = p_strdup(pool, src->user);
	dest->service = src->service == NULL ? NULL :
		p_strdup(pool, src->service);
	dest->local_ip = src->local_ip == NULL ? NULL :
		p_strdup(pool, src->local_ip);
	dest->remote_ip = src->remote_ip == NULL ? NULL :
		p_strdup(pool, src->remote_ip);
}

static const char *auth_vars_path_safe(const char *value)
{
	if (value == NULL)
		return NULL;
	const char *slash = strchr(value, '/');
	if (slash != NULL)
		value = t_strndup(value, (size_t)(slash - value));
	if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
		return "";
	return value;
}

static int auth_vars_expand_full(const char *template,
				 const struct auth_vars *vars, bool path,
				 const char **result_r, const char **error_r)
{
	const char *user = vars->user == NULL ? "" : vars->user;
	const char *at = strchr(user, '@');
	const char *username = at == NULL ? user :
		t_strndup(user, (size_t)(at - user));
	const char *domain = at == NULL ? "" : at + 1;
	const char *service = vars->service, *lip = vars->local_ip;
	const char *rip = vars->remote_ip;

	if (path) {
		user = auth_vars_path_safe(user);
		username = auth_vars_path_safe(username);
		domain = auth_vars_path_safe(domain);
		service = auth_vars_path_safe(service);
		lip = auth_vars_path_safe(lip);
		rip = auth_vars_path_safe(rip);
	}
	const struct config_var_expand_table table[] = {
		{ 'u', "user", user },
		{ 'n', "username", username },
		{ 'd', "domain", domain },
		{ 's', "service", service },
		{ 'l', "lip", lip },
		{ 'r', "rip", rip },
		{ '\0', NULL, NULL }
	};
	return config_var_expand(template, table, result_r, error_r);
}

int auth_vars_expand(const char *template, const struct auth_vars *vars,
		     const char **result_r, const char **error_r)
{
	return auth_vars_expand_full(template, vars, false, result_r, error_r);
}

int auth_vars_expand_path(const char *template, const struct auth_vars *vars,
			  const char **result_r, const char **error_r)
{
	return auth_vars_expand_full(template, vars, true, result_r, error_r);
}

bool auth_vars_have_variables(const char *template)
{
	for (const char *p = template; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] != '%')
			return true;
		p++;
	}
	return false;
}

int auth_username_format(const char *format, const char *user,
			 const char **result_r, const char **error_r)
{
	const struct auth_vars vars = { .user = user };

	return auth_vars_expand(format, &vars, result_r, error_r);
}
