"""Real IMAP clients against the real server (issue 5, point 5): mbsync
(isync) two-way sync of the spam corpus with flags, offlineimap3 one-way
and two-way, curl IMAP URLs (plain and imaps), fetchmail over IMAP with an
MDA, a client that IDLEs while mail arrives by LMTP (the delay from the
LMTP 250 to the untagged EXISTS is measured), and COMPRESS=DEFLATE
(RFC 4978) spoken with zlib, through plain IMAP and the login process's
TLS relay.

Each client test skips only when its binary is missing (scripts/deps.sh
installs them). COLUMBA_CORPUS_FULL=1 syncs the whole 6,046-message corpus
instead of the 1,000-message subset.
"""
import glob
import imaplib
import os
import re
import shutil
import smtplib
import socket
import ssl
import statistics
import subprocess
import tarfile
import threading
import time
import zlib

import pytest

from conftest import (LOG_CRASH_OR_SANITIZER, free_port, lmtp_deliver,
                      server_fixture, start_with_users,
                      stop_checked, wait_message_count,
                      wait_port)

PASSWORD = "secret pw"
USER = "alice@example.com"
CORPUS = "/work/shared/corpus/spamassassin-corpus.tar.zst"
SUBSET = 1000


def need(binary):
    path = shutil.which(binary)
    if path is None:
        pytest.skip("%s is not installed (scripts/deps.sh installs it)" % binary)
    return path


def start(tmpdir, extra=""):
    lmtp_port = free_port()
    config = (
        "protocols = imap lmtp\n"
        "auth_mechanisms = plain login\n"
        "disable_plaintext_auth = no\n"
        "service mail {\n  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        % lmtp_port) + extra
    server = start_with_users(
        tmpdir, {name + "@example.com": PASSWORD for name in ("alice", "bob")},
        config=config, wait_auth=False)
    server.lmtp_port = lmtp_port
    assert wait_port(lmtp_port), server.log()
    assert wait_port(server.imaps_port), server.log()
    return server


def stop(server):
    stop_checked(server, LOG_CRASH_OR_SANITIZER, tail=20000)


server = server_fixture(start, stop)


def deliver(server, body, user=USER):
    lmtp_deliver(server, user, PASSWORD, body)


def msg(n, extra=b""):
    return (b"From: a@b.test\r\nTo: alice@example.com\r\n"
            b"Message-ID: <m%d@test>\r\nSubject: message %d\r\n\r\n"
            b"body %d\r\n" % (n, n, n) + extra)


def imap(server):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    m.login(USER, PASSWORD)
    return m


def strip_tuid(body):
    """mbsync puts an X-TUID: header into every message it uploads (to
    find it again after an interrupted run), and it stays there: the
    comparisons ignore it."""
    return re.sub(rb"(?m)^X-TUID: [^\n]*\n", b"", body, count=1)


def mailbox_contents(server, mailbox):
    """{body bytes: [set of flags]} of a mailbox, read with imaplib."""
    m = imap(server)
    typ, _ = m.select('"%s"' % mailbox, readonly=True)
    assert typ == "OK", mailbox
    typ, data = m.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    assert typ == "OK"
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
        out.setdefault(strip_tuid(item[1]), []).append(frozenset(flags))
    m.logout()
    return out


# --- corpus -----------------------------------------------------------------

MAILDIR_FLAGS = {"D": b"\\Draft", "F": b"\\Flagged", "R": b"\\Answered",
                 "S": b"\\Seen", "T": b"\\Deleted"}


def corpus_messages(limit):
    """[(folder, name, bytes)] from the corpus tarball: every message, or
    an evenly spread subset of limit messages, in a stable order."""
    need("zstd")
    proc = subprocess.Popen(["zstd", "-dc", CORPUS], stdout=subprocess.PIPE)
    msgs = []
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            msgs.append((parts[-2], parts[-1],
                         tar.extractfile(member).read()))
    assert proc.wait() == 0
    msgs.sort(key=lambda m: (m[0], m[1]))
    if limit and len(msgs) > limit:
        step = len(msgs) / limit
        msgs = [msgs[int(i * step)] for i in range(limit)]
    return msgs


def corpus_flags(i):
    """Maildir flags for the i-th message: a mix of none, S, FS, RS, D."""
    return ["", "S", "S", "FS", "RS", "", "DS"][i % 7]


def write_maildir(root, msgs):
    expected = {}
    for i, (folder, name, body) in enumerate(msgs):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, folder, sub), exist_ok=True)
        flags = corpus_flags(i)
        fname = "%d.%d.corpus:2,%s" % (1700000000 + i, i, flags)
        with open(os.path.join(root, folder, "cur", fname), "wb") as f:
            f.write(body)
        expected.setdefault(folder, []).append((body, flags))
    return expected


