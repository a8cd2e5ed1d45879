/* SEARCH keys and their evaluation (see imap-search.h). The parser turns
   the keys into a tree whose index-only subtrees are merged into single
   mailbox_search() queries; the evaluator decides each message with a
   three-valued result (match, no match, unknown yet), reading only what
   the still-unknown keys need. */
#include "lib.h"
#include "str.h"
#include "event.h"
#include "ioloop.h"
#include "strfuncs.h"
#include "blob.h"
#include "charset-utf8.h"
#include "base64-decoder.h"
#include "qp-decoder.h"
#include "message-parser.h"
#include "message-part-data.h"
#include "message-address.h"
#include "message-header-decode.h"
#include "message-header-block.h"
#include "message-search-fields.h"
#include "mail-parts.h"
#include "imap-date.h"
#include "imap-seqset.h"
#include "imap-common.h"
#include "imap-msg-util.h"
#include "unicode-casemap.h"
#include "imap-casemap.h"
#include "imap-search.h"

#include <assert.h>
#include <ctype.h>
#include <stddef.h>
#include <strings.h>

/* blobs read at once: enough to keep the blob store's worker threads and
   the disk busy while this process parses */
#define SEARCH_PARALLEL_READS 24
/* scans started by one search_start_scans() call before the ioloop gets
   a turn: cached messages are read inside the call, so a whole mailbox
   could otherwise be searched in one go, starving the process's other
   sessions */
#define SEARCH_INLINE_BATCH 512
/* how much of a message is parsed or decoded before the keys are checked */
#define SCAN_SLICE_SIZE 4096
/* the nesting a client may use in a search program */
#define SEARCH_MAX_DEPTH 64
/* per search key string (after charset conversion) */
#define SEARCH_MAX_STRING_LEN 65536
/* messages without stored search fields (saved before the index kept
   them) whose fields one search computes and stores: bounds the time the
   first search of a large old mailbox holds the index's write lock */
#define SEARCH_FIELDS_STORE_MAX 2000

static_assert(MESSAGE_SEARCH_FIELD_COUNT == MAIL_INDEX_SEARCH_FIELD_COUNT,
	      "the index keeps lib-mail's search fields");

enum search_key_type {
	/* iarg, run through mailbox_search() when the search begins */
	SEARCH_KEY_INDEX,
	SEARCH_KEY_AND,
	SEARCH_KEY_OR,
	/* a header field (hdr_name); address fields in normalised form */
	SEARCH_KEY_HEADER,
	/* decoded body text of every part */
	SEARCH_KEY_BODY,
	/* every header and body */
	SEARCH_KEY_TEXT,
};

struct search_key {
	struct search_key *next;
	enum search_key_type type;
	bool not;

	/* INDEX */
	struct mail_index_search_arg *iarg;
	ARRAY_TYPE(seq_range) uids;

	/* AND, OR */
	struct search_key *sub;

	/* HEADER, BODY, TEXT */
	const char *hdr_name;
	bool address, cached;
	/* HEADER: the stored search field (enum message_search_field) that
	   decides it, or -1 */
	int field;
	const char *value;
	size_t value_len;
	/* the message's state slot of this key */
	unsigned int slot;
};

struct imap_search_args {
	pool_t pool;
	struct search_key *root;
	ARRAY(struct search_key *) slots;
	bool have_modseq, have_cached, have_scan;
	/* cached header keys that no stored search field decides */
	bool have_cached_other;
	/* bits (1 << enum message_search_field) of the keys' fields */
	unsigned int field_mask;
	size_t max_value_len;
};

/* a key's state for one message */
enum slot_state {
	SLOT_UNKNOWN = 0,
	SLOT_FOUND,
	SLOT_NOT_FOUND,
};

struct search_parse_ctx {
	struct client *client;
	pool_t pool;
	struct imap_search_args *args;
	const char *charset;
	const char *error;
	enum imap_search_parse_result result;
};

/* --- parsing --- */

static const char *const search_charsets[] = {
	"UTF-8", "US-ASCII", "ISO-8859-1", "ISO-8859-2", "ISO-8859-15",
	"WINDOWS-1250", "WINDOWS-1251", "WINDOWS-1252", "KOI8-R", NULL
};

const char *imap_search_charsets(void)
{
	return t_strarray_join((const char *const *)search_charsets, " ");
}

static struct search_key *key_new(struct search_parse_ctx *ctx,
				  enum search_key_type type)
{
	struct search_key *key = p_new(ctx->pool, struct search_key, 1);

	key->type = type;
	key->field = -1;
	return key;
}

static struct search_key *
key_index(struct search_parse_ctx *ctx, enum mail_index_search_type type)
{
	struct search_key *key = key_new(ctx, SEARCH_KEY_INDEX);

	key->iarg = p_new(ctx->pool, struct mail_index_search_arg, 1);
	key->iarg->type = type;
	return key;
}

/* A key no message matches (NOT ALL). */
static struct search_key *key_nothing(struct search_parse_ctx *ctx)
{
	struct search_key *key = key_index(ctx, MAIL_INDEX_SEARCH_ALL);

	key->iarg->not = true;
	return key;
}

static struct search_key *
key_flags(struct search_parse_ctx *ctx, enum mail_flags flags, bool not)
{
	struct search_key *key = key_index(ctx, MAIL_INDEX_SEARCH_FLAGS);

	key->iarg->value.flags = flags;
	key->iarg->not = not;
	return key;
}

/* A key whose strings need the message: give it a slot. */
static void key_add_slot(struct search_parse_ctx *ctx, struct search_key *key)
{
	key->slot = array_count(&ctx->args->slots);
	array_push(&ctx->args->slots, key);
	if (key->value_len > ctx->args->max_value_len)
		ctx->args->max_value_len = key->value_len;
	if (key->field >= 0)
		ctx->args->field_mask |= 1U << key->field;
	if (key->cached) {
		ctx->args->have_cached = true;
		if (key->field < 0)
			ctx->args->have_cached_other = true;
	} else
		ctx->args->have_scan = true;
}

static bool parse_error(struct search_parse_ctx *ctx, const char *error)
{
	if (ctx->error == NULL) {
		ctx->error = error;
		ctx->result = IMAP_SEARCH_PARSE_BAD;
	}
	return false;
}

/* A string argument in the search charset, converted and folded. */
static bool parse_string(struct search_parse_ctx *ctx,
			 const struct imap_arg **args, const char **value_r,
			 size_t *len_r)
{
	const char *str;

	if (IMAP_ARG_IS_EOL(*args) || !imap_arg_get_astring(*args, &str))
		return parse_error(ctx, "Missing string argument to a search key.");
	(*args)++;

	string_t *utf8 = t_str_new(strlen(str) + 16);
	if (ctx->charset == NULL || charset_is_utf8(ctx->charset)) {
		if (!charset_utf8_append_valid(utf8, str, strlen(str)))
			return parse_error(ctx, "Search string is not valid UTF-8.");
	} else {
		(void)charset_to_utf8_str(ctx->charset, str, strlen(str), utf8);
	}
	if (utf8->used > SEARCH_MAX_STRING_LEN)
		return parse_error(ctx, "Search string is too long.");
	string_t *folded = str_new(ctx->pool, utf8->used + 8);
	imap_casemap_fold(utf8->data, utf8->used, folded);
	*len_r = str_len(folded);
	*value_r = str_c(folded);
	return true;
}

static bool parse_atom(struct search_parse_ctx *ctx,
		       const struct imap_arg **args, const char **atom_r)
{
	if (IMAP_ARG_IS_EOL(*args) || !imap_arg_get_astring(*args, atom_r))
		return parse_error(ctx, "Missing argument to a search key.");
	(*args)++;
	return true;
}

static bool parse_number(struct search_parse_ctx *ctx,
			 const struct imap_arg **args, uint64_t *num_r)
{
	const char *str;

	if (!parse_atom(ctx, args, &str))
		return false;
	if (str_to_uint64(str, num_r) < 0 || str[0] < '0' || str[0] > '9')
		return parse_error(ctx, "Invalid number in search key.");
	return true;
}

static bool parse_day(struct search_parse_ctx *ctx,
		      const struct imap_arg **args, int64_t *day_r)
{
	const char *str;
	time_t t;

	if (!parse_atom(ctx, args, &str))
		return false;
	if (!imap_parse_date(str, &t))
		return parse_error(ctx, "Invalid search date.");
	*day_r = (int64_t)(t / 86400);
	return true;
}

static struct search_key *
key_string(struct search_parse_ctx *ctx, enum search_key_type type,
	   const char *hdr_name, const struct imap_arg **args)
{
	struct search_key *key = key_new(ctx, type);

	if (!parse_string(ctx, args, &key->value, &key->value_len))
		return NULL;
	if (hdr_name != NULL) {
		key->hdr_name = p_strdup(ctx->pool, hdr_name);
		key->address = message_search_header_is_address(hdr_name);
		key->cached = mail_cached_header_is_cached(hdr_name);
		if (key->cached)
			key->field = message_search_field_lookup(hdr_name);
	}
	key_add_slot(ctx, key);
	return key;
}

