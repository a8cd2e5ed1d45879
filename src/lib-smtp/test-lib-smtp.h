#ifndef COLUMBA_TEST_LIB_SMTP_H
#define COLUMBA_TEST_LIB_SMTP_H
#include "test-common.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-smtp.def"
#undef TEST_GROUP
#endif
