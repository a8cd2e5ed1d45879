/* Group fsync of the index's WAL across processes. The database runs
   with synchronous=NORMAL, so SQLite's COMMIT only writes the WAL frames
   (page cache) and releases the write lock at once; the commit is then
   made durable here, outside the lock, by an fdatasync() of the WAL file
   shared between every process that committed meanwhile:

     ticket = ++shared.requested        (after our COMMIT returned)
     flock(sync file, LOCK_EX)
     if shared.synced < ticket:         (nobody synced since our commit)
         upto = shared.requested
         fdatasync(WAL)                 covers every commit with a ticket
         shared.synced = max(synced, upto)   <= upto: each took its ticket
     unlock                             after its frames were written

   While one process waits for the disk, the others' commits pile up
   behind the lock, and the next fdatasync() covers them all: N
   concurrent writers pay about one fsync per disk round trip instead of
   one each, and none holds SQLite's write lock while the disk works.

   Why this is as durable as synchronous=FULL: an fdatasync() of the WAL
   inode writes every frame in it, including the commit frame of each
   ticket it covers; recovery replays valid frames up to the last commit
   frame. Checkpoints at NORMAL still sync the WAL before copying it into
   the database and the database after (SQLite's checkpoint sync flags do
   not depend on the commit level), so a commit leaves the WAL only for a
   synced database file. A WAL restart writes a new header (synced by
   SQLite, with new salts) and frames after it; our fdatasync() covers the
   header too.

   Readers: between its COMMIT and its fdatasync() a writer's rows are
   visible to other processes. A session that reported such a row (a new
   UID) and then saw it vanish in a power failure could see the UID
   reused. So a writer marks itself in a slot of the shared file before
   COMMIT and clears it after the sync, and a reader that finished a
   snapshot while a live writer's slot is set joins the next group sync
   before returning (mail_index_reader_durable(): one pass over a small
   array of atomics when no writer is between the two). A slot left by a
   killed writer is cleared by the first reader that finds the pid gone.

   When the shared file cannot be set up the index falls back to
   synchronous=FULL (each COMMIT fsyncs under the lock, as before).

   Threads: the sync itself (mail_index_durable_sync_ticket()) may run in
   a worker thread while the ioloop thread goes on using the index's
   SQLite connection: it touches only the fds and the shared file, under
   a mutex that also serializes it with the ioloop thread's own syncs
   (readers, synchronous commits). Everything else here runs in the
   ioloop thread. A process holds one slot however many of its commits
   are waiting for their sync (slot_refs).

   Checkpoints: SQLite's automatic checkpoint runs inside the COMMIT
   that fills the WAL past 1,000 pages, on the ioloop thread: it syncs
   the WAL, copies it into the database and syncs that (two disk round
   trips, ~10-30 ms here), and every session of the process waits. With
   the group sync the index replaces it (sqlite3_wal_hook()) by a
   PASSIVE checkpoint on a connection of its own in a detached thread,
   one at a time per index: it blocks no writer or reader, syncs exactly
   as the automatic one (the checkpoint connection runs at the default
   synchronous=FULL, whose checkpoint syncs are those of NORMAL), and the
   next writer restarts the WAL once it is all copied. The commit that
   triggers it returns at once; what it made durable, or not, is as
   before. A thread makes up to MAIL_INDEX_CHECKPOINT_PASSES passes
   while the rest shrinks (commits beside a pass write frames it cannot
   copy). A restart needs a moment with every frame copied and no
   commit since, at least the two syncs of a pass: commits that never
   pause that long on one index (hundreds a second, a benchmark) never
   leave one. Then at MAIL_INDEX_CHECKPOINT_SYNC_PAGES (64 MiB of WAL)
   the commit checkpoints itself, as SQLite would, blocking the event
   loop for the copy of what the threads left and the two syncs, and
   the WAL restarts: it stays bounded. */
#include "lib.h"
#include "event.h"
#include "mail-index-private.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#define MAIL_INDEX_SYNC_MAGIC 0x436f6c53594e4331ULL /* "ColSYNC1" */
/* WAL size that starts a checkpoint: SQLite's wal_autocheckpoint */
#define MAIL_INDEX_CHECKPOINT_PAGES 1000
/* WAL size at which a commit checkpoints itself, the threads being
   behind (or none could be started) */
