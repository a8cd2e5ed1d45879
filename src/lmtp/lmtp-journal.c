/* The LMTP delivery journal: one flush per delivery on the path to `250`,
   shared by every delivery in flight in the process.

   Saving a message to a user's storage makes three things durable, one
   after the other: the blob, the blob's directory entry, the index row
   (docs/architecture.md, "The index and the storage"). Each is a disk
   flush, and with one LMTP connection they are strictly serial. Here a
   delivery is first appended to this process's journal, a preallocated
   file whose blocks are all written once at creation, so that an
   fdatasync() of it writes data only (no metadata, no filesystem journal
   commit). Once an fdatasync() that started after the append has
   returned, the delivery is on disk: the client gets `250`. Deliveries
   appended while an fdatasync() runs wait for the next one, which covers
   all of them (group commit, across connections and users). The entry is
   then saved into each recipient's storage in the background, with its
   durability deferred (below); once a durability point has covered every
   recipient's save, its space in the journal is free. (Tried and
   reverted: blobs of saves that start
   together written without their fsync()s, then one syncfs() for the
   group before the index commits. It cut disk flushes per message from
   2.9 to 1.9 with four connections and 1.6 to 0.6 with sixteen, but
   a syncfs() writes back every dirty page of the filesystem, the other
   users' index WALs too, and the journal's fdatasync() waited behind
   it: bench/run --only e, 100 users, 642 against 759 msg/s with four
   connections, 800 against 889 with sixteen.)

   The path to `250` is kept short: once the fdatasync() returns, the
   replies go out first, then the next fdatasync() starts, and only then
   do the saves of what just became durable begin (their UID reservation
   and index commit cost the event loop a few hundred microseconds per
   copy). With one connection they thus run while the next delivery's
   fdatasync() waits for the disk instead of between a 250 and the
   client's next command; if nothing is appended they start a
   millisecond or two later.

   Layout: two header pages (written alternately, the valid one with the
   higher generation counts), then a ring of records, each at a page
   boundary so that writing a record never rewrites a page holding an
   acknowledged one. A record: magic, payload size, sequence number, a
   64-bit FNV-1a checksum of those and the payload. The header names the
   oldest record not yet saved (its offset and sequence number); it is
   rewritten before each fdatasync(), so it is durable with the records.
   A replay starts there and follows records of consecutive sequence
   numbers, from the end of one to the next page, or to the start of the
   ring when the next record did not fit at the end. Space is reused only
   behind the head that is durable, so a replay never finds its chain
   overwritten. A torn or unwritten record ends the chain: it was never
   acknowledged (its fdatasync() had not returned).

   Deferred durability: the journal holds each message durably, so its
   saves (MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC) write the blob without
   fsync()s (file and directory) and commit the index row without an
   fdatasync() and without the sync slot that makes readers wait: three
   flushes per copy fewer. A record whose saves were deferred stays in
   the journal, the head not moving past it, until a durability point:
   one syncfs() per filesystem (st_dev) of the blob stores and indexes
   deferred saves touched since the last point, in a worker thread of
   its own (the journal's fdatasync() keeps its own thread and is never
   queued behind it), every lmtp_journal_sync_interval (250 ms) while
   there is such work, or at once when the ring is more than half full.
   When it returns, every record whose saves had completed before it
   started is retired. Only local (posix) blob stores defer; the saves
   of others (S3) are durable on their own and retire their record at
   once. Until its point a power failure may lose a deferred copy's
   index row (the tail of the WAL that no synced commit covered: a
   synced commit of the same index covers every earlier frame), its
   blob, or part of it; the record is still there for the replay.

   Replay: each recipient's copy carries the message GUID; it is saved
   only if the mailbox has no message with that GUID yet (a copy saved
   before the process died, whose head update was not yet durable, is
   not saved twice), replacing a blob left under its key (a lost index
   row may hand its UID, and so its key, out again). When the GUID is
   there its blob is read and compared with the record (size, bytes,
   metadata), and written again from the record, durably, if it is
   missing, short or different (mailbox_verify_saved_blob()). Then one
   syncfs() per filesystem the replay touched, and only then does the
   file go. A copy whose index row was lost comes back with a new UID.
   The lost WAL tail also took the UID counter back, and a client may
   have seen the lost UIDs: so a journal written in another boot (the
   header carries the boot id; a crash of the process alone loses no
   page and needs nothing of this) makes the replay skip, in each
   mailbox where it saves a copy again, as many UIDs as the journal has
   records before the first such save (lmtp_journal_replay_skip_uids()):
   every lost UID belonged to a copy in the journal, so none is handed to
   another message. A message that was
   saved and then expunged before its record was retired comes back
   after a crash: the one duplicate this allows, and its window is the
   durability interval (250 ms and the syncfs()), no longer
   milliseconds.

   The process keeps itself alive (one master client) while entries wait
   to be saved, so a graceful stop saves everything first; a crash or a
   power failure leaves the file to the next mail process, which replays
   it at start (a journal is owned by whoever holds its flock()). */
#include "lib.h"
#include "ioloop.h"
#include "hash.h"
#include "worker.h"
#include "master-service.h"
#include "mail-storage.h"
#include "mail-index.h"
#include "mail-error.h"
#include "mail-user-setup.h"
#include "columba-settings.h"
#include "lmtp-common.h"
#include "lmtp-journal.h"
#include "mail-quota.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LMTP_JOURNAL_PAGE 4096ULL
/* The file's size is lmtp_journal_size (32 MiB by default: records stay
   until a durability point covers their saves, and at 1,000 deliveries
   of 4 KB a second, 8 KiB records, the ring holds 4 s of them; a point
   starts early at half of it), in MiB, at least this; a replay takes the
   size of the file it finds. */
#define LMTP_JOURNAL_MIN_FILE_SIZE (2ULL * 1024 * 1024)
#define LMTP_JOURNAL_FIRST (2 * LMTP_JOURNAL_PAGE)
/* a record may take about a megabyte (an eighth of the 8 MiB ring the
   journal had first) and an eighth of the ring at most: larger
   deliveries go the direct way (they are few, and long to write
   anyway) */
#define LMTP_JOURNAL_MAX_RECORD ((8ULL * 1024 * 1024 - LMTP_JOURNAL_FIRST) / 8)
#define LMTP_JOURNAL_HDR_MAGIC 0x4a50544d4c6c6f43ULL /* "ColLMTPJ" */
#define LMTP_JOURNAL_REC_MAGIC 0x4c4d5452U
#define LMTP_JOURNAL_PAYLOAD_VERSION 1U
/* a failed save is tried again after this long */
#define LMTP_JOURNAL_RETRY_MSECS 1000
/* after the last save, the head is made durable this much later (or with
   the next append's fdatasync, whichever comes first) */
#define LMTP_JOURNAL_HEAD_FLUSH_MSECS 100
/* durable records' saves start with the next fdatasync() or after this
   long, whichever comes first (1-2 ms: the ioloop counts milliseconds) */
#define LMTP_JOURNAL_APPLY_DELAY_MSECS 2

struct lmtp_journal_header {
	uint64_t magic;
	uint64_t gen;
	uint64_t head_off;
	uint64_t head_seq;
	/* of the fields above: all a journal of an earlier version has */
	uint64_t checksum;
	/* the boot the header was written in (/proc/sys/kernel/random/
	   boot_id, NUL-padded), and a checksum of everything before it:
	   absent or not matching in a file of an earlier version, which
	   counts as "another boot" */
	char boot_id[40];
	uint64_t boot_checksum;
};

