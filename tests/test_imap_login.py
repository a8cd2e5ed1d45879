"""Logging in over IMAP: the login process authenticates through the auth
process (LOGIN, AUTHENTICATE with SASL-IR, CRAM-MD5, SCRAM-SHA-256, the
plaintext policy) and hands the client to the mail process (fd passing in
plaintext, the TLS relay), with the failure paths (wrong password, auth or
mail process missing, mail_max_userip_connections)."""
import base64
import hashlib
import hmac
import imaplib
import os
import re
import socket
import time

import pytest

from authclient import ScramClient, b64
from conftest import password_hash, start_with_users, stop_checked
from rawclient import tls_context


@pytest.fixture(scope="module")
def hashes():
    return {"cram": password_hash("CRAM-MD5", "cram-secret"),
            "scram": password_hash("SCRAM-SHA-256", "scram-secret")}


def start(tmpdir, hashes, extra=""):
    return start_with_users(
        tmpdir, {"alice@example.com": "alice-secret",
                 "cram@example.com": hashes["cram"],
                 "scram@example.com": hashes["scram"]},
        mail_home="%Lu",
        config="auth_mechanisms = plain login cram-md5 scram-sha-256\n" +
        extra)


@pytest.fixture
def server(tmpdir_columba, hashes):
    srv = start(tmpdir_columba, hashes)
    yield srv
    stop_checked(srv)


def raw(port, source="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=(source, 0))
    f = s.makefile("rwb", buffering=0)
    assert f.readline().startswith(b"* OK ")
    return s, f


def send(f, line):
    f.write(line if isinstance(line, bytes) else line.encode())


def test_login_plaintext_loopback(server):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert "AUTH=PLAIN" in m.capabilities and "SASL-IR" in m.capabilities
    assert "LOGINDISABLED" not in m.capabilities
    typ, data = m.login("alice@example.com", "alice-secret")
    assert typ == "OK"
    assert m.noop()[0] == "OK"
    assert m.capability()[0] == "OK"
    m.logout()
    assert server.wait_log("Login: user=<alice@example.com>, method=PLAIN")


def test_authenticate_plain_starttls_and_implicit_tls(server):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    m.starttls(tls_context())
    typ, _ = m.authenticate("PLAIN",
                            lambda _: b"\0alice@example.com\0alice-secret")
    assert typ == "OK"
    assert m.noop()[0] == "OK"
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port,
                          ssl_context=tls_context())
    assert m.login("alice@example.com", "alice-secret")[0] == "OK"
    assert m.capability()[0] == "OK"
    m.logout()


def test_sasl_ir_and_pipelining(server):
    s, f = raw(server.imap_port)
    ir = b64(b"\0alice@example.com\0alice-secret")
    # the NOOP after the login command must reach the mail process
    send(f, "a AUTHENTICATE PLAIN %s\r\nb NOOP\r\n" % ir)
    assert f.readline().startswith(b"a OK [CAPABILITY ")
    assert f.readline().startswith(b"b OK")
    send(f, "c LOGOUT\r\n")
    assert f.readline().startswith(b"* BYE")
    s.close()


def test_login_literals(server):
    s, f = raw(server.imap_port)
    send(f, "a LOGIN {17}\r\n")
    assert f.readline() == b"+ OK\r\n"
    send(f, "alice@example.com {12+}\r\nalice-secret\r\n")
    assert f.readline().startswith(b"a OK [CAPABILITY ")
    s.close()
    s, f = raw(server.imap_port)
    send(f, "a LOGIN {99999}\r\n")
    assert f.readline().startswith(b"a BAD Literal too large")
    send(f, 'b LOGIN "alice@example.com" "alice-secret"\r\n')
    assert f.readline().startswith(b"b OK [CAPABILITY ")
    s.close()


def test_cram_md5(server):
    m = imaplib.IMAP4("127.0.0.1", server.imap_port)
    assert m.login_cram_md5("cram@example.com", "cram-secret")[0] == "OK"
    m.logout()


