/* Listing a mailbox's UIDs and flags for SELECT.

   From the index: stepping through 20,000 rows costs SQLite some 5-10 ms;
   reading one packed blob costs well under one. So a mailbox keeps a flag
   snapshot: its messages' UID, flags, keywords and modseq packed as of a
   modseq S. The list now is the snapshot, minus the UIDs expunged after S
   (the change log has them), with the rows whose modseq is above S laid
   over it (new messages and changed flags; a UID is never reused, so
   nothing else can differ). When enough has changed since S, the reader
   writes a fresh snapshot: a cache, so it is written without fsync and
   skipped if the write lock is busy. A snapshot older than the change
   log's pruned expunges, or whose result disagrees with the mailbox's
   message count, is not used. This is Dovecot's index-file-plus-
   transaction-log idea inside SQLite.

   In the process (mail-index-select.h): a large mailbox's list, once read,
   stays in memory as of its modseq, shared read-only by the sessions that
   select it; the next SELECT brings it up to date the same way from the
   rows changed since, without reading or copying the rest. Unpacking
   20,000 records into fresh memory was most of a SELECT's time (the page
   faults of ~1.5 MiB of arrays). */
#include "lib.h"
#include "hash.h"
#include "ioloop.h"
#include "event.h"
#include "mail-index-private.h"
#include "mail-index-select.h"

#include <sys/stat.h>

/* below this many messages the plain row scan is cheap enough */
#define SNAPSHOT_MIN_MESSAGES 1000
/* rewrite the snapshot when the rows to lay over it exceed this share */
#define SNAPSHOT_MAX_DELTA_DIVISOR 16
#define SNAPSHOT_MIN_DELTA 256
#define SNAPSHOT_VERSION 1
/* uid(4) flags(1) keyword bytes(1) modseq(8), then the keyword bytes */
#define SNAPSHOT_REC_HDR_SIZE 14
/* a bitmap longer than this keeps the mailbox out of snapshots */
#define SNAPSHOT_MAX_KW_BYTES 255

#define SELECT_CACHE_MAX_VIEWS 64
/* how often unused lists are looked for */
#define SELECT_CACHE_EXPIRE_CHECK_MSECS (30 * 1000)

/* Keyword lists, one per distinct bitmap, named from the mailbox's
   keywords table (whose names are never removed or renamed, so a list
   stays right). Names and lists live in pool; a cached view and the views
   copied from it share one (it only grows). */
struct select_kw {
	unsigned int refcount;
	pool_t pool;
	ARRAY_TYPE(mail_string) names;
	/* struct select_kw_key -> list (NULL: no bit has a name) */
	struct hash_table *lists;
	/* the key being looked up */
	struct select_kw_key *lookup;
	size_t lookup_size;
};

struct select_kw_key {
	unsigned int size;
	unsigned char bits[];
};

struct mail_index_select_view {
	unsigned int refcount;
	/* while in the cache: its place from least to most recently used */
	struct mail_index_select_view *prev, *next;
	bool cached;
	size_t cached_bytes;
	uint64_t last_used_msecs;

	/* what it lists: the index file, the mailbox (its id may be reused
	   by a mailbox created after a delete; UIDVALIDITY and GUID not) */
	char *path;
	dev_t dev;
	ino_t ino;
	uint32_t mailbox_id, uidvalidity;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	/* the list as of this modseq */
	uint64_t modseq;
	/* from system_pool */
	ARRAY_TYPE(mail_index_flags_rec) recs;
	unsigned int first_unseen;
	struct select_kw *kw;
};

/* One SELECT: the mailbox's row, read in the same snapshot as the rest. */
struct select_ctx {
	struct mail_index *index;
	uint32_t mailbox_id;
	uint32_t uidvalidity, uidnext, messages;
	uint64_t highestmodseq, pruned_modseq;
	char guid[MAIL_INDEX_MAILBOX_GUID_LEN + 1];
	struct select_kw *kw;
	/* the keyword names were read in this snapshot */
	bool kw_loaded;
};

static struct mail_index_select_view *cache_head, *cache_tail;
static unsigned int cache_count;
static size_t cache_bytes;
static struct timeout *cache_to;
static struct mail_index_select_cache_stats cache_stats;

/* --- keyword lists --- */

static unsigned int kw_key_hash(const void *p)
{
	const struct select_kw_key *key = p;
	unsigned int h = 2166136261u;

	for (unsigned int i = 0; i < key->size; i++)
		h = (h ^ key->bits[i]) * 16777619u;
	return h;
}

static int kw_key_cmp(const void *p1, const void *p2)
{
	const struct select_kw_key *k1 = p1, *k2 = p2;

	if (k1->size != k2->size)
		return k1->size < k2->size ? -1 : 1;
	return memcmp(k1->bits, k2->bits, k1->size);
}

static struct select_kw *select_kw_create(pool_t pool)
{
	struct select_kw *kw = i_new(struct select_kw, 1);

	kw->refcount = 1;
	if (pool == NULL)
		pool = pool_alloconly_create("select keywords", 256);
	else
		pool_ref(pool);
	kw->pool = pool;
	array_init(&kw->names, pool, 0);
	return kw;
}

static void select_kw_unref(struct select_kw **_kw)
{
	struct select_kw *kw = *_kw;

	*_kw = NULL;
	if (kw == NULL || --kw->refcount > 0)
		return;
	if (kw->lists != NULL)
		hash_table_destroy(&kw->lists);
	i_free(kw->lookup);
	pool_unref(&kw->pool);
	i_free(kw);
}

