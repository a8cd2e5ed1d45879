"""IMAP FETCH and STORE against the real server over TCP (imaplib):
every FETCH data item, BODY sections and partials at their boundaries,
BINARY of base64/QP parts with UNKNOWN-CTE, PREVIEW, CONDSTORE's MODSEQ,
CHANGEDSINCE and UNCHANGEDSINCE, implicit \\Seen, streaming of a large
message without buffering it, two sessions seeing each other's STOREs,
and the FETCH 1:* (FLAGS) timing on 20,000 messages. Messages are put in
place with columba-mail-tool import-maildir (corpus + hand-made MIME)."""
import base64
import hashlib
import imaplib
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import (BUILD, LOG_CRASH_OR_SANITIZER, sanitizer_build,
                      start_with_users)

TOOL = os.path.join(BUILD, "src/lib-storage/columba-mail-tool")
CORPUS = "/work/shared/corpus/spamassassin-corpus.tar.zst"
CORPUS_COUNT = 150

# the server is several times slower: the timing test uses fewer messages
# and asserts no time
SANITIZED = sanitizer_build()
PERF_COUNT = 2000 if SANITIZED else 20000

B64_DATA = bytes(range(256)) * 8          # has NULs: literal8
QP_TEXT = "Caf\u00e9 cr\u00e8me, a long line that goes on and on " * 3

MIME_MSG = (
    "From: Mime Tester <mime@example.com>\r\n"
    "To: you@example.com\r\n"
    "Subject: mime parts\r\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <mime@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--BOUND\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    + "".join(QP_TEXT.encode("latin-1").decode("latin-1")
              .replace("\u00e9", "=E9").replace("\u00e8", "=E8")) +
    "=\r\n"
    "end\r\n"
    "--BOUND\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    + "\r\n".join(re.findall(".{1,76}", base64.b64encode(B64_DATA).decode())) +
    "\r\n"
    "--BOUND\r\n"
    "Content-Type: application/x-weird\r\n"
    "Content-Transfer-Encoding: x-uuencode\r\n"
    "\r\n"
    "begin 644 file\r\n"
    "--BOUND--\r\n").encode("latin-1")
# the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1)
QP_DECODED = (QP_TEXT + "end").encode("latin-1")

HTML_MSG = (
    b"From: html@example.com\r\n"
    b"Subject: html only\r\n"
    b"Message-ID: <html@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<html><head><style>p { color: red }</style></head>\r\n"
    b"<body><p>Hello&nbsp;&amp;   welcome</p>\r\n<p>to   the\r\n"
    b"preview</p></body></html>\r\n")

BIG_SIZE = 12 * 1024 * 1024


