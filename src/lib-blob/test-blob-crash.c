/* The crash test: a child process puts (and copies) objects as fast as it
   can, 16 in flight, and reports each key on a pipe once its callback said
   it succeeded; the parent SIGKILLs it at a random moment, many times.
   After every kill, each acknowledged object must be there, complete, and
   no key may show a partial object. Killing a process keeps the page
   cache, so this checks atomicity and acknowledgement order, not power
   loss (that would need a VM or a dm-log-writes device). */
#include "test-lib-blob.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define CRASH_DEFAULT_ROUNDS 30
#define CRASH_IN_FLIGHT 16
#define CRASH_CHUNK (128 * 1024)

/* An object's size follows from its key, so any visible object can be
   checked whole. Copies ("<key>.c") have their source's content. */
static uint64_t crash_seed(const char *key)
{
	size_t len = strlen(key);
	if (len > 2 && strcmp(key + len - 2, ".c") == 0)
		key = t_strndup(key, len - 2);
	return test_blob_key_seed(key);
}

static size_t crash_size(uint64_t seed)
{
	if (seed % 4 == 0)
		return (size_t)((seed >> 8) % (3 * CRASH_CHUNK + 1000));
	return (size_t)((seed >> 8) % 9000);
}

struct crash_child {
	struct blob_store *store;
	int ack_fd;
	unsigned int round, seq, done_count;
};

struct crash_put {
	struct crash_child *child;
	char *key;
	bool copy;
};

static void crash_start(struct crash_child *child);

static void crash_ack(struct crash_child *child, const char *key)
{
	const char *line = t_strdup_printf("%s\n", key);
	/* one write below PIPE_BUF: a line is never torn */
	if (write(child->ack_fd, line, strlen(line)) != (ssize_t)strlen(line))
		_exit(4);
}

static void crash_done(const struct blob_result *result, void *context)
{
	struct crash_put *cp = context;
	struct crash_child *child = cp->child;

	if (result->error != BLOB_ERROR_NONE)
		_exit(3);
	crash_ack(child, cp->key);
	/* every eighth object is copied, and the copy acknowledged too */
	if (!cp->copy && ++child->done_count % 8 == 0) {
		struct crash_put *copy = i_new(struct crash_put, 1);
		copy->child = child;
		copy->copy = true;
		copy->key = i_strdup_printf("%s.c", cp->key);
		(void)blob_copy(child->store, cp->key, copy->key, 0,
				crash_done, copy);
	} else {
		crash_start(child);
	}
	i_free(cp->key);
	i_free(cp);
}

static void crash_start(struct crash_child *child)
{
	struct crash_put *cp = i_new(struct crash_put, 1);
	unsigned char buf[32 * 1024];

	cp->child = child;
	cp->key = i_strdup_printf("r%u/o%u", child->round, child->seq++);
	uint64_t seed = crash_seed(cp->key);
	size_t size = crash_size(seed);
	struct blob_put *put = blob_put_begin(child->store, cp->key, 0);
	blob_put_set_metadata(put, "size", t_strdup_printf("%zu", size));
	for (size_t pos = 0; pos < size;) {
		size_t n = I_MIN(sizeof(buf), size - pos);
		test_blob_fill(seed, pos, buf, n);
		(void)blob_put_write(put, buf, n);
		pos += n;
	}
	blob_put_finish(&put, crash_done, cp);
}

static void ATTR_NORETURN
crash_child_run(const char *dir, unsigned int round, int ack_fd)
{
	struct crash_child child = { .ack_fd = ack_fd, .round = round };
	const char *error;

	struct ioloop *ioloop = ioloop_create();
	if (blob_store_create(t_strdup_printf("posix:%s", dir), NULL,
			      &child.store, &error) < 0)
		_exit(2);
	for (unsigned int i = 0; i < CRASH_IN_FLIGHT; i++)
		crash_start(&child);
	ioloop_run(ioloop);
	_exit(5);
}

