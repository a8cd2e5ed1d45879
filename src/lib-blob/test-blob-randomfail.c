/* Tests for the randomfail wrapper: with a fixed seed, a long mix of
   operations against a model of what the store should hold. Every
   operation either succeeds fully or fails cleanly with TEMPORARY or IO,
   and afterwards the store, read without the wrapper, holds exactly the
   model's objects with their contents and no temporary files. */
#include "test-lib-blob.h"

#define RF_KEYS 24
#define RF_OPS 700
#define RF_CHUNK (128 * 1024)

struct rf_model {
	bool exists[RF_KEYS];
	uint64_t seed[RF_KEYS];
	size_t size[RF_KEYS];
};

struct rf_counts {
	unsigned int ok[6], failed[6];
};

static uint64_t rf_rng;

static uint32_t rf_rand(void)
{
	rf_rng ^= rf_rng << 13;
	rf_rng ^= rf_rng >> 7;
	rf_rng ^= rf_rng << 17;
	return (uint32_t)(rf_rng >> 16);
}

static const char *rf_key(unsigned int i)
{
	return t_strdup_printf("rf/k%02u", i);
}

static bool rf_injected(enum blob_error error, const char *text)
{
	return (error == BLOB_ERROR_TEMPORARY || error == BLOB_ERROR_IO) &&
		text != NULL && strstr(text, "randomfail(seed=") != NULL;
}

/* --- one operation of each kind, checked against the model --- */

static void rf_put(struct ioloop *ioloop, struct blob_store *store,
		   struct rf_model *model, struct rf_counts *counts,
		   unsigned int iter, bool async)
{
	static const size_t sizes[] = {
		0, 1, 4096, RF_CHUNK - 1, RF_CHUNK * 2 + 7, RF_CHUNK * 3,
	};
	unsigned int k = rf_rand() % RF_KEYS;
	size_t size = sizes[rf_rand() % N_ELEMENTS(sizes)];
	bool overwrite = rf_rand() % 2 == 0;
	uint64_t seed = 1000 + iter;
	enum blob_flags flags = overwrite ? BLOB_FLAG_OVERWRITE : 0;
	struct blob_put *put = async ? blob_put_begin(store, rf_key(k), flags) :
		blob_put_begin_sync(store, rf_key(k), flags);
	unsigned char buf[40000];
	enum blob_error error;
	char *text = NULL;

	blob_put_set_metadata(put, "seed", t_strdup_printf("%"PRIu64, seed));
	for (size_t pos = 0; pos < size;) {
		size_t n = I_MIN(sizeof(buf), size - pos);
		test_blob_fill(seed, pos, buf, n);
		if (blob_put_write(put, buf, n) < 0)
			break;
		pos += n;
		/* let async writes reach the driver between chunks */
		if (async && blob_put_is_full(put))
			ioloop_run_once(ioloop, 0);
	}
	if (async) {
		struct test_blob_wait w = { 0 };
		blob_put_finish(&put, test_blob_wait_cb, &w);
		(void)test_blob_run_until(ioloop, &w.done);
		error = w.error;
		text = w.internal_error;
	} else {
		struct blob_result result;
		if (blob_put_finish_sync(&put, &result) < 0)
			i_assert(result.error != BLOB_ERROR_NONE);
		error = result.error;
		text = i_strdup(result.internal_error);
	}
	if (error == BLOB_ERROR_NONE) {
		test_assert_idx(!model->exists[k] || overwrite, iter);
		model->exists[k] = true;
		model->seed[k] = seed;
		model->size[k] = size;
		counts->ok[0]++;
	} else if (error == BLOB_ERROR_EXISTS) {
		test_assert_idx(model->exists[k] && !overwrite, iter);
	} else {
		test_assert_idx(rf_injected(error, text), iter);
		counts->failed[0]++;
	}
	i_free(text);
}

