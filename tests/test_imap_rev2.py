"""IMAP4rev2 (RFC 9051) after ENABLE IMAP4rev2: every server-side change of
its Appendix E that a rev2 client sees (ESEARCH for SEARCH, no \\Recent or
RECENT, the untagged LIST and [CLOSED] of SELECT, STATUS DELETED/SIZE,
LSUB refused, LIST \\NonExistent/\\Subscribed/CHILDINFO, COPYUID for MOVE,
TRYCREATE, UID in unsolicited FETCH), and SEARCHRES's "$" (RFC 5182) in
FETCH, STORE, COPY, MOVE, UID EXPUNGE and SEARCH, with the RFCs' examples
byte-exact where they are complete."""
import pytest

from conftest import LOG_CRASH_OR_SANITIZER, serve_in_tempdir, start_with_users
from rawclient import ImapLines

MSG = (b"From: a@example.com\r\nSubject: m%d\r\n"
       b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody %d\r\n")
USERS = {"u%d" % i: "pw" for i in range(1, 8)}


@pytest.fixture(scope="module")
def server():
    yield from serve_in_tempdir(
        "columba-rev2-",
        lambda tmpdir: start_with_users(tmpdir, USERS, mail_home="%Lu"),
        LOG_CRASH_OR_SANITIZER)


class Client(ImapLines):
    """A line-exact IMAP client, logged in (and IMAP4rev2 enabled unless
    rev2=False)."""

    def __init__(self, port, user, rev2=True):
        super().__init__(port, errors="replace")
        _, t = self.cmd("LOGIN %s pw" % user)
        assert t.startswith("OK"), t
        if rev2:
            u, t = self.cmd("ENABLE IMAP4rev2")
            assert u == ["* ENABLED IMAP4rev2"] and t.startswith("OK"), u

    def append(self, box, n, flags="()"):
        msg = MSG % (n, n)
        self.send(b"ap APPEND %s %s {%d+}\r\n%s\r\n" % (
            box.encode(), flags.encode(), len(msg), msg))
        _, tagged = self.read_tagged(b"ap", read=self.readline)
        assert tagged.startswith(b"OK"), tagged


def test_capability_and_enable(server):
    c = Client(server.imap_port, "u1", rev2=False)
    u = c.ok("CAPABILITY")
    caps = u[0].split()
    assert "IMAP4rev1" in caps and "IMAP4rev2" in caps
    assert "SEARCHRES" in caps and "ESEARCH" in caps
    # RFC 9051 §6.3.1's example
    u, t = c.cmd("ENABLE IMAP4rev2")
    assert u == ["* ENABLED IMAP4rev2"] and t.startswith("OK")
    # enabled twice: nothing newly enabled
    u, t = c.cmd("ENABLE IMAP4rev2")
    assert u == ["* ENABLED"] and t.startswith("OK")
    c.close()


def test_select_rev2(server):
    c = Client(server.imap_port, "u2")
    for i in (1, 2, 3):
        c.append("INBOX", i)
    c.ok("CREATE blurdybloop")
    u = c.ok("SELECT INBOX")
    # no RECENT, no [UNSEEN] (Appendix E 11, 12); the untagged LIST (10)
    assert not any("RECENT" in x or "[UNSEEN" in x for x in u), u
    assert "* 3 EXISTS" in u
    assert '* LIST () "/" INBOX' in u
    assert "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)" in u
    # a selected mailbox: [CLOSED] before the new one's responses (9)
    u = c.ok("EXAMINE blurdybloop")
    assert u[0].startswith("* OK [CLOSED]"), u
    assert '* LIST () "/" blurdybloop' in u
    u = c.ok("SELECT INBOX")
    assert u[0].startswith("* OK [CLOSED]"), u
    # no \Recent in FETCH (12)
    u = c.ok("FETCH 1:* FLAGS")
    assert u == ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())",
                 "* 3 FETCH (FLAGS ())"], u
    # STATUS DELETED and SIZE (3)
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    u = c.ok("STATUS blurdybloop (MESSAGES DELETED SIZE)")
    assert u == ["* STATUS blurdybloop (MESSAGES 0 DELETED 0 SIZE 0)"], u
    u = c.ok("STATUS INBOX (MESSAGES DELETED)")
    assert u == ["* STATUS INBOX (MESSAGES 3 DELETED 1)"], u
    # EXPUNGE answers EXPUNGE (VANISHED needs QRESYNC), then the new
    # count is implied: no EXISTS
    u = c.ok("EXPUNGE")
    assert u == ["* 2 EXPUNGE"], u
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    # CLOSE expunges silently
    u = c.ok("CLOSE")
    assert u == [], u
    u = c.ok("STATUS INBOX (MESSAGES DELETED)")
    assert u == ["* STATUS INBOX (MESSAGES 1 DELETED 0)"], u
    c.ok("SELECT INBOX")
    # LSUB is gone (19); NAMESPACE and UNSELECT are in (2)
    _, t = c.cmd('LSUB "" "*"')
    assert t.startswith("BAD"), t
    u = c.ok("NAMESPACE")
    assert u == ['* NAMESPACE (("" "/")) NIL NIL'], u
    c.ok("UNSELECT")
    _, t = c.cmd("FETCH 1 FLAGS")
    assert t.startswith("BAD"), t
    c.close()


