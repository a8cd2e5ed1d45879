/* The blob store's core: creating stores from "driver:args" specs, error
   texts, key and metadata rules, the op/request machinery every driver
   plugs into, and the one-shot requests (head, delete, copy, put from
   memory). Streaming handles are in blob-put.c, blob-get.c, blob-list.c. */
#include "lib.h"
#include "ioloop.h"
#include "event.h"
#include "blob-private.h"

#define BLOB_DEFAULT_IO_CHUNK_SIZE (128 * 1024)

static const struct blob_store_vfuncs *const blob_drivers[] = {
	&blob_driver_posix,
	&blob_driver_randomfail,
};

struct blob_request {
	struct blob_request *prev, *next;
	struct blob_store *store;
	/* head, delete, copy */
	struct blob_op *op;
	blob_callback_t *callback;
	blob_head_callback_t *head_callback;
	void *context;
	bool cancelled;
};

/* one-shot requests in flight, of every store (destroy cancels its own) */
static struct blob_request *blob_requests;

/* --- errors --- */

static const char *const blob_error_names[] = {
	[BLOB_ERROR_NONE] = "NONE",
	[BLOB_ERROR_NOT_FOUND] = "NOT_FOUND",
	[BLOB_ERROR_EXISTS] = "EXISTS",
	[BLOB_ERROR_NO_SPACE] = "NO_SPACE",
	[BLOB_ERROR_PERMISSION] = "PERMISSION",
	[BLOB_ERROR_IO] = "IO",
	[BLOB_ERROR_TEMPORARY] = "TEMPORARY",
	[BLOB_ERROR_INVALID] = "INVALID",
};

const char *blob_error_name(enum blob_error error)
{
	if ((unsigned int)error >= N_ELEMENTS(blob_error_names))
		return "UNKNOWN";
	return blob_error_names[error];
}

const char *blob_error_user_text(enum blob_error error)
{
	switch (error) {
	case BLOB_ERROR_NONE:
		return NULL;
	case BLOB_ERROR_NOT_FOUND:
		return "Object not found";
	case BLOB_ERROR_EXISTS:
		return "Object already exists";
	case BLOB_ERROR_NO_SPACE:
		return "Not enough disk space";
	case BLOB_ERROR_PERMISSION:
		/* the cause is the server's configuration, not the user's
		   rights: it belongs in the log */
		return "Internal error occurred. "
			"Refer to server log for more information.";
	case BLOB_ERROR_TEMPORARY:
		return "Temporary storage failure, try again later";
	case BLOB_ERROR_INVALID:
		return "Invalid object name or arguments";
	case BLOB_ERROR_IO:
		break;
	}
	return "Internal error occurred. "
		"Refer to server log for more information.";
}

bool blob_error_is_temporary(enum blob_error error)
{
	return error == BLOB_ERROR_TEMPORARY;
}

/* --- keys and metadata --- */

static bool blob_key_char_is_valid(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return strchr("-_.@+=,~/", c) != NULL && c != '\0';
}

