#ifndef COLUMBA_TEST_LIB_BLOB_H
#define COLUMBA_TEST_LIB_BLOB_H
#include "test-common.h"
#include "ioloop.h"
#include "blob.h"

#include <inttypes.h>

#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-blob.def"
#undef TEST_GROUP

/* Helpers shared by the test files (test-lib-blob.c). */
#define TEST_BLOB_TIMEOUT_MSECS 120000

/* Run the loop until *done; fails the test on timeout. */
bool test_blob_run_until(struct ioloop *ioloop, const bool *done);
/* A new empty directory under test_dir() (absolute, data stack). */
const char *test_blob_mkdir(const char *name);
/* Create a store from spec, or fail the test and return NULL. */
struct blob_store *test_blob_store_create(const char *spec);
/* Deterministic content: the bytes [offset, offset + size) of the object
   with this seed. */
void test_blob_fill(uint64_t seed, uint64_t offset, void *buf, size_t size);
bool test_blob_check(uint64_t seed, uint64_t offset, const void *data,
		     size_t size);
/* A seed derived from a key (FNV-1a). */
uint64_t test_blob_key_seed(const char *key);
/* Regular files under dir, recursively. */
unsigned int test_blob_count_files(const char *dir);
/* Entries of dir other than . and .. (not recursive). */
unsigned int test_blob_count_dirs_in(const char *dir);

/* Result of an async one-shot request. */
struct test_blob_wait {
	bool done;
	enum blob_error error;
	char *internal_error;
	bool have_info;
	struct blob_info info;
	unsigned int metadata_count;
	/* "name=value;" for each field */
	char metadata[2048];
};
void test_blob_wait_cb(const struct blob_result *result, void *context);
void test_blob_wait_head_cb(const struct blob_result *result,
			    const struct blob_info *info, void *context);
/* Run until w->done and free w->internal_error; returns w->error. */
enum blob_error test_blob_wait(struct ioloop *ioloop, struct test_blob_wait *w);
#endif
