/* Tests for message-header-block.c (stored header blocks read in place)
   and message-search-fields.c (the SEARCH form of header fields). */
#include "test-lib-mail.h"
#include "str.h"
#include "message-header-block.h"
#include "message-search-fields.h"
#include "unicode-casemap.h"

/* "name=value|name=value|" of every field of block, values unfolded */
static const char *block_dump(const char *block, size_t size)
{
	struct message_header_block_field field;
	string_t *out = t_str_new(128);
	size_t pos = 0;

	while (message_header_block_next((const unsigned char *)block, size,
					 &pos, &field)) {
		str_append_data(out, field.name, field.name_len);
		str_append_c(out, '=');
		message_header_block_unfold(&field, out);
		str_append_c(out, '|');
	}
	return str_c(out);
}

static void test_message_header_block(void)
{
	test_begin("message header block: fields read in place");
	/* CRLF and LF, a folded field, whitespace before the colon, a
	   value of only whitespace (one of it skipped, as the parser does),
	   the blank line ends the header */
	static const char block[] =
		"Subject: hello\r\n"
		"To: a@example.com,\r\n\t b@example.com\r\n"
		"From :x@example.com\n"
		"no colon here\r\n"
		"Cc:\r\n"
		"Bcc:   \r\n"
		"\r\n"
		"Body: not a field\r\n";
	test_assert_strcmp(block_dump(block, sizeof(block) - 1),
		"Subject=hello|To=a@example.com,\t b@example.com|"
		"From=x@example.com|Cc=|Bcc=  |");
	/* no blank line, no final LF */
	test_assert_strcmp(block_dump("A: 1\r\nB:  2", 11), "A=1|B=2|");
	test_assert_strcmp(block_dump("", 0), "");
	struct message_header_block_field field;
	size_t pos = 0;
	test_assert(message_header_block_next((const unsigned char *)block,
					      sizeof(block) - 1, &pos, &field));
	test_assert(message_header_block_name_equals(&field, "SUBJECT", 7));
	test_assert(!message_header_block_name_equals(&field, "Subj", 4));
	test_end();
}

/* field i of hdr in SEARCH form, values joined by '|' ("-" if absent) */
static const char *fields_get(const char *hdr, enum message_search_field i)
{
	struct message_search_fields f;

	memset(&f, 0, sizeof(f));
	message_search_fields_build(&f, pool_datastack,
				    (const unsigned char *)hdr, strlen(hdr));
	if (f.counts[i] == 0)
		return "-";
	string_t *out = t_str_new(64);
	for (size_t j = 0; j < f.values[i]->used; j++) {
		char c = ((const char *)f.values[i]->data)[j];
		str_append_c(out, c == '\0' ? '|' : c);
	}
	return str_c(out);
}

static void test_message_search_fields_build(void)
{
	test_begin("message search fields: build");
	static const char hdr[] =
		"Subject: =?UTF-8?B?w5xiZXIgZGllIEJyw7xja2U=?=\r\n"
		"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\r\n"
		"To: alice@example.com,\r\n bob@example.org\r\n"
		"Subject: second\r\n"
		"  folded\r\n"
		"X-Other: Subject\r\n"
		"Cc:\r\n"
		"\r\n";
	test_assert_strcmp(fields_get(hdr, MESSAGE_SEARCH_FIELD_SUBJECT),
			   "U\xcc\x88" "BER DIE BRU\xcc\x88" "CKE|SECOND  FOLDED");
	test_assert_strcmp(fields_get(hdr, MESSAGE_SEARCH_FIELD_FROM),
			   "JO\xcc\x88" "RG MU\xcc\x88" "LLER <JOERG@EXAMPLE.DE>");
	test_assert_strcmp(fields_get(hdr, MESSAGE_SEARCH_FIELD_TO),
			   "ALICE@EXAMPLE.COM, BOB@EXAMPLE.ORG");
	/* present but empty, and absent */
	test_assert_strcmp(fields_get(hdr, MESSAGE_SEARCH_FIELD_CC), "");
	test_assert_strcmp(fields_get(hdr, MESSAGE_SEARCH_FIELD_BCC), "-");
	/* 8-bit raw header: UTF-8 folds, other bytes become U+FFFD */
	test_assert_strcmp(fields_get("subject: Caf\xc3\xa9 \xe9t\xe9\r\n\r\n",
				      MESSAGE_SEARCH_FIELD_SUBJECT),
			   "CAFE\xcc\x81 \xef\xbf\xbdT\xef\xbf\xbd");
	/* no header block at all */
	struct message_search_fields f;
	memset(&f, 0, sizeof(f));
	message_search_fields_build(&f, pool_datastack, NULL, 0);
	test_assert(f.counts[MESSAGE_SEARCH_FIELD_SUBJECT] == 0 &&
		    f.values[MESSAGE_SEARCH_FIELD_SUBJECT]->used == 0);
	test_assert(message_search_field_lookup("SUBJECT") ==
		    MESSAGE_SEARCH_FIELD_SUBJECT);
	test_assert(message_search_field_lookup("bcc") ==
		    MESSAGE_SEARCH_FIELD_BCC);
	test_assert(message_search_field_lookup("Sender") < 0);
	test_assert(message_search_header_is_address("reply-to"));
	test_assert(!message_search_header_is_address("Subject"));
	test_end();
}