struct lmtp_journal_rec_header {
	uint32_t magic;
	uint32_t size;
	uint64_t seq;
	uint64_t checksum;
	uint64_t unused;
};

struct lmtp_journal_apply {
	struct lmtp_journal_record *rec;
	unsigned int idx;
	struct lmtp_cached_user *cu;
	struct mailbox *box;
	struct timeout *to;
	unsigned int attempts;
	/* box is the user's kept handle (lmtp_cached_user_mailbox_get()) */
	bool box_kept;
	/* the last save failed: the kept handle is not kept after it */
	bool failed;
	bool done;
	/* the delivery's quota reservation, until the save commits */
	struct mail_quota_reservation *quota;
};

/* The filesystems a durability point syncs: one fd on each (st_dev) that
   holds a blob store or an index written by a deferred save. */
struct lmtp_journal_fs {
	dev_t dev;
	int fd;
	/* a deferred save completed on it since the last point started */
	bool dirty;
};
ARRAY_DEFINE_TYPE(lmtp_journal_fs, struct lmtp_journal_fs);

struct lmtp_journal_record {
	struct lmtp_journal_record *next;
	uint64_t lpos, len, seq;
	/* the payload as written; entry points into it */
	buffer_t *payload;
	pool_t pool;
	struct lmtp_journal_entry entry;
	struct lmtp_journal_apply *applies;
	unsigned int applies_pending;
	lmtp_journal_callback_t *callback;
	void *context;
	bool durable;
	/* its saves have started */
	bool applying;
	/* every save has committed */
	bool applied;
	/* some save was deferred (written, not synced): the record stays
	   until a durability point covers it */
	bool deferred;
	/* applied when the running durability point started */
	bool covering;
	/* its saves are durable: its space can go */
	bool retired;
};

struct lmtp_journal {
	char *dir, *path;
	int fd;
	/* the file's size, its ring (after the two header pages), the
	   largest record */
	uint64_t file_size, ring, max_record;
	struct worker_pool *workers;
	/* records in sequence order, oldest first */
	struct lmtp_journal_record *head, *tail;
	/* the first record not durable yet, and the first whose saves have
	   not started (NULL: none). Both flags are set in sequence order,
	   and only records with both are freed, so a flush or an apply
	   starts here instead of walking the records that wait for a
	   durability point (hundreds of them: 250 ms of deliveries) */
	struct lmtp_journal_record *first_undurable, *first_unapplying;
	/* logical positions: the ring offset is lpos % RING */
	uint64_t tail_lpos, next_seq;
	/* the head the last durable header names */
	uint64_t durable_head_lpos;
	uint64_t gen;
	/* the fdatasync() in flight: records below flush_seq_end, the head
	   it writes */
	bool flushing;
	uint64_t flush_seq_end, flush_head_lpos;
	int flush_errno;
	struct timeout *to_head;
	/* starts the saves of durable records if no fdatasync() does */
	struct timeout *to_apply;
	/* the fdatasync() ran inline (no worker free): its done callback
	   follows from the ioloop */
	struct timeout *to_flush_done;
	/* holding a master client while there is work left */
	bool busy;
	unsigned long long appends, fdatasyncs, syncfs_points;

	/* durability points: syncfs() in a thread of their own (never
	   behind an fdatasync() of the journal, nor in front of one) */
	struct worker_pool *sync_workers;
	ARRAY_TYPE(lmtp_journal_fs) fs;
	unsigned int sync_interval_msecs;
	struct timeout *to_point;
	bool point_running, deinitializing;
	/* the running point's fds (dups: the array may grow meanwhile) */
	int *point_fds;
	unsigned int point_fd_count;
	int point_errno;
};

static struct lmtp_journal *journal;

static uint64_t lmtp_journal_fnv(uint64_t h, const void *data, size_t size)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < size; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t lmtp_journal_rec_checksum(uint64_t seq, uint32_t size,
					  const void *payload)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = lmtp_journal_fnv(h, &seq, sizeof(seq));
	h = lmtp_journal_fnv(h, &size, sizeof(size));
	return lmtp_journal_fnv(h, payload, size);
}

static uint64_t lmtp_journal_hdr_checksum(const struct lmtp_journal_header *hdr)
{
	return lmtp_journal_fnv(0xcbf29ce484222325ULL, hdr,
				offsetof(struct lmtp_journal_header, checksum));
}

static uint64_t
lmtp_journal_hdr_boot_checksum(const struct lmtp_journal_header *hdr)
{
	return lmtp_journal_fnv(0xcbf29ce484222325ULL, hdr,
				offsetof(struct lmtp_journal_header,
					 boot_checksum));
}

/* This boot's id, NUL-padded; all zero if the kernel does not say. */
static void lmtp_journal_get_boot_id(char boot_id_r[40])
{
	static char boot_id[40];
	static bool read_once = false;

	if (!read_once) {
		int fd = open("/proc/sys/kernel/random/boot_id",
			      O_RDONLY | O_CLOEXEC);
		ssize_t n = fd == -1 ? -1 :
			read(fd, boot_id, sizeof(boot_id) - 1);
		if (fd != -1)
			(void)close(fd);
		if (n <= 0)
			memset(boot_id, 0, sizeof(boot_id));
		else {
			/* the trailing newline goes */
			while (n > 0 && (boot_id[n - 1] == '\n' ||
					 boot_id[n - 1] == '\0'))
				n--;
			memset(boot_id + n, 0, sizeof(boot_id) - (size_t)n);
		}
		read_once = true;
	}
	memcpy(boot_id_r, boot_id, sizeof(boot_id));
}

static uint64_t lmtp_journal_align(uint64_t n)
{
	return (n + LMTP_JOURNAL_PAGE - 1) & ~(LMTP_JOURNAL_PAGE - 1);
}

static uint64_t lmtp_journal_phys(const struct lmtp_journal *j, uint64_t lpos)
{
	return LMTP_JOURNAL_FIRST + lpos % j->ring;
}

/* --- payload encoding --- */

static void payload_add_u32(buffer_t *buf, uint32_t n)
{
	buffer_append(buf, &n, sizeof(n));
}

static void payload_add_str(buffer_t *buf, const char *str)
{
	size_t len = strlen(str);

	payload_add_u32(buf, (uint32_t)len);
	buffer_append(buf, str, len);
}

static void lmtp_journal_encode(buffer_t *buf,
				const struct lmtp_journal_entry *entry)
{
	int64_t date = entry->date;

	payload_add_u32(buf, LMTP_JOURNAL_PAYLOAD_VERSION);
	buffer_append(buf, &date, sizeof(date));
	payload_add_u32(buf, entry->rcpt_count);
	for (unsigned int i = 0; i < entry->rcpt_count; i++) {
		const struct lmtp_journal_rcpt *rcpt = &entry->rcpts[i];
		unsigned int n = rcpt->userdb_fields == NULL ? 0 :
			str_array_length(rcpt->userdb_fields);
		payload_add_str(buf, rcpt->username);
		payload_add_str(buf, rcpt->mailbox);
		payload_add_str(buf, rcpt->guid);
		payload_add_str(buf, rcpt->header);
		payload_add_u32(buf, n);
		for (unsigned int j = 0; j < n; j++)
			payload_add_str(buf, rcpt->userdb_fields[j]);
	}
	payload_add_u32(buf, (uint32_t)entry->body_size);
	buffer_append(buf, entry->body, entry->body_size);
}

