/* Tests for import and export: modified UTF-7 names, a generated Dovecot
   Maildir++ tree (UIDs and UIDVALIDITY from dovecot-uidlist, flags from
   file names, keywords from dovecot-keywords, new/ without UIDs), the
   export read back by the importer, and mbox. */
#include "test-lib-storage.h"
#include "mail-migrate.h"
#include <fcntl.h>
#include <sys/stat.h>

static const char *mutf7(const char *utf8, const char *also)
{
	string_t *str = t_str_new(64);
	mail_utf8_to_mutf7(utf8, also, str);
	return str_c(str);
}

static const char *from_mutf7(const char *src)
{
	string_t *str = t_str_new(64);
	return mail_mutf7_to_utf8(src, str) < 0 ? NULL : str_c(str);
}

static void test_mutf7(void)
{
	test_begin("modified UTF-7 mailbox names");
	test_assert_strcmp(mutf7("Entwürfe", ""), "Entw&APw-rfe");
	test_assert_strcmp(from_mutf7("Entw&APw-rfe"), "Entwürfe");
	test_assert_strcmp(mutf7("A&B", ""), "A&-B");
	test_assert_strcmp(from_mutf7("A&-B"), "A&B");
	test_assert_strcmp(mutf7("日本語", ""), "&ZeVnLIqe-");
	test_assert_strcmp(from_mutf7("&ZeVnLIqe-"), "日本語");
	test_assert_strcmp(from_mutf7(mutf7("mail 📬 box", "")), "mail 📬 box");
	test_assert_strcmp(mutf7("a.b", "."), "a&AC4-b");
	test_assert_strcmp(from_mutf7("a&AC4-b"), "a.b");
	test_assert(from_mutf7("&Jjo") == NULL);
	test_assert(from_mutf7("&2D3-") == NULL);
	test_assert(from_mutf7("&!-") == NULL);
	test_end();
}

static void write_file(const char *path, const char *text, time_t mtime)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		i_fatal("write(%s) failed: %m", path);
	close(fd);
	if (mtime != 0) {
		struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
		(void)utimensat(AT_FDCWD, path, ts, 0);
	}
}

static void make_folder(const char *dir)
{
	(void)mkdir(dir, 0700);
	(void)mkdir(t_strdup_printf("%s/cur", dir), 0700);
	(void)mkdir(t_strdup_printf("%s/new", dir), 0700);
	(void)mkdir(t_strdup_printf("%s/tmp", dir), 0700);
}

static const char *msg(const char *subject)
{
	return t_strdup_printf("From: x@example.com\nSubject: %s\n\nbody of %s\n",
			       subject, subject);
}

/* state of one mailbox, as text */
static const char *box_state(struct mail_user *user, const char *name)
{
	struct mailbox *box;
	ARRAY_TYPE(mail_index_record) recs;
	const struct mail_index_record *rec;
	string_t *str = t_str_new(512);

	if (mailbox_open(user, name, &box) < 0)
		return "(none)";
	array_init(&recs, pool_datastack, 8);
	if (mailbox_fetch_records(box, NULL, MAIL_INDEX_FETCH_DETAILS,
				  pool_datastack, &recs) < 0)
		return "(error)";
	str_printfa(str, "uv=%u next=%u:", mailbox_get_uidvalidity(box),
		    mailbox_get_uidnext(box));
	array_foreach(&recs, rec) {
		struct mail_section_request req = { .section = "HEADER.FIELDS (Subject)",
			.partial_size = UINT64_MAX };
		buffer_t *subj = t_str_new(64);
		if (mail_fetch_section_sync(box, rec->uid, &req, subj) < 0)
			return "(error)";
		str_printfa(str, " %u/%u/%s/%lld/%s", rec->uid, (unsigned int)rec->flags,
			    rec->keywords == NULL ? "" : t_strarray_join(rec->keywords, ","),
			    (long long)rec->internal_date,
			    t_str_trim(str_c(subj), "\r\n"));
	}
	mailbox_close(&box);
	return str_c(str);
}