#define MAIL_INDEX_CHECKPOINT_SYNC_PAGES (16 * MAIL_INDEX_CHECKPOINT_PAGES)
/* checkpoint passes a thread makes at most while commits go on */
#define MAIL_INDEX_CHECKPOINT_PASSES 4
/* checkpoint threads a process runs at once (over all its indexes) */
#define MAIL_INDEX_CHECKPOINT_MAX_THREADS 4
#define MAIL_INDEX_SYNC_SLOTS 256

struct mail_index_sync_shared {
	uint64_t magic;
	_Atomic uint64_t requested;
	_Atomic uint64_t synced;
	/* writers between COMMIT and their sync that found no free slot */
	_Atomic uint32_t overflow;
	uint32_t unused;
	/* pids of writers between COMMIT and their sync, 0 = free */
	_Atomic int32_t slots[MAIL_INDEX_SYNC_SLOTS];
	/* The commit counters (mail_index_get_commit_stamp()): begun is
	   bumped by every write COMMIT of any process before it takes
	   effect (SQLite's commit hook, under the write lock), done is
	   raised to that ticket after the COMMIT returned. Appended: a
	   file of the previous size grows, with both at 0. */
	_Atomic uint64_t commits_begun;
	_Atomic uint64_t commits_done;
};

/* Commits of this process whose sync runs in a worker thread, by sync
   file: another session of this process may read their rows before the
   sync is done, and must then wait for it like a reader in another
   process (whose slot check sees our pid). */
struct mail_index_durable_inflight {
	struct mail_index_durable_inflight *next;
	dev_t dev;
	ino_t ino;
	unsigned int count;
};
static struct mail_index_durable_inflight *durable_inflight;

/* A checkpoint thread's job. Shared by the index (until it is closed or
   starts the next one) and the thread (until it ends): the last to let
   go frees it. The thread touches nothing else of the index. */
struct mail_index_checkpoint {
	_Atomic unsigned int refcount;
	_Atomic bool running;
	char *path;
	/* the result, read by the ioloop thread once running is false */
	char error[256];
};
static _Atomic unsigned int checkpoint_threads;

struct mail_index_durable {
	char *sync_path, *wal_path;
	int sync_fd, wal_fd;
	/* the sync file's identity (durable_inflight) */
	dev_t sync_dev;
	ino_t sync_ino;
	ino_t wal_ino;
	struct mail_index_sync_shared *shared;
	/* the slot this process holds while any of its commits waits for
	   its sync, -1 = none, -2 = the overflow counter; slot_refs counts
	   those commits (ioloop thread only) */
	int slot;
	unsigned int slot_refs;
	/* serializes syncs of this handle between the ioloop thread and a
	   worker thread; guards wal_fd, wal_ino and the statistics */
	pthread_mutex_t mutex;
	/* statistics for tests and benchmarks */
	uint64_t fsyncs, joined;
	/* the running or last checkpoint thread's job (ioloop thread);
	   checkpoints started in threads and run by commits themselves */
	struct mail_index_checkpoint *checkpoint;
	uint64_t checkpoints_async, checkpoints_sync;
	/* the WAL size at which the next checkpoint thread starts */
	int checkpoint_next_pages;
	/* mapped for the commit counters only (mail_fsync = never): no
	   group sync, no checkpoint hook */
	bool counters_only;
};

/* A random start for the commit counters of a fresh sync file: never 0
   (no stamp), and far from wrapping. */
static uint64_t mail_index_durable_random_start(void)
{
	uint64_t start = 0;

	if (getrandom(&start, sizeof(start), 0) != sizeof(start))
		start = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	return (start >> 2) | 1;
}

/* Map "<index>-sync", creating it. The file is fixed-size; a fresh one is
   all zeroes, and the first process to map it stamps the magic. */