/* The list of a keyword bitmap (NULL if no bit is set or named). */
static int select_kw_intern(struct select_ctx *ctx, const unsigned char *bits,
			    size_t size, const char *const **list_r)
{
	struct select_kw *kw = ctx->kw;
	void *orig_key, *value;

	*list_r = NULL;
	while (size > 0 && bits[size - 1] == 0)
		size--;
	if (size == 0)
		return 0;

	if (kw->lists == NULL) {
		kw->lists = hash_table_create(system_pool, 16, kw_key_hash,
					      kw_key_cmp);
	}
	if (kw->lookup_size < sizeof(*kw->lookup) + size) {
		size_t new_size = sizeof(*kw->lookup) + size + 32;
		kw->lookup = i_realloc(kw->lookup, kw->lookup_size, new_size);
		kw->lookup_size = new_size;
	}
	kw->lookup->size = (unsigned int)size;
	memcpy(kw->lookup->bits, bits, size);
	if (hash_table_lookup_full(kw->lists, kw->lookup, &orig_key, &value)) {
		*list_r = value;
		return 0;
	}

	/* a bit beyond the names known: a keyword defined since they were
	   read (bits are set only for defined keywords) */
	unsigned int high = (unsigned int)(size - 1) * 8 +
		(31 - (unsigned int)__builtin_clz(bits[size - 1]));
	if (high >= array_count(&kw->names) && !ctx->kw_loaded) {
		ctx->kw_loaded = true;
		array_clear(&kw->names);
		if (mail_index_keywords_load(ctx->index, ctx->mailbox_id,
					     kw->pool, &kw->names) < 0)
			return -1;
	}
	const char *const *list =
		mail_index_keywords_from_bitmap(kw->pool, &kw->names,
						bits, size);
	struct select_kw_key *key =
		p_malloc(kw->pool, sizeof(*key) + size);
	key->size = (unsigned int)size;
	memcpy(key->bits, bits, size);
	hash_table_insert(kw->lists, key, (void *)list);
	*list_r = list;
	return 0;
}

/* --- reading --- */

static int select_read_mailbox(struct select_ctx *ctx)
{
	sqlite3_stmt *stmt = mail_index_stmt(ctx->index,
		"SELECT uidvalidity, uidnext, highestmodseq, messages, guid, "
		"changes_pruned_modseq FROM mailboxes "
		"WHERE id = ?1 AND noselect = 0");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, ctx->mailbox_id);
	ret = mail_index_step(ctx->index, stmt, "select");
	if (ret <= 0)
		return ret;
	ctx->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 0);
	ctx->uidnext = (uint32_t)sqlite3_column_int64(stmt, 1);
	ctx->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 2);
	ctx->messages = (uint32_t)sqlite3_column_int64(stmt, 3);
	const unsigned char *guid = sqlite3_column_text(stmt, 4);
	int guid_len = sqlite3_column_bytes(stmt, 4);
	if (guid == NULL || guid_len < 0 || guid_len >= (int)sizeof(ctx->guid))
		guid_len = 0;
	memcpy(ctx->guid, guid == NULL ? (const unsigned char *)"" : guid,
	       (size_t)guid_len);
	ctx->guid[guid_len] = '\0';
	ctx->pruned_modseq = (uint64_t)sqlite3_column_int64(stmt, 5);
	sqlite3_reset(stmt);
	return 1;
}

static int select_row_read(struct select_ctx *ctx, sqlite3_stmt *stmt,
			   struct mail_index_flags_rec *rec)
{
	int kw_size = sqlite3_column_bytes(stmt, 2);

	rec->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
	/* the snapshot keeps one byte: the same from either source */
	rec->flags = (enum mail_flags)(uint8_t)sqlite3_column_int(stmt, 1);
	rec->modseq = (uint64_t)sqlite3_column_int64(stmt, 3);
	rec->keywords = NULL;
	if (kw_size <= 0)
		return 0;
	return select_kw_intern(ctx, sqlite3_column_blob(stmt, 2),
				(size_t)kw_size, &rec->keywords);
}

static int select_rec_cmp(const void *p1, const void *p2)
{
	const struct mail_index_flags_rec *r1 = p1, *r2 = p2;

	return r1->uid < r2->uid ? -1 : (r1->uid > r2->uid ? 1 : 0);
}

/* Every row, in UID order. */
static int select_scan(struct select_ctx *ctx,
		       ARRAY_TYPE(mail_index_flags_rec) *recs)
{
	sqlite3_stmt *stmt = mail_index_stmt(ctx->index,
		"SELECT uid, flags, keywords, modseq FROM messages "
		"WHERE mailbox_id = ?1 ORDER BY uid");
	int ret;

	if (stmt == NULL)
		return -1;
	array_reserve(recs, ctx->messages + 1);
	sqlite3_bind_int64(stmt, 1, ctx->mailbox_id);
	while ((ret = mail_index_step(ctx->index, stmt, "select")) > 0) {
		if (select_row_read(ctx, stmt, array_append_space(recs)) < 0) {
			sqlite3_reset(stmt);
			return -1;
		}
	}
	return ret;
}

