"""UNAUTHENTICATE (RFC 8437): a session goes back to the not-authenticated
state in the login process, on a plaintext connection (the socket moves
back from the mail process), on implicit TLS and after STARTTLS (the
login process keeps the TLS session and ends its relay), with pipelined
input kept, the user+IP count freed, no fds left behind after many
cycles, and a BYE (never NO) when no login process takes the client."""
import os
import re
import signal
import socket
import time
import zlib

import pytest

from conftest import (LOG_CRASH_OR_SANITIZER, sanitizer_build,
                      server_fixture, start_with_users,
                      stop_checked)
from rawclient import tls_context

# freed memory sits in ASan's quarantine: RSS says nothing about leaks
SANITIZED = sanitizer_build()

USERS = {"alice@example.com": "alice-secret", "bob@example.com": "bob-secret"}


def start(tmpdir, extra=""):
    return start_with_users(tmpdir, USERS, mail_home="%n",
                            config="auth_mechanisms = plain login\n" + extra)


def finish(srv):
    stop_checked(srv, LOG_CRASH_OR_SANITIZER)


server = server_fixture(start, finish)


class Client:
    """A raw IMAP client: mode "plain", "starttls" or "imaps"."""

    def __init__(self, server, mode="plain"):
        port = server.imaps_port if mode == "imaps" else server.imap_port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        if mode == "imaps":
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.decomp = None
        greeting = self.readline()
        assert greeting.startswith(b"* OK"), greeting
        if mode == "starttls":
            assert self.command(b"s", b"STARTTLS")[-1].startswith(b"s OK")
            self.sock = tls_context().wrap_socket(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            if self.decomp is not None:
                chunk = self.decomp.decompress(chunk)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def read_until(self, tag):
        lines = []
        while True:
            line = self.readline()
            assert line, lines
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, tag, text):
        self.send(b"%s %s\r\n" % (tag, text))
        return self.read_until(tag)

    def login(self, user, tag=b"l"):
        resp = self.command(tag, b'LOGIN "%s" "%s"' % (
            user.encode(), USERS[user].encode()))
        assert resp[-1].startswith(tag + b" OK"), resp
        return resp

    def capabilities(self):
        resp = b"".join(self.command(b"c", b"CAPABILITY"))
        return re.search(rb"\* CAPABILITY ([^\r\n]*)", resp).group(1).split()

    def close(self):
        self.sock.close()


