/* APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: several messages,
   all or nothing, in one transaction), literal8 (RFC 3516), CATENATE
   (RFC 4469: the message assembled from TEXT literals and IMAP URLs of the
   user's own messages), UTF8=ACCEPT's UTF8 (~{n}) message and CATENATE
   part (RFC 6855 §4: BAD unless the client has enabled UTF8=ACCEPT; the
   bytes are stored as they are; while UTF8=ACCEPT is advertised, a
   message with 8-bit bytes in its header is NO for an IMAP4rev1 client
   that has not enabled it) and UIDPLUS's APPENDUID (RFC 4315).

   The message bytes are never held whole: the parser stops at each
   literal (COMMAND_FLAG_LITERAL_STREAM) and the bytes go from the
   connection's input buffer straight into mail_save_write(); while the
   save is full, input is not read, so the client's TCP window closes
   (back-pressure). A synchronizing literal is answered with "+ OK" only
   after the checks (mailbox exists, flags, date, size) have passed; a
   non-synchronizing literal is always read to its end, its bytes dropped
   when the command has already failed. The tagged OK goes out only after
   the commit callback says every message is durable and indexed. */
#include "lib.h"
#include "imap-common.h"
#include "imap-date.h"
#include "imap-flags.h"
#include "imap-list.h"
#include "imap-save.h"
#include "imap-url.h"
#include "imap-settings.h"
#include "mail-quota.h"

#include "ioloop.h"
#include "event.h"

/* a mailbox name sent as a literal (streamed like every literal of
   APPEND) is read into memory up to this size */
#define APPEND_MAX_NAME_LITERAL 1024
/* how often a command whose transaction was rolled back looks whether
   lib-storage has freed it (its blob writes finish in the background) */
#define APPEND_IDLE_POLL_MSECS 10

enum append_step {
	/* go on working */
	APPEND_STEP_CONTINUE,
	/* wait for input, the save to drain, a URL's bytes, the commit */
	APPEND_STEP_WAIT,
	/* the tagged reply is sent */
	APPEND_STEP_DONE,
};

struct append_context {
	/* NULL once the session has gone (cancel while a commit runs) */
	struct client_command_context *cmd;
	struct client *client;
	/* set only after the session has gone: then ours to release */
	struct mail_user *user;
	/* the destination */
	struct mailbox *box;
	struct mailbox_transaction *t;
	/* the message being written (owned by t) */
	struct mail_save_context *save;
	uint64_t message_size;
	/* quota: the message's LFs without a CR (each one more byte of
	   RFC822.SIZE), the messages finished so far (size, count), and
	   their reservation (handed to the transaction at the commit) */
	uint64_t bare_lfs;
	bool last_cr;
	uint64_t quota_size, quota_count;
	struct mail_quota_reservation *quota;
	/* RFC 6855 §4: the message's header is being checked for 8-bit
	   bytes (a client that could have enabled UTF8=ACCEPT but did
	   not); hdr_state is where in a line the last byte was */
	bool hdr_check;
	enum {
		APPEND_HDR_MIDLINE,
		APPEND_HDR_LINE_START,
		APPEND_HDR_LINE_START_CR,
		APPEND_HDR_DONE,
	} hdr_state;

	/* the mailbox name's literal being read (cmd->pool), else NULL */
	string_t *name_buf;
	/* the next argument of the current message in cmd->args */
	unsigned int arg_pos;
	/* a literal was read: the parser must go on */
	bool need_args;
	/* the literal being read: bytes left; top level (the arguments
	   before it are dropped afterwards) or inside CATENATE */
	uint64_t literal_left;
	bool literal_active;
	bool literal8;
	bool literal_top;

	/* CATENATE: the part list's index in cmd->args and the next part */
	bool in_catenate;
	unsigned int cat_list_pos, cat_part;
	/* a UTF8 (literal8) item (RFC 6855 §4) is being read: its list's
	   index in cmd->args (a top-level item) or the last part of the
	   CATENATE list (cat_utf8) */
	bool in_utf8, cat_utf8;
	unsigned int utf8_list_pos;
	/* a URL part being copied */
	struct mailbox *url_box;
	struct mail_section_stream *url_stream;

	unsigned int count;
	/* the command failed: the rest is read and dropped, then this
	   tagged reply (from cmd->pool) */
	const char *fail_reply;
	/* the reply waiting for the rolled-back transaction to go (NULL:
	   the core has already answered BAD) */
	const char *final_reply;
	struct timeout *to;