/* The rows changed after since_modseq, in UID order. */
static int select_read_delta(struct select_ctx *ctx, uint64_t since_modseq,
			     ARRAY_TYPE(mail_index_flags_rec) *delta)
{
	/* no ORDER BY: it would make SQLite walk the UID index over every
	   row instead of the modseq index over the few that changed */
	sqlite3_stmt *stmt = mail_index_stmt(ctx->index,
		"SELECT uid, flags, keywords, modseq FROM messages "
		"WHERE mailbox_id = ?1 AND modseq > ?2");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, ctx->mailbox_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
	while ((ret = mail_index_step(ctx->index, stmt, "select changes")) > 0) {
		if (select_row_read(ctx, stmt, array_append_space(delta)) < 0) {
			sqlite3_reset(stmt);
			return -1;
		}
	}
	if (ret == 0 && array_count(delta) > 1) {
		qsort(delta->v, array_count(delta), sizeof(delta->v[0]),
		      select_rec_cmp);
	}
	return ret;
}

static int select_read_expunged(struct select_ctx *ctx, uint64_t since_modseq,
				ARRAY_TYPE(seq_range) *expunged)
{
	sqlite3_stmt *stmt = mail_index_stmt(ctx->index,
		"SELECT uid1, uid2 FROM changes WHERE mailbox_id = ?1 "
		"AND modseq > ?2 AND type = 3");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, ctx->mailbox_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
	while ((ret = mail_index_step(ctx->index, stmt, "select expunges")) > 0) {
		seq_range_array_add_range(expunged,
			(uint32_t)sqlite3_column_int64(stmt, 0),
			(uint32_t)sqlite3_column_int64(stmt, 1));
	}
	return ret;
}