/* A set of UIDs from a sequence set, a UID set or "$". */
static struct search_key *
key_set(struct search_parse_ctx *ctx, const char *str, bool uid)
{
	struct client *client = ctx->client;
	struct mailbox *box = client->mailbox;
	struct search_key *key = key_index(ctx, MAIL_INDEX_SEARCH_UIDSET);
	ARRAY_TYPE(seq_range) *uids = p_new(ctx->pool, ARRAY_TYPE(seq_range), 1);
	ARRAY_TYPE(seq_range) set;
	const char *error;

	array_init(uids, ctx->pool, 4);
	if (imap_seq_set_is_saved(str)) {
		imap_search_saved_get(client, true, uids);
	} else {
		uint32_t count = mailbox_get_messages_count(box);
		uint32_t star = uid ? (count == 0 ? 0 :
				       mailbox_seq_to_uid(box, count)) : count;
		array_init(&set, ctx->pool, 4);
		if (imap_seq_set_parse(str, star, &set, &error) < 0) {
			parse_error(ctx, error);
			return NULL;
		}
		if (uid)
			*uids = set;
		else
			mailbox_seqs_to_uids(box, &set, uids);
	}
	key->iarg->value.uids = uids;
	return key;
}

static struct search_key *parse_key(struct search_parse_ctx *ctx,
				    const struct imap_arg **args,
				    unsigned int depth);

/* Merge the index keys of an AND list into one query; a list of one key
   is that key. */
static struct search_key *make_and(struct search_parse_ctx *ctx,
				   struct search_key *list)
{
	struct search_key *others = NULL, **others_tail = &others;
	struct mail_index_search_arg *iargs = NULL, **iargs_tail = &iargs;
	struct search_key *first_index = NULL, *next;
	unsigned int n_index = 0;

	for (struct search_key *k = list; k != NULL; k = next) {
		next = k->next;
		k->next = NULL;
		if (k->type == SEARCH_KEY_INDEX) {
			if (first_index == NULL)
				first_index = k;
			k->iarg->next = NULL;
			*iargs_tail = k->iarg;
			iargs_tail = &k->iarg->next;
			n_index++;
		} else {
			*others_tail = k;
			others_tail = &k->next;
		}
	}
	if (n_index > 1) {
		first_index = key_index(ctx, MAIL_INDEX_SEARCH_AND);
		first_index->iarg->value.subargs = iargs;
	}
	if (first_index != NULL) {
		first_index->next = others;
		others = first_index;
	}
	if (others != NULL && others->next == NULL)
		return others;
	struct search_key *and = key_new(ctx, SEARCH_KEY_AND);
	and->sub = others;
	return and;
}

static struct search_key *parse_list(struct search_parse_ctx *ctx,
				     const struct imap_arg *args,
				     unsigned int depth)
{
	struct search_key *list = NULL, **tail = &list, *key;

	if (IMAP_ARG_IS_EOL(args)) {
		parse_error(ctx, "Empty search key list.");
		return NULL;
	}
	while (!IMAP_ARG_IS_EOL(args)) {
		if ((key = parse_key(ctx, &args, depth + 1)) == NULL)
			return NULL;
		*tail = key;
		tail = &key->next;
	}
	return make_and(ctx, list);
}

/* IMAP4rev1 \Recent: the UIDs recent to this session (a copy: a sync
   may grow the set while the search runs). Never any for IMAP4rev2
   sessions, which do not track it. */
static struct search_key *key_recent(struct search_parse_ctx *ctx)
{
	const ARRAY_TYPE(seq_range) *recent =
		mailbox_get_recent_uids(ctx->client->mailbox);
	struct search_key *key = key_index(ctx, MAIL_INDEX_SEARCH_UIDSET);
	ARRAY_TYPE(seq_range) *uids =
		p_new(ctx->pool, ARRAY_TYPE(seq_range), 1);
	const struct seq_range *r;

	array_init(uids, ctx->pool, 2);
	if (recent != NULL) {
		array_foreach(recent, r)
			array_push(uids, *r);
	}
	key->iarg->value.uids = uids;
	return key;
}

static struct search_key *key_not(struct search_key *key)
{
	if (key->type == SEARCH_KEY_INDEX)
		key->iarg->not = !key->iarg->not;
	else
		key->not = !key->not;
	return key;
}

static struct search_key *key_or(struct search_parse_ctx *ctx,
				 struct search_key *a, struct search_key *b)
{
	struct search_key *or;

	if (a->type == SEARCH_KEY_INDEX && b->type == SEARCH_KEY_INDEX) {
		or = key_index(ctx, MAIL_INDEX_SEARCH_OR);
		a->iarg->next = b->iarg;
		b->iarg->next = NULL;
		or->iarg->value.subargs = a->iarg;
		return or;
	}
	or = key_new(ctx, SEARCH_KEY_OR);
	a->next = b;
	b->next = NULL;
	or->sub = a;
	return or;
}

static bool modseq_entry_skip(struct search_parse_ctx *ctx,
			      const struct imap_arg **args)
{
	const char *name, *type;

	/* MODSEQ [entry-name entry-type-req] n: entry-name is a quoted
	   "/flags/..." string */
	if ((*args)->type != IMAP_ARG_STRING || IMAP_ARG_IS_EOL(&(*args)[1]))
		return true;
	if (!imap_arg_get_string(*args, &name) ||
	    !imap_arg_get_atom(&(*args)[1], &type))
		return parse_error(ctx, "Invalid MODSEQ entry.");
	if (strncasecmp(name, "/flags/", 7) != 0 ||
	    (strcasecmp(type, "priv") != 0 && strcasecmp(type, "shared") != 0 &&
	     strcasecmp(type, "all") != 0))
		return parse_error(ctx, "Invalid MODSEQ entry.");
	/* flags have no modseqs of their own here: the message's counts */
	*args += 2;
	return true;
}

