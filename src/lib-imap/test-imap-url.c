/* Tests for the CATENATE URL parser (RFC 5092 relative message URLs). */
#include "test-lib-imap.h"
#include "imap-url.h"

static void test_imap_url_valid(void)
{
	struct imap_url url;
	const char *error;

	test_begin("imap url valid");
	test_assert(imap_url_parse("/INBOX;UIDVALIDITY=385759045/;UID=20",
				   &url, &error) == 0);
	test_assert_strcmp(url.mailbox, "INBOX");
	test_assert(url.uidvalidity == 385759045);
	test_assert(url.uid == 20);
	test_assert(url.section == NULL);
	test_assert(url.partial_offset == 0);
	test_assert(url.partial_size == UINT64_MAX);

	/* RFC 4469 §6's example, keys in any case */
	test_assert(imap_url_parse("/Drafts;UIDVALIDITY=385759045/;UID=30"
				   "/;section=1.2.MIME", &url, &error) == 0);
	test_assert_strcmp(url.mailbox, "Drafts");
	test_assert(url.uid == 30);
	test_assert_strcmp(url.section, "1.2.MIME");

	/* no UIDVALIDITY; %-encoded mailbox and section; partial */
	test_assert(imap_url_parse("/Sent%20Items/;UID=7/;SECTION=HEADER.FIELDS"
				   "%20(SUBJECT)/;PARTIAL=10.20",
				   &url, &error) == 0);
	test_assert_strcmp(url.mailbox, "Sent Items");
	test_assert(url.uidvalidity == 0);
	test_assert_strcmp(url.section, "HEADER.FIELDS (SUBJECT)");
	test_assert(url.partial_offset == 10);
	test_assert(url.partial_size == 20);

	test_assert(imap_url_parse("/a/b/;UID=4294967295/;PARTIAL=0",
				   &url, &error) == 0);
	test_assert_strcmp(url.mailbox, "a/b");
	test_assert(url.uid == 4294967295U);
	test_assert(url.partial_size == UINT64_MAX);
	test_end();
}

static void test_imap_url_invalid(void)
{
	static const char *const bad[] = {
		"",
		"INBOX/;UID=1",
		"//host/INBOX/;UID=1",
		"imap://user@host/INBOX/;UID=1",
		"/;UID=1",
		"/INBOX",
		"/INBOX/;UID=",
		"/INBOX/;UID=0",
		"/INBOX/;UID=01",
		"/INBOX/;UID=4294967296",
		"/INBOX/;UID=1x",
		"/INBOX;UIDVALIDITY=0/;UID=1",
		"/INBOX;UIDVALIDITY=/;UID=1",
		"/INBOX/;UID=1/;SECTION=",
		"/INBOX/;UID=1/;PARTIAL=1.0",
		"/INBOX/;UID=1/;PARTIAL=x",
		"/INBOX/;UID=1;URLAUTH=anonymous:internal:0123",
		"/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z",
		"/IN%2BOX%/;UID=1",
		"/IN%0aBOX/;UID=1",
		"/IN%00BOX/;UID=1",
		"/INBOX/;UID=1/;SECTION=1%zz",
		NULL
	};
	struct imap_url url;
	const char *error;

	test_begin("imap url invalid");
	for (unsigned int i = 0; bad[i] != NULL; i++) {
		error = NULL;
		test_assert_idx(imap_url_parse(bad[i], &url, &error) < 0, i);
		test_assert_idx(error != NULL && error[0] != '\0', i);
	}
	test_end();
}

test_func_t *const test_imap_url_tests[] = {
	test_imap_url_valid,
	test_imap_url_invalid,
	NULL
};