/* Index of the first record with uid >= uid, from index lo on. */
static unsigned int select_lower_bound(const ARRAY_TYPE(mail_index_flags_rec) *recs,
				       unsigned int lo, uint32_t uid)
{
	unsigned int hi = array_count(recs);

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		if (recs->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Bring recs (a list as of some modseq) up to date: drop the expunged
   UIDs, then lay the changed rows (sorted by UID) over it. In place; the
   array grows in its own pool for new messages. */
static void select_apply(ARRAY_TYPE(mail_index_flags_rec) *recs,
			 const ARRAY_TYPE(mail_index_flags_rec) *delta,
			 const ARRAY_TYPE(seq_range) *expunged)
{
	unsigned int i, j, r, count = array_count(recs);
	unsigned int nranges = array_count(expunged);

	if (nranges > 0) {
		/* records below the first expunged UID stay where they are */
		i = j = select_lower_bound(recs, 0, expunged->v[0].seq1);
		for (r = 0; i < count; i++) {
			uint32_t uid = recs->v[i].uid;
			while (r < nranges && expunged->v[r].seq2 < uid)
				r++;
			if (r < nranges && expunged->v[r].seq1 <= uid)
				continue;
			recs->v[j++] = recs->v[i];
		}
		recs->count = j;
	}

	/* UIDs only grow, so a row the list does not have goes at its end;
	   one below its last UID (which the order of commits rules out) is
	   merged in below all the same */
	ARRAY_TYPE(mail_index_flags_rec) inserts;
	bool have_inserts = false;
	unsigned int pos = 0;
	const struct mail_index_flags_rec *d;
	array_foreach(delta, d) {
		pos = select_lower_bound(recs, pos, d->uid);
		if (pos < array_count(recs) && recs->v[pos].uid == d->uid) {
			recs->v[pos] = *d;
		} else if (pos == array_count(recs)) {
			array_push(recs, *d);
		} else {
			if (!have_inserts) {
				array_init(&inserts, pool_datastack, 4);
				have_inserts = true;
			}
			array_push(&inserts, *d);
		}
	}
	if (!have_inserts)
		return;

	unsigned int old_count = array_count(recs);
	array_reserve(recs, array_count(&inserts));
	recs->count += array_count(&inserts);
	/* merge from the end */
	i = old_count;
	j = array_count(&inserts);
	for (unsigned int k = array_count(recs); k-- > 0;) {
		if (j > 0 && (i == 0 || inserts.v[j - 1].uid > recs->v[i - 1].uid))
			recs->v[k] = inserts.v[--j];
		else
			recs->v[k] = recs->v[--i];
	}
}

static unsigned int
select_first_unseen(const ARRAY_TYPE(mail_index_flags_rec) *recs)
{
	unsigned int i, count = array_count(recs);

	for (i = 0; i < count; i++) {
		if ((recs->v[i].flags & MAIL_SEEN) == 0)
			break;
	}
	return i;
}

/* Parse the flag snapshot into recs (empty) and set *modseq_r. Returns 1,
   0 if there is none the index can use now, -1 on error. */
static int select_read_snapshot(struct select_ctx *ctx,
				ARRAY_TYPE(mail_index_flags_rec) *recs,
				uint64_t *modseq_r)
{
	sqlite3_stmt *stmt = mail_index_stmt(ctx->index,
		"SELECT modseq, data FROM flag_snapshots WHERE mailbox_id = ?1");
	uint32_t version, count;
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, ctx->mailbox_id);
	ret = mail_index_step(ctx->index, stmt, "select snapshot");
	if (ret <= 0)
		return ret;
	*modseq_r = (uint64_t)sqlite3_column_int64(stmt, 0);
	/* parsed in place: the blob stays valid until the statement moves */
	const unsigned char *data = sqlite3_column_blob(stmt, 1);
	const unsigned char *p = data;
	size_t size = (size_t)sqlite3_column_bytes(stmt, 1);
	const unsigned char *end = data + size;

	/* a snapshot from after a rollback of the index, or one older than
	   the expunges still in the change log, cannot be brought up to
	   date */
	if (*modseq_r > ctx->highestmodseq || *modseq_r < ctx->pruned_modseq ||
	    size < 8)
		goto unusable;
	memcpy(&version, p, 4);
	memcpy(&count, p + 4, 4);
	p += 8;
	if (version != SNAPSHOT_VERSION ||
	    count > (size - 8) / SNAPSHOT_REC_HDR_SIZE)
		goto unusable;
	array_reserve(recs, I_MAX(count, ctx->messages) + 1);
	for (uint32_t i = 0; i < count; i++) {
		struct mail_index_flags_rec rec;
		if ((size_t)(end - p) < SNAPSHOT_REC_HDR_SIZE)
			goto unusable;
		memcpy(&rec.uid, p, 4);
		rec.flags = (enum mail_flags)p[4];
		unsigned int kw_size = p[5];
		memcpy(&rec.modseq, p + 6, 8);
		p += SNAPSHOT_REC_HDR_SIZE;
		if ((size_t)(end - p) < kw_size)
			goto unusable;
		rec.keywords = NULL;
		if (kw_size > 0 &&
		    select_kw_intern(ctx, p, kw_size, &rec.keywords) < 0) {
			sqlite3_reset(stmt);
			return -1;
		}
		p += kw_size;
		if (recs->count > 0 && rec.uid <= recs->v[recs->count - 1].uid)
			goto unusable;
		array_push(recs, rec);
	}
	if (p != end)
		goto unusable;
	sqlite3_reset(stmt);
	return 1;
unusable:
	sqlite3_reset(stmt);
	array_clear(recs);
	return 0;
}

/* Read the list into recs (empty, from any pool). *write_snapshot_r tells
   whether the flag snapshot is missing or lags too far. */
static int select_load(struct select_ctx *ctx,
		       ARRAY_TYPE(mail_index_flags_rec) *recs,
		       bool *write_snapshot_r)
{
	uint64_t snap_modseq;
	int ret;

	*write_snapshot_r = ctx->messages >= SNAPSHOT_MIN_MESSAGES;
	if (ctx->messages < SNAPSHOT_MIN_MESSAGES)
		return select_scan(ctx, recs);

	ret = select_read_snapshot(ctx, recs, &snap_modseq);
	if (ret < 0)
		return -1;
	if (ret > 0) {
		/* no data stack frame of its own: recs and the keyword lists
		   may be in the caller's frame, and grow here */
		ARRAY_TYPE(mail_index_flags_rec) delta;
		ARRAY_TYPE(seq_range) expunged;

		array_init(&delta, pool_datastack, 64);
		array_init(&expunged, pool_datastack, 8);
		if (select_read_delta(ctx, snap_modseq, &delta) < 0 ||
		    select_read_expunged(ctx, snap_modseq, &expunged) < 0) {
			ret = -1;
		} else {
			select_apply(recs, &delta, &expunged);
			unsigned int lag = array_count(&delta) +
				array_count(&expunged);
			*write_snapshot_r = lag > I_MAX(SNAPSHOT_MIN_DELTA,
				array_count(recs) / SNAPSHOT_MAX_DELTA_DIVISOR);
		}
	}
	if (ret < 0)
		return -1;
	if (ret > 0) {
		if (array_count(recs) == ctx->messages)
			return 0;
		/* the rows say otherwise: read them, and write a snapshot
		   that agrees */
		e_warning(ctx->index->event, "Mailbox %u: flag snapshot as of "
			  "modseq %llu gives %u messages, the mailbox has %u: "
			  "reading the rows", ctx->mailbox_id,
			  (unsigned long long)snap_modseq,
			  array_count(recs), ctx->messages);
		array_clear(recs);
		*write_snapshot_r = true;
	}
	return select_scan(ctx, recs);
}

/* Write a snapshot of recs as of modseq, unless a newer one is there.
   Best effort: a failure only means the next SELECT reads more rows. */
static void select_write_snapshot(struct mail_index *index,
				  uint32_t mailbox_id, uint32_t uidvalidity,
				  uint64_t modseq, const struct select_kw *kw,
				  const ARRAY_TYPE(mail_index_flags_rec) *recs)
{
	struct hash_table *bitmaps = NULL;
	const struct mail_index_flags_rec *rec;
	uint32_t version = SNAPSHOT_VERSION, count = array_count(recs);

	/* the bitmaps of the lists */
	if (kw->lists != NULL) {
		struct hash_iterate iter;
		void *key, *value;

		bitmaps = hash_table_create_direct(system_pool,
			hash_table_count(kw->lists));
		hash_table_iterate_init(kw->lists, &iter);
		while (hash_table_iterate(&iter, &key, &value)) {
			const struct select_kw_key *k = key;
			if (k->size > SNAPSHOT_MAX_KW_BYTES) {
				hash_table_destroy(&bitmaps);
				return;
			}
			if (value != NULL)
				hash_table_insert(bitmaps, value, key);
		}
	}

	buffer_t *buf = buffer_create(system_pool,
		8 + array_count(recs) * (SNAPSHOT_REC_HDR_SIZE + 1));
	buffer_append(buf, &version, 4);
	buffer_append(buf, &count, 4);
	array_foreach(recs, rec) {
		const struct select_kw_key *k = rec->keywords == NULL ||
			bitmaps == NULL ? NULL :
			hash_table_lookup(bitmaps, rec->keywords);
		unsigned char hdr[SNAPSHOT_REC_HDR_SIZE];
		memcpy(hdr, &rec->uid, 4);
		hdr[4] = (uint8_t)rec->flags;
		hdr[5] = k == NULL ? 0 : (uint8_t)k->size;
		memcpy(hdr + 6, &rec->modseq, 8);
		buffer_append(buf, hdr, sizeof(hdr));
		if (k != NULL)
			buffer_append(buf, k->bits, k->size);
	}
	if (bitmaps != NULL)
		hash_table_destroy(&bitmaps);

	/* don't wait for the write lock: someone else is writing, and the
	   snapshot can be made next time */
	mail_index_set_busy_timeout(index, 0);
	if (sqlite3_exec(index->db, "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
			 NULL, NULL, NULL) == SQLITE_OK) {
		sqlite3_stmt *stmt = mail_index_stmt(index,
			"INSERT INTO flag_snapshots (mailbox_id, modseq, count, data) "
			"SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM mailboxes "
			"WHERE id = ?1 AND uidvalidity = ?5 AND highestmodseq >= ?2) "
			"ON CONFLICT (mailbox_id) DO UPDATE SET modseq = excluded.modseq, "
			"count = excluded.count, data = excluded.data "
			"WHERE excluded.modseq > modseq");
		bool ok = false;
		if (stmt != NULL) {
			sqlite3_bind_int64(stmt, 1, mailbox_id);
			sqlite3_bind_int64(stmt, 2, (sqlite3_int64)modseq);
			sqlite3_bind_int64(stmt, 3, count);
			sqlite3_bind_blob64(stmt, 4, buf->data, buf->used,
					    SQLITE_STATIC);
			/* a mailbox deleted and recreated meanwhile has
			   another UIDVALIDITY: the snapshot is not its */
			sqlite3_bind_int64(stmt, 5, uidvalidity);
			ok = mail_index_step(index, stmt, "write flag snapshot") >= 0;
		}
		(void)sqlite3_exec(index->db, ok ? "COMMIT" : "ROLLBACK",
				   NULL, NULL, NULL);
	}
	(void)sqlite3_exec(index->db, index->synchronous_sql, NULL, NULL, NULL);
	mail_index_set_busy_timeout(index, index->busy_timeout_msecs);
	mail_error_clear(&index->error);
	buffer_free(&buf);
}

/* --- the cache of views --- */

static size_t select_view_bytes(const struct mail_index_select_view *view)
{
	return sizeof(*view) + strlen(view->path) +
		view->recs.alloc * sizeof(view->recs.v[0]) +
		pool_get_used_size(view->kw->pool);
}

static struct mail_index_select_view *
select_view_new(const char *path, const struct stat *st,
		const struct select_ctx *ctx, struct select_kw *kw)
{
	struct mail_index_select_view *view =
		i_new(struct mail_index_select_view, 1);

	view->refcount = 1;
	view->path = i_strdup(path);
	view->dev = st->st_dev;
	view->ino = st->st_ino;
	view->mailbox_id = ctx->mailbox_id;
	view->uidvalidity = ctx->uidvalidity;
	memcpy(view->guid, ctx->guid, sizeof(view->guid));
	array_init(&view->recs, system_pool, 0);
	view->kw = kw;
	kw->refcount++;
	return view;
}

void mail_index_select_view_unref(struct mail_index_select_view **_view)
{
	struct mail_index_select_view *view = *_view;

	*_view = NULL;
	if (view == NULL)
		return;
	i_assert(view->refcount > 0);
	if (--view->refcount > 0)
		return;
	i_assert(!view->cached);
	array_free(&view->recs);
	select_kw_unref(&view->kw);
	i_free(view->path);
	i_free(view);
}

unsigned int
mail_index_select_view_first_unseen(const struct mail_index_select_view *view)
{
	return view->first_unseen;
}

static void cache_unlink(struct mail_index_select_view *view)
{
	i_assert(view->cached);
	if (view->prev != NULL)
		view->prev->next = view->next;
	else
		cache_head = view->next;
	if (view->next != NULL)
		view->next->prev = view->prev;
	else
		cache_tail = view->prev;
	view->prev = view->next = NULL;
	view->cached = false;
	cache_count--;
	cache_bytes -= view->cached_bytes;
	if (cache_count == 0)
		timeout_remove(&cache_to);
}

static void cache_drop(struct mail_index_select_view *view)
{
	cache_unlink(view);
	mail_index_select_view_unref(&view);
}

static void cache_expire(void *context ATTR_UNUSED)
{
	uint64_t now = ioloop_msecs_monotonic();

	/* least recently used first */
	while (cache_head != NULL &&
	       cache_head->last_used_msecs +
	       MAIL_INDEX_SELECT_CACHE_IDLE_SECS * 1000ULL <= now)
		cache_drop(cache_head);
}

static void cache_append(struct mail_index_select_view *view)
{
	view->prev = cache_tail;
	view->next = NULL;
	if (cache_tail != NULL)
		cache_tail->next = view;
	else
		cache_head = view;
	cache_tail = view;
	view->cached = true;
	view->last_used_msecs = ioloop_msecs_monotonic();
	cache_count++;
	view->cached_bytes = select_view_bytes(view);
	cache_bytes += view->cached_bytes;
}

/* Put view in the cache (or move it to the most recently used end),
   making room by dropping the least recently used. */
static void cache_put(struct mail_index_select_view *view)
{
	if (view->cached) {
		cache_unlink(view);
	} else {
		/* the cache's reference */
		view->refcount++;
	}
	cache_append(view);
	while (cache_head != view &&
	       (cache_bytes > MAIL_INDEX_SELECT_CACHE_MAX_BYTES ||
		cache_count > SELECT_CACHE_MAX_VIEWS))
		cache_drop(cache_head);
	if (cache_to == NULL && current_ioloop != NULL) {
		cache_to = timeout_add(SELECT_CACHE_EXPIRE_CHECK_MSECS,
				       cache_expire, NULL);
	}
}

/* The cached view of this mailbox, if it is still the same mailbox of the
   same index file; a stale one is dropped. */
static struct mail_index_select_view *
cache_lookup(const char *path, const struct stat *st,
	     const struct select_ctx *ctx)
{
	struct mail_index_select_view *view;

	for (view = cache_tail; view != NULL; view = view->prev) {
		if (view->mailbox_id == ctx->mailbox_id &&
		    strcmp(view->path, path) == 0)
			break;
	}
	if (view == NULL)
		return NULL;
	if (view->dev != st->st_dev || view->ino != st->st_ino ||
	    view->uidvalidity != ctx->uidvalidity ||
	    strcmp(view->guid, ctx->guid) != 0 ||
	    view->modseq > ctx->highestmodseq) {
		/* another index file in that place (rebuilt, restored), or
		   another mailbox under that id, or an index whose modseqs
		   went back */
		cache_drop(view);
		return NULL;
	}
	return view;
}

void mail_index_select_cache_get_stats(struct mail_index_select_cache_stats *stats_r)
{
	*stats_r = cache_stats;
	stats_r->views = cache_count;
	stats_r->bytes = cache_bytes;
}

void mail_index_select_cache_clear(void)
{
	while (cache_head != NULL)
		cache_drop(cache_head);
	timeout_remove(&cache_to);
}

/* --- SELECT --- */

static int select_private(struct select_ctx *ctx, pool_t pool,
			  struct mail_index_select *select_r,
			  bool *write_snapshot_r)
{
	array_init(&select_r->messages, pool, 0);
	return select_load(ctx, &select_r->messages, write_snapshot_r);
}

/* The cached view brought up to date (or a copy of it, if sessions use
   it), or NULL if it cannot be: then the caller reads the list afresh. */
static int select_view_update(struct select_ctx *ctx,
			      struct mail_index_select_view **_view)
{
	struct mail_index_select_view *view = *_view;
	ARRAY_TYPE(mail_index_flags_rec) delta;
	ARRAY_TYPE(seq_range) expunged;

	*_view = NULL;
	/* expunges the change log no longer has */
	if (view->modseq < ctx->pruned_modseq) {
		cache_drop(view);
		return 0;
	}
	/* the keyword lists are the view's, the rest is dropped by the
	   caller's frame */
	array_init(&delta, pool_datastack, 64);
	array_init(&expunged, pool_datastack, 8);
	ctx->kw = view->kw;
	if (select_read_delta(ctx, view->modseq, &delta) < 0 ||
	    select_read_expunged(ctx, view->modseq, &expunged) < 0) {
		/* the view is unchanged, and stays cached */
		ctx->kw = NULL;
		return -1;
	}
	ctx->kw = NULL;

	if (view->refcount > 1) {
		/* sessions have it: change a copy, which replaces it in the
		   cache */
		struct mail_index_select_view *copy =
			i_new(struct mail_index_select_view, 1);
		*copy = *view;
		copy->refcount = 1;
		copy->prev = copy->next = NULL;
		copy->cached = false;
		copy->path = i_strdup(view->path);
		copy->kw->refcount++;
		array_init(&copy->recs, system_pool,
			   I_MAX(array_count(&view->recs), ctx->messages) + 16);
		memcpy(copy->recs.v, view->recs.v,
		       array_count(&view->recs) * sizeof(view->recs.v[0]));
		copy->recs.count = array_count(&view->recs);
		cache_drop(view);
		view = copy;
	} else {
		/* only the cache has it: change it in place (the cache's
		   reference is now this function's) */
		cache_unlink(view);
	}
	select_apply(&view->recs, &delta, &expunged);
	view->modseq = ctx->highestmodseq;
	if (array_count(&view->recs) != ctx->messages) {
		e_warning(ctx->index->event, "Mailbox %u: the list kept in "
			  "memory brought up to date gives %u messages, the "
			  "mailbox has %u: reading it again", ctx->mailbox_id,
			  array_count(&view->recs), ctx->messages);
		mail_index_select_view_unref(&view);
		return 0;
	}
	*_view = view;
	return 0;
}

static int select_shared(struct select_ctx *ctx, const struct stat *st,
			 struct mail_index_select_view **view_r,
			 bool *write_snapshot_r)
{
	struct mail_index_select_view *view;
	int ret;

	*write_snapshot_r = false;
	view = cache_lookup(ctx->index->path, st, ctx);
	if (view != NULL && view->modseq == ctx->highestmodseq &&
	    array_count(&view->recs) == ctx->messages) {
		cache_stats.hits++;
		view->refcount++;
		cache_put(view);
		*view_r = view;
		return 0;
	}
	if (view != NULL) {
		if (select_view_update(ctx, &view) < 0)
			return -1;
		if (view != NULL) {
			cache_stats.updates++;
			view->first_unseen = select_first_unseen(&view->recs);
			cache_put(view);
			*view_r = view;
			return 0;
		}
	}

	cache_stats.misses++;
	struct select_kw *kw = select_kw_create(NULL);
	view = select_view_new(ctx->index->path, st, ctx, kw);
	select_kw_unref(&kw);
	ctx->kw = view->kw;
	ret = select_load(ctx, &view->recs, write_snapshot_r);
	ctx->kw = NULL;
	if (ret < 0) {
		mail_index_select_view_unref(&view);
		return -1;
	}
	view->modseq = ctx->highestmodseq;
	view->first_unseen = select_first_unseen(&view->recs);
	cache_put(view);
	*view_r = view;
	return 0;
}

static int select_begin(struct mail_index *index, uint32_t mailbox_id,
			struct select_ctx *ctx)
{
	int ret;

	memset(ctx, 0, sizeof(*ctx));
	ctx->index = index;
	ctx->mailbox_id = mailbox_id;
	if (mail_index_read_begin(index) < 0)
		return -1;
	ret = select_read_mailbox(ctx);
	if (ret <= 0) {
		mail_index_read_end(index);
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
					     "Mailbox doesn't exist.");
		}
	}
	return ret;
}

