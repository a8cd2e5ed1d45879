/* The posix blob driver: objects as files in a local directory, written
   as temporary file + fsync + rename so that a key shows either nothing or
   a complete, durable object. File I/O runs in worker threads; the same
   code runs inline for sync ops.

   Spec: posix:[option=value:]...DIR (DIR may hold ':'; write a relative DIR
   holding '=' as "./a=b"). Options:
     fanout=0|1|2           fan-out depth (default 2)   | fixed when the
     metadata=xattr|header  (default: xattr if possible) | store is made
     fsync=yes|no           "no" only for tests and benchmarks
     workers=N              I/O threads of the process (default 8; the
                            first store to do I/O sizes the shared pool)
     copy=link|data         "data" copies bytes even where link() works

   Layout:
     DIR/columba-blob-store  how the store was made, e.g. "format=1\n
                             fanout=2\nmetadata=xattr\n"; reopening it
                             with other options is refused
     DIR/tmp/<nonce>.<pid>.<n>
                             temporary files, in the same filesystem
     DIR/objects/ab/cd/<name>
                             objects. ab/cd: the first two bytes (hex) of
                             SHA-256 of the key's first component (up to
                             the first '/'), so "user/..." keys share a
                             directory and listing "user/" reads only it.
                             <name>: the key with '/' as '%' (keys never
                             hold '%'), one file per key whatever its
                             depth. "bob/INBOX/42" is in
                             objects/81/b6/bob%INBOX%42.

   A put creates its temporary file (O_EXCL), sets its metadata, writes,
   fsync()s the file, renames it into place with RENAME_NOREPLACE (the
   atomic "fail if it exists" of an immutable store; link() + unlink()
   where the filesystem lacks it; a plain rename to overwrite), creating
   missing fan-out directories (each fsync()ed into its parent), and
   fsync()s the directory. Only then does the callback report success. A
   crash leaves at most files in tmp/, which blob_store_cleanup_temp()
   removes.

   Metadata: in xattr mode, one attribute of the file, user.columba.@,
   holding every field as "name\0value\0" ('@' is never in a field's
   name), set before its fsync so it commits with the data (hard-linked
   copies share it). One fsetxattr() per put instead of one per field:
   each is a syscall and an inode update. Objects written before (and
   metadata too large for one attribute, which the put never produces
   with mail's fields) have a user.columba.<name> attribute per field;
   reading takes both. Filesystems without user xattrs get header mode: the file
   starts with "CBLOB1 NNNNN\n" (NNNNN = the header's length), a
   "name=value\n" line per field and "\n"; sizes and offsets seen through
   the API exclude it. Not a sidecar file: a sidecar is a second file to
   commit, so a crash could show an object without its metadata, or a put
   failing with EXISTS could have replaced the existing object's; the
   header commits in the same rename as the data.

   Copy: link() (objects are immutable, so sharing the inode is safe; the
   copy keeps the source's mtime), via a temporary name and rename() to
   overwrite; where links fail (EMLINK, EPERM, EXDEV) a copy of the data
   (copy_file_range(), which shares extents where the filesystem can) and
   of the xattrs. Delete: unlink() and fsync() of the directory; a missing
   key is success. List: a prefix holding '/' reads one fan-out directory,
   any other prefix all of them; a page costs a scan of those directories
   (keeping the page_size + 1 smallest keys past the continuation). */
#include "lib.h"
#include "ioloop.h"
#include "worker.h"
#include "blob-private.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <openssl/evp.h>

#define POSIX_MARKER_NAME "columba-blob-store"
#define POSIX_OBJECTS_DIR "objects"
#define POSIX_TMP_DIR "tmp"
#define POSIX_XATTR_PREFIX "user.columba."
/* the packed attribute ("name\0value\0" per field) and its largest size:
   ext4 keeps all of an inode's attributes in one block */
#define POSIX_XATTR_PACKED_NAME "@"
#define POSIX_XATTR_PACKED_MAX 3072
#define POSIX_HEADER_MAGIC "CBLOB1 "
/* "CBLOB1 NNNNN\n": the total header length in five digits */
#define POSIX_HEADER_FIRST_LINE_LEN 13
#define POSIX_HEADER_MAX_SIZE 8192
#define POSIX_DEFAULT_WORKERS 8
#define POSIX_MAX_QUEUE 4096
#define POSIX_FILE_MODE 0600
#define POSIX_DIR_MODE 0700

enum posix_metadata_mode {
	POSIX_METADATA_UNSET,
	/* user.columba.<name> extended attributes */
	POSIX_METADATA_XATTR,
	/* a text header before the data, for filesystems without user
	   xattrs (see blob_posix_header_*) */
	POSIX_METADATA_HEADER,
};

struct posix_store {
	struct blob_store store;
	char *root;
	int root_fd;
	unsigned int fanout;
	enum posix_metadata_mode metadata_mode;
	bool fsync;
	/* copy by copying data, never by link() (to test that path) */
	bool copy_data;
	unsigned int workers_count;
	char tmp_prefix[40];
	unsigned int tmp_counter;
	/* the fan-out directory of the last key top seen in the loop
	   thread: a user's objects share their top (the user), so opening
	   one needs no SHA-256 */
	char *dir_memo_top, *dir_memo;
};

struct posix_list_names {
	char **names;
	unsigned int count, alloc, keep;
};

struct posix_op {
	struct blob_op op;
	/* relative to root_fd; made in the loop thread */
	char *path, *dir, *dest_path, *dest_dir, *tmp_path;
	/* the temporary file being written, or the object being read */
	int fd;
	bool tmp_created;
	/* header mode: bytes before the object's data */
	uint64_t data_offset;
	struct posix_job *pjob;

	/* Results of the work in a worker thread, turned into op fields by
	   posix_done() in the loop thread. Only heap memory here. */
	enum blob_error err;
	char *err_text;
	bool have_stat;
	uint64_t size;
	time_t mtime;
	/* "name\0value\0"... */
	char *meta_raw;
	size_t meta_raw_len;
	size_t read_ret;
	struct posix_list_names list;
	uint64_t *list_sizes;
	time_t *list_mtimes;
	bool list_truncated;
};

#define POSIX_STORE(s) CONTAINER_OF(s, struct posix_store, store)
#define POSIX_OP(o) CONTAINER_OF(o, struct posix_op, op)

/* One pool of I/O threads for every posix store of the process: a mail
   process holds a store per user, and threads per store would multiply.
   It lives while any posix store does. */
static struct worker_pool *posix_workers;
static struct ioloop *posix_workers_ioloop;
static unsigned int posix_store_count;

/* A request running in the pool. Destroying a store cannot wait for the
   pool's done callbacks of its ops (they come from the ioloop), so it
   waits for the work itself (finished), completes the op inline and
   leaves the ticket abandoned for the done callback to free. */
struct posix_job {
	struct posix_op *pop;
	struct worker_job *job;
	/* under posix_job_lock */
	bool finished;
	/* loop thread only */
	bool abandoned;
};
static pthread_mutex_t posix_job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t posix_job_cond = PTHREAD_COND_INITIALIZER;

/* --- paths (loop thread) --- */

/* The fan-out directory of a key into buf: the SHA-256 of its first
   component, so that "user/..." keys share a directory and listing
   "user/" reads one directory. No data stack: workers call this too. */
/* EVP_sha256() makes each EVP_Digest() look the algorithm up again in
   the provider tables: that fetch cost more than the rest of opening an
   object for a small RETR. Fetched once instead (loop and worker threads
   both name objects). */
static EVP_MD *posix_sha256;
static pthread_once_t posix_sha256_once = PTHREAD_ONCE_INIT;

static void posix_sha256_init(void)
{
	posix_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (posix_sha256 == NULL)
		i_panic("EVP_MD_fetch(SHA256) failed");
}

static void posix_fanout_dir(const struct posix_store *pstore,
			     const char *key, char *buf, size_t size)
{
	const char *slash = strchr(key, '/');
	size_t top_len = slash == NULL ? strlen(key) : (size_t)(slash - key);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len;

	if (pstore->fanout == 0) {
		snprintf(buf, size, POSIX_OBJECTS_DIR);
		return;
	}
	(void)pthread_once(&posix_sha256_once, posix_sha256_init);
	if (EVP_Digest(key, top_len, md, &md_len, posix_sha256, NULL) != 1)
		i_panic("EVP_Digest(sha256) failed");
	if (pstore->fanout == 1)
		snprintf(buf, size, POSIX_OBJECTS_DIR"/%02x", md[0]);
	else
		snprintf(buf, size, POSIX_OBJECTS_DIR"/%02x/%02x", md[0],
			 md[1]);
}

