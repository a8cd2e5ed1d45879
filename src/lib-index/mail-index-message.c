/* Message records: append and copy (with reserved UIDs), expunge, flag
   and keyword changes with CONDSTORE's UNCHANGEDSINCE, cached fields, and
   reading records and the change log back. */
#include "lib.h"
#include "mail-index-private.h"
#include <time.h>

#define MESSAGE_FLAG_COLUMNS "uid, flags, keywords, modseq"
#define MESSAGE_DETAIL_COLUMNS \
	"internal_date, internal_tz, sent_date, sent_tz, save_date, " \
	"physical_size, rfc822_size, guid, blob_key"

static int mail_index_check_uid_order(struct mail_index_transaction *t,
				      struct mail_index_reservation *res,
				      uint32_t uid)
{
	struct mail_index *index = t->index;
	int ret;

	if (uid < res->uid1 || uid > res->uid2) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"BUG: UID %u is outside its reservation %u..%u",
			uid, res->uid1, res->uid2);
	}
	if (mail_index_reservation_claim(t, res) < 0)
		return -1;
	ret = mail_index_reservations_check_order(t, res->mailbox_id, uid);
	if (ret <= 0)
		return ret;

	/* Never make a UID visible below one already visible: with the
	   reservation order kept this cannot happen, so it is a bug. */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uidnext FROM mailboxes WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, res->mailbox_id);
	ret = mail_index_step(index, stmt, "uid order");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
		return -1;
	}
	uint32_t uidnext = (uint32_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (uid < uidnext) {
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"UID %u of mailbox %u is below UIDNEXT %u",
			uid, res->mailbox_id, uidnext);
	}
	return 1;
}

static int mail_index_bump_uidnext(struct mail_index *index,
				   uint32_t mailbox_id, uint32_t uid)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET uidnext = max(uidnext, ?2 + 1) WHERE id = ?1");

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	return mail_index_step(index, stmt, "uidnext");
}

static void bind_blob_or_null(sqlite3_stmt *stmt, int col, const void *data,
			      size_t size)
{
	if (data == NULL || size == 0)
		sqlite3_bind_null(stmt, col);
	else
		sqlite3_bind_blob64(stmt, col, data, size, SQLITE_STATIC);
}

static void bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text)
{
	if (text == NULL)
		sqlite3_bind_null(stmt, col);
	else
		sqlite3_bind_text(stmt, col, text, -1, SQLITE_STATIC);
}

/* Insert a message's row of message_search (replace: or update it, and
   only if the message still exists). */
static int
search_fields_insert(struct mail_index *index, uint32_t mailbox_id,
		     uint32_t uid, const struct mail_index_search_fields *fields,
		     bool replace)
{
	/* a replacing store comes from a reader, after its snapshot: the
	   message may have been expunged since (the FOREIGN KEY would fail) */
	sqlite3_stmt *stmt = mail_index_stmt(index, !replace ?
		"INSERT INTO message_search (mailbox_id, uid, version, "
		"hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" :
		"INSERT INTO message_search (mailbox_id, uid, version, "
		"hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc) "
		"SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS "
		"(SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2) "
		"ON CONFLICT (mailbox_id, uid) DO UPDATE SET "
		"version = excluded.version, "
		"hdr_subject = excluded.hdr_subject, "
		"hdr_from = excluded.hdr_from, hdr_to = excluded.hdr_to, "
		"hdr_cc = excluded.hdr_cc, hdr_bcc = excluded.hdr_bcc");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	sqlite3_bind_int64(stmt, 3, fields->version);
	for (int i = 0; i < MAIL_INDEX_SEARCH_FIELD_COUNT; i++) {
		const unsigned char *data = fields->values[i];
		if (data == NULL)
			sqlite3_bind_null(stmt, 4 + i);
		else {
			/* a present field with an empty value stays a
			   zero-length blob, not NULL */
			sqlite3_bind_blob64(stmt, 4 + i,
				fields->sizes[i] == 0 ?
				(const unsigned char *)"" : data,
				fields->sizes[i], SQLITE_STATIC);
		}
	}
	return mail_index_step(index, stmt, "search fields insert") < 0 ?
		-1 : 0;
}

/* Insert the row (and cache row) of a message whose UID order has been
   checked. */