static void rf_get(struct ioloop *ioloop, struct blob_store *store,
		   struct rf_model *model, struct rf_counts *counts,
		   unsigned int iter, bool async)
{
	unsigned int k = rf_rand() % RF_KEYS;
	struct blob_get *get = async ?
		blob_get_begin(store, rf_key(k), 0, UINT64_MAX) :
		blob_get_begin_sync(store, rf_key(k), 0, UINT64_MAX);
	const unsigned char *data;
	size_t size;
	uint64_t total = 0;
	bool ok = true;
	int ret;

	for (;;) {
		ret = blob_get_read_data(get, &data, &size);
		if (ret == BLOB_READ_WAIT) {
			ioloop_run_once(ioloop, 100);
			continue;
		}
		if (ret <= 0)
			break;
		if (!model->exists[k] ||
		    !test_blob_check(model->seed[k], total, data, size))
			ok = false;
		total += size;
		blob_get_skip(get, size);
	}
	struct blob_result result;
	(void)blob_get_end(&get, &result);
	if (result.error == BLOB_ERROR_NONE) {
		test_assert_idx(model->exists[k] && ok &&
				total == model->size[k], iter);
		counts->ok[1]++;
	} else if (result.error == BLOB_ERROR_NOT_FOUND) {
		test_assert_idx(!model->exists[k], iter);
	} else {
		/* what came before the failure was right */
		test_assert_idx(ok, iter);
		test_assert_idx(rf_injected(result.error,
					    result.internal_error), iter);
		counts->failed[1]++;
	}
}

static void rf_head(struct ioloop *ioloop, struct blob_store *store,
		    struct rf_model *model, struct rf_counts *counts,
		    unsigned int iter, bool async)
{
	unsigned int k = rf_rand() % RF_KEYS;
	struct test_blob_wait w = { 0 };
	char *text = NULL;

	if (async) {
		(void)blob_head(store, rf_key(k), test_blob_wait_head_cb, &w);
		(void)test_blob_run_until(ioloop, &w.done);
		text = w.internal_error;
	} else {
		struct blob_result result;
		struct blob_info info;
		w.error = blob_head_sync(store, rf_key(k), pool_datastack,
					 &info, &result) < 0 ? result.error :
			BLOB_ERROR_NONE;
		text = i_strdup(result.internal_error);
		if (w.error == BLOB_ERROR_NONE) {
			w.info = info;
			snprintf(w.metadata, sizeof(w.metadata), "seed=%s;",
				 blob_info_get_metadata(&info, "seed"));
		}
	}
	if (w.error == BLOB_ERROR_NONE) {
		test_assert_idx(model->exists[k] &&
				w.info.size == model->size[k], iter);
		test_assert_idx(strcmp(w.metadata, t_strdup_printf(
			"seed=%"PRIu64";", model->seed[k])) == 0, iter);
		counts->ok[2]++;
	} else if (w.error == BLOB_ERROR_NOT_FOUND) {
		test_assert_idx(!model->exists[k], iter);
	} else {
		test_assert_idx(rf_injected(w.error, text), iter);
		counts->failed[2]++;
	}
	i_free(text);
}

static void rf_delete(struct ioloop *ioloop, struct blob_store *store,
		      struct rf_model *model, struct rf_counts *counts,
		      unsigned int iter, bool async)
{
	unsigned int k = rf_rand() % RF_KEYS;
	struct test_blob_wait w = { 0 };
	char *text = NULL;

	if (async) {
		(void)blob_delete(store, rf_key(k), test_blob_wait_cb, &w);
		(void)test_blob_run_until(ioloop, &w.done);
		text = w.internal_error;
	} else {
		struct blob_result result;
		(void)blob_delete_sync(store, rf_key(k), &result);
		w.error = result.error;
		text = i_strdup(result.internal_error);
	}
	if (w.error == BLOB_ERROR_NONE) {
		model->exists[k] = false;
		counts->ok[3]++;
	} else {
		test_assert_idx(rf_injected(w.error, text), iter);
		counts->failed[3]++;
	}
	i_free(text);
}

