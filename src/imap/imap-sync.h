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

/* IMAP4rev1 \Recent (RFC 3501 §2.3.2): whether the session reports it
   (not after ENABLE IMAP4rev2, which dropped it). */
bool imap_sync_tracks_recent(const struct client *client);
/* Take the selected mailbox's new unclaimed messages as \Recent (claimed
   unless the mailbox is read-only); for SELECT and every sync. Returns 0,
   or -1 (logged; the recent set is unchanged). */
int imap_sync_update_recent(struct client *client);
/* "FLAGS (\Seen \Recent kw)" for message uid of the selected mailbox as
   this session must see it: with \Recent if it is recent to an IMAP4rev1
   session (data stack). */
const char *imap_sync_client_flags_item(struct client *client, uint32_t uid,
					enum mail_flags flags,
					const char *const *keywords);

/* "FLAGS (\Seen kw)" for a FETCH response (data stack). */
const char *imap_sync_flags_item(enum mail_flags flags,
				 const char *const *keywords);

#endif
