#ifndef COLUMBA_TEST_LIB_STORAGE_H
#define COLUMBA_TEST_LIB_STORAGE_H
#include "test-common.h"
#include "mail-storage.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-storage.def"
#undef TEST_GROUP

/* A fresh user in its own directory under the test dir: index at
   DIR/index.db, blobs "posix:DIR/blobs". */
struct mail_user *test_user_init(const char **home_r);
struct mail_user *test_user_init_home(const char *home);
/* Save a message synchronously; returns its UID (0 on failure). */
uint32_t test_save(struct mailbox *box, const char *msg, enum mail_flags flags,
		   const char *const *keywords);
/* The error text of the user's last error. */
const char *test_user_error(struct mail_user *user);
#endif
