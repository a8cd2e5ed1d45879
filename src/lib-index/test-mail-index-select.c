/* Tests for SELECT's lists (mail-index-select.c): a large mailbox's list
   kept in the process and shared, brought up to date from changes made
   through another connection (as another process would), equal at every
   step to a full read of the rows; dropped for a recreated mailbox, a
   replaced index file or a pruned change log; a copy made while sessions
   hold it; the flag snapshot not used once the expunges after it were
   pruned; the cache's bound. */
#include "test-lib-index.h"
#include "mail-index-private.h"
#include "mail-index-select.h"

#include <unistd.h>

#define BIG MAIL_INDEX_SELECT_SHARE_MIN_MESSAGES

static const char *test_rec_str(const struct mail_index_flags_rec *rec)
{
	string_t *str = t_str_new(64);

	str_printfa(str, "%u:%x:%llu", rec->uid, rec->flags,
		    (unsigned long long)rec->modseq);
	for (const char *const *kw = rec->keywords;
	     kw != NULL && *kw != NULL; kw++)
		str_printfa(str, " %s", *kw);
	return str_c(str);
}

/* The list (and state) select gave equals what the rows say now, read
   by mail_index_mailbox_select() on a new connection without the
   snapshot (a full scan). */
static void test_same_as_rows(const char *path, uint32_t id,
			      const struct mail_index_select *sel)
{
	struct mail_index *other = test_index_open_path(path);
	struct mail_index_select full;

	/* the flag snapshot could share a bug with the cache: without it
	   the rows are read one by one */
	test_assert(sqlite3_exec(other->db, "DELETE FROM flag_snapshots",
				 NULL, NULL, NULL) == SQLITE_OK);
	test_assert(mail_index_mailbox_select(other, id, pool_datastack,
					      &full) == 1);
	test_assert(full.uidvalidity == sel->uidvalidity);
	test_assert(full.uidnext == sel->uidnext);
	test_assert(full.highestmodseq == sel->highestmodseq);
	test_assert(array_count(&full.messages) == array_count(&sel->messages));
	for (unsigned int i = 0; i < array_count(&full.messages) &&
	     i < array_count(&sel->messages); i++) {
		const char *a = test_rec_str(&full.messages.v[i]);
		const char *b = test_rec_str(&sel->messages.v[i]);
		if (strcmp(a, b) != 0) {
			test_fail("record %u: rows %s, select %s", i, a, b);
			break;
		}
	}
	mail_index_close(&other);
}

static struct mail_index_select_view *
test_select(struct mail_index *index, uint32_t id,
	    struct mail_index_select *sel_r)
{
	struct mail_index_select_view *view;

	test_assert(mail_index_mailbox_select_view(index, id, pool_datastack,
						   sel_r, &view) == 1);
	return view;
}

static void test_flags(struct mail_index *index, uint32_t id,
		       const char *uids, enum mail_index_modify_type type,
		       enum mail_flags flags, const char *const *keywords)
{
	struct mail_index_transaction *t;
	struct mail_index_flag_update update = {
		.type = type, .flags = flags, .keywords = keywords,
	};

	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset(uids), &update,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
}

static void test_select_shared_and_updated(void)
{
	struct mail_index_select_cache_stats st0, st;
	struct mail_index_select sel, sel2;
	const char *path;
	static const char *const kw_a[] = { "$Junk", NULL };
	static const char *const kw_b[] = { "work", "$Junk", NULL };

	test_begin("select: shared list, changes by another connection");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(&path);
	/* another process's connection to the same index */
	struct mail_index *writer = test_index_open_path(path);
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(writer, id, BIG + 20, 0, NULL);
	test_flags(writer, id, "1:10", MAIL_INDEX_MODIFY_ADD, MAIL_SEEN, kw_a);
	mail_index_select_cache_get_stats(&st0);

	/* read, then shared as it is */
	struct mail_index_select_view *v1 = test_select(index, id, &sel);
	test_assert(v1 != NULL);
	test_assert(mail_index_select_view_first_unseen(v1) == 10);
	test_same_as_rows(path, id, &sel);
	struct mail_index_select_view *v2 = test_select(index, id, &sel2);
	test_assert(v2 == v1);
	test_assert(sel2.messages.v == sel.messages.v);
	mail_index_select_cache_get_stats(&st);
	test_assert(st.misses == st0.misses + 1 && st.hits == st0.hits + 1);
	test_assert(st.views == 1);
	mail_index_select_view_unref(&v2);

	/* changes while a session holds it: a copy, the held one stays
	   as it was */
	uint32_t new_uid = test_append(writer, id, 3, MAIL_FLAGGED, kw_b);
	test_flags(writer, id, "1:12", MAIL_INDEX_MODIFY_ADD, MAIL_SEEN, NULL);
	test_flags(writer, id, "2", MAIL_INDEX_MODIFY_REPLACE, MAIL_DRAFT,
		   kw_b);
	test_expunge_set(writer, id, "5,7:9,100");
	v2 = test_select(index, id, &sel2);
	test_assert(v2 != v1);
	test_assert(array_count(&sel.messages) == BIG + 20);
	test_assert(array_count(&sel2.messages) == BIG + 20 + 3 - 5);
	test_assert(sel2.uidnext == new_uid + 3);
	test_assert(mail_index_select_view_first_unseen(v2) == 1);
	test_same_as_rows(path, id, &sel2);
	mail_index_select_cache_get_stats(&st);
	test_assert(st.updates == st0.updates + 1);
	mail_index_select_view_unref(&v1);
	mail_index_select_view_unref(&v2);

	/* nobody holds it: brought up to date in place, with a keyword
	   defined since it was read */
	static const char *const kw_c[] = { "later", NULL };
	test_flags(writer, id, "20:30", MAIL_INDEX_MODIFY_ADD, 0, kw_c);
	test_expunge_set(writer, id, "1");
	v1 = test_select(index, id, &sel);
	test_same_as_rows(path, id, &sel);
	test_assert(mail_index_select_view_first_unseen(v1) == 0);
	mail_index_select_cache_get_stats(&st);
	test_assert(st.updates == st0.updates + 2 && st.views == 1);
	mail_index_select_view_unref(&v1);

	/* a plain read gives the same, in the caller's pool */
	test_assert(mail_index_mailbox_select(index, id, pool_datastack,
					      &sel) == 1);
	test_same_as_rows(path, id, &sel);

	mail_index_close(&writer);
	mail_index_close(&index);
	mail_index_select_cache_clear();
	mail_index_select_cache_get_stats(&st);
	test_assert(st.views == 0 && st.bytes == 0);
	test_end();
}

