/* The form in which SEARCH compares header fields (RFC 9051 §6.4.4 with
   I18NLEVEL=1): a field's unfolded value, an address list first
   normalised to "Name <user@domain>, ..." (as Dovecot does), RFC
   2047-decoded to UTF-8, then folded with i;unicode-casemap
   (unicode-casemap.h). A key matches a field when its own folded form is
   a substring of that.

   The fields of SEARCH's dedicated keys (SUBJECT, FROM, TO, CC, BCC) are
   also kept in that form per message (the index's message_search table,
   filled when a message is saved), so that searching them reads a few
   dozen bytes a message and folds nothing. A message's values of one
   field are joined with NUL bytes: a key (an IMAP string) never holds a
   NUL, so it matches the joined form exactly when it matches one of the
   values. The form depends on the Unicode data the folding uses:
   message_search_fields_version() says which, and a stored form of
   another version is computed again rather than trusted. */
#ifndef COLUMBA_MESSAGE_SEARCH_FIELDS_H
#define COLUMBA_MESSAGE_SEARCH_FIELDS_H

#include "lib.h"

enum message_search_field {
	MESSAGE_SEARCH_FIELD_SUBJECT = 0,
	MESSAGE_SEARCH_FIELD_FROM,
	MESSAGE_SEARCH_FIELD_TO,
	MESSAGE_SEARCH_FIELD_CC,
	MESSAGE_SEARCH_FIELD_BCC,

	MESSAGE_SEARCH_FIELD_COUNT
};

/* The field called name (case-insensitive), or -1 if it is not kept. */
int message_search_field_lookup(const char *name);
/* Whether SEARCH compares the header name as an address list (From, To,
   Cc, Bcc, Sender, Reply-To). */
bool message_search_header_is_address(const char *name);

/* Append the SEARCH form of one unfolded raw header value to dest.
   Allocates from the data stack: call inside a T_BEGIN frame that dest
   (if it is a data stack buffer) was made before. */
void message_search_value_fold(const void *value, size_t size, bool address,
			       buffer_t *dest);

/* The kept fields of a header block (message-header-block.h), in SEARCH
   form. */
struct message_search_fields {
	/* per field, every value in header order, NUL-separated */
	buffer_t *values[MESSAGE_SEARCH_FIELD_COUNT];
	/* how many fields of that name the header has (0: none) */
	unsigned int counts[MESSAGE_SEARCH_FIELD_COUNT];
};

/* Fill fields (its buffers created from pool if NULL, else emptied) from
   the header block hdr[0..size) (NULL: no fields). Uses the data stack
   for temporaries, so the buffers must not be data stack ones. */
void message_search_fields_build(struct message_search_fields *fields,
				 pool_t pool, const unsigned char *hdr,
				 size_t size);
/* Whether key (a folded search string, no NUL) matches one of the
   NUL-separated values of a field that is present. An empty key matches
   any present field, as it matches any value. */
bool message_search_values_match(const void *values, size_t size,
				 const void *key, size_t key_len);

/* The version of the SEARCH form: the layout above and the Unicode
   version of the folding. */
uint32_t message_search_fields_version(void);

#endif
