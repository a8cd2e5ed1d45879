/* The POP3 command grammar (RFC 1939 section 3, RFC 2449 section 3),
   shared by the pre-login side (src/pop3-login) and the session in the
   mail process (src/pop3): splitting a command line into its keyword and
   arguments, and reading message numbers. Pure functions on strings: no
   I/O, no storage; fuzzed by fuzz/fuzz-pop3.c. */
#ifndef COLUMBA_POP3_COMMAND_H
#define COLUMBA_POP3_COMMAND_H

#include "lib.h"

/* RFC 2449 §4: a command line is at most 255 octets, but SASL initial
   responses (AUTH) and long passwords need more; Dovecot allows lines
   far longer too. */
#define POP3_MAX_COMMAND_LINE 8192
/* RFC 1939: keywords are 3 or 4 characters; a little slack for
   extensions (XCLIENT), nothing more. */
#define POP3_MAX_KEYWORD_LEN 16

struct pop3_command_line {
	/* the keyword, upper-cased (data stack) */
	const char *name;
	/* everything after the keyword and one space, NULL if there was
	   nothing; PASS takes it whole (a password may contain spaces) */
	const char *args;
};

/* Split line (len bytes, no CRLF) into keyword and arguments. Returns 0,
   or -1 with a client-safe *error_r: an empty line, a keyword that is not
   1..POP3_MAX_KEYWORD_LEN letters, NUL or other control characters except
   TAB in the arguments. Strings are on the data stack. */
int pop3_command_parse(const char *line, size_t len,
		       struct pop3_command_line *cmd_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* Split args on single spaces into at most max_args arguments (NULL args
   is zero arguments). Returns the count (data stack array in *args_r,
   NULL-terminated) when it is between min_args and max_args and no
   argument is empty, else -1 with *error_r. */
int pop3_command_args(const char *args, unsigned int min_args,
		      unsigned int max_args, const char *const **args_r,
		      const char **error_r) ATTR_WARN_UNUSED;

/* A decimal number as RFC 1939 uses for messages and line counts: digits
   only (no sign, no spaces), at most UINT32_MAX. Returns 0 or -1. */
int pop3_parse_uint(const char *str, uint32_t *num_r) ATTR_WARN_UNUSED;

#endif
