/* Tests for saving: a message's blob and index row (parse results,
   metadata), multi-append all-or-nothing, copy and move with their own
   blobs, expunge deleting blobs, async saves with group commit, errors
   from a failing blob store. */
#include "test-lib-storage.h"
#include "ioloop.h"
#include "blob.h"
#include "mail-blob-meta.h"
#include <dlfcn.h>
#include <sys/stat.h>

static const char *test_msg =
	"Date: Tue, 14 Nov 2023 22:13:20 +0100\n"
	"From: Alice <alice@example.com>\n"
	"To: bob@example.org\n"
	"Subject: Hello\n"
	"Message-ID: <1@example.com>\n"
	"X-Other: not cached\n"
	"\n"
	"Hi Bob,\n"
	"this is the body.\n";

static uint32_t box_create_open(struct mail_user *user, const char *name,
				struct mailbox **box_r)
{
	if (mail_user_mailbox_create(user, name, 0) < 0 ||
	    mailbox_open(user, name, box_r) < 0) {
		test_fail("create/open %s: %s", name, test_user_error(user));
		return 0;
	}
	return mailbox_get_id(*box_r);
}

static const struct mail_index_record *
fetch_rec(struct mailbox *box, uint32_t uid)
{
	ARRAY_TYPE(mail_index_record) recs;
	ARRAY_TYPE(seq_range) uids;

	array_init(&recs, pool_datastack, 1);
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add(&uids, uid);
	if (mailbox_fetch_records(box, &uids, MAIL_INDEX_FETCH_DETAILS |
				  MAIL_INDEX_FETCH_CACHE, pool_datastack,
				  &recs) < 0 || array_count(&recs) != 1)
		return NULL;
	return &recs.v[0];
}

static void test_save_one(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	static const char *const kws[] = { "$Forwarded", NULL };

	test_begin("save: blob first, then the index row with parse results");
	box_create_open(user, "INBOX", &box);
	uint32_t uid = test_save(box, test_msg, MAIL_SEEN, kws);
	test_assert(uid == 1);
	const struct mail_index_record *rec = fetch_rec(box, uid);
	test_assert(rec != NULL);
	if (rec != NULL) {
		test_assert(rec->flags == MAIL_SEEN);
		test_assert(rec->physical_size == strlen(test_msg));
		/* 9 LFs become CRLFs */
		test_assert(rec->rfc822_size == strlen(test_msg) + 9);
		test_assert(rec->internal_date == 1700000000 && rec->internal_tz == 60);
		test_assert(rec->sent_date == 1699996400 && rec->sent_tz == 60);
		test_assert(rec->envelope != NULL &&
			    strstr(rec->envelope, "\"Hello\"") != NULL &&
			    strstr(rec->envelope, "\"alice\" \"example.com\"") != NULL);
		test_assert(rec->bodystructure != NULL &&
			    strncmp(rec->bodystructure, "\"text\" \"plain\"", 14) == 0);
		test_assert(rec->body != NULL);
		test_assert(rec->parts != NULL);
		test_assert(rec->headers != NULL &&
			    memmem(rec->headers, rec->headers_size, "X-Other", 7) == NULL &&
			    memmem(rec->headers, rec->headers_size, "Subject: Hello\n", 15) != NULL);
		test_assert(strlen(rec->guid) == 32);

		/* the blob: the message as written, with its metadata */
		struct blob_info info;
		struct blob_result result;
		buffer_t *buf = t_str_new(256);
		test_assert(blob_get_data_sync(mail_user_get_blob_store(user),
					       rec->blob_key, buf, &result) == 0);
		test_assert(buf->used == strlen(test_msg) &&
			    memcmp(buf->data, test_msg, buf->used) == 0);
		test_assert(blob_head_sync(mail_user_get_blob_store(user),
					   rec->blob_key, pool_datastack, &info,
					   &result) == 0);
		struct mail_blob_meta meta;
		const char *error;
		test_assert(mail_blob_meta_parse(&info, pool_datastack, &meta, &error) == 0);
		test_assert(meta.uid == 1);
		test_assert(meta.uidvalidity == mailbox_get_uidvalidity(box));
		test_assert_strcmp(meta.mailbox_guid, mailbox_get_guid(box));
		test_assert_strcmp(meta.mailbox_name, "INBOX");
		test_assert(meta.flags == MAIL_SEEN);
		test_assert(meta.keywords != NULL &&
			    strcmp(meta.keywords[0], "$Forwarded") == 0);
		test_assert(meta.internal_date == 1700000000);
		test_assert_strcmp(meta.guid, rec->guid);
		const char *mbox_guid;
		uint32_t key_uid;
		test_assert(mail_blob_key_parse(rec->blob_key, "mail", &mbox_guid,
						&key_uid) && key_uid == 1);
	}
	mailbox_close(&box);
	test_assert(box == NULL);
	mail_user_deinit(&user);
	test_assert(user == NULL);
	test_end();
}