struct payload_reader {
	const unsigned char *p, *end;
	bool failed;
};

static uint32_t payload_read_u32(struct payload_reader *r)
{
	uint32_t n;

	if (r->failed || (size_t)(r->end - r->p) < sizeof(n)) {
		r->failed = true;
		return 0;
	}
	memcpy(&n, r->p, sizeof(n));
	r->p += sizeof(n);
	return n;
}

static const unsigned char *
payload_read_bytes(struct payload_reader *r, size_t size)
{
	if (r->failed || (size_t)(r->end - r->p) < size) {
		r->failed = true;
		return NULL;
	}
	const unsigned char *data = r->p;
	r->p += size;
	return data;
}

static const char *payload_read_str(struct payload_reader *r, pool_t pool)
{
	uint32_t len = payload_read_u32(r);
	const unsigned char *data = payload_read_bytes(r, len);

	if (data == NULL || memchr(data, '\0', len) != NULL) {
		r->failed = true;
		return "";
	}
	return p_strndup(pool, data, len);
}

/* Decode a payload; the body points into data. */
static bool lmtp_journal_decode(pool_t pool, const unsigned char *data,
				size_t size, struct lmtp_journal_entry *entry_r)
{
	struct payload_reader r = { .p = data, .end = data + size };
	const unsigned char *date;
	int64_t date64;

	memset(entry_r, 0, sizeof(*entry_r));
	if (payload_read_u32(&r) != LMTP_JOURNAL_PAYLOAD_VERSION)
		return false;
	if ((date = payload_read_bytes(&r, sizeof(date64))) == NULL)
		return false;
	memcpy(&date64, date, sizeof(date64));
	entry_r->date = (time_t)date64;
	uint32_t count = payload_read_u32(&r);
	if (r.failed || count == 0 || count > size)
		return false;
	struct lmtp_journal_rcpt *rcpts =
		p_new(pool, struct lmtp_journal_rcpt, count);
	for (uint32_t i = 0; i < count && !r.failed; i++) {
		rcpts[i].username = payload_read_str(&r, pool);
		rcpts[i].mailbox = payload_read_str(&r, pool);
		rcpts[i].guid = payload_read_str(&r, pool);
		rcpts[i].header = payload_read_str(&r, pool);
		uint32_t n = payload_read_u32(&r);
		if (n > size) {
			r.failed = true;
			break;
		}
		const char **fields = p_new(pool, const char *, n + 1);
		for (uint32_t j = 0; j < n; j++)
			fields[j] = payload_read_str(&r, pool);
		rcpts[i].userdb_fields = fields;
		if (strlen(rcpts[i].guid) != MAIL_INDEX_MAILBOX_GUID_LEN)
			r.failed = true;
	}
	uint32_t body_size = payload_read_u32(&r);
	entry_r->body = payload_read_bytes(&r, body_size);
	entry_r->body_size = body_size;
	entry_r->rcpts = rcpts;
	entry_r->rcpt_count = count;
	return !r.failed && r.p == r.end;
}

/* --- the filesystems of deferred saves --- */

static void lmtp_journal_fs_mark(ARRAY_TYPE(lmtp_journal_fs) *fs,
				 const char *path, int fd)
{
	struct lmtp_journal_fs *f;
	struct stat st;

	if ((fd != -1 ? fstat(fd, &st) : stat(path, &st)) < 0) {
		/* which filesystem to sync is unknowable: acknowledged
		   saves would never be covered */
		i_fatal("lmtp journal: stat(%s) failed: %m", path);
	}
	array_foreach(fs, f) {
		if (f->dev == st.st_dev) {
			f->dirty = true;
			return;
		}
	}
	int new_fd = fd != -1 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) :
		open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (new_fd == -1)
		i_fatal("lmtp journal: open(%s) failed: %m", path);
	f = array_append_space(fs);
	f->dev = st.st_dev;
	f->fd = new_fd;
	f->dirty = true;
}

/* Mark the filesystems of user's blob store and index dirty. Returns
   false if the user's saves are not deferred (S3: durable on their
   own). */
static bool lmtp_journal_fs_touch(ARRAY_TYPE(lmtp_journal_fs) *fs,
				  struct mail_user *user)
{
	const char *index_path, *p;
	int blob_fd;

	if (!mail_user_get_syncfs_targets(user, &blob_fd, &index_path))
		return false;
	lmtp_journal_fs_mark(fs, "the blob store", blob_fd);
	/* its directory: an fd of the database file itself would drop
	   SQLite's POSIX locks of the process when closed */
	p = strrchr(index_path, '/');
	T_BEGIN {
		lmtp_journal_fs_mark(fs, p == NULL ? "." :
				     p == index_path ? "/" :
				     t_strndup(index_path, (size_t)(p - index_path)),
				     -1);
	} T_END;
	return true;
}

static void lmtp_journal_fs_free(ARRAY_TYPE(lmtp_journal_fs) *fs)
{
	const struct lmtp_journal_fs *f;

	array_foreach(fs, f)
		(void)close(f->fd);
	array_free(fs);
}

/* --- replay (start-up, synchronous) --- */

struct lmtp_journal_replay_ctx {
	/* the filesystems the replay touched: synced before the file goes */
	ARRAY_TYPE(lmtp_journal_fs) fs;
	/* UIDs to skip in a mailbox before its first copy saved again, 0
	   for none: see lmtp_journal_replay_skip_uids() */
	unsigned int skip_uids;
	/* "username\tmailbox id" of the mailboxes skipped in */
	struct hash_table *skipped;
	pool_t pool;
};

/* The journal was written in another boot: a power failure or a crash of
   the machine may have lost the tail of an index's WAL that only
   deferred saves had written, and with it UIDs that IMAP clients were
   shown. Saving those copies again would hand the same UIDs to other
   messages. Every such UID belongs to a copy still in the journal, so
   the mailbox's next ctx->skip_uids UIDs (the number of records in the
   journal) are reserved and dropped, once, before its first copy is
   saved again: the copies come back above any UID a client saw. */
static int lmtp_journal_replay_skip_uids(struct lmtp_journal_replay_ctx *ctx,
					 const char *username,
					 struct mail_index *index,
					 uint32_t mailbox_id)
{
	struct mail_index_reservation *res;

	if (ctx->skip_uids == 0)
		return 0;
	const char *key = t_strdup_printf("%s\t%u", username, mailbox_id);
	if (hash_table_lookup(ctx->skipped, key) != NULL)
		return 0;
	if (mail_index_reserve_uids(index, mailbox_id, ctx->skip_uids,
				    &res) < 0)
		return -1;
	i_info("lmtp journal: replay after a restart of the machine: %s's "
	       "mailbox %u skips UIDs %u-%u (any of them may have been seen "
	       "before its index lost them)", str_sanitize(username, 200),
	       mailbox_id, mail_index_reservation_get_uid1(res),
	       mail_index_reservation_get_uid2(res));
	mail_index_reservation_free(&res);
	char *pkey = p_strdup(ctx->pool, key);
	hash_table_insert(ctx->skipped, pkey, pkey);
	return 0;
}

