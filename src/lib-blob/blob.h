/* The blob store: immutable objects (mail bodies, index snapshots) under
   string keys, with a little metadata each. A store is made from a spec
   "driver:args": "posix:/var/lib/columba/blobs" is a local directory;
   wrappers stack in front of another store's spec, as in
   "randomfail:fail=0.1:seed=7:posix:/path" (an "s3:" driver and "cache:",
   "compress:" wrappers come later and take the same API).

   Every operation is asynchronous on the ioloop: it is started, and its
   callback (or a handle's ready callback) runs later from the ioloop -
   never from inside the call that started it. The posix driver does its
   file I/O in worker threads, so the loop never waits for the disk. Each
   operation also has a synchronous flavour (*_sync(), or a handle made
   with *_begin_sync()) that blocks the caller until done and needs no
   ioloop: for tools (import, index rebuild) and for start-up code.

   Objects are immutable: a put to an existing key fails with
   BLOB_ERROR_EXISTS unless BLOB_FLAG_OVERWRITE is given (S3's conditional
   "If-None-Match: *"). A put is durable when its callback reports success
   and not before; until then nothing is visible at the key, and a put that
   fails or is aborted leaves nothing behind (a crash may leave temporary
   files, which blob_store_cleanup_temp() removes).

   Keys: 1..BLOB_KEY_MAX_LEN bytes of [A-Za-z0-9] and "-_.@+=,~", with '/'
   separating non-empty components that are not "." or ".."; no '/' at
   either end. Listing is by key prefix, in byte order. The posix driver
   keeps a key's objects near the other keys sharing its first component
   ("user/..."), so listing "user/" is cheap there.

   Metadata: up to BLOB_METADATA_MAX_SIZE bytes of name/value pairs set
   when the object is put and never changed (S3's x-amz-meta-*). Names are
   [a-z0-9_-] (HTTP header names are case-insensitive, so no upper case);
   values are printable ASCII (0x20..0x7e).

   Threads: a store and its handles belong to the thread that made them. */
#ifndef COLUMBA_BLOB_H
#define COLUMBA_BLOB_H

struct blob_store;
struct blob_put;
struct blob_get;
struct blob_list;
struct blob_request;
struct conn;
struct conn_stream_source;
struct event;

#define BLOB_KEY_MAX_LEN 240
/* sum of all names' and values' lengths (S3's limit is 2 KB) */
#define BLOB_METADATA_MAX_SIZE 2048
/* largest page blob_list_begin() accepts (S3's is 1000; ours is a local
   choice, the S3 driver will fetch several pages per page) */
#define BLOB_LIST_MAX_PAGE_SIZE 10000

enum blob_error {
	BLOB_ERROR_NONE = 0,
	/* no object under the key */
	BLOB_ERROR_NOT_FOUND,
	/* put or copy to an existing key without BLOB_FLAG_OVERWRITE */
	BLOB_ERROR_EXISTS,
	/* disk full or quota exceeded */
	BLOB_ERROR_NO_SPACE,
	BLOB_ERROR_PERMISSION,
	/* the storage failed; retrying is unlikely to help soon */
	BLOB_ERROR_IO,
	/* a transient failure (overload, a lost connection, a throttled
	   request): the same call may well succeed if retried */
	BLOB_ERROR_TEMPORARY,
	/* bad key, metadata or range: a caller's bug or bad input */
	BLOB_ERROR_INVALID,
};

/* How an operation ended. Strings are valid during the callback, or for
   *_sync() until the caller's data stack frame ends. */
struct blob_result {
	enum blob_error error;
	/* Safe to show a client (no paths, no system error texts):
	   blob_error_user_text(error). NULL on success. */
	const char *user_error;
	/* For the log: what failed, where and why. NULL on success. */
	const char *internal_error;
};

enum blob_flags {
	/* put/copy: replace an existing object instead of failing with
	   BLOB_ERROR_EXISTS */
	BLOB_FLAG_OVERWRITE = 0x01,
	/* put/copy, for bulk writers (import): the object is not made
	   durable on its own (posix: no fsync of the file nor of its
	   directory); it becomes durable with the next blob_store_sync().
	   Until then a power failure may leave it missing or truncated, so
	   nothing may refer to it durably before that sync. */
	BLOB_FLAG_NO_SYNC = 0x02,
};

struct blob_metadata_field {
	const char *name;
	const char *value;
};

