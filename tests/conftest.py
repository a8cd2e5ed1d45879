"""pytest fixtures that run the real columba binary.

A test asks for `columba` (or builds its own ColumbaServer) and gets a master
started with a config written into a temp dir, on free loopback ports, waited
for until every listener answers, and stopped at the end of the test.
"""
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("COLUMBA_BUILD", os.path.join(TOP, "build"))


def columba_binary():
    for rel in ("src/columba/columba",):
        path = os.path.join(BUILD, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise RuntimeError("columba binary not found under %s (run make)" % BUILD)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, name="localhost", alt_names=None):
    """A throwaway self-signed certificate; returns (cert_path, key_path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    san = ",".join("DNS:" + n for n in (alt_names or [name]))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=" + name, "-addext", "subjectAltName=" + san,
         "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o600)
    return cert, key


def imap_message_count(port, user, password, mailbox="INBOX"):
    """MESSAGES of a mailbox over IMAP STATUS (0 if it does not exist)."""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        m.login(user, password)
        typ, data = m.status(mailbox, "(MESSAGES)")
        if typ != "OK":
            return 0
        mo = re.search(rb"MESSAGES (\d+)", data[0])
        return int(mo.group(1)) if mo else 0
    finally:
        m.logout()


def wait_message_count(port, user, password, count, mailbox="INBOX",
                       timeout=10.0):
    """Waits until a mailbox holds at least count messages. An LMTP `250`
    means the message is on disk in the mail process's delivery journal;
    it reaches the mailbox a moment later (docs/architecture.md, "The LMTP
    delivery journal"), so a test that reads right after delivering waits
    here first."""
    deadline = time.monotonic() + timeout
    while True:
        n = imap_message_count(port, user, password, mailbox)
        if n >= count or time.monotonic() > deadline:
            return n
        time.sleep(0.02)


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class ColumbaServer:
    """One master process with its own base_dir, config and log file."""

    def __init__(self, tmpdir, extra_config="", ssl=True):
        self.dir = tmpdir
        self.base_dir = os.path.join(tmpdir, "run")
        os.makedirs(self.base_dir, exist_ok=True)
        # the chroot and the users need to traverse the temp dir
        os.chmod(tmpdir, 0o755)
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.log_path = os.path.join(tmpdir, "columba.log")
        self.config_path = os.path.join(tmpdir, "columba.conf")
        self.cert, self.key = make_cert(tmpdir)
        self.proc = None
        lines = [
            "base_dir = %s" % self.base_dir,
            "state_dir = %s" % os.path.join(tmpdir, "state"),
            "log_path = %s" % self.log_path,
            "listen = 127.0.0.1",
            "shutdown_timeout = 5 secs",
        ]
        if ssl:
            lines += ["ssl = yes", "ssl_cert = <%s" % self.cert,
                      "ssl_key = <%s" % self.key]
        else:
            lines += ["ssl = no"]
        lines += [
            "service imap-login {",
            "  inet_listener imap {",
            "    port = %d" % self.imap_port,
            "  }",
            "  inet_listener imaps {",
            "    port = %d" % self.imaps_port,
            "  }",
            "}",
        ]
        self.write_config("\n".join(lines) + "\n" + extra_config)

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def start(self, wait=True):
        self.proc = subprocess.Popen(
            [columba_binary(), "-F", "-c", self.config_path],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if wait:
            assert wait_port(self.imap_port), "server did not start:\n" + self.log()
        return self

    def log(self):
        out = ""
        if os.path.exists(self.log_path):
            with open(self.log_path, errors="replace") as f:
                out += f.read()
        return out

    def wait_log(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False

    def children(self):
        """{pid: service name} of the master's children, from /proc."""
        result = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid != self.proc.pid:
                    continue
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except (OSError, ValueError):
                continue
            if len(argv) >= 3 and argv[1] == b"service":
                result[int(entry)] = argv[2].decode()
        return result

    def child_pids(self, service):
        return [p for p, s in self.children().items() if s == service]

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def tmpdir_columba():
    d = tempfile.mkdtemp(prefix="columba-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def columba(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba).start()
    yield server
    rc = server.stop()
    log = server.log()
    assert "Panic:" not in log, log
    assert rc == 0, "master exited with %r\n%s" % (rc, log)