/* Save one recipient's copy unless the mailbox has it already; one that
   is there has its blob checked (a deferred save's blob may be lost or
   short after a power failure) and written again if it must. The
   filesystems of the user's storage go into fs: the copies found there
   may still be in the page cache only (a crash of the process). Returns
   1 if saved (or its blob written again), 0 if it was there, -1 on error
   (logged). */
static int lmtp_journal_replay_rcpt(const struct lmtp_journal_entry *entry,
				    const struct lmtp_journal_rcpt *rcpt,
				    struct lmtp_journal_replay_ctx *ctx)
{
	struct mail_user *user;
	struct mailbox *box = NULL;
	struct mail_index_mailbox ibox;
	const char *error, *name = rcpt->mailbox;
	int ret = -1;

	if (mail_user_setup(lmtp.set, rcpt->username, rcpt->userdb_fields,
			    NULL, &user, &error) < 0) {
		i_error("lmtp journal: replay: opening the storage of %s failed: %s",
			str_sanitize(rcpt->username, 200), error);
		return -1;
	}
	if (mailbox_open(user, name, &box) < 0 && strcmp(name, "INBOX") != 0) {
		/* the detail mailbox went away meanwhile */
		name = "INBOX";
		if (mailbox_open(user, name, &box) < 0)
			box = NULL;
	}
	if (box == NULL)
		goto out;
	(void)lmtp_journal_fs_touch(&ctx->fs, user);
	struct mail_index *index = mail_user_get_index(user);
	if (mail_index_mailbox_lookup(index, name, pool_datastack, &ibox) <= 0)
		goto out;
	int exists = mail_index_message_guid_exists(index, ibox.id, rcpt->guid);
	if (exists > 0) {
		ret = mailbox_verify_saved_blob(box, rcpt->guid, rcpt->header,
						strlen(rcpt->header),
						entry->body, entry->body_size);
		goto out;
	}
	if (exists < 0)
		goto out;
	if (lmtp_journal_replay_skip_uids(ctx, rcpt->username, index,
					  ibox.id) < 0)
		goto out;
	/* a lost index row may have left its blob: the UID, and so the
	   key, can come again */
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC |
					  MAILBOX_TRANSACTION_FLAG_REPLACE_BLOBS);
	struct mail_save_context *save =
		mail_save_begin_guid(t, 0, entry->date, 0, rcpt->guid);
	struct mail_transaction_commit_result result;
	if (save == NULL) {
		mailbox_transaction_rollback(&t);
		goto out;
	}
	(void)mail_save_write(save, rcpt->header, strlen(rcpt->header));
	(void)mail_save_write(save, entry->body, entry->body_size);
	if (mail_save_finish(&save) < 0) {
		/* the commit reports it */
	}
	if (mailbox_transaction_commit_sync(&t, pool_datastack, &result) == 0)
		ret = 1;
out:
	if (ret < 0) {
		const char *user_text, *internal_text;
		(void)mail_user_get_last_error(user, &user_text, &internal_text);
		i_error("lmtp journal: replay: saving to %s of %s failed: %s",
			str_sanitize(name, 100), str_sanitize(rcpt->username, 200),
			internal_text != NULL ? internal_text : user_text);
	}
	if (box != NULL)
		mailbox_close(&box);
	mail_user_deinit(&user);
	return ret;
}

static bool lmtp_journal_read_header(int fd, uint64_t file_size,
				     struct lmtp_journal_header *hdr_r)
{
	struct lmtp_journal_header hdr[2];
	bool found = false;

	for (unsigned int i = 0; i < 2; i++) {
		if (pread(fd, &hdr[i], sizeof(hdr[i]),
			  (off_t)(i * LMTP_JOURNAL_PAGE)) != sizeof(hdr[i]) ||
		    hdr[i].magic != LMTP_JOURNAL_HDR_MAGIC ||
		    hdr[i].checksum != lmtp_journal_hdr_checksum(&hdr[i]) ||
		    hdr[i].head_off < LMTP_JOURNAL_FIRST ||
		    hdr[i].head_off >= file_size)
			continue;
		if (!found || hdr[i].gen > hdr_r->gen)
			*hdr_r = hdr[i];
		found = true;
	}
	return found;
}

/* Read the record at off if it is the one with sequence seq. */
static bool lmtp_journal_read_record(int fd, uint64_t file_size, uint64_t off,
				     uint64_t seq, buffer_t *payload,
				     uint64_t *len_r)
{
	struct lmtp_journal_rec_header rh;

	if (off + sizeof(rh) > file_size ||
	    pread(fd, &rh, sizeof(rh), (off_t)off) != sizeof(rh) ||
	    rh.magic != LMTP_JOURNAL_REC_MAGIC || rh.seq != seq ||
	    off + sizeof(rh) + rh.size > file_size)
		return false;
	buffer_set_used_size(payload, 0);
	void *data = buffer_append_space(payload, rh.size);
	if (pread(fd, data, rh.size, (off_t)(off + sizeof(rh))) != (ssize_t)rh.size ||
	    lmtp_journal_rec_checksum(rh.seq, rh.size, data) != rh.checksum)
		return false;
	*len_r = lmtp_journal_align(sizeof(rh) + rh.size);
	return true;
}

/* Read the record with sequence seq at *off, or at the start of the ring
   when it did not fit at the end (*off is moved there). */
static bool lmtp_journal_next_record(int fd, uint64_t file_size,
				     uint64_t *off, uint64_t seq,
				     buffer_t *payload, uint64_t *len_r)
{
	if (lmtp_journal_read_record(fd, file_size, *off, seq, payload, len_r))
		return true;
	*off = LMTP_JOURNAL_FIRST;
	return lmtp_journal_read_record(fd, file_size, *off, seq, payload,
					len_r);
}

/* The number of records in the chain from the header's head. */
static unsigned int
lmtp_journal_count_records(int fd, uint64_t file_size,
			   const struct lmtp_journal_header *hdr,
			   buffer_t *payload)
{
	uint64_t off = hdr->head_off, seq = hdr->head_seq, len;
	unsigned int count = 0;

	while (lmtp_journal_next_record(fd, file_size, &off, seq, payload,
					&len)) {
		count++;
		off += len;
		if (off >= file_size)
			off = LMTP_JOURNAL_FIRST;
		seq++;
	}
	return count;
}

/* Save every entry of a dead process's journal. Returns 0 if all are in
   their users' storage now. */
