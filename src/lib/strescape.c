/* TAB escaping for Dovecot's line protocols (see strescape.h). */
#include "lib.h"
#include "str.h"
#include "strescape.h"

void str_append_tabescaped(string_t *dest, const char *value)
{
	for (const char *p = value; *p != '\0'; p++) {
		switch (*p) {
		case '\001':
			str_append(dest, "\0011");
			break;
		case '\t':
			str_append(dest, "\001t");
			break;
		case '\n':
			str_append(dest, "\001n");
			break;
		case '\r':
			str_append(dest, "\001r");
			break;
		default:
			str_append_c(dest, *p);
			break;
		}
	}
}

static const char *tabunescape(const char *field)
{
	if (strchr(field, '\001') == NULL)
		return field;

	string_t *str = t_str_new(strlen(field));
	for (const char *p = field; *p != '\0'; p++) {
		if (*p != '\001') {
			str_append_c(str, *p);
			continue;
		}
		switch (*++p) {
		case '1':
			str_append_c(str, '\001');
			break;
		case 't':
			str_append_c(str, '\t');
			break;
		case 'n':
		case 'l':
			/* 'n' is what Dovecot writes; its 2.3 documentation
			   says 'l' */
			str_append_c(str, '\n');
			break;
		case 'r':
			str_append_c(str, '\r');
			break;
		default:
			/* includes the NUL of an escape at the end */
			return NULL;
		}
	}
	return str_c(str);
}

const char *const *t_strsplit_tabescaped(const char *line, size_t len)
{
	if (strlen(line) != len)
		return NULL;

	const char **fields = t_strsplit(line, "\t");
	for (unsigned int i = 0; fields[i] != NULL; i++) {
		fields[i] = tabunescape(fields[i]);
		if (fields[i] == NULL)
			return NULL;
	}
	return fields;
}