def read_maildir(root):
    """{folder: sorted [(body, flags)]} of a Maildir++/verbatim tree."""
    out = {}
    for path in glob.glob(os.path.join(root, "*", "cur", "*")) + \
            glob.glob(os.path.join(root, "*", "new", "*")):
        folder = path.split(os.sep)[-3]
        name = os.path.basename(path)
        flags = name.split(":2,", 1)[1] if ":2," in name else ""
        with open(path, "rb") as f:
            out.setdefault(folder, []).append((strip_tuid(f.read()), flags))
    return {k: sorted(v) for k, v in out.items()}


def mbsync_config(path, server, name, local, extra=""):
    with open(path, "a") as f:
        f.write(
            "IMAPAccount %(n)s\nHost 127.0.0.1\nPort %(port)d\n"
            "User %(user)s\nPass \"%(pw)s\"\nSSLType None\nAuthMechs LOGIN\n"
            "PipelineDepth 50\n\n"
            "IMAPStore %(n)s-remote\nAccount %(n)s\n\n"
            "MaildirStore %(n)s-local\nPath %(local)s/\nSubFolders Verbatim\n\n"
            "Channel %(n)s\nFar :%(n)s-remote:\nNear :%(n)s-local:\n"
            "Patterns * !INBOX !Drafts !Sent !Trash !Junk !Archive\n"
            "Create Both\nRemove None\nExpunge Both\nSyncState *\n%(extra)s\n"
            % {"n": name, "port": server.imap_port, "user": USER,
               "pw": PASSWORD, "local": local, "extra": extra})


def run_mbsync(config, channel, env):
    t0 = time.monotonic()
    res = subprocess.run(["mbsync", "-c", config, channel], env=env,
                         capture_output=True, timeout=900)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return time.monotonic() - t0


def mbsync_upload_form(body):
    """What mbsync (isync 1.4) sends for a Maildir message: its LF to CRLF
    conversion drops every CR of the file, bare ones too ("\\r\\r\\n",
    "\\r=" in spam-2/00083.1aead... and 00164.272880...). Checked against
    Dovecot 2.3: both servers then hold and return the same bytes."""
    return body.replace(b"\r", b"").replace(b"\n", b"\r\n")


def mbsync_download_form(body):
    """What mbsync writes to the Maildir for it: no CRs at all."""
    return body.replace(b"\r", b"")


