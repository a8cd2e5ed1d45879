/* Helpers shared by the commands that add and remove messages (APPEND,
   COPY, MOVE, EXPUNGE): UID sets in the order a command made them, and
   what happens to an asynchronous transaction when the session ends
   while it runs. */
#ifndef COLUMBA_IMAP_SAVE_H
#define COLUMBA_IMAP_SAVE_H

#include "seq-range.h"
#include "mail-index.h"

struct client;
struct client_command_context;
struct mail_user;
struct mailbox;

/* Write uids as an RFC 4315 uid-set keeping their order: ascending runs
   become n:m, anything else is listed as it comes ("5,3,7:9"). */
void imap_save_write_uids(string_t *dest, const ARRAY_TYPE(mail_uid) *uids);

/* The session is ending (a command's cancel) while a transaction of its
   user cannot be recalled at once. Takes the user away from the client
   (client->user = NULL, so client_destroy() leaves it alone) and returns
   it: the caller now owns it and must pass it to
   imap_save_release_user() when its own transaction is over. */
struct mail_user *imap_save_take_user(struct client *client);
/* Close box (may be NULL) and deinit user as soon as no transaction of
   the user is left (at once, or from a short timer while a rolled-back
   transaction's blob writes finish). *user and *box are set to NULL. */
void imap_save_release_user(struct mail_user **user, struct mailbox **box);

/* Parse a message set of the selected mailbox (a sequence set, or with
   uid a UID set) into UIDs of the view, ascending. Sequence numbers beyond
   the view are an error (BAD); UIDs not in the view are dropped silently
   (RFC 9051 §6.4.9). "$" is the saved SEARCH result (RFC 5182). Returns 0,
   or -1 with *error_r for a BAD reply. */
int imap_save_parse_msgset(struct client *client, const char *str, bool uid,
			   ARRAY_TYPE(seq_range) *uids_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* COPY (move false) and MOVE (move true) with their UID forms: the
   handler body both commands share (cmd-copy.c). */
bool imap_cmd_copy_move(struct client_command_context *cmd, bool move);

#endif
