/* Tests for the store-independent rules: keys, metadata, error texts,
   specs and driver arguments, and the posix store's marker file. */
#include "test-lib-blob.h"
#include "blob-private.h"

#include <fcntl.h>
#include <sys/stat.h>

static void test_blob_keys(void)
{
	static const char *const valid[] = {
		"a", "A-Z_0.9", "user@example.com/INBOX/0123abcd",
		"a/b/c", "x+y=z,~w", "..a", "a..", "a/.b", "a/..b/c",
	};
	static const char *const invalid[] = {
		"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a",
		"a/..", "a b", "a\tb", "a\nb", "a%b", "a#b", "a\\b", "a*b",
		"\x7f", "\xc3\xa9", "a?b", "a:b",
	};
	const char *error;

	test_begin("blob keys: valid and invalid");
	for (unsigned int i = 0; i < N_ELEMENTS(valid); i++)
		test_assert_idx(blob_key_is_valid(valid[i], &error), i);
	for (unsigned int i = 0; i < N_ELEMENTS(invalid); i++) {
		error = NULL;
		test_assert_idx(!blob_key_is_valid(invalid[i], &error), i);
		test_assert_idx(error != NULL, i);
	}
	char long_key[BLOB_KEY_MAX_LEN + 2];
	memset(long_key, 'k', sizeof(long_key));
	long_key[BLOB_KEY_MAX_LEN] = '\0';
	test_assert(blob_key_is_valid(long_key, &error));
	long_key[BLOB_KEY_MAX_LEN] = 'k';
	long_key[BLOB_KEY_MAX_LEN + 1] = '\0';
	test_assert(!blob_key_is_valid(long_key, &error));
	test_assert_strcmp(blob_key_top("bob/INBOX/1"), "bob");
	test_assert_strcmp(blob_key_top("plain"), "plain");
	test_end();
}

static void test_blob_metadata_rules(void)
{
	test_begin("blob metadata names and values");
	test_assert(blob_metadata_name_is_valid("uid"));
	test_assert(blob_metadata_name_is_valid("save-date_2"));
	test_assert(!blob_metadata_name_is_valid(""));
	test_assert(!blob_metadata_name_is_valid("Uid"));
	test_assert(!blob_metadata_name_is_valid("a.b"));
	test_assert(!blob_metadata_name_is_valid("a b"));
	test_assert(blob_metadata_value_is_valid(""));
	test_assert(blob_metadata_value_is_valid("Hello, world ~!"));
	test_assert(!blob_metadata_value_is_valid("a\nb"));
	test_assert(!blob_metadata_value_is_valid("\xc3\xa9"));
	test_assert(!blob_metadata_value_is_valid("\x7f"));

	struct blob_metadata_field fields[] = {
		{ "a", "1" }, { "b", "2" },
	};
	struct blob_info info = { .metadata = fields, .metadata_count = 2 };
	test_assert_strcmp(blob_info_get_metadata(&info, "b"), "2");
	test_assert(blob_info_get_metadata(&info, "c") == NULL);
	test_end();
}

static void test_blob_error_texts(void)
{
	test_begin("blob error names and user texts");
	test_assert_strcmp(blob_error_name(BLOB_ERROR_NOT_FOUND), "NOT_FOUND");
	test_assert_strcmp(blob_error_name(BLOB_ERROR_TEMPORARY), "TEMPORARY");
	test_assert(blob_error_user_text(BLOB_ERROR_NONE) == NULL);
	for (enum blob_error e = BLOB_ERROR_NOT_FOUND; e <= BLOB_ERROR_INVALID;
	     e++) {
		const char *text = blob_error_user_text(e);
		test_assert_idx(text != NULL && *text != '\0', e);
		/* never a path or a system error text */
		test_assert_idx(strchr(text, '/') == NULL, e);
	}
	test_assert(strstr(blob_error_user_text(BLOB_ERROR_IO),
			   "Internal error occurred") != NULL);
	test_assert(blob_error_is_temporary(BLOB_ERROR_TEMPORARY));
	test_assert(!blob_error_is_temporary(BLOB_ERROR_IO));
	test_end();
}

static const char *test_create_error(const char *spec)
{
	struct blob_store *store;
	const char *error;

	if (blob_store_create(spec, NULL, &store, &error) == 0) {
		blob_store_destroy(&store);
		return "(no error)";
	}
	return error;
}

