#include "test-lib-mail.h"
#include "message-section.h"

static const char section_msg[] =
	"A: 1\n"
	"B: 2\n"
	"Content-Type: multipart/mixed; boundary=x\n"
	"\n"
	"--x\n"
	"Content-Type: text/plain\n"
	"\n"
	"one\n"
	"--x\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: s\n"
	"Content-Type: multipart/alternative; boundary=y\n"
	"\n"
	"--y\n"
	"\n"
	"alt1\n"
	"--y--\n"
	"--x--\n";

/* offset of needle in the message */
static uint64_t off(const char *needle)
{
	const char *p = strstr(section_msg, needle);

	i_assert(p != NULL);
	return p - section_msg;
}

static bool range_is(const struct message_range *range, const char *text)
{
	size_t len = strlen(text);
	uint64_t lfs = 0;

	for (size_t i = 0; i < len; i++)
		lfs += text[i] == '\n' && (i == 0 || text[i - 1] != '\r');
	return range->size == len && range->virtual_size == len + lfs &&
		memcmp(section_msg + range->offset, text, len) == 0;
}

static void test_message_part_find(void)
{
	pool_t pool = pool_alloconly_create("test section", 1024);
	struct message_part *root, *part;
	const char *error;

	test_begin("message part numbers");
	root = message_parse_data(pool, section_msg, sizeof(section_msg) - 1,
				  NULL);
	test_assert(message_part_find(root, "", &error) == root);
	part = message_part_find(root, "1", &error);
	test_assert(part == root->children);
	test_assert_strcmp(message_part_get_number(part), "1");
	part = message_part_find(root, "2", &error);
	test_assert(part == root->children->next);
	test_assert((part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0);
	part = message_part_find(root, "2.1", &error);
	test_assert(part == root->children->next->children->children);
	test_assert_strcmp(message_part_get_number(part), "2.1");
	test_assert(message_part_find(root, "2.2", &error) == NULL);
	test_assert(message_part_find(root, "3", &error) == NULL);
	test_assert(message_part_find(root, "1.1", &error) == NULL);
	test_assert(message_part_find(root, "0", &error) == NULL);
	test_assert(message_part_find(root, "1.", &error) == NULL);
	test_assert(message_part_find(root, "x", &error) == NULL);

	/* a message that is not multipart has one part: its body */
	root = message_parse_data(pool, "A: b\n\nbody\n", 11, NULL);
	test_assert(message_part_find(root, "1", &error) == root);
	test_assert(message_part_find(root, "2", &error) == NULL);
	test_assert(message_part_find(root, "1.1", &error) == NULL);
	/* a message/rfc822 message: 1 is its body, 1.1 the inner body */
	const char *msg = "Content-Type: message/rfc822\n\nS: x\n\nin\n";
	root = message_parse_data(pool, msg, strlen(msg), NULL);
	test_assert(message_part_find(root, "1", &error) == root);
	test_assert(message_part_find(root, "1.1", &error) == root->children);
	pool_unref(&pool);
	test_end();
}

static void test_message_section_ranges(void)
{
	pool_t pool = pool_alloconly_create("test section", 1024);
	struct message_part *root;
	struct message_range range;
	const char *error;

	test_begin("message section ranges");
	root = message_parse_data(pool, section_msg, sizeof(section_msg) - 1,
				  NULL);
	test_assert(message_section_range(root, "", MESSAGE_SECTION_CONTENT,
					  &range, &error) == 0);
	test_assert(range_is(&range, section_msg));
	test_assert(range.virtual_size == message_part_rfc822_size(root));
	test_assert(message_range_needs_crlf(&range));

	test_assert(message_section_range(root, "", MESSAGE_SECTION_HEADER,
					  &range, &error) == 0);
	test_assert(range_is(&range, "A: 1\nB: 2\n"
			     "Content-Type: multipart/mixed; boundary=x\n\n"));
	test_assert(message_section_range(root, "", MESSAGE_SECTION_TEXT,
					  &range, &error) == 0);
	test_assert(range.offset == off("--x\n"));
	test_assert(message_section_range(root, "1", MESSAGE_SECTION_CONTENT,
					  &range, &error) == 0);
	test_assert(range_is(&range, "one"));
	test_assert(message_section_range(root, "1", MESSAGE_SECTION_MIME,
					  &range, &error) == 0);
	test_assert(range_is(&range, "Content-Type: text/plain\n\n"));
	test_assert(message_section_range(root, "2", MESSAGE_SECTION_CONTENT,
					  &range, &error) == 0);
	test_assert(range.offset == off("Subject: s"));
	/* the LF after "--y--" ends that boundary line, so "--x--" has
	   no line end before it to take */
	test_assert(range.offset + range.size == off("--x--"));
	test_assert(message_section_range(root, "2", MESSAGE_SECTION_HEADER,
					  &range, &error) == 0);
	test_assert(range_is(&range, "Subject: s\nContent-Type: multipart/"
			     "alternative; boundary=y\n\n"));
	test_assert(message_section_range(root, "2", MESSAGE_SECTION_TEXT,
					  &range, &error) == 0);
	test_assert(range_is(&range, "--y\n\nalt1\n--y--\n"));
	test_assert(message_section_range(root, "2.1", MESSAGE_SECTION_CONTENT,
					  &range, &error) == 0);
	test_assert(range_is(&range, "alt1"));
	test_assert(message_section_range(root, "1", MESSAGE_SECTION_HEADER,
					  &range, &error) < 0);
	test_assert(message_section_range(root, "", MESSAGE_SECTION_MIME,
					  &range, &error) < 0);
	test_assert(message_section_range(root, "9", MESSAGE_SECTION_CONTENT,
					  &range, &error) < 0);
	pool_unref(&pool);
	test_end();
}

static void test_message_header_fields(void)
{
	static const char *const fields[] = { "b", "CONTENT-TYPE", NULL };
	static const char hdr[] = "A: 1\nB: 2\r\n  cont\nContent-Type: x\n\n";
	ARRAY_TYPE(message_range) ranges;
	uint64_t vsize;

	test_begin("message header fields");
	array_init(&ranges, system_pool, 4);
	vsize = message_header_fields_ranges(hdr, sizeof(hdr) - 1, 1000,
					     fields, true, &ranges);
	test_assert(ranges.count == 3);
	test_assert(ranges.v[0].offset == 1005 && ranges.v[0].size == 13 &&
		    ranges.v[0].virtual_size == 14);
	test_assert(ranges.v[1].offset == 1018 && ranges.v[1].size == 16);
	test_assert(ranges.v[2].offset == 1034 && ranges.v[2].size == 1 &&
		    ranges.v[2].virtual_size == 2);
	test_assert(vsize == 14 + 17 + 2);

	array_clear(&ranges);
	vsize = message_header_fields_ranges(hdr, sizeof(hdr) - 1, 0,
					     fields, false, &ranges);
	test_assert(ranges.count == 2);
	test_assert(ranges.v[0].offset == 0 && ranges.v[0].size == 5);
	test_assert(vsize == 6 + 2);

	/* no blank line: none returned */
	array_clear(&ranges);
	(void)message_header_fields_ranges("B: 1", 4, 0, fields, true, &ranges);
	test_assert(ranges.count == 1 && ranges.v[0].size == 4);
	array_free(&ranges);
	test_end();
}

static void test_message_crlf(void)
{
	struct message_crlf_converter conv = { false };
	string_t *str = t_str_new(64);

	test_begin("message CRLF conversion");
	message_crlf_convert(&conv, "\na\r", 3, str);
	message_crlf_convert(&conv, "\nb\n", 3, str);
	message_crlf_convert(&conv, "", 0, str);
	message_crlf_convert(&conv, "\r\n", 2, str);
	test_assert_strcmp(str_c(str), "\r\na\r\nb\r\n\r\n");
	test_assert(message_crlf_virtual_size("\na\r\nb\n\r\n", 8) == 10);
	test_end();
}

test_func_t *const test_message_section_tests[] = {
	test_message_part_find,
	test_message_section_ranges,
	test_message_header_fields,
	test_message_crlf,
	NULL
};
