"""IMAP mailbox commands over a real login: CREATE (CREATE-SPECIAL-USE),
DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (LIST-EXTENDED, SPECIAL-USE,
LIST-STATUS, CHILDINFO), LSUB, STATUS (STATUS=SIZE), the autocreated
special-use mailboxes, modified UTF-7 names, and two sessions seeing each
other's changes. RFC examples are checked line by line where they are
complete (names are written as atoms where the grammar allows, as
Dovecot does; the RFC's examples quote them)."""
import imaplib
import re

import pytest

from conftest import serve_in_tempdir, start_with_users
from rawclient import ImapLines

USERS = ["u%d" % i for i in range(1, 17)]


def start(tmpdir):
    return start_with_users(
        tmpdir, {u: "pw" for u in USERS}, mail_home="%Lu",
        # an admin addition next to the built-in ones
        config="namespace inbox {\n"
        "  mailbox Lists/Announce {\n"
        "    auto = create\n"
        "  }\n"
        "}\n")


@pytest.fixture(scope="module")
def server():
    yield from serve_in_tempdir("columba-imapbox-", start)


class Raw(ImapLines):
    """A line-level IMAP client, logged in: cmd() returns (untagged
    lines, tagged line without the tag), bytes decoded as UTF-8."""

    def __init__(self, port, user):
        super().__init__(port, timeout=10)
        _, tagged = self.cmd("LOGIN %s pw" % user)
        assert tagged.startswith("OK"), tagged


@pytest.fixture
def raw(server, request):
    conns = []

    def connect(user):
        c = Raw(server.imap_port, user)
        conns.append(c)
        return c
    yield connect
    for c in conns:
        c.close()


def login(server, user):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert m.login(user, "pw")[0] == "OK"
    return m


def test_capabilities(server):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    m.login("u1", "pw")
    typ, data = m.capability()
    caps = data[0].decode().split()
    for c in ("CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
              "CREATE-SPECIAL-USE", "STATUS=SIZE", "NAMESPACE"):
        assert c in caps, caps
    m.logout()


