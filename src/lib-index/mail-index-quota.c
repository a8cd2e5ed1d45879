/* Quota usage in the index (see mail-index-quota.h). The triggers that
   keep the quota_usage row are in mail-index-schema.c's migration 4;
   this file reads the row and recounts it. */
#include "lib.h"
#include "mail-index-private.h"
#include "mail-index-quota.h"

static uint64_t quota_column(sqlite3_stmt *stmt, int col)
{
	sqlite3_int64 value = sqlite3_column_int64(stmt, col);

	/* never negative unless someone edited the database by hand:
	   recalc repairs it, meanwhile count it as empty */
	return value < 0 ? 0 : (uint64_t)value;
}

static int quota_read(struct mail_index *index,
		      struct mail_index_quota_usage *usage_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT storage, messages FROM quota_usage WHERE id = 1");
	int ret;

	memset(usage_r, 0, sizeof(*usage_r));
	if (stmt == NULL)
		return -1;
	ret = mail_index_step(index, stmt, "quota usage");
	if (ret < 0)
		return -1;
	if (ret == 0) {
		/* the migration inserts the row; a missing one is a broken
		   index, which recalc puts right */
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"quota_usage row is missing (run columba mail quota recalc)");
	}
	usage_r->storage = quota_column(stmt, 0);
	usage_r->messages = quota_column(stmt, 1);
	sqlite3_reset(stmt);
	return 0;
}

int mail_index_quota_get(struct mail_index *index,
			 struct mail_index_quota_usage *usage_r)
{
	/* one statement is its own snapshot. Not a reporting read: rows
	   committed but not yet synced count at once (a power failure
	   that loses them only leaves the usage lower), and a delivery's
	   check does not wait for another writer's sync. */
	return quota_read(index, usage_r);
}

int mail_index_quota_get_uids(struct mail_index *index, uint32_t mailbox_id,
			      const ARRAY_TYPE(seq_range) *uids,
			      struct mail_index_quota_usage *usage_r)
{
	const struct seq_range *range;
	int ret = 0;

	memset(usage_r, 0, sizeof(*usage_r));
	if (mail_index_read_begin(index) < 0)
		return -1;
	array_foreach(uids, range) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"SELECT coalesce(sum(rfc822_size), 0), count(*) "
			"FROM messages WHERE mailbox_id = ?1 "
			"AND uid BETWEEN ?2 AND ?3");
		if (stmt == NULL) {
			ret = -1;
			break;
		}
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, range->seq1);
		sqlite3_bind_int64(stmt, 3, range->seq2);
		if (mail_index_step(index, stmt, "quota of messages") <= 0) {
			ret = -1;
			break;
		}
		usage_r->storage += quota_column(stmt, 0);
		usage_r->messages += quota_column(stmt, 1);
		sqlite3_reset(stmt);
	}
	/* nothing reported to a client: no need to wait for a sync */
	index->read_nothing_new = true;
	mail_index_read_end(index);
	return ret;
}

int mail_index_quota_get_deleted(struct mail_index *index,
				 uint32_t mailbox_id, uint64_t *bytes_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT coalesce(sum(rfc822_size), 0) FROM messages "
		"WHERE mailbox_id = ?1 AND (flags & 4) != 0");

	*bytes_r = 0;
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	if (mail_index_step(index, stmt, "deleted storage") <= 0)
		return -1;
	*bytes_r = quota_column(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

int mail_index_quota_recalc(struct mail_index *index,
			    struct mail_index_quota_usage *old_r,
			    struct mail_index_quota_usage *new_r)
{
	struct mail_index_transaction *t;
	struct mail_index_quota_usage old, new;
	sqlite3_stmt *stmt;
	int ret;

	memset(&old, 0, sizeof(old));
	memset(new_r, 0, sizeof(*new_r));
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	stmt = mail_index_stmt(index,
		"SELECT storage, messages FROM quota_usage WHERE id = 1");
	if (stmt == NULL)
		goto failed;
	ret = mail_index_step(index, stmt, "quota usage");
	if (ret < 0)
		goto failed;
	if (ret > 0) {
		old.storage = quota_column(stmt, 0);
		old.messages = quota_column(stmt, 1);
		sqlite3_reset(stmt);
	}
	stmt = mail_index_stmt(index,
		"SELECT coalesce(sum(rfc822_size), 0), count(*) FROM messages");
	if (stmt == NULL || mail_index_step(index, stmt, "quota count") <= 0)
		goto failed;
	new.storage = quota_column(stmt, 0);
	new.messages = quota_column(stmt, 1);
	sqlite3_reset(stmt);
	stmt = mail_index_stmt(index,
		"INSERT OR REPLACE INTO quota_usage (id, storage, messages) "
		"VALUES (1, ?1, ?2)");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)new.storage);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)new.messages);
	if (mail_index_step(index, stmt, "quota store") < 0)
		goto failed;
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	if (old_r != NULL)
		*old_r = old;
	*new_r = new;
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}