static void rf_copy(struct ioloop *ioloop, struct blob_store *store,
		    struct rf_model *model, struct rf_counts *counts,
		    unsigned int iter, bool async)
{
	unsigned int src = rf_rand() % RF_KEYS, dst = rf_rand() % RF_KEYS;
	bool overwrite = rf_rand() % 2 == 0;
	enum blob_flags flags = overwrite ? BLOB_FLAG_OVERWRITE : 0;
	struct test_blob_wait w = { 0 };
	char *text = NULL;

	if (async) {
		(void)blob_copy(store, rf_key(src), rf_key(dst), flags,
				test_blob_wait_cb, &w);
		(void)test_blob_run_until(ioloop, &w.done);
		text = w.internal_error;
	} else {
		struct blob_result result;
		(void)blob_copy_sync(store, rf_key(src), rf_key(dst), flags,
				     &result);
		w.error = result.error;
		text = i_strdup(result.internal_error);
	}
	if (w.error == BLOB_ERROR_NONE) {
		test_assert_idx(model->exists[src], iter);
		test_assert_idx(!model->exists[dst] || overwrite, iter);
		model->exists[dst] = true;
		model->seed[dst] = model->seed[src];
		model->size[dst] = model->size[src];
		counts->ok[4]++;
	} else if (w.error == BLOB_ERROR_NOT_FOUND) {
		test_assert_idx(!model->exists[src], iter);
	} else if (w.error == BLOB_ERROR_EXISTS) {
		test_assert_idx(model->exists[dst] && !overwrite, iter);
	} else {
		test_assert_idx(rf_injected(w.error, text), iter);
		counts->failed[4]++;
	}
	i_free(text);
}

static void rf_list(struct ioloop *ioloop, struct blob_store *store,
		    struct rf_model *model, struct rf_counts *counts,
		    unsigned int iter, bool async)
{
	struct blob_list *list = async ?
		blob_list_begin(store, "rf/", NULL, 5) :
		blob_list_begin_sync(store, "rf/", NULL, 5);
	const struct blob_list_entry *entry;
	unsigned int next_k = 0;
	bool ok = true;
	int ret;

	for (;;) {
		ret = blob_list_next(list, &entry);
		if (ret == BLOB_READ_WAIT) {
			ioloop_run_once(ioloop, 100);
			continue;
		}
		if (ret <= 0)
			break;
		while (next_k < RF_KEYS && !model->exists[next_k])
			next_k++;
		if (next_k == RF_KEYS ||
		    strcmp(entry->key, rf_key(next_k)) != 0 ||
		    entry->size != model->size[next_k])
			ok = false;
		next_k++;
	}
	struct blob_result result;
	(void)blob_list_end(&list, &result);
	test_assert_idx(ok, iter);
	if (result.error == BLOB_ERROR_NONE) {
		while (next_k < RF_KEYS && !model->exists[next_k])
			next_k++;
		test_assert_idx(next_k == RF_KEYS, iter);
		counts->ok[5]++;
	} else {
		test_assert_idx(rf_injected(result.error,
					    result.internal_error), iter);
		counts->failed[5]++;
	}
}

/* The store as seen without the wrapper equals the model. */
static void rf_verify(const char *dir, const struct rf_model *model)
{
	struct blob_store *store = test_blob_store_create(
		t_strdup_printf("posix:%s", dir));
	struct blob_list *list = blob_list_begin_sync(store, "", NULL, 0);
	const struct blob_list_entry *entry;
	bool seen[RF_KEYS] = { false };
	enum blob_error error;

	while (blob_list_next(list, &entry) > 0) {
		unsigned int k;
		if (!str_begins(entry->key, "rf/k") ||
		    str_to_uint(entry->key + 4, &k) < 0 || k >= RF_KEYS) {
			test_fail("unexpected key %s", entry->key);
			continue;
		}
		seen[k] = true;
		test_assert_idx(model->exists[k], k);
		test_assert_idx(entry->size == model->size[k], k);
	}
	test_assert(blob_list_end(&list, NULL) == 0);
	for (unsigned int k = 0; k < RF_KEYS; k++) {
		test_assert_idx(seen[k] == model->exists[k], k);
		if (!model->exists[k])
			continue;
		struct blob_get *get = blob_get_begin_sync(store, rf_key(k), 0,
							   UINT64_MAX);
		const unsigned char *data;
		size_t size;
		uint64_t total = 0;
		bool ok = true;
		while (blob_get_read_data(get, &data, &size) > 0) {
			ok = ok && test_blob_check(model->seed[k], total, data,
						   size);
			total += size;
			blob_get_skip(get, size);
		}
		struct blob_result result;
		test_assert_idx(blob_get_end(&get, &result) == 0, k);
		error = result.error;
		test_assert_idx(ok && total == model->size[k] &&
				error == BLOB_ERROR_NONE, k);
	}
	blob_store_destroy(&store);
	test_assert(test_blob_count_files(t_strdup_printf("%s/tmp", dir)) == 0);
}

