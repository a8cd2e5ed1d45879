/* Memory of an open index (its SQLite connection), for processes that
   keep many indexes open at once: the mail process holds one per logged-in
   user, most of them idle in IDLE. Additive to mail-index.h.

   An index opens with a page cache and an mmap window sized for speed
   (mail-index.c). mail_index_set_memory_limits() shrinks both for one
   index; mail_index_release_memory() gives back the page cache and the
   cached prepared statements (a session going idle), keeping the
   connection and its schema. Neither changes what the index returns
   or its durability: released pages are read again from the file (the
   kernel's page cache) when next needed. */
#ifndef COLUMBA_MAIL_INDEX_MEMORY_H
#define COLUMBA_MAIL_INDEX_MEMORY_H

#include "mail-index.h"

struct mail_index_memory_usage {
	/* bytes of SQLite heap: page cache, parsed schema, prepared
	   statements (sqlite3_db_status()) */
	uint64_t cache_bytes, schema_bytes, stmt_bytes;
};

/* Process-wide SQLite memory settings: call before the process opens its
   first index (later calls do nothing). Today: no bulk preallocation of
   each connection's page cache. */
void mail_index_memory_global_init(void);

/* mmap_bytes for mail_index_set_memory_limits(): keep the index's */
#define MAIL_INDEX_MMAP_UNCHANGED ((uint64_t)-1)

/* The page cache at most cache_kib KiB (at least 64 KiB: SQLite needs a
   few pages for one statement) and the database mapped through at most
   mmap_bytes (0 = read() instead of mmap, MAIL_INDEX_MMAP_UNCHANGED =
   as opened). Must not be called inside a transaction or read snapshot.
   Returns 0, or -1 with the index error set. */
int mail_index_set_memory_limits(struct mail_index *index,
				 unsigned int cache_kib, uint64_t mmap_bytes)
	ATTR_WARN_UNUSED;
/* Give back what an idle index holds beyond its connection and schema:
   the cached prepared statements (prepared again on next use) and the
   page cache (sqlite3_db_release_memory()). Does nothing while a
   transaction, read snapshot or statement is in progress. Cheap: call it
   when a session goes idle. */
void mail_index_release_memory(struct mail_index *index);
void mail_index_get_memory_usage(struct mail_index *index,
				 struct mail_index_memory_usage *usage_r);

/* Close the index's SQLite connection (and its WAL shared-memory and
   group-sync mappings, its notify descriptors) while the index stays
   usable: the next call that needs the database reopens it, and fails
   with MAIL_ERROR_TEMP if it cannot. For a session that has been idle a
   while. Change watchers (mail_index_notify_init()) keep working: they
   do not use the connection. Returns false, changing nothing, while a
   transaction, snapshot, batch, UID reservation, commit sync or statement
   is in progress. */
bool mail_index_suspend(struct mail_index *index);
bool mail_index_is_suspended(struct mail_index *index);
/* Have callback(context) called whenever a suspended index reopens,
   whoever's call reopened it (a session waiting in IDLE suspends it again
   after a periodic change-log prune, say). It runs inside that index
   call: it may only schedule work. NULL to unset. */
void mail_index_set_resume_callback(struct mail_index *index,
				    void (*callback)(void *context),
				    void *context);

#endif
