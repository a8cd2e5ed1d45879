"""IMAP behaviours and extensions across sessions: IMAP4rev1 \\Recent
(RFC 3501 §2.3.2: exactly one session sees a new message as \\Recent, the
first to SELECT the mailbox, or to sync it while selected read-write,
after the message arrived; EXAMINE sees without claiming; IMAP4rev2
sessions neither see nor claim), QRESYNC resynchronisation (RFC 7162),
UTF8=ACCEPT (RFC 6855) and APPEND of messages with bare CRs compared
with Dovecot's bytes. Sessions are `columba imap -u USER` (PREAUTH)
from test_imap_session's server."""
import re
import shutil
import tempfile
import os

import pytest

from conftest import serve_in_tempdir
from test_imap_session import Server, append_message
from test_imap_session import USERS as SESSION_USERS

USERS = ["x%d@example.com" % i for i in range(1, 21)]
_users = iter(USERS)


def message(n, extra=b""):
    return (b"From: a@example.com\r\nSubject: ext %d\r\n"
            b"Message-ID: <x%d@example.com>\r\n%s\r\nBody %d\r\n"
            % (n, n, extra, n))


@pytest.fixture(scope="module")
def srv():
    # the session module's users as well as ours
    yield from serve_in_tempdir(
        "columba-ext-", lambda tmpdir: Server(tmpdir, SESSION_USERS + USERS),
        bad=("Panic:",))


@pytest.fixture
def user():
    return next(_users)


def append(c, n, box=b"INBOX"):
    return append_message(c, message(n), box)