def test_mbsync_corpus_two_way(server, tmpdir_columba):
    need("mbsync")
    full = os.environ.get("COLUMBA_CORPUS_FULL") == "1"
    msgs = corpus_messages(None if full else SUBSET)
    up = os.path.join(tmpdir_columba, "up")
    down = os.path.join(tmpdir_columba, "down")
    os.makedirs(down)
    expected = write_maildir(up, msgs)
    config = os.path.join(tmpdir_columba, "mbsyncrc")
    mbsync_config(config, server, "up", up)
    mbsync_config(config, server, "down", down)
    env = dict(os.environ, HOME=tmpdir_columba)

    t_up = run_mbsync(config, "up", env)
    # the server holds every message with its flags
    for folder, items in expected.items():
        got = mailbox_contents(server, folder)
        assert sum(len(v) for v in got.values()) == len(items), folder
        for body, flags in items:
            want = frozenset(MAILDIR_FLAGS[c] for c in flags)
            assert want in got[mbsync_upload_form(body)], (folder, flags)

    t_down = run_mbsync(config, "down", env)
    got = read_maildir(down)
    assert sorted(got) == sorted(expected)
    for folder in expected:
        assert got[folder] == sorted(
            (mbsync_download_form(b), f) for b, f in expected[folder]), folder

    # a flag change and a deletion on each side, then a second sync
    local = read_maildir(up)["easy-ham-2"]
    files = sorted(glob.glob(os.path.join(up, "easy-ham-2", "cur", "*")))
    flag_path = next(p for p in files if p.endswith(":2,"))
    os.rename(flag_path, flag_path + "F")
    with open(flag_path + "F", "rb") as f:
        local_flagged = f.read()
    del_path = next(p for p in files if p.endswith(":2,S") and p != flag_path)
    with open(del_path, "rb") as f:
        local_deleted = f.read()
    os.unlink(del_path)

    m = imap(server)
    m.select("spam-1")
    typ, data = m.uid("FETCH", "1:2", "(BODY.PEEK[])")
    bodies = [strip_tuid(d[1]) for d in data if isinstance(d, tuple)]
    remote_flagged, remote_deleted = bodies[0], bodies[1]
    assert m.uid("STORE", "1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert m.uid("STORE", "2", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()

    t_second = run_mbsync(config, "up", env)
    remote = mailbox_contents(server, "easy-ham-2")
    lf_to_crlf = mbsync_upload_form
    assert b"\\Flagged" in remote[lf_to_crlf(local_flagged)][0]
    assert lf_to_crlf(local_deleted) not in remote
    assert sum(len(v) for v in remote.values()) == len(local) - 1
    spam1 = read_maildir(up)["spam-1"]
    lf = mbsync_download_form
    by_body = {lf(b): f for b, f in spam1}
    assert "F" in by_body[lf(remote_flagged)]
    assert lf(remote_deleted) not in by_body
    assert len(spam1) == len(expected["spam-1"]) - 1
    print("\nmbsync: %d messages up in %.1f s, down in %.1f s, "
          "second sync %.1f s" % (len(msgs), t_up, t_down, t_second))


# --- offlineimap3 -----------------------------------------------------------

def offlineimap_config(path, server, tmpdir, name, readonly):
    with open(path, "w") as f:
        f.write(
            "[general]\naccounts = %(n)s\nmetadata = %(d)s/meta-%(n)s\n"
            "ui = quiet\n\n"
            "[Account %(n)s]\nlocalrepository = %(n)s-local\n"
            "remoterepository = %(n)s-remote\n\n"
            "[Repository %(n)s-local]\ntype = Maildir\n"
            "localfolders = %(d)s/mail-%(n)s\n\n"
            "[Repository %(n)s-remote]\ntype = IMAP\nremotehost = 127.0.0.1\n"
            "remoteport = %(port)d\nremoteuser = %(user)s\n"
            "remotepass = %(pw)s\nssl = no\nstarttls = no\n"
            "readonly = %(ro)s\nfolderfilter = lambda f: f == 'INBOX'\n"
            % {"n": name, "d": tmpdir, "port": server.imap_port,
               "user": USER, "pw": PASSWORD, "ro": readonly})


def run_offlineimap(config, env):
    res = subprocess.run(["offlineimap", "-c", config, "-o"], env=env,
                         capture_output=True, timeout=300)
    out = (res.stdout + res.stderr).decode(errors="replace")
    assert res.returncode == 0, out[-4000:]
    assert "ERROR" not in out, out[-4000:]


def test_offlineimap_one_way_and_two_way(server, tmpdir_columba):
    need("offlineimap")
    env = dict(os.environ, HOME=tmpdir_columba)
    n = 300
    lmtp = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    for i in range(1, n + 1):
        lmtp.sendmail("sender@remote.test", [USER],
                      msg(i, b"x" * (i * 7 % 500) + b"\r\n"))
    lmtp.quit()
    assert wait_message_count(server.imap_port, USER, PASSWORD, n) == n
    m = imap(server)
    m.select("INBOX")
    assert m.store("1:50", "+FLAGS", "(\\Seen)")[0] == "OK"
    assert m.store("51:60", "+FLAGS", "(\\Flagged)")[0] == "OK"
    m.logout()

    # one way: the server is read only
    conf = os.path.join(tmpdir_columba, "oi-ro.conf")
    offlineimap_config(conf, server, tmpdir_columba, "ro", "True")
    run_offlineimap(conf, env)
    got = read_maildir(os.path.join(tmpdir_columba, "mail-ro"))
    inbox = got["INBOX"]
    assert len(inbox) == n
    # offlineimap writes LF line ends; LMTP added trace headers
    lf = lambda b: b.replace(b"\r\n", b"\n")
    bodies = sorted(lf(b).split(b"\n\n", 1)[1] for b, _ in inbox)
    assert bodies == sorted(lf(msg(i, b"x" * (i * 7 % 500) + b"\r\n"))
                            .split(b"\n\n", 1)[1] for i in range(1, n + 1))
    assert sum(1 for _, f in inbox if "S" in f) == 50
    assert sum(1 for _, f in inbox if "F" in f) == 10

    # two way: changes on both sides meet
    conf = os.path.join(tmpdir_columba, "oi-rw.conf")
    offlineimap_config(conf, server, tmpdir_columba, "rw", "False")
    run_offlineimap(conf, env)
    root = os.path.join(tmpdir_columba, "mail-rw", "INBOX")
    files = sorted(glob.glob(os.path.join(root, "cur", "*")) +
                   glob.glob(os.path.join(root, "new", "*")))
    assert len(files) == n
    unseen = [p for p in files if not re.search(r":2,[A-Z]*S", p)]
    target = unseen[0]
    with open(target, "rb") as f:
        answered_body = f.read()
    base = os.path.join(root, "cur", os.path.basename(target).split(":2,")[0])
    os.rename(target, base + ":2,RS")
    with open(unseen[1], "rb") as f:
        gone_body = f.read()
    os.unlink(unseen[1])
    new_local = b"From: local@test\nSubject: written locally\n\nhello\n"
    with open(os.path.join(root, "new", "1.local.host"), "wb") as f:
        f.write(new_local)
    m = imap(server)
    m.select("INBOX")
    assert m.store("61", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    deliver(server, msg(1000))
    m.logout()

    run_offlineimap(conf, env)
    remote = mailbox_contents(server, "INBOX")
    crlf = lambda b: b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    flat = {crlf(b): f for b, f in remote.items()}
    assert {b"\\Answered", b"\\Seen"} <= flat[crlf(answered_body)][0]
    assert crlf(gone_body) not in flat
    assert any(b.endswith(b"hello\r\n") and b"written locally" in b
               for b in flat)
    assert sum(len(v) for v in remote.values()) == n - 1 - 1 + 1 + 1
    local = read_maildir(os.path.join(tmpdir_columba, "mail-rw"))["INBOX"]
    assert len(local) == n - 1 - 1 + 1 + 1
    assert any(b"message 1000" in b for b, _ in local)


# --- curl -------------------------------------------------------------------

def curl(*args):
    res = subprocess.run(["curl", "-sS", "--max-time", "20",
                          "-u", "%s:%s" % (USER, PASSWORD)] + list(args),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_curl_imap_urls(server):
    need("curl")
    bodies = [msg(i, b"line\r\n" * i) for i in range(1, 4)]
    for b in bodies:
        deliver(server, b)
    base = "imap://127.0.0.1:%d" % server.imap_port
    # a message by UID, byte for byte
    for uid in (1, 3):
        assert curl(base + "/INBOX;UID=%d" % uid).endswith(bodies[uid - 1])
    # a section of one
    assert curl(base + "/INBOX;UID=2;SECTION=HEADER.FIELDS%20(SUBJECT)") \
        .startswith(b"Subject: message 2\r\n")
    # listing
    listing = curl(base + "/")
    assert re.search(rb'^\* LIST \([^)]*\) "/" INBOX\r$', listing, re.M), listing
    # custom commands
    out = curl("-X", "UID SEARCH ALL", base + "/INBOX")
    assert out.replace(b"\r\n", b"\n") == b"* SEARCH 1 2 3\n", out
    out = curl("-X", "STATUS INBOX (MESSAGES UIDNEXT)", base + "/")
    assert b"* STATUS INBOX (MESSAGES 3 UIDNEXT 4)" in out, out
    # over imaps, the certificate checked against a CA file
    out = curl("--cacert", server.cert, "--resolve",
               "localhost:%d:127.0.0.1" % server.imaps_port,
               "imaps://localhost:%d/INBOX;UID=2" % server.imaps_port)
    assert out.endswith(bodies[1])
    # and STARTTLS required by the client on the plain port
    out = curl("--ssl-reqd", "--cacert", server.cert, "--resolve",
               "localhost:%d:127.0.0.1" % server.imap_port,
               "imap://localhost:%d/INBOX;UID=1" % server.imap_port)
    assert out.endswith(bodies[0])
    # a UID that does not exist is an error, not an empty success
    res = subprocess.run(["curl", "-sS", "--max-time", "20", "-u",
                          "%s:%s" % (USER, PASSWORD),
                          base + "/INBOX;UID=99"], capture_output=True)
    assert res.returncode != 0 or res.stdout == b""


# --- fetchmail --------------------------------------------------------------

def run_fetchmail(tmpdir, server, keep):
    out = os.path.join(tmpdir, "fetched-%s" % keep)
    os.makedirs(out)
    mda = os.path.join(tmpdir, "mda.sh")
    with open(mda, "w") as f:
        f.write("#!/bin/sh\ncat > \"$1/msg.$$.$(date +%s%N)\"\n")
    os.chmod(mda, 0o755)
    rc = os.path.join(tmpdir, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 protocol imap port %d auth password\n'
                '  user "%s" password "%s" is root here\n'
                '  mda "%s %s" %s\n'
                % (server.imap_port, USER, PASSWORD, mda, out,
                   "keep fetchall" if keep else "nokeep fetchall"))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=tmpdir, FETCHMAILHOME=tmpdir)
    res = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog",
                          "--sslproto", "", "--pidfile",
                          os.path.join(tmpdir, "fm.pid")],
                         env=env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return sorted(open(p, "rb").read()
                  for p in glob.glob(os.path.join(out, "msg.*")))


def test_fetchmail_imap_keep_and_nokeep(server, tmpdir_columba):
    need("fetchmail")
    bodies = [msg(i, b".dot line\r\n") for i in range(1, 5)]
    for b in bodies:
        deliver(server, b)
    got = run_fetchmail(tmpdir_columba, server, keep=True)
    assert len(got) == 4
    for b in bodies:
        want = b.replace(b"\r\n", b"\n")
        assert any(g.endswith(want) for g in got), (want, got)
    # kept, and marked \Seen
    remote = mailbox_contents(server, "INBOX")
    assert sum(len(v) for v in remote.values()) == 4
    assert all(b"\\Seen" in f for v in remote.values() for f in v)

    got = run_fetchmail(tmpdir_columba, server, keep=False)
    assert len(got) == 4
    assert mailbox_contents(server, "INBOX") == {}


# --- IDLE while mail arrives by LMTP ------------------------------------------

def test_idle_sees_lmtp_delivery(server):
    sock = socket.create_connection(("127.0.0.1", server.imap_port),
                                    timeout=20)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"* OK")
    sock.sendall(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(), PASSWORD.encode()))
    while not f.readline().startswith(b"a OK"):
        pass
    sock.sendall(b"b SELECT INBOX\r\n")
    while not f.readline().startswith(b"b OK"):
        pass
    sock.sendall(b"c IDLE\r\n")
    assert f.readline().startswith(b"+ ")

    arrivals = {}
    done = threading.Event()

    def reader():
        while not done.is_set():
            line = f.readline()
            if not line:
                return
            mo = re.match(rb"\* (\d+) EXISTS", line)
            if mo:
                arrivals[int(mo.group(1))] = time.monotonic()
    t = threading.Thread(target=reader, daemon=True)
    t.start()

    lmtp = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    lmtp.ehlo("client.test")
    delays = []
    for i in range(1, 21):
        lmtp.sendmail("sender@remote.test", [USER], msg(i))
        t_250 = time.monotonic()
        deadline = t_250 + 5
        while i not in arrivals and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert i in arrivals, "no EXISTS for message %d" % i
        delays.append(max(0.0, arrivals[i] - t_250))
    lmtp.quit()
    done.set()
    sock.sendall(b"DONE\r\n")
    t.join(5)
    sock.close()
    med = statistics.median(delays)
    print("\nIDLE: LMTP 250 -> EXISTS median %.1f ms, max %.1f ms"
          % (med * 1000, max(delays) * 1000))
    assert med < 0.1, delays
    assert max(delays) < 2.0, delays