static struct search_key *parse_key(struct search_parse_ctx *ctx,
				    const struct imap_arg **args,
				    unsigned int depth)
{
	const struct imap_arg *arg = *args;
	struct search_key *key, *key2;
	const char *name, *str;
	uint64_t num;

	if (depth > SEARCH_MAX_DEPTH) {
		parse_error(ctx, "Search keys nested too deeply.");
		return NULL;
	}
	if (arg->type == IMAP_ARG_LIST) {
		const struct imap_arg *list;
		(void)imap_arg_get_list(arg, &list, NULL);
		(*args)++;
		return parse_list(ctx, list, depth);
	}
	if (!imap_arg_get_atom(arg, &name)) {
		parse_error(ctx, "Invalid search key.");
		return NULL;
	}
	(*args)++;

	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' ||
	    name[0] == '$')
		return key_set(ctx, name, false);

	switch (toupper((unsigned char)name[0])) {
	case 'A':
		if (strcasecmp(name, "ALL") == 0)
			return key_index(ctx, MAIL_INDEX_SEARCH_ALL);
		if (strcasecmp(name, "ANSWERED") == 0)
			return key_flags(ctx, MAIL_ANSWERED, false);
		break;
	case 'B':
		if (strcasecmp(name, "BCC") == 0)
			return key_string(ctx, SEARCH_KEY_HEADER, "Bcc", args);
		if (strcasecmp(name, "BODY") == 0)
			return key_string(ctx, SEARCH_KEY_BODY, NULL, args);
		if (strcasecmp(name, "BEFORE") == 0) {
			key = key_index(ctx, MAIL_INDEX_SEARCH_BEFORE);
			return parse_day(ctx, args, &key->iarg->value.day) ?
				key : NULL;
		}
		break;
	case 'C':
		if (strcasecmp(name, "CC") == 0)
			return key_string(ctx, SEARCH_KEY_HEADER, "Cc", args);
		break;
	case 'D':
		if (strcasecmp(name, "DELETED") == 0)
			return key_flags(ctx, MAIL_DELETED, false);
		if (strcasecmp(name, "DRAFT") == 0)
			return key_flags(ctx, MAIL_DRAFT, false);
		break;
	case 'E':
		if (strcasecmp(name, "EMAILID") == 0) {
			/* OBJECTID (RFC 8474 §6): FETCH EMAILID is "M" and
			   the message GUID; anything else matches nothing */
			if (!parse_atom(ctx, args, &str))
				return NULL;
			if (str[0] != 'M' || strlen(str + 1) !=
			    MAIL_INDEX_MAILBOX_GUID_LEN)
				return key_nothing(ctx);
			key = key_index(ctx, MAIL_INDEX_SEARCH_GUID);
			key->iarg->value.str = p_strdup(ctx->pool, str + 1);
			return key;
		}
		break;
	case 'F':
		if (strcasecmp(name, "FLAGGED") == 0)
			return key_flags(ctx, MAIL_FLAGGED, false);
		if (strcasecmp(name, "FROM") == 0)
			return key_string(ctx, SEARCH_KEY_HEADER, "From", args);
		break;
	case 'H':
		if (strcasecmp(name, "HEADER") == 0) {
			if (!parse_atom(ctx, args, &str))
				return NULL;
			if (*str == '\0' || strpbrk(str, ": \t\r\n") != NULL) {
				parse_error(ctx, "Invalid header field name.");
				return NULL;
			}
			return key_string(ctx, SEARCH_KEY_HEADER, str, args);
		}
		break;
	case 'K':
		if (strcasecmp(name, "KEYWORD") == 0) {
			if (!parse_atom(ctx, args, &str))
				return NULL;
			key = key_index(ctx, MAIL_INDEX_SEARCH_KEYWORD);
			key->iarg->value.str = p_strdup(ctx->pool, str);
			return key;
		}
		break;
	case 'L':
		if (strcasecmp(name, "LARGER") == 0) {
			key = key_index(ctx, MAIL_INDEX_SEARCH_LARGER);
			return parse_number(ctx, args, &key->iarg->value.size) ?
				key : NULL;
		}
		break;
	case 'M':
		if (strcasecmp(name, "MODSEQ") == 0) {
			if (!modseq_entry_skip(ctx, args) ||
			    !parse_number(ctx, args, &num))
				return NULL;
			key = key_index(ctx, MAIL_INDEX_SEARCH_MODSEQ);
			key->iarg->value.modseq = num;
			ctx->args->have_modseq = true;
			return key;
		}
		break;
	case 'N':
		if (strcasecmp(name, "NOT") == 0) {
			if (IMAP_ARG_IS_EOL(*args)) {
				parse_error(ctx, "NOT without a search key.");
				return NULL;
			}
			key = parse_key(ctx, args, depth + 1);
			return key == NULL ? NULL : key_not(key);
		}
		if (strcasecmp(name, "NEW") == 0) {
			/* RECENT UNSEEN */
			key = key_index(ctx, MAIL_INDEX_SEARCH_AND);
			key2 = key_recent(ctx);
			key2->iarg->next = key_flags(ctx, MAIL_SEEN, true)->iarg;
			key->iarg->value.subargs = key2->iarg;
			return key;
		}
		break;
	case 'O':
		if (strcasecmp(name, "OR") == 0) {
			if (IMAP_ARG_IS_EOL(*args)) {
				parse_error(ctx, "OR without search keys.");
				return NULL;
			}
			if ((key = parse_key(ctx, args, depth + 1)) == NULL)
				return NULL;
			if (IMAP_ARG_IS_EOL(*args)) {
				parse_error(ctx, "OR with one search key.");
				return NULL;
			}
			if ((key2 = parse_key(ctx, args, depth + 1)) == NULL)
				return NULL;
			return key_or(ctx, key, key2);
		}
		if (strcasecmp(name, "ON") == 0) {
			key = key_index(ctx, MAIL_INDEX_SEARCH_ON);
			return parse_day(ctx, args, &key->iarg->value.day) ?
				key : NULL;
		}
		if (strcasecmp(name, "OLD") == 0)
			return key_not(key_recent(ctx));
		if (strcasecmp(name, "OLDER") == 0) {
			/* RFC 5032, as Dovecot: older than now - n */
			if (!parse_number(ctx, args, &num))
				return NULL;
			if (num == 0 || num > (uint64_t)INT32_MAX * 4) {
				parse_error(ctx, "Invalid OLDER interval.");
				return NULL;
			}
			key = key_index(ctx, MAIL_INDEX_SEARCH_INTERNAL_TIME_BEFORE);
			key->iarg->value.time = ioloop_time - (time_t)num + 1;
			return key;
		}
		break;
	case 'R':
		if (strcasecmp(name, "RECENT") == 0)
			return key_recent(ctx);
		break;
	case 'S':
		if (strcasecmp(name, "SEEN") == 0)
			return key_flags(ctx, MAIL_SEEN, false);
		if (strcasecmp(name, "SAVEDATESUPPORTED") == 0) {
			/* RFC 8514 §4: every save, copy and rebuild keeps a
			   save date */
			return key_index(ctx, MAIL_INDEX_SEARCH_ALL);
		}
		if (strcasecmp(name, "SUBJECT") == 0)
			return key_string(ctx, SEARCH_KEY_HEADER, "Subject", args);
		if (strcasecmp(name, "SINCE") == 0) {
			key = key_index(ctx, MAIL_INDEX_SEARCH_SINCE);
			return parse_day(ctx, args, &key->iarg->value.day) ?
				key : NULL;
		}
		if (strcasecmp(name, "SMALLER") == 0) {
			key = key_index(ctx, MAIL_INDEX_SEARCH_SMALLER);
			return parse_number(ctx, args, &key->iarg->value.size) ?
				key : NULL;
		}
		if (strcasecmp(name, "SENTBEFORE") == 0 ||
		    strcasecmp(name, "SENTON") == 0 ||
		    strcasecmp(name, "SENTSINCE") == 0 ||
		    strcasecmp(name, "SAVEDBEFORE") == 0 ||
		    strcasecmp(name, "SAVEDON") == 0 ||
		    strcasecmp(name, "SAVEDSINCE") == 0) {
			static const struct {
				const char *name;
				enum mail_index_search_type type;
			} dates[] = {
				{ "SENTBEFORE", MAIL_INDEX_SEARCH_SENTBEFORE },
				{ "SENTON", MAIL_INDEX_SEARCH_SENTON },
				{ "SENTSINCE", MAIL_INDEX_SEARCH_SENTSINCE },
				{ "SAVEDBEFORE", MAIL_INDEX_SEARCH_SAVEDBEFORE },
				{ "SAVEDON", MAIL_INDEX_SEARCH_SAVEDON },
				{ "SAVEDSINCE", MAIL_INDEX_SEARCH_SAVEDSINCE },
			};
			unsigned int i;
			for (i = 0; strcasecmp(dates[i].name, name) != 0; i++) ;
			key = key_index(ctx, dates[i].type);
			return parse_day(ctx, args, &key->iarg->value.day) ?
				key : NULL;
		}
		break;
	case 'T':
		if (strcasecmp(name, "THREADID") == 0) {
			/* RFC 8474 §5.2: FETCH THREADID is NIL, so a
			   THREADID search matches nothing */
			if (!parse_atom(ctx, args, &str))
				return NULL;
			return key_nothing(ctx);
		}
		if (strcasecmp(name, "TEXT") == 0)
			return key_string(ctx, SEARCH_KEY_TEXT, NULL, args);
		if (strcasecmp(name, "TO") == 0)
			return key_string(ctx, SEARCH_KEY_HEADER, "To", args);
		break;
	case 'U':
		if (strcasecmp(name, "UID") == 0) {
			if (!parse_atom(ctx, args, &str))
				return NULL;
			return key_set(ctx, str, true);
		}
		if (strcasecmp(name, "UNANSWERED") == 0)
			return key_flags(ctx, MAIL_ANSWERED, true);
		if (strcasecmp(name, "UNDELETED") == 0)
			return key_flags(ctx, MAIL_DELETED, true);
		if (strcasecmp(name, "UNDRAFT") == 0)
			return key_flags(ctx, MAIL_DRAFT, true);
		if (strcasecmp(name, "UNFLAGGED") == 0)
			return key_flags(ctx, MAIL_FLAGGED, true);
		if (strcasecmp(name, "UNSEEN") == 0)
			return key_flags(ctx, MAIL_SEEN, true);
		if (strcasecmp(name, "UNKEYWORD") == 0) {
			if (!parse_atom(ctx, args, &str))
				return NULL;
			key = key_index(ctx, MAIL_INDEX_SEARCH_KEYWORD);
			key->iarg->value.str = p_strdup(ctx->pool, str);
			key->iarg->not = true;
			return key;
		}
		break;
	case 'Y':
		if (strcasecmp(name, "YOUNGER") == 0) {
			if (!parse_number(ctx, args, &num))
				return NULL;
			if (num == 0 || num > (uint64_t)INT32_MAX * 4) {
				parse_error(ctx, "Invalid YOUNGER interval.");
				return NULL;
			}
			key = key_index(ctx, MAIL_INDEX_SEARCH_INTERNAL_TIME_SINCE);
			key->iarg->value.time = ioloop_time - (time_t)num;
			return key;
		}
		break;
	}
	parse_error(ctx, p_strdup_printf(ctx->pool, "Unknown search key: %s",
					 str_sanitize(name, 40)));
	return NULL;
}

enum imap_search_parse_result
imap_search_args_parse(struct client *client, pool_t pool,
		       const struct imap_arg *args, const char *charset,
		       struct imap_search_args **args_r, const char **error_r)
{
	struct search_parse_ctx ctx = {
		.client = client,
		.pool = pool,
		.charset = charset,
	};
	struct search_key *list = NULL, **tail = &list, *key;

