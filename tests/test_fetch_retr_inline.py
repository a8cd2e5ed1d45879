"""FETCH BODY[] and RETR on their fast paths (the record the command
already has, blob reads done inline when the data is cached, RETR written
whole inside the command up to 256 KiB, streamed beyond): messages stored
with bare LFs come out CRLF with the right literal length and octet
count, across the blob's first 32 KiB chunk and the inline limit,
pipelined; a message another session expunged (its blob purged) is
-ERR / NO [EXPUNGEISSUED], never a broken reply or a disconnect.
Messages go in with a raw APPEND, so that their bare LFs are kept
(smtplib and imaplib would turn them into CRLF)."""
from conftest import server_fixture
from rawclient import ImapConn
from test_pop3 import PASSWORD, Raw, start, stop

server = server_fixture(start, stop)


class Imap(ImapConn):
    def __init__(self, port):
        super().__init__(port, timeout=30)

    def cmd(self, text, literal=None):
        """Send a command (with one synchronizing literal if given);
        returns the raw response bytes up to and including the tagged
        line, and the tagged line."""
        tag = self.next_tag()
        if literal is None:
            self.send(tag + b" " + text + b"\r\n")
        else:
            self.send(tag + b" " + text + b" {%d}\r\n" % len(literal))
            assert self.readline().startswith(b"+")
            self.send(literal + b"\r\n")
        untagged, tagged = self.read_tagged(tag)
        tagged = tag + b" " + tagged
        return b"".join(r + b"\r\n" for r in untagged + [tagged]), tagged

    def ok(self, text, literal=None):
        out, tagged = self.cmd(text, literal)
        assert b" OK " in tagged, out
        return out


def login(port):
    i = Imap(port)
    i.ok(b"LOGIN alice@example.com \"%s\"" % PASSWORD.encode())
    return i


def crlf(body):
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def lf_message(subject, size):
    """A bare-LF message of about size bytes with lines starting with a
    dot (POP3 stuffs those)."""
    head = b"From: a@b.test\nSubject: %s\n\n" % subject.encode()
    line = b".dot line 0123456789 abcdefghijklmnopqrstuvwxyz\n"
    return head + line * (size // len(line) + 1) + b"end\n"


def messages():
    return [
        lf_message("small lf", 300),
        lf_message("over one chunk", 40 * 1024),
        crlf(lf_message("crlf past the inline limit", 300 * 1024)),
        lf_message("lf past the inline limit", 300 * 1024),
        b"",
    ]


def append_all(server, msgs):
    i = login(server.imap_port)
    for m in msgs:
        if m:
            i.ok(b"APPEND INBOX", m)
    return i


def test_fetch_body_crlf_sizes(server):
    msgs = [m for m in messages() if m]
    i = append_all(server, msgs)
    i.ok(b"SELECT INBOX")
    for n, m in enumerate(msgs, 1):
        want = crlf(m)
        out = i.ok(b"FETCH %d (RFC822.SIZE BODY.PEEK[])" % n)
        assert b"RFC822.SIZE %d " % len(want) in out
        assert b"BODY[] {%d}\r\n" % len(want) + want + b")\r\n" in out
        # a partial that starts inside the message and crosses a chunk
        out = i.ok(b"FETCH %d (BODY.PEEK[]<100.40000>)" % n)
        part = want[100:40100]
        assert b"BODY[]<100> {%d}\r\n" % len(part) + part + b")\r\n" in out
    # every message at once, and a header field from the batch's cache
    out = i.ok(b"FETCH 1:* (BODY.PEEK[] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for m in msgs:
        assert crlf(m) in out
    assert out.count(b"BODY[HEADER.FIELDS (SUBJECT)] {") == len(msgs)
    assert b"Subject: crlf past the inline limit\r\n\r\n" in out
    i.ok(b"LOGOUT")


def unstuff(lines):
    return b"".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


def test_retr_crlf_sizes_pipelined(server):
    msgs = [m for m in messages() if m]
    append_all(server, msgs).ok(b"LOGOUT")
    r = Raw(server.pop3_port)
    r.login()
    # every command in one write: inline replies and streamed ones must
    # come out in order
    r.send("".join("RETR %d\r\n" % n for n in range(1, len(msgs) + 1))
           + "TOP 2 1\r\nRETR 1\r\nQUIT\r\n")
    for m in msgs:
        want = crlf(m)
        assert r.line() == "+OK %d octets" % len(want)
        assert unstuff(r.multi()) == want
    assert r.line() == "+OK"
    assert r.multi() == [b"From: a@b.test\r\n",
                         b"Subject: over one chunk\r\n", b"\r\n",
                         b"..dot line 0123456789 abcdefghijklmnopqrstuvwxyz"
                         b"\r\n"]
    assert r.line() == "+OK %d octets" % len(crlf(msgs[0]))
    assert unstuff(r.multi()) == crlf(msgs[0])
    assert r.line().startswith("+OK Logging out")
    assert r.f.readline() == b""


def test_retr_and_fetch_after_expunge_elsewhere(server):
    msgs = [lf_message("one", 300), lf_message("two", 300)]
    i = append_all(server, msgs)
    i.ok(b"SELECT INBOX")
    r = Raw(server.pop3_port)
    r.login()
    assert r.cmd("STAT").startswith("+OK 2 ")
    # another IMAP session expunges message 1: its blob is deleted
    j = login(server.imap_port)
    j.ok(b"SELECT INBOX")
    j.ok(b"STORE 1 +FLAGS (\\Deleted)")
    j.ok(b"EXPUNGE")
    j.ok(b"LOGOUT")
    assert r.cmd("RETR 1") == "-ERR Message was expunged by another session."
    assert r.cmd("RETR 2") == "+OK %d octets" % len(crlf(msgs[1]))
    assert unstuff(r.multi()) == crlf(msgs[1])
    assert r.cmd("QUIT").startswith("+OK")
    # the first session still has message 1 in its view
    out, tagged = i.cmd(b"FETCH 1:2 (BODY.PEEK[])")
    assert tagged.split()[1:3] == [b"NO", b"[EXPUNGEISSUED]"], out
    assert crlf(msgs[1]) in out
    i.ok(b"NOOP")
    i.ok(b"LOGOUT")