def test_autocreated_special_use(raw):
    c = raw("u1")
    assert c.ok('LIST "" "*"') == [
        '* LIST (\\HasNoChildren) "/" INBOX',
        '* LIST (\\HasNoChildren \\Archive) "/" Archive',
        '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
        '* LIST (\\HasNoChildren \\Junk) "/" Junk',
        '* LIST (\\HasChildren) "/" Lists',
        '* LIST (\\HasNoChildren) "/" Lists/Announce',
        '* LIST (\\HasNoChildren \\Sent) "/" Sent',
        '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    ]
    # auto = subscribe for the built-in ones, auto = create for ours
    assert c.ok('LSUB "" "*"') == [
        '* LSUB () "/" Archive', '* LSUB () "/" Drafts',
        '* LSUB () "/" Junk', '* LSUB () "/" Sent', '* LSUB () "/" Trash']
    # RFC 6154: the selection option implies the return option
    assert c.ok('LIST (SPECIAL-USE) "" "*"') == [
        '* LIST (\\Archive) "/" Archive', '* LIST (\\Drafts) "/" Drafts',
        '* LIST (\\Junk) "/" Junk', '* LIST (\\Sent) "/" Sent',
        '* LIST (\\Trash) "/" Trash']
    # an extended LIST reports only what was asked for
    assert c.ok('LIST () "" "Sent"') == ['* LIST () "/" Sent']
    assert c.ok('LIST "" "%" RETURN (SPECIAL-USE CHILDREN)')[1:3] == [
        '* LIST (\\HasNoChildren \\Archive) "/" Archive',
        '* LIST (\\HasNoChildren \\Drafts) "/" Drafts']
    # deleted by the user: back at the next login (it is configured)
    c.ok("DELETE Junk")
    c2 = raw("u1")
    assert c2.ok('LIST "" Junk') == ['* LIST (\\HasNoChildren \\Junk) "/" Junk']


def test_create(raw):
    c = raw("u2")
    c.ok("CREATE foo")
    assert c.cmd("CREATE foo")[1].startswith("NO [ALREADYEXISTS]")
    assert c.cmd("CREATE inbox")[1].startswith("NO [ALREADYEXISTS]")
    # missing parents are created; a trailing separator is dropped
    c.ok('CREATE "a/b/c"')
    c.ok("CREATE x/")
    assert c.ok('LIST "" "a*"') == [
        '* LIST (\\HasChildren) "/" a', '* LIST (\\HasChildren) "/" a/b',
        '* LIST (\\HasNoChildren) "/" a/b/c']
    assert c.ok('LIST "" x') == ['* LIST (\\HasNoChildren) "/" x']
    for bad in ('"bad*name"', '"bad%name"', '"a//b"', '"&Jjo"', '"&AGE-"',
                '"x/../y"'):
        untagged, tagged = c.cmd("CREATE " + bad)
        assert tagged.startswith("NO [CANNOT]"), (bad, tagged)
    for bad in ("CREATE", "CREATE a b", "CREATE a (FOO)", "CREATE a (USE)",
                "CREATE a (USE \\Drafts)", "CREATE a (USE (Drafts))"):
        assert c.cmd(bad)[1].startswith("BAD"), bad
    # CREATE-SPECIAL-USE (RFC 6154 §5.2 example)
    # (the MAILBOXID response code is RFC 8474's: test_imap_fetch)
    assert re.sub(r"\[MAILBOXID \(\w+\)\] ", "", c.cmd(
        "CREATE MySpecial (USE (\\Drafts \\Sent))")[1]) == \
        "OK Create completed."
    assert c.ok('LIST "" MySpecial RETURN (SPECIAL-USE)') == [
        '* LIST (\\Drafts \\Sent) "/" MySpecial']
    assert c.cmd("CREATE Other (USE (\\Bogus))")[1].startswith(
        "NO [USEATTR]")
    assert c.cmd("CREATE Every (USE (\\All))")[1].startswith("NO [USEATTR]")
    assert c.ok('LIST "" "Other"') == []
    assert c.ok('LIST "" "Every"') == []
    # imaplib's view
    m = login(c_server(c), "u2")
    assert m.create("viaimaplib")[0] == "OK"
    typ, data = m.create("viaimaplib")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    m.logout()


def c_server(c):
    return type("S", (), {"imap_port": c.sock.getpeername()[1]})


def test_mutf7_names(raw):
    c = raw("u3")
    c.ok('CREATE "Entw&APw-rfe"')
    c.ok('CREATE "Entw&APw-rfe/&ZeVnLIqe-"')
    assert c.ok('LIST "" "Entw&APw-rfe*"') == [
        '* LIST (\\HasChildren) "/" Entw&APw-rfe',
        '* LIST (\\HasNoChildren) "/" Entw&APw-rfe/&ZeVnLIqe-']
    assert c.ok('STATUS "Entw&APw-rfe" (MESSAGES)') == [
        '* STATUS Entw&APw-rfe (MESSAGES 0)']
    c.ok('RENAME "Entw&APw-rfe" "&AMk-t&AOk-"')
    assert c.ok('LIST "" "*&AOk-*"') == [
        '* LIST (\\HasChildren) "/" &AMk-t&AOk-',
        '* LIST (\\HasNoChildren) "/" &AMk-t&AOk-/&ZeVnLIqe-']
    # patterns are modified UTF-7 too
    assert c.cmd('LIST "" "&Jjo"')[1].startswith("BAD")
    # 8-bit names are not modified UTF-7
    c.send(b't99 CREATE "Entw\xc3\xbcrfe"\r\n')
    line = c.f.readline()
    assert line.startswith(b"t99 NO") or line.startswith(b"t99 BAD"), line


def test_delete(raw):
    c = raw("u4")
    assert c.cmd("DELETE nosuch")[1].startswith("NO [NONEXISTENT]")
    assert c.cmd("DELETE INBOX")[1].startswith("NO [CANNOT]")
    assert c.cmd("DELETE")[1].startswith("BAD")
    c.ok("CREATE p/q")
    c.ok("SUBSCRIBE p")
    # RFC 9051 §6.3.5: a mailbox with children becomes \Noselect
    c.ok("DELETE p")
    assert c.ok('LIST "" "p*"') == [
        '* LIST (\\HasChildren \\Noselect) "/" p',
        '* LIST (\\HasNoChildren) "/" p/q']
    assert c.cmd("DELETE p")[1].startswith("NO [HASCHILDREN]")
    assert c.cmd("SELECT p")[1].startswith("NO")
    # the last child gone, the \Noselect parent goes too
    c.ok("DELETE p/q")
    assert c.ok('LIST "" "p*"') == []
    assert c.cmd("DELETE p")[1].startswith("NO [NONEXISTENT]")
    # the subscription stays (RFC 9051 §6.3.7)
    assert c.ok('LIST (SUBSCRIBED) "" "p"') == [
        '* LIST (\\Subscribed \\NonExistent) "/" p']
    # deleting the selected mailbox leaves the selected state
    c.ok("CREATE sel")
    c.ok("SELECT sel")
    c.ok("DELETE sel")
    assert c.cmd("CHECK")[1].startswith("BAD")


def test_rename(raw):
    c = raw("u5")
    c.ok("CREATE r/x")
    c.ok("SUBSCRIBE r/x")
    c.ok("RENAME r s/t")
    assert c.ok('LIST "" "*" RETURN (SUBSCRIBED)')[-4:] == [
        '* LIST (\\Subscribed) "/" Trash',
        '* LIST () "/" s',
        '* LIST () "/" s/t',
        '* LIST (\\Subscribed) "/" s/t/x']
    assert c.cmd("RENAME nosuch other")[1].startswith("NO [NONEXISTENT]")
    assert c.cmd("RENAME s Drafts")[1].startswith("NO [ALREADYEXISTS]")
    assert c.cmd("RENAME s s/t/y")[1].startswith("NO [CANNOT]")
    assert c.cmd("RENAME s")[1].startswith("BAD")
    assert c.cmd('RENAME s "a*"')[1].startswith("NO [CANNOT]")
    # INBOX: its messages move, an empty INBOX stays (RFC 9051 §6.3.6)
    uidv = c.ok("STATUS INBOX (UIDVALIDITY)")[0]
    c.ok("RENAME INBOX Old")
    assert c.ok('LIST "" "Old"') == ['* LIST (\\HasNoChildren) "/" Old']
    assert c.ok("STATUS Old (UIDVALIDITY)")[0].split()[-1] == \
        uidv.split()[-1]
    assert c.ok("STATUS INBOX (MESSAGES)") == [
        "* STATUS INBOX (MESSAGES 0)"]


def test_subscribe(raw):
    c = raw("u6")
    assert c.cmd("SUBSCRIBE nosuch")[1].startswith("NO [NONEXISTENT]")
    c.ok("UNSUBSCRIBE nosuch")
    c.ok("CREATE top/mid/leaf")
    c.ok("SUBSCRIBE top/mid/leaf")
    c.ok("SUBSCRIBE top/mid/leaf")
    assert c.ok('LSUB "top/" "*"') == ['* LSUB () "/" top/mid/leaf']
    # RFC 3501 §6.3.9: a parent of a subscribed name "%" hides
    assert c.ok('LSUB "" "top/%"') == ['* LSUB (\\Noselect) "/" top/mid']
    assert c.ok('LSUB "" ""') == ['* LSUB (\\Noselect) "/" ""']
    c.ok("UNSUBSCRIBE top/mid/leaf")
    assert c.ok('LSUB "" "top*"') == []
    assert c.cmd("SUBSCRIBE")[1].startswith("BAD")
    assert c.cmd("LSUB foo")[1].startswith("BAD")


def test_list_basics(raw):
    c = raw("u7")
    # RFC 9051 §6.3.9: the delimiter and the root
    assert c.ok('LIST "" ""') == ['* LIST (\\Noselect) "/" ""']
    assert c.ok('LIST "Sent" ""') == ['* LIST (\\Noselect) "/" ""']
    c.ok("CREATE Sent/March2004")
    c.ok("CREATE Sent/August2004")
    c.ok("CREATE Sent/Old/2001")
    # the reference is prepended; '%' stops at the separator
    assert c.ok('LIST "Sent/" "%"') == [
        '* LIST (\\HasNoChildren) "/" Sent/August2004',
        '* LIST (\\HasNoChildren) "/" Sent/March2004',
        '* LIST (\\HasChildren) "/" Sent/Old']
    assert c.ok('LIST "" "inbox"') == ['* LIST (\\HasNoChildren) "/" INBOX']
    # RFC 5258 example 7: several patterns, one response per name
    assert c.ok('LIST "" ("INBOX" "Drafts" "Sent/%" "Sent/*")') == [
        '* LIST () "/" INBOX',
        '* LIST () "/" Drafts',
        '* LIST () "/" Sent/August2004',
        '* LIST () "/" Sent/March2004',
        '* LIST () "/" Sent/Old',
        '* LIST () "/" Sent/Old/2001']
    assert c.ok('LIST () "" "Sent" RETURN (CHILDREN)') == [
        '* LIST (\\HasChildren) "/" Sent']
    assert c.ok('LIST (REMOTE) "" "Sent" RETURN (SUBSCRIBED)') == [
        '* LIST (\\Subscribed) "/" Sent']
    for bad in ('LIST', 'LIST ""', 'LIST (RECURSIVEMATCH) "" "*"',
                'LIST (REMOTE RECURSIVEMATCH) "" "*"',
                'LIST (BOGUS) "" "*"', 'LIST "" "*" RETURN (BOGUS)',
                'LIST "" "*" RETURN', 'LIST "" "*" FOO (CHILDREN)',
                'LIST "" ()', 'LIST "" "*" RETURN (STATUS)',
                'LIST "" "*" RETURN (STATUS ())',
                'LIST "" "*" RETURN (STATUS (BOGUS))'):
        assert c.cmd(bad)[1].startswith("BAD"), bad
    m = login(c_server(c), "u7")
    typ, data = m.list('""', "Sent/%")
    assert typ == "OK" and len(data) == 3
    m.logout()


def test_list_extended_rfc5258_example9(raw):
    c = raw("u8")
    for name in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22",
                 "baz2/bar222", "eps2/mamba", "qux2/bar2"):
        c.ok("CREATE " + name)
    for name in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22",
                 "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2"):
        c.ok("SUBSCRIBE " + name)
    # qux2 exists here (parents are created), but only as \Noselect
    c.ok("DELETE qux2")
    assert sorted(c.ok('LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"')) == \
        sorted([
            '* LIST () "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))',
            '* LIST (\\Subscribed) "/" foo2/bar2',
            '* LIST (\\Subscribed) "/" baz2/bar2',
            '* LIST (\\Subscribed) "/" baz2/bar22',
            '* LIST (\\Subscribed) "/" baz2/bar222',
            '* LIST (\\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))',
            '* LIST (\\Subscribed) "/" qux2/bar2'])
    # example 8 A2-like: a parent that is only a subscription's parent
    c.ok("UNSUBSCRIBE qux2/bar2")
    c.ok("DELETE qux2/bar2")
    c.ok("SUBSCRIBE foo2")
    c.ok("DELETE foo2/bar1")
    c.ok("DELETE foo2/bar2")
    c.ok("DELETE foo2")
    assert c.ok('LIST "" "qux2*"') == []
    assert c.ok('LIST (SUBSCRIBED) "" "foo2*"') == [
        '* LIST (\\Subscribed \\NonExistent) "/" foo2',
        '* LIST (\\Subscribed \\NonExistent) "/" foo2/bar1',
        '* LIST (\\Subscribed \\NonExistent) "/" foo2/bar2']
    c.ok("UNSUBSCRIBE foo2")
    assert c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "foo%"') == [
        '* LIST (\\NonExistent) "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))']
    # example 10 a3: CHILDINFO without \HasChildren
    assert c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" foo2 '
                'RETURN (CHILDREN)') == [
        '* LIST (\\HasNoChildren \\NonExistent) "/" foo2 '
        '("CHILDINFO" ("SUBSCRIBED"))']
    # SPECIAL-USE with RECURSIVEMATCH
    c.ok("CREATE box/Spam (USE (\\Junk))")
    assert c.ok('LIST (SPECIAL-USE RECURSIVEMATCH) "" "box"') == [
        '* LIST () "/" box ("CHILDINFO" ("SPECIAL-USE"))']


