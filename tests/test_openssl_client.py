"""TLS against OpenSSL's own command-line client: implicit TLS and
STARTTLS, protocol versions, SNI and session resumption."""
import os
import subprocess

import pytest

from conftest import ColumbaServer, make_cert


def s_client(args, stdin=b"", timeout=20):
    p = subprocess.run(["openssl", "s_client", "-connect"] + args,
                       input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def test_s_client_starttls(columba):
    rc, out = s_client(["127.0.0.1:%d" % columba.imap_port, "-starttls",
                        "imap", "-quiet", "-verify_quiet"],
                       stdin=b"a NOOP\r\nb LOGOUT\r\n")
    assert "a OK NOOP completed." in out, out
    assert "b OK Logout completed." in out, out


def test_s_client_implicit_tls_versions(columba):
    port = "127.0.0.1:%d" % columba.imaps_port
    rc, out = s_client([port, "-tls1_3", "-brief"], stdin=b"a LOGOUT\r\n")
    assert "Protocol version: TLSv1.3" in out, out
    rc, out = s_client([port, "-tls1_2", "-brief"], stdin=b"a LOGOUT\r\n")
    assert "Protocol version: TLSv1.2" in out, out
    rc, out = s_client([port, "-tls1_1", "-brief", "-cipher",
                        "ALL:@SECLEVEL=0"], stdin=b"a LOGOUT\r\n")
    assert "Protocol version: TLSv1.1" not in out
    assert rc != 0


def test_s_client_session_resumption(columba, tmp_path):
    sess = str(tmp_path / "sess.pem")
    port = "127.0.0.1:%d" % columba.imaps_port
    rc, out = s_client([port, "-tls1_2", "-sess_out", sess],
                       stdin=b"a LOGOUT\r\n")
    assert os.path.exists(sess), out
    rc, out = s_client([port, "-tls1_2", "-sess_in", sess],
                       stdin=b"a LOGOUT\r\n")
    assert "Reused, TLSv1.2" in out, out


def test_sni_picks_certificate(tmpdir_columba):
    d = tmpdir_columba
    other_cert, other_key = make_cert(d, "mail.example.com")
    extra = ("local_name mail.example.com {\n"
             "  ssl_cert = <%s\n  ssl_key = <%s\n}\n" % (other_cert, other_key))
    server = ColumbaServer(d, extra_config=extra).start()
    try:
        port = "127.0.0.1:%d" % server.imaps_port
        rc, out = s_client([port, "-servername", "mail.example.com"],
                           stdin=b"a LOGOUT\r\n")
        assert "subject=CN = mail.example.com" in out, out
        rc, out = s_client([port, "-servername", "other.example.org"],
                           stdin=b"a LOGOUT\r\n")
        assert "subject=CN = localhost" in out, out
    finally:
        assert server.stop() == 0
