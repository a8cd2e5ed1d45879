/* Tests for mailboxes: names, create/delete/rename with children and the
   INBOX rules, UIDVALIDITY of new and recreated mailboxes, LIST patterns,
   subscriptions apart from existence, special-use, STATUS, schema. */
#include "test-lib-index.h"
#include <sqlite3.h>

static const char *list_str(struct mail_index *index, const char *pattern,
			    enum mail_index_list_flags flags)
{
	ARRAY_TYPE(mail_index_list_entry) result;
	const char *patterns[] = { pattern, NULL };
	const struct mail_index_list_entry *e;
	string_t *str = t_str_new(128);

	array_init(&result, pool_datastack, 8);
	if (mail_index_mailbox_list(index, patterns, flags, pool_datastack,
				    &result) < 0)
		return "(error)";
	array_foreach(&result, e) {
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		str_append(str, e->name);
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_NOSELECT) != 0)
			str_append(str, "[ns]");
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_NONEXISTENT) != 0)
			str_append(str, "[nx]");
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_HASCHILDREN) != 0)
			str_append(str, "[c]");
		if ((e->attrs & MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED) != 0)
			str_append(str, "[s]");
	}
	return str_c(str);
}

static enum mail_error last_error(struct mail_index *index)
{
	return mail_index_get_last_error(index, NULL, NULL);
}

