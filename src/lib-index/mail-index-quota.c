/* Quota usage in the index (see mail-index-quota.h): the sums of the
   mailboxes' counters, which the triggers of mail-index-schema.c keep
   in the same transactions as the message rows; this file reads them
   and counts them again. */
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
		"SELECT coalesce(sum(size), 0), coalesce(sum(messages), 0) "
		"FROM mailboxes");

	memset(usage_r, 0, sizeof(*usage_r));
	if (stmt == NULL || mail_index_step(index, stmt, "quota usage") <= 0)
		return -1;
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
	struct mail_index_quota_usage old;

	memset(new_r, 0, sizeof(*new_r));
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	if (quota_read(index, &old) < 0)
		goto failed;
	/* every counter the triggers keep, from the rows */
	if (mail_index_exec(index,
		"UPDATE mailboxes SET "
		"messages = (SELECT count(*) FROM messages m "
		"  WHERE m.mailbox_id = mailboxes.id), "
		"size = (SELECT coalesce(sum(rfc822_size), 0) FROM messages m "
		"  WHERE m.mailbox_id = mailboxes.id), "
		"unseen = (SELECT count(*) FROM messages m "
		"  WHERE m.mailbox_id = mailboxes.id AND (m.flags & 8) = 0), "
		"deleted = (SELECT count(*) FROM messages m "
		"  WHERE m.mailbox_id = mailboxes.id AND (m.flags & 4) != 0)") < 0)
		goto failed;
	if (quota_read(index, new_r) < 0)
		goto failed;
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	if (old_r != NULL)
		*old_r = old;
	return 0;
failed:
	mail_index_transaction_rollback(&t);
	return -1;
}
