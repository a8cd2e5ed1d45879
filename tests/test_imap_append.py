"""Adding and removing messages over IMAP: APPEND (synchronizing and
non-synchronizing literals, literal8, MULTIAPPEND, CATENATE, APPENDUID,
TRYCREATE, TOOBIG, a 20 MB message streamed without the mail process
holding it), COPY/MOVE with COPYUID, EXPUNGE and UID EXPUNGE ordering, and
a second session seeing the new messages on NOOP and in IDLE.

What was stored is checked through the storage itself: the user's mail is
exported with columba-mail-tool (Maildir++ with flags in the file names,
dovecot-keywords and INTERNALDATE as mtime)."""
import imaplib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import ColumbaServer, columba_binary

PASSWORD = "secret"
# room for test_append_20mb_streamed's message, not for two of it
APPEND_LIMIT = 21 * 1024 * 1024
USERS = ["u%d@example.com" % i for i in range(1, 21)]
# its blob store fails a share of its writes and reads (lib-blob's
# randomfail wrapper, reproducible from the seed)
FAULTY_USER = "faulty@example.com"
_user_iter = iter(USERS)


def mail_tool():
    bindir = os.path.dirname(os.path.dirname(columba_binary()))
    return os.path.join(bindir, "lib-storage", "columba-mail-tool")


def as_internal_user():
    pw = pwd.getpwnam("columba")

    def demote():
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return demote