	if (charset != NULL && !charset_is_utf8(charset)) {
		bool unknown = false;
		struct charset_translation *t =
			charset_to_utf8_begin(charset, &unknown);
		charset_to_utf8_end(&t);
		if (unknown) {
			*error_r = p_strdup_printf(pool,
				"[BADCHARSET (%s)] Unknown charset",
				imap_search_charsets());
			return IMAP_SEARCH_PARSE_BADCHARSET;
		}
	}
	ctx.args = p_new(pool, struct imap_search_args, 1);
	ctx.args->pool = pool;
	array_init(&ctx.args->slots, pool, 4);
	if (IMAP_ARG_IS_EOL(args)) {
		*error_r = "Missing search keys.";
		return IMAP_SEARCH_PARSE_BAD;
	}
	while (!IMAP_ARG_IS_EOL(args)) {
		if ((key = parse_key(&ctx, &args, 0)) == NULL) {
			i_assert(ctx.error != NULL);
			*error_r = ctx.error;
			return ctx.result;
		}
		*tail = key;
		tail = &key->next;
	}
	ctx.args->root = make_and(&ctx, list);
	*args_r = ctx.args;
	return IMAP_SEARCH_PARSE_OK;
}

struct imap_search_args *
imap_search_args_parse_cmd(struct client_command_context *cmd,
			   const struct imap_arg *args, const char *charset,
			   enum imap_search_return ret)
{
	struct client *client = cmd->client;
	struct imap_search_args *sargs;
	const char *error;

