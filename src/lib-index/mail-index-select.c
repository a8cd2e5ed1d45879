/* Listing a mailbox's UIDs and flags for SELECT. Stepping through 20,000
   rows costs SQLite some 5-10 ms; reading one packed blob costs well under
   one. So a mailbox keeps a flag snapshot: its messages' UID, flags,
   keywords and modseq packed as of a modseq S. The list now is the
   snapshot, minus the UIDs expunged after S (the change log has them),
   with the rows whose modseq is above S laid over it (new messages and
   changed flags; a UID is never reused, so nothing else can differ). When
   enough has changed since S, the reader writes a fresh snapshot: a cache,
   so it is written without fsync and skipped if the write lock is busy.
   This is Dovecot's index-file-plus-transaction-log idea inside SQLite. */
#include "lib.h"
#include "mail-index-private.h"

/* below this many messages the plain row scan is cheap enough */
#define SNAPSHOT_MIN_MESSAGES 1000
/* rewrite the snapshot when the rows to lay over it exceed this share */
#define SNAPSHOT_MAX_DELTA_DIVISOR 16
#define SNAPSHOT_MIN_DELTA 256
#define SNAPSHOT_VERSION 1
/* uid(4) flags(1) keyword bytes(1) modseq(8), then the keyword bytes */
#define SNAPSHOT_REC_HDR_SIZE 14
/* a bitmap longer than this is kept out of snapshots (the rows hold it) */
#define SNAPSHOT_MAX_KW_BYTES 255

struct select_rec {
	uint32_t uid;
	uint8_t flags;
	uint8_t kw_size;
	uint64_t modseq;
	const unsigned char *kw;
};
ARRAY_DEFINE_TYPE(select_rec, struct select_rec);

static void select_rec_from_row(sqlite3_stmt *stmt, struct select_rec *rec)
{
	int kw_size = sqlite3_column_bytes(stmt, 2);

	rec->uid = (uint32_t)sqlite3_column_int64(stmt, 0);
	rec->flags = (uint8_t)sqlite3_column_int(stmt, 1);
	rec->modseq = (uint64_t)sqlite3_column_int64(stmt, 3);
	if (kw_size > 0) {
		rec->kw_size = (uint8_t)I_MIN(kw_size, SNAPSHOT_MAX_KW_BYTES);
		rec->kw = p_memdup(pool_datastack, sqlite3_column_blob(stmt, 2),
				   (size_t)kw_size);
	}
}

static int select_rec_cmp(const void *p1, const void *p2)
{
	const struct select_rec *r1 = p1, *r2 = p2;

	return r1->uid < r2->uid ? -1 : (r1->uid > r2->uid ? 1 : 0);
}

static int select_read_rows(struct mail_index *index, uint32_t mailbox_id,
			    uint64_t since_modseq, ARRAY_TYPE(select_rec) *recs)
{
	sqlite3_stmt *stmt;
	int ret;

	if (since_modseq == 0) {
		stmt = mail_index_stmt(index,
			"SELECT uid, flags, keywords, modseq FROM messages "
			"WHERE mailbox_id = ?1 ORDER BY uid");
	} else {
		/* no ORDER BY: it would make SQLite walk the UID index
		   over every row instead of the modseq index over the few
		   that changed; sorted below */
		stmt = mail_index_stmt(index,
			"SELECT uid, flags, keywords, modseq FROM messages "
			"WHERE mailbox_id = ?1 AND modseq > ?2");
	}
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	if (since_modseq != 0)
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
	while ((ret = mail_index_step(index, stmt, "select")) > 0)
		select_rec_from_row(stmt, array_append_space(recs));
	if (since_modseq != 0 && array_count(recs) > 1) {
		qsort(recs->v, array_count(recs), sizeof(recs->v[0]),
		      select_rec_cmp);
	}
	return ret;
}

/* Parse a snapshot; false if it is not one we understand (it is then
   ignored and rewritten). */
