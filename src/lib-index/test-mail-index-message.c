/* Tests for message records: append with reservations (UIDs ascending,
   never reused, visible in order), copy, expunge, flags and keywords with
   UNCHANGEDSINCE, modseqs, cached fields, fetch, search and the change
   log with expunged UIDs for VANISHED; SEARCH's header fields
   (message_search) written with the message, read per field and version,
   copied and expunged with it, and stored later without waiting for
   another writer. */
#include "test-lib-index.h"
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static const char *uids_str(const ARRAY_TYPE(seq_range) *arr)
{
	string_t *str = t_str_new(64);
	seq_range_write(str, arr);
	return str_c(str);
}

static const char *uid_list_str(const ARRAY_TYPE(mail_uid) *arr)
{
	string_t *str = t_str_new(64);
	const uint32_t *uid;
	array_foreach(arr, uid) {
		if (str_len(str) > 0)
			str_append_c(str, ',');
		str_printfa(str, "%u", *uid);
	}
	return str_c(str);
}

static struct mail_index_record *
fetch_one(struct mail_index *index, uint32_t mailbox_id, uint32_t uid,
	  enum mail_index_fetch_fields fields)
{
	ARRAY_TYPE(mail_index_record) recs;
	ARRAY_TYPE(seq_range) uids;

	array_init(&recs, pool_datastack, 2);
	array_init(&uids, pool_datastack, 2);
	seq_range_array_add(&uids, uid);
	if (mail_index_fetch(index, mailbox_id, &uids, fields, pool_datastack,
			     &recs) < 0 || array_count(&recs) != 1)
		return NULL;
	return array_idx(&recs, 0);
}

static const char *kw_str(const char *const *kws)
{
	if (kws == NULL)
		return "";
	return t_strarray_join(kws, " ");
}

static void test_append_basic(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_reservation *res, *res2;
	struct mail_index_transaction *t;
	struct mail_index_status status;
	static const char *const kws[] = { "$Forwarded", "todo", NULL };

	test_begin("append: fields, cache, multi-append in one transaction");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_reserve_uids(index, id, 3, &res) == 0);
	test_assert(mail_index_reservation_get_uid1(res) == 1);
	test_assert(mail_index_reservation_get_uid2(res) == 3);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	struct mail_index_new_message msg = {
		.flags = MAIL_SEEN | MAIL_FLAGGED,
		.keywords = kws,
		.internal_date = 1700000000, .internal_tz = -300,
		.sent_date = 1690000000, .sent_tz = 120,
		.save_date = 1700000100,
		.physical_size = 1000, .rfc822_size = 1020,
		.guid = "0123456789abcdef0123456789abcdef",
		.blob_key = "u/box/1",
		.envelope = "(\"date\" NIL)", .bodystructure = "(\"text\")",
		.headers = "Subject: x\r\n", .headers_size = 12,
		.parts = "\x01\x02", .parts_size = 2,
	};
	test_assert(mail_index_append(t, res, 1, &msg) == 1);
	msg.keywords = NULL;
	msg.flags = 0;
	msg.blob_key = "u/box/3";
	msg.envelope = NULL;
	msg.headers = NULL;
	msg.parts = NULL;
	msg.bodystructure = NULL;
	/* UID 2 is skipped (a failed message of a MULTIAPPEND): a gap */
	test_assert(mail_index_append(t, res, 3, &msg) == 1);
	uint64_t modseq = mail_index_transaction_get_modseq(t, id);
	test_assert(modseq > 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(t == NULL);
	mail_index_reservation_free(&res);
	test_assert(res == NULL);

	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == 2 && status.uidnext == 4);
	test_assert(status.highestmodseq == modseq);

	struct mail_index_record *rec = fetch_one(index, id, 1,
		MAIL_INDEX_FETCH_DETAILS | MAIL_INDEX_FETCH_CACHE);
	test_assert(rec != NULL);
	if (rec != NULL) {
		test_assert(rec->flags == (MAIL_SEEN | MAIL_FLAGGED));
		test_assert_strcmp(kw_str(rec->keywords), "$Forwarded todo");
		test_assert(rec->modseq == modseq);
		test_assert(rec->internal_date == 1700000000 && rec->internal_tz == -300);
		test_assert(rec->sent_date == 1690000000 && rec->sent_tz == 120);
		test_assert(rec->save_date == 1700000100);
		test_assert(rec->physical_size == 1000 && rec->rfc822_size == 1020);
		test_assert_strcmp(rec->guid, "0123456789abcdef0123456789abcdef");
		test_assert_strcmp(rec->blob_key, "u/box/1");
		test_assert_strcmp(rec->envelope, "(\"date\" NIL)");
		test_assert_strcmp(rec->bodystructure, "(\"text\")");
		test_assert(rec->body == NULL);
		test_assert(rec->headers_size == 12 &&
			    memcmp(rec->headers, "Subject: x\r\n", 12) == 0);
		test_assert(rec->parts_size == 2);
	}
	rec = fetch_one(index, id, 3, MAIL_INDEX_FETCH_CACHE);
	test_assert(rec != NULL && rec->envelope == NULL && rec->keywords == NULL);
	test_assert(fetch_one(index, id, 2, 0) == NULL);
	/* the header block only, with the details */
	rec = fetch_one(index, id, 1, MAIL_INDEX_FETCH_CACHE_HEADERS);
	test_assert(rec != NULL && rec->envelope == NULL &&
		    rec->bodystructure == NULL && rec->parts == NULL);
	if (rec != NULL) {
		test_assert_strcmp(rec->blob_key, "u/box/1");
		test_assert(rec->physical_size == 1000);
		test_assert(rec->headers_size == 12 &&
			    memcmp(rec->headers, "Subject: x\r\n", 12) == 0);
	}
	rec = fetch_one(index, id, 3, MAIL_INDEX_FETCH_CACHE_HEADERS);
	test_assert(rec != NULL && rec->headers == NULL);

	/* filled in later */
	struct mail_index_cache_update upd = { .body = "(\"text\" \"plain\")" };
	test_assert(mail_index_cache_update(index, id, 3, &upd) == 0);
	test_assert(mail_index_cache_update(index, id, 1, &upd) == 0);
	rec = fetch_one(index, id, 1, MAIL_INDEX_FETCH_CACHE);
	test_assert(rec != NULL && rec->body != NULL &&
		    strcmp(rec->envelope, "(\"date\" NIL)") == 0);
	rec = fetch_one(index, id, 3, MAIL_INDEX_FETCH_CACHE);
	test_assert(rec != NULL && rec->body != NULL);
	/* an expunged message's cache update is a no-op */
	test_assert(mail_index_cache_update(index, id, 99, &upd) == 0);
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.highestmodseq == modseq);

	/* defined keywords */
	ARRAY_TYPE(mail_string) names;
	array_init(&names, pool_datastack, 4);
	test_assert(mail_index_mailbox_keywords(index, id, pool_datastack, &names) == 0);
	test_assert(array_count(&names) == 2);

	/* UIDs are never reused: a released reservation's UIDs are gone */
	test_assert(mail_index_reserve_uids(index, id, 2, &res) == 0);
	test_assert(mail_index_reservation_get_uid1(res) == 4);
	mail_index_reservation_free(&res);
	test_assert(mail_index_reserve_uids(index, id, 1, &res2) == 0);
	test_assert(mail_index_reservation_get_uid1(res2) == 6);
	test_assert(mail_index_reservation_get_uidvalidity(res2) == status.uidvalidity);
	mail_index_reservation_free(&res2);
	/* and UIDNEXT clients see moved only with committed messages */
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.uidnext == 4);
	/* an expunged UID is not reused either */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset("3"), false, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(test_append(index, id, 1, 0, NULL) == 7);

	/* bad keyword */
	static const char *const bad_kws[] = { "bad keyword", NULL };
	test_assert(mail_index_reserve_uids(index, id, 1, &res) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	msg.keywords = bad_kws;
	test_assert(mail_index_append(t, res, mail_index_reservation_get_uid1(res), &msg) < 0);
	test_assert(mail_index_get_last_error(index, NULL, NULL) == MAIL_ERROR_PARAMS);
	mail_index_transaction_rollback(&t);
	mail_index_reservation_free(&res);
	mail_index_close(&index);
	test_end();
}

