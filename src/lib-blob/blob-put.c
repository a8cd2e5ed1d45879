/* Streaming puts. Writes are buffered and handed to the driver a chunk at
   a time, one request in flight, so a producer can keep filling one
   buffer while the driver writes the other: memory stays at two chunks
   for a producer that respects blob_put_is_full(). The commit carries the
   last partial chunk, so a small put costs the driver one request. */
#include "lib.h"
#include "blob-private.h"

struct blob_put {
	struct blob_store *store;
	struct blob_op *op;
	bool sync;

	buffer_t bufs[2];
	/* accepting writes / being written by the driver */
	buffer_t *buf, *wbuf;
	uint64_t total;

	/* the first failure, kept across the discard that follows it */
	enum blob_error error;
	char *error_text;

	blob_callback_t *callback;
	void *context;
	blob_ready_callback_t *drained_callback;
	void *drained_context;

	bool writing:1;
	bool finishing:1;
	bool aborted:1;
	bool full_reported:1;
	bool sync_finished:1;
	/* blob_put_data()'s: the callback frees a request, so it runs even
	   while the store is being destroyed */
	bool internal_callback:1;
};

static void blob_put_start_write(struct blob_put *put);
static void blob_put_continue_finish(struct blob_put *put);

static struct blob_put *blob_put_create(struct blob_store *store,
					const char *key, enum blob_flags flags,
					bool sync)
{
	struct blob_put *put = i_new(struct blob_put, 1);

	put->store = store;
	put->sync = sync;
	put->op = blob_op_create(store, BLOB_OP_PUT, sync, key);
	put->op->flags = flags;
	put->op->done_context = put;
	buffer_init(&put->bufs[0], system_pool);
	buffer_init(&put->bufs[1], system_pool);
	put->buf = &put->bufs[0];
	put->wbuf = &put->bufs[1];
	store->handle_count++;
	return put;
}

struct blob_put *blob_put_begin(struct blob_store *store, const char *key,
				enum blob_flags flags)
{
	return blob_put_create(store, key, flags, false);
}

struct blob_put *blob_put_begin_sync(struct blob_store *store,
				     const char *key, enum blob_flags flags)
{
	return blob_put_create(store, key, flags, true);
}

static void blob_put_free(struct blob_put *put)
{
	blob_op_free(&put->op);
	buffer_release(&put->bufs[0]);
	buffer_release(&put->bufs[1]);
	i_free(put->error_text);
	i_free(put);
}

