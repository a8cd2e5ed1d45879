#include "test-lib-mail.h"
#include "imap-envelope.h"

/* RFC 5322 Appendix A messages and the ENVELOPE Dovecot gives for them */
static const struct {
	const char *name, *message, *envelope;
} envelope_tests[] = {
	{ "A.1.1",
	  "From: John Doe <jdoe@machine.example>\r\n"
	  "To: Mary Smith <mary@example.net>\r\n"
	  "Subject: Saying Hello\r\n"
	  "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
	  "Message-ID: <1234@local.machine.example>\r\n"
	  "\r\n"
	  "This is a message just to say hello.\r\n"
	  "So, \"Hello\".\r\n",
	  "\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234@local.machine.example>\"" },
	{ "A.1.1 with Sender",
	  "From: John Doe <jdoe@machine.example>\n"
	  "Sender: Michael Jones <mjones@machine.example>\n"
	  "To: Mary Smith <mary@example.net>\n"
	  "Subject: Saying Hello\n"
	  "Date: Fri, 21 Nov 1997 09:55:06 -0600\n"
	  "Message-ID: <1234@local.machine.example>\n"
	  "\n"
	  "This is a message just to say hello.\n",
	  "\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Michael Jones\" NIL \"mjones\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234@local.machine.example>\"" },
	{ "A.1.2",
	  "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
	  "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
	  "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
	  "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
	  "Message-ID: <5678.21-Nov-1997@example.com>\r\n"
	  "\r\n"
	  "Hi everyone.\r\n",
	  "\"Tue, 1 Jul 2003 10:52:37 +0200\" NIL "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"x.test\")"
	  "(NIL NIL \"jdoe\" \"example.org\")"
	  "(\"Who?\" NIL \"one\" \"y.test\")) "
	  "((NIL NIL \"boss\" \"nil.test\")"
	  "({16}\r\nGiant; \"Big\" Box NIL \"sysservices\" \"example.net\")) "
	  "NIL NIL \"<5678.21-Nov-1997@example.com>\"" },
	{ "A.1.3",
	  "From: Pete <pete@silly.example>\r\n"
	  "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n"
	  "Cc: Undisclosed recipients:;\r\n"
	  "Date: Thu, 13 Feb 1969 23:32:54 -0330\r\n"
	  "Message-ID: <testabcd.1234@silly.example>\r\n"
	  "\r\n"
	  "Testing.\r\n",
	  "\"Thu, 13 Feb 1969 23:32:54 -0330\" NIL "
	  "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	  "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	  "((\"Pete\" NIL \"pete\" \"silly.example\")) "
	  "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
	  "(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")"
	  "(NIL NIL NIL NIL)) "
	  "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL)) "
	  "NIL NIL \"<testabcd.1234@silly.example>\"" },
	{ "A.2",
	  "From: Mary Smith <mary@example.net>\r\n"
	  "To: John Doe <jdoe@machine.example>\r\n"
	  "Reply-To: \"Mary Smith: Personal Account\" <smith@home.example>\r\n"
	  "Subject: Re: Saying Hello\r\n"
	  "Date: Fri, 21 Nov 1997 10:01:10 -0600\r\n"
	  "Message-ID: <3456@example.net>\r\n"
	  "In-Reply-To: <1234@local.machine.example>\r\n"
	  "References: <1234@local.machine.example>\r\n"
	  "\r\n"
	  "This is a reply to your hello.\r\n",
	  "\"Fri, 21 Nov 1997 10:01:10 -0600\" \"Re: Saying Hello\" "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) "
	  "((\"Mary Smith: Personal Account\" NIL \"smith\" \"home.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) NIL NIL "
	  "\"<1234@local.machine.example>\" \"<3456@example.net>\"" },
	{ "A.3",
	  "Resent-From: Mary Smith <mary@example.net>\r\n"
	  "Resent-To: Jane Brown <j-brown@other.example>\r\n"
	  "Resent-Date: Mon, 24 Nov 1997 14:22:01 -0800\r\n"
	  "Resent-Message-ID: <78910@example.net>\r\n"
	  "From: John Doe <jdoe@machine.example>\r\n"
	  "To: Mary Smith <mary@example.net>\r\n"
	  "Subject: Saying Hello\r\n"
	  "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
	  "Message-ID: <1234@local.machine.example>\r\n"
	  "\r\n"
	  "This is a message just to say hello.\r\n",
	  "\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234@local.machine.example>\"" },
	{ "A.4",
	  "Received: from x.y.test\r\n"
	  "   by example.net\r\n"
	  "   via TCP\r\n"
	  "   with ESMTP\r\n"
	  "   id ABC12345\r\n"
	  "   for <mary@example.net>;  21 Nov 1997 10:05:43 -0600\r\n"
	  "Received: from node.example by x.y.test; 21 Nov 1997 10:01:22 -0600\r\n"
	  "From: John Doe <jdoe@node.example>\r\n"
	  "To: Mary Smith <mary@example.net>\r\n"
	  "Subject: Saying Hello\r\n"
	  "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
	  "Message-ID: <1234@local.node.example>\r\n"
	  "\r\n"
	  "This is a message just to say hello.\r\n",
	  "\"Fri, 21 Nov 1997 09:55:06 -0600\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"node.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"node.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"node.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234@local.node.example>\"" },
	{ "A.5",
	  "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
	  "To:A Group(Some people)\r\n"
	  "     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
	  "         joe@example.org,\r\n"
	  "  John <jdoe@one.test> (my dear friend); (the end of the group)\r\n"
	  "Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\r\n"
	  "Date: Thu,\r\n"
	  "      13\r\n"
	  "        Feb\r\n"
	  "          1969\r\n"
	  "      23:32\r\n"
	  "               -0330 (Newfoundland Time)\r\n"
	  "Message-ID:              <testabcd.1234@silly.test>\r\n"
	  "\r\n"
	  "Testing.\r\n",
	  "\"Thu,      13        Feb          1969      23:32"
	  "               -0330 (Newfoundland Time)\" NIL "
	  "((\"Pete\" NIL \"pete\" \"silly.test\")) "
	  "((\"Pete\" NIL \"pete\" \"silly.test\")) "
	  "((\"Pete\" NIL \"pete\" \"silly.test\")) "
	  "((NIL NIL \"A Group\" NIL)(\"Chris Jones\" NIL \"c\" \"public.example\")"
	  "(NIL NIL \"joe\" \"example.org\")(\"John\" NIL \"jdoe\" \"one.test\")"
	  "(NIL NIL NIL NIL)) "
	  "((NIL NIL \"Hidden recipients\" NIL)(NIL NIL NIL NIL)) "
	  "NIL NIL \"<testabcd.1234@silly.test>\"" },
	{ "A.6.1",
	  "From: Joe Q. Public <john.q.public@example.com>\r\n"
	  "To: Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example\r\n"
	  "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
	  "Message-ID: <5678.21-Nov-1997@example.com>\r\n"
	  "\r\n"
	  "Hi everyone.\r\n",
	  "\"Tue, 1 Jul 2003 10:52:37 +0200\" NIL "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	  "((\"Mary Smith\" \"@node.test\" \"mary\" \"example.net\")"
	  "(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")"
	  "(NIL NIL \"jdoe\" \"test.example\")) NIL NIL NIL "
	  "\"<5678.21-Nov-1997@example.com>\"" },
	{ "A.6.2",
	  "From: John Doe <jdoe@machine.example>\r\n"
	  "To: Mary Smith <mary@example.net>\r\n"
	  "Subject: Saying Hello\r\n"
	  "Date: 21 Nov 97 09:55:06 GMT\r\n"
	  "Message-ID: <1234@local.machine.example>\r\n"
	  "\r\n"
	  "This is a message just to say hello.\r\n",
	  "\"21 Nov 97 09:55:06 GMT\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234@local.machine.example>\"" },
	{ "A.6.3",
	  "From  : John Doe <jdoe@machine(comment).  example>\r\n"
	  "To    : Mary Smith\r\n"
	  "  \r\n"
	  "          <mary@example.net>\r\n"
	  "Subject     : Saying Hello\r\n"
	  "Date  : Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\r\n"
	  "Message-ID  : <1234   @   local(blah)  .machine .example>\r\n"
	  "\r\n"
	  "This is a message just to say hello.\r\n",
	  "\"Fri, 21 Nov 1997 09(comment):   55  :  06 -0600\" \"Saying Hello\" "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"John Doe\" NIL \"jdoe\" \"machine.example\")) "
	  "((\"Mary Smith\" NIL \"mary\" \"example.net\")) NIL NIL NIL "
	  "\"<1234   @   local(blah)  .machine .example>\"" },
};

