/* IMAP URLs (RFC 5092) as CATENATE (RFC 4469) uses them: the relative
   form naming one message or section of the user's own mail,
     /INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=0.100
   Absolute URLs (imap://host/...) and URLAUTH are not accepted: a server
   cannot tell whether another host name is its own. */
#ifndef COLUMBA_IMAP_URL_H
#define COLUMBA_IMAP_URL_H

#include "lib.h"

struct imap_url {
	/* percent-decoded; as the client names mailboxes (modified UTF-7
	   unless UTF8=ACCEPT) */
	const char *mailbox;
	/* 0 = not given */
	uint32_t uidvalidity;
	uint32_t uid;
	/* percent-decoded, e.g. "1.2.MIME"; NULL = the whole message */
	const char *section;
	uint64_t partial_offset;
	/* UINT64_MAX = to the end */
	uint64_t partial_size;
};

/* Parse str into *url_r (strings on the data stack). Returns 0, or -1
   with *error_r (a static text for the client). */
int imap_url_parse(const char *str, struct imap_url *url_r,
		   const char **error_r) ATTR_WARN_UNUSED;

#endif
