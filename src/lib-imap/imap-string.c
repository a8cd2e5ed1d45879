/* String output for IMAP responses. */
#include "lib.h"
#include "imap-string.h"

enum str_form { FORM_ATOM, FORM_QUOTED, FORM_LITERAL };

static enum str_form imap_str_form(const char *str, bool utf8)
{
	enum str_form form = str[0] == '\0' ? FORM_QUOTED : FORM_ATOM;

	if (strcasecmp(str, "NIL") == 0)
		form = FORM_QUOTED;
	for (const unsigned char *p = (const unsigned char *)str; *p != '\0';
	     p++) {
		if (*p == '\r' || *p == '\n')
			return FORM_LITERAL;
		if (*p >= 0x80) {
			if (!utf8)
				return FORM_LITERAL;
			form = FORM_QUOTED;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f || *p == ' ' || *p == '(' ||
		    *p == ')' || *p == '{' || *p == '"' || *p == '\\' ||
		    *p == '%' || *p == '*')
			form = FORM_QUOTED;
	}
	return form;
}

void imap_write_quoted(string_t *dest, const char *str)
{
	str_append_c(dest, '"');
	for (; *str != '\0'; str++) {
		i_assert(*str != '\r' && *str != '\n');
		if (*str == '"' || *str == '\\')
			str_append_c(dest, '\\');
		str_append_c(dest, *str);
	}
	str_append_c(dest, '"');
}

static void imap_write_literal(string_t *dest, const char *str)
{
	size_t len = strlen(str);

	str_printfa(dest, "{%zu}\r\n", len);
	str_append_data(dest, str, len);
}

void imap_write_astring(string_t *dest, const char *str, bool utf8)
{
	switch (imap_str_form(str, utf8)) {
	case FORM_ATOM:
		str_append(dest, str);
		break;
	case FORM_QUOTED:
		imap_write_quoted(dest, str);
		break;
	case FORM_LITERAL:
		imap_write_literal(dest, str);
		break;
	}
}

void imap_write_string(string_t *dest, const char *str, bool utf8)
{
	if (imap_str_form(str, utf8) == FORM_LITERAL)
		imap_write_literal(dest, str);
	else
		imap_write_quoted(dest, str);
}

void imap_write_nstring(string_t *dest, const char *str, bool utf8)
{
	if (str == NULL)
		str_append(dest, "NIL");
	else
		imap_write_string(dest, str, utf8);
}
