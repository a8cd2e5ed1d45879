/* SEARCH over the indexed fields: the argument tree becomes one SQL WHERE
   clause with bound parameters, run over the mailbox's rows. Keywords are
   matched on the bitmap by a small SQL function; a keyword the mailbox
   has never defined matches nothing. */
#include "lib.h"
#include "mail-index-private.h"
#include <strings.h>

#define SECS_PER_DAY 86400

enum search_param_type {
	SEARCH_PARAM_INT,
	SEARCH_PARAM_TEXT,
};

struct search_param {
	enum search_param_type type;
	int64_t num;
	const char *text;
};

struct search_build {
	struct mail_index *index;
	string_t *sql;
	ARRAY(struct search_param) params;
	const ARRAY_TYPE(mail_string) *kw_names;
};

/* kw_has(bitmap, idx): whether bit idx is set. */
static void search_kw_has(sqlite3_context *ctx, int argc ATTR_UNUSED,
			  sqlite3_value **argv)
{
	const unsigned char *bits = sqlite3_value_blob(argv[0]);
	int size = sqlite3_value_bytes(argv[0]);
	sqlite3_int64 idx = sqlite3_value_int64(argv[1]);

	sqlite3_result_int(ctx, bits != NULL && idx >= 0 && idx / 8 < size &&
			   (bits[idx / 8] & (1 << (idx % 8))) != 0);
}

static void search_add_int(struct search_build *b, int64_t num)
{
	struct search_param *p = array_append_space(&b->params);

	p->type = SEARCH_PARAM_INT;
	p->num = num;
	str_printfa(b->sql, "?%u", array_count(&b->params));
}

static void search_add_text(struct search_build *b, const char *text)
{
	struct search_param *p = array_append_space(&b->params);

	p->type = SEARCH_PARAM_TEXT;
	p->text = text;
	str_printfa(b->sql, "?%u", array_count(&b->params));
}

static int search_keyword_idx(struct search_build *b, const char *name)
{
	for (unsigned int i = 0; i < array_count(b->kw_names); i++) {
		const char *kw = b->kw_names->v[i];
		if (kw != NULL && strcasecmp(kw, name) == 0)
			return (int)i;
	}
	return -1;
}

/* The day of a date in its own zone (RFC 9051: "disregarding time and
   timezone"); floor division, so dates before 1970 work too. */
static void search_day_expr(struct search_build *b, const char *date_col,
			    const char *tz_col)
{
	if (tz_col == NULL) {
		str_printfa(b->sql, "((%s - (((%s %% %d) + %d) %% %d)) / %d)",
			    date_col, date_col, SECS_PER_DAY, SECS_PER_DAY,
			    SECS_PER_DAY, SECS_PER_DAY);
	} else {
		str_printfa(b->sql,
			"(((%1$s + %2$s * 60) - ((((%1$s + %2$s * 60) %% %3$d) + %3$d) %% %3$d)) / %3$d)",
			date_col, tz_col, SECS_PER_DAY);
	}
}

static void search_build_args(struct search_build *b,
			      const struct mail_index_search_arg *args,
			      const char *join);

