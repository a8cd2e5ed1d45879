/* Moving mail in and out: import a Dovecot Maildir++ tree (keeping UIDs
   and UIDVALIDITY from dovecot-uidlist, flags from file names, keywords
   from dovecot-keywords) or an mbox file, and export a user to Maildir++
   in the same format, so a user can go from Dovecot to Columba and back.
   All blocking, for tools. Errors are the user's last error. */
#ifndef COLUMBA_MAIL_MIGRATE_H
#define COLUMBA_MAIL_MIGRATE_H

#include "mail-storage.h"

struct mail_migrate_stats {
	unsigned int mailboxes;
	unsigned int messages;
};

/* Import the Maildir++ tree at root: root itself is INBOX, ".A.B" is
   "A/B" (names in IMAP modified UTF-7 on disk). A mailbox that does not
   exist yet keeps the folder's UIDVALIDITY and its messages their UIDs;
   one that exists gets the messages appended with new UIDs. */
int mail_import_maildir(struct mail_user *user, const char *root,
			struct mail_migrate_stats *stats_r) ATTR_WARN_UNUSED;
/* Import an mbox file (mboxrd "From " separators; Status:/X-Status:
   flags) into mailbox, created if needed. */
int mail_import_mbox(struct mail_user *user, const char *path,
		     const char *mailbox, struct mail_migrate_stats *stats_r)
	ATTR_WARN_UNUSED;
/* Write every selectable mailbox under root as Maildir++ with
   dovecot-uidlist (UIDVALIDITY, UIDNEXT, UIDs), dovecot-keywords, flags in
   file names, INTERNALDATE as the files' mtime, and subscriptions. */
int mail_export_maildir(struct mail_user *user, const char *root,
			struct mail_migrate_stats *stats_r) ATTR_WARN_UNUSED;

/* IMAP modified UTF-7 (RFC 3501 5.1.3) to UTF-8: -1 if malformed. */
int mail_mutf7_to_utf8(const char *src, string_t *dest);
/* UTF-8 to modified UTF-7; characters in also_encode (printable ASCII
   that must not appear, like Maildir++'s '.') are encoded too. */
void mail_utf8_to_mutf7(const char *src, const char *also_encode,
			string_t *dest);

#endif