static void test_append_order(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_reservation *res1, *res2;
	struct mail_index_transaction *t;
	struct mail_index_new_message msg = {
		.guid = "00", .blob_key = "k", .internal_date = 1,
	};

	test_begin("append: UIDs become visible in order");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reserve_uids(index, id, 1, &res2) == 0);
	test_assert(mail_index_reservation_get_uid1(res1) == 1);
	test_assert(mail_index_reservation_get_uid1(res2) == 2);
	/* UID 2 cannot commit while UID 1 is pending */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res2, 2, &msg) == 0);
	mail_index_transaction_rollback(&t);
	/* commit 1, then 2 can go */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res1, 1, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res2, 2, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res1);
	mail_index_reservation_free(&res2);

	/* both in one transaction (group commit) is fine in any order */
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reserve_uids(index, id, 1, &res2) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res1, 3, &msg) == 1);
	test_assert(mail_index_append(t, res2, 4, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	/* a used reservation cannot be used again */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_expect_log(LOG_TYPE_ERROR, "used twice");
	test_assert(mail_index_append(t, res1, 3, &msg) < 0);
	mail_index_transaction_rollback(&t);
	mail_index_reservation_free(&res1);
	mail_index_reservation_free(&res2);

	/* group commit: a storage transaction's reservations checked
	   together; "wait" leaves the index transaction untouched */
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reserve_uids(index, id, 1, &res2) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_reservations_ready(t, &res2, 1) == 0);
	struct mail_index_reservation *both[] = { res2, res1 };
	test_assert(mail_index_reservations_ready(t, both, 2) == 1);
	test_assert(mail_index_append(t, res2, 6, &msg) == 1);
	test_expect_log(LOG_TYPE_ERROR, "below UIDNEXT");
	test_assert(mail_index_append(t, res1, 5, &msg) < 0);
	mail_index_transaction_rollback(&t);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_reservations_ready(t, both, 2) == 1);
	test_assert(mail_index_append(t, res1, 5, &msg) == 1);
	test_assert(mail_index_append(t, res2, 6, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res1);
	mail_index_reservation_free(&res2);

	/* an abandoned reservation unblocks the next */
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reserve_uids(index, id, 1, &res2) == 0);
	mail_index_reservation_free(&res1);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res2, 8, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res2);

	ARRAY_TYPE(mail_uid) uids;
	array_init(&uids, pool_datastack, 8);
	test_assert(mail_index_get_uids(index, id, &uids) == 0);
	test_assert_strcmp(uid_list_str(&uids), "1,2,3,4,5,6,8");
	mail_index_close(&index);
	test_end();
}

