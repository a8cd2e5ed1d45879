#ifndef COLUMBA_MAIL_FETCH_H
#define COLUMBA_MAIL_FETCH_H

#include "mail-storage.h"

/* mail_section_stream_open() for a record the caller already read with
   MAIL_INDEX_FETCH_DETAILS (FETCH's batch, POP3's snapshot): the whole
   message (section "") costs no further index lookup; other sections use
   the record's cached part tree if it was read with MAIL_INDEX_FETCH_CACHE,
   else look it up. The stream is async, but a blob read that can be done
   without blocking (the data is in the page cache) is done inside the
   call that asks for it: call mail_section_stream_read() before waiting
   for the callback, which comes only after a read returned 0. Returns 0
   with the stream, or -1 as mail_section_stream_open(). */
int mail_section_stream_open_record(struct mailbox *box,
				    const struct mail_index_record *rec,
				    const struct mail_section_request *req,
				    struct mail_section_stream **stream_r)
	ATTR_WARN_UNUSED;

#endif
