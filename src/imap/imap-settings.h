/* Settings of the IMAP sessions in this process (the mail process, or a
   PREAUTH "columba imap -u"), taken once from the configuration before the
   first session. Until then the built-in defaults apply. */
#ifndef COLUMBA_IMAP_SETTINGS_H
#define COLUMBA_IMAP_SETTINGS_H

#include "lib.h"

struct columba_settings;

/* Take the values from set (not kept). Call before the first session:
   the capability string is built once. */
void imap_settings_init(const struct columba_settings *set);
/* imap_max_append_size: APPENDLIMIT in bytes, 0 = no limit. */
uint64_t imap_append_max_size(void);
/* imap_autologout in milliseconds: a session without traffic this long
   is told "* BYE Disconnected for inactivity." and ends. */
unsigned int imap_autologout_msecs(void);
/* imap_utf8_accept: UTF8=ACCEPT is advertised (and can be enabled). */
bool imap_utf8_accept_advertised(void);
/* The tagged NO of a command refused for quota: "NO [OVERQUOTA] " and
   quota_exceeded_message. */
const char *imap_quota_exceeded_reply(void);

#endif
