/* BODY / BODYSTRUCTURE output from the part tree: sizes and line counts
   are the CRLF ("virtual") ones IMAP requires; everything else comes from
   the part's Content-* data, written the way Dovecot writes it. */
#include "imap-bodystructure.h"
#include "imap-envelope.h"
#include "imap-quote.h"
#include "message-part-data.h"

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"" \
	MESSAGE_PART_DEFAULT_CHARSET "\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE "(\"text\" \"plain\" (\"charset\" \"" \
	MESSAGE_PART_DEFAULT_CHARSET "\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

static void params_write(string_t *dest,
			 const struct message_part_param *params,
			 unsigned int count, bool default_charset)
{
	bool seen_charset = false;

	if (count == 0 && !default_charset) {
		str_append(dest, "NIL");
		return;
	}
	str_append_c(dest, '(');
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			str_append_c(dest, ' ');
		if (strcasecmp(params[i].name, "charset") == 0)
			seen_charset = true;
		imap_append_string(dest, params[i].name);
		str_append_c(dest, ' ');
		imap_append_string(dest, params[i].value);
	}
	if (default_charset && !seen_charset) {
		if (count > 0)
			str_append_c(dest, ' ');
		str_append(dest, "\"charset\" \"" MESSAGE_PART_DEFAULT_CHARSET
			   "\"");
	}
	str_append_c(dest, ')');
}

/* disposition, language, location: the extension data all parts have */
static void write_extension_common(string_t *dest,
				   const struct message_part_data *data)
{
	str_append_c(dest, ' ');
	if (data->content_disposition == NULL) {
		str_append(dest, "NIL");
	} else {
		str_append_c(dest, '(');
		imap_append_string(dest, data->content_disposition);
		str_append_c(dest, ' ');
		params_write(dest, data->content_disposition_params,
			     data->content_disposition_params_count, false);
		str_append_c(dest, ')');
	}
	str_append_c(dest, ' ');
	if (data->content_language == NULL) {
		str_append(dest, "NIL");
	} else {
		const char *const *lang = data->content_language;

		str_append_c(dest, '(');
		for (unsigned int i = 0; lang[i] != NULL; i++) {
			if (i > 0)
				str_append_c(dest, ' ');
			imap_append_string(dest, lang[i]);
		}
		str_append_c(dest, ')');
	}
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, data->content_location);
}

static void write_children(string_t *dest, const struct message_part *part,
			   bool extended)
{
	for (; part != NULL; part = part->next) {
		str_append_c(dest, '(');
		imap_bodystructure_write(part, dest, extended);
		str_append_c(dest, ')');
	}
}

