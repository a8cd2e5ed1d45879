/* Streaming gets. A get keeps one chunk being consumed and one read ahead
   by the driver, so a reader (a parser, or a conn streaming FETCH BODY[])
   never waits for the disk when it is slower than the disk, and memory
   stays at two chunks whatever the object's size. A nowait get lets the
   driver finish a read inline when the data is cached, so a small FETCH
   or RETR costs no hand-off to a worker thread and back. Also the adapter
   that lets conn.h stream a get to a client. */
#include "lib.h"
#include "conn.h"
#include "blob-private.h"

/* The first read also opens the object; most objects (mails) are smaller
   than this, and a get of one then holds only this much. */
#define BLOB_GET_FIRST_READ_SIZE (32 * 1024)

struct blob_get_buf {
	unsigned char *data;
	size_t used, alloc;
};

struct blob_get {
	struct blob_store *store;
	struct blob_op *op;
	bool sync;
	/* blob_get_begin_nowait(): reads may finish inside blob_get_kick() */
	bool nowait;

	/* the range asked for, and once open its absolute end, clipped */
	uint64_t offset, length, end;
	/* absolute offset of the next byte to ask the driver for */
	uint64_t read_pos;
	uint64_t bytes_consumed;

	/* exact-size buffers: a buffer_t would round each chunk up to the
	   next power of two */
	struct blob_get_buf bufs[2];
	/* being consumed / being filled or filled by the driver */
	struct blob_get_buf *cur, *next;
	size_t cur_pos;

	blob_ready_callback_t *callback;
	void *context;

	bool reading:1;
	bool next_ready:1;
	bool eof:1;
	bool opened:1;
	bool failed:1;
	/* the consumer saw BLOB_READ_WAIT: tell it when data comes */
	bool waiting:1;
	/* blob_get_end() ran while a read was in flight */
	bool ended:1;
	/* inside blob_get_kick(): a read finishing now is seen by the
	   consumer on return, so it gets no callback */
	bool kicking:1;
};

static void blob_get_free(struct blob_get *get)
{
	blob_op_free(&get->op);
	i_free(get->bufs[0].data);
	i_free(get->bufs[1].data);
	i_free(get);
}

static void blob_get_read_done(struct blob_op *op)
{
	struct blob_get *get = op->done_context;
	bool first = !get->opened;

	get->reading = false;
	if (get->ended) {
		blob_get_free(get);
		return;
	}
	if (op->error != BLOB_ERROR_NONE) {
		get->failed = true;
	} else {
		if (first) {
			i_assert(op->have_info);
			get->opened = true;
			uint64_t size = op->info.size;
			if (get->offset >= size)
				get->end = get->offset;
			else if (get->length > size - get->offset)
				get->end = size;
			else
				get->end = get->offset + get->length;
		}
		size_t n = op->read_ret;
		i_assert(n <= op->read_size);
		get->next->used = n;
		get->read_pos += n;
		if (get->read_pos >= get->end) {
			get->eof = true;
		} else if (n < op->read_size) {
			/* objects are immutable: a short read means the
			   storage lost data */
			blob_op_set_error(op, BLOB_ERROR_IO,
				"Object '%s' ended at %"PRIu64" bytes, "
				"before its size %"PRIu64, op->key,
				get->read_pos, op->info.size);
			get->failed = true;
		}
		get->next_ready = n > 0;
	}
	if (get->sync || get->kicking)
		return;
	if ((first || get->waiting) && get->callback != NULL) {
		struct blob_store *store = get->store;
		get->waiting = false;
		/* the callback may end the get */
		blob_store_callback_enter(store);
		get->callback(get->context);
		blob_store_callback_leave(store);
	}
}

/* Start reading the next chunk into get->next, if there is one to read
   and room for it. */
static void blob_get_kick(struct blob_get *get)
{
	struct blob_op *op = get->op;
	uint64_t want = get->store->io_chunk_size;

	if (get->reading || get->next_ready || get->eof || get->failed)
		return;
	if (get->opened)
		want = I_MIN(want, get->end - get->read_pos);
	else
		want = I_MIN(BLOB_GET_FIRST_READ_SIZE, get->length);
	if (get->opened && want == 0) {
		get->eof = true;
		return;
	}
	/* the first read also opens the object: it goes even for an
	   empty range, to learn whether the object exists */
	struct blob_get_buf *buf = get->next;
	buf->used = 0;
	if (buf->alloc < want) {
		i_free(buf->data);
		buf->data = i_malloc((size_t)want);
		buf->alloc = (size_t)want;
	}
	op->read_buf = buf->data;
	op->read_size = (size_t)want;
	op->read_offset = get->read_pos;
	op->read_ret = 0;
	op->nowait = get->nowait;
	get->reading = true;
	get->kicking = true;
	blob_op_request(op, BLOB_REQ_GET_READ);
	get->kicking = false;
}

static struct blob_get *blob_get_create(struct blob_store *store,
					const char *key, uint64_t offset,
					uint64_t length, bool sync, bool nowait)
{
	struct blob_get *get = i_new(struct blob_get, 1);

	get->store = store;
	get->sync = sync;
	get->nowait = nowait;
	get->offset = get->read_pos = offset;
	get->length = length;
	get->op = blob_op_create(store, BLOB_OP_GET, sync, key);
	get->op->done = blob_get_read_done;
	get->op->done_context = get;
	get->cur = &get->bufs[0];
	get->next = &get->bufs[1];
	store->handle_count++;
	blob_get_kick(get);
	return get;
}