class Server:
    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.home = os.path.join(tmpdir, "home")
        os.makedirs(self.home)
        os.chmod(self.home, 0o1777)
        users = os.path.join(tmpdir, "users")
        with open(users, "w") as f:
            for u in USERS:
                f.write("%s:{PLAIN}%s::::%s/%s::\n" % (u, PASSWORD, self.home, u))
            f.write("%s:{PLAIN}%s::::%s/%s::userdb_mail_blob_store="
                    "randomfail:fail_put=0.3:fail_get=0.3:seed=11:posix:%s/%s/blobs\n"
                    % (FAULTY_USER, PASSWORD, self.home, FAULTY_USER,
                       self.home, FAULTY_USER))
        os.chmod(users, 0o644)
        config = (
            "auth_mechanisms = plain login\n"
            "auth_failure_delay = 0\n"
            "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
            "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
            "imap_max_append_size = %d\n"
            % (users, users, APPEND_LIMIT))
        # no TLS: the PREAUTH tool reads the config as the mail user
        self.server = ColumbaServer(tmpdir, extra_config=config, ssl=False).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", self.server.imap_port)) as s:
                if b"AUTH=PLAIN" in s.recv(4096):
                    break
            time.sleep(0.05)

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.server.imap_port)
        m.login(user, PASSWORD)
        return m

    def raw(self, user):
        return Raw(self.server.imap_port, user)

    def user_home(self, user):
        return os.path.join(self.home, user)

    def add_mailbox(self, user, name):
        """Create a mailbox before the user's first login (there is no
        CREATE yet): import an empty Maildir++ folder."""
        md = tempfile.mkdtemp(prefix="md-", dir=self.tmpdir)
        os.chmod(md, 0o755)
        for sub in ("", "." + name):
            for d in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, sub, d), exist_ok=True)
        home = self.user_home(user)
        os.makedirs(home, exist_ok=True)
        for root, dirs, files in os.walk(md):
            os.chmod(root, 0o755)
        pw = pwd.getpwnam("columba")
        os.chown(home, pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o700)
        subprocess.run([mail_tool(), "import-maildir", home, md], check=True,
                       preexec_fn=as_internal_user(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def export(self, user):
        """{mailbox: [(uid, flags, keywords, mtime, bytes)]} by UID."""
        dest = tempfile.mkdtemp(prefix="export-", dir=self.tmpdir)
        os.chmod(dest, 0o777)
        out = os.path.join(dest, "md")
        subprocess.run([mail_tool(), "export-maildir", self.user_home(user), out],
                       check=True, preexec_fn=as_internal_user(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        result = {}
        for folder in os.listdir(out):
            path = os.path.join(out, folder)
            if folder == "cur" or folder == "new" or folder == "tmp":
                continue
            if not os.path.isdir(path) or not folder.startswith("."):
                continue
            result[folder[1:]] = read_maildir(path)
        result["INBOX"] = read_maildir(out)
        shutil.rmtree(dest, ignore_errors=True)
        return result

    def mail_pid(self):
        pids = self.server.child_pids("mail")
        assert len(pids) == 1, pids
        return pids[0]


def read_maildir(path):
    keywords = {}
    kwfile = os.path.join(path, "dovecot-keywords")
    if os.path.exists(kwfile):
        for line in open(kwfile):
            idx, name = line.split(None, 1)
            keywords[chr(ord("a") + int(idx))] = name.strip()
    uids = {}
    uidlist = os.path.join(path, "dovecot-uidlist")
    if os.path.exists(uidlist):
        for line in open(uidlist).readlines()[1:]:
            uid, rest = line.split(None, 1)
            base = rest.strip().lstrip(":").split(":")[0]
            uids[base] = int(uid)
    msgs = []
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            base, _, info = name.partition(":2,")
            flags = "".join(c for c in info if c.isupper())
            kws = sorted(keywords[c] for c in info if c.islower())
            full = os.path.join(d, name)
            data = open(full, "rb").read()
            msgs.append((uids.get(base.split(",")[0], 0), flags, kws,
                         int(os.stat(full).st_mtime), data))
    return sorted(msgs)


class Raw:
    """A plain socket IMAP client for what imaplib cannot send."""

    def __init__(self, port, user):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""
        self.tags = itertools.count(1)
        assert self.readline().startswith(b"* OK")
        _, tagged = self.command(b"LOGIN %s %s" % (user.encode(), PASSWORD.encode()))
        assert b" OK" in tagged, tagged

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def next_tag(self):
        return b"t%d" % next(self.tags)

    def read_tagged(self, tag):
        untagged = []
        while True:
            line = self.readline()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    def command(self, text):
        tag = self.next_tag()
        self.send(tag + b" " + text + b"\r\n")
        return self.read_tagged(tag)

    def select(self, box=b"INBOX"):
        untagged, tagged = self.command(b"SELECT " + box)
        assert b" OK" in tagged, tagged
        exists = [int(l.split()[1]) for l in untagged if l.endswith(b" EXISTS")]
        uidvalidity = [int(re.search(rb"UIDVALIDITY (\d+)", l).group(1))
                       for l in untagged if b"UIDVALIDITY" in l]
        return exists[0], uidvalidity[0]


def message(n, size=0):
    body = b"Body of message %d.\r\n" % n
    if size:
        line = b"x" * 76 + b"\r\n"
        body += line * (size // len(line))
    return (b"From: a@example.com\r\nTo: b@example.com\r\n"
            b"Subject: test %d\r\nMessage-ID: <m%d@example.com>\r\n\r\n" % (n, n)
            ) + body


@pytest.fixture(scope="module")
def srv():
    tmpdir = tempfile.mkdtemp(prefix="columba-append-")
    s = Server(tmpdir)
    yield s
    rc = s.server.stop()
    log = s.server.log()
    if not os.environ.get("COLUMBA_KEEP_TMP"):
        shutil.rmtree(tmpdir, ignore_errors=True)
    assert "Panic:" not in log, log
    assert rc == 0, log


@pytest.fixture
def user():
    return next(_user_iter)


def appenduid(text):
    m = re.search(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", text)
    assert m, text
    return int(m.group(1)), m.group(2).decode()


# --- APPEND ---

def test_append_flags_date_appenduid(srv, user):
    m = srv.imap(user)
    msg = message(1)
    typ, data = m.append("INBOX", r"(\Seen \Flagged $Work)",
                         '"05-Mar-2024 10:11:12 +0100"', msg)
    assert typ == "OK", data
    uidvalidity, uids = appenduid(data[0])
    assert uids == "1"
    typ, data = m.append("INBOX", None, None, message(2))
    assert appenduid(data[0]) == (uidvalidity, "2")
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    assert int(m.response("UIDVALIDITY")[1][0]) == uidvalidity
    typ, data = m.uid("FETCH", "1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", data
    meta = data[0][0]
    # (\Recent: this session is the first to see it, IMAP4rev1)
    flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).split()
    assert [f for f in flags if f != b"\\Recent"] == \
        [b"\\Flagged", b"\\Seen", b"$Work"], meta
    assert b'INTERNALDATE "05-Mar-2024 10:11:12 +0100"' in meta, meta
    assert b"RFC822.SIZE %d" % len(msg) in meta, meta
    assert data[0][1] == msg
    m.logout()

    stored = srv.export(user)["INBOX"]
    assert [s[0] for s in stored] == [1, 2]
    uid, flags, kws, mtime, data = stored[0]
    assert flags == "FS"
    assert kws == ["$Work"]
    # 10:11:12 +0100 is 09:11:12 UTC
    assert mtime == 1709629872
    assert data == msg
    assert stored[1][1] == "" and stored[1][4] == message(2)


def test_capabilities_and_status_appendlimit(srv, user):
    r = srv.raw(user)
    untagged, _ = r.command(b"CAPABILITY")
    caps = untagged[0].split()[2:]
    for cap in (b"UIDPLUS", b"MOVE", b"MULTIAPPEND", b"CATENATE", b"BINARY",
                b"LITERAL+", b"APPENDLIMIT=%d" % APPEND_LIMIT):
        assert cap in caps, (cap, caps)
    untagged, tagged = r.command(b"STATUS INBOX (APPENDLIMIT MESSAGES)")
    assert b" OK " in tagged
    assert b"APPENDLIMIT %d" % APPEND_LIMIT in untagged[0], untagged
    r.close()


def test_preauth_appendlimit(srv, user):
    """columba imap -u USER (no master service) takes APPENDLIMIT from the
    configuration too."""
    p = subprocess.run([columba_binary(), "imap", "-c", srv.server.config_path,
                        "-u", user], input=b"a CAPABILITY\r\nb LOGOUT\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=as_internal_user(), timeout=20)
    assert b"APPENDLIMIT=%d" % APPEND_LIMIT in p.stdout.split(b"\r\n")[1], p.stdout
    assert b"b OK" in p.stdout, (p.stdout, p.stderr)


def test_preauth_no_appendlimit(srv, user):
    """imap_max_append_size = 0: no limit, APPENDLIMIT not advertised, STATUS
    says NIL (RFC 7889 §3)."""
    conf = os.path.join(srv.tmpdir, "nolimit.conf")
    with open(srv.server.config_path) as f:
        text = f.read().replace("imap_max_append_size = %d" % APPEND_LIMIT,
                                "imap_max_append_size = 0")
    with open(conf, "w") as f:
        f.write(text)
    os.chmod(conf, 0o644)
    p = subprocess.run([columba_binary(), "imap", "-c", conf, "-u", user],
                       input=b"a CAPABILITY\r\nb STATUS INBOX (APPENDLIMIT)\r\n"
                       b"c LOGOUT\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=as_internal_user(), timeout=20)
    lines = p.stdout.split(b"\r\n")
    assert b"APPENDLIMIT" not in lines[1] and b"CATENATE" in lines[1], lines
    assert b"* STATUS INBOX (APPENDLIMIT NIL)" in lines, (lines, p.stderr)


def test_append_bad_arguments(srv, user):
    r = srv.raw(user)
    # bad flag, bad date, no literal: BAD before any "+"
    for args in (rb"INBOX (\Bogus) {5}", rb'INBOX "31-Feb-2024 00:00:00 +0000" {5}',
                 rb"INBOX (\Recent) {5}", b"INBOX", b"INBOX (\\Seen)"):
        untagged, tagged = r.command(b"APPEND " + args)
        assert b" BAD " in tagged, (args, tagged)
        assert not any(l.startswith(b"+") for l in untagged)
    # a zero-length message
    untagged, tagged = r.command(b"APPEND INBOX {0}")
    assert b" NO " in tagged
    assert r.select()[0] == 0
    r.close()


def test_append_missing_mailbox_trycreate(srv, user):
    r = srv.raw(user)
    tag = r.next_tag()
    r.send(tag + b" APPEND Nowhere {5}\r\n")
    line = r.readline()
    assert line.startswith(tag + b" NO [TRYCREATE]"), line
    # a non-synchronizing literal's bytes are read and dropped
    tag = r.next_tag()
    r.send(tag + b" APPEND Nowhere (\\Seen) {8+}\r\nA NOOP\r\n\r\n")
    _, tagged = r.read_tagged(tag)
    assert tagged.startswith(tag + b" NO [TRYCREATE]"), tagged
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    r.close()


def test_append_mailbox_name_literal(srv, user):
    r = srv.raw(user)
    msg = message(5)
    tag = r.next_tag()
    r.send(tag + b" APPEND {5}\r\n")
    assert r.readline().startswith(b"+")
    r.send(b"INBOX (\\Seen) {%d}\r\n" % len(msg))
    assert r.readline().startswith(b"+")
    r.send(msg + b"\r\n")
    _, tagged = r.read_tagged(tag)
    assert appenduid(tagged)[1] == "1", tagged
    # a missing mailbox: NO instead of the message's "+"
    tag = r.next_tag()
    r.send(tag + b" APPEND {7}\r\n")
    assert r.readline().startswith(b"+")
    r.send(b"Nowhere {%d}\r\n" % len(msg))
    assert r.readline().startswith(tag + b" NO [TRYCREATE]")
    # non-synchronizing, and too long to be a name
    tag = r.next_tag()
    r.send(tag + b" APPEND {5+}\r\nINBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    _, tagged = r.read_tagged(tag)
    assert appenduid(tagged)[1] == "2", tagged
    tag = r.next_tag()
    r.send(tag + b" APPEND {5000}\r\n")
    assert r.readline().startswith(tag + b" BAD")
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK " in tagged
    r.close()
    assert [s[4] for s in srv.export(user)["INBOX"]] == [msg, msg]


def test_append_literal_plus_and_literal8(srv, user):
    r = srv.raw(user)
    msg = message(3)
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    _, tagged = r.read_tagged(tag)
    assert b"OK [APPENDUID" in tagged, tagged
    assert appenduid(tagged)[1] == "1"

    binary = (b"From: a@example.com\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\x02\xff\x00end")
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX ~{%d}\r\n" % len(binary))
    assert r.readline().startswith(b"+")
    r.send(binary + b"\r\n")
    _, tagged = r.read_tagged(tag)
    assert appenduid(tagged)[1] == "2"

    # FETCH BINARY gives the NULs back in a literal8
    r.select()
    tag = r.next_tag()
    r.send(tag + b" UID FETCH 2 (BINARY.PEEK[1])\r\n")
    untagged, tagged = r.read_tagged(tag)
    assert b" OK " in tagged, tagged
    assert b"BINARY[1] ~{8}" in untagged[0], untagged
    assert b"\r\n".join(untagged).endswith(b"\x00\x01\x02\xff\x00end)")

    # NUL outside literal8: refused, the connection goes on
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d}\r\n" % len(binary))
    assert r.readline().startswith(b"+")
    r.send(binary + b"\r\n")
    _, tagged = r.read_tagged(tag)
    assert tagged.startswith(tag + b" BAD"), tagged
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    r.close()
    stored = srv.export(user)["INBOX"]
    assert [s[4] for s in stored] == [msg, binary]


def test_append_too_big(srv, user):
    r = srv.raw(user)
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {4000000000}\r\n")
    line = r.readline()
    assert line.startswith(tag + b" NO [TOOBIG]"), line
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d}\r\n" % (APPEND_LIMIT + 1))
    line = r.readline()
    assert line.startswith(tag + b" NO [TOOBIG]"), line
    # the limit itself is fine: "+" comes (and the client gives up)
    r.send(b"y APPEND INBOX {%d}\r\n" % APPEND_LIMIT)
    assert r.readline().startswith(b"+")
    r.close()
    r = srv.raw(user)
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    # non-synchronizing: the bytes would follow; the connection ends
    r.send(b"x APPEND INBOX {4000000000+}\r\n")
    lines = []
    try:
        while True:
            lines.append(r.readline())
    except (EOFError, ConnectionResetError):
        pass
    assert any(l.startswith(b"x NO [TOOBIG]") for l in lines), lines
    assert any(l.startswith(b"* BYE") for l in lines), lines
    r.close()


def test_multiappend(srv, user):
    r = srv.raw(user)
    msgs = [message(10), message(11), message(12)]
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX (\\Seen) {%d}\r\n" % len(msgs[0]))
    assert r.readline().startswith(b"+")
    r.send(msgs[0] + b' (\\Draft) "01-Jan-2020 00:00:00 +0000" {%d}\r\n' % len(msgs[1]))
    assert r.readline().startswith(b"+")
    r.send(msgs[1] + b" {%d+}\r\n" % len(msgs[2]) + msgs[2] + b"\r\n")
    _, tagged = r.read_tagged(tag)
    uidvalidity, uids = appenduid(tagged)
    assert uids == "1:3"
    assert r.select()[0] == 3

    # a failure in the third message leaves nothing of the command
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d+}\r\n" % len(msgs[0]) + msgs[0] +
           b" {%d+}\r\n" % len(msgs[1]) + msgs[1] + b" (\\Bogus) {5}\r\n")
    untagged, tagged = r.read_tagged(tag)
    assert tagged.startswith(tag + b" BAD"), tagged
    assert not any(l.startswith(b"+") for l in untagged)
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d}\r\n" % len(msgs[0]))
    assert r.readline().startswith(b"+")
    r.send(msgs[0] + b" {0}\r\n")
    _, tagged = r.read_tagged(tag)
    assert tagged.startswith(tag + b" NO"), tagged
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    r.close()
    stored = srv.export(user)["INBOX"]
    assert [s[4] for s in stored] == msgs
    assert [s[1] for s in stored] == ["S", "D", ""]
    assert stored[1][3] == 1577836800


def test_catenate(srv, user):
    r = srv.raw(user)
    base = message(20)
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {%d+}\r\n" % len(base) + base + b"\r\n")
    _, tagged = r.read_tagged(tag)
    uidvalidity, _ = appenduid(tagged)
    header = base[:base.index(b"\r\n\r\n") + 4]
    text = b"A new body.\r\n"
    url = b'"/INBOX;UIDVALIDITY=%d/;UID=1/;SECTION=HEADER"' % uidvalidity
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX (\\Seen) CATENATE (URL %s TEXT {%d}\r\n"
           % (url, len(text)))
    assert r.readline().startswith(b"+")
    r.send(text + b" URL \"/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=0.4\")\r\n")
    _, tagged = r.read_tagged(tag)
    assert appenduid(tagged) == (uidvalidity, "2"), tagged

    # a bad URL: NO [BADURL], and no "+" for the literal after it
    for bad in (b'"/INBOX/;UID=99"', b'"/INBOX;UIDVALIDITY=1/;UID=1"',
                b'"/Nowhere/;UID=1"', b'"imap://host/INBOX/;UID=1"',
                b'"/INBOX/;UID=1/;SECTION=7"'):
        tag = r.next_tag()
        r.send(tag + b" APPEND INBOX CATENATE (URL %s TEXT {4}\r\n" % bad)
        line = r.readline()
        assert line.startswith(tag + b" NO [BADURL"), (bad, line)
    # inside MULTIAPPEND, with non-synchronizing literals: all dropped
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX CATENATE (TEXT {4+}\r\nabcd) "
           b"CATENATE (URL \"/INBOX/;UID=77\" TEXT {3+}\r\nxyz)\r\n")
    _, tagged = r.read_tagged(tag)
    assert tagged.startswith(tag + b" NO [BADURL"), tagged
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    r.close()
    stored = srv.export(user)["INBOX"]
    assert len(stored) == 2
    assert stored[1][4] == header + text + b"Body"
    assert stored[1][1] == "S"


def test_append_20mb_streamed(srv, user):
    r = srv.raw(user)
    pid = srv.mail_pid()

    def status(key):
        for line in open("/proc/%d/status" % pid):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    hwm_before = status("VmHWM")
    msg = message(30, size=20 * 1024 * 1024)
    tag = r.next_tag()
    start = time.monotonic()
    r.send(tag + b" APPEND INBOX {%d}\r\n" % len(msg))
    assert r.readline().startswith(b"+")
    chunk = 256 * 1024
    rss_max = 0
    for off in range(0, len(msg), chunk):
        r.send(msg[off:off + chunk])
        if off % (4 * 1024 * 1024) == 0:
            rss_max = max(rss_max, status("VmRSS"))
    r.send(b"\r\n")
    _, tagged = r.read_tagged(tag)
    elapsed = time.monotonic() - start
    assert b"OK [APPENDUID" in tagged, tagged
    hwm_after = status("VmHWM")
    print("20 MB APPEND: %.2f s, mail process VmHWM %d -> %d kB, VmRSS max %d kB"
          % (elapsed, hwm_before, hwm_after, rss_max))
    # the message never sits whole in the mail process (a sanitizer's
    # shadow memory, terabytes of VmSize, and its quarantine of freed
    # buffers make RSS meaningless there)
    if status("VmSize") < 1024 * 1024 * 1024:
        assert hwm_after - hwm_before < 8 * 1024, (hwm_before, hwm_after)
    # CATENATE can make a message larger than any of its parts
    untagged, tagged = r.command(b'APPEND INBOX CATENATE (URL "/INBOX/;UID=1" '
                                 b'URL "/INBOX/;UID=1")')
    assert b"NO [TOOBIG]" in tagged, tagged
    r.close()
    stored = srv.export(user)["INBOX"]
    assert len(stored) == 1 and stored[0][4] == msg


def test_append_disconnect_midway(srv, user):
    # the session ends in the middle of a literal: nothing is saved, the
    # process goes on
    r = srv.raw(user)
    tag = r.next_tag()
    r.send(tag + b" APPEND INBOX {1000000}\r\n")
    assert r.readline().startswith(b"+")
    r.send(b"x" * 300000)
    r.close()
    # and right after the whole message (the commit may be running)
    r = srv.raw(user)
    msg = message(40)
    r.send(b"a APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    r.close()
    time.sleep(0.3)
    r = srv.raw(user)
    count, _ = r.select()
    assert count in (0, 1)
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK" in tagged
    r.close()
    assert srv.server.proc.poll() is None
    assert len(srv.server.child_pids("mail")) == 1


# --- COPY, MOVE, EXPUNGE ---

def test_copy_move_copyuid(srv, user):
    srv.add_mailbox(user, "Archive")
    r = srv.raw(user)
    msgs = [message(50), message(51), message(52)]
    for i, msg in enumerate(msgs):
        tag = r.next_tag()
        flags = b"(\\Flagged) " if i == 0 else b""
        r.send(tag + b" APPEND INBOX %s{%d+}\r\n" % (flags, len(msg)) + msg + b"\r\n")
        r.read_tagged(tag)
    _, archive_validity = r.select(b"Archive")
    count, inbox_validity = r.select()
    assert count == 3

    untagged, tagged = r.command(b"COPY 1:2 Archive")
    assert tagged.endswith(b"OK [COPYUID %d 1:2 1:2] Copy completed." % archive_validity), tagged
    untagged, tagged = r.command(b"UID MOVE 3 Archive")
    assert b"OK" in tagged, tagged
    assert untagged[0] == b"* OK [COPYUID %d 3 3] Moved UIDs." % archive_validity, untagged
    assert b"* 3 EXPUNGE" in untagged
    untagged, tagged = r.command(b"MOVE 1 Archive")
    assert untagged[0] == b"* OK [COPYUID %d 1 4] Moved UIDs." % archive_validity, untagged
    assert untagged[1] == b"* 1 EXPUNGE", untagged

    # into the same mailbox (as Dovecot allows): a new UID, the old one goes
    untagged, tagged = r.command(b"MOVE 1 INBOX")
    assert untagged[0] == b"* OK [COPYUID %d 2 4] Moved UIDs." % inbox_validity, untagged
    assert untagged[1] == b"* 1 EXPUNGE", untagged
    assert b"* 1 EXISTS" in untagged, untagged
    _, tagged = r.command(b"COPY 1 Nowhere")
    assert b"NO [TRYCREATE]" in tagged
    _, tagged = r.command(b"COPY 5 Archive")
    assert b" BAD " in tagged
    _, tagged = r.command(b"UID COPY 99 Archive")
    assert b" OK " in tagged and b"COPYUID" not in tagged
    r.close()

    stored = srv.export(user)
    assert [(s[0], s[4]) for s in stored["INBOX"]] == [(4, msgs[1])]
    assert [(s[0], s[1], s[4]) for s in stored["Archive"]] == [
        (1, "F", msgs[0]), (2, "", msgs[1]), (3, "", msgs[2]), (4, "F", msgs[0])]


def apply_expunges(uids, untagged):
    for line in untagged:
        m = re.match(rb"\* (\d+) EXPUNGE$", line)
        if m:
            del uids[int(m.group(1)) - 1]
    return uids


def test_expunge_order(srv, user):
    r = srv.raw(user)
    deleted = [False, True, True, False, True, False, True]
    for i, d in enumerate(deleted):
        msg = message(60 + i)
        tag = r.next_tag()
        flags = b"(\\Deleted) " if d else b""
        r.send(tag + b" APPEND INBOX %s{%d+}\r\n" % (flags, len(msg)) + msg + b"\r\n")
        assert b" OK " in r.read_tagged(tag)[1]
    assert r.select()[0] == 7
    # UID EXPUNGE only touches the given UIDs
    untagged, tagged = r.command(b"UID EXPUNGE 1:5")
    assert b" OK " in tagged
    assert untagged == [b"* 5 EXPUNGE", b"* 3 EXPUNGE", b"* 2 EXPUNGE"] or \
        apply_expunges(list(range(1, 8)), untagged) == [1, 4, 6, 7], untagged
    view = apply_expunges(list(range(1, 8)), untagged)
    assert view == [1, 4, 6, 7]
    untagged, tagged = r.command(b"EXPUNGE")
    assert b" OK " in tagged
    assert apply_expunges(view, untagged) == [1, 4, 6]
    _, tagged = r.command(b"EXPUNGE extra")
    assert b" BAD " in tagged
    _, tagged = r.command(b"UID EXPUNGE")
    assert b" BAD " in tagged
    r.close()
    assert [s[0] for s in srv.export(user)["INBOX"]] == [1, 4, 6]


def test_qresync_vanished(srv, user):
    """With QRESYNC enabled, EXPUNGE and MOVE report VANISHED (RFC 7162
    §3.2.10), never EXPUNGE."""
    srv.add_mailbox(user, "Archive")
    r = srv.raw(user)
    for i, d in enumerate([True, True, False, True, False]):
        msg = message(80 + i)
        tag = r.next_tag()
        flags = b"(\\Deleted) " if d else b""
        r.send(tag + b" APPEND INBOX %s{%d+}\r\n" % (flags, len(msg)) + msg + b"\r\n")
        assert b" OK " in r.read_tagged(tag)[1]
    _, tagged = r.command(b"ENABLE QRESYNC")
    assert b" OK " in tagged
    assert r.select()[0] == 5
    untagged, tagged = r.command(b"EXPUNGE")
    assert b" OK " in tagged
    assert [l for l in untagged if b"EXPUNGE" in l or b"VANISHED" in l] == \
        [b"* VANISHED 1:2,4"], untagged
    untagged, tagged = r.command(b"UID MOVE 5 Archive")
    assert b" OK " in tagged, tagged
    assert untagged[0].startswith(b"* OK [COPYUID "), untagged
    assert [l for l in untagged if b"EXPUNGE" in l or b"VANISHED" in l] == \
        [b"* VANISHED 5"], untagged
    r.close()


def test_expunge_readonly_and_unselected(srv, user):
    r = srv.raw(user)
    _, tagged = r.command(b"EXPUNGE")
    assert b" BAD " in tagged
    untagged, tagged = r.command(b"EXAMINE INBOX")
    assert b" OK " in tagged
    _, tagged = r.command(b"EXPUNGE")
    assert b" NO " in tagged
    r.close()


def test_storage_failures(srv):
    """Blob writes and reads that fail at random: every APPEND, MULTIAPPEND
    and COPY is answered OK with its UIDs or NO with a response code, what
    was answered OK is there whole, and nothing else is."""
    r = srv.raw(FAULTY_USER)
    ok_uids = []
    failures = 0
    for i in range(24):
        msgs = [message(100 + i * 3 + j, size=3000) for j in range(1 + i % 3)]
        tag = r.next_tag()
        data = tag + b" APPEND INBOX"
        for msg in msgs:
            data += b" {%d+}\r\n" % len(msg) + msg
        r.send(data + b"\r\n")
        _, tagged = r.read_tagged(tag)
        if b" OK " in tagged:
            _, uids = appenduid(tagged)
            first, _, last = uids.partition(":")
            got = list(range(int(first), int(last or first) + 1))
            assert len(got) == len(msgs), tagged
            ok_uids += list(zip(got, msgs))
        else:
            assert re.match(rb"t\d+ NO \[[A-Z]+\] ", tagged), tagged
            failures += 1
    assert failures > 0 and ok_uids, (failures, len(ok_uids))
    count, _ = r.select()
    assert count == len(ok_uids)
    copies = 0
    for i in range(6):
        untagged, tagged = r.command(b"COPY 1:* INBOX")
        if b" OK " in tagged:
            copies += 1
        else:
            assert re.match(rb"t\d+ NO \[[A-Z]+\] ", tagged), tagged
    _, tagged = r.command(b"CAPABILITY")
    assert b" OK " in tagged
    r.close()
    stored = srv.export(FAULTY_USER)["INBOX"]
    assert [(s[0], s[4]) for s in stored[:len(ok_uids)]] == ok_uids
    assert len(stored) == len(ok_uids) * (1 + copies)


def test_second_session_sees_appends(srv, user):
    a = srv.raw(user)
    b = srv.raw(user)
    assert b.select()[0] == 0
    # the appending session, with INBOX selected, hears of it before OK
    assert a.select()[0] == 0
    msg = message(70)
    tag = a.next_tag()
    a.send(tag + b" APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    untagged, tagged = a.read_tagged(tag)
    assert b" OK " in tagged
    assert untagged[0] == b"* 1 EXISTS", untagged
    untagged, _ = b.command(b"NOOP")
    assert b"* 1 EXISTS" in untagged, untagged

    tag = b.next_tag()
    b.send(tag + b" IDLE\r\n")
    assert b.readline().startswith(b"+")
    a.send(b"x APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    assert b" OK " in a.read_tagged(b"x")[1]
    b.sock.settimeout(5)
    assert b.readline() == b"* 2 EXISTS"
    b.send(b"DONE\r\n")
    _, tagged = b.read_tagged(tag)
    assert b" OK " in tagged
    a.close()
    b.close()
