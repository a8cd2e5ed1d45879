"""POP3 (src/pop3-login, src/pop3) against the real server: Python's
poplib and raw sockets for every command and error path, pipelining, STLS
and POP3S, AUTH, messages put in over LMTP and read back byte for byte,
the snapshot, locking, pop3_deleted_flag, \\Seen, IMAP on the same
mailbox, and fetchmail delivering to an MDA that writes files.
"""
import glob
import imaplib
import os
import poplib
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (BUILD, LOG_CRASH_OR_SANITIZER, demote_to, free_port,
                      lmtp_deliver, server_fixture, start_with_users,
                      stop_checked, wait_port)
from rawclient import tls_context

PASSWORD = "secret pw"


def start(tmpdir, extra="", protocols="imap pop3 lmtp"):
    pop3_port, pop3s_port, lmtp_port = free_port(), free_port(), free_port()
    config = (
        "protocols = %s\n"
        "auth_mechanisms = plain login\n"
        "service mail {\n  inet_listener lmtp {\n    port = %d\n  }\n}\n"
        "service pop3-login {\n"
        "  inet_listener pop3 {\n    port = %d\n  }\n"
        "  inet_listener pop3s {\n    port = %d\n  }\n"
        "}\n" % (protocols, lmtp_port, pop3_port, pop3s_port)
    ) + extra
    server = start_with_users(
        tmpdir, {name + "@example.com": PASSWORD for name in ("alice", "bob")},
        config=config, wait_auth=False)
    server.pop3_port, server.pop3s_port = pop3_port, pop3s_port
    server.lmtp_port = lmtp_port
    if "pop3" in protocols:
        assert wait_port(pop3_port), server.log()
        assert wait_port(pop3s_port), server.log()
    assert wait_port(lmtp_port), server.log()
    return server


def stop(server):
    stop_checked(server, LOG_CRASH_OR_SANITIZER)


server = server_fixture(start, stop)


def deliver(server, user, body):
    """Put one message into user's INBOX over LMTP."""
    lmtp_deliver(server, user + "@example.com", PASSWORD, body,
                 mail_options=["BODY=8BITMIME"])


def msg(n, extra=b""):
    return (b"From: a@b.test\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (n, n)
            + extra)


def pop(server, user="alice", password=PASSWORD):
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=20)
    p.user(user + "@example.com")
    assert p.pass_(password).startswith(b"+OK Logged in.")
    return p


def unstuffed(lines):
    return b"".join(line + b"\r\n" for line in lines)


class Raw:
    def __init__(self, port, source=None, tls=False):
        kw = {}
        if source:
            kw["source_address"] = (source, 0)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20, **kw)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        return self.f.readline().rstrip(b"\r\n").decode("utf-8", "replace")

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def multi(self):
        """The lines of a multi-line body, raw (still stuffed), up to '.'."""
        out = []
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            if line == b".\r\n":
                return out
            out.append(line)

    def login(self, user="alice"):
        assert self.cmd("USER %s@example.com" % user) == "+OK"
        assert self.cmd("PASS " + PASSWORD) == "+OK Logged in."

    def close(self):
        self.sock.close()


# --- pre-login ---

def capa_after_auth_handshake(server):
    """CAPA once the login process knows the auth process's mechanisms
    (it connects to it at start-up)."""
    deadline = time.monotonic() + 10
    while True:
        p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=20)
        caps = p.capa()
        if "SASL" in caps or time.monotonic() > deadline:
            return p, caps
        p.quit()
        time.sleep(0.05)


def test_greeting_and_capa(server):
    p, caps = capa_after_auth_handshake(server)
    assert p.getwelcome() == b"+OK Columba ready."
    for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING",
                "AUTH-RESP-CODE", "STLS"):
        assert cap in caps, cap
    assert "PLAIN" in caps["SASL"] and "LOGIN" in caps["SASL"]
    assert caps["IMPLEMENTATION"] == ["Columba"]
    p.quit()


