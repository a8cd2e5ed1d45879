"""Quota (docs/configuration.md "Quota", docs/admin-guide.md): Dovecot's
quota_rule / quota_grace / quota_full_tempfail / quota_exceeded_message /
lmtp_rcpt_check_quota against the real server.

LMTP: 552 5.2.2 or 452 4.2.2 by configuration, per-user rules from userdb
(passwd-file extra fields), the message-count limit, MAIL FROM's SIZE= at
RCPT, one reply per recipient when one of two is over quota, expunge
freeing room, concurrent deliveries not overshooting, a bad userdb rule.
IMAP: APPEND and COPY answer NO [OVERQUOTA], MOVE is not refused; the
QUOTA extension (RFC 9208: GETQUOTA, GETQUOTAROOT, SETQUOTA refused,
STATUS DELETED / DELETED-STORAGE). `columba mail quota get|recalc`.
"""
import imaplib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from authclient import wait_socket
from conftest import (LOG_CRASH_OR_SANITIZER, ColumbaServer, columba_binary,
                      free_port, stop_checked, wait_port)

PASSWORD = "secret"
USERS = ("alice", "bob", "carol", "dave", "frank")


def start(tmpdir, extra="", fields=None):
    """A server with LMTP and IMAP; fields: {user: "userdb_x=y ..."}."""
    fields = fields or {}
    users = os.path.join(tmpdir, "users")
    home = os.path.join(tmpdir, "home")
    # the mail process runs as the internal user and creates the homes
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    with open(users, "w") as f:
        for name in USERS:
            f.write("%s@example.com:{PLAIN}%s::::%s/%s::%s\n"
                    % (name, PASSWORD, home, name, fields.get(name, "")))
    os.chmod(users, 0o644)
    port = free_port()
    config = (
        "protocols = imap lmtp\n"
        "hostname = mx.test\n"
        "disable_plaintext_auth = no\n"
        "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "service mail {\n  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        % (users, users, port)) + extra
    server = ColumbaServer(tmpdir, extra_config=config, ssl=False).start()
    server.lmtp_port = port
    server.home = home
    assert wait_port(port), server.log()
    assert wait_socket(os.path.join(server.base_dir, "lmtp")), server.log()
    return server


def stop(server):
    # sanitizer builds: children's reports land in the log
    stop_checked(server, LOG_CRASH_OR_SANITIZER)


@pytest.fixture
def make_server(tmpdir_columba):
    servers = []

    def make(extra="", fields=None):
        srv = start(tmpdir_columba, extra, fields)
        servers.append(srv)
        return srv
    yield make
    for srv in servers:
        stop(srv)


class Lmtp:
    """A line-oriented LMTP client: smtplib.LMTP reads one reply after
    DATA, LMTP sends one per recipient."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(30)
        self.f = self.sock.makefile("rb")
        assert self.reply()[0] == 220
        assert self.cmd("LHLO client.test")[0] == 250

    def reply(self):
        texts = []
        while True:
            line = self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
            assert len(line) >= 3, "connection closed: %r" % texts
            texts.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), " ".join(texts)

    def cmd(self, text):
        self.sock.sendall((text + "\r\n").encode())
        return self.reply()

    def deliver(self, rcpts, body, size=None):
        """(RCPT replies, DATA replies for the accepted recipients)."""
        mail = "MAIL FROM:<sender@example.org>"
        if size is not None:
            mail += " SIZE=%d" % size
        assert self.cmd(mail)[0] == 250
        rcpt_replies = [self.cmd("RCPT TO:<%s@example.com>" % r)
                        for r in rcpts]
        accepted = sum(1 for code, _ in rcpt_replies if code == 250)
        if accepted == 0:
            assert self.cmd("RSET")[0] == 250
            return rcpt_replies, []
        assert self.cmd("DATA")[0] == 354
        self.sock.sendall(body + b".\r\n")
        return rcpt_replies, [self.reply() for _ in range(accepted)]

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, AssertionError):
            pass
        self.f.close()
        self.sock.close()


def message(size, subject="quota test"):
    """A message of about size bytes with CRLF line ends."""
    head = ("From: sender@example.org\r\nTo: x@example.com\r\n"
            "Subject: %s\r\n\r\n" % subject).encode()
    line = b"x" * 70 + b"\r\n"
    lines = max(1, (size - len(head)) // len(line))
    return head + line * lines


def deliver_one(server, user, body, size=None):
    """The (code, text) of one delivery to user: RCPT's if refused there,
    else DATA's."""
    c = Lmtp(server.lmtp_port)
    try:
        rcpt, data = c.deliver([user], body, size)
        return data[0] if data else rcpt[0]
    finally:
        c.close()


def imap(server, user):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    m.login("%s@example.com" % user, PASSWORD)
    return m


def count(server, user, mailbox="INBOX"):
    m = imap(server, user)
    try:
        typ, data = m.status(mailbox, "(MESSAGES)")
        assert typ == "OK", data
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        m.logout()


def wait_count(server, user, n, timeout=10):
    """A 250 means the copy is in the delivery journal; it reaches the
    mailbox a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        got = count(server, user)
        if got >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def quota_cli(server, sub, user):
    p = subprocess.run([columba_binary(), "mail", "quota", sub, "-u",
                        "%s@example.com" % user, "-c", server.config_path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def usage(server, user):
    """(storage bytes, messages) from the index, via quota recalc (which
    prints the stored values, then stores the recount: they must agree)."""
    out = quota_cli(server, "recalc", user)
    m = re.search(r"storage (\d+) -> (\d+) bytes, messages (\d+) -> (\d+)",
                  out)
    assert m, out
    old_s, new_s, old_m, new_m = (int(x) for x in m.groups())
    assert (old_s, old_m) == (new_s, new_m), \
        "the usage kept by the index drifted: %s" % out
    return new_s, new_m


def fill_until_refused(server, user, body, limit=50):
    """Deliver body until refused: (accepted, the refusal)."""
    for accepted in range(limit):
        code, text = deliver_one(server, user, body)
        if code != 250:
            return accepted, (code, text)
    raise AssertionError("never refused")


def test_storage_limit_552(make_server):
    srv = make_server("quota_rule = *:storage=10k\nquota_grace = 0\n")
    body = message(2000)
    accepted, (code, text) = fill_until_refused(srv, "alice", body)
    assert code == 552, text
    assert text == ("5.2.2 <alice@example.com> "
                    "Quota exceeded (mailbox for user is full)")
    assert wait_count(srv, "alice", accepted) == accepted
    storage, messages = usage(srv, "alice")
    assert messages == accepted
    # exactly as many as fit: one more would have gone over
    per_message = storage // messages
    assert storage <= 10240 < storage + per_message
    # the quota is per user: bob is not affected
    assert deliver_one(srv, "bob", body)[0] == 250
    assert "storage quota exceeded" in srv.log()


def test_tempfail_452_and_message(make_server):
    srv = make_server("quota_rule = *:storage=4k\nquota_grace = 0\n"
                      "quota_full_tempfail = yes\n"
                      "quota_exceeded_message = Mailbox full, try later\n")
    accepted, (code, text) = fill_until_refused(srv, "alice", message(1500))
    assert accepted >= 1
    assert code == 452
    assert text == "4.2.2 <alice@example.com> Mailbox full, try later"


def test_grace_lets_the_last_delivery_over(make_server):
    srv = make_server("quota_rule = *:storage=10k\nquota_grace = 50%\n")
    body = message(3000)
    accepted, (code, _) = fill_until_refused(srv, "alice", body)
    assert code == 552
    wait_count(srv, "alice", accepted)
    storage, messages = usage(srv, "alice")
    # over the limit by the last message, within the grace
    assert 10240 < storage <= 10240 * 3 // 2
    # over the limit now: nothing more, however small
    assert deliver_one(srv, "alice", message(200))[0] == 552


def test_userdb_overrides(make_server):
    srv = make_server(
        "quota_rule = *:storage=1k\nquota_grace = 0\n",
        fields={
            # more room for alice
            "alice": "userdb_quota_rule=*:storage=1M",
            # carol's quota_rule replaces the setting quota_rule: only a
            # message count, no storage limit
            "carol": "userdb_quota_rule=*:messages=1",
            # dave: the setting's rule, then one more from userdb
            "dave": "userdb_quota_rule2=*:storage=1M:messages=2",
        })
    body = message(3000)
    for _ in range(3):
        assert deliver_one(srv, "alice", body)[0] == 250
    # bob has the configured 1k: 3k never fits
    assert deliver_one(srv, "bob", body)[0] == 552
    assert deliver_one(srv, "carol", body)[0] == 250
    assert deliver_one(srv, "carol", body)[0] == 552
    assert deliver_one(srv, "dave", body)[0] == 250
    assert deliver_one(srv, "dave", body)[0] == 250
    assert deliver_one(srv, "dave", body)[0] == 552
    assert wait_count(srv, "alice", 3) == 3
    assert count(srv, "bob") == 0
    assert wait_count(srv, "carol", 1) == 1
    assert wait_count(srv, "dave", 2) == 2


def test_message_count_limit(make_server):
    srv = make_server("quota_rule = *:messages=3\n")
    body = message(500)
    for _ in range(3):
        assert deliver_one(srv, "alice", body)[0] == 250
    code, text = deliver_one(srv, "alice", body)
    assert code == 552 and text.startswith("5.2.2 "), text
    assert wait_count(srv, "alice", 3) == 3
    time.sleep(0.3)
    assert count(srv, "alice") == 3
    assert "message count quota exceeded" in srv.log()


def test_rcpt_check_and_size(make_server):
    srv = make_server("quota_rule = *:storage=10k\nquota_grace = 0\n"
                      "lmtp_rcpt_check_quota = yes\n")
    c = Lmtp(srv.lmtp_port)
    try:
        # SIZE= that cannot fit: refused at RCPT, nothing to send
        assert c.cmd("MAIL FROM:<s@example.org> SIZE=20000")[0] == 250
        code, text = c.cmd("RCPT TO:<alice@example.com>")
        assert code == 552 and text.startswith("5.2.2 <alice@example.com>"), text
        assert c.cmd("RSET")[0] == 250
        # SIZE= that fits
        rcpt, data = c.deliver(["alice"], message(4000), size=4200)
        assert rcpt[0][0] == 250 and data[0][0] == 250, (rcpt, data)
        # 4k in: 8k more do not fit
        rcpt, data = c.deliver(["alice"], message(8000), size=8000)
        assert rcpt[0][0] == 552 and data == [], rcpt
    finally:
        c.close()
    # fill her up: then RCPT without SIZE= is refused too
    accepted, (code, _) = fill_until_refused(srv, "alice", message(2000))
    assert code == 552
    c = Lmtp(srv.lmtp_port)
    try:
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        code, _ = c.cmd("RCPT TO:<alice@example.com>")
        if code == 250:
            # the last one went in exactly to the limit's last bytes:
            # then DATA refuses it
            assert c.cmd("DATA")[0] == 354
            c.sock.sendall(message(2000) + b".\r\n")
            code, _ = c.reply()
        assert code == 552
        # bob is fine in the same transaction
        assert c.cmd("RSET")[0] == 250
        rcpt, data = c.deliver(["bob"], message(1000), size=1000)
        assert rcpt[0][0] == 250 and data[0][0] == 250
    finally:
        c.close()


def test_two_recipients_one_over(make_server):
    srv = make_server("quota_rule = *:messages=1\n")
    assert deliver_one(srv, "alice", message(500))[0] == 250
    c = Lmtp(srv.lmtp_port)
    try:
        # without lmtp_rcpt_check_quota both are accepted at RCPT; DATA
        # answers each on its own
        rcpt, data = c.deliver(["alice", "bob", "carol"], message(800))
        assert [r[0] for r in rcpt] == [250, 250, 250]
        assert data[0][0] == 552 and "<alice@example.com>" in data[0][1]
        assert data[1][0] == 250 and "<bob@example.com>" in data[1][1]
        assert data[2][0] == 250 and "<carol@example.com>" in data[2][1]
    finally:
        c.close()
    assert wait_count(srv, "bob", 1) == 1
    assert wait_count(srv, "carol", 1) == 1
    time.sleep(0.3)
    assert count(srv, "alice") == 1


def test_bdat_one_reply_per_recipient(make_server):
    srv = make_server("quota_rule = *:storage=4k\nquota_grace = 0\n"
                      "quota_full_tempfail = yes\n")
    c = Lmtp(srv.lmtp_port)
    try:
        body = message(3000)
        assert c.cmd("MAIL FROM:<s@example.org> BODY=BINARYMIME")[0] == 250
        for r in ("alice", "bob"):
            assert c.cmd("RCPT TO:<%s@example.com>" % r)[0] == 250
        # two chunks: the check is on the whole message, at LAST
        half = len(body) // 2
        c.sock.sendall(b"BDAT %d\r\n" % half + body[:half])
        assert c.reply()[0] == 250
        c.sock.sendall(b"BDAT %d LAST\r\n" % (len(body) - half) +
                       body[half:])
        replies = [c.reply(), c.reply()]
        assert [r[0] for r in replies] == [250, 250], replies
        # now alice has ~3k of 4k: a second one fits neither
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        for r in ("alice", "carol", "bob"):
            assert c.cmd("RCPT TO:<%s@example.com>" % r)[0] == 250
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
        replies = [c.reply(), c.reply(), c.reply()]
        assert replies[0][0] == 452 and "<alice@example.com>" in replies[0][1]
        assert replies[1][0] == 250 and "<carol@example.com>" in replies[1][1]
        assert replies[2][0] == 452 and "<bob@example.com>" in replies[2][1]
        assert replies[0][1].startswith("4.2.2 ")
    finally:
        c.close()
    assert wait_count(srv, "carol", 1) == 1
    time.sleep(0.3)
    assert count(srv, "alice") == 1 and count(srv, "bob") == 1


def bdat_deliver(server, user, body):
    c = Lmtp(server.lmtp_port)
    try:
        assert c.cmd("MAIL FROM:<s@example.org> BODY=BINARYMIME")[0] == 250
        assert c.cmd("RCPT TO:<%s@example.com>" % user)[0] == 250
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
        return c.reply()
    finally:
        c.close()


def test_bare_lfs_count_as_crlf(make_server):
    """RFC822.SIZE counts a bare LF as CRLF: the check at the end of the
    delivery counts it so too, or a message of many short lines would
    slip past the limit by up to half its size."""
    body = b"Subject: lines\n\n" + b"x\n" * 2000
    # measure what this message costs (carol and alice, frank have
    # names of one length: the same Delivered-To and Received lengths)
    srv = make_server()
    assert bdat_deliver(srv, "carol", body)[0] == 250
    assert wait_count(srv, "carol", 1) == 1
    cost, _ = usage(srv, "carol")
    assert cost > len(body) + 2000
    stop_now(srv)
    srv = make_server("quota_rule = *:bytes=%d\nquota_grace = 0\n"
                      % (cost - 1),
                      fields={"frank": "userdb_quota_rule=*:bytes=%d" % cost})
    # its physical size fits in cost - 1: refused all the same
    code, text = bdat_deliver(srv, "alice", body)
    assert code == 552, text
    assert bdat_deliver(srv, "frank", body)[0] == 250
    assert wait_count(srv, "frank", 1) == 1
    assert usage(srv, "frank") == (cost, 1)


def stop_now(server):
    """Stop a server before the test ends (the fixture's stop at the end
    finds it stopped)."""
    stop(server)


def test_expunge_frees(make_server):
    srv = make_server("quota_rule = *:messages=2\n")
    body = message(600)
    assert deliver_one(srv, "alice", body)[0] == 250
    assert deliver_one(srv, "alice", body)[0] == 250
    assert deliver_one(srv, "alice", body)[0] == 552
    assert wait_count(srv, "alice", 2) == 2
    m = imap(srv, "alice")
    try:
        assert m.select("INBOX")[0] == "OK"
        assert m.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
        # \Deleted but not expunged still counts
        assert deliver_one(srv, "alice", body)[0] == 552
        assert m.expunge()[0] == "OK"
    finally:
        m.logout()
    assert deliver_one(srv, "alice", body)[0] == 250
    assert wait_count(srv, "alice", 2) == 2
    assert usage(srv, "alice")[1] == 2


def test_concurrent_deliveries_do_not_overshoot(make_server):
    """8 connections deliver 10 messages each at once to one user with a
    20 KiB limit: within one mail process the reservations (deliveries
    accepted and journaled but not yet saved count) keep the usage at or
    under the limit, and every 250 is a message in the mailbox."""
    srv = make_server("quota_rule = *:storage=20k\nquota_grace = 0\n")
    body = message(1500)
    results = []
    lock = threading.Lock()

    def worker():
        c = Lmtp(srv.lmtp_port)
        try:
            for _ in range(10):
                _, data = c.deliver(["alice"], body)
                with lock:
                    results.append(data[0][0])
        finally:
            c.close()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 80
    accepted = results.count(250)
    assert set(results) <= {250, 552}, results
    assert wait_count(srv, "alice", accepted) == accepted
    time.sleep(0.3)
    storage, messages = usage(srv, "alice")
    assert messages == accepted == count(srv, "alice")
    per_message = storage // messages
    assert storage <= 20480, (storage, messages)
    # and nothing was refused that would have fitted
    assert storage + per_message > 20480, (storage, messages)


def test_imap_append_copy_move(make_server):
    srv = make_server("quota_rule = *:storage=8k:messages=3\n")
    m = imap(srv, "alice")
    try:
        msg = message(1000).replace(b"quota test", b"imap")
        for _ in range(3):
            typ, data = m.append("INBOX", None, None, msg)
            assert typ == "OK", data
        # the 4th: over the message count, refused before the literal
        typ, data = m.append("INBOX", None, None, msg)
        assert typ == "NO", data
        assert data[0].startswith(b"[OVERQUOTA] Quota exceeded"), data
        assert m.select("INBOX")[0] == "OK"
        typ, data = m.copy("1", "Trash")
        assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
        # MOVE adds nothing to the user's usage: allowed even when full
        typ, data = m._simple_command("MOVE", "1", "Trash")
        assert typ == "OK", data
        assert m.select("Trash")[0] == "OK"
        typ, data = m.copy("1", "INBOX")
        assert typ == "NO" and b"OVERQUOTA" in data[0], data
        assert m.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
        assert m.expunge()[0] == "OK"
        # room for one, but not for 9k
        typ, data = m.append("INBOX", None, None, message(9000))
        assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]"), data
        typ, data = m.append("INBOX", None, None, msg)
        assert typ == "OK", data
    finally:
        m.logout()
    assert count(srv, "alice") == 3
    assert count(srv, "alice", "Trash") == 0
    assert usage(srv, "alice")[1] == 3
    # LMTP and IMAP share the limit
    assert deliver_one(srv, "alice", message(300))[0] == 552


def test_imap_multiappend_and_literal_plus(make_server):
    """MULTIAPPEND is all or nothing against the quota too; a refused
    non-synchronizing literal is read to its end and dropped, and the
    session goes on."""
    srv = make_server("quota_rule = *:messages=3\n")
    m = imap(srv, "alice")
    try:
        one = b"Subject: a\r\n\r\nbody\r\n"
        # two fit, three more do not: none of the four is stored
        cmd = b"APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (
            len(one), one, len(one), one)
        tagged, _ = imap_raw(m, cmd)
        assert tagged.startswith(b"OK [APPENDUID"), tagged
        cmd = b"APPEND INBOX" + b"".join(
            b" {%d+}\r\n%s" % (len(one), one) for _ in range(2))
        tagged, _ = imap_raw(m, cmd)
        assert tagged.startswith(b"NO [OVERQUOTA]"), tagged
        assert count(srv, "alice") == 2
        # a LITERAL+ message refused before its bytes: they are skipped
        big = b"Subject: b\r\n\r\n" + b"y" * 5000 + b"\r\n"
        tagged, _ = imap_raw(m, b"APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s"
                             % (len(one), one, len(big), big))
        assert tagged.startswith(b"NO [OVERQUOTA]"), tagged
        tagged, _ = imap_raw(m, b"NOOP")
        assert tagged.startswith(b"OK"), tagged
        assert count(srv, "alice") == 2
        assert m.append("INBOX", None, None, one)[0] == "OK"
    finally:
        m.logout()
    assert count(srv, "alice") == 3


def test_cli_get_and_recalc(make_server):
    srv = make_server("quota_rule = *:storage=1M:messages=100\n",
                      fields={"bob": "userdb_quota_rule=*:storage=0"})
    for _ in range(2):
        assert deliver_one(srv, "alice", message(3000))[0] == 250
    assert wait_count(srv, "alice", 2) == 2
    out = quota_cli(srv, "get", "alice")
    lines = [l.split("\t") for l in out.strip().split("\n")]
    assert lines[0] == ["Quota name", "Type", "Value", "Limit", "%"]
    storage = [l for l in lines if l[1] == "STORAGE"][0]
    messages = [l for l in lines if l[1] == "MESSAGE"][0]
    assert 6 <= int(storage[2]) <= 8 and storage[3] == "1024", out
    assert messages[2:] == ["2", "100", "2"], out
    # bob's userdb quota_rule replaces the setting quota_rule: no limit
    out = quota_cli(srv, "get", "bob")
    assert "STORAGE\t0\t-\t0" in out and "MESSAGE\t0\t-\t0" in out, out

    # mailbox counters that went wrong (edited by hand; the usage is
    # their sum) are put right
    index = os.path.join(srv.home, "alice", "index.db")
    st = os.stat(index)

    def as_owner():
        os.setgid(st.st_gid)
        os.setuid(st.st_uid)
    subprocess.run(["python3", "-c",
                    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                    "c.execute(\"UPDATE mailboxes SET size=5, messages=77 "
                    "WHERE name='INBOX'\");"
                    " c.commit()", index],
                   check=True, preexec_fn=as_owner)
    out = quota_cli(srv, "recalc", "alice")
    m = re.search(r"storage 5 -> (\d+) bytes, messages 77 -> 2", out)
    assert m and 6000 < int(m.group(1)) < 8000, out
    assert "MESSAGE\t2\t100" in quota_cli(srv, "get", "alice")


def test_bad_userdb_rule_is_a_temporary_failure(make_server):
    srv = make_server("quota_rule = *:storage=1M\n",
                      fields={"dave": "userdb_quota_rule=*:storage=lots"})
    code, text = deliver_one(srv, "dave", message(500))
    assert code == 451 and text.startswith("4.3.0 "), text
    assert srv.wait_log("userdb field quota_rule: Invalid quota rule")
    # the others are fine
    assert deliver_one(srv, "alice", message(500))[0] == 250


def test_bad_config_rule_is_a_startup_error(tmp_path):
    conf = tmp_path / "columba.conf"
    conf.write_text("protocols = imap lmtp\n\nquota_rule = *:storage=1Q\n")
    p = subprocess.run([columba_binary(), "config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "columba.conf:3: Invalid quota rule *:storage=1Q" in p.stderr, \
        p.stderr
    conf.write_text("quota_rule = Trash:storage=+100M\n")
    p = subprocess.run([columba_binary(), "config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0 and "columba.conf:1: " in p.stderr
    assert "mailbox Trash" in p.stderr, p.stderr


def imap_raw(m, command):
    """Send one command on an imaplib session, return (tagged line,
    untagged lines)."""
    tag = m._new_tag()
    m.send(tag + b" " + command + b"\r\n")
    untagged = []
    while True:
        line = m._get_line()
        if line.startswith(tag + b" "):
            return line[len(tag) + 1:], untagged
        untagged.append(line)


def test_imap_quota_extension(make_server):
    srv = make_server("quota_rule = *:storage=100k:messages=50\n",
                      fields={"bob": "userdb_quota_rule=*:storage=0"})
    m = imap(srv, "alice")
    try:
        typ, data = m.capability()
        caps = data[0].split()
        assert b"QUOTA" in caps and b"QUOTA=RES-STORAGE" in caps
        assert b"QUOTA=RES-MESSAGE" in caps
        # the limits are the admin's: no SETQUOTA
        assert b"QUOTASET" not in caps
        for size in (3000, 5000):
            assert m.append("INBOX", None, None, message(size))[0] == "OK"
        tagged, untagged = imap_raw(m, b"GETQUOTAROOT INBOX")
        assert tagged.startswith(b"OK"), tagged
        assert untagged[0] == b'* QUOTAROOT INBOX "User quota"', untagged
        mo = re.match(rb'\* QUOTA "User quota" \(STORAGE (\d+) 100 '
                      rb'MESSAGE 2 50\)$', untagged[1])
        assert mo, untagged
        # KiB, rounded up: 2 messages of about 3 and 5 KiB
        assert 7 <= int(mo.group(1)) <= 9, untagged
        tagged, untagged = imap_raw(m, b'GETQUOTA "User quota"')
        assert tagged.startswith(b"OK") and untagged[0].startswith(
            b'* QUOTA "User quota" (STORAGE '), (tagged, untagged)
        tagged, untagged = imap_raw(m, b'GETQUOTA "other"')
        assert tagged.startswith(b"NO") and untagged == [], tagged
        # a mailbox that does not exist (yet) has the same root
        tagged, untagged = imap_raw(m, b"GETQUOTAROOT Later/Box")
        assert tagged.startswith(b"OK")
        assert untagged[0] == b'* QUOTAROOT Later/Box "User quota"'
        tagged, _ = imap_raw(m, b'SETQUOTA "User quota" (STORAGE 512)')
        assert tagged.startswith(b"NO"), tagged
        tagged, _ = imap_raw(m, b'SETQUOTA "User quota" (STORAGE)')
        assert tagged.startswith(b"BAD"), tagged
        tagged, _ = imap_raw(m, b"GETQUOTA")
        assert tagged.startswith(b"BAD"), tagged

        # STATUS DELETED and DELETED-STORAGE: what EXPUNGE would free
        assert m.select("INBOX")[0] == "OK"
        typ, data = m.status("INBOX", "(MESSAGES DELETED DELETED-STORAGE)")
        assert typ == "OK"
        assert b"MESSAGES 2 DELETED 0 DELETED-STORAGE 0" in data[0], data
        assert m.store("2", "+FLAGS", "(\\Deleted)")[0] == "OK"
        typ, data = m.status("INBOX", "(DELETED DELETED-STORAGE)")
        mo = re.search(rb"DELETED 1 DELETED-STORAGE (\d+)", data[0])
        assert mo and 4500 < int(mo.group(1)) <= 5000, data
        storage_before = usage(srv, "alice")[0]
        assert m.expunge()[0] == "OK"
        assert usage(srv, "alice")[0] == storage_before - int(mo.group(1))
        # LIST-STATUS takes the items too
        tagged, untagged = imap_raw(
            m, b'LIST "" INBOX RETURN (STATUS (DELETED-STORAGE))')
        assert tagged.startswith(b"OK")
        assert any(b"DELETED-STORAGE 0" in l for l in untagged), untagged
    finally:
        m.logout()
    # a user without limits has the root, with no resources in it
    m = imap(srv, "bob")
    try:
        tagged, untagged = imap_raw(m, b"GETQUOTAROOT INBOX")
        assert tagged.startswith(b"OK")
        # (bob's userdb quota_rule replaces the configured one whole)
        assert untagged == [b'* QUOTAROOT INBOX "User quota"',
                            b'* QUOTA "User quota" ()'], untagged
    finally:
        m.logout()