static void test_randomfail_model(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *dir = test_blob_mkdir("randomfail");
	struct blob_store *store = test_blob_store_create(t_strdup_printf(
		"randomfail:fail=0.25:fail_list=0.1:seed=4242:posix:%s", dir));
	struct rf_model model;
	struct rf_counts counts;

	test_begin("blob randomfail: all or nothing, model check");
	memset(&model, 0, sizeof(model));
	memset(&counts, 0, sizeof(counts));
	rf_rng = 88172645463325252ULL;
	for (unsigned int i = 0; i < RF_OPS; i++) T_BEGIN {
		bool async = rf_rand() % 2 == 0;
		switch (rf_rand() % 10) {
		case 0: case 1: case 2: case 3:
			rf_put(ioloop, store, &model, &counts, i, async);
			break;
		case 4: case 5:
			rf_get(ioloop, store, &model, &counts, i, async);
			break;
		case 6:
			rf_head(ioloop, store, &model, &counts, i, async);
			break;
		case 7:
			rf_delete(ioloop, store, &model, &counts, i, async);
			break;
		case 8:
			rf_copy(ioloop, store, &model, &counts, i, async);
			break;
		default:
			rf_list(ioloop, store, &model, &counts, i, async);
			break;
		}
	} T_END;
	blob_store_destroy(&store);
	/* failures and successes of every kind happened */
	for (unsigned int c = 0; c < 6; c++) {
		test_assert_idx(counts.ok[c] > 0, c);
		test_assert_idx(counts.failed[c] > 0, c);
	}
	printf("  randomfail: put %u/%u get %u/%u head %u/%u delete %u/%u "
	       "copy %u/%u list %u/%u (ok/injected)\n",
	       counts.ok[0], counts.failed[0], counts.ok[1], counts.failed[1],
	       counts.ok[2], counts.failed[2], counts.ok[3], counts.failed[3],
	       counts.ok[4], counts.failed[4], counts.ok[5], counts.failed[5]);
	rf_verify(dir, &model);
	ioloop_destroy(&ioloop);
	test_end();
}

/* The outcome of 300 sync calls, one letter each. */
static const char *rf_sequence(const char *spec_fmt)
{
	const char *dir = test_blob_mkdir("rfseq");
	struct blob_store *store = test_blob_store_create(
		t_strdup_printf(spec_fmt, dir));
	string_t *seq = t_str_new(300);
	struct blob_result result;
	struct blob_info info;

	for (unsigned int i = 0; i < 300; i++) {
		const char *key = t_strdup_printf("s/%u", i % 20);
		int ret;
		switch (i % 3) {
		case 0:
			ret = blob_put_data_sync(store, key, "x", 1, NULL, 0,
						 BLOB_FLAG_OVERWRITE, &result);
			break;
		case 1:
			ret = blob_head_sync(store, key, pool_datastack, &info,
					     &result);
			break;
		default:
			ret = blob_delete_sync(store, key, &result);
			break;
		}
		str_append_c(seq, ret == 0 ? '.' : result.error ==
			     BLOB_ERROR_NOT_FOUND ? 'n' : 'F');
	}
	blob_store_destroy(&store);
	return str_c(seq);
}

static void test_randomfail_seed(void)
{
	test_begin("blob randomfail: a seed reproduces the failures");
	const char *a = rf_sequence(
		"randomfail:fail=0.3:seed=99:posix:fsync=no:%s");
	const char *b = rf_sequence(
		"randomfail:fail=0.3:seed=99:posix:fsync=no:%s");
	const char *c = rf_sequence(
		"randomfail:fail=0.3:seed=100:posix:fsync=no:%s");
	test_assert_strcmp(a, b);
	test_assert(strcmp(a, c) != 0);
	test_assert(strchr(a, 'F') != NULL && strchr(a, '.') != NULL);
	/* no failures at 0 */
	const char *d = rf_sequence("randomfail:fail=0:posix:fsync=no:%s");
	test_assert(strchr(d, 'F') == NULL);
	test_end();
}