# --- COMPRESS=DEFLATE ---------------------------------------------------------

class Deflated:
    """An IMAP client speaking raw DEFLATE after COMPRESS."""

    def __init__(self, server, tls=False, wbits=-15):
        port = server.imaps_port if tls else server.imap_port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls:
            ctx = ssl.create_default_context(cafile=server.cert)
            ctx.check_hostname = False
            self.sock = ctx.wrap_socket(self.sock)
        self.plain = self.sock.makefile("rb")
        assert self.plain.readline().startswith(b"* OK")
        self.buf = b""
        self.compressed = False
        self.comp = zlib.compressobj(6, zlib.DEFLATED, wbits)
        self.decomp = zlib.decompressobj(-15)

    def send(self, data):
        if self.compressed:
            data = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def readline(self):
        if not self.compressed:
            return self.plain.readline()
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += self.decomp.decompress(chunk)
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_exact(self, n):
        if not self.compressed:
            return self.plain.read(n)
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "closed"
            self.buf += self.decomp.decompress(chunk)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def command(self, tag, text):
        self.send(b"%s %s\r\n" % (tag, text))
        lines = []
        while True:
            line = self.readline()
            assert line, lines
            lines.append(line)
            mo = re.search(rb"\{(\d+)\}\r\n$", line)
            if mo:
                lines.append(self.read_exact(int(mo.group(1))))
                continue
            if line.startswith(tag + b" "):
                return lines

    def start(self):
        assert self.command(b"a", b'LOGIN "%s" "%s"' % (
            USER.encode(), PASSWORD.encode()))[-1].startswith(b"a OK")
        caps = b"".join(self.command(b"b", b"CAPABILITY"))
        assert b"COMPRESS=DEFLATE" in caps
        assert self.command(b"c", b"COMPRESS DEFLATE")[-1] == \
            b"c OK DEFLATE active\r\n"
        self.compressed = True


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "imaps"])
def test_compress_deflate(server, tls):
    big = msg(1, (b"%07d the quick brown fox jumps over the lazy dog\r\n"
                  * 30000) % tuple(range(30000)))
    deliver(server, big)
    deliver(server, msg(2))
    c = Deflated(server, tls=tls)
    c.start()
    resp = c.command(b"d", b"SELECT INBOX")
    assert b"* 2 EXISTS\r\n" in resp and resp[-1].startswith(b"d OK")
    # a large literal streamed through the layer, byte for byte
    resp = c.command(b"e", b"UID FETCH 1 BODY.PEEK[]")
    assert resp[1].endswith(big) and resp[-1].startswith(b"e OK")
    # many small replies pipelined, each flushed
    c.send(b"".join(b"n%d NOOP\r\n" % i for i in range(200)))
    for i in range(200):
        while not c.readline().startswith(b"n%d OK" % i):
            pass
    # APPEND with a literal, compressed upwards
    body = b"Subject: up\r\n\r\n" + b"compressible " * 5000 + b"\r\n"
    c.send(b"f APPEND INBOX {%d}\r\n" % len(body))
    assert c.readline().startswith(b"+")
    c.send(body + b"\r\n")
    while True:
        line = c.readline()
        if line.startswith(b"f "):
            break
    assert line.startswith(b"f OK"), line
    assert c.command(b"g", b"UID FETCH 3 BODY.PEEK[]")[1] == body
    # an interactive command's reply is not held back by the compressor
    t0 = time.monotonic()
    assert c.command(b"h", b"NOOP")[-1].startswith(b"h OK")
    assert time.monotonic() - t0 < 1.0
    # COMPRESS twice is BAD
    assert c.command(b"i", b"COMPRESS DEFLATE")[-1].startswith(
        b"i BAD [COMPRESSIONACTIVE]")
    resp = c.command(b"z", b"LOGOUT")
    assert resp[0].startswith(b"* BYE") and resp[-1].startswith(b"z OK")
    c.sock.close()
    assert server.wait_log("Disconnected: Logged out")