static void test_append_stale_reservation(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index_settings set = {
		.path = path, .reservation_steal_secs = 2,
	};
	struct mail_index *index2;
	struct mail_index_reservation *res1, *res2;
	struct mail_index_transaction *t;
	struct mail_index_new_message msg = {
		.guid = "00", .blob_key = "k", .internal_date = 1,
	};
	const char *error;

	test_begin("append: stale reservations are dropped");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_assert(mail_index_open(&set, &index2, &error) == 0);

	/* a reservation of a dead process is dropped at once */
	mail_index_wait_checkpoints();
	pid_t pid = fork();
	if (pid == 0) {
		struct mail_index *child = test_index_open_path(path);
		struct mail_index_reservation *res;
		_exit(mail_index_reserve_uids(child, id, 1, &res) < 0 ? 1 : 0);
	}
	int status;
	test_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reservation_get_uid1(res1) == 2);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res1, 2, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res1);

	/* a live one held longer than reservation_steal_secs is taken
	   over; its owner's append then fails */
	test_assert(mail_index_reserve_uids(index, id, 1, &res1) == 0);
	test_assert(mail_index_reserve_uids(index2, id, 1, &res2) == 0);
	test_assert(mail_index_transaction_begin(index2, &t) == 0);
	test_assert(mail_index_append(t, res2, 4, &msg) == 0);
	mail_index_transaction_rollback(&t);
	sleep(3);
	test_assert(mail_index_transaction_begin(index2, &t) == 0);
	test_assert(mail_index_append(t, res2, 4, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_expect_log(LOG_TYPE_ERROR, "was dropped");
	test_assert(mail_index_append(t, res1, 3, &msg) < 0);
	test_assert(mail_index_get_last_error(index, NULL, NULL) ==
		    MAIL_ERROR_UNAVAILABLE);
	mail_index_transaction_rollback(&t);
	mail_index_reservation_free(&res1);
	mail_index_reservation_free(&res2);
	mail_index_close(&index2);
	mail_index_close(&index);
	test_end();
}

static void test_flags(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	ARRAY_TYPE(seq_range) modified, changed;
	static const char *const kw_a[] = { "alpha", NULL };
	static const char *const kw_b[] = { "BETA", "Alpha", NULL };

	test_begin("flags and keywords: add, remove, replace, modseq");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_append(index, id, 5, 0, NULL);
	array_init(&modified, pool_datastack, 4);
	array_init(&changed, pool_datastack, 4);

	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN, .keywords = kw_a,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:3"), &upd,
					    &modified, &changed) == 0);
	uint64_t m1 = mail_index_transaction_get_modseq(t, id);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert_strcmp(uids_str(&changed), "1:3");
	test_assert(array_count(&modified) == 0);

	struct mail_index_record *rec = fetch_one(index, id, 2, 0);
	test_assert(rec != NULL && rec->flags == MAIL_SEEN && rec->modseq == m1);
	test_assert(rec != NULL && strcmp(kw_str(rec->keywords), "alpha") == 0);
	rec = fetch_one(index, id, 4, 0);
	test_assert(rec != NULL && rec->flags == 0 && rec->modseq < m1);

	/* no real change: no new modseq, not reported as changed */
	array_clear(&changed);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:3"), &upd,
					    NULL, &changed) == 0);
	test_assert(mail_index_transaction_get_modseq(t, id) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(array_count(&changed) == 0);

	/* keywords match case-insensitively, first spelling kept */
	upd.keywords = kw_b;
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("3:4"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	rec = fetch_one(index, id, 4, 0);
	test_assert(rec != NULL && strcmp(kw_str(rec->keywords), "alpha BETA") == 0);

	/* remove */
	struct mail_index_flag_update rm = {
		.type = MAIL_INDEX_MODIFY_REMOVE, .flags = MAIL_SEEN, .keywords = kw_a,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:5"), &rm,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	rec = fetch_one(index, id, 3, 0);
	test_assert(rec != NULL && rec->flags == 0 &&
		    strcmp(kw_str(rec->keywords), "BETA") == 0);
	rec = fetch_one(index, id, 1, 0);
	test_assert(rec != NULL && rec->keywords == NULL);

	/* replace: keywords not named are removed */
	struct mail_index_flag_update rep = {
		.type = MAIL_INDEX_MODIFY_REPLACE, .flags = MAIL_ANSWERED | MAIL_DRAFT,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("3"), &rep,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	rec = fetch_one(index, id, 3, 0);
	test_assert(rec != NULL && rec->flags == (MAIL_ANSWERED | MAIL_DRAFT) &&
		    rec->keywords == NULL);
	mail_index_close(&index);
	test_end();
}

static void test_unchangedsince(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	ARRAY_TYPE(seq_range) modified, changed;

	test_begin("flags: UNCHANGEDSINCE (CONDSTORE MODIFIED)");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_append(index, id, 4, 0, NULL);
	struct mail_index_record *rec = fetch_one(index, id, 1, 0);
	uint64_t base = rec->modseq;

	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_FLAGGED,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("2"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);

	/* message 2 changed after base: it fails the condition */
	array_init(&modified, pool_datastack, 4);
	array_init(&changed, pool_datastack, 4);
	upd.flags = MAIL_SEEN;
	upd.unchangedsince_set = true;
	upd.unchangedsince = base;
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:4"), &upd,
					    &modified, &changed) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert_strcmp(uids_str(&modified), "2");
	test_assert_strcmp(uids_str(&changed), "1,3:4");
	rec = fetch_one(index, id, 2, 0);
	test_assert(rec != NULL && rec->flags == MAIL_FLAGGED);

	/* UNCHANGEDSINCE 0 fails for every message (all modseqs are > 0) */
	array_clear(&modified);
	upd.unchangedsince = 0;
	upd.flags = MAIL_ANSWERED;
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:4"), &upd,
					    &modified, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert_strcmp(uids_str(&modified), "1:4");
	mail_index_close(&index);
	test_end();
}

static void test_expunge_and_changes(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	struct mail_index_mailbox_changes changes;
	ARRAY_TYPE(seq_range) expunged;

	test_begin("expunge, \\Deleted, change log and VANISHED");
	uint32_t id = test_mailbox_create(index, "INBOX");
	uint64_t last_change;
	test_assert(mail_index_get_last_change_id(index, &last_change) == 0);
	test_append(index, id, 6, 0, NULL);
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	uint64_t since = status.highestmodseq;

	struct mail_index_flag_update del = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_DELETED,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("2,4:5"), &del,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);

	/* EXPUNGE: only \Deleted; UID EXPUNGE: also limited to the set */
	array_init(&expunged, pool_datastack, 4);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset("1:4"), true, &expunged) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert_strcmp(uids_str(&expunged), "2,4");
	array_clear(&expunged);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset("6"), false, &expunged) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert_strcmp(uids_str(&expunged), "6");

	/* the blobs wait for deletion */
	ARRAY_TYPE(mail_string) keys;
	array_init(&keys, pool_datastack, 4);
	test_assert(mail_index_blob_deletions_get(index, 0, pool_datastack, &keys) == 0);
	test_assert(array_count(&keys) == 3);

	/* what changed since `since`: flags of 5, expunges of 2,4,6 */
	test_assert(mail_index_mailbox_get_changes(index, id, since,
		pool_datastack, &changes) == 1);
	test_assert(changes.highestmodseq == since + 3);
	test_assert(changes.uidnext == 7);
	test_assert(array_count(&changes.records) == 1);
	test_assert(array_count(&changes.records) == 1 &&
		    changes.records.v[0].uid == 5 &&
		    changes.records.v[0].flags == MAIL_DELETED);
	test_assert_strcmp(uids_str(&changes.expunged), "2,4,6");
	/* nothing since now */
	test_assert(mail_index_mailbox_get_changes(index, id, changes.highestmodseq,
		pool_datastack, &changes) == 1);
	test_assert(array_count(&changes.records) == 0 &&
		    array_count(&changes.expunged) == 0);
	/* since 0: everything there is, expunges included (VANISHED
	   (EARLIER) for a client with no state) */
	test_assert(mail_index_mailbox_get_changes(index, id, 0,
		pool_datastack, &changes) == 1);
	test_assert(array_count(&changes.records) == 3);
	test_assert_strcmp(uids_str(&changes.expunged), "2,4,6");
	test_assert(mail_index_mailbox_get_changes(index, 9999, 0,
		pool_datastack, &changes) == 0);

	/* the global change log, in order: the expunges; appends and flag
	   changes are in the rows' modseqs (records above), not in the
	   log */
	ARRAY_TYPE(mail_index_change) log;
	array_init(&log, pool_datastack, 8);
	test_assert(mail_index_get_changes(index, last_change, 0, &log) == 0);
	test_assert(array_count(&log) == 3);
	if (array_count(&log) == 3) {
		test_assert(log.v[0].type == MAIL_INDEX_CHANGE_EXPUNGE &&
			    log.v[0].uid1 == 2);
		test_assert(log.v[1].type == MAIL_INDEX_CHANGE_EXPUNGE &&
			    log.v[1].uid1 == 4 && log.v[1].modseq == log.v[0].modseq);
		test_assert(log.v[2].type == MAIL_INDEX_CHANGE_EXPUNGE &&
			    log.v[2].uid1 == 6);
		for (unsigned int i = 1; i < 3; i++) {
			test_assert_idx(log.v[i].id > log.v[i - 1].id, i);
			test_assert_idx(log.v[i].modseq >= log.v[i - 1].modseq, i);
		}
	}
	array_clear(&log);
	test_assert(mail_index_get_changes(index, last_change, 2, &log) == 0);
	test_assert(array_count(&log) == 2);
	mail_index_close(&index);
	test_end();
}

