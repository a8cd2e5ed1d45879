/* SORT and UID SORT (RFC 5256) with SORT=DISPLAY's DISPLAYFROM and
   DISPLAYTO (RFC 5957), ESORT's RETURN options (RFC 5267) and SEARCHRES's
   SAVE (RFC 5182: "$" becomes the matching set; with MIN/MAX alone, the
   lowest/highest sorted messages): the search of imap-search.c, then the
   matches ordered by the criteria from the records and the index's cached
   header fields, with the sequence number as the final tie-break. */
#include "lib.h"
#include "str.h"
#include "event.h"
#include "message-address.h"
#include "message-header-decode.h"
#include "imap-common.h"
#include "imap-casemap.h"
#include "imap-msg-util.h"
#include "imap-search.h"

#include <stdlib.h>
#include <strings.h>

#define SORT_MAX_CRITERIA 16

enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
};

struct sort_criterion {
	enum sort_key key;
	bool reverse;
};

struct sort_msg {
	uint32_t seq;
	/* per criterion: a number or a folded string */
	uint64_t num[SORT_MAX_CRITERIA];
	const char *str[SORT_MAX_CRITERIA];
};

struct sort_cmd_context {
	struct imap_search *search;
	struct sort_criterion crit[SORT_MAX_CRITERIA];
	unsigned int crit_count;
	enum imap_search_return ret;
	bool have_modseq;
};

static const struct sort_criterion *sort_crit;
static unsigned int sort_crit_count;

static int sort_msg_cmp(const void *p1, const void *p2)
{
	const struct sort_msg *m1 = p1, *m2 = p2;

	for (unsigned int i = 0; i < sort_crit_count; i++) {
		int ret;
		switch (sort_crit[i].key) {
		case SORT_ARRIVAL:
		case SORT_DATE:
		case SORT_SIZE:
			ret = m1->num[i] < m2->num[i] ? -1 :
				m1->num[i] > m2->num[i] ? 1 : 0;
			break;
		default:
			ret = strcmp(m1->str[i], m2->str[i]);
			break;
		}
		if (ret != 0)
			return sort_crit[i].reverse ? -ret : ret;
	}
	return m1->seq < m2->seq ? -1 : m1->seq > m2->seq ? 1 : 0;
}

static const struct message_address *
first_address(const char *value)
{
	const struct message_address *addr;

	if (value == NULL)
		return NULL;
	addr = message_address_parse(pool_datastack, value, strlen(value),
				     UINT_MAX, 0);
	/* skip group markers */
	for (; addr != NULL; addr = addr->next) {
		if (addr->mailbox != NULL && addr->domain != NULL)
			return addr;
	}
	return NULL;
}

/* RFC 5256: addr-mailbox of the first address */
static const char *sort_addr_mailbox(const char *value)
{
	const struct message_address *addr = first_address(value);

	if (addr == NULL)
		return "";
	return t_imap_casemap_fold(addr->mailbox);
}

/* RFC 5957 §3: the decoded display name, else the addr-spec */
static const char *sort_addr_display(const char *value)
{
	const struct message_address *addr = first_address(value);
	string_t *str;

	if (addr == NULL)
		return "";
	str = t_str_new(128);
	if (addr->name != NULL && *addr->name != '\0')
		message_header_decode_utf8(addr->name, strlen(addr->name), str);
	if (str_len(str) == 0) {
		str_append(str, addr->mailbox);
		if (*addr->domain != '\0') {
			str_append_c(str, '@');
			str_append(str, addr->domain);
		}
	}
	return t_imap_casemap_fold(str_c(str));
}