static void test_save_multi(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	struct mail_transaction_commit_result result;

	test_begin("save: several messages in one transaction, rollback");
	box_create_open(user, "INBOX", &box);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
	for (unsigned int i = 0; i < 3; i++) {
		struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);
		test_assert(ctx != NULL);
		test_assert(mail_save_write(ctx, test_msg, strlen(test_msg)) == 0);
		test_assert(mail_save_finish(&ctx) == 0);
	}
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack, &result) == 0);
	test_assert(array_count(&result.uids) == 3);
	test_assert(result.uids.v[0] == 1 && result.uids.v[2] == 3);
	test_assert(result.uidvalidity == mailbox_get_uidvalidity(box));

	/* a rolled back MULTIAPPEND leaves nothing: no row, no blob */
	t = mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
	struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);
	test_assert(mail_save_write(ctx, test_msg, strlen(test_msg)) == 0);
	test_assert(mail_save_finish(&ctx) == 0);
	mailbox_transaction_rollback(&t);
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(mail_user_get_index(user),
					      mailbox_get_id(box), &status) == 0);
	test_assert(status.messages == 3);
	/* the reserved UID is gone for good */
	test_assert(test_save(box, test_msg, 0, NULL) == 5);

	struct blob_list *list = blob_list_begin_sync(mail_user_get_blob_store(user),
						      "mail/", NULL, 0);
	const struct blob_list_entry *entry;
	unsigned int blobs = 0;
	while (blob_list_next(list, &entry) > 0) {
		if (strstr(entry->key, "mailbox-list") == NULL)
			blobs++;
	}
	test_assert(blob_list_end(&list, NULL) == 0);
	test_assert(blobs == 4);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

static unsigned int count_message_blobs(struct mail_user *user)
{
	struct blob_list *list = blob_list_begin_sync(mail_user_get_blob_store(user),
						      "mail/", NULL, 0);
	const struct blob_list_entry *entry;
	unsigned int blobs = 0;

	while (blob_list_next(list, &entry) > 0) {
		const char *guid;
		uint32_t uid;
		if (mail_blob_key_parse(entry->key, "mail", &guid, &uid))
			blobs++;
	}
	if (blob_list_end(&list, NULL) < 0)
		return UINT_MAX;
	return blobs;
}