static char *posix_key_dir(const struct posix_store *pstore, const char *key)
{
	char buf[64];
	posix_fanout_dir(pstore, key, buf, sizeof(buf));
	return i_strdup(buf);
}

/* Keys never contain '%', so '/' -> '%' makes a key one file name. */
static char *posix_key_filename(const char *key)
{
	char *name = i_strdup(key);
	for (char *p = name; *p != '\0'; p++) {
		if (*p == '/')
			*p = '%';
	}
	return name;
}

/* posix_key_dir() for the loop thread, through the store's memo. */
static char *posix_key_dir_memo(struct posix_store *pstore, const char *key)
{
	const char *slash = strchr(key, '/');
	size_t top_len = slash == NULL ? strlen(key) : (size_t)(slash - key);

	if (pstore->dir_memo_top == NULL ||
	    strlen(pstore->dir_memo_top) != top_len ||
	    memcmp(pstore->dir_memo_top, key, top_len) != 0) {
		i_free(pstore->dir_memo_top);
		i_free(pstore->dir_memo);
		pstore->dir_memo_top = i_strndup(key, top_len);
		pstore->dir_memo = posix_key_dir(pstore, key);
	}
	return i_strdup(pstore->dir_memo);
}

static void posix_op_make_paths(struct posix_store *pstore,
				struct posix_op *pop)
{
	struct blob_op *op = &pop->op;

	if (pop->path == NULL && op->key != NULL) {
		char *name = posix_key_filename(op->key);
		pop->dir = posix_key_dir_memo(pstore, op->key);
		pop->path = i_strdup_printf("%s/%s", pop->dir, name);
		i_free(name);
	}
	if (pop->dest_path == NULL && op->dest_key != NULL) {
		char *name = posix_key_filename(op->dest_key);
		pop->dest_dir = posix_key_dir_memo(pstore, op->dest_key);
		pop->dest_path = i_strdup_printf("%s/%s", pop->dest_dir, name);
		i_free(name);
	}
	if (pop->tmp_path == NULL &&
	    (op->class == BLOB_OP_PUT || op->class == BLOB_OP_COPY)) {
		pop->tmp_path = i_strdup_printf(POSIX_TMP_DIR"/%s.%u",
						pstore->tmp_prefix,
						++pstore->tmp_counter);
	}
}

/* --- worker side: no data stack, log, events or ioloop below --- */

static enum blob_error posix_errno_error(int err)
{
	switch (err) {
	case ENOENT:
		return BLOB_ERROR_NOT_FOUND;
	case EEXIST:
		return BLOB_ERROR_EXISTS;
	case ENOSPC:
	case EDQUOT:
		return BLOB_ERROR_NO_SPACE;
	case EACCES:
	case EPERM:
	case EROFS:
		return BLOB_ERROR_PERMISSION;
	case EINTR:
	case EAGAIN:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EBUSY:
	case ETIMEDOUT:
		return BLOB_ERROR_TEMPORARY;
	default:
		return BLOB_ERROR_IO;
	}
}

/* Record the first failure: later ones (cleaning up after it) would only
   hide the cause. */
static void posix_fail_text(struct posix_op *pop, enum blob_error error,
			    char *text)
{
	if (pop->err != BLOB_ERROR_NONE) {
		i_free(text);
		return;
	}
	pop->err = error;
	pop->err_text = text;
}

static void posix_fail(struct posix_op *pop, int err, const char *func,
		       const char *path)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	char buf[256];

	const char *msg = strerror_r(err, buf, sizeof(buf));
	posix_fail_text(pop, posix_errno_error(err),
			i_strdup_printf("%s(%s/%s) failed: %s", func,
					pstore->root, path, msg));
}

static int posix_write_full(int fd, const void *data, size_t size)
{
	const unsigned char *p = data;

	while (size > 0) {
		ssize_t ret = write(fd, p, size);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (ret == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += ret;
		size -= (size_t)ret;
	}
	return 0;
}

/* pread() until size bytes or the end of the file. */
static ssize_t posix_pread_full(int fd, void *buf, size_t size, off_t offset)
{
	size_t done = 0;

	while (done < size) {
		ssize_t ret = pread(fd, (char *)buf + done, size - done,
				    offset + (off_t)done);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (ret == 0)
			break;
		done += (size_t)ret;
	}
	return (ssize_t)done;
}

static int posix_fsync_dir(struct posix_op *pop, const char *dir)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);

	if (!pstore->fsync || (pop->op.flags & BLOB_FLAG_NO_SYNC) != 0)
		return 0;
	int fd = openat(pstore->root_fd, dir, O_RDONLY | O_DIRECTORY |
			O_CLOEXEC);
	if (fd < 0) {
		posix_fail(pop, errno, "open", dir);
		return -1;
	}
	if (fsync(fd) < 0) {
		posix_fail(pop, errno, "fsync", dir);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Create the fan-out directories of dir ("objects/ab/cd"); each new one
   is made durable in its parent before anything goes into it. */
static int posix_mkdirs(struct posix_op *pop, const char *dir)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	const size_t base = strlen(POSIX_OBJECTS_DIR);
	size_t len = strlen(dir);
	char path[64];

	i_assert(len < sizeof(path) &&
		 strncmp(dir, POSIX_OBJECTS_DIR, base) == 0);
	memcpy(path, dir, len + 1);
	/* path[parent_end] is the '/' ending the parent of each level */
	for (size_t parent_end = base; parent_end < len;) {
		char *slash = strchr(path + parent_end + 1, '/');
		size_t end = slash == NULL ? len : (size_t)(slash - path);
		path[end] = '\0';
		if (mkdirat(pstore->root_fd, path, POSIX_DIR_MODE) == 0) {
			path[parent_end] = '\0';
			int ret = posix_fsync_dir(pop, path);
			path[parent_end] = '/';
			if (ret < 0)
				return -1;
		} else if (errno != EEXIST) {
			posix_fail(pop, errno, "mkdir", path);
			return -1;
		}
		path[end] = slash == NULL ? '\0' : '/';
		parent_end = end;
	}
	return 0;
}

/* The header of header mode: "CBLOB1 NNNNN\n" (NNNNN = the header's
   total length), "name=value\n" per field, "\n". Heap memory: this runs
   in workers. */
static char *posix_header_build(const struct blob_op *op, size_t *len_r)
{
	size_t len = POSIX_HEADER_FIRST_LINE_LEN + 1;
	const struct blob_metadata_field *field;

	array_foreach(&op->metadata, field)
		len += strlen(field->name) + strlen(field->value) + 2;
	i_assert(len <= POSIX_HEADER_MAX_SIZE);
	char *hdr = i_malloc(len + 1);
	size_t pos = (size_t)snprintf(hdr, len + 1, POSIX_HEADER_MAGIC"%05zu\n",
				      len);
	array_foreach(&op->metadata, field) {
		pos += (size_t)snprintf(hdr + pos, len + 1 - pos, "%s=%s\n",
					field->name, field->value);
	}
	hdr[pos++] = '\n';
	i_assert(pos == len);
	*len_r = len;
	return hdr;
}

/* Parse the header at the start of fd: sets pop->data_offset and, if
   want_metadata, pop->meta_raw. */