static void search_build_arg(struct search_build *b,
			     const struct mail_index_search_arg *arg)
{
	string_t *sql = b->sql;
	const char *date_col = NULL, *tz_col = NULL, *op = NULL;

	if (arg->not)
		str_append(sql, "NOT ");
	str_append_c(sql, '(');
	switch (arg->type) {
	case MAIL_INDEX_SEARCH_ALL:
		str_append(sql, "1");
		break;
	case MAIL_INDEX_SEARCH_UIDSET: {
		const struct seq_range *r;
		if (arg->value.uids == NULL || array_count(arg->value.uids) == 0) {
			str_append(sql, "0");
			break;
		}
		array_foreach(arg->value.uids, r) {
			if (r != arg->value.uids->v)
				str_append(sql, " OR ");
			str_append(sql, "uid BETWEEN ");
			search_add_int(b, r->seq1);
			str_append(sql, " AND ");
			search_add_int(b, r->seq2);
		}
		break;
	}
	case MAIL_INDEX_SEARCH_FLAGS:
		str_append(sql, "(flags & ");
		search_add_int(b, arg->value.flags & MAIL_FLAGS_MASK);
		str_append(sql, ") = ");
		search_add_int(b, arg->value.flags & MAIL_FLAGS_MASK);
		break;
	case MAIL_INDEX_SEARCH_KEYWORD: {
		int idx = search_keyword_idx(b, arg->value.str);
		if (idx < 0) {
			str_append(sql, "0");
			break;
		}
		str_append(sql, "kw_has(keywords, ");
		search_add_int(b, idx);
		str_append(sql, ")");
		break;
	}
	case MAIL_INDEX_SEARCH_BEFORE:
	case MAIL_INDEX_SEARCH_ON:
	case MAIL_INDEX_SEARCH_SINCE:
		date_col = "internal_date";
		tz_col = "internal_tz";
		op = arg->type == MAIL_INDEX_SEARCH_BEFORE ? " < " :
			arg->type == MAIL_INDEX_SEARCH_ON ? " = " : " >= ";
		break;
	case MAIL_INDEX_SEARCH_SENTBEFORE:
	case MAIL_INDEX_SEARCH_SENTON:
	case MAIL_INDEX_SEARCH_SENTSINCE:
		date_col = "sent_date";
		tz_col = "sent_tz";
		op = arg->type == MAIL_INDEX_SEARCH_SENTBEFORE ? " < " :
			arg->type == MAIL_INDEX_SEARCH_SENTON ? " = " : " >= ";
		break;
	case MAIL_INDEX_SEARCH_SAVEDBEFORE:
	case MAIL_INDEX_SEARCH_SAVEDON:
	case MAIL_INDEX_SEARCH_SAVEDSINCE:
		date_col = "save_date";
		op = arg->type == MAIL_INDEX_SEARCH_SAVEDBEFORE ? " < " :
			arg->type == MAIL_INDEX_SEARCH_SAVEDON ? " = " : " >= ";
		break;
	case MAIL_INDEX_SEARCH_INTERNAL_TIME_BEFORE:
		str_append(sql, "internal_date < ");
		search_add_int(b, (int64_t)arg->value.time);
		break;
	case MAIL_INDEX_SEARCH_INTERNAL_TIME_SINCE:
		str_append(sql, "internal_date >= ");
		search_add_int(b, (int64_t)arg->value.time);
		break;
	case MAIL_INDEX_SEARCH_LARGER:
		str_append(sql, "rfc822_size > ");
		search_add_int(b, (int64_t)I_MIN(arg->value.size, (uint64_t)INT64_MAX));
		break;
	case MAIL_INDEX_SEARCH_SMALLER:
		str_append(sql, "rfc822_size < ");
		search_add_int(b, (int64_t)I_MIN(arg->value.size, (uint64_t)INT64_MAX));
		break;
	case MAIL_INDEX_SEARCH_MODSEQ:
		str_append(sql, "modseq >= ");
		search_add_int(b, (int64_t)I_MIN(arg->value.modseq, (uint64_t)INT64_MAX));
		break;
	case MAIL_INDEX_SEARCH_GUID:
		str_append(sql, "guid = ");
		search_add_text(b, arg->value.str);
		break;
	case MAIL_INDEX_SEARCH_AND:
		search_build_args(b, arg->value.subargs, " AND ");
		break;
	case MAIL_INDEX_SEARCH_OR:
		search_build_args(b, arg->value.subargs, " OR ");
		break;
	}
	if (date_col != NULL) {
		/* a sent date of 0 means no Date: header: such messages
		   match no SENT* key */
		if (tz_col != NULL && strcmp(date_col, "sent_date") == 0)
			str_append(sql, "sent_date != 0 AND ");
		search_day_expr(b, date_col, tz_col);
		str_append(sql, op);
		search_add_int(b, arg->value.day);
	}
	str_append_c(sql, ')');
}

static void search_build_args(struct search_build *b,
			      const struct mail_index_search_arg *args,
			      const char *join)
{
	if (args == NULL) {
		/* an empty AND is true, an empty OR false */
		str_append(b->sql, strcmp(join, " AND ") == 0 ? "1" : "0");
		return;
	}
	for (; args != NULL; args = args->next) {
		search_build_arg(b, args);
		if (args->next != NULL)
			str_append(b->sql, join);
	}
}

int mail_index_search_init(struct mail_index *index, const char **error_r)
{
	int ret = sqlite3_create_function(index->db, "kw_has", 2,
		SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
		NULL, search_kw_has, NULL, NULL);
	if (ret != SQLITE_OK) {
		*error_r = t_strdup_printf("%s: sqlite3_create_function(kw_has) "
					   "failed: %s", index->path,
					   sqlite3_errstr(ret));
		return -1;
	}
	return 0;
}

