/* Unit tests for src/lib-storage: the runner and shared helpers. */
#include "test-lib-storage.h"
#include <sys/stat.h>

struct mail_user *test_user_init_home(const char *home)
{
	struct mail_user_settings set = {
		.username = "testuser",
		.index_path = t_strdup_printf("%s/index.db", home),
		.blob_spec = t_strdup_printf("posix:%s/blobs", home),
	};
	struct mail_user *user;
	const char *error;

	(void)mkdir(home, 0700);
	if (mail_user_init(&set, &user, &error) < 0)
		i_fatal("mail_user_init(%s) failed: %s", home, error);
	return user;
}

struct mail_user *test_user_init(const char **home_r)
{
	static unsigned int counter;
	const char *home = t_strdup_printf("%s/user-%u", test_dir(), ++counter);

	if (home_r != NULL)
		*home_r = home;
	return test_user_init_home(home);
}

const char *test_user_error(struct mail_user *user)
{
	const char *text, *internal;

	(void)mail_user_get_last_error(user, &text, &internal);
	return t_strdup_printf("%s (%s)", text, internal);
}

uint32_t test_save(struct mailbox *box, const char *msg, enum mail_flags flags,
		   const char *const *keywords)
{
	struct mailbox_transaction *t =
		mailbox_transaction_begin(box, MAILBOX_TRANSACTION_FLAG_SYNC);
	struct mail_transaction_commit_result result;
	struct mail_save_context *ctx;

	ctx = mail_save_begin(t, flags, keywords, 1700000000, 60);
	if (ctx == NULL) {
		mailbox_transaction_rollback(&t);
		return 0;
	}
	/* in pieces, as a client's literal arrives */
	size_t len = strlen(msg);
	for (size_t pos = 0; pos < len; pos += 7) {
		if (mail_save_write(ctx, msg + pos, I_MIN(7, len - pos)) < 0)
			break;
	}
	if (mail_save_finish(&ctx) < 0 ||
	    mailbox_transaction_commit_sync(&t, pool_datastack, &result) < 0) {
		if (t != NULL)
			mailbox_transaction_rollback(&t);
		test_fail("save failed: %s", test_user_error(mailbox_get_user(box)));
		return 0;
	}
	return array_count(&result.uids) == 1 ? result.uids.v[0] : 0;
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-storage.def"
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