static int lmtp_journal_replay(int fd, const char *path)
{
	struct lmtp_journal_header hdr = { .magic = 0 };
	struct lmtp_journal_replay_ctx ctx;
	buffer_t *payload;
	unsigned int entries = 0, saved = 0;
	uint64_t len;
	int ret = 0;

	struct stat st;
	if (fstat(fd, &st) < 0) {
		i_error("lmtp journal: fstat(%s) failed: %m", path);
		return -1;
	}
	/* the size this file was created with (lmtp_journal_size may
	   have changed since) */
	uint64_t file_size = (uint64_t)st.st_size;
	if (!lmtp_journal_read_header(fd, file_size, &hdr)) {
		/* the header is written and synced before the first record:
		   nothing was ever acknowledged from this file */
		return 0;
	}
	payload = buffer_create(system_pool, 8192);
	memset(&ctx, 0, sizeof(ctx));
	array_init(&ctx.fs, system_pool, 4);
	ctx.pool = pool_alloconly_create("lmtp journal replay", 1024);
	ctx.skipped = hash_table_create_str(system_pool, 16);
	char boot_id[40];
	lmtp_journal_get_boot_id(boot_id);
	if (boot_id[0] == '\0' ||
	    hdr.boot_checksum != lmtp_journal_hdr_boot_checksum(&hdr) ||
	    memcmp(hdr.boot_id, boot_id, sizeof(boot_id)) != 0) {
		ctx.skip_uids = lmtp_journal_count_records(fd, file_size, &hdr,
							   payload);
	}
	uint64_t off = hdr.head_off, seq = hdr.head_seq;
	while (lmtp_journal_next_record(fd, file_size, &off, seq, payload,
					&len)) {
		T_BEGIN {
			struct lmtp_journal_entry entry;
			if (!lmtp_journal_decode(pool_datastack, payload->data,
						 payload->used, &entry)) {
				/* the checksum matched: written by another
				   version of this code */
				i_error("lmtp journal: %s: record %llu cannot be decoded",
					path, (unsigned long long)seq);
				ret = -1;
			} else {
				for (unsigned int i = 0; i < entry.rcpt_count; i++) {
					int r = lmtp_journal_replay_rcpt(&entry,
							&entry.rcpts[i], &ctx);
					if (r < 0)
						ret = -1;
					else
						saved += r;
				}
			}
		} T_END;
		entries++;
		off += len;
		if (off >= file_size)
			off = LMTP_JOURNAL_FIRST;
		seq++;
	}
	buffer_free(&payload);
	/* what was found saved may be in the page cache only: on disk
	   before the journal goes */
	const struct lmtp_journal_fs *f;
	array_foreach(&ctx.fs, f) {
		if (syncfs(f->fd) < 0) {
			i_error("lmtp journal: %s: syncfs() failed: %m", path);
			ret = -1;
		}
	}
	lmtp_journal_fs_free(&ctx.fs);
	hash_table_destroy(&ctx.skipped);
	pool_unref(&ctx.pool);
	if (entries > 0) {
		i_info("lmtp journal: %s: replayed %u deliveries, %u copies saved "
		       "now (the others were saved before)%s", path, entries,
		       saved, ret < 0 ? "; some failed, kept for the next start" : "");
	}
	return ret;
}

/* Replay the journals nobody holds. */
static void lmtp_journal_replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		bool tmp = strncmp(de->d_name, "tmp.", 4) == 0;
		if (strncmp(de->d_name, "journal.", 8) != 0 && !tmp)
			continue;
		T_BEGIN {
			const char *path = t_strdup_printf("%s/%s", dir, de->d_name);
			int fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd == -1)
				i_error("lmtp journal: open(%s) failed: %m", path);
			else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
				/* a live process's journal */
			} else if (tmp || lmtp_journal_replay(fd, path) == 0) {
				if (unlink(path) < 0)
					i_error("lmtp journal: unlink(%s) failed: %m", path);
			}
			if (fd != -1)
				(void)close(fd);
		} T_END;
	}
	(void)closedir(d);
}

/* --- this process's journal --- */

static int lmtp_journal_write_header(struct lmtp_journal *j, uint64_t head_lpos,
				     uint64_t head_seq)
{
	struct lmtp_journal_header hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = LMTP_JOURNAL_HDR_MAGIC;
	hdr.gen = ++j->gen;
	hdr.head_off = lmtp_journal_phys(j, head_lpos);
	hdr.head_seq = head_seq;
	hdr.checksum = lmtp_journal_hdr_checksum(&hdr);
	lmtp_journal_get_boot_id(hdr.boot_id);
	hdr.boot_checksum = lmtp_journal_hdr_boot_checksum(&hdr);
	if (pwrite(j->fd, &hdr, sizeof(hdr),
		   (off_t)((hdr.gen % 2) * LMTP_JOURNAL_PAGE)) != sizeof(hdr)) {
		i_error("lmtp journal: write(%s) failed: %m", j->path);
		return -1;
	}
	return 0;
}

static int lmtp_journal_create(struct lmtp_journal *j)
{
	const char *tmp_path = t_strdup_printf("%s/tmp.%d", j->dir, getpid());
	unsigned char *zero;
	int dir_fd;

	j->path = i_strdup_printf("%s/journal.%d.%ld", j->dir, getpid(),
				  (long)time(NULL));
	(void)unlink(tmp_path);
	j->fd = open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->fd == -1) {
		i_error("lmtp journal: open(%s) failed: %m", tmp_path);
		return -1;
	}
	/* held while the process lives: the next process replays the file
	   only once we are gone */
	if (flock(j->fd, LOCK_EX) < 0) {
		i_error("lmtp journal: flock(%s) failed: %m", tmp_path);
		goto fail;
	}
	/* every block written once: an fdatasync() of a record then writes
	   data only, no allocation for the filesystem's journal */
	zero = i_malloc(1024 * 1024);
	for (uint64_t off = 0; off < j->file_size; off += 1024 * 1024) {
		if (pwrite(j->fd, zero, 1024 * 1024, (off_t)off) != 1024 * 1024) {
			i_error("lmtp journal: write(%s) failed: %m", tmp_path);
			i_free(zero);
			goto fail;
		}
	}
	i_free(zero);
	if (lmtp_journal_write_header(j, 0, j->next_seq) < 0)
		goto fail;
	if (fsync(j->fd) < 0) {
		i_error("lmtp journal: fsync(%s) failed: %m", tmp_path);
		goto fail;
	}
	if (rename(tmp_path, j->path) < 0) {
		i_error("lmtp journal: rename(%s, %s) failed: %m", tmp_path, j->path);
		goto fail;
	}
	dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1 || fsync(dir_fd) < 0) {
		i_error("lmtp journal: fsync(%s) failed: %m", j->dir);
		if (dir_fd != -1)
			(void)close(dir_fd);
		(void)unlink(j->path);
		goto fail_closed;
	}
	(void)close(dir_fd);
	return 0;
fail:
	(void)unlink(tmp_path);
fail_closed:
	(void)close(j->fd);
	j->fd = -1;
	return -1;
}

static uint64_t lmtp_journal_head_lpos(const struct lmtp_journal *j,
				       uint64_t *seq_r)
{
	if (j->head == NULL) {
		*seq_r = j->next_seq;
		return j->tail_lpos;
	}
	*seq_r = j->head->seq;
	return j->head->lpos;
}

/* Hold the process while entries wait to be saved or the head to be
   made durable, so a graceful stop finishes them. */
static void lmtp_journal_update_busy(struct lmtp_journal *j)
{
	uint64_t seq;
	bool busy = j->head != NULL || j->flushing ||
		lmtp_journal_head_lpos(j, &seq) != j->durable_head_lpos;

	if (busy == j->busy)
		return;
	j->busy = busy;
	if (busy)
		master_service_client_connected(lmtp.service);
	else
		master_service_client_disconnected(lmtp.service);
}

static void lmtp_journal_flush_start(struct lmtp_journal *j, bool head_now);
static void lmtp_journal_apply_start(struct lmtp_journal_apply *ap);

static void lmtp_journal_flush_work(void *context)
{
	struct lmtp_journal *j = context;

	j->flush_errno = fdatasync(j->fd) < 0 ? errno : 0;
}

