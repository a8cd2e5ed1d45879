/* pop3_uidl_format: a message's UIDL from Dovecot's template syntax, so
   a server migrated from Dovecot (or back) gives clients the UIDLs they
   already know and they do not download everything again. */
#ifndef COLUMBA_POP3_UIDL_H
#define COLUMBA_POP3_UIDL_H

#include "lib.h"

struct pop3_uidl_params {
	uint32_t uid, uidvalidity;
	/* the message's GUID (%g), "" if unknown */
	const char *guid;
};

/* Expand format as Dovecot's var_expand() does for the variables POP3
   UIDLs use: %u / %{uid} (UID), %v / %{uidvalidity}, %g / %{guid}, %%.
   Each variable may carry, in this order, a width ("%08u": with a leading
   0 the value is zero-padded to it, without it the value is cut to it)
   and modifiers X (decimal to lowercase hex, as Dovecot's), L, U (case).
   The default "%08Xu%08Xv" gives Dovecot's default UIDLs. Returns 0 with
   the UIDL (data stack), or -1 with *error_r for a variable we do not
   know (%m, the header MD5, is not supported) or a malformed template.
   A valid UIDL is 1..70 characters 0x21..0x7E (RFC 1939 §7): -1 too
   when the result is not. */
int pop3_uidl_expand(const char *format, const struct pop3_uidl_params *params,
		     const char **uidl_r, const char **error_r)
	ATTR_WARN_UNUSED;

#endif
