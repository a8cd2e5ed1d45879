/* The IMAP QUOTA extension (RFC 9208) over the user's quota (Dovecot's
   quota_rule settings, lib-storage's mail-quota.h): one quota root,
   "User quota", covering every mailbox of the user, with the resources
   STORAGE (in units of 1024 octets: the sum of RFC822.SIZEs) and
   MESSAGE. The limits are the administrator's: SETQUOTA is refused and
   QUOTASET is not advertised. */
#ifndef COLUMBA_IMAP_QUOTA_H
#define COLUMBA_IMAP_QUOTA_H

#include "lib.h"

struct client;

/* Dovecot's example name: some clients (Apple Mail) show no quota for
   a root named "" */
#define IMAP_QUOTA_ROOT_NAME "User quota"

/* Send "* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)"
   (only the resources that have a limit; "()" when none). Blocks on
   the index. Returns 0, or -1 with the user's storage error set (nothing
   sent). */
int imap_quota_send(struct client *client) ATTR_WARN_UNUSED;

#endif