def test_prelogin_errors(server):
    r = Raw(server.pop3_port)
    assert r.cmd("STAT") == "-ERR Command is not valid before authentication."
    assert r.cmd("FOO") == "-ERR Unknown command: FOO"
    assert r.cmd("") == "-ERR Empty command."
    assert r.cmd("PASS x") == "-ERR No username given."
    assert r.cmd("USER") == "-ERR Missing user name."
    assert r.cmd("APOP alice 0123") == "-ERR APOP is not supported."
    assert r.cmd("CAPA x") == "-ERR Too many arguments."
    assert r.cmd("AUTH PL@IN") == "-ERR Invalid AUTH arguments."
    assert r.cmd("AUTH PLAIN !!!") == "-ERR Invalid base64 data in initial response."
    assert r.cmd("AUTH CRAM-MD5").endswith("Unsupported authentication mechanism.")
    r.send("USER a\0b\r\n")
    assert r.line() == "-ERR NUL characters are not allowed."
    # ten bad commands so far: the limit
    assert r.line() == "-ERR Too many invalid commands."
    r = Raw(server.pop3_port)
    assert r.cmd("USER alice@example.com") == "+OK"
    assert r.cmd("PASS wrong") == "-ERR [AUTH] Authentication failed."
    assert r.cmd("QUIT") == "+OK Logging out"
    assert r.f.readline() == b""
    # too many bad commands end the connection
    r = Raw(server.pop3_port)
    for _ in range(9):
        assert r.cmd("XYZZY").startswith("-ERR Unknown command")
    assert r.cmd("XYZZY").startswith("-ERR Unknown command")
    assert r.line() == "-ERR Too many invalid commands."
    assert r.f.readline() == b""
    # an overlong line
    r = Raw(server.pop3_port)
    r.send("USER " + "x" * 9000 + "\r\n")
    assert r.line() == "-ERR Input line too long."
    assert server.wait_log("Command line too long")
    # three failed logins close the connection
    r = Raw(server.pop3_port)
    for _ in range(2):
        assert r.cmd("USER alice@example.com") == "+OK"
        assert r.cmd("PASS bad") == "-ERR [AUTH] Authentication failed."
    assert r.cmd("USER alice@example.com") == "+OK"
    assert r.cmd("PASS bad") == "-ERR [AUTH] Authentication failed."
    assert r.line() == "-ERR Too many invalid authentication attempts."
    assert server.wait_log("Authentication failed: user=<alice@example.com>")


def test_auth_plain_and_login(server):
    deliver(server, "alice", msg(1))
    import base64
    ir = base64.b64encode(b"\0alice@example.com\0" + PASSWORD.encode()).decode()
    r = Raw(server.pop3_port)
    assert r.cmd("AUTH") == "+OK"
    assert [l.strip() for l in r.multi()] == [b"PLAIN", b"LOGIN"]
    assert r.cmd("AUTH PLAIN " + ir) == "+OK Logged in."
    assert r.cmd("STAT").startswith("+OK 1 ")
    assert r.cmd("QUIT") == "+OK Logging out."
    # without an initial response: an empty challenge, then the data
    r = Raw(server.pop3_port)
    assert r.cmd("AUTH PLAIN") == "+ "
    assert r.cmd(ir) == "+OK Logged in."
    r.close()
    # LOGIN mechanism with continuations; "*" aborts
    r = Raw(server.pop3_port)
    assert r.cmd("AUTH LOGIN").startswith("+ ")
    assert r.cmd("*") == "-ERR Authentication aborted by client."
    assert r.cmd("AUTH LOGIN").startswith("+ ")
    assert r.cmd(base64.b64encode(b"alice@example.com").decode()).startswith("+ ")
    assert r.cmd(base64.b64encode(PASSWORD.encode()).decode()) == "+OK Logged in."
    r.close()
    r = Raw(server.pop3_port)
    assert r.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.com\0nope").decode()) == \
        "-ERR [AUTH] Authentication failed."
    assert r.cmd("AUTH PLAIN") == "+ "
    assert r.cmd("%%%") == "-ERR Invalid base64 data in continued response."


def test_plaintext_policy(tmpdir_columba):
    srv = start(tmpdir_columba)
    try:
        # 127.0.0.2 -> 127.0.0.1: neither local nor trusted nor TLS
        r = Raw(srv.pop3_port, source="127.0.0.2")
        caps = [l.strip() for l in (r.send("CAPA\r\n"), r.line(), r.multi())[2]]
        assert b"USER" not in caps and b"STLS" in caps
        assert not any(c.startswith(b"SASL") for c in caps)
        assert r.cmd("USER alice@example.com") == ("-ERR [AUTH] Plaintext authentication "
                                       "disallowed on non-secure (SSL/TLS) connections.")
        assert r.cmd("AUTH PLAIN AGFsaWNlAHg=") == (
            "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
            "(SSL/TLS) connections.")
        # after STLS it is allowed
        assert r.cmd("STLS") == "+OK Begin TLS negotiation now."
        r.sock = tls_context().wrap_socket(r.sock)
        r.f = r.sock.makefile("rb")
        assert r.cmd("STLS") == "-ERR TLS is already active."
        r.login()
        assert r.cmd("QUIT") == "+OK Logging out."
    finally:
        stop(srv)


