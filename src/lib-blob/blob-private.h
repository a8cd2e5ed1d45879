/* The driver interface of the blob store. Public handles (put, get, list,
   requests) live in blob-*.c and drive one struct blob_op each: an op is
   a driver's state for one operation, and it runs a sequence of requests
   (a put: some writes, then a commit or a discard). A driver starts a
   request in its request() vfunc and ends it with blob_op_request_done();
   it may do so at once (always, for a sync op) or later from the ioloop.
   An async request ended inside request() is delivered on the next loop
   round, so no public callback ever runs inside the call that caused it.

   Wrappers (randomfail, later cache/compress) own a parent store and give
   each of their ops a child op in it; blob_op_forward() runs the current
   request on the child and copies its results back. */
#ifndef COLUMBA_BLOB_PRIVATE_H
#define COLUMBA_BLOB_PRIVATE_H

#include "blob.h"

#include <inttypes.h>

/* What kind of operation an op is (randomfail's fail_* classes, events). */
enum blob_op_class {
	BLOB_OP_PUT,
	BLOB_OP_GET,
	BLOB_OP_HEAD,
	BLOB_OP_DELETE,
	BLOB_OP_COPY,
	BLOB_OP_LIST,
};
#define BLOB_OP_CLASS_COUNT (BLOB_OP_LIST + 1)

enum blob_request_type {
	BLOB_REQ_NONE,
	/* op->key: info (with metadata) */
	BLOB_REQ_HEAD,
	/* op->key */
	BLOB_REQ_DELETE,
	/* op->key to op->dest_key, op->flags */
	BLOB_REQ_COPY,
	/* one page: op->list_prefix, op->list_after, op->list_max ->
	   op->list_entries (sorted), op->list_truncated */
	BLOB_REQ_LIST,
	/* put: append op->data/op->size to the object being written. The
	   first write of a put creates its temporary state with
	   op->metadata. */
	BLOB_REQ_PUT_WRITE,
	/* put: append op->data/op->size (maybe 0 bytes), then make the
	   object durable and visible at op->key (EXISTS unless
	   BLOB_FLAG_OVERWRITE). On failure nothing is visible. */
	BLOB_REQ_PUT_COMMIT,
	/* put: forget everything written (after a failure or an abort).
	   Must not fail. */
	BLOB_REQ_PUT_DISCARD,
	/* get: read up to op->read_size bytes at object offset
	   op->read_offset into op->read_buf -> op->read_ret (less only at
	   the end of the object). The first read opens the object and sets
	   op->info (size, mtime; no metadata). */
	BLOB_REQ_GET_READ,
};

struct blob_op {
	struct blob_store *store;
	/* all ops of the store, for destroy */
	struct blob_op *prev, *next;
	enum blob_op_class class;
	bool sync;
	/* get_read of an async op: the driver may finish the request inside
	   request() when it can without blocking (posix: the object's pages
	   are in the page cache). done then runs inside blob_op_request(). */
	bool nowait;
	/* set at creation when the op's arguments are invalid: every
	   request fails with it without reaching the driver */
	enum blob_error invalid_error;

	/* arguments (heap) */
	char *key, *dest_key;
	enum blob_flags flags;
	/* put: given; head: returned (sorted by name) */
	ARRAY(struct blob_metadata_field) metadata;

	/* the current request */
	enum blob_request_type req;
	bool busy;
	/* put_write/commit: not owned, valid until the request ends */
	const void *data;
	size_t size;
	/* get_read */
	void *read_buf;
	size_t read_size, read_ret;
	uint64_t read_offset;
	/* list */
	char *list_prefix, *list_after;
	unsigned int list_max;
	ARRAY(struct blob_list_entry) list_entries;
	bool list_truncated;

	/* results */
	enum blob_error error;
	char *error_text;
	struct blob_info info;
	bool have_info;
	/* strings of metadata and list_entries */
	pool_t result_pool;

	/* who is told when a request ends (may free the op) */
	void (*done)(struct blob_op *op);
	void *done_context;
	bool in_request_call;
	struct timeout *to_done;

	/* wrappers: the op in the parent store */
	struct blob_op *child;
	/* only while someone listens to events */
	struct event *event;
};