	switch (imap_search_args_parse(client, cmd->pool, args, charset,
				       &sargs, &error)) {
	case IMAP_SEARCH_PARSE_OK:
		if (sargs->have_modseq)
			imap_condstore_enable(client);
		return sargs;
	case IMAP_SEARCH_PARSE_BAD:
		e_debug(client->event, "%s: %s", cmd->name, error);
		client_send_command_error(cmd, error);
		return NULL;
	case IMAP_SEARCH_PARSE_BADCHARSET:
	case IMAP_SEARCH_PARSE_NO:
		e_debug(client->event, "%s: %s", cmd->name, error);
		if ((ret & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_search_saved_set(client, NULL);
		client_send_tagline(cmd, t_strdup_printf("NO %s", error));
		return NULL;
	}
	i_unreached();
}

bool imap_search_args_have_modseq(const struct imap_search_args *args)
{
	return args->have_modseq;
}

/* --- evaluation --- */

struct search_scan {
	struct search_scan *prev, *next;
	struct imap_search *search;
	uint32_t seq, uid;
	struct blob_get *get;
	char *blob_key;
	pool_t part_pool;
	struct message_parser *parser;
	unsigned char *state;
	/* a key's state changed since the tree was last evaluated */
	bool changed, root_header_done;

	/* the leaf part whose body is being decoded */
	const struct message_part *part;
	bool part_searched;
	enum { CTE_NONE, CTE_BASE64, CTE_QP } cte;
	struct base64_decoder b64;
	struct qp_decoder *qp;
	struct charset_translation *cs;
	/* the part's charset is a stateless single-byte ASCII superset:
	   ASCII runs skip iconv, which is opened (cs) at the first other
	   byte */
	bool cs_ascii;
	/* bytes of the root header not given to the parser: its offsets
	   are this much behind the message's */
	uint64_t hdr_removed;
	char cs_name[24];
	/* the last folded bytes of the current text, so a match across
	   two pieces is found */
	buffer_t *carry;
	/* the message's bytes read so far */
	uint64_t read_offset;
	/* a single-part message: its body (from body_direct_offset) goes to
	   the decoder without the parser */
	bool body_direct, body_direct_active;
	uint64_t body_direct_offset;
	/* where the parser's last body event for scan->part ended */
	uint64_t body_done_offset;
	/* a UTF-8 sequence cut at the end of the last piece of text */
	unsigned char utf8_pending[4];
	size_t utf8_pending_len;
};

struct imap_search {
	struct client *client;
	struct mailbox *box;
	struct imap_search_args *args;
	pool_t pool;

	uint32_t count;
	/* per seq: 1 = matches */
	unsigned char *matched;
	/* messages that still need their blob: seqs and records */
	ARRAY_TYPE(mail_uid) scan_seqs;
	ARRAY_TYPE(mail_index_record) scan_recs;
	/* their keys' states after tier 2 (nslots bytes each): a scan
	   starts from them, so the header keys tier 2 decided stay
	   decided (the scan does not look at the cached fields again) */
	buffer_t *scan_states;
	unsigned int scan_next, scans_active;
	/* the scans whose blob is being read */
	struct search_scan *scans;

	ARRAY_TYPE(mail_uid) result;
	uint64_t highest_modseq;
	bool started, finished, failed;
	/* more cached messages to read inline on the next loop round */
	struct timeout *to_resume;
	const char *error_line;

	void (*callback)(void *);
	void *context;

	/* shared scratch (processing is single-threaded) */
	buffer_t *dec_buf, *utf8_buf, *fold_buf, *hdr_buf;
	/* search fields computed from a cached header block */
	struct message_search_fields sf;
	/* no key looks at the root header's fields (no TEXT, no header
	   key the index could not decide): the parser gets only the root
	   header's MIME fields */
	bool root_mime_only;
};

struct search_msg {
	uint32_t uid;
	const struct mail_index_record *rec;
	/* the message's stored search fields, if known */
	const struct mail_index_search_fields *fields;
	unsigned char *state;
	bool scan_done;
};

static bool value_match(const struct search_key *key, const void *data,
			size_t size)
{
	if (key->value_len == 0)
		return true;
	return memmem(data, size, key->value, key->value_len) != NULL;
}

/* Match a header value (raw, unfolded) against key. */
static bool header_value_match(const struct search_key *key,
			       const unsigned char *value, size_t size)
{
	string_t *folded;

	if (key->value_len == 0)
		return true;
	folded = t_str_new(size + 16);
	message_search_value_fold(value, size, key->address, folded);
	return value_match(key, folded->data, folded->used);
}

/* Tier 2: the fields named key->hdr_name in the record's cached header
   block, scanned in place: no parser, and only a matching field's value
   is unfolded, decoded and folded. */
static bool cached_header_match(const struct search_key *key,
				const struct mail_index_record *rec)
{
	struct message_header_block_field field;
	size_t pos = 0, want_len = strlen(key->hdr_name);
	bool found = false;

	while (!found && message_header_block_next(rec->headers,
						   rec->headers_size, &pos,
						   &field)) {
		if (!message_header_block_name_equals(&field, key->hdr_name,
						      want_len))
			continue;
		T_BEGIN {
			string_t *value = t_str_new(
				(size_t)(field.end - field.colon) + 8);
			message_header_block_unfold(&field, value);
			found = header_value_match(key, value->data, value->used);
		} T_END;
	}
	return found;
}

/* 1 = match, 0 = no match, -1 = not known yet */
static int search_eval(struct search_key *key, struct search_msg *msg)
{
	int ret = 1;

	switch (key->type) {
	case SEARCH_KEY_INDEX:
		return seq_range_exists(&key->uids, msg->uid) ? 1 : 0;
	case SEARCH_KEY_AND:
		for (struct search_key *k = key->sub; k != NULL; k = k->next) {
			int r = search_eval(k, msg);
			if (r == 0) {
				ret = 0;
				break;
			}
			if (r < 0)
				ret = -1;
		}
		break;
	case SEARCH_KEY_OR:
		ret = 0;
		for (struct search_key *k = key->sub; k != NULL; k = k->next) {
			int r = search_eval(k, msg);
			if (r == 1) {
				ret = 1;
				break;
			}
			if (r < 0)
				ret = -1;
		}
		break;
	case SEARCH_KEY_HEADER:
	case SEARCH_KEY_BODY:
	case SEARCH_KEY_TEXT: {
		unsigned char *st = &msg->state[key->slot];
		if (*st == SLOT_UNKNOWN && key->field >= 0 &&
		    msg->fields != NULL) {
			/* the stored search form: folded already */
			const unsigned char *v = msg->fields->values[key->field];
			bool found = v != NULL &&
				message_search_values_match(v,
					msg->fields->sizes[key->field],
					key->value, key->value_len);
			*st = found ? SLOT_FOUND : SLOT_NOT_FOUND;
		}
		if (*st == SLOT_UNKNOWN && key->cached && msg->rec != NULL) {
			bool found = msg->rec->headers != NULL &&
				cached_header_match(key, msg->rec);
			*st = found ? SLOT_FOUND : SLOT_NOT_FOUND;
		}
		if (*st == SLOT_UNKNOWN && msg->scan_done)
			*st = SLOT_NOT_FOUND;
		if (*st == SLOT_UNKNOWN)
			return -1;
		ret = *st == SLOT_FOUND ? 1 : 0;
		break;
	}
	}
	if (ret >= 0 && key->not)
		ret = !ret;
	return ret;
}

static int search_index_keys(struct imap_search *search,
			     struct search_key *key)
{
	for (; key != NULL; key = key->next) {
		if (key->type == SEARCH_KEY_AND || key->type == SEARCH_KEY_OR) {
			if (search_index_keys(search, key->sub) < 0)
				return -1;
			continue;
		}
		if (key->type != SEARCH_KEY_INDEX)
			continue;
		ARRAY_TYPE(mail_uid) uids;
		struct mail_index_search_arg *next = key->iarg->next;
		int ret;

		array_init(&uids, search->pool, 64);
		key->iarg->next = NULL;
		ret = mailbox_search(search->box, key->iarg, &uids, NULL);
		key->iarg->next = next;
		if (ret < 0)
			return -1;
		array_init(&key->uids, search->pool, 16);
		for (unsigned int i = 0; i < array_count(&uids); i++)
			seq_range_array_add(&key->uids, uids.v[i]);
	}
	return 0;
}

struct imap_search *imap_search_begin(struct client *client,
				      struct imap_search_args *args)
{
	struct imap_search *search = i_new(struct imap_search, 1);

	search->client = client;
	search->box = client->mailbox;
	search->args = args;
	search->pool = pool_alloconly_create("imap search", 4096);
	array_init(&search->result, search->pool, 64);
	return search;
}

void imap_search_set_callback(struct imap_search *search,
			      void (*callback)(void *), void *context)
{
	search->callback = callback;
	search->context = context;
}

static void search_scan_free(struct search_scan *scan)
{
	struct imap_search *search = scan->search;

	if (scan->get != NULL)
		(void)blob_get_end(&scan->get, NULL);
	if (scan->parser != NULL)
		(void)message_parser_finish(&scan->parser);
	if (scan->qp != NULL)
		qp_decoder_deinit(&scan->qp);
	if (scan->cs != NULL)
		charset_to_utf8_end(&scan->cs);
	if (scan->part_pool != NULL)
		pool_unref(&scan->part_pool);
	if (scan->carry != NULL)
		buffer_free(&scan->carry);
	i_free(scan->blob_key);
	i_free(scan->state);
	if (scan->prev != NULL)
		scan->prev->next = scan->next;
	else
		search->scans = scan->next;
	if (scan->next != NULL)
		scan->next->prev = scan->prev;
	search->scans_active--;
	i_free(scan);
}

/* Fold a piece of the current part's decoded UTF-8 text into fold: a
   sequence cut at the end of a piece waits in scan->utf8_pending for the
   next one, so the pieces fold as the whole text would. */
static void scan_fold_body(struct search_scan *scan, const unsigned char *data,
			   size_t size, bool last, buffer_t *fold)
{
	while (scan->utf8_pending_len > 0) {
		unsigned char seq[8];
		size_t n = scan->utf8_pending_len;
		size_t take = I_MIN(size, sizeof(seq) - n);

		memcpy(seq, scan->utf8_pending, n);
		memcpy(seq + n, data, take);
		size_t used = unicode_casemap_more(seq, n + take,
						   last && take == size, fold);
		if (used >= n) {
			scan->utf8_pending_len = 0;
			data += used - n;
			size -= used - n;
			break;
		}
		if (used == 0) {
			/* still cut: the whole piece was 1-2 more bytes of
			   the sequence */
			i_assert(n + take <= sizeof(scan->utf8_pending));
			memcpy(scan->utf8_pending, seq, n + take);
			scan->utf8_pending_len = n + take;
			return;
		}
		/* the pending bytes began an invalid sequence: U+FFFD for
		   what was used, the rest again */
		memmove(scan->utf8_pending, scan->utf8_pending + used, n - used);
		scan->utf8_pending_len = n - used;
	}
	size_t used = unicode_casemap_more(data, size, last, fold);
	i_assert(size - used <= sizeof(scan->utf8_pending));
	memcpy(scan->utf8_pending, data + used, size - used);
	scan->utf8_pending_len = size - used;
}

/* Match a piece of the current part's decoded UTF-8 text (utf8_valid: it
   came out of a charset conversion, pieces end at whole characters)
   against the unknown BODY and TEXT keys. */
static void scan_match_body(struct search_scan *scan, const void *data,
			    size_t size, bool utf8_valid, bool last)
{
	struct imap_search *search = scan->search;
	struct search_key *const *keys = search->args->slots.v;
	unsigned int count = array_count(&search->args->slots);
	buffer_t *fold = search->fold_buf;

	buffer_set_used_size(fold, 0);
	buffer_append(fold, scan->carry->data, scan->carry->used);
	if (utf8_valid)
		imap_casemap_fold(data, size, fold);
	else
		scan_fold_body(scan, data, size, last, fold);

	for (unsigned int i = 0; i < count; i++) {
		const struct search_key *key = keys[i];
		if (scan->state[i] != SLOT_UNKNOWN ||
		    (key->type != SEARCH_KEY_BODY &&
		     key->type != SEARCH_KEY_TEXT))
			continue;
		if (value_match(key, fold->data, fold->used)) {
			scan->state[i] = SLOT_FOUND;
			scan->changed = true;
		}
	}
	/* keep the tail for a match spanning into the next piece */
	size_t keep = search->args->max_value_len > 0 ?
		search->args->max_value_len - 1 : 0;
	if (keep > fold->used)
		keep = fold->used;
	buffer_set_used_size(scan->carry, 0);
	buffer_append(scan->carry, (const unsigned char *)fold->data +
		      fold->used - keep, keep);
}

static void scan_header(struct search_scan *scan,
			const struct message_header_field *hdr,
			bool root)
{
	struct search_key *const *keys = scan->search->args->slots.v;
	unsigned int count = array_count(&scan->search->args->slots);

	for (unsigned int i = 0; i < count; i++) {
		const struct search_key *key = keys[i];
		if (scan->state[i] != SLOT_UNKNOWN)
			continue;
		if (key->type == SEARCH_KEY_HEADER && root && !key->cached &&
		    strcasecmp(key->hdr_name, hdr->name) == 0 &&
		    header_value_match(key, hdr->value, hdr->value_len)) {
			scan->state[i] = SLOT_FOUND;
			scan->changed = true;
		} else if (key->type == SEARCH_KEY_TEXT) {
			/* "Name: decoded value" */
			string_t *line = t_str_new(hdr->name_len + hdr->value_len + 32);
			str_append_data(line, hdr->name, hdr->name_len);
			str_append(line, ": ");
			if (memmem(hdr->value, hdr->value_len, "=?", 2) == NULL) {
				/* folding replaces invalid UTF-8 as
				   decoding would */
				str_append_data(line, hdr->value, hdr->value_len);
			} else {
				message_header_decode_utf8(hdr->value,
							   hdr->value_len, line);
			}
			string_t *folded = t_str_new(line->used + 16);
			imap_casemap_fold(line->data, line->used, folded);
			if (value_match(key, folded->data, folded->used)) {
				scan->state[i] = SLOT_FOUND;
				scan->changed = true;
			}
		}
	}
}

/* The charsets whose iconv conversion maps each ASCII byte to itself and
   keeps no state between characters (not UTF-7, UTF-16, ISO-2022-*, nor
   windows-1255/1258, whose glibc converters compose a letter with the
   combining mark after it). */
static bool charset_ascii_stateless(const char *charset)
{
	static const char *const names[] = {
		"us-ascii", "ascii", "koi8-r", "koi8-u",
		"windows-1250", "windows-1251", "windows-1252",
		"windows-1253", "windows-1254", "windows-1256",
		"windows-1257", "cp1250", "cp1251", "cp1252", "cp1253",
		"cp1254", "cp1256", "cp1257",
	};
	bool ret = false;

	T_BEGIN {
		const char *name = charset_get_iconv_name(charset);

		if (strncasecmp(name, "iso-8859-", 9) == 0) {
			const char *d = name + 9;
			ret = d[0] >= '1' && d[0] <= '9' &&
				(d[1] == '\0' ||
				 (d[0] == '1' && d[1] >= '0' && d[1] <= '6' &&
				  d[2] == '\0'));
		} else {
			for (unsigned int i = 0; i < N_ELEMENTS(names); i++) {
				if (strcasecmp(name, names[i]) == 0) {
					ret = true;
					break;
				}
			}
		}
	} T_END;
	return ret;
}

/* Bytes of p[0..n) (p[0] >= 0x80) before the next run of 16 ASCII
   bytes: short ASCII runs between other bytes stay in iconv's piece. */
static size_t scan_non_ascii_len(const unsigned char *p, size_t n)
{
	size_t i = 0, run = 0;

	for (; i < n; i++) {
		if (p[i] < 0x80) {
			if (++run == 16)
				return i + 1 - run;
		} else {
			run = 0;
		}
	}
	return n;
}

static void scan_body_begin(struct search_scan *scan,
			    const struct message_part *part)
{
	const struct message_part_data *data = part->data;
	const char *cte = data == NULL ? NULL : data->content_transfer_encoding;
	const char *charset = NULL;

	scan->part = part;
	scan->part_searched = (part->flags & (MESSAGE_PART_FLAG_MULTIPART |
					      MESSAGE_PART_FLAG_MESSAGE_RFC822)) == 0;
	/* BODY/TEXT match text: only text and message bodies (and those
	   without a Content-Type: text/plain) are searched, as Dovecot
	   does; the decoded bytes of application/, image/... parts are not
	   text (docs/compatibility.md) */
	if (scan->part_searched && data != NULL &&
	    (part->flags & MESSAGE_PART_FLAG_IS_MIME) != 0 &&
	    data->content_type != NULL &&
	    strcasecmp(data->content_type, "text") != 0 &&
	    strcasecmp(data->content_type, "message") != 0)
		scan->part_searched = false;
	if (!scan->part_searched)
		return;
	buffer_set_used_size(scan->carry, 0);
	scan->utf8_pending_len = 0;
	scan->cte = CTE_NONE;
	if (cte != NULL && (part->flags & MESSAGE_PART_FLAG_IS_MIME) != 0) {
		if (strcasecmp(cte, "base64") == 0) {
			scan->cte = CTE_BASE64;
			base64_decoder_init(&scan->b64, 0);
		} else if (strcasecmp(cte, "quoted-printable") == 0) {
			scan->cte = CTE_QP;
			if (scan->qp == NULL)
				scan->qp = qp_decoder_init();
		}
	}
	if (data != NULL && (part->flags & MESSAGE_PART_FLAG_IS_MIME) != 0) {
		charset = message_part_param_get(data->content_type_params,
						 data->content_type_params_count,
						 "charset");
	}
	if (scan->cs != NULL)
		charset_to_utf8_end(&scan->cs);
	scan->cs_ascii = false;
	if (charset != NULL && !charset_is_utf8(charset)) {
		if (charset_ascii_stateless(charset) &&
		    strlen(charset) < sizeof(scan->cs_name)) {
			scan->cs_ascii = true;
			memcpy(scan->cs_name, charset, strlen(charset) + 1);
		} else {
			scan->cs = charset_to_utf8_begin(charset, NULL);
		}
	}
}

static void scan_body_text(struct search_scan *scan, const void *data,
			   size_t size, bool last)
{
	buffer_t *utf8 = scan->search->utf8_buf;

	if (scan->cs_ascii) {
		/* ASCII is itself in these charsets, and they keep no
		   state between bytes: only the rest goes through iconv */
		const unsigned char *p = data;
		while (size > 0) {
			size_t n = unicode_casemap_ascii_prefix_len(p, size);
			if (n > 0) {
				scan_match_body(scan, p, n, true, false);
				p += n;
				size -= n;
			}
			if (size == 0)
				break;
			/* up to the next ASCII run that is long enough
			   to be worth it */
			n = scan_non_ascii_len(p, size);
			if (scan->cs == NULL) {
				scan->cs = charset_to_utf8_begin(scan->cs_name,
								 NULL);
			}
			buffer_set_used_size(utf8, 0);
			(void)charset_to_utf8_more(scan->cs, p, n, utf8);
			if (utf8->used > 0) {
				scan_match_body(scan, utf8->data, utf8->used,
						true, false);
			}
			p += n;
			size -= n;
		}
		if (last && scan->cs != NULL) {
			buffer_set_used_size(utf8, 0);
			(void)charset_to_utf8_finish(scan->cs, utf8);
			if (utf8->used > 0) {
				scan_match_body(scan, utf8->data, utf8->used,
						true, true);
			}
		}
		return;
	}
	if (scan->cs == NULL) {
		/* UTF-8 (or unlabelled) text is folded as it is: the fold
		   replaces invalid UTF-8 as charset_utf8_append_valid()
		   would, without a copy */
		scan_match_body(scan, data, size, false, last);
		return;
	}
	buffer_set_used_size(utf8, 0);
	(void)charset_to_utf8_more(scan->cs, data, size, utf8);
	if (last)
		(void)charset_to_utf8_finish(scan->cs, utf8);
	if (utf8->used > 0)
		scan_match_body(scan, utf8->data, utf8->used, true, last);
}

static void scan_body_data(struct search_scan *scan, const void *data,
			   size_t size, bool last)
{
	buffer_t *dec = scan->search->dec_buf;

	switch (scan->cte) {
	case CTE_NONE:
		if (size > 0 || last)
			scan_body_text(scan, data, size, last);
		return;
	case CTE_BASE64:
		buffer_set_used_size(dec, 0);
		(void)base64_decoder_more(&scan->b64, data, size, dec);
		if (last)
			(void)base64_decoder_finish(&scan->b64, dec);
		break;
	case CTE_QP:
		buffer_set_used_size(dec, 0);
		(void)qp_decoder_more(scan->qp, data, size, dec);
		if (last)
			(void)qp_decoder_finish(scan->qp, dec);
		break;
	}
	/* scan_body_text() does not use dec_buf */
	scan_body_text(scan, dec->data, dec->used, last);
}

static void scan_parser_callback(const struct message_event *event,
				 void *context)
{
	struct search_scan *scan = context;
	bool root = event->part->parent == NULL;

	switch (event->type) {
	case MESSAGE_EVENT_PART_BEGIN:
		break;
	case MESSAGE_EVENT_HEADER:
		scan_header(scan, event->hdr, root);
		break;
	case MESSAGE_EVENT_HEADER_END:
		if (root && !scan->root_header_done) {
			/* header keys are decided now */
			struct search_key *const *keys =
				scan->search->args->slots.v;
			unsigned int count = array_count(&scan->search->args->slots);
			scan->root_header_done = true;
			for (unsigned int i = 0; i < count; i++) {
				if (keys[i]->type == SEARCH_KEY_HEADER &&
				    scan->state[i] == SLOT_UNKNOWN) {
					scan->state[i] = SLOT_NOT_FOUND;
					scan->changed = true;
				}
			}
		}
		scan_body_begin(scan, event->part);
		if (root && (event->part->flags &
			     (MESSAGE_PART_FLAG_MULTIPART |
			      MESSAGE_PART_FLAG_MESSAGE_RFC822)) == 0) {
			/* a single part: the rest of the message is its
			   body, which scan_pump() hands to the decoder
			   itself, without the parser's line and boundary
			   work */
			scan->body_direct = true;
			scan->body_direct_offset = event->offset + event->size +
				scan->hdr_removed;
		}
		break;
	case MESSAGE_EVENT_BODY:
		if (scan->body_direct_active)
			break;
		if (scan->part == event->part && scan->part_searched)
			scan_body_data(scan, event->data, event->size, false);
		scan->body_done_offset = event->offset + event->size +
			scan->hdr_removed;
		break;
	case MESSAGE_EVENT_PART_END:
		if (scan->part == event->part && scan->part_searched &&
		    !scan->body_direct_active) {
			scan_body_data(scan, "", 0, true);
			scan->part_searched = false;
		}
		break;
	}
}

static void search_start_scans(struct imap_search *search);

/* The message's result is known (or it has been read to the end). */
static bool scan_try_finish(struct search_scan *scan, bool at_end)
{
	struct imap_search *search = scan->search;
	struct search_msg msg = {
		.uid = scan->uid,
		.state = scan->state,
		.scan_done = at_end,
	};
	int ret = search_eval(search->args->root, &msg);

	if (ret < 0)
		return false;
	if (ret > 0)
		search->matched[scan->seq] = 1;
	search_scan_free(scan);
	return true;
}

static void scan_fail(struct search_scan *scan, const struct blob_result *result)
{
	struct imap_search *search = scan->search;

	e_error(search->client->event, "SEARCH: reading message UID %u "
		"of mailbox %s failed: %s", scan->uid,
		mailbox_get_name(search->box),
		result != NULL && result->internal_error != NULL ?
		result->internal_error : "unknown error");
	search->failed = true;
	search_scan_free(scan);
}

/* Give the parser the root header of the message's first piece with only
   its MIME fields (Content-*, MIME-Version: all it takes the part's type,
   encoding, charset and boundary from; the others would only be split
   and parsed for the envelope); returns the header's size in the piece,
   or 0 (nothing fed) when the header does not end in it or begins with a
   continuation line. */
static size_t scan_feed_root_header(struct search_scan *scan,
				    const unsigned char *data, size_t size)
{
	buffer_t *hdr = scan->search->hdr_buf;
	size_t pos = 0;
	bool keep = false;

	if (size == 0 || data[0] == ' ' || data[0] == '\t')
		return 0;
	buffer_set_used_size(hdr, 0);
	for (;;) {
		const unsigned char *lf = memchr(data + pos, '\n', size - pos);
		if (lf == NULL)
			return 0;
		size_t end = (size_t)(lf - data) + 1;
		size_t len = end - pos;
		const unsigned char *line = data + pos;

		if (len == 1 || (len == 2 && line[0] == '\r')) {
			/* the blank line that ends the header */
			buffer_append(hdr, line, len);
			pos = end;
			break;
		}
		if (line[0] != ' ' && line[0] != '\t') {
			keep = (len >= 8 &&
				strncasecmp((const char *)line, "Content-", 8) == 0) ||
				(len >= 12 &&
				 strncasecmp((const char *)line, "MIME-Version", 12) == 0);
		}
		if (keep)
			buffer_append(hdr, line, len);
		pos = end;
	}
	scan->hdr_removed = pos - hdr->used;
	message_parser_feed(scan->parser, hdr->data, hdr->used);
	return pos;
}

/* Feed what the blob has; returns true when the scan is over. */
static bool scan_pump(struct search_scan *scan)
{
	const unsigned char *data;
	size_t size;
	int ret;

	for (;;) {
		ret = blob_get_read_data(scan->get, &data, &size);
		if (ret == BLOB_READ_WAIT)
			return false;
		if (ret == BLOB_READ_ERROR) {
			struct blob_result result;
			(void)blob_get_get_result(scan->get, &result);
			scan_fail(scan, &result);
			return true;
		}
		if (ret == BLOB_READ_EOF) {
			if (scan->parser != NULL)
				(void)message_parser_finish(&scan->parser);
			if (scan->body_direct_active && scan->part_searched)
				scan_body_data(scan, "", 0, true);
			/* every key is known at the end */
			if (!scan_try_finish(scan, true))
				i_unreached();
			return true;
		}
		uint64_t offset = scan->read_offset;
		scan->read_offset += size;
		/* the piece goes to the parser or the decoder a slice at a
		   time, so that reading stops as soon as every key is
		   known: a common word is usually in the first slice of
		   the first text part */
		size_t pos = 0;
		if (offset == 0 && scan->search->root_mime_only &&
		    !scan->body_direct_active)
			pos = scan_feed_root_header(scan, data, size);
		while (pos < size) {
			size_t n = I_MIN(size - pos, SCAN_SLICE_SIZE);

			if (!scan->body_direct_active) {
				message_parser_feed(scan->parser, data + pos, n);
				pos += n;
				/* the body bytes the parser has not reported
				   yet are all in this piece (it may hold some
				   back): the rest goes around it; its later
				   events are ignored */
				uint64_t start = I_MAX(scan->body_direct_offset,
						       scan->body_done_offset);
				if (scan->body_direct && start >= offset &&
				    start <= offset + pos) {
					scan->body_direct_active = true;
					(void)message_parser_finish(&scan->parser);
					pos = (size_t)(start - offset);
					if (!scan->part_searched) {
						/* nothing else in the message
						   is searched */
						if (!scan_try_finish(scan, true))
							i_unreached();
						return true;
					}
				}
			} else {
				scan_body_data(scan, data + pos, n, false);
				pos += n;
			}
			if (scan->changed) {
				scan->changed = false;
				if (scan_try_finish(scan, false))
					return true;
			}
		}
		blob_get_skip(scan->get, size);
	}
}

static void search_finish_if_done(struct imap_search *search)
{
	if (search->scans_active == 0 && search->to_resume == NULL &&
	    (search->failed ||
	     search->scan_next >= array_count(&search->scan_seqs))) {
		search->finished = true;
		if (search->callback != NULL)
			search->callback(search->context);
	}
}

static void scan_blob_callback(void *context)
{
	struct search_scan *scan = context;
	struct imap_search *search = scan->search;

	if (scan_pump(scan) && !search->failed)
		search_start_scans(search);
	search_finish_if_done(search);
}

static void search_resume(void *context)
{
	struct imap_search *search = context;

	timeout_remove(&search->to_resume);
	search_start_scans(search);
	search_finish_if_done(search);
}

static void search_start_scans(struct imap_search *search)
{
	struct blob_store *store =
		mail_user_get_blob_store(mailbox_get_user(search->box));
	unsigned int nslots = array_count(&search->args->slots);
	unsigned int started = 0;

	while (!search->failed &&
	       search->scans_active < SEARCH_PARALLEL_READS &&
	       search->scan_next < array_count(&search->scan_seqs)) {
		if (started++ == SEARCH_INLINE_BATCH) {
			/* let the process's other sessions run */
			if (search->to_resume == NULL) {
				search->to_resume =
					timeout_add(0, search_resume, search);
			}
			break;
		}
		unsigned int i = search->scan_next++;
		const struct mail_index_record *rec = &search->scan_recs.v[i];
		struct search_scan *scan = i_new(struct search_scan, 1);

		scan->search = search;
		scan->seq = search->scan_seqs.v[i];
		scan->uid = rec->uid;
		scan->state = i_malloc(nslots);
		memcpy(scan->state, (const unsigned char *)
		       search->scan_states->data + i * nslots, nslots);
		scan->carry = buffer_create(system_pool, search->args->max_value_len + 8);
		scan->part_pool = pool_alloconly_create("search scan", 2048);
		scan->parser = message_parser_init(scan->part_pool, NULL,
						   scan_parser_callback, scan);
		scan->blob_key = i_strdup(rec->blob_key);
		scan->next = search->scans;
		if (search->scans != NULL)
			search->scans->prev = scan;
		search->scans = scan;
		search->scans_active++;
		/* a message in the page cache is read and searched right
		   here, without a hand-off to the blob store's workers (a
		   nowait get's consumer reads first); the others call back
		   when their data is there */
		scan->get = blob_get_begin_nowait(store, scan->blob_key, 0,
						  UINT64_MAX);
		blob_get_set_callback(scan->get, scan_blob_callback, scan);
		(void)scan_pump(scan);
	}
}

static void search_build_result(struct imap_search *search)
{
	for (uint32_t seq = 1; seq <= search->count; seq++) {
		if (search->matched[seq] == 0)
			continue;
		array_push(&search->result, seq);
		const struct mail_index_flags_rec *rec =
			mailbox_get_message(search->box, seq);
		if (rec != NULL && rec->modseq > search->highest_modseq)
			search->highest_modseq = rec->modseq;
	}
}

ARRAY_DEFINE_TYPE(search_fields_ptr, const struct mail_index_search_fields *);

/* Tier 2 on the stored search fields (SUBJECT, FROM, TO, CC, BCC keys):
   each undecided message that has a row of the current version is
   evaluated on it, without its cached header block. Those still
   undecided stay in undecided / undecided_uids, with their row (or NULL)
   at the same index of fields_r. */
static void
search_stored_fields(struct imap_search *search, ARRAY_TYPE(mail_uid) *undecided,
		     ARRAY_TYPE(seq_range) *undecided_uids, unsigned char *state,
		     ARRAY_TYPE(search_fields_ptr) *fields_r)
{
	struct imap_search_args *args = search->args;
	struct mail_index *index = mail_user_get_index(search->client->user);
	unsigned int nslots = array_count(&args->slots), r = 0, kept = 0;
	ARRAY_TYPE(mail_index_search_fields_rec) recs;
	ARRAY_TYPE(seq_range) uids;
	const char *error;

	array_init(&recs, search->pool, array_count(undecided));
	if (mail_index_search_fields_read(index, mailbox_get_id(search->box),
					  undecided_uids,
					  message_search_fields_version(),
					  args->field_mask, search->pool,
					  &recs) < 0) {
		/* only a shortcut: the cached header blocks decide */
		(void)mail_index_get_last_error(index, NULL, &error);
		e_warning(search->client->event,
			  "SEARCH: reading the search fields failed: %s", error);
		mail_error_clear(mail_index_get_error_state(index));
		array_clear(&recs);
	}
	array_init(fields_r, search->pool, array_count(undecided));
	array_init(&uids, search->pool, 16);
	for (unsigned int i = 0; i < array_count(undecided); i++) {
		uint32_t seq = undecided->v[i];
		uint32_t uid = mailbox_seq_to_uid(search->box, seq);
		const struct mail_index_search_fields *fields = NULL;

		while (r < array_count(&recs) && recs.v[r].uid < uid)
			r++;
		if (r < array_count(&recs) && recs.v[r].uid == uid) {
			struct search_msg msg = {
				.uid = uid,
				.fields = &recs.v[r].fields,
				.state = state,
			};
			fields = msg.fields;
			memset(state, 0, nslots);
			int ret = search_eval(args->root, &msg);
			if (ret > 0)
				search->matched[seq] = 1;
			if (ret >= 0)
				continue;
		}
		undecided->v[kept++] = seq;
		array_push(fields_r, fields);
		seq_range_array_add(&uids, uid);
	}
	undecided->count = kept;
	*undecided_uids = uids;
}

/* Store the search fields computed from cached header blocks for
   messages that had none, so that the next search reads them. */
static void search_store_fields(struct imap_search *search,
				const ARRAY_TYPE(mail_index_search_fields_rec) *recs)
{
	struct mail_index *index = mail_user_get_index(search->client->user);
	const char *error;

	if (array_count(recs) == 0)
		return;
	if (mail_index_search_fields_store(index, mailbox_get_id(search->box),
					   recs->v, array_count(recs)) < 0) {
		(void)mail_index_get_last_error(index, NULL, &error);
		e_warning(search->client->event,
			  "SEARCH: storing the search fields failed: %s", error);
		mail_error_clear(mail_index_get_error_state(index));
	}
}

/* The search fields of a record without stored ones, from its cached
   header block, into *fields_r (pointing into search->sf); a copy goes to
   store (from search->pool) while it has room. */
static void
search_fields_from_headers(struct imap_search *search,
			   const struct mail_index_record *rec,
			   struct mail_index_search_fields *fields_r,
			   ARRAY_TYPE(mail_index_search_fields_rec) *store)
{
	T_BEGIN {
		message_search_fields_build(&search->sf, search->pool,
					    rec->headers, rec->headers_size);
	} T_END;
	memset(fields_r, 0, sizeof(*fields_r));
	fields_r->version = message_search_fields_version();
	for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
		if (search->sf.counts[i] == 0)
			continue;
		fields_r->values[i] = search->sf.values[i]->data;
		fields_r->sizes[i] = search->sf.values[i]->used;
	}
	if (array_count(store) >= SEARCH_FIELDS_STORE_MAX)
		return;
	struct mail_index_search_fields_rec *srec = array_append_space(store);
	srec->uid = rec->uid;
	srec->fields = *fields_r;
	for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
		if (fields_r->values[i] != NULL && fields_r->sizes[i] > 0) {
			srec->fields.values[i] = p_memdup(search->pool,
				fields_r->values[i], fields_r->sizes[i]);
		}
	}
}

