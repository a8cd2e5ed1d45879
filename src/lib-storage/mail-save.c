/* Saving messages: APPEND (one or many), COPY and MOVE. Each message gets
   its UID reserved first (its blob's metadata carries it), then its blob
   is written - the MIME parse running over the same bytes - and made
   durable; only then does the index row commit, and only after that is
   the transaction acknowledged. Asynchronous transactions whose blobs are
   durable wait in the user's commit queue; one flush commits all of them
   in one index transaction, so concurrent saves share an fsync (group
   commit). The fsync of that commit runs in a worker thread (the rows
   are committed and visible at once; readers wait for the sync before
   reporting them), and the transactions' callbacks follow from the
   ioloop when it is done: one user's disk sync does not stall the other
   sessions of the process. A copy streams the source blob into a new one: the copy needs
   its own metadata (mailbox, UID) and blob metadata cannot be changed.
   Saves whose message the caller holds durably elsewhere (the LMTP
   journal, MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC) skip the blob's and
   the index's syncs; the caller syncfs()es their filesystems later, and
   its replay checks their blobs (mailbox_verify_saved_blob()). */
#include "lib.h"
#include "ioloop.h"
#include "event.h"
#include "mail-blob-meta.h"
#include "mail-storage-private.h"
#include "worker.h"
#include <time.h>

/* threads syncing index commits for async transactions, shared by every
   user of the process (each sync is one fdatasync of a user's WAL) */
#define MAIL_SYNC_WORKER_THREADS 4
#define MAIL_SYNC_WORKER_MAX_QUEUE 4096

static struct worker_pool *mail_sync_workers;
static struct ioloop *mail_sync_workers_ioloop;
static unsigned int mail_sync_workers_users;

/* A group commit whose sync is running in a worker thread: the
   transactions it committed, acknowledged when the sync is done. */
struct mail_commit_sync_job {
	struct mail_user *user;
	struct mail_index_commit_sync *sync;
	ARRAY(struct mailbox_transaction *) applied;
};

/* how long a synchronous commit waits for lower UIDs of other writers */
#define MAIL_SYNC_COMMIT_WAIT_MSECS (120 * 1000)

static void mail_transaction_check_ready(struct mailbox_transaction *t);

ARRAY_DEFINE_TYPE(mail_reservation, struct mail_index_reservation *);

struct mailbox_transaction *
mailbox_transaction_begin(struct mailbox *box,
			  enum mailbox_transaction_flags flags)
{
	pool_t pool = pool_alloconly_create("mailbox transaction", 2048);
	struct mailbox_transaction *t = p_new(pool, struct mailbox_transaction, 1);

	t->box = box;
	t->pool = pool;
	t->flags = flags;
	t->deferred_sync = (flags & MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC) != 0 &&
		(flags & MAILBOX_TRANSACTION_FLAG_SYNC) == 0 &&
		blob_store_get_syncfs_fd(box->user->blobs) >= 0;
	array_init(&t->saves, pool, 4);
	box->user->open_transactions++;
	return t;
}

static void mail_transaction_fail(struct mailbox_transaction *t)
{
	/* the first error is the one worth reporting */
	if (!t->failed)
		mail_error_copy(&t->error, &t->box->user->error);
	t->failed = true;
}

void mail_transaction_set_blob_error(struct mailbox_transaction *t,
				     const char *what,
				     const struct blob_result *result)
{
	mail_user_set_blob_error(t->box->user, what, result);
	mail_transaction_fail(t);
}

static void mail_blob_delete_callback(const struct blob_result *result,
				      void *context)
{
	struct mail_user *user = context;

	/* an unreferenced blob is harmless: log and go on */
	if (result->error != BLOB_ERROR_NONE) {
		e_warning(user->event, "Deleting an unused blob failed: %s",
			  result->internal_error);
	}
}

/* A blob whose index row never committed (or never will): remove it. */
static void mail_save_delete_blob(struct mail_save_context *ctx)
{
	struct mail_user *user = ctx->t->box->user;
	struct blob_result result;

	if (!ctx->blob_written)
		return;
	ctx->blob_written = false;
	if (mailbox_transaction_is_sync(ctx->t) || current_ioloop == NULL) {
		if (blob_delete_sync(user->blobs, ctx->blob_key, &result) < 0)
			mail_blob_delete_callback(&result, user);
	} else {
		(void)blob_delete(user->blobs, ctx->blob_key,
				  mail_blob_delete_callback, user);
	}
}

static void mail_save_free(struct mail_save_context *ctx)
{
	mail_index_reservation_free(&ctx->res);
	mail_parse_abort(&ctx->parse);
	if (ctx->put != NULL)
		blob_put_abort(&ctx->put);
	if (ctx->src_get != NULL)
		(void)blob_get_end(&ctx->src_get, NULL);
}

static void mailbox_transaction_free(struct mailbox_transaction *t,
				     bool delete_blobs)
{
	struct mail_save_context **ctxp;

	array_foreach(&t->saves, ctxp) {
		if (delete_blobs)
			mail_save_delete_blob(*ctxp);
		mail_save_free(*ctxp);
	}
	mail_quota_reservation_free(&t->quota);
	t->box->user->open_transactions--;
	mail_error_clear(&t->error);
	pool_unref(&t->pool);
}

/* --- saving one message --- */

