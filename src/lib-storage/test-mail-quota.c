/* Tests for quota enforcement (mail-quota.c): the test over committed
   usage plus this process's reservations, storage and message limits,
   quota_grace for deliveries, a message larger than the limit, the RCPT
   form (nothing more fits), expunge and MOVE freeing usage, and
   reservations outliving their user. */
#include "test-lib-storage.h"
#include "mail-quota.h"

/* 10 lines: RFC822.SIZE = 100 (LFs count as CRLF) */
static const char *test_quota_msg =
	"Subject: quota!!\n"
	"\n"
	"12345678\n12345678\n12345678\n12345678\n"
	"12345678\n12345678\n12345678\n12345678\n";
#define TEST_QUOTA_MSG_SIZE 100

static struct mailbox *test_quota_box(struct mail_user *user,
				      const char *name)
{
	struct mailbox *box;

	if (mail_user_mailbox_create(user, name, 0) < 0 ||
	    mailbox_open(user, name, &box) < 0) {
		test_fail("create/open %s: %s", name, test_user_error(user));
		return NULL;
	}
	return box;
}

static enum mail_quota_result
test_quota(struct mail_user *user, uint64_t size, uint64_t count,
	   enum mail_quota_flags flags)
{
	enum mail_quota_result result;

	if (mail_user_quota_test(user, size, count, flags, &result) < 0) {
		test_fail("quota test: %s", test_user_error(user));
		return (enum mail_quota_result)-1;
	}
	return result;
}

static void test_quota_usage(struct mail_user *user, uint64_t storage,
			     uint64_t messages)
{
	struct mail_quota_usage usage;

	test_assert(mail_user_quota_get_usage(user, &usage, NULL) == 0);
	if (usage.storage != storage || usage.messages != messages) {
		test_fail("usage %llu / %llu, expected %llu / %llu",
			  (unsigned long long)usage.storage,
			  (unsigned long long)usage.messages,
			  (unsigned long long)storage,
			  (unsigned long long)messages);
	}
}

static void test_quota_limits(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box = test_quota_box(user, "INBOX");

	test_begin("quota: storage and message limits over saved mail");
	test_assert(strlen(test_quota_msg) + 10 == TEST_QUOTA_MSG_SIZE);
	/* no limits: never refused, the index is not even read */
	test_assert(!mail_user_quota_is_limited(user));
	test_assert(test_quota(user, UINT64_MAX, UINT64_MAX, 0) == MAIL_QUOTA_OK);

	struct mail_quota_limits limits = { .storage = 350, .messages = 5,
					    .grace = 100 };
	mail_user_set_quota_limits(user, &limits);
	for (unsigned int i = 0; i < 3; i++)
		test_assert(test_save(box, test_quota_msg, 0, NULL) != 0);
	test_quota_usage(user, 300, 3);
	/* 300 + 50 fits exactly, 300 + 51 does not */
	test_assert(test_quota(user, 50, 1, 0) == MAIL_QUOTA_OK);
	test_assert(test_quota(user, 51, 1, 0) == MAIL_QUOTA_OVER_STORAGE);
	/* a delivery may go over by the grace while under the limit */
	test_assert(test_quota(user, 150, 1, MAIL_QUOTA_FLAG_GRACE) == MAIL_QUOTA_OK);
	test_assert(test_quota(user, 151, 1, MAIL_QUOTA_FLAG_GRACE) ==
		    MAIL_QUOTA_OVER_STORAGE);
	/* larger than the whole limit: never fits, grace or not */
	test_assert(test_quota(user, 351, 1, MAIL_QUOTA_FLAG_GRACE) ==
		    MAIL_QUOTA_TOO_LARGE);
	/* the RCPT form: room left */
	test_assert(test_quota(user, 0, 0, 0) == MAIL_QUOTA_OK);
	/* with grace, the fourth message takes the user over */
	test_assert(test_save(box, test_quota_msg, 0, NULL) != 0);
	test_quota_usage(user, 400, 4);
	test_assert(test_quota(user, 0, 0, 0) == MAIL_QUOTA_OVER_STORAGE);
	/* over the limit: no grace any more, even for one byte */
	test_assert(test_quota(user, 1, 1, MAIL_QUOTA_FLAG_GRACE) ==
		    MAIL_QUOTA_OVER_STORAGE);

	/* expunge frees */
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 1);
	seq_range_array_add_range(&uids, 1, 2);
	test_assert(mailbox_expunge(box, &uids, false, NULL) == 0);
	test_quota_usage(user, 200, 2);
	test_assert(test_quota(user, 150, 1, 0) == MAIL_QUOTA_OK);

	/* the message count */
	limits.storage = 0;
	limits.messages = 3;
	mail_user_set_quota_limits(user, &limits);
	test_assert(test_quota(user, 1000000, 1, 0) == MAIL_QUOTA_OK);
	test_assert(test_quota(user, 0, 0, 0) == MAIL_QUOTA_OK);
	test_assert(test_quota(user, 2, 2, 0) == MAIL_QUOTA_OVER_MESSAGES);
	test_assert(test_save(box, test_quota_msg, 0, NULL) != 0);
	test_assert(test_quota(user, 0, 0, 0) == MAIL_QUOTA_OVER_MESSAGES);
	test_assert(test_quota(user, 1, 1, MAIL_QUOTA_FLAG_GRACE) ==
		    MAIL_QUOTA_OVER_MESSAGES);

	/* the error for the protocols */
	test_assert(mail_user_quota_set_error(user, MAIL_QUOTA_OVER_MESSAGES,
					      "Full up") == -1);
	const char *text;
	test_assert(mail_user_get_last_error(user, &text, NULL) ==
		    MAIL_ERROR_NOQUOTA);
	test_assert_strcmp(text, "Full up");
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