static void test_select_by_name(void)
{
	struct mail_index_select_mailbox res;
	struct mail_index_select_cache_stats st0, st;
	const char *path;

	test_begin("select: by name, one read when nothing changed");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(&path);
	uint32_t id = test_mailbox_create(index, "INBOX");
	uint32_t small = test_mailbox_create(index, "small");
	(void)test_append(index, id, BIG, 0, NULL);
	(void)test_append(index, small, 5, MAIL_SEEN, NULL);
	mail_index_select_cache_get_stats(&st0);

	test_assert(mail_index_mailbox_select_name(index, "inbox",
		pool_datastack, &res) == 1);
	test_assert(res.box.id == id && strcmp(res.box.name, "INBOX") == 0);
	test_assert(res.view != NULL && res.first_recent_uid == 1);
	test_assert(array_count(&res.select.messages) == BIG);
	test_same_as_rows(path, id, &res.select);
	mail_index_select_view_unref(&res.view);
	test_assert(mail_index_mailbox_claim_recent(index, id,
		res.box.uidvalidity, res.box.uidnext, true, &(uint32_t){0}) == 1);

	/* from the cache, without a snapshot of its own */
	test_assert(mail_index_mailbox_select_name(index, "INBOX",
		pool_datastack, &res) == 1);
	test_assert(res.view != NULL && res.first_recent_uid == BIG + 1);
	test_assert(index->read_depth == 0);
	mail_index_select_cache_get_stats(&st);
	test_assert(st.misses == st0.misses + 1 && st.hits == st0.hits + 1);
	test_same_as_rows(path, id, &res.select);
	mail_index_select_view_unref(&res.view);

	/* a small mailbox is the caller's own */
	test_assert(mail_index_mailbox_select_name(index, "small",
		pool_datastack, &res) == 1);
	test_assert(res.view == NULL && array_count(&res.select.messages) == 5);
	test_assert(res.select.messages.pool == pool_datastack);

	test_assert(mail_index_mailbox_select_name(index, "nothere",
		pool_datastack, &res) == 0);
	test_assert(mail_index_mailbox_select_name(index, "a//b",
		pool_datastack, &res) == 0);
	mail_index_close(&index);
	mail_index_select_cache_clear();
	test_end();
}

static void test_select_recreated(void)
{
	struct mail_index_select sel;
	struct mail_index_select_mailbox res;
	const char *path;

	test_begin("select: a mailbox deleted and recreated is read afresh");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(&path);
	struct mail_index *writer = test_index_open_path(path);
	(void)test_mailbox_create(index, "INBOX");
	uint32_t id = test_mailbox_create(index, "Big");
	(void)test_append(index, id, BIG + 5, 0, NULL);
	struct mail_index_select_view *v1 = test_select(index, id, &sel);
	uint32_t old_uidvalidity = sel.uidvalidity;
	mail_index_select_view_unref(&v1);

	test_assert(mail_index_mailbox_delete(writer, "Big") == 0);
	uint32_t id2 = test_mailbox_create(writer, "Big");
	(void)test_append(writer, id2, BIG + 1, MAIL_SEEN, NULL);
	test_assert(mail_index_mailbox_select_name(index, "Big",
		pool_datastack, &res) == 1);
	test_assert(res.box.uidvalidity != old_uidvalidity);
	test_assert(array_count(&res.select.messages) == BIG + 1);
	test_assert(res.view != NULL &&
		    mail_index_select_view_first_unseen(res.view) == BIG + 1);
	test_same_as_rows(path, id2, &res.select);
	mail_index_select_view_unref(&res.view);
	mail_index_close(&writer);
	mail_index_close(&index);

	/* another index file at the same path (rebuilt, restored): the
	   same mailbox id and even UIDVALIDITY must not reuse the list */
	test_assert(unlink(path) == 0);
	(void)unlink(t_strdup_printf("%s-wal", path));
	(void)unlink(t_strdup_printf("%s-shm", path));
	index = test_index_open_path(path);
	(void)test_mailbox_create(index, "INBOX");
	id = test_mailbox_create(index, "Big");
	(void)test_append(index, id, BIG + 2, MAIL_FLAGGED, NULL);
	v1 = test_select(index, id, &sel);
	test_assert(array_count(&sel.messages) == BIG + 2);
	test_same_as_rows(path, id, &sel);
	mail_index_select_view_unref(&v1);
	mail_index_close(&index);
	mail_index_select_cache_clear();
	test_end();
}