static int posix_header_read(struct posix_op *pop, int fd, const char *path,
			     bool want_metadata)
{
	char *buf = i_malloc(POSIX_HEADER_MAX_SIZE);
	ssize_t ret = posix_pread_full(fd, buf, POSIX_HEADER_MAX_SIZE, 0);
	unsigned int hlen = 0;

	if (ret < 0) {
		posix_fail(pop, errno, "pread", path);
		i_free(buf);
		return -1;
	}
	size_t n = (size_t)ret;
	if (n >= POSIX_HEADER_FIRST_LINE_LEN + 1 &&
	    memcmp(buf, POSIX_HEADER_MAGIC, strlen(POSIX_HEADER_MAGIC)) == 0 &&
	    buf[POSIX_HEADER_FIRST_LINE_LEN - 1] == '\n') {
		for (unsigned int i = strlen(POSIX_HEADER_MAGIC);
		     i < POSIX_HEADER_FIRST_LINE_LEN - 1; i++) {
			if (buf[i] < '0' || buf[i] > '9') {
				hlen = 0;
				break;
			}
			hlen = hlen * 10 + (unsigned int)(buf[i] - '0');
		}
	}
	if (hlen < POSIX_HEADER_FIRST_LINE_LEN + 1 || hlen > n ||
	    buf[hlen - 1] != '\n' || buf[hlen - 2] != '\n') {
		posix_fail_text(pop, BLOB_ERROR_IO, i_strdup_printf(
			"Corrupted object header in %s/%s",
			POSIX_STORE(pop->op.store)->root, path));
		i_free(buf);
		return -1;
	}
	pop->data_offset = hlen;
	if (want_metadata) {
		/* "name=value\n" lines -> "name\0value\0" */
		char *raw = i_malloc(hlen);
		size_t rlen = 0;
		for (char *line = buf + POSIX_HEADER_FIRST_LINE_LEN;
		     line < buf + hlen - 1;) {
			char *nl = memchr(line, '\n',
					  (size_t)(buf + hlen - line));
			char *eq = memchr(line, '=', (size_t)(nl - line));
			if (eq == NULL) {
				line = nl + 1;
				continue;
			}
			memcpy(raw + rlen, line, (size_t)(eq - line));
			rlen += (size_t)(eq - line);
			raw[rlen++] = '\0';
			memcpy(raw + rlen, eq + 1, (size_t)(nl - eq - 1));
			rlen += (size_t)(nl - eq - 1);
			raw[rlen++] = '\0';
			line = nl + 1;
		}
		pop->meta_raw = raw;
		pop->meta_raw_len = rlen;
	}
	i_free(buf);
	return 0;
}

/* Whether a packed attribute's value is whole "name\0value\0" pairs. */
static bool posix_xattr_packed_is_valid(const char *value, size_t len)
{
	unsigned int nuls = 0;

	if (len == 0 || value[len - 1] != '\0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\0')
			nuls++;
	}
	return nuls % 2 == 0;
}

/* Set metadata given as "name\0value\0"... on fd: one packed attribute,
   or (too large for one, never the case for mail) one per field. */
static int posix_xattr_write(struct posix_op *pop, int fd, const char *raw,
			     size_t raw_len, const char *path)
{
	if (raw_len == 0)
		return 0;
	if (raw_len <= POSIX_XATTR_PACKED_MAX) {
		if (fsetxattr(fd, POSIX_XATTR_PREFIX POSIX_XATTR_PACKED_NAME,
			      raw, raw_len, 0) < 0) {
			posix_fail(pop, errno, "fsetxattr", path);
			return -1;
		}
		return 0;
	}
	for (const char *p = raw; p < raw + raw_len;) {
		const char *value = p + strlen(p) + 1;
		char name[sizeof(POSIX_XATTR_PREFIX) + 128];
		snprintf(name, sizeof(name), POSIX_XATTR_PREFIX"%s", p);
		if (fsetxattr(fd, name, value, strlen(value), 0) < 0) {
			posix_fail(pop, errno, "fsetxattr", path);
			return -1;
		}
		p = value + strlen(value) + 1;
	}
	return 0;
}

/* Read the user.columba.* attributes of fd into pop->meta_raw. */
static int posix_xattr_read(struct posix_op *pop, int fd, const char *path)
{
	ssize_t len;
	char *names = NULL;

	/* the list can grow between the two calls (it should not: objects
	   are immutable), so retry on ERANGE */
	for (unsigned int tries = 0;; tries++) {
		len = flistxattr(fd, NULL, 0);
		if (len < 0)
			break;
		names = i_realloc(names, 0, (size_t)len + 1);
		len = flistxattr(fd, names, (size_t)len);
		if (len >= 0 || errno != ERANGE || tries == 3)
			break;
	}
	if (len < 0) {
		i_free(names);
		if (errno == ENOTSUP)
			return 0;
		posix_fail(pop, errno, "flistxattr", path);
		return -1;
	}

	string_t *raw = str_new(system_pool, 256);
	const size_t plen = strlen(POSIX_XATTR_PREFIX);
	for (char *name = names; name < names + len;
	     name += strlen(name) + 1) {
		if (strncmp(name, POSIX_XATTR_PREFIX, plen) != 0)
			continue;
		char value[POSIX_XATTR_PACKED_MAX + 1];
		ssize_t vlen = fgetxattr(fd, name, value, sizeof(value) - 1);
		if (vlen < 0) {
			if (errno == ENODATA)
				continue;
			posix_fail(pop, errno, "fgetxattr", path);
			str_free(&raw);
			i_free(names);
			return -1;
		}
		if (strcmp(name + plen, POSIX_XATTR_PACKED_NAME) == 0) {
			/* already "name\0value\0"...: whole pairs only */
			if (!posix_xattr_packed_is_valid(value, (size_t)vlen)) {
				posix_fail_text(pop, BLOB_ERROR_IO,
					i_strdup_printf("Corrupted metadata "
						"attribute of %s/%s",
						POSIX_STORE(pop->op.store)->root,
						path));
				str_free(&raw);
				i_free(names);
				return -1;
			}
			str_append_data(raw, value, (size_t)vlen);
			continue;
		}
		str_append_data(raw, name + plen, strlen(name + plen) + 1);
		str_append_data(raw, value, (size_t)vlen);
		str_append_c(raw, '\0');
	}
	i_free(names);
	pop->meta_raw_len = str_len(raw);
	pop->meta_raw = i_malloc(pop->meta_raw_len + 1);
	memcpy(pop->meta_raw, raw->data, pop->meta_raw_len);
	str_free(&raw);
	return 0;
}

/* Create the temporary file with the op's metadata. */
static int posix_tmp_create(struct posix_op *pop)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct blob_op *op = &pop->op;

	pop->fd = openat(pstore->root_fd, pop->tmp_path,
			 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			 POSIX_FILE_MODE);
	if (pop->fd < 0) {
		posix_fail(pop, errno, "open", pop->tmp_path);
		return -1;
	}
	pop->tmp_created = true;
	if (pstore->metadata_mode == POSIX_METADATA_HEADER) {
		size_t len;
		char *hdr = posix_header_build(op, &len);
		int ret = posix_write_full(pop->fd, hdr, len);
		i_free(hdr);
		if (ret < 0) {
			posix_fail(pop, errno, "write", pop->tmp_path);
			return -1;
		}
		return 0;
	}
	/* on the stack, not the heap: this runs in workers, and a thread's
	   first malloc() makes glibc reserve it an arena (64 MiB of
	   address space, against the mail service's vsz_limit) */
	const struct blob_metadata_field *field;
	char raw[POSIX_XATTR_PACKED_MAX];
	size_t raw_len = 0;
	array_foreach(&op->metadata, field) {
		size_t n1 = strlen(field->name) + 1;
		size_t n2 = strlen(field->value) + 1;
		if (raw_len + n1 + n2 > sizeof(raw)) {
			raw_len = 0;
			break;
		}
		memcpy(raw + raw_len, field->name, n1);
		memcpy(raw + raw_len + n1, field->value, n2);
		raw_len += n1 + n2;
	}
	if (raw_len > 0 || array_count(&op->metadata) == 0)
		return posix_xattr_write(pop, pop->fd, raw, raw_len,
					 pop->tmp_path);
	/* too large for one attribute: one per field */
	array_foreach(&op->metadata, field) {
		char name[sizeof(POSIX_XATTR_PREFIX) + 128];
		snprintf(name, sizeof(name), POSIX_XATTR_PREFIX"%s",
			 field->name);
		if (fsetxattr(pop->fd, name, field->value,
			      strlen(field->value), 0) < 0) {
			posix_fail(pop, errno, "fsetxattr", pop->tmp_path);
			return -1;
		}
	}
	return 0;
}

