#ifndef COLUMBA_TEST_LIB_INDEX_H
#define COLUMBA_TEST_LIB_INDEX_H
#include "test-common.h"
#include "mail-index.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-index.def"
#undef TEST_GROUP

/* A fresh index in the test directory (a new file per call). */
struct mail_index *test_index_open(const char **path_r);
struct mail_index *test_index_open_path(const char *path);
/* Create a mailbox, returning its id (test failure if it cannot). */
uint32_t test_mailbox_create(struct mail_index *index, const char *name);
/* Append count messages with flags; returns the first UID. */
uint32_t test_append(struct mail_index *index, uint32_t mailbox_id,
		     unsigned int count, enum mail_flags flags,
		     const char *const *keywords);
/* "1:3,5" */
ARRAY_TYPE(seq_range) *test_uidset(const char *set);
/* Expunge uids ("1:3,5") of a mailbox in a transaction of their own. */
void test_expunge_set(struct mail_index *index, uint32_t mailbox_id,
		      const char *uids);
#endif
