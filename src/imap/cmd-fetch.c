/* FETCH and UID FETCH (RFC 9051 §6.4.5) with BINARY (RFC 3516),
   CONDSTORE's MODSEQ and CHANGEDSINCE and QRESYNC's VANISHED (RFC 7162),
   PREVIEW (RFC 8970), SAVEDATE (RFC 8514) and EMAILID/THREADID
   (RFC 8474).

   Flags, UIDs and modseqs come from the session's view (no index access:
   FETCH 1:* (FLAGS) is a loop over memory); dates, sizes and the cached
   ENVELOPE/BODYSTRUCTURE come from the index in batches. Section
   literals are streamed from mail_section_stream: the command returns
   whenever the client's output is full or the blob read must wait, so
   neither a large message nor a slow client makes us buffer more than a
   chunk. BINARY of an encoded part is decoded twice (once for the
   literal's length, once while sending) rather than held in memory.

   A non-PEEK body fetch on a read-write mailbox sets \Seen on the
   messages of the set before their responses, which then carry FLAGS.
   Messages expunged by another session meanwhile keep their view flags;
   those whose content or record is needed are skipped and the reply is
   NO [EXPUNGEISSUED] (as Dovecot). */
#include "lib.h"
#include "event.h"
#include "imap-common.h"
#include "imap-date.h"
#include "imap-flags.h"
#include "imap-seqset.h"
#include "imap-msg-util.h"
#include "imap-fetch-body.h"
#include "mail-fetch.h"
#include <ctype.h>
#include <time.h>

/* records read from the index at a time */
#define FETCH_RECORD_BATCH 200

enum fetch_kind {
	FETCH_FLAGS,
	FETCH_UID,
	FETCH_MODSEQ,
	FETCH_INTERNALDATE,
	FETCH_RFC822_SIZE,
	FETCH_SAVEDATE,
	FETCH_EMAILID,
	FETCH_THREADID,
	FETCH_ENVELOPE,
	FETCH_BODY,
	FETCH_BODYSTRUCTURE,
	FETCH_PREVIEW,
	/* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
	FETCH_SECTION,
	FETCH_BINARY,
	FETCH_BINARY_SIZE,
};

struct fetch_item {
	enum fetch_kind kind;
	/* the response's item name: "BODY[HEADER]<0>", "RFC822.TEXT" */
	const char *name;
	/* storage section ("1.2", "HEADER.FIELDS (A B)") */
	const char *section;
	uint64_t offset, size;
	bool peek;
	/* BINARY items of the current message (pre-pass) */
	bool exists;
	enum imap_cte cte;
	uint64_t binary_size;
	bool has_nul;
};

struct fetch_context {
	ARRAY(struct fetch_item) items;
	ARRAY_TYPE(seq_range) seqs;
	enum mail_index_fetch_fields record_fields;
	bool need_records;
	bool has_flags_item;
	/* UIDs whose \Seen this command set: their responses carry FLAGS */
	ARRAY_TYPE(seq_range) seen_uids;
	bool expunged;
	struct timespec start;

	/* iteration */
	unsigned int range_idx;
	uint32_t next_seq;
	bool done;
	pool_t batch_pool;
	ARRAY_TYPE(mail_index_record) records;
	unsigned int record_idx;
	uint32_t batch_last_seq;

	/* the message being written */
	uint32_t seq;
	const struct mail_index_record *rec;
	unsigned int item_idx;
	bool in_message;
	string_t *line;

	/* a literal being streamed */
	struct mail_section_stream *stream;
	uint64_t literal_left;
	bool binary;
	struct imap_cte_decoder dec;
	buffer_t *dec_buf;
	size_t dec_pos;
	uint64_t skip_left;
	bool stream_ended;
	/* the first read of this literal item waits: its header (and the
	   line before it) is not sent yet, so output stays between
	   responses and pipelined commands may write meanwhile */
	const struct fetch_item *header_item;
};

/* Decimal n: FETCH 1:* (FLAGS) writes two numbers per message, and
   printf() was half of its time. */
