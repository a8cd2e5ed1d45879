/* COPY (RFC 9051 §6.4.7) with UIDPLUS's COPYUID (RFC 4315), and the
   shared body of MOVE (RFC 6851, cmd-move.c). Each message gets its own
   new blob (lib-storage's mail_copy()); the transaction commits once every
   copy is durable, and the tagged reply waits for that. A MOVE's sources
   are expunged in the same index commit: their EXPUNGE (or VANISHED)
   responses come from the sync before the tagged reply, after the
   untagged "OK [COPYUID ...]" that RFC 6851 §4.3 asks for.

   Quota: a COPY adds its messages' sizes to the user's usage, so it is
   tested (and reserved until the index commit counts it) before the
   first copy starts: NO [OVERQUOTA] if it does not fit. A MOVE adds
   nothing (the sources go in the same commit; every mailbox is under
   the user's one quota), so it is never refused for quota: a user over
   quota can still move mail to Trash, as with Dovecot's quota plugin. */
#include "lib.h"
#include "ioloop.h"
#include "event.h"
#include "imap-common.h"
#include "imap-save.h"
#include "imap-settings.h"
#include "mail-quota.h"

#define COPY_IDLE_POLL_MSECS 10
/* copies in flight at once: each holds a blob read and write with their
   buffers, so a COPY of 100,000 messages must not start them all */
#define COPY_MAX_PENDING 32
#define COPY_PENDING_POLL_MSECS 2

struct copy_context {
	/* NULL once the session has gone while the commit runs */
	struct client_command_context *cmd;
	struct client *client;
	bool move;
	/* set only after the session has gone: ours to release */
	struct mail_user *user;
	struct mailbox *box;
	struct mailbox_transaction *t;
	struct timeout *to;
	/* the UIDs to copy (from cmd->pool) and the next one */
	ARRAY_TYPE(seq_range) uids;
	unsigned int range_idx;
	uint32_t next_uid;
	bool committing;
	int commit_ret;
	/* the tagged reply, or NULL when it is to be made from the
	   commit's result */
	char *reply;
	char *copyuid;
	/* COPY's quota reservation, until the transaction takes it */
	struct mail_quota_reservation *quota;
};

static void copy_free(struct copy_context *ctx)
{
	timeout_remove(&ctx->to);
	mail_quota_reservation_free(&ctx->quota);
	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	if (ctx->user != NULL)
		imap_save_release_user(&ctx->user, &ctx->box);
	else if (ctx->box != NULL)
		mailbox_close(&ctx->box);
	i_free(ctx->reply);
	i_free(ctx->copyuid);
	i_free(ctx);
}

static void copy_cancel(struct client_command_context *cmd)
{
	struct copy_context *ctx = cmd->context;

	ctx->cmd = NULL;
	timeout_remove(&ctx->to);
	if (ctx->committing) {
		/* cannot be recalled: the callback frees us and the user */
		ctx->user = imap_save_take_user(ctx->client);
		return;
	}
	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	if (ctx->box != NULL && mail_user_has_transactions(ctx->client->user))
		ctx->user = imap_save_take_user(ctx->client);
	copy_free(ctx);
}

static bool cmd_copy_reply(struct client_command_context *cmd);

static void copy_resume(void *context)
{
	struct copy_context *ctx = context;

	if (mail_user_has_transactions(ctx->client->user))
		return;
	timeout_remove(&ctx->to);
	client_command_resume(ctx->cmd);
}

/* Send the tagged reply once our transaction is gone (a rolled-back one
   may still be finishing its blob writes and needs the mailbox). */
static bool cmd_copy_reply(struct client_command_context *cmd)
{
	struct copy_context *ctx = cmd->context;

	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	if (ctx->box != NULL && mail_user_has_transactions(ctx->client->user)) {
		cmd->func = cmd_copy_reply;
		if (ctx->to == NULL) {
			ctx->to = timeout_add(COPY_IDLE_POLL_MSECS,
					      copy_resume, ctx);
		}
		return false;
	}
	const char *reply = ctx->reply != NULL ? t_strdup(ctx->reply) : NULL;
	const char *copyuid = ctx->copyuid != NULL ?
		t_strdup(ctx->copyuid) : NULL;
	bool move = ctx->move;

	cmd->cancel = NULL;
	cmd->context = NULL;
	copy_free(ctx);
	if (reply != NULL)
		client_send_tagline(cmd, reply);
	else if (!move) {
		client_send_tagline(cmd, t_strdup_printf(
			"OK [COPYUID %s] Copy completed.", copyuid));
	} else {
		/* RFC 6851 §4.3: COPYUID untagged, before the EXPUNGEs
		   that the tagged reply's sync sends */
		client_send_linef(cmd->client,
				  "* OK [COPYUID %s] Moved UIDs.", copyuid);
		client_send_tagline(cmd, "OK Move completed.");
	}
	return true;
}

static void copy_commit_callback(int ret,
				 const struct mail_transaction_commit_result *result,
				 void *context)
{
	struct copy_context *ctx = context;

	ctx->committing = false;
	if (ctx->cmd == NULL) {
		copy_free(ctx);
		return;
	}
	if (ret < 0) {
		ctx->reply = i_strdup(client_storage_error_line(ctx->client));
	} else {
		string_t *str = t_str_new(128);
		str_printfa(str, "%u ", result->uidvalidity);
		imap_save_write_uids(str, &result->src_uids);
		str_append_c(str, ' ');
		imap_save_write_uids(str, &result->uids);
		ctx->copyuid = i_strdup(str_c(str));
	}
	/* the transaction is freed after this callback: reply from the
	   ioloop, when the mailbox can be closed */
	ctx->to = timeout_add(0, copy_resume, ctx);
}