static void test_copy(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	struct mail_index_reservation *res;
	static const char *const kws[] = { "$Junk", NULL };

	test_begin("copy and move records");
	uint32_t src = test_mailbox_create(index, "INBOX");
	uint32_t dest = test_mailbox_create(index, "Archive");
	test_append(index, src, 3, MAIL_SEEN, kws);
	test_append(index, dest, 1, 0, NULL);

	/* move 1 and 3: copy + expunge in one transaction */
	test_assert(mail_index_reserve_uids(index, dest, 2, &res) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_copy(t, src, 1, res, 2, "dest/2") == 1);
	test_assert(mail_index_copy(t, src, 3, res, 3, "dest/3") == 1);
	test_assert(mail_index_copy(t, src, 7, res, 3, "dest/x") < 0);
	test_assert(mail_index_get_last_error(index, NULL, NULL) == MAIL_ERROR_EXPUNGED);
	test_assert(mail_index_expunge(t, src, test_uidset("1,3"), false, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res);

	struct mail_index_record *rec = fetch_one(index, dest, 3,
		MAIL_INDEX_FETCH_DETAILS | MAIL_INDEX_FETCH_CACHE);
	test_assert(rec != NULL);
	if (rec != NULL) {
		test_assert(rec->flags == MAIL_SEEN);
		test_assert_strcmp(kw_str(rec->keywords), "$Junk");
		test_assert_strcmp(rec->blob_key, "dest/3");
		test_assert(rec->rfc822_size == 112);
		test_assert_strcmp(rec->envelope, "(NIL)");
		test_assert_strcmp(rec->guid, "00112233445566778899aabbccddeeff");
	}
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, src, &status) == 0);
	test_assert(status.messages == 1);
	test_assert(mail_index_mailbox_status(index, dest, &status) == 0);
	test_assert(status.messages == 3 && status.uidnext == 4 && status.unseen == 1);
	/* the destination's keyword got its own number */
	ARRAY_TYPE(mail_string) names;
	array_init(&names, pool_datastack, 4);
	test_assert(mail_index_mailbox_keywords(index, dest, pool_datastack, &names) == 0);
	test_assert(array_count(&names) == 1);
	mail_index_close(&index);
	test_end();
}