static void test_mailbox_names(void)
{
	const char *error;

	test_begin("mailbox name normalization");
	test_assert_strcmp(mail_index_mailbox_name_normalize("inbox", &error), "INBOX");
	test_assert_strcmp(mail_index_mailbox_name_normalize("InBoX/sub", &error), "INBOX/sub");
	test_assert_strcmp(mail_index_mailbox_name_normalize("inboxes", &error), "inboxes");
	test_assert_strcmp(mail_index_mailbox_name_normalize("foo/", &error), "foo");
	test_assert(mail_index_mailbox_name_normalize("", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("a//b", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("/a", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("a/../b", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("a*", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("a%b", &error) == NULL);
	test_assert(mail_index_mailbox_name_normalize("a\tb", &error) == NULL);
	test_assert_strcmp(mail_index_mailbox_name_normalize("Entwürfe", &error), "Entwürfe");
	test_end();
}

static void test_mailbox_match(void)
{
	test_begin("mailbox LIST pattern matching");
	test_assert(mail_index_mailbox_name_match("*", "a/b/c"));
	test_assert(mail_index_mailbox_name_match("%", "a"));
	test_assert(!mail_index_mailbox_name_match("%", "a/b"));
	test_assert(mail_index_mailbox_name_match("a/%", "a/b"));
	test_assert(!mail_index_mailbox_name_match("a/%", "a/b/c"));
	test_assert(mail_index_mailbox_name_match("a/*", "a/b/c"));
	test_assert(mail_index_mailbox_name_match("a*c", "a/b/c"));
	test_assert(!mail_index_mailbox_name_match("a%c", "a/b/c"));
	test_assert(mail_index_mailbox_name_match("a%c", "abc"));
	test_assert(mail_index_mailbox_name_match("inbox", "INBOX"));
	test_assert(mail_index_mailbox_name_match("iNbOx/%", "INBOX/x"));
	test_assert(!mail_index_mailbox_name_match("inbox/X", "INBOX/x"));
	test_assert(!mail_index_mailbox_name_match("inboxes", "INBOXES"));
	test_assert(!mail_index_mailbox_name_match("a", "ab"));
	test_assert(!mail_index_mailbox_name_match("ab", "a"));
	test_assert(mail_index_mailbox_name_match("", "") ||
		    !mail_index_mailbox_name_match("", "a"));
	/* a pattern that would be exponential for naive backtracking */
	test_assert(!mail_index_mailbox_name_match(
		"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	test_end();
}

static void test_mailbox_create_parents(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_mailbox box, box2;

	test_begin("mailbox create, parents, lookup");
	test_assert(mail_index_mailbox_create(index, "INBOX", 0, pool_datastack, &box) == 0);
	test_assert_strcmp(box.name, "INBOX");
	test_assert(box.uidnext == 1);
	test_assert(box.highestmodseq >= 1);
	test_assert(box.uidvalidity > 0);
	test_assert(strlen(box.guid) == 32);
	test_assert(mail_index_mailbox_create(index, "inbox", 0, NULL, NULL) < 0);
	test_assert(last_error(index) == MAIL_ERROR_EXISTS);
	test_assert(mail_index_mailbox_create(index, "a/b/c", 0, NULL, NULL) == 0);
	test_assert(mail_index_mailbox_lookup(index, "a", pool_datastack, &box2) == 1);
	test_assert(!box2.noselect);
	test_assert(mail_index_mailbox_lookup(index, "a/b", pool_datastack, &box2) == 1);
	test_assert(mail_index_mailbox_lookup(index, "a/b/c", pool_datastack, &box2) == 1);
	test_assert(mail_index_mailbox_lookup(index, "a/x", pool_datastack, &box2) == 0);
	test_assert(last_error(index) == MAIL_ERROR_NOTFOUND);
	test_assert(mail_index_mailbox_lookup(index, "InBox", pool_datastack, &box2) == 1);
	test_assert(box2.id == box.id);
	test_assert(mail_index_mailbox_lookup_id(index, box.id, pool_datastack, &box2) == 1);
	test_assert_strcmp(box2.name, "INBOX");
	test_assert(mail_index_mailbox_create(index, "bad//name", 0, NULL, NULL) < 0);
	test_assert(last_error(index) == MAIL_ERROR_PARAMS);
	/* distinct UIDVALIDITY and GUID per mailbox */
	test_assert(mail_index_mailbox_lookup(index, "a/b", pool_datastack, &box2) == 1);
	test_assert(box2.uidvalidity != box.uidvalidity);
	test_assert(strcmp(box2.guid, box.guid) != 0);
	test_assert_strcmp(list_str(index, "*", 0),
			   "INBOX a[c] a/b[c] a/b/c");
	mail_index_close(&index);
	test_assert(index == NULL);
	test_end();
}

static void test_mailbox_delete(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_mailbox box, box2;

	test_begin("mailbox delete, \\Noselect, recreate");
	test_assert(mail_index_mailbox_create(index, "INBOX", 0, NULL, NULL) == 0);
	test_assert(mail_index_mailbox_delete(index, "inbox") < 0);
	test_assert(last_error(index) == MAIL_ERROR_NOTPOSSIBLE);
	test_assert(mail_index_mailbox_delete(index, "nothere") < 0);
	test_assert(last_error(index) == MAIL_ERROR_NOTFOUND);

	uint32_t id = test_mailbox_create(index, "p/c");
	test_assert(mail_index_mailbox_lookup(index, "p", pool_datastack, &box) == 1);
	test_append(index, box.id, 3, 0, NULL);
	test_append(index, id, 2, 0, NULL);
	/* deleting a parent with children leaves it \Noselect */
	test_assert(mail_index_mailbox_delete(index, "p") == 0);
	test_assert(mail_index_mailbox_lookup(index, "p", pool_datastack, &box2) == 1);
	test_assert(box2.noselect);
	test_assert_strcmp(list_str(index, "*", 0), "INBOX p[ns][c] p/c");
	/* its blobs are queued for deletion */
	ARRAY_TYPE(mail_string) keys;
	array_init(&keys, pool_datastack, 8);
	test_assert(mail_index_blob_deletions_get(index, 0, pool_datastack, &keys) == 0);
	test_assert(array_count(&keys) == 3);
	test_assert(mail_index_blob_deletions_done(index, keys.v, keys.count) == 0);
	array_clear(&keys);
	test_assert(mail_index_blob_deletions_get(index, 0, pool_datastack, &keys) == 0);
	test_assert(array_count(&keys) == 0);
	/* a \Noselect name with children cannot be deleted */
	test_assert(mail_index_mailbox_delete(index, "p") < 0);
	test_assert(last_error(index) == MAIL_ERROR_HASCHILDREN);
	/* recreating it makes a new incarnation */
	test_assert(mail_index_mailbox_create(index, "p", 0, pool_datastack, &box2) == 0);
	test_assert(!box2.noselect);
	test_assert(box2.uidvalidity != box.uidvalidity);
	test_assert(strcmp(box2.guid, box.guid) != 0);
	test_assert(box2.uidnext == 1);
	test_assert(mail_index_mailbox_delete(index, "p") == 0);
	/* deleting the last child removes the empty \Noselect parent */
	test_assert(mail_index_mailbox_delete(index, "p/c") == 0);
	test_assert_strcmp(list_str(index, "*", 0), "INBOX");

	/* delete + recreate at once: a different UIDVALIDITY even in the
	   same second */
	test_assert(mail_index_mailbox_create(index, "x", 0, pool_datastack, &box) == 0);
	test_append(index, box.id, 1, 0, NULL);
	test_assert(mail_index_mailbox_delete(index, "x") == 0);
	test_assert(mail_index_mailbox_create(index, "x", 0, pool_datastack, &box2) == 0);
	test_assert(box2.uidvalidity > box.uidvalidity);
	test_assert(box2.uidnext == 1);
	mail_index_close(&index);
	test_end();
}

static void test_mailbox_rename(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_mailbox box, box2;
	struct mail_index_status status;

	test_begin("mailbox rename with children and subscriptions");
	test_mailbox_create(index, "INBOX");
	uint32_t id = test_mailbox_create(index, "foo/bar");
	test_append(index, id, 2, 0, NULL);
	test_assert(mail_index_mailbox_lookup(index, "foo/bar", pool_datastack, &box) == 1);
	test_assert(mail_index_mailbox_subscribe(index, "foo/bar", true) == 0);
	test_assert(mail_index_mailbox_rename(index, "foo", "zap/rag") == 0);
	test_assert_strcmp(list_str(index, "*", 0),
			   "INBOX zap[c] zap/rag[c] zap/rag/bar[s]");
	test_assert(mail_index_mailbox_lookup(index, "zap/rag/bar", pool_datastack, &box2) == 1);
	/* same mailbox: GUID, UIDVALIDITY and messages kept */
	test_assert(box2.id == box.id);
	test_assert_strcmp(box2.guid, box.guid);
	test_assert(box2.uidvalidity == box.uidvalidity);
	test_assert(mail_index_mailbox_status(index, box2.id, &status) == 0);
	test_assert(status.messages == 2);
	test_assert(mail_index_mailbox_rename(index, "nothere", "x") < 0);
	test_assert(last_error(index) == MAIL_ERROR_NOTFOUND);
	test_assert(mail_index_mailbox_rename(index, "zap", "INBOX") < 0);
	test_assert(last_error(index) == MAIL_ERROR_EXISTS);
	test_assert(mail_index_mailbox_rename(index, "zap", "zap/x") < 0);
	test_assert(last_error(index) == MAIL_ERROR_NOTPOSSIBLE);
	test_end();

	test_begin("mailbox rename INBOX");
	test_mailbox_create(index, "INBOX/child");
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack, &box) == 1);
	test_append(index, box.id, 3, MAIL_SEEN, NULL);
	test_assert(mail_index_mailbox_rename(index, "inbox", "old-inbox") == 0);
	test_assert(mail_index_mailbox_lookup(index, "old-inbox", pool_datastack, &box2) == 1);
	test_assert(mail_index_mailbox_status(index, box2.id, &status) == 0);
	test_assert(status.messages == 3);
	test_assert(status.uidvalidity == box.uidvalidity);
	test_assert(status.uidnext == 4);
	/* INBOX is still there, empty, a new mailbox */
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack, &box2) == 1);
	test_assert(mail_index_mailbox_status(index, box2.id, &status) == 0);
	test_assert(status.messages == 0);
	test_assert(status.uidvalidity != box.uidvalidity);
	/* INBOX's children stay where they were */
	test_assert(mail_index_mailbox_lookup(index, "INBOX/child", pool_datastack, &box2) == 1);
	mail_index_close(&index);
	test_end();
}

static void test_mailbox_list(void)
{
	struct mail_index *index = test_index_open(NULL);

	test_begin("mailbox list patterns, subscriptions, special-use");
	test_mailbox_create(index, "INBOX");
	test_mailbox_create(index, "Archive/2024");
	test_mailbox_create(index, "Sent");
	test_assert_strcmp(list_str(index, "%", 0), "INBOX Archive[c] Sent");
	test_assert_strcmp(list_str(index, "Archive/%", 0), "Archive/2024");
	test_assert_strcmp(list_str(index, "*2024", 0), "Archive/2024");
	test_assert_strcmp(list_str(index, "inbox", 0), "INBOX");
	test_assert_strcmp(list_str(index, "nothing", 0), "");

	/* subscriptions are names: a nonexistent one is listed as such */
	test_assert(mail_index_mailbox_subscribe(index, "Sent", true) == 0);
	test_assert(mail_index_mailbox_subscribe(index, "Gone", true) == 0);
	test_assert(mail_index_mailbox_subscribe(index, "Gone", true) == 0);
	test_assert_strcmp(list_str(index, "*", MAIL_INDEX_LIST_SUBSCRIBED),
			   "Gone[nx][s] Sent[s]");
	test_assert_strcmp(list_str(index, "S*", 0), "Sent[s]");
	/* deleting a mailbox keeps its subscription (RFC 9051 6.3.10) */
	test_assert(mail_index_mailbox_delete(index, "Sent") == 0);
	test_assert_strcmp(list_str(index, "*", MAIL_INDEX_LIST_SUBSCRIBED),
			   "Gone[nx][s] Sent[nx][s]");
	test_assert(mail_index_mailbox_subscribe(index, "Gone", false) == 0);
	test_assert_strcmp(list_str(index, "*", MAIL_INDEX_LIST_SUBSCRIBED),
			   "Sent[nx][s]");

	/* special-use */
	struct mail_index_mailbox box;
	test_assert(mail_index_mailbox_create(index, "Trash", MAIL_SPECIAL_USE_TRASH,
					      pool_datastack, &box) == 0);
	test_assert(box.special_use == MAIL_SPECIAL_USE_TRASH);
	test_assert(mail_index_mailbox_set_special_use(index, "Archive",
		MAIL_SPECIAL_USE_ARCHIVE) == 0);
	test_assert_strcmp(list_str(index, "*", MAIL_INDEX_LIST_SPECIAL_USE),
			   "Archive[c] Trash");
	enum mail_special_use use;
	test_assert(mail_special_use_parse("\\sent \\Trash", &use) == 0);
	test_assert(use == (MAIL_SPECIAL_USE_SENT | MAIL_SPECIAL_USE_TRASH));
	test_assert_strcmp(mail_special_use_to_str(use), "\\Sent \\Trash");
	test_assert(mail_special_use_parse("\\Bogus", &use) < 0);
	test_assert_strcmp(mail_flags_to_str(MAIL_SEEN | MAIL_ANSWERED),
			   "\\Answered \\Seen");
	test_assert(mail_flag_parse("\\DELETED") == MAIL_DELETED);
	test_assert(mail_flag_parse("\\Recent") == 0);

	unsigned int count;
	const struct mail_index_namespace *ns =
		mail_index_get_namespaces(index, &count);
	test_assert(count == 1 && ns->separator == '/' && ns->prefix[0] == '\0');
	mail_index_close(&index);
	test_end();
}

static void test_mailbox_status(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_status status;
	static const char *const kw[] = { "$Label1", NULL };

	test_begin("mailbox status counters");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == 0 && status.unseen == 0 &&
		    status.uidnext == 1 && status.size == 0);
	uint64_t modseq0 = status.highestmodseq;
	test_append(index, id, 3, 0, NULL);
	test_append(index, id, 2, MAIL_SEEN | MAIL_DELETED, kw);
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == 5);
	test_assert(status.unseen == 3);
	test_assert(status.deleted == 2);
	test_assert(status.uidnext == 6);
	test_assert(status.size == 110 + 111 + 112 + 110 + 111);
	test_assert(status.highestmodseq == modseq0 + 2);

	struct mail_index_transaction *t;
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:2"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset("1:*"), true, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == 3);
	test_assert(status.unseen == 1);
	test_assert(status.deleted == 0);
	test_assert(status.size == 110 + 111 + 112);
	test_assert(status.highestmodseq == modseq0 + 3);
	test_assert(mail_index_mailbox_status(index, 9999, &status) < 0);
	mail_index_close(&index);
	test_end();
}

static void test_mailbox_recent(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index *index2 = test_index_open_path(path);
	struct mail_index_mailbox box;
	uint32_t first, count;

	test_begin("mailbox \\Recent claims");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_mailbox_lookup_id(index, id, pool_datastack,
						 &box) == 1);
	uint32_t uv = box.uidvalidity;
	/* empty mailbox: nothing to claim */
	test_assert(mail_index_mailbox_claim_recent(index, id, uv, 1, true,
						    &first) == 1);
	test_assert(first == 1);
	test_append(index, id, 3, 0, NULL);
	test_assert(mail_index_mailbox_count_recent(index, id, &count) == 1);
	test_assert(count == 3);
	/* a read-only look takes nothing */
	test_assert(mail_index_mailbox_claim_recent(index2, id, uv, 4, false,
						    &first) == 1);
	test_assert(first == 1);
	/* the first read-write session gets 1:3, the second nothing */
	test_assert(mail_index_mailbox_claim_recent(index, id, uv, 4, true,
						    &first) == 1);
	test_assert(first == 1);
	test_assert(mail_index_mailbox_claim_recent(index2, id, uv, 4, true,
						    &first) == 1);
	test_assert(first == 4);
	test_assert(mail_index_mailbox_count_recent(index2, id, &count) == 1);
	test_assert(count == 0);
	/* two new ones; a session whose view has only the first claims
	   only it */
	test_append(index, id, 2, 0, NULL);
	test_assert(mail_index_mailbox_count_recent(index, id, &count) == 1);
	test_assert(count == 2);
	test_assert(mail_index_mailbox_claim_recent(index2, id, uv, 5, true,
						    &first) == 1);
	test_assert(first == 4);
	test_assert(mail_index_mailbox_claim_recent(index, id, uv, 6, true,
						    &first) == 1);
	test_assert(first == 5);
	test_assert(mail_index_mailbox_count_recent(index, id, &count) == 1);
	test_assert(count == 0);
	/* another UIDVALIDITY or no mailbox: 0 */
	test_assert(mail_index_mailbox_claim_recent(index, id, uv + 1, 6, true,
						    &first) == 0);
	test_assert(mail_index_mailbox_claim_recent(index, 9999, uv, 6, true,
						    &first) == 0);
	test_assert(mail_index_mailbox_count_recent(index, 9999, &count) == 0);

	/* a \\Noselect name made selectable again starts over */
	uint32_t pid = test_mailbox_create(index, "p");
	(void)test_mailbox_create(index, "p/c");
	test_assert(mail_index_mailbox_lookup_id(index, pid, pool_datastack,
						 &box) == 1);
	test_append(index, pid, 2, 0, NULL);
	test_assert(mail_index_mailbox_claim_recent(index, pid,
			box.uidvalidity, 3, true, &first) == 1);
	test_assert(first == 1);
	test_assert(mail_index_mailbox_delete(index, "p") == 0);
	test_assert(mail_index_mailbox_create(index, "p", 0, pool_datastack,
					      &box) == 0);
	test_assert(box.id == pid);
	test_append(index, pid, 1, 0, NULL);
	test_assert(mail_index_mailbox_count_recent(index, pid, &count) == 1);
	test_assert(count == 1);
	test_assert(mail_index_mailbox_claim_recent(index, pid,
			box.uidvalidity, 2, true, &first) == 1);
	test_assert(first == 1);
	mail_index_close(&index2);
	mail_index_close(&index);
	test_end();
}

