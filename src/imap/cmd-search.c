/* SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH's RETURN options
   (RFC 4731), SEARCHRES's SAVE (RFC 5182), WITHIN (RFC 5032) and
   CONDSTORE's MODSEQ (RFC 7162 §3.1.5). The keys are evaluated by
   imap-search.c; message bodies are read asynchronously, so the command
   may wait for blob reads and is resumed by them. */
#include "lib.h"
#include "event.h"
#include "imap-common.h"
#include "imap-msg-util.h"
#include "imap-search.h"
#include "charset-utf8.h"

#include <strings.h>

struct search_cmd_context {
	struct imap_search *search;
	enum imap_search_return ret;
	bool have_modseq;
};

static void search_cmd_cancel(struct client_command_context *cmd)
{
	struct search_cmd_context *ctx = cmd->context;

	imap_search_end(&ctx->search);
}

static void search_cmd_callback(void *context)
{
	client_command_resume(context);
}

static bool cmd_search_continue(struct client_command_context *cmd)
{
	struct search_cmd_context *ctx = cmd->context;
	struct client *client = cmd->client;
	int ret;

	ret = imap_search_more(ctx->search);
	if (ret == 0)
		return false;
	cmd->cancel = NULL;
	if (ret < 0) {
		const char *line = t_strdup(imap_search_get_error_line(ctx->search));
		imap_search_end(&ctx->search);
		if ((ctx->ret & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_search_saved_set(client, NULL);
		client_send_tagline(cmd, line);
		return true;
	}
	const ARRAY_TYPE(mail_uid) *result = imap_search_get_result(ctx->search);
	uint64_t modseq = !ctx->have_modseq ? 0 :
		imap_search_get_highest_modseq(ctx->search);
	imap_search_send_result(cmd, ctx->ret, result->v, array_count(result),
				NULL, modseq);
	imap_search_end(&ctx->search);
	client_send_tagline(cmd, "OK Search completed.");
	return true;
}

/* [CHARSET name]: RFC 9051's search-program */
static int search_parse_charset(const struct imap_arg **args,
				const char **charset_r, const char **error_r)
{
	*charset_r = NULL;
	if (!imap_arg_atom_equals(*args, "CHARSET"))
		return 0;
	if (!imap_arg_get_astring(&(*args)[1], charset_r)) {
		*error_r = "CHARSET needs a charset name.";
		return -1;
	}
	*args += 2;
	return 0;
}

bool cmd_search(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct search_cmd_context *ctx;
	struct imap_search_args *sargs;
	const char *charset, *error;

	ctx = p_new(cmd->pool, struct search_cmd_context, 1);
	if (imap_search_return_parse(&args, &ctx->ret, &error) < 0 ||
	    search_parse_charset(&args, &charset, &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	/* RFC 6855 §3: after ENABLE UTF8=ACCEPT the client "MUST NOT issue
	   a SEARCH command that contains a charset specification", and the
	   server SHOULD answer BAD: any CHARSET, even UTF-8 */
	if (charset != NULL &&
	    (client->enabled & CLIENT_ENABLED_UTF8_ACCEPT) != 0) {
		e_info(client->event, "SEARCH: CHARSET %s after UTF8=ACCEPT",
		       str_sanitize(charset, 40));
		client_send_command_error(cmd,
			"SEARCH takes no CHARSET after ENABLE UTF8=ACCEPT "
			"(RFC 6855): the strings are UTF-8.");
		return true;
	}
	sargs = imap_search_args_parse_cmd(cmd, args, charset, ctx->ret);
	if (sargs == NULL)
		return true;
	ctx->have_modseq = imap_search_args_have_modseq(sargs);

	ctx->search = imap_search_begin(client, sargs);
	imap_search_set_callback(ctx->search, search_cmd_callback, cmd);
	cmd->context = ctx;
	cmd->cancel = search_cmd_cancel;
	cmd->func = cmd_search_continue;
	return cmd_search_continue(cmd);
}