static bool select_parse_snapshot(const unsigned char *data, size_t size,
				  ARRAY_TYPE(select_rec) *recs)
{
	const unsigned char *p = data, *end = data + size;
	uint32_t version, count;

	if (size < 8)
		return false;
	memcpy(&version, p, 4);
	memcpy(&count, p + 4, 4);
	p += 8;
	if (version != SNAPSHOT_VERSION ||
	    count > (size - 8) / SNAPSHOT_REC_HDR_SIZE)
		return false;
	array_reserve(recs, count);
	for (uint32_t i = 0; i < count; i++) {
		struct select_rec rec;
		if ((size_t)(end - p) < SNAPSHOT_REC_HDR_SIZE)
			return false;
		memcpy(&rec.uid, p, 4);
		rec.flags = p[4];
		rec.kw_size = p[5];
		memcpy(&rec.modseq, p + 6, 8);
		p += SNAPSHOT_REC_HDR_SIZE;
		if ((size_t)(end - p) < rec.kw_size)
			return false;
		rec.kw = rec.kw_size == 0 ? NULL : p;
		p += rec.kw_size;
		if (recs->count > 0 && rec.uid <= recs->v[recs->count - 1].uid)
			return false;
		array_push(recs, rec);
	}
	return p == end;
}

/* Write a snapshot of recs as of modseq, unless a newer one is there.
   Best effort: a failure only means the next SELECT reads more rows. */
static void select_write_snapshot(struct mail_index *index,
				  uint32_t mailbox_id, uint32_t uidvalidity,
				  uint64_t modseq,
				  const ARRAY_TYPE(select_rec) *recs)
{
	buffer_t *buf = buffer_create(system_pool,
		8 + array_count(recs) * (SNAPSHOT_REC_HDR_SIZE + 1));
	const struct select_rec *rec;
	uint32_t version = SNAPSHOT_VERSION, count = array_count(recs);

	buffer_append(buf, &version, 4);
	buffer_append(buf, &count, 4);
	array_foreach(recs, rec) {
		unsigned char hdr[SNAPSHOT_REC_HDR_SIZE];
		memcpy(hdr, &rec->uid, 4);
		hdr[4] = rec->flags;
		hdr[5] = rec->kw_size;
		memcpy(hdr + 6, &rec->modseq, 8);
		buffer_append(buf, hdr, sizeof(hdr));
		buffer_append(buf, rec->kw, rec->kw_size);
	}

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

/* The snapshot's records minus expunged and delta UIDs, merged with the
   delta, by UID. */
static void select_merge(const ARRAY_TYPE(select_rec) *base,
			 const ARRAY_TYPE(select_rec) *delta,
			 const ARRAY_TYPE(seq_range) *expunged,
			 ARRAY_TYPE(select_rec) *result)
{
	unsigned int i = 0, j = 0;

	array_reserve(result, array_count(base) + array_count(delta));
	while (i < array_count(base) || j < array_count(delta)) {
		const struct select_rec *b = i < array_count(base) ?
			&base->v[i] : NULL;
		const struct select_rec *d = j < array_count(delta) ?
			&delta->v[j] : NULL;
		if (b != NULL && (d == NULL || b->uid < d->uid)) {
			if (!seq_range_exists(expunged, b->uid))
				array_push(result, *b);
			i++;
		} else {
			/* the row is newer than the snapshot's copy */
			if (b != NULL && b->uid == d->uid)
				i++;
			array_push(result, *d);
			j++;
		}
	}
}

static int select_read_expunged(struct mail_index *index, uint32_t mailbox_id,
				uint64_t since_modseq,
				ARRAY_TYPE(seq_range) *expunged)
{
	sqlite3_stmt *stmt = mail_index_stmt(index,
		"SELECT uid1, uid2 FROM changes WHERE mailbox_id = ?1 "
		"AND modseq > ?2 AND type = 3");
	int ret;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_modseq);
	while ((ret = mail_index_step(index, stmt, "select expunges")) > 0) {
		seq_range_array_add_range(expunged,
			(uint32_t)sqlite3_column_int64(stmt, 0),
			(uint32_t)sqlite3_column_int64(stmt, 1));
	}
	return ret;
}

