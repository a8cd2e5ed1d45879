#ifndef COLUMBA_TEST_LIB_MAIL_H
#define COLUMBA_TEST_LIB_MAIL_H
#include "test-common.h"
#include "message-parser.h"
#define TEST_GROUP(name) extern test_func_t *const name[];
#include "test-lib-mail.def"
#undef TEST_GROUP

/* Helpers shared by the test files (test-lib-mail.c). */

/* Parse msg feeding it in pieces of chunk_size bytes (0: all at once).
   Every event is also recorded into events (if not NULL) as text, and the
   test fails if the events do not account for every byte exactly once. */
struct message_part *test_parse_message(pool_t pool, const void *msg,
					size_t size, size_t chunk_size,
					string_t *events);
/* A text dump of the part tree: positions, sizes, flags. */
void test_dump_parts(string_t *dest, const struct message_part *part);
/* BODYSTRUCTURE (extended) or BODY of msg (a C string), data stack. */
const char *test_bodystructure(const char *msg, bool extended);
/* ENVELOPE of msg, data stack. */
const char *test_envelope(const char *msg);
#endif