def test_search_esearch(server):
    c = Client(server.imap_port, "u3")
    for i in range(1, 12):
        c.append("INBOX", i, "(\\Flagged)" if i in (2, 10, 11) else "()")
    c.ok("SELECT INBOX")
    # SEARCH answers ESEARCH (4); RFC 9051 §6.4.4's examples
    u = c.ok('SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
             tag="A282")
    assert u == ['* ESEARCH (TAG "A282") ALL 2,10:11'], u
    u = c.ok('SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"',
             tag="A283")
    assert u == ['* ESEARCH (TAG "A283") ALL 2,10:11'], u
    u = c.ok('SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 '
             'NOT FROM "Smith"', tag="A284")
    assert u == ['* ESEARCH (TAG "A284") MIN 2 COUNT 3'], u
    u = c.ok("UID SEARCH FLAGGED", tag="A285")
    assert u == ['* ESEARCH (TAG "A285") UID ALL 2,10:11'], u
    # nothing found: no ALL
    u = c.ok("SEARCH DRAFT", tag="A286")
    assert u == ['* ESEARCH (TAG "A286")'], u
    # CONDSTORE's MODSEQ in the ESEARCH form (RFC 7162 §3.1.5)
    u = c.ok("SEARCH MODSEQ 1 FLAGGED", tag="A287")
    assert u[-1].startswith('* ESEARCH (TAG "A287") ALL 2,10:11 MODSEQ '), u
    # SORT keeps its own response
    u = c.ok("SORT (SUBJECT) UTF-8 FLAGGED")
    assert u == ["* SORT 10 11 2"], u
    c.close()


def test_list_childinfo_rfc9051_example8(server):
    c = Client(server.imap_port, "u4")
    for m in ("foo2", "foo2/bar1", "foo2/bar2", "baz2", "baz2/bar2",
              "baz2/bar22", "baz2/bar222", "eps2", "eps2/mamba"):
        c.ok("CREATE %s" % m)
    for m in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22",
              "baz2/bar222", "eps2", "eps2/mamba"):
        c.ok("SUBSCRIBE %s" % m)
    u = c.ok('LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"', tag="D03")
    assert u == [
        '* LIST (\\Subscribed) "/" baz2/bar2',
        '* LIST (\\Subscribed) "/" baz2/bar22',
        '* LIST (\\Subscribed) "/" baz2/bar222',
        '* LIST (\\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))',
        '* LIST () "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))',
        '* LIST (\\Subscribed) "/" foo2/bar2',
    ], u
    # a subscribed name whose mailbox is gone: \NonExistent (§6.3.9)
    c.ok("CREATE gone")
    c.ok("SUBSCRIBE gone")
    c.ok("DELETE gone")
    u = c.ok('LIST (SUBSCRIBED) "" "gone"')
    assert u == ['* LIST (\\Subscribed \\NonExistent) "/" gone'], u
    u = c.ok('LIST "" "gone"')
    assert u == [], u
    c.close()