static void test_copy_move_expunge(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *inbox, *archive;
	struct mail_transaction_commit_result result;
	static const char *const kws[] = { "work", NULL };

	test_begin("copy, move (own blobs, new UIDs, COPYUID) and expunge");
	box_create_open(user, "INBOX", &inbox);
	box_create_open(user, "Archive", &archive);
	test_save(inbox, test_msg, MAIL_FLAGGED, kws);
	test_save(inbox, test_msg, 0, NULL);
	test_save(inbox, test_msg, MAIL_SEEN, NULL);
	test_assert(test_save(archive, test_msg, 0, NULL) == 1);

	struct mailbox_transaction *t =
		mailbox_transaction_begin(archive, MAILBOX_TRANSACTION_FLAG_SYNC);
	test_assert(mail_copy(t, inbox, 1, false) == 0);
	test_assert(mail_copy(t, inbox, 3, true) == 0);
	test_assert(mail_copy(t, inbox, 99, false) < 0);
	test_assert(mail_user_get_last_error(user, NULL, NULL) == MAIL_ERROR_EXPUNGED);
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack, &result) == 0);
	test_assert(array_count(&result.uids) == 2 && array_count(&result.src_uids) == 2);
	test_assert(result.uids.v[0] == 2 && result.uids.v[1] == 3);
	test_assert(result.src_uids.v[0] == 1 && result.src_uids.v[1] == 3);

	const struct mail_index_record *src = fetch_rec(inbox, 1);
	const char *src_key = src == NULL ? "" : t_strdup(src->blob_key);
	const char *src_guid = src == NULL ? "" : t_strdup(src->guid);
	const struct mail_index_record *rec = fetch_rec(archive, 2);
	test_assert(rec != NULL);
	if (rec != NULL) {
		test_assert(rec->flags == MAIL_FLAGGED);
		test_assert(rec->keywords != NULL && strcmp(rec->keywords[0], "work") == 0);
		test_assert(strcmp(rec->blob_key, src_key) != 0);
		test_assert_strcmp(rec->guid, src_guid);
		test_assert(rec->envelope != NULL);
		/* its own blob, with its own metadata */
		struct blob_info info;
		struct blob_result bres;
		struct mail_blob_meta meta;
		const char *error;
		test_assert(blob_head_sync(mail_user_get_blob_store(user),
			rec->blob_key, pool_datastack, &info, &bres) == 0);
		test_assert(mail_blob_meta_parse(&info, pool_datastack, &meta, &error) == 0);
		test_assert(meta.uid == 2);
		test_assert_strcmp(meta.mailbox_name, "Archive");
		test_assert(meta.flags == MAIL_FLAGGED);
		buffer_t *body = t_str_new(256);
		struct mail_section_request req = { .section = "", .partial_size = UINT64_MAX };
		test_assert(mail_fetch_section_sync(archive, 2, &req, body) == 0);
		test_assert(body->used == strlen(test_msg) + 9);
	}
	/* moved: gone from INBOX, with its blob */
	test_assert(fetch_rec(inbox, 3) == NULL);
	test_assert(count_message_blobs(user) == 3 + 1 + 2 - 1);

	/* expunge: index first, then the blob */
	struct mail_index_flag_update del = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_DELETED,
	};
	ARRAY_TYPE(seq_range) uids, expunged;
	array_init(&uids, pool_datastack, 2);
	array_init(&expunged, pool_datastack, 2);
	seq_range_array_add(&uids, 2);
	test_assert(mailbox_update_flags(inbox, &uids, &del, NULL, NULL, NULL) == 0);
	test_assert(mailbox_expunge(inbox, NULL, true, &expunged) == 0);
	test_assert(seq_range_count(&expunged) == 1 && seq_range_exists(&expunged, 2));
	test_assert(count_message_blobs(user) == 4);
	mailbox_close(&inbox);
	mailbox_close(&archive);
	mail_user_deinit(&user);
	test_end();
}

