/* The crash test: writers append messages and report each acknowledged
   UID over a pipe; they are killed with SIGKILL at random moments, 50
   times (every other time two writers at once). After each kill the
   store is opened again and must hold every acknowledged message with its
   exact content, no message that is not complete, UIDs strictly
   ascending, and accept new appends at once (a dead writer's UID
   reservation must not block anyone). A writer killed between its
   COMMIT and its group WAL sync leaves its slot in the shared sync file:
   the first reader must sync for it and free the slot, so the next
   reader does not wait (counted as "killed inside the sync window"). */
#include "test-lib-storage.h"
#include "mail-index-private.h"
#include "hash.h"
#include "ioloop.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define CRASH_RUNS 50
#define POINTER_CAST(i) ((void *)(uintptr_t)(i))
#define POINTER_TO_UINT(p) ((unsigned int)(uintptr_t)(p))
#define CRASH_MAX_BODY 60000

/* Message n, CRLF line ends, a size that varies with n. */
static const char *crash_msg(unsigned int n)
{
	unsigned int lines = (n * 7919u) % (CRASH_MAX_BODY / 40) + 1;
	string_t *str = t_str_new(lines * 40 + 128);

	str_printfa(str, "Subject: crash %u\r\nX-N: %u\r\n\r\n", n, n);
	for (unsigned int i = 0; i < lines; i++)
		str_printfa(str, "%u:%u the quick brown fox jumps over\r\n", n, i);
	return str_c(str);
}

static int crash_writer(const char *home, unsigned int first_n, int fd)
{
	struct mail_user *user = test_user_init_home(home);
	struct mailbox *box;

	if (mailbox_open(user, "INBOX", &box) < 0)
		return 2;
	for (unsigned int n = first_n;; n++) T_BEGIN {
		const char *msg = crash_msg(n);
		size_t len = strlen(msg);
		struct mailbox_transaction *t =
			mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
		struct mail_transaction_commit_result result;
		struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);
		if (ctx == NULL)
			_exit(3);
		for (size_t pos = 0; pos < len; pos += 4096) {
			if (mail_save_write(ctx, msg + pos, I_MIN(4096, len - pos)) < 0)
				_exit(4);
		}
		if (mail_save_finish(&ctx) < 0 ||
		    mailbox_transaction_commit_sync(&t, pool_datastack, &result) < 0)
			_exit(5);
		/* acknowledged: the client may now rely on it */
		const char *line = t_strdup_printf("%u %u\n", result.uids.v[0], n);
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
			_exit(6);
	} T_END;
	return 0;
}

/* Read "uid n" lines until EOF into acked. */
static void crash_read_acks(int fd, struct hash_table *acked,
			    unsigned int *count)
{
	string_t *buf = t_str_new(4096);
	char tmp[4096];
	ssize_t ret;

	while ((ret = read(fd, tmp, sizeof(tmp))) > 0)
		buffer_append(buf, tmp, (size_t)ret);
	const char *const *lines = t_strsplit(str_c(buf), "\n");
	for (; *lines != NULL; lines++) {
		unsigned int uid, n;
		if (sscanf(*lines, "%u %u", &uid, &n) != 2)
			continue;
		hash_table_insert(acked, POINTER_CAST(uid), POINTER_CAST(n));
		(*count)++;
	}
}

/* Every visible message complete, every acknowledged one there. */
static unsigned int crash_sync_window_kills;

/* No writer is alive now: at most one sync (for a writer killed inside
   its sync window), then none. */
static bool crash_verify_sync_slots(struct mail_index *index)
{
	uint64_t f0, j0, f1, j1, f2, j2;

	mail_index_get_durable_stats(index, &f0, &j0);
	if (mail_index_reader_durable(index) < 0)
		return false;
	mail_index_get_durable_stats(index, &f1, &j1);
	if (f1 + j1 > f0 + j0)
		crash_sync_window_kills++;
	if (mail_index_reader_durable(index) < 0)
		return false;
	mail_index_get_durable_stats(index, &f2, &j2);
	if (f2 + j2 != f1 + j1) {
		test_fail("a dead writer's sync slot is still set");
		return false;
	}
	return true;
}

static bool crash_verify(const char *home, struct hash_table *acked,
			 struct hash_table *verified)
{
	struct mail_user *user = test_user_init_home(home);
	struct mailbox *box;
	ARRAY_TYPE(mail_uid) uids;
	bool ok = true;

	if (!crash_verify_sync_slots(mail_user_get_index(user))) {
		mail_user_deinit(&user);
		return false;
	}