/* Tiers 1 and 2; the messages still undecided go to scan_seqs. */
static int search_start(struct imap_search *search)
{
	struct imap_search_args *args = search->args;
	unsigned int nslots = array_count(&args->slots);
	ARRAY_TYPE(mail_uid) undecided;
	ARRAY_TYPE(seq_range) undecided_uids;
	ARRAY_TYPE(search_fields_ptr) stored;
	ARRAY_TYPE(mail_index_search_fields_rec) store;
	unsigned char *state = nslots == 0 ? NULL :
		p_malloc(search->pool, nslots);

	search->count = mailbox_get_messages_count(search->box);
	search->matched = p_malloc(search->pool, search->count + 1);
	array_init(&search->scan_seqs, search->pool, 16);
	array_init(&search->scan_recs, search->pool, 16);
	search->scan_states = buffer_create(search->pool, 64);

	if (search_index_keys(search, args->root) < 0)
		return -1;

	array_init(&undecided, search->pool, 64);
	array_init(&undecided_uids, search->pool, 64);
	for (uint32_t seq = 1; seq <= search->count; seq++) {
		struct search_msg msg = {
			.uid = mailbox_seq_to_uid(search->box, seq),
			.state = state,
		};
		if (nslots > 0)
			memset(state, 0, nslots);
		int ret = search_eval(args->root, &msg);
		if (ret > 0)
			search->matched[seq] = 1;
		else if (ret < 0) {
			array_push(&undecided, seq);
			seq_range_array_add(&undecided_uids, msg.uid);
		}
	}
	if (array_count(&undecided) == 0)
		return 0;

	array_init(&stored, search->pool, 1);
	if (args->field_mask != 0) {
		search_stored_fields(search, &undecided, &undecided_uids,
				     state, &stored);
		if (array_count(&undecided) == 0)
			return 0;
	}
	/* the cached header blocks are needed for the keys the stored
	   fields do not decide, and for messages without stored fields */
	bool need_headers = args->have_cached_other;
	if (args->field_mask != 0) {
		for (unsigned int i = 0; i < array_count(&stored); i++) {
			if (stored.v[i] == NULL)
				need_headers = true;
		}
	}

	/* records of the undecided messages, in UID (= seq) order */
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, search->pool, array_count(&undecided));
	array_init(&store, search->pool, 16);
	if (mailbox_fetch_records(search->box, &undecided_uids,
				  MAIL_INDEX_FETCH_DETAILS |
				  (need_headers ?
				   MAIL_INDEX_FETCH_CACHE_HEADERS : 0),
				  search->pool, &recs) < 0)
		return -1;
	unsigned int r = 0;
	for (unsigned int i = 0; i < array_count(&undecided); i++) {
		uint32_t seq = undecided.v[i];
		uint32_t uid = mailbox_seq_to_uid(search->box, seq);
		while (r < array_count(&recs) && recs.v[r].uid < uid)
			r++;
		if (r == array_count(&recs) || recs.v[r].uid != uid) {
			/* expunged meanwhile: it matches nothing */
			continue;
		}
		struct mail_index_search_fields computed;
		struct search_msg msg = {
			.uid = uid,
			.rec = &recs.v[r],
			.state = state,
		};
		if (args->field_mask != 0) {
			msg.fields = stored.v[i];
			if (msg.fields == NULL && msg.rec->headers != NULL) {
				search_fields_from_headers(search, msg.rec,
							   &computed, &store);
				msg.fields = &computed;
			}
		}
		memset(state, 0, nslots);
		int ret = -1;
		if (args->have_cached) T_BEGIN {
			ret = search_eval(args->root, &msg);
		} T_END;
		if (ret > 0)
			search->matched[seq] = 1;
		else if (ret < 0) {
			array_push(&search->scan_seqs, seq);
			array_push(&search->scan_recs, recs.v[r]);
			buffer_append(search->scan_states, state, nslots);
		}
	}
	search_store_fields(search, &store);
	/* prepared before the first read so no allocation is needed from
	   the blob callbacks' frames */
	search->dec_buf = buffer_create(system_pool, 8192);
	search->utf8_buf = buffer_create(system_pool, 8192);
	search->fold_buf = buffer_create(system_pool, 8192);
	search->hdr_buf = buffer_create(system_pool, 1024);
	search->root_mime_only = true;
	for (unsigned int i = 0; i < nslots; i++) {
		const struct search_key *key = args->slots.v[i];
		if (key->type == SEARCH_KEY_TEXT ||
		    (key->type == SEARCH_KEY_HEADER && !key->cached))
			search->root_mime_only = false;
	}
	return 0;
}

