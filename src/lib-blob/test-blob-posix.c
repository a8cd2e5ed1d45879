/* Tests for the blob API over the posix driver, in both metadata modes:
   round trips (sync and async), immutability, ranges, metadata, listing
   in pages, invalid keys, copy, aborts, temp cleanup, many requests in
   flight, events, and that no callback runs inside the call that
   started it. */
#include "test-lib-blob.h"
#include "event.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define CHUNK (128 * 1024)

static const char *const test_modes[] = { "xattr", "header" };

static struct blob_store *posix_store(const char *options, const char **dir_r)
{
	const char *dir = test_blob_mkdir("posix");
	if (dir_r != NULL)
		*dir_r = dir;
	return test_blob_store_create(t_strdup_printf("posix:%s%s%s", options,
		*options == '\0' ? "" : ":", dir));
}

static unsigned int tmp_count(const char *dir)
{
	return test_blob_count_files(t_strdup_printf("%s/tmp", dir));
}

static unsigned int object_count(const char *dir)
{
	return test_blob_count_files(t_strdup_printf("%s/objects", dir));
}

/* Put size bytes of seeded content, synchronously. */
static int put_seeded(struct blob_store *store, const char *key,
		      uint64_t seed, size_t size, enum blob_flags flags,
		      struct blob_result *result_r)
{
	struct blob_put *put = blob_put_begin_sync(store, key, flags);
	unsigned char buf[8192];

	for (size_t pos = 0; pos < size;) {
		size_t n = I_MIN(sizeof(buf), size - pos);
		test_blob_fill(seed, pos, buf, n);
		if (blob_put_write(put, buf, n) < 0)
			break;
		pos += n;
	}
	return blob_put_finish_sync(&put, result_r);
}

/* Read key[offset, +length) synchronously and compare with the seeded
   content; returns the bytes read or -1. */
static int64_t get_check_sync(struct blob_store *store, const char *key,
			      uint64_t seed, uint64_t offset, uint64_t length,
			      enum blob_error *error_r)
{
	struct blob_get *get = blob_get_begin_sync(store, key, offset, length);
	struct blob_result result;
	const unsigned char *data;
	size_t size;
	uint64_t total = 0;
	bool ok = true;
	int ret;

	while ((ret = blob_get_read_data(get, &data, &size)) > 0) {
		if (!test_blob_check(seed, offset + total, data, size))
			ok = false;
		total += size;
		blob_get_skip(get, size);
	}
	test_assert(ret != BLOB_READ_WAIT);
	if (blob_get_info(get) != NULL)
		test_assert(blob_get_get_length(get) == total);
	ret = blob_get_end(&get, &result);
	*error_r = result.error;
	test_assert(ok);
	return ret < 0 ? -1 : (int64_t)total;
}

struct async_get {
	struct blob_get *get;
	uint64_t seed, offset, total;
	bool done, ok, opened;
	int end_ret;
	enum blob_error error;
};

static void async_get_ready(void *context)
{
	struct async_get *ag = context;
	const unsigned char *data;
	size_t size;
	int ret;

	if (blob_get_info(ag->get) != NULL)
		ag->opened = true;
	while ((ret = blob_get_read_data(ag->get, &data, &size)) > 0) {
		if (!test_blob_check(ag->seed, ag->offset + ag->total, data,
				     size))
			ag->ok = false;
		ag->total += size;
		blob_get_skip(ag->get, size);
	}
	if (ret == BLOB_READ_WAIT)
		return;
	struct blob_result result;
	ag->end_ret = blob_get_end(&ag->get, &result);
	ag->error = result.error;
	ag->done = true;
}

static int64_t get_check_async(struct ioloop *ioloop, struct blob_store *store,
			       const char *key, uint64_t seed, uint64_t offset,
			       uint64_t length, enum blob_error *error_r)
{
	struct async_get ag = { .seed = seed, .offset = offset, .ok = true };

	*error_r = BLOB_ERROR_IO;
	ag.get = blob_get_begin(store, key, offset, length);
	blob_get_set_callback(ag.get, async_get_ready, &ag);
	/* opening takes a loop round: nothing is known yet */
	test_assert(blob_get_info(ag.get) == NULL);
	if (!test_blob_run_until(ioloop, &ag.done)) {
		(void)blob_get_end(&ag.get, NULL);
		return -1;
	}
	test_assert(ag.ok);
	*error_r = ag.error;
	return ag.end_ret < 0 ? -1 : (int64_t)ag.total;
}

/* --- round trips --- */

static void test_posix_sync_roundtrip(void)
{
	for (unsigned int m = 0; m < N_ELEMENTS(test_modes); m++) T_BEGIN {
		const char *dir;
		struct blob_store *store = posix_store(t_strdup_printf(
			"metadata=%s", test_modes[m]), &dir);
		struct blob_result result;
		struct blob_info info;
		const struct blob_metadata_field md[] = {
			{ "uid", "42" }, { "flags", "\\Seen \\Answered" },
		};
		buffer_t *buf = buffer_create(system_pool, 64);

		test_begin(t_strdup_printf("blob posix %s: sync round trip",
					   test_modes[m]));
		test_assert(blob_put_data_sync(store, "bob/INBOX/1", "hello", 5,
					       md, N_ELEMENTS(md), 0,
					       &result) == 0);
		test_assert(result.error == BLOB_ERROR_NONE &&
			    result.internal_error == NULL);
		test_assert(blob_get_data_sync(store, "bob/INBOX/1", buf,
					       &result) == 0);
		test_assert(buf->used == 5 &&
			    memcmp(buf->data, "hello", 5) == 0);
		test_assert(blob_head_sync(store, "bob/INBOX/1", pool_datastack,
					   &info, &result) == 0);
		test_assert(info.size == 5);
		test_assert(info.mtime > time(NULL) - 60 &&
			    info.mtime <= time(NULL) + 1);
		test_assert(info.metadata_count == 2);
		if (info.metadata_count == 2) {
			/* sorted by name */
			test_assert_strcmp(info.metadata[0].name, "flags");
			test_assert_strcmp(info.metadata[0].value,
					   "\\Seen \\Answered");
			test_assert_strcmp(info.metadata[1].name, "uid");
			test_assert_strcmp(blob_info_get_metadata(&info, "uid"),
					   "42");
		}

		/* empty object, no metadata */
		test_assert(blob_put_data_sync(store, "empty", "", 0, NULL, 0,
					       0, &result) == 0);
		buffer_set_used_size(buf, 0);
		test_assert(blob_get_data_sync(store, "empty", buf,
					       &result) == 0);
		test_assert(buf->used == 0);
		test_assert(blob_head_sync(store, "empty", pool_datastack,
					   &info, &result) == 0);
		test_assert(info.size == 0 && info.metadata_count == 0);

		/* delete; deleting again is fine; the object is gone */
		test_assert(blob_delete_sync(store, "bob/INBOX/1",
					     &result) == 0);
		test_assert(blob_delete_sync(store, "bob/INBOX/1",
					     &result) == 0);
		test_assert(blob_head_sync(store, "bob/INBOX/1", pool_datastack,
					   &info, &result) < 0);
		test_assert(result.error == BLOB_ERROR_NOT_FOUND);
		test_assert(result.internal_error != NULL &&
			    strstr(result.internal_error, dir) != NULL);
		test_assert_strcmp(result.user_error, "Object not found");
		buffer_set_used_size(buf, 0);
		test_assert(blob_get_data_sync(store, "bob/INBOX/1", buf,
					       &result) < 0);
		test_assert(result.error == BLOB_ERROR_NOT_FOUND);
		test_assert(tmp_count(dir) == 0);
		buffer_free(&buf);
		blob_store_destroy(&store);
		test_end();
	} T_END;
}

