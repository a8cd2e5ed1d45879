/* IMAP4rev1 \Recent (RFC 3501 §2.3.2): a message is \Recent to exactly
   one session, the first read-write session to see it after it arrived.
   Each mailbox row keeps first_recent_uid, the lowest UID that no such
   session has claimed yet, and recent_uidvalidity, the UIDVALIDITY it
   belongs to (a \Noselect name made selectable again keeps its row but
   starts its UIDs over: a stale value then counts as 1). As in Dovecot,
   a claim moves first_recent_uid up to the claimer's UIDNEXT, in a write
   transaction so that two sessions never claim the same UID. */
#include "lib.h"
#include "mail-index-private.h"

/* 1 with *first_r (the effective first recent UID) and *uidvalidity_r,
   0 if there is no such mailbox, -1 on error. */
static int recent_read(struct mail_index *index, uint32_t mailbox_id,
		       uint32_t *uidvalidity_r, uint32_t *first_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uidvalidity, CASE WHEN recent_uidvalidity = uidvalidity "
		"THEN first_recent_uid ELSE 1 END FROM mailboxes "
		"WHERE id = ?1 AND noselect = 0");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	ret = mail_index_step(index, stmt, "recent lookup");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
		return ret;
	}
	*uidvalidity_r = (uint32_t)sqlite3_column_int64(stmt, 0);
	sqlite3_int64 first = sqlite3_column_int64(stmt, 1);
	*first_r = first < 1 ? 1 : first > UINT32_MAX ? UINT32_MAX :
		(uint32_t)first;
	sqlite3_reset(stmt);
	return 1;
}

int mail_index_mailbox_claim_recent(struct mail_index *index,
				    uint32_t mailbox_id, uint32_t uidvalidity,
				    uint32_t uidnext, bool claim,
				    uint32_t *first_r)
{
	struct mail_index_transaction *t;
	uint32_t cur_uidvalidity, first;
	int ret;

	*first_r = uidnext;
	/* the common case (nothing new since the last claim) reads only */
	ret = recent_read(index, mailbox_id, &cur_uidvalidity, &first);
	if (ret <= 0 || cur_uidvalidity != uidvalidity)
		return ret < 0 ? -1 : 0;
	if (!claim || first >= uidnext) {
		*first_r = first;
		return 1;
	}

	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	/* read again under the write lock: another session may have
	   claimed meanwhile */
	ret = recent_read(index, mailbox_id, &cur_uidvalidity, &first);
	if (ret <= 0 || cur_uidvalidity != uidvalidity) {
		mail_index_transaction_rollback(&t);
		return ret < 0 ? -1 : 0;
	}
	if (first >= uidnext) {
		mail_index_transaction_rollback(&t);
		*first_r = first;
		return 1;
	}
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"UPDATE mailboxes SET first_recent_uid = ?2, "
		"recent_uidvalidity = uidvalidity WHERE id = ?1");
	if (stmt != NULL) {
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		sqlite3_bind_int64(stmt, 2, uidnext);
	}
	if (stmt == NULL || mail_index_step(index, stmt, "claim recent") < 0) {
		mail_index_transaction_rollback(&t);
		return -1;
	}
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	*first_r = first;
	return 1;
}

int mail_index_mailbox_count_recent(struct mail_index *index,
				    uint32_t mailbox_id, uint32_t *count_r)
{
	uint32_t uidvalidity, first;
	int ret;

	*count_r = 0;
	if (mail_index_read_begin(index) < 0)
		return -1;
	ret = recent_read(index, mailbox_id, &uidvalidity, &first);
	if (ret <= 0) {
		mail_index_read_end(index);
		return ret < 0 ? -1 : 0;
	}
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT count(*) FROM messages WHERE mailbox_id = ?1 "
		"AND uid >= ?2");
	if (stmt == NULL) {
		mail_index_read_end(index);
		return -1;
	}
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, first);
	ret = mail_index_step(index, stmt, "count recent");
	if (ret > 0) {
		*count_r = (uint32_t)sqlite3_column_int64(stmt, 0);
		sqlite3_reset(stmt);
	}
	mail_index_read_end(index);
	return ret < 0 ? -1 : 1;
}
