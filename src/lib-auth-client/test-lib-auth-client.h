#ifndef COLUMBA_TEST_LIB_AUTH_CLIENT_H
#define COLUMBA_TEST_LIB_AUTH_CLIENT_H
#include "test-common.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-auth-client.def"
#undef TEST_GROUP
#endif