struct drained_put {
	struct blob_put *put;
	uint64_t seed;
	size_t size, pos;
	unsigned int fulls;
	struct test_blob_wait *w;
};

/* Write until done or full; finish at the end. */
static void drained_put_continue(void *context)
{
	struct drained_put *dp = context;
	unsigned char buf[10000];

	while (dp->pos < dp->size) {
		if (blob_put_is_full(dp->put)) {
			dp->fulls++;
			return;
		}
		size_t n = I_MIN(sizeof(buf), dp->size - dp->pos);
		test_blob_fill(dp->seed, dp->pos, buf, n);
		if (blob_put_write(dp->put, buf, n) < 0)
			break;
		dp->pos += n;
	}
	blob_put_finish(&dp->put, test_blob_wait_cb, dp->w);
}

static void test_posix_async_roundtrip(void)
{
	for (unsigned int m = 0; m < N_ELEMENTS(test_modes); m++) T_BEGIN {
		struct ioloop *ioloop = ioloop_create();
		const char *dir;
		struct blob_store *store = posix_store(t_strdup_printf(
			"metadata=%s", test_modes[m]), &dir);
		struct test_blob_wait w = { 0 };
		const struct blob_metadata_field md[] = {
			{ "mailbox", "INBOX" },
		};
		enum blob_error error;

		test_begin(t_strdup_printf("blob posix %s: async round trip",
					   test_modes[m]));
		struct blob_request *req =
			blob_put_data(store, "u/1", "data", 4, md, 1, 0,
				      test_blob_wait_cb, &w);
		test_assert(req != NULL);
		/* never inside the call */
		test_assert(!w.done);
		test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);

		memset(&w, 0, sizeof(w));
		(void)blob_head(store, "u/1", test_blob_wait_head_cb, &w);
		test_assert(!w.done);
		test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);
		test_assert(w.info.size == 4);
		test_assert_strcmp(w.metadata, "mailbox=INBOX;");

		/* a streamed put of several chunks, with back-pressure */
		struct test_blob_wait pw = { 0 };
		struct drained_put dp = {
			.seed = 77, .size = 5 * CHUNK + 17, .w = &pw,
		};
		dp.put = blob_put_begin(store, "u/big", 0);
		blob_put_set_metadata(dp.put, "size", "big");
		blob_put_set_drained_callback(dp.put, drained_put_continue,
					      &dp);
		drained_put_continue(&dp);
		test_assert(test_blob_wait(ioloop, &pw) == BLOB_ERROR_NONE);
		test_assert(dp.fulls > 0);
		test_assert(get_check_async(ioloop, store, "u/big", 77, 0,
					    UINT64_MAX, &error) ==
			    5 * CHUNK + 17);
		test_assert(error == BLOB_ERROR_NONE);

		memset(&w, 0, sizeof(w));
		(void)blob_delete(store, "u/big", test_blob_wait_cb, &w);
		test_assert(!w.done);
		test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);
		memset(&w, 0, sizeof(w));
		(void)blob_head(store, "u/big", test_blob_wait_head_cb, &w);
		test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NOT_FOUND);
		test_assert(get_check_async(ioloop, store, "u/big", 77, 0,
					    UINT64_MAX, &error) == -1);
		test_assert(error == BLOB_ERROR_NOT_FOUND);

		/* an invalid key fails from the loop too */
		memset(&w, 0, sizeof(w));
		(void)blob_head(store, "../etc", test_blob_wait_head_cb, &w);
		test_assert(!w.done);
		test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_INVALID);

		test_assert(tmp_count(dir) == 0);
		blob_store_destroy(&store);
		test_assert(ioloop_io_count(ioloop) == 0);
		ioloop_destroy(&ioloop);
		test_end();
	} T_END;
}

/* --- immutability --- */

static void test_posix_immutable(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *dir;
	struct blob_store *store = posix_store("", &dir);
	struct blob_result result;
	struct test_blob_wait w = { 0 };
	enum blob_error error;

	test_begin("blob posix: objects are immutable (EXISTS)");
	test_assert(put_seeded(store, "k", 1, 1000, 0, &result) == 0);
	test_assert(put_seeded(store, "k", 2, 2000, 0, &result) < 0);
	test_assert(result.error == BLOB_ERROR_EXISTS);
	test_assert_strcmp(result.user_error, "Object already exists");
	test_assert(get_check_sync(store, "k", 1, 0, UINT64_MAX,
				   &error) == 1000);

	/* a multi-chunk put to an existing key: EXISTS, nothing left */
	test_assert(put_seeded(store, "k", 3, 3 * CHUNK, 0, &result) < 0);
	test_assert(result.error == BLOB_ERROR_EXISTS);
	test_assert(tmp_count(dir) == 0);

	(void)blob_put_data(store, "k", "x", 1, NULL, 0, 0,
			    test_blob_wait_cb, &w);
	test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_EXISTS);
	test_assert(get_check_sync(store, "k", 1, 0, UINT64_MAX,
				   &error) == 1000);

	/* overwrite replaces */
	test_assert(put_seeded(store, "k", 4, 3000, BLOB_FLAG_OVERWRITE,
			       &result) == 0);
	test_assert(get_check_sync(store, "k", 4, 0, UINT64_MAX,
				   &error) == 3000);
	memset(&w, 0, sizeof(w));
	(void)blob_put_data(store, "k", "x", 1, NULL, 0, BLOB_FLAG_OVERWRITE,
			    test_blob_wait_cb, &w);
	test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);
	buffer_t *buf = buffer_create(system_pool, 16);
	test_assert(blob_get_data_sync(store, "k", buf, &result) == 0);
	test_assert(buf->used == 1 && buf->data[0] == 'x');
	buffer_free(&buf);
	test_assert(tmp_count(dir) == 0);
	test_assert(object_count(dir) == 1);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- ranges --- */