/* Remove the temporary file (after a failure or for a discard). */
static void posix_tmp_remove(struct posix_op *pop)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);

	if (pop->fd >= 0) {
		close(pop->fd);
		pop->fd = -1;
	}
	if (pop->tmp_created) {
		if (unlinkat(pstore->root_fd, pop->tmp_path, 0) < 0 &&
		    errno != ENOENT)
			posix_fail(pop, errno, "unlink", pop->tmp_path);
		pop->tmp_created = false;
	}
}

/* rename() tmp to path: without replacing unless overwrite, creating the
   fan-out directories when they are missing. Returns 0, -1 with errno
   set, or -2 with the error recorded. */
static int posix_rename_into_place(struct posix_op *pop, const char *tmp,
				   const char *path, const char *dir,
				   bool overwrite)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	bool use_link = false, made_dirs = false;
	int ret;

	for (;;) {
		if (overwrite) {
			ret = renameat(pstore->root_fd, tmp, pstore->root_fd,
				       path);
		} else if (!use_link) {
			ret = renameat2(pstore->root_fd, tmp, pstore->root_fd,
					path, RENAME_NOREPLACE);
			if (ret < 0 && (errno == EINVAL || errno == ENOSYS)) {
				/* the filesystem cannot: link() fails on
				   an existing name just as well */
				use_link = true;
				continue;
			}
		} else {
			ret = linkat(pstore->root_fd, tmp, pstore->root_fd,
				     path, 0);
			if (ret == 0) {
				/* an error here leaves a temporary file
				   for the cleanup, and the object is in
				   place: not a failure */
				(void)unlinkat(pstore->root_fd, tmp, 0);
			}
		}
		if (ret == 0 || errno != ENOENT || made_dirs)
			break;
		/* the first object under a new fan-out directory */
		if (posix_mkdirs(pop, dir) < 0)
			return -2;
		made_dirs = true;
	}
	return ret;
}

static void posix_put_write(struct posix_op *pop)
{
	struct blob_op *op = &pop->op;

	if (pop->fd < 0 && posix_tmp_create(pop) < 0)
		return;
	if (posix_write_full(pop->fd, op->data, op->size) < 0)
		posix_fail(pop, errno, "write", pop->tmp_path);
}

static void posix_put_commit(struct posix_op *pop)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct blob_op *op = &pop->op;

	posix_put_write(pop);
	if (pop->err != BLOB_ERROR_NONE)
		goto failed;
	if (pstore->fsync && (op->flags & BLOB_FLAG_NO_SYNC) == 0 &&
	    fsync(pop->fd) < 0) {
		posix_fail(pop, errno, "fsync", pop->tmp_path);
		goto failed;
	}
	if (close(pop->fd) < 0) {
		pop->fd = -1;
		posix_fail(pop, errno, "close", pop->tmp_path);
		goto failed;
	}
	pop->fd = -1;
	bool overwrite = (op->flags & BLOB_FLAG_OVERWRITE) != 0;
	int ret = posix_rename_into_place(pop, pop->tmp_path, pop->path,
					  pop->dir, overwrite);
	if (ret == -1 && errno == EEXIST) {
		posix_fail_text(pop, BLOB_ERROR_EXISTS, i_strdup_printf(
			"Object '%s' already exists", op->key));
		goto failed;
	}
	if (ret == -1) {
		posix_fail(pop, errno, "rename", pop->path);
		goto failed;
	}
	if (ret < 0)
		goto failed;
	pop->tmp_created = false;
	/* The object is visible now: if the directory's fsync fails the
	   put is reported failed, but the object cannot be taken back
	   reliably either (the unlink would need the same fsync). */
	(void)posix_fsync_dir(pop, pop->dir);
	return;
failed:
	posix_tmp_remove(pop);
}

/* Open the object at path, its size and mtime (and in header mode its
   data offset). Returns the fd or -1. */
static int posix_open_object(struct posix_op *pop, const char *path,
			     bool want_metadata)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct stat st;

	int fd = openat(pstore->root_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		posix_fail(pop, errno, "open", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		posix_fail(pop, errno, "fstat", path);
		close(fd);
		return -1;
	}
	pop->data_offset = 0;
	if (pstore->metadata_mode == POSIX_METADATA_HEADER) {
		if (posix_header_read(pop, fd, path, want_metadata) < 0) {
			close(fd);
			return -1;
		}
	} else if (want_metadata) {
		if (posix_xattr_read(pop, fd, path) < 0) {
			close(fd);
			return -1;
		}
	}
	pop->have_stat = true;
	pop->size = (uint64_t)st.st_size - pop->data_offset;
	pop->mtime = st.st_mtim.tv_sec;
	return fd;
}

static void posix_head(struct posix_op *pop)
{
	int fd = posix_open_object(pop, pop->path, true);
	if (fd >= 0)
		close(fd);
}

static void posix_get_read(struct posix_op *pop)
{
	struct blob_op *op = &pop->op;

	if (pop->fd < 0) {
		pop->fd = posix_open_object(pop, pop->path, false);
		if (pop->fd < 0)
			return;
	}
	if (op->read_offset >= pop->size) {
		pop->read_ret = 0;
		return;
	}
	size_t want = (size_t)I_MIN((uint64_t)op->read_size,
				    pop->size - op->read_offset);
	ssize_t ret = posix_pread_full(pop->fd, op->read_buf, want,
				       (off_t)(pop->data_offset +
					       op->read_offset));
	if (ret < 0)
		posix_fail(pop, errno, "pread", pop->path);
	else
		pop->read_ret = (size_t)ret;
}

/* posix_get_read() in the loop thread for a nowait op, if it cannot
   block on the data: the read uses RWF_NOWAIT, which fails rather than
   wait for the disk. The open stays a plain one (the object's directory
   and inode are cached once a mailbox has been used, as in any server
   that opens mail files in its session process). Header mode is left to
   the workers: its open reads the header. Returns false when the read
   must go to a worker after all (an fd opened here stays open for it). */
static bool posix_get_read_nowait(struct posix_op *pop)
{
	static bool nowait_unsupported = false;
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct blob_op *op = &pop->op;

	if (pstore->metadata_mode != POSIX_METADATA_XATTR || nowait_unsupported)
		return false;
	if (pop->fd < 0) {
		pop->fd = posix_open_object(pop, pop->path, false);
		if (pop->fd < 0)
			return true;
	}
	if (op->read_offset >= pop->size) {
		pop->read_ret = 0;
		return true;
	}
	size_t want = (size_t)I_MIN((uint64_t)op->read_size,
				    pop->size - op->read_offset);
	struct iovec iov = { .iov_base = op->read_buf, .iov_len = want };
	ssize_t ret = preadv2(pop->fd, &iov, 1, (off_t)(pop->data_offset +
							op->read_offset),
			      RWF_NOWAIT);
	if (ret < 0) {
		if (errno == EOPNOTSUPP)
			nowait_unsupported = true;
		else if (errno != EAGAIN && errno != EINTR) {
			posix_fail(pop, errno, "pread", pop->path);
			return true;
		}
		return false;
	}
	if ((size_t)ret < want) {
		/* partly cached: the worker reads it whole */
		return false;
	}
	pop->read_ret = (size_t)ret;
	return true;
}

static void posix_delete(struct posix_op *pop)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);

	if (unlinkat(pstore->root_fd, pop->path, 0) < 0) {
		/* already gone: deletes are idempotent */
		if (errno != ENOENT)
			posix_fail(pop, errno, "unlink", pop->path);
		return;
	}
	(void)posix_fsync_dir(pop, pop->dir);
}

/* Copy the user.columba.* attributes of src_fd to dest_fd. */
static int posix_xattr_copy(struct posix_op *pop, int src_fd, int dest_fd)
{
	if (posix_xattr_read(pop, src_fd, pop->path) < 0)
		return -1;
	if (posix_xattr_write(pop, dest_fd, pop->meta_raw, pop->meta_raw_len,
			      pop->tmp_path) < 0)
		return -1;
	i_free(pop->meta_raw);
	pop->meta_raw_len = 0;
	return 0;
}

/* Copy src_fd's whole content to dest_fd: copy_file_range() (which shares
   extents where the filesystem can), else read/write. */
