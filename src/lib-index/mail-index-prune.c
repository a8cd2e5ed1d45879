/* Change-log pruning: delete the oldest change-log entries on an age
   and count policy, in bounded batches, remembering per mailbox the
   highest modseq of a pruned expunge so that VANISHED for an older modseq
   falls back to "every missing UID" (mail_index_mailbox_get_changes()).
   Called from a timer (lib-storage), never from a session's command. */
#include "lib.h"
#include "event.h"
#include "mail-index-private.h"
#include <time.h>

#define MAIL_INDEX_PRUNE_DEFAULT_BATCH 5000

static int user_state_get(struct mail_index *index, const char *key,
			  int64_t *value_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT value FROM user_state WHERE key = ?1");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	ret = mail_index_step(index, stmt, "user state");
	if (ret < 0)
		return -1;
	*value_r = ret == 0 ? 0 : sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

static int user_state_set(struct mail_index *index, const char *key,
			  int64_t value)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"INSERT INTO user_state (key, value) VALUES (?1, ?2) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value");

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, value);
	return mail_index_step(index, stmt, "user state") < 0 ? -1 : 0;
}

/* One integer from a query with one bound int64 (0 bound if unused).
   Returns 1 with *value_r, 0 for no row (or NULL), -1 on error. */
static int query_int(struct mail_index *index, const char *sql,
		     int64_t arg, int64_t *value_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(index, sql);
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, arg);
	ret = mail_index_step(index, stmt, "prune");
	if (ret <= 0)
		return ret;
	ret = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? 0 : 1;
	*value_r = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return ret;
}

/* The highest id to prune under the policy, 0 for none. */
static int prune_cutoff(struct mail_index *index,
			const struct mail_index_prune_settings *set,
			int64_t *cutoff_r)
{
	int64_t cutoff = 0, id;
	int ret;

	if (set->max_age_secs > 0) {
		int64_t young = (int64_t)time(NULL) - set->max_age_secs;
		/* everything before the first young entry: entries'
		   times are not strictly ordered (several processes), so
		   an old one after a young one waits for the next round */
		ret = query_int(index,
			"SELECT id FROM changes WHERE time >= ?1 ORDER BY id LIMIT 1",
			young, &id);
		if (ret < 0)
			return -1;
		if (ret > 0)
			cutoff = id - 1;
		else if (query_int(index, "SELECT max(id) FROM changes",
				   0, &id) < 0)
			return -1;
		else
			cutoff = id;
	}
	if (set->max_changes > 0) {
		ret = query_int(index,
			"SELECT id FROM changes ORDER BY id DESC LIMIT 1 OFFSET ?1",
			set->max_changes, &id);
		if (ret < 0)
			return -1;
		if (ret > 0 && id > cutoff)
			cutoff = id;
	}
	if (cutoff > 0) {
		unsigned int batch = set->batch != 0 ? set->batch :
			MAIL_INDEX_PRUNE_DEFAULT_BATCH;
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"SELECT id FROM changes WHERE id <= ?1 "
			"ORDER BY id LIMIT 1 OFFSET ?2");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, cutoff);
		sqlite3_bind_int64(stmt, 2, batch - 1);
		ret = mail_index_step(index, stmt, "prune");
		if (ret < 0)
			return -1;
		if (ret > 0) {
			cutoff = sqlite3_column_int64(stmt, 0);
			sqlite3_reset(stmt);
		}
	}
	*cutoff_r = cutoff;
	return 0;
}

int mail_index_changes_prune(struct mail_index *index,
			     const struct mail_index_prune_settings *set,
			     unsigned int *pruned_r)
{
	struct mail_index_transaction *t;
	int64_t last, cutoff;
	time_t now = time(NULL);

	*pruned_r = 0;
	if (set->max_age_secs == 0 && set->max_changes == 0)
		return 0;
	if (set->min_interval_secs > 0) {
		if (user_state_get(index, "changes_last_prune", &last) < 0)
			return -1;
		if (last != 0 && now >= last &&
		    now - last < (int64_t)set->min_interval_secs)
			return 0;
	}
	if (mail_index_transaction_begin(index, &t) < 0)
		return -1;
	if (prune_cutoff(index, set, &cutoff) < 0)
		goto rollback;
	if (cutoff > 0) {
		/* an expunge pruned: VANISHED since an older modseq of its
		   mailbox can no longer be answered from the log */
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"UPDATE mailboxes SET changes_pruned_modseq = p.m "
			"FROM (SELECT mailbox_id, max(modseq) AS m FROM changes "
			"WHERE id <= ?1 AND type = 3 GROUP BY mailbox_id) AS p "
			"WHERE mailboxes.id = p.mailbox_id "
			"AND p.m > mailboxes.changes_pruned_modseq");
		if (stmt == NULL)
			goto rollback;
		sqlite3_bind_int64(stmt, 1, cutoff);
		if (mail_index_step(index, stmt, "prune") < 0)
			goto rollback;
		stmt = mail_index_stmt(index, "DELETE FROM changes WHERE id <= ?1");
		if (stmt == NULL)
			goto rollback;
		sqlite3_bind_int64(stmt, 1, cutoff);
		if (mail_index_step(index, stmt, "prune") < 0)
			goto rollback;
		*pruned_r = (unsigned int)sqlite3_changes(index->db);
		int64_t old_id;
		if (user_state_get(index, "changes_pruned_id", &old_id) < 0 ||
		    (cutoff > old_id &&
		     user_state_set(index, "changes_pruned_id", cutoff) < 0))
			goto rollback;
	}
	if (user_state_set(index, "changes_last_prune", now) < 0)
		goto rollback;
	if (mail_index_transaction_commit(&t) < 0)
		return -1;
	if (*pruned_r > 0) {
		e_debug(index->event, "Pruned %u change-log entries (up to id %lld)",
			*pruned_r, (long long)cutoff);
	}
	return 0;
rollback:
	mail_index_transaction_rollback(&t);
	return -1;
}

int mail_index_get_changes_pruned_id(struct mail_index *index, uint64_t *id_r)
{
	int64_t id;

	if (user_state_get(index, "changes_pruned_id", &id) < 0)
		return -1;
	*id_r = id < 0 ? 0 : (uint64_t)id;
	return 0;
}