static void lmtp_journal_record_free(struct lmtp_journal_record *rec)
{
	for (unsigned int i = 0; i < rec->entry.rcpt_count; i++)
		mail_quota_reservation_free(&rec->applies[i].quota);
	buffer_free(&rec->payload);
	pool_unref(&rec->pool);
	i_free(rec->applies);
	i_free(rec);
}

/* Start the saves of every durable record whose saves have not started. */
static void lmtp_journal_apply_durable(struct lmtp_journal *j)
{
	struct lmtp_journal_record *rec;

	timeout_remove(&j->to_apply);
	for (rec = j->first_unapplying; rec != NULL && rec->durable;
	     rec = rec->next) {
		i_assert(!rec->applying);
		rec->applying = true;
		for (unsigned int i = 0; i < rec->entry.rcpt_count; i++)
			lmtp_journal_apply_start(&rec->applies[i]);
	}
	j->first_unapplying = rec;
}

static void lmtp_journal_apply_timeout(void *context)
{
	struct lmtp_journal *j = context;

	lmtp_journal_apply_durable(j);
	lmtp_journal_update_busy(j);
}

static void lmtp_journal_flush_done(void *context)
{
	struct lmtp_journal *j = context;
	struct lmtp_journal_record *rec;

	timeout_remove(&j->to_flush_done);
	j->flushing = false;
	if (j->flush_errno != 0) {
		/* whether the records reached the disk is unknowable now
		   (the kernel may have dropped the dirty pages); none was
		   acknowledged: stop, as the index does after a failed
		   fdatasync(), and let the next process replay what is
		   there */
		errno = j->flush_errno;
		i_fatal("lmtp journal: fdatasync(%s) failed: %m", j->path);
	}
	j->fdatasyncs++;
	j->durable_head_lpos = j->flush_head_lpos;
	/* the replies first: nothing else on the way to them */
	for (rec = j->first_undurable; rec != NULL &&
	     rec->seq < j->flush_seq_end; rec = rec->next) {
		i_assert(!rec->durable);
		rec->durable = true;
		rec->callback(rec->context);
	}
	j->first_undurable = rec;
	/* then the next fdatasync(), which starts the saves of these
	   records while it waits for the disk; without one, they start a
	   little later (a delivery is likely to be appended meanwhile) */
	lmtp_journal_flush_start(j, false);
	if (!j->flushing && j->to_apply == NULL) {
		j->to_apply = timeout_add(LMTP_JOURNAL_APPLY_DELAY_MSECS,
					  lmtp_journal_apply_timeout, j);
	}
	lmtp_journal_update_busy(j);
}

static void lmtp_journal_head_timeout(void *context)
{
	struct lmtp_journal *j = context;

	timeout_remove(&j->to_head);
	lmtp_journal_flush_start(j, true);
	lmtp_journal_update_busy(j);
}

/* Write the header and start an fdatasync() for the records appended
   since the last one; a head that moved without new records waits a
   little (head_now: not any more), an append is likely to come. */
static void lmtp_journal_flush_start(struct lmtp_journal *j, bool head_now)
{
	uint64_t head_seq, head_lpos = lmtp_journal_head_lpos(j, &head_seq);

	if (j->flushing)
		return;
	bool unflushed = j->tail != NULL && !j->tail->durable &&
		j->tail->seq >= j->flush_seq_end;
	if (!unflushed) {
		if (head_lpos == j->durable_head_lpos)
			return;
		if (!head_now) {
			if (j->to_head == NULL) {
				j->to_head = timeout_add(
					LMTP_JOURNAL_HEAD_FLUSH_MSECS,
					lmtp_journal_head_timeout, j);
			}
			return;
		}
	}
	timeout_remove(&j->to_head);
	if (lmtp_journal_write_header(j, head_lpos, head_seq) < 0)
		i_fatal("lmtp journal: cannot write the header of %s", j->path);
	j->flushing = true;
	j->flush_seq_end = j->next_seq;
	j->flush_head_lpos = head_lpos;
	if (worker_pool_run(j->workers, lmtp_journal_flush_work,
			    lmtp_journal_flush_done, j) == NULL) {
		lmtp_journal_flush_work(j);
		/* not from here: we may be inside lmtp_journal_append(),
		   and the callbacks reply and free the delivery */
		j->to_flush_done = timeout_add(0, lmtp_journal_flush_done, j);
	}
	/* the saves of durable records, while the disk works */
	lmtp_journal_apply_durable(j);
}

/* The head moves past the records whose saves are durable. */
static void lmtp_journal_retire_head(struct lmtp_journal *j)
{
	while (j->head != NULL && j->head->retired) {
		struct lmtp_journal_record *first = j->head;
		i_assert(first != j->first_undurable &&
			 first != j->first_unapplying);
		j->head = first->next;
		if (j->head == NULL)
			j->tail = NULL;
		lmtp_journal_record_free(first);
	}
}

/* --- durability points --- */

static void lmtp_journal_point_start(struct lmtp_journal *j);

static void lmtp_journal_point_timeout(void *context)
{
	struct lmtp_journal *j = context;

	timeout_remove(&j->to_point);
	lmtp_journal_point_start(j);
}

/* A point for applied records not covered yet: after the interval, or
   at once when the ring is half full of records waiting for one. */
static void lmtp_journal_point_schedule(struct lmtp_journal *j)
{
	const struct lmtp_journal_record *rec;
	bool wanted = false;

	if (j->point_running || j->deinitializing)
		return;
	for (rec = j->head; rec != NULL && !wanted; rec = rec->next)
		wanted = rec->applied && !rec->retired;
	if (!wanted)
		return;
	if (j->sync_interval_msecs == 0 ||
	    j->tail_lpos - j->durable_head_lpos > j->ring / 2) {
		timeout_remove(&j->to_point);
		lmtp_journal_point_start(j);
	} else if (j->to_point == NULL) {
		j->to_point = timeout_add(j->sync_interval_msecs,
					  lmtp_journal_point_timeout, j);
	}
}

static void lmtp_journal_point_work(void *context)
{
	struct lmtp_journal *j = context;

	j->point_errno = 0;
	for (unsigned int i = 0; i < j->point_fd_count; i++) {
		if (syncfs(j->point_fds[i]) < 0 && j->point_errno == 0)
			j->point_errno = errno;
	}
}

static void lmtp_journal_point_done(void *context)
{
	struct lmtp_journal *j = context;
	struct lmtp_journal_record *rec;

	timeout_remove(&j->to_point);
	j->point_running = false;
	if (j->point_errno != 0) {
		/* the kernel may have dropped the pages that failed: the
		   records stay in the file, whose replay checks the blobs
		   and saves again what is missing */
		errno = j->point_errno;
		i_fatal("lmtp journal: syncfs() of the storage failed: %m");
	}
	j->syncfs_points++;
	for (rec = j->head; rec != NULL; rec = rec->next) {
		if (rec->covering) {
			rec->covering = false;
			rec->retired = true;
		}
	}
	lmtp_journal_retire_head(j);
	if (j->deinitializing)
		return;
	lmtp_journal_flush_start(j, false);
	lmtp_journal_point_schedule(j);
	lmtp_journal_update_busy(j);
}

/* Sync the filesystems deferred saves touched, in a thread: every record
   applied by now is durable once it returns (each save's blob and
   index frames were written before its commit callback, which came
   before this). */