/* The object at key is whole: its size and content follow from the key. */
static bool crash_check(struct blob_store *store, const char *key,
			const char **why_r)
{
	uint64_t seed = crash_seed(key);
	struct blob_get *get = blob_get_begin_sync(store, key, 0, UINT64_MAX);
	const unsigned char *data;
	size_t size;
	uint64_t total = 0;
	bool ok = true;

	while (blob_get_read_data(get, &data, &size) > 0) {
		ok = ok && test_blob_check(seed, total, data, size);
		total += size;
		blob_get_skip(get, size);
	}
	struct blob_result result;
	if (blob_get_end(&get, &result) < 0) {
		*why_r = t_strdup_printf("get failed: %s",
					 result.internal_error);
		return false;
	}
	if (total != crash_size(seed)) {
		*why_r = t_strdup_printf("size %"PRIu64" instead of %zu",
					 total, crash_size(seed));
		return false;
	}
	if (!ok) {
		*why_r = "content differs";
		return false;
	}
	return true;
}

static void test_blob_crash(void)
{
	const char *dir = test_blob_mkdir("crash");
	unsigned int rounds = CRASH_DEFAULT_ROUNDS;
	unsigned int acked_total = 0, visible_total = 0, temp_total = 0;
	uint32_t rng = 2463534242u;
	const char *env = getenv("COLUMBA_BLOB_CRASH_ROUNDS");
	const char *why;

	if (env != NULL && str_to_uint(env, &rounds) < 0)
		rounds = CRASH_DEFAULT_ROUNDS;
	test_begin(t_strdup_printf("blob crash: SIGKILL during puts, %u times",
				   rounds));
	/* create the layout before the first child races to */
	struct blob_store *store = test_blob_store_create(
		t_strdup_printf("posix:%s", dir));
	if (store == NULL) {
		test_end();
		return;
	}
	for (unsigned int round = 0; round < rounds; round++) T_BEGIN {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			i_fatal("pipe() failed: %m");
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0)
			i_fatal("fork() failed: %m");
		if (pid == 0) {
			close(fds[0]);
			crash_child_run(dir, round, fds[1]);
		}
		close(fds[1]);

		/* somewhere between start-up and a few hundred puts in */
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		usleep(20000 + rng % 250000);
		if (kill(pid, SIGKILL) < 0)
			i_fatal("kill() failed: %m");
		int status;
		if (waitpid(pid, &status, 0) < 0)
			i_fatal("waitpid() failed: %m");
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			test_fail("round %u: child exited by itself "
				  "(status %d)", round, status);
		}

		/* every acknowledged object is there, whole */
		string_t *acks = t_str_new(4096);
		char buf[4096];
		ssize_t n;
		while ((n = read(fds[0], buf, sizeof(buf))) > 0)
			str_append_data(acks, buf, (size_t)n);
		close(fds[0]);
		const char *const *keys = t_strsplit_spaces(str_c(acks), "\n");
		for (; *keys != NULL; keys++) {
			acked_total++;
			if (!crash_check(store, *keys, &why)) {
				test_fail("round %u: acknowledged %s: %s",
					  round, *keys, why);
			}
		}

		/* no key shows a partial object */
		struct blob_list *list = blob_list_begin_sync(
			store, t_strdup_printf("r%u/", round), NULL, 0);
		const struct blob_list_entry *entry;
		while (blob_list_next(list, &entry) > 0) {
			visible_total++;
			if (entry->size != crash_size(crash_seed(entry->key)) ||
			    !crash_check(store, entry->key, &why)) {
				test_fail("round %u: visible %s is partial",
					  round, entry->key);
			}
		}
		test_assert(blob_list_end(&list, NULL) == 0);

		/* what the kill left behind is temporary files only */
		unsigned int removed;
		const char *error;
		test_assert(blob_store_cleanup_temp(store, 0, &removed,
						    &error) == 0);
		temp_total += removed;
	} T_END;
	printf("  crash: %u rounds, %u puts acknowledged, %u objects visible, "
	       "%u temporary files removed\n", rounds, acked_total,
	       visible_total, temp_total);
	test_assert(acked_total > rounds);
	blob_store_destroy(&store);
	test_end();
}

test_func_t *const test_blob_crash_tests[] = {
	test_blob_crash,
	NULL
};