static void test_schema(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index_settings set = { .path = path };
	const char *error;
	sqlite3 *db;

	test_begin("schema version and migrations");
	test_mailbox_create(index, "INBOX");
	mail_index_close(&index);
	/* reopening keeps the data */
	index = test_index_open_path(path);
	struct mail_index_mailbox box;
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack, &box) == 1);
	mail_index_close(&index);
	/* a database from a newer version is refused */
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 0)",
				 NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	test_assert(mail_index_open(&set, &index, &error) < 0);
	test_assert(strstr(error, "newer") != NULL);
	test_assert(mail_index_get_schema_version() == 7);
	/* a version-1 database (before change-log pruning) is brought
	   forward, keeping its data */
	index = test_index_open(&path);
	(void)test_mailbox_create(index, "INBOX");
	mail_index_close(&index);
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db,
		"ALTER TABLE changes DROP COLUMN time;"
		"ALTER TABLE mailboxes DROP COLUMN changes_pruned_modseq;"
		"ALTER TABLE mailboxes DROP COLUMN recent_uidvalidity;"
		"ALTER TABLE mailboxes DROP COLUMN first_recent_uid;"
		"DROP TRIGGER IF EXISTS quota_messages_insert;"
		"DROP TRIGGER IF EXISTS quota_messages_delete;"
		"DROP TRIGGER IF EXISTS quota_messages_size;"
		"DROP TABLE IF EXISTS quota_usage;"
		"DROP TRIGGER messages_size;"
		"DROP TABLE message_search;"
		"DELETE FROM schema_version WHERE version >= 2",
		NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	index = test_index_open_path(path);
	test_assert(mail_index_mailbox_lookup(index, "INBOX", pool_datastack, &box) == 1);
	unsigned int pruned;
	struct mail_index_prune_settings prune = { .max_changes = 1 };
	test_assert(mail_index_changes_prune(index, &prune, &pruned) == 0);
	mail_index_close(&index);
	/* ... and loses the reservations' index (version 6) */
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master "
		"WHERE name = 'uid_reservations_mailbox'", -1, &stmt,
		NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW &&
		    sqlite3_column_int(stmt, 0) == 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	/* journal mode is WAL */
	index = test_index_open(&path);
	mail_index_close(&index);
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	test_assert_strcmp((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	test_end();
}

static void test_errors(void)
{
	struct mail_index *index = test_index_open(NULL);
	const char *user, *internal;

	test_begin("errors: user text vs internal text");
	test_assert(mail_index_mailbox_lookup_id(index, 42, pool_datastack,
		&(struct mail_index_mailbox){ 0 }) == 0);
	test_assert(mail_index_get_last_error(index, &user, &internal) ==
		    MAIL_ERROR_NOTFOUND);
	test_assert(strstr(user, "doesn't exist") != NULL);
	test_assert_strcmp(mail_error_imap_code(MAIL_ERROR_NOTFOUND), "NONEXISTENT");
	test_assert_strcmp(mail_error_imap_code(MAIL_ERROR_TEMP), "SERVERBUG");

	struct mail_error_state state = { 0 };
	test_expect_log(LOG_TYPE_ERROR, "disk exploded");
	mail_error_set_internal(&state, MAIL_ERROR_TEMP, NULL,
				"write(/secret/path) failed: disk exploded");
	test_assert(mail_error_get(&state, &user, &internal) == MAIL_ERROR_TEMP);
	test_assert(str_begins(user, MAIL_ERRSTR_INTERNAL " [2"));
	test_assert(strstr(user, "secret") == NULL);
	test_assert(strstr(internal, "disk exploded") != NULL);
	mail_error_clear(&state);
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_mailbox_tests[] = {
	test_mailbox_names,
	test_mailbox_match,
	test_mailbox_create_parents,
	test_mailbox_delete,
	test_mailbox_rename,
	test_mailbox_list,
	test_mailbox_status,
	test_mailbox_recent,
	test_schema,
	test_errors,
	NULL
};