static void str_append_u32(string_t *str, uint32_t n)
{
	char buf[10];
	unsigned int pos = sizeof(buf);

	do {
		buf[--pos] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	str_append_data(str, buf + pos, sizeof(buf) - pos);
}

/* --- parsing --- */

static bool parse_number(const char *str, size_t len, uint64_t *num_r)
{
	uint64_t n = 0;

	if (len == 0 || (len > 1 && str[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (str[i] < '0' || str[i] > '9' ||
		    n > (UINT64_MAX - (uint64_t)(str[i] - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(str[i] - '0');
	}
	*num_r = n;
	return true;
}

/* section-part: nz-number *("." nz-number); *p advanced past it */
static bool parse_section_part(const char **p)
{
	const char *s = *p;

	for (;;) {
		if (*s < '1' || *s > '9')
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		if (s[0] != '.' || !isdigit((unsigned char)s[1]))
			break;
		s++;
	}
	*p = s;
	return true;
}

/* Validate and normalise a BODY section (RFC 9051 section-spec). The
   result has upper-case keywords and field names. */
static bool section_normalize(const char *section, bool binary,
			      const char **result_r)
{
	const char *p = section, *number_end;
	string_t *out = t_str_new(strlen(section) + 8);

	if (*p != '\0' && isdigit((unsigned char)*p)) {
		if (!parse_section_part(&p))
			return false;
	}
	number_end = p;
	str_append_data(out, section, (size_t)(p - section));
	if (*p == '\0') {
		*result_r = str_c(out);
		return true;
	}
	if (binary)
		return false;
	if (number_end != section) {
		if (*p != '.')
			return false;
		p++;
		str_append_c(out, '.');
		if (strcasecmp(p, "MIME") == 0) {
			str_append(out, "MIME");
			*result_r = str_c(out);
			return true;
		}
	}
	if (strcasecmp(p, "HEADER") == 0 || strcasecmp(p, "TEXT") == 0) {
		str_append(out, t_str_ucase(p));
		*result_r = str_c(out);
		return true;
	}
	size_t kwlen;
	if (strncasecmp(p, "HEADER.FIELDS.NOT ", 18) == 0)
		kwlen = 18;
	else if (strncasecmp(p, "HEADER.FIELDS ", 14) == 0)
		kwlen = 14;
	else
		return false;
	str_append(out, t_str_ucase(t_strndup(p, kwlen)));
	p += kwlen;
	size_t len = strlen(p);
	if (len < 3 || p[0] != '(' || p[len - 1] != ')')
		return false;
	const char *const *fields =
		t_strsplit_spaces(t_strndup(p + 1, len - 2), " ");
	if (fields[0] == NULL)
		return false;
	str_append_c(out, '(');
	for (unsigned int i = 0; fields[i] != NULL; i++) {
		/* header-fld-name = astring; quoting is not needed for the
		   field names mail uses, and the parser kept the atom raw */
		for (const char *c = fields[i]; *c != '\0'; c++) {
			if ((unsigned char)*c <= 0x20 || *c == ':' ||
			    (unsigned char)*c >= 0x7f || *c == '"' ||
			    *c == '(' || *c == ')' || *c == '{')
				return false;
		}
		if (i > 0)
			str_append_c(out, ' ');
		str_append(out, t_str_ucase(fields[i]));
	}
	str_append_c(out, ')');
	*result_r = str_c(out);
	return true;
}

/* BODY[...]<o.n>, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
   BINARY.SIZE[...] */
static bool parse_section_item(struct client_command_context *cmd,
			       const char *atom, struct fetch_item *item)
{
	const char *bracket = strchr(atom, '['), *close, *section;
	size_t prefix_len = (size_t)(bracket - atom);
	const char *prefix = t_str_ucase(t_strndup(atom, prefix_len));
	bool binary = false, size_only = false;

	if (strcmp(prefix, "BODY") == 0) {
	} else if (strcmp(prefix, "BODY.PEEK") == 0) {
		item->peek = true;
	} else if (strcmp(prefix, "BINARY") == 0) {
		binary = true;
	} else if (strcmp(prefix, "BINARY.PEEK") == 0) {
		binary = true;
		item->peek = true;
	} else if (strcmp(prefix, "BINARY.SIZE") == 0) {
		binary = true;
		size_only = true;
		item->peek = true;
	} else {
		return false;
	}
	close = strrchr(bracket, ']');
	if (close == NULL)
		return false;
	if (!section_normalize(t_strndup(bracket + 1,
					 (size_t)(close - bracket - 1)),
			       binary, &section))
		return false;
	item->offset = 0;
	item->size = UINT64_MAX;
	const char *partial = close + 1;
	string_t *name = t_str_new(64);
	str_printfa(name, "%s[%s]", binary ? (size_only ? "BINARY.SIZE" :
		    "BINARY") : "BODY", section);
	if (*partial != '\0') {
		const char *dot = strchr(partial, '.');
		size_t plen = strlen(partial);
		if (size_only || partial[0] != '<' || partial[plen - 1] != '>' ||
		    dot == NULL ||
		    !parse_number(partial + 1, (size_t)(dot - partial - 1),
				  &item->offset) ||
		    !parse_number(dot + 1, (size_t)(partial + plen - 1 - dot - 1),
				  &item->size) || item->size == 0)
			return false;
		str_printfa(name, "<%llu>", (unsigned long long)item->offset);
	}
	item->kind = size_only ? FETCH_BINARY_SIZE :
		(binary ? FETCH_BINARY : FETCH_SECTION);
	item->section = p_strdup(cmd->pool, section);
	item->name = p_strdup(cmd->pool, str_c(name));
	return true;
}

static void add_item(struct fetch_context *ctx, enum fetch_kind kind,
		     const char *name)
{
	struct fetch_item *item;

	array_foreach(&ctx->items, item) {
		if (item->kind == kind && kind != FETCH_SECTION &&
		    kind != FETCH_BINARY && kind != FETCH_BINARY_SIZE)
			return;
	}
	item = array_append_space(&ctx->items);
	item->kind = kind;
	item->name = name;
}

static void add_section(struct fetch_context *ctx, const char *name,
			const char *section, bool peek)
{
	struct fetch_item *item = array_append_space(&ctx->items);

	item->kind = FETCH_SECTION;
	item->name = name;
	item->section = section;
	item->size = UINT64_MAX;
	item->peek = peek;
}

/* One fetch-att; *args is advanced past it (PREVIEW may take a list). */
static bool parse_item(struct client_command_context *cmd,
		       struct fetch_context *ctx, const struct imap_arg **args,
		       const char **error_r)
{
	const char *atom;

	if (!imap_arg_get_atom(*args, &atom)) {
		*error_r = "Invalid FETCH data item.";
		return false;
	}
	(*args)++;
	if (strchr(atom, '[') != NULL) {
		struct fetch_item item;
		memset(&item, 0, sizeof(item));
		if (!parse_section_item(cmd, atom, &item)) {
			*error_r = t_strdup_printf("Invalid FETCH data item %s.",
						   str_sanitize(atom, 80));
			return false;
		}
		array_push(&ctx->items, item);
		return true;
	}
	const char *u = t_str_ucase(atom);
	if (strcmp(u, "FLAGS") == 0)
		add_item(ctx, FETCH_FLAGS, "FLAGS");
	else if (strcmp(u, "UID") == 0)
		add_item(ctx, FETCH_UID, "UID");
	else if (strcmp(u, "MODSEQ") == 0)
		add_item(ctx, FETCH_MODSEQ, "MODSEQ");
	else if (strcmp(u, "INTERNALDATE") == 0)
		add_item(ctx, FETCH_INTERNALDATE, "INTERNALDATE");
	else if (strcmp(u, "RFC822.SIZE") == 0)
		add_item(ctx, FETCH_RFC822_SIZE, "RFC822.SIZE");
	else if (strcmp(u, "SAVEDATE") == 0)
		add_item(ctx, FETCH_SAVEDATE, "SAVEDATE");
	else if (strcmp(u, "EMAILID") == 0)
		add_item(ctx, FETCH_EMAILID, "EMAILID");
	else if (strcmp(u, "THREADID") == 0)
		add_item(ctx, FETCH_THREADID, "THREADID");
	else if (strcmp(u, "ENVELOPE") == 0)
		add_item(ctx, FETCH_ENVELOPE, "ENVELOPE");
	else if (strcmp(u, "BODY") == 0)
		add_item(ctx, FETCH_BODY, "BODY");
	else if (strcmp(u, "BODYSTRUCTURE") == 0)
		add_item(ctx, FETCH_BODYSTRUCTURE, "BODYSTRUCTURE");
	else if (strcmp(u, "RFC822") == 0)
		add_section(ctx, "RFC822", "", false);
	else if (strcmp(u, "RFC822.HEADER") == 0)
		add_section(ctx, "RFC822.HEADER", "HEADER", true);
	else if (strcmp(u, "RFC822.TEXT") == 0)
		add_section(ctx, "RFC822.TEXT", "TEXT", false);
	else if (strcmp(u, "PREVIEW") == 0) {
		const struct imap_arg *mods;
		/* PREVIEW (LAZY): we always compute it, so LAZY changes
		   nothing, but unknown modifiers are errors (RFC 8970) */
		if ((*args)->type == IMAP_ARG_LIST &&
		    imap_arg_get_list(*args, &mods, NULL) &&
		    imap_arg_atom_equals(&mods[0], "LAZY")) {
			for (; !IMAP_ARG_IS_EOL(mods); mods++) {
				if (!imap_arg_atom_equals(mods, "LAZY")) {
					*error_r = "Unknown PREVIEW modifier.";
					return false;
				}
			}
			(*args)++;
		}
		add_item(ctx, FETCH_PREVIEW, "PREVIEW");
	} else {
		*error_r = t_strdup_printf("Unknown FETCH data item %s.",
					   str_sanitize(atom, 80));
		return false;
	}
	return true;
}

static bool parse_macro(struct fetch_context *ctx, const char *atom)
{
	if (strcasecmp(atom, "ALL") != 0 && strcasecmp(atom, "FAST") != 0 &&
	    strcasecmp(atom, "FULL") != 0)
		return false;
	add_item(ctx, FETCH_FLAGS, "FLAGS");
	add_item(ctx, FETCH_INTERNALDATE, "INTERNALDATE");
	add_item(ctx, FETCH_RFC822_SIZE, "RFC822.SIZE");
	if (strcasecmp(atom, "FAST") != 0)
		add_item(ctx, FETCH_ENVELOPE, "ENVELOPE");
	if (strcasecmp(atom, "FULL") == 0)
		add_item(ctx, FETCH_BODY, "BODY");
	return true;
}

/* (CHANGEDSINCE n [VANISHED]) */
static bool parse_modifiers(struct client_command_context *cmd,
			    const struct imap_arg *arg, uint64_t *changedsince_r,
			    bool *changedsince_set_r, bool *vanished_r,
			    const char **error_r)
{
	const struct imap_arg *list;
	const char *name, *value;

	if (!imap_arg_get_list(arg, &list, NULL) || IMAP_ARG_IS_EOL(list)) {
		*error_r = "Invalid FETCH modifiers.";
		return false;
	}
	for (; !IMAP_ARG_IS_EOL(list); list++) {
		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid FETCH modifiers.";
			return false;
		}
		if (strcasecmp(name, "CHANGEDSINCE") == 0) {
			list++;
			if (*changedsince_set_r ||
			    !imap_arg_get_atom(list, &value) ||
			    !parse_number(value, strlen(value), changedsince_r)) {
				*error_r = "Invalid CHANGEDSINCE value.";
				return false;
			}
			*changedsince_set_r = true;
		} else if (strcasecmp(name, "VANISHED") == 0) {
			*vanished_r = true;
		} else {
			*error_r = t_strdup_printf("Unknown FETCH modifier %s.",
						   str_sanitize(name, 40));
			return false;
		}
	}
	if (*vanished_r) {
		/* RFC 7162 §3.2.6 */
		if (!cmd->uid) {
			*error_r = "VANISHED is only allowed with UID FETCH.";
			return false;
		}
		if ((cmd->client->enabled & CLIENT_ENABLED_QRESYNC) == 0) {
			*error_r = "VANISHED needs ENABLE QRESYNC.";
			return false;
		}
		if (!*changedsince_set_r) {
			*error_r = "VANISHED needs CHANGEDSINCE.";
			return false;
		}
	}
	return true;
}

/* --- before the responses --- */

/* Set \Seen on the set's unseen messages (non-PEEK body fetch). */
static int fetch_set_seen(struct client_command_context *cmd,
			  struct fetch_context *ctx)
{
	struct client *client = cmd->client;
	ARRAY_TYPE(seq_range) uids;
	const struct seq_range *r;
	struct mail_index_flag_update update = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
	};

	array_init(&uids, pool_datastack, 16);
	array_foreach(&ctx->seqs, r) {
		for (uint32_t seq = r->seq1; seq <= r->seq2; seq++) {
			const struct mail_index_flags_rec *m =
				mailbox_get_message(client->mailbox, seq);
			if ((m->flags & MAIL_SEEN) == 0)
				seq_range_array_add(&uids, m->uid);
		}
	}
	if (array_count(&uids) == 0)
		return 0;
	if (mailbox_update_flags(client->mailbox, &uids, &update, NULL,
				 &ctx->seen_uids, NULL) < 0)
		return -1;
	if (imap_sync_own_changes(client, &ctx->seen_uids) < 0)
		e_warning(client->event, "FETCH: sync after setting \\Seen failed");
	return 0;
}

static void fetch_send_vanished(struct client_command_context *cmd,
				const char *uidset, uint64_t since)
{
	struct client *client = cmd->client;
	struct mail_index_mailbox_changes changes;
	ARRAY_TYPE(seq_range) requested, vanished;
	const struct seq_range *r;
	const char *error;

	array_init(&requested, pool_datastack, 8);
	if (imap_seq_set_parse(uidset, mailbox_get_uidnext(client->mailbox) - 1,
			       &requested, &error) < 0)
		return;
	if (mail_index_mailbox_get_changes(mail_user_get_index(client->user),
			mailbox_get_id(client->mailbox), since, pool_datastack,
			&changes) <= 0) {
		e_warning(client->event, "FETCH VANISHED: change lookup failed");
		return;
	}
	array_init(&vanished, pool_datastack, 8);
	array_foreach(&changes.expunged, r) {
		for (uint32_t uid = r->seq1; uid <= r->seq2; uid++) {
			if (seq_range_exists(&requested, uid))
				seq_range_array_add(&vanished, uid);
			if (uid == r->seq2)
				break;
		}
	}
	if (array_count(&vanished) == 0)
		return;
	string_t *str = t_str_new(128);
	str_append(str, "* VANISHED (EARLIER) ");
	seq_range_write(str, &vanished);
	client_send_line(client, str_c(str));
}

/* --- responses --- */

static void fetch_stream_callback(void *context)
{
	struct client_command_context *cmd = context;

	client_command_resume(cmd);
}

static void fetch_stream_close(struct fetch_context *ctx)
{
	mail_section_stream_close(&ctx->stream);
	if (ctx->binary) {
		imap_cte_decoder_deinit(&ctx->dec);
		ctx->binary = false;
	}
}

static void fetch_cancel(struct client_command_context *cmd)
{
	struct fetch_context *ctx = cmd->context;

	fetch_stream_close(ctx);
	pool_unref(&ctx->batch_pool);
}

/* The next message of the set, or 0. */
static uint32_t fetch_next_seq(struct fetch_context *ctx)
{
	while (ctx->range_idx < array_count(&ctx->seqs)) {
		const struct seq_range *r = &ctx->seqs.v[ctx->range_idx];
		if (ctx->next_seq < r->seq1)
			ctx->next_seq = r->seq1;
		if (ctx->next_seq <= r->seq2) {
			uint32_t seq = ctx->next_seq;
			if (seq == r->seq2)
				ctx->range_idx++;
			else
				ctx->next_seq++;
			return seq;
		}
		ctx->range_idx++;
	}
	return 0;
}

/* The record of message seq (uid), reading the next batch as needed;
   NULL if it was expunged. Returns -1 on error. */
static int fetch_get_record(struct client_command_context *cmd,
			    struct fetch_context *ctx, uint32_t seq,
			    const struct mail_index_record **rec_r)
{
	struct mailbox *box = cmd->client->mailbox;
	uint32_t uid = mailbox_seq_to_uid(box, seq);

	if (seq > ctx->batch_last_seq) {
		/* the next FETCH_RECORD_BATCH messages of the set */
		ARRAY_TYPE(seq_range) seqs, uids;
		unsigned int n = 0, idx = ctx->range_idx;
		uint32_t s = seq;

		array_init(&seqs, pool_datastack, 4);
		while (n < FETCH_RECORD_BATCH) {
			seq_range_array_add(&seqs, s);
			ctx->batch_last_seq = s;
			n++;
			if (idx >= array_count(&ctx->seqs))
				break;
			const struct seq_range *r = &ctx->seqs.v[idx];
			if (s < r->seq1)
				s = r->seq1;
			else if (s < r->seq2)
				s++;
			else if (++idx < array_count(&ctx->seqs))
				s = ctx->seqs.v[idx].seq1;
			else
				break;
			if (s <= ctx->batch_last_seq)
				break;
		}
		array_init(&uids, pool_datastack, 4);
		mailbox_seqs_to_uids(box, &seqs, &uids);
		pool_unref(&ctx->batch_pool);
		ctx->batch_pool = pool_alloconly_create("fetch records", 16384);
		array_init(&ctx->records, ctx->batch_pool, n);
		ctx->record_idx = 0;
		if (mailbox_fetch_records(box, &uids, ctx->record_fields,
					  ctx->batch_pool, &ctx->records) < 0)
			return -1;
	}
	while (ctx->record_idx < array_count(&ctx->records) &&
	       ctx->records.v[ctx->record_idx].uid < uid)
		ctx->record_idx++;
	if (ctx->record_idx < array_count(&ctx->records) &&
	    ctx->records.v[ctx->record_idx].uid == uid)
		*rec_r = &ctx->records.v[ctx->record_idx];
	else
		*rec_r = NULL;
	return 0;
}

/* BINARY pre-pass: the CTE and decoded size of every BINARY item, so
   an unknown encoding fails the command before the message's response
   starts. Returns 0, -1 on a storage error, -2 for an unknown CTE. */
static int fetch_binary_prepare(struct client_command_context *cmd,
				struct fetch_context *ctx, uint32_t uid)
{
	struct mailbox *box = cmd->client->mailbox;
	struct fetch_item *item;
	int ret;

	array_foreach(&ctx->items, item) {
		if (item->kind != FETCH_BINARY && item->kind != FETCH_BINARY_SIZE)
			continue;
		ret = imap_fetch_part_cte(box, uid, item->section, &item->cte);
		if (ret < 0)
			return -1;
		item->exists = ret > 0;
		if (!item->exists)
			continue;
		if (item->cte == IMAP_CTE_UNKNOWN)
			return -2;
		ret = imap_fetch_binary_size(box, uid, item->section, item->cte,
					     &item->binary_size, &item->has_nul);
		if (ret < 0)
			return -1;
		item->exists = ret > 0;
	}
	return 0;
}

/* The index caches ENVELOPE and BODY[STRUCTURE] without their outer
   parentheses (as Dovecot's cache does). */
static void append_cached(string_t *line, const char *value)
{
	if (value == NULL) {
		/* mailbox_fetch_records() fills missing caches: only a
		   message that cannot be parsed gets here */
		str_append(line, "NIL");
		return;
	}
	str_append_c(line, '(');
	str_append(line, value);
	str_append_c(line, ')');
}

static int fetch_literal_header(struct client_command_context *cmd,
				struct fetch_context *ctx,
				const struct fetch_item *item);

/* A literal item: open its stream and send the line so far with the
   literal's header. A section the message does not have is an empty
   literal, as Dovecot sends it (the RFCs leave it open; BODYSTRUCTURE
   shows a part 1 even in a multipart without parts). Returns 1 if
   streaming, 0 if the item was written whole, 2 if the first read
   waits (nothing sent yet: fetch_literal_header() again), -1 on
   error. */
static int fetch_start_literal(struct client_command_context *cmd,
			       struct fetch_context *ctx,
			       const struct fetch_item *item)
{
	struct client *client = cmd->client;
	struct mail_section_request req = {
		.section = item->section,
		.partial_offset = item->kind == FETCH_BINARY ? 0 : item->offset,
		.partial_size = item->kind == FETCH_BINARY ? UINT64_MAX :
			item->size,
	};
	const char *text;
	uint64_t size;

	if (item->kind == FETCH_BINARY && !item->exists) {
		str_printfa(ctx->line, "%s {0}\r\n", item->name);
		return 0;
	}
	if (mail_section_stream_open_record(client->mailbox, ctx->rec, &req,
					    &ctx->stream) < 0) {
		enum mail_error error = mail_user_get_last_error(client->user,
								 &text, NULL);
		if (error == MAIL_ERROR_PARAMS) {
			/* no such section in this message */
			str_printfa(ctx->line, "%s {0}\r\n", item->name);
			return 0;
		}
		if (error == MAIL_ERROR_EXPUNGED) {
			/* expunged meanwhile: NO [EXPUNGEISSUED] at the end */
			ctx->expunged = true;
			str_printfa(ctx->line, "%s NIL", item->name);
			return 0;
		}
		return -1;
	}
	if (item->kind == FETCH_BINARY) {
		uint64_t start = I_MIN(item->offset, item->binary_size);
		size = I_MIN(item->size, item->binary_size - start);
		ctx->binary = true;
		imap_cte_decoder_init(&ctx->dec, item->cte);
		if (ctx->dec_buf == NULL)
			ctx->dec_buf = buffer_create(cmd->pool, 8192);
		buffer_set_used_size(ctx->dec_buf, 0);
		ctx->dec_pos = 0;
		ctx->skip_left = start;
		str_printfa(ctx->line, "%s %s{%llu}\r\n", item->name,
			    item->has_nul ? "~" : "", (unsigned long long)size);
	} else {
		mail_section_stream_set_callback(ctx->stream,
						 fetch_stream_callback, cmd);
		return fetch_literal_header(cmd, ctx, item);
	}
	ctx->literal_left = size;
	ctx->stream_ended = false;
	mail_section_stream_set_callback(ctx->stream, fetch_stream_callback, cmd);
	client_send_raw(client, ctx->line->data, str_len(ctx->line));
	str_truncate(ctx->line, 0);
	return 1;
}

/* The header of a non-BINARY literal item whose stream is open: the
   first read comes before the literal is promised. It is done inline
   when the blob is cached; otherwise (2) the command waits for it with
   nothing of the response written. A blob that is gone (expunged and
   purged since the records were read) gives NIL and EXPUNGEISSUED
   rather than a literal that cannot be completed. Returns as
   fetch_start_literal(), or 2 to wait. */
static int fetch_literal_header(struct client_command_context *cmd,
				struct fetch_context *ctx,
				const struct fetch_item *item)
{
	struct client *client = cmd->client;
	const unsigned char *peek = NULL;
	size_t peek_size = 0;
	const char *text;
	uint64_t size = mail_section_stream_get_size(ctx->stream);
	int ret;

	ctx->header_item = NULL;
	if (size > 0) {
		ret = mail_section_stream_read(ctx->stream, &peek, &peek_size);
		if (ret == 0) {
			ctx->header_item = item;
			return 2;
		}
		if (ret == -2) {
			if (mail_user_get_last_error(client->user, &text,
						     NULL) != MAIL_ERROR_EXPUNGED)
				return -1;
			mail_section_stream_close(&ctx->stream);
			ctx->expunged = true;
			str_printfa(ctx->line, "%s NIL", item->name);
			return 0;
		}
		if (ret < 0)
			peek_size = 0;
	}
	str_printfa(ctx->line, "%s {%llu}\r\n", item->name,
		    (unsigned long long)size);
	ctx->literal_left = size;
	ctx->stream_ended = false;
	mail_section_stream_set_callback(ctx->stream, fetch_stream_callback, cmd);
	client_send_raw(client, ctx->line->data, str_len(ctx->line));
	str_truncate(ctx->line, 0);
	if (peek_size > 0) {
		peek_size = (size_t)I_MIN((uint64_t)peek_size, size);
		client_send_raw(client, peek, peek_size);
		ctx->literal_left -= peek_size;
	}
	return 1;
}

/* Send literal bytes until the literal is complete (1), output is full
   or the stream must wait (0), or it failed (-1). */
static int fetch_pump_literal(struct client_command_context *cmd,
			      struct fetch_context *ctx)
{
	struct client *client = cmd->client;
	const unsigned char *data;
	size_t size;
	int ret;

	while (ctx->literal_left > 0) {
		if (client_output_is_full(client))
			return 0;
		if (ctx->binary && ctx->dec_pos < ctx->dec_buf->used) {
			size_t n = ctx->dec_buf->used - ctx->dec_pos;
			if (ctx->skip_left > 0) {
				size_t skip = (size_t)I_MIN((uint64_t)n,
							    ctx->skip_left);
				ctx->dec_pos += skip;
				ctx->skip_left -= skip;
				continue;
			}
			n = (size_t)I_MIN((uint64_t)n, ctx->literal_left);
			client_send_raw(client, ctx->dec_buf->data + ctx->dec_pos,
					n);
			ctx->dec_pos += n;
			ctx->literal_left -= n;
			continue;
		}
		if (ctx->stream_ended)
			break;
		ret = mail_section_stream_read(ctx->stream, &data, &size);
		if (ret == 0)
			return 0;
		if (ret == -2)
			return -1;
		if (!ctx->binary) {
			if (ret == -1)
				break;
			size = (size_t)I_MIN((uint64_t)size, ctx->literal_left);
			client_send_raw(client, data, size);
			ctx->literal_left -= size;
			continue;
		}
		buffer_set_used_size(ctx->dec_buf, 0);
		ctx->dec_pos = 0;
		if (ret == -1) {
			imap_cte_decoder_finish(&ctx->dec, ctx->dec_buf);
			ctx->stream_ended = true;
		} else {
			imap_cte_decoder_more(&ctx->dec, data, size,
					      ctx->dec_buf);
		}
	}
	if (ctx->literal_left > 0) {
		/* the message changed under us or the blob is short: the
		   literal cannot be completed */
		e_error(client->event, "FETCH UID %u: the section ended "
			"%llu bytes before its literal's length",
			ctx->rec->uid, (unsigned long long)ctx->literal_left);
		return -1;
	}
	fetch_stream_close(ctx);
	return 1;
}

/* Append the non-literal item to the line; returns 1 if written, 0 if
   it is a literal item, -1 on error. */
static int fetch_write_item(struct client_command_context *cmd,
			    struct fetch_context *ctx,
			    const struct fetch_item *item, bool first)
{
	struct client *client = cmd->client;
	const struct mail_index_flags_rec *m =
		mailbox_get_message(client->mailbox, ctx->seq);
	const struct mail_index_record *rec = ctx->rec;
	string_t *line = ctx->line;

	if (item->kind == FETCH_SECTION || item->kind == FETCH_BINARY)
		return 0;
	if (!first)
		str_append_c(line, ' ');
	switch (item->kind) {
	case FETCH_FLAGS:
		str_append(line, imap_sync_client_flags_item(client, m->uid,
				m->flags, m->keywords));
		break;
	case FETCH_UID:
		str_append(line, "UID ");
		str_append_u32(line, m->uid);
		break;
	case FETCH_MODSEQ:
		str_printfa(line, "MODSEQ (%llu)", (unsigned long long)m->modseq);
		break;
	case FETCH_INTERNALDATE:
		str_printfa(line, "INTERNALDATE \"%s\"",
			    imap_to_datetime(rec->internal_date,
					     rec->internal_tz));
		break;
	case FETCH_RFC822_SIZE:
		str_printfa(line, "RFC822.SIZE %llu",
			    (unsigned long long)rec->rfc822_size);
		break;
	case FETCH_SAVEDATE:
		if (rec->save_date == 0)
			str_append(line, "SAVEDATE NIL");
		else
			str_printfa(line, "SAVEDATE \"%s\"",
				    imap_to_datetime(rec->save_date, 0));
		break;
	case FETCH_EMAILID:
		if (rec->guid == NULL || rec->guid[0] == '\0')
			str_append(line, "EMAILID NIL");
		else
			str_printfa(line, "EMAILID (M%s)", rec->guid);
		break;
	case FETCH_THREADID:
		/* RFC 8474 §5.2: NIL when the server does not thread */
		str_append(line, "THREADID NIL");
		break;
	case FETCH_ENVELOPE:
		str_append(line, "ENVELOPE ");
		append_cached(line, rec->envelope);
		break;
	case FETCH_BODY:
		str_append(line, "BODY ");
		append_cached(line, rec->body);
		break;
	case FETCH_BODYSTRUCTURE:
		str_append(line, "BODYSTRUCTURE ");
		append_cached(line, rec->bodystructure);
		break;
	case FETCH_PREVIEW: {
		const char *preview;
		if (imap_fetch_preview(client->mailbox, rec->uid, rec->parts,
				       rec->parts_size, &preview) < 0)
			return -1;
		str_append(line, "PREVIEW ");
		imap_write_string(line, preview,
			(client->enabled & (CLIENT_ENABLED_UTF8_ACCEPT |
					    CLIENT_ENABLED_IMAP4REV2)) != 0);
		break;
	}
	case FETCH_BINARY_SIZE:
		if (!item->exists)
			str_printfa(line, "%s 0", item->name);
		else
			str_printfa(line, "%s %llu", item->name,
				    (unsigned long long)item->binary_size);
		break;
	case FETCH_SECTION:
	case FETCH_BINARY:
		i_unreached();
	}
	return 1;
}

static bool fetch_finish(struct client_command_context *cmd,
			 struct fetch_context *ctx)
{
	struct timespec now;

	pool_unref(&ctx->batch_pool);
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = (double)(now.tv_sec - ctx->start.tv_sec) +
		(double)(now.tv_nsec - ctx->start.tv_nsec) / 1e9;
	if (ctx->expunged) {
		client_send_tagline(cmd, t_strdup_printf(
			"NO [EXPUNGEISSUED] Some of the requested messages "
			"no longer exist (%.3f secs).", secs));
	} else {
		client_send_tagline(cmd, t_strdup_printf(
			"OK Fetch completed (%.3f secs).", secs));
	}
	return true;
}

static bool fetch_failed(struct client_command_context *cmd,
			 struct fetch_context *ctx, bool in_literal)
{
	fetch_stream_close(ctx);
	pool_unref(&ctx->batch_pool);
	if (in_literal || ctx->in_message) {
		/* a response is half sent: the stream cannot be resynced */
		const char *text;
		(void)mail_user_get_last_error(cmd->client->user, &text, NULL);
		e_error(cmd->client->event,
			"FETCH failed in the middle of a response: disconnecting");
		cmd->tagline_sent = true;
		client_disconnect_with_bye(cmd->client,
			"FETCH failed; refer to the server log.",
			"FETCH failed in the middle of a response");
		return true;
	}
	client_send_storage_error(cmd);
	return true;
}

/* Start message seq's response: returns 1, 0 to skip it, -1 error, -2
   unknown CTE. */
static int fetch_begin_message(struct client_command_context *cmd,
			       struct fetch_context *ctx, uint32_t seq)
{
	struct client *client = cmd->client;
	int ret;

	ctx->seq = seq;
	ctx->rec = NULL;
	if (ctx->need_records) {
		if (fetch_get_record(cmd, ctx, seq, &ctx->rec) < 0)
			return -1;
		if (ctx->rec == NULL) {
			ctx->expunged = true;
			return 0;
		}
		ret = fetch_binary_prepare(cmd, ctx, ctx->rec->uid);
		if (ret < 0)
			return ret;
	}
	str_truncate(ctx->line, 0);
	str_append(ctx->line, "* ");
	str_append_u32(ctx->line, seq);
	str_append(ctx->line, " FETCH (");
	ctx->item_idx = 0;
	ctx->in_message = true;
	(void)client;
	return 1;
}

static bool cmd_fetch_continue(struct client_command_context *cmd)
{
	struct fetch_context *ctx = cmd->context;
	struct client *client = cmd->client;
	int ret;

	for (;;) {
		if (ctx->header_item != NULL) {
			ret = fetch_literal_header(cmd, ctx, ctx->header_item);
			if (ret == 2)
				return false;
			if (ret < 0)
				return fetch_failed(cmd, ctx, false);
		}
		if (ctx->stream != NULL) {
			ret = fetch_pump_literal(cmd, ctx);
			if (ret == 0)
				return false;
			if (ret < 0)
				return fetch_failed(cmd, ctx, true);
		}
		if (client_output_is_full(client))
			return false;
		if (!ctx->in_message) {
			uint32_t seq = fetch_next_seq(ctx);
			if (seq == 0)
				return fetch_finish(cmd, ctx);
			ret = fetch_begin_message(cmd, ctx, seq);
			if (ret == 0)
				continue;
			if (ret == -2) {
				pool_unref(&ctx->batch_pool);
				client_send_tagline(cmd, "NO [UNKNOWN-CTE] "
					"Unknown Content-Transfer-Encoding.");
				return true;
			}
			if (ret < 0)
				return fetch_failed(cmd, ctx, false);
		}
		/* the message's items, up to the next literal */
		while (ctx->item_idx < array_count(&ctx->items)) {
			const struct fetch_item *item =
				&ctx->items.v[ctx->item_idx++];
			bool first = ctx->item_idx == 1;
			ret = fetch_write_item(cmd, ctx, item, first);
			if (ret < 0)
				return fetch_failed(cmd, ctx, false);
			if (ret > 0)
				continue;
			if (!first)
				str_append_c(ctx->line, ' ');
			ret = fetch_start_literal(cmd, ctx, item);
			if (ret < 0)
				return fetch_failed(cmd, ctx, false);
			if (ret == 2)
				return false;
			if (ret > 0)
				break;
		}
		if (ctx->stream != NULL)
			continue;
		/* \Seen set by this FETCH: the response says so */
		if (!ctx->has_flags_item &&
		    array_count(&ctx->seen_uids) > 0 &&
		    seq_range_exists(&ctx->seen_uids,
				     mailbox_seq_to_uid(client->mailbox,
							ctx->seq))) {
			const struct mail_index_flags_rec *m =
				mailbox_get_message(client->mailbox, ctx->seq);
			if (str_len(ctx->line) > 0 &&
			    str_c(ctx->line)[str_len(ctx->line) - 1] != '(')
				str_append_c(ctx->line, ' ');
			str_append(ctx->line, imap_sync_client_flags_item(
				client, m->uid, m->flags, m->keywords));
		}
		str_append(ctx->line, ")\r\n");
		client_send_raw(client, ctx->line->data, str_len(ctx->line));
		str_truncate(ctx->line, 0);
		ctx->in_message = false;
	}
}

bool cmd_fetch(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args, *list;
	struct fetch_context *ctx;
	const char *set_str, *atom, *error;
	uint64_t changedsince = 0;
	bool changedsince_set = false, vanished = false;
	const struct fetch_item *item;

	ctx = p_new(cmd->pool, struct fetch_context, 1);
	clock_gettime(CLOCK_MONOTONIC, &ctx->start);
	array_init(&ctx->items, cmd->pool, 8);
	if (!imap_arg_get_atom(&args[0], &set_str) || IMAP_ARG_IS_EOL(&args[1])) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}
	args++;
	if (imap_arg_get_atom(args, &atom) && parse_macro(ctx, atom)) {
		args++;
	} else if (imap_arg_get_list(args, &list, NULL)) {
		args++;
		if (IMAP_ARG_IS_EOL(list)) {
			client_send_command_error(cmd, "Empty FETCH item list.");
			return true;
		}
		while (!IMAP_ARG_IS_EOL(list)) {
			if (!parse_item(cmd, ctx, &list, &error)) {
				client_send_command_error(cmd, error);
				return true;
			}
		}
	} else if (!parse_item(cmd, ctx, &args, &error)) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (!IMAP_ARG_IS_EOL(args)) {
		if (!parse_modifiers(cmd, args, &changedsince, &changedsince_set,
				     &vanished, &error)) {
			client_send_command_error(cmd, error);
			return true;
		}
		args++;
	}
	if (!IMAP_ARG_IS_EOL(args)) {
		client_send_command_error(cmd, "Invalid arguments.");
		return true;
	}

	array_init(&ctx->seqs, cmd->pool, 8);
	if (imap_msgset_parse(client, set_str, cmd->uid, &ctx->seqs,
			      &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}

	/* UID FETCH always says UID, first (RFC 9051 §6.4.9) */
	bool have_uid = false, have_modseq = false, set_seen = false;
	array_foreach(&ctx->items, item) {
		if (item->kind == FETCH_UID)
			have_uid = true;
		if (item->kind == FETCH_MODSEQ)
			have_modseq = true;
		if (item->kind == FETCH_FLAGS)
			ctx->has_flags_item = true;
		if ((item->kind == FETCH_SECTION || item->kind == FETCH_BINARY) &&
		    !item->peek)
			set_seen = true;
		switch (item->kind) {
		case FETCH_FLAGS:
		case FETCH_UID:
		case FETCH_MODSEQ:
			break;
		case FETCH_ENVELOPE:
		case FETCH_BODY:
		case FETCH_BODYSTRUCTURE:
		case FETCH_PREVIEW:
			ctx->record_fields |= MAIL_INDEX_FETCH_CACHE |
				MAIL_INDEX_FETCH_DETAILS;
			ctx->need_records = true;
			break;
		case FETCH_SECTION:
			/* BODY[] needs only the record's sizes and blob key;
			   other sections the cached part tree or headers,
			   read with the batch rather than per message */
			ctx->record_fields |= MAIL_INDEX_FETCH_DETAILS;
			if (item->section[0] != '\0')
				ctx->record_fields |= MAIL_INDEX_FETCH_CACHE;
			ctx->need_records = true;
			break;
		default:
			ctx->record_fields |= MAIL_INDEX_FETCH_DETAILS;
			ctx->need_records = true;
			break;
		}
	}
	if (cmd->uid && !have_uid) {
		struct fetch_item uid_item = { .kind = FETCH_UID, .name = "UID" };
		array_push(&ctx->items, uid_item);
		memmove(&ctx->items.v[1], &ctx->items.v[0],
			sizeof(uid_item) * (array_count(&ctx->items) - 1));
		ctx->items.v[0] = uid_item;
	}
	/* RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ */
	if (changedsince_set && !have_modseq)
		add_item(ctx, FETCH_MODSEQ, "MODSEQ");
	if (have_modseq || changedsince_set)
		imap_condstore_enable(client);

	if (changedsince_set) {
		ARRAY_TYPE(seq_range) filtered;
		const struct seq_range *r;
		array_init(&filtered, cmd->pool, 8);
		array_foreach(&ctx->seqs, r) {
			for (uint32_t seq = r->seq1; seq <= r->seq2; seq++) {
				if (mailbox_get_message(client->mailbox,
							seq)->modseq > changedsince)
					seq_range_array_add(&filtered, seq);
			}
		}
		ctx->seqs = filtered;
		if (vanished)
			fetch_send_vanished(cmd, set_str, changedsince);
	}

	array_init(&ctx->seen_uids, cmd->pool, 4);
	if (set_seen && !client->mailbox_readonly &&
	    fetch_set_seen(cmd, ctx) < 0) {
		client_send_storage_error(cmd);
		return true;
	}
	ctx->line = str_new(cmd->pool, 256);
	cmd->context = ctx;
	cmd->cancel = fetch_cancel;
	cmd->func = cmd_fetch_continue;
	return cmd_fetch_continue(cmd);
}
