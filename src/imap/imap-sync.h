/* Untagged updates for the selected mailbox: what other sessions (and
   this one) changed since the client last heard, from mailbox_sync(). */
#ifndef COLUMBA_IMAP_SYNC_H
#define COLUMBA_IMAP_SYNC_H

struct client;

/* Sync the selected mailbox and send EXPUNGE (VANISHED for QRESYNC
   clients), EXISTS, FLAGS (if new keywords appeared) and FETCH (FLAGS)
   responses. no_expunges: keep expunged messages in the view for now
   (FETCH, STORE, SEARCH: RFC 9051 §7.5.1). Returns 0, or -1 if the sync
   failed (logged, nothing sent) or the mailbox is gone (the session is
   being disconnected with BYE). Blocks on the local index. */
int imap_sync_send(struct client *client, bool no_expunges);

/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" with the mailbox's
   keywords, remembering them for later syncs. Returns 0 or -1 (storage
   error set). */
int imap_sync_send_flags(struct client *client);

/* "FLAGS (\Seen kw)" for a FETCH response (data stack). */
const char *imap_sync_flags_item(enum mail_flags flags,
				 const char *const *keywords);

#endif
