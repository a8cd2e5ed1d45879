#ifndef COLUMBA_TEST_LIB_IMAP_H
#define COLUMBA_TEST_LIB_IMAP_H
#include "test-common.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-imap.def"
#undef TEST_GROUP
#endif