int mail_index_search(struct mail_index *index, uint32_t mailbox_id,
		      const struct mail_index_search_arg *args,
		      ARRAY_TYPE(mail_uid) *uids_r, uint64_t *highest_modseq_r)
{
	struct search_build b;
	ARRAY_TYPE(mail_string) kw_names;
	sqlite3_stmt *stmt;
	uint64_t highest = 0;
	int ret;

	if (mail_index_read_begin(index) < 0)
		return -1;
	array_init(&kw_names, pool_datastack, 8);
	if (mail_index_keywords_load(index, mailbox_id, pool_datastack,
				     &kw_names) < 0) {
		mail_index_read_end(index);
		return -1;
	}

	memset(&b, 0, sizeof(b));
	b.index = index;
	b.sql = t_str_new(256);
	b.kw_names = &kw_names;
	array_init(&b.params, pool_datastack, 8);
	str_append(b.sql, "SELECT uid, modseq FROM messages WHERE mailbox_id = ");
	search_add_int(&b, mailbox_id);
	str_append(b.sql, " AND (");
	search_build_args(&b, args, " AND ");
	str_append(b.sql, ") ORDER BY uid");

	ret = sqlite3_prepare_v2(index->db, str_c(b.sql), -1, &stmt, NULL);
	if (ret != SQLITE_OK) {
		mail_index_set_sqlite_error(index, ret, "search prepare");
		mail_index_read_end(index);
		return -1;
	}
	for (unsigned int i = 0; i < array_count(&b.params); i++) {
		const struct search_param *p = &b.params.v[i];
		if (p->type == SEARCH_PARAM_INT)
			sqlite3_bind_int64(stmt, (int)i + 1, p->num);
		else
			sqlite3_bind_text(stmt, (int)i + 1, p->text, -1,
					  SQLITE_STATIC);
	}
	while ((ret = mail_index_step(index, stmt, "search")) > 0) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		uint64_t modseq = (uint64_t)sqlite3_column_int64(stmt, 1);
		array_push(uids_r, uid);
		if (modseq > highest)
			highest = modseq;
	}
	sqlite3_finalize(stmt);
	mail_index_read_end(index);
	if (highest_modseq_r != NULL)
		*highest_modseq_r = highest;
	return ret < 0 ? -1 : 0;
}

/* --- SEARCH's header fields (message_search) --- */

#define SEARCH_FIELDS_WHERE \
	" FROM message_search WHERE mailbox_id = ?1 AND " \
	"uid BETWEEN ?2 AND ?3 AND version = ?4 ORDER BY uid"
/* the columns in lib-mail's enum message_search_field order; a query for
   one field reads only its column (the others may lie in overflow pages
   that SQLite then need not visit) */
static const char *const search_fields_one_sql[MAIL_INDEX_SEARCH_FIELD_COUNT] = {
	"SELECT uid, hdr_subject" SEARCH_FIELDS_WHERE,
	"SELECT uid, hdr_from" SEARCH_FIELDS_WHERE,
	"SELECT uid, hdr_to" SEARCH_FIELDS_WHERE,
	"SELECT uid, hdr_cc" SEARCH_FIELDS_WHERE,
	"SELECT uid, hdr_bcc" SEARCH_FIELDS_WHERE,
};
static const char search_fields_all_sql[] =
	"SELECT uid, hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc"
	SEARCH_FIELDS_WHERE;

static int
search_fields_read_range(struct mail_index *index, uint32_t mailbox_id,
			 uint32_t uid1, uint32_t uid2, uint32_t version,
			 unsigned int field_mask, pool_t pool,
			 ARRAY_TYPE(mail_index_search_fields_rec) *recs_r)
{
	int one = -1, ret;

	for (int i = 0; i < MAIL_INDEX_SEARCH_FIELD_COUNT; i++) {
		if (field_mask == (1U << i))
			one = i;
	}
	sqlite3_stmt *stmt = mail_index_stmt(index, one >= 0 ?
		search_fields_one_sql[one] : search_fields_all_sql);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid1);
	sqlite3_bind_int64(stmt, 3, uid2);
	sqlite3_bind_int64(stmt, 4, version);
	while ((ret = mail_index_step(index, stmt, "search fields")) > 0) {
		struct mail_index_search_fields_rec *rec =
			array_append_space(recs_r);
		rec->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		rec->fields.version = version;
		for (int i = 0; i < MAIL_INDEX_SEARCH_FIELD_COUNT; i++) {
			int col = one >= 0 ? (i == one ? 1 : -1) : i + 1;
			if (col < 0 || (field_mask & (1U << i)) == 0 ||
			    sqlite3_column_type(stmt, col) == SQLITE_NULL)
				continue;
			const void *data = sqlite3_column_blob(stmt, col);
			size_t size = (size_t)sqlite3_column_bytes(stmt, col);
			rec->fields.values[i] = size == 0 ?
				(const unsigned char *)"" :
				p_memdup(pool, data, size);
			rec->fields.sizes[i] = size;
		}
	}
	return ret;
}

int mail_index_search_fields_read(struct mail_index *index,
				  uint32_t mailbox_id,
				  const ARRAY_TYPE(seq_range) *uids,
				  uint32_t version, unsigned int field_mask,
				  pool_t pool,
				  ARRAY_TYPE(mail_index_search_fields_rec) *recs_r)
{
	int ret = 0;

	/* no read snapshot (BEGIN .. COMMIT and the durability check of
	   mail_index_read_end()): these rows tell nothing about which
	   messages exist, only what the caller's known messages hold, so
	   each range's statement may be its own snapshot */
	if (uids == NULL) {
		ret = search_fields_read_range(index, mailbox_id, 1, UINT32_MAX,
					       version, field_mask, pool,
					       recs_r);
	} else {
		const struct seq_range *r;
		array_foreach(uids, r) {
			ret = search_fields_read_range(index, mailbox_id,
						       r->seq1, r->seq2,
						       version, field_mask,
						       pool, recs_r);
			if (ret < 0)
				break;
		}
	}
	return ret < 0 ? -1 : 0;
}