static void test_blob_specs(void)
{
	const char *dir = test_blob_mkdir("specs");
	struct blob_store *store;
	const char *error;

	test_begin("blob store specs and driver args");
	test_assert(strstr(test_create_error("nosuch:/x"),
			   "Unknown blob store driver") != NULL);
	test_assert(strstr(test_create_error("posix"), "Missing") != NULL);
	test_assert(strstr(test_create_error("posix:"), "Missing") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"posix:fanout=3:%s", dir)), "fanout") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"posix:bogus=1:%s", dir)), "Unknown option") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"posix:metadata=sidecar:%s", dir)), "metadata") != NULL);
	test_assert(strstr(test_create_error(
		"posix:/nonexistent-parent/blobs"), "mkdir") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"randomfail:fail=2:posix:%s", dir)), "share") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"randomfail:fail_bogus=0.1:posix:%s", dir)),
		"Unknown option") != NULL);
	test_assert(strstr(test_create_error("randomfail:fail=0.1"),
			   "Missing") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"randomfail:seed=x:posix:%s", dir)), "seed") != NULL);

	/* options, then a path holding ':' */
	const char *path = t_strdup_printf("%s/with:colon", dir);
	test_assert(blob_store_create(t_strdup_printf(
		"posix:fanout=1:fsync=no:workers=2:%s", path), NULL, &store,
		&error) == 0);
	test_assert_strcmp(blob_store_get_driver(store), "posix");
	blob_store_destroy(&store);
	test_assert(store == NULL);
	struct stat st;
	test_assert(stat(t_strdup_printf("%s/objects", path), &st) == 0);

	test_assert(blob_store_create(t_strdup_printf(
		"randomfail:fail=0.5:fail_get=0:seed=3:posix:%s", path), NULL,
		&store, &error) == 0);
	test_assert_strcmp(blob_store_get_driver(store), "randomfail");
	blob_store_destroy(&store);

	const char *const *opts, *parent;
	blob_args_split_wrapper("a=1:b=2:posix:/x:y", &opts, &parent);
	test_assert(str_array_length(opts) == 2);
	test_assert_strcmp(opts[0], "a=1");
	test_assert_strcmp(opts[1], "b=2");
	test_assert_strcmp(parent, "posix:/x:y");
	blob_args_split_wrapper("a=1", &opts, &parent);
	test_assert(str_array_length(opts) == 1);
	test_assert_strcmp(parent, "");
	test_end();
}

static void test_blob_marker(void)
{
	const char *dir = t_strdup_printf("%s/store",
					  test_blob_mkdir("marker"));
	struct blob_store *store;
	char buf[256];

	test_begin("blob posix marker fixes the layout");
	store = test_blob_store_create(t_strdup_printf(
		"posix:fanout=1:metadata=header:%s", dir));
	blob_store_destroy(&store);
	int fd = open(t_strdup_printf("%s/columba-blob-store", dir), O_RDONLY);
	test_assert(fd >= 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	test_assert_strcmp(buf, "format=1\nfanout=1\nmetadata=header\n");

	/* reopening without options takes the marker's layout */
	store = test_blob_store_create(t_strdup_printf("posix:%s", dir));
	blob_store_destroy(&store);
	/* conflicting options are refused */
	test_assert(strstr(test_create_error(t_strdup_printf(
		"posix:fanout=2:%s", dir)), "created with fanout=1") != NULL);
	test_assert(strstr(test_create_error(t_strdup_printf(
		"posix:metadata=xattr:%s", dir)), "metadata=header") != NULL);

	/* a marker we cannot read is an error, not a silent new layout */
	fd = open(t_strdup_printf("%s/columba-blob-store", dir),
		  O_WRONLY | O_TRUNC);
	test_assert(fd >= 0 && write(fd, "format=9\n", 9) == 9);
	close(fd);
	test_assert(strstr(test_create_error(t_strdup_printf("posix:%s", dir)),
			   "known format") != NULL);
	test_end();
}

test_func_t *const test_blob_api_tests[] = {
	test_blob_keys,
	test_blob_metadata_rules,
	test_blob_error_texts,
	test_blob_specs,
	test_blob_marker,
	NULL
};