static int mail_index_insert_message(struct mail_index_transaction *t,
				     uint32_t mailbox_id, uint32_t uid,
				     const struct mail_index_new_message *msg)
{
	struct mail_index *index = t->index;
	buffer_t *bitmap = t_str_new(16);
	uint64_t modseq;

	if ((modseq = mail_index_tx_modseq(t, mailbox_id)) == 0)
		return -1;
	if (mail_index_keywords_to_bitmap(index, mailbox_id, msg->keywords,
					  true, bitmap) < 0)
		return -1;

	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO messages (mailbox_id, uid, flags, keywords, modseq, "
		MESSAGE_DETAIL_COLUMNS ") VALUES "
		"(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	sqlite3_bind_int(stmt, 3, (int)(msg->flags & MAIL_FLAGS_MASK));
	bind_blob_or_null(stmt, 4, bitmap->data, bitmap->used);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)modseq);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)msg->internal_date);
	sqlite3_bind_int(stmt, 7, msg->internal_tz);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)msg->sent_date);
	sqlite3_bind_int(stmt, 9, msg->sent_tz);
	sqlite3_bind_int64(stmt, 10, (sqlite3_int64)(msg->save_date != 0 ?
						     msg->save_date : time(NULL)));
	sqlite3_bind_int64(stmt, 11, (sqlite3_int64)msg->physical_size);
	sqlite3_bind_int64(stmt, 12, (sqlite3_int64)msg->rfc822_size);
	sqlite3_bind_text(stmt, 13, msg->guid != NULL ? msg->guid : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 14, msg->blob_key, -1, SQLITE_STATIC);
	if (mail_index_step(index, stmt, "append") < 0)
		return -1;

	if (msg->envelope != NULL || msg->bodystructure != NULL ||
	    msg->body != NULL || msg->headers != NULL || msg->parts != NULL) {
		stmt = mail_index_stmt(index,
			"INSERT INTO message_cache (mailbox_id, uid, envelope, "
			"bodystructure, body, headers, parts) "
			"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, uid);
		bind_text_or_null(stmt, 3, msg->envelope);
		bind_text_or_null(stmt, 4, msg->bodystructure);
		bind_text_or_null(stmt, 5, msg->body);
		bind_blob_or_null(stmt, 6, msg->headers, msg->headers_size);
		bind_blob_or_null(stmt, 7, msg->parts, msg->parts_size);
		if (mail_index_step(index, stmt, "append cache") < 0)
			return -1;
	}
	if (msg->search_fields != NULL &&
	    search_fields_insert(index, mailbox_id, uid, msg->search_fields,
				 false) < 0)
		return -1;
	if (mail_index_bump_uidnext(index, mailbox_id, uid) < 0)
		return -1;
	seq_range_array_add(&mail_index_tx_mailbox(t, mailbox_id)->appends,
			    uid);
	return 1;
}

int mail_index_append(struct mail_index_transaction *t,
		      struct mail_index_reservation *res, uint32_t uid,
		      const struct mail_index_new_message *msg)
{
	int ret = mail_index_check_uid_order(t, res, uid);

	if (ret <= 0)
		return ret;
	return mail_index_insert_message(t, res->mailbox_id, uid, msg);
}

int mail_index_append_uid(struct mail_index_transaction *t,
			  uint32_t mailbox_id, uint32_t uid,
			  const struct mail_index_new_message *msg)
{
	struct mail_index *index = t->index;
	int ret;

	/* any pending reservation holds UIDs below uid (they come from
	   uid_alloc_next, which this raises above uid): wait for it */
	ret = mail_index_reservations_check_order(t, mailbox_id, uid);
	if (ret <= 0)
		return ret;
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET uid_alloc_next = max(uid_alloc_next, ?2 + 1) "
		"WHERE id = ?1 AND noselect = 0 AND uidnext <= ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	if (mail_index_step(index, stmt, "append uid") < 0)
		return -1;
	if (sqlite3_changes(index->db) == 0) {
		return mail_index_set_error(index, MAIL_ERROR_PARAMS,
			t_strdup_printf("UID %u is below the mailbox's UIDNEXT "
					"(or the mailbox does not exist)", uid));
	}
	return mail_index_insert_message(t, mailbox_id, uid, msg);
}