def flags_of(untagged):
    """{seq: flags bytes} of FETCH responses."""
    out = {}
    for line in untagged:
        m = re.match(rb"\* (\d+) FETCH \(.*FLAGS \(([^)]*)\)", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


def search(c, cmd):
    untagged, _ = c.ok(cmd)
    line = [l for l in untagged if l.startswith(b"* SEARCH")][0]
    return [int(x) for x in line.split()[2:]]


def test_recent_one_session(srv, user):
    other = srv.preauth(user)
    append(other, 1)
    append(other, 2)
    examine = srv.preauth(user)
    a = srv.preauth(user)
    b = srv.preauth(user)
    try:
        # EXAMINE sees the unclaimed messages as recent, takes nothing
        untagged, _ = examine.ok(b"EXAMINE INBOX")
        assert b"* 2 RECENT" in untagged
        assert flags_of(examine.ok(b"FETCH 1:* FLAGS")[0]) == \
            {1: b"\\Recent", 2: b"\\Recent"}
        untagged, _ = other.ok(b"STATUS INBOX (RECENT MESSAGES)")
        assert b"* STATUS INBOX (MESSAGES 2 RECENT 2)" in untagged
        # the first SELECT claims both
        untagged, _ = a.ok(b"SELECT INBOX")
        assert b"* 2 EXISTS" in untagged and b"* 2 RECENT" in untagged
        untagged, _ = b.ok(b"SELECT INBOX")
        assert b"* 2 EXISTS" in untagged and b"* 0 RECENT" in untagged
        untagged, _ = other.ok(b"STATUS INBOX (RECENT)")
        assert b"* STATUS INBOX (RECENT 0)" in untagged
        # STATUS of the selected mailbox: this session's count
        untagged, _ = a.ok(b"STATUS INBOX (RECENT)")
        assert b"* STATUS INBOX (RECENT 2)" in untagged

        assert flags_of(a.ok(b"FETCH 1:* FLAGS")[0]) == \
            {1: b"\\Recent", 2: b"\\Recent"}
        assert flags_of(b.ok(b"FETCH 1:* FLAGS")[0]) == {1: b"", 2: b""}
        assert search(a, b"SEARCH RECENT") == [1, 2]
        assert search(b, b"SEARCH RECENT") == []
        assert search(b, b"SEARCH OLD") == [1, 2]
        # STORE's FETCH response keeps \Recent, which is not stored
        untagged, _ = a.ok(b"STORE 1 +FLAGS (\\Seen $Work)")
        assert flags_of(untagged) == {1: b"\\Seen \\Recent $Work"}
        assert search(a, b"SEARCH NEW") == [2]
        assert search(a, b"SEARCH OLD") == []
        assert search(a, b"SEARCH NOT RECENT") == []
        _, tagged = a.command(b"STORE 1 +FLAGS (\\Recent)")
        assert b" BAD " in tagged or b" NO " in tagged, tagged
        # b hears of the flag change without \Recent
        untagged, _ = b.ok(b"NOOP")
        assert b"FLAGS (\\Seen $Work)" in b"".join(untagged), untagged

        # a new message goes to the first selected session to sync
        append(other, 3)
        untagged, _ = b.ok(b"NOOP")
        assert b"* 3 EXISTS" in untagged and b"* 1 RECENT" in untagged
        untagged, _ = a.ok(b"NOOP")
        assert b"* 3 EXISTS" in untagged and b"* 2 RECENT" in untagged
        assert search(b, b"SEARCH RECENT") == [3]
        assert search(a, b"SEARCH RECENT") == [1, 2]
        assert b"\\Recent" in flags_of(b.ok(b"FETCH 3 FLAGS")[0])[3]
        assert b"\\Recent" not in flags_of(a.ok(b"FETCH 3 FLAGS")[0])[3]
        # the EXAMINE session kept what it saw, and sees nothing new
        untagged, _ = examine.ok(b"NOOP")
        assert b"* 3 EXISTS" in untagged and b"* 2 RECENT" in untagged
        # expunged recent messages leave the count
        a.ok(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        untagged, _ = a.ok(b"EXPUNGE")
        assert b"* 2 EXPUNGE" in untagged
        assert search(a, b"SEARCH RECENT") == [1]
        untagged, _ = a.ok(b"STATUS INBOX (RECENT)")
        assert b"* STATUS INBOX (RECENT 1)" in untagged
        # reselecting: nothing is recent any more for anyone
        untagged, _ = a.ok(b"SELECT INBOX")
        assert b"* 0 RECENT" in untagged
    finally:
        for c in (other, examine, a, b):
            c.close()


def test_recent_not_for_rev2(srv, user):
    c = srv.preauth(user)
    rev1 = srv.preauth(user)
    try:
        append(c, 1)
        untagged, _ = c.ok(b"ENABLE IMAP4rev2")
        if b"* ENABLED IMAP4rev2" not in untagged:
            pytest.skip("IMAP4rev2 is not advertised yet")
        untagged, _ = c.ok(b"SELECT INBOX")
        assert not [l for l in untagged if l.endswith(b" RECENT")]
        assert b"\\Recent" not in b"".join(c.ok(b"FETCH 1 FLAGS")[0])
        _, tagged = c.command(b"STATUS INBOX (RECENT)")
        assert b" BAD " in tagged
        append(c, 2)
        untagged, _ = c.ok(b"NOOP")
        assert not [l for l in untagged if l.endswith(b" RECENT")]
        # the rev2 session claimed nothing: a rev1 session gets both
        untagged, _ = rev1.ok(b"SELECT INBOX")
        assert b"* 2 RECENT" in untagged
    finally:
        c.close()
        rev1.close()


# --- bare CRs (the mbsync corpus message spam-2/00083.1aead...) --------------

CR_MESSAGES = [
    # what mbsync sends for that message's "\n\n\n\r\r\r\n" lines: CRLF
    # line ends, a bare CR inside a line
    b"Subject: cr\r\nX-A: 1\r\n\r\n\r\n\r\nHELLO\rWORLD\r\nend\r\n",
    # bare CRs at line starts and ends of LF text
    b"Subject: cr2\n\na\rb\n\rc\n",
]


def raw_fetch_body(c, seq):
    untagged, tagged = c.command(b"FETCH %d BODY.PEEK[]" % seq)
    assert tagged.startswith(b"OK"), tagged
    resp = [r for r in untagged if b"BODY[]" in r][0]
    return resp[resp.index(b"}\r\n") + 3:-1]


def test_append_bare_cr_as_dovecot():
    """APPEND then FETCH BODY[] of messages with bare CRs gives Dovecot's
    bytes. (Dovecot also turns "\\r\\r\\n" into "\\r\\n"; Columba keeps
    the bytes as sent there: not compared.)"""
    import shutil as sh
    if sh.which("dovecot") is None:
        pytest.skip("dovecot-imapd is not installed")
    from test_imap_fetch_dovecot import login, start_columba, start_dovecot
    # Dovecot's user (nobody) must reach its home: not under pytest's
    # private tmp_path
    tmp = tempfile.mkdtemp(prefix="columba-cr-")
    os.chmod(tmp, 0o755)
    dproc, dport = start_dovecot(tmp)
    columba = start_columba(os.path.join(tmp, "columba"))
    try:
        got = {}
        for name, port in (("columba", columba.imap_port),
                           ("dovecot", dport)):
            c = login(port, name)
            c.command(b"SELECT INBOX")
            c.append(CR_MESSAGES, b"01-Jan-2024 10:00:00 +0000")
            c.command(b"NOOP")
            got[name] = [raw_fetch_body(c, i + 1)
                         for i in range(len(CR_MESSAGES))]
            c.close()
        assert got["columba"] == got["dovecot"]
        # and they are the CRLF form of what was sent, bare CRs kept
        assert got["columba"][0] == CR_MESSAGES[0]
        assert got["columba"][1] == CR_MESSAGES[1].replace(b"\n", b"\r\n")
    finally:
        columba.stop()
        dproc.terminate()
        dproc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


# --- QRESYNC (RFC 7162) -----------------------------------------------------

def test_qresync_full_resync(srv, user):
    """A QRESYNC client goes away, another session changes flags,
    expunges and appends, and the client resynchronises with SELECT
    (QRESYNC ...) and UID FETCH (CHANGEDSINCE ... VANISHED)."""
    a = srv.preauth(user)
    b = srv.preauth(user)
    try:
        for n in range(1, 6):
            append(b, n)
        untagged, _ = a.ok(b"ENABLE QRESYNC")
        assert b"* ENABLED QRESYNC" in untagged
        untagged, _ = a.ok(b"SELECT INBOX")
        uv = int(re.search(rb"UIDVALIDITY (\d+)", b"".join(untagged)).group(1))
        ms = int(re.search(rb"HIGHESTMODSEQ (\d+)",
                           b"".join(untagged)).group(1))
        a.ok(b"UNSELECT")

        b.ok(b"SELECT INBOX")
        b.ok(b"STORE 1 +FLAGS.SILENT (\\Flagged)")
        b.ok(b"STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        b.ok(b"EXPUNGE")
        append(b, 6)

        untagged, tagged = a.ok(b"SELECT INBOX (QRESYNC (%d %d 1:5))"
                                % (uv, ms))
        assert b"* VANISHED (EARLIER) 2,4" in untagged, untagged
        fetches = [l for l in untagged if b" FETCH " in l]
        # the flag change and the new message, with UID and MODSEQ
        assert any(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged[^)]*\) "
                            rb"MODSEQ \(\d+\)\)", l) for l in fetches), fetches
        assert any(b"UID 6 " in l for l in fetches), fetches
        assert b"* 4 EXISTS" in untagged
        # no seq-match: the same from UID FETCH CHANGEDSINCE VANISHED
        untagged, _ = a.ok(b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)"
                           % ms)
        assert b"* VANISHED (EARLIER) 2,4" in untagged, untagged
        assert sorted(int(re.search(rb"UID (\d+)", l).group(1))
                      for l in untagged if b" FETCH " in l) == [1, 6]
        # VANISHED needs CHANGEDSINCE, and UID FETCH
        _, tagged = a.command(b"UID FETCH 1:* (FLAGS) (VANISHED)")
        assert b" BAD " in tagged, tagged
        _, tagged = a.command(b"FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        assert b" BAD " in tagged, tagged

        # another session's expunge arrives as VANISHED, never EXPUNGE
        b.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok(b"EXPUNGE")
        untagged, _ = a.ok(b"NOOP")
        assert b"* VANISHED 1" in untagged, untagged
        assert not [l for l in untagged if l.endswith(b" EXPUNGE")]
        # its own EXPUNGE too
        a.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        untagged, _ = a.ok(b"EXPUNGE")
        assert b"* VANISHED 3" in untagged, untagged
        assert not [l for l in untagged if l.endswith(b" EXPUNGE")]
        # a SELECT while selected: [CLOSED] first
        untagged, _ = a.ok(b"EXAMINE INBOX")
        assert untagged[0] == b"* OK [CLOSED] Previous mailbox closed.", \
            untagged
        # another UIDVALIDITY: no VANISHED, no FETCH
        untagged, _ = a.ok(b"SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, ms))
        assert not [l for l in untagged if b"VANISHED" in l or b"FETCH" in l]
    finally:
        a.close()
        b.close()
