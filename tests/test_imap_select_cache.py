"""SELECT of a large mailbox reuses the list kept in the mail process
(src/lib-index/mail-index-select.c): whatever changed between two SELECTs
must show, whoever changed it: another session of the same process, a
session in another mail process, LMTP, the import tool (another process),
a mailbox deleted and recreated. Each SELECT's answer (EXISTS, RECENT,
UNSEEN, UIDNEXT, UIDVALIDITY, HIGHESTMODSEQ, and every message's flags
and modseq) is compared with what the index's rows say, read by a server
started afresh on the same homes (nothing kept in memory)."""
import os
import re
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import (LOG_CRASH_OR_SANITIZER, columba_binary, free_port,
                      start_with_users, stop_checked, wait_auth_ready,
                      wait_port)

# mail-index-select.h: MAIL_INDEX_SELECT_SHARE_MIN_MESSAGES
BIG = 1200
PASSWORD = "secret"
ALICE = "alice@example.com"


class Session:
    def __init__(self, port, user=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.tag = 0
        assert self.line().startswith(b"* OK")
        if user is not None:
            self.ok("LOGIN %s %s" % (user, PASSWORD))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.tag += 1
        tag = b"t%d" % self.tag
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return line, untagged
            untagged.append(line)

    def ok(self, text):
        tagged, untagged = self.cmd(text)
        assert b" OK" in tagged, (text, tagged, untagged[-5:])
        return untagged

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, AssertionError):
            pass
        self.sock.close()

    def server_pid(self, server):
        """The mail process serving this session: the one holding the
        server side of the connection (plaintext: the socket itself)."""
        port = self.sock.getsockname()[1]
        want = "0100007F:%04X" % port
        inode = None
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[2] == want and \
                        cols[1].endswith(":%04X" % server.imap_port):
                    inode = cols[9]
        assert inode is not None
        for pid in server.child_pids("mail"):
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == \
                            "socket:[%s]" % inode:
                        return pid
                except OSError:
                    pass
        raise AssertionError("no mail process holds the session")


def select_state(s, mailbox="INBOX", params=""):
    """What SELECT said, and every message's UID, FLAGS and MODSEQ."""
    untagged = s.ok("SELECT %s%s" % (mailbox, params))
    state = {}
    for line in untagged:
        for key, pat in (("exists", rb"^\* (\d+) EXISTS"),
                         ("recent", rb"^\* (\d+) RECENT"),
                         ("unseen", rb"\[UNSEEN (\d+)\]"),
                         ("uidnext", rb"\[UIDNEXT (\d+)\]"),
                         ("uidvalidity", rb"\[UIDVALIDITY (\d+)\]"),
                         ("highestmodseq", rb"\[HIGHESTMODSEQ (\d+)\]")):
            m = re.search(pat, line)
            if m:
                state[key] = int(m.group(1))
    state["vanished"] = [line for line in untagged
                         if line.startswith(b"* VANISHED")]
    msgs = []
    for line in s.ok("FETCH 1:* (UID FLAGS MODSEQ)") if \
            state["exists"] else []:
        m = re.match(rb"^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) "
                     rb"MODSEQ \((\d+)\)\)", line)
        if m:
            flags = sorted(f for f in m.group(3).split()
                           if f != b"\\Recent")
            msgs.append((int(m.group(1)), int(m.group(2)), flags,
                         int(m.group(4))))
    state["messages"] = msgs
    return state


def same(a, b):
    """Two SELECT states alike but for \\Recent, which only one session
    gets."""
    def strip(st):
        return {k: v for k, v in st.items() if k not in ("recent",
                                                          "vanished")}
    return strip(a) == strip(b)


def mbox_text(count, start=0):
    return "".join("From a@example.com Mon Jan  1 10:00:00 2024\n"
                   "Subject: m%d\n\nbody %d\n\n" % (i, i)
                   for i in range(start, start + count))


