/* Page cache and mmap limits of an index's SQLite connection, and giving
   the cache back when a session goes idle (mail-index-memory.h). */
#include "lib.h"
#include "hash.h"
#include "event.h"
#include <unistd.h>
#include "mail-index-private.h"
#include "mail-index-memory.h"

/* SQLite needs a few pages for one statement whatever cache_size says */
#define MAIL_INDEX_MIN_CACHE_KIB 64

int mail_index_set_memory_limits(struct mail_index *index,
				 unsigned int cache_kib, uint64_t mmap_bytes)
{
	i_assert(index->t == NULL);
	i_assert(index->read_depth == 0);

	if (cache_kib == 0)
		cache_kib = 1;
	if (cache_kib < MAIL_INDEX_MIN_CACHE_KIB)
		cache_kib = MAIL_INDEX_MIN_CACHE_KIB;
	/* negative: KiB rather than pages */
	const char *sql = t_strdup_printf("PRAGMA cache_size = -%u", cache_kib);
	if (mmap_bytes != MAIL_INDEX_MMAP_UNCHANGED) {
		sql = t_strdup_printf("%s; PRAGMA mmap_size = %llu", sql,
				      (unsigned long long)mmap_bytes);
	}
	index->memory_cache_kib = cache_kib;
	index->memory_mmap_bytes = mmap_bytes;
	if (index->suspended)
		return 0;
	int ret = sqlite3_exec(index->db, sql, NULL, NULL, NULL);
	if (ret != SQLITE_OK)
		return mail_index_set_sqlite_error(index, ret, sql);
	return 0;
}

void mail_index_memory_global_init(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	/* Each connection's page cache would start with one bulk allocation
	   of 20 pages (about 86 KiB) that it never gives back, not even to
	   sqlite3_db_release_memory(); pages are allocated one at a time
	   instead. Fails harmlessly (SQLITE_MISUSE) if SQLite is already
	   initialized. */
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

static bool mail_index_stmts_busy(struct mail_index *index)
{
	for (sqlite3_stmt *stmt = sqlite3_next_stmt(index->db, NULL);
	     stmt != NULL; stmt = sqlite3_next_stmt(index->db, stmt)) {
		if (sqlite3_stmt_busy(stmt) != 0)
			return true;
	}
	return false;
}

void mail_index_release_memory(struct mail_index *index)
{
	struct hash_iterate iter;
	void *key, *value;

	if (index->db == NULL || index->t != NULL || index->read_depth > 0 ||
	    sqlite3_get_autocommit(index->db) == 0 ||
	    mail_index_stmts_busy(index))
		return;
	/* the cached statements are prepared again on their next use
	   (mail_index_stmt()) */
	hash_table_iterate_init(index->stmts, &iter);
	while (hash_table_iterate(&iter, &key, &value))
		(void)sqlite3_finalize(value);
	hash_table_clear(index->stmts);
	(void)sqlite3_db_release_memory(index->db);
}

static uint64_t mail_index_db_status(struct mail_index *index, int op)
{
	int cur = 0, hiwtr = 0;

	if (index->db == NULL ||
	    sqlite3_db_status(index->db, op, &cur, &hiwtr, 0) != SQLITE_OK)
		return 0;
	return cur < 0 ? 0 : (uint64_t)cur;
}

void mail_index_get_memory_usage(struct mail_index *index,
				 struct mail_index_memory_usage *usage_r)
{
	usage_r->cache_bytes =
		mail_index_db_status(index, SQLITE_DBSTATUS_CACHE_USED);
	usage_r->schema_bytes =
		mail_index_db_status(index, SQLITE_DBSTATUS_SCHEMA_USED);
	usage_r->stmt_bytes =
		mail_index_db_status(index, SQLITE_DBSTATUS_STMT_USED);
}

bool mail_index_suspend(struct mail_index *index)
{
	if (index->suspended)
		return true;
	/* nothing in progress may depend on the connection or on state
	   that lives with it */
	if (index->db == NULL || index->t != NULL || index->read_depth > 0 ||
	    mail_index_in_batch(index) || index->reservations != NULL ||
	    index->syncs_in_flight > 0 ||
	    sqlite3_get_autocommit(index->db) == 0 ||
	    mail_index_stmts_busy(index))
		return false;

	struct hash_iterate iter;
	void *key, *value;
	hash_table_iterate_init(index->stmts, &iter);
	while (hash_table_iterate(&iter, &key, &value))
		(void)sqlite3_finalize(value);
	hash_table_clear(index->stmts);
	if (sqlite3_close(index->db) != SQLITE_OK) {
		/* a statement prepared outside the cache is still open:
		   keep the connection */
		e_warning(index->event, "Closing the idle index failed: %s",
			  sqlite3_errmsg(index->db));
		return false;
	}
	index->db = NULL;
	/* what only an open connection needs: the statement table, sized
	   for every statement a session prepared (3 KiB), starts again at
	   its smallest; the owner cache is refilled when writers wait */
	hash_table_destroy(&index->stmts);
	index->stmts = hash_table_create_direct(system_pool, 0);
	i_free(index->owner_cache);
	mail_index_durable_deinit(index);
	if (index->notify_fd != -1) {
		(void)close(index->notify_fd);
		index->notify_fd = -1;
	}
	if (index->wake_fd != -1) {
		(void)close(index->wake_fd);
		index->wake_fd = -1;
	}
	if (index->wait_fd != -1) {
		(void)close(index->wait_fd);
		index->wait_fd = -1;
	}
	index->suspended = true;
	return true;
}

int mail_index_resume(struct mail_index *index)
{
	const char *error;

	if (!index->suspended)
		return 0;
	i_assert(index->db == NULL);
	if (mail_index_open_db(index, &error) < 0 ||
	    mail_index_search_init(index, &error) < 0) {
		if (index->db != NULL) {
			(void)sqlite3_close(index->db);
			index->db = NULL;
		}
		mail_index_durable_deinit(index);
		/* still suspended: the next call tries again */
		return mail_index_set_internal_error(index, MAIL_ERROR_TEMP,
			"Reopening the index failed: %s", error);
	}
	index->suspended = false;
	if (index->resume_callback != NULL)
		index->resume_callback(index->resume_context);
	if (index->memory_cache_kib != 0 &&
	    mail_index_set_memory_limits(index, index->memory_cache_kib,
					 index->memory_mmap_bytes) < 0)
		return -1;
	return 0;
}

void mail_index_set_resume_callback(struct mail_index *index,
				    void (*callback)(void *context),
				    void *context)
{
	index->resume_callback = callback;
	index->resume_context = context;
}

bool mail_index_is_suspended(struct mail_index *index)
{
	return index->suspended;
}