static void select_finish(struct select_ctx *ctx,
			  const struct select_kw *kw,
			  const ARRAY_TYPE(mail_index_flags_rec) *recs,
			  bool write_snapshot, struct mail_index_select *select_r)
{
	mail_index_read_end(ctx->index);
	/* refresh the snapshot when it is missing or lags too far */
	if (write_snapshot && ctx->index->t == NULL &&
	    array_count(recs) >= SNAPSHOT_MIN_MESSAGES) {
		select_write_snapshot(ctx->index, ctx->mailbox_id,
				      ctx->uidvalidity, ctx->highestmodseq,
				      kw, recs);
	}
	select_r->uidvalidity = ctx->uidvalidity;
	select_r->uidnext = ctx->uidnext;
	select_r->highestmodseq = ctx->highestmodseq;
}

int mail_index_mailbox_select(struct mail_index *index, uint32_t mailbox_id,
			      pool_t pool, struct mail_index_select *select_r)
{
	struct select_ctx ctx;
	bool write_snapshot;
	int ret;

	memset(select_r, 0, sizeof(*select_r));
	if ((ret = select_begin(index, mailbox_id, &ctx)) <= 0)
		return ret;
	ctx.kw = select_kw_create(pool);
	if (select_private(&ctx, pool, select_r, &write_snapshot) < 0) {
		mail_index_read_end(index);
		select_kw_unref(&ctx.kw);
		return -1;
	}
	select_finish(&ctx, ctx.kw, &select_r->messages, write_snapshot,
		      select_r);
	select_kw_unref(&ctx.kw);
	return 1;
}

