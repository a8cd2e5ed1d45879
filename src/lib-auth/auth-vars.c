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

/* The length of the variable starting at p ("%[-][0-9][.][0-9]MODS key"
   or "%...{name}"), or 0 if it is not one (the expander then reports the
   error). */
static size_t auth_vars_token_len(const char *p)
{
	const char *start = p;

	i_assert(*p == '%');
	p++;
	if (*p == '-')
		p++;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	while (*p == 'L' || *p == 'U' || *p == 'R')
		p++;
	if (*p == '{') {
		const char *end = strchr(p, '}');
		if (end == NULL)
			return 0;
		p = end + 1;
	} else if (*p != '\0') {
		p++;
	} else {
		return 0;
	}
	return (size_t)(p - start);
}

int auth_vars_expand_escaped(const char *template,
			     const struct auth_vars *vars,
			     auth_vars_escape_func_t *escape, void *context,
			     const char **result_r, const char **error_r)
{
	string_t *out = t_str_new(256);
	const char *p = template, *value;

	while (*p != '\0') {
		const char *pct = strchr(p, '%');
		if (pct == NULL) {
			str_append(out, p);
			break;
		}
		str_append_data(out, p, (size_t)(pct - p));
		if (pct[1] == '%') {
			str_append_c(out, '%');
			p = pct + 2;
			continue;
		}
		size_t len = auth_vars_token_len(pct);
		if (len == 0) {
			/* let the expander say what is wrong */
			return auth_vars_expand(pct, vars, result_r, error_r);
		}
		if (auth_vars_expand(t_strndup(pct, len), vars, &value,
				     error_r) < 0)
			return -1;
		str_append(out, escape(value, context));
		p = pct + len;
	}
	*result_r = str_c(out);
	return 0;
}

const char *auth_vars_cache_key(const char *template)
{
	string_t *key = t_str_new(64);

	for (const char *p = template; (p = strchr(p, '%')) != NULL; ) {
		if (p[1] == '%') {
			p += 2;
			continue;
		}
		size_t len = auth_vars_token_len(p);
		if (len == 0)
			break;
		const char *token = t_strndup(p, len);
		bool seen = false;
		const char *const *tokens = t_strsplit(str_c(key), "\t");
		for (unsigned int i = 0; tokens[i] != NULL; i++) {
			if (strcmp(tokens[i], token) == 0)
				seen = true;
		}
		if (!seen) {
			if (str_len(key) > 0)
				str_append_c(key, '\t');
			str_append(key, token);
		}
		p += len;
	}
	return str_c(key);
}