bool blob_key_is_valid(const char *key, const char **error_r)
{
	size_t len = strlen(key);

	if (len == 0) {
		*error_r = "Empty key";
		return false;
	}
	if (len > BLOB_KEY_MAX_LEN) {
		*error_r = t_strdup_printf("Key longer than %u bytes",
					   BLOB_KEY_MAX_LEN);
		return false;
	}
	if (key[0] == '/' || key[len - 1] == '/') {
		*error_r = "Key begins or ends with '/'";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (!blob_key_char_is_valid(c)) {
			*error_r = t_strdup_printf(
				"Invalid character 0x%02x at offset %zu", c, i);
			return false;
		}
	}
	/* components: not empty, not "." or ".." (a driver mapping keys to
	   paths must never be led up or sideways) */
	const char *comp = key;
	for (;;) {
		const char *end = strchr(comp, '/');
		size_t clen = end == NULL ? strlen(comp) : (size_t)(end - comp);
		if (clen == 0) {
			*error_r = "Empty key component ('//')";
			return false;
		}
		if ((clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.')) {
			*error_r = "Key component '.' or '..'";
			return false;
		}
		if (end == NULL)
			break;
		comp = end + 1;
	}
	return true;
}

const char *blob_key_top(const char *key)
{
	const char *p = strchr(key, '/');
	return p == NULL ? key : t_strndup(key, (size_t)(p - key));
}

bool blob_metadata_name_is_valid(const char *name)
{
	if (*name == '\0' || strlen(name) > 128)
		return false;
	for (; *name != '\0'; name++) {
		char c = *name;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool blob_metadata_value_is_valid(const char *value)
{
	for (; *value != '\0'; value++) {
		if (*value < 0x20 || *value > 0x7e)
			return false;
	}
	return true;
}

const char *blob_info_get_metadata(const struct blob_info *info,
				   const char *name)
{
	for (unsigned int i = 0; i < info->metadata_count; i++) {
		if (strcmp(info->metadata[i].name, name) == 0)
			return info->metadata[i].value;
	}
	return NULL;
}

/* --- stores --- */

static const struct blob_store_vfuncs *blob_driver_find(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(blob_drivers); i++) {
		if (strcmp(blob_drivers[i]->name, name) == 0)
			return blob_drivers[i];
	}
	return NULL;
}

static void blob_store_free(struct blob_store *store)
{
	i_assert(store->ops == NULL);
	store->v->deinit(store);
	event_unref(&store->event);
	i_free(store);
}

int blob_store_create(const char *spec, const struct blob_store_settings *set,
		      struct blob_store **store_r, const char **error_r)
{
	const char *colon = strchr(spec, ':');
	const char *name = colon == NULL ? spec :
		t_strndup(spec, (size_t)(colon - spec));
	const char *args = colon == NULL ? "" : colon + 1;
	const char *error;

	const struct blob_store_vfuncs *v = blob_driver_find(name);
	if (v == NULL) {
		*error_r = t_strdup_printf("Unknown blob store driver '%s'",
					   str_sanitize(name, 64));
		return -1;
	}
	struct blob_store *store = v->alloc();
	store->v = v;
	store->io_chunk_size = BLOB_DEFAULT_IO_CHUNK_SIZE;
	store->event = event_create(set == NULL ? NULL : set->event_parent);
	event_set_category(store->event, "blob");
	event_add_str(store->event, "blob_driver", name);
	event_set_append_log_prefix(store->event,
				    t_strdup_printf("blob(%s): ", name));
	if (v->init(store, args, &error) < 0) {
		*error_r = t_strdup_printf("%s: %s", name, error);
		blob_store_free(store);
		return -1;
	}
	*store_r = store;
	return 0;
}

int blob_store_create_parent(struct blob_store *store, const char *spec,
			     const char **error_r)
{
	struct blob_store_settings set = { .event_parent = store->event };
	return blob_store_create(spec, &set, &store->parent, error_r);
}

void blob_args_split_wrapper(const char *args, const char *const **opts_r,
			     const char **parent_spec_r)
{
	ARRAY(const char *) opts;
	const char *p = args;

	array_init(&opts, pool_datastack, 4);
	for (;;) {
		const char *end = strchr(p, ':');
		size_t len = end == NULL ? strlen(p) : (size_t)(end - p);
		const char *field = t_strndup(p, len);
		if (strchr(field, '=') == NULL)
			break;
		array_push(&opts, field);
		if (end == NULL) {
			p += len;
			break;
		}
		p = end + 1;
	}
	array_push(&opts, NULL);
	*opts_r = opts.v;
	*parent_spec_r = p;
}

/* Deliver every completion that waits for the next loop round now. */
static bool blob_store_deliver_deferred(struct blob_store *store)
{
	bool any = false;
	struct blob_op *op;

	do {
		for (op = store->ops; op != NULL; op = op->next) {
			if (op->to_done != NULL)
				break;
		}
		if (op != NULL) {
			timeout_remove(&op->to_done);
			op->busy = false;
			op->done(op);
			any = true;
		}
	} while (op != NULL);
	return any;
}

void blob_store_destroy(struct blob_store **_store)
{
	struct blob_store *store = *_store;
	*_store = NULL;
	if (store == NULL)
		return;

	i_assert(store->handle_count == 0);
	/* a blob callback may run inside a worker pool's dispatch, which
	   cannot destroy that pool */
	if (store->callback_depth > 0)
		i_panic("blob_store_destroy() called from a blob callback");

	for (struct blob_request *req = blob_requests; req != NULL;
	     req = req->next) {
		if (req->store == store)
			req->cancelled = true;
	}
	/* Ops still running are orphans of finished handles and cancelled
	   requests: let them end (a put's discard removes its temporary
	   file) before the drivers go. */
	for (struct blob_store *s = store; s != NULL; s = s->parent)
		s->draining = true;
	for (;;) {
		bool progress = false, busy = false;
		for (struct blob_store *s = store; s != NULL; s = s->parent) {
			if (s->v->drain != NULL && s->v->drain(s))
				progress = true;
			if (blob_store_deliver_deferred(s))
				progress = true;
		}
		for (struct blob_store *s = store; s != NULL; s = s->parent) {
			for (struct blob_op *op = s->ops; op != NULL;
			     op = op->next) {
				if (op->busy)
					busy = true;
			}
		}
		if (!busy)
			break;
		/* a request that nothing will ever finish: a driver bug */
		if (!progress)
			i_panic("blob_store_destroy(): a request never ended");
	}
	blob_store_free(store);
}

const char *blob_store_get_driver(const struct blob_store *store)
{
	return store->v->name;
}

int blob_store_cleanup_temp(struct blob_store *store,
			    unsigned int min_age_secs,
			    unsigned int *removed_r, const char **error_r)
{
	*removed_r = 0;
	return store->v->cleanup_temp(store, min_age_secs, removed_r, error_r);
}

int blob_store_sync(struct blob_store *store, const char **error_r)
{
	if (store->v->sync == NULL)
		return 0;
	return store->v->sync(store, error_r);
}

int blob_store_get_syncfs_fd(struct blob_store *store)
{
	if (store->v->get_syncfs_fd == NULL)
		return -1;
	return store->v->get_syncfs_fd(store);
}

void blob_store_callback_enter(struct blob_store *store)
{
	store->callback_depth++;
}

void blob_store_callback_leave(struct blob_store *store)
{
	i_assert(store->callback_depth > 0);
	store->callback_depth--;
}

/* --- ops --- */

static const char *const blob_op_class_names[] = {
	[BLOB_OP_PUT] = "put",
	[BLOB_OP_GET] = "get",
	[BLOB_OP_HEAD] = "head",
	[BLOB_OP_DELETE] = "delete",
	[BLOB_OP_COPY] = "copy",
	[BLOB_OP_LIST] = "list",
};

struct blob_op *blob_op_create(struct blob_store *store,
			       enum blob_op_class class, bool sync,
			       const char *key)
{
	struct blob_op *op = store->v->op_alloc();
	const char *error;

	op->store = store;
	op->class = class;
	op->sync = sync;
	op->result_pool = pool_alloconly_create("blob op", 256);
	array_init(&op->metadata, system_pool, 0);
	array_init(&op->list_entries, system_pool, 0);
	if (key != NULL) {
		op->key = i_strdup(key);
		if (!blob_key_is_valid(key, &error)) {
			blob_op_set_error(op, BLOB_ERROR_INVALID,
					  "Invalid key '%s': %s",
					  str_sanitize(key, 80), error);
			op->invalid_error = BLOB_ERROR_INVALID;
		}
	}
	if (event_have_handlers()) {
		op->event = event_create(store->event);
		event_add_str(op->event, "key", key);
	}
	op->next = store->ops;
	if (store->ops != NULL)
		store->ops->prev = op;
	store->ops = op;
	return op;
}

void blob_op_free(struct blob_op **_op)
{
	struct blob_op *op = *_op;
	*_op = NULL;
	if (op == NULL)
		return;
	i_assert(!op->busy);

	blob_op_free(&op->child);
	if (op->store->v->op_deinit != NULL)
		op->store->v->op_deinit(op);
	timeout_remove(&op->to_done);
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		op->store->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	event_unref(&op->event);
	array_free(&op->metadata);
	array_free(&op->list_entries);
	pool_unref(&op->result_pool);
	i_free(op->key);
	i_free(op->dest_key);
	i_free(op->list_prefix);
	i_free(op->list_after);
	i_free(op->error_text);
	i_free(op);
}

void blob_op_set_error(struct blob_op *op, enum blob_error error,
		       const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	i_free(op->error_text);
	op->error_text = i_strdup_vprintf(fmt, args);
	va_end(args);
	op->error = error;
}

static void blob_op_deliver_deferred(void *context)
{
	struct blob_op *op = context;

	timeout_remove(&op->to_done);
	op->busy = false;
	op->done(op);
}

void blob_op_request(struct blob_op *op, enum blob_request_type req)
{
	i_assert(!op->busy);
	i_assert(op->done != NULL);

	op->req = req;
	op->busy = true;
	if (op->invalid_error == BLOB_ERROR_NONE) {
		op->error = BLOB_ERROR_NONE;
		i_free(op->error_text);
	}
	if (req == BLOB_REQ_LIST) {
		array_clear(&op->list_entries);
		op->list_truncated = false;
		pool_clear(op->result_pool);
	}
	op->in_request_call = true;
	if (op->invalid_error != BLOB_ERROR_NONE) {
		/* never reaches the driver; the error stays set, but a
		   discard of nothing succeeds */
		if (req == BLOB_REQ_PUT_DISCARD) {
			op->error = BLOB_ERROR_NONE;
			blob_op_request_done(op);
			op->error = op->invalid_error;
		} else {
			op->error = op->invalid_error;
			blob_op_request_done(op);
		}
	} else {
		op->store->v->request(op);
	}
	/* a sync op's done ran inline and never frees the op; an async op
	   that ended inline is delivered later, so op is alive here */
	op->in_request_call = false;
}

void blob_op_request_done(struct blob_op *op)
{
	i_assert(op->busy);
	if (!op->sync && !op->nowait && op->in_request_call) {
		i_assert(op->to_done == NULL);
		op->to_done = timeout_add(0, blob_op_deliver_deferred, op);
		return;
	}
	op->busy = false;
	op->done(op);
}

void blob_op_add_metadata(struct blob_op *op, const char *name,
			  const char *value)
{
	struct blob_metadata_field *field;

	array_foreach(&op->metadata, field) {
		if (strcmp(field->name, name) == 0) {
			field->value = p_strdup(op->result_pool, value);
			return;
		}
	}
	field = array_append_space(&op->metadata);
	field->name = p_strdup(op->result_pool, name);
	field->value = p_strdup(op->result_pool, value);
}

static int blob_metadata_cmp(const void *p1, const void *p2)
{
	const struct blob_metadata_field *f1 = p1, *f2 = p2;
	return strcmp(f1->name, f2->name);
}

void blob_op_metadata_finish(struct blob_op *op)
{
	if (op->metadata.count > 1) {
		qsort(op->metadata.v, op->metadata.count,
		      sizeof(*op->metadata.v), blob_metadata_cmp);
	}
	op->info.metadata = op->metadata.v;
	op->info.metadata_count = op->metadata.count;
}

static void blob_op_forward_done(struct blob_op *child)
{
	struct blob_op *op = child->done_context;

	op->error = child->error;
	i_free(op->error_text);
	op->error_text = i_strdup(child->error_text);
	switch (op->req) {
	case BLOB_REQ_HEAD:
	case BLOB_REQ_GET_READ:
		if (child->have_info && !op->have_info) {
			op->have_info = true;
			op->info.size = child->info.size;
			op->info.mtime = child->info.mtime;
			if (op->req == BLOB_REQ_HEAD) {
				for (unsigned int i = 0;
				     i < child->info.metadata_count; i++) {
					const struct blob_metadata_field *f =
						&child->info.metadata[i];
					blob_op_add_metadata(op, f->name,
							     f->value);
				}
				blob_op_metadata_finish(op);
			}
		}
		op->read_ret = child->read_ret;
		break;
	case BLOB_REQ_LIST: {
		const struct blob_list_entry *ce;
		array_foreach(&child->list_entries, ce) {
			struct blob_list_entry *e =
				array_append_space(&op->list_entries);
			e->key = p_strdup(op->result_pool, ce->key);
			e->size = ce->size;
			e->mtime = ce->mtime;
		}
		op->list_truncated = child->list_truncated;
		break;
	}
	default:
		break;
	}
	blob_op_request_done(op);
}

void blob_op_forward(struct blob_op *op)
{
	struct blob_op *child = op->child;

	if (child == NULL) {
		if (op->req == BLOB_REQ_PUT_DISCARD) {
			/* nothing was ever written below */
			blob_op_request_done(op);
			return;
		}
		child = op->child = blob_op_create(op->store->parent,
						   op->class, op->sync, NULL);
		child->key = i_strdup(op->key);
		child->dest_key = i_strdup(op->dest_key);
		child->flags = op->flags;
		const struct blob_metadata_field *f;
		array_foreach(&op->metadata, f)
			blob_op_add_metadata(child, f->name, f->value);
		child->done = blob_op_forward_done;
		child->done_context = op;
	}
	child->data = op->data;
	child->size = op->size;
	child->read_buf = op->read_buf;
	child->read_size = op->read_size;
	child->read_offset = op->read_offset;
	child->read_ret = 0;
	child->nowait = op->nowait;
	if (op->req == BLOB_REQ_LIST) {
		i_free(child->list_prefix);
		i_free(child->list_after);
		child->list_prefix = i_strdup(op->list_prefix);
		child->list_after = i_strdup(op->list_after);
		child->list_max = op->list_max;
	}
	blob_op_request(child, op->req);
}

void blob_op_get_result(const struct blob_op *op, struct blob_result *result,
			bool copy)
{
	memset(result, 0, sizeof(*result));
	result->error = op->error;
	if (op->error == BLOB_ERROR_NONE)
		return;
	result->user_error = blob_error_user_text(op->error);
	const char *text = op->error_text != NULL ? op->error_text :
		blob_error_name(op->error);
	result->internal_error = copy ? t_strdup(text) : text;
}

void blob_op_emit_finished(struct blob_op *op, uint64_t bytes)
{
	if (op->event == NULL)
		return;
	if (op->error != BLOB_ERROR_NONE) {
		event_add_str(op->event, "error", blob_error_name(op->error));
		event_add_str(op->event, "error_text", op->error_text);
	}
	if (op->class == BLOB_OP_PUT || op->class == BLOB_OP_GET)
		event_add_int(op->event, "bytes", (int64_t)bytes);
	if (op->dest_key != NULL)
		event_add_str(op->event, "dest_key", op->dest_key);
	event_emit(op->event, t_strdup_printf(
		"blob_%s_finished", blob_op_class_names[op->class]));
}

/* --- one-shot requests --- */

static struct blob_request *blob_request_new(struct blob_store *store)
{
	struct blob_request *req = i_new(struct blob_request, 1);
	req->store = store;
	req->next = blob_requests;
	if (blob_requests != NULL)
		blob_requests->prev = req;
	blob_requests = req;
	return req;
}

static void blob_request_free(struct blob_request *req)
{
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		blob_requests = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	i_free(req);
}

static void blob_request_op_done(struct blob_op *op)
{
	struct blob_request *req = op->done_context;
	struct blob_result result;

	blob_op_emit_finished(op, 0);
	if (!req->cancelled) {
		blob_op_get_result(op, &result, false);
		blob_store_callback_enter(req->store);
		if (req->head_callback != NULL) {
			const struct blob_info *info =
				op->error == BLOB_ERROR_NONE ? &op->info : NULL;
			req->head_callback(&result, info, req->context);
		} else {
			req->callback(&result, req->context);
		}
		blob_store_callback_leave(req->store);
	}
	blob_op_free(&req->op);
	blob_request_free(req);
}

static struct blob_request *
blob_request_start(struct blob_store *store, struct blob_op *op,
		   enum blob_request_type type, blob_callback_t *callback,
		   blob_head_callback_t *head_callback, void *context)
{
	struct blob_request *req = blob_request_new(store);

	req->op = op;
	req->callback = callback;
	req->head_callback = head_callback;
	req->context = context;
	op->done = blob_request_op_done;
	op->done_context = req;
	blob_op_request(op, type);
	return req;
}

static struct blob_op *
blob_copy_op_create(struct blob_store *store, const char *src_key,
		    const char *dest_key, enum blob_flags flags, bool sync)
{
	struct blob_op *op = blob_op_create(store, BLOB_OP_COPY, sync,
					    src_key);
	const char *error;

	op->dest_key = i_strdup(dest_key);
	op->flags = flags;
	if (op->invalid_error == BLOB_ERROR_NONE &&
	    !blob_key_is_valid(dest_key, &error)) {
		blob_op_set_error(op, BLOB_ERROR_INVALID,
				  "Invalid destination key '%s': %s",
				  str_sanitize(dest_key, 80), error);
		op->invalid_error = BLOB_ERROR_INVALID;
	}
	if (op->event != NULL)
		event_add_str(op->event, "dest_key", dest_key);
	return op;
}

struct blob_request *blob_head(struct blob_store *store, const char *key,
			       blob_head_callback_t *callback, void *context)
{
	struct blob_op *op = blob_op_create(store, BLOB_OP_HEAD, false,
					    key);
	return blob_request_start(store, op, BLOB_REQ_HEAD, NULL, callback,
				  context);
}

struct blob_request *blob_delete(struct blob_store *store, const char *key,
				 blob_callback_t *callback, void *context)
{
	struct blob_op *op = blob_op_create(store, BLOB_OP_DELETE, false,
					    key);
	return blob_request_start(store, op, BLOB_REQ_DELETE, callback, NULL,
				  context);
}

struct blob_request *blob_copy(struct blob_store *store, const char *src_key,
			       const char *dest_key, enum blob_flags flags,
			       blob_callback_t *callback, void *context)
{
	struct blob_op *op = blob_copy_op_create(store, src_key, dest_key,
						 flags, false);
	return blob_request_start(store, op, BLOB_REQ_COPY, callback, NULL,
				  context);
}

static void blob_put_data_finished(const struct blob_result *result,
				   void *context)
{
	struct blob_request *req = context;

	if (!req->cancelled)
		req->callback(result, req->context);
	blob_request_free(req);
}

struct blob_request *
blob_put_data(struct blob_store *store, const char *key, const void *data,
	      size_t size, const struct blob_metadata_field *metadata,
	      unsigned int metadata_count, enum blob_flags flags,
	      blob_callback_t *callback, void *context)
{
	struct blob_request *req = blob_request_new(store);
	struct blob_put *put = blob_put_begin(store, key, flags);

	req->callback = callback;
	req->context = context;
	for (unsigned int i = 0; i < metadata_count; i++) {
		blob_put_set_metadata(put, metadata[i].name,
				      metadata[i].value);
	}
	(void)blob_put_write(put, data, size);
	/* the put's callback enters the store's callback depth itself */
	blob_put_finish_internal(&put, blob_put_data_finished, req);
	return req;
}

void blob_request_cancel(struct blob_request **_req)
{
	struct blob_request *req = *_req;
	*_req = NULL;
	if (req != NULL)
		req->cancelled = true;
}

/* --- synchronous one-shots --- */

static void blob_sync_done(struct blob_op *op ATTR_UNUSED)
{
}

static int blob_sync_run(struct blob_op *op, enum blob_request_type type,
			 struct blob_result *result_r)
{
	op->done = blob_sync_done;
	blob_op_request(op, type);
	i_assert(!op->busy);
	blob_op_emit_finished(op, 0);
	blob_op_get_result(op, result_r, true);
	return op->error == BLOB_ERROR_NONE ? 0 : -1;
}

int blob_head_sync(struct blob_store *store, const char *key, pool_t pool,
		   struct blob_info *info_r, struct blob_result *result_r)
{
	struct blob_op *op = blob_op_create(store, BLOB_OP_HEAD, true,
					    key);
	int ret = blob_sync_run(op, BLOB_REQ_HEAD, result_r);

	memset(info_r, 0, sizeof(*info_r));
	if (ret == 0) {
		info_r->size = op->info.size;
		info_r->mtime = op->info.mtime;
		info_r->metadata_count = op->info.metadata_count;
		struct blob_metadata_field *fields =
			p_new(pool, struct blob_metadata_field,
			      op->info.metadata_count + 1);
		for (unsigned int i = 0; i < op->info.metadata_count; i++) {
			fields[i].name = p_strdup(pool,
						  op->info.metadata[i].name);
			fields[i].value = p_strdup(pool,
						   op->info.metadata[i].value);
		}
		info_r->metadata = fields;
	}
	blob_op_free(&op);
	return ret;
}

int blob_delete_sync(struct blob_store *store, const char *key,
		     struct blob_result *result_r)
{
	struct blob_op *op = blob_op_create(store, BLOB_OP_DELETE, true,
					    key);
	int ret = blob_sync_run(op, BLOB_REQ_DELETE, result_r);
	blob_op_free(&op);
	return ret;
}

int blob_copy_sync(struct blob_store *store, const char *src_key,
		   const char *dest_key, enum blob_flags flags,
		   struct blob_result *result_r)
{
	struct blob_op *op = blob_copy_op_create(store, src_key, dest_key,
						 flags, true);
	int ret = blob_sync_run(op, BLOB_REQ_COPY, result_r);
	blob_op_free(&op);
	return ret;
}

int blob_put_data_sync(struct blob_store *store, const char *key,
		       const void *data, size_t size,
		       const struct blob_metadata_field *metadata,
		       unsigned int metadata_count, enum blob_flags flags,
		       struct blob_result *result_r)
{
	struct blob_put *put = blob_put_begin_sync(store, key, flags);

	for (unsigned int i = 0; i < metadata_count; i++) {
		blob_put_set_metadata(put, metadata[i].name,
				      metadata[i].value);
	}
	(void)blob_put_write(put, data, size);
	return blob_put_finish_sync(&put, result_r);
}

int blob_get_data_sync(struct blob_store *store, const char *key,
		       buffer_t *dest, struct blob_result *result_r)
{
	struct blob_get *get = blob_get_begin_sync(store, key, 0, UINT64_MAX);
	const unsigned char *data;
	size_t size;
	int ret;

	while ((ret = blob_get_read_data(get, &data, &size)) > 0) {
		buffer_append(dest, data, size);
		blob_get_skip(get, size);
	}
	i_assert(ret != BLOB_READ_WAIT);
	return blob_get_end(&get, result_r);
}
