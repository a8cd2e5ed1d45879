#include "test-lib-mail.h"
#include "message-part-data.h"
#include "imap-bodystructure.h"

/* Sizes of a piece of a message: physical, virtual (CRLF), lines */
struct test_size {
	uint64_t physical, virtual;
	unsigned int lines;
};

static struct test_size tsize(const char *s)
{
	struct test_size size = { strlen(s), 0, 0 };

	size.virtual = size.physical;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\n') {
			size.lines++;
			if (i == 0 || s[i - 1] != '\r')
				size.virtual++;
		}
	}
	return size;
}

static bool size_eq(const struct message_size *a, const char *expected)
{
	struct test_size b = tsize(expected);

	return a->physical_size == b.physical && a->virtual_size == b.virtual &&
		a->lines == b.lines;
}

static struct message_part *parse(pool_t pool, const char *msg)
{
	return test_parse_message(pool, msg, strlen(msg), 0, NULL);
}

static const char *events_of(const void *msg, size_t size)
{
	pool_t pool = pool_alloconly_create("test events", 1024);
	string_t *events = t_str_new(512);

	(void)test_parse_message(pool, msg, size, 0, events);
	pool_unref(&pool);
	return str_c(events);
}

static void test_parser_simple(void)
{
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root;

	test_begin("message parser: simple message");
	root = parse(pool, "From: a@b\nSubject: hi\n\nbody\nline 2\n");
	test_assert(root->physical_pos == 0);
	test_assert(size_eq(&root->header_size, "From: a@b\nSubject: hi\n\n"));
	test_assert(size_eq(&root->body_size, "body\nline 2\n"));
	test_assert(root->flags == MESSAGE_PART_FLAG_TEXT);
	test_assert(root->children == NULL && root->children_count == 0);
	test_assert(message_part_rfc822_size(root) == 23 + 3 + 12 + 2);

	/* CRLF: virtual sizes equal physical */
	root = parse(pool, "From: a@b\r\n\r\nbody\r\n");
	test_assert(root->header_size.physical_size == 13 &&
		    root->header_size.virtual_size == 13 &&
		    root->header_size.lines == 2);
	test_assert(root->body_size.physical_size == 6 &&
		    root->body_size.virtual_size == 6 &&
		    root->body_size.lines == 1);
	pool_unref(&pool);
	test_end();
}

static void test_parser_degenerate(void)
{
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root;

	test_begin("message parser: empty and header-only messages");
	root = parse(pool, "");
	test_assert(root->header_size.physical_size == 0 &&
		    root->body_size.physical_size == 0);
	test_assert(root->flags == MESSAGE_PART_FLAG_TEXT);
	test_assert(root->data != NULL);

	/* header without blank line and body */
	root = parse(pool, "From: a@b\nSubject: x");
	test_assert(size_eq(&root->header_size, "From: a@b\nSubject: x"));
	test_assert(root->body_size.physical_size == 0);
	test_assert_strcmp(root->data->envelope->subject, "x");

	root = parse(pool, "From: a@b\n");
	test_assert(size_eq(&root->header_size, "From: a@b\n"));
	test_assert(root->body_size.physical_size == 0);

	/* body only */
	root = parse(pool, "\nbody");
	test_assert(size_eq(&root->header_size, "\n"));
	test_assert(size_eq(&root->body_size, "body"));

	/* CR-only line ends are not line ends: one long header line */
	root = parse(pool, "Subject: a\rFrom: b\r\rbody\r");
	test_assert(root->header_size.physical_size == 25 &&
		    root->header_size.lines == 0);
	test_assert(root->body_size.physical_size == 0);
	test_assert_strcmp(root->data->envelope->subject,
			   "a\rFrom: b\r\rbody\r");
	pool_unref(&pool);
	test_end();
}