	bool waiting_drain;
	bool waiting_url;
	bool committing;
	int commit_ret;
	uint32_t uidvalidity;
	char *uidset;
	char *commit_error;
};

static enum append_step append_fail(struct append_context *ctx,
				    const char *reply);

static void append_free(struct append_context *ctx)
{
	timeout_remove(&ctx->to);
	mail_quota_reservation_free(&ctx->quota);
	if (ctx->url_stream != NULL)
		mail_section_stream_close(&ctx->url_stream);
	if (ctx->url_box != NULL)
		mailbox_close(&ctx->url_box);
	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	if (ctx->user != NULL)
		imap_save_release_user(&ctx->user, &ctx->box);
	else if (ctx->box != NULL)
		mailbox_close(&ctx->box);
	i_free(ctx->uidset);
	i_free(ctx->commit_error);
	i_free(ctx);
}

static void append_cancel(struct client_command_context *cmd)
{
	struct append_context *ctx = cmd->context;
	struct client *client = ctx->client;

	ctx->cmd = NULL;
	timeout_remove(&ctx->to);
	if (ctx->save != NULL) {
		mail_save_set_drained_callback(ctx->save, NULL, NULL);
		ctx->save = NULL;
	}
	if (ctx->committing) {
		/* a commit cannot be recalled: what it saves stays saved,
		   and its callback frees us and the user */
		ctx->user = imap_save_take_user(client);
		return;
	}
	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	/* the session must not deinit the user while a rolled-back
	   transaction still finishes its blob writes */
	if (ctx->box != NULL && mail_user_has_transactions(client->user))
		ctx->user = imap_save_take_user(client);
	append_free(ctx);
}

static bool cmd_append_reply_now(struct client_command_context *cmd);

static void append_idle_poll(void *context)
{
	struct append_context *ctx = context;

	if (mail_user_has_transactions(ctx->client->user))
		return;
	timeout_remove(&ctx->to);
	client_command_resume(ctx->cmd);
}

/* End the command with reply (NULL: already answered), after the
   transaction (rolled back or committed) is gone. */
static enum append_step append_reply(struct append_context *ctx,
				     const char *reply)
{
	struct client_command_context *cmd = ctx->cmd;

	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	ctx->save = NULL;
	if (ctx->box != NULL && mail_user_has_transactions(ctx->client->user)) {
		/* a rolled-back transaction finishes its blob writes in the
		   background and needs the mailbox until then */
		ctx->final_reply = reply == NULL ? NULL :
			p_strdup(cmd->pool, reply);
		cmd->func = cmd_append_reply_now;
		if (ctx->to == NULL) {
			ctx->to = timeout_add(APPEND_IDLE_POLL_MSECS,
					      append_idle_poll, ctx);
		}
		return APPEND_STEP_WAIT;
	}
	reply = reply == NULL ? NULL : t_strdup(reply);
	cmd->cancel = NULL;
	cmd->context = NULL;
	append_free(ctx);
	if (reply == NULL)
		;
	else if (strncmp(reply, "BAD ", 4) == 0)
		client_send_command_error(cmd, reply + 4);
	else
		client_send_tagline(cmd, reply);
	return APPEND_STEP_DONE;
}

static bool cmd_append_reply_now(struct client_command_context *cmd)
{
	struct append_context *ctx = cmd->context;

	return append_reply(ctx, ctx->final_reply) == APPEND_STEP_DONE;
}

/* The last LITERAL_SIZE argument (where the parser stopped), searching
   nested lists. */
static const struct imap_arg *append_last_literal(const struct imap_arg *args)
{
	const struct imap_arg *found = NULL, *list;

	for (; !IMAP_ARG_IS_EOL(args); args++) {
		if (args->type == IMAP_ARG_LITERAL_SIZE)
			found = args;
		else if (imap_arg_get_list(args, &list, NULL)) {
			const struct imap_arg *sub = append_last_literal(list);
			if (sub != NULL)
				found = sub;
		}
	}
	return found;
}

/* After a failure, with fresh arguments: answer now if the line is over
   or the client waits for a continuation it will not get; otherwise drop
   the non-synchronizing literal that follows. */
static enum append_step append_fail_next(struct append_context *ctx)
{
	struct client_command_context *cmd = ctx->cmd;