static void mail_save_drained(void *context)
{
	struct mail_save_context *ctx = context;

	if (ctx->drained_callback != NULL)
		ctx->drained_callback(ctx->drained_context);
}

/* Reserve the UID and start the blob put with the message's metadata. */
static struct mail_save_context *
mail_save_alloc(struct mailbox_transaction *t, uint32_t uid,
		enum mail_flags flags, const char *const *keywords,
		time_t internal_date, int internal_tz, const char *guid)
{
	struct mailbox *box = t->box;
	struct mail_user *user = box->user;
	struct mail_save_context *ctx;
	struct mail_index_reservation *res = NULL;

	/* by id and name: a mailbox renamed since it was opened (a handle
	   LMTP keeps, INBOX's rename moving the row) is not saved into
	   under its old name */
	if (uid == 0 &&
	    mail_index_reserve_uids_named(user->index, box->id, box->name, 1,
					  &res) < 0) {
		mail_user_set_index_error(user);
		mail_transaction_fail(t);
		return NULL;
	}
	ctx = p_new(t->pool, struct mail_save_context, 1);
	ctx->t = t;
	ctx->res = res;
	ctx->uid = res != NULL ? mail_index_reservation_get_uid1(res) : uid;
	if (guid != NULL && strlen(guid) == MAIL_INDEX_MAILBOX_GUID_LEN)
		memcpy(ctx->guid, guid, MAIL_INDEX_MAILBOX_GUID_LEN + 1);
	else
		mail_index_generate_guid(ctx->guid);
	ctx->flags = flags & MAIL_FLAGS_MASK;
	if (keywords != NULL) {
		unsigned int count = str_array_length(keywords);
		ctx->keywords = p_new(t->pool, const char *, count + 1);
		for (unsigned int i = 0; i < count; i++)
			ctx->keywords[i] = p_strdup(t->pool, keywords[i]);
	}
	ctx->save_date = time(NULL);
	ctx->internal_date = internal_date != 0 ? internal_date : ctx->save_date;
	ctx->internal_tz = internal_tz;
	ctx->blob_key = p_strdup(t->pool, mail_blob_key(user->blob_prefix,
		box->guid, ctx->uid, ctx->guid));

	enum blob_flags blob_flags =
		(t->flags & MAILBOX_TRANSACTION_FLAG_REPLACE_BLOBS) != 0 ?
		BLOB_FLAG_OVERWRITE : 0;
	if ((t->flags & MAILBOX_TRANSACTION_FLAG_BULK) != 0 || t->deferred_sync)
		blob_flags |= BLOB_FLAG_NO_SYNC;
	ctx->put = mailbox_transaction_is_sync(t) ?
		blob_put_begin_sync(user->blobs, ctx->blob_key, blob_flags) :
		blob_put_begin(user->blobs, ctx->blob_key, blob_flags);
	struct mail_blob_meta meta = {
		.mailbox_guid = box->guid,
		.mailbox_name = box->name,
		.uid = ctx->uid,
		.uidvalidity = res != NULL ?
			mail_index_reservation_get_uidvalidity(res) :
			box->uidvalidity,
		.save_date = ctx->save_date,
		.internal_date = ctx->internal_date,
		.internal_tz = ctx->internal_tz,
		.flags = ctx->flags,
		.keywords = ctx->keywords,
		.guid = ctx->guid,
	};
	mail_blob_meta_set(ctx->put, &meta);
	if (!mailbox_transaction_is_sync(t))
		blob_put_set_drained_callback(ctx->put, mail_save_drained, ctx);
	array_push(&t->saves, ctx);
	return ctx;
}

struct mail_save_context *
mail_save_begin(struct mailbox_transaction *t, enum mail_flags flags,
		const char *const *keywords, time_t internal_date,
		int internal_tz)
{
	struct mail_save_context *ctx;

	ctx = mail_save_alloc(t, 0, flags, keywords, internal_date,
			      internal_tz, NULL);
	if (ctx != NULL)
		ctx->parse = mail_parse_begin(t->pool);
	return ctx;
}

struct mail_save_context *
mail_save_begin_guid(struct mailbox_transaction *t, enum mail_flags flags,
		     time_t internal_date, int internal_tz, const char *guid)
{
	struct mail_save_context *ctx;

	i_assert(strlen(guid) == MAIL_INDEX_MAILBOX_GUID_LEN);
	ctx = mail_save_alloc(t, 0, flags, NULL, internal_date, internal_tz,
			      guid);
	if (ctx != NULL)
		ctx->parse = mail_parse_begin(t->pool);
	return ctx;
}

struct mail_save_context *
mail_save_begin_uid(struct mailbox_transaction *t, uint32_t uid,
		    enum mail_flags flags, const char *const *keywords,
		    time_t internal_date, int internal_tz)
{
	struct mail_save_context *ctx;

	i_assert(uid != 0);
	ctx = mail_save_alloc(t, uid, flags, keywords, internal_date,
			      internal_tz, NULL);
	ctx->parse = mail_parse_begin(t->pool);
	return ctx;
}