/* The list of the mailbox of ctx, inside the read snapshot select_begin*()
   started, which this ends. */
static int select_list(struct select_ctx *ctx, pool_t pool,
		       struct mail_index_select *select_r,
		       struct mail_index_select_view **view_r)
{
	struct mail_index *index = ctx->index;
	struct mail_index_select_view *view = NULL;
	struct stat st;
	bool write_snapshot;
	int ret;

	/* inside a write transaction the rows may not be committed yet;
	   a list too big for the cache would only push the others out */
	if (index->t != NULL || index->create_path != NULL ||
	    ctx->messages < MAIL_INDEX_SELECT_SHARE_MIN_MESSAGES ||
	    (size_t)ctx->messages * sizeof(struct mail_index_flags_rec) >
	    MAIL_INDEX_SELECT_CACHE_MAX_BYTES / 4 ||
	    stat(index->path, &st) < 0) {
		ctx->kw = select_kw_create(pool);
		ret = select_private(ctx, pool, select_r, &write_snapshot);
		if (ret == 0) {
			select_finish(ctx, ctx->kw, &select_r->messages,
				      write_snapshot, select_r);
		}
		select_kw_unref(&ctx->kw);
	} else {
		ret = select_shared(ctx, &st, &view, &write_snapshot);
		if (ret == 0) {
			select_finish(ctx, view->kw, &view->recs,
				      write_snapshot, select_r);
			/* read-only: growing it would panic */
			select_r->messages.pool = NULL;
			select_r->messages.v = view->recs.v;
			select_r->messages.count = array_count(&view->recs);
			select_r->messages.alloc = array_count(&view->recs);
			*view_r = view;
		}
	}
	if (ret < 0) {
		mail_index_read_end(index);
		return -1;
	}
	return 1;
}