	if (!cmd->literal_pending)
		return append_reply(ctx, ctx->fail_reply);
	const struct imap_arg *lit = append_last_literal(cmd->args);
	i_assert(lit != NULL);
	if (lit->literal_sync)
		return append_reply(ctx, ctx->fail_reply);
	client_command_literal_begin(cmd, lit->_data.literal_size, false);
	ctx->literal_left = lit->_data.literal_size;
	ctx->literal_active = true;
	ctx->literal8 = true;
	ctx->literal_top = true;
	return APPEND_STEP_CONTINUE;
}

/* The command has failed with reply (the tagged reply; "BAD ..." is sent
   as BAD): drop what was saved, read the rest of the command without
   saving, then answer. */
static enum append_step append_fail(struct append_context *ctx,
				    const char *reply)
{
	if (ctx->fail_reply == NULL) {
		e_debug(ctx->client->event, "APPEND failed: %s", reply);
		ctx->fail_reply = p_strdup(ctx->cmd->pool, reply);
	}
	ctx->save = NULL;
	if (ctx->t != NULL)
		mailbox_transaction_rollback(&ctx->t);
	if (ctx->url_stream != NULL)
		mail_section_stream_close(&ctx->url_stream);
	if (ctx->url_box != NULL)
		mailbox_close(&ctx->url_box);
	ctx->in_catenate = false;
	ctx->in_utf8 = false;
	ctx->waiting_url = false;
	ctx->waiting_drain = false;
	if (ctx->literal_active || ctx->need_args) {
		/* bytes of the command are still to come: read them */
		return APPEND_STEP_CONTINUE;
	}
	return append_fail_next(ctx);
}

static enum append_step append_fail_storage(struct append_context *ctx)
{
	return append_fail(ctx, client_storage_error_line(ctx->client));
}

static void append_drained(void *context)
{
	struct append_context *ctx = context;

	if (!ctx->waiting_drain || ctx->cmd == NULL)
		return;
	ctx->waiting_drain = false;
	client_command_resume(ctx->cmd);
}

/* RFC 6855 §4: "If an IMAP server supports UTF8=ACCEPT and the IMAP
   client has not issued the ENABLE UTF8=ACCEPT command, the server MUST
   reject, with a NO response, an APPEND command that includes any 8-bit
   character in message header fields." The header ends at the first
   empty line (CRLF or a bare LF). Returns false at an 8-bit byte in it. */
static bool append_header_check(struct append_context *ctx,
				const unsigned char *data, size_t size)
{
	for (size_t i = 0; i < size && ctx->hdr_state != APPEND_HDR_DONE;
	     i++) {
		switch (data[i]) {
		case '\n':
			ctx->hdr_state = ctx->hdr_state ==
				APPEND_HDR_MIDLINE ? APPEND_HDR_LINE_START :
				APPEND_HDR_DONE;
			break;
		case '\r':
			ctx->hdr_state = ctx->hdr_state ==
				APPEND_HDR_LINE_START ?
				APPEND_HDR_LINE_START_CR : APPEND_HDR_MIDLINE;
			break;
		default:
			if (data[i] >= 0x80)
				return false;
			ctx->hdr_state = APPEND_HDR_MIDLINE;
			break;
		}
	}
	return true;
}

/* Into the save, counting the size (CATENATE can make a message larger
   than any of its literals). Returns NULL, or the reply when the message
   is too large or its header is 8-bit where it must not be. */