int imap_search_more(struct imap_search *search)
{
	if (!search->started) {
		search->started = true;
		if (search_start(search) < 0) {
			search->error_line = p_strdup(search->pool,
				client_storage_error_line(search->client));
			return -1;
		}
		if (array_count(&search->scan_seqs) == 0)
			search->finished = true;
		else {
			search_start_scans(search);
			if (search->scans_active == 0 &&
			    search->to_resume == NULL)
				search->finished = true;
		}
	}
	if (search->failed) {
		search->error_line = "NO [SERVERBUG] Internal error occurred. "
			"Refer to server log for more information.";
		return -1;
	}
	if (!search->finished)
		return 0;
	search_build_result(search);
	return 1;
}

const ARRAY_TYPE(mail_uid) *imap_search_get_result(struct imap_search *search)
{
	return &search->result;
}

const char *imap_search_get_error_line(struct imap_search *search)
{
	return search->error_line;
}

uint64_t imap_search_get_highest_modseq(struct imap_search *search)
{
	return search->highest_modseq;
}

void imap_search_end(struct imap_search **_search)
{
	struct imap_search *search = *_search;

	if (search == NULL)
		return;
	*_search = NULL;
	while (search->scans != NULL)
		search_scan_free(search->scans);
	if (search->to_resume != NULL)
		timeout_remove(&search->to_resume);
	if (search->dec_buf != NULL) {
		buffer_free(&search->dec_buf);
		buffer_free(&search->utf8_buf);
		buffer_free(&search->fold_buf);
		buffer_free(&search->hdr_buf);
	}
	pool_unref(&search->pool);
	i_free(search);
}

