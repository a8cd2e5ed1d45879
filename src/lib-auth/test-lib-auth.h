#ifndef COLUMBA_TEST_LIB_AUTH_H
#define COLUMBA_TEST_LIB_AUTH_H
#include "test-common.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-auth.def"
#undef TEST_GROUP

/* Write content to test_dir()/name (replacing it) and return the path
   (data stack). */
const char *test_auth_write_file(const char *name, const char *content);
#endif
