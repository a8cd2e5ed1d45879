"""Issue 4's TLS-bound authentication and connection limits, end to end
through the master, imap-login, auth and mail processes:
SCRAM-SHA-256-PLUS with tls-unique (TLS 1.2) and its refusals (wrong
binding, a 'y' downgrade), -PLUS offered on TLS only; EXTERNAL with a
client certificate made here (and refused without one or with one from
another CA); login_max_connections_per_ip; mail_max_userip_connections
giving sessions back when they end (the session-end hook)."""
import base64
import os
import socket
import ssl
import subprocess
import time

import pytest

from authclient import ScramClient, b64
from rawclient import tls_context
from test_imap_login import hashes, start, raw, send  # noqa: F401

PLUS = ("auth_mechanisms = plain scram-sha-256 scram-sha-256-plus "
        "scram-sha-1-plus external\n")


class ScramPlusClient(ScramClient):
    """RFC 5802 with channel binding: gs2 header p=<type>,, and c= carrying
    the header and the binding data."""

    def __init__(self, hashname, user, password, cb_type, cb_data, flag=None):
        super().__init__(hashname, user, password)
        self.gs2 = (flag or "p=" + cb_type) + ",,"
        self.cb_data = cb_data

    def first(self):
        return self.gs2 + self.bare

    def final(self, server_first):
        import hashlib
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        nonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, salt, iters)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = self._h(client_key)
        cbind = self.gs2.encode() + (self.cb_data if self.gs2.startswith("p=") else b"")
        without_proof = "c=%s,r=%s" % (b64(cbind), nonce)
        auth_message = ",".join([self.bare, server_first, without_proof]).encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = self._hmac(self._hmac(salted, b"Server Key"),
                                           auth_message)
        return without_proof + ",p=" + b64(proof)


def tls12(port, cert=None):
    ctx = tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(*cert)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
    f = s.makefile("rwb", buffering=0)
    greeting = f.readline()
    assert greeting.startswith(b"* OK "), greeting
    # the greeting's list was made before the handshake: ask again
    send(f, "c CAPABILITY\r\n")
    caps = f.readline()
    assert f.readline().startswith(b"c OK"), caps
    return s, f, caps


def scram_exchange(f, sc, mech):
    send(f, "a AUTHENTICATE %s %s\r\n" % (mech, b64(sc.first().encode())))
    line = f.readline()
    if not line.startswith(b"+ "):
        return line
    server_first = base64.b64decode(line[2:].strip()).decode()
    send(f, b64(sc.final(server_first).encode()) + "\r\n")
    line = f.readline()
    if not line.startswith(b"+ "):
        return line
    assert sc.verify_server_final(base64.b64decode(line[2:].strip()).decode())
    send(f, "\r\n")
    return f.readline()


@pytest.fixture
def plus_server(tmpdir_columba, hashes):  # noqa: F811
    srv = start(tmpdir_columba, hashes, PLUS)
    yield srv
    srv.stop()
    log = srv.log()
    assert "Panic:" not in log and "Fatal:" not in log, log


def test_scram_plus_tls_unique(plus_server):
    # plaintext: no -PLUS (there is nothing to bind to)
    s, f = raw(plus_server.imap_port)
    send(f, "a CAPABILITY\r\n")
    caps = f.readline().strip()
    assert b"AUTH=SCRAM-SHA-256" in caps.split() and b"-PLUS" not in caps, caps
    s.close()

    s, f, greeting = tls12(plus_server.imaps_port)
    assert b"AUTH=SCRAM-SHA-256-PLUS" in greeting, greeting
    assert b"AUTH=SCRAM-SHA-1-PLUS" in greeting, greeting
    cb = s.get_channel_binding("tls-unique")
    sc = ScramPlusClient("sha256", "scram@example.com", "scram-secret",
                         "tls-unique", cb)
    line = scram_exchange(f, sc, "SCRAM-SHA-256-PLUS")
    assert line.startswith(b"a OK [CAPABILITY "), line
    send(f, "b NOOP\r\n")
    assert f.readline().startswith(b"b OK")
    s.close()
    assert plus_server.wait_log("method=SCRAM-SHA-256-PLUS")


def test_scram_plus_wrong_binding_and_downgrade(plus_server):
    s, f, _ = tls12(plus_server.imaps_port)
    # the binding of another connection
    s2, f2, _ = tls12(plus_server.imaps_port)
    other = s2.get_channel_binding("tls-unique")
    assert other != s.get_channel_binding("tls-unique")
    sc = ScramPlusClient("sha256", "scram@example.com", "scram-secret",
                         "tls-unique", other)
    line = scram_exchange(f, sc, "SCRAM-SHA-256-PLUS")
    assert line.startswith(b"a NO "), line
    # a type the server does not have on this connection (TLS 1.2
    # without... any name it does not know)
    sc = ScramPlusClient("sha256", "scram@example.com", "scram-secret",
                         "tls-server-end-point", b"x" * 32)
    line = scram_exchange(f, sc, "SCRAM-SHA-256-PLUS")
    assert line.startswith(b"a NO "), line
    s.close()
    # 'y' on a connection where the server offered -PLUS: a downgrade
    sc = ScramPlusClient("sha256", "scram@example.com", "scram-secret",
                         None, b"", flag="y")
    line = scram_exchange(f2, sc, "SCRAM-SHA-256")
    assert line.startswith(b"a NO "), line
    # plain SCRAM without binding still works on TLS
    sc = ScramClient("sha256", "scram@example.com", "scram-secret")
    line = scram_exchange(f2, sc, "SCRAM-SHA-256")
    assert line.startswith(b"a OK "), line
    s2.close()


