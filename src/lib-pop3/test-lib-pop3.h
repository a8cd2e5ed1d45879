#ifndef COLUMBA_TEST_LIB_POP3_H
#define COLUMBA_TEST_LIB_POP3_H
#include "test-common.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-pop3.def"
#undef TEST_GROUP
#endif