static void test_search(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	ARRAY_TYPE(mail_uid) uids;
	static const char *const kws[] = { "work", NULL };
	uint64_t highest;

	test_begin("search over indexed fields");
	uint32_t id = test_mailbox_create(index, "INBOX");
	/* internal dates 1700000000 + i hours, tz +01:00; sizes 110 + i */
	test_append(index, id, 30, 0, NULL);
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN | MAIL_FLAGGED,
		.keywords = kws,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("5:7"), &upd,
					    NULL, NULL) == 0);
	uint64_t flag_modseq = mail_index_transaction_get_modseq(t, id);
	test_assert(mail_index_transaction_commit(&t) == 0);

	array_init(&uids, pool_datastack, 32);
#define SEARCH(arg) (array_clear(&uids), \
	mail_index_search(index, id, (arg), &uids, &highest) == 0 ? \
	uid_list_str(&uids) : "(error)")

	struct mail_index_search_arg a = { .type = MAIL_INDEX_SEARCH_FLAGS,
		.value.flags = MAIL_SEEN };
	test_assert_strcmp(SEARCH(&a), "5,6,7");
	test_assert(highest == flag_modseq);
	a.not = true;
	test_assert(array_count(&uids) == 3);
	(void)SEARCH(&a);
	test_assert(array_count(&uids) == 27);

	struct mail_index_search_arg kw = { .type = MAIL_INDEX_SEARCH_KEYWORD,
		.value.str = "WORK" };
	test_assert_strcmp(SEARCH(&kw), "5,6,7");
	kw.value.str = "undefined";
	test_assert_strcmp(SEARCH(&kw), "");
	kw.not = true;
	(void)SEARCH(&kw);
	test_assert(array_count(&uids) == 30);

	/* UID set AND size */
	struct mail_index_search_arg size = { .type = MAIL_INDEX_SEARCH_LARGER,
		.value.size = 135 };
	struct mail_index_search_arg set = { .type = MAIL_INDEX_SEARCH_UIDSET,
		.value.uids = test_uidset("20:28"), .next = &size };
	test_assert_strcmp(SEARCH(&set), "27,28");
	size.type = MAIL_INDEX_SEARCH_SMALLER;
	size.value.size = 113;
	set.value.uids = test_uidset("1:*");
	test_assert_strcmp(SEARCH(&set), "1,2,3");

	/* OR, nested */
	struct mail_index_search_arg o2 = { .type = MAIL_INDEX_SEARCH_UIDSET,
		.value.uids = test_uidset("30") };
	struct mail_index_search_arg o1 = { .type = MAIL_INDEX_SEARCH_FLAGS,
		.value.flags = MAIL_FLAGGED, .next = &o2 };
	struct mail_index_search_arg or = { .type = MAIL_INDEX_SEARCH_OR,
		.value.subargs = &o1 };
	test_assert_strcmp(SEARCH(&or), "5,6,7,30");

	/* dates: 1700000000 is 2023-11-14 22:13:20 UTC, 23:13 at +01:00;
	   message i (UID i+1) is i hours later. Day 19675 = 2023-11-14. */
	struct mail_index_search_arg d = { .type = MAIL_INDEX_SEARCH_ON,
		.value.day = 19675 };
	test_assert_strcmp(SEARCH(&d), "1");
	d.type = MAIL_INDEX_SEARCH_BEFORE;
	d.value.day = 19676;
	test_assert_strcmp(SEARCH(&d), "1");
	d.type = MAIL_INDEX_SEARCH_SINCE;
	d.value.day = 19677;
	/* 2023-11-16 00:00 +01:00 is 22:46:40 hours after the first */
	test_assert_strcmp(SEARCH(&d), "26,27,28,29,30");
	d.type = MAIL_INDEX_SEARCH_SENTON;
	d.value.day = 19675;
	(void)SEARCH(&d);
	test_assert(array_count(&uids) == 30);
	d.type = MAIL_INDEX_SEARCH_SAVEDSINCE;
	d.value.day = time(NULL) / 86400;
	(void)SEARCH(&d);
	test_assert(array_count(&uids) == 30);
	struct mail_index_search_arg tm = {
		.type = MAIL_INDEX_SEARCH_INTERNAL_TIME_BEFORE,
		.value.time = 1700000000 + 2 * 3600,
	};
	test_assert_strcmp(SEARCH(&tm), "1,2");

	struct mail_index_search_arg ms = { .type = MAIL_INDEX_SEARCH_MODSEQ,
		.value.modseq = flag_modseq };
	test_assert_strcmp(SEARCH(&ms), "5,6,7");
	struct mail_index_search_arg g = { .type = MAIL_INDEX_SEARCH_GUID,
		.value.str = "00112233445566778899aabbccddeeff" };
	(void)SEARCH(&g);
	test_assert(array_count(&uids) == 30);
	struct mail_index_search_arg all = { .type = MAIL_INDEX_SEARCH_ALL };
	(void)SEARCH(&all);
	test_assert(array_count(&uids) == 30);
	struct mail_index_search_arg empty_or = { .type = MAIL_INDEX_SEARCH_OR };
	test_assert_strcmp(SEARCH(&empty_or), "");
	mail_index_close(&index);
	test_end();
}

