/* UIDL templates (see pop3-uidl.h). */
#include "lib.h"
#include "str.h"
#include "strfuncs.h"
#include "pop3-uidl.h"

#include <ctype.h>
#include <stdlib.h>

/* RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E */
#define POP3_UIDL_MAX_LEN 70

static const char *uidl_var(const char *name, size_t len,
			    const struct pop3_uidl_params *params)
{
	if ((len == 1 && name[0] == 'u') ||
	    (len == 5 && memcmp(name, "{uid}", 5) == 0))
		return t_strdup_printf("%u", params->uid);
	if ((len == 1 && name[0] == 'v') ||
	    (len == 13 && memcmp(name, "{uidvalidity}", 13) == 0))
		return t_strdup_printf("%u", params->uidvalidity);
	if ((len == 1 && name[0] == 'g') ||
	    (len == 6 && memcmp(name, "{guid}", 6) == 0))
		return params->guid;
	return NULL;
}

static const char *uidl_modify(const char *value, char modifier)
{
	switch (modifier) {
	case 'X': {
		/* Dovecot's: the decimal value in lowercase hex */
		unsigned long long num = strtoull(value, NULL, 10);
		return t_strdup_printf("%llx", num);
	}
	case 'L':
		return t_str_lcase(value);
	case 'U':
		return t_str_ucase(value);
	}
	i_unreached();
}

int pop3_uidl_expand(const char *format, const struct pop3_uidl_params *params,
		     const char **uidl_r, const char **error_r)
{
	string_t *str = t_str_new(32);
	const char *p = format;

	while (*p != '\0') {
		if (*p != '%') {
			str_append_c(str, *p++);
			continue;
		}
		p++;
		if (*p == '%') {
			str_append_c(str, '%');
			p++;
			continue;
		}
		bool zero_pad = false;
		unsigned int width = 0;
		if (*p == '0') {
			zero_pad = true;
			p++;
		}
		while (isdigit((unsigned char)*p)) {
			width = width * 10 + (unsigned int)(*p++ - '0');
			if (width > POP3_UIDL_MAX_LEN) {
				*error_r = "width too large";
				return -1;
			}
		}
		const char *mods = p;
		while (*p == 'X' || *p == 'L' || *p == 'U')
			p++;
		const char *mods_end = p;
		size_t name_len;
		if (*p == '{') {
			const char *end = strchr(p, '}');
			if (end == NULL) {
				*error_r = "unterminated %{";
				return -1;
			}
			name_len = (size_t)(end - p) + 1;
		} else if (*p == '\0') {
			*error_r = "'%' at the end";
			return -1;
		} else {
			name_len = 1;
		}
		const char *value = uidl_var(p, name_len, params);
		if (value == NULL) {
			*error_r = t_strdup_printf("unknown variable %%%s",
				str_sanitize(t_strndup(p, name_len), 40));
			return -1;
		}
		p += name_len;
		for (const char *m = mods; m < mods_end; m++)
			value = uidl_modify(value, *m);
		size_t len = strlen(value);
		if (zero_pad) {
			for (; len < width; len++)
				str_append_c(str, '0');
			str_append(str, value);
		} else if (width > 0 && len > width) {
			str_append_data(str, value, width);
		} else {
			str_append(str, value);
		}
	}
	if (str_len(str) == 0 || str_len(str) > POP3_UIDL_MAX_LEN) {
		*error_r = t_strdup_printf("the UIDL is %zu characters "
					   "(1..70 allowed)", str_len(str));
		return -1;
	}
	for (const char *c = str_c(str); *c != '\0'; c++) {
		if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) {
			*error_r = "the UIDL holds characters outside "
				"0x21..0x7E";
			return -1;
		}
	}
	*uidl_r = str_c(str);
	return 0;
}