int mail_save_write(struct mail_save_context *ctx, const void *data,
		    size_t size)
{
	i_assert(!ctx->finished);

	if (ctx->put_failed)
		return -1;
	if (ctx->parse != NULL)
		mail_parse_feed(ctx->parse, data, size);
	if (blob_put_write(ctx->put, data, size) < 0) {
		/* the put's finish reports why */
		ctx->put_failed = true;
		return -1;
	}
	ctx->size += size;
	return 0;
}

bool mail_save_is_full(struct mail_save_context *ctx)
{
	return ctx->put != NULL && blob_put_is_full(ctx->put);
}

void mail_save_set_drained_callback(struct mail_save_context *ctx,
				    void (*callback)(void *), void *context)
{
	ctx->drained_callback = callback;
	ctx->drained_context = context;
}

static void mail_save_put_finished(const struct blob_result *result,
				   void *context)
{
	struct mail_save_context *ctx = context;
	struct mailbox_transaction *t = ctx->t;

	i_assert(t->puts_pending > 0);
	t->puts_pending--;
	if (result->error != BLOB_ERROR_NONE) {
		ctx->put_failed = true;
		mail_transaction_set_blob_error(t, t_strdup_printf(
			"put(%s)", ctx->blob_key), result);
	} else {
		ctx->put_done = true;
		ctx->blob_written = true;
	}
	mail_transaction_check_ready(t);
}

/* Make the blob durable: now (sync) or in the background (async). */
static void mail_save_put_finish(struct mail_save_context *ctx)
{
	struct mailbox_transaction *t = ctx->t;
	struct blob_result result;

	ctx->finished = true;
	if (mailbox_transaction_is_sync(t)) {
		if (blob_put_finish_sync(&ctx->put, &result) < 0) {
			ctx->put_failed = true;
			mail_transaction_set_blob_error(t, t_strdup_printf(
				"put(%s)", ctx->blob_key), &result);
		} else {
			ctx->put_done = true;
			ctx->blob_written = true;
		}
		return;
	}
	t->puts_pending++;
	blob_put_finish(&ctx->put, mail_save_put_finished, ctx);
}

int mail_save_finish(struct mail_save_context **_ctx)
{
	struct mail_save_context *ctx = *_ctx;

	*_ctx = NULL;
	(void)mail_parse_finish(&ctx->parse, &ctx->parsed);
	mail_save_put_finish(ctx);
	return ctx->put_failed ? -1 : 0;
}

/* --- copy --- */

static void mail_copy_fail_get(struct mail_save_context *ctx,
			       const char *what)
{
	struct blob_result result;

	if (blob_get_end(&ctx->src_get, &result) == 0) {
		result.error = BLOB_ERROR_IO;
		result.internal_error = "read failed";
	}
	mail_transaction_set_blob_error(ctx->t, what, &result);
	if (ctx->put != NULL)
		blob_put_abort(&ctx->put);
	ctx->put_failed = true;
	ctx->finished = true;
}

/* Move bytes from the source blob to the new one while both can. */
static void mail_copy_pump(void *context)
{
	struct mail_save_context *ctx = context;
	struct mailbox_transaction *t = ctx->t;
	const unsigned char *data;
	size_t size;
	int ret;

	while (ctx->src_get != NULL && !blob_put_is_full(ctx->put)) {
		ret = blob_get_read_data(ctx->src_get, &data, &size);
		if (ret == BLOB_READ_WAIT)
			return;
		if (ret == BLOB_READ_EOF) {
			(void)blob_get_end(&ctx->src_get, NULL);
			/* puts_pending was counted when the copy started */
			t->puts_pending--;
			mail_save_put_finish(ctx);
			return;
		}
		if (ret == BLOB_READ_ERROR) {
			mail_copy_fail_get(ctx, "copy: reading the source");
			t->puts_pending--;
			mail_transaction_check_ready(t);
			return;
		}
		if (blob_put_write(ctx->put, data, size) < 0) {
			/* the put has failed: its finish says why */
			(void)blob_get_end(&ctx->src_get, NULL);
			t->puts_pending--;
			mail_save_put_finish(ctx);
			return;
		}
		ctx->size += size;
		blob_get_skip(ctx->src_get, size);
	}
}

static int mail_copy_sync(struct mail_save_context *ctx, const char *src_key)
{
	struct mail_user *user = ctx->t->box->user;
	const unsigned char *data;
	size_t size;
	int ret;

	ctx->src_get = blob_get_begin_sync(user->blobs, src_key, 0, UINT64_MAX);
	while ((ret = blob_get_read_data(ctx->src_get, &data, &size)) > 0) {
		if (blob_put_write(ctx->put, data, size) < 0)
			break;
		ctx->size += size;
		blob_get_skip(ctx->src_get, size);
	}
	if (ret == BLOB_READ_ERROR) {
		mail_copy_fail_get(ctx, t_strdup_printf("copy: reading %s", src_key));
		return -1;
	}
	(void)blob_get_end(&ctx->src_get, NULL);
	mail_save_put_finish(ctx);
	return ctx->put_failed ? -1 : 0;
}