/* mail_index_mailbox_select() must give what a plain fetch gives. */
static bool select_matches_fetch(struct mail_index *index, uint32_t id)
{
	struct mail_index_select sel;
	ARRAY_TYPE(mail_index_record) recs;
	bool ok = true;

	array_init(&recs, pool_datastack, 64);
	if (mail_index_mailbox_select(index, id, pool_datastack, &sel) != 1 ||
	    mail_index_fetch(index, id, NULL, 0, pool_datastack, &recs) < 0)
		return false;
	if (array_count(&sel.messages) != array_count(&recs))
		return false;
	for (unsigned int i = 0; i < array_count(&recs) && ok; i++) {
		const struct mail_index_flags_rec *a = &sel.messages.v[i];
		const struct mail_index_record *b = &recs.v[i];
		ok = a->uid == b->uid && a->flags == b->flags &&
			a->modseq == b->modseq &&
			strcmp(kw_str(a->keywords), kw_str(b->keywords)) == 0;
		if (!ok) {
			printf("  select differs at %u: uid %u/%u flags %u/%u "
			       "modseq %llu/%llu\n", i, a->uid, b->uid,
			       a->flags, b->flags,
			       (unsigned long long)a->modseq,
			       (unsigned long long)b->modseq);
		}
	}
	struct mail_index_status status;
	if (mail_index_mailbox_status(index, id, &status) < 0 ||
	    status.highestmodseq != sel.highestmodseq ||
	    status.uidnext != sel.uidnext)
		return false;
	return ok;
}