static int posix_copy_data(struct posix_op *pop, int src_fd, int dest_fd)
{
	bool use_rw = false;
	char *buf = NULL;

	for (;;) {
		ssize_t ret;
		if (!use_rw) {
			ret = copy_file_range(src_fd, NULL, dest_fd, NULL,
					      1024 * 1024 * 64, 0);
			if (ret < 0 &&
			    (errno == EXDEV || errno == EINVAL ||
			     errno == ENOSYS || errno == EOPNOTSUPP)) {
				use_rw = true;
				buf = i_malloc(128 * 1024);
				continue;
			}
		} else {
			ret = read(src_fd, buf, 128 * 1024);
			if (ret > 0 &&
			    posix_write_full(dest_fd, buf, (size_t)ret) < 0) {
				posix_fail(pop, errno, "write", pop->tmp_path);
				i_free(buf);
				return -1;
			}
		}
		if (ret == 0)
			break;
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			posix_fail(pop, errno, use_rw ? "read" :
				   "copy_file_range", pop->path);
			i_free(buf);
			return -1;
		}
	}
	i_free(buf);
	return 0;
}

/* Copy through a temporary file: for filesystems without hard links,
   inodes at their link limit, or copy=data. */
static void posix_copy_by_data(struct posix_op *pop, bool overwrite)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);

	int src_fd = openat(pstore->root_fd, pop->path, O_RDONLY | O_CLOEXEC);
	if (src_fd < 0) {
		posix_fail(pop, errno, "open", pop->path);
		return;
	}
	pop->fd = openat(pstore->root_fd, pop->tmp_path,
			 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			 POSIX_FILE_MODE);
	if (pop->fd < 0) {
		posix_fail(pop, errno, "open", pop->tmp_path);
		close(src_fd);
		return;
	}
	pop->tmp_created = true;
	/* header mode: the header is part of the data */
	if ((pstore->metadata_mode == POSIX_METADATA_XATTR &&
	     posix_xattr_copy(pop, src_fd, pop->fd) < 0) ||
	    posix_copy_data(pop, src_fd, pop->fd) < 0) {
		close(src_fd);
		posix_tmp_remove(pop);
		return;
	}
	close(src_fd);
	if (pstore->fsync && (pop->op.flags & BLOB_FLAG_NO_SYNC) == 0 &&
	    fsync(pop->fd) < 0) {
		posix_fail(pop, errno, "fsync", pop->tmp_path);
		posix_tmp_remove(pop);
		return;
	}
	close(pop->fd);
	pop->fd = -1;
	int ret = posix_rename_into_place(pop, pop->tmp_path, pop->dest_path,
					  pop->dest_dir, overwrite);
	if (ret == -1) {
		if (errno == EEXIST) {
			posix_fail_text(pop, BLOB_ERROR_EXISTS, i_strdup_printf(
				"Object '%s' already exists",
				pop->op.dest_key));
		} else {
			posix_fail(pop, errno, "rename", pop->dest_path);
		}
	}
	if (ret < 0) {
		posix_tmp_remove(pop);
		return;
	}
	pop->tmp_created = false;
	(void)posix_fsync_dir(pop, pop->dest_dir);
}

static bool posix_link_unsupported(int err)
{
	/* no hard links here, or the inode has as many as it can take */
	return err == EPERM || err == EMLINK || err == EXDEV ||
		err == EOPNOTSUPP || err == ENOSYS;
}

static void posix_copy(struct posix_op *pop)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	bool overwrite = (pop->op.flags & BLOB_FLAG_OVERWRITE) != 0;
	struct stat st;
	int ret;

	if (pstore->copy_data) {
		posix_copy_by_data(pop, overwrite);
		return;
	}
	/* Objects are immutable, so a copy can share the inode. Without
	   overwrite, link() at the destination is the atomic "create if
	   absent"; with it, link to a temporary name and rename over. */
	const char *target = overwrite ? pop->tmp_path : pop->dest_path;
	ret = linkat(pstore->root_fd, pop->path, pstore->root_fd, target, 0);
	if (ret < 0 && errno == ENOENT) {
		if (fstatat(pstore->root_fd, pop->path, &st, 0) < 0) {
			posix_fail(pop, errno, "stat", pop->path);
			return;
		}
		if (!overwrite) {
			if (posix_mkdirs(pop, pop->dest_dir) < 0)
				return;
			ret = linkat(pstore->root_fd, pop->path,
				     pstore->root_fd, target, 0);
		}
	}
	if (ret < 0 && posix_link_unsupported(errno)) {
		posix_copy_by_data(pop, overwrite);
		return;
	}
	if (ret < 0) {
		if (errno == EEXIST) {
			posix_fail_text(pop, BLOB_ERROR_EXISTS, i_strdup_printf(
				"Object '%s' already exists",
				pop->op.dest_key));
		} else {
			posix_fail(pop, errno, "link", target);
		}
		return;
	}
	if (overwrite) {
		pop->tmp_created = true;
		ret = posix_rename_into_place(pop, pop->tmp_path,
					      pop->dest_path, pop->dest_dir,
					      true);
		if (ret == -1)
			posix_fail(pop, errno, "rename", pop->dest_path);
		/* Renaming a link onto another link of the same inode does
		   nothing and leaves the source: remove it either way. */
		posix_tmp_remove(pop);
		if (ret < 0)
			return;
	}
	(void)posix_fsync_dir(pop, pop->dest_dir);
}

/* --- listing --- */

static int posix_name_cmp(const void *p1, const void *p2)
{
	const char *const *s1 = p1, *const *s2 = p2;
	return strcmp(*s1, *s2);
}

static void posix_names_trim(struct posix_list_names *names,
			     unsigned int keep)
{
	if (names->count > 1) {
		qsort(names->names, names->count, sizeof(char *),
		      posix_name_cmp);
	}
	for (unsigned int i = keep; i < names->count; i++)
		i_free(names->names[i]);
	if (names->count > keep)
		names->count = keep;
}

/* Keep the smallest names->keep names seen: trimming when the array
   reaches twice that keeps memory bounded whatever the directory's
   size. */
static void posix_names_add(struct posix_list_names *names, char *name)
{
	if (names->count == names->alloc) {
		if (names->count >= names->keep * 2) {
			posix_names_trim(names, names->keep);
		} else {
			unsigned int new_alloc = I_MAX(names->alloc * 2, 64);
			names->names = i_realloc(names->names,
						 sizeof(char *) * names->alloc,
						 sizeof(char *) * new_alloc);
			names->alloc = new_alloc;
		}
	}
	names->names[names->count++] = name;
}

static bool posix_is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool posix_is_fanout_name(const char *name)
{
	return posix_is_hex(name[0]) && posix_is_hex(name[1]) &&
		name[2] == '\0';
}

/* Add the keys in dir that match the listing. */
static int posix_list_dir(struct posix_op *pop, const char *dir)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct blob_op *op = &pop->op;
	size_t prefix_len = strlen(op->list_prefix);

	int fd = openat(pstore->root_fd, dir, O_RDONLY | O_DIRECTORY |
			O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		posix_fail(pop, errno, "open", dir);
		return -1;
	}
	DIR *dirp = fdopendir(fd);
	if (dirp == NULL) {
		posix_fail(pop, errno, "fdopendir", dir);
		close(fd);
		return -1;
	}
	struct dirent *d;
	errno = 0;
	while ((d = readdir(dirp)) != NULL) {
		const char *name = d->d_name;
		if (name[0] == '.' &&
		    (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (d->d_type == DT_DIR)
			continue;
		/* file name -> key; anything that is not ours is skipped */
		char *key = i_strdup(name);
		bool ok = true;
		for (char *p = key; *p != '\0'; p++) {
			if (*p == '%')
				*p = '/';
			else if (!((*p >= 'a' && *p <= 'z') ||
				   (*p >= 'A' && *p <= 'Z') ||
				   (*p >= '0' && *p <= '9') ||
				   strchr("-_.@+=,~", *p) != NULL))
				ok = false;
		}
		if (!ok || strncmp(key, op->list_prefix, prefix_len) != 0 ||
		    (op->list_after != NULL &&
		     strcmp(key, op->list_after) <= 0)) {
			i_free(key);
			continue;
		}
		posix_names_add(&pop->list, key);
	}
	int ret = 0;
	if (errno != 0) {
		posix_fail(pop, errno, "readdir", dir);
		ret = -1;
	}
	closedir(dirp);
	return ret;
}

/* Call posix_list_dir() for every fan-out directory at depth levels
   below dir. */
static int posix_list_fanout(struct posix_op *pop, const char *dir,
			     unsigned int levels)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);

	if (levels == 0)
		return posix_list_dir(pop, dir);
	int fd = openat(pstore->root_fd, dir, O_RDONLY | O_DIRECTORY |
			O_CLOEXEC);
	if (fd < 0) {
		posix_fail(pop, errno, "open", dir);
		return -1;
	}
	DIR *dirp = fdopendir(fd);
	if (dirp == NULL) {
		posix_fail(pop, errno, "fdopendir", dir);
		close(fd);
		return -1;
	}
	/* sorted, so that the scan order does not depend on readdir */
	struct posix_list_names subdirs = { .keep = 1000 };
	struct dirent *d;
	while ((d = readdir(dirp)) != NULL) {
		if (posix_is_fanout_name(d->d_name))
			posix_names_add(&subdirs, i_strdup(d->d_name));
	}
	closedir(dirp);
	posix_names_trim(&subdirs, subdirs.count);
	int ret = 0;
	for (unsigned int i = 0; i < subdirs.count; i++) {
		char sub[64];
		snprintf(sub, sizeof(sub), "%s/%s", dir, subdirs.names[i]);
		if (ret == 0 && posix_list_fanout(pop, sub, levels - 1) < 0)
			ret = -1;
		i_free(subdirs.names[i]);
	}
	i_free(subdirs.names);
	return ret;
}

