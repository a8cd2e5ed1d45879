"""End to end: Debian's Postfix delivers to Columba over LMTP, as a
Dovecot installation is set up (virtual_transport = lmtp:...), with the
mail injected by Postfix's own sendmail; and swaks, the SMTP/LMTP test
tool admins use, against the LMTP port. What arrived is read back from
the user's storage.
"""
import os
import shutil
import subprocess
import time

import pytest

from test_auth_postfix import PrivatePostfix, have_postfix
from test_lmtp import start, stop, stored

SENDMAIL = shutil.which("sendmail") or "/usr/sbin/sendmail"
SWAKS = shutil.which("swaks")


def wait_stored(server, user, count, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = stored(server, user)
        if len(msgs) >= count:
            return msgs
        time.sleep(0.2)
    return stored(server, user)


@pytest.mark.skipif(not have_postfix(),
                    reason="postfix is not installed or not running as root")
def test_postfix_delivers_over_lmtp(tmpdir_columba):
    server = start(tmpdir_columba)
    postfix = PrivatePostfix(os.path.join(tmpdir_columba, "postfix"),
                             os.path.join(server.base_dir, "auth-client"))
    with open(os.path.join(postfix.conf, "main.cf"), "a") as f:
        f.write("virtual_mailbox_domains = example.com\n"
                "virtual_transport = lmtp:inet:127.0.0.1:%d\n"
                "lmtp_destination_recipient_limit = 50\n"
                "delay_warning_time = 0\n" % server.lmtp_port)
    try:
        postfix.start()
        body = ("From: sender@remote.test\r\nTo: alice@example.com\r\n"
                "Subject: via postfix\r\n\r\nfirst line\r\n.\r\n"
                "caf\u00e9 8bit\r\n")
        p = subprocess.run(
            [SENDMAIL, "-C", postfix.conf, "-i", "-f", "sender@remote.test",
             "alice@example.com", "bob+lists@example.com",
             "nobody@example.com"],
            input=body.encode(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=30)
        assert p.returncode == 0, p.stdout
        alice = wait_stored(server, "alice", 1)
        bob = wait_stored(server, "bob", 1)
        assert len(alice) == 1 and len(bob) == 1, postfix.log() + server.log()
        for msg, rcpt in ((alice[0], b"alice@example.com"),
                          (bob[0], b"bob+lists@example.com")):
            assert msg.startswith(b"Return-Path: <sender@remote.test>\r\n"
                                  b"Delivered-To: <" + rcpt + b">\r\n"), msg
            assert b"with LMTP id" in msg
            assert b"Subject: via postfix" in msg
            # the lone dot (sendmail -i) survived Postfix's stuffing and
            # our unstuffing
            assert b"\r\nfirst line\r\n.\r\ncaf\xc3\xa9 8bit\r\n" in msg
        # the unknown user was refused at RCPT: Postfix bounced it
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "nobody@example.com" in postfix.log() and \
               "status=bounced" in postfix.log():
                break
            time.sleep(0.2)
        log = postfix.log()
        assert "User doesn't exist" in log and "status=bounced" in log, log
        assert log.count("status=sent") == 2, log
    finally:
        postfix.stop()
        stop(server)


@pytest.mark.skipif(SWAKS is None, reason="swaks is not installed")
def test_swaks_lmtp(tmpdir_columba):
    server = start(tmpdir_columba)
    try:
        for extra in ([], ["--pipeline"]):
            p = subprocess.run(
                [SWAKS, "--protocol", "LMTP", "--server", "127.0.0.1",
                 "--port", str(server.lmtp_port), "--helo", "swaks.test",
                 "--from", "s@remote.test", "--to", "carol@example.com",
                 "--header", "Subject: swaks", "--body", "hello from swaks",
                 "--timeout", "20"] + extra,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=60)
            assert p.returncode == 0, p.stdout
            assert "<-  250 2.0.0 <carol@example.com>" in p.stdout, p.stdout
        # an unknown recipient: swaks reports the 550 and fails
        p = subprocess.run(
            [SWAKS, "--protocol", "LMTP", "--server", "127.0.0.1",
             "--port", str(server.lmtp_port), "--to", "nobody@example.com",
             "--timeout", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=60)
        assert p.returncode != 0
        assert "550 5.1.1 <nobody@example.com> User doesn't exist" in p.stdout
        msgs = stored(server, "carol", count=2)
        assert len(msgs) == 2
        assert all(b"hello from swaks" in m for m in msgs)
    finally:
        stop(server)
