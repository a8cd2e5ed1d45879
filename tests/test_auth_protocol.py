"""The auth process over its auth-client socket, as Postfix and login
processes see it: Dovecot's auth client protocol 1.2, driven by the Python
client in authclient.py against the real server (conftest's ColumbaServer).
"""
import base64
import hashlib
import hmac
import os
import re
import subprocess
import time

import pytest

from authclient import AuthClient, ScramClient, b64, fields_dict
from conftest import (columba_binary, passwd_config, password_hash,
                      start_auth_server, stop_checked, write_passwd_file)

DELAY = 1  # auth_failure_delay in these tests, seconds


@pytest.fixture(scope="module")
def hashes():
    return {
        "alice": password_hash("SHA512-CRYPT", "alice-secret"),
        "bob": password_hash("ARGON2ID", "bob-secret"),
        "cram": password_hash("CRAM-MD5", "cram-secret"),
        "scram": password_hash("SCRAM-SHA-256", "scram-secret"),
    }


def write_users(path, hashes):
    lines = [
        "alice@example.com:%s:1000:1000::/home/alice::userdb_quota_rule=*:storage=1G"
        % hashes["alice"],
        "bob@example.com:%s:1001:1001::/home/bob::" % hashes["bob"],
        "cram@example.com:%s:1002:1002::/home/cram::" % hashes["cram"],
        "scram@example.com:%s:1003:1003::/home/scram::" % hashes["scram"],
        "plain@example.com:{PLAIN}plain-secret:1004:1004::/home/plain::",
        "carol@example.com:{PLAIN}carol-secret:1005:1005::/home/carol::"
        "nologin reason=Moved_to_imap.example.net",
        "dave@example.com:{PLAIN}dave-secret:1006:1006::/home/dave::"
        "allow_nets=192.0.2.0/24",
        "erin@example.com:{PLAIN}erin-secret:1007:1007::/home/erin::nodelay",
    ]
    write_passwd_file(path, lines, mode=0o600)


def start_server(tmpdir, hashes, extra=""):
    users = os.path.join(tmpdir, "users")
    write_users(users, hashes)
    config = (
        "auth_mechanisms = plain login cram-md5 scram-sha-256 scram-sha-1\n"
        "auth_failure_delay = %d secs\n" % DELAY) + passwd_config(users) + extra
    return start_auth_server(tmpdir, config)


@pytest.fixture
def auth_server(tmpdir_columba, hashes):
    server = start_server(tmpdir_columba, hashes)
    yield server
    stop_checked(server)


def test_handshake_lines(auth_server):
    c = AuthClient(auth_server.auth_path)
    hs = c.handshake
    assert hs[0] == "VERSION\t1\t3"
    assert hs[1:6] == ["MECH\tPLAIN\tplaintext", "MECH\tLOGIN\tplaintext",
                       "MECH\tCRAM-MD5\tdictionary\tactive",
                       "MECH\tSCRAM-SHA-256\tmutual-auth",
                       "MECH\tSCRAM-SHA-1\tmutual-auth"]
    assert hs[6] == "SPID\t%d" % auth_server.child_pids("auth")[0]
    assert re.fullmatch(r"CUID\t[1-9][0-9]*", hs[7])
    assert re.fullmatch(r"COOKIE\t[0-9a-f]{32}", hs[8])
    assert hs[9] == "DONE" and len(hs) == 10
    # a second client gets another CUID
    c2 = AuthClient(auth_server.auth_path)
    assert c2.handshake[7] != hs[7]
    # the login processes' socket speaks the same protocol
    c3 = AuthClient(os.path.join(auth_server.base_dir, "login/auth"))
    assert c3.handshake[0] == "VERSION\t1\t3"
    st = os.stat(auth_server.auth_path)
    assert st.st_mode & 0o777 == 0o600


