/* The mailboxes every user gets from the configuration (Dovecot's
   `namespace inbox { mailbox Sent { special_use = \Sent  auto = subscribe } }`). */
#ifndef COLUMBA_MAIL_AUTOCREATE_H
#define COLUMBA_MAIL_AUTOCREATE_H

#include "columba-settings.h"
#include "mail-storage.h"

/* Create the configured mailboxes with auto = create or subscribe that
   the user does not have (with their special use; auto = subscribe ones
   are subscribed as they are created, so a user's later UNSUBSCRIBE
   stays), and give an existing one that has no special use the
   configured one. A user who has them all costs one read of the
   mailbox list. Inside a batch the caller began
   (mail_user_mailbox_batch_begin()) the changes join it and the caller
   commits; otherwise they are one batch of their own. Blocks. Returns
   the number of mailboxes created, or -1
   after logging the failure with the user's event (the user can still
   work: callers go on). */
int mail_user_autocreate(const struct columba_settings *set,
			 struct mail_user *user);

#endif
