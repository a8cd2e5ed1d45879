/* Expansion of %-variables in setting values, the way Dovecot writes them
   (%u, %{user}, %Ld, %2.1n); unknown variables are errors so a typo in a
   path template does not silently build the wrong path. */
#include "lib.h"
#include "config-var-expand.h"

#include <ctype.h>

static const struct config_var_expand_table *
config_var_find(const struct config_var_expand_table *table, char key,
		const char *long_key)
{
	for (; table->key != '\0' || table->long_key != NULL; table++) {
		if (long_key == NULL ? table->key == key :
		    (table->long_key != NULL &&
		     strcmp(table->long_key, long_key) == 0))
			return table;
	}
	return NULL;
}

static bool config_var_read_number(const char **p, unsigned int *num_r)
{
	unsigned int num = 0;

	if (!isdigit((unsigned char)**p))
		return false;
	for (; isdigit((unsigned char)**p); (*p)++) {
		if (num > 1000000)
			return false;
		num = num * 10 + (unsigned int)(**p - '0');
	}
	*num_r = num;
	return true;
}

static const char *config_var_modify(const char *value, char modifier)
{
	char *ret = t_strdup(value);
	size_t len = strlen(ret);

	for (size_t i = 0; i < len; i++) {
		if (modifier == 'L')
			ret[i] = (char)tolower((unsigned char)ret[i]);
		else if (modifier == 'U')
			ret[i] = (char)toupper((unsigned char)ret[i]);
	}
	if (modifier == 'R') {
		for (size_t i = 0; i < len / 2; i++) {
			char c = ret[i];
			ret[i] = ret[len - 1 - i];
			ret[len - 1 - i] = c;
		}
	}
	return ret;
}

int config_var_expand(const char *template,
		      const struct config_var_expand_table *table,
		      const char **result_r, const char **error_r)
{
	string_t *out = t_str_new(128);
	const char *p = template;

	while (*p != '\0') {
		if (*p != '%') {
			str_append_c(out, *p++);
			continue;
		}
		const char *start = p++;
		if (*p == '%') {
			str_append_c(out, '%');
			p++;
			continue;
		}

		/* [[-]offset.][width] */
		bool negative = false, have_offset = false, have_width = false;
		unsigned int offset = 0, width = 0, num;
		if (*p == '-') {
			negative = true;
			p++;
		}
		if (config_var_read_number(&p, &num)) {
			if (*p == '.') {
				p++;
				have_offset = true;
				offset = num;
				have_width = config_var_read_number(&p, &width);
			} else if (!negative) {
				have_width = true;
				width = num;
			}
		}
		if (negative && !have_offset) {
			*error_r = t_strdup_printf(
				"Invalid variable %s in %s (a negative offset needs a width: %%-2.2u)",
				str_sanitize(t_strndup(start, (size_t)(p - start) + 1), 40),
				str_sanitize(template, 200));
			return -1;
		}
		const char *modifiers = p;
		while (*p == 'L' || *p == 'U' || *p == 'R')
			p++;
		const char *mod_end = p;

		const struct config_var_expand_table *var;
		const char *var_name;
		if (*p == '{') {
			const char *end = strchr(p, '}');
			if (end == NULL) {
				*error_r = t_strdup_printf(
					"Unterminated %%{ in %s (expected %%{name})",
					str_sanitize(template, 200));
				return -1;
			}
			const char *name = t_strndup(p + 1, (size_t)(end - p - 1));
			var = config_var_find(table, '\0', name);
			var_name = t_strdup_printf("%%{%s}", name);
			p = end + 1;
		} else if (*p == '\0') {
			*error_r = t_strdup_printf(
				"Incomplete variable at the end of %s (expected %%x, %%{name} or %%%%)",
				str_sanitize(template, 200));
			return -1;
		} else {
			var = config_var_find(table, *p, NULL);
			var_name = t_strdup_printf("%%%c", *p);
			p++;
		}
		if (var == NULL) {
			*error_r = t_strdup_printf("Unknown variable %s in %s",
						   str_sanitize(var_name, 80),
						   str_sanitize(template, 200));
			return -1;
		}

		const char *value = var->value == NULL ? "" : var->value;
		for (const char *m = modifiers; m < mod_end; m++)
			value = config_var_modify(value, *m);
		size_t len = strlen(value), pos = 0;
		if (have_offset) {
			if (negative)
				pos = offset > len ? 0 : len - offset;
			else
				pos = offset > len ? len : offset;
		}
		size_t take = len - pos;
		if (have_width && width < take)
			take = width;
		str_append_data(out, value + pos, take);
	}
	*result_r = str_c(out);
	return 0;
}