static int mail_index_durable_map(struct mail_index_durable *dur,
				  const char **error_r)
{
	struct stat st;

	dur->sync_fd = open(dur->sync_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (dur->sync_fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", dur->sync_path);
		return -1;
	}
	if (fstat(dur->sync_fd, &st) < 0) {
		*error_r = t_strdup_printf("fstat(%s) failed: %m", dur->sync_path);
		return -1;
	}
	if ((size_t)st.st_size < sizeof(struct mail_index_sync_shared) &&
	    ftruncate(dur->sync_fd, sizeof(struct mail_index_sync_shared)) < 0) {
		*error_r = t_strdup_printf("ftruncate(%s) failed: %m",
					   dur->sync_path);
		return -1;
	}
	void *map = mmap(NULL, sizeof(struct mail_index_sync_shared),
			 PROT_READ | PROT_WRITE, MAP_SHARED, dur->sync_fd, 0);
	if (map == MAP_FAILED) {
		*error_r = t_strdup_printf("mmap(%s) failed: %m", dur->sync_path);
		return -1;
	}
	dur->shared = map;
	dur->sync_dev = st.st_dev;
	dur->sync_ino = st.st_ino;
	/* the counters start at 0 whoever stamps first; a file of another
	   layout is reset (nothing in it outlives the processes using it,
	   except stale slots, which readers clear) */
	if (dur->shared->magic != MAIL_INDEX_SYNC_MAGIC) {
		if (flock(dur->sync_fd, LOCK_EX) == 0) {
			if (dur->shared->magic != MAIL_INDEX_SYNC_MAGIC) {
				memset(map, 0, sizeof(struct mail_index_sync_shared));
				/* a recreated file must not give the values
				   a view of the old one holds */
				uint64_t start = mail_index_durable_random_start();
				atomic_store(&dur->shared->commits_begun, start);
				atomic_store(&dur->shared->commits_done, start);
				dur->shared->magic = MAIL_INDEX_SYNC_MAGIC;
			}
			(void)flock(dur->sync_fd, LOCK_UN);
		}
	}
	return 0;
}

static void mail_index_checkpoint_unref(struct mail_index_checkpoint **_ckpt)
{
	struct mail_index_checkpoint *ckpt = *_ckpt;

	*_ckpt = NULL;
	if (atomic_fetch_sub(&ckpt->refcount, 1) > 1)
		return;
	i_free(ckpt->path);
	i_free(ckpt);
}

/* The checkpoint thread: no ioloop, no data stack, no log (worker.h's
   rules); its own SQLite connection. */
static void *mail_index_checkpoint_thread(void *context)
{
	struct mail_index_checkpoint *ckpt = context;
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;

	int ret = sqlite3_open_v2(ckpt->path, &db, SQLITE_OPEN_READWRITE |
				  SQLITE_OPEN_NOMUTEX, NULL);
	if (ret == SQLITE_OK) {
		/* the main connection keeps the WAL; never fold it in here */
		(void)sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
					1, NULL);
		/* the pragma reads the schema first, which opens the WAL */
		ret = sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)",
					 -1, &stmt, NULL);
	}
	/* Commits go on beside the pass: it cannot copy the frames they
	   write meanwhile, and the WAL restarts only once every frame is
	   copied. Go again while the rest shrinks: with fewer frames left a
	   pass is shorter, and a pass with no commit beside it finishes
	   the WAL (the next writer then restarts it). */
	int left = -1;
	for (unsigned int pass = 0;
	     ret == SQLITE_OK && pass < MAIL_INDEX_CHECKPOINT_PASSES; pass++) {
		/* one row: busy (another checkpointer ran), WAL pages,
		   pages copied */
		ret = sqlite3_step(stmt);
		if (ret != SQLITE_ROW)
			break;
		ret = SQLITE_OK;
		int busy = sqlite3_column_int(stmt, 0);
		int pages = sqlite3_column_int(stmt, 1);
		int copied = sqlite3_column_int(stmt, 2);
		(void)sqlite3_reset(stmt);
		if (busy != 0 || pages <= 0 || copied >= pages ||
		    (left >= 0 && pages - copied >= left))
			break;
		left = pages - copied;
	}
	if (ret != SQLITE_OK) {
		(void)snprintf(ckpt->error, sizeof(ckpt->error),
			       "WAL checkpoint of %s failed: %s", ckpt->path,
			       db == NULL ? sqlite3_errstr(ret) :
			       sqlite3_errmsg(db));
	}
	(void)sqlite3_finalize(stmt);
	(void)sqlite3_close(db);
	atomic_fetch_sub(&checkpoint_threads, 1);
	atomic_store(&ckpt->running, false);
	mail_index_checkpoint_unref(&ckpt);
	return NULL;
}

/* Start a checkpoint thread for index. Returns false if none could be
   started (too many running, or pthread_create() failed). */
