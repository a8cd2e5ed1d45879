/* %-variables in setting values (%u, %{user}, %Ld...). The parser keeps them
   as written; a daemon expands them when it knows the values, per user or
   per connection, with config_var_expand(). */
#ifndef COLUMBA_CONFIG_VAR_EXPAND_H
#define COLUMBA_CONFIG_VAR_EXPAND_H

#include "lib.h"

struct config_var_expand_table {
	/* The one-letter form (%u), or '\0' for none. */
	char key;
	/* The long form (%{user}), or NULL for none. */
	const char *long_key;
	/* NULL expands to "" (a known variable without a value). */
	const char *value;
};
/* A table ends with an entry whose key is '\0' and long_key NULL. */

/* Expand template: "%%" is '%'; a variable is '%', optional substring
   and modifiers, then the one-letter key or {long_key}:
     %[[-]offset.][width][L|U|R...](key|{long_key})
   L lowercases, U uppercases, R reverses (bytes, not characters); then
   offset (negative: from the end) and width pick a substring:
   %2u is the first two bytes, %-2.2u the last two.
   Returns 0 with *result_r on the data stack, or -1 with *error_r
   ("Unknown variable %{foo} in ..."). Never blocks. */
int config_var_expand(const char *template,
		      const struct config_var_expand_table *table,
		      const char **result_r, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