int mail_index_mailbox_select_view(struct mail_index *index,
				   uint32_t mailbox_id, pool_t pool,
				   struct mail_index_select *select_r,
				   struct mail_index_select_view **view_r)
{
	struct select_ctx ctx;
	int ret;

	*view_r = NULL;
	memset(select_r, 0, sizeof(*select_r));
	if ((ret = select_begin(index, mailbox_id, &ctx)) <= 0)
		return ret;
	return select_list(&ctx, pool, select_r, view_r);
}

/* The row of the mailbox named norm into result_r->box and ctx. */
static int select_name_row(struct select_ctx *ctx, const char *norm,
			   struct mail_index_select_mailbox *result_r)
{
	struct mail_index *index = ctx->index;
	struct mail_index_mailbox *box = &result_r->box;
	int ret;

	/* one row for the lookup, the list and \Recent: each statement
	   is prepared again in a session that reuses a kept user */
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT id, name, guid, uidvalidity, uidnext, highestmodseq, "
		"special_use, noselect, messages, changes_pruned_modseq, "
		"CASE WHEN recent_uidvalidity = uidvalidity "
		"THEN first_recent_uid ELSE 1 END "
		"FROM mailboxes WHERE namespace_id = 1 AND name = ?1");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, norm, -1, SQLITE_STATIC);
	ret = mail_index_step(index, stmt, "select");
	if (ret <= 0) {
		if (ret == 0) {
			mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				t_strdup_printf("Mailbox doesn't exist: %s",
						str_sanitize(norm, 128)));
		}
		return ret;
	}
	box->id = (uint32_t)sqlite3_column_int64(stmt, 0);
	box->name = mail_index_column_str(pool_datastack, stmt, 1);
	box->guid = mail_index_column_str(pool_datastack, stmt, 2);
	box->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 3);
	box->uidnext = (uint32_t)sqlite3_column_int64(stmt, 4);
	box->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 5);
	box->special_use = (enum mail_special_use)sqlite3_column_int(stmt, 6);
	box->noselect = sqlite3_column_int(stmt, 7) != 0;
	ctx->messages = (uint32_t)sqlite3_column_int64(stmt, 8);
	ctx->pruned_modseq = (uint64_t)sqlite3_column_int64(stmt, 9);
	sqlite3_int64 first_recent = sqlite3_column_int64(stmt, 10);
	sqlite3_reset(stmt);
	result_r->first_recent_uid = first_recent < 1 ? 1 :
		first_recent > UINT32_MAX ? UINT32_MAX : (uint32_t)first_recent;

	ctx->mailbox_id = box->id;
	ctx->uidvalidity = box->uidvalidity;
	ctx->uidnext = box->uidnext;
	ctx->highestmodseq = box->highestmodseq;
	size_t guid_len = strlen(box->guid);
	if (guid_len >= sizeof(ctx->guid))
		guid_len = 0;
	memcpy(ctx->guid, box->guid, guid_len);
	ctx->guid[guid_len] = '\0';
	return 1;
}