static void posix_list(struct posix_op *pop, const char *prefix_dir)
{
	struct posix_store *pstore = POSIX_STORE(pop->op.store);
	struct blob_op *op = &pop->op;
	int ret;

	pop->list.keep = op->list_max + 1;
	if (prefix_dir != NULL)
		ret = posix_list_dir(pop, prefix_dir);
	else
		ret = posix_list_fanout(pop, POSIX_OBJECTS_DIR, pstore->fanout);
	if (ret < 0)
		return;
	posix_names_trim(&pop->list, op->list_max + 1);
	if (pop->list.count > op->list_max) {
		pop->list_truncated = true;
		posix_names_trim(&pop->list, op->list_max);
	}

	pop->list_sizes = i_new(uint64_t, pop->list.count + 1);
	pop->list_mtimes = i_new(time_t, pop->list.count + 1);
	for (unsigned int i = 0; i < pop->list.count; i++) {
		char *name = posix_key_filename(pop->list.names[i]);
		char path[512];
		struct stat st;
		const char *dir = prefix_dir;
		char dirbuf[64];

		if (dir == NULL) {
			posix_fanout_dir(pstore, pop->list.names[i], dirbuf,
					 sizeof(dirbuf));
			dir = dirbuf;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		i_free(name);
		if (pstore->metadata_mode == POSIX_METADATA_HEADER) {
			/* the size excludes the header: read it */
			pop->have_stat = false;
			int fd = posix_open_object(pop, path, false);
			if (fd >= 0) {
				close(fd);
				pop->list_sizes[i] = pop->size;
				pop->list_mtimes[i] = pop->mtime;
				continue;
			}
			if (pop->err == BLOB_ERROR_NOT_FOUND) {
				/* deleted since the scan */
				pop->err = BLOB_ERROR_NONE;
				i_free(pop->err_text);
				pop->list_mtimes[i] = -1;
				continue;
			}
			return;
		}
		if (fstatat(pstore->root_fd, path, &st, 0) < 0) {
			if (errno == ENOENT) {
				pop->list_mtimes[i] = -1;
				continue;
			}
			posix_fail(pop, errno, "stat", path);
			return;
		}
		pop->list_sizes[i] = (uint64_t)st.st_size;
		pop->list_mtimes[i] = st.st_mtim.tv_sec;
	}
}

/* --- dispatch --- */

/* The work of one request; in a worker thread, or inline for sync ops. */
static void posix_work(void *context)
{
	struct posix_op *pop = context;
	struct blob_op *op = &pop->op;

	switch (op->req) {
	case BLOB_REQ_HEAD:
		posix_head(pop);
		break;
	case BLOB_REQ_DELETE:
		posix_delete(pop);
		break;
	case BLOB_REQ_COPY:
		posix_copy(pop);
		break;
	case BLOB_REQ_LIST:
		/* with a '/' in the prefix, every match is in one fan-out
		   directory (pop->dir, made from the prefix) */
		posix_list(pop, pop->dir);
		break;
	case BLOB_REQ_PUT_WRITE:
		posix_put_write(pop);
		break;
	case BLOB_REQ_PUT_COMMIT:
		posix_put_commit(pop);
		break;
	case BLOB_REQ_PUT_DISCARD:
		posix_tmp_remove(pop);
		break;
	case BLOB_REQ_GET_READ:
		posix_get_read(pop);
		break;
	case BLOB_REQ_NONE:
		i_unreached();
	}
}

static void posix_list_results_free(struct posix_op *pop)
{
	for (unsigned int i = 0; i < pop->list.count; i++)
		i_free(pop->list.names[i]);
	i_free(pop->list.names);
	memset(&pop->list, 0, sizeof(pop->list));
	i_free(pop->list_sizes);
	i_free(pop->list_mtimes);
	pop->list_truncated = false;
}

/* Back in the loop thread: turn the work's results into the op's. */
static void posix_done(void *context)
{
	struct posix_op *pop = context;
	struct blob_op *op = &pop->op;

	if (pop->err != BLOB_ERROR_NONE) {
		blob_op_set_error(op, pop->err, "%s", pop->err_text);
		pop->err = BLOB_ERROR_NONE;
		i_free(pop->err_text);
	}
	if (pop->have_stat && !op->have_info) {
		op->have_info = true;
		op->info.size = pop->size;
		op->info.mtime = pop->mtime;
	}
	switch (op->req) {
	case BLOB_REQ_HEAD:
		for (const char *p = pop->meta_raw;
		     p != NULL && p < pop->meta_raw + pop->meta_raw_len;) {
			const char *value = p + strlen(p) + 1;
			blob_op_add_metadata(op, p, value);
			p = value + strlen(value) + 1;
		}
		blob_op_metadata_finish(op);
		break;
	case BLOB_REQ_GET_READ:
		op->read_ret = pop->read_ret;
		pop->read_ret = 0;
		break;
	case BLOB_REQ_LIST:
		for (unsigned int i = 0; op->error == BLOB_ERROR_NONE &&
		     i < pop->list.count; i++) {
			if (pop->list_mtimes[i] == -1)
				continue;
			struct blob_list_entry *e =
				array_append_space(&op->list_entries);
			e->key = p_strdup(op->result_pool, pop->list.names[i]);
			e->size = pop->list_sizes[i];
			e->mtime = pop->list_mtimes[i];
		}
		op->list_truncated = pop->list_truncated;
		posix_list_results_free(pop);
		break;
	default:
		break;
	}
	i_free(pop->meta_raw);
	pop->meta_raw_len = 0;
	blob_op_request_done(op);
}

static void posix_job_work(void *context)
{
	struct posix_job *pjob = context;

	posix_work(pjob->pop);
	/* pjob->pop may be gone once this is seen */
	pthread_mutex_lock(&posix_job_lock);
	pjob->finished = true;
	pthread_cond_broadcast(&posix_job_cond);
	pthread_mutex_unlock(&posix_job_lock);
}

static void posix_job_done(void *context)
{
	struct posix_job *pjob = context;

	if (!pjob->abandoned) {
		struct posix_op *pop = pjob->pop;
		pop->pjob = NULL;
		i_free(pjob);
		posix_done(pop);
	} else {
		i_free(pjob);
	}
}

static void posix_request(struct blob_op *op)
{
	struct posix_store *pstore = POSIX_STORE(op->store);
	struct posix_op *pop = POSIX_OP(op);

	posix_op_make_paths(pstore, pop);
	if (op->req == BLOB_REQ_LIST) {
		i_free(pop->dir);
		if (strchr(op->list_prefix, '/') != NULL)
			pop->dir = posix_key_dir(pstore, op->list_prefix);
	}
	if (op->req == BLOB_REQ_PUT_DISCARD && pop->fd < 0 &&
	    !pop->tmp_created) {
		/* nothing was written */
		blob_op_request_done(op);
		return;
	}
	if (op->sync || op->store->draining) {
		posix_work(pop);
		posix_done(pop);
		return;
	}
	if (op->nowait && op->req == BLOB_REQ_GET_READ &&
	    posix_get_read_nowait(pop)) {
		posix_done(pop);
		return;
	}
	if (posix_workers == NULL) {
		posix_workers = worker_pool_create(pstore->workers_count,
						   POSIX_MAX_QUEUE);
		posix_workers_ioloop = current_ioloop;
	}
	/* the pool reports to the loop it was created under */
	i_assert(posix_workers_ioloop == current_ioloop);
	struct posix_job *pjob = i_new(struct posix_job, 1);
	pjob->pop = pop;
	pjob->job = worker_pool_run(posix_workers, posix_job_work,
				    posix_job_done, pjob);
	if (pjob->job == NULL) {
		i_free(pjob);
		blob_op_set_error(op, BLOB_ERROR_TEMPORARY,
				  "Too many blob I/O requests queued (%u)",
				  POSIX_MAX_QUEUE);
		blob_op_request_done(op);
		return;
	}
	pop->pjob = pjob;
}

static struct blob_op *posix_op_alloc(void)
{
	struct posix_op *pop = i_new(struct posix_op, 1);
	pop->fd = -1;
	return &pop->op;
}

static void posix_op_deinit(struct blob_op *op)
{
	struct posix_op *pop = POSIX_OP(op);

	i_assert(pop->pjob == NULL);
	/* a put is always committed or discarded before it is freed; this
	   is only a safety net (and closes a get's fd) */
	posix_tmp_remove(pop);
	i_free(pop->err_text);
	i_free(pop->meta_raw);
	posix_list_results_free(pop);
	i_free(pop->path);
	i_free(pop->dir);
	i_free(pop->dest_path);
	i_free(pop->dest_dir);
	i_free(pop->tmp_path);
}

static bool posix_drain(struct blob_store *store)
{
	struct blob_op *op;
	bool any = false;

	/* Finish this store's requests in the shared pool: run the ones
	   that have not started here (a discard must still remove its
	   temporary file), wait for the running ones' work. Each
	   completion may free ops, so rescan after every one. */
	do {
		for (op = store->ops; op != NULL; op = op->next) {
			if (POSIX_OP(op)->pjob != NULL)
				break;
		}
		if (op == NULL)
			break;
		struct posix_op *pop = POSIX_OP(op);
		struct posix_job *pjob = pop->pjob;
		pop->pjob = NULL;
		if (worker_job_cancel(&pjob->job)) {
			i_free(pjob);
			posix_work(pop);
		} else {
			pthread_mutex_lock(&posix_job_lock);
			while (!pjob->finished)
				pthread_cond_wait(&posix_job_cond,
						  &posix_job_lock);
			pthread_mutex_unlock(&posix_job_lock);
			/* the pool's done callback only frees the ticket */
			pjob->abandoned = true;
		}
		posix_done(pop);
		any = true;
	} while (op != NULL);
	return any;
}

/* --- init --- */

static int posix_parse_metadata_mode(const char *value,
				     enum posix_metadata_mode *mode_r)
{
	if (strcmp(value, "xattr") == 0)
		*mode_r = POSIX_METADATA_XATTR;
	else if (strcmp(value, "header") == 0)
		*mode_r = POSIX_METADATA_HEADER;
	else
		return -1;
	return 0;
}

static const char *posix_metadata_mode_name(enum posix_metadata_mode mode)
{
	return mode == POSIX_METADATA_HEADER ? "header" : "xattr";
}

/* Whether this filesystem takes user xattrs. */
static int posix_probe_xattr(struct posix_store *pstore,
			     enum posix_metadata_mode *mode_r,
			     const char **error_r)
{
	const char *path = t_strdup_printf(POSIX_TMP_DIR"/%s.probe",
					   pstore->tmp_prefix);

	int fd = openat(pstore->root_fd, path, O_WRONLY | O_CREAT | O_EXCL |
			O_CLOEXEC, POSIX_FILE_MODE);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s/%s) failed: %m",
					   pstore->root, path);
		return -1;
	}
	int ret = fsetxattr(fd, POSIX_XATTR_PREFIX"probe", "1", 1, 0);
	int saved = errno;
	close(fd);
	(void)unlinkat(pstore->root_fd, path, 0);
	if (ret == 0) {
		*mode_r = POSIX_METADATA_XATTR;
	} else if (saved == ENOTSUP || saved == EPERM) {
		*mode_r = POSIX_METADATA_HEADER;
	} else {
		errno = saved;
		*error_r = t_strdup_printf("fsetxattr(%s/%s) failed: %m",
					   pstore->root, path);
		return -1;
	}
	return 0;
}