int mail_index_copy(struct mail_index_transaction *t,
		    uint32_t src_mailbox_id, uint32_t src_uid,
		    struct mail_index_reservation *res, uint32_t dest_uid,
		    const char *dest_blob_key)
{
	struct mail_index *index = t->index;
	ARRAY_TYPE(mail_string) src_names;
	buffer_t *bitmap = t_str_new(16);
	sqlite3_stmt *stmt;
	uint64_t modseq;
	int ret;

	/* the source first: if it was expunged meanwhile, the copy fails
	   before it has claimed anything */
	stmt = mail_index_stmt(index,
		"SELECT keywords FROM messages WHERE mailbox_id = ?1 AND uid = ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, src_mailbox_id);
	sqlite3_bind_int64(stmt, 2, src_uid);
	ret = mail_index_step(index, stmt, "copy");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_EXPUNGED,
				"Some of the requested messages no longer exist.");
		}
		return -1;
	}
	const void *kw = sqlite3_column_blob(stmt, 0);
	size_t kw_size = (size_t)sqlite3_column_bytes(stmt, 0);
	void *kw_copy = kw_size == 0 ? NULL : t_malloc(kw_size);
	if (kw_size > 0)
		memcpy(kw_copy, kw, kw_size);
	sqlite3_reset(stmt);

	ret = mail_index_check_uid_order(t, res, dest_uid);
	if (ret <= 0)
		return ret;
	if ((modseq = mail_index_tx_modseq(t, res->mailbox_id)) == 0)
		return -1;

	/* keywords are numbered per mailbox: map by name */
	array_init(&src_names, pool_datastack, 8);
	if (kw_size > 0) {
		if (mail_index_keywords_load(index, src_mailbox_id,
					     pool_datastack, &src_names) < 0)
			return -1;
		const char *const *kws = mail_index_keywords_from_bitmap(
			pool_datastack, &src_names, kw_copy, kw_size);
		if (mail_index_keywords_to_bitmap(index, res->mailbox_id, kws,
						  true, bitmap) < 0)
			return -1;
	}

	stmt = mail_index_stmt(index,
		"INSERT INTO messages (mailbox_id, uid, flags, keywords, modseq, "
		MESSAGE_DETAIL_COLUMNS ") SELECT ?3, ?4, flags, ?5, ?6, "
		"internal_date, internal_tz, sent_date, sent_tz, ?7, "
		"physical_size, rfc822_size, guid, ?8 "
		"FROM messages WHERE mailbox_id = ?1 AND uid = ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, src_mailbox_id);
	sqlite3_bind_int64(stmt, 2, src_uid);
	sqlite3_bind_int64(stmt, 3, res->mailbox_id);
	sqlite3_bind_int64(stmt, 4, dest_uid);
	bind_blob_or_null(stmt, 5, bitmap->data, bitmap->used);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)modseq);
	/* RFC 8514: the save date of a copy is when it was copied */
	sqlite3_bind_int64(stmt, 7, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(stmt, 8, dest_blob_key, -1, SQLITE_STATIC);
	if (mail_index_step(index, stmt, "copy") < 0)
		return -1;

	stmt = mail_index_stmt(index,
		"INSERT INTO message_cache (mailbox_id, uid, envelope, "
		"bodystructure, body, headers, parts) "
		"SELECT ?3, ?4, envelope, bodystructure, body, headers, parts "
		"FROM message_cache WHERE mailbox_id = ?1 AND uid = ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, src_mailbox_id);
	sqlite3_bind_int64(stmt, 2, src_uid);
	sqlite3_bind_int64(stmt, 3, res->mailbox_id);
	sqlite3_bind_int64(stmt, 4, dest_uid);
	if (mail_index_step(index, stmt, "copy cache") < 0)
		return -1;
	stmt = mail_index_stmt(index,
		"INSERT INTO message_search (mailbox_id, uid, version, "
		"hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc) "
		"SELECT ?3, ?4, version, hdr_subject, hdr_from, hdr_to, "
		"hdr_cc, hdr_bcc FROM message_search "
		"WHERE mailbox_id = ?1 AND uid = ?2");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, src_mailbox_id);
	sqlite3_bind_int64(stmt, 2, src_uid);
	sqlite3_bind_int64(stmt, 3, res->mailbox_id);
	sqlite3_bind_int64(stmt, 4, dest_uid);
	if (mail_index_step(index, stmt, "copy search fields") < 0)
		return -1;

	if (mail_index_bump_uidnext(index, res->mailbox_id, dest_uid) < 0)
		return -1;
	seq_range_array_add(&mail_index_tx_mailbox(t, res->mailbox_id)->appends,
			    dest_uid);
	return 1;
}