static void test_posix_ranges(void)
{
	const uint64_t size = 3 * CHUNK + 123;
	const struct {
		uint64_t offset, length, expected;
	} ranges[] = {
		{ 0, UINT64_MAX, size },
		{ 0, size, size },
		{ 0, 0, 0 },
		{ 10, 0, 0 },
		{ size, 0, 0 },
		{ size, 10, 0 },
		{ size - 1, 10, 1 },
		{ size + 1, 10, 0 },
		{ UINT64_MAX - 5, 100, 0 },
		{ size - 10, UINT64_MAX, 10 },
		{ CHUNK - 1, 2, 2 },
		{ 100, CHUNK * 2, CHUNK * 2 },
		{ 1, size - 1, size - 1 },
		{ 1, size, size - 1 },
		{ 0, 1, 1 },
	};

	for (unsigned int m = 0; m < N_ELEMENTS(test_modes); m++) T_BEGIN {
		struct ioloop *ioloop = ioloop_create();
		struct blob_store *store = posix_store(t_strdup_printf(
			"metadata=%s", test_modes[m]), NULL);
		struct blob_result result;
		enum blob_error error;

		test_begin(t_strdup_printf("blob posix %s: get ranges",
					   test_modes[m]));
		test_assert(put_seeded(store, "r/obj", 5, size, 0,
				       &result) == 0);
		for (unsigned int i = 0; i < N_ELEMENTS(ranges); i++) {
			int64_t n = get_check_sync(store, "r/obj", 5,
						   ranges[i].offset,
						   ranges[i].length, &error);
			test_assert_idx(n == (int64_t)ranges[i].expected, i);
			n = get_check_async(ioloop, store, "r/obj", 5,
					    ranges[i].offset, ranges[i].length,
					    &error);
			test_assert_idx(n == (int64_t)ranges[i].expected, i);
		}
		/* a range of a missing object is NOT_FOUND, not empty */
		test_assert(get_check_sync(store, "r/none", 5, 0, 0,
					   &error) < 0);
		test_assert(error == BLOB_ERROR_NOT_FOUND);

		/* the copying read and the open info */
		struct blob_get *get =
			blob_get_begin_sync(store, "r/obj", 7, 5);
		unsigned char buf[3];
		test_assert(blob_get_info(get) != NULL &&
			    blob_get_info(get)->size == size);
		test_assert(blob_get_get_length(get) == 5);
		test_assert(blob_get_read(get, buf, 3) == 3);
		test_assert(test_blob_check(5, 7, buf, 3));
		test_assert(blob_get_read(get, buf, 3) == 2);
		test_assert(test_blob_check(5, 10, buf, 2));
		test_assert(blob_get_read(get, buf, 3) == BLOB_READ_EOF);
		test_assert(blob_get_end(&get, NULL) == 0);
		test_assert(get == NULL);

		/* ending a get in the middle, with a read in flight */
		get = blob_get_begin(store, "r/obj", 0, UINT64_MAX);
		blob_get_end(&get, NULL);
		blob_store_destroy(&store);
		ioloop_destroy(&ioloop);
		test_end();
	} T_END;
}

/* --- metadata --- */

static void test_posix_metadata(void)
{
	for (unsigned int m = 0; m < N_ELEMENTS(test_modes); m++) T_BEGIN {
		const char *dir;
		struct blob_store *store = posix_store(t_strdup_printf(
			"metadata=%s", test_modes[m]), &dir);
		struct blob_result result;
		struct blob_info info;
		char big[BLOB_METADATA_MAX_SIZE + 1];

		test_begin(t_strdup_printf("blob posix %s: metadata",
					   test_modes[m]));
		/* replacing a field; a field of exactly the maximum size */
		struct blob_put *put = blob_put_begin_sync(store, "m/1", 0);
		blob_put_set_metadata(put, "a", "1");
		blob_put_set_metadata(put, "a", "2");
		/* names and values add up to exactly the limit */
		memset(big, 'v', sizeof(big));
		big[BLOB_METADATA_MAX_SIZE - 4] = '\0';
		blob_put_set_metadata(put, "bb", big);
		test_assert(blob_put_write(put, "x", 1) == 0);
		test_assert(blob_put_get_size(put) == 1);
		test_assert(blob_put_finish_sync(&put, &result) == 0);
		test_assert(blob_head_sync(store, "m/1", pool_datastack, &info,
					   &result) == 0);
		test_assert(info.metadata_count == 2);
		test_assert_strcmp(blob_info_get_metadata(&info, "a"), "2");
		test_assert_strcmp(blob_info_get_metadata(&info, "bb"), big);
		test_assert(info.size == 1);

		/* one byte too many */
		put = blob_put_begin_sync(store, "m/2", 0);
		blob_put_set_metadata(put, "a", "12");
		blob_put_set_metadata(put, "bb", big);
		test_assert(blob_put_write(put, "x", 1) < 0);
		test_assert(blob_put_finish_sync(&put, &result) < 0);
		test_assert(result.error == BLOB_ERROR_INVALID);

		/* bad names and values */
		const struct blob_metadata_field bad[][1] = {
			{ { "Upper", "x" } }, { { "a", "line\nbreak" } },
			{ { "", "x" } }, { { "a.b", "x" } },
		};
		for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
			test_assert_idx(blob_put_data_sync(store, "m/3", "x", 1,
				bad[i], 1, 0, &result) < 0, i);
			test_assert_idx(result.error == BLOB_ERROR_INVALID, i);
		}
		test_assert(blob_head_sync(store, "m/2", pool_datastack, &info,
					   &result) < 0);
		test_assert(blob_head_sync(store, "m/3", pool_datastack, &info,
					   &result) < 0);
		test_assert(tmp_count(dir) == 0);
		test_assert(object_count(dir) == 1);

		/* the on-disk form */
		if (strcmp(test_modes[m], "header") == 0) {
			test_assert(blob_put_data_sync(store, "hdr", "body", 4,
				(const struct blob_metadata_field[]){
					{ "uid", "7" } }, 1, 0, &result) == 0);
			buffer_t *buf = buffer_create(system_pool, 64);
			test_assert(blob_get_data_sync(store, "hdr", buf,
						       &result) == 0);
			test_assert(buf->used == 4 &&
				    memcmp(buf->data, "body", 4) == 0);
			buffer_free(&buf);
		}
		blob_store_destroy(&store);
		test_end();
	} T_END;
}

/* --- listing --- */

static int str_p_cmp(const void *p1, const void *p2)
{
	const char *const *s1 = p1, *const *s2 = p2;
	return strcmp(*s1, *s2);
}

/* List prefix with page_size synchronously; compare with the sorted
   expected keys having that prefix. */
