"""A logged-in TLS session is relayed by the login process, which then
carries TLS 1.3 on its own small record layer instead of OpenSSL's state
(src/lib/tls.c, tls_conn_set_data_only()). OpenSSL's command-line client
is the peer: it can send KeyUpdate ("K" asks the server to update its
keys too, "k" does not), which Python's ssl module cannot."""
import os
import select
import subprocess
import time

import pytest

from conftest import ColumbaServer

PASSWORD = "secret"
USER = "keyupdate@example.com"


@pytest.fixture
def server(tmpdir_columba):
    home = os.path.join(tmpdir_columba, "home")
    os.makedirs(home)
    os.chmod(home, 0o1777)
    users = os.path.join(tmpdir_columba, "users")
    with open(users, "w") as f:
        f.write("%s:{PLAIN}%s::::%s/%s::\n" % (USER, PASSWORD, home, USER))
    os.chmod(users, 0o644)
    config = ("auth_mechanisms = plain\n"
              "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
              % (users, users))
    server = ColumbaServer(tmpdir_columba, extra_config=config).start()
    yield server
    rc = server.stop()
    log = server.log()
    for bad in ("Panic:", "Fatal:", "Sanitizer", "runtime error"):
        assert bad not in log, log
    assert rc == 0, log


class SClient:
    """openssl s_client in its interactive mode: a line written on its
    own is a command letter or a line for the server."""

    def __init__(self, port, args):
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-crlf"] + args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self.out = b""

    def send(self, line):
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()
        # s_client reads stdin a read() at a time and looks for a command
        # letter only at the start of one
        time.sleep(0.3)

    def wait_for(self, what, timeout=10):
        deadline = time.monotonic() + timeout
        while what not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, "no %r in %r" % (what, self.out)
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, "s_client ended: %r" % self.out
                self.out += chunk
        return self.out

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.mark.parametrize("suite", ["TLS_AES_256_GCM_SHA384",
                                   "TLS_CHACHA20_POLY1305_SHA256",
                                   "TLS_AES_128_GCM_SHA256"])
def test_relayed_session_key_update(server, suite):
    c = SClient(server.imaps_port, ["-tls1_3", "-ciphersuites", suite])
    try:
        c.wait_for(b"* OK ")
        c.send(b"a LOGIN %s %s" % (USER.encode(), PASSWORD.encode()))
        c.wait_for(b"a OK")
        c.send(b"b SELECT INBOX")
        c.wait_for(b"b OK")
        # the client updates its keys and asks the server to follow
        c.send(b"K")
        c.wait_for(b"KEYUPDATE")
        c.send(b"c NOOP")
        c.wait_for(b"c OK")
        # a large reply: several records under the server's new keys
        c.send(b"d LIST \"\" \"*\"")
        c.wait_for(b"d OK")
        c.send(b"k")
        c.send(b"e IDLE")
        c.wait_for(b"+ idling")
        c.send(b"DONE")
        c.wait_for(b"e OK")
        c.send(b"f LOGOUT")
        c.wait_for(b"f OK")
    finally:
        c.close()
    assert b"Cipher is %s" % suite.encode() in c.out, c.out
    # no TLS error or alert once the session was relayed
    relayed = c.out.split(b"a OK", 1)[1].lower()
    assert b"error" not in relayed and b"alert" not in relayed, c.out