static void test_parser_header_fields(void)
{
	static const char msg[] =
		"Subject: a\r\n b\r\n\tc\r\n"
		"NoColonLine\n"
		"Name  : v\n"
		"Empty:\n"
		"Spaces:   \n"
		"Folded:\n x\n"
		"X-Bin: \xff\n"
		"X-Nul: a\0b\n"
		" \n"
		"\n";
	const char *events;

	test_begin("message parser: header fields");
	events = events_of(msg, sizeof(msg) - 1);
	test_assert_strcmp(events,
		"begin @0\n"
		"hdr @0+20 Subject: a b\\x09c\n"
		"hdr @20+12 NoColonLine (no colon): \n"
		"hdr @32+10 Name: v\n"
		"hdr @42+7 Empty: \n"
		"hdr @49+11 Spaces:   \n"
		"hdr @60+11 Folded:  x\n"
		"hdr @71+9 X-Bin: \\xff\n"
		"hdr @80+13 X-Nul: a\n"
		"eoh 1\n"
		"end @94\n");
	test_end();
}

static void test_parser_header_nul(void)
{
	static const char msg[] = "Subject: a\0b\nX: 1\n\n";
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root;

	test_begin("message parser: NUL bytes");
	root = test_parse_message(pool, msg, sizeof(msg) - 1, 0, NULL);
	test_assert((root->flags & MESSAGE_PART_FLAG_HAS_NULS) != 0);
	test_assert_strcmp(root->data->envelope->subject,
			   "a\xef\xbf\xbd" "b");
	root = test_parse_message(pool, "\n\0", 2, 1, NULL);
	test_assert((root->flags & MESSAGE_PART_FLAG_HAS_NULS) != 0);
	pool_unref(&pool);
	test_end();
}

static void test_parser_huge_header(void)
{
	struct message_parser_settings set = { .max_header_field_size = 100 };
	pool_t pool = pool_alloconly_create("test parser", 1024);
	string_t *msg = t_str_new(1024);
	struct message_parser *parser;
	struct message_part *root;

	test_begin("message parser: header field over the limit");
	str_append(msg, "Subject: ");
	for (unsigned int i = 0; i < 50; i++)
		str_append(msg, "0123456789\n ");
	str_append(msg, "end\nFrom: a@b\n\nbody\n");
	parser = message_parser_init(pool, &set, NULL, NULL);
	message_parser_feed(parser, msg->data, str_len(msg));
	root = message_parser_finish(&parser);
	/* kept as header, the value cut */
	test_assert(size_eq(&root->body_size, "body\n"));
	test_assert(root->header_size.physical_size == str_len(msg) - 5);
	test_assert(strlen(root->data->envelope->subject) < 100);
	test_assert(root->data->envelope->from != NULL);
	pool_unref(&pool);

	/* 2 MB in one field with the default limit */
	string_t *big = str_new(system_pool, 3 * 1024 * 1024);
	str_append(big, "X-Big: ");
	while (str_len(big) < 2 * 1024 * 1024)
		str_append(big, "x");
	str_append(big, "\nSubject: after\n\nbody");
	pool = pool_alloconly_create("test parser", 1024);
	root = message_parse_data(pool, big->data, str_len(big), NULL);
	test_assert_strcmp(root->data->envelope->subject, "after");
	test_assert(root->body_size.physical_size == 4);
	pool_unref(&pool);
	str_free(&big);
	test_end();
}

