/* Streaming MIME parser. The message is pushed in pieces of any size
   (message_parser_feed()) and never held whole: at most one header field
   (up to max_header_field_size) and a line's worth of look-ahead for
   boundaries are kept. As it goes, the parser reports header fields, the
   ends of headers, body data and part boundaries to a callback, and builds
   the tree of parts with their offsets and sizes (message-part.h) with the
   Content-* data and envelopes filled in (message-part-data.h).

   Broken mail is parsed leniently and never rejected: lines without a
   colon, 8-bit and NUL bytes, LF or CRLF line ends, a missing blank line,
   unterminated multiparts, boundaries inside boundaries. Limits keep
   hostile mail bounded; what is past them becomes body text:
   - max_nested_mime_parts: a part this deep is not parsed as a container
     (its multipart or message/rfc822 content is its body);
   - max_total_mime_parts: once the message has this many parts, no further
     boundary is recognised;
   - max_header_field_size: a longer header field is reported truncated
     (its bytes still count in the header's size).
   The results are the same for any way the input is cut into pieces,
   and the structure and sizes are those Dovecot computes. */
#ifndef COLUMBA_MESSAGE_PARSER_H
#define COLUMBA_MESSAGE_PARSER_H

#include "message-part.h"

#define MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS 100
#define MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS 10000
#define MESSAGE_PARSER_DEFAULT_MAX_HEADER_FIELD_SIZE (1024 * 1024)

struct message_parser_settings {
	/* 0 = the defaults above */
	unsigned int max_nested_mime_parts;
	unsigned int max_total_mime_parts;
	size_t max_header_field_size;
};

/* One header field. */
struct message_header_field {
	/* the name (before the colon, trailing whitespace removed; the
	   whole first line if it has no colon), NUL-terminated */
	const char *name;
	size_t name_len;
	/* the value unfolded: the line ends of folded lines removed,
	   whitespace after the colon skipped (all of it, except one space
	   when the first line's value is nothing but whitespace, as Dovecot
	   does); NUL-terminated, may contain NULs */
	const unsigned char *value;
	size_t value_len;
	/* the field as it appears in the message, with its line end(s);
	   the value starts at raw + raw_value_pos */
	const unsigned char *raw;
	size_t raw_size, raw_value_pos;
	/* offset of the field in the message and its real size (raw_size is
	   smaller when the field was truncated) */
	uint64_t offset;
	uint64_t size;
	bool missing_colon;
	/* longer than max_header_field_size: value and raw are cut */
	bool truncated;
};

enum message_event_type {
	/* a part starts; its header follows */
	MESSAGE_EVENT_PART_BEGIN,
	/* a header field of the current part */
	MESSAGE_EVENT_HEADER,
	/* the header ended (data/size is the blank line, if there was one);
	   the part's flags and data are now known */
	MESSAGE_EVENT_HEADER_END,
	/* body bytes of the part: for a leaf part its content; for a
	   multipart part the preamble, boundary lines and epilogue. Every
	   byte of the message is reported exactly once, as part of a header
	   field, a header end or body data. */
	MESSAGE_EVENT_BODY,
	/* the part ended; its sizes are final */
	MESSAGE_EVENT_PART_END,
};

struct message_event {
	enum message_event_type type;
	struct message_part *part;
	/* MESSAGE_EVENT_HEADER */
	const struct message_header_field *hdr;
	/* MESSAGE_EVENT_BODY and MESSAGE_EVENT_HEADER_END */
	const unsigned char *data;
	size_t size;
	/* offset in the message of data (or of the event's position) */
	uint64_t offset;
};

/* Called for each event. The data pointed to is valid only during the
   call. */
typedef void message_parser_callback_t(const struct message_event *event,
				       void *context);

struct message_parser;

/* The part tree and its data are allocated from part_pool, which must
   outlive them and must not be the data stack. set and callback may be
   NULL. */
struct message_parser *
message_parser_init(pool_t part_pool,
		    const struct message_parser_settings *set,
		    message_parser_callback_t *callback, void *context);
/* Push the next piece of the message. Events for it are reported before
   this returns (except for the last few bytes, which may be held back until
   the next piece shows whether a boundary starts there). */
void message_parser_feed(struct message_parser *parser, const void *data,
			 size_t size);
/* End of the message: report what was held back, close every open part
   and free the parser. Returns the root part (never NULL; an empty message
   is a part with empty header and body). */
struct message_part *message_parser_finish(struct message_parser **parser);

/* Offset of the next byte message_parser_feed() expects. */
uint64_t message_parser_get_offset(const struct message_parser *parser);

/* The value with the line end of each fold kept as a single LF (the
   form Dovecot keeps header values in, which its ENVELOPE output depends
   on: a folded Subject is written as a literal). */
void message_header_field_get_value_nl(const struct message_header_field *hdr,
				       buffer_t *dest);

/* Parse a message held in memory. */
struct message_part *
message_parse_data(pool_t part_pool, const void *data, size_t size,
		   const struct message_parser_settings *set);

#endif