def test_scram_sha_256(server):
    s, f = raw(server.imap_port)
    sc = ScramClient("sha256", "scram@example.com", "scram-secret")
    send(f, "a AUTHENTICATE SCRAM-SHA-256 %s\r\n" % b64(sc.first().encode()))
    line = f.readline()
    assert line.startswith(b"+ "), line
    server_first = base64.b64decode(line[2:].strip()).decode()
    send(f, b64(sc.final(server_first).encode()) + "\r\n")
    line = f.readline()
    assert line.startswith(b"+ "), line
    assert sc.verify_server_final(base64.b64decode(line[2:].strip()).decode())
    send(f, "\r\n")
    assert f.readline().startswith(b"a OK [CAPABILITY ")
    s.close()


def test_failures_and_cancel(server):
    s, f = raw(server.imap_port)
    send(f, "a LOGIN alice@example.com wrong\r\n")
    assert f.readline() == b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    send(f, "b LOGIN nobody@example.com x\r\n")
    assert f.readline() == b"b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    send(f, "c AUTHENTICATE PLAIN\r\n")
    assert f.readline() == b"+ \r\n"
    send(f, "*\r\n")
    assert f.readline().startswith(b"c BAD Authentication aborted")
    send(f, "d AUTHENTICATE PLAIN !!!\r\n")
    assert f.readline().startswith(b"d BAD")
    send(f, "e AUTHENTICATE NOSUCH\r\n")
    assert f.readline().startswith(b"e NO Unsupported")
    # a third failure ends the connection
    send(f, "f LOGIN alice@example.com wrong\r\n")
    assert f.readline().startswith(b"f NO [AUTHENTICATIONFAILED]")
    assert f.readline().startswith(b"* BYE")
    s.close()
    log = server.log()
    assert "alice-secret" not in log and "wrong" not in log.replace(
        "wrong password", "")
    assert server.wait_log("Authentication failed: user=<")


def test_plaintext_refused_untrusted(tmpdir_columba, hashes):
    # 127.0.0.2 -> 127.0.0.1: not this host's own address, not trusted
    srv = start(tmpdir_columba, hashes,
                "login_trusted_networks = 192.0.2.0/24\n")
    try:
        s, f = raw(srv.imap_port, source="127.0.0.2")
        send(f, "a CAPABILITY\r\n")
        caps = f.readline()
        assert b"LOGINDISABLED" in caps and b"AUTH=PLAIN" not in caps
        assert b"AUTH=CRAM-MD5" in caps
        send(f, "b LOGIN alice@example.com alice-secret\r\n")
        f.readline()
        assert f.readline() == (b"b NO [PRIVACYREQUIRED] Plaintext authentication "
                                b"disallowed on non-secure (SSL/TLS) connections.\r\n")
        s.close()
        # over STARTTLS the same client may
        m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        m.starttls(tls_context())
        assert m.login("alice@example.com", "alice-secret")[0] == "OK"
        m.logout()
    finally:
        assert srv.stop() == 0


def test_trusted_network_allows_plaintext(tmpdir_columba, hashes):
    srv = start(tmpdir_columba, hashes,
                "login_trusted_networks = 127.0.0.0/8\n")
    try:
        s, f = raw(srv.imap_port, source="127.0.0.2")
        send(f, "a LOGIN alice@example.com alice-secret\r\n")
        assert f.readline().startswith(b"a OK [CAPABILITY ")
        s.close()
    finally:
        assert srv.stop() == 0


def test_relay_large_transfer(server):
    """Many commands and a lot of output through the TLS relay."""
    m = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port,
                          ssl_context=tls_context())
    m.login("alice@example.com", "alice-secret")
    sock = m.socket()
    # 6,000 pipelined commands in one go, then read every reply
    n = 6000
    sock.sendall(b"".join(b"t%d CAPABILITY\r\n" % i for i in range(n)))
    f = sock.makefile("rb")
    done = 0
    total = 0
    while done < n:
        line = f.readline()
        assert line, "connection closed after %d replies" % done
        total += len(line)
        if line.startswith(b"t"):
            assert b" OK " in line
            done += 1
    assert total > 500000
    sock.sendall(b"z LOGOUT\r\n")
    assert f.readline().startswith(b"* BYE")
    assert f.readline().startswith(b"z OK")