static void list_check(struct blob_store *store, const char *prefix,
		       unsigned int page_size, const char *const *keys,
		       unsigned int count)
{
	struct blob_list *list = blob_list_begin_sync(store, prefix, NULL,
						      page_size);
	const struct blob_list_entry *entry;
	unsigned int i = 0, n = 0;
	int ret;

	while ((ret = blob_list_next(list, &entry)) > 0) {
		while (i < count && !str_begins(keys[i], prefix))
			i++;
		if (i == count || strcmp(entry->key, keys[i]) != 0) {
			test_fail("list '%s' page %u: got '%s', expected '%s'",
				  prefix, page_size, entry->key,
				  i == count ? "(end)" : keys[i]);
			break;
		}
		/* sizes as put: the key's number modulo 50 */
		const char *num = strrchr(entry->key, '-');
		unsigned int k;
		if (num != NULL && str_to_uint(num + 1, &k) == 0)
			test_assert(entry->size == k % 50);
		test_assert(entry->mtime > 0);
		i++;
		n++;
	}
	test_assert(ret == BLOB_READ_EOF);
	while (i < count && !str_begins(keys[i], prefix))
		i++;
	test_assert(i == count);
	test_assert(blob_list_end(&list, NULL) == 0);
	(void)n;
}

static void test_posix_list_fanout(const char *options, unsigned int users,
				   unsigned int per_user)
{
	struct ioloop *ioloop = ioloop_create();
	struct blob_store *store = posix_store(options, NULL);
	struct blob_result result;
	ARRAY(const char *) keys;
	char data[50];

	memset(data, 'd', sizeof(data));
	array_init(&keys, pool_datastack, 2500);
	for (unsigned int u = 0; u < users; u++) {
		for (unsigned int i = 0; i < per_user; i++) {
			array_push(&keys, t_strdup_printf("user%u/m/n-%04u",
							  u, i));
		}
	}
	for (unsigned int i = 0; i < 200; i++)
		array_push(&keys, t_strdup_printf("plain-%03u", i));
	array_push(&keys, "user1x-7");
	array_push(&keys, "user1/m-8");
	for (unsigned int i = 0; i < keys.count; i++) {
		const char *key = keys.v[i];
		const char *num = strrchr(key, '-');
		unsigned int k = 0;
		test_assert(str_to_uint(num + 1, &k) == 0);
		int ret = blob_put_data_sync(store, key, data, k % 50, NULL, 0,
					     0, &result);
		test_assert_idx(ret == 0, i);
	}
	qsort(keys.v, keys.count, sizeof(const char *), str_p_cmp);

	list_check(store, "", 1000, keys.v, keys.count);
	list_check(store, "", 7, keys.v, keys.count);
	list_check(store, "user1/", 1, keys.v, keys.count);
	list_check(store, "user1/", 1000, keys.v, keys.count);
	list_check(store, "user1", 100, keys.v, keys.count);
	list_check(store, "user1/m/n-01", 3, keys.v, keys.count);
	list_check(store, "plain-", 10000, keys.v, keys.count);
	list_check(store, "nomatch", 10, keys.v, keys.count);
	list_check(store, "nomatch/", 10, keys.v, keys.count);

	/* stop, take the continuation, resume in a new listing */
	i_assert(users > 2 && per_user > 120);
	struct blob_list *list =
		blob_list_begin_sync(store, "user2/", NULL, 50);
	const struct blob_list_entry *entry;
	test_assert(blob_list_get_continuation(list) == NULL);
	for (unsigned int i = 0; i < 120; i++)
		test_assert(blob_list_next(list, &entry) == 1);
	char *cont = i_strdup(blob_list_get_continuation(list));
	test_assert_strcmp(cont, "user2/m/n-0119");
	test_assert(blob_list_end(&list, NULL) == 0);
	list = blob_list_begin_sync(store, "user2/", cont, 50);
	test_assert_strcmp(blob_list_get_continuation(list), cont);
	unsigned int n = 0;
	while (blob_list_next(list, &entry) > 0) {
		if (n == 0)
			test_assert_strcmp(entry->key, "user2/m/n-0120");
		n++;
	}
	test_assert(n == per_user - 120);
	test_assert(blob_list_end(&list, NULL) == 0);
	i_free(cont);

	/* a continuation must be a key */
	list = blob_list_begin_sync(store, "", "bad//key", 10);
	test_assert(blob_list_next(list, &entry) == BLOB_READ_ERROR);
	test_assert(blob_list_end(&list, &result) < 0);
	test_assert(result.error == BLOB_ERROR_INVALID);

	/* asynchronously, in pages of 100 */
	list = blob_list_begin(store, "", NULL, 100);
	n = 0;
	int ret;
	for (;;) {
		/* polling: the callback is tested elsewhere */
		ret = blob_list_next(list, &entry);
		if (ret == BLOB_READ_WAIT) {
			ioloop_run_once(ioloop, 100);
			continue;
		}
		if (ret <= 0)
			break;
		test_assert_idx(strcmp(entry->key, keys.v[n]) == 0, n);
		n++;
	}
	test_assert(ret == BLOB_READ_EOF);
	test_assert(n == keys.count);
	test_assert(blob_list_end(&list, NULL) == 0);
	array_free(&keys);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
}

static void test_posix_list(void)
{
	static const struct {
		const char *options;
		unsigned int users, per_user;
	} runs[] = {
		{ "fsync=no:metadata=xattr", 5, 300 },
		{ "fsync=no:metadata=header", 3, 150 },
		{ "fsync=no:fanout=0", 3, 150 },
		{ "fsync=no:fanout=1", 3, 150 },
	};
	for (unsigned int i = 0; i < N_ELEMENTS(runs); i++) T_BEGIN {
		test_begin(t_strdup_printf("blob posix list, pages (%s)",
					   runs[i].options));
		test_posix_list_fanout(runs[i].options, runs[i].users,
				       runs[i].per_user);
		test_end();
	} T_END;
}

struct list_wait {
	struct blob_list *list;
	unsigned int count;
	bool done;
};

static void list_wait_ready(void *context)
{
	struct list_wait *lw = context;
	const struct blob_list_entry *entry;
	int ret;

	while ((ret = blob_list_next(lw->list, &entry)) > 0)
		lw->count++;
	if (ret != BLOB_READ_WAIT)
		lw->done = true;
}