int mail_index_expunge(struct mail_index_transaction *t, uint32_t mailbox_id,
		       const ARRAY_TYPE(seq_range) *uids, bool only_deleted,
		       ARRAY_TYPE(seq_range) *expunged_r)
{
	struct mail_index *index = t->index;
	ARRAY_TYPE(seq_range) expunged;
	ARRAY_TYPE(mail_string) keys;
	const struct seq_range *r;
	int ret;

	array_init(&expunged, pool_datastack, 8);
	array_init(&keys, pool_datastack, 16);
	array_foreach(uids, r) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"DELETE FROM messages WHERE mailbox_id = ?1 AND "
			"uid BETWEEN ?2 AND ?3 AND (flags & ?4) = ?4 "
			"RETURNING uid, blob_key");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, r->seq1);
		sqlite3_bind_int64(stmt, 3, r->seq2);
		sqlite3_bind_int(stmt, 4, only_deleted ? MAIL_DELETED : 0);
		while ((ret = mail_index_step(index, stmt, "expunge")) > 0) {
			seq_range_array_add(&expunged,
				(uint32_t)sqlite3_column_int64(stmt, 0));
			const char *key = mail_index_column_str(pool_datastack,
								stmt, 1);
			array_push(&keys, key);
		}
		if (ret < 0)
			return -1;
	}
	if (array_count(&keys) > 0) {
		if (mail_index_tx_modseq(t, mailbox_id) == 0)
			return -1;
		const char *const *keyp;
		array_foreach(&keys, keyp) {
			sqlite3_stmt *stmt = mail_index_stmt(index,
				"INSERT OR IGNORE INTO blob_deletions (blob_key, queued) "
				"VALUES (?1, ?2)");
			if (stmt == NULL)
				return -1;
			sqlite3_bind_text(stmt, 1, *keyp, -1, SQLITE_STATIC);
			sqlite3_bind_int64(stmt, 2, (sqlite3_int64)time(NULL));
			if (mail_index_step(index, stmt, "queue blob deletion") < 0)
				return -1;
		}
		seq_range_array_merge(&mail_index_tx_mailbox(t, mailbox_id)->expunges,
				      &expunged);
	}
	if (expunged_r != NULL)
		seq_range_array_merge(expunged_r, &expunged);
	return 0;
}

struct flag_row {
	uint32_t uid;
	enum mail_flags flags;
	uint64_t modseq;
	buffer_t *keywords;
};

static void bitmap_apply(buffer_t *dest, const buffer_t *change,
			 enum mail_index_modify_type type)
{
	size_t i;

	switch (type) {
	case MAIL_INDEX_MODIFY_REPLACE:
		buffer_reset(dest);
		buffer_append(dest, change->data, change->used);
		break;
	case MAIL_INDEX_MODIFY_ADD:
		if (dest->used < change->used) {
			size_t grow = change->used - dest->used;
			memset(buffer_append_space(dest, grow), 0, grow);
		}
		for (i = 0; i < change->used; i++) {
			((unsigned char *)dest->data)[i] |=
				((const unsigned char *)change->data)[i];
		}
		break;
	case MAIL_INDEX_MODIFY_REMOVE:
		for (i = 0; i < change->used && i < dest->used; i++) {
			((unsigned char *)dest->data)[i] &=
				(unsigned char)~((const unsigned char *)change->data)[i];
		}
		break;
	}
	mail_index_bitmap_trim(dest);
}

/* The result for a message the update applied to: its flags now and its
   modseq before. */
static struct mail_index_flag_result *
flag_result_add(ARRAY_TYPE(mail_index_flag_result) *results,
		const struct flag_row *row, enum mail_flags new_flags)
{
	struct mail_index_flag_result *res = array_append_space(results);

	res->uid = row->uid;
	res->flags = new_flags;
	res->old_modseq = row->modseq;
	return res;
}

int mail_index_update_flags(struct mail_index_transaction *t,
			    uint32_t mailbox_id,
			    const ARRAY_TYPE(seq_range) *uids,
			    const struct mail_index_flag_update *update,
			    ARRAY_TYPE(seq_range) *modified_r,
			    ARRAY_TYPE(seq_range) *changed_r)
{
	return mail_index_update_flags_results(t, mailbox_id, uids, update,
					       modified_r, changed_r, NULL);
}

