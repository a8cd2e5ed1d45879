/* IDLE (RFC 2177, RFC 9051 §6.3.13): push the selected mailbox's changes
   as they happen (mailbox_notify_changes() wakes us when any process
   commits a change) until the client sends DONE. */
#include "lib.h"
#include "ioloop.h"
#include "event.h"
#include "imap-common.h"

/* how often a sync held back by a full output buffer is retried */
#define IDLE_RETRY_MSECS 500
/* how often IDLE polls when change notification is unavailable (the
   process or user ran out of inotify instances) */
#define IDLE_POLL_MSECS 1000

struct idle_context {
	struct timeout *to_retry;
	struct timeout *to_poll;
};

static void idle_stop_notify(struct client *client)
{
	/* stopping cannot fail */
	if (client->mailbox != NULL &&
	    mailbox_notify_changes(client->mailbox, NULL, NULL) < 0)
		i_unreached();
}

static void idle_retry(void *context);

static void idle_notify(void *context)
{
	struct client_command_context *cmd = context;
	struct client *client = cmd->client;
	struct idle_context *ctx = cmd->context;

	if (client->mailbox == NULL)
		return;
	if (client_output_is_full(client)) {
		/* a client that does not read must not make us buffer
		   every change: the view catches up in one sync later */
		if (ctx->to_retry == NULL)
			ctx->to_retry = timeout_add(IDLE_RETRY_MSECS,
						    idle_retry, cmd);
		return;
	}
	if (ctx->to_retry != NULL)
		timeout_remove(&ctx->to_retry);
	/* may end the session (mailbox deleted) */
	(void)imap_sync_send(client, false);
}

static void idle_retry(void *context)
{
	idle_notify(context);
}

static void idle_cleanup(struct client_command_context *cmd)
{
	struct idle_context *ctx = cmd->context;

	if (ctx->to_retry != NULL)
		timeout_remove(&ctx->to_retry);
	if (ctx->to_poll != NULL)
		timeout_remove(&ctx->to_poll);
	idle_stop_notify(cmd->client);
}

static void idle_cancel(struct client_command_context *cmd)
{
	idle_cleanup(cmd);
}

static bool imap_cmd_idle_continue(struct client_command_context *cmd)
{
	const char *line;
	int ret = client_command_read_line(cmd, &line);

	if (ret == 0) {
		client_command_wait_input(cmd);
		return false;
	}
	idle_cleanup(cmd);
	cmd->cancel = NULL;
	if (ret < 0) {
		/* too long a line: the session is being disconnected */
		client_send_tagline(cmd, "BAD Expected DONE.");
		return true;
	}
	if (strcasecmp(line, "DONE") != 0) {
		client_send_command_error(cmd, "Expected DONE.");
		return true;
	}
	client_send_tagline(cmd, "OK Idle completed.");
	return true;
}

bool imap_cmd_idle(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd, "IDLE takes no arguments.");
		return true;
	}
	struct idle_context *ctx = p_new(cmd->pool, struct idle_context, 1);
	cmd->context = ctx;
	if (client->mailbox != NULL &&
	    mailbox_notify_changes(client->mailbox, idle_notify, cmd) < 0) {
		/* IDLE still works, only slower: poll (the cause, e.g.
		   fs.inotify.max_user_instances, is already logged) */
		e_warning(client->event, "IDLE: change notification "
			  "unavailable, polling every %u ms", IDLE_POLL_MSECS);
		ctx->to_poll = timeout_add(IDLE_POLL_MSECS, idle_retry, cmd);
	}
	client_send_line(client, "+ idling");
	/* what changed before IDLE began */
	if (client->mailbox != NULL)
		(void)imap_sync_send(client, false);
	cmd->cancel = idle_cancel;
	cmd->func = imap_cmd_idle_continue;
	client_command_wait_input(cmd);
	return false;
}