static bool mail_index_checkpoint_start(struct mail_index *index)
{
	struct mail_index_durable *dur = index->durable;

	if (atomic_fetch_add(&checkpoint_threads, 1) >=
	    MAIL_INDEX_CHECKPOINT_MAX_THREADS) {
		atomic_fetch_sub(&checkpoint_threads, 1);
		return false;
	}
	struct mail_index_checkpoint *ckpt =
		i_new(struct mail_index_checkpoint, 1);
	ckpt->path = i_strdup(index->path);
	atomic_init(&ckpt->refcount, 2);
	atomic_init(&ckpt->running, true);

	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	(void)pthread_attr_init(&attr);
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* signals stay with the ioloop thread's signalfd */
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(&thread, &attr, mail_index_checkpoint_thread,
				 ckpt);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
	if (ret != 0) {
		atomic_fetch_sub(&checkpoint_threads, 1);
		i_free(ckpt->path);
		i_free(ckpt);
		return false;
	}
	dur->checkpoint = ckpt;
	dur->checkpoints_async++;
	return true;
}

static bool mail_index_durable_has_counters(struct mail_index *index);

/* Called by SQLite in every write COMMIT of the index's connection,
   holding the write lock, before the commit takes effect: whatever a
   later snapshot can see of it, its ticket is counted in commits_begun
   by then. */
static int mail_index_durable_commit_hook(void *context)
{
	struct mail_index *index = context;
	struct mail_index_sync_shared *shared = index->durable->shared;

	index->commit_ticket = atomic_fetch_add(&shared->commits_begun, 1) + 1;
	index->last_commit_ticket = index->commit_ticket;
	/* 0: go on with the commit */
	return 0;
}

void mail_index_durable_commit_done(struct mail_index *index)
{
	uint64_t ticket = index->commit_ticket;

	if (ticket == 0 || !mail_index_durable_has_counters(index))
		return;
	index->commit_ticket = 0;
	/* raised, never lowered: a writer killed between its commit hook
	   and here leaves a gap the next writer's ticket covers (every
	   lower ticket's COMMIT had ended before that writer got the
	   lock) */
	_Atomic uint64_t *done = &index->durable->shared->commits_done;
	uint64_t cur = atomic_load(done);
	while (cur < ticket &&
	       !atomic_compare_exchange_weak(done, &cur, ticket)) ;
}

uint64_t mail_index_get_commit_stamp(struct mail_index *index)
{
	/* inside a write transaction a read sees its uncommitted rows */
	if (!mail_index_durable_has_counters(index) || index->t != NULL ||
	    index->read_depth > 0)
		return 0;
	struct mail_index_sync_shared *shared = index->durable->shared;
	/* done first: if begun still equals it afterwards, no commit
	   began in between, and every counted one had ended (done is
	   only ever raised to a ticket whose COMMIT ended, and lower
	   tickets ended before it began) */
	uint64_t done = atomic_load(&shared->commits_done);
	uint64_t begun = atomic_load(&shared->commits_begun);
	return begun == done ? begun : 0;
}

bool mail_index_unchanged_since(struct mail_index *index, uint64_t stamp)
{
	if (stamp == 0 || !mail_index_durable_has_counters(index) ||
	    index->t != NULL)
		return false;
	return atomic_load(&index->durable->shared->commits_begun) == stamp;
}

uint64_t mail_index_get_own_commit_stamp(struct mail_index *index,
					 uint64_t prev_stamp)
{
	uint64_t ticket = index->last_commit_ticket;

	if (prev_stamp == 0 || ticket != prev_stamp + 1 ||
	    !mail_index_durable_has_counters(index))
		return 0;
	/* the commit must have ended too (done raised) */
	if (atomic_load(&index->durable->shared->commits_done) < ticket)
		return 0;
	return ticket;
}

/* Called by SQLite after every commit of the index's connection, the
   write lock released, with the WAL's size in pages. */