def test_postfix_style_client_sees_no_plus(plus_server):
    path = os.path.join(plus_server.base_dir, "auth-client")
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    f = c.makefile("rwb", buffering=0)
    f.write(b"VERSION\t1\t2\nCPID\t4242\n")
    lines = []
    while True:
        line = f.readline()
        lines.append(line)
        if line == b"DONE\n":
            break
    assert not any(b"PLUS" in l for l in lines), lines
    assert b"MECH\tSCRAM-SHA-256\tmutual-auth\n" in lines
    # and it cannot use one either
    f.write(b"AUTH\t1\tSCRAM-SHA-256-PLUS\tservice=smtp\tresp=%s\n"
            % base64.b64encode(b"p=tls-unique,,n=a,r=b"))
    assert f.readline().startswith(b"FAIL\t1\treason=Unsupported")
    c.close()


def openssl(*args):
    subprocess.run(["openssl", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca_and_client(d, prefix, cn):
    ca_key, ca_crt = os.path.join(d, prefix + "-ca.key"), os.path.join(d, prefix + "-ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=%s test CA" % prefix,
            "-keyout", ca_key, "-out", ca_crt)
    key, csr, crt = (os.path.join(d, prefix + "-client" + e) for e in (".key", ".csr", ".crt"))
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-days", "2", "-out", crt)
    return ca_crt, (crt, key)


def test_external_client_certificate(tmpdir_columba, hashes):  # noqa: F811
    d = str(tmpdir_columba)
    ca, good = make_ca_and_client(d, "good", "alice@example.com")
    _, foreign = make_ca_and_client(d, "other", "alice@example.com")
    srv = start(d, hashes, PLUS + "ssl_verify_client_cert = yes\n"
                "ssl_ca = <%s\n" % ca)
    try:
        s, f, greeting = tls12(srv.imaps_port, good)
        assert b"AUTH=EXTERNAL" in greeting, greeting
        send(f, "a AUTHENTICATE EXTERNAL =\r\n")
        line = f.readline()
        assert line.startswith(b"a OK [CAPABILITY "), line
        send(f, "b NOOP\r\n")
        assert f.readline().startswith(b"b OK")
        s.close()
        assert srv.wait_log("Login: user=<alice@example.com>, method=EXTERNAL")
        # without a certificate / with another CA's: not offered, refused
        for cert in (None, foreign):
            s, f, greeting = tls12(srv.imaps_port, cert)
            assert b"AUTH=EXTERNAL" not in greeting, greeting
            send(f, "a AUTHENTICATE EXTERNAL =\r\n")
            line = f.readline()
            assert line.startswith(b"a NO "), line
            # a password still works for such a client
            send(f, "b LOGIN alice@example.com alice-secret\r\n")
            assert f.readline().startswith(b"b OK [CAPABILITY ")
            s.close()
    finally:
        srv.stop()
    log = srv.log()
    assert "Panic:" not in log and "Fatal:" not in log, log


def test_login_max_connections_per_ip(tmpdir_columba, hashes):  # noqa: F811
    srv = start(str(tmpdir_columba), hashes, "login_max_connections_per_ip = 3\n")
    try:
        # start() probes with connections of its own: let them go
        time.sleep(0.3)
        conns = [raw(srv.imap_port) for _ in range(3)]
        s = socket.create_connection(("127.0.0.1", srv.imap_port), timeout=10)
        f = s.makefile("rb")
        assert f.readline() == b"* BYE Too many connections from your IP.\r\n"
        assert f.readline() == b""
        s.close()
        assert srv.wait_log("Connection refused: too many connections from "
                            "127.0.0.1 (login_max_connections_per_ip=3)")
        # imaps: closed before any handshake
        s = socket.create_connection(("127.0.0.1", srv.imaps_port), timeout=10)
        with pytest.raises((ssl.SSLError, OSError)):
            tls_context().wrap_socket(s)
        s.close()
        # one ends: there is room again; a logged-in plaintext client is
        # handed off and no longer counts here
        conns[0][1].close()  # the makefile holds the fd too
        conns[0][0].close()
        time.sleep(0.3)
        s2, f2 = raw(srv.imap_port)
        send(f2, "a LOGIN alice@example.com alice-secret\r\n")
        assert f2.readline().startswith(b"a OK [CAPABILITY ")
        time.sleep(0.3)
        s3, f3 = raw(srv.imap_port)
        for s, f in [(s3, f3), (s2, f2)] + conns[1:]:
            f.close()
            s.close()
    finally:
        srv.stop()


def test_userip_sessions_given_back(tmpdir_columba, hashes):  # noqa: F811
    srv = start(str(tmpdir_columba), hashes, "mail_max_userip_connections = 1\n")
    try:
        for i in range(3):
            s, f = raw(srv.imap_port)
            send(f, "a LOGIN alice@example.com alice-secret\r\n")
            assert f.readline().startswith(b"a OK [CAPABILITY "), i
            s2, f2 = raw(srv.imap_port)
            send(f2, "a LOGIN alice@example.com alice-secret\r\n")
            line = f2.readline()
            assert line.startswith(b"a NO [LIMIT]"), line
            s2.close()
            send(f, "b LOGOUT\r\n")
            assert f.readline().startswith(b"* BYE")
            assert f.readline().startswith(b"b OK")
            assert f.readline() == b""
            s.close()
            # the mail process logs the end after the socket closes
            assert srv.wait_log("Disconnected: Logged out", timeout=5)
            time.sleep(0.1)
    finally:
        srv.stop()