	if (mailbox_open(user, "INBOX", &box) < 0) {
		mail_user_deinit(&user);
		return false;
	}
	array_init(&uids, pool_datastack, 256);
	if (mail_index_get_uids(mail_user_get_index(user), mailbox_get_id(box),
				&uids) < 0)
		ok = false;
	for (unsigned int i = 1; i < array_count(&uids); i++) {
		if (uids.v[i] <= uids.v[i - 1]) {
			test_fail("UIDs not ascending: %u after %u",
				  uids.v[i], uids.v[i - 1]);
			ok = false;
		}
	}
	if (array_count(&uids) > 0 &&
	    mailbox_get_uidnext(box) <= uids.v[array_count(&uids) - 1]) {
		test_fail("UIDNEXT %u not above UID %u", mailbox_get_uidnext(box),
			  uids.v[array_count(&uids) - 1]);
		ok = false;
	}
	const uint32_t *uidp;
	array_foreach(&uids, uidp) T_BEGIN {
		if (hash_table_lookup(verified, POINTER_CAST(*uidp)) != NULL) {
			/* immutable: checked in an earlier round */
		} else {
			struct mail_section_request req = {
				.section = "", .partial_size = UINT64_MAX,
			};
			buffer_t *body = t_str_new(CRASH_MAX_BODY * 2);
			unsigned int n;
			if (mail_fetch_section_sync(box, *uidp, &req, body) < 0 ||
			    sscanf(str_c(body), "Subject: crash %u\r\n", &n) != 1 ||
			    strcmp(str_c(body), crash_msg(n)) != 0) {
				test_fail("UID %u: incomplete or wrong content", *uidp);
				ok = false;
			} else {
				void *want = hash_table_lookup(acked, POINTER_CAST(*uidp));
				if (want != NULL && POINTER_TO_UINT(want) != n) {
					test_fail("UID %u: message %u, acknowledged as %u",
						  *uidp, n, POINTER_TO_UINT(want));
					ok = false;
				}
				hash_table_insert(verified, POINTER_CAST(*uidp),
						  POINTER_CAST(1));
			}
		}
	} T_END;

	/* every acknowledged message is there */
	struct hash_iterate iter;
	void *key, *value;
	hash_table_iterate_init(acked, &iter);
	while (hash_table_iterate(&iter, &key, &value)) {
		uint32_t uid = POINTER_TO_UINT(key);
		bool found = false;
		for (unsigned int i = 0; i < array_count(&uids) && !found; i++)
			found = uids.v[i] == uid;
		if (!found) {
			test_fail("acknowledged UID %u is missing", uid);
			ok = false;
		}
	}

	/* a dead writer's reservation does not block the next append */
	uint64_t start = ioloop_msecs_monotonic();
	uint32_t uid = test_save(box, "Subject: after crash\r\n\r\nx\r\n", 0, NULL);
	if (uid == 0)
		ok = false;
	else
		hash_table_insert(verified, POINTER_CAST(uid), POINTER_CAST(1));
	if (ioloop_msecs_monotonic() - start > 5000) {
		test_fail("append after a crash took %llu ms",
			  (unsigned long long)(ioloop_msecs_monotonic() - start));
		ok = false;
	}
	mailbox_close(&box);
	mail_user_deinit(&user);
	return ok;
}

static void test_crash(void)
{
	const char *home;
	struct mail_user *user = test_user_init(&home);
	struct hash_table *acked = hash_table_create_direct(system_pool, 1024);
	struct hash_table *verified = hash_table_create_direct(system_pool, 1024);
	unsigned int acks = 0, kills = 0;
	bool ok = true;

	test_begin("crash: SIGKILLed writers lose nothing acknowledged");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	mail_user_deinit(&user);
	srand((unsigned int)time(NULL));

	for (unsigned int run = 0; run < CRASH_RUNS && ok; run++) {
		unsigned int writers = run % 2 == 0 ? 1 : 2;
		pid_t pids[2];
		int fds[2];

		if (pipe(fds) < 0)
			i_fatal("pipe() failed: %m");
		for (unsigned int w = 0; w < writers; w++) {
			mail_index_wait_checkpoints();
			pids[w] = fork();
			if (pids[w] == 0) {
				close(fds[0]);
				_exit(crash_writer(home, (run * 2 + w) * 100000 + 1,
						   fds[1]));
			}
		}
		close(fds[1]);
		/* somewhere in the middle of a put, a commit, or between */
		usleep((useconds_t)(5000 + rand() % 250000));
		for (unsigned int w = 0; w < writers; w++) {
			int status;
			(void)kill(pids[w], SIGKILL);
			if (waitpid(pids[w], &status, 0) != pids[w] ||
			    !WIFSIGNALED(status)) {
				test_fail("writer exited on its own: %d",
					  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
				ok = false;
			}
			kills++;
		}
		T_BEGIN {
			crash_read_acks(fds[0], acked, &acks);
		} T_END;
		close(fds[0]);
		T_BEGIN {
			if (!crash_verify(home, acked, verified))
				ok = false;
		} T_END;
	}
	printf("  %u writers killed (%u inside the sync window), %u messages "
	       "acknowledged, %u verified\n", kills, crash_sync_window_kills,
	       acks, hash_table_count(verified));
	test_assert(ok);
	test_assert(acks > 0);
	hash_table_destroy(&acked);
	hash_table_destroy(&verified);
	test_end();
}

test_func_t *const test_mail_crash_tests[] = {
	test_crash,
	NULL
};