# --- TLS ---

def test_stls_and_pop3s(server):
    deliver(server, "alice", msg(1))
    p = poplib.POP3("127.0.0.1", server.pop3_port, timeout=20)
    assert p.stls(context=tls_context()).startswith(b"+OK")
    assert "STLS" not in p.capa()
    p.user("alice@example.com")
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    assert unstuffed(p.retr(1)[1]).endswith(msg(1))
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=tls_context(),
                        timeout=20)
    assert "STLS" not in p.capa()
    p.user("alice@example.com")
    p.pass_(PASSWORD)
    assert p.stat()[0] == 1
    assert unstuffed(p.retr(1)[1]).endswith(msg(1))
    p.quit()
    assert server.wait_log("Login: user=<alice@example.com>, method=PLAIN")


# --- transaction ---

def test_stat_list_uidl_retr_top(server):
    for n in range(1, 4):
        deliver(server, "alice", msg(n, b"line2\r\nline3\r\n"))
    p = pop(server)
    count, size = p.stat()
    assert count == 3
    resp, lines, _ = p.list()
    assert resp == b"+OK 3 messages:"
    sizes = [int(l.split()[1]) for l in lines]
    assert [int(l.split()[0]) for l in lines] == [1, 2, 3]
    assert sum(sizes) == size
    assert p.list(2) == b"+OK 2 %d" % sizes[1]
    for n in range(1, 4):
        data = unstuffed(p.retr(n)[1])
        assert len(data) == sizes[n - 1]
        assert data.endswith(msg(n, b"line2\r\nline3\r\n"))
    uidls = [l.split()[1] for l in p.uidl()[1]]
    # Dovecot's default %08Xu%08Xv: UID and UIDVALIDITY in lowercase hex
    for i, u in enumerate(uidls):
        assert re.fullmatch(rb"[0-9a-f]{16}", u), u
        assert int(u[:8], 16) == i + 1
    assert len(set(u[8:] for u in uidls)) == 1
    assert p.uidl(3) == b"+OK 3 " + uidls[2]
    # TOP: the header, the blank line, n body lines
    top = p.top(1, 1)[1]
    assert top[-2:] == [b"", b"body 1"]
    assert p.top(1, 0)[1][-1] == b""
    assert len(p.top(1, 100)[1]) == len(p.retr(1)[1])
    assert p.noop() == b"+OK"
    p.quit()
    # UIDLs are the same in the next session
    p = pop(server)
    assert [l.split()[1] for l in p.uidl()[1]] == uidls
    p.quit()


def test_transaction_errors(server):
    deliver(server, "alice", msg(1))
    r = Raw(server.pop3_port)
    r.login()
    assert r.cmd("RETR") == "-ERR Missing argument."
    assert r.cmd("RETR 0") == "-ERR There's no message 0."
    assert r.cmd("RETR 2") == "-ERR There's no message 2."
    assert r.cmd("RETR abc") == "-ERR Invalid message number: abc"
    assert r.cmd("RETR -1") == "-ERR Invalid message number: -1"
    assert r.cmd("RETR 99999999999") == "-ERR Invalid message number: 99999999999"
    assert r.cmd("LIST 1 2") == "-ERR Too many arguments."
    assert r.cmd("TOP 1") == "-ERR Missing argument."
    assert r.cmd("TOP 1 x") == "-ERR Invalid number of lines: x"
    assert r.cmd("STAT 1") == "-ERR Too many arguments."
    assert r.cmd("USER bob") == "-ERR Unknown command: USER"
    assert r.cmd("LAST") == "-ERR Unknown command: LAST"
    assert r.cmd("DELE 1") == "+OK Marked to be deleted."
    assert r.cmd("DELE 1") == "-ERR Message is deleted."
    assert r.cmd("RETR 1") == "-ERR Message is deleted."
    assert r.cmd("LIST 1") == "-ERR Message is deleted."
    assert r.cmd("STAT") == "+OK 0 0"
    assert r.cmd("LIST") == "+OK 0 messages:"
    assert r.multi() == []
    assert r.cmd("RSET") == "+OK"
    assert r.cmd("STAT").startswith("+OK 1 ")
    # no QUIT: nothing is deleted
    r.close()
    assert server.wait_log("Disconnected: Connection closed")
    p = pop(server)
    assert p.stat()[0] == 1
    p.quit()