/* The marker file fixes the layout (fan-out depth, metadata mode) for the
   store's lifetime: objects written one way cannot be read another. */
static int posix_marker_read(struct posix_store *pstore, bool *exists_r,
			     unsigned int *fanout_r,
			     enum posix_metadata_mode *mode_r,
			     const char **error_r)
{
	char buf[512];

	*exists_r = false;
	int fd = openat(pstore->root_fd, POSIX_MARKER_NAME,
			O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s/"POSIX_MARKER_NAME
					   ") failed: %m", pstore->root);
		return -1;
	}
	ssize_t ret = posix_pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (ret < 0) {
		*error_r = t_strdup_printf("read(%s/"POSIX_MARKER_NAME
					   ") failed: %m", pstore->root);
		return -1;
	}
	buf[ret] = '\0';
	bool format_ok = false, fanout_ok = false, mode_ok = false;
	const char *const *lines = t_strsplit(buf, "\n");
	for (; *lines != NULL; lines++) {
		const char *line = *lines;
		if (strcmp(line, "format=1") == 0)
			format_ok = true;
		else if (str_begins(line, "fanout="))
			fanout_ok = str_to_uint(line + 7, fanout_r) == 0 &&
				*fanout_r <= 2;
		else if (str_begins(line, "metadata="))
			mode_ok = posix_parse_metadata_mode(line + 9,
							    mode_r) == 0;
	}
	if (!format_ok || !fanout_ok || !mode_ok) {
		*error_r = t_strdup_printf("%s/"POSIX_MARKER_NAME
			" is not a blob store marker of a known format",
			pstore->root);
		return -1;
	}
	*exists_r = true;
	return 0;
}

static int posix_marker_write(struct posix_store *pstore,
			      const char **error_r)
{
	const char *tmp = t_strdup_printf(POSIX_TMP_DIR"/%s.marker",
					  pstore->tmp_prefix);
	const char *text = t_strdup_printf(
		"format=1\nfanout=%u\nmetadata=%s\n", pstore->fanout,
		posix_metadata_mode_name(pstore->metadata_mode));

	int fd = openat(pstore->root_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
			O_CLOEXEC, 0644);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s/%s) failed: %m",
					   pstore->root, tmp);
		return -1;
	}
	if (posix_write_full(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		*error_r = t_strdup_printf("write(%s/%s) failed: %m",
					   pstore->root, tmp);
		close(fd);
		return -1;
	}
	close(fd);
	if (renameat(pstore->root_fd, tmp, pstore->root_fd,
		     POSIX_MARKER_NAME) < 0 || fsync(pstore->root_fd) < 0) {
		*error_r = t_strdup_printf("rename(%s/"POSIX_MARKER_NAME
					   ") failed: %m", pstore->root);
		return -1;
	}
	return 0;
}

