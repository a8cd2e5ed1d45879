/* Tests for an index's memory controls (mail-index-memory.c): limits
   applied on an open index, release of the page cache and cached
   statements between calls (and not inside a transaction or snapshot),
   suspending the connection and reopening it on the next call, and the
   index answering the same afterwards. */
#include "test-lib-index.h"
#include "hash.h"
#include "mail-index-private.h"
#include "mail-index-memory.h"

static void test_select_count(struct mail_index *index, uint32_t id,
			      unsigned int expected)
{
	struct mail_index_select sel;

	test_assert(mail_index_mailbox_select(index, id, pool_datastack,
					      &sel) == 1);
	test_assert(array_count(&sel.messages) == expected);
}

static void test_memory_release(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_memory_usage usage;

	test_begin("memory: release frees page cache and statements");
	mail_index_memory_global_init();
	test_assert(mail_index_set_memory_limits(index, 256, 0) == 0);
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, 50, MAIL_SEEN, NULL);
	test_select_count(index, id, 50);

	mail_index_get_memory_usage(index, &usage);
	test_assert(usage.stmt_bytes > 0);
	test_assert(usage.cache_bytes > 0);
	test_assert(usage.schema_bytes > 0);
	uint64_t cache_before = usage.cache_bytes;

	mail_index_release_memory(index);
	mail_index_get_memory_usage(index, &usage);
	test_assert(usage.stmt_bytes == 0);
	test_assert(hash_table_count(index->stmts) == 0);
	test_assert(usage.cache_bytes < cache_before);

	/* statements are prepared again, the answers are the same */
	test_select_count(index, id, 50);
	(void)test_append(index, id, 1, 0, NULL);
	test_select_count(index, id, 51);
	mail_index_get_memory_usage(index, &usage);
	test_assert(usage.stmt_bytes > 0);
	mail_index_close(&index);
	test_end();
}

static void test_memory_release_busy(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;

	test_begin("memory: no release inside a transaction or snapshot");
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, 3, 0, NULL);
	test_select_count(index, id, 3);
	unsigned int stmts = hash_table_count(index->stmts);
	test_assert(stmts > 0);

	test_assert(mail_index_transaction_begin(index, &t) == 0);
	mail_index_release_memory(index);
	test_assert(hash_table_count(index->stmts) == stmts);
	mail_index_transaction_rollback(&t);

	test_assert(mail_index_read_begin(index) == 0);
	mail_index_release_memory(index);
	test_assert(hash_table_count(index->stmts) == stmts);
	mail_index_read_end(index);

	mail_index_release_memory(index);
	test_assert(hash_table_count(index->stmts) == 0);
	test_select_count(index, id, 3);
	mail_index_close(&index);
	test_end();
}

static void test_memory_limits(void)
{
	struct mail_index *index = test_index_open(NULL);

	test_begin("memory: limits are applied");
	test_assert(mail_index_set_memory_limits(index, 1, 0) == 0);
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(index->db, "PRAGMA cache_size", -1,
				       &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	/* raised to the minimum, in KiB */
	test_assert(sqlite3_column_int(stmt, 0) == -64);
	sqlite3_finalize(stmt);
	test_assert(sqlite3_prepare_v2(index->db, "PRAGMA mmap_size", -1,
				       &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	test_assert(sqlite3_column_int64(stmt, 0) == 0);
	sqlite3_finalize(stmt);
	mail_index_close(&index);
	test_end();
}

static void test_resume_count(void *context)
{
	unsigned int *count = context;
	(*count)++;
}

static void test_memory_suspend(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;

	test_begin("memory: suspend closes the connection, calls reopen it");
	test_assert(mail_index_set_memory_limits(index, 128, 0) == 0);
	uint32_t id = test_mailbox_create(index, "INBOX");
	(void)test_append(index, id, 5, 0, NULL);

	/* not inside a transaction or a snapshot */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(!mail_index_suspend(index));
	mail_index_transaction_rollback(&t);
	test_assert(mail_index_read_begin(index) == 0);
	test_assert(!mail_index_suspend(index));
	mail_index_read_end(index);

	/* the owner cache is filled when a writer waits for another */
	test_assert(!mail_index_owner_is_alive(index, "no-boot:1:1"));
	test_assert(index->owner_cache != NULL);
	test_assert(mail_index_suspend(index));
	test_assert(mail_index_is_suspended(index));
	test_assert(index->db == NULL);
	/* what only an open connection needs is gone: the statement table
	   is at its smallest, the owner cache freed */
	test_assert(hash_table_count(index->stmts) == 0);
	test_assert(index->owner_cache == NULL);
	test_assert(mail_index_suspend(index));
	/* a read reopens it, with the memory limits */
	test_select_count(index, id, 5);
	test_assert(!mail_index_is_suspended(index));
	test_assert(index->db != NULL);
	test_assert(hash_table_count(index->stmts) > 0);
	test_assert(!mail_index_owner_is_alive(index, "no-boot:1:1"));
	sqlite3_stmt *stmt;
	test_assert(sqlite3_prepare_v2(index->db, "PRAGMA cache_size", -1,
				       &stmt, NULL) == SQLITE_OK);
	test_assert(sqlite3_step(stmt) == SQLITE_ROW);
	test_assert(sqlite3_column_int(stmt, 0) == -128);
	sqlite3_finalize(stmt);

	/* a write after a suspend: commits, and another opener sees it */
	test_assert(mail_index_suspend(index));
	(void)test_append(index, id, 2, MAIL_SEEN, NULL);
	struct mail_index *index2 =
		test_index_open_path(mail_index_get_path(index));
	test_select_count(index2, id, 7);
	mail_index_close(&index2);

	/* whoever reopens it, the resume callback hears of it, once */
	unsigned int resumed = 0;
	mail_index_set_resume_callback(index, test_resume_count, &resumed);
	test_assert(mail_index_suspend(index));
	test_select_count(index, id, 7);
	test_select_count(index, id, 7);
	test_assert(resumed == 1);
	mail_index_set_resume_callback(index, NULL, NULL);

	/* closing a suspended index */
	test_assert(mail_index_suspend(index));
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_memory_tests[] = {
	test_memory_suspend,
	test_memory_release,
	test_memory_release_busy,
	test_memory_limits,
	NULL
};