int mail_copy(struct mailbox_transaction *t, struct mailbox *src,
	      uint32_t src_uid, bool move)
{
	struct mail_user *user = t->box->user;
	ARRAY_TYPE(mail_index_record) recs;
	ARRAY_TYPE(seq_range) uids;
	struct mail_save_context *ctx;

	i_assert(src->user == user);
	array_init(&recs, pool_datastack, 1);
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add(&uids, src_uid);
	if (mail_index_fetch(user->index, src->id, &uids,
			     MAIL_INDEX_FETCH_DETAILS, pool_datastack, &recs) < 0)
		return mail_user_set_index_error(user);
	if (array_count(&recs) == 0) {
		return mail_user_set_error(user, MAIL_ERROR_EXPUNGED,
			"Some of the requested messages no longer exist.");
	}
	const struct mail_index_record *rec = &recs.v[0];

	/* the copy keeps the message's GUID (the same message, as
	   RFC 8474's EMAILID says), flags, keywords and INTERNALDATE */
	ctx = mail_save_alloc(t, 0, rec->flags, rec->keywords,
			      rec->internal_date, rec->internal_tz, rec->guid);
	if (ctx == NULL)
		return -1;
	ctx->is_copy = true;
	ctx->move = move;
	ctx->src_mailbox_id = src->id;
	ctx->src_uid = src_uid;
	if (mailbox_transaction_is_sync(t))
		return mail_copy_sync(ctx, rec->blob_key);

	t->puts_pending++;
	ctx->src_get = blob_get_begin(user->blobs, rec->blob_key, 0, UINT64_MAX);
	blob_get_set_callback(ctx->src_get, mail_copy_pump, ctx);
	blob_put_set_drained_callback(ctx->put, mail_copy_pump, ctx);
	mail_copy_pump(ctx);
	return 0;
}

/* --- commit --- */

static void mail_transaction_get_reservations(struct mailbox_transaction *t,
					     ARRAY_TYPE(mail_reservation) *res)
{
	struct mail_save_context **ctxp;

	array_foreach(&t->saves, ctxp) {
		/* saves under a given UID (import) have no reservation */
		if ((*ctxp)->put_done && (*ctxp)->res != NULL)
			array_push(res, (*ctxp)->res);
	}
}

/* Whether the transaction would only wait for another writer's lower
   UID now (not counting the reservations in except, which commit along):
   checked without the write lock, so waiters don't keep taking the lock
   from the writers they wait for. */
static bool mail_transaction_must_wait(struct mailbox_transaction *t,
				       const ARRAY_TYPE(mail_reservation) *except)
{
	ARRAY_TYPE(mail_reservation) res;

	array_init(&res, pool_datastack, array_count(&t->saves));
	mail_transaction_get_reservations(t, &res);
	if (except == NULL)
		except = &res;
	int ret = mail_index_reservations_pending_except(
		t->box->user->index, res.v, array_count(&res),
		except->v, array_count(except));
	if (ret < 0) {
		/* decided under the lock instead */
		mail_error_clear(mail_index_get_error_state(t->box->user->index));
		return false;
	}
	return ret > 0;
}

/* The lowest UID a transaction saves (to commit a batch in UID order). */
static uint32_t mail_transaction_min_uid(const struct mailbox_transaction *t)
{
	struct mail_save_context *const *ctxp;
	uint32_t min = UINT32_MAX;

	array_foreach(&t->saves, ctxp) {
		if ((*ctxp)->uid < min)
			min = (*ctxp)->uid;
	}
	return min;
}

static int mail_transaction_uid_cmp(const void *p1, const void *p2)
{
	uint32_t u1 = mail_transaction_min_uid(*(struct mailbox_transaction *const *)p1);
	uint32_t u2 = mail_transaction_min_uid(*(struct mailbox_transaction *const *)p2);

	return u1 < u2 ? -1 : (u1 > u2 ? 1 : 0);
}

/* Put the transaction's rows into the index transaction it. Returns 1,
   0 if a lower UID elsewhere is still pending (nothing was done), -1 on
   an error that spoils it (the caller rolls it back). */
static int mail_transaction_apply(struct mail_index_transaction *it,
				  struct mailbox_transaction *t)
{
	struct mail_user *user = t->box->user;
	struct mail_save_context **ctxp;
	ARRAY_TYPE(mail_reservation) res;
	int ret;

	array_init(&res, pool_datastack, array_count(&t->saves));
	mail_transaction_get_reservations(t, &res);
	ret = mail_index_reservations_ready(it, res.v, array_count(&res));
	if (ret <= 0) {
		if (ret < 0) {
			mail_user_set_index_error(user);
			mail_transaction_fail(t);
		}
		return ret;
	}

