/* Listing keys by prefix, a page per driver request, like S3's
   ListObjectsV2: the continuation is the last key handed out, so a
   listing can stop anywhere and be resumed later by another process. */
#include "lib.h"
#include "event.h"
#include "blob-private.h"

#define BLOB_LIST_DEFAULT_PAGE_SIZE 1000

struct blob_list {
	struct blob_store *store;
	struct blob_op *op;
	bool sync;

	/* the continuation given to begin, then the last key of the page
	   before the current one */
	char *after;
	/* next entry of op->list_entries to hand out */
	unsigned int pos;

	blob_ready_callback_t *callback;
	void *context;
	unsigned int entries_returned;

	bool loading:1;
	bool loaded:1;
	bool last_page:1;
	bool failed:1;
	bool waiting:1;
	bool ended:1;
};

static void blob_list_free(struct blob_list *list)
{
	blob_op_free(&list->op);
	i_free(list->after);
	i_free(list);
}

static void blob_list_page_done(struct blob_op *op)
{
	struct blob_list *list = op->done_context;

	list->loading = false;
	if (list->ended) {
		blob_list_free(list);
		return;
	}
	if (op->error != BLOB_ERROR_NONE) {
		list->failed = true;
	} else {
		list->loaded = true;
		list->pos = 0;
		list->last_page = !op->list_truncated;
	}
	if (list->sync || !list->waiting || list->callback == NULL)
		return;
	struct blob_store *store = list->store;
	list->waiting = false;
	blob_store_callback_enter(store);
	list->callback(list->context);
	blob_store_callback_leave(store);
}

static void blob_list_load(struct blob_list *list)
{
	struct blob_op *op = list->op;

	/* the next page starts after the last key of this one */
	if (list->loaded && op->list_entries.count > 0) {
		i_free(list->after);
		list->after = i_strdup(array_last(&op->list_entries)->key);
	}
	i_free(op->list_after);
	op->list_after = i_strdup(list->after);
	list->loaded = false;
	list->loading = true;
	blob_op_request(op, BLOB_REQ_LIST);
}

static struct blob_list *
blob_list_create(struct blob_store *store, const char *prefix,
		 const char *continuation, unsigned int page_size, bool sync)
{
	struct blob_list *list = i_new(struct blob_list, 1);
	const char *error;

	i_assert(page_size <= BLOB_LIST_MAX_PAGE_SIZE);
	list->store = store;
	list->sync = sync;
	list->op = blob_op_create(store, BLOB_OP_LIST, sync, NULL);
	list->op->list_prefix = i_strdup(prefix);
	list->op->list_max = page_size == 0 ? BLOB_LIST_DEFAULT_PAGE_SIZE :
		page_size;
	list->op->done = blob_list_page_done;
	list->op->done_context = list;
	if (list->op->event != NULL)
		event_add_str(list->op->event, "prefix", prefix);
	/* a prefix needs no key rules of its own: it only compares with
	   keys. A continuation is a key. */
	if (continuation != NULL) {
		list->after = i_strdup(continuation);
		if (!blob_key_is_valid(continuation, &error)) {
			blob_op_set_error(list->op, BLOB_ERROR_INVALID,
					  "Invalid continuation '%s': %s",
					  str_sanitize(continuation, 80),
					  error);
			list->op->invalid_error = BLOB_ERROR_INVALID;
		}
	}
	store->handle_count++;
	/* fetch the first page at once, as a get opens at once */
	blob_list_load(list);
	return list;
}

struct blob_list *blob_list_begin(struct blob_store *store,
				  const char *prefix, const char *continuation,
				  unsigned int page_size)
{
	return blob_list_create(store, prefix, continuation, page_size, false);
}

struct blob_list *blob_list_begin_sync(struct blob_store *store,
				       const char *prefix,
				       const char *continuation,
				       unsigned int page_size)
{
	return blob_list_create(store, prefix, continuation, page_size, true);
}

void blob_list_set_callback(struct blob_list *list,
			    blob_ready_callback_t *callback, void *context)
{
	list->callback = callback;
	list->context = context;
}

int blob_list_next(struct blob_list *list,
		   const struct blob_list_entry **entry_r)
{
	struct blob_op *op = list->op;

	*entry_r = NULL;
	for (;;) {
		if (list->failed)
			return BLOB_READ_ERROR;
		if (list->loading) {
			i_assert(!list->sync);
			list->waiting = true;
			return BLOB_READ_WAIT;
		}
		if (list->pos < op->list_entries.count) {
			*entry_r = array_idx(&op->list_entries, list->pos);
			list->pos++;
			list->entries_returned++;
			return 1;
		}
		if (list->last_page)
			return BLOB_READ_EOF;
		blob_list_load(list);
	}
}

const char *blob_list_get_continuation(const struct blob_list *list)
{
	const struct blob_op *op = list->op;

	if (list->loaded && list->pos > 0)
		return array_idx(&op->list_entries, list->pos - 1)->key;
	return list->after;
}

int blob_list_end(struct blob_list **_list, struct blob_result *result_r)
{
	struct blob_list *list = *_list;
	struct blob_result result;
	*_list = NULL;

	memset(&result, 0, sizeof(result));
	if (list->failed)
		blob_op_get_result(list->op, &result, true);
	if (result_r != NULL)
		*result_r = result;
	blob_op_emit_finished(list->op, list->entries_returned);
	list->store->handle_count--;
	int ret = list->failed ? -1 : 0;
	if (list->loading) {
		list->ended = true;
		list->callback = NULL;
	} else {
		blob_list_free(list);
	}
	return ret;
}