def test_move_copyuid_trycreate_and_unsolicited_uid(server):
    c = Client(server.imap_port, "u5")
    for i in (1, 2, 3):
        c.append("INBOX", i)
    c.ok("CREATE dest")
    c.ok("SELECT INBOX")
    # COPYUID for MOVE and UID MOVE (7)
    u, t = c.cmd("MOVE 1 dest")
    assert t.startswith("OK [COPYUID ") or \
        any(x.startswith("* OK [COPYUID ") for x in u), (u, t)
    u, t = c.cmd("UID MOVE 2 dest")
    assert t.startswith("OK [COPYUID ") or \
        any(x.startswith("* OK [COPYUID ") for x in u), (u, t)
    # no mailbox created, TRYCREATE (8)
    _, t = c.cmd("COPY 1 nosuch")
    assert t.startswith("NO [TRYCREATE]"), t
    _, t = c.cmd("MOVE 1 nosuch")
    assert t.startswith("NO [TRYCREATE]"), t
    # another session's flag change: the unsolicited FETCH has UID (21)
    other = Client(server.imap_port, "u5", rev2=False)
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS (\\Flagged)")
    other.close()
    u = c.ok("NOOP")
    assert "* 1 FETCH (UID 3 FLAGS (\\Flagged))" in u, u
    c.close()


