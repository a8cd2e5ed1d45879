/* The MIME structure of a parsed message: a tree of parts with the byte
   offset and sizes of each part's header and body, so that any section
   (BODY[1.2], BODY[1.2.MIME], BODY[2.HEADER]...) can be read by seeking,
   without parsing the message again. */
#ifndef COLUMBA_MESSAGE_PART_H
#define COLUMBA_MESSAGE_PART_H

#include "lib.h"

struct message_part_data;

/* Size of a header or a body. "virtual" is the size with every LF that has
   no CR before it counted as CRLF: what IMAP sends (RFC822.SIZE, literal
   lengths, BODYSTRUCTURE sizes). lines counts LFs. */
struct message_size {
	uint64_t physical_size;
	uint64_t virtual_size;
	unsigned int lines;
};

enum message_part_flags {
	/* multipart/ with children (or none, if the boundary never came) */
	MESSAGE_PART_FLAG_MULTIPART = 0x01,
	MESSAGE_PART_FLAG_MULTIPART_DIGEST = 0x02,
	/* message/rfc822 (or the default type in a digest): the body is a
	   message, the part's single child */
	MESSAGE_PART_FLAG_MESSAGE_RFC822 = 0x04,
	/* text/... or no Content-Type */
	MESSAGE_PART_FLAG_TEXT = 0x08,
	/* MIME-Version or Content-Type was seen, or the part is inside a
	   multipart: the Content-* headers count */
	MESSAGE_PART_FLAG_IS_MIME = 0x10,
	/* NUL bytes in the header or body */
	MESSAGE_PART_FLAG_HAS_NULS = 0x20,
};

struct message_part {
	struct message_part *parent, *next, *children;

	/* offset of the part's header in the message */
	uint64_t physical_pos;
	/* the header including the blank line ending it; the body is
	   everything after it up to the part's end (for a multipart part
	   that includes the children, boundaries, preamble and epilogue; for
	   message/rfc822 it is the whole encapsulated message). The [CR]LF
	   before a boundary line belongs to the boundary, not to the part
	   that ends there (RFC 2046 section 5.1.1). */
	struct message_size header_size;
	struct message_size body_size;

	/* number of descendants */
	unsigned int children_count;
	enum message_part_flags flags;
	/* Content-* fields and the envelope (message parts); always set
	   once the part's header has been parsed */
	struct message_part_data *data;
};

/* Offset of the byte after the part. */
static inline uint64_t message_part_end(const struct message_part *part)
{
	return part->physical_pos + part->header_size.physical_size +
		part->body_size.physical_size;
}
/* Offset of the part's body. */
static inline uint64_t message_part_body_pos(const struct message_part *part)
{
	return part->physical_pos + part->header_size.physical_size;
}

/* RFC822.SIZE of a message part (the root): header + body, CRLF. */
uint64_t message_part_rfc822_size(const struct message_part *part);

/* Resolve an IMAP part number ("1", "1.2.3"; "" is the message itself)
   to the part whose body BODY[<number>] returns: children of a multipart
   are numbered from 1, the parts of a message/rfc822 part are those of the
   encapsulated message, and a message that is not multipart has only part
   1, its body. Returns the part, or NULL with *error_r if there is no such
   part. */
struct message_part *
message_part_find(struct message_part *root, const char *number,
		  const char **error_r);

/* The IMAP part number of part (data stack); "" for the root. */
const char *message_part_get_number(const struct message_part *part);

#endif
