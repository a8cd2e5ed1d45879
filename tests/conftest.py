"""pytest fixtures that run the real columba binary.

A test asks for `columba` (or builds its own ColumbaServer) and gets a master
started with a config written into a temp dir, on free loopback ports, waited
for until every listener answers, and stopped at the end of the test.
The helpers below it start a server with passwd-file users
(start_with_users) or for the auth process alone (start_auth_server), stop
one and check its log (stop_checked), and deliver over LMTP; raw-socket
protocol clients are in rawclient.py.
"""
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from authclient import wait_socket

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("COLUMBA_BUILD", os.path.join(TOP, "build"))


def columba_binary():
    for rel in ("src/columba/columba",):
        path = os.path.join(BUILD, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise RuntimeError("columba binary not found under %s (run make)" % BUILD)


def password_hash(scheme, password):
    """password hashed in scheme by `columba pw` ("{SCHEME}...")."""
    p = subprocess.run([columba_binary(), "pw", "-s", scheme, "-p", password],
                       stdout=subprocess.PIPE, check=True, text=True)
    return p.stdout.strip()


def demote_to(uid, gid):
    """A subprocess preexec_fn that runs the child as uid:gid."""
    def demote():
        os.setgid(gid)
        os.setuid(uid)
    return demote


def as_internal_user():
    """A subprocess preexec_fn that runs the child as the mail processes'
    internal user, as the files they create are owned."""
    pw = pwd.getpwnam("columba")
    return demote_to(pw.pw_uid, pw.pw_gid)


# Every port free_port() has handed out in this test process. The kernel
# may give the same free port to two bind(port 0) calls in a row once the
# first socket is closed, and a server configured with one port twice
# refuses to start ("... is also used by ...").
_ports_given = set()


def free_port():
    """A loopback port nothing listens on, never one this process has
    already handed out."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no loopback port left that was not handed out before")


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


def lmtp_deliver(server, rcpt, password, body, mail_options=()):
    """Delivers body to rcpt over LMTP (server.lmtp_port) and waits until
    rcpt's INBOX, read with password, holds one message more."""
    before = imap_message_count(server.imap_port, rcpt, password)
    c = smtplib.LMTP("127.0.0.1", server.lmtp_port)
    c.ehlo("client.test")
    c.sendmail("sender@remote.test", [rcpt], body,
               mail_options=list(mail_options))
    c.quit()
    # visible a moment after the 250 (the delivery journal)
    assert wait_message_count(server.imap_port, rcpt, password,
                              before + 1) >= before + 1


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
        # the auth process's sockets for clients (Postfix, login
        # processes) and for userdb lookups (LMTP, the mail tool)
        self.auth_path = os.path.join(self.base_dir, "auth-client")
        self.userdb_path = os.path.join(self.base_dir, "auth-userdb")
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


def start_auth_server(tmpdir, config, socket="auth_path"):
    """A started ColumbaServer with config, returned once its auth
    process answers on its socket named by socket ("auth_path" or
    "userdb_path")."""
    server = ColumbaServer(tmpdir, extra_config=config).start()
    assert wait_socket(getattr(server, socket)), server.log()
    return server


# What a server log must not hold after a test: a crash or a fatal error.
LOG_CRASH = ("Panic:", "Fatal:")
# ...nor (children of a -Db_sanitize build log theirs there) a sanitizer
# report.
LOG_CRASH_OR_SANITIZER = LOG_CRASH + ("Sanitizer", "runtime error")


def stop_checked(server, bad=LOG_CRASH, tail=None):
    """Stops server and asserts that it exited 0 with none of the strings
    in bad in its log; a failure shows the log (its last tail characters
    if tail is given). Returns the log."""
    rc = server.stop()
    log = server.log()
    shown = log if tail is None else log[-tail:]
    for text in bad:
        assert text not in log, shown
    assert rc == 0, shown
    return log


def sanitizer_build():
    """True for a -Db_sanitize build: the server is several times slower,
    and freed memory sits in ASan's quarantine, so RSS says nothing about
    leaks there (LeakSanitizer's reports at exit, which land in the log,
    do)."""
    try:
        with open(os.path.join(BUILD, "meson-info",
                               "intro-buildoptions.json")) as f:
            opts = json.load(f)
    except OSError:
        return False
    return any(o["name"] == "b_sanitize" and o["value"] not in ("none", "")
               for o in opts)


def passwd_entry(user, password, home="", fields=""):
    """One passwd-file line (user:password:uid:gid:gecos:home:shell:extra
    fields); a password without a {SCHEME} prefix is {PLAIN}."""
    if not password.startswith("{"):
        password = "{PLAIN}" + password
    return "%s:%s::::%s::%s" % (user, password, home, fields)


def write_passwd_file(path, lines, mode=0o644):
    """Writes the lines to path under a temporary name and renames it, so
    that a running auth process rereading the file never sees half of it.
    The default mode lets the auth process's unprivileged user read it."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return path


def passwd_config(users_path):
    """passdb and userdb blocks that read the passwd-file users_path."""
    return ("passdb {\n  driver = passwd-file\n  args = %s\n}\n"
            "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
            % (users_path, users_path))


def make_home_root(directory, name="home"):
    """directory/name, where the mail process (the internal user) creates
    the users' homes."""
    home = os.path.join(directory, name)
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    return home


def wait_auth_ready(server, timeout=10.0):
    """Waits until imap-login's greeting lists AUTH=PLAIN: it does once the
    auth process has answered, and a login before that fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", server.imap_port)) as s:
            if b"AUTH=PLAIN" in s.recv(4096):
                return True
        time.sleep(0.05)
    return False


def start_with_users(tmpdir, users, config="", ssl=True, mail_home=None,
                     home_of=None, wait_auth=True):
    """A started ColumbaServer whose passdb and userdb are a passwd-file
    of users ({name: password}), each with the home HOME/LOCAL-PART (HOME
    a world-writable dir in tmpdir, LOCAL-PART the name up to an "@";
    home_of(name) may say otherwise), and no authentication failure delay;
    mail_home (e.g. "%Lu") sets mail_home = HOME/mail_home; config is
    appended. With wait_auth, returns once logins work. The server has
    .home (HOME) and .users_file set."""
    home = make_home_root(tmpdir)
    if home_of is None:
        def home_of(name):
            return os.path.join(home, name.split("@")[0])
    users_file = write_passwd_file(
        os.path.join(tmpdir, "users"),
        [passwd_entry(name, password, home_of(name))
         for name, password in users.items()])
    if mail_home is not None:
        config = "mail_home = %s/%s\n" % (home, mail_home) + config
    server = ColumbaServer(
        tmpdir, extra_config="auth_failure_delay = 0\n" +
        passwd_config(users_file) + config, ssl=ssl).start()
    server.home = home
    server.users_file = users_file
    if wait_auth:
        assert wait_auth_ready(server), server.log()
    return server


def server_fixture(start, stop=stop_checked):
    """A test module's function-scoped server fixture (`server =
    server_fixture(...)`): start(tmpdir_columba) yielded, then
    stop(server)."""
    @pytest.fixture
    def server(tmpdir_columba):
        srv = start(tmpdir_columba)
        yield srv
        stop(srv)
    return server


def serve_in_tempdir(prefix, start, bad=LOG_CRASH):
    """The body of a module-scoped server fixture (`yield from` it):
    start(tmpdir) in a new temp dir (not pytest's tmp_path: its parents
    are closed to the mail process's internal user), the server yielded,
    then stop_checked(server, bad) and the dir removed unless
    COLUMBA_KEEP_TMP is set."""
    tmpdir = tempfile.mkdtemp(prefix=prefix)
    try:
        server = start(tmpdir)
        yield server
        stop_checked(server, bad)
    finally:
        if not os.environ.get("COLUMBA_KEEP_TMP"):
            shutil.rmtree(tmpdir, ignore_errors=True)


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
