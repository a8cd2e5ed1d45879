/* Header values in the form SEARCH compares them in (see
   message-search-fields.h). */
#include "lib.h"
#include "str.h"
#include "message-address.h"
#include "message-header-block.h"
#include "message-header-decode.h"
#include "unicode-casemap.h"
#include "message-search-fields.h"

#include <assert.h>
#include <strings.h>

/* the layout of the stored form; bump it when the form changes */
#define MESSAGE_SEARCH_FIELDS_FORMAT 1

static const char *const message_search_field_names[] = {
	[MESSAGE_SEARCH_FIELD_SUBJECT] = "Subject",
	[MESSAGE_SEARCH_FIELD_FROM] = "From",
	[MESSAGE_SEARCH_FIELD_TO] = "To",
	[MESSAGE_SEARCH_FIELD_CC] = "Cc",
	[MESSAGE_SEARCH_FIELD_BCC] = "Bcc",
};
static_assert(N_ELEMENTS(message_search_field_names) ==
	      MESSAGE_SEARCH_FIELD_COUNT, "one name per field");

int message_search_field_lookup(const char *name)
{
	for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
		if (strcasecmp(name, message_search_field_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

bool message_search_header_is_address(const char *name)
{
	return strcasecmp(name, "From") == 0 || strcasecmp(name, "To") == 0 ||
		strcasecmp(name, "Cc") == 0 || strcasecmp(name, "Bcc") == 0 ||
		strcasecmp(name, "Sender") == 0 ||
		strcasecmp(name, "Reply-To") == 0;
}

void message_search_value_fold(const void *value, size_t size, bool address,
			       buffer_t *dest)
{
	if (address) {
		struct message_address *addr =
			message_address_parse(pool_datastack, value, size,
					      UINT_MAX, 0);
		string_t *norm = t_str_new(size + 16);
		message_address_write(norm, addr);
		value = norm->data;
		size = norm->used;
	}
	if (memmem(value, size, "=?", 2) == NULL) {
		/* no encoded word: decoding would only replace invalid
		   UTF-8 by U+FFFD, which folding does too */
		unicode_casemap_append(value, size, dest);
	} else {
		string_t *dec = t_str_new(size + 16);
		message_header_decode_utf8(value, size, dec);
		unicode_casemap_append(dec->data, dec->used, dest);
	}
}

void message_search_fields_build(struct message_search_fields *fields,
				 pool_t pool, const unsigned char *hdr,
				 size_t size)
{
	struct message_header_block_field field;
	size_t pos = 0;

	for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
		if (fields->values[i] == NULL)
			fields->values[i] = buffer_create(pool, 64);
		else
			buffer_set_used_size(fields->values[i], 0);
		fields->counts[i] = 0;
	}
	if (hdr == NULL)
		return;
	string_t *value = t_str_new(256);
	while (message_header_block_next(hdr, size, &pos, &field)) {
		unsigned int i;
		for (i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
			const char *name = message_search_field_names[i];
			if (message_header_block_name_equals(&field, name,
							     strlen(name)))
				break;
		}
		if (i == MESSAGE_SEARCH_FIELD_COUNT)
			continue;
		if (fields->counts[i]++ > 0)
			buffer_append_c(fields->values[i], '\0');
		str_truncate(value, 0);
		message_header_block_unfold(&field, value);
		message_search_value_fold(value->data, value->used,
					  i != MESSAGE_SEARCH_FIELD_SUBJECT,
					  fields->values[i]);
	}
}

bool message_search_values_match(const void *values, size_t size,
				 const void *key, size_t key_len)
{
	return key_len == 0 || memmem(values, size, key, key_len) != NULL;
}

uint32_t message_search_fields_version(void)
{
	return (uint32_t)MESSAGE_SEARCH_FIELDS_FORMAT << 24 |
		unicode_casemap_version();
}