static void test_import_maildir(void)
{
	const char *root = t_strdup_printf("%s/maildir-src", test_dir());
	struct mail_migrate_stats stats;

	test_begin("import a Dovecot Maildir++ tree, export it, import again");
	make_folder(root);
	write_file(t_strdup_printf("%s/dovecot-uidlist", root),
		   "3 V1234567 N20 G0123456789abcdef0123456789abcdef\n"
		   "3 :1600000001.M1P1.host\n"
		   "7 W123 :1600000002.M2P2.host\n"
		   "12 :1600000003.M3P3.host\n", 0);
	write_file(t_strdup_printf("%s/dovecot-keywords", root),
		   "0 $Label1\n1 work\n", 0);
	write_file(t_strdup_printf("%s/cur/1600000001.M1P1.host:2,S", root),
		   msg("one"), 1600000001);
	write_file(t_strdup_printf("%s/cur/1600000002.M2P2.host:2,FRSab", root),
		   msg("two"), 1600000002);
	write_file(t_strdup_printf("%s/cur/1600000003.M3P3.host:2,DT", root),
		   msg("three"), 1600000003);
	/* delivered after the uidlist was written: no UID yet */
	write_file(t_strdup_printf("%s/new/1600000004.M4P4.host", root),
		   msg("four"), 1600000004);
	const char *sub = t_strdup_printf("%s/.Archive.2024", root);
	make_folder(t_strdup_printf("%s/.Archive", root));
	make_folder(sub);
	write_file(t_strdup_printf("%s/dovecot-uidlist", sub),
		   "3 V555 N3\n2 :1600000010.M1.host\n", 0);
	write_file(t_strdup_printf("%s/cur/1600000010.M1.host:2,", sub),
		   msg("archived"), 1600000010);
	make_folder(t_strdup_printf("%s/.Entw&APw-rfe", root));

	struct mail_user *user = test_user_init(NULL);
	test_assert(mail_import_maildir(user, root, &stats) == 0);
	test_assert(stats.mailboxes == 4 && stats.messages == 5);
	test_assert_strcmp(box_state(user, "INBOX"),
		"uv=1234567 next=21: 3/8//1600000001/Subject: one"
		" 7/11/$Label1,work/1600000002/Subject: two"
		" 12/20//1600000003/Subject: three"
		" 20/0//1600000004/Subject: four");
	test_assert_strcmp(box_state(user, "Archive/2024"),
		"uv=555 next=3: 2/0//1600000010/Subject: archived");
	test_assert(strncmp(box_state(user, "Entwürfe"), "uv=", 3) == 0);
	test_assert(mail_user_mailbox_subscribe(user, "Archive/2024", true) == 0);

	/* export, and the export imports to the same state */
	const char *out = t_strdup_printf("%s/maildir-out", test_dir());
	test_assert(mail_export_maildir(user, out, &stats) == 0);
	test_assert(stats.mailboxes == 4 && stats.messages == 5);
	struct stat st;
	test_assert(stat(t_strdup_printf("%s/.Entw&APw-rfe/cur", out), &st) == 0);
	test_assert(stat(t_strdup_printf("%s/.Archive.2024/dovecot-uidlist", out), &st) == 0);
	struct mail_user *user2 = test_user_init(NULL);
	test_assert(mail_import_maildir(user2, out, &stats) == 0);
	test_assert(stats.messages == 5);
	test_assert_strcmp(box_state(user2, "INBOX"), box_state(user, "INBOX"));
	test_assert_strcmp(box_state(user2, "Archive/2024"),
			   box_state(user, "Archive/2024"));
	/* the contents too */
	struct mailbox *box;
	buffer_t *body = t_str_new(128);
	struct mail_section_request req = { .section = "TEXT", .partial_size = UINT64_MAX };
	test_assert(mailbox_open(user2, "INBOX", &box) == 0);
	test_assert(mail_fetch_section_sync(box, 7, &req, body) == 0);
	test_assert_strcmp(str_c(body), "body of two\r\n");
	mailbox_close(&box);
	mail_user_deinit(&user2);
	mail_user_deinit(&user);
	test_end();
}