def test_compress_errors(server):
    c = Deflated(server)
    assert c.command(b"a", b'LOGIN "%s" "%s"' % (
        USER.encode(), PASSWORD.encode()))[-1].startswith(b"a OK")
    assert c.command(b"b", b"COMPRESS")[-1].startswith(b"b BAD")
    assert c.command(b"c", b"COMPRESS GZIP")[-1].startswith(b"c BAD")
    assert c.command(b"d", b"COMPRESS DEFLATE extra")[-1].startswith(b"d BAD")
    # a client with a small window is fine too
    c2 = Deflated(server, wbits=-9)
    c2.start()
    assert c2.command(b"x", b"LIST \"\" INBOX")[-1].startswith(b"x OK")
    c2.sock.close()
    # garbage instead of DEFLATE: logged, the connection closed
    assert c.command(b"e", b"COMPRESS DEFLATE")[-1].startswith(b"e OK")
    c.sock.sendall(b"\xff\xff\xff\xff not deflate at all\r\n")
    c.sock.settimeout(10)
    data = b""
    while True:
        chunk = c.sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert server.wait_log("Invalid compressed data")
    # the server is still fine
    m = imap(server)
    m.logout()


# --- capability audit ---------------------------------------------------------

# One check per capability the session may advertise: (commands, the bytes
# the tagged-OK reply must contain). Each command is sent on the same
# session, in order, with "INBOX" selected and two messages in it.
CAPABILITY_CHECKS = {
    "IMAP4rev1": [(b"NOOP", b"")],
    "LITERAL+": [(b"STATUS {5+}\r\nINBOX (MESSAGES)", b"* STATUS INBOX")],
    "LITERAL-": [(b"STATUS {5+}\r\nINBOX (UIDNEXT)", b"* STATUS INBOX")],
    "ENABLE": [(b"ENABLE X-NONE", b"* ENABLED")],
    "ID": [(b"ID NIL", b"* ID ")],
    "IDLE": [],  # test_idle_sees_lmtp_delivery
    "COMPRESS=DEFLATE": [],  # test_compress_deflate
    "NAMESPACE": [(b"NAMESPACE", b'* NAMESPACE ((""')],
    "UNSELECT": [(b"UNSELECT", b""), (b"SELECT INBOX", b"")],
    "CHILDREN": [(b"CREATE cap/child", b""),
                 (b'LIST "" cap', b"\\HasChildren")],
    "LIST-EXTENDED": [(b'LIST (SUBSCRIBED) "" "*"', b"\\Subscribed")],
    "LIST-STATUS": [(b'LIST "" INBOX RETURN (STATUS (MESSAGES))',
                     b"* STATUS INBOX (MESSAGES 2")],
    "SPECIAL-USE": [(b'LIST "" "*" RETURN (SPECIAL-USE)', b"\\Trash")],
    "CREATE-SPECIAL-USE": [(b"CREATE capsent (USE (\\Sent))", b""),
                           (b'LIST "" capsent RETURN (SPECIAL-USE)',
                            b"\\Sent")],
    "STATUS=SIZE": [(b"STATUS INBOX (SIZE)", b"SIZE ")],
    "UIDPLUS": [(b"APPEND INBOX {12+}\r\nSubject: x\r\n", b"[APPENDUID ")],
    "MOVE": [(b"CREATE capmove", b""),
             (b"APPEND INBOX {12+}\r\nSubject: m\r\n", b""),
             (b"MOVE * capmove", b"[COPYUID ")],
    "MULTIAPPEND": [(b"APPEND INBOX {12+}\r\nSubject: a\r\n {12+}\r\n"
                     b"Subject: b\r\n", b"[APPENDUID ")],
    "CATENATE": [(b"APPEND INBOX CATENATE (TEXT {12+}\r\nSubject: c\r\n "
                  b"URL \"/INBOX/;UID=1/;SECTION=TEXT\")", b"[APPENDUID ")],
    "BINARY": [(b"FETCH 1 BINARY.PEEK[1]", b"BINARY[1]")],
    "CONDSTORE": [(b"FETCH 1 (MODSEQ)", b"MODSEQ (")],
    "QRESYNC": [(b"ENABLE QRESYNC", b"* ENABLED QRESYNC")],
    "ESEARCH": [(b"SEARCH RETURN (COUNT) ALL", b"* ESEARCH ")],
    "SEARCHRES": [(b"SEARCH RETURN (SAVE) ALL", b""),
                  (b"FETCH $ (UID)", b"FETCH (UID")],
    "WITHIN": [(b"SEARCH YOUNGER 86400", b"* ")],
    "SORT": [(b"SORT (ARRIVAL) UTF-8 ALL", b"* SORT 1 2")],
    "SORT=DISPLAY": [(b"SORT (DISPLAYFROM) UTF-8 ALL", b"* SORT ")],
    "ESORT": [(b"SORT RETURN (COUNT) (ARRIVAL) UTF-8 ALL", b"* ESEARCH ")],
    "THREAD=REFERENCES": [(b"THREAD REFERENCES UTF-8 ALL", b"* THREAD ")],
    "THREAD=ORDEREDSUBJECT": [(b"THREAD ORDEREDSUBJECT UTF-8 ALL",
                               b"* THREAD ")],
    "SAVEDATE": [(b"FETCH 1 (SAVEDATE)", b"SAVEDATE ")],
    "OBJECTID": [(b"FETCH 1 (EMAILID THREADID)", b"EMAILID (")],
    "PREVIEW": [(b"FETCH 1 (PREVIEW)", b"PREVIEW ")],
    # i;unicode-casemap: fullwidth MESSAGE (NFKD) finds "message 1", "2"
    "I18NLEVEL=1": [(b"SEARCH RETURN (ALL) CHARSET UTF-8 SUBJECT {21+}\r\n"
                     b"\xef\xbc\xad\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xb3"
                     b"\xef\xbd\x81\xef\xbd\x87\xef\xbd\x85", b" ALL 1:2")],
    # ENABLE UTF8=ACCEPT only in the authenticated state (RFC 6855 §3);
    # test_imap_utf8.py has the rest
    "UTF8=ACCEPT": [(b"UNSELECT", b""),
                    (b"ENABLE UTF8=ACCEPT", b"* ENABLED UTF8=ACCEPT"),
                    (b'CREATE "cap-\xc3\xbc"', b""),
                    (b'LIST "" "cap-*"', b'"cap-\xc3\xbc"'),
                    (b"SELECT INBOX", b"")],
    "IMAP4rev2": [(b"ENABLE IMAP4rev2", b"* ENABLED IMAP4rev2")],
    # RFC 9208; test_quota.py has the rest
    "QUOTA": [(b"GETQUOTAROOT INBOX", b'* QUOTAROOT INBOX "User quota"')],
    "QUOTA=RES-STORAGE": [(b"STATUS INBOX (DELETED-STORAGE)",
                           b"DELETED-STORAGE ")],
    "QUOTA=RES-MESSAGE": [(b"STATUS INBOX (DELETED)", b"(DELETED ")],
}