static void test_posix_list_async_callback(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct blob_store *store = posix_store("fsync=no", NULL);
	struct blob_result result;

	test_begin("blob posix list: async with the ready callback");
	for (unsigned int i = 0; i < 55; i++) {
		test_assert(blob_put_data_sync(store, t_strdup_printf(
			"lst/%02u", i), "x", 1, NULL, 0, 0, &result) == 0);
	}
	struct list_wait lw = { 0 };
	lw.list = blob_list_begin(store, "lst/", NULL, 10);
	blob_list_set_callback(lw.list, list_wait_ready, &lw);
	list_wait_ready(&lw);
	test_assert(!lw.done);
	test_assert(test_blob_run_until(ioloop, &lw.done));
	test_assert(lw.count == 55);
	test_assert(blob_list_end(&lw.list, NULL) == 0);

	/* ending a listing whose page is in flight */
	lw.list = blob_list_begin(store, "", NULL, 10);
	blob_list_end(&lw.list, NULL);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- invalid keys --- */

static void test_posix_invalid_keys(void)
{
	static const char *const bad[] = {
		"../x", "/abs", "a//b", "a/../../b", "sp ace", "pct%2F",
		"tab\t", "",
	};
	struct ioloop *ioloop = ioloop_create();
	const char *dir;
	struct blob_store *store = posix_store("", &dir);
	struct blob_result result;
	struct blob_info info;
	enum blob_error error;

	test_begin("blob posix: invalid keys are refused everywhere");
	test_assert(blob_put_data_sync(store, "good", "x", 1, NULL, 0, 0,
				       &result) == 0);
	for (unsigned int i = 0; i < N_ELEMENTS(bad); i++) {
		const char *key = bad[i];
		test_assert_idx(blob_put_data_sync(store, key, "x", 1, NULL, 0,
						   0, &result) < 0, i);
		test_assert_idx(result.error == BLOB_ERROR_INVALID, i);
		test_assert_idx(strstr(result.internal_error, "Invalid key") !=
				NULL, i);
		test_assert_idx(blob_head_sync(store, key, pool_datastack,
					       &info, &result) < 0 &&
				result.error == BLOB_ERROR_INVALID, i);
		test_assert_idx(blob_delete_sync(store, key, &result) < 0 &&
				result.error == BLOB_ERROR_INVALID, i);
		test_assert_idx(blob_copy_sync(store, key, "good2", 0,
					       &result) < 0 &&
				result.error == BLOB_ERROR_INVALID, i);
		test_assert_idx(blob_copy_sync(store, "good", key, 0,
					       &result) < 0 &&
				result.error == BLOB_ERROR_INVALID, i);
		test_assert_idx(get_check_sync(store, key, 0, 0, UINT64_MAX,
					       &error) < 0 &&
				error == BLOB_ERROR_INVALID, i);

		struct test_blob_wait w = { 0 };
		(void)blob_put_data(store, key, "x", 1, NULL, 0, 0,
				    test_blob_wait_cb, &w);
		test_assert_idx(test_blob_wait(ioloop, &w) ==
				BLOB_ERROR_INVALID, i);
		memset(&w, 0, sizeof(w));
		(void)blob_copy(store, "good", key, 0, test_blob_wait_cb, &w);
		test_assert_idx(test_blob_wait(ioloop, &w) ==
				BLOB_ERROR_INVALID, i);
		test_assert_idx(get_check_async(ioloop, store, key, 0, 0, 10,
						&error) < 0 &&
				error == BLOB_ERROR_INVALID, i);

		/* a streamed put fails at once, so the producer can stop */
		struct blob_put *put = blob_put_begin(store, key, 0);
		test_assert_idx(blob_put_write(put, "x", 1) < 0, i);
		memset(&w, 0, sizeof(w));
		blob_put_finish(&put, test_blob_wait_cb, &w);
		test_assert_idx(!w.done, i);
		test_assert_idx(test_blob_wait(ioloop, &w) ==
				BLOB_ERROR_INVALID, i);
	}
	test_assert(object_count(dir) == 1);
	test_assert(tmp_count(dir) == 0);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- copy --- */

static void test_posix_copy_mode(struct ioloop *ioloop, const char *options)
{
	const char *dir;
	struct blob_store *store = posix_store(options, &dir);
	struct blob_result result;
	struct blob_info info;
	enum blob_error error;
	const struct blob_metadata_field md[] = { { "uid", "9" } };

	test_assert(blob_put_data_sync(store, "a/src", "source", 6, md, 1, 0,
				       &result) == 0);
	test_assert(put_seeded(store, "other", 8, 3 * CHUNK + 1, 0,
			       &result) == 0);

	/* to a new key in another fan-out directory */
	test_assert(blob_copy_sync(store, "a/src", "b/dst", 0, &result) == 0);
	test_assert(blob_head_sync(store, "b/dst", pool_datastack, &info,
				   &result) == 0);
	test_assert(info.size == 6);
	test_assert_strcmp(blob_info_get_metadata(&info, "uid"), "9");
	buffer_t *buf = buffer_create(system_pool, 16);
	test_assert(blob_get_data_sync(store, "b/dst", buf, &result) == 0);
	test_assert(buf->used == 6 && memcmp(buf->data, "source", 6) == 0);

	/* immutable: EXISTS unless overwrite */
	test_assert(blob_copy_sync(store, "other", "b/dst", 0, &result) < 0);
	test_assert(result.error == BLOB_ERROR_EXISTS);
	buffer_set_used_size(buf, 0);
	test_assert(blob_get_data_sync(store, "b/dst", buf, &result) == 0);
	test_assert(buf->used == 6);
	test_assert(blob_copy_sync(store, "other", "b/dst", BLOB_FLAG_OVERWRITE,
				   &result) == 0);
	test_assert(get_check_sync(store, "b/dst", 8, 0, UINT64_MAX, &error) ==
		    3 * CHUNK + 1);
	test_assert(blob_head_sync(store, "b/dst", pool_datastack, &info,
				   &result) == 0);
	test_assert(info.metadata_count == 0);

	/* missing source */
	test_assert(blob_copy_sync(store, "nosuch", "c/x", 0, &result) < 0);
	test_assert(result.error == BLOB_ERROR_NOT_FOUND);
	test_assert(blob_copy_sync(store, "nosuch", "c/x", BLOB_FLAG_OVERWRITE,
				   &result) < 0);
	test_assert(result.error == BLOB_ERROR_NOT_FOUND);

	/* onto itself */
	test_assert(blob_copy_sync(store, "a/src", "a/src", 0, &result) < 0);
	test_assert(result.error == BLOB_ERROR_EXISTS);
	test_assert(blob_copy_sync(store, "a/src", "a/src", BLOB_FLAG_OVERWRITE,
				   &result) == 0);
	buffer_set_used_size(buf, 0);
	test_assert(blob_get_data_sync(store, "a/src", buf, &result) == 0);
	test_assert(buf->used == 6);

	/* deleting the source leaves the copy */
	test_assert(blob_copy_sync(store, "a/src", "d/copy", 0, &result) == 0);
	test_assert(blob_delete_sync(store, "a/src", &result) == 0);
	buffer_set_used_size(buf, 0);
	test_assert(blob_get_data_sync(store, "d/copy", buf, &result) == 0);
	test_assert(buf->used == 6 && memcmp(buf->data, "source", 6) == 0);

	/* async */
	struct test_blob_wait w = { 0 };
	(void)blob_copy(store, "d/copy", "e/async", 0, test_blob_wait_cb, &w);
	test_assert(!w.done);
	test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);
	memset(&w, 0, sizeof(w));
	(void)blob_copy(store, "d/copy", "e/async", 0, test_blob_wait_cb, &w);
	test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_EXISTS);
	memset(&w, 0, sizeof(w));
	(void)blob_head(store, "e/async", test_blob_wait_head_cb, &w);
	test_assert(test_blob_wait(ioloop, &w) == BLOB_ERROR_NONE);
	test_assert_strcmp(w.metadata, "uid=9;");

	buffer_free(&buf);
	test_assert(tmp_count(dir) == 0);
	blob_store_destroy(&store);
}

