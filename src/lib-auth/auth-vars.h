/* What a passdb or userdb lookup knows about the login, and the
   %-variables it gives driver args, extra fields and auth_username_format
   (Dovecot's names, expanded with config_var_expand()):
     %u %{user}      the user name, as auth_username_format made it
     %n %{username}  its part before '@'
     %d %{domain}    its part after '@' ("" without one)
     %s %{service}   imap, pop3, lmtp, smtp...
     %l %{lip}       local IP address
     %r %{rip}       remote IP address
   The expansions run in the ioloop thread and use the data stack. */
#ifndef COLUMBA_AUTH_VARS_H
#define COLUMBA_AUTH_VARS_H

#include "lib.h"

struct auth_vars {
	const char *user;
	/* NULL when unknown: expands to "" */
	const char *service;
	const char *local_ip;
	const char *remote_ip;
};

/* A copy of vars with its strings in pool. */
void auth_vars_copy(pool_t pool, struct auth_vars *dest,
		    const struct auth_vars *src);

/* Expand template. Returns 0 with *result_r, or -1 with *error_r for an
   unknown variable or bad syntax; both on the data stack. */
int auth_vars_expand(const char *template, const struct auth_vars *vars,
		     const char **result_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* The same for a file path: every value is cut at its first '/' and "."
   or ".." becomes "", so that no user name (which the client chose) can
   lead the path out of the directory the template names. */
int auth_vars_expand_path(const char *template, const struct auth_vars *vars,
			  const char **result_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Escape one expanded value for the place it goes (SQL: inside '...').
   Returns the escaped value on the data stack. */
typedef const char *auth_vars_escape_func_t(const char *value, void *context);
/* As auth_vars_expand(), with every variable's value, after its
   modifiers and substring, passed through escape: a client's name can
   never end a quoted string early (Dovecot escapes the same way). */
int auth_vars_expand_escaped(const char *template,
			     const struct auth_vars *vars,
			     auth_vars_escape_func_t *escape, void *context,
			     const char **result_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* The variables template uses, each as written ("%u", "%Ld", "%{rip}"),
   tab-separated, in order, without repeats: what a lookup depends on,
   and so the key of its cache entry once expanded (Dovecot's cache
   key). "" if there are none. Data stack. */
const char *auth_vars_cache_key(const char *template);

/* True if template holds a variable (not just "%%"). */
bool auth_vars_have_variables(const char *template);

/* Apply auth_username_format (Dovecot's default "%Lu") to the name a
   client logged in with: the name every lookup then uses. Data stack. */
int auth_username_format(const char *format, const char *user,
			 const char **result_r, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