int mail_index_update_flags_results(struct mail_index_transaction *t,
				    uint32_t mailbox_id,
				    const ARRAY_TYPE(seq_range) *uids,
				    const struct mail_index_flag_update *update,
				    ARRAY_TYPE(seq_range) *modified_r,
				    ARRAY_TYPE(seq_range) *changed_r,
				    ARRAY_TYPE(mail_index_flag_result) *results_r)
{
	struct mail_index *index = t->index;
	ARRAY(struct flag_row) rows;
	const struct seq_range *r;
	buffer_t *change_bits = t_str_new(16);
	/* removing keywords never defines them; adding or replacing does */
	bool create = update->type != MAIL_INDEX_MODIFY_REMOVE;
	int ret;

	if (mail_index_keywords_to_bitmap(index, mailbox_id, update->keywords,
					  create, change_bits) < 0)
		return -1;

	array_init(&rows, pool_datastack, 64);
	array_foreach(uids, r) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"SELECT " MESSAGE_FLAG_COLUMNS " FROM messages "
			"WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, r->seq1);
		sqlite3_bind_int64(stmt, 3, r->seq2);
		while ((ret = mail_index_step(index, stmt, "flags")) > 0) {
			struct flag_row *row = array_append_space(&rows);
			row->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
			row->flags = (enum mail_flags)sqlite3_column_int(stmt, 1);
			row->keywords = t_str_new(16);
			buffer_append(row->keywords, sqlite3_column_blob(stmt, 2),
				      (size_t)sqlite3_column_bytes(stmt, 2));
			row->modseq = (uint64_t)sqlite3_column_int64(stmt, 3);
		}
		if (ret < 0)
			return -1;
	}

	buffer_t *new_bits = t_str_new(16);
	struct flag_row *row;
	array_foreach(&rows, row) {
		enum mail_flags new_flags;

		if (update->unchangedsince_set &&
		    row->modseq > update->unchangedsince) {
			if (modified_r != NULL)
				seq_range_array_add(modified_r, row->uid);
			continue;
		}
		switch (update->type) {
		case MAIL_INDEX_MODIFY_ADD:
			new_flags = row->flags | update->flags;
			break;
		case MAIL_INDEX_MODIFY_REMOVE:
			new_flags = row->flags & ~update->flags;
			break;
		case MAIL_INDEX_MODIFY_REPLACE:
		default:
			new_flags = update->flags;
			break;
		}
		new_flags &= MAIL_FLAGS_MASK;
		buffer_reset(new_bits);
		buffer_append(new_bits, row->keywords->data, row->keywords->used);
		if (update->keywords != NULL ||
		    update->type == MAIL_INDEX_MODIFY_REPLACE)
			bitmap_apply(new_bits, change_bits, update->type);
		if (new_flags == row->flags &&
		    new_bits->used == row->keywords->used &&
		    memcmp(new_bits->data, row->keywords->data,
			   new_bits->used) == 0) {
			/* nothing changes: the modseq stays (RFC 7162 3.1) */
			if (results_r != NULL)
				(void)flag_result_add(results_r, row, new_flags);
			continue;
		}
		uint64_t modseq = mail_index_tx_modseq(t, mailbox_id);
		if (modseq == 0)
			return -1;
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "
			"WHERE mailbox_id = ?1 AND uid = ?2");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, row->uid);
		sqlite3_bind_int(stmt, 3, (int)new_flags);
		bind_blob_or_null(stmt, 4, new_bits->data, new_bits->used);
		sqlite3_bind_int64(stmt, 5, (sqlite3_int64)modseq);
		if (mail_index_step(index, stmt, "update flags") < 0)
			return -1;
		if (changed_r != NULL)
			seq_range_array_add(changed_r, row->uid);
		if (results_r != NULL) {
			struct mail_index_flag_result *res =
				flag_result_add(results_r, row, new_flags);
			res->changed = true;
			res->keywords_changed =
				new_bits->used != row->keywords->used ||
				memcmp(new_bits->data, row->keywords->data,
				       new_bits->used) != 0;
		}
	}
	return 0;
}

int mail_index_cache_update(struct mail_index *index, uint32_t mailbox_id,
			    uint32_t uid,
			    const struct mail_index_cache_update *update)
{
	/* an upsert that keeps the columns the update leaves NULL; the row
	   must still exist (the FOREIGN KEY fails otherwise: the message was
	   expunged meanwhile, which is not an error) */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO message_cache (mailbox_id, uid, envelope, "
		"bodystructure, body, headers, parts) "
		"SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS "
		"(SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2) "
		"ON CONFLICT (mailbox_id, uid) DO UPDATE SET "
		"envelope = coalesce(excluded.envelope, envelope), "
		"bodystructure = coalesce(excluded.bodystructure, bodystructure), "
		"body = coalesce(excluded.body, body), "
		"headers = coalesce(excluded.headers, headers), "
		"parts = coalesce(excluded.parts, parts)");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid);
	bind_text_or_null(stmt, 3, update->envelope);
	bind_text_or_null(stmt, 4, update->bodystructure);
	bind_text_or_null(stmt, 5, update->body);
	bind_blob_or_null(stmt, 6, update->headers, update->headers_size);
	bind_blob_or_null(stmt, 7, update->parts, update->parts_size);
	return mail_index_step(index, stmt, "cache update") < 0 ? -1 : 0;
}