static void test_select_snapshot(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	static const char *const kws[] = { "k1", "k2", NULL };

	test_begin("select: flag snapshot plus changes equals the rows");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_append(index, id, 1500, 0, NULL);
	/* the first select writes the snapshot */
	test_assert(select_matches_fetch(index, id));
	test_assert(select_matches_fetch(index, id));
	/* changes after it: flags, keywords, expunges, appends */
	struct mail_index_flag_update upd = {
		.type = MAIL_INDEX_MODIFY_ADD, .flags = MAIL_SEEN, .keywords = kws,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("10:20,1499"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_expunge(t, id, test_uidset("15,100:110,1500"),
				       false, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_append(index, id, 3, MAIL_DRAFT, kws);
	test_assert(select_matches_fetch(index, id));
	/* many changes: the snapshot is rewritten, still right */
	upd.type = MAIL_INDEX_MODIFY_REPLACE;
	upd.flags = MAIL_FLAGGED;
	upd.keywords = NULL;
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_update_flags(t, id, test_uidset("1:800"), &upd,
					    NULL, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	test_assert(select_matches_fetch(index, id));
	test_assert(select_matches_fetch(index, id));
	/* a mailbox deleted and recreated does not inherit the snapshot */
	test_assert(mail_index_mailbox_rename(index, "INBOX", "Old") == 0);
	test_assert(select_matches_fetch(index, id));
	uint32_t id2 = test_mailbox_create(index, "Old/child");
	test_assert(mail_index_mailbox_delete(index, "Old") == 0);
	struct mail_index_select sel;
	test_assert(mail_index_mailbox_select(index, id, pool_datastack, &sel) == 0);
	struct mail_index_mailbox box;
	test_assert(mail_index_mailbox_create(index, "Old", 0, pool_datastack, &box) == 0);
	test_assert(box.id == id);
	test_assert(mail_index_mailbox_select(index, id, pool_datastack, &sel) == 1);
	test_assert(array_count(&sel.messages) == 0);
	test_assert(select_matches_fetch(index, id2));
	mail_index_close(&index);
	test_end();
}

static void test_restore(void)
{
	struct mail_index *index = test_index_open(NULL);
	struct mail_index_transaction *t;
	struct mail_index_mailbox box;
	uint32_t id;

	test_begin("restore: mailbox with GUID/UIDVALIDITY, messages at UIDs");
	struct mail_index_mailbox_restore r = {
		.name = "Old/Box", .guid = "0123456789abcdef0123456789abcdef",
		.uidvalidity = 4000000000u, .uidnext = 50,
		.special_use = MAIL_SPECIAL_USE_ARCHIVE,
	};
	test_assert(mail_index_mailbox_restore(index, &r, &id) == 0);
	test_assert(mail_index_mailbox_restore(index, &r, &id) < 0);
	test_assert(mail_index_get_last_error(index, NULL, NULL) == MAIL_ERROR_EXISTS);
	test_assert(mail_index_mailbox_lookup(index, "Old/Box", pool_datastack, &box) == 1);
	test_assert_strcmp(box.guid, r.guid);
	test_assert(box.uidvalidity == r.uidvalidity && box.uidnext == 50);
	test_assert(box.special_use == MAIL_SPECIAL_USE_ARCHIVE);
	test_assert(mail_index_mailbox_lookup(index, "Old", pool_datastack, &box) == 1);
	/* new mailboxes get a higher UIDVALIDITY than restored ones */
	test_assert(mail_index_mailbox_create(index, "New", 0, pool_datastack, &box) == 0);
	test_assert(box.uidvalidity > r.uidvalidity || box.uidvalidity == 1);

	struct mail_index_new_message msg = { .blob_key = "k", .guid = "g",
		.flags = MAIL_SEEN };
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append_uid(t, id, 60, &msg) == 1);
	test_assert(mail_index_append_uid(t, id, 75, &msg) == 1);
	test_assert(mail_index_append_uid(t, id, 70, &msg) < 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	struct mail_index_status status;
	test_assert(mail_index_mailbox_status(index, id, &status) == 0);
	test_assert(status.messages == 2 && status.uidnext == 76 && status.unseen == 0);
	/* reservations continue above */
	test_assert(test_append(index, id, 1, 0, NULL) == 76);
	mail_index_close(&index);
	test_end();
}

static double msecs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_select_20000(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	struct mail_index_select sel;
	double best = 1e9;

	test_begin("select: open + list 20,000 messages (timed)");
	uint32_t id = test_mailbox_create(index, "INBOX");
	test_append(index, id, 20000, MAIL_SEEN, NULL);
	mail_index_close(&index);
	for (unsigned int i = 0; i < 10; i++) T_BEGIN {
		double start = msecs_now();
		index = test_index_open_path(path);
		struct mail_index_mailbox box;
		if (mail_index_mailbox_lookup(index, "INBOX", pool_datastack, &box) <= 0 ||
		    mail_index_mailbox_select(index, box.id, pool_datastack, &sel) <= 0)
			test_fail("select failed");
		double took = msecs_now() - start;
		test_assert(array_count(&sel.messages) == 20000);
		test_assert(sel.messages.v[19999].uid == 20000 &&
			    sel.messages.v[19999].flags == MAIL_SEEN);
		if (took < best)
			best = took;
		mail_index_close(&index);
	} T_END;
	printf("  open + select of 20,000 messages: best of 10 %.2f ms\n", best);
	/* generous: sanitizer builds and loaded machines are slower; the
	   bench-mail-index program gives the real figure */
	test_assert(best < 250);
	test_end();
}

/* --- search fields (message_search) --- */

#define TEST_VERSION 0x010f0100

static struct mail_index_search_fields
test_fields(const char *subject, const char *from)
{
	struct mail_index_search_fields f = { .version = TEST_VERSION };

	f.values[0] = (const unsigned char *)subject;
	f.sizes[0] = subject == NULL ? 0 : strlen(subject);
	f.values[1] = (const unsigned char *)from;
	f.sizes[1] = from == NULL ? 0 : strlen(from);
	return f;
}

static uint32_t
append_with(struct mail_index *index, uint32_t mailbox_id,
	    const struct mail_index_search_fields *fields)
{
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	uint32_t uid;

	test_assert(mail_index_reserve_uids(index, mailbox_id, 1, &res) == 0);
	uid = mail_index_reservation_get_uid1(res);
	struct mail_index_new_message msg = {
		.internal_date = 1700000000,
		.guid = "00112233445566778899aabbccddeeff",
		.blob_key = t_strdup_printf("t/%u", uid),
		.search_fields = fields,
	};
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_append(t, res, uid, &msg) == 1);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res);
	return uid;
}

/* "uid:subject/from;" of the rows of version read with mask ("-" for a
   missing field, "''" for an empty one) */
static const char *
read_str(struct mail_index *index, uint32_t mailbox_id, const char *uids,
	 uint32_t version, unsigned int mask)
{
	ARRAY_TYPE(mail_index_search_fields_rec) recs;
	string_t *out = t_str_new(128);

	array_init(&recs, pool_datastack, 4);
	if (mail_index_search_fields_read(index, mailbox_id,
					  uids == NULL ? NULL : test_uidset(uids),
					  version, mask, pool_datastack,
					  &recs) < 0)
		return "error";
	for (unsigned int i = 0; i < array_count(&recs); i++) {
		const struct mail_index_search_fields *f = &recs.v[i].fields;
		str_printfa(out, "%u:", recs.v[i].uid);
		for (unsigned int j = 0; j < 2; j++) {
			if (j > 0)
				str_append_c(out, '/');
			if (f->values[j] == NULL)
				str_append_c(out, '-');
			else if (f->sizes[j] == 0)
				str_append(out, "''");
			else for (size_t k = 0; k < f->sizes[j]; k++) {
				char c = (char)f->values[j][k];
				str_append_c(out, c == '\0' ? '|' : c);
			}
		}
		for (unsigned int j = 2; j < MAIL_INDEX_SEARCH_FIELD_COUNT; j++)
			test_assert(f->values[j] == NULL);
		str_append_c(out, ';');
	}
	return str_c(out);
}

static void test_search_fields_rows(void)
{
	struct mail_index *index = test_index_open(NULL);
	uint32_t box = test_mailbox_create(index, "INBOX");
	uint32_t other = test_mailbox_create(index, "Other");
	struct mail_index_search_fields f1 = test_fields("HELLO", "A@B");
	/* NUL-separated values stay whole */
	struct mail_index_search_fields f2 = test_fields("X\0Y", NULL);
	struct mail_index_search_fields f3 = test_fields("", "C");

	test_begin("search fields: written with the message, read per field");
	f2.sizes[0] = 3;
	test_assert(append_with(index, box, &f1) == 1);
	test_assert(append_with(index, box, &f2) == 2);
	test_assert(append_with(index, box, &f3) == 3);
	(void)test_append(index, box, 1, 0, NULL); /* 4: no row */
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x3),
			   "1:HELLO/A@B;2:X|Y/-;3:''/C;");
	ARRAY_TYPE(mail_index_search_fields_rec) recs;
	array_init(&recs, pool_datastack, 4);
	test_assert(mail_index_search_fields_read(index, box, NULL,
		TEST_VERSION, 0x1, pool_datastack, &recs) == 0);
	test_assert(array_count(&recs) == 3 && recs.v[1].fields.sizes[0] == 3 &&
		    memcmp(recs.v[1].fields.values[0], "X\0Y", 3) == 0);
	/* one field only: the other is not read */
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x2),
			   "1:-/A@B;2:-/-;3:-/C;");
	test_assert_strcmp(read_str(index, box, "2:4", TEST_VERSION, 0x1),
			   "2:X|Y/-;3:''/-;");
	test_assert_strcmp(read_str(index, box, "1,3", TEST_VERSION, 0x3),
			   "1:HELLO/A@B;3:''/C;");
	/* rows of another version are not returned */
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION + 1, 0x3), "");
	test_assert_strcmp(read_str(index, other, NULL, TEST_VERSION, 0x3), "");
	test_end();

	test_begin("search fields: copied and expunged with the message");
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	test_assert(mail_index_reserve_uids(index, other, 2, &res) == 0);
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_copy(t, box, 1, res, 1, "o/1") == 1);
	test_assert(mail_index_copy(t, box, 4, res, 2, "o/2") == 1);
	test_assert(mail_index_expunge(t, box, test_uidset("1"), false, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
	mail_index_reservation_free(&res);
	test_assert_strcmp(read_str(index, other, NULL, TEST_VERSION, 0x3),
			   "1:HELLO/A@B;");
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x3),
			   "2:X|Y/-;3:''/C;");
	test_end();

	test_begin("search fields: stored later for messages without a row");
	struct mail_index_search_fields_rec store[3] = {
		{ .uid = 4, .fields = test_fields("LATE", NULL) },
		/* an old version's row is replaced */
		{ .uid = 3, .fields = test_fields("NEW", "D") },
		/* expunged meanwhile: skipped */
		{ .uid = 1, .fields = test_fields("GONE", NULL) },
	};
	test_assert(mail_index_search_fields_store(index, box, store, 3) == 3);
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x3),
			   "2:X|Y/-;3:NEW/D;4:LATE/-;");
	test_assert(mail_index_search_fields_store(index, box, store, 0) == 0);
	/* not inside a write transaction of this connection */
	test_assert(mail_index_transaction_begin(index, &t) == 0);
	store[0].fields = test_fields("INSIDE", NULL);
	test_assert(mail_index_search_fields_store(index, box, store, 1) == 0);
	mail_index_transaction_rollback(&t);
	test_assert_strcmp(read_str(index, box, "4", TEST_VERSION, 0x1),
			   "4:LATE/-;");
	test_end();

	mail_index_close(&index);
}