	array_foreach(&t->saves, ctxp) {
		struct mail_save_context *ctx = *ctxp;
		if (!ctx->put_done)
			continue;
		if (ctx->is_copy) {
			ret = mail_index_copy(it, ctx->src_mailbox_id,
					      ctx->src_uid, ctx->res, ctx->uid,
					      ctx->blob_key);
			if (ret < 0 && mail_index_get_last_error(user->index,
					NULL, NULL) == MAIL_ERROR_EXPUNGED) {
				/* expunged meanwhile: the copy is skipped,
				   as if it had been expunged right after */
				ctx->put_done = false;
				continue;
			}
			if (ret > 0 && ctx->move) {
				ARRAY_TYPE(seq_range) src;
				array_init(&src, pool_datastack, 1);
				seq_range_array_add(&src, ctx->src_uid);
				if (mail_index_expunge(it, ctx->src_mailbox_id,
						       &src, false, NULL) < 0)
					ret = -1;
			}
		} else {
			const struct mail_parse_result *p = &ctx->parsed;
			struct mail_index_new_message msg = {
				.flags = ctx->flags,
				.keywords = ctx->keywords,
				.internal_date = ctx->internal_date,
				.internal_tz = ctx->internal_tz,
				.sent_date = p->sent_date,
				.sent_tz = p->sent_tz,
				.save_date = ctx->save_date,
				.physical_size = ctx->size,
				.rfc822_size = p->rfc822_size,
				.guid = ctx->guid,
				.blob_key = ctx->blob_key,
				.envelope = p->envelope,
				.bodystructure = p->bodystructure,
				.body = p->body,
				.headers = p->headers == NULL ? NULL : p->headers->data,
				.headers_size = p->headers == NULL ? 0 : p->headers->used,
				.parts = p->parts == NULL ? NULL : p->parts->data,
				.parts_size = p->parts == NULL ? 0 : p->parts->used,
				.search_fields = &p->search_fields,
			};
			if (ctx->res != NULL)
				ret = mail_index_append(it, ctx->res, ctx->uid, &msg);
			else {
				/* import keeping UIDs: the importer has the
				   mailbox to itself, so a wait is an error */
				ret = mail_index_append_uid(it, t->box->id,
							    ctx->uid, &msg);
				if (ret == 0) {
					mail_user_set_error(user, MAIL_ERROR_INUSE,
						"Another process is saving into "
						"the mailbox being imported.");
					mail_transaction_fail(t);
					return -1;
				}
			}
		}
		if (ret <= 0) {
			/* 0 cannot happen after reservations_ready() */
			if (ret == 0) {
				mail_user_set_internal_error(user, MAIL_ERROR_TEMP,
					"BUG: append waits after its reservations were ready");
			} else {
				mail_user_set_index_error(user);
			}
			mail_transaction_fail(t);
			return -1;
		}
	}
	return 1;
}

static void mail_transaction_result(struct mailbox_transaction *t, pool_t pool,
				    struct mail_transaction_commit_result *result_r)
{
	struct mail_save_context **ctxp;

	memset(result_r, 0, sizeof(*result_r));
	result_r->uidvalidity = t->box->uidvalidity;
	array_init(&result_r->uids, pool, array_count(&t->saves) + 1);
	array_init(&result_r->src_uids, pool, array_count(&t->saves) + 1);
	array_foreach(&t->saves, ctxp) {
		struct mail_save_context *ctx = *ctxp;
		if (ctx->res != NULL) {
			result_r->uidvalidity =
				mail_index_reservation_get_uidvalidity(ctx->res);
		}
		if (!ctx->put_done)
			continue;
		array_push(&result_r->uids, ctx->uid);
		if (ctx->is_copy)
			array_push(&result_r->src_uids, ctx->src_uid);
	}
}

/* After a commit: blobs of skipped copies, and moved sources, go. */
static void mail_transaction_committed(struct mailbox_transaction *t)
{
	struct mail_save_context **ctxp;
	bool moved = false;

	uint32_t last_src = 0;
	array_foreach(&t->saves, ctxp) {
		struct mail_save_context *ctx = *ctxp;
		if (ctx->put_done) {
			/* the index points at it now */
			ctx->blob_written = false;
			if (ctx->move && ctx->src_mailbox_id != last_src) {
				/* before the moved blobs go */
				mail_user_write_uidnext(t->box->user,
							ctx->src_mailbox_id);
				last_src = ctx->src_mailbox_id;
			}
			moved = moved || ctx->move;
		}
	}
	if (moved) {
		unsigned int deleted;
		if (mail_user_purge_blobs(t->box->user, &deleted) < 0) {
			/* logged; what is left stays queued */
		}
	}
}

static void mail_transaction_finish_async(struct mailbox_transaction *t,
					  bool success)
{
	struct mail_transaction_commit_result result;

	if (success) {
		mail_transaction_committed(t);
		mail_transaction_result(t, pool_datastack, &result);
		t->callback(0, &result, t->context);
	} else {
		/* the user's last error is what the callback reports */
		if (t->failed)
			mail_error_copy(&t->box->user->error, &t->error);
		t->callback(-1, NULL, t->context);
	}
	mailbox_transaction_free(t, !success);
}

static void mail_commit_sync_work(void *context)
{
	struct mail_commit_sync_job *job = context;

	mail_index_commit_sync_run(job->sync);
}

static void mail_commit_sync_done(void *context)
{
	struct mail_commit_sync_job *job = context;
	struct mail_user *user = job->user;
	struct mailbox_transaction **tp;

	/* before the callbacks: the user must not be touched after the
	   last of them */
	i_assert(user->commit_syncs > 0);
	user->commit_syncs--;
	T_BEGIN {
		bool success = mail_index_commit_sync_finish(&job->sync) == 0;
		if (!success)
			mail_user_set_index_error(user);
		array_foreach(&job->applied, tp) {
			if (!success)
				mail_transaction_fail(*tp);
			mail_transaction_finish_async(*tp, success);
		}
	} T_END;
	array_free(&job->applied);
	i_free(job);
}

/* Sync a committed group in a worker thread; its transactions are
   acknowledged from mail_commit_sync_done(). */