@pytest.fixture
def audit_server(tmpdir_columba):
    # the opt-in capabilities on too, so that they are audited
    srv = start(tmpdir_columba, "imap_utf8_accept = yes\n")
    yield srv
    stop(srv)


def test_capability_audit(audit_server):
    """Every capability the session advertises is exercised at least
    once (here or by the test named in CAPABILITY_CHECKS); a capability
    without a check fails, so nothing is advertised untested."""
    server = audit_server
    deliver(server, msg(1, b"--\r\n"))
    deliver(server, msg(2))
    c = Deflated(server)
    assert c.command(b"a", b'LOGIN "%s" "%s"' % (
        USER.encode(), PASSWORD.encode()))[-1].startswith(b"a OK")
    caps = b"".join(c.command(b"b", b"CAPABILITY"))
    caps = re.search(rb"\* CAPABILITY ([^\r\n]*)", caps).group(1).decode()
    names = caps.split()
    assert c.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    unchecked = []
    for cap in names:
        if cap.startswith("APPENDLIMIT="):
            limit = int(cap.split("=", 1)[1])
            # a synchronizing literal over the limit: refused before
            # any byte of it is sent
            resp = c.command(b"t", b"APPEND INBOX {%d}" % (limit + 1))
            assert resp[-1].startswith(b"t NO [TOOBIG]"), resp
            continue
        if cap.startswith("AUTH="):
            continue
        if cap == "UNAUTHENTICATE":
            continue  # ends the session: checked after the loop
        if cap not in CAPABILITY_CHECKS:
            unchecked.append(cap)
            continue
        for i, (cmd, want) in enumerate(CAPABILITY_CHECKS[cap]):
            tag = b"k%d" % i
            resp = c.command(tag, cmd)
            assert resp[-1].startswith(tag + b" OK"), (cap, resp)
            assert want in b"".join(r for r in resp[:-1]
                                    if isinstance(r, bytes)) or \
                want in resp[-1], (cap, resp)
    if "UNAUTHENTICATE" in names:
        # RFC 8437 (more in test_imap_unauthenticate.py): back to the
        # not-authenticated state, where LOGIN works again
        resp = c.command(b"u", b"UNAUTHENTICATE")
        assert resp[-1].startswith(b"u OK"), resp
        assert b"UNAUTHENTICATE" not in b"".join(c.command(b"v",
                                                           b"CAPABILITY"))
        assert c.command(b"w", b'LOGIN "%s" "%s"' % (
            USER.encode(), PASSWORD.encode()))[-1].startswith(b"w OK")
    c.command(b"z", b"LOGOUT")
    c.sock.close()
    assert not unchecked, "advertised without a check: %s" % unchecked
    print("\nadvertised and checked: %s" % caps)