static void test_search_fields_store_busy(void)
{
	const char *path;
	struct mail_index *index = test_index_open(&path);
	uint32_t box = test_mailbox_create(index, "INBOX");
	sqlite3 *db;

	test_begin("search fields: storing never waits for another writer");
	(void)test_append(index, box, 1, 0, NULL);
	test_assert(sqlite3_open(path, &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
		    SQLITE_OK);
	struct mail_index_search_fields_rec rec = {
		.uid = 1, .fields = test_fields("S", NULL),
	};
	time_t start = time(NULL);
	test_assert(mail_index_search_fields_store(index, box, &rec, 1) == 0);
	test_assert(time(NULL) - start <= 1);
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x1), "");
	test_assert(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	/* the busy timeout is back: other writes wait as before */
	test_assert(mail_index_search_fields_store(index, box, &rec, 1) == 1);
	test_assert_strcmp(read_str(index, box, NULL, TEST_VERSION, 0x1),
			   "1:S/-;");
	mail_index_close(&index);
	test_end();
}

test_func_t *const test_mail_index_message_tests[] = {
	test_select_20000,
	test_restore,
	test_select_snapshot,
	test_append_basic,
	test_append_order,
	test_append_stale_reservation,
	test_flags,
	test_unchangedsince,
	test_expunge_and_changes,
	test_copy,
	test_search,
	test_search_fields_rows,
	test_search_fields_store_busy,
	NULL
};