def test_list_status(raw):
    c = raw("u9")
    c.ok("CREATE ls/a")
    c.ok("DELETE ls")
    assert c.ok('LIST "" "ls*" RETURN (STATUS (MESSAGES UIDNEXT SIZE '
                'UNSEEN))') == [
        '* LIST (\\Noselect) "/" ls',
        '* LIST () "/" ls/a',
        '* STATUS ls/a (MESSAGES 0 UIDNEXT 1 UNSEEN 0 SIZE 0)']


def test_status(raw):
    c = raw("u10")
    c.ok("CREATE blurdybloop")
    # RFC 9051 §6.3.11's example, in its order
    assert c.ok("STATUS blurdybloop (UIDNEXT MESSAGES)") == [
        "* STATUS blurdybloop (MESSAGES 0 UIDNEXT 1)"]
    line = c.ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN "
                "DELETED SIZE HIGHESTMODSEQ APPENDLIMIT messages)")[0]
    words = line[len("* STATUS INBOX ("):-1].split()
    items = dict(zip(words[::2], words[1::2]))
    assert list(items) == ["MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
                           "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ",
                           "APPENDLIMIT"]
    assert items["MESSAGES"] == "0" and items["SIZE"] == "0"
    assert int(items["UIDVALIDITY"]) > 0
    assert int(items["APPENDLIMIT"]) > 0
    assert c.cmd("STATUS nosuch (MESSAGES)")[1].startswith("NO [NONEXISTENT]")
    c.ok("CREATE ns/child")
    c.ok("DELETE ns")
    assert c.cmd("STATUS ns (MESSAGES)")[1].startswith("NO [NONEXISTENT]")
    for bad in ("STATUS INBOX", "STATUS INBOX ()", "STATUS INBOX (BOGUS)",
                "STATUS INBOX MESSAGES", "STATUS INBOX (MESSAGES) x",
                "STATUS (MESSAGES)"):
        assert c.cmd(bad)[1].startswith("BAD"), bad
    m = login(c_server(c), "u10")
    typ, data = m.status("blurdybloop", "(MESSAGES SIZE)")
    assert typ == "OK" and data == [b"blurdybloop (MESSAGES 0 SIZE 0)"]
    m.logout()


