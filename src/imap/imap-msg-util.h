/* Helpers shared by the message commands (FETCH, STORE): message sets
   over the selected view, CONDSTORE enabling, and sending the flag
   changes a command made itself without the later sync repeating them. */
#ifndef COLUMBA_IMAP_MSG_UTIL_H
#define COLUMBA_IMAP_MSG_UTIL_H

#include "seq-range.h"

struct client;
struct client_command_context;

/* Parse a sequence set (or, with uid, a UID set) into the view's
   sequence numbers (seqs_r, created by the caller). A message number
   beyond the view is an error (RFC 9051: BAD); UIDs that are not in the
   view are silently dropped. "$" is the saved SEARCH result (RFC 5182;
   imap_search_saved_get(): possibly empty, never an error).
   Returns 0, or -1 with *error_r for a BAD reply. */
int imap_msgset_parse(struct client *client, const char *str, bool uid,
		      ARRAY_TYPE(seq_range) *seqs_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* The command is a CONDSTORE enabling command (RFC 7162 §3.1: FETCH
   MODSEQ/CHANGEDSINCE, STORE UNCHANGEDSINCE): enable CONDSTORE and, the
   first time with a mailbox selected, send "* OK [HIGHESTMODSEQ n]". */
void imap_condstore_enable(struct client *client);
bool imap_condstore_enabled(const struct client *client);

/* Sync the view without expunges after the command changed the flags of
   own_uids: changes of other messages (and of these by others) are sent
   as the usual untagged FETCH/EXISTS/FLAGS responses; the changes of
   own_uids update the view only, because the command reports them in its
   own FETCH responses. Returns 1 if that left nothing for the tagged
   reply's sync to report (no new messages, no expunges kept back, the
   mailbox still there), 0 if it did, or -1 (logged; the tagged reply's
   sync retries). Blocks on the local index. */
int imap_sync_own_changes(struct client *client,
			  const ARRAY_TYPE(seq_range) *own_uids);

/* "* seq FETCH (FLAGS (..) UID n MODSEQ (m))" for message seq of the
   view, as STORE and FETCH's implicit \Seen report it: UID for a UID
   command or a QRESYNC client, MODSEQ when CONDSTORE is on. flags false
   leaves FLAGS out (.SILENT with UNCHANGEDSINCE). */
void imap_send_flags_fetch(struct client *client, uint32_t seq, bool uid,
			   bool flags);

#endif
