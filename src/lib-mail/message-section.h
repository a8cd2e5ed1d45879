/* Where the bytes of an IMAP section (FETCH BODY[...], BINARY[...]) are in
   the raw message, computed from the part tree, so a FETCH can seek and
   copy without parsing the message again. IMAP sends CRLF line ends; a
   range whose virtual_size differs from its size holds bare LFs and must
   be sent through a message_crlf_converter. */
#ifndef COLUMBA_MESSAGE_SECTION_H
#define COLUMBA_MESSAGE_SECTION_H

#include "message-part.h"

struct message_range {
	uint64_t offset;	/* in the raw message */
	uint64_t size;		/* bytes there */
	uint64_t virtual_size;	/* bytes once LFs are CRLFs */
};
ARRAY_DEFINE_TYPE(message_range, struct message_range);

static inline bool message_range_needs_crlf(const struct message_range *r)
{
	return r->virtual_size != r->size;
}

enum message_section_kind {
	/* BODY[] / BODY[1.2]: the whole message, or the part's body */
	MESSAGE_SECTION_CONTENT,
	/* BODY[1.2.MIME]: the part's own MIME header */
	MESSAGE_SECTION_MIME,
	/* BODY[HEADER], BODY[2.HEADER] (2 being message/rfc822): the
	   message's header */
	MESSAGE_SECTION_HEADER,
	/* BODY[TEXT], BODY[2.TEXT]: the message's body */
	MESSAGE_SECTION_TEXT,
};

/* The range of BODY[<number>.<kind>] ("" number: the message itself).
   HEADER and TEXT need a message: the root or a message/rfc822 part.
   MIME needs a number. Returns 0, or -1 with *error_r if there is no such
   section. */
int message_section_range(struct message_part *root, const char *number,
			  enum message_section_kind kind,
			  struct message_range *range_r, const char **error_r);

/* HEADER.FIELDS (fields) / HEADER.FIELDS.NOT (!match): hdr is a header as
   returned for MESSAGE_SECTION_HEADER (its bytes, starting at hdr_offset in
   the message). Appends to ranges the fields whose names are (or, with
   !match, are not) in fields (case-insensitive), in message order,
   followed by the blank line ending the header if it has one (RFC 3501:
   the blank line is part of every header fetch). Returns the total virtual
   size, the length of the IMAP literal. */
uint64_t message_header_fields_ranges(const void *hdr, size_t hdr_size,
				      uint64_t hdr_offset,
				      const char *const *fields, bool match,
				      ARRAY_TYPE(message_range) *ranges);

/* LF to CRLF conversion for sending ranges: an LF without a CR before it
   (in this range) becomes CRLF. Keep one converter per range. */
struct message_crlf_converter {
	bool last_cr;
};
void message_crlf_convert(struct message_crlf_converter *conv,
			  const void *data, size_t size, buffer_t *dest);
/* Virtual size of bytes taken as one range. */
uint64_t message_crlf_virtual_size(const void *data, size_t size);

#endif