static void test_posix_copy(void)
{
	static const char *const options[] = {
		"metadata=xattr", "metadata=header",
		"metadata=xattr:copy=data", "metadata=header:copy=data",
	};
	struct ioloop *ioloop = ioloop_create();

	for (unsigned int i = 0; i < N_ELEMENTS(options); i++) T_BEGIN {
		test_begin(t_strdup_printf("blob posix copy (%s)", options[i]));
		test_posix_copy_mode(ioloop, options[i]);
		test_end();
	} T_END;
	ioloop_destroy(&ioloop);
}

/* --- aborts, cleanup, destroy with work in flight --- */

static void test_posix_abort(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *dir;
	struct blob_store *store = posix_store("", &dir);
	unsigned char buf[64 * 1024];
	struct blob_result result;
	struct blob_info info;

	test_begin("blob posix: aborted puts leave nothing");
	memset(buf, 'a', sizeof(buf));
	/* async, with writes in flight */
	struct blob_put *put = blob_put_begin(store, "ab/1", 0);
	for (unsigned int i = 0; i < 16; i++)
		test_assert(blob_put_write(put, buf, sizeof(buf)) == 0);
	blob_put_abort(&put);
	test_assert(put == NULL);
	/* sync, after a chunk reached the disk */
	put = blob_put_begin_sync(store, "ab/2", 0);
	for (unsigned int i = 0; i < 4; i++)
		test_assert(blob_put_write(put, buf, sizeof(buf)) == 0);
	test_assert(tmp_count(dir) >= 1);
	blob_put_abort(&put);
	/* before anything was written */
	put = blob_put_begin(store, "ab/3", 0);
	blob_put_abort(&put);

	/* a finished put whose store is destroyed at once still commits
	   (destroy waits for it) but calls nobody back */
	struct test_blob_wait w = { 0 };
	(void)blob_put_data(store, "ab/4", "late", 4, NULL, 0, 0,
			    test_blob_wait_cb, &w);
	struct test_blob_wait hw = { 0 };
	(void)blob_head(store, "ab/4", test_blob_wait_head_cb, &hw);
	struct blob_get *get = blob_get_begin(store, "ab/4", 0, 10);
	blob_get_end(&get, NULL);
	blob_store_destroy(&store);
	test_assert(!w.done && !hw.done);
	test_assert(tmp_count(dir) == 0);

	store = posix_store("", NULL);
	blob_store_destroy(&store);
	store = test_blob_store_create(t_strdup_printf("posix:%s", dir));
	test_assert(blob_head_sync(store, "ab/1", pool_datastack, &info,
				   &result) < 0);
	test_assert(blob_head_sync(store, "ab/2", pool_datastack, &info,
				   &result) < 0);
	test_assert(blob_head_sync(store, "ab/3", pool_datastack, &info,
				   &result) < 0);
	test_assert(blob_head_sync(store, "ab/4", pool_datastack, &info,
				   &result) == 0);
	test_assert(object_count(dir) == 1);

	/* a cancelled request: the operation still happens */
	memset(&w, 0, sizeof(w));
	struct blob_request *req = blob_delete(store, "ab/4",
					       test_blob_wait_cb, &w);
	blob_request_cancel(&req);
	test_assert(req == NULL);
	for (unsigned int i = 0; i < 100 && object_count(dir) > 0; i++)
		ioloop_run_once(ioloop, 10);
	test_assert(object_count(dir) == 0);
	test_assert(!w.done);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

static void touch_file(const char *path, time_t mtime)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		i_fatal("open(%s) failed: %m", path);
	close(fd);
	struct timespec ts[2] = {
		{ .tv_sec = mtime }, { .tv_sec = mtime },
	};
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		i_fatal("utimensat(%s) failed: %m", path);
}

static void test_posix_cleanup_temp(void)
{
	const char *dir;
	struct blob_store *store = posix_store("", &dir);
	unsigned int removed;
	const char *error;
	struct blob_result result;

	test_begin("blob posix: cleanup of old temporary files");
	time_t now = time(NULL);
	touch_file(t_strdup_printf("%s/tmp/old1", dir), now - 7200);
	touch_file(t_strdup_printf("%s/tmp/old2", dir), now - 3601);
	touch_file(t_strdup_printf("%s/tmp/new1", dir), now - 10);
	test_assert(blob_put_data_sync(store, "keep", "x", 1, NULL, 0, 0,
				       &result) == 0);
	test_assert(blob_store_cleanup_temp(store, 3600, &removed,
					    &error) == 0);
	test_assert(removed == 2);
	test_assert(tmp_count(dir) == 1);
	test_assert(blob_store_cleanup_temp(store, 0, &removed, &error) == 0);
	test_assert(removed == 1);
	test_assert(tmp_count(dir) == 0);
	test_assert(object_count(dir) == 1);
	blob_store_destroy(&store);
	test_end();
}

/* fsync() calls of this process, counted (test_posix_no_sync) */
static unsigned int test_fsync_calls;

int fsync(int fd)
{
	static int (*real_fsync)(int);

	if (real_fsync == NULL)
		real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	test_fsync_calls++;
	return real_fsync(fd);
}

static void test_posix_no_sync(void)
{
	const char *dir, *error;
	struct blob_store *store = posix_store("", &dir);
	struct blob_result result;

	test_begin("blob posix: BLOB_FLAG_NO_SYNC puts, then one store sync");
	unsigned int before = test_fsync_calls;
	test_assert(blob_put_data_sync(store, "synced", "abc", 3, NULL, 0, 0,
				       &result) == 0);
	/* the file and its directory (and new fan-out directories) */
	test_assert(test_fsync_calls >= before + 2);
	before = test_fsync_calls;
	for (unsigned int i = 0; i < 20; i++) {
		test_assert(blob_put_data_sync(store,
			t_strdup_printf("bulk/%u", i), "hello", 5, NULL, 0,
			BLOB_FLAG_NO_SYNC, &result) == 0);
	}
	test_assert(test_fsync_calls == before);
	test_assert(blob_store_sync(store, &error) == 0);
	/* visible and whole before and after the sync */
	buffer_t *buf = buffer_create(pool_datastack, 16);
	test_assert(blob_get_data_sync(store, "bulk/7", buf, &result) == 0 &&
		    buf->used == 5 && memcmp(buf->data, "hello", 5) == 0);
	test_assert(object_count(dir) == 21);
	test_assert(tmp_count(dir) == 0);
	blob_store_destroy(&store);

	/* through a wrapper */
	store = test_blob_store_create(t_strdup_printf(
		"randomfail:fail=0:posix:%s", test_blob_mkdir("posix-wrapped")));
	test_assert(blob_put_data_sync(store, "k", "x", 1, NULL, 0,
				       BLOB_FLAG_NO_SYNC, &result) == 0);
	test_assert(blob_store_sync(store, &error) == 0);
	blob_store_destroy(&store);
	test_end();
}