/* The cached view, if it lists the mailbox exactly as its row (read
   just now) says it is. */
static struct mail_index_select_view *
select_cache_current(struct select_ctx *ctx)
{
	struct mail_index_select_view *view;
	struct stat st;

	if (ctx->messages < MAIL_INDEX_SELECT_SHARE_MIN_MESSAGES ||
	    stat(ctx->index->path, &st) < 0)
		return NULL;
	view = cache_lookup(ctx->index->path, &st, ctx);
	if (view == NULL || view->modseq != ctx->highestmodseq ||
	    array_count(&view->recs) != ctx->messages)
		return NULL;
	cache_stats.hits++;
	view->refcount++;
	cache_put(view);
	return view;
}

int mail_index_mailbox_select_name(struct mail_index *index, const char *name,
				   pool_t pool,
				   struct mail_index_select_mailbox *result_r)
{
	struct select_ctx ctx;
	const char *norm, *error;
	int ret;

	memset(result_r, 0, sizeof(*result_r));
	norm = mail_index_mailbox_name_normalize(name, &error);
	if (norm == NULL) {
		/* an invalid name cannot exist */
		mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				     "Mailbox doesn't exist.");
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.index = index;

	if (index->t == NULL && index->read_depth == 0) {
		/* one statement is a snapshot of its own: when the row says
		   the cached list is current, nothing else is read (and no
		   BEGIN/COMMIT) */
		ret = select_name_row(&ctx, norm, result_r);
		if (ret <= 0)
			return ret;
		if (result_r->box.noselect)
			return 1;
		struct mail_index_select_view *view =
			select_cache_current(&ctx);
		if (view != NULL) {
			/* what is reported must be durable, as in any
			   snapshot's end (it is, unless a save in another
			   process is between its commit and its sync) */
			if (mail_index_reader_durable(index) < 0) {
				mail_index_select_view_unref(&view);
				return -1;
			}
			struct mail_index_select *sel = &result_r->select;
			sel->uidvalidity = ctx.uidvalidity;
			sel->uidnext = ctx.uidnext;
			sel->highestmodseq = ctx.highestmodseq;
			sel->messages.v = view->recs.v;
			sel->messages.count = array_count(&view->recs);
			sel->messages.alloc = array_count(&view->recs);
			result_r->view = view;
			return 1;
		}
		/* the list must be read in the same snapshot as the row:
		   read it again inside one */
		memset(result_r, 0, sizeof(*result_r));
		memset(&ctx, 0, sizeof(ctx));
		ctx.index = index;
	}
	if (mail_index_read_begin(index) < 0)
		return -1;
	ret = select_name_row(&ctx, norm, result_r);
	if (ret <= 0 || result_r->box.noselect) {
		mail_index_read_end(index);
		return ret;
	}
	return select_list(&ctx, pool, &result_r->select, &result_r->view);
}