int mail_index_search_fields_store(struct mail_index *index,
				   uint32_t mailbox_id,
				   const struct mail_index_search_fields_rec *recs,
				   unsigned int count)
{
	unsigned int i;
	int ret;

	if (count == 0 || index->t != NULL || index->read_depth > 0)
		return 0;
	if (index->suspended && mail_index_resume(index) < 0)
		return -1;
	/* never wait for another writer: this runs in a reader's command,
	   in the ioloop of a process that serves many sessions */
	mail_index_set_busy_timeout(index, 0);
	ret = sqlite3_exec(index->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	mail_index_set_busy_timeout(index, index->busy_timeout_msecs);
	if ((ret & 0xff) == SQLITE_BUSY)
		return 0;
	if (ret != SQLITE_OK) {
		return mail_index_set_sqlite_error(index, ret,
			"search fields: BEGIN IMMEDIATE");
	}
	for (i = 0; i < count; i++) {
		if (search_fields_insert(index, mailbox_id, recs[i].uid,
					 &recs[i].fields, true) < 0)
			break;
	}
	if (i < count) {
		(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	if (mail_index_exec(index, "COMMIT") < 0) {
		(void)sqlite3_exec(index->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return (int)count;
}

/* --- reading --- */

static void record_read_flags(sqlite3_stmt *stmt, pool_t pool,
			      const ARRAY_TYPE(mail_string) *kw_names,
			      struct mail_index_record *rec)
{
	rec->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
	rec->flags = (enum mail_flags)sqlite3_column_int(stmt, 1);
	int kw_size = sqlite3_column_bytes(stmt, 2);
	if (kw_size > 0) {
		rec->keywords = mail_index_keywords_from_bitmap(pool, kw_names,
			sqlite3_column_blob(stmt, 2), (size_t)kw_size);
	}
	rec->modseq = (uint64_t)sqlite3_column_int64(stmt, 3);
}

static const unsigned char *
column_blob_dup(pool_t pool, sqlite3_stmt *stmt, int col, size_t *size_r)
{
	int size = sqlite3_column_bytes(stmt, col);

	*size_r = (size_t)size;
	if (size <= 0)
		return NULL;
	return p_memdup(pool, sqlite3_column_blob(stmt, col), (size_t)size);
}

static const char *column_str_or_null(pool_t pool, sqlite3_stmt *stmt,
				      int col)
{
	if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
		return NULL;
	return mail_index_column_str(pool, stmt, col);
}

static int mail_index_fetch_range(struct mail_index *index,
				  uint32_t mailbox_id, uint32_t uid1,
				  uint32_t uid2,
				  enum mail_index_fetch_fields fields,
				  pool_t pool,
				  const ARRAY_TYPE(mail_string) *kw_names,
				  ARRAY_TYPE(mail_index_record) *records)
{
	sqlite3_stmt *stmt;
	int ret;

	if ((fields & MAIL_INDEX_FETCH_CACHE) != 0) {
		stmt = mail_index_stmt(index,
			"SELECT m." MESSAGE_FLAG_COLUMNS ", " MESSAGE_DETAIL_COLUMNS ", "
			"c.envelope, c.bodystructure, c.body, c.headers, c.parts "
			"FROM messages m LEFT JOIN message_cache c "
			"ON c.mailbox_id = m.mailbox_id AND c.uid = m.uid "
			"WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 "
			"ORDER BY m.uid");
	} else if ((fields & MAIL_INDEX_FETCH_CACHE_HEADERS) != 0) {
		stmt = mail_index_stmt(index,
			"SELECT m." MESSAGE_FLAG_COLUMNS ", " MESSAGE_DETAIL_COLUMNS ", "
			"c.headers FROM messages m LEFT JOIN message_cache c "
			"ON c.mailbox_id = m.mailbox_id AND c.uid = m.uid "
			"WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 "
			"ORDER BY m.uid");
	} else if ((fields & MAIL_INDEX_FETCH_DETAILS) != 0) {
		stmt = mail_index_stmt(index,
			"SELECT " MESSAGE_FLAG_COLUMNS ", " MESSAGE_DETAIL_COLUMNS
			" FROM messages WHERE mailbox_id = ?1 AND "
			"uid BETWEEN ?2 AND ?3 ORDER BY uid");
	} else {
		stmt = mail_index_stmt(index,
			"SELECT " MESSAGE_FLAG_COLUMNS " FROM messages "
			"WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid");
	}
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, uid1);
	sqlite3_bind_int64(stmt, 3, uid2);
	while ((ret = mail_index_step(index, stmt, "fetch")) > 0) {
		struct mail_index_record *rec = array_append_space(records);
		record_read_flags(stmt, pool, kw_names, rec);
		if ((fields & (MAIL_INDEX_FETCH_DETAILS |
			       MAIL_INDEX_FETCH_CACHE |
			       MAIL_INDEX_FETCH_CACHE_HEADERS)) == 0)
			continue;
		rec->internal_date = (time_t)sqlite3_column_int64(stmt, 4);
		rec->internal_tz = sqlite3_column_int(stmt, 5);
		rec->sent_date = (time_t)sqlite3_column_int64(stmt, 6);
		rec->sent_tz = sqlite3_column_int(stmt, 7);
		rec->save_date = (time_t)sqlite3_column_int64(stmt, 8);
		rec->physical_size = (uint64_t)sqlite3_column_int64(stmt, 9);
		rec->rfc822_size = (uint64_t)sqlite3_column_int64(stmt, 10);
		rec->guid = mail_index_column_str(pool, stmt, 11);
		rec->blob_key = mail_index_column_str(pool, stmt, 12);
		if ((fields & MAIL_INDEX_FETCH_CACHE) == 0) {
			if ((fields & MAIL_INDEX_FETCH_CACHE_HEADERS) != 0) {
				rec->headers = column_blob_dup(pool, stmt, 13,
							&rec->headers_size);
			}
			continue;
		}
		rec->envelope = column_str_or_null(pool, stmt, 13);
		rec->bodystructure = column_str_or_null(pool, stmt, 14);
		rec->body = column_str_or_null(pool, stmt, 15);
		rec->headers = column_blob_dup(pool, stmt, 16, &rec->headers_size);
		rec->parts = column_blob_dup(pool, stmt, 17, &rec->parts_size);
	}
	return ret;
}

int mail_index_fetch(struct mail_index *index, uint32_t mailbox_id,
		     const ARRAY_TYPE(seq_range) *uids,
		     enum mail_index_fetch_fields fields, pool_t pool,
		     ARRAY_TYPE(mail_index_record) *records)
{
	ARRAY_TYPE(mail_string) kw_names;
	int ret = 0;

	array_init(&kw_names, pool, 8);
	if (mail_index_read_begin(index) < 0)
		return -1;
	if (mail_index_keywords_load(index, mailbox_id, pool, &kw_names) < 0) {
		mail_index_read_end(index);
		return -1;
	}
	if (uids == NULL) {
		ret = mail_index_fetch_range(index, mailbox_id, 1, UINT32_MAX,
					     fields, pool, &kw_names, records);
	} else {
		const struct seq_range *r;
		array_foreach(uids, r) {
			ret = mail_index_fetch_range(index, mailbox_id,
						     r->seq1, r->seq2, fields,
						     pool, &kw_names, records);
			if (ret < 0)
				break;
		}
	}
	mail_index_read_end(index);
	return ret < 0 ? -1 : 0;
}

int mail_index_get_uids(struct mail_index *index, uint32_t mailbox_id,
			ARRAY_TYPE(mail_uid) *uids)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	while ((ret = mail_index_step(index, stmt, "uids")) > 0) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		array_push(uids, uid);
	}
	return ret < 0 ? -1 : 0;
}

/* --- changes --- */

int mail_index_get_last_change_id(struct mail_index *index, uint64_t *id_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT coalesce(max(id), 0) FROM changes");
	int ret;

	if (stmt == NULL)
		return -1;
	ret = mail_index_step(index, stmt, "last change");
	if (ret <= 0)
		return -1;
	*id_r = (uint64_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

int mail_index_get_changes(struct mail_index *index, uint64_t after_id,
			   unsigned int limit,
			   ARRAY_TYPE(mail_index_change) *changes)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT id, mailbox_id, modseq, type, uid1, uid2 FROM changes "
		"WHERE id > ?1 ORDER BY id LIMIT ?2");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)after_id);
	sqlite3_bind_int64(stmt, 2, limit == 0 ? -1 : (sqlite3_int64)limit);
	while ((ret = mail_index_step(index, stmt, "changes")) > 0) {
		struct mail_index_change *c = array_append_space(changes);
		c->id = (uint64_t)sqlite3_column_int64(stmt, 0);
		c->mailbox_id = (uint32_t)sqlite3_column_int64(stmt, 1);
		c->modseq = (uint64_t)sqlite3_column_int64(stmt, 2);
		c->type = (enum mail_index_change_type)sqlite3_column_int(stmt, 3);
		c->uid1 = (uint32_t)sqlite3_column_int64(stmt, 4);
		c->uid2 = (uint32_t)sqlite3_column_int64(stmt, 5);
	}
	return ret < 0 ? -1 : 0;
}

