/* The MIME part tree of a message (offsets and sizes, lib-mail's
   message_part) as bytes, so the index can cache it and a FETCH of a
   section seeks into the blob without parsing the message again. Also
   the header fields the index caches because clients fetch them all the
   time. */
#ifndef COLUMBA_MAIL_PARTS_H
#define COLUMBA_MAIL_PARTS_H

#include "lib.h"

struct message_part;
struct message_header_field;

void mail_parts_serialize(const struct message_part *root, buffer_t *dest);
/* The tree, allocated from pool, with no Content-* data (part->data is
   NULL: offsets, sizes and flags are what sections need). NULL with
   *error_r if data is not a tree we wrote. */
struct message_part *mail_parts_deserialize(pool_t pool, const void *data,
					    size_t size, const char **error_r);

/* Whether a header field is one of those cached with the message. */
bool mail_cached_header_is_cached(const char *name);
/* Whether every field of the NULL-terminated list is cached. */
bool mail_cached_headers_cover(const char *const *fields);

#endif