struct blob_info {
	/* size of the whole object */
	uint64_t size;
	/* when the object was put (or copied) */
	time_t mtime;
	/* sorted by name; blob_head() fills these, blob_get_info() does
	   not */
	const struct blob_metadata_field *metadata;
	unsigned int metadata_count;
};

struct blob_list_entry {
	const char *key;
	uint64_t size;
	time_t mtime;
};

struct blob_store_settings {
	/* parent of the store's event (category "blob"); may be NULL */
	struct event *event_parent;
};

typedef void blob_callback_t(const struct blob_result *result, void *context);
typedef void blob_head_callback_t(const struct blob_result *result,
				  const struct blob_info *info, void *context);
/* A handle (get, list, put) can make progress again. */
typedef void blob_ready_callback_t(void *context);

/* --- errors, keys, metadata --- */

const char *blob_error_name(enum blob_error error);
/* The text a client may see, e.g. "Internal error occurred. Refer to
   server log for more information." for IO. */
const char *blob_error_user_text(enum blob_error error);
/* TEMPORARY: retrying the same call may succeed. */
bool blob_error_is_temporary(enum blob_error error);

/* Whether key follows the rules above; *error_r says why not. */
bool blob_key_is_valid(const char *key, const char **error_r);
bool blob_metadata_name_is_valid(const char *name);
bool blob_metadata_value_is_valid(const char *value);
/* The value of metadata name, or NULL. */
const char *blob_info_get_metadata(const struct blob_info *info,
				   const char *name);

/* --- the store --- */

/* Create a store from "driver:args" (the drivers' args are described at
   the top of blob-posix.c and blob-randomfail.c). set may be NULL.
   Blocks: it may create and check directories, so call it at start-up.
   Returns -1 with *error_r for an unknown driver or bad args. */
int blob_store_create(const char *spec, const struct blob_store_settings *set,
		      struct blob_store **store_r, const char **error_r)
	ATTR_WARN_UNUSED;
/* Every handle must be finished or aborted first; requests whose callback
   is pending are cancelled (blob_request_cancel()). Waits for disk I/O
   already running in worker threads. Must not be called from a blob
   callback (defer it to a timeout). Sets *store to NULL. */
void blob_store_destroy(struct blob_store **store);
/* "posix", "randomfail"... (the outermost driver) */
const char *blob_store_get_driver(const struct blob_store *store);
/* Remove temporary files older than min_age_secs that crashed or killed
   writers left behind; *removed_r counts them. Blocks. A put idle for
   longer than min_age_secs loses its temporary file (its commit then
   fails), so keep the age well above any put's expected duration (an
   hour). Returns -1 with *error_r on failure. */
int blob_store_cleanup_temp(struct blob_store *store,
			    unsigned int min_age_secs,
			    unsigned int *removed_r, const char **error_r)
	ATTR_WARN_UNUSED;

/* Make every object put or copied so far with BLOB_FLAG_NO_SYNC durable
   (posix: syncfs() of the store's filesystem, one disk flush for any
   number of objects). Blocks. Returns 0, or -1 with *error_r. */
int blob_store_sync(struct blob_store *store, const char **error_r)
	ATTR_WARN_UNUSED;

/* An fd on the filesystem holding the store's objects, for a caller that
   makes objects put with BLOB_FLAG_NO_SYNC durable itself with one
   syncfs() covering many stores (the LMTP journal), or -1 when the store
   is not a plain local directory that needs syncing (S3, stacked
   drivers, posix with fsync off): then only blob_store_sync() makes its
   NO_SYNC objects durable. The fd belongs to the store (do not close it;
   dup() it to keep it past the store's life). */
int blob_store_get_syncfs_fd(struct blob_store *store);

/* --- one-shot requests: head, delete, copy, put from memory ---
   The callback runs once, from the ioloop. The returned handle is valid
   until then; blob_request_cancel() means the callback is never called,
   not that the operation is undone: it may still complete. */

/* Size, mtime and metadata. info is NULL on error (NOT_FOUND...). */
struct blob_request *blob_head(struct blob_store *store, const char *key,
			       blob_head_callback_t *callback, void *context);
/* Deleting a key that does not exist succeeds (as in S3: a retry after a
   lost reply is not an error). */
struct blob_request *blob_delete(struct blob_store *store, const char *key,
				 blob_callback_t *callback, void *context);
/* Copy an object with its metadata. EXISTS if dest_key exists, unless
   BLOB_FLAG_OVERWRITE. */
struct blob_request *blob_copy(struct blob_store *store, const char *src_key,
			       const char *dest_key, enum blob_flags flags,
			       blob_callback_t *callback, void *context);
