/* Unit tests for src/lib-index: the runner and the helpers the test files
   share. */
#include "test-lib-index.h"
#include <time.h>

struct mail_index *test_index_open_path(const char *path)
{
	struct mail_index_settings set = { .path = path };
	struct mail_index *index;
	const char *error;

	if (mail_index_open(&set, &index, &error) < 0)
		i_fatal("mail_index_open(%s) failed: %s", path, error);
	return index;
}

struct mail_index *test_index_open(const char **path_r)
{
	static unsigned int counter;
	const char *path = t_strdup_printf("%s/index-%u.db", test_dir(),
					   ++counter);
	if (path_r != NULL)
		*path_r = path;
	return test_index_open_path(path);
}

uint32_t test_mailbox_create(struct mail_index *index, const char *name)
{
	struct mail_index_mailbox box;

	if (mail_index_mailbox_create(index, name, 0, pool_datastack, &box) < 0) {
		const char *error;
		(void)mail_index_get_last_error(index, &error, NULL);
		test_fail("create %s: %s", name, error);
		return 0;
	}
	return box.id;
}

uint32_t test_append(struct mail_index *index, uint32_t mailbox_id,
		     unsigned int count, enum mail_flags flags,
		     const char *const *keywords)
{
	struct mail_index_reservation *res;
	struct mail_index_transaction *t;
	uint32_t uid1;

	if (mail_index_reserve_uids(index, mailbox_id, count, &res) < 0) {
		test_fail("reserve failed");
		return 0;
	}
	uid1 = mail_index_reservation_get_uid1(res);
	if (mail_index_transaction_begin(index, &t) < 0) {
		test_fail("begin failed");
		mail_index_reservation_free(&res);
		return 0;
	}
	for (unsigned int i = 0; i < count; i++) {
		struct mail_index_new_message msg = {
			.flags = flags,
			.keywords = keywords,
			.internal_date = 1700000000 + (time_t)i * 3600,
			.internal_tz = 60,
			.sent_date = 1700000000,
			.physical_size = 100 + i,
			.rfc822_size = 110 + i,
			.guid = "00112233445566778899aabbccddeeff",
			.blob_key = t_strdup_printf("test/%u/%u", mailbox_id,
						    uid1 + i),
			.envelope = "(NIL)",
		};
		if (mail_index_append(t, res, uid1 + i, &msg) <= 0) {
			test_fail("append failed");
			mail_index_transaction_rollback(&t);
			mail_index_reservation_free(&res);
			return 0;
		}
	}
	if (mail_index_transaction_commit(&t) < 0)
		test_fail("commit failed");
	mail_index_reservation_free(&res);
	return uid1;
}

ARRAY_TYPE(seq_range) *test_uidset(const char *set)
{
	ARRAY_TYPE(seq_range) *arr = t_new(ARRAY_TYPE(seq_range), 1);

	array_init(arr, pool_datastack, 4);
	if (seq_range_parse(set, UINT32_MAX, arr) < 0)
		i_panic("bad test uidset %s", set);
	return arr;
}

void test_expunge_set(struct mail_index *index, uint32_t mailbox_id,
		      const char *uids)
{
	struct mail_index_transaction *t;

	test_assert(mail_index_transaction_begin(index, &t) == 0);
	test_assert(mail_index_expunge(t, mailbox_id, test_uidset(uids),
				       false, NULL) == 0);
	test_assert(mail_index_transaction_commit(&t) == 0);
}

int main(void)
{
	static test_func_t *const *const groups[] = {
#define TEST_GROUP(name) name,
#include "test-lib-index.def"
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