static bool fields_match(const char *hdr, enum message_search_field i,
			 const char *key)
{
	struct message_search_fields f;
	const char *folded = t_unicode_casemap(key);

	memset(&f, 0, sizeof(f));
	message_search_fields_build(&f, pool_datastack,
				    (const unsigned char *)hdr, strlen(hdr));
	return f.counts[i] > 0 &&
		message_search_values_match(f.values[i]->data,
					    f.values[i]->used, folded,
					    strlen(folded));
}

static void test_message_search_fields_match(void)
{
	static const char hdr[] =
		"Subject: ab\r\nSubject: cd\r\nTo: x@y\r\nCc: \r\n\r\n";

	test_begin("message search fields: match");
	test_assert(fields_match(hdr, MESSAGE_SEARCH_FIELD_SUBJECT, "AB"));
	test_assert(fields_match(hdr, MESSAGE_SEARCH_FIELD_SUBJECT, "c"));
	/* two fields' values never join into one */
	test_assert(!fields_match(hdr, MESSAGE_SEARCH_FIELD_SUBJECT, "bc"));
	test_assert(!fields_match(hdr, MESSAGE_SEARCH_FIELD_SUBJECT, "b c"));
	/* an empty key matches a present field, even an empty one */
	test_assert(fields_match(hdr, MESSAGE_SEARCH_FIELD_SUBJECT, ""));
	test_assert(fields_match(hdr, MESSAGE_SEARCH_FIELD_CC, ""));
	test_assert(!fields_match(hdr, MESSAGE_SEARCH_FIELD_FROM, ""));
	test_assert(fields_match(hdr, MESSAGE_SEARCH_FIELD_TO, "X@Y"));
	test_assert(!fields_match(hdr, MESSAGE_SEARCH_FIELD_CC, "x"));
	test_end();
}

/* The stored form matches exactly when the value-by-value fold does, on
   every field of every header of a set of awkward ones. */
static void test_message_search_fields_equivalence(void)
{
	static const char *const hdrs[] = {
		"Subject: Re: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n\tK\xc3\xb6ln\r\n\r\n",
		"Subject: =?utf-8?q?a?= =?utf-8?q?b?=\r\nSubject: re\r\n\r\n",
		"From: \"Smith, J\" <j@x.org>, =?KOI8-R?B?8NLJ18XU?= <p@r.ru>\r\n"
		"Bcc: undisclosed-recipients:;\r\n\r\n",
		"To: broken <<a@@b>\r\nCc: =?bogus?Q?x?= y\r\n\r\n",
		"Subject:\r\nSubject: \xff\xfe\r\nFrom: <>\r\n\r\n",
	};
	static const char *const keys[] = {
		"", "re", "RE: GR", "\xc3\x9f", "k\xc3\xb6ln", "ab", "smith",
		"<j@x.org>", "undisclosed", "\xd0\xbf\xd1\x80\xd0\xb8", "y",
		"\xef\xbf\xbd", "bogus", "a@@b", "aus K",
	};

	test_begin("message search fields: same as folding each value");
	for (unsigned int h = 0; h < N_ELEMENTS(hdrs); h++) {
		for (unsigned int i = 0; i < MESSAGE_SEARCH_FIELD_COUNT; i++) {
			for (unsigned int k = 0; k < N_ELEMENTS(keys); k++) {
				bool expected = false;
				const char *folded = t_unicode_casemap(keys[k]);
				struct message_header_block_field field;
				size_t pos = 0, len = strlen(hdrs[h]);
				static const char *const names[] = {
					"Subject", "From", "To", "Cc", "Bcc"
				};
				while (message_header_block_next(
						(const unsigned char *)hdrs[h],
						len, &pos, &field)) {
					if (!message_header_block_name_equals(
						&field, names[i], strlen(names[i])))
						continue;
					string_t *v = t_str_new(64);
					string_t *f = t_str_new(64);
					message_header_block_unfold(&field, v);
					message_search_value_fold(v->data, v->used,
						i != MESSAGE_SEARCH_FIELD_SUBJECT, f);
					if (folded[0] == '\0' ||
					    strstr(str_c(f), folded) != NULL)
						expected = true;
				}
				test_assert_idx(fields_match(hdrs[h], i, keys[k]) ==
						expected, h * 1000 + i * 100 + k);
			}
		}
	}
	test_end();
}

test_func_t *const test_message_search_fields_tests[] = {
	test_message_header_block,
	test_message_search_fields_build,
	test_message_search_fields_match,
	test_message_search_fields_equivalence,
	NULL
};