static void test_imap_envelope_rfc5322(void)
{
	test_begin("imap envelope: RFC 5322 Appendix A");
	for (unsigned int i = 0; i < N_ELEMENTS(envelope_tests); i++) {
		const char *env = test_envelope(envelope_tests[i].message);

		if (strcmp(env, envelope_tests[i].envelope) != 0) {
			test_fail("%s:\n  got      %s\n  expected %s",
				  envelope_tests[i].name, env,
				  envelope_tests[i].envelope);
		}
	}
	test_end();
}

static void test_imap_envelope_quirks(void)
{
	test_begin("imap envelope: empty, broken, 8-bit");
	test_assert_strcmp(test_envelope(""),
			   "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
	test_assert_strcmp(test_envelope("\nbody"),
			   "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
	/* empty Sender and Reply-To fall back to From */
	test_assert_strcmp(test_envelope("From: u@d (Real Name)\nSender: \n"
					 "Reply-To:\n\n"),
			   "NIL NIL ((\"Real Name\" NIL \"u\" \"d\")) "
			   "((\"Real Name\" NIL \"u\" \"d\")) "
			   "((\"Real Name\" NIL \"u\" \"d\")) NIL NIL NIL NIL NIL");
	/* the last Subject counts; folded, tabs and doubled spaces are
	   cleaned up for display, which makes a literal */
	test_assert_strcmp(test_envelope("Subject: first\nSubject: a\r\n\tb  c \n\n"),
			   "NIL {5}\r\na b c NIL NIL NIL NIL NIL NIL NIL NIL");
	test_assert_strcmp(test_envelope("Subject: \xc3\xa9t\xc3\xa9\n\n"),
			   "NIL {5}\r\n\xc3\xa9t\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL");
	test_assert_strcmp(test_envelope("Subject:   \n\n"),
			   "NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL");
	/* folded Message-ID: line breaks removed */
	test_assert_strcmp(test_envelope("Message-ID:\n <a@b>\nIn-Reply-To: <x\n @y>\n\n"),
			   "NIL NIL NIL NIL NIL NIL NIL NIL \"<x @y>\" \" <a@b>\"");
	/* 8-bit date: literal */
	test_assert_strcmp(test_envelope("Date: \xff\n\n"),
			   "{1}\r\n\xff NIL NIL NIL NIL NIL NIL NIL NIL NIL");
	test_end();
}

test_func_t *const test_imap_envelope_tests[] = {
	test_imap_envelope_rfc5322,
	test_imap_envelope_quirks,
	NULL
};
