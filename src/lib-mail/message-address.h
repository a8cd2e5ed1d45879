/* RFC 5322 address lists: addr-spec, name-addr, groups, comments, quoted
   local parts, obsolete routes and the broken forms real mail has. The
   result is what IMAP ENVELOPE shows (RFC 3501 section 7.4.2), built the way
   Dovecot builds it, so clients see the same addresses:
   - a group is a start marker (mailbox = group name, domain = NULL)
     followed by its members and an end marker (all fields NULL);
   - "user@host (Real Name)" takes the comment as the name;
   - missing parts are filled in (with MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING)
     as "MISSING_MAILBOX", "MISSING_DOMAIN", "INVALID_ROUTE",
     "SYNTAX_ERROR". */
#ifndef COLUMBA_MESSAGE_ADDRESS_H
#define COLUMBA_MESSAGE_ADDRESS_H

#include "lib.h"

enum message_address_parse_flags {
	MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING = 0x01,
};

struct message_address {
	struct message_address *next;
	/* name is the display name (phrase, unescaped, not RFC 2047
	   decoded); route is the obsolete source route ("@a,@b") */
	const char *name, *route, *mailbox, *domain;
	bool invalid_syntax;
};

/* Parse an address list (an unfolded header value). At most
   max_addresses are returned (UINT_MAX: no limit). Strings are allocated
   from pool; NUL bytes become U+FFFD. Returns NULL for an empty list. */
struct message_address *
message_address_parse(pool_t pool, const void *data, size_t size,
		      unsigned int max_addresses,
		      enum message_address_parse_flags flags);

/* Write an address list back in RFC 5322 form (names quoted as needed). */
void message_address_write(string_t *str, const struct message_address *addr);

#endif