/* Put size bytes from memory (copied: the caller's buffer may go at
   once), with metadata_count fields of metadata. */
struct blob_request *
blob_put_data(struct blob_store *store, const char *key, const void *data,
	      size_t size, const struct blob_metadata_field *metadata,
	      unsigned int metadata_count, enum blob_flags flags,
	      blob_callback_t *callback, void *context);
/* No callback after this; sets *req to NULL. */
void blob_request_cancel(struct blob_request **req);

/* Synchronous flavours: block until done. Return 0 on success, -1 with
   *result_r filled (strings on the data stack). */
int blob_head_sync(struct blob_store *store, const char *key, pool_t pool,
		   struct blob_info *info_r, struct blob_result *result_r);
int blob_delete_sync(struct blob_store *store, const char *key,
		     struct blob_result *result_r);
int blob_copy_sync(struct blob_store *store, const char *src_key,
		   const char *dest_key, enum blob_flags flags,
		   struct blob_result *result_r);
int blob_put_data_sync(struct blob_store *store, const char *key,
		       const void *data, size_t size,
		       const struct blob_metadata_field *metadata,
		       unsigned int metadata_count, enum blob_flags flags,
		       struct blob_result *result_r);
/* Append the whole object to dest (for small objects: index bundles,
   tests). */
int blob_get_data_sync(struct blob_store *store, const char *key,
		       buffer_t *dest, struct blob_result *result_r);

/* --- put: stream an object in ---
     put = blob_put_begin(store, key, 0);
     blob_put_set_metadata(put, "uid", "42");
     while (more) {
             blob_put_write(put, data, size);
             if (blob_put_is_full(put)) wait for the drained callback;
     }
     blob_put_finish(&put, callback, context);
   Errors (a bad key, a failed write) are reported once, by the finish
   callback; blob_put_write() returns -1 from then on, so a producer can
   stop early. */
struct blob_put *blob_put_begin(struct blob_store *store, const char *key,
				enum blob_flags flags);
/* Like blob_put_begin(), but blob_put_write() blocks when it writes to
   the storage, and the put is finished with blob_put_finish_sync(). */
struct blob_put *blob_put_begin_sync(struct blob_store *store,
				     const char *key, enum blob_flags flags);
/* Set (or replace) a metadata field. Only before the first
   blob_put_write(). An invalid name or value fails the put (INVALID). */
void blob_put_set_metadata(struct blob_put *put, const char *name,
			   const char *value);
/* Queue size bytes (copied). Never blocks an async put and accepts
   everything, so a producer that ignores blob_put_is_full() makes the
   put buffer without bound. Returns 0, or -1 if the put has already
   failed (the finish callback will say why). */
int blob_put_write(struct blob_put *put, const void *data, size_t size);
/* True while the put holds as much unwritten data as it wants (two
   chunks of the driver's I/O size): stop writing until the drained
   callback. */
bool blob_put_is_full(struct blob_put *put);
/* Called from the ioloop when a full put has room again (or has failed:
   the next write returns -1). */
void blob_put_set_drained_callback(struct blob_put *put,
				   blob_ready_callback_t *callback,
				   void *context);
/* Bytes given to blob_put_write() so far. */
uint64_t blob_put_get_size(const struct blob_put *put);
/* Write what is left, make the object durable and visible, and call
   callback from the ioloop: success means the object is on stable
   storage under its key. The put is freed after the callback; *put is
   set to NULL at once. A failure may, rarely, come after the object
   became visible (posix: the directory's fsync failed after the rename;
   S3: the reply was lost), so a retry that gets EXISTS may be looking
   at its own object. */
void blob_put_finish(struct blob_put **put, blob_callback_t *callback,
		     void *context);
/* For a put from blob_put_begin_sync(). Returns 0 or -1 with *result_r. */
int blob_put_finish_sync(struct blob_put **put, struct blob_result *result_r)
	ATTR_WARN_UNUSED;
/* Drop the put: nothing becomes visible, temporary data is removed (in
   the background). No callback. Sets *put to NULL. */
void blob_put_abort(struct blob_put **put);

/* --- get: stream an object out ---
   A get reads the range [offset, offset + length) of the object, clipped
   to its end (length UINT64_MAX = to the end; an offset at or past the end
   gives no data, not an error). It starts reading at once and keeps one
   chunk read ahead, so memory stays at two chunks whatever the size. */
#define BLOB_READ_WAIT 0
#define BLOB_READ_EOF (-1)
#define BLOB_READ_ERROR (-2)