/* The UIDs in 1..uidnext-1 that are not in the mailbox, as ranges. */
static int mail_index_missing_uids(struct mail_index *index,
				   uint32_t mailbox_id, uint32_t uidnext,
				   ARRAY_TYPE(seq_range) *missing)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid");
	uint32_t next = 1;
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	while ((ret = mail_index_step(index, stmt, "missing UIDs")) > 0) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(stmt, 0);
		if (uid > next)
			seq_range_array_add_range(missing, next, uid - 1);
		next = uid + 1;
	}
	if (ret < 0)
		return -1;
	if (uidnext > next)
		seq_range_array_add_range(missing, next, uidnext - 1);
	return 0;
}

static int record_uid_cmp(const void *p1, const void *p2)
{
	const struct mail_index_record *r1 = p1, *r2 = p2;

	return r1->uid < r2->uid ? -1 : (r1->uid > r2->uid ? 1 : 0);
}

int mail_index_mailbox_get_changes(struct mail_index *index,
				   uint32_t mailbox_id, uint64_t since_modseq,
				   pool_t pool,
				   struct mail_index_mailbox_changes *changes_r)
{
	ARRAY_TYPE(mail_string) kw_names;
	sqlite3_stmt *stmt;
	int ret;

	memset(changes_r, 0, sizeof(*changes_r));
	array_init(&changes_r->records, pool, 16);
	array_init(&changes_r->expunged, pool, 4);
	array_init(&kw_names, pool, 8);

