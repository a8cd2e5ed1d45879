"""End to end: Debian's Postfix authenticates SMTP clients against
Columba's auth process (smtpd_sasl_type = dovecot), the way an admin
moving from Dovecot sets it up. A private Postfix instance (its own
config_directory, queue_directory and data_directory in a temp dir, smtpd
on a free loopback port, every service unchrooted) is started with
`postfix -c DIR start` and stopped at the end.

Postfix's smtpd runs as the postfix user, so the auth-client socket is
given to that user (`unix_listener auth-client { user = postfix }`), as an
admin does with /var/spool/postfix/private/auth.
"""
import os
import pwd
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import free_port, stop_checked, wait_port
from test_auth_protocol import hashes, start_server  # noqa: F401

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def have_postfix():
    if not os.access(POSTFIX, os.X_OK) or os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not have_postfix(),
    reason="postfix is not installed (scripts/deps.sh) or not running as root")

MASTER_CF = """\
{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class PrivatePostfix:
    def __init__(self, directory, auth_socket):
        self.dir = directory
        self.conf = os.path.join(directory, "etc")
        self.queue = os.path.join(directory, "queue")
        self.data = os.path.join(directory, "data")
        self.log_path = os.path.join(directory, "postfix.log")
        self.port = free_port()
        os.makedirs(self.conf)
        os.makedirs(self.queue)
        os.makedirs(self.data)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        main_cf = [
            "compatibility_level = 3.6",
            "queue_directory = " + self.queue,
            "data_directory = " + self.data,
            "meta_directory = /etc/postfix",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "myhostname = columba-test.localdomain",
            "mydestination =",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "maillog_file_prefixes = " + directory,
            "maillog_file = " + self.log_path,
            "smtpd_sasl_type = dovecot",
            "smtpd_sasl_path = " + auth_socket,
            "smtpd_sasl_auth_enable = yes",
            "smtpd_tls_security_level = none",
            "smtpd_relay_restrictions = permit_sasl_authenticated, reject",
            "smtp_tls_security_level = none",
        ]
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("\n".join(main_cf) + "\n")
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port="127.0.0.1:%d" % self.port))

    def postfix(self, *args):
        # Postfix reports errors to syslog and, on a terminal, to stderr:
        # `script` gives it one so that a failure explains itself here
        cmd = " ".join([POSTFIX, "-c", self.conf] + list(args))
        return subprocess.run(["script", "-qec", cmd, "/dev/null"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60)

    def start(self):
        p = self.postfix("start")
        assert p.returncode == 0, p.stdout + self.log()
        assert wait_port(self.port, 20), "postfix did not start:\n" + \
            p.stdout + self.log()

    def log(self):
        if os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                return f.read()
        return ""

    def stop(self):
        self.postfix("stop")
        pid_file = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(pid_file):
            time.sleep(0.1)


@pytest.fixture
def postfix_with_columba(tmpdir_columba, hashes):  # noqa: F811
    server = start_server(tmpdir_columba, hashes,
                          "service auth {\n"
                          "  unix_listener auth-client {\n"
                          "    user = postfix\n"
                          "  }\n"
                          "}\n")
    postfix = PrivatePostfix(os.path.join(tmpdir_columba, "postfix"),
                             server.auth_path)
    try:
        postfix.start()
        yield server, postfix
    finally:
        postfix.stop()
        stop_checked(server)


def test_postfix_auth_plain(postfix_with_columba):
    server, postfix = postfix_with_columba
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("auth"), smtp.esmtp_features
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        smtp.user, smtp.password = "alice@example.com", "alice-secret"
        code, msg = smtp.auth("PLAIN", smtp.auth_plain)
        assert code == 235, (code, msg, postfix.log())
        # authenticated: Postfix relays for us now
        code, _ = smtp.mail("alice@example.com")
        assert code == 250
        code, _ = smtp.rcpt("someone@elsewhere.example")
        assert code == 250, postfix.log()
    assert server.wait_log("plain(alice@example.com,127.0.0.1): Login successful (nologin request)")

    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo("client.example")
        smtp.user, smtp.password = "alice@example.com", "wrong-password"
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            smtp.auth("PLAIN", smtp.auth_plain)
        assert err.value.smtp_code == 535
        # not authenticated: no relaying
        smtp.mail("alice@example.com")
        code, _ = smtp.rcpt("someone@elsewhere.example")
        assert code >= 500
    assert server.wait_log("plain(alice@example.com,127.0.0.1): Password mismatch")
    assert "wrong-password" not in server.log()
    assert "authentication failed" in postfix.log()
