/* UNAUTHENTICATE (RFC 8437): end the session and continue the connection
   in the not-authenticated state, in a login process (the mail process
   does no pre-login work). The selected mailbox is closed without
   expunge reports, the user released, and the connection handed back
   with the input that follows the command (client_hand_back()); the
   login process sends the tagged OK once the client is its own again.

   RFC 8437 §3 forbids NO: a client may have pipelined a new login for
   another user, and commands after a refused UNAUTHENTICATE would run as
   the old one. So a hand-back that fails ends the connection with BYE,
   and so does UNAUTHENTICATE while COMPRESS is active: the DEFLATE layer
   (imap-compress.c) inflates ahead of the session, so the point where the
   client's compressed stream stops cannot be handed on (CAPABILITY no
   longer lists UNAUTHENTICATE then). */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "imap-common.h"

struct unauthenticate_cmd_context {
	struct timeout *to;
};

static void unauthenticate_cmd_cancel(struct client_command_context *cmd)
{
	struct unauthenticate_cmd_context *ctx = cmd->context;

	if (ctx->to != NULL)
		timeout_remove(&ctx->to);
}

/* From the ioloop: the session may be freed here, which no command
   callback may do. */
static void unauthenticate_cmd_timeout(void *context)
{
	struct client_command_context *cmd = context;
	struct client *client = cmd->client;
	const char *tag = t_strdup(cmd->tag);

	unauthenticate_cmd_cancel(cmd);
	if (client->disconnecting || conn_is_disconnected(client->conn))
		return;
	client_hand_back(&client, tag);
}

static bool unauthenticate_cmd_continue(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	struct unauthenticate_cmd_context *ctx = cmd->context;

	/* everything the session said goes out before the connection
	   changes hands: wait for output_drained() if it has not */
	if (conn_output_buffered_size(client->conn) > 0 &&
	    conn_flush(client->conn) == 0)
		return false;
	if (ctx->to == NULL) {
		ctx->to = timeout_add(0, unauthenticate_cmd_timeout, cmd);
		/* no tagged reply from here: the login process sends it */
	}
	return false;
}

bool imap_cmd_unauthenticate(struct client_command_context *cmd)
{
	struct client *client = cmd->client;

	if (!IMAP_ARG_IS_EOL(&cmd->args[0])) {
		client_send_command_error(cmd,
			"UNAUTHENTICATE takes no arguments.");
		return true;
	}
	if (client->compress_active) {
		client_disconnect_with_bye(client,
			"UNAUTHENTICATE is not supported while COMPRESS is "
			"active: reconnect.",
			"UNAUTHENTICATE with COMPRESS active");
		/* no tagged reply: the session ends */
		return false;
	}
	if (!client_can_unauthenticate(client)) {
		/* RFC 8437 §3: BAD when not advertised */
		client_send_command_error(cmd,
			"UNAUTHENTICATE is not available in this session.");
		return true;
	}
	struct unauthenticate_cmd_context *ctx =
		p_new(cmd->pool, struct unauthenticate_cmd_context, 1);
	cmd->context = ctx;
	cmd->cancel = unauthenticate_cmd_cancel;
	cmd->func = unauthenticate_cmd_continue;
	return unauthenticate_cmd_continue(cmd);
}
