/* STATUS data items (RFC 9051 §6.3.11, STATUS=SIZE RFC 8438, CONDSTORE's
   HIGHESTMODSEQ RFC 7162, APPENDLIMIT RFC 7889, MAILBOXID RFC 8474,
   QUOTA's DELETED-STORAGE RFC 9208):
   parsing the item list and writing the untagged STATUS response,
   shared by STATUS and LIST's RETURN (STATUS ...) (LIST-STATUS,
   RFC 5819). */
#ifndef COLUMBA_IMAP_STATUS_H
#define COLUMBA_IMAP_STATUS_H

#include "imap-arg.h"

struct client;

enum imap_status_items {
	IMAP_STATUS_MESSAGES = 0x001,
	/* IMAP4rev1 only (refused after ENABLE IMAP4rev2) */
	IMAP_STATUS_RECENT = 0x002,
	IMAP_STATUS_UIDNEXT = 0x004,
	IMAP_STATUS_UIDVALIDITY = 0x008,
	IMAP_STATUS_UNSEEN = 0x010,
	IMAP_STATUS_DELETED = 0x020,
	IMAP_STATUS_SIZE = 0x040,
	IMAP_STATUS_HIGHESTMODSEQ = 0x080,
	IMAP_STATUS_APPENDLIMIT = 0x100,
	/* OBJECTID (RFC 8474 §4.3): the mailbox GUID */
	IMAP_STATUS_MAILBOXID = 0x200,
	/* QUOTA (RFC 9208 §4.1.4): what an EXPUNGE would free */
	IMAP_STATUS_DELETED_STORAGE = 0x400,
};

/* Parse a parenthesized list of at least one item (any case; repeats
   count once). RECENT is refused after ENABLE IMAP4rev2 (RFC 9051 has
   no such item). HIGHESTMODSEQ enables CONDSTORE (RFC 7162 §3.1) when
   it is advertised. Returns 0, or -1 with *error_r for a BAD reply. */
int imap_status_parse_items(struct client *client, const struct imap_arg *arg,
			    enum imap_status_items *items_r,
			    const char **error_r) ATTR_WARN_UNUSED;

/* Send "* STATUS name (items)" for mailbox_id, whose storage name is
   storage_name, items in a fixed order (RFC 9051's example order).
   Blocks on the index. Returns 0, or -1 with the user's storage error
   set (nothing sent). */
int imap_status_send(struct client *client, uint32_t mailbox_id,
		     const char *storage_name, enum imap_status_items items)
	ATTR_WARN_UNUSED;

#endif
