#include "test-lib-mail.h"
#include "imap-bodystructure.h"

/* "virtual-size lines" of a body given as text */
static const char *vl(const char *body)
{
	uint64_t vsize = 0;
	unsigned int lines = 0;

	for (size_t i = 0; body[i] != '\0'; i++) {
		vsize++;
		if (body[i] == '\n') {
			lines++;
			if (i == 0 || body[i - 1] != '\r')
				vsize++;
		}
	}
	return t_strdup_printf("%llu %u", (unsigned long long)vsize, lines);
}

static const char *vsize(const char *body)
{
	const char *s = vl(body);

	return t_strndup(s, strchr(s, ' ') - s);
}

static void check(const char *name, const char *msg, const char *bodystructure,
		  const char *body)
{
	const char *bs = test_bodystructure(msg, true);

	if (strcmp(bs, bodystructure) != 0)
		test_fail("%s BODYSTRUCTURE:\n  got      %s\n  expected %s",
			  name, bs, bodystructure);
	if (body == NULL)
		return;
	bs = test_bodystructure(msg, false);
	if (strcmp(bs, body) != 0)
		test_fail("%s BODY:\n  got      %s\n  expected %s",
			  name, bs, body);
}

static void test_bodystructure_single(void)
{
	test_begin("imap bodystructure: single parts");
	/* types and parameters keep their case; a charset is there */
	check("case",
	      "From: a@b.c\nContent-Type: TEXT/Plain; CHARSET=\"UTF-8\"; "
	      "format=flowed\n\nhello\nworld\n",
	      t_strdup_printf("\"TEXT\" \"Plain\" (\"CHARSET\" \"UTF-8\" "
			      "\"format\" \"flowed\") NIL NIL \"7bit\" %s "
			      "NIL NIL NIL NIL", vl("hello\nworld\n")),
	      t_strdup_printf("\"TEXT\" \"Plain\" (\"CHARSET\" \"UTF-8\" "
			      "\"format\" \"flowed\") NIL NIL \"7bit\" %s",
			      vl("hello\nworld\n")));
	/* no Content-Type: text/plain us-ascii */
	check("default", "Subject: x\n\nbody",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	      "4 0 NIL NIL NIL NIL",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0");
	/* Content-* without MIME-Version or Content-Type: ignored */
	check("not mime",
	      "Content-Transfer-Encoding: base64\nContent-Description: d\n\nQUJD\n",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	      "6 1 NIL NIL NIL NIL", NULL);
	/* every field */
	check("all fields",
	      "MIME-Version: 1.0\r\n"
	      "Content-Type: application/octet-stream; name=\"caf\xc3\xa9.txt\"\r\n"
	      "Content-Transfer-Encoding: BASE64\r\n"
	      "Content-ID: <id@example.com>\r\n"
	      "Content-Description: a \"quoted\" \\ text\r\n"
	      "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
	      "Content-Disposition: attachment; size=3;\r\n"
	      " filename*=utf-8''%E2%82%AC.txt\r\n"
	      "Content-Language: en, fi\r\n"
	      "Content-Location: http://example.com/x\r\n"
	      "\r\n"
	      "QUJD\r\n",
	      "\"application\" \"octet-stream\" (\"name\" {9}\r\ncaf\xc3\xa9.txt) "
	      "\"<id@example.com>\" \"a \\\"quoted\\\" \\\\ text\" \"BASE64\" 6 "
	      "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"size\" \"3\" "
	      "\"filename*\" \"utf-8''%E2%82%AC.txt\")) (\"en\" \"fi\") "
	      "\"http://example.com/x\"",
	      "\"application\" \"octet-stream\" (\"name\" {9}\r\ncaf\xc3\xa9.txt) "
	      "\"<id@example.com>\" \"a \\\"quoted\\\" \\\\ text\" \"BASE64\" 6");
	/* up to 4 quoted-specials stay quoted */
	check("escapes",
	      "Content-Type: text/plain\nContent-Description: \"a\\b\"\n\n",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	      "\"\\\"a\\\\b\\\"\" \"7bit\" 0 0 NIL NIL NIL NIL", NULL);
	/* a broken Content-Type is kept as far as it went */
	check("broken type", "Content-Type: text\n\nx\n",
	      "\"text\" \"\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 "
	      "NIL NIL NIL NIL", NULL);
	/* ...but a "/" without a subtype, or junk after the subtype,
	   makes the whole type invalid (Dovecot 2.3.19 checked) */
	check("broken type 2", "Content-Type: image/; name=x\n\nx\n",
	      "\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL", NULL);
	check("broken type 3", "Content-Type: TEXT/PLAIN charset=US-ASCII\n\nx\n",
	      "\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL", NULL);
	/* plain 7-bit US-ASCII text is written from a template */
	check("plain 7bit", "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
	      "Content-Transfer-Encoding: 7BIT\n\nx\n",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 "
	      "NIL NIL NIL NIL", NULL);
	/* an invalid Content-Transfer-Encoding is as if missing */
	check("bad cte", "Content-Type: text/plain\n"
	      "Content-Transfer-Encoding: ?bad\n\n",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	      "NIL NIL NIL NIL", NULL);
	/* the first Content-Type counts */
	check("two types", "Content-Type: text/html\nContent-Type: image/gif\n\n",
	      "\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	      "NIL NIL NIL NIL", NULL);
	/* folded Content-ID: line breaks removed */
	check("folded id", "Content-Type: text/plain\nContent-ID:\n <a@b>\n\n",
	      "\"text\" \"plain\" (\"charset\" \"us-ascii\") \" <a@b>\" NIL "
	      "\"7bit\" 0 0 NIL NIL NIL NIL", NULL);
	/* disposition without parameters */
	check("disposition", "Content-Type: image/png\n"
	      "Content-Disposition: inline\n\n",
	      "\"image\" \"png\" NIL NIL NIL \"7bit\" 0 NIL (\"inline\" NIL) "
	      "NIL NIL", NULL);
	test_end();
}

static void test_bodystructure_multipart(void)
{
	const char *p1 = "hello\r\n";
	const char *inner_hdr =
		"From: Inner Sender <inner@example.com>\r\n"
		"To: a@b.example, \"C D\" <c@d.example>\r\n"
		"Subject: inner subject\r\n"
		"Date: Sun, 12 Aug 2012 12:34:56 +0300\r\n"
		"Content-Type: multipart/alternative; boundary=\"in\"\r\n"
		"\r\n";
	const char *inner_body =
		"inner preamble\r\n"
		"--in\r\n"
		"Content-Type: text/html\r\n"
		"Content-Transfer-Encoding: 8bit\r\n"
		"\r\n"
		"<p>hi</p>\r\n"
		"--in\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"\r\n"
		"hi\r\n"
		"--in--\r\n";
	const char *msg = t_strdup_printf(
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"outer b\"\r\n"
		"\r\n"
		"preamble\r\n"
		"--outer b\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"%s\r\n"
		"--outer b\r\n"
		"Content-Type: message/rfc822\r\n"
		"Content-Description: forwarded\r\n"
		"\r\n"
		"%s%s\r\n"
		"--outer b--\r\n"
		"epilogue\r\n", p1, inner_hdr, inner_body);
	const char *rfc822 = t_strdup_printf("%s%s", inner_hdr, inner_body);
	const char *envelope =
		"\"Sun, 12 Aug 2012 12:34:56 +0300\" \"inner subject\" "
		"((\"Inner Sender\" NIL \"inner\" \"example.com\")) "
		"((\"Inner Sender\" NIL \"inner\" \"example.com\")) "
		"((\"Inner Sender\" NIL \"inner\" \"example.com\")) "
		"((NIL NIL \"a\" \"b.example\")(\"C D\" NIL \"c\" \"d.example\")) "
		"NIL NIL NIL NIL";

	test_begin("imap bodystructure: multipart and message/rfc822");
	check("nested", msg,
	      t_strdup_printf(
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
		"%s NIL NIL NIL NIL)"
		"(\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7bit\" %s (%s) "
		"((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" "
		"%s NIL NIL NIL NIL)"
		"(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" "
		"%s NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"in\") NIL NIL NIL)"
		" %s NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer b\") NIL NIL NIL",
		vl(p1), vsize(rfc822), envelope, vl("<p>hi</p>"), vl("hi"),
		vl(rfc822) + strlen(vsize(rfc822)) + 1),
	      t_strdup_printf(
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" %s)"
		"(\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7bit\" %s (%s) "
		"((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" %s)"
		"(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" %s) "
		"\"alternative\") %s) \"mixed\"",
		vl(p1), vsize(rfc822), envelope, vl("<p>hi</p>"), vl("hi"),
		vl(rfc822) + strlen(vsize(rfc822)) + 1));

	/* no parts at all: one empty text/plain part is shown */
	check("empty multipart",
	      "Content-Type: multipart/mixed; boundary=\"foo\"\n\n",
	      "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	      "NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"foo\") NIL NIL NIL",
	      "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) "
	      "\"mixed\"");
	check("no boundary parameter",
	      "Content-Type: multipart/related\n\n--x\n\ny\n",
	      "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
	      "NIL NIL NIL NIL) \"related\" NIL NIL NIL NIL", NULL);

	/* digest: message/rfc822 by default */
	check("digest",
	      "Content-Type: multipart/digest; boundary=d\n\n"
	      "--d\n\nSubject: s\n\nbody\n--d--\n",
	      t_strdup_printf("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" %s "
		"(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
		"4 0 NIL NIL NIL NIL) %s NIL NIL NIL NIL) \"digest\" "
		"(\"boundary\" \"d\") NIL NIL NIL",
		vsize("Subject: s\n\nbody"), "2"), NULL);

	/* a message whose body is a message */
	check("rfc822 root",
	      "Content-Type: message/rfc822\n\nSubject: in\n\nx\n",
	      t_strdup_printf("\"message\" \"rfc822\" NIL NIL NIL \"7bit\" %s "
		"(NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
		"3 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL",
		vsize("Subject: in\n\nx\n")), NULL);
	test_end();
}

test_func_t *const test_imap_bodystructure_tests[] = {
	test_bodystructure_single,
	test_bodystructure_multipart,
	NULL
};