static int mail_index_durable_wal_hook(void *context, sqlite3 *db,
				       const char *db_name, int pages)
{
	struct mail_index *index = context;
	struct mail_index_durable *dur = index->durable;

	mail_index_durable_commit_done(index);
	if (pages < MAIL_INDEX_CHECKPOINT_PAGES) {
		/* the WAL was restarted (or is still small) */
		dur->checkpoint_next_pages = MAIL_INDEX_CHECKPOINT_PAGES;
		return SQLITE_OK;
	}
	struct mail_index_checkpoint *ckpt = dur->checkpoint;
	if (ckpt != NULL && !atomic_load(&ckpt->running)) {
		if (ckpt->error[0] != '\0')
			e_warning(index->event, "%s", ckpt->error);
		mail_index_checkpoint_unref(&dur->checkpoint);
		/* While commits go on, a checkpoint beside them never
		   copies the frames written meanwhile, so the WAL cannot
		   restart: at most one thread per CHECKPOINT_PAGES of
		   growth, then a synchronous one below. An idle moment
		   lets the thread's copy complete and the next writer
		   restart the WAL, which is the usual case. */
		dur->checkpoint_next_pages = pages +
			MAIL_INDEX_CHECKPOINT_PAGES / 2;
	}
	if (pages >= MAIL_INDEX_CHECKPOINT_SYNC_PAGES) {
		/* what SQLite's automatic checkpoint does: on this
		   connection, before the commit returns (SQLITE_BUSY at
		   once, no wait, while a thread still checkpoints) */
		dur->checkpoints_sync++;
		(void)sqlite3_wal_checkpoint_v2(db, db_name,
						SQLITE_CHECKPOINT_PASSIVE,
						NULL, NULL);
		return SQLITE_OK;
	}
	if (dur->checkpoint == NULL && pages >= dur->checkpoint_next_pages)
		(void)mail_index_checkpoint_start(index);
	return SQLITE_OK;
}

int mail_index_durable_init(struct mail_index *index, bool counters_only,
			    const char **error_r)
{
	struct mail_index_durable *dur = i_new(struct mail_index_durable, 1);

	dur->counters_only = counters_only;

	dur->sync_path = i_strdup_printf("%s-sync", index->path);
	dur->wal_path = i_strdup_printf("%s-wal", index->path);
	dur->sync_fd = -1;
	dur->wal_fd = -1;
	dur->slot = -1;
	dur->checkpoint_next_pages = MAIL_INDEX_CHECKPOINT_PAGES;
	int ret = pthread_mutex_init(&dur->mutex, NULL);
	i_assert(ret == 0);
	index->durable = dur;
	if (mail_index_durable_map(dur, error_r) < 0)
		return -1;
	/* replaces SQLite's automatic checkpoint on this connection (not
	   for the counters alone: no sync, so SQLite's own checkpoint) */
	if (!counters_only) {
		(void)sqlite3_wal_hook(index->db, mail_index_durable_wal_hook,
				       index);
	}
	(void)sqlite3_commit_hook(index->db, mail_index_durable_commit_hook,
				  index);
	return 0;
}

void mail_index_durable_deinit(struct mail_index *index)
{
	struct mail_index_durable *dur = index->durable;

	if (dur == NULL)
		return;
	index->durable = NULL;
	i_assert(dur->slot_refs == 0);
	/* a running thread finishes on its own and frees the job */
	if (dur->checkpoint != NULL)
		mail_index_checkpoint_unref(&dur->checkpoint);
	(void)pthread_mutex_destroy(&dur->mutex);
	if (dur->shared != NULL)
		(void)munmap(dur->shared, sizeof(*dur->shared));
	if (dur->sync_fd != -1)
		(void)close(dur->sync_fd);
	if (dur->wal_fd != -1)
		(void)close(dur->wal_fd);
	i_free(dur->sync_path);
	i_free(dur->wal_path);
	i_free(dur);
}

bool mail_index_durable_is_grouped(struct mail_index *index)
{
	return index->durable != NULL && index->durable->shared != NULL &&
		!index->durable->counters_only;
}

/* Whether the commit counters are mapped (grouped sync or not). */
static bool mail_index_durable_has_counters(struct mail_index *index)
{
	return index->durable != NULL && index->durable->shared != NULL;
}

/* The WAL file as it is now: SQLite keeps one inode while any connection
   is open (ours is), but look again if it was replaced. Returns the fd,
   -2 if there is no WAL, -1 with error set. Called with the mutex held;
   thread-safe (no data stack, no log). */
