"""UTF8=ACCEPT (RFC 6855): ENABLE, UTF-8 quoted strings, mailbox names in
UTF-8 in every command and response of a session that enabled it (and in
modified UTF-7 for one that did not: the same mailboxes, both ways;
UTF-8 for an IMAP4rev2 session),
APPEND's UTF8 (~{n}) data item and CATENATE part, SEARCH without CHARSET
and the BAD for a conflicting CHARSET (§3), forbidden characters in names.
A raw socket client: imaplib cannot send UTF-8 quoted strings."""
import os
import re
import shutil
import socket
import tempfile

import pytest

from conftest import ColumbaServer

SUBJECT = "Grüße aus 日本"
MSG = ("From: Jörg <joerg@example.com>\r\n"
       "To: 花子 <hanako@example.jp>\r\n"
       "Subject: %s\r\n"
       "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\n"
       "Hallo Welt, schöne Grüße.\r\n" % SUBJECT).encode()


@pytest.fixture(scope="module")
def server():
    tmpdir = tempfile.mkdtemp(prefix="columba-utf8-")
    users = os.path.join(tmpdir, "users")
    home = os.path.join(tmpdir, "home")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    with open(users, "w") as f:
        for u in ("u1", "u2", "u3", "u4", "u5"):
            f.write("%s:{PLAIN}pw::::%s/%s::\n" % (u, home, u))
    os.chmod(users, 0o644)
    config = ("auth_failure_delay = 0\n"
              "imap_utf8_accept = yes\n"
              "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "mail_home = %s/%%Lu\n" % (users, users, home))
    srv = ColumbaServer(tmpdir, extra_config=config).start()
    yield srv
    rc = srv.stop()
    log = srv.log()
    assert "Panic:" not in log and "Fatal:" not in log, log
    assert "runtime error" not in log and "AddressSanitizer" not in log, log
    assert rc == 0, log
    shutil.rmtree(tmpdir, ignore_errors=True)


class Client:
    """Raw IMAP over TCP: cmd() sends bytes and returns (untagged
    responses with their literals inlined, tagged text), as bytes."""

    def __init__(self, port, user, utf8=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.f = self.sock.makefile("rb")
        self.n = 0
        assert self.f.readline().startswith(b"* OK")
        _, t = self.cmd(b"LOGIN %s pw" % user.encode())
        assert t.startswith(b"OK"), t
        if utf8:
            u, t = self.cmd(b"ENABLE UTF8=ACCEPT")
            assert u == [b"* ENABLED UTF8=ACCEPT"] and t.startswith(b"OK"), u

    def read_response(self):
        line = self.f.readline()
        assert line, "disconnected"
        out = b""
        while True:
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out + line.rstrip(b"\r\n")
            out += line[:m.start()] + b"{}" + self.f.read(int(m.group(1)))
            line = self.f.readline()

    def send(self, data):
        self.sock.sendall(data)

    def finish(self, tag):
        untagged = []
        while True:
            resp = self.read_response()
            if resp.startswith(tag + b" "):
                return untagged, resp[len(tag) + 1:]
            untagged.append(resp)

    def cmd(self, line, parts=()):
        """line, then for each part of parts a synchronizing literal's
        continuation is awaited and the part sent (each part ends the
        line: the last one the command, the others a "{n}" line)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + line + b"\r\n")
        for part in parts:
            cont = self.f.readline()
            if not cont.startswith(b"+"):
                return [], cont.rstrip(b"\r\n")[len(tag) + 1:]
            self.send(part + b"\r\n")
        return self.finish(tag)

    def ok(self, line, parts=()):
        u, t = self.cmd(line, parts)
        assert t.startswith(b"OK"), (line, u, t)
        return u

    def close(self):
        self.cmd(b"LOGOUT")
        self.sock.close()


def q(s):
    return b'"' + s.encode() + b'"'


def list_names(untagged):
    names = []
    for r in untagged:
        m = re.match(rb'\* LIST \([^)]*\) (?:"/"|NIL) (.*)$', r)
        if m:
            n = m.group(1)
            names.append(n[1:-1] if n.startswith(b'"') else n)
    return names


def test_mailbox_names_utf8_and_legacy(server):
    c = Client(server.imap_port, "u1")
    c.ok(b"CREATE " + q("Entwürfe"))
    c.ok(b"CREATE " + q("日本語/子"))
    names = list_names(c.ok(b'LIST "" "*"'))
    assert "Entwürfe".encode() in names and "日本語/子".encode() in names
    assert "日本語".encode() in names, names
    assert not any(b"&" in n for n in names), names
    # a UTF-8 pattern and reference
    assert list_names(c.ok(b'LIST "" ' + q("日本*"))) == \
        ["日本語".encode(), "日本語/子".encode()]
    assert list_names(c.ok(b"LIST " + q("日本語/") + b' "%"')) == \
        ["日本語/子".encode()]
    u = c.ok(b"SELECT " + q("日本語/子"))
    assert any(r.startswith(b"* OK [UIDVALIDITY ") for r in u), u
    c.ok(b"UNSELECT")
    u = c.ok(b"STATUS " + q("Entwürfe") + b" (MESSAGES UIDNEXT)")
    assert u == [("* STATUS \"Entwürfe\" (MESSAGES 0 UIDNEXT 1)").encode()]
    # LIST-STATUS names the mailbox in UTF-8 too
    u = c.ok(b'LIST "" ' + q("Entw*") + b" RETURN (STATUS (MESSAGES))")
    assert ("* STATUS \"Entwürfe\" (MESSAGES 0)").encode() in u, u
    # a name sent as a literal
    c.ok(b"CREATE {%d}" % len("Übung".encode()), ["Übung".encode()])
    c.ok(b"RENAME " + q("Übung") + b" " + q("Übungen"))
    assert list_names(c.ok(b'LIST "" ' + q("Übung*"))) == \
        ["Übungen".encode()]
    c.ok(b"CREATE " + q("Übungen/Ärger"))
    c.ok(b"SUBSCRIBE " + q("Übungen/Ärger"))
    assert list_names([r.replace(b"* LSUB", b"* LIST") for r in
                       c.ok(b'LSUB "" ' + q("Übungen/*"))]) == \
        ["Übungen/Ärger".encode()]
    # mUTF-7 is not decoded for a UTF-8 client: "&AOQ-" is just a name
    c.ok(b'CREATE "&AOQ-"')
    assert list_names(c.ok(b'LIST "" "&*"')) == [b"&AOQ-"]

    # a client that did not enable UTF8=ACCEPT sees modified UTF-7
    legacy = Client(server.imap_port, "u1", utf8=False)
    names = list_names(legacy.ok(b'LIST "" "*"'))
    assert b"Entw&APw-rfe" in names, names
    assert b"&ZeVnLIqe-/&W1A-" in names, names
    assert b"&-AOQ-" in names, names
    assert all(max(n) < 0x80 for n in names), names
    legacy.ok(b"SELECT &ZeVnLIqe-/&W1A-")
    legacy.ok(b"UNSELECT")
    u = legacy.ok(b'STATUS "Entw&APw-rfe" (MESSAGES)')
    assert u == [b'* STATUS Entw&APw-rfe (MESSAGES 0)'], u
    # a legacy client's mUTF-7 name appears in UTF-8 to the other
    legacy.ok(b'CREATE "Gr&APw-n"')
    assert list_names(c.ok(b'LIST "" "Gr*"')) == ["Grün".encode()]
    # and it may not send 8-bit in a quoted string, nor invalid mUTF-7
    _, t = legacy.cmd(b"CREATE " + q("Grün2"))
    assert t.startswith(b"BAD"), t
    _, t = legacy.cmd(b"CREATE {6}", ["Grün".encode()])
    assert t.startswith(b"NO") or t.startswith(b"BAD"), t
    _, t = legacy.cmd(b'SELECT "&Jjo"')
    assert t.startswith(b"NO") or t.startswith(b"BAD"), t
    legacy.ok(b"NOOP")
    legacy.close()

    # IMAP4rev2 names are UTF-8 too (RFC 9051 §5.1)
    rev2 = Client(server.imap_port, "u1", utf8=False)
    assert rev2.ok(b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    names = list_names(rev2.ok(b'LIST "" "*"'))
    assert "Entwürfe".encode() in names and b"&AOQ-" in names, names
    rev2.ok(b"CREATE " + q("Grün/rev2"))
    u = rev2.ok(b"SELECT " + q("Grün/rev2"))
    assert ('* LIST () "/" "Grün/rev2"').encode() in u, u
    rev2.close()

    c.ok(b"DELETE " + q("Übungen/Ärger"))
    assert list_names(c.ok(b'LIST "" ' + q("Übungen/*"))) == []
    c.close()


def test_enable_only_in_authenticated_state(server):
    c = Client(server.imap_port, "u2", utf8=False)
    c.ok(b"SELECT INBOX")
    u = c.ok(b"ENABLE UTF8=ACCEPT")
    assert u == [b"* ENABLED"], u
    _, t = c.cmd(b"CREATE " + q("Straße"))
    assert t.startswith(b"BAD"), t
    c.ok(b"UNSELECT")
    assert c.ok(b"ENABLE UTF8=ACCEPT") == [b"* ENABLED UTF8=ACCEPT"]
    assert c.ok(b"ENABLE UTF8=ACCEPT") == [b"* ENABLED"]
    c.ok(b"CREATE " + q("Straße"))
    c.close()


def test_bad_names_and_strings(server):
    c = Client(server.imap_port, "u3")
    # invalid UTF-8 in a quoted string: BAD, the session goes on
    _, t = c.cmd(b'CREATE "ab\xc3("')
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b'CREATE "\xed\xa0\x80x"')   # a surrogate
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b"CREATE {3}", [b"a\xff\xfe"])
    assert t.startswith(b"NO") or t.startswith(b"BAD"), t
    # RFC 6855 §3: no C1 controls, line or paragraph separators
    for bad in ("a\u2028b", "a\u2029b", "a\u0085b"):
        _, t = c.cmd(b"CREATE " + q(bad))
        assert t.startswith(b"NO"), (bad, t)
    legacy = Client(server.imap_port, "u3", utf8=False)
    for bad in (b"a&ICg-b", b"a&AIU-b"):    # U+2028, U+0085 in mUTF-7
        _, t = legacy.cmd(b'CREATE "%s"' % bad)
        assert t == b"NO [CANNOT] Mailbox name contains control or " \
            b"separator characters.", (bad, t)
    # a valid name in mUTF-7 is fine (the check is not too eager)
    legacy.ok(b'CREATE "a&ICY-b"')         # U+2026 HORIZONTAL ELLIPSIS
    legacy.close()
    assert list_names(c.ok(b'LIST "" "a*"')) == ["a…b".encode()]
    c.ok(b"NOOP")
    c.close()


def fetch_body(c, seq):
    u = c.ok(b"FETCH %d BODY.PEEK[]" % seq)
    m = re.match(rb"\* \d+ FETCH \(BODY\[\] \{\}(.*)\)$", u[0], re.S)
    assert m, u
    return m.group(1)


def test_append_utf8_and_search(server):
    c = Client(server.imap_port, "u4")
    box = q("Entwürfe")
    c.ok(b"CREATE " + box)
    # non-synchronizing literal8
    u, t = c.cmd(b"APPEND " + box + b" (\\Seen) UTF8 (~{%d+}\r\n" % len(MSG)
                 + MSG + b")")
    assert t.startswith(b"OK [APPENDUID "), (u, t)
    # synchronizing literal8, then MULTIAPPEND with a plain literal after
    plain = b"Subject: plain\r\n\r\nascii\r\n"
    u, t = c.cmd(b"APPEND " + box + b" UTF8 (~{%d}" % len(MSG),
                 [MSG + b") {%d}" % len(plain), plain])
    assert t.startswith(b"OK [APPENDUID ") and b":" in t, (u, t)
    # the mailbox name as a literal, then the UTF8 item
    name = "Entwürfe".encode()
    u, t = c.cmd(b"APPEND {%d}" % len(name),
                 [name + b" UTF8 (~{%d+}\r\n" % len(MSG) + MSG + b")"])
    assert t.startswith(b"OK [APPENDUID "), (u, t)
    c.ok(b"SELECT " + box)
    assert fetch_body(c, 4) == MSG
    c.ok(b"STORE 4 +FLAGS.SILENT (\\Deleted)")
    c.ok(b"EXPUNGE")
    c.ok(b"UNSELECT")
    # CATENATE with a UTF8 part
    part = ("Subject: %s\r\n\r\n" % SUBJECT).encode()
    u, t = c.cmd(b"APPEND " + box + b" CATENATE (UTF8 (~{%d+}\r\n"
                 % len(part) + part + b") TEXT {6+}\r\nTail\r\n)")
    assert t.startswith(b"OK [APPENDUID "), (u, t)

    u = c.ok(b"SELECT " + box)
    assert b"* 4 EXISTS" in u, u
    assert fetch_body(c, 1) == MSG
    assert fetch_body(c, 2) == MSG
    assert fetch_body(c, 3) == plain
    assert fetch_body(c, 4) == part + b"Tail\r\n"
    u = c.ok(b"FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"\\Seen" in u[0] and SUBJECT.encode() in u[0], u

    # SEARCH with UTF-8 quoted strings, no CHARSET
    assert c.ok(b"SEARCH SUBJECT " + q("Grüße")) == [b"* SEARCH 1 2 4"]
    assert c.ok(b"SEARCH SUBJECT " + q("日本")) == [b"* SEARCH 1 2 4"]
    assert c.ok(b"SEARCH FROM " + q("Jörg")) == [b"* SEARCH 1 2"]
    assert c.ok(b"SEARCH BODY " + q("schöne")) == [b"* SEARCH 1 2"]
    assert c.ok(b"UID SEARCH TO " + q("花子")) == [b"* SEARCH 1 2"]
    assert c.ok(b"SEARCH CHARSET UTF-8 SUBJECT " + q("Grüße")) == \
        [b"* SEARCH 1 2 4"]
    assert c.ok(b"SEARCH CHARSET US-ASCII SUBJECT plain") == [b"* SEARCH 3"]
    # §3: a conflicting CHARSET is BAD
    for cs in (b"ISO-8859-1", b"X-UNKNOWN", b"windows-1252"):
        _, t = c.cmd(b"SEARCH CHARSET " + cs + b" SUBJECT plain")
        assert t.startswith(b"BAD"), (cs, t)
    _, t = c.cmd(b'SEARCH SUBJECT "\xc3("')
    assert t.startswith(b"BAD"), t

    # COPY and MOVE to UTF-8 destinations
    c.ok(b"CREATE " + q("日本語"))
    u = c.ok(b"COPY 1:2 " + q("日本語"))
    u = c.ok(b"MOVE 3 " + q("日本語"))
    assert c.ok(b"STATUS " + q("日本語") + b" (MESSAGES)") == \
        [("* STATUS \"日本語\" (MESSAGES 3)").encode()]
    _, t = c.cmd(b"COPY 1 " + q("Nichtda-ü"))
    assert t.startswith(b"NO [TRYCREATE]"), t
    _, t = c.cmd(b"APPEND " + q("Nichtda-ü") + b" UTF8 (~{%d+}\r\n"
                 % len(MSG) + MSG + b")")
    assert t.startswith(b"NO [TRYCREATE]"), t

    # a legacy client reads the same messages through the mUTF-7 name
    legacy = Client(server.imap_port, "u4", utf8=False)
    legacy.ok(b"EXAMINE &ZeVnLIqe-")
    assert fetch_body(legacy, 1) == MSG
    # an 8-bit SEARCH string in a literal, CHARSET allowed for it
    u = legacy.ok(b"SEARCH CHARSET UTF-8 SUBJECT {%d}" % len(
        "Grüße".encode()), ["Grüße".encode()])
    assert u == [b"* SEARCH 1 2"], u
    u = legacy.ok(b"SEARCH CHARSET ISO-8859-1 SUBJECT {4}", [b"Gr\xfc\xdf"])
    assert u == [b"* SEARCH 1 2"], u
    legacy.close()
    c.close()


def test_append_utf8_errors(server):
    c = Client(server.imap_port, "u5")
    body = b"Subject: x\r\n\r\ny\r\n"
    # a plain literal is not a literal8
    _, t = c.cmd(b"APPEND INBOX UTF8 ({%d+}\r\n" % len(body) + body + b")")
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b"APPEND INBOX UTF8 ({%d}" % len(body), [body + b")"])
    assert t.startswith(b"BAD"), t
    # two literals, an atom, no list
    _, t = c.cmd(b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(body) + body +
                 b" ~{%d+}\r\n" % len(body) + body + b")")
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b"APPEND INBOX UTF8 (x)")
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b"APPEND INBOX UTF8 ~{%d+}\r\n" % len(body) + body)
    assert t.startswith(b"BAD"), t
    _, t = c.cmd(b"APPEND INBOX UTF8 (~{0+}\r\n)")
    assert t.startswith(b"NO"), t
    _, t = c.cmd(b"APPEND INBOX CATENATE (UTF8 ({%d+}\r\n" % len(body) +
                 body + b"))")
    assert t.startswith(b"BAD"), t
    # nothing of the failed commands was saved
    assert c.ok(b"STATUS INBOX (MESSAGES)") == \
        [b"* STATUS INBOX (MESSAGES 0)"]

    # without ENABLE UTF8=ACCEPT the UTF8 item is BAD
    legacy = Client(server.imap_port, "u5", utf8=False)
    _, t = legacy.cmd(b"APPEND INBOX UTF8 (~{%d+}\r\n" % len(body) + body
                      + b")")
    assert t.startswith(b"BAD"), t
    _, t = legacy.cmd(b"APPEND INBOX CATENATE (UTF8 (~{%d+}\r\n"
                      % len(body) + body + b"))")
    assert t.startswith(b"BAD"), t
    # a plain APPEND still works for it (8-bit headers are stored as sent)
    legacy.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    legacy.ok(b"NOOP")
    legacy.close()
    assert c.ok(b"STATUS INBOX (MESSAGES)") == \
        [b"* STATUS INBOX (MESSAGES 1)"]
    c.close()


def test_utf8_accept_is_opt_in(tmpdir_columba):
    """Without imap_utf8_accept = yes, UTF8=ACCEPT is neither advertised
    nor enabled (RFC 5161: ENABLE of an unadvertised extension is
    ignored), while IMAP4rev2 sessions still get UTF-8 names."""
    tmpdir = str(tmpdir_columba)
    users = os.path.join(tmpdir, "users")
    home = os.path.join(tmpdir, "home")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    with open(users, "w") as f:
        f.write("u1:{PLAIN}pw::::%s/u1::\n" % home)
    os.chmod(users, 0o644)
    config = ("auth_failure_delay = 0\n"
              "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
              % (users, users))
    srv = ColumbaServer(tmpdir, extra_config=config).start()
    try:
        c = Client(srv.imap_port, "u1", utf8=False)
        u, t = c.cmd(b"CAPABILITY")
        assert t.startswith(b"OK")
        caps = b" ".join(u).split()
        assert b"UTF8=ACCEPT" not in caps and b"IMAP4rev2" in caps, caps
        u, t = c.cmd(b"ENABLE UTF8=ACCEPT")
        assert u == [b"* ENABLED"] and t.startswith(b"OK"), (u, t)
        c.ok("CREATE \"Entw&APw-rfe\"".encode())
        u, t = c.cmd(b"ENABLE IMAP4rev2")
        assert u == [b"* ENABLED IMAP4rev2"], u
        u, t = c.cmd(b'LIST "" "Entw*"')
        assert any("Entwürfe".encode() in line for line in u), u
        c.close()
    finally:
        assert srv.stop() == 0, srv.log()
