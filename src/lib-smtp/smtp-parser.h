/* The SMTP command grammar (RFC 5321 section 4.1, with RFC 6531 SMTPUTF8),
   shared by LMTP and later Submission: command lines, reverse- and
   forward-paths with quoted local parts and address literals, and ESMTP
   parameters. No I/O and no storage here; every function works on one
   NUL-terminated command line the caller already read.

   Strings returned come from the pool given (or the data stack where the
   function says so). Errors are short texts fit for a 501 reply. */
#ifndef COLUMBA_SMTP_PARSER_H
#define COLUMBA_SMTP_PARSER_H

#include "lib.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF;
   extensions (SIZE=, BODY=, SMTPUTF8 addresses) may make it longer, so
   servers accept more. Dovecot accepts 4 KiB lines. */
#define SMTP_COMMAND_LINE_MAX 4096
/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets. We accept
   longer local parts (some MTAs generate long VERP addresses) but bound
   the whole path. */
#define SMTP_PATH_MAX 1024

enum smtp_parse_flags {
	/* non-ASCII UTF-8 is allowed in local parts and domains (the
	   client said SMTPUTF8 on MAIL FROM) */
	SMTP_PARSE_FLAG_UTF8 = 0x01,
	/* "<>" (the null reverse-path of MAIL FROM) is allowed */
	SMTP_PARSE_FLAG_ALLOW_EMPTY = 0x02,
	/* "<postmaster>" without a domain is allowed (RCPT TO) */
	SMTP_PARSE_FLAG_ALLOW_LOCALPART_ONLY = 0x04,
};

struct smtp_address {
	/* unquoted: "a b" for <"a b"@example.com>. NULL for <>. */
	const char *localpart;
	/* "example.com", "[192.0.2.1]"; NULL for <> and <postmaster> */
	const char *domain;
};

struct smtp_param {
	/* as sent; compare case-insensitively */
	const char *keyword;
	/* NULL when the parameter has no "=value" */
	const char *value;
};
ARRAY_DEFINE_TYPE(smtp_param, struct smtp_param);

/* Split "VERB args" into the verb (upper-cased, on the data stack) and the
   rest after one space (*args_r, "" when there is none). Returns 0, or -1
   for an empty line, a verb that is not 1..16 letters, or a line with a
   NUL or control character other than TAB (*error_r). */
int smtp_command_parse(const char *line, size_t len, const char **verb_r,
		       const char **args_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* Parse "FROM:<path> params" or "TO:<path> params": prefix ("FROM:",
   "TO:") matched case-insensitively, spaces after the colon tolerated
   (clients that send "MAIL FROM: <x>" are common). The path goes to
   *address_r, the parameters (possibly none) to params. Returns 0, or -1
   with *error_r. */
int smtp_parse_path_command(const char *args, const char *prefix,
			    enum smtp_parse_flags flags, pool_t pool,
			    struct smtp_address *address_r,
			    ARRAY_TYPE(smtp_param) *params,
			    const char **error_r) ATTR_WARN_UNUSED;

/* Parse one path "<...>" at *pos (a source route "@a,@b:" is accepted and
   ignored, RFC 5321 4.1.2); *pos is left after the '>'. */
int smtp_parse_path(const char **pos, enum smtp_parse_flags flags,
		    pool_t pool, struct smtp_address *address_r,
		    const char **error_r) ATTR_WARN_UNUSED;

/* Parse "KEY[=VALUE] KEY[=VALUE]..." (esmtp-param, RFC 5321 4.1.2; with
   UTF8, values may hold UTF-8 as RFC 6531 allows). Appends to params;
   a keyword given twice is an error. */
int smtp_parse_params(const char *str, enum smtp_parse_flags flags,
		      pool_t pool, ARRAY_TYPE(smtp_param) *params,
		      const char **error_r) ATTR_WARN_UNUSED;
/* The parameter's value, or NULL; *found_r (may be NULL) says whether it
   was present at all. */
const char *smtp_params_get(const ARRAY_TYPE(smtp_param) *params,
			    const char *keyword, bool *found_r);

/* True if str is valid UTF-8 (no overlongs, no surrogates). */
bool smtp_utf8_is_valid(const unsigned char *str, size_t len);

/* "localpart@domain" with the local part quoted if it needs it, as it
   goes back into an SMTP path or a header: "<" + this + ">". "" for the
   null path. On the data stack. */
const char *smtp_address_encode(const struct smtp_address *address);

/* Split a local part at the first of the delimiter characters (Dovecot's
   recipient_delimiter: each character is a delimiter): "alice+lists" ->
   "alice" and "lists" (the delimiter is dropped). No delimiter present
   (or delimiters "") gives the whole local part and detail "". On the
   data stack. */
void smtp_address_detail_split(const char *localpart, const char *delimiters,
			       const char **user_r, const char **detail_r);

#endif