int mail_index_mailbox_select(struct mail_index *index, uint32_t mailbox_id,
			      pool_t pool, struct mail_index_select *select_r)
{
	ARRAY_TYPE(mail_string) kw_names;
	ARRAY_TYPE(select_rec) base, delta, merged, *final;
	ARRAY_TYPE(seq_range) expunged;
	sqlite3_stmt *stmt;
	uint64_t snap_modseq = 0;
	uint32_t messages;
	bool have_snapshot = false;
	int ret;

	memset(select_r, 0, sizeof(*select_r));
	array_init(&kw_names, pool, 8);
	array_init(&base, pool_datastack, 0);
	array_init(&delta, pool_datastack, 64);
	array_init(&merged, pool_datastack, 0);
	array_init(&expunged, pool_datastack, 8);

	if (mail_index_read_begin(index) < 0)
		return -1;
	stmt = mail_index_stmt(index,
		"SELECT uidvalidity, uidnext, highestmodseq, messages FROM mailboxes "
		"WHERE id = ?1 AND noselect = 0");
	if (stmt == NULL)
		goto failed;
	sqlite3_bind_int64(stmt, 1, mailbox_id);
	ret = mail_index_step(index, stmt, "select");
	if (ret < 0)
		goto failed;
	if (ret == 0) {
		mail_index_read_end(index);
		mail_index_set_error(index, MAIL_ERROR_NOTFOUND,
				     "Mailbox doesn't exist.");
		return 0;
	}
	select_r->uidvalidity = (uint32_t)sqlite3_column_int64(stmt, 0);
	select_r->uidnext = (uint32_t)sqlite3_column_int64(stmt, 1);
	select_r->highestmodseq = (uint64_t)sqlite3_column_int64(stmt, 2);
	messages = (uint32_t)sqlite3_column_int64(stmt, 3);
	sqlite3_reset(stmt);
	if (mail_index_keywords_load(index, mailbox_id, pool, &kw_names) < 0)
		goto failed;

	if (messages >= SNAPSHOT_MIN_MESSAGES) {
		stmt = mail_index_stmt(index,
			"SELECT modseq, data FROM flag_snapshots WHERE mailbox_id = ?1");
		if (stmt == NULL)
			goto failed;
		sqlite3_bind_int64(stmt, 1, mailbox_id);
		ret = mail_index_step(index, stmt, "select snapshot");
		if (ret < 0)
			goto failed;
		if (ret > 0) {
			snap_modseq = (uint64_t)sqlite3_column_int64(stmt, 0);
			/* parsed in place, then copied out below: the blob
			   pointer is valid only until the statement moves */
			const unsigned char *data = sqlite3_column_blob(stmt, 1);
			size_t size = (size_t)sqlite3_column_bytes(stmt, 1);
			unsigned char *copy = t_malloc(size + 1);
			memcpy(copy, data, size);
			have_snapshot = snap_modseq <= select_r->highestmodseq &&
				select_parse_snapshot(copy, size, &base);
			sqlite3_reset(stmt);
			if (!have_snapshot) {
				array_clear(&base);
				snap_modseq = 0;
			}
		}
	}
	if (select_read_rows(index, mailbox_id, snap_modseq,
			     have_snapshot ? &delta : &base) < 0)
		goto failed;
	if (have_snapshot &&
	    select_read_expunged(index, mailbox_id, snap_modseq, &expunged) < 0)
		goto failed;
	mail_index_read_end(index);

	if (have_snapshot) {
		select_merge(&base, &delta, &expunged, &merged);
		final = &merged;
	} else {
		final = &base;
	}

	/* refresh the snapshot when it is missing or lags too far */
	unsigned int lag = array_count(&delta) + array_count(&expunged);
	if (index->t == NULL && array_count(final) >= SNAPSHOT_MIN_MESSAGES &&
	    (!have_snapshot ||
	     lag > I_MAX(SNAPSHOT_MIN_DELTA,
			 array_count(final) / SNAPSHOT_MAX_DELTA_DIVISOR))) {
		select_write_snapshot(index, mailbox_id, select_r->uidvalidity,
				      select_r->highestmodseq, final);
	}

	array_init(&select_r->messages, pool, array_count(final) + 1);
	const struct select_rec *rec;
	array_foreach(final, rec) {
		struct mail_index_flags_rec *out =
			array_append_space(&select_r->messages);
		out->uid = rec->uid;
		out->flags = rec->flags;
		out->modseq = rec->modseq;
		out->keywords = rec->kw_size == 0 ? NULL :
			mail_index_keywords_from_bitmap(pool, &kw_names,
							rec->kw, rec->kw_size);
	}
	return 1;
failed:
	mail_index_read_end(index);
	return -1;
}