static int posix_parse_args(struct posix_store *pstore, const char *args,
			    unsigned int *fanout_r, bool *fanout_set_r,
			    enum posix_metadata_mode *mode_r,
			    const char **error_r)
{
	const char *p = args;

	/* options are fields with '=' before the path; the path is the
	   rest and may hold ':' ("./a=b" for a relative path with '=') */
	while (*p != '\0' && *p != '/' && *p != '.') {
		const char *end = strchr(p, ':');
		const char *field = end == NULL ? p :
			t_strndup(p, (size_t)(end - p));
		const char *eq = strchr(field, '=');
		if (eq == NULL)
			break;
		const char *key = t_strndup(field, (size_t)(eq - field));
		const char *value = eq + 1;
		if (strcmp(key, "fanout") == 0) {
			if (str_to_uint(value, fanout_r) < 0 ||
			    *fanout_r > 2) {
				*error_r = "fanout must be 0, 1 or 2";
				return -1;
			}
			*fanout_set_r = true;
		} else if (strcmp(key, "metadata") == 0) {
			if (posix_parse_metadata_mode(value, mode_r) < 0) {
				*error_r = "metadata must be xattr or header";
				return -1;
			}
		} else if (strcmp(key, "fsync") == 0) {
			if (strcmp(value, "yes") != 0 &&
			    strcmp(value, "no") != 0) {
				*error_r = "fsync must be yes or no";
				return -1;
			}
			pstore->fsync = strcmp(value, "yes") == 0;
		} else if (strcmp(key, "copy") == 0) {
			if (strcmp(value, "link") != 0 &&
			    strcmp(value, "data") != 0) {
				*error_r = "copy must be link or data";
				return -1;
			}
			pstore->copy_data = strcmp(value, "data") == 0;
		} else if (strcmp(key, "workers") == 0) {
			if (str_to_uint(value, &pstore->workers_count) < 0 ||
			    pstore->workers_count == 0 ||
			    pstore->workers_count > 256) {
				*error_r = "workers must be 1..256";
				return -1;
			}
		} else {
			*error_r = t_strdup_printf("Unknown option '%s'",
						   str_sanitize(key, 64));
			return -1;
		}
		if (end == NULL) {
			p += strlen(p);
			break;
		}
		p = end + 1;
	}
	if (*p == '\0') {
		*error_r = "Missing directory (posix:[options:]/path)";
		return -1;
	}
	pstore->root = i_strdup(p);
	return 0;
}

static int posix_init(struct blob_store *store, const char *args,
		      const char **error_r)
{
	struct posix_store *pstore = POSIX_STORE(store);
	enum posix_metadata_mode mode = POSIX_METADATA_UNSET;
	enum posix_metadata_mode marker_mode;
	unsigned int fanout = 2, marker_fanout;
	bool fanout_set = false, marker_exists;
	uint64_t nonce;

	posix_store_count++;
	pstore->root_fd = -1;
	pstore->fsync = true;
	pstore->workers_count = POSIX_DEFAULT_WORKERS;
	if (posix_parse_args(pstore, args, &fanout, &fanout_set, &mode,
			     error_r) < 0)
		return -1;

	/* unique across processes and restarts: a crashed writer's
	   temporary file must never collide with a new one */
	if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
		i_fatal("getrandom() failed: %m");
	snprintf(pstore->tmp_prefix, sizeof(pstore->tmp_prefix),
		 "%016"PRIx64".%ld", nonce, (long)getpid());

	if (mkdir(pstore->root, POSIX_DIR_MODE) < 0 && errno != EEXIST) {
		*error_r = t_strdup_printf("mkdir(%s) failed: %m",
					   pstore->root);
		return -1;
	}
	pstore->root_fd = open(pstore->root, O_RDONLY | O_DIRECTORY |
			       O_CLOEXEC);
	if (pstore->root_fd < 0) {
		*error_r = t_strdup_printf("open(%s) failed: %m",
					   pstore->root);
		return -1;
	}
	if ((mkdirat(pstore->root_fd, POSIX_OBJECTS_DIR, POSIX_DIR_MODE) < 0 &&
	     errno != EEXIST) ||
	    (mkdirat(pstore->root_fd, POSIX_TMP_DIR, POSIX_DIR_MODE) < 0 &&
	     errno != EEXIST)) {
		*error_r = t_strdup_printf("mkdir(%s/...) failed: %m",
					   pstore->root);
		return -1;
	}
	if (posix_marker_read(pstore, &marker_exists, &marker_fanout,
			      &marker_mode, error_r) < 0)
		return -1;
	if (marker_exists) {
		if ((fanout_set && fanout != marker_fanout) ||
		    (mode != POSIX_METADATA_UNSET && mode != marker_mode)) {
			*error_r = t_strdup_printf(
				"%s was created with fanout=%u metadata=%s",
				pstore->root, marker_fanout,
				posix_metadata_mode_name(marker_mode));
			return -1;
		}
		pstore->fanout = marker_fanout;
		pstore->metadata_mode = marker_mode;
		return 0;
	}
	pstore->fanout = fanout;
	if (mode == POSIX_METADATA_UNSET) {
		if (posix_probe_xattr(pstore, &mode, error_r) < 0)
			return -1;
	}
	pstore->metadata_mode = mode;
	return posix_marker_write(pstore, error_r);
}

static void posix_deinit(struct blob_store *store)
{
	struct posix_store *pstore = POSIX_STORE(store);

	/* the last store takes the threads with it (never from inside the
	   pool's dispatch: destroying a store from a blob callback is not
	   allowed, and other stores' callbacks mean other stores) */
	i_assert(posix_store_count > 0);
	if (--posix_store_count == 0) {
		worker_pool_destroy(&posix_workers);
		posix_workers_ioloop = NULL;
	}
	if (pstore->root_fd >= 0 && close(pstore->root_fd) < 0)
		i_error("close(%s) failed: %m", pstore->root);
	i_free(pstore->root);
	i_free(pstore->dir_memo_top);
	i_free(pstore->dir_memo);
}

static struct blob_store *posix_alloc(void)
{
	struct posix_store *pstore = i_new(struct posix_store, 1);
	return &pstore->store;
}

/* syncfs(): the objects put without their own fsync, their directories
   and renames, all in one flush of the store's filesystem. */
static int posix_sync(struct blob_store *store, const char **error_r)
{
	struct posix_store *pstore = POSIX_STORE(store);

	if (!pstore->fsync)
		return 0;
	if (syncfs(pstore->root_fd) < 0) {
		*error_r = t_strdup_printf("syncfs(%s) failed: %m",
					   pstore->root);
		return -1;
	}
	return 0;
}

static int posix_get_syncfs_fd(struct blob_store *store)
{
	struct posix_store *pstore = POSIX_STORE(store);

	return pstore->fsync ? pstore->root_fd : -1;
}

static int posix_cleanup_temp(struct blob_store *store,
			      unsigned int min_age_secs,
			      unsigned int *removed_r, const char **error_r)
{
	struct posix_store *pstore = POSIX_STORE(store);
	time_t limit = time(NULL) - (time_t)min_age_secs;
	struct stat st;

	int fd = openat(pstore->root_fd, POSIX_TMP_DIR, O_RDONLY |
			O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = t_strdup_printf("open(%s/"POSIX_TMP_DIR
					   ") failed: %m", pstore->root);
		return -1;
	}
	DIR *dirp = fdopendir(fd);
	if (dirp == NULL) {
		*error_r = t_strdup_printf("fdopendir(%s/"POSIX_TMP_DIR
					   ") failed: %m", pstore->root);
		close(fd);
		return -1;
	}
	int ret = 0;
	struct dirent *d;
	while ((d = readdir(dirp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			*error_r = t_strdup_printf("stat(%s/"POSIX_TMP_DIR
				"/%s) failed: %m", pstore->root, d->d_name);
			ret = -1;
			break;
		}
		/* mtime moves with every write: only idle files age */
		if (!S_ISREG(st.st_mode) || st.st_mtime > limit)
			continue;
		if (unlinkat(fd, d->d_name, 0) < 0) {
			if (errno == ENOENT)
				continue;
			*error_r = t_strdup_printf("unlink(%s/"POSIX_TMP_DIR
				"/%s) failed: %m", pstore->root, d->d_name);
			ret = -1;
			break;
		}
		(*removed_r)++;
	}
	closedir(dirp);
	return ret;
}

const struct blob_store_vfuncs blob_driver_posix = {
	.name = "posix",
	.alloc = posix_alloc,
	.init = posix_init,
	.deinit = posix_deinit,
	.drain = posix_drain,
	.op_alloc = posix_op_alloc,
	.op_deinit = posix_op_deinit,
	.request = posix_request,
	.cleanup_temp = posix_cleanup_temp,
	.sync = posix_sync,
	.get_syncfs_fd = posix_get_syncfs_fd,
};
