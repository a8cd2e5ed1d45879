/* Tests for rebuilding the index from blobs alone: after deleting
   index.db, mailboxes come back with their names (renames included),
   GUIDs, UIDVALIDITY, UIDNEXT and special-use; messages with their UIDs,
   flags and keywords as saved, dates, sizes and cached fields;
   subscriptions too. */
#include "test-lib-storage.h"
#include "blob.h"

static const char *msg_text(unsigned int i)
{
	return t_strdup_printf("Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
			       "From: sender%u@example.com\n"
			       "Subject: message %u\n\nbody %u\n", i, i, i);
}

/* The state a client could see, as text. */
static const char *user_state(struct mail_user *user)
{
	struct mail_index *index = mail_user_get_index(user);
	ARRAY_TYPE(mail_index_list_entry) boxes;
	const struct mail_index_list_entry *e;
	const char *const patterns[] = { "*", NULL };
	string_t *str = t_str_new(4096);

	array_init(&boxes, pool_datastack, 8);
	if (mail_index_mailbox_list(index, patterns, 0, pool_datastack, &boxes) < 0)
		return "(error)";
	array_foreach(&boxes, e) {
		struct mail_index_mailbox box;
		struct mail_index_status status;
		if (mail_index_mailbox_lookup_id(index, e->id, pool_datastack, &box) <= 0 ||
		    mail_index_mailbox_status(index, e->id, &status) < 0)
			return "(error)";
		str_printfa(str, "%s guid=%s uv=%u next=%u use=%u msgs=%u size=%llu%s\n",
			    box.name, box.guid, box.uidvalidity, status.uidnext,
			    (unsigned int)box.special_use, status.messages,
			    (unsigned long long)status.size,
			    (e->attrs & MAIL_INDEX_MAILBOX_ATTR_SUBSCRIBED) != 0 ?
			    " subscribed" : "");
		ARRAY_TYPE(mail_index_record) recs;
		const struct mail_index_record *rec;
		array_init(&recs, pool_datastack, 8);
		if (mail_index_fetch(index, e->id, NULL, MAIL_INDEX_FETCH_DETAILS |
				     MAIL_INDEX_FETCH_CACHE, pool_datastack, &recs) < 0)
			return "(error)";
		array_foreach(&recs, rec) {
			str_printfa(str, "  %u flags=%u kw=%s date=%lld/%d sent=%lld "
				    "size=%llu/%llu guid=%s env=%s bs=%s\n",
				    rec->uid, (unsigned int)rec->flags,
				    rec->keywords == NULL ? "" :
				    t_strarray_join(rec->keywords, ","),
				    (long long)rec->internal_date, rec->internal_tz,
				    (long long)rec->sent_date,
				    (unsigned long long)rec->physical_size,
				    (unsigned long long)rec->rfc822_size,
				    rec->guid, rec->envelope, rec->bodystructure);
		}
	}
	return str_c(str);
}

static void test_rebuild(void)
{
	const char *home;
	struct mail_user *user = test_user_init(&home);
	struct mailbox *inbox, *proj, *trash;
	struct mail_transaction_commit_result result;
	static const char *const kws[] = { "$Label1", "todo", NULL };

	test_begin("rebuild the index from blobs alone");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	test_assert(mail_user_mailbox_create(user, "Work/Projects", 0) == 0);
	test_assert(mail_user_mailbox_create(user, "Trash",
					     MAIL_SPECIAL_USE_TRASH) == 0);
	test_assert(mail_user_mailbox_subscribe(user, "INBOX", true) == 0);
	test_assert(mailbox_open(user, "INBOX", &inbox) == 0);
	test_assert(mailbox_open(user, "Work/Projects", &proj) == 0);
	test_assert(mailbox_open(user, "Trash", &trash) == 0);
	for (unsigned int i = 1; i <= 5; i++)
		test_save(inbox, msg_text(i), i % 2 == 0 ? MAIL_SEEN : 0,
			  i == 3 ? kws : NULL);
	for (unsigned int i = 6; i <= 8; i++)
		test_save(proj, msg_text(i), MAIL_FLAGGED, NULL);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(trash, MAILBOX_TRANSACTION_FLAG_SYNC);
	test_assert(mail_copy(t, inbox, 1, false) == 0);
	test_assert(mail_copy(t, inbox, 3, false) == 0);
	test_assert(mail_copy(t, inbox, 4, true) == 0);
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack, &result) == 0);
	/* expunge the newest message: UIDNEXT must survive the rebuild */
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 2);
	seq_range_array_add(&uids, 2);
	seq_range_array_add(&uids, 5);
	test_assert(mailbox_expunge(inbox, &uids, false, NULL) == 0);
	mailbox_close(&proj);
	test_assert(mail_user_mailbox_rename(user, "Work", "Job") == 0);
	/* an empty mailbox known only from the mailbox list */
	test_assert(mail_user_mailbox_create(user, "Empty", MAIL_SPECIAL_USE_DRAFTS) == 0);
	mailbox_close(&inbox);
	mailbox_close(&trash);

	const char *before = t_strdup(user_state(user));
	mail_user_deinit(&user);

	/* lose the index */
	const char *index_path = t_strdup_printf("%s/index.db", home);
	const char *const suffixes[] = { "", "-wal", "-shm", "-notify" };
	for (unsigned int i = 0; i < N_ELEMENTS(suffixes); i++)
		(void)unlink(t_strdup_printf("%s%s", index_path, suffixes[i]));

	struct blob_store *store;
	const char *error;
	unsigned int count;
	test_assert(blob_store_create(t_strdup_printf("posix:%s/blobs", home),
				      NULL, &store, &error) == 0);
	test_assert(mail_index_rebuild(index_path, store, "mail", &count, &error) == 0);
	test_assert(count == 2 + 3 + 3);
	/* not over an existing index */
	test_assert(mail_index_rebuild(index_path, store, "mail", &count, &error) < 0);
	blob_store_destroy(&store);

	user = test_user_init_home(home);
	const char *after = user_state(user);
	test_assert_strcmp(after, before);
	if (strcmp(after, before) != 0)
		printf("BEFORE:\n%s\nAFTER:\n%s\n", before, after);

	/* and it goes on from there: no UID is reused */
	test_assert(mailbox_open(user, "INBOX", &inbox) == 0);
	test_assert(test_save(inbox, msg_text(9), 0, NULL) == 6);
	struct mail_index_mailbox box;
	test_assert(mail_index_mailbox_create(mail_user_get_index(user), "Newer",
					      0, pool_datastack, &box) == 0);
	test_assert(box.uidvalidity > mailbox_get_uidvalidity(inbox));
	mailbox_close(&inbox);
	mail_user_deinit(&user);
	test_end();
}

test_func_t *const test_mail_rebuild_tests[] = {
	test_rebuild,
	NULL
};