def import_mbox(server, tmpdir, user, mailbox, count, start=0):
    """count messages into user's mailbox by the import tool: another
    process writing to the index."""
    path = os.path.join(tmpdir, "import.mbox")
    with open(path, "w") as f:
        f.write(mbox_text(count, start))
    os.chmod(path, 0o644)
    r = subprocess.run([columba_binary(), "mail", "import-mbox", "-c",
                        server.config_path, "-u", user, "-o",
                        "home=" + os.path.join(server.home, user.split("@")[0]), path,
                        mailbox], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def start_server(tmpdir, mail_service=""):
    lmtp_port = free_port()
    config = (
        "protocols = imap lmtp\n"
        "auth_mechanisms = plain login\n"
        "disable_plaintext_auth = no\n"
        "service mail {\n  process_min_avail = 2\n%s"
        "  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        % (mail_service, lmtp_port))
    server = start_with_users(tmpdir, {ALICE: PASSWORD,
                                       "bob@example.com": PASSWORD},
                              config=config, ssl=False)
    server.lmtp_port = lmtp_port
    assert wait_port(lmtp_port), server.log()
    # both mail processes up (sessions are spread over them)
    deadline = time.monotonic() + 10
    while len(server.child_pids("mail")) < 2 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.child_pids("mail")) == 2
    return server


@pytest.fixture
def server(tmpdir_columba):
    srv = start_server(tmpdir_columba)
    srv.tmpdir = tmpdir_columba
    yield srv
    stop_checked(srv, LOG_CRASH_OR_SANITIZER)


def fresh_state(server, mailbox="INBOX", user=ALICE):
    """The mailbox as a server with nothing in memory reads it: stopped
    and started again on the same homes (its state is then also the
    cache's starting point for what follows)."""
    stop_checked(server, LOG_CRASH_OR_SANITIZER)
    server.start()
    assert wait_port(server.imap_port), server.log()
    assert wait_auth_ready(server), server.log()
    s = Session(server.imap_port, user)
    s.ok("ENABLE CONDSTORE")
    state = select_state(s, mailbox)
    s.close()
    return state


def cached_state(server, mailbox="INBOX", user=ALICE, enable=True):
    s = Session(server.imap_port, user)
    if enable:
        s.ok("ENABLE CONDSTORE")
    state = select_state(s, mailbox)
    s.close()
    return state


def lmtp_deliver(server, rcpt, subject):
    c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    c.ehlo("client.test")
    c.sendmail("sender@remote.test", [rcpt],
               "From: a@example.com\r\nSubject: %s\r\n\r\nhi\r\n" % subject)
    c.quit()


def wait_exists(server, count, user=ALICE, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        s = Session(server.imap_port, user)
        _, untagged = s.cmd("STATUS INBOX (MESSAGES)")
        s.close()
        m = re.search(rb"MESSAGES (\d+)", b"".join(untagged))
        if m and int(m.group(1)) >= count:
            return
        assert time.monotonic() < deadline, "no %d messages" % count
        time.sleep(0.05)


def sessions_in_two_processes(server, user=ALICE):
    """Two logged-in sessions served by different mail processes: with
    client_limit = 1 (server_two), the first session fills one process
    and the second is handed to the other."""
    a = Session(server.imap_port, user)
    b = Session(server.imap_port, user)
    assert a.server_pid(server) != b.server_pid(server)
    return a, b


def test_changes_between_selects_are_seen(server):
    import_mbox(server, server.tmpdir, ALICE, "INBOX", BIG)
    before = fresh_state(server)
    assert before["exists"] == BIG and before["unseen"] == 1

    # the list is now kept by the process serving alice; a second
    # SELECT answers from it
    a = cached_state(server)
    assert same(a, before)

    # another session of a process: flags, keywords, expunges
    s = Session(server.imap_port, ALICE)
    s.ok("SELECT INBOX")
    s.ok("STORE 1:3 +FLAGS (\\Seen $Junk)")
    s.ok("STORE 5 FLAGS (\\Flagged work)")
    s.ok("STORE 10:12 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    s.close()
    after = cached_state(server)
    assert after["exists"] == BIG - 3
    assert after["unseen"] == 4
    assert after != before

    # LMTP (delivered by whichever mail process takes the connection)
    lmtp_deliver(server, ALICE, "by lmtp")
    wait_exists(server, BIG - 2)
    # the import tool: another process
    import_mbox(server, server.tmpdir, ALICE, "INBOX", 3, start=BIG)
    after2 = cached_state(server)
    assert after2["exists"] == BIG + 1
    assert after2["uidnext"] == after["uidnext"] + 4
    # the same as a server that keeps nothing reads it
    fresh = fresh_state(server)
    assert same(after2, fresh)


@pytest.fixture
def server_two(tmpdir_columba):
    srv = start_server(tmpdir_columba, "  client_limit = 1\n")
    srv.tmpdir = tmpdir_columba
    yield srv
    stop_checked(srv, LOG_CRASH_OR_SANITIZER)


def test_changes_by_another_mail_process(server_two):
    server = server_two
    import_mbox(server, server.tmpdir, ALICE, "INBOX", BIG)
    fresh_state(server)
    a, b = sessions_in_two_processes(server)
    a.ok("ENABLE CONDSTORE")
    b.ok("ENABLE CONDSTORE")
    first_a = select_state(a)
    first_b = select_state(b)
    assert same(first_a, first_b)
    # b's process changes and expunges; a's process has the list kept
    # (and a holds it)
    b.ok("STORE 2,4,6 +FLAGS (\\Seen \\Answered)")
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    b.ok("UID STORE 7:9 +FLAGS (label)")
    # a re-selects: from a's process's cache, brought up to date
    again_a = select_state(a)
    assert again_a["exists"] == BIG - 1
    flags_of = {uid: f for _, uid, f, _ in again_a["messages"]}
    assert 1 not in flags_of
    assert flags_of[2] == sorted([b"\\Seen", b"\\Answered"])
    assert flags_of[7] == [b"label"]
    assert again_a["highestmodseq"] > first_a["highestmodseq"]
    # and a's view, once b expunges more, gets it as a sync (a's copy of
    # the shared list)
    b.ok("UID STORE 4 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    untagged = a.ok("NOOP")
    assert b"* 3 EXPUNGE" in untagged, untagged
    a.close()
    b.close()
    assert same(cached_state(server), fresh_state(server))


def test_recreated_mailbox_new_uidvalidity(server):
    s = Session(server.imap_port, ALICE)
    s.ok("CREATE Big")
    s.close()
    import_mbox(server, server.tmpdir, ALICE, "Big", BIG)
    first = cached_state(server, "Big")
    assert same(cached_state(server, "Big"), first)
    s = Session(server.imap_port, ALICE)
    s.ok("DELETE Big")
    s.ok("CREATE Big")
    s.close()
    import_mbox(server, server.tmpdir, ALICE, "Big", BIG + 7)
    second = cached_state(server, "Big")
    assert second["uidvalidity"] != first["uidvalidity"]
    assert second["exists"] == BIG + 7
    # QRESYNC with the old UIDVALIDITY: nothing about the old mailbox
    s = Session(server.imap_port, ALICE)
    s.ok("ENABLE QRESYNC")
    qr = select_state(s, "Big", " (QRESYNC (%d %d))"
                      % (first["uidvalidity"], first["highestmodseq"]))
    assert qr["vanished"] == []
    s.close()
    assert same(second, fresh_state(server, "Big"))


def test_recent_and_qresync(server):
    import_mbox(server, server.tmpdir, ALICE, "INBOX", BIG)
    # a rev1 SELECT claims what no session has seen
    s1 = Session(server.imap_port, ALICE)
    s1.ok("ENABLE CONDSTORE")
    base = select_state(s1)
    assert base["recent"] == BIG
    s1.close()
    assert cached_state(server)["recent"] == 0
    for i in range(2):
        lmtp_deliver(server, ALICE, "new %d" % i)
    wait_exists(server, BIG + 2)
    # EXAMINE sees them as recent without claiming, SELECT claims them,
    # the next SELECT has none
    s = Session(server.imap_port, ALICE)
    untagged = s.ok("EXAMINE INBOX")
    assert b"* 2 RECENT" in untagged, untagged
    s.close()
    s = Session(server.imap_port, ALICE)
    assert select_state(s)["recent"] == 2
    s.close()
    assert cached_state(server)["recent"] == 0

    # QRESYNC from the first state: the expunged UIDs and the changes
    s = Session(server.imap_port, ALICE)
    s.ok("SELECT INBOX")
    s.ok("STORE 1:2 +FLAGS (\\Deleted)")
    s.ok("EXPUNGE")
    s.ok("UID STORE 10 +FLAGS (\\Flagged)")
    s.close()
    s = Session(server.imap_port, ALICE)
    s.ok("ENABLE QRESYNC")
    untagged = s.ok("SELECT INBOX (QRESYNC (%d %d))"
                    % (base["uidvalidity"], base["highestmodseq"]))
    text = b"\n".join(untagged)
    assert b"* VANISHED (EARLIER) 1:2" in text, text
    assert re.search(rb"\* \d+ FETCH \(UID 10 FLAGS \([^)]*\\Flagged", text)
    m = re.search(rb"\[HIGHESTMODSEQ (\d+)\]", text)
    s.close()
    fresh = fresh_state(server)
    assert int(m.group(1)) == fresh["highestmodseq"]
    assert fresh["exists"] == BIG