def append_message(c, subject):
    body = b"Subject: %s\r\n\r\nhello\r\n" % subject
    c.send(b"p APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    assert c.read_until(b"p")[-1].startswith(b"p OK")


def exists(resp):
    for line in resp:
        mo = re.match(rb"\* (\d+) EXISTS", line)
        if mo:
            return int(mo.group(1))
    raise AssertionError(resp)


MODES = ["plain", "starttls", "imaps"]


@pytest.mark.parametrize("mode", MODES)
def test_unauthenticate_and_login_again(server, mode):
    c = Client(server, mode)
    prelogin = c.capabilities()
    assert b"UNAUTHENTICATE" not in prelogin  # RFC 8437 §3: after login
    c.login("alice@example.com")
    assert b"UNAUTHENTICATE" in c.capabilities()
    append_message(c, b"for alice")
    resp = c.command(b"s", b"SELECT INBOX")
    assert exists(resp) >= 1 and resp[-1].startswith(b"s OK")
    alice_count = exists(resp)
    # ENABLE state must not survive either (RFC 8437 §4.1)
    assert c.command(b"e", b"ENABLE CONDSTORE")[-1].startswith(b"e OK")

    resp = c.command(b"u", b"UNAUTHENTICATE")
    # no untagged EXPUNGE/EXISTS or anything else: just the OK
    assert len(resp) == 1, resp
    assert resp[-1].startswith(b"u OK [CAPABILITY "), resp
    assert b"UNAUTHENTICATE" not in resp[-1]
    caps = c.capabilities()
    assert caps == prelogin or (mode == "starttls" and
                                set(caps) == set(prelogin) - {b"STARTTLS"})
    assert b"AUTH=PLAIN" in caps and b"STARTTLS" not in caps or \
        mode == "plain"
    # not authenticated: post-login commands are refused by the login
    # process, UNAUTHENTICATE included
    assert c.command(b"x", b"SELECT INBOX")[-1].startswith(b"x BAD")
    assert c.command(b"y", b"UNAUTHENTICATE")[-1].startswith(b"y BAD")

    c.login("bob@example.com", tag=b"m")
    resp = c.command(b"t", b"SELECT INBOX")
    assert exists(resp) == 0, resp  # bob's mailbox, not alice's
    assert b"HIGHESTMODSEQ" not in b"".join(resp)  # CONDSTORE was reset
    assert c.command(b"u2", b"UNAUTHENTICATE")[-1].startswith(b"u2 OK")
    c.login("alice@example.com", tag=b"n")
    assert exists(c.command(b"v", b"EXAMINE INBOX")) == alice_count
    resp = c.command(b"z", b"LOGOUT")
    assert resp[0].startswith(b"* BYE") and resp[-1].startswith(b"z OK")
    c.close()
    assert server.wait_log("Disconnected: Unauthenticated")
    assert server.wait_log("Unauthenticated: ")


@pytest.mark.parametrize("mode", ["plain", "imaps"])
def test_pipelined_after_unauthenticate(server, mode):
    c = Client(server, mode)
    c.login("alice@example.com")
    assert c.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    # all in one write: what follows UNAUTHENTICATE is answered by the
    # login process, in order, after the OK
    c.send(b"a UNAUTHENTICATE\r\nb CAPABILITY\r\n"
           b'c LOGIN "bob@example.com" "bob-secret"\r\n'
           b"d SELECT INBOX\r\ne NOOP\r\n")
    resp = c.read_until(b"e")
    tags = [l.split(b" ")[0] for l in resp if not l.startswith(b"*")]
    assert tags == [b"a", b"b", b"c", b"d", b"e"], resp
    assert resp[0].startswith(b"a OK"), resp
    cap = [l for l in resp if l.startswith(b"* CAPABILITY")][0]
    assert b"AUTH=PLAIN" in cap and b"UNAUTHENTICATE" not in cap
    assert any(l.startswith(b"c OK") for l in resp), resp
    assert any(l.startswith(b"d OK") for l in resp), resp
    assert server.wait_log("imap(bob@example.com)")
    c.close()


def test_unauthenticate_bad_cases(server):
    c = Client(server)
    # before login: BAD from the login process, the connection goes on
    assert c.command(b"a", b"UNAUTHENTICATE")[-1].startswith(b"a BAD")
    c.login("alice@example.com")
    assert c.command(b"b", b"UNAUTHENTICATE now")[-1].startswith(b"b BAD")
    # still logged in as alice
    assert c.command(b"c", b"SELECT INBOX")[-1].startswith(b"c OK")
    c.close()


def test_unauthenticate_with_compress(server):
    """RFC 8437 forbids NO; with COMPRESS active Columba cannot hand the
    client's DEFLATE stream on, so it says BYE (documented), and no
    longer advertises UNAUTHENTICATE once COMPRESS is on."""
    c = Client(server)
    c.login("alice@example.com")
    assert c.command(b"c", b"COMPRESS DEFLATE")[-1].startswith(b"c OK")
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    c.decomp = zlib.decompressobj(-15)

    def zsend(data):
        c.sock.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))
    c.send = zsend
    caps = c.capabilities()
    assert b"COMPRESS=DEFLATE" in caps and b"UNAUTHENTICATE" not in caps
    c.send(b"u UNAUTHENTICATE\r\n")
    line = c.readline()
    assert line.startswith(b"* BYE"), line
    assert c.readline() == b""
    c.close()
    assert server.wait_log("UNAUTHENTICATE with COMPRESS active")
    # the session is gone with its count
    c = Client(server)
    c.login("alice@example.com")
    c.close()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def service_pids(server):
    return {p: s for p, s in server.children().items()
            if s in ("imap-login", "mail", "auth")}