struct blob_store_vfuncs {
	const char *name;
	/* zeroed, at least sizeof(struct blob_store) */
	struct blob_store *(*alloc)(void);
	/* Parse args (the spec after "name:"). Wrappers create their parent
	   with blob_store_create_parent(). */
	int (*init)(struct blob_store *store, const char *args,
		    const char **error_r);
	/* Every op is gone. Free the driver's state (not the struct);
	   wrappers destroy their parent. */
	void (*deinit)(struct blob_store *store);
	/* Finish every request running in the background, delivering their
	   completions (blob_store_destroy()); later requests must run
	   inline (store->draining is set). Returns whether anything was
	   finished. NULL if nothing runs in the background. */
	bool (*drain)(struct blob_store *store);

	/* zeroed, at least sizeof(struct blob_op) */
	struct blob_op *(*op_alloc)(void);
	/* Free the driver's resources of an op that is not busy (close
	   fds; a put that was neither committed nor discarded leaves no
	   temporary file behind). NULL if none. */
	void (*op_deinit)(struct blob_op *op);
	/* Start op->req. */
	void (*request)(struct blob_op *op);

	int (*cleanup_temp)(struct blob_store *store, unsigned int min_age_secs,
			    unsigned int *removed_r, const char **error_r);
	/* blob_store_sync(); NULL: every put is durable on its own */
	int (*sync)(struct blob_store *store, const char **error_r);
	/* blob_store_get_syncfs_fd(); NULL: -1 */
	int (*get_syncfs_fd)(struct blob_store *store);
};

struct blob_store {
	const struct blob_store_vfuncs *v;
	struct blob_store *parent;
	struct event *event;
	/* a put's and a get's I/O unit */
	size_t io_chunk_size;

	struct blob_op *ops;
	/* open public handles (put, get, list, requests) */
	unsigned int handle_count;
	/* user callbacks running now: destroy is not allowed inside one */
	unsigned int callback_depth;
	bool draining;
};

extern const struct blob_store_vfuncs blob_driver_posix;
extern const struct blob_store_vfuncs blob_driver_randomfail;

/* For wrappers' init: create the store they wrap from the rest of the
   spec. */
int blob_store_create_parent(struct blob_store *store, const char *spec,
			     const char **error_r);
/* Split a wrapper's args "opt=val:opt=val:driver:args" into its options
   (data stack) and the parent's spec (the first field without '='). */
void blob_args_split_wrapper(const char *args, const char *const **opts_r,
			     const char **parent_spec_r);

/* Ops */
struct blob_op *blob_op_create(struct blob_store *store,
			       enum blob_op_class class, bool sync,
			       const char *key);
/* op must not be busy; frees the child too. Sets *op to NULL. */
void blob_op_free(struct blob_op **op);
/* Run req on op: op->done is called when it ends (inline for a sync op). */
void blob_op_request(struct blob_op *op, enum blob_request_type req);
/* The driver has finished op->req (op->error set on failure). */
void blob_op_request_done(struct blob_op *op);
/* Set op->error and its internal text (replacing any earlier one). */
void blob_op_set_error(struct blob_op *op, enum blob_error error,
		       const char *fmt, ...) ATTR_FORMAT(3, 4);
/* Add a metadata field to op->metadata (copied into op->result_pool). */
void blob_op_add_metadata(struct blob_op *op, const char *name,
			  const char *value);
/* Sort op->metadata and point op->info at it. */
void blob_op_metadata_finish(struct blob_op *op);
/* Wrappers: run op->req on op->child (created on first use in the
   parent store) and finish op with its results. */
void blob_op_forward(struct blob_op *op);
/* Fill result from op (strings stay owned by op, or are copied to the
   data stack if copy is set). */
void blob_op_get_result(const struct blob_op *op, struct blob_result *result,
			bool copy);
/* A user callback is about to run / has returned (callback_depth). */
void blob_store_callback_enter(struct blob_store *store);
void blob_store_callback_leave(struct blob_store *store);

/* blob_put_finish() for blob_put_data(): the callback runs even while the
   store is destroyed (it frees the request). */
void blob_put_finish_internal(struct blob_put **put,
			      blob_callback_t *callback, void *context);

/* Key helpers shared by drivers. */
/* The key's first component (before the first '/'), data stack. */
const char *blob_key_top(const char *key);
/* Emit "blob_<class>_finished" for an op ending (if anyone listens). */
void blob_op_emit_finished(struct blob_op *op, uint64_t bytes);

#endif