/* --- SORT and THREAD data --- */

void imap_sort_headers_parse(const struct mail_index_record *rec, pool_t pool,
			     struct imap_sort_headers *hdrs_r)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{ "Subject", offsetof(struct imap_sort_headers, subject) },
		{ "From", offsetof(struct imap_sort_headers, from) },
		{ "To", offsetof(struct imap_sort_headers, to) },
		{ "Cc", offsetof(struct imap_sort_headers, cc) },
		{ "Message-ID", offsetof(struct imap_sort_headers, message_id) },
		{ "In-Reply-To", offsetof(struct imap_sort_headers, in_reply_to) },
		{ "References", offsetof(struct imap_sort_headers, references) },
	};
	struct message_header_block_field field;
	size_t pos = 0;

	memset(hdrs_r, 0, sizeof(*hdrs_r));
	if (rec->headers == NULL || rec->headers_size == 0)
		return;
	/* the first field of each name, unfolded as the parser does */
	while (message_header_block_next(rec->headers, rec->headers_size,
					 &pos, &field)) {
		for (unsigned int i = 0; i < N_ELEMENTS(fields); i++) {
			const char **dest = (const char **)
				((char *)hdrs_r + fields[i].offset);
			if (*dest != NULL ||
			    !message_header_block_name_equals(&field,
					fields[i].name, strlen(fields[i].name)))
				continue;
			T_BEGIN {
				string_t *value = t_str_new(
					(size_t)(field.end - field.colon) + 8);
				message_header_block_unfold(&field, value);
				*dest = message_header_strdup(pool, value->data,
							      value->used);
			} T_END;
			break;
		}
	}
}

time_t imap_sort_sent_date(const struct mail_index_record *rec)
{
	return rec->sent_date != 0 ? rec->sent_date : rec->internal_date;
}

int imap_search_run_for_cmd(struct client_command_context *cmd,
			    struct imap_search **search,
			    const ARRAY_TYPE(mail_uid) **seqs_r)
{
	int ret = imap_search_more(*search);

	if (ret == 0)
		return 0;
	if (ret < 0) {
		const char *line = t_strdup(imap_search_get_error_line(*search));
		imap_search_end(search);
		client_send_tagline(cmd, line);
		return -1;
	}
	*seqs_r = imap_search_get_result(*search);
	return 1;
}