static int mail_index_durable_wal_fd(struct mail_index_durable *dur,
				     char *error, size_t error_size)
{
	struct stat st;

	if (stat(dur->wal_path, &st) < 0) {
		if (errno != ENOENT) {
			(void)snprintf(error, error_size, "stat(%s) failed: %m",
				       dur->wal_path);
			return -1;
		}
		/* no WAL: everything was checkpointed into the (synced)
		   database file */
		return -2;
	}
	if (dur->wal_fd != -1 && st.st_ino == dur->wal_ino)
		return dur->wal_fd;
	if (dur->wal_fd != -1)
		(void)close(dur->wal_fd);
	dur->wal_fd = open(dur->wal_path, O_RDWR | O_CLOEXEC);
	if (dur->wal_fd == -1) {
		if (errno == ENOENT)
			return -2;
		(void)snprintf(error, error_size, "open(%s) failed: %m",
			       dur->wal_path);
		return -1;
	}
	if (fstat(dur->wal_fd, &st) < 0) {
		(void)snprintf(error, error_size, "fstat(%s) failed: %m",
			       dur->wal_path);
		(void)close(dur->wal_fd);
		dur->wal_fd = -1;
		return -1;
	}
	dur->wal_ino = st.st_ino;
	return dur->wal_fd;
}

uint64_t mail_index_durable_take_ticket(struct mail_index *index)
{
	return atomic_fetch_add(&index->durable->shared->requested, 1) + 1;
}

int mail_index_durable_sync_ticket(struct mail_index *index, uint64_t ticket,
				   char *error, size_t error_size,
				   int *fdatasync_errno_r)
{
	struct mail_index_durable *dur = index->durable;
	struct mail_index_sync_shared *shared = dur->shared;
	int ret = 0;

	*fdatasync_errno_r = 0;
	i_assert(shared != NULL);
	(void)pthread_mutex_lock(&dur->mutex);
	while (flock(dur->sync_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			(void)snprintf(error, error_size, "flock(%s) failed: %m",
				       dur->sync_path);
			(void)pthread_mutex_unlock(&dur->mutex);
			return -1;
		}
	}
	if (atomic_load(&shared->synced) >= ticket) {
		/* another process's sync started after our ticket */
		dur->joined++;
	} else {
		uint64_t upto = atomic_load(&shared->requested);
		int fd = mail_index_durable_wal_fd(dur, error, error_size);
		if (fd == -1)
			ret = -1;
		else if (fd >= 0 && fdatasync(fd) < 0) {
			/* the caller stops the process (see
			   mail_index_durable_sync()) */
			*fdatasync_errno_r = errno;
			(void)snprintf(error, error_size,
				       "fdatasync(%s) failed: %m", dur->wal_path);
			ret = -1;
		} else {
			dur->fsyncs++;
			uint64_t cur = atomic_load(&shared->synced);
			while (cur < upto &&
			       !atomic_compare_exchange_weak(&shared->synced,
							     &cur, upto)) ;
		}
	}
	(void)flock(dur->sync_fd, LOCK_UN);
	(void)pthread_mutex_unlock(&dur->mutex);
	return ret;
}

int mail_index_durable_sync(struct mail_index *index)
{
	char error[512];
	int fdatasync_errno;
	uint64_t ticket = mail_index_durable_take_ticket(index);

	if (mail_index_durable_sync_ticket(index, ticket, error, sizeof(error),
					   &fdatasync_errno) == 0)
		return 0;
	if (fdatasync_errno != 0) {
		/* After a failed fsync the kernel may have dropped the
		   dirty pages: whether committed rows reach the disk is
		   unknowable, and carrying on would acknowledge them. Stop,
		   as PostgreSQL does; the store stays consistent (blobs
		   were synced first), and nothing unacknowledged is lost
		   that a client did not expect to resend. */
		i_fatal("%s", error);
	}
	return mail_index_set_internal_error(index, MAIL_ERROR_TEMP, "%s",
					     error);
}

void mail_index_durable_commit_begin(struct mail_index *index)
{
	struct mail_index_durable *dur = index->durable;
	int32_t pid = (int32_t)getpid();
	/* start at a pid-dependent slot: concurrent writers rarely collide */
	unsigned int start = (unsigned int)pid % MAIL_INDEX_SYNC_SLOTS;

	if (dur->slot_refs++ > 0) {
		/* the slot is held already for an earlier commit */
		return;
	}
	i_assert(dur->slot == -1);
	for (unsigned int i = 0; i < MAIL_INDEX_SYNC_SLOTS; i++) {
		unsigned int n = (start + i) % MAIL_INDEX_SYNC_SLOTS;
		int32_t expected = 0;
		if (atomic_compare_exchange_strong(&dur->shared->slots[n],
						   &expected, pid)) {
			dur->slot = (int)n;
			return;
		}
	}
	atomic_fetch_add(&dur->shared->overflow, 1);
	dur->slot = -2;
}