static void write_multipart(string_t *dest, const struct message_part *part,
			    bool extended)
{
	const struct message_part_data *data = part->data;

	if (part->children != NULL)
		write_children(dest, part->children, extended);
	else {
		/* RFC 3501 requires at least one part: show an empty one */
		str_append(dest, extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
	}
	str_append_c(dest, ' ');
	imap_append_string(dest, data->content_subtype);
	if (!extended)
		return;
	str_append_c(dest, ' ');
	params_write(dest, data->content_type_params,
		     data->content_type_params_count, false);
	write_extension_common(dest, data);
}

/* The part's type says it contains parts, but the parser did not parse
   it as a container (it hit a limit). */
static bool part_is_truncated(const struct message_part *part)
{
	const struct message_part_data *data = part->data;

	if (data->content_type != NULL) {
		if (strcasecmp(data->content_type, "message") == 0 &&
		    strcasecmp(data->content_subtype, "rfc822") == 0)
			return true;
		return strcasecmp(data->content_type, "multipart") == 0;
	}
	/* no Content-Type in a digest: message/rfc822 by default */
	return part->parent != NULL &&
		(part->parent->flags & MESSAGE_PART_FLAG_MULTIPART_DIGEST) != 0;
}

static void write_single(string_t *dest, const struct message_part *part,
			 bool extended)
{
	const struct message_part_data *data = part->data;
	bool text = false;

	if ((part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0) {
		str_append(dest, "\"message\" \"rfc822\"");
	} else if (part_is_truncated(part)) {
		str_append(dest, "\"application\" \"octet-stream\"");
	} else if (data->content_type == NULL) {
		text = true;
		str_append(dest, "\"text\" \"plain\"");
	} else {
		text = strcasecmp(data->content_type, "text") == 0;
		imap_append_string(dest, data->content_type);
		str_append_c(dest, ' ');
		imap_append_string(dest, data->content_subtype);
	}
	str_append_c(dest, ' ');
	params_write(dest, data->content_type_params,
		     data->content_type_params_count, text);
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, data->content_id);
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, data->content_description);
	str_append_c(dest, ' ');
	if (data->content_transfer_encoding != NULL)
		imap_append_string(dest, data->content_transfer_encoding);
	else
		str_append(dest, "\"7bit\"");
	str_printfa(dest, " %llu",
		    (unsigned long long)part->body_size.virtual_size);

	if (text) {
		str_printfa(dest, " %u", part->body_size.lines);
	} else if ((part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0) {
		const struct message_part *child = part->children;

		i_assert(child != NULL && child->next == NULL);
		str_append(dest, " (");
		imap_envelope_write(child->data->envelope, dest);
		str_append(dest, ") ");
		write_children(dest, child, extended);
		str_printfa(dest, " %u", part->body_size.lines);
	}
	if (!extended)
		return;
	str_append_c(dest, ' ');
	imap_append_nstring_nolf(dest, data->content_md5);
	write_extension_common(dest, data);
}

/* Dovecot remembers a message that is plain 7-bit US-ASCII text as a flag
   and writes its structure from a template, in lowercase: "TEXT/PLAIN;
   charset=US-ASCII" comes out as "text" "plain" ("charset" "us-ascii").
   Clients cache BODYSTRUCTURE, so keep to the same output. */
static bool part_is_plain_7bit(const struct message_part *part)
{
	const struct message_part_data *data = part->data;

	if ((part->flags & MESSAGE_PART_FLAG_TEXT) == 0 ||
	    part->children != NULL)
		return false;
	if (data->content_subtype != NULL &&
	    strcasecmp(data->content_subtype, "plain") != 0)
		return false;
	/* no parameter but charset=us-ascii */
	if (data->content_type_params_count > 1)
		return false;
	if (data->content_type_params_count > 0 &&
	    (strcasecmp(data->content_type_params[0].name, "charset") != 0 ||
	     strcasecmp(data->content_type_params[0].value,
			MESSAGE_PART_DEFAULT_CHARSET) != 0))
		return false;
	if (data->content_id != NULL || data->content_description != NULL)
		return false;
	if (data->content_transfer_encoding != NULL &&
	    strcasecmp(data->content_transfer_encoding, "7bit") != 0)
		return false;
	return data->content_md5 == NULL &&
		data->content_disposition == NULL &&
		data->content_language == NULL &&
		data->content_location == NULL;
}

void imap_bodystructure_write(const struct message_part *part,
			      string_t *dest, bool extended)
{
	i_assert(part->data != NULL);
	if (part->parent == NULL && part_is_plain_7bit(part)) {
		str_printfa(dest, "\"text\" \"plain\" (\"charset\" \""
			    MESSAGE_PART_DEFAULT_CHARSET "\") NIL NIL \"7bit\" "
			    "%llu %u", (unsigned long long)
			    part->body_size.virtual_size,
			    part->body_size.lines);
		if (extended)
			str_append(dest, " NIL NIL NIL NIL");
		return;
	}
	if ((part->flags & MESSAGE_PART_FLAG_MULTIPART) != 0)
		write_multipart(dest, part, extended);
	else
		write_single(dest, part, extended);
}