	if (mail_index_read_begin(index) < 0)
		return -1;
	stmt = mail_index_stmt(index,
		"SELECT uidvalidity, uidnext, highestmodseq, changes_pruned_modseq "
		"FROM mailboxes WHERE id = ?1 AND noselect = 0");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	ret = mail_index_step(index, stmt, "mailbox changes");
	if (ret < 0)
		goto failed;
	if (ret == 0) {
		mail_index_read_end(index);
		mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				     "Mailbox doesn't exist.");
		return 0;
	}
	changes_r->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 0);
	changes_r->uidnext = (uint32_t)sqlite3_column_int64(stmt, 1);
	changes_r->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 2);
	uint64_t pruned_modseq = (uint64_t)sqlite3_column_int64(stmt, 3);
	sqlite3_reset(stmt);

	if (changes_r->highestmodseq > since_modseq &&
	    since_modseq < pruned_modseq) {
		/* expunges between since_modseq and pruned_modseq are no
		   longer in the log: every UID below UIDNEXT that is not
		   in the mailbox (RFC 7162 3.2.6: "as if it was requested
		   to report all expunged messages") */
		changes_r->expunged_all_missing = true;
		if (mail_index_missing_uids(index, mailbox_id,
					    changes_r->uidnext,
					    &changes_r->expunged) < 0)
			goto failed;
	}
	if (changes_r->highestmodseq > since_modseq) {
		if (mail_index_keywords_load(index, mailbox_id, pool,
					     &kw_names) < 0)
			goto failed;
		/* no ORDER BY: SQLite would walk the UID index over every
		   row rather than the modseq index over the changed ones */
		stmt = mail_index_stmt(index,
			"SELECT " MESSAGE_FLAG_COLUMNS " FROM messages "
			"WHERE mailbox_id = ?1 AND modseq > ?2");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
		while ((ret = mail_index_step(index, stmt, "mailbox changes")) > 0) {
			struct mail_index_record *rec =
				array_append_space(&changes_r->records);
			record_read_flags(stmt, pool, &kw_names, rec);
		}
		if (ret < 0)
			goto failed;
		if (array_count(&changes_r->records) > 1) {
			qsort(changes_r->records.v, array_count(&changes_r->records),
			      sizeof(changes_r->records.v[0]), record_uid_cmp);
		}

		if (changes_r->expunged_all_missing)
			goto done;
		stmt = mail_index_stmt(index,
			"SELECT uid1, uid2 FROM changes WHERE mailbox_id = ?1 "
			"AND modseq > ?2 AND type = 3");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
		while ((ret = mail_index_step(index, stmt, "mailbox changes")) > 0) {
			seq_range_array_add_range(&changes_r->expunged,
				(uint32_t)sqlite3_column_int64(stmt, 0),
				(uint32_t)sqlite3_column_int64(stmt, 1));
		}
		if (ret < 0)
			goto failed;
	} else {
		index->read_nothing_new = true;
	}
done:
	mail_index_read_end(index);
	return 1;
failed:
	mail_index_read_end(index);
	return -1;
}

int mail_index_message_guid_uid(struct mail_index *index,
				uint32_t mailbox_id, const char *guid,
				uint32_t *uid_r)
{
	/* no index on guid: a scan of one mailbox's rows, for recovery
	   (the LMTP journal's replay), not for a hot path */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uid FROM messages WHERE mailbox_id = ?1 AND guid = ?2 "
		"ORDER BY uid LIMIT 1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_text(stmt, 2, guid, -1, SQLITE_STATIC);
	int ret = mail_index_step(index, stmt, "guid lookup");
	if (ret > 0)
		*uid_r = (uint32_t)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return ret;
}

int mail_index_message_guid_exists(struct mail_index *index,
				   uint32_t mailbox_id, const char *guid)
{
	uint32_t uid;

	return mail_index_message_guid_uid(index, mailbox_id, guid, &uid);
}
