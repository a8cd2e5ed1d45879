/* Tests for fetching message content: BODY[] sections by part number,
   HEADER/TEXT/MIME, HEADER.FIELDS from the cache and from the blob,
   partial ranges with and without LF->CRLF conversion, async streams,
   and a message whose cache is gone being parsed again. */
#include "test-lib-storage.h"
#include "ioloop.h"
#include <sqlite3.h>

static const char *multipart_msg =
	"From: a@example.com\n"
	"Subject: parts\n"
	"X-Extra: 1\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\n"
	"\n"
	"preamble\n"
	"--b1\n"
	"Content-Type: text/plain\n"
	"\n"
	"first part\n"
	"--b1\n"
	"Content-Type: text/html\n"
	"\n"
	"<p>second</p>\n"
	"--b1\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"Subject: inner\n"
	"From: c@example.com\n"
	"\n"
	"inner body\n"
	"--b1--\n";

static const char *fetch(struct mailbox *box, uint32_t uid, const char *section,
			 uint64_t offset, uint64_t size)
{
	struct mail_section_request req = {
		.section = section, .partial_offset = offset, .partial_size = size,
	};
	buffer_t *buf = t_str_new(512);

	if (mail_fetch_section_sync(box, uid, &req, buf) < 0)
		return NULL;
	return str_c(buf);
}

#define ALL UINT64_MAX

static void test_fetch_sections(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;

	test_begin("fetch: sections of a multipart message (LF line ends)");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	test_assert(mailbox_open(user, "INBOX", &box) == 0);
	uint32_t uid = test_save(box, multipart_msg, 0, NULL);

	const char *whole = fetch(box, uid, "", 0, ALL);
	test_assert(whole != NULL && strlen(whole) == strlen(multipart_msg) + 23);
	test_assert(whole != NULL && strncmp(whole, "From: a@example.com\r\n", 21) == 0);
	test_assert_strcmp(fetch(box, uid, "1", 0, ALL), "first part");
	test_assert_strcmp(fetch(box, uid, "2", 0, ALL), "<p>second</p>");
	test_assert_strcmp(fetch(box, uid, "2.MIME", 0, ALL),
			   "Content-Type: text/html\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "3.HEADER", 0, ALL),
			   "Subject: inner\r\nFrom: c@example.com\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "3.TEXT", 0, ALL), "inner body");
	test_assert_strcmp(fetch(box, uid, "3.1", 0, ALL), "inner body");
	test_assert_strcmp(fetch(box, uid, "HEADER", 0, ALL),
		"From: a@example.com\r\nSubject: parts\r\nX-Extra: 1\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n");
	const char *text = fetch(box, uid, "TEXT", 0, ALL);
	test_assert(text != NULL && str_begins(text, "preamble\r\n--b1\r\n"));
	/* HEADER.FIELDS: cached fields (from the index), others (blob) */
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS (SUBJECT from)", 0, ALL),
			   "From: a@example.com\r\nSubject: parts\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS (X-Extra)", 0, ALL),
			   "X-Extra: 1\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS.NOT (From Subject Content-Type)", 0, ALL),
			   "X-Extra: 1\r\nMIME-Version: 1.0\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "3.HEADER.FIELDS (Subject)", 0, ALL),
			   "Subject: inner\r\n\r\n");
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS (Nothing)", 0, ALL), "\r\n");
	/* partial, across converted line ends */
	test_assert_strcmp(fetch(box, uid, "HEADER", 0, 7), "From: a");
	test_assert_strcmp(fetch(box, uid, "HEADER", 18, 4), "m\r\nS");
	test_assert_strcmp(fetch(box, uid, "HEADER", 19, 3), "\r\nS");
	test_assert_strcmp(fetch(box, uid, "HEADER", 20, 3), "\nSu");
	test_assert_strcmp(fetch(box, uid, "1", 6, 100), "part");
	test_assert_strcmp(fetch(box, uid, "1", 100, 10), "");
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS (Subject)", 9, 5), "parts");

	/* errors */
	test_assert(fetch(box, uid, "4", 0, ALL) == NULL);
	test_assert(mail_user_get_last_error(user, NULL, NULL) == MAIL_ERROR_PARAMS);
	test_assert(fetch(box, uid, "1.MIMEX", 0, ALL) == NULL);
	test_assert(fetch(box, uid, "HEADER.FIELDS ()", 0, ALL) == NULL);
	test_assert(fetch(box, uid, "1.HEADER", 0, ALL) == NULL);
	test_assert(fetch(box, 99, "", 0, ALL) == NULL);
	test_assert(mail_user_get_last_error(user, NULL, NULL) == MAIL_ERROR_EXPUNGED);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