static void lmtp_journal_point_start(struct lmtp_journal *j)
{
	struct lmtp_journal_record *rec;
	struct lmtp_journal_fs *f;
	unsigned int covered = 0;

	i_assert(!j->point_running);
	for (rec = j->head; rec != NULL; rec = rec->next) {
		if (rec->applied && !rec->retired) {
			rec->covering = true;
			covered++;
		}
	}
	if (covered == 0)
		return;
	i_free(j->point_fds);
	j->point_fds = i_new(int, array_count(&j->fs) + 1);
	j->point_fd_count = 0;
	array_foreach(&j->fs, f) {
		if (f->dirty) {
			f->dirty = false;
			j->point_fds[j->point_fd_count++] = f->fd;
		}
	}
	j->point_running = true;
	if (worker_pool_run(j->sync_workers, lmtp_journal_point_work,
			    lmtp_journal_point_done, j) == NULL) {
		lmtp_journal_point_work(j);
		j->to_point = timeout_add(0, lmtp_journal_point_done, j);
	}
}

/* Every recipient has the entry: its space can go once it is durable
   there (at once unless a save was deferred), and the head moves. */
static void lmtp_journal_record_applied(struct lmtp_journal_record *rec)
{
	struct lmtp_journal *j = journal;

	rec->applied = true;
	if (!rec->deferred)
		rec->retired = true;
	lmtp_journal_retire_head(j);
	lmtp_journal_point_schedule(j);
	lmtp_journal_flush_start(j, false);
	lmtp_journal_update_busy(j);
}

/* --- saving journaled entries to the recipients' storage --- */

static void lmtp_journal_apply_release(struct lmtp_journal_apply *ap)
{
	timeout_remove(&ap->to);
	if (ap->box != NULL && ap->box_kept)
		lmtp_cached_user_mailbox_put(ap->cu, &ap->box, ap->failed);
	else if (ap->box != NULL)
		mailbox_close(&ap->box);
	ap->failed = false;
	if (ap->cu != NULL)
		lmtp_user_cache_unref(&ap->cu);
}

static void lmtp_journal_apply_retry(void *context)
{
	struct lmtp_journal_apply *ap = context;

	lmtp_journal_apply_release(ap);
	lmtp_journal_apply_start(ap);
}

/* After the commit's callback (the transaction uses the mailbox until
   it returns). */
static void lmtp_journal_apply_finished(void *context)
{
	struct lmtp_journal_apply *ap = context;
	struct lmtp_journal_record *rec = ap->rec;

	lmtp_journal_apply_release(ap);
	i_assert(rec->applies_pending > 0);
	if (--rec->applies_pending == 0)
		lmtp_journal_record_applied(rec);
}

static void lmtp_journal_apply_failed(struct lmtp_journal_apply *ap,
				      const char *what, const char *error)
{
	const struct lmtp_journal_rcpt *rcpt = &ap->rec->entry.rcpts[ap->idx];

	ap->failed = true;
	/* acknowledged already: the copy is saved, later (the entry stays
	   in the journal until it is) */
	if (ap->attempts++ < 3 || ap->attempts % 60 == 0) {
		i_error("lmtp journal: %s for %s failed (attempt %u, trying "
			"again): %s", what, str_sanitize(rcpt->username, 200),
			ap->attempts, error);
	}
	timeout_remove(&ap->to);
	ap->to = timeout_add(LMTP_JOURNAL_RETRY_MSECS, lmtp_journal_apply_retry,
			     ap);
}

static void lmtp_journal_apply_storage_failed(struct lmtp_journal_apply *ap,
					      const char *what)
{
	const char *user_text, *internal_text;

	(void)mail_user_get_last_error(lmtp_cached_user_get(ap->cu),
				       &user_text, &internal_text);
	lmtp_journal_apply_failed(ap, what,
		internal_text != NULL ? internal_text : user_text);
}

static void lmtp_journal_apply_commit_callback(int ret,
	const struct mail_transaction_commit_result *result ATTR_UNUSED,
	void *context)
{
	struct lmtp_journal_apply *ap = context;

	if (ret < 0) {
		T_BEGIN {
			lmtp_journal_apply_storage_failed(ap, "Saving the message");
		} T_END;
		return;
	}
	/* written, maybe not synced: the next durability point covers
	   the filesystems marked here */
	if (journal != NULL &&
	    lmtp_journal_fs_touch(&journal->fs, lmtp_cached_user_get(ap->cu)))
		ap->rec->deferred = true;
	ap->done = true;
	ap->to = timeout_add(0, lmtp_journal_apply_finished, ap);
}

/* The recipient's mailbox, or INBOX if it went away meanwhile (a detail
   mailbox); ap->box is NULL if neither opens. */
static void lmtp_journal_apply_open(struct lmtp_journal_apply *ap,
				    const char *name)
{
	ap->box = lmtp_cached_user_mailbox_get(ap->cu, name, &ap->box_kept);
	if (ap->box == NULL && strcmp(name, "INBOX") != 0) {
		ap->box = lmtp_cached_user_mailbox_get(ap->cu, "INBOX",
						       &ap->box_kept);
	}
}

/* The retried copy's reservation: its RFC822.SIZE (header and body,
   bare LFs counted as CRLF). */
static void lmtp_journal_apply_reserve(struct lmtp_journal_apply *ap)
{
	const struct lmtp_journal_entry *entry = &ap->rec->entry;
	const struct lmtp_journal_rcpt *rcpt = &entry->rcpts[ap->idx];
	const unsigned char *p = entry->body, *end = p + entry->body_size;
	enum mail_quota_result result;
	uint64_t size = strlen(rcpt->header) + entry->body_size;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (p == entry->body || p[-1] != '\r')
			size++;
		p++;
	}
	if (mail_user_quota_reserve(lmtp_cached_user_get(ap->cu), size, 1,
				    MAIL_QUOTA_FLAG_FORCE, &result,
				    &ap->quota) < 0) {
		/* FORCE reads nothing: cannot fail */
	}
}

static void lmtp_journal_apply_start(struct lmtp_journal_apply *ap)
{
	const struct lmtp_journal_entry *entry = &ap->rec->entry;
	const struct lmtp_journal_rcpt *rcpt = &entry->rcpts[ap->idx];
	const char *error;

	T_BEGIN {
		ap->cu = lmtp_user_cache_ref(rcpt->username,
					     rcpt->userdb_fields, &error);
		if (ap->cu == NULL) {
			lmtp_journal_apply_failed(ap, "Opening the storage",
						  error);
		} else {
			struct mailbox_transaction *t = NULL;
			struct mail_save_context *save = NULL;
			/* a kept handle whose mailbox was renamed or deleted
			   fails the reservation: then once more, afresh */
			for (unsigned int try = 0; try < 2 && save == NULL; try++) {
				if (t != NULL) {
					mailbox_transaction_rollback(&t);
					if (!ap->box_kept)
						break;
					lmtp_cached_user_mailbox_put(ap->cu,
						&ap->box, true);
				}
				lmtp_journal_apply_open(ap, rcpt->mailbox);
				t = ap->box == NULL ? NULL :
					mailbox_transaction_begin(ap->box,
						MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC);
				save = t == NULL ? NULL :
					mail_save_begin_guid(t, 0, entry->date,
							     0, rcpt->guid);
			}
			if (save == NULL) {
				if (t != NULL)
					mailbox_transaction_rollback(&t);
				lmtp_journal_apply_storage_failed(ap,
					"Starting the save");
			} else {
				/* the commit reports a failed write */
				(void)mail_save_write(save, rcpt->header,
						      strlen(rcpt->header));
				(void)mail_save_write(save, entry->body,
						      entry->body_size);
				if (mail_save_finish(&save) < 0) {
					/* the commit reports it */
				}
				/* counted until the index commit counts
				   the copy; a failed commit dropped it:
				   the copy was accepted, it counts again
				   whatever the usage is now */
				if (ap->quota == NULL && ap->attempts > 0)
					lmtp_journal_apply_reserve(ap);
				mailbox_transaction_set_quota_reservation(t,
					&ap->quota);
				mailbox_transaction_commit(&t,
					lmtp_journal_apply_commit_callback, ap);
			}
		}
	} T_END;
}