static void test_quota_reservations(void)
{
	const char *home;
	struct mail_user *user = test_user_init(&home);
	struct mailbox *box = test_quota_box(user, "INBOX");
	struct mail_quota_reservation *res1, *res2, *res3;
	struct mail_quota_usage pending;
	enum mail_quota_result result;

	test_begin("quota: reservations count until freed, across users");
	struct mail_quota_limits limits = { .storage = 300, .messages = 0 };
	mail_user_set_quota_limits(user, &limits);
	test_assert(test_save(box, test_quota_msg, 0, NULL) != 0);
	test_assert(mail_user_quota_reserve(user, 100, 1, 0, &result,
					    &res1) == 0);
	test_assert(result == MAIL_QUOTA_OK && res1 != NULL);
	test_assert(mail_user_quota_reserve(user, 100, 1, 0, &result,
					    &res2) == 0);
	test_assert(result == MAIL_QUOTA_OK && res2 != NULL);
	/* 100 saved + 200 reserved: full */
	test_assert(mail_user_quota_reserve(user, 1, 1, 0, &result,
					    &res3) == 0);
	test_assert(result == MAIL_QUOTA_OVER_STORAGE && res3 == NULL);
	test_assert(mail_user_quota_get_usage(user, NULL, &pending) == 0);
	test_assert(pending.storage == 200 && pending.messages == 2);
	/* a retried save of an accepted delivery counts all the same */
	test_assert(mail_user_quota_reserve(user, 50, 1, MAIL_QUOTA_FLAG_FORCE,
					    &result, &res3) == 0);
	test_assert(result == MAIL_QUOTA_OK && res3 != NULL);
	test_assert(mail_user_quota_get_usage(user, NULL, &pending) == 0);
	test_assert(pending.storage == 250 && pending.messages == 3);
	mail_quota_reservation_free(&res3);

	/* another mail_user of the same user in this process (an IMAP
	   session next to LMTP) sees the reservations */
	mailbox_close(&box);
	mail_user_deinit(&user);
	struct mail_user *user2 = test_user_init_home(home);
	mail_user_set_quota_limits(user2, &limits);
	test_assert(test_quota(user2, 1, 1, 0) == MAIL_QUOTA_OVER_STORAGE);
	/* freed after their user is gone (the journal's case) */
	mail_quota_reservation_free(&res1);
	test_assert(res1 == NULL);
	test_assert(test_quota(user2, 100, 1, 0) == MAIL_QUOTA_OK);
	test_assert(test_quota(user2, 101, 1, 0) == MAIL_QUOTA_OVER_STORAGE);
	mail_quota_reservation_free(&res2);
	mail_quota_reservation_free(&res3);
	test_assert(mail_user_quota_get_usage(user2, NULL, &pending) == 0);
	test_assert(pending.storage == 0 && pending.messages == 0);
	test_assert(test_quota(user2, 200, 2, 0) == MAIL_QUOTA_OK);
	/* without limits nothing is reserved */
	limits.storage = 0;
	mail_user_set_quota_limits(user2, &limits);
	test_assert(mail_user_quota_reserve(user2, 100, 1, 0, &result,
					    &res1) == 0);
	test_assert(result == MAIL_QUOTA_OK && res1 == NULL);
	mail_user_deinit(&user2);
	test_end();
}

static void test_quota_move_copy(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *inbox = test_quota_box(user, "INBOX");
	struct mailbox *trash = test_quota_box(user, "Trash");
	struct mail_transaction_commit_result result;

	test_begin("quota: copy adds usage, move does not");
	for (unsigned int i = 0; i < 2; i++)
		test_assert(test_save(inbox, test_quota_msg, 0, NULL) != 0);
	test_quota_usage(user, 200, 2);
	struct mail_quota_usage part;
	ARRAY_TYPE(seq_range) uids;
	array_init(&uids, pool_datastack, 2);
	seq_range_array_add_range(&uids, 2, 5);
	test_assert(mailbox_quota_get_uids(inbox, &uids, &part) == 0);
	test_assert(part.storage == 100 && part.messages == 1);
	struct mailbox_transaction *t =
		mailbox_transaction_begin(trash, MAILBOX_TRANSACTION_FLAG_SYNC);
	test_assert(mail_copy(t, inbox, 1, false) == 0);
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack,
						    &result) == 0);
	test_quota_usage(user, 300, 3);
	t = mailbox_transaction_begin(trash, MAILBOX_TRANSACTION_FLAG_SYNC);
	test_assert(mail_copy(t, inbox, 2, true) == 0);
	test_assert(mailbox_transaction_commit_sync(&t, pool_datastack,
						    &result) == 0);
	test_quota_usage(user, 300, 3);
	/* deleting a mailbox frees its messages' usage */
	mailbox_close(&trash);
	test_assert(mail_user_mailbox_delete(user, "Trash") == 0);
	test_quota_usage(user, 100, 1);
	mailbox_close(&inbox);
	mail_user_deinit(&user);
	test_end();
}

test_func_t *const test_mail_quota_tests[] = {
	test_quota_limits,
	test_quota_reservations,
	test_quota_move_copy,
	NULL
};