static void test_fetch_crlf_partial(void)
{
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	string_t *msg = t_str_new(300000);

	test_begin("fetch: a large CRLF message, partial ranges by seeking");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	test_assert(mailbox_open(user, "INBOX", &box) == 0);
	str_append(msg, "Subject: big\r\n\r\n");
	for (unsigned int i = 0; i < 20000; i++)
		str_printfa(msg, "line %05u\r\n", i);
	uint32_t uid = test_save(box, str_c(msg), 0, NULL);
	const char *whole = fetch(box, uid, "", 0, ALL);
	test_assert(whole != NULL && strcmp(whole, str_c(msg)) == 0);
	const char *part = fetch(box, uid, "TEXT", 12 * 15000, 12);
	test_assert_strcmp(part, "line 15000\r\n");
	/* the same over an LF message, where the range is converted */
	string_t *lf = t_str_new(300000);
	str_append(lf, "Subject: big\n\n");
	for (unsigned int i = 0; i < 20000; i++)
		str_printfa(lf, "line %05u\n", i);
	uid = test_save(box, str_c(lf), 0, NULL);
	test_assert_strcmp(fetch(box, uid, "TEXT", 12 * 15000, 12), "line 15000\r\n");
	whole = fetch(box, uid, "", 0, ALL);
	test_assert(whole != NULL && strcmp(whole, str_c(msg)) == 0);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

struct stream_ctx {
	bool ready;
};

static void stream_callback(void *context)
{
	struct stream_ctx *ctx = context;
	ctx->ready = true;
}

static void test_fetch_async_stream(void)
{
	struct ioloop *ioloop = ioloop_create();
	struct mail_user *user = test_user_init(NULL);
	struct mailbox *box;
	struct mail_section_stream *stream;
	struct stream_ctx ctx = { false };
	string_t *msg = t_str_new(100000);

	test_begin("fetch: async stream");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	test_assert(mailbox_open(user, "INBOX", &box) == 0);
	str_append(msg, "Subject: async\n\n");
	for (unsigned int i = 0; i < 8000; i++)
		str_printfa(msg, "line %u\n", i);
	uint32_t uid = test_save(box, str_c(msg), 0, NULL);
	struct mail_section_request req = { .section = "", .partial_size = ALL };
	test_assert(mail_section_stream_open(box, uid, &req, false, &stream) == 0);
	mail_section_stream_set_callback(stream, stream_callback, &ctx);
	uint64_t expected = mail_section_stream_get_size(stream);
	test_assert(expected == str_len(msg) + 8002);
	buffer_t *out = t_str_new(expected);
	uint64_t end = ioloop_msecs_monotonic() + 10000;
	int ret;
	const unsigned char *data;
	size_t size;
	while ((ret = mail_section_stream_read(stream, &data, &size)) != -1 &&
	       ret != -2 && ioloop_msecs_monotonic() < end) {
		if (ret == 0) {
			ctx.ready = false;
			while (!ctx.ready && ioloop_msecs_monotonic() < end)
				ioloop_run_once(ioloop, 100);
			continue;
		}
		buffer_append(out, data, size);
	}
	test_assert(ret == -1);
	test_assert(out->used == expected);
	mail_section_stream_close(&stream);
	test_assert(stream == NULL);
	mailbox_close(&box);
	mail_user_deinit(&user);
	ioloop_destroy(&ioloop);
	test_end();
}

static void test_fetch_cache_refill(void)
{
	const char *home;
	struct mail_user *user = test_user_init(&home);
	struct mailbox *box;
	sqlite3 *db;

	test_begin("fetch: a message without cached fields is parsed again");
	test_assert(mail_user_mailbox_create(user, "INBOX", 0) == 0);
	test_assert(mailbox_open(user, "INBOX", &box) == 0);
	uint32_t uid = test_save(box, multipart_msg, 0, NULL);
	/* what an index rebuilt from blobs looks like */
	test_assert(sqlite3_open(t_strdup_printf("%s/index.db", home), &db) == SQLITE_OK);
	test_assert(sqlite3_exec(db, "DELETE FROM message_cache", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	test_assert_strcmp(fetch(box, uid, "2", 0, ALL), "<p>second</p>");
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, pool_datastack, 1);
	test_assert(mailbox_fetch_records(box, NULL, MAIL_INDEX_FETCH_CACHE,
					  pool_datastack, &recs) == 0);
	test_assert(array_count(&recs) == 1 && recs.v[0].envelope != NULL &&
		    strstr(recs.v[0].envelope, "\"parts\"") != NULL &&
		    recs.v[0].bodystructure != NULL && recs.v[0].headers != NULL);
	test_assert_strcmp(fetch(box, uid, "HEADER.FIELDS (Subject)", 0, ALL),
			   "Subject: parts\r\n\r\n");
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

test_func_t *const test_mail_fetch_tests[] = {
	test_fetch_sections,
	test_fetch_crlf_partial,
	test_fetch_async_stream,
	test_fetch_cache_refill,
	NULL
};
