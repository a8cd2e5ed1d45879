/* Unit tests for src/lib-blob. Each test-*.c here defines its tests and a
   test_*_tests registration; this file runs them all and holds the helpers
   they share. */
#include "test-lib-blob.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

bool test_blob_run_until(struct ioloop *ioloop, const bool *done)
{
	uint64_t end = ioloop_msecs_monotonic() + TEST_BLOB_TIMEOUT_MSECS;
	while (!*done && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	if (!*done)
		test_fail("timed out waiting for the loop");
	return *done;
}

const char *test_blob_mkdir(const char *name)
{
	static unsigned int counter;
	const char *path = t_strdup_printf("%s/%s.%u", test_dir(), name,
					   ++counter);
	if (mkdir(path, 0700) < 0)
		i_fatal("mkdir(%s) failed: %m", path);
	return path;
}

struct blob_store *test_blob_store_create(const char *spec)
{
	struct blob_store *store;
	const char *error;

	if (blob_store_create(spec, NULL, &store, &error) < 0) {
		test_fail("blob_store_create(%s) failed: %s", spec, error);
		return NULL;
	}
	return store;
}

static uint64_t test_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void test_blob_fill(uint64_t seed, uint64_t offset, void *buf, size_t size)
{
	unsigned char *p = buf;
	uint64_t word_idx = UINT64_MAX, word = 0;

	for (size_t i = 0; i < size; i++) {
		uint64_t off = offset + i;
		if (off / 8 != word_idx) {
			word_idx = off / 8;
			uint64_t x = word_idx * 0x2545F4914F6CDD1DULL;
			word = test_splitmix(seed ^ x);
		}
		p[i] = (unsigned char)(word >> ((off % 8) * 8));
	}
}

bool test_blob_check(uint64_t seed, uint64_t offset, const void *data,
		     size_t size)
{
	unsigned char buf[4096];
	const unsigned char *p = data;

	while (size > 0) {
		size_t n = I_MIN(size, sizeof(buf));
		test_blob_fill(seed, offset, buf, n);
		if (memcmp(buf, p, n) != 0)
			return false;
		p += n;
		offset += n;
		size -= n;
	}
	return true;
}

uint64_t test_blob_key_seed(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static unsigned int count_files_n;

static int count_files_cb(const char *path ATTR_UNUSED,
			  const struct stat *st ATTR_UNUSED, int flag,
			  struct FTW *ftw ATTR_UNUSED)
{
	if (flag == FTW_F)
		count_files_n++;
	return 0;
}

unsigned int test_blob_count_files(const char *dir)
{
	count_files_n = 0;
	(void)nftw(dir, count_files_cb, 16, FTW_PHYS);
	return count_files_n;
}

unsigned int test_blob_count_dirs_in(const char *dir)
{
	DIR *dirp = opendir(dir);
	struct dirent *d;
	unsigned int n = 0;

	if (dirp == NULL)
		return 0;
	while ((d = readdir(dirp)) != NULL) {
		if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
			n++;
	}
	closedir(dirp);
	return n;
}

void test_blob_wait_cb(const struct blob_result *result, void *context)
{
	struct test_blob_wait *w = context;

	i_assert(!w->done);
	w->done = true;
	w->error = result->error;
	if (result->error != BLOB_ERROR_NONE) {
		i_assert(result->user_error != NULL &&
			 result->internal_error != NULL);
		w->internal_error = i_strdup(result->internal_error);
	}
}

void test_blob_wait_head_cb(const struct blob_result *result,
			    const struct blob_info *info, void *context)
{
	struct test_blob_wait *w = context;

	test_blob_wait_cb(result, context);
	i_assert((info != NULL) == (result->error == BLOB_ERROR_NONE));
	if (info == NULL)
		return;
	w->have_info = true;
	w->info = *info;
	w->metadata_count = info->metadata_count;
	size_t pos = 0;
	for (unsigned int i = 0; i < info->metadata_count; i++) {
		pos += (size_t)snprintf(w->metadata + pos,
					sizeof(w->metadata) - pos, "%s=%s;",
					info->metadata[i].name,
					info->metadata[i].value);
		i_assert(pos < sizeof(w->metadata));
	}
	w->info.metadata = NULL;
}

enum blob_error test_blob_wait(struct ioloop *ioloop, struct test_blob_wait *w)
{
	(void)test_blob_run_until(ioloop, &w->done);
	i_free(w->internal_error);
	return w->error;
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-blob.def"
#undef TEST_GROUP
	};
	ARRAY(test_func_t *) all;
	array_init(&all, system_pool, 64);
	for (unsigned int g = 0; g < N_ELEMENTS(groups); g++) {
		for (unsigned int i = 0; groups[g][i] != NULL; i++)
			array_push(&all, groups[g][i]);
	}
	array_push(&all, NULL);
	int ret = test_run(all.v);
	array_free(&all);
	return ret;
}
