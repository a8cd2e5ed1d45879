"""LMTP delivery (src/lmtp) against the real server: Python's smtplib.LMTP
over TCP and the UNIX socket, raw sockets for pipelining, BDAT and the
error paths, and what was stored read back with columba-mail-tool's
Maildir export.
"""
import glob
import os
import shutil
import smtplib
import socket
import subprocess
import time

import pytest
import resource

from authclient import wait_socket
from conftest import (BUILD, LOG_CRASH_OR_SANITIZER, ColumbaServer, free_port,
                      stop_checked, wait_port)


def start(tmpdir, extra="", names=("alice", "bob", "carol"), service_mail=""):
    users = os.path.join(tmpdir, "users")
    home = os.path.join(tmpdir, "home")
    # the mail process runs as the internal user and creates the homes
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    with open(users, "w") as f:
        for name in names:
            f.write("%s@example.com:{PLAIN}x::::%s/%s::\n" % (name, home, name))
    os.chmod(users, 0o644)
    port = free_port()
    config = (
        "protocols = imap lmtp\n"
        "hostname = mx.test\n"
        "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "service mail {\n%s  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        % (users, users, service_mail, port)) + extra
    server = ColumbaServer(tmpdir, extra_config=config).start()
    server.lmtp_port = port
    server.lmtp_path = os.path.join(server.base_dir, "lmtp")
    server.home = home
    assert wait_port(port), server.log()
    assert wait_socket(server.lmtp_path), server.log()
    return server


def stop(server):
    # sanitizer builds: children's reports land in the log
    stop_checked(server, LOG_CRASH_OR_SANITIZER)


@pytest.fixture
def server(tmpdir_columba):
    srv = start(tmpdir_columba)
    yield srv
    stop(srv)


def stored(server, user, mailbox=None, count=None, timeout=10):
    """The messages in a user's mailbox (INBOX by default), as bytes (in
    no particular order). A `250` means the message is on disk, in the
    mail process's delivery journal at least; it reaches the user's
    mailbox a moment later (src/lmtp/lmtp-journal.c): with count, wait
    up to timeout seconds for that many."""
    deadline = time.monotonic() + timeout
    while True:
        out = stored_now(server, user, mailbox)
        if count is None or len(out) >= count or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def stored_now(server, user, mailbox=None):
    home = os.path.join(server.home, user)
    if not os.path.exists(os.path.join(home, "index.db")):
        return []
    dest = os.path.join(server.dir, "export-%s-%d" % (user, time.monotonic_ns()))
    tool = os.path.join(BUILD, "src/lib-storage/columba-mail-tool")
    # as the owner of the home (the mail process's user): files the
    # tool creates there (SQLite's -wal, -shm) must stay writable for it
    st = os.stat(home)

    def as_owner():
        os.setgid(st.st_gid)
        os.setuid(st.st_uid)
    os.makedirs(dest)
    os.chown(dest, st.st_uid, st.st_gid)
    subprocess.run([tool, "export-maildir", home, dest + "/m"], check=True,
                   stdout=subprocess.DEVNULL, preexec_fn=as_owner)
    dest_root, dest = dest, dest + "/m"
    folder = dest if mailbox is None else os.path.join(dest, "." + mailbox)
    files = glob.glob(os.path.join(folder, "cur", "*"))
    out = []
    for p in files:
        with open(p, "rb") as f:
            out.append(f.read())
    shutil.rmtree(dest_root)
    return out


class Raw:
    """A line-oriented LMTP client for what smtplib does not do."""

    def __init__(self, port=None, path=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(20)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\r\n")

    def reply(self):
        """One (possibly multi-line) reply as (code, [texts])."""
        texts = []
        while True:
            line = self.line()
            assert len(line) >= 3, "connection closed: %r" % texts
            texts.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), texts

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def close(self):
        # the makefile() object holds the socket open too
        self.f.close()
        self.sock.close()


def test_lhlo_capabilities(server):
    c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    code, _ = c.ehlo("client.test")
    assert code == 250
    for ext in ("pipelining", "chunking", "8bitmime", "binarymime",
                "enhancedstatuscodes", "size", "smtputf8"):
        assert c.has_extn(ext), ext
    assert c.verify("alice@example.com")[0] == 252
    assert c.noop()[0] == 250
    assert c.rset()[0] == 250
    assert c.quit()[0] == 221


def test_delivery_several_recipients_one_unknown(server):
    c = Raw(server.lmtp_port)
    assert c.greeting[0] == 220 and "mx.test" in c.greeting[1][0]
    assert c.cmd("LHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<sender@remote.test>") == (250, ["2.1.0 OK"])
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    code, text = c.cmd("RCPT TO:<nobody@example.com>")
    assert code == 550
    assert text == ["5.1.1 <nobody@example.com> User doesn't exist: nobody@example.com"]
    # the detail is cut for the lookup; no "tag" mailbox: INBOX
    assert c.cmd("RCPT TO:<Bob+tag@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    body = (b"Subject: test\r\n\r\nline one\r\n"
            b"..\r\n"          # a lone dot, stuffed
            b"...two dots\r\n"
            b"8bit \xc3\xa4\xff\r\n"
            b".\r\n")
    c.send(body)
    replies = [c.reply(), c.reply()]
    assert replies[0][0] == 250 and "<alice@example.com>" in replies[0][1][0]
    assert replies[0][1][0].endswith("Saved")
    assert replies[1][0] == 250 and "<Bob+tag@example.com>" in replies[1][1][0]
    assert c.cmd("QUIT")[0] == 221
    c.close()

    for user, rcpt in (("alice", b"alice@example.com"),
                       ("bob", b"Bob+tag@example.com")):
        msgs = stored(server, user, count=1)
        assert len(msgs) == 1, user
        msg = msgs[0]
        hdr, _, text = msg.partition(b"\r\n\r\n")
        lines = hdr.split(b"\r\n")
        assert lines[0] == b"Return-Path: <sender@remote.test>"
        assert lines[1] == b"Delivered-To: <" + rcpt + b">"
        assert lines[2] == b"Received: from client.test ([127.0.0.1])"
        assert b"by mx.test with LMTP id" in hdr
        assert b"for <" + rcpt + b">;" in hdr
        assert text == b"line one\r\n.\r\n..two dots\r\n8bit \xc3\xa4\xff\r\n"


def test_unix_socket_and_smtplib(server):
    c = smtplib.LMTP(server.lmtp_path)
    c.ehlo("local.test")
    refused = c.sendmail("<>", ["carol@example.com"],
                         b"Subject: over unix\r\n\r\nhi\r\n")
    assert refused == {}
    c.quit()
    msgs = stored(server, "carol", count=1)
    assert len(msgs) == 1
    assert msgs[0].startswith(b"Return-Path: <>\r\nDelivered-To: <carol@example.com>\r\n")
    assert b"Received: from local.test\r\n" in msgs[0]
    assert msgs[0].endswith(b"\r\n\r\nhi\r\n")


def test_pipelining(server):
    c = Raw(server.lmtp_port)
    c.send("LHLO p.test\r\nMAIL FROM:<a@b.test>\r\n"
           "RCPT TO:<alice@example.com>\r\nRCPT TO:<x@example.com>\r\n"
           "RCPT TO:<bob@example.com>\r\nDATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 550
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    # the body, the next transaction and QUIT in one write
    c.send("Subject: p1\r\n\r\none\r\n.\r\n"
           "MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.com>\r\n"
           "DATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    c.send("Subject: p2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    c.close()
    msgs = stored(server, "alice", count=2)
    assert sorted(m.rsplit(b"\r\n\r\n", 1)[1] for m in msgs) == [b"one\r\n", b"two\r\n"]
    assert len(stored(server, "bob", count=1)) == 1


def test_pipelined_replies_leave_together(server):
    """The replies to a pipelined MAIL, RCPTs and DATA are held while the
    RCPTs wait for userdb and leave in one send: the first read after
    the commands has all of them, in order (before, MAIL's reply went
    out alone while the first RCPT was looked up)."""
    c = Raw(server.lmtp_port)
    assert c.cmd("LHLO p.test")[0] == 250
    for n in range(3):
        c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.com>\r\n"
               "RCPT TO:<x@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
               "DATA\r\n")
        first = c.sock.recv(65536)
        codes = [line[:3] for line in first.split(b"\r\n") if line]
        assert codes == [b"250", b"250", b"550", b"250", b"354"], first
        c.send("Subject: t%d\r\n\r\nbody\r\n.\r\n" % n)
        assert c.reply()[0] == 250
        assert c.reply()[0] == 250
    # a command cut in two: the held replies go once the buffered part
    # has been read, they do not wait for the rest
    c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.com>\r\nDA")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    c.send("TA\r\n")
    assert c.reply()[0] == 354
    c.send("Subject: cut\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    c.close()
    assert len(stored(server, "alice", count=4)) == 4
    assert len(stored(server, "bob", count=3)) == 3


def test_user_cache_closes_least_recently_used(tmpdir_columba):
    """With room for few users (a low fd limit: 130 / 2 / 8 = 8 users'
    worth of fds, src/mail/mail-user-cache.c; 4 of them for users kept for
    IMAP, 4 for LMTP's cache), deliveries to more users close the least
    recently used idle ones: the mail process holds at most 8 users'
    indexes, and every delivery succeeds, to a closed user again too."""
    names = ["u%d" % i for i in range(12)]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # the master and the processes it forks inherit the limit; it only
    # raises it to client_limit * 2 + 128
    resource.setrlimit(resource.RLIMIT_NOFILE, (130, hard))
    try:
        srv = start(tmpdir_columba, names=names,
                    service_mail="  client_limit = 1\n")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        c = smtplib.LMTP("127.0.0.1", srv.lmtp_port)
        c.ehlo("x")
        for name in names + ["u0", "u11", "u5"]:
            c.sendmail("a@b.test", [name + "@example.com"],
                       "Subject: to %s\r\n\r\nbody\r\n" % name)
            assert len(stored(srv, name, count=1)) >= 1
        c.quit()
        assert len(stored(srv, "u0", count=2)) == 2
        assert len(stored(srv, "u5", count=2)) == 2
        assert len(stored(srv, "u11", count=2)) == 2
        (mail_pid,) = srv.child_pids("mail")
        fd_dir = "/proc/%d/fd" % mail_pid
        indexes = set()
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.endswith("/index.db"):
                indexes.add(target)
        assert 1 <= len(indexes) <= 8, indexes
        # the most recently used are the ones kept
        assert os.path.join(srv.home, "u5", "index.db") in indexes
    finally:
        stop(srv)


def test_bdat_binary(server):
    c = Raw(server.lmtp_port)
    c.cmd("LHLO b.test")
    assert c.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    # DATA cannot carry BINARYMIME
    assert c.cmd("DATA")[0] == 503
    part1 = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n"
    part2 = bytes(range(256)) * 4 + b"\r\n.\r\n\x00.\nlast"
    c.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, text = c.reply()
    assert code == 250 and "%d octets" % len(part1) in text[0]
    # pipelined: chunk, last chunk (empty), QUIT
    c.send(b"BDAT %d\r\n" % len(part2) + part2 + b"BDAT 0 LAST\r\nQUIT\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    c.close()
    for user in ("alice", "bob"):
        msg = stored(server, user, count=1)[0]
        assert msg.endswith(b"\r\n" + part1 + part2), user


def test_bdat_refused_chunk_is_consumed(server):
    c = Raw(server.lmtp_port)
    c.cmd("LHLO b.test")
    # no MAIL: the chunk (which looks like commands) is read and dropped
    junk = b"QUIT\r\nQUIT\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(junk) + junk)
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250
    c.send(b"BDAT 3 BOGUS\r\nabc")
    assert c.reply()[0] == 501
    assert c.cmd("BDAT x")[0] == 501
    c.close()


def test_command_errors(server):
    c = Raw(server.lmtp_port)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503      # LHLO first
    assert c.cmd("HELO x")[0] == 500
    assert c.cmd("EHLO x")[0] == 500
    assert c.cmd("LHLO")[0] == 501
    assert c.cmd("LHLO " + "a" * 256)[0] == 501
    assert c.cmd("LHLO ok.test")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("FOO")[0] == 500
    assert c.cmd("MAIL FROM:alice@example.com")[0] == 501
    assert c.cmd("MAIL FROM:<a@b.test> RET=FULL")[0] == 555
    assert c.cmd("MAIL FROM:<a@b.test> BODY=9BIT")[0] == 501
    assert c.cmd("MAIL FROM:<a@b.test> SIZE=abc")[0] == 501
    assert c.cmd("MAIL FROM:<j\xf6rg@b.test>")[0] == 501   # UTF-8 without SMTPUTF8
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503
    assert c.cmd("RCPT TO:<a..b@example.com>")[0] == 501
    assert c.cmd("RCPT TO:<alice@example.com> NOTIFY=NEVER")[0] == 555
    assert c.cmd("DATA")[0] == 503                        # no valid recipient
    assert c.cmd("VRFY")[0] == 501
    assert c.cmd("RSET")[0] == 250
    c.close()

    # too many errors end the connection
    c = Raw(server.lmtp_port)
    for _ in range(19):
        assert c.cmd("BOGUS")[0] == 500
    code, text = c.cmd("BOGUS")
    assert code == 500
    assert c.reply()[0] == 421
    assert c.f.readline() == b""
    c.close()

    # a command line beyond the limit
    c = Raw(server.lmtp_port)
    code, _ = c.cmd("NOOP " + "x" * 5000)
    assert code == 500
    assert c.f.readline() == b""
    c.close()


def test_smtputf8(server):
    c = Raw(server.lmtp_port)
    c.cmd("LHLO u.test")
    assert c.cmd("MAIL FROM:<j\u00f6rg@b\u00fccher.test> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<\"alice\"@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: \u00fc\r\n\r\nx\r\n.\r\n".encode())
    assert c.reply()[0] == 250
    c.close()
    msg = stored(server, "alice", count=1)[0]
    assert msg.startswith("Return-Path: <j\u00f6rg@b\u00fccher.test>\r\n".encode())
    assert b"with UTF8LMTP id" in msg


def test_large_message_streams(server):
    """20 MB through DATA: the mail process must not hold it in memory."""
    c = Raw(server.lmtp_port)
    c.cmd("LHLO big.test")
    c.cmd("MAIL FROM:<a@b.test> SIZE=21000000")
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    line = b"0123456789" * 10 + b"\r\n"
    chunk = line * 1000
    c.send(b"Subject: big\r\n\r\n")
    for _ in range(200):
        c.send(chunk)
    c.send(b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    pids = server.child_pids("mail")
    assert pids
    for pid in pids:
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" in f.read():
                # ASan's quarantine keeps freed memory resident
                continue
        with open("/proc/%d/status" % pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM:")][0]
        # peak resident set well below the message size
        assert int(hwm.split()[1]) < 15 * 1024, hwm
    msg = stored(server, "alice", count=1)[0]
    assert msg.endswith(b"\r\n\r\n" + chunk * 200)


def test_size_and_recipient_limits(tmpdir_columba):
    server = start(tmpdir_columba, "lmtp_max_message_size = 1000\n"
                                   "lmtp_max_recipients = 2\n")
    try:
        c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
        c.ehlo("l.test")
        assert c.esmtp_features["size"] == "1000"
        c.close()
        c = Raw(server.lmtp_port)
        c.cmd("LHLO l.test")
        assert c.cmd("MAIL FROM:<a@b.test> SIZE=2000")[0] == 552
        assert c.cmd("MAIL FROM:<a@b.test> SIZE=500")[0] == 250
        assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
        code, text = c.cmd("RCPT TO:<carol@example.com>")
        assert code == 452 and text[0].startswith("4.5.3")
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: too big\r\n\r\n" + b"x" * 2000 + b"\r\n.\r\n")
        for _ in range(2):
            code, text = c.reply()
            assert code == 552 and text[0].startswith("5.3.4"), text
        # the connection goes on
        assert c.cmd("NOOP")[0] == 250
        c.close()
        assert stored(server, "alice") == []
    finally:
        stop(server)


def test_detail_mailbox_falls_back_to_inbox(tmpdir_columba):
    server = start(tmpdir_columba, "lmtp_save_to_detail_mailbox = yes\n"
                                   "recipient_delimiter = +-\n")
    try:
        c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
        c.ehlo("d.test")
        assert c.sendmail("a@b.test", ["alice-news@example.com"],
                          b"Subject: d\r\n\r\nd\r\n") == {}
        c.quit()
        msgs = stored(server, "alice", count=1)
        assert len(msgs) == 1
        assert b"Delivered-To: <alice-news@example.com>" in msgs[0]
    finally:
        stop(server)


def test_lmtp_not_in_protocols_is_not_bound(tmpdir_columba):
    port = free_port()
    server = ColumbaServer(tmpdir_columba, extra_config=(
        "service mail {\n  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        % port)).start()
    try:
        assert not os.path.exists(os.path.join(server.base_dir, "lmtp"))
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        stop(server)


def test_storage_failure_is_temporary_for_that_recipient(server):
    # bob's home cannot be created: his copy fails, alice's is saved
    with open(os.path.join(server.home, "bob"), "w") as f:
        f.write("not a directory\n")
    c = Raw(server.lmtp_port)
    c.cmd("LHLO s.test")
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: s\r\n\r\ns\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.reply() == (451, ["4.3.0 <bob@example.com> Temporary internal error"])
    assert c.cmd("QUIT")[0] == 221
    c.close()
    assert len(stored(server, "alice", count=1)) == 1
    assert server.wait_log("<bob@example.com>: Opening the storage of bob@example.com failed")


def test_client_gone_mid_data_stores_nothing(server):
    c = Raw(server.lmtp_port)
    c.cmd("LHLO g.test")
    c.cmd("MAIL FROM:<a@b.test>")
    assert c.cmd("RCPT TO:<carol@example.com>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: cut\r\n\r\n" + b"x" * 100000)
    c.close()
    assert server.wait_log("Disconnected in the middle of a transaction")
    # the server still works, and nothing of the cut message was stored
    c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    c.ehlo("g.test")
    assert c.sendmail("a@b.test", ["carol@example.com"],
                      b"Subject: whole\r\n\r\nok\r\n") == {}
    c.quit()
    msgs = stored(server, "carol", count=1)
    assert len(msgs) == 1 and b"Subject: whole" in msgs[0]


def test_userdb_failure_is_temporary(server):
    import signal
    c = Raw(server.lmtp_port)
    c.cmd("LHLO f.test")
    c.cmd("MAIL FROM:<a@b.test>")
    # a first lookup connects the mail process to the auth process
    assert c.cmd("RCPT TO:<alice@example.com>")[0] == 250
    auth = server.child_pids("auth")
    assert len(auth) == 1
    os.kill(auth[0], signal.SIGSTOP)
    try:
        c.send("RCPT TO:<bob@example.com>\r\n")
        time.sleep(0.3)
    finally:
        # the lookup in flight dies with the auth process
        os.kill(auth[0], signal.SIGKILL)
    code, text = c.reply()
    assert (code, text) == (451, ["4.3.0 <bob@example.com> Temporary internal error"])
    # the master restarts auth; the next RCPT reconnects
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, _ = c.cmd("RCPT TO:<carol@example.com>")
        if code == 250:
            break
        time.sleep(0.2)
    assert code == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: after restart\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250      # alice
    assert c.reply()[0] == 250      # carol
    c.close()
    assert server.wait_log("userdb lookup for bob@example.com failed")


@pytest.mark.parametrize("mode", ["optimized", "always", "never"])
def test_mail_fsync_modes(tmpdir_columba, mode):
    """Every mail_fsync mode delivers and acknowledges only what is
    stored: several connections at once, so commits of one user are
    grouped and their syncs (optimized, always) run in the worker pool."""
    server = start(tmpdir_columba, "mail_fsync = %s\n" % mode)
    try:
        conns = []
        for i in range(4):
            c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
            c.ehlo("f%d.test" % i)
            conns.append(c)
        for n in range(3):
            for i, c in enumerate(conns):
                # smtplib reads one reply after DATA: one recipient each
                for rcpt in ("alice@example.com", "bob@example.com"):
                    assert c.sendmail(
                        "a@b.test", [rcpt],
                        b"Subject: f %d %d\r\n\r\nbody\r\n" % (i, n)) == {}
        for c in conns:
            c.quit()
        for user in ("alice", "bob"):
            msgs = stored(server, user, count=12)
            assert len(msgs) == 12, (user, len(msgs))
            subjects = sorted(m.split(b"Subject: ", 1)[1].split(b"\r\n")[0]
                              for m in msgs)
            assert subjects == sorted(b"f %d %d" % (i, n) for i in range(4)
                                      for n in range(3))
    finally:
        stop(server)