void mail_index_durable_commit_end(struct mail_index *index)
{
	struct mail_index_durable *dur = index->durable;

	i_assert(dur->slot_refs > 0);
	if (--dur->slot_refs > 0)
		return;
	if (dur->slot == -2)
		atomic_fetch_sub(&dur->shared->overflow, 1);
	else if (dur->slot >= 0)
		atomic_store(&dur->shared->slots[dur->slot], 0);
	dur->slot = -1;
}

static struct mail_index_durable_inflight *
mail_index_durable_inflight_find(struct mail_index_durable *dur, bool create)
{
	struct mail_index_durable_inflight *inf;

	for (inf = durable_inflight; inf != NULL; inf = inf->next) {
		if (inf->dev == dur->sync_dev && inf->ino == dur->sync_ino)
			return inf;
	}
	if (!create)
		return NULL;
	inf = i_new(struct mail_index_durable_inflight, 1);
	inf->dev = dur->sync_dev;
	inf->ino = dur->sync_ino;
	inf->next = durable_inflight;
	durable_inflight = inf;
	return inf;
}

void mail_index_durable_inflight_add(struct mail_index *index)
{
	mail_index_durable_inflight_find(index->durable, true)->count++;
}

void mail_index_durable_inflight_remove(struct mail_index *index)
{
	struct mail_index_durable_inflight *inf, **infp;

	inf = mail_index_durable_inflight_find(index->durable, false);
	i_assert(inf != NULL && inf->count > 0);
	if (--inf->count > 0)
		return;
	for (infp = &durable_inflight; *infp != inf; infp = &(*infp)->next) ;
	*infp = inf->next;
	i_free(inf);
}

/* Whether a writer may have a commit visible but not yet synced. */
static bool mail_index_durable_pending(struct mail_index *index)
{
	struct mail_index_sync_shared *shared = index->durable->shared;
	/* asked only when a slot is taken: each read snapshot ends here,
	   and getpid() is a system call */
	int32_t self = 0;
	bool pending = atomic_load(&shared->overflow) > 0;

	/* our own process's slot: pending only for a sync in a worker
	   thread (a synchronous commit syncs before anything else runs) */
	if (durable_inflight != NULL &&
	    mail_index_durable_inflight_find(index->durable, false) != NULL)
		pending = true;

	for (unsigned int i = 0; i < MAIL_INDEX_SYNC_SLOTS; i++) {
		int32_t pid = atomic_load_explicit(&shared->slots[i],
						   memory_order_acquire);
		if (pid == 0)
			continue;
		if (self == 0)
			self = (int32_t)getpid();
		if (pid == self)
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			/* died between its COMMIT and its sync: whatever it
			   wrote is synced by the next group sync anyway */
			int32_t expected = pid;
			(void)atomic_compare_exchange_strong(&shared->slots[i],
							     &expected, 0);
		}
		pending = true;
	}
	return pending;
}

int mail_index_reader_durable(struct mail_index *index)
{
	if (!mail_index_durable_is_grouped(index) ||
	    !mail_index_durable_pending(index))
		return 0;
	return mail_index_durable_sync(index);
}

uint64_t mail_index_durable_get_requested(struct mail_index *index)
{
	return index->durable == NULL ? 0 :
		atomic_load(&index->durable->shared->requested);
}

void mail_index_get_checkpoint_stats(struct mail_index *index,
				     uint64_t *async_r, uint64_t *sync_r)
{
	if (index->durable == NULL) {
		*async_r = *sync_r = 0;
		return;
	}
	*async_r = index->durable->checkpoints_async;
	*sync_r = index->durable->checkpoints_sync;
}

void mail_index_wait_checkpoints(void)
{
	/* the count drops after the thread's last SQLite call */
	while (atomic_load(&checkpoint_threads) > 0)
		(void)usleep(1000);
}

bool mail_index_checkpoint_running(struct mail_index *index)
{
	return index->durable != NULL && index->durable->checkpoint != NULL &&
		atomic_load(&index->durable->checkpoint->running);
}

void mail_index_get_durable_stats(struct mail_index *index,
				  uint64_t *fsyncs_r, uint64_t *joined_r)
{
	if (index->durable == NULL) {
		*fsyncs_r = *joined_r = 0;
		return;
	}
	(void)pthread_mutex_lock(&index->durable->mutex);
	*fsyncs_r = index->durable->fsyncs;
	*joined_r = index->durable->joined;
	(void)pthread_mutex_unlock(&index->durable->mutex);
}