def test_auth_process_down(server):
    pids = server.child_pids("auth")
    for pid in pids:
        os.kill(pid, 19)  # SIGSTOP: the request waits in the auth process
    s, f = raw(server.imap_port)
    send(f, "a LOGIN alice@example.com alice-secret\r\n")
    time.sleep(0.3)
    for pid in pids:
        os.kill(pid, 9)  # ... which dies: the request fails at once
    line = f.readline()
    assert line == b"a NO [UNAVAILABLE] Temporary authentication failure.\r\n"
    s.close()


def test_mail_process_missing(server):
    os.unlink(os.path.join(server.base_dir, "login", "mail"))
    # no login yet: the login process has no hand-off connection to reuse
    s, f = raw(server.imap_port)
    send(f, "a LOGIN alice@example.com alice-secret\r\n")
    assert f.readline() == b"a NO [UNAVAILABLE] Temporary authentication failure.\r\n"
    s.close()
    assert server.wait_log("hand-off to the mail process failed")


def test_handoff_connection_reused(server):
    """The login process keeps its hand-off connection after a login and
    sends the next hand-off on it: with the socket's name gone, a second
    login still reaches the mail process."""
    for i in range(3):
        m = imaplib.IMAP4("127.0.0.1", server.imap_port)
        assert m.login("alice@example.com", "alice-secret")[0] == "OK"
        assert m.noop()[0] == "OK"
        m.logout()
        if i == 0:
            os.unlink(os.path.join(server.base_dir, "login", "mail"))
    assert "hand-off to the mail process failed" not in server.log()
    # the mail process goes away: its idle connection closes, the next
    # login cannot connect and fails cleanly
    for pid in server.child_pids("mail"):
        os.kill(pid, 9)
    time.sleep(0.5)
    s, f = raw(server.imap_port)
    send(f, "a LOGIN alice@example.com alice-secret\r\n")
    assert f.readline() == b"a NO [UNAVAILABLE] Temporary authentication failure.\r\n"
    s.close()
    assert server.wait_log("hand-off to the mail process failed")


def test_handoff_retry_when_mail_process_stops_accepting(tmpdir_columba,
                                                         hashes):
    """A mail process that stopped accepting (here: service_count = 1,
    its one client served) closes the reused hand-off connection without
    answering; the login process sends the hand-off again on a new
    connection, which the fresh mail process takes."""
    srv = start(tmpdir_columba, hashes,
                "service mail {\n  service_count = 1\n  process_limit = 3\n}\n")
    try:
        m1 = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        assert m1.login("alice@example.com", "alice-secret")[0] == "OK"
        m2 = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        assert m2.login("alice@example.com", "alice-secret")[0] == "OK"
        assert m2.noop()[0] == "OK"
        assert m1.noop()[0] == "OK"
        served = set(re.findall(r"mail\((\d+)\): imap\(alice@example.com\)"
                                r"<[^>]*>: .*Logged in", srv.log()))
        assert len(served) == 2, srv.log()
        assert "hand-off to the mail process failed" not in srv.log()
        m2.logout()
        m1.logout()
    finally:
        srv.stop()


def test_userip_limit(tmpdir_columba, hashes):
    srv = start(tmpdir_columba, hashes, "mail_max_userip_connections = 2\n")
    try:
        conns = []
        for _ in range(2):
            m = imaplib.IMAP4("127.0.0.1", srv.imap_port)
            assert m.login("alice@example.com", "alice-secret")[0] == "OK"
            conns.append(m)
        s, f = raw(srv.imap_port)
        send(f, "a LOGIN alice@example.com alice-secret\r\n")
        assert f.readline() == (
            b"a NO [LIMIT] Maximum number of connections from user+IP "
            b"exceeded (mail_max_userip_connections=2)\r\n")
        conns.pop().logout()
        time.sleep(0.2)
        send(f, "b LOGIN alice@example.com alice-secret\r\n")
        assert f.readline().startswith(b"b OK [CAPABILITY ")
        s.close()
        for m in conns:
            m.logout()
    finally:
        assert srv.stop() == 0
