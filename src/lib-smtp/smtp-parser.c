/* SMTP command line grammar: RFC 5321 4.1.1-4.1.3 with RFC 6531's UTF-8
   extensions. Strict where a mistake could change where mail goes (paths),
   lenient only where real clients are known to deviate harmlessly (a
   space after "FROM:"). */
#include "lib.h"
#include "smtp-parser.h"

#include <strings.h>

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 atext */
static bool is_atext(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of one UTF-8 sequence starting at p (non-ASCII only), or 0 if it
   is not valid there. */
static size_t utf8_seq_len(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2; cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3; cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4; cp = c & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

bool smtp_utf8_is_valid(const unsigned char *str, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (str[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq_len(str + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Non-ASCII UTF-8 at *p, allowed with SMTPUTF8: advance and return true. */
static bool skip_utf8(const unsigned char **p, enum smtp_parse_flags flags)
{
	if ((flags & SMTP_PARSE_FLAG_UTF8) == 0 || **p < 0x80)
		return false;
	size_t n = utf8_seq_len(*p, strnlen((const char *)*p, 4));
	if (n == 0)
		return false;
	*p += n;
	return true;
}

int smtp_command_parse(const char *line, size_t len, const char **verb_r,
		       const char **args_r, const char **error_r)
{
	size_t i;

	if (strlen(line) != len) {
		*error_r = "NUL character in command";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*error_r = "Control character in command";
			return -1;
		}
	}
	for (i = 0; is_alpha((unsigned char)line[i]); i++) ;
	if (i == 0 || i > 16 || (line[i] != ' ' && line[i] != '\0')) {
		*error_r = len == 0 ? "Empty command" : "Invalid command syntax";
		return -1;
	}
	*verb_r = t_str_ucase(t_strndup(line, i));
	*args_r = line[i] == ' ' ? line + i + 1 : "";
	return 0;
}

/* Dot-string: atom *("." atom) */
static int parse_dot_string(const unsigned char **pos,
			    enum smtp_parse_flags flags, string_t *dest)
{
	const unsigned char *p = *pos, *start;

	for (;;) {
		start = p;
		for (;;) {
			if (is_atext(*p))
				p++;
			else if (!skip_utf8(&p, flags))
				break;
		}
		if (p == start)
			return -1;
		if (*p != '.')
			break;
		p++;
	}
	str_append_data(dest, *pos, (size_t)(p - *pos));
	*pos = p;
	return 0;
}

/* Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE */
static int parse_quoted_string(const unsigned char **pos,
			       enum smtp_parse_flags flags, string_t *dest)
{
	const unsigned char *p = *pos + 1;

	for (;;) {
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (p[1] < 32 || p[1] > 126)
				return -1;
			str_append_c(dest, (char)p[1]);
			p += 2;
		} else if (*p >= 32 && *p <= 126) {
			str_append_c(dest, (char)*p);
			p++;
		} else {
			const unsigned char *s = p;
			if (!skip_utf8(&p, flags))
				return -1;
			str_append_data(dest, s, (size_t)(p - s));
		}
	}
	*pos = p + 1;
	return 0;
}

/* Domain (sub-domain *("." sub-domain)) or address-literal "[...]" */
static int parse_domain(const unsigned char **pos, enum smtp_parse_flags flags)
{
	const unsigned char *p = *pos;

	if (*p == '[') {
		/* IPv4, "IPv6:..." or General-address-literal: dcontent is
		   %d33-90 / %d94-126 */
		p++;
		const unsigned char *start = p;
		while (*p >= 33 && *p <= 126 && *p != '[' && *p != ']' &&
		       *p != '\\')
			p++;
		if (p == start || *p != ']')
			return -1;
		*pos = p + 1;
		return 0;
	}
	for (;;) {
		const unsigned char *start = p;
		for (;;) {
			if (is_alpha(*p) || is_digit(*p) || *p == '-')
				p++;
			else if (!skip_utf8(&p, flags))
				break;
		}
		/* Let-dig [Ldh-str]: no leading or trailing hyphen */
		if (p == start || *start == '-' || p[-1] == '-')
			return -1;
		if (*p != '.')
			break;
		p++;
	}
	*pos = p;
	return 0;
}

int smtp_parse_path(const char **_pos, enum smtp_parse_flags flags,
		    pool_t pool, struct smtp_address *address_r,
		    const char **error_r)
{
	const unsigned char *p = (const unsigned char *)*_pos;
	const unsigned char *start = p;

	address_r->localpart = NULL;
	address_r->domain = NULL;
	if (*p != '<') {
		*error_r = "Path must be enclosed in <>";
		return -1;
	}
	p++;
	if (*p == '>') {
		if ((flags & SMTP_PARSE_FLAG_ALLOW_EMPTY) == 0) {
			*error_r = "Null path not allowed here";
			return -1;
		}
		*_pos = (const char *)p + 1;
		return 0;
	}
	/* A-d-l ":" (source route): obsolete, ignored as RFC 5321 says */
	if (*p == '@') {
		for (;;) {
			p++;
			if (parse_domain(&p, flags) < 0) {
				*error_r = "Invalid source route";
				return -1;
			}
			if (*p == ':')
				break;
			if (*p != ',' || p[1] != '@') {
				*error_r = "Invalid source route";
				return -1;
			}
			p++;
		}
		p++;
	}

	string_t *local = t_str_new(64);
	int ret = *p == '"' ? parse_quoted_string(&p, flags, local) :
		parse_dot_string(&p, flags, local);
	if (ret < 0) {
		*error_r = (flags & SMTP_PARSE_FLAG_UTF8) == 0 && *p >= 0x80 ?
			"Non-ASCII address without SMTPUTF8" :
			"Invalid local part";
		return -1;
	}
	if (*p == '@') {
		p++;
		const unsigned char *dstart = p;
		if (parse_domain(&p, flags) < 0) {
			*error_r = (flags & SMTP_PARSE_FLAG_UTF8) == 0 &&
				*p >= 0x80 ?
				"Non-ASCII address without SMTPUTF8" :
				"Invalid domain";
			return -1;
		}
		address_r->domain = p_strndup(pool, dstart,
					      (size_t)(p - dstart));
	} else if ((flags & SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY) == 0 ||
		   strcasecmp(str_c(local), "postmaster") != 0) {
		*error_r = "Missing domain";
		return -1;
	}
	if (*p != '>') {
		*error_r = "Invalid character in path";
		return -1;
	}
	p++;
	if ((size_t)(p - start) > SMTP_PATH_MAX) {
		*error_r = "Path too long";
		return -1;
	}
	address_r->localpart = p_strdup(pool, str_c(local));
	*_pos = (const char *)p;
	return 0;
}

static bool is_esmtp_keyword(const char *key, size_t len)
{
	if (len == 0 || !(is_alpha((unsigned char)key[0]) ||
			  is_digit((unsigned char)key[0])))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return false;
	}
	return true;
}

int smtp_parse_params(const char *str, enum smtp_parse_flags flags,
		      pool_t pool, ARRAY_TYPE(smtp_param) *params,
		      const char **error_r)
{
	const char *p = str;

	while (*p != '\0') {
		const char *start = p, *eq = NULL;
		while (*p != ' ' && *p != '\0') {
			if (*p == '=' && eq == NULL)
				eq = p;
			p++;
		}
		const char *end = p;
		if (end == start) {
			/* a second space */
			*error_r = "Invalid parameter syntax";
			return -1;
		}
		size_t klen = (size_t)((eq != NULL ? eq : end) - start);
		if (!is_esmtp_keyword(start, klen)) {
			*error_r = "Invalid parameter keyword";
			return -1;
		}
		struct smtp_param param = {
			.keyword = p_strndup(pool, start, klen),
		};
		if (eq != NULL) {
			const unsigned char *v = (const unsigned char *)eq + 1;
			size_t vlen = (size_t)(end - (eq + 1));
			if (vlen == 0) {
				*error_r = "Empty parameter value";
				return -1;
			}
			for (size_t i = 0; i < vlen; i++) {
				/* esmtp-value: %d33-60 / %d62-126 (no '=')
				   or UTF-8 with SMTPUTF8 */
				if (v[i] >= 33 && v[i] <= 126 && v[i] != '=')
					continue;
				if (v[i] >= 0x80 &&
				    (flags & SMTP_PARSE_FLAG_UTF8) != 0)
					continue;
				*error_r = "Invalid parameter value";
				return -1;
			}
			if (!smtp_utf8_is_valid(v, vlen)) {
				*error_r = "Invalid UTF-8 in parameter value";
				return -1;
			}
			param.value = p_strndup(pool, v, vlen);
		}
		bool found;
		(void)smtp_params_get(params, param.keyword, &found);
		if (found) {
			*error_r = "Duplicate parameter";
			return -1;
		}
		array_push(params, param);
		if (*p == ' ')
			p++;
		if (*p == '\0' && p[-1] == ' ') {
			*error_r = "Trailing space after parameters";
			return -1;
		}
	}
	return 0;
}

const char *smtp_params_get(const ARRAY_TYPE(smtp_param) *params,
			    const char *keyword, bool *found_r)
{
	const struct smtp_param *param;

	array_foreach(params, param) {
		if (strcasecmp(param->keyword, keyword) == 0) {
			if (found_r != NULL)
				*found_r = true;
			return param->value;
		}
	}
	if (found_r != NULL)
		*found_r = false;
	return NULL;
}

int smtp_parse_path_command(const char *args, const char *prefix,
			    enum smtp_parse_flags flags, pool_t pool,
			    struct smtp_address *address_r,
			    ARRAY_TYPE(smtp_param) *params,
			    const char **error_r)
{
	size_t plen = strlen(prefix);
	const char *p = args;

	if (strncasecmp(p, prefix, plen) != 0) {
		*error_r = t_strdup_printf("Expected %s<address>", prefix);
		return -1;
	}
	p += plen;
	while (*p == ' ')
		p++;
	if (smtp_parse_path(&p, flags, pool, address_r, error_r) < 0)
		return -1;
	if (*p == '\0')
		return 0;
	if (*p != ' ') {
		*error_r = "Invalid character after path";
		return -1;
	}
	/* trailing spaces are harmless and some clients send them */
	p = t_str_trim(p + 1, " ");
	return smtp_parse_params(p, flags, pool, params, error_r);
}

static bool localpart_needs_quoting(const char *localpart)
{
	const unsigned char *p = (const unsigned char *)localpart;
	bool dot_ok = false;

	if (*p == '\0')
		return true;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (!dot_ok)
				return true;
			dot_ok = false;
		} else if (is_atext(*p) || *p >= 0x80) {
			dot_ok = true;
		} else {
			return true;
		}
	}
	return !dot_ok;
}

const char *smtp_address_encode(const struct smtp_address *address)
{
	if (address->localpart == NULL)
		return "";

	string_t *str = t_str_new(128);
	if (!localpart_needs_quoting(address->localpart))
		str_append(str, address->localpart);
	else {
		str_append_c(str, '"');
		for (const char *p = address->localpart; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				str_append_c(str, '\\');
			str_append_c(str, *p);
		}
		str_append_c(str, '"');
	}
	if (address->domain != NULL) {
		str_append_c(str, '@');
		str_append(str, address->domain);
	}
	return str_c(str);
}

void smtp_address_detail_split(const char *localpart, const char *delimiters,
			       const char **user_r, const char **detail_r)
{
	size_t pos = delimiters[0] == '\0' ? strlen(localpart) :
		strcspn(localpart, delimiters);

	if (localpart[pos] == '\0') {
		*user_r = localpart;
		*detail_r = "";
		return;
	}
	*user_r = t_strndup(localpart, pos);
	*detail_r = localpart + pos + 1;
}