static void test_randomfail_classes(void)
{
	const char *dir = test_blob_mkdir("rfclass");
	struct blob_store *store = test_blob_store_create(t_strdup_printf(
		"randomfail:fail=1:fail_get=0:fail_head=0:fail_list=0:posix:%s",
		dir));
	struct blob_result result;
	struct blob_info info;
	unsigned char buf[RF_CHUNK];

	test_begin("blob randomfail: per class; failed puts leave nothing");
	memset(buf, 'p', sizeof(buf));
	for (unsigned int i = 0; i < 30; i++) {
		struct blob_put *put = blob_put_begin_sync(store, "c/1", 0);
		/* up to 4 chunks: the failure comes after some writes */
		for (unsigned int j = 0; j < i % 5; j++)
			(void)blob_put_write(put, buf, sizeof(buf));
		test_assert_idx(blob_put_finish_sync(&put, &result) < 0, i);
		test_assert_idx(rf_injected(result.error,
					    result.internal_error), i);
		test_assert_idx(test_blob_count_files(t_strdup_printf(
			"%s/tmp", dir)) == 0, i);
	}
	test_assert(blob_head_sync(store, "c/1", pool_datastack, &info,
				   &result) < 0);
	test_assert(result.error == BLOB_ERROR_NOT_FOUND);
	test_assert(blob_delete_sync(store, "c/1", &result) < 0);
	test_assert(rf_injected(result.error, result.internal_error));
	test_assert(test_blob_count_files(t_strdup_printf(
		"%s/objects", dir)) == 0);
	unsigned int removed;
	const char *error;
	test_assert(blob_store_cleanup_temp(store, 0, &removed, &error) == 0);
	test_assert(removed == 0);
	blob_store_destroy(&store);
	test_end();
}

/* delay_get: an async get's first read waits; later reads, sync gets and
   a get still delayed when the store is destroyed do not. */
static void test_randomfail_delay(void)
{
	const char *dir = test_blob_mkdir("rfdelay");
	struct ioloop *ioloop = ioloop_create();
	struct blob_store *store = test_blob_store_create(t_strdup_printf(
		"randomfail:delay_get=200:posix:fsync=no:%s", dir));
	struct blob_result result;
	const unsigned char *data;
	struct timespec t0, t1;
	size_t size;
	int ret;

	test_begin("blob randomfail: delay_get");
	test_assert(blob_put_data_sync(store, "d/1", "hello", 5, NULL, 0, 0,
				       &result) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct blob_get *get = blob_get_begin_nowait(store, "d/1", 0,
						     UINT64_MAX);
	test_assert(blob_get_read_data(get, &data, &size) == BLOB_READ_WAIT);
	while ((ret = blob_get_read_data(get, &data, &size)) ==
	       BLOB_READ_WAIT)
		ioloop_run_once(ioloop, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long msecs = (t1.tv_sec - t0.tv_sec) * 1000 +
		(t1.tv_nsec - t0.tv_nsec) / 1000000;
	test_assert(ret > 0 && size == 5 && memcmp(data, "hello", 5) == 0);
	test_assert(msecs >= 190);
	test_assert(blob_get_end(&get, &result) == 0);

	/* sync: at once */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	get = blob_get_begin_sync(store, "d/1", 0, UINT64_MAX);
	test_assert(blob_get_read_data(get, &data, &size) > 0 && size == 5);
	test_assert(blob_get_end(&get, &result) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	test_assert(t1.tv_sec - t0.tv_sec < 1 &&
		    (t1.tv_sec > t0.tv_sec ||
		     t1.tv_nsec - t0.tv_nsec < 150 * 1000000L));

	/* a get abandoned while delayed: destroy drains it */
	get = blob_get_begin(store, "d/1", 0, UINT64_MAX);
	test_assert(blob_get_read_data(get, &data, &size) == BLOB_READ_WAIT);
	(void)blob_get_end(&get, &result);
	blob_store_destroy(&store);
	const char *error;
	test_assert(blob_store_create("randomfail:delay_get=x:posix:/x", NULL,
				      &store, &error) < 0);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_blob_randomfail_tests[] = {
	test_randomfail_model,
	test_randomfail_seed,
	test_randomfail_classes,
	test_randomfail_delay,
	NULL
};
