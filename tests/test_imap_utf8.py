"""UTF8=ACCEPT (RFC 6855): ENABLE, UTF-8 quoted strings, mailbox names in
UTF-8 in every command and response of a session that enabled it (and in
modified UTF-7 for one that did not: the same mailboxes, both ways;
UTF-8 for an IMAP4rev2 session),
APPEND's UTF8 (~{n}) data item and CATENATE part, SEARCH without CHARSET
and the BAD for a conflicting CHARSET (§3), forbidden characters in names.
A raw socket client: imaplib cannot send UTF-8 quoted strings."""
import re
import socket

import pytest

from conftest import LOG_CRASH_OR_SANITIZER, serve_in_tempdir, start_with_users
from rawclient import LITERAL, ImapConn

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
    yield from serve_in_tempdir(
        "columba-utf8-",
        lambda tmpdir: start_with_users(
            tmpdir, {"u%d" % i: "pw" for i in range(1, 9)},
            mail_home="%Lu", config="imap_utf8_accept = yes\n"),
        LOG_CRASH_OR_SANITIZER)


class Client(ImapConn):
    """Raw IMAP over TCP, logged in (and UTF8=ACCEPT enabled unless
    utf8=False): cmd() sends bytes and returns (untagged responses with
    their literals inlined, tagged text), as bytes."""

    def __init__(self, port, user, utf8=True):
        super().__init__(port)
        _, t = self.command(b"LOGIN %s pw" % user.encode())
        assert t.startswith(b"OK"), t
        if utf8:
            u, t = self.cmd(b"ENABLE UTF8=ACCEPT")
            assert u == [b"* ENABLED UTF8=ACCEPT"] and t.startswith(b"OK"), u

    def read_response(self):
        """The response with its literals inlined after "{}"; what was
        not in a literal is kept in self.outside (to check that no 8-bit
        byte is outside a literal)."""
        parts = self.response_parts()
        lines, literals = parts[0::2], parts[1::2]
        self.outside = b"".join(lines)
        out = b""
        for line, literal in zip(lines, literals):
            out += line[:LITERAL.search(line).start()] + b"{}" + literal
        return out + lines[-1]

    def finish(self, tag):
        return self.read_tagged(tag, read=self.read_response)

    def cmd(self, line, parts=()):
        """line, then for each part of parts a synchronizing literal's
        continuation is awaited and the part sent (each part ends the
        line: the last one the command, the others a "{n}" line)."""
        tag = self.next_tag()
        self.send(tag + b" " + line + b"\r\n")
        for part in parts:
            cont = self.readline()
            if not cont.startswith(b"+"):
                return [], cont[len(tag) + 1:]
            self.send(part + b"\r\n")
        return self.finish(tag)

    def ok(self, line, parts=()):
        u, t = self.cmd(line, parts)
        assert t.startswith(b"OK"), (line, u, t)
        return u

    def close(self):
        self.cmd(b"LOGOUT")
        super().close()


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
    assert c.ok(b"SEARCH SUBJECT plain") == [b"* SEARCH 3"]
    # §3: the client MUST NOT send a CHARSET after ENABLE UTF8=ACCEPT,
    # the server SHOULD answer BAD: any CHARSET, UTF-8 too
    for cs in (b"UTF-8", b"US-ASCII", b"ISO-8859-1", b"X-UNKNOWN",
               b"windows-1252"):
        _, t = c.cmd(b"SEARCH CHARSET " + cs + b" SUBJECT plain")
        assert t.startswith(b"BAD") and b"CHARSET" in t, (cs, t)
        _, t = c.cmd(b"UID SEARCH RETURN (COUNT) CHARSET " + cs + b" ALL")
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
    # RFC 6855 §4: a plain APPEND with 8-bit bytes in the header is NO
    # for a client that did not enable UTF8=ACCEPT, whatever the literal
    # form; the session goes on
    _, t = legacy.cmd(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    assert t.startswith(b"NO [CANNOT]") and b"UTF8=ACCEPT" in t, t
    _, t = legacy.cmd(b"APPEND INBOX {%d}" % len(MSG), [MSG])
    assert t.startswith(b"NO [CANNOT]"), t
    _, t = legacy.cmd(b"APPEND INBOX ~{%d+}\r\n" % len(MSG) + MSG)
    assert t.startswith(b"NO [CANNOT]"), t
    latin1 = b"Subject: Gr\xfc\xdfe\r\n\r\nx\r\n"    # legacy 8-bit
    _, t = legacy.cmd(b"APPEND INBOX {%d+}\r\n" % len(latin1) + latin1)
    assert t.startswith(b"NO [CANNOT]"), t
    # a bare-LF header, the 8-bit byte in its last line
    lf = b"From: a@b\nSubject: \xc3\xa4\n\nbody\n"
    _, t = legacy.cmd(b"APPEND INBOX {%d+}\r\n" % len(lf) + lf)
    assert t.startswith(b"NO [CANNOT]"), t
    # MULTIAPPEND: all or nothing, the first message was fine
    ok_msg = b"Subject: fine\r\n\r\nx\r\n"
    _, t = legacy.cmd(b"APPEND INBOX {%d+}\r\n" % len(ok_msg) + ok_msg +
                      b" {%d+}\r\n" % len(MSG) + MSG)
    assert t.startswith(b"NO [CANNOT]"), t
    # CATENATE: the header assembled from TEXT parts is checked too
    _, t = legacy.cmd(b"APPEND INBOX CATENATE (TEXT {9+}\r\nSubject: "
                      b" TEXT {%d+}\r\n" % len(SUBJECT.encode() + b"\r\n\r\nx")
                      + SUBJECT.encode() + b"\r\n\r\nx)")
    assert t.startswith(b"NO [CANNOT]"), t
    assert c.ok(b"STATUS INBOX (MESSAGES)") == \
        [b"* STATUS INBOX (MESSAGES 0)"]
    # 8-bit in the body only is fine (RFC 6855 speaks of header fields),
    # even right after the empty line, and with a bare-LF header
    body8 = (b"Subject: ascii\r\nContent-Type: text/plain; charset=utf-8"
             b"\r\n\r\n\xc3\xa4\xc3\xb6\r\n")
    legacy.ok(b"APPEND INBOX {%d+}\r\n" % len(body8) + body8)
    legacy.ok(b"APPEND INBOX {%d}" % len(body8), [body8])
    lf_body8 = b"Subject: x\n\n\xc3\xa4\n"
    legacy.ok(b"APPEND INBOX {%d+}\r\n" % len(lf_body8) + lf_body8)
    legacy.ok(b"NOOP")
    legacy.close()
    assert c.ok(b"STATUS INBOX (MESSAGES)") == \
        [b"* STATUS INBOX (MESSAGES 3)"]
    # the enabled client may still send a plain literal with 8-bit
    # headers (the MUST binds the client; the NO is for legacy clients)
    c.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    # an IMAP4rev2 session may: RFC 9051 §6.3.12 takes RFC 6532 messages
    rev2 = Client(server.imap_port, "u5", utf8=False)
    assert rev2.ok(b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    rev2.ok(b"APPEND INBOX {%d+}\r\n" % len(MSG) + MSG)
    rev2.close()
    assert c.ok(b"STATUS INBOX (MESSAGES)") == \
        [b"* STATUS INBOX (MESSAGES 5)"]
    c.close()


def test_utf8_accept_is_opt_in(tmpdir_columba):
    """Without imap_utf8_accept = yes, UTF8=ACCEPT is neither advertised
    nor enabled (RFC 5161: ENABLE of an unadvertised extension is
    ignored), while IMAP4rev2 sessions still get UTF-8 names."""
    srv = start_with_users(str(tmpdir_columba), {"u1": "pw"})
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


NFD = "Entwu\u0308rfe/Cafe\u0301"          # decomposed
NFC = "Entw\u00fcrfe/Caf\u00e9"             # composed


def test_names_normalized_to_nfc(server):
    """RFC 6855 §3 / RFC 5198 / RFC 9051 §5.1: a UTF-8 name is stored in
    NFC; the decomposed and the composed form name one mailbox."""
    assert NFD != NFC and NFD.encode() != NFC.encode()
    c = Client(server.imap_port, "u6")
    c.ok(b"CREATE " + q(NFD))
    names = list_names(c.ok(b'LIST "" "*"'))
    assert NFC.encode() in names and "Entwürfe".encode() in names, names
    assert NFD.encode() not in names, names
    # the other form is the same mailbox
    _, t = c.cmd(b"CREATE " + q(NFC))
    assert t.startswith(b"NO"), t
    for form in (NFD, NFC):
        u = c.ok(b"SELECT " + q(form))
        assert any(r.startswith(b"* OK [UIDVALIDITY ") for r in u), u
        c.ok(b"UNSELECT")
        assert c.ok(b"STATUS " + q(form) + b" (MESSAGES)") == \
            [('* STATUS "%s" (MESSAGES 0)' % NFC).encode()]
        assert list_names(c.ok(b'LIST "" ' + q(form))) == [NFC.encode()]
    # a pattern in NFD matches the NFC name
    assert list_names(c.ok(b'LIST "" ' + q("Entwu\u0308rfe/*"))) == \
        [NFC.encode()]
    # APPEND and a literal name in NFD
    msg = b"Subject: nfc\r\n\r\nx\r\n"
    c.ok(b"APPEND " + q(NFD) + b" {%d+}\r\n" % len(msg) + msg)
    nfd_lit = NFD.encode()
    c.ok(b"APPEND {%d+}\r\n" % len(nfd_lit) + nfd_lit +
         b" {%d+}\r\n" % len(msg) + msg)
    assert c.ok(b"STATUS " + q(NFC) + b" (MESSAGES)") == \
        [('* STATUS "%s" (MESSAGES 2)' % NFC).encode()]
    # RENAME from and to decomposed names
    c.ok(b"RENAME " + q(NFD) + b" " + q("Entwu\u0308rfe/Re\u0301sume\u0301"))
    assert list_names(c.ok(b'LIST "" ' + q("Entwürfe/*"))) == \
        ["Entwürfe/Résumé".encode()]
    # a legacy client's mUTF-7 name in NFD lands on the NFC mailbox too
    legacy = Client(server.imap_port, "u6", utf8=False)
    names = list_names(legacy.ok(b'LIST "" "*"'))
    assert b"Entw&APw-rfe/R&AOk-sum&AOk-" in names, names
    # "e" U+0301 in mUTF-7 ("&AwE-")
    legacy.ok(b'STATUS "Entw&APw-rfe/Re&AwE-sume&AwE-" (MESSAGES)')
    legacy.ok(b'CREATE "Nai&AwE-ve"')
    assert list_names(legacy.ok(b'LIST "" "Na*"')) == [b"Na&AO0-ve"]
    legacy.close()
    assert list_names(c.ok(b'LIST "" "Na*"')) == ["Naíve".encode()]
    # Hangul jamo compose to one syllable
    c.ok(b"CREATE " + q("\u1112\u1161\u11ab"))
    assert list_names(c.ok(b'LIST "" ' + q("\ud55c"))) == ["\ud55c".encode()]
    c.close()


def test_malformed_utf8_is_bad(server):
    """RFC 6855 §3: malformed UTF-8 is BAD, quoted or as a literal, in
    every command that takes a name; the session goes on."""
    c = Client(server.imap_port, "u7")
    c.ok(b"CREATE ok")
    c.close()
    bad = [b"\xc3(", b"a\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
           b"\xe2\x82"]
    for b in bad:
        # a session per sequence: 20 BADs end a session
        c = Client(server.imap_port, "u7")
        c.ok(b"SELECT ok")
        for cmd in (b"CREATE %s", b"SELECT %s", b"EXAMINE %s",
                    b"STATUS %s (MESSAGES)", b"RENAME ok %s",
                    b"LIST \"\" %s", b"DELETE %s", b"SUBSCRIBE %s"):
            _, t = c.cmd(cmd.replace(b"%s", b'"' + b + b'"'))
            assert t.startswith(b"BAD"), (cmd, b, t)
        for cmd in (b"CREATE", b"SELECT", b"EXAMINE", b"STATUS", b"DELETE",
                    b"SUBSCRIBE", b"UNSUBSCRIBE"):
            extra = b" (MESSAGES)" if cmd == b"STATUS" else b""
            _, t = c.cmd(b"%s {%d+}\r\n" % (cmd, len(b)) + b + extra)
            assert t.startswith(b"BAD"), (cmd, b, t)
        _, t = c.cmd(b"RENAME ok {%d+}\r\n" % len(b) + b)
        assert t.startswith(b"BAD"), (b, t)
        _, t = c.cmd(b"APPEND {%d+}\r\n" % len(b) + b + b" {3+}\r\nx\r\n")
        assert t.startswith(b"BAD"), (b, t)
        # a BAD SELECT left the mailbox selected (CHECK needs one)
        c.ok(b"CHECK")
        c.close()
    c = Client(server.imap_port, "u7")
    # ASCII controls and DEL are refused (NO: valid UTF-8, not a name)
    for b in (b"a\tb", b"a\x7fb", b"a\x01b"):
        _, t = c.cmd(b"CREATE {%d+}\r\n" % len(b) + b)
        assert t.startswith(b"NO"), (b, t)
    # an 8-bit atom is BAD too (atoms are ASCII even with UTF8=ACCEPT)
    _, t = c.cmd(b"CREATE \xc3\xa4")
    assert t.startswith(b"BAD"), t
    c.ok(b"NOOP")
    c.close()


def test_imap4rev2_normalization_oldname(server):
    """RFC 9051 §5.1 and §6.3.9.7: a rev2 session's denormalized name is
    accepted, normalized, and reported with LIST ... OLDNAME."""
    c = Client(server.imap_port, "u8", utf8=False)
    assert c.ok(b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    nfd, nfc = "Cafe\u0301", "Caf\u00e9"
    u = c.ok(b"CREATE " + q(nfd))
    assert u == [('* LIST () "/" "%s" ("OLDNAME" ("%s"))'
                  % (nfc, nfd)).encode()], u
    # the normalized name: no OLDNAME
    assert c.ok(b"CREATE " + q(nfc + "/x")) == []
    u = c.ok(b"SELECT " + q(nfd))
    assert ('* LIST () "/" "%s" ("OLDNAME" ("%s"))' % (nfc, nfd)).encode() \
        in u, u
    u = c.ok(b"SELECT " + q(nfc))
    assert ('* LIST () "/" "%s"' % nfc).encode() in u, u
    c.ok(b"UNSELECT")
    msg = b"Subject: x\r\n\r\ny\r\n"
    u = c.ok(b"APPEND " + q(nfd) + b" {%d+}\r\n" % len(msg) + msg)
    assert u == [('* LIST () "/" "%s" ("OLDNAME" ("%s"))'
                  % (nfc, nfd)).encode()], u
    u = c.ok(b"RENAME " + q(nfd) + b" " + q("Re\u0301sume\u0301"))
    assert u == [('* LIST () "/" "R\u00e9sum\u00e9" ("OLDNAME" ("%s"))'
                  % nfd).encode()], u
    assert c.ok(b"RENAME " + q("R\u00e9sum\u00e9") + b" plain") == []
    # inbox in any case is not a different name
    assert not any(b"OLDNAME" in r for r in c.ok(b"SELECT inbox")), u
    c.close()
    # a rev1 UTF8=ACCEPT session normalizes without unsolicited LIST
    c = Client(server.imap_port, "u8")
    assert c.ok(b"CREATE " + q("Nai\u0308ve")) == []
    assert list_names(c.ok(b'LIST "" "Na*"')) == ["Na\u00efve".encode()]
    c.close()


def test_legacy_fetch_of_utf8_headers(server):
    """RFC 6855 §7/§8: a client that did not enable UTF8=ACCEPT gets a
    message with UTF-8 headers as stored (no downgrading: see
    docs/compatibility.md), but never UTF-8 in a quoted string: every
    8-bit byte is inside a literal."""
    c = Client(server.imap_port, "u8")
    c.ok(b"CREATE " + q("Ü8"))
    c.ok(b"APPEND " + q("Ü8") + b" UTF8 (~{%d+}\r\n" % len(MSG) + MSG + b")")
    c.close()
    legacy = Client(server.imap_port, "u8", utf8=False)
    legacy.ok(b'EXAMINE "&ANw-8"')
    for items in (b"ENVELOPE", b"BODYSTRUCTURE", b"BODY.PEEK[HEADER]",
                  b"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", b"PREVIEW",
                  b"BINARY.PEEK[]", b"BODY.PEEK[]"):
        tag = legacy.next_tag()
        legacy.send(tag + b" FETCH 1 (" + items + b")\r\n")
        resp = legacy.read_response()
        assert resp.startswith(b"* 1 FETCH"), (items, resp)
        assert max(legacy.outside) < 0x80, (items, legacy.outside)
        _, t = legacy.finish(tag)
        assert t.startswith(b"OK"), (items, t)
        if items == b"ENVELOPE":
            assert SUBJECT.encode() in resp, resp
        if items == b"BODY.PEEK[]":
            assert resp.endswith(b"{}" + MSG + b")"), resp
    legacy.close()


def test_literal_plus_not_literal_minus(server):
    """RFC 7888 §5: LITERAL+ and LITERAL- are never both advertised; with
    LITERAL+ a non-synchronizing literal of any size is accepted, in an
    IMAP4rev2 session too (RFC 9051 §4.3: the 4096-octet limit holds
    "unless otherwise specified in an IMAP extension")."""
    sock = socket.create_connection(("127.0.0.1", server.imap_port),
                                    timeout=20)
    f = sock.makefile("rb")
    greeting = f.readline()
    sock.sendall(b"a CAPABILITY\r\n")
    caps = f.readline().split()
    assert f.readline().startswith(b"a OK")
    sock.close()
    m = re.search(rb"\[CAPABILITY ([^\]]*)\]", greeting)
    if m:
        pre = m.group(1).split()
        assert b"LITERAL+" in pre and b"LITERAL-" not in pre, pre
    assert b"LITERAL+" in caps and b"LITERAL-" not in caps, caps
    c = Client(server.imap_port, "u8", utf8=False)
    u, t = c.cmd(b"CAPABILITY")
    caps = b" ".join(u).split()
    assert b"LITERAL+" in caps and b"LITERAL-" not in caps, caps
    assert c.ok(b"ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    big = b"Subject: big\r\n\r\n" + b"x" * 9000 + b"\r\n"
    assert len(big) > 4096
    c.ok(b"APPEND INBOX {%d+}\r\n" % len(big) + big)
    # and in a non-APPEND command
    c.ok(b"SELECT INBOX")
    word = b"y" * 5000
    c.ok(b"SEARCH BODY {%d+}\r\n" % len(word) + word)
    c.ok(b"NOOP")
    c.close()