static void test_mailbox_ops(void)
{
	const char *home;
	struct mail_user *user = test_user_init(&home);
	struct mailbox *box;

	test_begin("mailbox create/rename/delete with blobs and mailbox list");
	box_create_open(user, "Work", &box);
	test_save(box, test_msg, 0, NULL);
	test_save(box, test_msg, 0, NULL);
	mailbox_close(&box);
	test_assert(mail_user_mailbox_rename(user, "Work", "Old/Work") == 0);
	test_assert(mail_user_mailbox_subscribe(user, "Old/Work", true) == 0);
	buffer_t *list = t_str_new(256);
	struct blob_result result;
	test_assert(blob_get_data_sync(mail_user_get_blob_store(user),
		"mail/mailbox-list", list, &result) == 0);
	test_assert(strstr(str_c(list), "\tOld/Work\n") != NULL);
	test_assert(strstr(str_c(list), "subscribed\tOld/Work\n") != NULL);
	test_assert(count_message_blobs(user) == 2);
	test_assert(mail_user_mailbox_delete(user, "Old/Work") == 0);
	test_assert(count_message_blobs(user) == 0);
	test_assert(mailbox_open(user, "Old/Work", &box) < 0);
	test_assert(mail_user_get_last_error(user, NULL, NULL) == MAIL_ERROR_NOTFOUND);
	/* the parent the rename created is an ordinary mailbox */
	test_assert(mailbox_open(user, "Old", &box) == 0);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

/* --- async --- */

struct async_ctx {
	unsigned int done, failed;
	uint32_t uids[64];
	unsigned int count;
};

static void async_commit_cb(int ret, const struct mail_transaction_commit_result *result,
			    void *context)
{
	struct async_ctx *ctx = context;

	ctx->done++;
	if (ret < 0) {
		ctx->failed++;
		return;
	}
	for (unsigned int i = 0; i < array_count(&result->uids) &&
	     ctx->count < N_ELEMENTS(ctx->uids); i++)
		ctx->uids[ctx->count++] = result->uids.v[i];
}

static void test_save_async(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	struct async_ctx ctx = { 0 };
	const unsigned int n = 20;

	test_begin("save async: concurrent transactions, group commit");
	box_create_open(user, "INBOX", &box);
	for (unsigned int i = 0; i < n; i++) {
		struct mailbox_transaction *t = mailbox_transaction_begin(box, 0);
		struct mail_save_context *save = mail_save_begin(t, 0, NULL, 0, 0);
		test_assert(save != NULL);
		test_assert(mail_save_write(save, test_msg, strlen(test_msg)) == 0);
		test_assert(mail_save_finish(&save) == 0);
		mailbox_transaction_commit(&t, async_commit_cb, &ctx);
		test_assert(t == NULL);
	}
	/* no callback from inside the calls */
	test_assert(ctx.done == 0);
	uint64_t end = ioloop_msecs_monotonic() + 20000;
	while (ctx.done < n && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(ctx.done == n && ctx.failed == 0);
	/* every UID once, 1..n */
	bool seen[21] = { false };
	for (unsigned int i = 0; i < ctx.count; i++) {
		if (ctx.uids[i] >= 1 && ctx.uids[i] <= n)
			seen[ctx.uids[i]] = true;
	}
	for (unsigned int i = 1; i <= n; i++)
		test_assert_idx(seen[i], i);

	/* an async copy */
	struct mailbox_transaction *t = mailbox_transaction_begin(box, 0);
	test_assert(mail_copy(t, box, 1, false) == 0);
	ctx.done = 0;
	ctx.count = 0;
	mailbox_transaction_commit(&t, async_commit_cb, &ctx);
	while (ctx.done < 1 && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(ctx.done == 1 && ctx.failed == 0 && ctx.count == 1 &&
		    ctx.uids[0] == n + 1);
	buffer_t *body = t_str_new(256);
	struct mail_section_request req = { .section = "TEXT", .partial_size = UINT64_MAX };
	test_assert(mail_fetch_section_sync(box, n + 1, &req, body) == 0);
	test_assert_strcmp(str_c(body), "Hi Bob,\r\nthis is the body.\r\n");

	/* rollback of an async transaction while its put finishes */
	t = mailbox_transaction_begin(box, 0);
	struct mail_save_context *save = mail_save_begin(t, 0, NULL, 0, 0);
	test_assert(mail_save_write(save, test_msg, strlen(test_msg)) == 0);
	test_assert(mail_save_finish(&save) == 0);
	mailbox_transaction_rollback(&t);
	for (unsigned int i = 0; i < 20; i++)
		ioloop_run_once(ioloop, 10);
	test_assert(count_message_blobs(user) == n + 1);
	mailbox_close(&box);
	mail_user_deinit(&user);
	ioloop_destroy(&ioloop);
	test_end();
}

/* fsync() and fdatasync() calls of this process (any thread), counted */
static unsigned int test_sync_calls;

int fsync(int fd)
{
	static int (*real_fsync)(int);

	if (real_fsync == NULL)
		real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	__atomic_add_fetch(&test_sync_calls, 1, __ATOMIC_SEQ_CST);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	static int (*real_fdatasync)(int);

	if (real_fdatasync == NULL)
		real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	__atomic_add_fetch(&test_sync_calls, 1, __ATOMIC_SEQ_CST);
	return real_fdatasync(fd);
}

/* n async saves with flags, waited for; the syncs counted meanwhile */
static unsigned int save_async_counted(struct ioloop *ioloop,
				       struct mailbox *box, unsigned int n,
				       enum mailbox_transaction_flags flags,
				       struct async_ctx *ctx)
{
	unsigned int before = __atomic_load_n(&test_sync_calls, __ATOMIC_SEQ_CST);

	memset(ctx, 0, sizeof(*ctx));
	for (unsigned int i = 0; i < n; i++) {
		struct mailbox_transaction *t = mailbox_transaction_begin(box, flags);
		struct mail_save_context *save = mail_save_begin(t, 0, NULL, 0, 0);
		test_assert(save != NULL);
		test_assert(mail_save_write(save, test_msg, strlen(test_msg)) == 0);
		test_assert(mail_save_finish(&save) == 0);
		mailbox_transaction_commit(&t, async_commit_cb, ctx);
	}
	uint64_t end = ioloop_msecs_monotonic() + 20000;
	while (ctx->done < n && ioloop_msecs_monotonic() < end)
		ioloop_run_once(ioloop, 100);
	test_assert(ctx->done == n && ctx->failed == 0);
	return __atomic_load_n(&test_sync_calls, __ATOMIC_SEQ_CST) - before;
}

static void test_save_async_deferred_sync(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	struct async_ctx ctx;
	const unsigned int n = 8;
	const char *index_path;
	int blob_fd;

	test_begin("save async: DEFERRED_SYNC writes blobs and rows, no sync");
	box_create_open(user, "INBOX", &box);
	/* the first save creates the fan-out directories */
	(void)test_save(box, test_msg, 0, NULL);
	test_assert(mail_user_get_syncfs_targets(user, &blob_fd, &index_path));
	test_assert(blob_fd >= 0 && strstr(index_path, "index.db") != NULL);

	/* each blob, its directory, the index's WAL */
	test_assert(save_async_counted(ioloop, box, n, 0, &ctx) >= 2 * n);
	test_assert(save_async_counted(ioloop, box, n,
		MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC, &ctx) == 0);
	/* indexed and whole */
	for (unsigned int i = 0; i < ctx.count; i++) {
		buffer_t *body = t_str_new(256);
		struct mail_section_request req = {
			.section = "TEXT", .partial_size = UINT64_MAX };
		test_assert_idx(mail_fetch_section_sync(box, ctx.uids[i], &req,
							body) == 0 &&
				strcmp(str_c(body),
				       "Hi Bob,\r\nthis is the body.\r\n") == 0, i);
	}
	test_assert(ctx.count == n);
	mailbox_close(&box);
	mail_user_deinit(&user);

	/* a store that is not a plain directory: the ordinary path */
	const char *home = t_strdup_printf("%s/deferred-rf", test_dir());
	(void)mkdir(home, 0700);
	struct mail_user_settings set = {
		.username = "testuser",
		.index_path = t_strdup_printf("%s/index.db", home),
		.blob_spec = t_strdup_printf("randomfail:fail=0:seed=1:posix:%s/blobs", home),
	};
	const char *error;
	test_assert(mail_user_init(&set, &user, &error) == 0);
	test_assert(!mail_user_get_syncfs_targets(user, &blob_fd, &index_path));
	box_create_open(user, "INBOX", &box);
	(void)test_save(box, test_msg, 0, NULL);
	test_assert(save_async_counted(ioloop, box, n,
		MAILBOX_TRANSACTION_FLAG_DEFERRED_SYNC, &ctx) >= 2 * n);
	mailbox_close(&box);
	mail_user_deinit(&user);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_verify_saved_blob(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	struct blob_result result;
	static const char guid[] = "0123456789abcdef0123456789abcdef";
	const char *hdr = "Delivered-To: bob@example.org\n";

	test_begin("verify saved blob: missing, short or different is rewritten");
	box_create_open(user, "INBOX", &box);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
	struct mail_save_context *save = mail_save_begin_guid(t, 0, 0, 0, guid);
	struct mail_transaction_commit_result res;
	test_assert(mail_save_write(save, hdr, strlen(hdr)) == 0);
	test_assert(mail_save_write(save, test_msg, strlen(test_msg)) == 0);
	test_assert(mail_save_finish(&save) == 0);
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack, &res) == 0);
	const struct mail_index_record *rec = fetch_rec(box, 1);
	test_assert(rec != NULL);
	const char *key = t_strdup(rec->blob_key);
	struct blob_store *store = mail_user_get_blob_store(user);
	buffer_t *want = t_str_new(256), *got = t_str_new(256);
	test_assert(blob_get_data_sync(store, key, want, &result) == 0);

	/* intact */
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		test_msg, strlen(test_msg)) == 0);
	/* missing */
	test_assert(blob_delete_sync(store, key, &result) == 0);
	test_expect_log(LOG_TYPE_WARNING, "written again");
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		test_msg, strlen(test_msg)) == 1);
	test_assert(blob_get_data_sync(store, key, got, &result) == 0);
	test_assert(got->used == want->used &&
		    memcmp(got->data, want->data, got->used) == 0);
	/* short, then different: what the journal holds is what counts */
	test_assert(blob_put_data_sync(store, key, test_msg, 10, NULL, 0,
				       BLOB_FLAG_OVERWRITE, &result) == 0);
	test_expect_log(LOG_TYPE_WARNING, "written again");
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		test_msg, strlen(test_msg)) == 1);
	test_expect_log(LOG_TYPE_WARNING, "written again");
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		"Subject: other\n", 15) == 1);
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		"Subject: other\n", 15) == 0);
	test_expect_log(LOG_TYPE_WARNING, "written again");
	test_assert(mailbox_verify_saved_blob(box, guid, hdr, strlen(hdr),
		test_msg, strlen(test_msg)) == 1);
	/* the metadata came back too: a rebuild could use it */
	struct blob_info info;
	struct mail_blob_meta meta;
	const char *error;
	test_assert(blob_head_sync(store, key, pool_datastack, &info, &result) == 0 &&
		    mail_blob_meta_parse(&info, pool_datastack, &meta, &error) == 0 &&
		    meta.uid == 1 && strcmp(meta.guid, guid) == 0 &&
		    strcmp(meta.mailbox_guid, mailbox_get_guid(box)) == 0);
	/* no such message */
	test_assert(mailbox_verify_saved_blob(box, "ffffffffffffffffffffffffffffffff",
		hdr, strlen(hdr), test_msg, strlen(test_msg)) < 0);
	test_assert(mail_user_get_last_error(user, NULL, NULL) == MAIL_ERROR_NOTFOUND);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