def test_dele_quit_expunges(server):
    for n in range(1, 4):
        deliver(server, "alice", msg(n))
    p = pop(server)
    p.dele(1)
    p.dele(3)
    assert p.quit() == b"+OK Logging out, messages deleted."
    p = pop(server)
    assert p.stat()[0] == 1
    assert unstuffed(p.retr(1)[1]).endswith(msg(2))
    p.quit()
    assert server.wait_log("del=2/3")


def test_retr_byte_exact_stuffed_8bit(server):
    body = (b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nmid.dle\r\n"
            b"8bit \xc3\xa4\xff\x80 end\r\n.")
    deliver(server, "alice", body)
    r = Raw(server.pop3_port)
    r.login()
    first = r.cmd("RETR 1")
    m = re.fullmatch(r"\+OK (\d+) octets", first)
    assert m
    raw = b"".join(r.multi())
    # on the wire every line starting with "." got one more
    assert b"\r\n..\r\n...\r\n..x\r\nmid.dle\r\n" in raw
    assert b"\r\n..\r\n" in raw[-6:]
    # unstuffed, it is what was delivered (plus the LMTP trace headers;
    # smtplib gave the trailing "." its CRLF)
    lines = raw.split(b"\r\n")[:-1]
    data = unstuffed([l[1:] if l.startswith(b".") else l for l in lines])
    assert data.endswith(body + b"\r\n")
    assert len(data) == int(m.group(1))
    r.close()


def test_large_message(server):
    line = b"0123456789" * 7 + b"\r\n"
    big = b"Subject: big\r\n\r\n" + line * 80000 + b".starts with a dot\r\n"
    deliver(server, "alice", big)
    p = pop(server)
    resp, lines, octets = p.retr(1)
    assert unstuffed(lines).endswith(big)
    assert resp == b"+OK %d octets" % len(unstuffed(lines))
    p.quit()


def test_pipelining(server):
    for n in range(1, 4):
        deliver(server, "alice", msg(n))
    r = Raw(server.pop3_port)
    # login and transaction commands in one write: what follows PASS
    # travels to the mail process with the hand-off
    r.send("USER alice@example.com\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nRETR 2\r\nTOP 3 0\r\n"
           "UIDL 1\r\nDELE 2\r\nBOGUS\r\nQUIT\r\n" % PASSWORD)
    assert r.line() == "+OK"
    assert r.line() == "+OK Logged in."
    assert r.line().startswith("+OK 3 ")
    assert r.line().endswith("octets")
    assert b"".join(r.multi()).endswith(msg(1))
    assert r.line().endswith("octets")
    assert b"".join(r.multi()).endswith(msg(2))
    assert r.line() == "+OK"
    assert r.multi()[-1] == b"\r\n"
    assert r.line().startswith("+OK 1 ")
    assert r.line() == "+OK Marked to be deleted."
    assert r.line() == "-ERR Unknown command: BOGUS"
    assert r.line() == "+OK Logging out, messages deleted."
    assert r.f.readline() == b""


def test_snapshot_at_login(server):
    deliver(server, "alice", msg(1))
    p = pop(server)
    assert p.stat()[0] == 1
    deliver(server, "alice", msg(2))
    # RFC 1939: the maildrop as it was when the session began
    assert p.stat()[0] == 1
    assert len(p.list()[1]) == 1
    p.quit()
    p = pop(server)
    assert p.stat()[0] == 2
    p.quit()


def test_imap_and_pop3_on_one_mailbox(server):
    for n in range(1, 3):
        deliver(server, "alice", msg(n))
    p = pop(server)
    p.dele(1)
    # IMAP sees both until the POP3 session QUITs
    i = imaplib.IMAP4("127.0.0.1", server.imap_port)
    i.login("alice@example.com", PASSWORD)
    assert i.select("INBOX")[1] == [b"2"]
    i.logout()
    # a message IMAP expunges meanwhile cannot be RETRieved
    p.quit()
    i = imaplib.IMAP4("127.0.0.1", server.imap_port)
    i.login("alice@example.com", PASSWORD)
    assert i.select("INBOX")[1] == [b"1"]
    i.logout()