static void
mail_commit_sync_start(struct mail_user *user,
		       struct mail_index_commit_sync *sync,
		       struct mailbox_transaction *const *applied,
		       unsigned int count)
{
	struct mail_commit_sync_job *job = i_new(struct mail_commit_sync_job, 1);

	job->user = user;
	job->sync = sync;
	array_init(&job->applied, system_pool, count);
	for (unsigned int i = 0; i < count; i++)
		array_push(&job->applied, applied[i]);
	user->commit_syncs++;
	if (!user->commit_sync_workers) {
		if (mail_sync_workers == NULL) {
			mail_sync_workers = worker_pool_create(
				MAIL_SYNC_WORKER_THREADS,
				MAIL_SYNC_WORKER_MAX_QUEUE);
			mail_sync_workers_ioloop = current_ioloop;
		}
		mail_sync_workers_users++;
		user->commit_sync_workers = true;
	}
	i_assert(mail_sync_workers_ioloop == current_ioloop);
	if (worker_pool_run(mail_sync_workers, mail_commit_sync_work,
			    mail_commit_sync_done, job) == NULL) {
		/* every thread busy and the queue full: sync here */
		mail_commit_sync_work(job);
		mail_commit_sync_done(job);
	}
}

static void mail_user_commit_flush(void *context)
{
	struct mail_user *user = context;
	ARRAY(struct mailbox_transaction *) batch, applied, waiting;
	struct mailbox_transaction **tp;
	struct mail_index_transaction *it;
	int ret;

	timeout_remove(&user->commit_timeout);
	array_init(&batch, pool_datastack, array_count(&user->commit_queue));
	array_init(&applied, pool_datastack, 8);
	array_init(&waiting, pool_datastack, 8);
	array_foreach(&user->commit_queue, tp)
		array_push(&batch, *tp);
	array_clear(&user->commit_queue);

	/* in UID order: a transaction's lower UIDs elsewhere in the batch
	   are claimed before it is checked, so they commit together */
	if (array_count(&batch) > 1) {
		qsort(batch.v, array_count(&batch), sizeof(batch.v[0]),
		      mail_transaction_uid_cmp);
	}
	ARRAY_TYPE(mail_reservation) batch_res;
	array_init(&batch_res, pool_datastack, array_count(&batch) + 1);
	array_foreach(&batch, tp) {
		if (!(*tp)->failed)
			mail_transaction_get_reservations(*tp, &batch_res);
	}
	/* failed ones first: nothing to commit; those that found a lower
	   UID of another writer pending and would still only wait for it
	   stay queued without taking the lock. A first attempt goes
	   straight to the check under the lock (mail_transaction_apply()):
	   without another writer, which is nearly always, the check
	   before it was a second query of the reservations per commit
	   (2.3 % of the mail process's samples in LMTP deliveries) */
	unsigned int runnable = 0;
	array_foreach(&batch, tp) {
		if ((*tp)->failed) {
			mail_transaction_finish_async(*tp, false);
			*tp = NULL;
		} else if ((*tp)->commit_waited &&
			   mail_transaction_must_wait(*tp, &batch_res)) {
			array_push(&waiting, *tp);
			*tp = NULL;
		} else {
			runnable++;
		}
	}
	if (runnable == 0)
		goto requeue;
	if (mail_index_transaction_begin(user->index, &it) < 0) {
		mail_user_set_index_error(user);
		goto fail_all;
	}
	array_foreach(&batch, tp) {
		if (*tp == NULL)
			continue;
		ret = mail_transaction_apply(it, *tp);
		if (ret < 0) {
			/* the index transaction may hold part of it: all
			   of this batch fails (an index error, rare) */
			mail_index_transaction_rollback(&it);
			goto fail_all;
		}
		if (ret == 0) {
			(*tp)->commit_waited = true;
			array_push(&waiting, *tp);
			*tp = NULL;
		} else {
			array_push(&applied, *tp);
		}
	}
	/* deferred saves alone: their caller makes them durable (a
	   syncfs()); one ordinary save among them syncs them all */
	bool deferred = array_count(&applied) > 0;
	array_foreach(&applied, tp) {
		if (!(*tp)->deferred_sync)
			deferred = false;
	}
	if (deferred)
		mail_index_transaction_set_deferred_sync(it);
	struct mail_index_commit_sync *sync;
	if (mail_index_transaction_commit_async(&it, &sync) < 0) {
		mail_user_set_index_error(user);
		array_foreach(&applied, tp) {
			mail_transaction_fail(*tp);
			mail_transaction_finish_async(*tp, false);
		}
	} else if (sync != NULL) {
		/* the rows count in the index's quota usage from the
		   COMMIT on: the reservations go now, not after the sync
		   (counted twice meanwhile, a delivery that fits would be
		   refused) */
		array_foreach(&applied, tp)
			mail_quota_reservation_free(&(*tp)->quota);
		mail_commit_sync_start(user, sync, applied.v,
				       array_count(&applied));
	} else {
		array_foreach(&applied, tp)
			mail_transaction_finish_async(*tp, true);
	}
requeue:
	/* those waiting for another writer's lower UID try again soon */
	array_foreach(&waiting, tp)
		array_push(&user->commit_queue, *tp);
	if (array_count(&user->commit_queue) > 0 && user->commit_timeout == NULL) {
		user->commit_timeout = timeout_add(MAIL_COMMIT_RETRY_MSECS,
						   mail_user_commit_flush, user);
	}
	return;

fail_all:
	array_foreach(&batch, tp) {
		if (*tp == NULL)
			continue;
		mail_transaction_fail(*tp);
		mail_transaction_finish_async(*tp, false);
		*tp = NULL;
	}
	array_clear(&applied);
	goto requeue;
}