/* --- appending --- */

bool lmtp_journal_is_enabled(void)
{
	return journal != NULL;
}

size_t lmtp_journal_max_body_size(void)
{
	/* room for the recipients' headers */
	return (journal != NULL ? journal->max_record :
		LMTP_JOURNAL_MAX_RECORD) / 2;
}

bool lmtp_journal_append(const struct lmtp_journal_entry *entry,
			 lmtp_journal_callback_t *callback, void *context)
{
	struct lmtp_journal *j = journal;
	struct lmtp_journal_rec_header rh;

	i_assert(j != NULL);
	i_assert(entry->rcpt_count > 0);
	buffer_t *payload = buffer_create(system_pool,
		sizeof(rh) + entry->body_size + 1024 * entry->rcpt_count);
	memset(buffer_append_space(payload, sizeof(rh)), 0, sizeof(rh));
	lmtp_journal_encode(payload, entry);
	uint64_t len = lmtp_journal_align(payload->used);
	if (len > j->max_record) {
		buffer_free(&payload);
		return false;
	}
	uint64_t lpos = j->tail_lpos;
	if (lpos % j->ring + len > j->ring) {
		/* to the start of the ring: the replay looks there when
		   the next record is not where the last one ended */
		lpos += j->ring - lpos % j->ring;
	}
	if (lpos + len - j->durable_head_lpos > j->ring) {
		/* full of entries not saved yet (or whose saving is not
		   durably recorded yet) */
		buffer_free(&payload);
		return false;
	}

	memset(&rh, 0, sizeof(rh));
	rh.magic = LMTP_JOURNAL_REC_MAGIC;
	rh.size = (uint32_t)(payload->used - sizeof(rh));
	rh.seq = j->next_seq;
	rh.checksum = lmtp_journal_rec_checksum(rh.seq, rh.size,
						payload->data + sizeof(rh));
	memcpy(payload->data, &rh, sizeof(rh));
	if (pwrite(j->fd, payload->data, payload->used,
		   (off_t)lmtp_journal_phys(j, lpos)) != (ssize_t)payload->used) {
		i_error("lmtp journal: write(%s) failed: %m", j->path);
		buffer_free(&payload);
		return false;
	}

	struct lmtp_journal_record *rec = i_new(struct lmtp_journal_record, 1);
	rec->lpos = lpos;
	rec->len = len;
	rec->seq = j->next_seq++;
	rec->payload = payload;
	rec->pool = pool_alloconly_create("lmtp journal record", 1024);
	/* the entry as a replay would see it */
	if (!lmtp_journal_decode(rec->pool,
				 payload->data + sizeof(rh),
				 rh.size, &rec->entry))
		i_panic("lmtp journal: an entry just encoded does not decode");
	rec->applies = i_new(struct lmtp_journal_apply, rec->entry.rcpt_count);
	for (unsigned int i = 0; i < rec->entry.rcpt_count; i++) {
		rec->applies[i].rec = rec;
		rec->applies[i].idx = i;
		rec->applies[i].quota = entry->rcpts[i].quota;
	}
	rec->applies_pending = rec->entry.rcpt_count;
	rec->callback = callback;
	rec->context = context;
	j->tail_lpos = lpos + len;
	if (j->tail == NULL)
		j->head = rec;
	else
		j->tail->next = rec;
	j->tail = rec;
	if (j->first_undurable == NULL)
		j->first_undurable = rec;
	if (j->first_unapplying == NULL)
		j->first_unapplying = rec;
	j->appends++;
	lmtp_journal_flush_start(j, false);
	lmtp_journal_update_busy(j);
	return true;
}

void lmtp_journal_get_stats(unsigned long long *appends_r,
			    unsigned long long *fdatasyncs_r)
{
	*appends_r = journal == NULL ? 0 : journal->appends;
	*fdatasyncs_r = journal == NULL ? 0 : journal->fdatasyncs;
}

/* --- init --- */

void lmtp_journal_init(const char *dir)
{
	struct lmtp_journal *j;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		i_warning("lmtp journal: mkdir(%s) failed: %m (delivering "
			  "without a journal)", dir);
		return;
	}
	lmtp_journal_replay_dir(dir);

	j = i_new(struct lmtp_journal, 1);
	j->dir = i_strdup(dir);
	j->fd = -1;
	/* whole MiB: the file is written a MiB at a time */
	j->file_size = lmtp.set->lmtp_journal_size & ~(1024ULL * 1024 - 1);
	if (j->file_size < LMTP_JOURNAL_MIN_FILE_SIZE)
		j->file_size = LMTP_JOURNAL_MIN_FILE_SIZE;
	j->ring = j->file_size - LMTP_JOURNAL_FIRST;
	j->max_record = I_MIN(LMTP_JOURNAL_MAX_RECORD,
			      (j->ring / 8) & ~(LMTP_JOURNAL_PAGE - 1));
	j->next_seq = 1;
	if (lmtp_journal_create(j) < 0) {
		i_warning("lmtp journal: delivering without a journal");
		i_free(j->path);
		i_free(j->dir);
		i_free(j);
		return;
	}
	j->workers = worker_pool_create(1, 4);
	j->sync_workers = worker_pool_create(1, 4);
	array_init(&j->fs, system_pool, 4);
	j->sync_interval_msecs = lmtp.set->lmtp_journal_sync_interval;
	journal = j;
}

void lmtp_journal_deinit(void)
{
	struct lmtp_journal *j = journal;

	if (j == NULL)
		return;
	/* a running point's done callback comes inside the destroy: what
	   it covered goes */
	j->deinitializing = true;
	worker_pool_destroy(&j->sync_workers);
	journal = NULL;
	worker_pool_destroy(&j->workers);
	timeout_remove(&j->to_point);
	timeout_remove(&j->to_head);
	timeout_remove(&j->to_apply);
	timeout_remove(&j->to_flush_done);
	bool empty = j->head == NULL;
	while (j->head != NULL) {
		/* stopped before everything was saved: the next process
		   replays the file */
		struct lmtp_journal_record *rec = j->head;
		j->head = rec->next;
		for (unsigned int i = 0; i < rec->entry.rcpt_count; i++)
			lmtp_journal_apply_release(&rec->applies[i]);
		lmtp_journal_record_free(rec);
	}
	if (empty && unlink(j->path) < 0)
		i_error("lmtp journal: unlink(%s) failed: %m", j->path);
	(void)close(j->fd);
	lmtp_journal_fs_free(&j->fs);
	i_free(j->point_fds);
	if (j->busy)
		master_service_client_disconnected(lmtp.service);
	i_free(j->path);
	i_free(j->dir);
	i_free(j);
}