struct blob_get *blob_get_begin(struct blob_store *store, const char *key,
				uint64_t offset, uint64_t length);
/* Reads block; the object is opened before this returns, so
   blob_get_info() is set unless it failed. Never returns BLOB_READ_WAIT. */
struct blob_get *blob_get_begin_sync(struct blob_store *store,
				     const char *key, uint64_t offset,
				     uint64_t length);
/* An async get whose reads finish inside the call when the driver can do
   them without blocking (posix: the data is in the page cache), else in
   the background as blob_get_begin()'s. The consumer must read first: the
   callback comes only for data that arrives after a read returned
   BLOB_READ_WAIT (a read finished inline has no callback). */
struct blob_get *blob_get_begin_nowait(struct blob_store *store,
				       const char *key, uint64_t offset,
				       uint64_t length);
/* Called from the ioloop when the object has been opened (or failed to)
   and whenever data arrives after a read returned BLOB_READ_WAIT. */
void blob_get_set_callback(struct blob_get *get,
			   blob_ready_callback_t *callback, void *context);
/* Size and mtime (no metadata) once the object is open, else NULL. */
const struct blob_info *blob_get_info(const struct blob_get *get);
/* Bytes the range yields, once open (the length to promise a peer). */
uint64_t blob_get_get_length(const struct blob_get *get);
/* Look at the next bytes without consuming them: returns 1 with
   *size_r > 0 (valid until the next call on the get), BLOB_READ_WAIT
   (the callback follows), BLOB_READ_EOF at the end of the range, or
   BLOB_READ_ERROR (see blob_get_get_result()). Never blocks an async
   get. */
int blob_get_read_data(struct blob_get *get, const unsigned char **data_r,
		       size_t *size_r);
/* Consume size bytes of what blob_get_read_data() showed. */
void blob_get_skip(struct blob_get *get, size_t size);
/* Copying flavour: > 0 bytes copied into buf, or one of BLOB_READ_*. */
ssize_t blob_get_read(struct blob_get *get, void *buf, size_t size);
/* 0, or -1 with *result_r if the get has failed. */
int blob_get_get_result(const struct blob_get *get,
			struct blob_result *result_r);
/* Finish reading (at any point); returns what blob_get_get_result() would
   (result_r may be NULL). Sets *get to NULL. */
int blob_get_end(struct blob_get **get, struct blob_result *result_r);
/* A conn.h stream source producing the get's bytes: FETCH BODY[] streams
   an object without loading it. Create it once blob_get_info() is set
   and promise the peer blob_get_get_length() bytes. The source owns the
   get from now on (*get is set to NULL); conn must be the connection the
   source is given to, and it must finish the stream or be destroyed
   before the store is. A read error disconnects the conn with the
   internal error text. */
struct conn_stream_source *blob_get_stream_source(struct blob_get **get,
						  struct conn *conn);

/* --- list: keys by prefix, sorted, in pages ---
   continuation (NULL = from the start) resumes a listing after the key a
   former listing returned last (blob_list_get_continuation()); treat it
   as an opaque string. page_size (1..BLOB_LIST_MAX_PAGE_SIZE, 0 = 1000) is
   how many entries one request fetches. */
struct blob_list *blob_list_begin(struct blob_store *store,
				  const char *prefix, const char *continuation,
				  unsigned int page_size);
/* Fetches pages synchronously: blob_list_next() never returns
   BLOB_READ_WAIT. */
struct blob_list *blob_list_begin_sync(struct blob_store *store,
				       const char *prefix,
				       const char *continuation,
				       unsigned int page_size);
/* Called from the ioloop when a page arrives after blob_list_next()
   returned BLOB_READ_WAIT. */
void blob_list_set_callback(struct blob_list *list,
			    blob_ready_callback_t *callback, void *context);
/* Returns 1 with the next entry (valid until the next call), or one of
   BLOB_READ_WAIT, BLOB_READ_EOF (no more keys), BLOB_READ_ERROR. */
int blob_list_next(struct blob_list *list,
		   const struct blob_list_entry **entry_r);
/* A continuation token resuming after the last entry returned (or the
   one given to begin, if none was). Valid until the next call. NULL if
   nothing has been returned and none was given. */
const char *blob_list_get_continuation(const struct blob_list *list);
/* Returns 0, or -1 with *result_r (may be NULL) if listing failed. Sets
   *list to NULL. */
int blob_list_end(struct blob_list **list, struct blob_result *result_r);

#endif
