/* The Content-* header fields of a MIME part and the envelope fields of a
   message, parsed into what IMAP BODYSTRUCTURE and ENVELOPE show. The
   message parser fills them in for every part (message_part->data). */
#ifndef COLUMBA_MESSAGE_PART_DATA_H
#define COLUMBA_MESSAGE_PART_DATA_H

#include "message-parser.h"

struct message_address;

#define MESSAGE_PART_DEFAULT_CHARSET "us-ascii"

struct message_part_param {
	/* as rfc2231_parse() returns them: "name*" for RFC 2231 extended
	   values, which stay charset'lang'%XX encoded */
	const char *name, *value;
};

/* Envelope fields, raw (not RFC 2047 decoded), unfolded (the subject keeps
   an LF at each fold, as Dovecot does); NULs replaced by U+FFFD. As in
   Dovecot, repeated address fields add up, and of the other fields the
   last one counts. */
struct message_part_envelope {
	const char *date, *subject;
	struct message_address *from, *sender, *reply_to;
	struct message_address *to, *cc, *bcc;
	const char *in_reply_to, *message_id;
};

struct message_part_data {
	/* Content-Type as written (case kept); NULL if missing. If the type
	   is set, subtype is too (possibly "") */
	const char *content_type, *content_subtype;
	const struct message_part_param *content_type_params;
	unsigned int content_type_params_count;

	const char *content_transfer_encoding;
	const char *content_id;
	const char *content_description;
	const char *content_disposition;
	const struct message_part_param *content_disposition_params;
	unsigned int content_disposition_params_count;
	const char *content_md5;
	/* NULL-terminated list */
	const char *const *content_language;
	const char *content_location;

	/* for the root part and the message inside a message/rfc822 part */
	struct message_part_envelope *envelope;
};

/* Add one header field of part (called by the parser for each field).
   The first of each Content-* field counts. envelope selects whether the
   envelope fields are collected. */
void message_part_data_add_header(pool_t pool, struct message_part *part,
				  const struct message_header_field *hdr,
				  bool envelope);
/* The part's header ended: make sure part->data exists, and forget the
   Content-* fields if the part turned out not to be MIME. */
void message_part_data_header_end(pool_t pool, struct message_part *part);

/* Add one envelope field to *env (allocated on first use). Returns true if
   hdr was an envelope field. */
bool message_part_envelope_add_header(pool_t pool,
				      struct message_part_envelope **env,
				      const struct message_header_field *hdr);

/* Value of a Content-Type (or Content-Disposition) parameter, or NULL. */
const char *
message_part_param_get(const struct message_part_param *params,
		       unsigned int count, const char *name);

/* Copy header bytes to a C string, NULs replaced by U+FFFD. */
const char *message_header_strdup(pool_t pool, const void *data, size_t size);

#endif
