/* COMPRESS (RFC 4978): turn on DEFLATE in both directions right after
   the tagged OK, which itself still goes out uncompressed. The layer is
   imap-compress.c, slid under the session by client_insert_fd_layer()
   once the OK has been flushed. */
#include "lib.h"
#include "ioloop.h"
#include "conn.h"
#include "event.h"
#include "imap-common.h"
#include "imap-compress.h"

struct compress_cmd_context {
	struct timeout *to;
};

static void compress_cmd_cancel(struct client_command_context *cmd)
{
	struct compress_cmd_context *ctx = cmd->context;

	if (ctx->to != NULL)
		timeout_remove(&ctx->to);
}

static bool compress_cmd_start_layer(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const char *error;

	compress_cmd_cancel(cmd);
	/* the OK must reach the client uncompressed, before any byte of
	   the DEFLATE stream: wait for output_drained() if it has not */
	if (conn_output_buffered_size(client->conn) > 0 &&
	    conn_flush(client->conn) == 0)
		return false;
	cmd->cancel = NULL;
	if (client->disconnecting || conn_is_disconnected(client->conn))
		return true;
	if (client_insert_fd_layer(client, imap_compress_create, &error) < 0) {
		/* the client compresses from now on: no readable BYE
		   can be sent any more */
		e_error(client->event, "COMPRESS: %s", error);
		if (!client->disconnecting) {
			client->disconnecting = true;
			conn_disconnect(client->conn, t_strdup_printf(
				"COMPRESS failed: %s", error));
		}
		return true;
	}
	client->compress_active = true;
	return true;
}

static void compress_cmd_timeout(void *context)
{
	struct client_command_context *cmd = context;

	client_command_resume(cmd);
}

bool imap_cmd_compress(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const char *mechanism;

	if (!imap_arg_get_atom(&cmd->args[0], &mechanism) ||
	    !IMAP_ARG_IS_EOL(&cmd->args[1])) {
		client_send_command_error(cmd,
			"COMPRESS takes one argument: the mechanism.");
		return true;
	}
	if (strcasecmp(mechanism, "DEFLATE") != 0) {
		client_send_command_error(cmd,
			"Unknown compression mechanism.");
		return true;
	}
	if (client->compress_active) {
		/* RFC 4978 §3: BAD when COMPRESS itself is active */
		client_send_command_error(cmd,
			"[COMPRESSIONACTIVE] DEFLATE is already active.");
		return true;
	}
	client_send_tagline(cmd, "OK DEFLATE active");

	/* the tagline goes out when this input() returns; the layer is
	   started from the ioloop, once nothing of the old stream is left */
	struct compress_cmd_context *ctx =
		p_new(cmd->pool, struct compress_cmd_context, 1);
	ctx->to = timeout_add(0, compress_cmd_timeout, cmd);
	cmd->context = ctx;
	cmd->cancel = compress_cmd_cancel;
	cmd->func = compress_cmd_start_layer;
	return false;
}