/* --- many requests in flight --- */

#define MANY_COUNT 600

struct many_state {
	unsigned int done, failed;
};

struct many_put {
	struct many_state *state;
	unsigned int idx;
};

static void many_put_done(const struct blob_result *result, void *context)
{
	struct many_put *mp = context;

	if (result->error != BLOB_ERROR_NONE) {
		test_fail("put %u failed: %s", mp->idx, result->internal_error);
		mp->state->failed++;
	}
	mp->state->done++;
}

static void many_get_ready(void *context)
{
	struct async_get *ag = context;
	async_get_ready(ag);
}

static void test_posix_many_in_flight(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *dir;
	struct blob_store *store = posix_store("workers=4", &dir);
	struct many_state state = { 0 };
	struct many_put mps[MANY_COUNT];
	unsigned char data[4096];

	test_begin("blob posix: 600 puts, then 600 gets in flight");
	for (unsigned int i = 0; i < MANY_COUNT; i++) {
		const char *key = t_strdup_printf("m%u/obj", i % 37);
		key = t_strdup_printf("%s-%u", key, i);
		test_blob_fill(i, 0, data, sizeof(data));
		mps[i].state = &state;
		mps[i].idx = i;
		(void)blob_put_data(store, key, data, sizeof(data), NULL, 0, 0,
				    many_put_done, &mps[i]);
	}
	test_assert(state.done == 0);
	uint64_t end = ioloop_msecs_monotonic() + TEST_BLOB_TIMEOUT_MSECS;
	while (state.done < MANY_COUNT && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(state.done == MANY_COUNT && state.failed == 0);

	struct async_get *ags = i_new(struct async_get, MANY_COUNT);
	for (unsigned int i = 0; i < MANY_COUNT; i++) {
		const char *key = t_strdup_printf("m%u/obj-%u", i % 37, i);
		ags[i].seed = i;
		ags[i].ok = true;
		ags[i].get = blob_get_begin(store, key, 0, UINT64_MAX);
		blob_get_set_callback(ags[i].get, many_get_ready, &ags[i]);
	}
	unsigned int done = 0;
	end = ioloop_msecs_monotonic() + TEST_BLOB_TIMEOUT_MSECS;
	while (done < MANY_COUNT && ioloop_msecs_monotonic() < end) {
		ioloop_run_once(ioloop, 100);
		done = 0;
		for (unsigned int i = 0; i < MANY_COUNT; i++)
			done += ags[i].done ? 1 : 0;
	}
	test_assert(done == MANY_COUNT);
	for (unsigned int i = 0; i < MANY_COUNT; i++) {
		test_assert_idx(ags[i].ok && ags[i].total == sizeof(data) &&
				ags[i].error == BLOB_ERROR_NONE, i);
	}
	i_free(ags);
	test_assert(object_count(dir) == MANY_COUNT);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- many stores in one process --- */

static unsigned int thread_count(void)
{
	return test_blob_count_dirs_in("/proc/self/task");
}

#define STORES_COUNT 30

static void test_posix_many_stores(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct blob_store *stores[STORES_COUNT];
	const char *dirs[STORES_COUNT];
	struct many_state state = { 0 };
	struct many_put mps[STORES_COUNT * 10];
	unsigned char data[4096];
	unsigned int threads_before = thread_count();

	test_begin("blob posix: stores share I/O threads; destroy mid-I/O");
	memset(data, 's', sizeof(data));
	for (unsigned int i = 0; i < STORES_COUNT; i++) {
		stores[i] = posix_store("", &dirs[i]);
		for (unsigned int j = 0; j < 10; j++) {
			struct many_put *mp = &mps[i * 10 + j];
			mp->state = &state;
			mp->idx = i * 10 + j;
			(void)blob_put_data(stores[i], t_strdup_printf(
				"s/%u", j), data, sizeof(data), NULL, 0, 0,
				many_put_done, mp);
		}
	}
	/* one pool for all: a user per store would otherwise cost threads
	   by the hundred */
	test_assert(thread_count() <= threads_before + 8);
	/* every third store goes while its puts run: they complete (or
	   not) without calling back, and leave no temporary files */
	unsigned int expected = 0;
	for (unsigned int i = 0; i < STORES_COUNT; i++) {
		if (i % 3 == 0)
			blob_store_destroy(&stores[i]);
		else
			expected += 10;
	}
	uint64_t end = ioloop_msecs_monotonic() + TEST_BLOB_TIMEOUT_MSECS;
	while (state.done < expected && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(state.done == expected && state.failed == 0);
	for (unsigned int i = 0; i < STORES_COUNT; i++) {
		test_assert_idx(tmp_count(dirs[i]) == 0, i);
		test_assert_idx(i % 3 == 0 || object_count(dirs[i]) == 10, i);
		blob_store_destroy(&stores[i]);
	}
	/* the last store took the threads */
	test_assert(thread_count() == threads_before);
	test_assert(ioloop_io_count(ioloop) == 0);
	ioloop_destroy(&ioloop);
	test_end();
}

/* --- events --- */

static string_t *event_names;

static void test_event_handler(const struct event_emission *emission,
			       void *context ATTR_UNUSED)
{
	if (emission->is_log || emission->name == NULL)
		return;
	str_printfa(event_names, "%s", emission->name);
	for (unsigned int i = 0; i < emission->fields_count; i++) {
		const struct event_field *f = &emission->fields[i];
		if (f->type == EVENT_FIELD_TYPE_STR)
			str_printfa(event_names, " %s=%s", f->key,
				    f->value.str);
		else if (f->type == EVENT_FIELD_TYPE_INT)
			str_printfa(event_names, " %s=%"PRId64, f->key,
				    f->value.intmax);
	}
	str_append_c(event_names, '\n');
}

static void test_posix_events(void)
{
	struct blob_store *store = posix_store("", NULL);
	struct blob_result result;
	struct blob_info info;

	test_begin("blob posix: finished events");
	event_names = str_new(system_pool, 256);
	struct event_handler *handler =
		event_register_handler(test_event_handler, NULL);
	test_assert(blob_put_data_sync(store, "ev/1", "12345", 5, NULL, 0, 0,
				       &result) == 0);
	test_assert(blob_head_sync(store, "nosuch", pool_datastack, &info,
				   &result) < 0);
	event_unregister_handler(&handler);
	const char *text = str_c(event_names);
	test_assert(strstr(text, "blob_put_finished blob_driver=posix "
			   "key=ev/1 bytes=5\n") != NULL);
	test_assert(strstr(text, "blob_head_finished blob_driver=posix "
			   "key=nosuch error=NOT_FOUND") != NULL);
	str_free(&event_names);
	blob_store_destroy(&store);
	test_end();
}

/* --- the documented on-disk layout --- */

static void test_posix_layout(void)
{
	const struct blob_metadata_field md[] = { { "uid", "42" } };
	struct blob_result result;
	struct stat st;
	char buf[64];
	const char *dir;

	test_begin("blob posix: on-disk layout");
	struct blob_store *store = posix_store("metadata=xattr", &dir);
	test_assert(blob_put_data_sync(store, "bob/INBOX/42", "body", 4, md, 1,
				       0, &result) == 0);
	const char *path = t_strdup_printf("%s/objects/81/b6/bob%%INBOX%%42",
					   dir);
	test_assert(stat(path, &st) == 0 && st.st_size == 4);
	test_assert((st.st_mode & 0777) == 0600);
	/* one packed attribute, "name\0value\0" per field */
	ssize_t n = getxattr(path, "user.columba.@", buf, sizeof(buf));
	test_assert(n == 7 && memcmp(buf, "uid\0" "42\0", 7) == 0);
	test_assert(getxattr(path, "user.columba.uid", buf, sizeof(buf)) < 0 &&
		    errno == ENODATA);

	/* objects written before: an attribute per field */
	struct blob_info info;
	test_assert(removexattr(path, "user.columba.@") == 0);
	test_assert(setxattr(path, "user.columba.uid", "43", 2, 0) == 0);
	test_assert(setxattr(path, "user.columba.flags", "1", 1, 0) == 0);
	test_assert(blob_head_sync(store, "bob/INBOX/42", pool_datastack,
				   &info, &result) == 0);
	test_assert(info.metadata_count == 2);
	test_assert_strcmp(blob_info_get_metadata(&info, "uid"), "43");
	test_assert_strcmp(blob_info_get_metadata(&info, "flags"), "1");
	/* a packed attribute cut in the middle of a pair is an error */
	test_assert(setxattr(path, "user.columba.@", "v\0" "1\0" "x", 5, 0) == 0);
	test_assert(blob_head_sync(store, "bob/INBOX/42", pool_datastack,
				   &info, &result) < 0 &&
		    result.error == BLOB_ERROR_IO);
	blob_store_destroy(&store);

	store = posix_store("metadata=header:fanout=0", &dir);
	test_assert(blob_put_data_sync(store, "bob/INBOX/42", "body", 4, md, 1,
				       0, &result) == 0);
	path = t_strdup_printf("%s/objects/bob%%INBOX%%42", dir);
	int fd = open(path, O_RDONLY);
	test_assert(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	test_assert(n == 25 &&
		    memcmp(buf, "CBLOB1 00021\nuid=42\n\nbody", 25) == 0);
	blob_store_destroy(&store);

	store = posix_store("fanout=1", &dir);
	test_assert(blob_put_data_sync(store, "bob", "b", 1, NULL, 0, 0,
				       &result) == 0);
	test_assert(stat(t_strdup_printf("%s/objects/81/bob", dir), &st) == 0);
	blob_store_destroy(&store);
	test_end();
}

static void test_nowait_cb(void *context)
{
	bool *called = context;
	*called = true;
}

/* blob_get_begin_nowait(): data in the page cache (just written) is read
   inside the calls, without a callback; a missing object fails inline;
   header mode still goes through the workers and calls back. */
static void test_posix_nowait_get(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct blob_result result;
	const unsigned char *data;
	size_t size;
	bool called = false, ok = true;
	uint64_t total = 0;
	int ret;

	test_begin("blob posix: nowait get");
	struct blob_store *store = posix_store("metadata=xattr", NULL);
	test_assert(put_seeded(store, "nw/1", 7, 100000, 0, &result) == 0);
	struct blob_get *get = blob_get_begin_nowait(store, "nw/1", 10,
						     UINT64_MAX);
	blob_get_set_callback(get, test_nowait_cb, &called);
	test_assert(blob_get_info(get) != NULL);
	/* several chunks: the read-ahead is inline too, never WAIT */
	while ((ret = blob_get_read_data(get, &data, &size)) > 0) {
		if (!test_blob_check(7, 10 + total, data, size))
			ok = false;
		total += size;
		blob_get_skip(get, size);
	}
	test_assert(ret == BLOB_READ_EOF);
	test_assert(ok && total == 100000 - 10);
	test_assert(blob_get_end(&get, &result) == 0);

	get = blob_get_begin_nowait(store, "nw/none", 0, UINT64_MAX);
	blob_get_set_callback(get, test_nowait_cb, &called);
	test_assert(blob_get_read_data(get, &data, &size) == BLOB_READ_ERROR);
	test_assert(blob_get_end(&get, &result) < 0 &&
		    result.error == BLOB_ERROR_NOT_FOUND);
	test_assert(!called);
	/* objects of another top (user) in the same store: the loop
	   thread's fan-out memo must follow the key */
	test_assert(put_seeded(store, "other/1", 9, 300, 0, &result) == 0);
	const char *const keys[] = { "other/1", "nw/1", "other/1" };
	const uint64_t seeds[] = { 9, 7, 9 }, sizes[] = { 300, 100000, 300 };
	for (unsigned int i = 0; i < N_ELEMENTS(keys); i++) {
		get = blob_get_begin_nowait(store, keys[i], 0, 100);
		test_assert_idx(blob_get_read_data(get, &data, &size) > 0 &&
				size == I_MIN(100, sizes[i]) &&
				test_blob_check(seeds[i], 0, data, size), i);
		test_assert_idx(blob_get_end(&get, &result) == 0, i);
	}
	blob_store_destroy(&store);

	store = posix_store("metadata=header", NULL);
	test_assert(put_seeded(store, "nw/2", 8, 5000, 0, &result) == 0);
	get = blob_get_begin_nowait(store, "nw/2", 0, UINT64_MAX);
	blob_get_set_callback(get, test_nowait_cb, &called);
	test_assert(blob_get_read_data(get, &data, &size) == BLOB_READ_WAIT);
	test_assert(test_blob_run_until(ioloop, &called));
	test_assert(blob_get_read_data(get, &data, &size) > 0 &&
		    size == 5000 && test_blob_check(8, 0, data, size));
	test_assert(blob_get_end(&get, &result) == 0);
	blob_store_destroy(&store);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_blob_posix_tests[] = {
	test_posix_nowait_get,
	test_posix_layout,
	test_posix_sync_roundtrip,
	test_posix_async_roundtrip,
	test_posix_immutable,
	test_posix_ranges,
	test_posix_metadata,
	test_posix_list,
	test_posix_list_async_callback,
	test_posix_invalid_keys,
	test_posix_copy,
	test_posix_abort,
	test_posix_cleanup_temp,
	test_posix_no_sync,
	test_posix_many_in_flight,
	test_posix_many_stores,
	test_posix_events,
	NULL
};