static void test_parser_multipart(void)
{
	const char *hdr = "Content-Type: multipart/mixed; boundary=\"b1\"\n\n";
	const char *preamble = "preamble\n";
	const char *c1_hdr = "Content-Type: text/plain\n\n";
	const char *c1_body = "part 1\n";
	const char *c2_hdr = "\n";
	const char *c2_body = "part 2";
	const char *epilogue = "epilogue\n";
	const char *msg = t_strdup_printf("%s%s--b1\n%s%s\n--b1\n%s%s\n--b1--\n%s",
		hdr, preamble, c1_hdr, c1_body, c2_hdr, c2_body, epilogue);
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root, *c1, *c2;

	test_begin("message parser: multipart");
	root = parse(pool, msg);
	test_assert(root->flags == (MESSAGE_PART_FLAG_MULTIPART |
				    MESSAGE_PART_FLAG_IS_MIME));
	test_assert(size_eq(&root->header_size, hdr));
	test_assert(size_eq(&root->body_size, msg + strlen(hdr)));
	test_assert(root->children_count == 2);
	c1 = root->children;
	test_assert(c1 != NULL && c1->next != NULL && c1->next->next == NULL);
	c2 = c1->next;
	test_assert(c1->physical_pos == strlen(hdr) + strlen(preamble) + 5);
	test_assert(size_eq(&c1->header_size, c1_hdr));
	/* the line end before the boundary is the boundary's */
	test_assert(size_eq(&c1->body_size, c1_body));
	test_assert(c1->flags == (MESSAGE_PART_FLAG_TEXT |
				  MESSAGE_PART_FLAG_IS_MIME));
	test_assert(size_eq(&c2->header_size, c2_hdr));
	test_assert(size_eq(&c2->body_size, c2_body));
	test_assert(c2->flags == (MESSAGE_PART_FLAG_TEXT |
				  MESSAGE_PART_FLAG_IS_MIME));
	test_assert(message_part_end(c2) + 1 + 7 == strlen(msg) - strlen(epilogue));
	pool_unref(&pool);
	test_end();
}

static void test_parser_multipart_broken(void)
{
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root, *part;

	test_begin("message parser: broken multiparts");
	/* no final boundary: the part runs to the end with its line end */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\n\nhello\n");
	part = root->children;
	test_assert(part != NULL && part->next == NULL);
	test_assert(size_eq(&part->body_size, "hello\n"));

	/* no boundary at all: an empty multipart */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "just text\n");
	test_assert(root->children == NULL);
	test_assert((root->flags & MESSAGE_PART_FLAG_MULTIPART) != 0);
	test_assert(size_eq(&root->body_size, "just text\n"));

	/* multipart without a boundary parameter */
	root = parse(pool, "Content-Type: multipart/mixed\n\n--b\n\nx\n");
	test_assert(root->children == NULL);

	/* boundary prefix: "--b1junk" is a "b1" boundary line, and of
	   "b" and "b1" the longest match wins */
	root = parse(pool,
		"Content-Type: multipart/mixed; boundary=b\n\n"
		"--b\n"
		"Content-Type: multipart/alternative; boundary=b1\n\n"
		"--b1junk\n\ninner 1\n"
		"--b1\n\ninner 2\n"
		"--b\n\nouter 2\n"
		"--b--\n");
	test_assert(root->children_count == 4);
	part = root->children;
	test_assert((part->flags & MESSAGE_PART_FLAG_MULTIPART) != 0);
	test_assert(part->children != NULL &&
		    part->children->next != NULL &&
		    part->children->next->next == NULL);
	test_assert(size_eq(&part->children->body_size, "inner 1"));
	test_assert(size_eq(&part->children->next->body_size, "inner 2"));
	test_assert(part->next != NULL &&
		    size_eq(&part->next->body_size, "outer 2"));

	/* the same boundary nested: the inner part owns it (RFC 2046) */
	root = parse(pool,
		"Content-Type: multipart/mixed; boundary=x\n\n"
		"--x\n"
		"Content-Type: multipart/mixed; boundary=x\n\n"
		"--x\n\na\n"
		"--x--\n"
		"--x\n\nb\n"
		"--x--\n");
	test_assert(root->children != NULL &&
		    root->children->children_count == 1);

	/* closing boundary then the same boundary again: text */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\n\none\n--b--\n--b\n\nepilogue\n");
	test_assert(root->children_count == 1);

	/* a part header running into the next boundary: the line end
	   before the boundary is taken out of the header */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\nSubject: no blank line\n--b\n\ntwo\n--b--\n");
	test_assert(root->children_count == 2);
	part = root->children;
	test_assert(size_eq(&part->header_size, "Subject: no blank line"));
	test_assert(part->body_size.physical_size == 0);

	/* CRLF boundaries, boundary line with trailing garbage */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		     "--b   \r\n\r\nbody\r\n--b--junk\r\n");
	part = root->children;
	test_assert(part != NULL && size_eq(&part->body_size, "body"));
	test_assert(part->physical_pos == 45 + 8);

	/* a boundary ending in dashes: "--b--" opens a part */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=\"b--\"\n\n"
		     "--b--\n\none\n--b--\n\ntwo\n--b----\n");
	test_assert(root->children_count == 2);
	test_assert(size_eq(&root->children->body_size, "one"));

	/* a header cut by a boundary: its line end counts in the body of
	   the part above it (here the message/rfc822 part, as Dovecot) */
	root = parse(pool, "Content-Type: multipart/digest; boundary=d\n\n"
		     "--d\n\nno colon\n--d--\n");
	part = root->children;
	test_assert(size_eq(&part->children->header_size, "no colon"));
	test_assert(size_eq(&part->body_size, "no colon\n"));

	/* boundary right after the header */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\n\n--b--\n");
	part = root->children;
	test_assert(part != NULL && part->body_size.physical_size == 0);
	pool_unref(&pool);
	test_end();
}

