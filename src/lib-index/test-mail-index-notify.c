/* Unit tests for the process-wide change-notification registry
   (mail-index-notify.c): one inotify instance for every watcher, one
   watch per notify file, callbacks that end watchers, files replaced
   under the watchers. */
#include "test-lib-index.h"
#include "ioloop.h"
#include <sys/stat.h>
#include <time.h>

struct watcher {
	struct mail_index_notify *notify;
	unsigned int calls;
	/* the callback deinits these (itself included, maybe) */
	struct watcher *kill1, *kill2;
	/* the callback inits a new watcher on this index */
	struct mail_index *spawn_index;
	struct watcher *spawned;
};

static uint64_t now_msecs(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void watcher_callback(void *context);

static void watcher_init(struct watcher *w, struct mail_index *index)
{
	const char *error;

	if (mail_index_notify_init(index, watcher_callback, w, &w->notify,
				   &error) < 0)
		test_fail("notify init: %s", error);
}

static void watcher_callback(void *context)
{
	struct watcher *w = context;

	w->calls++;
	if (w->kill1 != NULL)
		mail_index_notify_deinit(&w->kill1->notify);
	if (w->kill2 != NULL)
		mail_index_notify_deinit(&w->kill2->notify);
	if (w->spawn_index != NULL) {
		w->spawned = i_new(struct watcher, 1);
		watcher_init(w->spawned, w->spawn_index);
		w->spawn_index = NULL;
	}
}

/* Run the ioloop until every watcher in ws[0..count) that still has a
   notify was called min_calls times, or 2 s pass; then a little longer,
   to catch extra calls. */
static void run_until_called(struct ioloop *ioloop, struct watcher *ws,
			     unsigned int count, unsigned int min_calls)
{
	uint64_t end = now_msecs() + 2000;

	for (;;) {
		bool done = true;
		for (unsigned int i = 0; i < count && done; i++) {
			if (ws[i].notify != NULL && ws[i].calls < min_calls)
				done = false;
		}
		if (done || now_msecs() > end)
			break;
		ioloop_run_once(ioloop, 50);
	}
	ioloop_run_once(ioloop, 20);
}

static void notify_stats(struct mail_index_notify_stats *stats)
{
	mail_index_notify_get_stats(stats);
}

static void test_notify_many_one_path(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_notify_stats stats;
	const unsigned int n = 500;
	struct watcher *ws = i_new(struct watcher, n);

	test_begin("notify: 500 watchers of one file share one watch");
	uint32_t box = test_mailbox_create(index, "INBOX");
	ioloop_run_once(ioloop, 0);
	for (unsigned int i = 0; i < n; i++)
		watcher_init(&ws[i], index);
	notify_stats(&stats);
	test_assert(stats.instances == 1);
	test_assert(stats.watchers == n);
	test_assert(stats.watches == 1);

	(void)test_append(index, box, 1, 0, NULL);
	run_until_called(ioloop, ws, n, 1);
	for (unsigned int i = 0; i < n; i++)
		test_assert_idx(ws[i].calls == 1, i);

	/* many commits before the loop runs: one more call each */
	for (unsigned int i = 0; i < 5; i++)
		(void)test_append(index, box, 1, 0, NULL);
	run_until_called(ioloop, ws, n, 2);
	for (unsigned int i = 0; i < n; i++)
		test_assert_idx(ws[i].calls == 2, i);

	for (unsigned int i = 0; i < n; i++)
		mail_index_notify_deinit(&ws[i].notify);
	notify_stats(&stats);
	test_assert(stats.instances == 0 && stats.watchers == 0 &&
		    stats.watches == 0);
	i_free(ws);
	mail_index_close(&index);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_notify_many_paths(void)
{
	struct ioloop *ioloop = ioloop_create();
	const unsigned int n_index = 40, per_index = 3;
	struct mail_index *indexes[40];
	uint32_t boxes[40];
	struct watcher *ws = i_new(struct watcher, n_index * per_index);
	struct mail_index_notify_stats stats;

	test_begin("notify: 40 files, 3 watchers each: a change wakes its 3");
	for (unsigned int i = 0; i < n_index; i++) {
		indexes[i] = test_index_open(NULL);
		boxes[i] = test_mailbox_create(indexes[i], "INBOX");
	}
	ioloop_run_once(ioloop, 0);
	for (unsigned int i = 0; i < n_index * per_index; i++)
		watcher_init(&ws[i], indexes[i / per_index]);
	notify_stats(&stats);
	test_assert(stats.instances == 1);
	test_assert(stats.watches == n_index);
	test_assert(stats.watchers == n_index * per_index);

	(void)test_append(indexes[7], boxes[7], 1, 0, NULL);
	run_until_called(ioloop, ws + 7 * per_index, per_index, 1);
	for (unsigned int i = 0; i < n_index * per_index; i++)
		test_assert_idx(ws[i].calls == (i / per_index == 7 ? 1 : 0), i);

	/* the last watcher of a file removes its watch only */
	for (unsigned int i = 0; i < per_index; i++)
		mail_index_notify_deinit(&ws[7 * per_index + i].notify);
	notify_stats(&stats);
	test_assert(stats.watches == n_index - 1);
	for (unsigned int i = 0; i < n_index * per_index; i++)
		mail_index_notify_deinit(&ws[i].notify);
	for (unsigned int i = 0; i < n_index; i++)
		mail_index_close(&indexes[i]);
	notify_stats(&stats);
	test_assert(stats.instances == 0 && stats.watches == 0);
	i_free(ws);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_notify_remove_in_callback(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct mail_index *index = test_index_open(NULL);
	struct mail_index *index2 = test_index_open(NULL);
	struct mail_index_notify_stats stats;
	struct watcher ws[6], other;

	test_begin("notify: callbacks deinit watchers and init new ones");
	memset(ws, 0, sizeof(ws));
	memset(&other, 0, sizeof(other));
	uint32_t box = test_mailbox_create(index, "INBOX");
	uint32_t box2 = test_mailbox_create(index2, "INBOX");
	ioloop_run_once(ioloop, 0);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		watcher_init(&ws[i], index);
	/* whichever runs first ends the others in both directions and
	   itself; ws[5] adds a watcher during the dispatch */
	ws[0].kill1 = &ws[1];
	ws[0].kill2 = &ws[0];
	ws[1].kill1 = &ws[0];
	ws[1].kill2 = &ws[1];
	ws[2].kill1 = &ws[3];
	ws[2].kill2 = &ws[2];
	ws[3].kill1 = &ws[2];
	ws[3].kill2 = &ws[3];
	ws[4].kill1 = &ws[4];
	ws[5].spawn_index = index;
	(void)test_append(index, box, 1, 0, NULL);
	run_until_called(ioloop, &ws[5], 1, 1);
	/* exactly one of each killing pair ran, and the other never */
	test_assert(ws[0].calls + ws[1].calls == 1);
	test_assert(ws[2].calls + ws[3].calls == 1);
	test_assert(ws[4].calls == 1 && ws[5].calls == 1);
	test_assert(ws[0].notify == NULL && ws[1].notify == NULL);
	test_assert(ws[2].notify == NULL && ws[3].notify == NULL);
	test_assert(ws[4].notify == NULL && ws[5].notify != NULL);
	test_assert(ws[5].spawned != NULL && ws[5].spawned->calls == 0);
	notify_stats(&stats);
	test_assert(stats.watchers == 2 && stats.watches == 1);

	/* the new watcher is woken by the next change */
	(void)test_append(index, box, 1, 0, NULL);
	run_until_called(ioloop, ws[5].spawned, 1, 1);
	test_assert(ws[5].spawned != NULL && ws[5].spawned->calls == 1);
	test_assert(ws[5].calls == 2);

	/* a callback that ends the process's last watchers of both files:
	   the instance closes after the dispatch, and comes back */
	watcher_init(&other, index2);
	ws[5].kill1 = ws[5].spawned;
	ws[5].kill2 = &ws[5];
	ws[5].spawned->kill1 = &ws[5];
	ws[5].spawned->kill2 = ws[5].spawned;
	other.kill1 = &other;
	(void)test_append(index, box, 1, 0, NULL);
	(void)test_append(index2, box2, 1, 0, NULL);
	uint64_t end = now_msecs() + 2000;
	do {
		ioloop_run_once(ioloop, 50);
		notify_stats(&stats);
	} while (stats.watchers > 0 && now_msecs() < end);
	test_assert(stats.instances == 0 && stats.watchers == 0 &&
		    stats.watches == 0);
	if (ws[5].spawned->notify != NULL)
		mail_index_notify_deinit(&ws[5].spawned->notify);
	mail_index_notify_deinit(&other.notify);
	test_assert(ioloop_io_count(ioloop) == 0);
	watcher_init(&other, index2);
	other.kill1 = NULL;
	notify_stats(&stats);
	test_assert(stats.instances == 1 && stats.watches == 1);
	(void)test_append(index2, box2, 1, 0, NULL);
	unsigned int before = other.calls;
	run_until_called(ioloop, &other, 1, before + 1);
	test_assert(other.calls == before + 1);
	mail_index_notify_deinit(&other.notify);
	i_free(ws[5].spawned);
	mail_index_close(&index);
	mail_index_close(&index2);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_notify_same_path_two_indexes(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *path;
	struct mail_index *index1 = test_index_open(&path);
	struct mail_index *index2 = test_index_open_path(path);
	struct mail_index_notify_stats stats;
	struct watcher ws[4];

	test_begin("notify: one file watched through two opened indexes");
	memset(ws, 0, sizeof(ws));
	uint32_t box1 = test_mailbox_create(index1, "INBOX");
	uint32_t box2 = test_mailbox_create(index2, "Other");
	ioloop_run_once(ioloop, 0);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		watcher_init(&ws[i], i % 2 == 0 ? index1 : index2);
	notify_stats(&stats);
	test_assert(stats.watches == 1 && stats.watchers == 4);
	/* a change through either wakes all: the mailboxes share a file */
	(void)test_append(index2, box2, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 1);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 1, i);
	(void)test_append(index1, box1, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 2);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 2, i);
	/* the watch outlives the index it was made through */
	mail_index_notify_deinit(&ws[0].notify);
	mail_index_notify_deinit(&ws[2].notify);
	mail_index_close(&index1);
	(void)test_append(index2, box2, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 3);
	test_assert(ws[1].calls == 3 && ws[3].calls == 3);
	mail_index_notify_deinit(&ws[1].notify);
	mail_index_notify_deinit(&ws[3].notify);
	mail_index_close(&index2);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_notify_file_replaced(void)
{
	struct ioloop *ioloop = ioloop_create();
	const char *path;
	/* watched through watch_index; writer_index commits (it opens the
	   notify file at its first commit after the replacement) */
	struct mail_index *watch_index = test_index_open(&path);
	struct mail_index_notify_stats stats;
	struct watcher ws[3];

	test_begin("notify: file renamed away, removed, unwatchable, back");
	memset(ws, 0, sizeof(ws));
	const char *notify_path = t_strdup_printf("%s-notify", path);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		watcher_init(&ws[i], watch_index);
	ioloop_run_once(ioloop, 0);

	/* renamed away (as a rebuild would replace it): each watcher is
	   woken once and watches the new file */
	test_assert(rename(notify_path,
			   t_strdup_printf("%s.old", notify_path)) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 1);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 1, i);
	struct stat st;
	test_assert(stat(notify_path, &st) == 0);
	notify_stats(&stats);
	test_assert(stats.watches == 1 && stats.lost_watches == 0);
	struct mail_index *writer = test_index_open_path(path);
	uint32_t box = test_mailbox_create(writer, "INBOX");
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 2);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 2, i);
	mail_index_close(&writer);

	/* removed (nobody holds it open): the same */
	test_assert(unlink(notify_path) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 3);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 3, i);
	writer = test_index_open_path(path);
	(void)test_append(writer, box, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 4);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 4, i);
	mail_index_close(&writer);

	/* removed while a writer holds it open: the writer's next commit
	   goes to the new file, which the watchers watch */
	writer = test_index_open_path(path);
	(void)test_append(writer, box, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 5);
	test_assert(unlink(notify_path) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 6);
	test_assert(stat(notify_path, &st) == 0);
	(void)test_append(writer, box, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 7);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 7, i);
	mail_index_close(&writer);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		ws[i].calls -= 3;

	/* replaced by something that cannot be watched: woken now and
	   about every second, until the file is back */
	test_expect_log(LOG_TYPE_ERROR, "open(");
	test_assert(unlink(notify_path) == 0);
	test_assert(mkdir(notify_path, 0700) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 5);
	notify_stats(&stats);
	test_assert(stats.lost_watches == 1 && stats.watches == 0);
	test_assert(stats.instances == 1 && stats.watchers == 3);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 6);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 6, i);
	test_assert(rmdir(notify_path) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 7);
	notify_stats(&stats);
	test_assert(stats.lost_watches == 0 && stats.watches == 1);
	writer = test_index_open_path(path);
	(void)test_append(writer, box, 1, 0, NULL);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 8);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		test_assert_idx(ws[i].calls == 8, i);
	mail_index_close(&writer);

	/* a lost watch's watchers can end too */
	test_assert(unlink(notify_path) == 0);
	test_assert(mkdir(notify_path, 0700) == 0);
	run_until_called(ioloop, ws, N_ELEMENTS(ws), 9);
	notify_stats(&stats);
	test_assert(stats.lost_watches == 1);
	for (unsigned int i = 0; i < N_ELEMENTS(ws); i++)
		mail_index_notify_deinit(&ws[i].notify);
	notify_stats(&stats);
	test_assert(stats.lost_watches == 0 && stats.instances == 0);
	test_assert(ioloop_io_count(ioloop) == 0);
	(void)rmdir(notify_path);
	mail_index_close(&watch_index);
	ioloop_destroy(&ioloop);
	test_end();
}

test_func_t *const test_mail_index_notify_tests[] = {
	test_notify_many_one_path,
	test_notify_many_paths,
	test_notify_remove_in_callback,
	test_notify_same_path_two_indexes,
	test_notify_file_replaced,
	NULL
};
