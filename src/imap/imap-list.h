/* The mailbox names LIST and LSUB report: which names match the client's
   patterns and satisfy the selection criteria (RFC 5258 §3), with what
   each name is (existing, \Noselect, subscribed, children, special use)
   and whether RECURSIVEMATCH reports it for its descendants' sake
   (CHILDINFO). Pure computation over one read of the mailbox list and
   the subscriptions; the commands format the answer. */
#ifndef COLUMBA_IMAP_LIST_H
#define COLUMBA_IMAP_LIST_H

#include "mail-storage.h"

struct client;

enum imap_list_select {
	/* subscribed names instead of existing mailboxes */
	IMAP_LIST_SELECT_SUBSCRIBED = 0x01,
	/* only mailboxes with a special-use attribute (RFC 6154) */
	IMAP_LIST_SELECT_SPECIAL_USE = 0x02,
	/* also names that do not satisfy the criteria but have a
	   descendant that does and that the patterns do not match */
	IMAP_LIST_SELECT_RECURSIVEMATCH = 0x04,
};

struct imap_list_entry {
	/* storage name (UTF-8) */
	const char *name;
	/* 0 when the name is not an existing mailbox (\NonExistent) */
	uint32_t id;
	enum mail_special_use special_use;
	bool exists:1;
	/* exists only because it has children */
	bool noselect:1;
	bool subscribed:1;
	/* an existing mailbox below it */
	bool has_children:1;
	/* satisfies the selection criteria itself (else it is here only
	   because of RECURSIVEMATCH) */
	bool selected:1;
	/* RECURSIVEMATCH: a descendant satisfies the criteria */
	bool childinfo:1;
};
ARRAY_DEFINE_TYPE(imap_list_entry, struct imap_list_entry);

/* Fill result (from pool) with the names matching any of the patterns
   (storage form, '*' and '%' wildcards, INBOX case-insensitive) that the
   selection reports, sorted by name with INBOX first. Blocks on the
   index. Returns 0, or -1 with the user's storage error set. */
int imap_list_collect(struct mail_user *user, const char *const *patterns,
		      enum imap_list_select select, pool_t pool,
		      ARRAY_TYPE(imap_list_entry) *result) ATTR_WARN_UNUSED;

/* The client's reference and pattern (modified UTF-7 unless utf8) as one
   storage-form pattern (RFC 9051 §6.3.9: the reference is prepended).
   Returns NULL with *error_r if either is not valid in its encoding.
   Data stack. */
const char *imap_list_pattern_to_storage(const char *ref, const char *pattern,
					 bool utf8, const char **error_r);

/* RFC 9051 §5.1 and §6.3.9.7: an IMAP4rev2 client that sent a mailbox
   name in a form other than the one the server uses (not NFC) is told with
   an untagged LIST carrying OLDNAME: appends to dest
   '(<attrs>) "/" <name> ("OLDNAME" (<sent_name>))' without "* LIST ".
   Returns false (dest untouched) when there is nothing to tell: the names
   are the same (INBOX in any case counts as the same), or the session is
   not IMAP4rev2 (RFC 3501 has no unsolicited LIST). */
bool imap_list_oldname(struct client *client, string_t *dest,
		       const char *attrs, const char *sent_name,
		       const char *storage_name);
/* The same as a whole "* LIST ..." line sent to the client. */
void imap_list_send_oldname(struct client *client, const char *attrs,
			    const char *sent_name, const char *storage_name);

/* "NO [CODE] text" for the last error of a direct mail_index_*() call
   (those set the index's error, not the user's; an internal cause is
   already logged). Data stack. */
const char *imap_index_error_line(struct client *client);

#endif