static void blob_put_invalid(struct blob_put *put, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
static void blob_put_invalid(struct blob_put *put, const char *fmt, ...)
{
	struct blob_op *op = put->op;
	va_list args;

	if (op->invalid_error != BLOB_ERROR_NONE)
		return;
	va_start(args, fmt);
	i_free(op->error_text);
	op->error_text = i_strdup_vprintf(fmt, args);
	va_end(args);
	op->error = BLOB_ERROR_INVALID;
	op->invalid_error = BLOB_ERROR_INVALID;
}

void blob_put_set_metadata(struct blob_put *put, const char *name,
			   const char *value)
{
	i_assert(put->total == 0 && !put->finishing);

	if (!blob_metadata_name_is_valid(name)) {
		blob_put_invalid(put, "Invalid metadata name '%s'",
				 str_sanitize(name, 64));
		return;
	}
	if (!blob_metadata_value_is_valid(value)) {
		blob_put_invalid(put, "Invalid metadata value for '%s'", name);
		return;
	}
	blob_op_add_metadata(put->op, name, value);

	size_t total = 0;
	const struct blob_metadata_field *field;
	array_foreach(&put->op->metadata, field)
		total += strlen(field->name) + strlen(field->value);
	if (total > BLOB_METADATA_MAX_SIZE) {
		blob_put_invalid(put, "Metadata larger than %u bytes",
				 BLOB_METADATA_MAX_SIZE);
	}
}

static bool blob_put_failed(const struct blob_put *put)
{
	return put->error != BLOB_ERROR_NONE;
}

/* Remember the op's failure (the first one counts). */
static void blob_put_check_error(struct blob_put *put)
{
	struct blob_op *op = put->op;

	if (op->error == BLOB_ERROR_NONE || blob_put_failed(put))
		return;
	put->error = op->error;
	put->error_text = i_strdup(op->error_text);
}

static bool blob_put_is_full_now(const struct blob_put *put)
{
	return put->writing && put->buf->used >= put->store->io_chunk_size;
}

static void blob_put_write_done(struct blob_op *op)
{
	struct blob_put *put = op->done_context;

	put->writing = false;
	buffer_set_used_size(put->wbuf, 0);
	blob_put_check_error(put);
	if (put->finishing || put->aborted) {
		blob_put_continue_finish(put);
		return;
	}
	if (!blob_put_failed(put) &&
	    put->buf->used >= put->store->io_chunk_size)
		blob_put_start_write(put);
	if (put->full_reported && !blob_put_is_full_now(put)) {
		put->full_reported = false;
		if (put->drained_callback != NULL) {
			struct blob_store *store = put->store;
			/* may write, finish or abort: put is not touched
			   after this */
			blob_store_callback_enter(store);
			put->drained_callback(put->drained_context);
			blob_store_callback_leave(store);
		}
	}
}

static void blob_put_start_write(struct blob_put *put)
{
	struct blob_op *op = put->op;
	buffer_t *tmp = put->buf;

	i_assert(!put->writing);
	put->buf = put->wbuf;
	put->wbuf = tmp;
	put->writing = true;
	op->data = put->wbuf->data;
	op->size = put->wbuf->used;
	op->done = blob_put_write_done;
	blob_op_request(op, BLOB_REQ_PUT_WRITE);
}

int blob_put_write(struct blob_put *put, const void *data, size_t size)
{
	i_assert(!put->finishing && !put->aborted);

	if (blob_put_failed(put))
		return -1;
	if (put->op->invalid_error != BLOB_ERROR_NONE) {
		/* fail now so that the producer can stop early */
		blob_put_check_error(put);
		return -1;
	}
	put->total += size;
	buffer_append(put->buf, data, size);
	if (!put->writing && put->buf->used >= put->store->io_chunk_size)
		blob_put_start_write(put);
	/* a sync put has written (or failed) by now */
	return blob_put_failed(put) ? -1 : 0;
}

bool blob_put_is_full(struct blob_put *put)
{
	if (!blob_put_is_full_now(put))
		return false;
	put->full_reported = true;
	return true;
}

void blob_put_set_drained_callback(struct blob_put *put,
				   blob_ready_callback_t *callback,
				   void *context)
{
	put->drained_callback = callback;
	put->drained_context = context;
}

uint64_t blob_put_get_size(const struct blob_put *put)
{
	return put->total;
}

static void blob_put_finished(struct blob_put *put)
{
	struct blob_store *store = put->store;
	struct blob_op *op = put->op;
	struct blob_result result;

	/* the event and the result report the first failure, not the
	   discard that followed it */
	op->error = put->error;
	i_free(op->error_text);
	op->error_text = i_strdup(put->error_text);
	blob_op_emit_finished(op, put->total);
	if (put->sync) {
		put->sync_finished = true;
		return;
	}
	if (!put->aborted && put->callback != NULL &&
	    (!store->draining || put->internal_callback)) {
		blob_op_get_result(op, &result, false);
		blob_store_callback_enter(store);
		put->callback(&result, put->context);
		blob_store_callback_leave(store);
	}
	blob_put_free(put);
}

static void blob_put_discard_done(struct blob_op *op)
{
	blob_put_finished(op->done_context);
}

static void blob_put_commit_done(struct blob_op *op)
{
	struct blob_put *put = op->done_context;

	blob_put_check_error(put);
	if (!blob_put_failed(put)) {
		blob_put_finished(put);
		return;
	}
	/* the driver left nothing visible; the discard drops whatever
	   temporary state is left */
	op->done = blob_put_discard_done;
	blob_op_request(op, BLOB_REQ_PUT_DISCARD);
}

static void blob_put_continue_finish(struct blob_put *put)
{
	struct blob_op *op = put->op;

	i_assert(!put->writing);
	if (put->op->invalid_error != BLOB_ERROR_NONE)
		blob_put_check_error(put);
	if (blob_put_failed(put) || put->aborted) {
		op->done = blob_put_discard_done;
		blob_op_request(op, BLOB_REQ_PUT_DISCARD);
		return;
	}
	op->data = put->buf->data;
	op->size = put->buf->used;
	op->done = blob_put_commit_done;
	blob_op_request(op, BLOB_REQ_PUT_COMMIT);
}

static void blob_put_finish_common(struct blob_put **_put,
				   blob_callback_t *callback, void *context,
				   bool internal)
{
	struct blob_put *put = *_put;
	*_put = NULL;

	i_assert(!put->sync);
	i_assert(!put->finishing && !put->aborted);
	put->store->handle_count--;
	put->finishing = true;
	put->callback = callback;
	put->context = context;
	put->internal_callback = internal;
	put->drained_callback = NULL;
	if (!put->writing)
		blob_put_continue_finish(put);
}

void blob_put_finish(struct blob_put **put, blob_callback_t *callback,
		     void *context)
{
	blob_put_finish_common(put, callback, context, false);
}

void blob_put_finish_internal(struct blob_put **put,
			      blob_callback_t *callback, void *context)
{
	blob_put_finish_common(put, callback, context, true);
}

int blob_put_finish_sync(struct blob_put **_put, struct blob_result *result_r)
{
	struct blob_put *put = *_put;
	*_put = NULL;

	i_assert(put->sync);
	i_assert(!put->finishing && !put->aborted);
	put->store->handle_count--;
	put->finishing = true;
	blob_put_continue_finish(put);
	i_assert(put->sync_finished);
	blob_op_get_result(put->op, result_r, true);
	int ret = blob_put_failed(put) ? -1 : 0;
	blob_put_free(put);
	return ret;
}

void blob_put_abort(struct blob_put **_put)
{
	struct blob_put *put = *_put;
	*_put = NULL;
	if (put == NULL)
		return;

	i_assert(!put->finishing && !put->aborted);
	put->store->handle_count--;
	put->aborted = true;
	put->callback = NULL;
	put->drained_callback = NULL;
	if (put->sync) {
		blob_put_continue_finish(put);
		i_assert(put->sync_finished);
		blob_put_free(put);
	} else if (!put->writing) {
		blob_put_continue_finish(put);
	}
	/* else the write in flight ends in blob_put_continue_finish() */
}