static void test_import_mbox(void)
{
	const char *path = t_strdup_printf("%s/test.mbox", test_dir());
	struct mail_user *user = test_user_init(NULL);
	struct mail_migrate_stats stats;

	test_begin("import an mbox file");
	write_file(path,
		"From alice@example.com Mon Jan  1 12:00:00 2024\n"
		"From: alice@example.com\n"
		"Subject: first\n"
		"Status: RO\n"
		"X-Status: AF\n"
		"\n"
		"hello\n"
		">From the escaped line\n"
		"\n"
		"From bob@example.com Tue Jan  2 12:00:00 2024\n"
		"Subject: second\n"
		"\n"
		"world\n"
		"\n"
		"From carol@example.com Wed Jan  3 12:00:00 2024\n"
		"Subject: third\n"
		"\n"
		"body\n"
		"From inside a body is not a separator without a blank line before\n", 0);
	test_assert(mail_import_mbox(user, path, "Imported", &stats) == 0);
	test_assert(stats.messages == 3);
	test_assert_strcmp(box_state(user, "Imported"), t_strdup_printf(
		"uv=%s", box_state(user, "Imported") + 3));
	struct mailbox *box;
	test_assert(mailbox_open(user, "Imported", &box) == 0);
	test_assert(mailbox_get_messages_count(box) == 3);
	const struct mail_index_flags_rec *rec = mailbox_get_message(box, 1);
	test_assert(rec != NULL &&
		    rec->flags == (MAIL_SEEN | MAIL_ANSWERED | MAIL_FLAGGED));
	buffer_t *body = t_str_new(128);
	struct mail_section_request req = { .section = "TEXT", .partial_size = UINT64_MAX };
	test_assert(mail_fetch_section_sync(box, 1, &req, body) == 0);
	test_assert_strcmp(str_c(body), "hello\r\nFrom the escaped line\r\n");
	ARRAY_TYPE(mail_index_record) recs;
	array_init(&recs, pool_datastack, 4);
	test_assert(mailbox_fetch_records(box, NULL, MAIL_INDEX_FETCH_DETAILS,
					  pool_datastack, &recs) == 0);
	test_assert(array_count(&recs) == 3 && recs.v[1].internal_date == 1704196800);
	buffer_reset(body);
	test_assert(mail_fetch_section_sync(box, 3, &req, body) == 0);
	test_assert(strstr(str_c(body), "From inside a body") != NULL);
	mailbox_close(&box);
	mail_user_deinit(&user);
	test_end();
}

static void test_export_many(void)
{
	const char *root = t_strdup_printf("%s/maildir-many", test_dir());
	const unsigned int count = 400;
	struct mail_migrate_stats stats;

	/* the dovecot-uidlist written by the export outgrows its first
	   buffer while each message is exported in a frame of its own */
	test_begin("export a mailbox whose uidlist outgrows its buffer");
	make_folder(root);
	for (unsigned int i = 1; i <= count; i++) {
		write_file(t_strdup_printf("%s/new/%u.M%uP1.host", root,
					   1600000000 + i, i),
			   msg(t_strdup_printf("m%u", i)), 1600000000 + i);
	}
	struct mail_user *user = test_user_init(NULL);
	test_assert(mail_import_maildir(user, root, &stats) == 0);
	test_assert(stats.messages == count);
	const char *out = t_strdup_printf("%s/maildir-many-out", test_dir());
	test_assert(mail_export_maildir(user, out, &stats) == 0);
	test_assert(stats.messages == count);
	struct mail_user *user2 = test_user_init(NULL);
	test_assert(mail_import_maildir(user2, out, &stats) == 0);
	test_assert(stats.messages == count);
	test_assert_strcmp(box_state(user2, "INBOX"), box_state(user, "INBOX"));
	mail_user_deinit(&user2);
	mail_user_deinit(&user);
	test_end();
}

test_func_t *const test_mail_migrate_tests[] = {
	test_mutf7,
	test_import_maildir,
	test_import_mbox,
	test_export_many,
	NULL
};