static bool copy_fail(struct copy_context *ctx, const char *reply)
{
	ctx->reply = i_strdup(reply);
	return cmd_copy_reply(ctx->cmd);
}

static void copy_pending_poll(void *context)
{
	struct copy_context *ctx = context;

	if (mailbox_transaction_get_pending(ctx->t) >= COPY_MAX_PENDING)
		return;
	timeout_remove(&ctx->to);
	client_command_resume(ctx->cmd);
}

/* Start the next copies (at most COPY_MAX_PENDING in flight), then the
   commit. */
static bool cmd_copy_more(struct client_command_context *cmd)
{
	struct copy_context *ctx = cmd->context;
	struct client *client = cmd->client;

	cmd->func = cmd_copy_more;
	while (ctx->range_idx < array_count(&ctx->uids)) {
		const struct seq_range *r = array_idx(&ctx->uids,
						      ctx->range_idx);
		uint32_t uid = ctx->next_uid;

		if (mailbox_transaction_get_pending(ctx->t) >=
		    COPY_MAX_PENDING) {
			if (ctx->to == NULL) {
				ctx->to = timeout_add(COPY_PENDING_POLL_MSECS,
						      copy_pending_poll, ctx);
			}
			return false;
		}
		if (mail_copy(ctx->t, client->mailbox, uid, ctx->move) < 0) {
			if (mail_user_get_last_error(client->user, NULL,
						     NULL) ==
			    MAIL_ERROR_EXPUNGED) {
				/* RFC 9051 §7.1: EXPUNGEISSUED */
				return copy_fail(ctx,
					"NO [EXPUNGEISSUED] Some of the "
					"requested messages no longer exist.");
			}
			return copy_fail(ctx,
					 client_storage_error_line(client));
		}
		if (uid == r->seq2) {
			if (++ctx->range_idx < array_count(&ctx->uids)) {
				ctx->next_uid = array_idx(&ctx->uids,
					ctx->range_idx)->seq1;
			}
		} else {
			ctx->next_uid = uid + 1;
		}
	}
	ctx->committing = true;
	cmd->func = cmd_copy_reply;
	mailbox_transaction_commit(&ctx->t, copy_commit_callback, ctx);
	return false;
}

bool imap_cmd_copy_move(struct client_command_context *cmd, bool move)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	const char *set, *name, *storage_name, *error;
	ARRAY_TYPE(seq_range) uids;
	struct copy_context *ctx;

	if (!imap_arg_get_atom(&args[0], &set) ||
	    !imap_arg_get_astring(&args[1], &name) ||
	    !IMAP_ARG_IS_EOL(&args[2])) {
		client_send_command_error(cmd, move ?
			"MOVE needs a message set and a mailbox." :
			"COPY needs a message set and a mailbox.");
		return true;
	}
	array_init(&uids, cmd->pool, 8);
	if (imap_save_parse_msgset(client, set, cmd->uid, &uids, &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (client_mailbox_name_to_storage(client, name, &storage_name,
					   &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (move && client->mailbox_readonly) {
		client_send_tagline(cmd, "NO Mailbox is read-only.");
		return true;
	}

	ctx = i_new(struct copy_context, 1);
	ctx->cmd = cmd;
	ctx->client = client;
	ctx->move = move;
	cmd->context = ctx;
	cmd->cancel = copy_cancel;
	if (mailbox_open(client->user, storage_name, &ctx->box) < 0) {
		if (mail_user_get_last_error(client->user, NULL, NULL) ==
		    MAIL_ERROR_NOTFOUND) {
			return copy_fail(ctx,
				"NO [TRYCREATE] Mailbox doesn't exist.");
		}
		return copy_fail(ctx, client_storage_error_line(client));
	}
	if (array_count(&uids) == 0) {
		/* UID COPY/MOVE of UIDs that no longer exist: nothing to
		   do, and no COPYUID (RFC 4315 §3) */
		return copy_fail(ctx, move ? "OK No messages moved." :
				 "OK No messages copied.");
	}
	if (!move && mail_user_quota_is_limited(client->user)) {
		struct mail_quota_usage add;
		enum mail_quota_result result;

		if (mailbox_quota_get_uids(client->mailbox, &uids, &add) < 0 ||
		    mail_user_quota_reserve(client->user, add.storage,
					    add.messages, 0, &result,
					    &ctx->quota) < 0)
			return copy_fail(ctx, client_storage_error_line(client));
		if (result != MAIL_QUOTA_OK) {
			e_debug(client->event, "COPY refused: %s",
				mail_quota_result_str(result));
			return copy_fail(ctx, imap_quota_exceeded_reply());
		}
	}
	ctx->t = mailbox_transaction_begin(ctx->box, 0);
	if (ctx->quota != NULL)
		mailbox_transaction_set_quota_reservation(ctx->t, &ctx->quota);
	ctx->uids = uids;
	ctx->range_idx = 0;
	ctx->next_uid = array_idx(&uids, 0)->seq1;
	return cmd_copy_more(cmd);
}

bool imap_cmd_copy(struct client_command_context *cmd)
{
	return imap_cmd_copy_move(cmd, false);
}