def test_two_sessions(raw):
    a = raw("u11")
    b = raw("u11")
    a.ok("CREATE shared")
    assert b.ok('LIST "" shared') == ['* LIST (\\HasNoChildren) "/" shared']
    b.ok("SUBSCRIBE shared")
    assert a.ok('LSUB "" shared') == ['* LSUB () "/" shared']
    b.ok("DELETE shared")
    assert a.ok('LIST "" shared') == []
    assert a.cmd("SELECT shared")[1].startswith("NO")
    a.ok("CREATE shared/x")
    b.ok("RENAME shared moved")
    assert a.ok('LIST "" "moved*"') == [
        '* LIST (\\HasChildren) "/" moved',
        '* LIST (\\HasNoChildren) "/" moved/x']


def test_many_mailboxes_back_pressure(raw):
    c = raw("u12")
    for i in range(300):
        c.send(("c%d CREATE \"many/box %04d with a longer name\"\r\n"
                   % (i, i)).encode())
    for i in range(300):
        assert c.f.readline().startswith(b"c%d OK" % i)
    # pipelined LISTs: each answer complete and in order
    for i in range(20):
        c.send(b'l%d LIST "" "many/*" RETURN (STATUS (MESSAGES))\r\n' % i)
    for i in range(20):
        n = 0
        while True:
            line = c.f.readline()
            if line.startswith(b"l%d " % i):
                assert line.startswith(b"l%d OK" % i)
                break
            n += 1
        assert n == 600