def test_searchres(server):
    # a rev1 session: SEARCHRES is not tied to IMAP4rev2
    c = Client(server.imap_port, "u6", rev2=False)
    for i in range(1, 7):
        c.append("INBOX", i, "(\\Flagged)" if i in (2, 4, 6) else "()")
    c.ok("CREATE Junk2")
    c.ok("SELECT INBOX")
    # "$" before any SEARCH ... SAVE: the empty set, not an error
    u, t = c.cmd("FETCH $ FLAGS")
    assert u == [] and t.startswith("OK"), (u, t)
    # RFC 5182 example 1: SAVE, then FETCH $
    u = c.ok("SEARCH RETURN (SAVE) FLAGGED")
    assert u == [], u
    u = c.ok("FETCH $ (UID)")
    assert u == ["* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)",
                 "* 6 FETCH (UID 6)"], u
    u = c.ok("UID FETCH $ (RFC822.SIZE)")
    assert u == ["* 2 FETCH (UID 2 RFC822.SIZE 82)",
                 "* 4 FETCH (UID 4 RFC822.SIZE 82)",
                 "* 6 FETCH (UID 6 RFC822.SIZE 82)"], u
    # a SEARCH without SAVE leaves it alone; $ inside SEARCH
    c.ok("SEARCH ALL")
    u = c.ok("SEARCH $ NOT 4")
    assert u == ["* SEARCH 2 6"], u
    u = c.ok("UID SEARCH UID $ SMALLER 4096")
    assert u == ["* SEARCH 2 4 6"], u
    # STORE $ and COPY $ (RFC 5182 example 7)
    u = c.ok("STORE $ +FLAGS.SILENT (\\Seen)")
    assert u == [], u
    u = c.ok("SEARCH SEEN")
    assert u == ["* SEARCH 2 4 6"], u
    u, t = c.cmd("COPY $ Junk2")
    assert t.startswith("OK"), t
    u = c.ok("STATUS Junk2 (MESSAGES)")
    assert u == ["* STATUS Junk2 (MESSAGES 3)"], u
    # SAVE with MIN MAX: just those two (RFC 5182 §2.4)
    u = c.ok("SEARCH RETURN (SAVE MIN MAX) FLAGGED", tag="S1")
    assert u == ['* ESEARCH (TAG "S1") MIN 2 MAX 6'], u
    u = c.ok("FETCH $ (UID)")
    assert u == ["* 2 FETCH (UID 2)", "* 6 FETCH (UID 6)"], u
    # UID EXPUNGE $ expunges just those; $ then follows the expunges
    c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
    u = c.ok("UID EXPUNGE $")
    assert u == ["* 6 EXPUNGE", "* 2 EXPUNGE"] or \
        u == ["* 2 EXPUNGE", "* 5 EXPUNGE"], u
    u = c.ok("FETCH $ (UID)")
    assert u == [], u
    c.ok("STORE 1:* -FLAGS.SILENT (\\Deleted)")
    # MOVE $
    c.ok("SEARCH RETURN (SAVE) UID 3")
    u, t = c.cmd("MOVE $ Junk2")
    assert t.startswith("OK") or t.startswith("OK [COPYUID"), t
    assert "* 2 EXPUNGE" in u, u
    u = c.ok("UID SEARCH ALL")
    assert u == ["* SEARCH 1 4 5"], u
    # a failed SEARCH ... SAVE empties $ (RFC 5182 example 5)
    c.ok("SEARCH RETURN (SAVE) ALL")
    _, t = c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-X (OR $ 1) TEXT x")
    assert t.startswith("NO [BADCHARSET"), t
    u, t = c.cmd("COPY $ Junk2", tag="E283")
    assert u == [] and t.startswith("OK"), (u, t)
    u = c.ok("STATUS Junk2 (MESSAGES)")
    assert u == ["* STATUS Junk2 (MESSAGES 4)"], u
    # SORT is SEARCH-based: SAVE works there too (RFC 5182 §1); with MAX
    # alone, the highest sorted message (RFC 5267)
    u = c.ok("SORT RETURN (SAVE) (REVERSE SUBJECT) UTF-8 UID 4:5")
    assert u == [], u
    u = c.ok("UID FETCH $ (UID)")
    assert u == ["* 2 FETCH (UID 4)", "* 3 FETCH (UID 5)"], u
    u = c.ok("SORT RETURN (SAVE MAX) (REVERSE SUBJECT) UTF-8 ALL", tag="S2")
    assert u == ['* ESEARCH (TAG "S2") MAX 1'], u
    u = c.ok("FETCH $ (UID)")
    assert u == ["* 1 FETCH (UID 1)"], u
    _, t = c.cmd("SORT RETURN (SAVE) (ARRIVAL) KOI8-X ALL")
    assert t.startswith("NO [BADCHARSET"), t
    u = c.ok("FETCH $ (UID)")
    assert u == [], u
    # "$" is alone or not at all
    _, t = c.cmd("FETCH $,1 FLAGS")
    assert t.startswith("BAD"), t
    # SELECT resets it
    c.ok("SEARCH RETURN (SAVE) ALL")
    c.ok("SELECT INBOX")
    u = c.ok("FETCH $ (UID)")
    assert u == [], u
    c.close()


def test_bodystructure_rfc2231_and_64bit_partial(server):
    """Appendix E 6: parameter value continuations are decoded; 1: sizes
    and partial offsets beyond 32 bits are accepted."""
    c = Client(server.imap_port, "u7")
    m = (b"From: a@b\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
         b"Content-Type: application/octet-stream;\r\n"
         b" name*0=\"very long \";\r\n name*1=\"file.txt\"\r\n\r\n"
         b"abc\r\n--B--\r\n")
    c.send(b"ap APPEND INBOX {%d+}\r\n%s\r\n" % (len(m), m))
    assert c.readline().startswith(b"ap OK")
    c.ok("SELECT INBOX")
    u = c.ok("FETCH 1 BODYSTRUCTURE")
    assert u[0].startswith('* 1 FETCH (BODYSTRUCTURE (("application" '
                           '"octet-stream" ("name" "very long file.txt")'), u
    u = c.ok("FETCH 1 BODY.PEEK[]<4294967296.10>")
    assert u == ["* 1 FETCH (UID 1 BODY[]<4294967296> {0}", ")"] or \
        u == ["* 1 FETCH (BODY[]<4294967296> {0}", ")"], u
    u = c.ok("FETCH 1 BODY.PEEK[1]<0.4294967296>")
    assert u[0] == "* 1 FETCH (BODY[1]<0> {3}", u
    c.close()