def test_plain_success_and_failure(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, rid, fields = c.plain(1, "alice@example.com", "alice-secret")
    assert (cmd, rid) == ("OK", "1"), fields
    assert fields[0] == "user=alice@example.com"
    # auth_username_format %Lu lowercases
    cmd, rid, fields = c.plain(2, "Bob@Example.COM", "bob-secret")
    assert (cmd, rid, fields[0]) == ("OK", "2", "user=bob@example.com"), auth_server.log()
    start = time.monotonic()
    cmd, rid, fields = c.plain(3, "alice@example.com", "wrong-password")
    elapsed = time.monotonic() - start
    assert (cmd, rid) == ("FAIL", "3")
    assert "user=alice@example.com" in fields
    assert elapsed >= DELAY - 0.05, elapsed
    assert auth_server.wait_log("plain(alice@example.com,127.0.0.1): Password mismatch")
    log = auth_server.log()
    assert "wrong-password" not in log and "alice-secret" not in log


def test_failure_delay_does_not_block_others(auth_server):
    c = AuthClient(auth_server.auth_path)
    start = time.monotonic()
    c.auth(1, "PLAIN", resp="\0alice@example.com\0bad")
    c.auth(2, "PLAIN", resp="\0plain@example.com\0plain-secret")
    cmd, rid, _ = c.reply()
    # the success comes first, while the failure waits
    assert (cmd, rid) == ("OK", "2")
    assert time.monotonic() - start < DELAY
    cmd, rid, _ = c.reply()
    assert (cmd, rid) == ("FAIL", "1")
    assert time.monotonic() - start >= DELAY - 0.05


def test_login_mechanism(auth_server):
    c = AuthClient(auth_server.auth_path)
    c.auth(7, "LOGIN")
    cmd, rid, fields = c.reply()
    assert (cmd, rid) == ("CONT", "7")
    assert base64.b64decode(fields[0]) == b"Username:"
    c.cont(7, "bob@example.com")
    cmd, rid, fields = c.reply()
    assert base64.b64decode(fields[0]) == b"Password:"
    c.cont(7, "bob-secret")
    cmd, rid, fields = c.reply()
    assert (cmd, rid, fields[0]) == ("OK", "7", "user=bob@example.com")
    c.auth(8, "LOGIN")
    c.reply()
    c.cont(8, "bob@example.com")
    c.reply()
    c.cont(8, "nope")
    assert c.reply()[0] == "FAIL"


def cram(c, rid, user, password):
    c.auth(rid, "CRAM-MD5")
    cmd, rid_r, fields = c.reply()
    assert (cmd, rid_r) == ("CONT", str(rid))
    challenge = base64.b64decode(fields[0])
    assert re.fullmatch(rb"<[^@>]+@[^>]+>", challenge), challenge
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    c.cont(rid, "%s %s" % (user, digest))
    return c.reply()


def test_cram_md5(auth_server):
    c = AuthClient(auth_server.auth_path)
    # a {CRAM-MD5} hash and a plaintext both serve CRAM-MD5
    assert cram(c, 1, "cram@example.com", "cram-secret")[0] == "OK"
    assert cram(c, 2, "plain@example.com", "plain-secret")[0] == "OK"
    assert cram(c, 3, "cram@example.com", "wrong")[0] == "FAIL"
    # a crypt hash cannot
    assert cram(c, 4, "alice@example.com", "alice-secret")[0] == "FAIL"
    assert cram(c, 5, "nobody@example.com", "x")[0] == "FAIL"


def scram(c, rid, mech, hashname, user, password):
    sc = ScramClient(hashname, user, password)
    c.auth(rid, mech, resp=sc.first())
    cmd, rid_r, fields = c.reply()
    assert (cmd, rid_r) == ("CONT", str(rid)), fields
    c.cont(rid, sc.final(base64.b64decode(fields[0]).decode()))
    cmd, rid_r, fields = c.reply()
    if cmd == "OK":
        resp = fields_dict(fields)["resp"]
        assert sc.verify_server_final(base64.b64decode(resp).decode())
    return cmd, fields


def test_scram(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, fields = scram(c, 1, "SCRAM-SHA-256", "sha256", "scram@example.com",
                        "scram-secret")
    assert cmd == "OK" and fields[0] == "user=scram@example.com"
    cmd, _ = scram(c, 2, "SCRAM-SHA-256", "sha256", "plain@example.com",
                   "plain-secret")
    assert cmd == "OK"
    cmd, _ = scram(c, 3, "SCRAM-SHA-1", "sha1", "plain@example.com",
                   "plain-secret")
    assert cmd == "OK"
    cmd, _ = scram(c, 4, "SCRAM-SHA-256", "sha256", "scram@example.com",
                   "wrong")
    assert cmd == "FAIL"
    # an unknown user goes through the whole exchange and fails at the end
    cmd, _ = scram(c, 5, "SCRAM-SHA-256", "sha256", "nobody@example.com",
                   "x")
    assert cmd == "FAIL"


def test_unknown_user_and_mechanism(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, rid, fields = c.plain(1, "nobody@example.com", "x")
    assert (cmd, rid) == ("FAIL", "1")
    assert "user=nobody@example.com" in fields
    assert auth_server.wait_log("plain(nobody@example.com,127.0.0.1): unknown user")
    c.auth(2, "DIGEST-MD5")
    cmd, rid, fields = c.reply()
    assert (cmd, rid) == ("FAIL", "2")
    assert fields_dict(fields)["reason"].startswith("Unsupported")


def test_nologin_with_reason(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, rid, fields = c.plain(1, "carol@example.com", "carol-secret")
    assert (cmd, rid) == ("FAIL", "1")
    assert fields_dict(fields)["reason"] == "Moved_to_imap.example.net"
    assert fields_dict(fields)["code"] == "user_disabled"
    assert auth_server.wait_log("Login disabled (nologin): Moved_to_imap.example.net")


def test_allow_nets(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, _, _ = c.plain(1, "dave@example.com", "dave-secret")
    assert cmd == "FAIL"
    assert auth_server.wait_log("allow_nets check failed")
    cmd, _, fields = c.plain(2, "dave@example.com", "dave-secret", "secured",
                             rip="192.0.2.7", lip="192.0.2.1")
    assert cmd == "OK", fields


def test_plaintext_policy(auth_server):
    c = AuthClient(auth_server.auth_path)
    cmd, _, fields = c.plain(1, "plain@example.com", "plain-secret",
                             rip="198.51.100.9", lip="192.0.2.1")
    assert cmd == "FAIL"
    assert "Plaintext authentication disallowed" in fields_dict(fields)["reason"]
    assert auth_server.wait_log("the client is neither secured nor local")
    cmd, _, _ = c.plain(2, "plain@example.com", "plain-secret", "secured",
                        rip="198.51.100.9", lip="192.0.2.1")
    assert cmd == "OK"
    # without an address the client is not known to be local
    cmd, _, _ = c.plain(4, "plain@example.com", "plain-secret",
                        rip=None, lip=None)
    assert cmd == "FAIL"
    # rip == lip is a local client
    cmd, _, _ = c.plain(3, "plain@example.com", "plain-secret",
                        rip="192.0.2.1", lip="192.0.2.1")
    assert cmd == "OK"


def test_nodelay(auth_server):
    c = AuthClient(auth_server.auth_path)
    start = time.monotonic()
    cmd, _, _ = c.plain(1, "erin@example.com", "wrong")
    assert cmd == "FAIL"
    assert time.monotonic() - start < DELAY / 2


def test_plaintext_allowed_by_setting_and_realm(tmpdir_columba, hashes):
    server = start_server(tmpdir_columba, hashes,
                          "disable_plaintext_auth = no\n"
                          "auth_default_realm = example.com\n")
    try:
        c = AuthClient(server.auth_path)
        cmd, _, _ = c.plain(1, "plain@example.com", "plain-secret",
                            rip="198.51.100.9", lip="192.0.2.1")
        assert cmd == "OK"
        # the realm completes a bare name, before auth_username_format
        cmd, _, fields = c.plain(2, "PLAIN", "plain-secret")
        assert (cmd, fields[0]) == ("OK", "user=plain@example.com")
    finally:
        assert server.stop() == 0


def test_cancel(auth_server):
    c = AuthClient(auth_server.auth_path)
    c.auth(5, "LOGIN")
    assert c.reply()[0] == "CONT"
    c.send("CANCEL\t5\n")
    # a CONT for the cancelled request is ignored, the id is free again
    c.cont(5, "bob@example.com")
    cmd, rid, _ = c.plain(5, "plain@example.com", "plain-secret")
    assert (cmd, rid) == ("OK", "5")
    # cancelling a request whose password is being hashed
    c.auth(6, "PLAIN", resp="\0bob@example.com\0bob-secret")
    c.send("CANCEL\t6\n")
    cmd, rid, _ = c.plain(7, "plain@example.com", "plain-secret")
    assert (cmd, rid) == ("OK", "7")


def test_pipelined_requests(auth_server):
    c = AuthClient(auth_server.auth_path)
    n = 300
    lines = []
    for i in range(1, n + 1):
        if i % 50 == 0:
            user, password = "alice@example.com", "alice-secret"
        else:
            user, password = "plain@example.com", "plain-secret"
        lines.append("AUTH\t%d\tPLAIN\tservice=imap\trip=127.0.0.1\t"
                     "lip=127.0.0.1\tresp=%s\n" % (i, b64("\0%s\0%s" % (user, password))))
    c.send("".join(lines))
    seen = set()
    for _ in range(n):
        cmd, rid, _ = c.reply()
        assert cmd == "OK", (cmd, rid)
        seen.add(int(rid))
    assert seen == set(range(1, n + 1))


@pytest.mark.parametrize("line", [
    "AUTH\tx\tPLAIN\tservice=smtp\n",
    "AUTH\t1\n",
    "AUTH\t1\tPLAIN\n",
    "AUTH\t1\tPLAIN\tservice=smtp\trip=not-an-ip\n",
    "AUTH\t1\tPLAIN\tservice=smtp\tlport=70000\n",
    "CONT\t1\n",
    "CANCEL\n",
    "BOGUS\t1\n",
    "AUTH\t1\tPLAIN\tservice=s\x01xmtp\n",
    "\n",
    "AUTH\t1\tPLAIN\tservice=smtp\tresp=" + "A" * 20000 + "\n",
])
def test_malformed_lines_disconnect(auth_server, line):
    c = AuthClient(auth_server.auth_path)
    c.send(line)
    assert c.is_closed()
    assert auth_server.wait_log("Disconnecting:")
    # the process is fine and serves the next client
    c2 = AuthClient(auth_server.auth_path)
    assert c2.plain(1, "plain@example.com", "plain-secret")[0] == "OK"


def test_handshake_order_enforced(auth_server):
    c = AuthClient(auth_server.auth_path, handshake=False)
    while c.readline() != "DONE":
        pass
    c.send("AUTH\t1\tPLAIN\tservice=smtp\n")
    assert c.is_closed()
    c = AuthClient(auth_server.auth_path, handshake=False)
    while c.readline() != "DONE":
        pass
    c.send("VERSION\t2\t0\n")
    assert c.is_closed()
    c = AuthClient(auth_server.auth_path, handshake=False)
    while c.readline() != "DONE":
        pass
    c.send("VERSION\t1\t2\nAUTH\t1\tPLAIN\tservice=smtp\n")
    assert c.is_closed()
    # duplicate id
    c = AuthClient(auth_server.auth_path)
    c.auth(1, "LOGIN")
    assert c.reply()[0] == "CONT"
    c.auth(1, "LOGIN")
    assert c.is_closed()
    # CONT while the password is being checked
    c = AuthClient(auth_server.auth_path)
    c.auth(1, "PLAIN", resp="\0bob@example.com\0bob-secret")
    c.cont(1, "x")
    assert c.is_closed()


def test_bad_base64_fails_request(auth_server):
    c = AuthClient(auth_server.auth_path)
    c.send("AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp=###\n")
    cmd, rid, fields = c.reply()
    assert (cmd, rid) == ("FAIL", "1")
    assert "base64" in fields_dict(fields)["reason"]
    c.auth(2, "LOGIN")
    assert c.reply()[0] == "CONT"
    c.send("CONT\t2\tnot base64!\n")
    cmd, rid, fields = c.reply()
    assert (cmd, rid) == ("FAIL", "2")
    assert "base64" in fields_dict(fields)["reason"]


def test_userdb_lookup(auth_server):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(auth_server.userdb_path)
    f = s.makefile("rwb")
    assert f.readline() == b"VERSION\t1\t2\n"
    assert f.readline().startswith(b"SPID\t")
    f.write(b"VERSION\t1\t0\nUSER\t1\tAlice@example.com\tservice=lmtp\n"
            b"USER\t2\tnobody@example.com\tservice=lmtp\n")
    f.flush()
    line = f.readline().decode().rstrip("\n").split("\t")
    assert line[:3] == ["USER", "1", "alice@example.com"]
    fields = fields_dict(line[3:])
    assert fields["uid"] == "1000" and fields["home"] == "/home/alice"
    assert f.readline() == b"NOTFOUND\t2\n"
    f.write(b"HELLO\n")
    f.flush()
    assert f.readline() == b""
    st = os.stat(auth_server.userdb_path)
    assert st.st_mode & 0o777 == 0o600


def test_config_unnamed_sections_round_trip(tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text(
        "passdb {\n  driver = passwd-file\n  args = /etc/one\n}\n"
        "passdb {\n  driver = static\n  args = password=x\n}\n"
        "passdb named {\n  args = /etc/two\n}\n"
        "userdb {\n  driver = static\n  args = uid=1 gid=1 home=/h/%u\n}\n")
    p = subprocess.run([columba_binary(), "config", "-n", "-c", str(conf)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    one, static, two = (out.index("args = /etc/one"), out.index("password=x"),
                        out.index("args = /etc/two"))
    assert one < static < two
    assert "passdb {\n" in out and "passdb named {\n" in out
    again = tmp_path / "b.conf"
    again.write_text(out)
    p2 = subprocess.run([columba_binary(), "config", "-n", "-c", str(again)],
                        stdout=subprocess.PIPE, text=True)
    assert p2.stdout.split("\n", 1)[1] == out.split("\n", 1)[1]


def test_external_and_anonymous(tmpdir_columba, hashes):
    server = start_server(tmpdir_columba, hashes,
                          "auth_mechanisms = plain external anonymous\n"
                          "auth_anonymous_username = guest\n")
    try:
        c = AuthClient(server.auth_path)
        assert c.handshake[1:4] == ["MECH\tPLAIN\tplaintext", "MECH\tEXTERNAL",
                                    "MECH\tANONYMOUS\tanonymous"]
        # the client certificate's identity, when it verified
        c.auth(1, "EXTERNAL", "secured", "valid-client-cert",
               "cert_username=alice@example.com", resp="")
        cmd, rid, fields = c.reply()
        assert (cmd, rid, fields[0]) == ("OK", "1", "user=alice@example.com")
        c.auth(2, "EXTERNAL", "secured", "cert_username=alice@example.com",
               resp="")
        assert c.reply()[0] == "FAIL"
        # a certificate for a user no passdb knows
        c.auth(3, "EXTERNAL", "secured", "valid-client-cert",
               "cert_username=nobody@example.com", resp="")
        assert c.reply()[0] == "FAIL"
        c.auth(4, "ANONYMOUS", resp="trace-info")
        cmd, rid, fields = c.reply()
        assert (cmd, rid, fields[0]) == ("OK", "4", "user=guest")
        # mechanisms not enabled stay refused
        c.auth(5, "LOGIN")
        assert c.reply()[0] == "FAIL"
    finally:
        assert server.stop() == 0
        log = server.log()
        assert "Panic:" not in log, log