static int sort_parse_criteria(struct sort_cmd_context *ctx,
			       const struct imap_arg *arg, const char **error_r)
{
	const struct imap_arg *list;
	bool reverse = false;

	if (!imap_arg_get_list(arg, &list, NULL) || IMAP_ARG_IS_EOL(list)) {
		*error_r = "Missing sort criteria.";
		return -1;
	}
	for (; !IMAP_ARG_IS_EOL(list); list++) {
		static const char *const names[] = {
			"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT",
			"TO", "DISPLAYFROM", "DISPLAYTO",
		};
		const char *name;
		unsigned int i;

		if (!imap_arg_get_atom(list, &name)) {
			*error_r = "Invalid sort criterion.";
			return -1;
		}
		if (strcasecmp(name, "REVERSE") == 0) {
			if (reverse) {
				*error_r = "REVERSE twice.";
				return -1;
			}
			reverse = true;
			continue;
		}
		for (i = 0; i < N_ELEMENTS(names); i++) {
			if (strcasecmp(names[i], name) == 0)
				break;
		}
		if (i == N_ELEMENTS(names)) {
			*error_r = "Unknown sort criterion.";
			return -1;
		}
		if (ctx->crit_count == SORT_MAX_CRITERIA) {
			*error_r = "Too many sort criteria.";
			return -1;
		}
		ctx->crit[ctx->crit_count].key = (enum sort_key)i;
		ctx->crit[ctx->crit_count].reverse = reverse;
		ctx->crit_count++;
		reverse = false;
	}
	if (reverse) {
		*error_r = "REVERSE without a sort criterion.";
		return -1;
	}
	return 0;
}

static int sort_compute(struct client_command_context *cmd,
			struct sort_cmd_context *ctx,
			const ARRAY_TYPE(mail_uid) *seqs)
{
	struct client *client = cmd->client;
	struct mailbox *box = client->mailbox;
	unsigned int count = array_count(seqs);
	ARRAY_TYPE(seq_range) uids;
	ARRAY_TYPE(mail_index_record) recs;
	struct sort_msg *msgs = p_new(cmd->pool, struct sort_msg, count + 1);
	pool_t pool = cmd->pool;
	unsigned int n = 0;

	array_init(&uids, pool, 16);
	for (unsigned int i = 0; i < count; i++)
		seq_range_array_add(&uids, mailbox_seq_to_uid(box, seqs->v[i]));
	array_init(&recs, pool, count + 1);
	if (count > 0 &&
	    mailbox_fetch_records(box, &uids, MAIL_INDEX_FETCH_DETAILS |
				  MAIL_INDEX_FETCH_CACHE_HEADERS, pool,
				  &recs) < 0)
		return -1;

	unsigned int r = 0;
	for (unsigned int i = 0; i < count; i++) {
		uint32_t seq = seqs->v[i];
		uint32_t uid = mailbox_seq_to_uid(box, seq);
		while (r < array_count(&recs) && recs.v[r].uid < uid)
			r++;
		if (r == array_count(&recs) || recs.v[r].uid != uid)
			continue;
		const struct mail_index_record *rec = &recs.v[r];
		struct imap_sort_headers hdrs;
		struct sort_msg *msg = &msgs[n++];

		imap_sort_headers_parse(rec, pool, &hdrs);
		msg->seq = seq;
		T_BEGIN {
			for (unsigned int c = 0; c < ctx->crit_count; c++) {
				const char *str = NULL;
				switch (ctx->crit[c].key) {
				case SORT_ARRIVAL:
					msg->num[c] = (uint64_t)rec->internal_date;
					break;
				case SORT_DATE:
					msg->num[c] = (uint64_t)imap_sort_sent_date(rec);
					break;
				case SORT_SIZE:
					msg->num[c] = rec->rfc822_size;
					break;
				case SORT_CC:
					str = sort_addr_mailbox(hdrs.cc);
					break;
				case SORT_FROM:
					str = sort_addr_mailbox(hdrs.from);
					break;
				case SORT_TO:
					str = sort_addr_mailbox(hdrs.to);
					break;
				case SORT_DISPLAYFROM:
					str = sort_addr_display(hdrs.from);
					break;
				case SORT_DISPLAYTO:
					str = sort_addr_display(hdrs.to);
					break;
				case SORT_SUBJECT:
					str = imap_get_base_subject(hdrs.subject, NULL);
					break;
				}
				if (str != NULL)
					msg->str[c] = p_strdup(pool, str);
			}
		} T_END;
	}
	/* times before 1970 compare below later ones */
	for (unsigned int i = 0; i < n; i++) {
		for (unsigned int c = 0; c < ctx->crit_count; c++) {
			if (ctx->crit[c].key == SORT_ARRIVAL ||
			    ctx->crit[c].key == SORT_DATE)
				msgs[i].num[c] ^= 1ULL << 63;
		}
	}
	sort_crit = ctx->crit;
	sort_crit_count = ctx->crit_count;
	qsort(msgs, n, sizeof(*msgs), sort_msg_cmp);

	uint32_t *sorted = p_new(pool, uint32_t, n + 1);
	uint64_t modseq = 0;
	for (unsigned int i = 0; i < n; i++) {
		sorted[i] = msgs[i].seq;
		const struct mail_index_flags_rec *frec =
			mailbox_get_message(box, msgs[i].seq);
		if (frec != NULL && frec->modseq > modseq)
			modseq = frec->modseq;
	}
	imap_search_send_result(cmd, ctx->ret, sorted, n, "SORT",
				ctx->have_modseq ? modseq : 0);
	return 0;
}