void mail_user_commit_queue_add(struct mail_user *user,
				struct mailbox_transaction *t)
{
	t->queued = true;
	array_push(&user->commit_queue, t);
	/* 0 ms: after every callback ready in this loop round, so the saves
	   that became durable together commit together */
	if (user->commit_timeout == NULL)
		user->commit_timeout = timeout_add(0, mail_user_commit_flush, user);
}

void mail_user_commit_queue_deinit(struct mail_user *user)
{
	i_assert(array_count(&user->commit_queue) == 0);
	i_assert(user->commit_syncs == 0);
	timeout_remove(&user->commit_timeout);
	if (user->commit_sync_workers) {
		user->commit_sync_workers = false;
		i_assert(mail_sync_workers_users > 0);
		if (--mail_sync_workers_users == 0) {
			worker_pool_destroy(&mail_sync_workers);
			mail_sync_workers_ioloop = NULL;
		}
	}
}

static void mail_transaction_check_ready(struct mailbox_transaction *t)
{
	if (!t->commit_requested || t->puts_pending > 0 || t->queued)
		return;
	if (t->callback == NULL) {
		/* rolled back while its puts were finishing */
		mailbox_transaction_free(t, true);
		return;
	}
	mail_user_commit_queue_add(t->box->user, t);
}

void mailbox_transaction_commit(struct mailbox_transaction **_t,
				mailbox_transaction_callback_t *callback,
				void *context)
{
	struct mailbox_transaction *t = *_t;

	i_assert(!mailbox_transaction_is_sync(t));
	i_assert(callback != NULL);
	*_t = NULL;
	t->callback = callback;
	t->context = context;
	t->commit_requested = true;
	mail_transaction_check_ready(t);
}

int mailbox_transaction_commit_sync(struct mailbox_transaction **_t,
				    pool_t pool,
				    struct mail_transaction_commit_result *result_r)
{
	struct mailbox_transaction *t = *_t;
	struct mail_user *user = t->box->user;
	struct mail_index_transaction *it;
	uint64_t deadline = ioloop_msecs_monotonic() + MAIL_SYNC_COMMIT_WAIT_MSECS;
	int ret;

	i_assert(mailbox_transaction_is_sync(t));
	*_t = NULL;
	if ((t->flags & MAILBOX_TRANSACTION_FLAG_BULK) != 0 && !t->failed &&
	    array_count(&t->saves) > 0) {
		/* the blobs before the index rows that point to them */
		const char *error;
		if (blob_store_sync(user->blobs, &error) < 0) {
			mail_user_set_internal_error(user, MAIL_ERROR_TEMP,
						     "%s", error);
			mail_transaction_fail(t);
		}
	}
	for (;;) {
		if (t->failed) {
			ret = -1;
			break;
		}
		if (mail_transaction_must_wait(t, NULL) &&
		    ioloop_msecs_monotonic() < deadline) {
			/* woken by the commit (or release) of the lower UID;
			   the timeout covers a writer that died holding it */
			(void)mail_index_wait_change(user->index, 20);
			continue;
		}
		if (mail_index_transaction_begin(user->index, &it) < 0) {
			mail_user_set_index_error(user);
			mail_transaction_fail(t);
			ret = -1;
			break;
		}
		ret = mail_transaction_apply(it, t);
		if (ret > 0) {
			if (mail_index_transaction_commit(&it) < 0) {
				mail_user_set_index_error(user);
				mail_transaction_fail(t);
				ret = -1;
			}
			break;
		}
		mail_index_transaction_rollback(&it);
		if (ret < 0)
			break;
		/* a lower UID of another writer is still being written */
		if (ioloop_msecs_monotonic() > deadline) {
			mail_user_set_error(user, MAIL_ERROR_INUSE,
				"Timed out waiting for other saves to finish.");
			mail_transaction_fail(t);
			ret = -1;
			break;
		}
		(void)mail_index_wait_change(user->index, 5);
	}
	if (ret < 0) {
		mail_error_copy(&user->error, &t->error);
		mailbox_transaction_free(t, true);
		return -1;
	}
	mail_transaction_committed(t);
	mail_transaction_result(t, pool, result_r);
	mailbox_transaction_free(t, true);
	return 0;
}

unsigned int
mailbox_transaction_get_pending(const struct mailbox_transaction *t)
{
	return t->puts_pending;
}

void mailbox_transaction_rollback(struct mailbox_transaction **_t)
{
	struct mailbox_transaction *t = *_t;

	*_t = NULL;
	if (t->puts_pending > 0) {
		/* puts are finishing: their callbacks still need the
		   transaction; it is freed after the last */
		struct mail_save_context **ctxp;
		array_foreach(&t->saves, ctxp) {
			if ((*ctxp)->src_get != NULL) {
				/* a copy still reading: stop it */
				(void)blob_get_end(&(*ctxp)->src_get, NULL);
				blob_put_abort(&(*ctxp)->put);
				t->puts_pending--;
			}
		}
		t->commit_requested = true;
		t->callback = NULL;
		mail_transaction_check_ready(t);
		return;
	}
	mailbox_transaction_free(t, true);
}