def maildir_flags(server, user):
    """Flags of the user's INBOX messages, through a Maildir export."""
    home = os.path.join(server.home, user)
    dest = os.path.join(server.dir, "export-%d" % time.monotonic_ns())
    st = os.stat(home)
    os.makedirs(dest)
    os.chown(dest, st.st_uid, st.st_gid)
    subprocess.run([os.path.join(BUILD, "src/lib-storage/columba-mail-tool"),
                    "export-maildir", home, dest + "/m"], check=True,
                   stdout=subprocess.DEVNULL,
                   preexec_fn=demote_to(st.st_uid, st.st_gid))
    names = glob.glob(os.path.join(dest, "m", "cur", "*"))
    shutil.rmtree(dest)
    return sorted(n.rsplit(":2,", 1)[1] if ":2," in n else "" for n in names)


def test_retr_sets_seen_at_quit(server):
    deliver(server, "alice", msg(1))
    deliver(server, "alice", msg(2))
    p = pop(server)
    p.retr(1)
    p.top(2, 0)
    p.quit()
    assert maildir_flags(server, "alice") == ["", "S"]


def test_no_flag_updates_and_deleted_flag(tmpdir_columba):
    srv = start(tmpdir_columba, extra="pop3_no_flag_updates = yes\n"
                "pop3_deleted_flag = \"$POP3Deleted\"\n")
    try:
        deliver(srv, "alice", msg(1))
        deliver(srv, "alice", msg(2))
        p = pop(srv)
        p.retr(1)
        p.dele(2)
        p.quit()
        # no \Seen; message 2 stays in the mailbox with the keyword
        # (Maildir's first keyword letter), hidden from POP3
        assert maildir_flags(srv, "alice") == ["", "a"]
        p = pop(srv)
        assert p.stat()[0] == 1
        assert unstuffed(p.retr(1)[1]).endswith(msg(1))
        p.quit()
    finally:
        stop(srv)


def test_lock_session(tmpdir_columba):
    srv = start(tmpdir_columba, extra="pop3_lock_session = yes\n")
    try:
        p = pop(srv)
        r = Raw(srv.pop3_port)
        assert r.cmd("USER alice@example.com") == "+OK"
        assert r.cmd("PASS " + PASSWORD) == \
            "-ERR [IN-USE] Mailbox is locked by another POP3 session."
        assert r.f.readline() == b""
        # another user is not affected
        pop(srv, "bob").quit()
        p.quit()
        pop(srv).quit()
    finally:
        stop(srv)


def test_bad_uidl_format(tmpdir_columba):
    srv = start(tmpdir_columba, extra="pop3_uidl_format = %m\n")
    try:
        r = Raw(srv.pop3_port)
        assert r.cmd("USER alice@example.com") == "+OK"
        assert r.cmd("PASS " + PASSWORD).startswith("-ERR [SYS/TEMP] Internal error")
        assert srv.wait_log("Invalid pop3_uidl_format %m: unknown variable %m")
    finally:
        stop(srv)


def test_not_in_protocols(tmpdir_columba):
    srv = start(tmpdir_columba, protocols="imap lmtp")
    try:
        for port in (srv.pop3_port, srv.pop3s_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2)
        assert "pop3-login" not in srv.children().values()
    finally:
        stop(srv)


def test_fetchmail(server, tmpdir_columba):
    for n in range(1, 4):
        deliver(server, "alice", msg(n, b".dot line\r\n"))
    out = os.path.join(tmpdir_columba, "fetched")
    os.makedirs(out)
    mda = os.path.join(tmpdir_columba, "mda.sh")
    with open(mda, "w") as f:
        f.write("#!/bin/sh\ncat > \"%s/msg.$$.$(date +%%s%%N)\"\n" % out)
    os.chmod(mda, 0o755)
    rc = os.path.join(tmpdir_columba, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('poll 127.0.0.1 protocol pop3 port %d auth password\n'
                '  user "alice@example.com" password "%s" is root here\n'
                '  mda "%s" fetchall\n' % (server.pop3_port, PASSWORD, mda))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=tmpdir_columba,
               FETCHMAILHOME=tmpdir_columba)
    res = subprocess.run(["fetchmail", "-f", rc, "--nodetach", "--nosyslog",
                          "--sslproto", "", "--pidfile",
                          os.path.join(tmpdir_columba, "fm.pid")],
                         env=env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    files = sorted(glob.glob(os.path.join(out, "msg.*")))
    assert len(files) == 3
    got = sorted(open(p, "rb").read() for p in files)
    for n in range(1, 4):
        # fetchmail hands the MDA LF line ends
        want = msg(n, b".dot line\r\n").replace(b"\r\n", b"\n")
        assert any(g.endswith(want) for g in got), (n, got)
    # fetchmail deleted them (no "keep")
    p = pop(server)
    assert p.stat()[0] == 0
    p.quit()