@pytest.mark.parametrize("mode", ["plain", "imaps"])
def test_many_cycles_leak_nothing(server, mode):
    c = Client(server, mode)
    users = ["alice@example.com", "bob@example.com"]

    def cycle(i):
        user = users[i % 2]
        c.send(b'l%d LOGIN "%s" "%s"\r\n' % (i, user.encode(),
                                            USERS[user].encode()))
        assert c.read_until(b"l%d" % i)[-1].startswith(b"l%d OK" % i)
        c.send(b"s%d SELECT INBOX\r\n" % i)
        assert c.read_until(b"s%d" % i)[-1].startswith(b"s%d OK" % i)
        c.send(b"u%d UNAUTHENTICATE\r\n" % i)
        assert c.read_until(b"u%d" % i)[-1].startswith(b"u%d OK" % i)

    for i in range(20):
        cycle(i)
    time.sleep(0.5)
    pids = service_pids(server)
    assert sorted(pids.values()) == ["auth", "imap-login", "mail"], pids
    fds = {p: fd_count(p) for p in pids}
    rss = {p: rss_kib(p) for p in pids}
    for i in range(20, 220):
        cycle(i)
    time.sleep(0.5)
    assert service_pids(server) == pids, "a process was restarted"
    after = {p: fd_count(p) for p in pids}
    assert after == fds, (fds, after)
    for p in pids:
        if SANITIZED:
            break
        # SQLite's caches and malloc arenas vary; a leak of the session
        # (storage handles, index, pools) would cost far more over 200
        assert rss_kib(p) - rss[p] < 4096, (pids[p], rss[p], rss_kib(p))
    c.close()


def test_userip_limit_freed(tmpdir_columba):
    srv = start(tmpdir_columba, "mail_max_userip_connections = 1\n")
    try:
        a = Client(srv)
        a.login("alice@example.com")
        b = Client(srv, "imaps")
        resp = b.command(b"x", b'LOGIN "alice@example.com" "alice-secret"')
        assert resp[-1].startswith(b"x NO [LIMIT]"), resp
        assert a.command(b"u", b"UNAUTHENTICATE")[-1].startswith(b"u OK")
        b.login("alice@example.com")
        # the same connection logs in again once the other one leaves
        assert b.command(b"v", b"UNAUTHENTICATE")[-1].startswith(b"v OK")
        a.login("alice@example.com", tag=b"w")
        a.close()
        b.close()
    finally:
        finish(srv)


def wait_new_login_pid(server, old, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server.child_pids("imap-login")
        if pids and old not in pids:
            return pids[0]
        time.sleep(0.1)
    raise AssertionError("imap-login was not restarted")


def test_login_process_restarted(server):
    """A plaintext session outlives its login process; a restarted one
    takes the client back (the hand-back socket is the master's)."""
    c = Client(server)
    c.login("alice@example.com")
    [old] = server.child_pids("imap-login")
    os.kill(old, signal.SIGKILL)
    wait_new_login_pid(server, old)
    assert c.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    assert c.command(b"u", b"UNAUTHENTICATE")[-1].startswith(b"u OK")
    c.login("bob@example.com", tag=b"m")
    c.close()


def test_login_process_absent(server):
    """No login process answers: BYE (RFC 8437 §3 forbids NO), never a
    silent close; the connection ends even though a copy of the socket
    waits for the stopped login process; the session's count is freed."""
    c = Client(server)
    c.login("alice@example.com")
    [login] = server.child_pids("imap-login")
    os.kill(login, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        c.send(b"u UNAUTHENTICATE\r\n")
        line = c.readline()
        assert line.startswith(b"* BYE [UNAVAILABLE]"), line
        assert c.readline() == b""
        assert time.monotonic() - t0 < 15
    finally:
        os.kill(login, signal.SIGCONT)
    c.close()
    assert server.wait_log("Hand-back to a login process failed")
    c = Client(server)
    c.login("alice@example.com")
    assert c.command(b"s", b"SELECT INBOX")[-1].startswith(b"s OK")
    c.close()


def test_unauthenticate_disabled(tmpdir_columba):
    srv = start(tmpdir_columba, "imap_unauthenticate = no\n")
    try:
        c = Client(srv)
        c.login("alice@example.com")
        assert b"UNAUTHENTICATE" not in c.capabilities()
        assert c.command(b"u", b"UNAUTHENTICATE")[-1].startswith(b"u BAD")
        assert c.command(b"n", b"NOOP")[-1].startswith(b"n OK")
        c.close()
    finally:
        finish(srv)