struct blob_get *blob_get_begin(struct blob_store *store, const char *key,
				uint64_t offset, uint64_t length)
{
	return blob_get_create(store, key, offset, length, false, false);
}

struct blob_get *blob_get_begin_nowait(struct blob_store *store,
				       const char *key, uint64_t offset,
				       uint64_t length)
{
	return blob_get_create(store, key, offset, length, false, true);
}

struct blob_get *blob_get_begin_sync(struct blob_store *store,
				     const char *key, uint64_t offset,
				     uint64_t length)
{
	return blob_get_create(store, key, offset, length, true, false);
}

void blob_get_set_callback(struct blob_get *get,
			   blob_ready_callback_t *callback, void *context)
{
	get->callback = callback;
	get->context = context;
}

const struct blob_info *blob_get_info(const struct blob_get *get)
{
	return get->opened ? &get->op->info : NULL;
}

uint64_t blob_get_get_length(const struct blob_get *get)
{
	i_assert(get->opened);
	return get->end - get->offset;
}

int blob_get_read_data(struct blob_get *get, const unsigned char **data_r,
		       size_t *size_r)
{
	*data_r = NULL;
	*size_r = 0;
	for (;;) {
		if (get->cur_pos < get->cur->used) {
			*data_r = get->cur->data + get->cur_pos;
			*size_r = get->cur->used - get->cur_pos;
			return 1;
		}
		if (get->next_ready) {
			struct blob_get_buf *tmp = get->cur;
			get->cur = get->next;
			get->next = tmp;
			get->cur_pos = 0;
			get->next_ready = false;
			/* read ahead while the consumer works on this one */
			blob_get_kick(get);
			continue;
		}
		if (get->failed)
			return BLOB_READ_ERROR;
		if (get->eof)
			return BLOB_READ_EOF;
		blob_get_kick(get);
		if (get->reading) {
			i_assert(!get->sync);
			get->waiting = true;
			return BLOB_READ_WAIT;
		}
		/* a sync or nowait read has finished (or failed) inline */
	}
}

void blob_get_skip(struct blob_get *get, size_t size)
{
	i_assert(size <= get->cur->used - get->cur_pos);
	get->cur_pos += size;
	get->bytes_consumed += size;
}

ssize_t blob_get_read(struct blob_get *get, void *buf, size_t size)
{
	const unsigned char *data;
	size_t avail;

	int ret = blob_get_read_data(get, &data, &avail);
	if (ret <= 0)
		return ret;
	size_t n = I_MIN(size, avail);
	memcpy(buf, data, n);
	blob_get_skip(get, n);
	return (ssize_t)n;
}

int blob_get_get_result(const struct blob_get *get,
			struct blob_result *result_r)
{
	if (!get->failed) {
		memset(result_r, 0, sizeof(*result_r));
		return 0;
	}
	blob_op_get_result(get->op, result_r, true);
	return -1;
}

int blob_get_end(struct blob_get **_get, struct blob_result *result_r)
{
	struct blob_get *get = *_get;
	struct blob_result result;
	*_get = NULL;

	int ret = blob_get_get_result(get, &result);
	if (result_r != NULL)
		*result_r = result;
	blob_op_emit_finished(get->op, get->bytes_consumed);
	get->store->handle_count--;
	if (get->reading) {
		/* the driver is filling get->next: free when it is done */
		get->ended = true;
		get->callback = NULL;
	} else {
		blob_get_free(get);
	}
	return ret;
}

/* --- conn stream source --- */

struct blob_stream_source {
	struct conn_stream_source src;
	struct blob_get *get;
	struct conn *conn;
};

static void blob_stream_source_ready(void *context)
{
	struct blob_stream_source *bsrc = context;
	conn_stream_source_ready(bsrc->conn);
}

static ssize_t blob_stream_source_read(struct conn_stream_source *src,
				       void *buf, size_t size,
				       const char **error_r)
{
	struct blob_stream_source *bsrc =
		CONTAINER_OF(src, struct blob_stream_source, src);
	struct blob_result result;

	ssize_t ret = blob_get_read(bsrc->get, buf, size);
	if (ret > 0)
		return ret;
	switch (ret) {
	case BLOB_READ_WAIT:
		return CONN_STREAM_WAIT;
	case BLOB_READ_EOF:
		return 0;
	default:
		(void)blob_get_get_result(bsrc->get, &result);
		*error_r = result.internal_error;
		return CONN_STREAM_ERROR;
	}
}

static void blob_stream_source_destroy(struct conn_stream_source *src)
{
	struct blob_stream_source *bsrc =
		CONTAINER_OF(src, struct blob_stream_source, src);

	(void)blob_get_end(&bsrc->get, NULL);
	i_free(bsrc);
}

static const struct conn_stream_source_vfuncs blob_stream_source_vfuncs = {
	.read = blob_stream_source_read,
	.destroy = blob_stream_source_destroy,
};

struct conn_stream_source *blob_get_stream_source(struct blob_get **_get,
						  struct conn *conn)
{
	struct blob_stream_source *bsrc = i_new(struct blob_stream_source, 1);

	bsrc->src.v = &blob_stream_source_vfuncs;
	bsrc->get = *_get;
	bsrc->conn = conn;
	*_get = NULL;
	blob_get_set_callback(bsrc->get, blob_stream_source_ready, bsrc);
	return &bsrc->src;
}
