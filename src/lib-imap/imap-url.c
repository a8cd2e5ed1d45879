/* IMAP URL parsing for CATENATE: RFC 5092's relative message URL. The
   grammar only: whether the mailbox, message and section exist is the
   caller's business. */
#include "lib.h"
#include "str.h"
#include "imap-url.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [str, end) (RFC 3986). NUL and control characters are
   refused: they can be in neither a mailbox name nor a section. */
static const char *url_decode(const char *str, const char *end)
{
	string_t *dest = t_str_new((size_t)(end - str) + 1);

	while (str < end) {
		unsigned char c = (unsigned char)*str;
		if (c == '%') {
			if (end - str < 3)
				return NULL;
			int hi = hex_value(str[1]), lo = hex_value(str[2]);
			if (hi < 0 || lo < 0)
				return NULL;
			c = (unsigned char)(hi * 16 + lo);
			str += 3;
		} else {
			str++;
		}
		if (c < 0x20 || c == 0x7f)
			return NULL;
		str_append_c(dest, (char)c);
	}
	return str_c(dest);
}

/* A decimal number at *p (no leading zeros unless it is "0"), up to
   max. */
static bool url_parse_number(const char **p, uint64_t max, uint64_t *num_r)
{
	const char *s = *p;
	uint64_t n = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' &&
				     s[1] <= '9'))
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*num_r = n;
	*p = s;
	return true;
}

static bool url_skip_key(const char **p, const char *key)
{
	size_t len = strlen(key);

	if (strncasecmp(*p, key, len) != 0)
		return false;
	*p += len;
	return true;
}

int imap_url_parse(const char *str, struct imap_url *url_r,
		   const char **error_r)
{
	const char *p, *end;
	uint64_t num;

	memset(url_r, 0, sizeof(*url_r));
	url_r->partial_size = UINT64_MAX;
	if (strncasecmp(str, "imap:", 5) == 0) {
		*error_r = "Only relative IMAP URLs are supported.";
		return -1;
	}
	if (str[0] != '/' || str[1] == '/') {
		*error_r = "Not a relative IMAP URL (/mailbox/;UID=n).";
		return -1;
	}
	/* the mailbox runs to ";UIDVALIDITY=" or "/;UID=" */
	p = str + 1;
	for (end = p; *end != '\0'; end++) {
		if (*end == ';' || (end[0] == '/' && end[1] == ';'))
			break;
	}
	if (end == p) {
		*error_r = "Missing mailbox in URL.";
		return -1;
	}
	url_r->mailbox = url_decode(p, end);
	if (url_r->mailbox == NULL) {
		*error_r = "Invalid %-encoding in URL.";
		return -1;
	}
	p = end;
	if (url_skip_key(&p, ";UIDVALIDITY=")) {
		if (!url_parse_number(&p, UINT32_MAX, &num) || num == 0) {
			*error_r = "Invalid UIDVALIDITY in URL.";
			return -1;
		}
		url_r->uidvalidity = (uint32_t)num;
	}
	if (!url_skip_key(&p, "/;UID=")) {
		*error_r = "URL names no message (/;UID=n).";
		return -1;
	}
	if (!url_parse_number(&p, UINT32_MAX, &num) || num == 0) {
		*error_r = "Invalid UID in URL.";
		return -1;
	}
	url_r->uid = (uint32_t)num;
	if (url_skip_key(&p, "/;SECTION=")) {
		for (end = p; *end != '\0' && *end != '/' && *end != ';'; end++)
			;
		url_r->section = end == p ? NULL : url_decode(p, end);
		if (url_r->section == NULL) {
			*error_r = "Invalid SECTION in URL.";
			return -1;
		}
		p = end;
	}
	if (url_skip_key(&p, "/;PARTIAL=")) {
		if (!url_parse_number(&p, UINT64_MAX, &num)) {
			*error_r = "Invalid PARTIAL in URL.";
			return -1;
		}
		url_r->partial_offset = num;
		if (*p == '.') {
			p++;
			if (!url_parse_number(&p, UINT64_MAX, &num) ||
			    num == 0) {
				*error_r = "Invalid PARTIAL in URL.";
				return -1;
			}
			url_r->partial_size = num;
		}
	}
	if (*p == ';') {
		*error_r = "URLAUTH is not supported.";
		return -1;
	}
	if (*p != '\0') {
		*error_r = "Invalid IMAP URL.";
		return -1;
	}
	return 0;
}