static void sort_cmd_cancel(struct client_command_context *cmd)
{
	struct sort_cmd_context *ctx = cmd->context;

	imap_search_end(&ctx->search);
}

static void sort_cmd_callback(void *context)
{
	client_command_resume(context);
}

static bool cmd_sort_continue(struct client_command_context *cmd)
{
	struct sort_cmd_context *ctx = cmd->context;
	const ARRAY_TYPE(mail_uid) *seqs;
	int ret;

	ret = imap_search_run_for_cmd(cmd, &ctx->search, &seqs);
	if (ret == 0)
		return false;
	cmd->cancel = NULL;
	/* RFC 5182 §2.1: a SEARCH-based command with SAVE that fails
	   (NO) empties "$" */
	if (ret < 0) {
		if ((ctx->ret & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_search_saved_set(cmd->client, NULL);
		return true;
	}
	ret = sort_compute(cmd, ctx, seqs);
	imap_search_end(&ctx->search);
	if (ret < 0) {
		if ((ctx->ret & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_search_saved_set(cmd->client, NULL);
		client_send_storage_error(cmd);
	} else
		client_send_tagline(cmd, "OK Sort completed.");
	return true;
}

bool cmd_sort(struct client_command_context *cmd)
{
	struct client *client = cmd->client;
	const struct imap_arg *args = cmd->args;
	struct sort_cmd_context *ctx;
	struct imap_search_args *sargs;
	const char *charset, *error;

	ctx = p_new(cmd->pool, struct sort_cmd_context, 1);
	if (imap_search_return_parse(&args, &ctx->ret, &error) < 0 ||
	    sort_parse_criteria(ctx, &args[0], &error) < 0) {
		client_send_command_error(cmd, error);
		return true;
	}
	if (!imap_arg_get_astring(&args[1], &charset)) {
		client_send_command_error(cmd, "Missing charset.");
		return true;
	}
	args += 2;
	sargs = imap_search_args_parse_cmd(cmd, args, charset, ctx->ret);
	if (sargs == NULL)
		return true;
	ctx->have_modseq = imap_search_args_have_modseq(sargs);

	ctx->search = imap_search_begin(client, sargs);
	imap_search_set_callback(ctx->search, sort_cmd_callback, cmd);
	cmd->context = ctx;
	cmd->cancel = sort_cmd_cancel;
	cmd->func = cmd_sort_continue;
	return cmd_sort_continue(cmd);
}