static void test_parser_rfc822(void)
{
	const char *inner = "From: x@y\nSubject: inner\n\nhello\n";
	const char *msg = t_strdup_printf(
		"Content-Type: multipart/mixed; boundary=b\n\n"
		"--b\nContent-Type: message/rfc822\n\n%s\n--b--\n", inner);
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root, *part, *child;

	test_begin("message parser: message/rfc822");
	root = parse(pool, msg);
	part = root->children;
	test_assert(part != NULL &&
		    (part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0);
	child = part->children;
	test_assert(child != NULL && child->next == NULL);
	test_assert(size_eq(&part->body_size, inner));
	test_assert(size_eq(&child->header_size, "From: x@y\nSubject: inner\n\n"));
	test_assert(size_eq(&child->body_size, "hello\n"));
	test_assert(child->physical_pos == message_part_body_pos(part));
	test_assert_strcmp(child->data->envelope->subject, "inner");
	test_assert(root->children_count == 2);

	/* an rfc822 part cut short by the boundary still has a message */
	root = parse(pool, "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\nContent-Type: message/rfc822\n--b--\n");
	part = root->children;
	test_assert(part->children != NULL &&
		    part->children->header_size.physical_size == 0);

	/* digest: parts default to message/rfc822 */
	root = parse(pool, "Content-Type: multipart/digest; boundary=d\n\n"
		     "--d\n\nSubject: one\n\nbody\n--d\n"
		     "Content-Type: text/plain\n\ntext\n--d--\n");
	part = root->children;
	test_assert((part->flags & MESSAGE_PART_FLAG_MESSAGE_RFC822) != 0);
	test_assert_strcmp(part->children->data->envelope->subject, "one");
	test_assert((part->next->flags & MESSAGE_PART_FLAG_TEXT) != 0);

	/* no MIME-Version or Content-Type: Content-* fields do not count */
	root = parse(pool, "Content-Transfer-Encoding: base64\n\nQUJD\n");
	test_assert(root->flags == MESSAGE_PART_FLAG_TEXT);
	test_assert(root->data->content_transfer_encoding == NULL);
	root = parse(pool, "MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\nQUJD\n");
	test_assert_strcmp(root->data->content_transfer_encoding, "base64");
	pool_unref(&pool);
	test_end();
}

static void test_parser_limits(void)
{
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=\"o\"\n\n"
		"--o\n"
		"Content-Type: multipart/mixed; boundary=\"i\"\n\n"
		"--i\n"
		"Content-Type: text/plain\n\n"
		"a\n"
		"--i\n"
		"Content-Type: text/plain\n\n"
		"bb\n"
		"--o\n"
		"Content-Type: text/plain\n\n"
		"ccc\n";
	struct message_parser_settings set;
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root, *part;

	test_begin("message parser: nesting and part limits");
	/* depth 2: the inner multipart is a leaf holding its parts */
	memset(&set, 0, sizeof(set));
	set.max_nested_mime_parts = 2;
	root = message_parse_data(pool, msg, sizeof(msg) - 1, &set);
	test_assert(root->children_count == 2);
	part = root->children;
	test_assert(part->flags == MESSAGE_PART_FLAG_IS_MIME);
	test_assert(part->children == NULL);
	test_assert(size_eq(&part->body_size,
		"--i\nContent-Type: text/plain\n\na\n--i\n"
		"Content-Type: text/plain\n\nbb"));
	test_assert(size_eq(&part->next->body_size, "ccc\n"));
	string_t *bs = t_str_new(128);
	imap_bodystructure_write(root, bs, false);
	test_assert_strcmp(str_c(bs),
		"(\"application\" \"octet-stream\" (\"boundary\" \"i\") NIL NIL \"7bit\" 71)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)"
		" \"mixed\"");

	/* 4 parts: after the 4th no boundary is seen */
	memset(&set, 0, sizeof(set));
	set.max_total_mime_parts = 4;
	root = message_parse_data(pool, msg, sizeof(msg) - 1, &set);
	test_assert(root->children_count == 3);
	part = root->children;
	test_assert((part->flags & MESSAGE_PART_FLAG_MULTIPART) != 0);
	test_assert(part->children_count == 2);
	test_assert(size_eq(&part->children->body_size, "a"));
	test_assert(size_eq(&part->children->next->body_size,
			    "bb\n--o\nContent-Type: text/plain\n\nccc\n"));
	test_assert(part->next == NULL);
	pool_unref(&pool);
	test_end();
}

static void test_parser_deep_nesting(void)
{
	string_t *msg = t_str_new(65536);
	pool_t pool = pool_alloconly_create("test parser", 1024);
	struct message_part *root, *part;
	unsigned int depth, i;

	test_begin("message parser: 1000 levels of nesting");
	for (i = 0; i < 1000; i++) {
		str_printfa(msg, "Content-Type: multipart/mixed; boundary=\"b%u\"\n\n"
			    "--b%u\n", i, i);
	}
	str_append(msg, "\ninnermost\n");
	for (i = 1000; i > 0; i--)
		str_printfa(msg, "--b%u--\n", i - 1);
	root = parse(pool, str_c(msg));
	for (depth = 1, part = root; part->children != NULL; depth++)
		part = part->children;
	test_assert(depth == MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS);
	test_assert(strlen(test_bodystructure(str_c(msg), true)) > 0);

	str_truncate(msg, 0);
	for (i = 0; i < 1000; i++)
		str_append(msg, "Content-Type: message/rfc822\n\n");
	str_append(msg, "innermost\n");
	root = parse(pool, str_c(msg));
	for (depth = 1, part = root; part->children != NULL; depth++)
		part = part->children;
	test_assert(depth == MESSAGE_PARSER_DEFAULT_MAX_NESTED_MIME_PARTS);
	test_assert(strlen(test_bodystructure(str_c(msg), true)) > 0);

	/* many parts */
	str_truncate(msg, 0);
	str_append(msg, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (i = 0; i < 20000; i++)
		str_append(msg, "--b\n\n");
	root = parse(pool, str_c(msg));
	test_assert(root->children_count ==
		    MESSAGE_PARSER_DEFAULT_MAX_TOTAL_MIME_PARTS - 1);
	pool_unref(&pool);
	test_end();
}

/* Messages that exercise every state; each must give the same parts
   and events whatever the pieces it is fed in. */
static const char *const chunk_messages[] = {
	"From: a@b\r\nSubject: x\r\n y\r\n\r\nbody\r\n",
	("Content-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n"
	 "pre\r\n--=_b\r\nContent-Type: text/plain\r\n\r\none\r\n"
	 "--=_b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n"
	 "inner\r\n--=_b--\r\nepilogue\r\n"),
	("Content-Type: multipart/mixed; boundary=a\n\n"
	 "--a\nContent-Type: multipart/alternative; boundary=ab\n\n"
	 "--ab\n\n1\n--ab\r\n\r\n2\r\r\n--a\n--ab--\n--a--\n\r"),
	"Content-Type: multipart/mixed; boundary=b\n\n--b\nX: y\n--b\n--b--",
	"Content-Type: multipart/mixed; boundary=b\n\n--",
	"Content-Type: multipart/mixed; boundary=b\n\n--b",
	"Content-Type: multipart/mixed; boundary=b\n\n\r",
	"Content-Type: multipart/mixed; boundary=b\n\nx\r\n-",
	"no colon\n--b\n\n",
	"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nb\n--d--\n",
	("Content-Type: multipart/mixed; boundary=\"0123456789012345678901234567"
	 "89012345678901234567890123456789012345678901234567890123456789\"\n\n"
	 "--012345678901234567890123456789012345678901234567890123456789012345"
	 "67890123456789012345678901234567890123456789xyz\nA: b\n\nbody\n"
	 "--012345678901234567890123456789012345678901234567890123456789012345"
	 "67890123456789012345678901234567890123456789--\n"),
	"\n",
	"",
	"\r\n\r\n",
	"A: b\r",
	"A: b\n-",
	("Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n"
	 "Content-Type: multipart/mixed; boundary=q\n\n--q\n\nz\n--q--\n"),
};

static void test_parser_chunks(void)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 13, 64, 0 };

	test_begin("message parser: any piece size gives the same result");
	for (unsigned int i = 0; i < N_ELEMENTS(chunk_messages); i++) {
		const char *msg = chunk_messages[i];
		const char *first_events = NULL, *first_dump = NULL;

		for (unsigned int c = 0; c < N_ELEMENTS(chunks); c++) {
			pool_t pool = pool_alloconly_create("test chunks", 1024);
			string_t *events = t_str_new(1024);
			string_t *dump = t_str_new(1024);
			struct message_part *root;

			root = test_parse_message(pool, msg, strlen(msg),
						  chunks[c], events);
			test_dump_parts(dump, root);
			imap_bodystructure_write(root, dump, true);
			if (first_events == NULL) {
				first_events = str_c(events);
				first_dump = str_c(dump);
			} else {
				if (strcmp(first_events, str_c(events)) != 0)
					test_fail("message %u chunk %zu: events "
						  "differ:\n%s\n---\n%s", i,
						  chunks[c], first_events,
						  str_c(events));
				if (strcmp(first_dump, str_c(dump)) != 0)
					test_fail("message %u chunk %zu: parts "
						  "differ:\n%s\n---\n%s", i,
						  chunks[c], first_dump,
						  str_c(dump));
			}
			pool_unref(&pool);
		}
	}
	test_end();
}

static void test_parser_events(void)
{
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=b\n\n"
		"pre\n--b\nX: 1\n\none\n--b--\npost";

	test_begin("message parser: events");
	test_assert_strcmp(events_of(msg, sizeof(msg) - 1),
		"begin @0\n"
		"hdr @0+42 Content-Type: multipart/mixed; boundary=b\n"
		"eoh 1\n"
		"body 8:pre\\x0a--b\\x0a\n"
		"begin @51\n"
		"hdr @51+5 X: 1\n"
		"eoh 1\n"
		"body 3:one\n"
		"end @60\n"
		"body 11:\\x0a--b--\\x0apost\n"
		"end @71\n");
	test_end();
}

test_func_t *const test_message_parser_tests[] = {
	test_parser_simple,
	test_parser_degenerate,
	test_parser_header_fields,
	test_parser_header_nul,
	test_parser_huge_header,
	test_parser_multipart,
	test_parser_multipart_broken,
	test_parser_rfc822,
	test_parser_limits,
	test_parser_deep_nesting,
	test_parser_chunks,
	test_parser_events,
	NULL
};