static void test_save_blob_failure(void)
{
	const char *home = t_strdup_printf("%s/user-randomfail", test_dir());
	struct mail_user_settings set = {
		.username = "failing",
		.index_path = t_strdup_printf("%s/index.db", home),
		.blob_spec = t_strdup_printf("randomfail:fail=1.0:seed=1:posix:%s/blobs", home),
	};
	struct mail_user *user;
	struct mailbox *box;
	const char *error;

	test_begin("save: a failing blob store fails the save, indexes nothing");
	(void)mkdir(home, 0700);
	if (mail_user_init(&set, &user, &error) < 0) {
		test_fail("init: %s", error);
		test_end();
		return;
	}
	test_assert(mail_index_mailbox_create(mail_user_get_index(user), "INBOX",
					      0, NULL, NULL) == 0);
	test_assert(mailbox_open(user, "INBOX", &box) == 0);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
	struct mail_save_context *ctx = mail_save_begin(t, 0, NULL, 0, 0);
	(void)mail_save_write(ctx, test_msg, strlen(test_msg));
	test_expect_log(LOG_TYPE_ERROR, "put(");
	test_assert(mail_save_finish(&ctx) < 0);
	struct mail_transaction_commit_result result;
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack, &result) < 0);
	const char *text;
	test_assert(mail_user_get_last_error(user, &text, NULL) != MAIL_ERROR_NONE);
	test_assert(strstr(text, "randomfail") == NULL);
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(mail_user_get_index(user),
		mailbox_get_id(box), &status) == 0);
	test_assert(status.messages == 0);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

test_func_t *const test_mail_save_tests[] = {
	test_save_one,
	test_save_multi,
	test_copy_move_expunge,
	test_mailbox_ops,
	test_save_async,
	test_save_async_deferred_sync,
	test_verify_saved_blob,
	test_save_blob_failure,
	NULL
};
