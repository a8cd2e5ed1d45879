#ifndef COLUMBA_TEST_LIB_CONFIG_H
#define COLUMBA_TEST_LIB_CONFIG_H
#include "test-common.h"
#include "columba-config.h"
#include "config.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-config.def"
#undef TEST_GROUP

/* Helpers shared by the test files (test-lib-config.c). */
/* Write a file under test_dir() (creating its directory); returns the
   absolute path (data stack). */
const char *test_config_write(const char *rel_path, const char *content);
/* Parse text as "t.conf"; NULL and *error_r on error. */
struct config *test_config_parse(const char *text, const char **error_r);
/* The error parsing text gives, or "(no error)". */
const char *test_config_error(const char *text);
#endif