def big_message():
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\r\n"
    body = line * (BIG_SIZE // len(line))
    return (b"From: big@example.com\r\nSubject: big\r\n"
            b"Message-ID: <big@example.com>\r\n\r\n" + body)


def write_maildir(root, messages):
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for i, data in enumerate(messages):
        name = "%010d.M%dP1.test:2," % (1700000000 + i, i)
        with open(os.path.join(root, "cur", name), "wb") as f:
            f.write(data)


def corpus_messages(count):
    out = []
    with tarfile.open(fileobj=subprocess.Popen(
            ["zstd", "-dc", CORPUS], stdout=subprocess.PIPE).stdout,
            mode="r|") as tar:
        for member in tar:
            if member.isfile() and "easy-ham" in member.name:
                out.append(tar.extractfile(member).read())
                if len(out) == count:
                    break
    return out


def import_maildir(home, maildir):
    # the blobs are the same with or without fsync; skipping it keeps the
    # 20,000-message import to seconds
    subprocess.run([TOOL, "-b", "posix:fsync=no:%s/blobs" % home,
                    "import-maildir", home, maildir], check=True,
                   stdout=subprocess.DEVNULL)


def crlf(data):
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


@pytest.fixture(scope="module")
def server():
    tmp = tempfile.mkdtemp(prefix="columba-fetch-")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    corpus = corpus_messages(CORPUS_COUNT)
    maildir = os.path.join(tmp, "maildir")
    write_maildir(maildir, corpus)
    write_maildir(os.path.join(maildir, ".Mime"), [MIME_MSG, HTML_MSG])
    write_maildir(os.path.join(maildir, ".Big"), [big_message()])
    import_maildir(os.path.join(home, "alice"), maildir)
    # the 20,000 one-file blobs of the timing test live in tmpfs when
    # there is one: creating and removing them on a busy disk takes
    # minutes, in memory seconds
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and \
        os.access("/dev/shm", os.W_OK) else tmp
    perf_home = tempfile.mkdtemp(prefix="columba-fetch-perf-", dir=shm)
    os.chmod(perf_home, 0o755)
    perf = os.path.join(tmp, "perf")
    write_maildir(perf, [b"Subject: m%d\r\n\r\nx\r\n" % i
                         for i in range(PERF_COUNT)])
    import_maildir(os.path.join(perf_home, "perf"), perf)
    shutil.rmtree(maildir)
    shutil.rmtree(perf)
    subprocess.run(["chmod", "-R", "a+rwX", perf_home], check=True)
    subprocess.run(["chmod", "-R", "a+rwX", home], check=True)
    srv = start_with_users(
        tmp, {"alice": "pw", "perf": "pw"}, ssl=False, mail_home="%Lu",
        home_of=lambda name: os.path.join(
            perf_home if name == "perf" else home, name),
        config="auth_mechanisms = plain login\n"
        "disable_plaintext_auth = no\n")
    srv.corpus = [crlf(m) for m in corpus]
    yield srv
    rc = srv.stop()
    log = srv.log()
    if os.environ.get("COLUMBA_KEEP_LOG"):
        with open(os.environ["COLUMBA_KEEP_LOG"], "w") as f:
            f.write(log)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(perf_home, ignore_errors=True)
    check_log(log)
    assert rc == 0, log


def check_log(log):
    """No crash, no fatal error and (sanitizer builds: children's
    reports land in the log) no sanitizer report."""
    for text in LOG_CRASH_OR_SANITIZER + ("killed with signal",):
        assert text not in log, log


def login(server, user="alice"):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    m.login(user, "pw")
    return m


def tagged(m, *args):
    """Run a command; returns (result, tagged text, untagged FETCH data)."""
    m.untagged_responses.pop("FETCH", None)
    tag = m._command(*args)
    typ, dat = m._command_complete(args[0], tag)
    return typ, dat[0], m.untagged_responses.pop("FETCH", [])


def raw_data(data):
    out = b""
    for d in data:
        if isinstance(d, tuple):
            out += d[0] + b"<<" + d[1] + b">>"
        elif d is not None:
            out += d
    return out


def literal(data, name):
    """The literal that follows item name in a FETCH response."""
    for d in data:
        if isinstance(d, tuple) and re.search(
                re.escape(name) + rb" ~?\{\d+\}$", d[0]):
            return d[1]
    raise AssertionError("no %r in %r" % (name, data))


def test_corpus_body_sections(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    for seq in (1, 7, 42, CORPUS_COUNT):
        typ, data = m.fetch(str(seq), "(RFC822.SIZE BODY.PEEK[] "
                            "BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
        assert typ == "OK", data
        full = literal(data, b"BODY[]")
        hdr = literal(data, b"BODY[HEADER]")
        text = literal(data, b"BODY[TEXT]")
        assert full == hdr + text
        assert full in server.corpus
        size = int(re.search(rb"RFC822.SIZE (\d+)", raw_data(data)).group(1))
        assert size == len(full)
    m.logout()


def test_partial_boundaries(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("3", "(BODY.PEEK[])")
    full = literal(data, b"BODY[]")
    n = len(full)
    for off, cnt in ((0, 1), (0, 10), (5, 100), (n - 1, 10), (n - 10, 10),
                     (n, 10), (n + 5, 3), (0, n + 100)):
        typ, data = m.fetch("3", "(BODY.PEEK[]<%d.%d>)" % (off, cnt))
        assert typ == "OK"
        assert literal(data, b"BODY[]<%d>" % off) == full[off:off + cnt]
    # header partial
    typ, data = m.fetch("3", "(BODY.PEEK[HEADER]<2.7>)")
    assert literal(data, b"BODY[HEADER]<2>") == full[2:9]
    m.logout()


def test_fetch_every_item(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("2", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY "
                        "BODYSTRUCTURE UID MODSEQ SAVEDATE EMAILID THREADID "
                        "PREVIEW)")
    assert typ == "OK", data
    r = raw_data(data)
    assert r.startswith(b"2 (FLAGS (")
    for item in (rb"INTERNALDATE \"\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}\"",
                 rb"RFC822.SIZE \d+", rb"ENVELOPE \(", rb"BODY \(",
                 rb"BODYSTRUCTURE \(", rb"UID \d+", rb"MODSEQ \(\d+\)",
                 rb"SAVEDATE \"", rb"EMAILID \(M[0-9a-f]{32}\)",
                 rb"THREADID NIL", rb"PREVIEW "):
        assert re.search(item, r), (item, r)
    # macros
    for macro, items in (("FAST", [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"]),
                         ("ALL", [b"ENVELOPE"]), ("FULL", [b"BODY ("])):
        typ, data = m.fetch("2", macro)
        assert typ == "OK"
        for it in items:
            assert it in raw_data(data)
    # RFC822.HEADER / RFC822.TEXT / RFC822 names
    typ, data = m.fetch("2", "(RFC822.HEADER RFC822.TEXT)")
    assert literal(data, b"RFC822.HEADER") + literal(data, b"RFC822.TEXT") \
        in server.corpus
    # HEADER.FIELDS
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (subject FROM)])")
    hf = literal(data, b"BODY[HEADER.FIELDS (SUBJECT FROM)]")
    assert hf.endswith(b"\r\n\r\n")
    assert all(l.lower().startswith((b"subject:", b"from:", b" ", b"\t"))
               for l in hf.split(b"\r\n")[:-2])
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject)])")
    assert b"\nsubject:" not in literal(
        data, b"BODY[HEADER.FIELDS.NOT (SUBJECT)]").lower()
    m.logout()


def test_uid_fetch_and_errors(server):
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK"
    assert len(data) == CORPUS_COUNT
    assert all(re.match(rb"\d+ \(UID \d+ FLAGS \(", d) for d in data)
    typ, data = m.uid("FETCH", "4000000000", "(FLAGS)")
    assert typ == "OK" and data == [None]
    for seqset, items in (("99999", "(FLAGS)"), ("0", "(FLAGS)"),
                          ("1", "(FOO)"), ("1", "(BODY[1.MIMEX])"),
                          ("1", "(BODY[]<5>)"), ("1", "(BINARY[HEADER])"),
                          ("1", "()"), ("1", "(FLAGS) (BOGUS 1)"),
                          ("1", "(FLAGS) (CHANGEDSINCE 1 VANISHED)"),
                          ("x", "FLAGS")):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m.fetch(seqset, items)
    # a section that is not there: an empty literal, as Dovecot
    typ, data = m.fetch("1", "(BODY.PEEK[9.8] BODY.PEEK[2.MIME] UID)")
    assert typ == "OK" and literal(data, b"BODY[9.8]") == b"", data
    assert literal(data, b"BODY[2.MIME]") == b"", data
    assert re.search(rb"UID \d+\)$", raw_data(data)), data
    m.logout()


def test_binary(server):
    m = login(server)
    m.select("Mime", readonly=True)
    typ, data = m.fetch("1", "(BINARY.SIZE[1] BINARY.SIZE[2] BINARY.PEEK[2] "
                        "BINARY.PEEK[1] BINARY.PEEK[2]<10.20>)")
    assert typ == "OK", data
    r = raw_data(data)
    assert b"BINARY.SIZE[1] %d" % len(QP_DECODED) in r
    assert b"BINARY.SIZE[2] %d" % len(B64_DATA) in r
    assert literal(data, b"BINARY[2]") == B64_DATA
    assert re.search(rb"BINARY\[2\] ~\{%d\}" % len(B64_DATA), r)
    assert literal(data, b"BINARY[1]") == QP_DECODED
    assert literal(data, b"BINARY[2]<10>") == B64_DATA[10:30]
    typ, data = m.fetch("1", "(BINARY.PEEK[3])")
    assert typ == "NO" and data[0].startswith(b"[UNKNOWN-CTE]"), data
    typ, data = m.fetch("1", "(BINARY.PEEK[7] BINARY.SIZE[7])")
    assert literal(data, b"BINARY[7]") == b"", data
    assert b"BINARY.SIZE[7] 0" in raw_data(data), data
    typ, data = m.fetch("1", "(BODY.PEEK[2.MIME] BODY.PEEK[1])")
    assert literal(data, b"BODY[2.MIME]").startswith(b"Content-Type: application/")
    assert literal(data, b"BODY[1]").startswith(b"Caf=E9")
    m.logout()


def test_preview(server):
    m = login(server)
    m.select("Mime", readonly=True)
    typ, data = m.fetch("1:2", "(PREVIEW (LAZY))")
    assert typ == "OK", data
    r = raw_data(data)
    # the first text part, QP and latin-1 decoded, sent as UTF-8 literal
    assert "Caf\u00e9 cr\u00e8me, a long line".encode() in r
    assert b"PREVIEW \"Hello & welcome to the preview\"" in r
    typ, data = m.fetch("1", "(PREVIEW)")
    text = literal(data, b"PREVIEW").decode()
    assert text == (QP_TEXT + "end").replace("  ", " ").strip()
    m.logout()


def test_seen_and_flags_in_same_response(server):
    m = login(server)
    m.select("Mime")
    m.store("2", "-FLAGS", "(\\Seen)")
    typ, data = m.fetch("2", "(BODY.PEEK[TEXT])")
    assert b"\\Seen" not in raw_data(data)
    typ, data = m.fetch("2", "(BODY[TEXT])")
    r = raw_data(data)
    assert re.search(rb"FLAGS \([^)]*\\Seen", r), r
    # one response: the literal, then FLAGS before its closing parenthesis
    assert len(data) == 2 and data[1].startswith(b"FLAGS ("), data
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" in raw_data(data)
    m.logout()


def test_store_variants(server):
    m = login(server)
    m.select("INBOX")
    typ, data = m.store("1:3", "FLAGS", "(\\Flagged $Custom1)")
    assert typ == "OK" and len(data) == 3
    assert all(b"\\Flagged" in d and b"$Custom1" in d for d in data)
    assert any(b"$Custom1" in u for u in m.untagged_responses.get("FLAGS", []))
    typ, data = m.store("2", "+FLAGS", "\\Answered")
    assert b"\\Answered" in data[0] and b"\\Flagged" in data[0]
    typ, data = m.store("2", "-FLAGS", "(\\Flagged)")
    assert b"\\Flagged" not in data[0] and b"$Custom1" in data[0]
    typ, data = m.store("3", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK" and data == [None]
    typ, data = m.fetch("3", "(FLAGS)")
    assert b"\\Deleted" in data[0]
    typ, data = m.uid("STORE", "1:2", "-FLAGS", "(\\Deleted)")
    assert all(re.search(rb"UID \d+", d) for d in data)
    for bad in (("1", "+FLAGS", "(\\Bogus)"), ("1", "XFLAGS", "(\\Seen)"),
                ("99999", "FLAGS", "(\\Seen)"), ("1", "FLAGS", "(\\Recent)")):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            m.store(*bad)
    m.logout()
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO" and b"read-only" in data[0]
    m.logout()


def test_condstore(server):
    m = login(server)
    m.select("INBOX")
    typ, data = m.fetch("5", "(MODSEQ)")
    assert any(b"HIGHESTMODSEQ" in x for x in m.untagged_responses.get("OK", [])) \
        or typ == "OK"
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    # the mailbox's highest modseq: earlier tests changed other messages
    typ, data = m.fetch("1:*", "(MODSEQ)")
    highest = max(int(re.search(rb"MODSEQ \((\d+)\)", d).group(1))
                  for d in data)
    # UNCHANGEDSINCE at the current modseq succeeds, with MODSEQ
    typ, text, data = tagged(m, "STORE", "5", "(UNCHANGEDSINCE %d)" % modseq,
                             "+FLAGS", "(\\Flagged)")
    assert typ == "OK", text
    new = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    assert new > modseq
    # the old modseq now conflicts
    typ, text, data = tagged(m, "STORE", "5:6", "(UNCHANGEDSINCE %d)" % modseq,
                             "+FLAGS.SILENT", "(\\Answered)")
    assert typ == "OK" and text.startswith(b"[MODIFIED 5]"), text
    # .SILENT with UNCHANGEDSINCE still reports the changed message's MODSEQ
    assert len(data) == 1 and re.match(rb"6 \(MODSEQ \(\d+\)\)", data[0]), data
    # CHANGEDSINCE: only message 5 and 6 changed after the highest modseq
    typ, data = m.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % highest)
    seqs = sorted(int(d.split()[0]) for d in data if d)
    assert seqs == [5, 6], data
    assert all(b"MODSEQ (" in d for d in data)
    # SEARCH MODSEQ (RFC 7162 §3.1.5) finds the same two, with the highest
    typ, data = m.search(None, "MODSEQ", str(highest + 1))
    assert data[0].startswith(b"5 6 (MODSEQ "), data
    m.logout()

    # ENABLE CONDSTORE and SELECT (CONDSTORE) both start with HIGHESTMODSEQ
    m = login(server)
    typ, data = m._simple_command("ENABLE", "CONDSTORE")
    assert m.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
    m.select("INBOX", readonly=True)
    assert int(m.untagged_responses["HIGHESTMODSEQ"][-1]) >= new
    m.logout()
    m = login(server)
    m.is_readonly = True    # imaplib raises on [READ-ONLY] otherwise
    typ, data = m._simple_command("EXAMINE", "INBOX", "(CONDSTORE)")
    assert typ == "OK" and "HIGHESTMODSEQ" in m.untagged_responses
    m.state = "SELECTED"    # imaplib does not know EXAMINE with parameters
    typ, text, data = tagged(m, "FETCH", "5", "(MODSEQ)")
    assert re.match(rb"5 \(MODSEQ \(\d+\)\)", data[0]), data
    m.logout()


def test_two_sessions(server):
    """A STOREs, B sees the change on NOOP; the sessions end in every
    order and way (LOGOUT, a closed socket) while the other one's
    notification may still be pending: the mail process must survive
    (a use after free was reported here)."""
    for i in range(6):
        a = login(server)
        b = login(server)
        a.select("INBOX")
        b.select("INBOX")
        a.store("10", "+FLAGS", "(\\Flagged $FromA%d)" % i)
        typ, data = b.noop()
        fetches = b.untagged_responses.pop("FETCH", [])
        assert any(re.match(rb"10 \(FLAGS \([^)]*\$FromA%d" % i, f)
                   for f in fetches), fetches
        a.store("10", "-FLAGS", "($FromA%d)" % i)
        if i % 3 == 0:
            a.logout()
            b.logout()
        elif i % 3 == 1:
            # the change notification reaches B after A is gone
            a.store("11", "+FLAGS", "(\\Seen)")
            a.sock.close()
            b.logout()
        else:
            b.sock.close()
            a.store("11", "-FLAGS", "(\\Seen)")
            a.logout()
    # the mail process is still the same and serving
    m = login(server)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("10", "(FLAGS)")
    assert typ == "OK" and b"$FromA" not in data[0], data
    m.logout()
    check_log(server.log())


def mail_rss(server):
    total = 0
    for pid in server.child_pids("mail"):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def test_large_message_streamed(server):
    m = login(server)
    m.select("Big", readonly=True)
    before = mail_rss(server)
    # a slow client: ask, then read nothing for a while
    tag = m._new_tag()
    m.send(tag + b" FETCH 1 (BODY.PEEK[])\r\n")
    time.sleep(1.0)
    during = mail_rss(server)
    # ASan's quarantine keeps freed chunks resident: the bound holds for
    # real builds only (the bytes are checked in every build)
    if not SANITIZED:
        assert during - before < 8 * 1024 * 1024, (before, during)
    line = m.readline()
    size = int(re.search(rb"\{(\d+)\}", line).group(1))
    assert size == len(big_message())
    h = hashlib.sha256()
    left = size
    while left:
        chunk = m.read(min(left, 1 << 20))
        assert chunk, "the server closed the connection with %d bytes left" % left
        h.update(chunk)
        left -= len(chunk)
    assert h.digest() == hashlib.sha256(big_message()).digest()
    assert m.readline() == b")\r\n"
    assert m.readline().startswith(tag + b" OK")
    if not SANITIZED:
        assert mail_rss(server) - before < 8 * 1024 * 1024
    m.logout()


def raw_command(sock_file, sock, tag, line):
    """Send one command and read the reply raw (imaplib's per-line
    parsing would dominate a 20,000-line reply's wall time). Returns
    (untagged line count, tagged line, seconds)."""
    start = time.monotonic()
    sock.sendall(b"%s %s\r\n" % (tag, line))
    count = 0
    while True:
        l = sock_file.readline()
        if not l:
            raise AssertionError("connection closed")
        if l.startswith(tag + b" "):
            return count, l, time.monotonic() - start
        count += 1


def test_fetch_flags_20000(server):
    """UID FETCH 1:* (FLAGS) and FETCH 1:* (FLAGS) on 20,000 messages
    (2,000 in sanitizer builds): the server's time from the tagged
    reply and the client's wall time, best of 3."""
    s = socket.create_connection(("127.0.0.1", server.imap_port))
    f = s.makefile("rb")
    f.readline()
    for tag, line in ((b"l", b"LOGIN perf pw"), (b"s", b"EXAMINE INBOX")):
        n, t, _ = raw_command(f, s, tag, line)
        assert b" OK " in t, t
    for cmd in (b"UID FETCH 1:* (FLAGS)", b"FETCH 1:* (FLAGS)"):
        best = best_wall = None
        for i in range(3):
            n, t, wall = raw_command(f, s, b"f%d" % i, cmd)
            assert n == PERF_COUNT and b" OK " in t, (n, t)
            # the server's own time is in the tagged reply
            secs = float(re.search(rb"\(([\d.]+) secs\)", t).group(1))
            best = secs if best is None else min(best, secs)
            best_wall = wall if best_wall is None else min(wall, best_wall)
        print("%s on %d messages: server %.4f s, client wall %.4f s"
              % (cmd.decode(), PERF_COUNT, best, best_wall))
        if not SANITIZED:
            assert best < 0.5
    raw_command(f, s, b"z", b"LOGOUT")
    s.close()


def test_qresync_vanished(server):
    """RFC 7162 §3.2.6: UID FETCH (CHANGEDSINCE m VANISHED) reports the
    UIDs of the set expunged since m as VANISHED (EARLIER) before the
    FETCH responses of the messages changed since m; a QRESYNC session
    hears of expunges as VANISHED, and SELECT (QRESYNC ...) reports them
    as VANISHED (EARLIER)."""
    m = login(server)
    m.create("Vanish")
    m.select("INBOX", readonly=True)
    typ, _ = m.copy("1:10", "Vanish")
    assert typ == "OK"
    m.logout()

    a = login(server)
    typ, data = a._simple_command("ENABLE", "QRESYNC")
    assert typ == "OK"
    assert a.untagged_responses.pop("ENABLED") == [b"QRESYNC"]
    typ, data = a.select("Vanish")
    # the copies keep INBOX's flags (earlier tests set \Deleted)
    a.store("1:*", "FLAGS.SILENT", "()")
    a.untagged_responses.pop("HIGHESTMODSEQ", None)
    a.select("Vanish")
    uidvalidity = int(a.untagged_responses["UIDVALIDITY"][-1])
    since = int(a.untagged_responses["HIGHESTMODSEQ"][-1])
    typ, data = a.uid("FETCH", "1:*", "(UID)")
    uids = [int(re.search(rb"UID (\d+)", d).group(1)) for d in data]
    assert len(uids) == 10

    # nothing changed since the highest modseq: nothing at all
    typ, text, data = tagged(a, "UID", "FETCH", "1:*", "(FLAGS)",
                             "(CHANGEDSINCE %d VANISHED)" % since)
    assert typ == "OK" and data == [] and \
        "VANISHED" not in a.untagged_responses, a.untagged_responses

    # another (non-QRESYNC) session flags one message and expunges two
    b = login(server)
    b.select("Vanish")
    b.store("2", "+FLAGS", "(\\Flagged)")
    b.store("4,6", "+FLAGS", "(\\Deleted)")
    typ, data = b.expunge()
    # "* 4 EXPUNGE" twice or "* 6 EXPUNGE" then "* 4 EXPUNGE"
    assert typ == "OK" and sorted(data) in ([b"4", b"4"], [b"4", b"6"]), data
    b.logout()

    a.untagged_responses.pop("VANISHED", None)
    typ, text, data = tagged(a, "UID", "FETCH", "%d:%d" % (uids[0], uids[4]),
                             "(FLAGS)", "(CHANGEDSINCE %d VANISHED)" % since)
    assert typ == "OK", text
    vanished = a.untagged_responses.pop("VANISHED", [])
    # only the expunged UIDs inside the requested set, EARLIER first;
    # the tagged reply's sync then sends the plain VANISHED for the
    # whole mailbox (both uids 4 and 6 leave this session's view)
    assert vanished[0] == b"(EARLIER) %d" % uids[3], vanished
    assert vanished[1:] == [b"%d,%d" % (uids[3], uids[5])], vanished
    # the flag change of message 2 with UID and MODSEQ
    assert any(re.match(rb"2 \(UID %d FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)"
                        % uids[1], d) for d in data), data

    # VANISHED without QRESYNC, without UID, without CHANGEDSINCE: BAD
    c = login(server)
    c.select("Vanish")
    for args in (("UID", "FETCH", "1:*", "(FLAGS)",
                  "(CHANGEDSINCE 1 VANISHED)"),):
        with pytest.raises(imaplib.IMAP4.error, match="QRESYNC"):
            tagged(c, *args)
    c.logout()
    for args in (("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE 1 VANISHED)"),
                 ("UID", "FETCH", "1:*", "(FLAGS)", "(VANISHED)")):
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            tagged(a, *args)
    # an expunge in this QRESYNC session: VANISHED, not EXPUNGE
    a.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    a.untagged_responses.pop("VANISHED", None)
    typ, data = a.expunge()
    assert a.untagged_responses.pop("VANISHED", []) == [b"%d" % uids[0]]
    assert "EXPUNGE" not in a.untagged_responses or \
        a.untagged_responses["EXPUNGE"] == [None]
    a.logout()

    # a fresh QRESYNC SELECT from the old state: VANISHED (EARLIER) of
    # all three, and the flag change
    d = login(server)
    d._simple_command("ENABLE", "QRESYNC")
    typ, data = d._simple_command("SELECT", "Vanish", "(QRESYNC (%d %d))"
                                  % (uidvalidity, since))
    assert typ == "OK", data
    assert d.untagged_responses.get("VANISHED") == [
        b"(EARLIER) %d,%d,%d" % (uids[0], uids[3], uids[5])], \
        d.untagged_responses
    d.logout()


def test_objectid(server):
    """RFC 8474: MAILBOXID from CREATE, SELECT/EXAMINE and STATUS, kept across
    RENAME, different between mailboxes; EMAILID kept by COPY; THREADID
    NIL (the server does not thread, §5.2)."""
    m = login(server)
    created = {}
    for name in ("Obj1", "Obj2"):
        typ, data = m.create(name)
        # §4.1: the tagged OK of CREATE names it
        created[name] = re.match(rb"\[MAILBOXID \((F[0-9a-f]{32})\)\]",
                                 data[0]).group(1)
    ids = {}
    for name in ("Obj1", "Obj2"):
        typ, data = m.status(name, "(MAILBOXID UIDVALIDITY)")
        assert typ == "OK", data
        ids[name] = re.search(rb"MAILBOXID \((F[0-9a-f]{32})\)",
                              data[0]).group(1)
    assert ids == created
    assert ids["Obj1"] != ids["Obj2"]
    m.select("Obj1", readonly=True)
    assert m.untagged_responses.get("OK") and any(
        b"[MAILBOXID (%s)]" % ids["Obj1"] in x
        for x in m.untagged_responses.pop("OK")), m.untagged_responses
    m.close()
    typ, _ = m.rename("Obj1", "Obj1renamed")
    assert typ == "OK"
    typ, data = m.status("Obj1renamed", "(MAILBOXID)")
    assert ids["Obj1"] in data[0], data
    # EMAILID survives COPY; THREADID is NIL
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("3", "(EMAILID THREADID)")
    emailid = re.search(rb"EMAILID \((M[0-9a-f]{32})\)", data[0]).group(1)
    assert b"THREADID NIL" in data[0]
    # §6: SEARCH EMAILID finds it, THREADID matches nothing
    typ, data = m.search(None, "EMAILID", emailid.decode())
    assert data == [b"3"], data
    typ, data = m.uid("SEARCH", "EMAILID", emailid.decode())
    assert len(data[0].split()) == 1, data
    for key in (("THREADID", "T" + emailid.decode()[1:]),
                ("EMAILID", "x" + emailid.decode()[1:]),
                ("EMAILID", "M1"), ("OR", "ALL", "THREADID", "T1")):
        typ, data = m.search(None, *key)
        expected = [b" ".join(b"%d" % i for i in range(1, CORPUS_COUNT + 1))] \
            if key[0] == "OR" else [b""]
        assert typ == "OK" and data == expected, (key, data[0][:60])
    m.copy("3", "Obj2")
    m.select("Obj2", readonly=True)
    typ, data = m.fetch("1", "(EMAILID)")
    assert b"EMAILID (%s)" % emailid in data[0], data
    typ, data = m.search(None, "EMAILID", emailid.decode())
    assert data == [b"1"], data
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.status("Obj2", "(MAILBOXID BOGUS)")
    m.logout()


def test_savedate(server):
    """RFC 8514: SAVEDATE is when the message was saved to its current
    mailbox (a COPY gets its own, the INTERNALDATE stays); SEARCH
    SAVEDATESUPPORTED matches every message, SAVEDBEFORE/ON/SINCE use it."""
    m = login(server)
    m.create("Saved")
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("4", "(SAVEDATE INTERNALDATE)")
    src = re.search(rb'SAVEDATE "([^"]+)"', data[0]).group(1)
    idate = re.search(rb'INTERNALDATE "([^"]+)"', data[0]).group(1)
    typ, data = m.search(None, "SAVEDATESUPPORTED")
    assert len(data[0].split()) == CORPUS_COUNT
    time.sleep(1.1)
    m.copy("4", "Saved")
    m.select("Saved", readonly=True)
    typ, data = m.fetch("1", "(SAVEDATE INTERNALDATE)")
    copy = re.search(rb'SAVEDATE "([^"]+)"', data[0]).group(1)
    assert re.search(rb'INTERNALDATE "([^"]+)"', data[0]).group(1) == idate
    parse = lambda d: time.mktime(imaplib.Internaldate2tuple(
        b'INTERNALDATE "' + d + b'"'))
    assert parse(copy) > parse(src), (src, copy)
    today = time.strftime("%d-%b-%Y", time.localtime(parse(copy)))
    for key, expected in ((("SAVEDON", today), [b"1"]),
                          (("SAVEDSINCE", today), [b"1"]),
                          (("SAVEDBEFORE", today), [b""]),
                          (("SAVEDBEFORE", "1-Jan-2000"), [b""]),
                          (("SAVEDATESUPPORTED",), [b"1"])):
        typ, data = m.search(None, *key)
        assert data == expected, (key, data)
    m.logout()