static const char *append_write(struct append_context *ctx, const void *data,
				size_t size)
{
	ctx->message_size += size;
	if (IMAP_APPEND_MAX_SIZE != 0 &&
	    ctx->message_size > IMAP_APPEND_MAX_SIZE)
		return "NO [TOOBIG] Message too large.";
	if (ctx->hdr_check && !append_header_check(ctx, data, size)) {
		e_info(ctx->client->event,
		       "APPEND: 8-bit header without ENABLE UTF8=ACCEPT");
		return "NO [CANNOT] The message header contains 8-bit "
			"characters: ENABLE UTF8=ACCEPT and send it as "
			"UTF8 (~{n}) (RFC 6855).";
	}
	const unsigned char *p = data, *end = p + size;
	while (size > 0 &&
	       (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (p == data ? !ctx->last_cr : p[-1] != '\r')
			ctx->bare_lfs++;
		p++;
	}
	if (size > 0)
		ctx->last_cr = ((const unsigned char *)data)[size - 1] == '\r';
	/* a failed save fails the commit, which reports the error */
	(void)mail_save_write(ctx->save, data, size);
	return NULL;
}

/* Read the current literal into the save, or drop it after a failure. */
static enum append_step append_read_literal(struct append_context *ctx)
{
	struct client_command_context *cmd = ctx->cmd;
	const unsigned char *data;
	size_t size;

	while (ctx->literal_left > 0) {
		bool failed = ctx->fail_reply != NULL;

		if (!failed && ctx->name_buf == NULL &&
		    mail_save_is_full(ctx->save)) {
			ctx->waiting_drain = true;
			return APPEND_STEP_WAIT;
		}
		size = client_command_literal_read(cmd, &data);
		if (size == 0) {
			client_command_wait_input(cmd);
			return APPEND_STEP_WAIT;
		}
		if (!failed && ctx->name_buf != NULL) {
			bool nul = memchr(data, '\0', size) != NULL;
			if (!nul)
				str_append_data(ctx->name_buf, data, size);
			client_command_literal_skip(cmd, size);
			ctx->literal_left -= size;
			if (nul) {
				ctx->name_buf = NULL;
				return append_fail(ctx,
					"BAD Invalid mailbox name.");
			}
			continue;
		}
		bool nul = !failed && !ctx->literal8 &&
			memchr(data, '\0', size) != NULL;
		const char *write_error = failed || nul ? NULL :
			append_write(ctx, data, size);
		client_command_literal_skip(cmd, size);
		ctx->literal_left -= size;
		if (nul) {
			e_info(ctx->client->event,
			       "APPEND: NUL in a literal (not literal8)");
			return append_fail(ctx,
				"BAD NUL characters are allowed only in a "
				"literal8 (~{n}).");
		}
		if (write_error != NULL)
			return append_fail(ctx, write_error);
	}
	ctx->literal_active = false;
	ctx->need_args = true;
	return APPEND_STEP_CONTINUE;
}

static bool append_parse_flags(struct append_context *ctx,
			       const struct imap_arg **args,
			       enum mail_flags *flags_r,
			       const char *const **keywords_r,
			       time_t *date_r, int *tz_r, const char **error_r)
{
	const struct imap_arg *list;
	enum imap_flag iflags = 0;

	*flags_r = 0;
	*keywords_r = NULL;
	*date_r = 0;
	*tz_r = 0;
	if (imap_arg_get_list(*args, &list, NULL)) {
		if (imap_flags_parse(list, ctx->cmd->pool, &iflags,
				     keywords_r, error_r) < 0)
			return false;
		*flags_r = (enum mail_flags)iflags;
		(*args)++;
	}
	if ((*args)->type == IMAP_ARG_STRING) {
		if (!imap_parse_datetime((*args)->_data.str, date_r, tz_r)) {
			*error_r = "Invalid date-time.";
			return false;
		}
		(*args)++;
	}
	return true;
}

/* Start the next message in the transaction. */
static bool append_begin_save(struct append_context *ctx,
			      enum mail_flags flags,
			      const char *const *keywords, time_t date, int tz)
{
	if (ctx->t == NULL)
		ctx->t = mailbox_transaction_begin(ctx->box, 0);
	ctx->save = mail_save_begin(ctx->t, flags, keywords, date, tz);
	if (ctx->save == NULL)
		return false;
	mail_save_set_drained_callback(ctx->save, append_drained, ctx);
	ctx->message_size = 0;
	ctx->bare_lfs = 0;
	ctx->last_cr = false;
	/* RFC 6855 §4 binds a server that offers UTF8=ACCEPT; IMAP4rev2
	   allows 8-bit headers (RFC 9051 §6.3.12: RFC 6532 messages) */
	ctx->hdr_check = imap_utf8_accept_advertised() &&
		(ctx->client->enabled & (CLIENT_ENABLED_UTF8_ACCEPT |
					 CLIENT_ENABLED_IMAP4REV2)) == 0;
	ctx->hdr_state = APPEND_HDR_LINE_START;
	return true;
}

static enum append_step append_end_save(struct append_context *ctx)
{
	ctx->count++;
	ctx->quota_size += ctx->message_size + ctx->bare_lfs;
	ctx->quota_count++;
	if (mail_save_finish(&ctx->save) < 0)
		return append_fail_storage(ctx);
	return APPEND_STEP_CONTINUE;
}

static void append_start_literal(struct append_context *ctx,
				 const struct imap_arg *arg, bool top)
{
	ctx->literal_left = arg->_data.literal_size;
	ctx->literal8 = arg->literal8;
	ctx->literal_active = true;
	ctx->literal_top = top;
	client_command_literal_begin(ctx->cmd, arg->_data.literal_size,
				     arg->literal_sync);
}

static void append_url_callback(void *context)
{
	struct append_context *ctx = context;

	if (!ctx->waiting_url || ctx->cmd == NULL)
		return;
	ctx->waiting_url = false;
	client_command_resume(ctx->cmd);
}

/* The URL as BADURL repeats it: it came from a string or a literal and
   may hold anything, but must not end the response code or the line. */
static const char *append_url_for_reply(const char *url)
{
	string_t *str = t_str_new(strlen(url) + 1);

	for (; *url != '\0' && str_len(str) < 1024; url++) {
		unsigned char c = (unsigned char)*url;
		str_append_c(str, c <= 0x20 || c >= 0x7f || c == ']' ?
			     '?' : (char)c);
	}
	return str_c(str);
}

/* A URL part: open its message section as an async stream. */
static enum append_step append_open_url(struct append_context *ctx,
					const char *url_str)
{
	struct imap_url url;
	const char *error, *storage_name;
	struct mail_user *user = ctx->client->user;

	const char *reply_url = append_url_for_reply(url_str);

	if (imap_url_parse(url_str, &url, &error) < 0 ||
	    client_mailbox_name_to_storage(ctx->client, url.mailbox,
					   &storage_name, &error) < 0) {
		e_info(ctx->client->event, "CATENATE: bad URL %s: %s",
		       reply_url, error);
		return append_fail(ctx, t_strdup_printf("NO [BADURL %s] %s",
							reply_url, error));
	}
	if (mailbox_open(user, storage_name, &ctx->url_box) < 0) {
		return append_fail(ctx, t_strdup_printf(
			"NO [BADURL %s] Mailbox not found.", reply_url));
	}
	if (url.uidvalidity != 0 &&
	    url.uidvalidity != mailbox_get_uidvalidity(ctx->url_box)) {
		return append_fail(ctx, t_strdup_printf(
			"NO [BADURL %s] UIDVALIDITY does not match.",
			reply_url));
	}
	struct mail_section_request req = {
		.section = url.section == NULL ? "" : url.section,
		.partial_offset = url.partial_offset,
		.partial_size = url.partial_size,
	};
	if (mail_section_stream_open(ctx->url_box, url.uid, &req, false,
				     &ctx->url_stream) < 0) {
		return append_fail(ctx, t_strdup_printf(
			"NO [BADURL %s] No such message or section.",
			reply_url));
	}
	mail_section_stream_set_callback(ctx->url_stream, append_url_callback,
					 ctx);
	return APPEND_STEP_CONTINUE;
}

/* Copy the URL part's bytes into the save. */
static enum append_step append_read_url(struct append_context *ctx)
{
	const unsigned char *data;
	size_t size;
	int ret;

	for (;;) {
		if (mail_save_is_full(ctx->save)) {
			ctx->waiting_drain = true;
			return APPEND_STEP_WAIT;
		}
		ret = mail_section_stream_read(ctx->url_stream, &data, &size);
		if (ret == 0) {
			ctx->waiting_url = true;
			return APPEND_STEP_WAIT;
		}
		if (ret == -1)
			break;
		if (ret < 0)
			return append_fail_storage(ctx);
		if (memchr(data, '\0', size) != NULL) {
			return append_fail(ctx, "NO [BADURL] The referenced "
					   "section contains NUL characters.");
		}
		const char *write_error = append_write(ctx, data, size);
		if (write_error != NULL)
			return append_fail(ctx, write_error);
	}
	mail_section_stream_close(&ctx->url_stream);
	mailbox_close(&ctx->url_box);
	return APPEND_STEP_CONTINUE;
}

/* RFC 6855 §4: utf8-literal = "UTF8" SP "(" literal8 ")", only after
   ENABLE UTF8=ACCEPT. arg is the list after "UTF8"; where the parser
   stopped, its literal is the list's only element. Returns NULL if it can
   start, else the reply. */
static const char *
append_utf8_check(struct append_context *ctx, const struct imap_arg *arg)
{
	const struct imap_arg *list;

	if ((ctx->client->enabled & CLIENT_ENABLED_UTF8_ACCEPT) == 0)
		return "BAD UTF8 data needs ENABLE UTF8=ACCEPT.";
	if (!imap_arg_get_list(arg, &list, NULL) ||
	    list[0].type != IMAP_ARG_LITERAL_SIZE || !IMAP_ARG_IS_EOL(&list[1]))
		return "BAD UTF8 takes one literal8: UTF8 (~{n}).";
	if (!list[0].literal8)
		return "BAD UTF8 data must be a literal8 (~{n}).";
	return NULL;
}

/* After a UTF8 item's literal (the whole line so far is parsed): its list
   must have ended with the literal. */
static bool append_utf8_closed(struct append_context *ctx)
{
	const struct imap_arg *list;

	ctx->in_utf8 = false;
	return imap_arg_get_list(&ctx->cmd->args[ctx->utf8_list_pos], &list,
				 NULL) && IMAP_ARG_IS_EOL(&list[1]);
}

/* The next CATENATE part, or the end of the part list. */
static enum append_step append_catenate_next(struct append_context *ctx)
{
	const struct imap_arg *list, *part;
	const char *url, *reply;

	if (!imap_arg_get_list(&ctx->cmd->args[ctx->cat_list_pos], &list,
			       NULL))
		i_unreached();
	if (ctx->in_utf8) {
		/* the UTF8 part just read: list[cat_part - 1] */
		const struct imap_arg *sub;
		ctx->in_utf8 = false;
		if (!imap_arg_get_list(&list[ctx->cat_part - 1], &sub, NULL) ||
		    !IMAP_ARG_IS_EOL(&sub[1]))
			return append_fail(ctx,
				"BAD UTF8 takes one literal8: UTF8 (~{n}).");
	}
	part = list + ctx->cat_part;
	if (IMAP_ARG_IS_EOL(part)) {
		if (ctx->cat_part == 0)
			return append_fail(ctx, "BAD Empty CATENATE list.");
		ctx->in_catenate = false;
		ctx->arg_pos = ctx->cat_list_pos + 1;
		return append_end_save(ctx);
	}
	if (imap_arg_atom_equals(part, "TEXT") &&
	    part[1].type == IMAP_ARG_LITERAL_SIZE) {
		ctx->cat_part += 2;
		append_start_literal(ctx, &part[1], false);
		return APPEND_STEP_CONTINUE;
	}
	if (imap_arg_atom_equals(part, "URL") &&
	    imap_arg_get_astring(&part[1], &url)) {
		ctx->cat_part += 2;
		return append_open_url(ctx, url);
	}
	if (imap_arg_atom_equals(part, "UTF8")) {
		const struct imap_arg *sub;
		if ((reply = append_utf8_check(ctx, &part[1])) != NULL)
			return append_fail(ctx, reply);
		(void)imap_arg_get_list(&part[1], &sub, NULL);
		ctx->cat_part += 2;
		ctx->in_utf8 = true;
		append_start_literal(ctx, &sub[0], false);
		return APPEND_STEP_CONTINUE;
	}
	return append_fail(ctx, "BAD Invalid CATENATE part.");
}

static void append_resume_timeout(void *context)
{
	struct append_context *ctx = context;

	timeout_remove(&ctx->to);
	client_command_resume(ctx->cmd);
}

static void append_commit_callback(int ret,
				   const struct mail_transaction_commit_result *result,
				   void *context)
{
	struct append_context *ctx = context;

	ctx->committing = false;
	ctx->commit_ret = ret;
	if (ctx->cmd == NULL) {
		/* the session is gone; what was committed stays */
		append_free(ctx);
		return;
	}
	if (ret < 0) {
		ctx->commit_error = i_strdup(client_storage_error_line(
			ctx->client));
	} else {
		string_t *str = t_str_new(64);
		imap_save_write_uids(str, &result->uids);
		ctx->uidvalidity = result->uidvalidity;
		ctx->uidset = i_strdup(str_c(str));
	}
	/* lib-storage frees the transaction after this callback: reply
	   from the ioloop, when the mailbox can be closed */
	ctx->to = timeout_add(0, append_resume_timeout, ctx);
}

static bool cmd_append_committed(struct client_command_context *cmd)
{
	struct append_context *ctx = cmd->context;
	const char *reply;

	if (ctx->commit_ret < 0)
		reply = t_strdup(ctx->commit_error);
	else {
		reply = t_strdup_printf("OK [APPENDUID %u %s] Append completed.",
					ctx->uidvalidity, ctx->uidset);
	}
	return append_reply(ctx, reply) == APPEND_STEP_DONE;
}

static enum append_step append_commit(struct append_context *ctx)
{
	ctx->cmd->func = cmd_append_committed;
	ctx->committing = true;
	mailbox_transaction_commit(&ctx->t, append_commit_callback, ctx);
	return APPEND_STEP_WAIT;
}

/* Before a message's literal is accepted ("+ OK"): would the messages
   so far and this one, of literal_size bytes, go over quota? Returns
   NULL, or the failure's reply. */
static const char *append_quota_check(struct append_context *ctx,
				      uint64_t literal_size)
{
	enum mail_quota_result result;

	if (mail_user_quota_test(ctx->client->user,
				 ctx->quota_size + literal_size,
				 ctx->quota_count + 1, 0, &result) < 0)
		return client_storage_error_line(ctx->client);
	if (result == MAIL_QUOTA_OK)
		return NULL;
	e_debug(ctx->client->event, "APPEND refused: %s",
		mail_quota_result_str(result));
	return imap_quota_exceeded_reply();
}

/* Every message is read: reserve their size until the index commit
   counts them (another session of this process saving meanwhile sees
   the reservation), or fail if they do not fit now (the sizes are
   final only here: CATENATE's are unknown before). */
static enum append_step append_quota_reserve(struct append_context *ctx)
{
	enum mail_quota_result result;

	if (mail_user_quota_reserve(ctx->client->user, ctx->quota_size,
				    ctx->quota_count, 0, &result,
				    &ctx->quota) < 0)
		return append_fail_storage(ctx);
	if (result != MAIL_QUOTA_OK) {
		e_debug(ctx->client->event, "APPEND refused: %s",
			mail_quota_result_str(result));
		return append_fail(ctx, imap_quota_exceeded_reply());
	}
	mailbox_transaction_set_quota_reservation(ctx->t, &ctx->quota);
	return append_commit(ctx);
}

/* The arguments of the next message, or the end of the line. */
static enum append_step append_next_message(struct append_context *ctx)
{
	struct client_command_context *cmd = ctx->cmd;
	const struct imap_arg *args = cmd->args + ctx->arg_pos;
	enum mail_flags flags;
	const char *const *keywords;
	const char *error;
	time_t date;
	int tz;

	if (IMAP_ARG_IS_EOL(args)) {
		if (ctx->count == 0)
			return append_fail(ctx, "BAD Missing message literal.");
		return append_quota_reserve(ctx);
	}
	if (!append_parse_flags(ctx, &args, &flags, &keywords, &date, &tz,
				&error))
		return append_fail(ctx, t_strdup_printf("BAD %s", error));
	if (args->type == IMAP_ARG_LITERAL_SIZE) {
		if (args->_data.literal_size == 0)
			return append_fail(ctx,
				"NO Can't save a zero byte message.");
		if ((error = append_quota_check(ctx,
				args->_data.literal_size)) != NULL)
			return append_fail(ctx, error);
		if (!append_begin_save(ctx, flags, keywords, date, tz))
			return append_fail_storage(ctx);
		ctx->arg_pos = (unsigned int)(args - cmd->args) + 1;
		append_start_literal(ctx, args, true);
		return APPEND_STEP_CONTINUE;
	}
	if (imap_arg_atom_equals(args, "CATENATE") &&
	    args[1].type == IMAP_ARG_LIST) {
		if (!append_begin_save(ctx, flags, keywords, date, tz))
			return append_fail_storage(ctx);
		ctx->in_catenate = true;
		ctx->cat_list_pos = (unsigned int)(args - cmd->args) + 1;
		ctx->cat_part = 0;
		return APPEND_STEP_CONTINUE;
	}
	if (imap_arg_atom_equals(args, "UTF8")) {
		const struct imap_arg *list;
		const char *reply = append_utf8_check(ctx, &args[1]);
		if (reply != NULL)
			return append_fail(ctx, reply);
		(void)imap_arg_get_list(&args[1], &list, NULL);
		if (list[0]._data.literal_size == 0)
			return append_fail(ctx,
				"NO Can't save a zero byte message.");
		if ((error = append_quota_check(ctx,
				list[0]._data.literal_size)) != NULL)
			return append_fail(ctx, error);
		if (!append_begin_save(ctx, flags, keywords, date, tz))
			return append_fail_storage(ctx);
		ctx->in_utf8 = true;
		ctx->utf8_list_pos = (unsigned int)(args - cmd->args) + 1;
		append_start_literal(ctx, &list[0], false);
		return APPEND_STEP_CONTINUE;
	}
	return append_fail(ctx, "BAD Invalid APPEND arguments.");
}

/* The destination: TRYCREATE when it does not exist (RFC 9051 §6.3.12). */
static enum append_step append_open_mailbox(struct append_context *ctx,
					    const char *name)
{
	struct client *client = ctx->client;
	const char *storage_name, *error;

	int ret = client_mailbox_name_to_storage(client, name, &storage_name,
						 &error);
	if (ret < 0) {
		return append_fail(ctx, t_strdup_printf(
			ret == -2 ? "BAD %s" : "NO [CANNOT] %s", error));
	}
	if (mailbox_open(client->user, storage_name, &ctx->box) < 0) {
		if (mail_user_get_last_error(client->user, NULL, NULL) ==
		    MAIL_ERROR_NOTFOUND) {
			return append_fail(ctx,
				"NO [TRYCREATE] Mailbox doesn't exist.");
		}
		return append_fail_storage(ctx);
	}
	/* RFC 9051 §6.3.12: a name that was normalized is reported */
	imap_list_send_oldname(client, "", name, storage_name);
	return APPEND_STEP_CONTINUE;
}

static enum append_step append_step(struct append_context *ctx)
{
	struct client_command_context *cmd = ctx->cmd;
	const struct imap_arg *args;
	enum append_step step;

	if (ctx->literal_active) {
		step = append_read_literal(ctx);
		if (step != APPEND_STEP_CONTINUE || ctx->literal_active ||
		    ctx->fail_reply != NULL || !ctx->literal_top)
			return step;
		if (ctx->name_buf != NULL) {
			const char *name = str_c(ctx->name_buf);
			ctx->name_buf = NULL;
			return append_open_mailbox(ctx, name);
		}
		return append_end_save(ctx);
	}
	if (ctx->url_stream != NULL)
		return append_read_url(ctx);
	if (ctx->need_args) {
		int ret = client_command_read_more_args(cmd, &args);
		if (ret == 0) {
			client_command_wait_input(cmd);
			return APPEND_STEP_WAIT;
		}
		if (ret < 0) {
			/* the core has answered BAD */
			return append_reply(ctx, NULL);
		}
		ctx->need_args = false;
		if (ctx->literal_top)
			ctx->arg_pos = 0;
	}
	if (ctx->fail_reply != NULL)
		return append_fail_next(ctx);
	if (ctx->in_catenate)
		return append_catenate_next(ctx);
	if (ctx->in_utf8) {
		if (!append_utf8_closed(ctx)) {
			return append_fail(ctx,
				"BAD UTF8 takes one literal8: UTF8 (~{n}).");
		}
		ctx->arg_pos = ctx->utf8_list_pos + 1;
		return append_end_save(ctx);
	}
	return append_next_message(ctx);
}

static bool cmd_append_continue(struct client_command_context *cmd)
{
	struct append_context *ctx = cmd->context;

	for (;;) {
		switch (append_step(ctx)) {
		case APPEND_STEP_CONTINUE:
			break;
		case APPEND_STEP_WAIT:
			return false;
		case APPEND_STEP_DONE:
			return true;
		}
	}
}

bool imap_cmd_append(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *arg = &cmd->args[0];
	struct append_context *ctx;
	const char *name;
	enum append_step step;

	ctx = i_new(struct append_context, 1);
	ctx->cmd = cmd;
	ctx->client = client;
	cmd->context = ctx;
	cmd->cancel = append_cancel;
	cmd->func = cmd_append_continue;

	if (arg->type == IMAP_ARG_LITERAL_SIZE) {
		/* the name is a literal: read it, then open the mailbox */
		if (arg->literal8 ||
		    arg->_data.literal_size > APPEND_MAX_NAME_LITERAL)
			step = append_fail(ctx, "BAD Invalid mailbox name.");
		else {
			ctx->name_buf = str_new(cmd->pool,
				(size_t)arg->_data.literal_size + 1);
			append_start_literal(ctx, arg, true);
			step = APPEND_STEP_CONTINUE;
		}
	} else if (!imap_arg_get_astring(arg, &name)) {
		step = append_fail(ctx, "BAD Invalid mailbox name.");
	} else {
		/* before: a failure may free ctx */
		ctx->arg_pos = 1;
		step = append_open_mailbox(ctx, name);
	}
	switch (step) {
	case APPEND_STEP_CONTINUE:
		/* called from the core's parser loop, which has not yet
		   consumed the command line from the input buffer: the
		   literal's bytes are read from the next round */
		client_command_wait_input(cmd);
		return false;
	case APPEND_STEP_WAIT:
		return false;
	case APPEND_STEP_DONE:
		break;
	}
	return true;
}