/* --- deferred saves: their targets, and a replay's check --- */

bool mail_user_get_syncfs_targets(struct mail_user *user, int *blob_fd_r,
				  const char **index_path_r)
{
	int fd = blob_store_get_syncfs_fd(user->blobs);

	if (fd < 0)
		return false;
	*blob_fd_r = fd;
	*index_path_r = mail_index_get_path(user->index);
	return true;
}

/* The index row of the message with guid: its UID from one query (a
   scan of the mailbox's rows in SQLite, no index on guid), then that
   row's details. It read every row's details, 64 at a time, from the
   highest UID down: per replayed copy, the size of the mailbox. Returns
   1, 0 if there is none, -1 on error. */
static int mailbox_find_guid(struct mailbox *box, const char *guid,
			     pool_t pool, struct mail_index_record *rec_r)
{
	struct mail_index *index = box->user->index;
	ARRAY_TYPE(mail_index_record) recs;
	ARRAY_TYPE(seq_range) range;
	uint32_t uid;
	int ret;

	ret = mail_index_message_guid_uid(index, box->id, guid, &uid);
	if (ret <= 0)
		return ret < 0 ? mail_user_set_index_error(box->user) : 0;
	array_init(&range, pool_datastack, 1);
	seq_range_array_add(&range, uid);
	array_init(&recs, pool, 1);
	if (mail_index_fetch(index, box->id, &range, MAIL_INDEX_FETCH_DETAILS,
			     pool, &recs) < 0)
		return mail_user_set_index_error(box->user);
	if (array_count(&recs) == 0) {
		/* expunged between the two reads */
		return 0;
	}
	*rec_r = recs.v[0];
	return 1;
}

/* Whether the blob at key holds exactly data1 + data2 and metadata naming
   uid and guid. */
static bool mailbox_blob_matches(struct mail_user *user,
				 const struct mail_index_record *rec,
				 const void *data1, size_t size1,
				 const void *data2, size_t size2)
{
	struct blob_info info;
	struct blob_result result;
	struct mail_blob_meta meta;
	const char *error;

	if (blob_head_sync(user->blobs, rec->blob_key, pool_datastack, &info,
			   &result) < 0 || info.size != size1 + size2 ||
	    mail_blob_meta_parse(&info, pool_datastack, &meta, &error) < 0 ||
	    meta.uid != rec->uid || meta.guid == NULL ||
	    strcmp(meta.guid, rec->guid) != 0)
		return false;

	struct blob_get *get = blob_get_begin_sync(user->blobs, rec->blob_key,
						   0, UINT64_MAX);
	const unsigned char *data;
	size_t size, pos = 0;
	bool same = true;
	int ret;
	while (same && (ret = blob_get_read_data(get, &data, &size)) > 0) {
		for (size_t done = 0; done < size && same; ) {
			const unsigned char *want = pos < size1 ?
				(const unsigned char *)data1 + pos :
				(const unsigned char *)data2 + (pos - size1);
			size_t left = pos < size1 ? size1 - pos :
				size1 + size2 - pos;
			size_t n = I_MIN(left, size - done);
			if (n == 0 || memcmp(data + done, want, n) != 0)
				same = false;
			done += n;
			pos += n;
		}
		blob_get_skip(get, size);
	}
	if (blob_get_end(&get, NULL) < 0)
		same = false;
	return same && pos == size1 + size2;
}

int mailbox_verify_saved_blob(struct mailbox *box, const char *guid,
			      const void *data1, size_t size1,
			      const void *data2, size_t size2)
{
	struct mail_user *user = box->user;
	struct mail_index_record rec = { .uid = 0 };
	struct blob_result result;
	int ret;

	if ((ret = mailbox_find_guid(box, guid, pool_datastack, &rec)) <= 0) {
		if (ret == 0) {
			mail_user_set_error(user, MAIL_ERROR_NOTFOUND,
					    "No message with this GUID.");
		}
		return -1;
	}
	if (mailbox_blob_matches(user, &rec, data1, size1, data2, size2))
		return 0;

	/* written again as the save wrote it: the same key and metadata */
	struct blob_put *put = blob_put_begin_sync(user->blobs, rec.blob_key,
						   BLOB_FLAG_OVERWRITE);
	struct mail_blob_meta meta = {
		.mailbox_guid = box->guid,
		.mailbox_name = box->name,
		.uid = rec.uid,
		.uidvalidity = box->uidvalidity,
		.save_date = rec.save_date,
		.internal_date = rec.internal_date,
		.internal_tz = rec.internal_tz,
		.flags = rec.flags,
		.keywords = rec.keywords,
		.guid = rec.guid,
	};
	mail_blob_meta_set(put, &meta);
	(void)blob_put_write(put, data1, size1);
	(void)blob_put_write(put, data2, size2);
	if (blob_put_finish_sync(&put, &result) < 0) {
		return mail_user_set_blob_error(user, t_strdup_printf(
			"put(%s)", rec.blob_key), &result);
	}
	e_warning(user->event, "The blob of message %s (UID %u) in %s was "
		  "missing or damaged: written again from the LMTP journal",
		  rec.guid, rec.uid, box->name);
	return 1;
}
