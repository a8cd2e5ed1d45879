/* Tests for the serialized part tree (round trip; corrupted caches are
   refused, not trusted), the cached-header set, blob metadata and key
   layout. */
#include "test-lib-storage.h"
#include "message-parser.h"
#include "message-section.h"
#include "blob.h"
#include "mail-parts.h"
#include "mail-blob-meta.h"

static const char *nested_msg =
	"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	"--a\r\nContent-Type: text/plain\r\n\r\none\r\n"
	"--a\r\nContent-Type: message/rfc822\r\n\r\n"
	"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	"--b\r\n\r\ninner one\r\n--b\r\n\r\ninner two\r\n--b--\r\n"
	"--a--\r\n";

static bool parts_equal(const struct message_part *a,
			const struct message_part *b)
{
	for (; a != NULL && b != NULL; a = a->next, b = b->next) {
		if (a->physical_pos != b->physical_pos ||
		    a->header_size.physical_size != b->header_size.physical_size ||
		    a->header_size.virtual_size != b->header_size.virtual_size ||
		    a->header_size.lines != b->header_size.lines ||
		    a->body_size.physical_size != b->body_size.physical_size ||
		    a->body_size.virtual_size != b->body_size.virtual_size ||
		    a->body_size.lines != b->body_size.lines ||
		    a->flags != b->flags ||
		    a->children_count != b->children_count ||
		    !parts_equal(a->children, b->children))
			return false;
	}
	return a == NULL && b == NULL;
}

static void test_parts_round_trip(void)
{
	const char *error;

	test_begin("part tree: serialize, deserialize, sections from it");
	pool_t pool = pool_alloconly_create("test parts", 4096);
	struct message_part *root = message_parse_data(pool,
		nested_msg, strlen(nested_msg), NULL);
	buffer_t *buf = t_str_new(256);
	mail_parts_serialize(root, buf);
	struct message_part *copy = mail_parts_deserialize(pool_datastack,
		buf->data, buf->used, &error);
	test_assert(copy != NULL && parts_equal(root, copy));
	test_assert(copy != NULL && copy->children_count == root->children_count);
	struct message_range range;
	test_assert(copy != NULL &&
		    message_section_range(copy, "2.2", MESSAGE_SECTION_CONTENT,
					  &range, &error) == 0);
	test_assert(copy == NULL || memcmp(nested_msg + range.offset,
					   "inner two", range.size) == 0);

	/* every truncation and a flipped version byte are refused */
	for (size_t len = 0; len < buf->used; len++) {
		test_assert_idx(mail_parts_deserialize(pool_datastack,
			buf->data, len, &error) == NULL, len);
	}
	buffer_t *bad = t_str_new(256);
	buffer_append(bad, buf->data, buf->used);
	((unsigned char *)bad->data)[0] = 99;
	test_assert(mail_parts_deserialize(pool_datastack, bad->data,
					   bad->used, &error) == NULL);
	/* a child reaching outside its parent */
	buffer_reset(bad);
	buffer_append(bad, buf->data, buf->used);
	/* root body size (bytes 29..36) made tiny */
	memset((unsigned char *)bad->data + 1 + 28, 0, 8);
	test_assert(mail_parts_deserialize(pool_datastack, bad->data,
					   bad->used, &error) == NULL);
	buffer_append_c(buf, 0);
	test_assert(mail_parts_deserialize(pool_datastack, buf->data,
					   buf->used, &error) == NULL);
	pool_unref(&pool);
	test_end();
}

static void test_cached_headers(void)
{
	static const char *const yes[] = { "subject", "FROM", "Message-ID", NULL };
	static const char *const no[] = { "Subject", "X-Mailer", NULL };

	test_begin("cached header fields");
	test_assert(mail_cached_headers_cover(yes));
	test_assert(!mail_cached_headers_cover(no));
	test_assert(mail_cached_header_is_cached("list-id"));
	test_end();
}

static void test_blob_meta(void)
{
	const char *guid, *error;
	uint32_t uid;

	test_begin("blob keys and metadata encoding");
	const char *key = mail_blob_key("u/bob", "0123456789abcdef0123456789abcdef",
					42, "fedcba9876543210fedcba9876543210");
	test_assert_strcmp(key, "u/bob/0123456789abcdef0123456789abcdef/42."
			   "fedcba9876543210fedcba9876543210");
	test_assert(blob_key_is_valid(key, &error));
	test_assert(mail_blob_key_parse(key, "u/bob", &guid, &uid));
	test_assert(uid == 42 && strcmp(guid, "0123456789abcdef0123456789abcdef") == 0);
	test_assert(!mail_blob_key_parse(key, "u/bo", &guid, &uid));
	test_assert(!mail_blob_key_parse("u/bob/mailbox-list", "u/bob", &guid, &uid));
	test_assert(!mail_blob_key_parse("u/bob/0123456789abcdef0123456789abcdef/uidnext",
					 "u/bob", &guid, &uid));
	test_assert(!mail_blob_key_parse("u/bob/0123456789abcdef0123456789abcdef/0."
					 "fedcba9876543210fedcba9876543210",
					 "u/bob", &guid, &uid));

	const char *enc = mail_blob_name_encode("Entwürfe/100%");
	test_assert_strcmp(enc, "Entw%C3%BCrfe/100%25");
	test_assert(blob_metadata_value_is_valid(enc));
	test_assert_strcmp(mail_blob_name_decode(pool_datastack, enc), "Entwürfe/100%");
	test_assert(mail_blob_name_decode(pool_datastack, "bad%4") == NULL);
	test_assert(mail_blob_name_decode(pool_datastack, "nul%00") == NULL);
	test_end();
}

test_func_t *const test_mail_parts_tests[] = {
	test_parts_round_trip,
	test_cached_headers,
	test_blob_meta,
	NULL
};