static void test_select_pruned(void)
{
	struct mail_index_prune_settings set = { .max_changes = 1 };
	struct mail_index_select sel;
	unsigned int pruned;
	const char *path;

	test_begin("select: expunges pruned from the change log");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(&path);
	struct mail_index *writer = test_index_open_path(path);
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, BIG + 10, 0, NULL);
	/* the list in memory and a flag snapshot, both as of now */
	struct mail_index_select_view *v1 = test_select(index, id, &sel);
	mail_index_select_view_unref(&v1);

	/* expunged, and the log entries saying so pruned */
	test_expunge_set(writer, id, "3:6");
	test_flags(writer, id, "8", MAIL_INDEX_MODIFY_ADD, MAIL_SEEN, NULL);
	test_assert(mail_index_changes_prune(writer, &set, &pruned) == 0);
	test_assert(pruned > 0);

	v1 = test_select(index, id, &sel);
	test_assert(array_count(&sel.messages) == BIG + 6);
	test_same_as_rows(path, id, &sel);
	mail_index_select_view_unref(&v1);

	/* a new process: only the flag snapshot, older than the pruning */
	mail_index_select_cache_clear();
	test_assert(mail_index_mailbox_select(writer, id, pool_datastack,
					      &sel) == 1);
	test_assert(array_count(&sel.messages) == BIG + 6);
	test_same_as_rows(path, id, &sel);
	mail_index_close(&writer);
	mail_index_close(&index);
	mail_index_select_cache_clear();
	test_end();
}

static void test_select_in_transaction(void)
{
	struct mail_index_select_cache_stats st;
	struct mail_index_select sel;
	struct mail_index_transaction *t;
	struct mail_index_select_view *view;

	test_begin("select: inside a write transaction, nothing is cached");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(NULL);
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, BIG, 0, NULL);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_mailbox_select_view(index, id, pool_datastack,
						   &sel, &view) == 1);
	test_assert(view == NULL && array_count(&sel.messages) == BIG);
	mail_index_transaction_rollback(&t);
	mail_index_select_cache_get_stats(&st);
	test_assert(st.views == 0);
	mail_index_close(&index);
	test_end();
}

static void test_select_cache_bound(void)
{
	struct mail_index_select_cache_stats st;
	struct mail_index_select sel;
	const char *path;

	test_begin("select: the cache stays within its bound");
	mail_index_select_cache_clear();
	struct mail_index *index = test_index_open(&path);
	/* each list 1/4 of the bound at most: five of them cannot all stay */
	unsigned int count = MAIL_INDEX_SELECT_CACHE_MAX_BYTES / 4 /
		sizeof(struct mail_index_flags_rec) - 64;
	struct mail_index_select_view *held = NULL;
	struct mail_index_select held_sel;
	memset(&held_sel, 0, sizeof(held_sel));
	for (unsigned int i = 0; i < 5; i++) {
		uint32_t id = test_mailbox_create(index,
			t_strdup_printf("box%u", i));
		(void)test_append(index, id, count, 0, NULL);
		struct mail_index_select_view *view = test_select(index, id,
								  &sel);
		test_assert(view != NULL);
		mail_index_select_cache_get_stats(&st);
		test_assert(st.bytes <= MAIL_INDEX_SELECT_CACHE_MAX_BYTES);
		/* a list dropped from the cache stays valid while held */
		if (i == 0) {
			held = view;
			held_sel = sel;
		}
		else
			mail_index_select_view_unref(&view);
	}
	mail_index_select_cache_get_stats(&st);
	test_assert(st.views < 5);
	test_assert(array_count(&held_sel.messages) == count);
	test_assert(held_sel.messages.v[count - 1].uid == count);
	mail_index_select_view_unref(&held);
	mail_index_close(&index);
	mail_index_select_cache_clear();
	test_end();
}

test_func_t *const test_mail_index_select_tests[] = {
	test_select_shared_and_updated,
	test_select_by_name,
	test_select_recreated,
	test_select_pruned,
	test_select_in_transaction,
	test_select_cache_bound,
	NULL
};
