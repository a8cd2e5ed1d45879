"""The master and its service processes: privileges, supervision, reload,
shutdown, and configuration errors at start-up."""
import imaplib
import os
import pwd
import signal
import socket
import subprocess
import time

import pytest

from conftest import ColumbaServer, columba_binary, free_port, wait_port

ROOT = os.geteuid() == 0


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return fields


def wait_children(server, services, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = server.children()
        if all(s in kids.values() for s in services):
            return kids
        time.sleep(0.05)
    raise AssertionError("children: %r\n%s" % (server.children(), server.log()))


def greeting(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.makefile("rb").readline()


def test_services_started(columba):
    kids = wait_children(columba, ["imap-login", "auth", "mail"])
    assert sorted(kids.values()) == ["auth", "imap-login", "mail"]


@pytest.mark.skipif(not ROOT, reason="privilege separation needs root")
def test_login_process_is_unprivileged_and_chrooted(columba):
    wait_children(columba, ["imap-login"])
    greeting(columba.imap_port)  # it has finished initialising
    login_uid = pwd.getpwnam("columbanull").pw_uid
    mail_uid = pwd.getpwnam("columba").pw_uid
    kids = wait_children(columba, ["imap-login", "auth", "mail"])
    # a child runs as root until it has initialised (slow under ASan):
    # wait for each to drop its privileges
    deadline = time.monotonic() + 15
    while any(int(proc_status(p)["Uid"][0]) == 0 for p in kids):
        assert time.monotonic() < deadline, "a child kept root privileges"
        time.sleep(0.05)
    for pid, service in kids.items():
        st = proc_status(pid)
        uids = [int(x) for x in st["Uid"]]
        if service == "imap-login":
            assert uids == [login_uid] * 4
            assert os.readlink("/proc/%d/root" % pid) == \
                os.path.join(columba.base_dir, "login")
            # the chroot holds no files, only sockets if any
            for entry in os.listdir(os.path.join(columba.base_dir, "login")):
                mode = os.lstat(os.path.join(columba.base_dir, "login",
                                             entry)).st_mode
                assert (mode & 0o170000) == 0o140000, entry
        else:
            assert uids == [mail_uid] * 4
            assert os.readlink("/proc/%d/root" % pid) == "/"
    # no capabilities left in any child
    for pid in columba.children():
        assert int(proc_status(pid)["CapEff"][0], 16) == 0


def test_killed_child_is_restarted(columba):
    kids = wait_children(columba, ["imap-login"])
    old = [p for p, s in kids.items() if s == "imap-login"][0]
    os.kill(old, signal.SIGKILL)
    assert columba.wait_log("service(imap-login): child %d killed with "
                            "signal 9" % old)
    kids = wait_children(columba, ["imap-login"])
    new = [p for p, s in kids.items() if s == "imap-login"]
    assert new and old not in new
    assert wait_port(columba.imap_port)
    assert greeting(columba.imap_port).startswith(b"* OK ")


def test_crash_loop_backs_off(columba):
    # kill the auth process repeatedly: restarts must slow down
    for _ in range(4):
        kids = wait_children(columba, ["auth"])
        pid = [p for p, s in kids.items() if s == "auth"][0]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid in columba.children() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert columba.wait_log("processes keep dying soon after start")


def test_reload_keeps_sessions_and_applies_new_config(columba):
    imap = imaplib.IMAP4("127.0.0.1", columba.imap_port)
    old_children = list(wait_children(columba, ["imap-login", "auth", "mail"]))
    new_port = free_port()
    with open(columba.config_path) as f:
        text = f.read()
    text = text.replace("port = %d" % columba.imap_port, "port = %d" % new_port)
    text += 'login_greeting = "Reloaded ready."\n'
    columba.write_config(text)
    columba.proc.send_signal(signal.SIGHUP)
    assert columba.wait_log("Configuration reloaded (generation 2)")
    assert wait_port(new_port)
    assert b"Reloaded ready." in greeting(new_port)
    # the session opened before the reload continues on the old process
    assert imap.noop()[0] == "OK"
    assert imap.logout()[0] == "BYE"
    # the old generation retires once its sessions are gone
    deadline = time.monotonic() + 10
    while any(p in columba.children() for p in old_children):
        assert time.monotonic() < deadline, columba.log()
        time.sleep(0.05)
    # the old port is closed once no process of the old generation is left
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", columba.imap_port), timeout=2)
    # imaps was unchanged: its socket was kept
    assert wait_port(columba.imaps_port)


def test_reload_with_bad_config_keeps_running(columba):
    with open(columba.config_path, "a") as f:
        f.write("no_such_setting = 1\n")
    columba.proc.send_signal(signal.SIGHUP)
    assert columba.wait_log("Reload failed, keeping the running configuration")
    assert "Unknown setting: no_such_setting" in columba.log()
    assert greeting(columba.imap_port).startswith(b"* OK ")


def test_graceful_shutdown_says_bye(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba).start()
    s = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    t0 = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - t0 < 5
    assert f.readline() == b"* BYE Server shutting down.\r\n"
    assert f.read() == b""
    log = server.log()
    assert "shutting down" in log and "Columba stopped" in log
    # the auth process stops after the login process: its going away is
    # not a lost connection to log as an error
    assert "Error:" not in log, log
    assert not os.path.exists(os.path.join(server.base_dir, "master.pid"))
    # nothing is left behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.imap_port), timeout=2)


def test_sigint_stops_like_sigterm(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba).start()
    assert server.stop(signal.SIGINT) == 0


def test_second_master_refuses_to_start(columba):
    p = subprocess.run([columba_binary(), "-F", "-c", columba.config_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20)
    assert p.returncode != 0
    assert "already running" in columba.log() + p.stdout.decode()


def test_port_in_use_is_a_clear_error(tmpdir_columba):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server = ColumbaServer(tmpdir_columba)
    blocker.bind(("127.0.0.1", server.imap_port))
    blocker.listen()
    try:
        server.start(wait=False)
        rc = server.proc.wait(20)
        assert rc == 89
        log = server.log()
        assert "inet_listener imap" in log and "in use" in log, log
    finally:
        blocker.close()


def test_stop_and_reload_commands(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba).start()
    p = subprocess.run([columba_binary(), "reload", "-c", server.config_path],
                       timeout=20)
    assert p.returncode == 0
    assert server.wait_log("reloading configuration")
    p = subprocess.run([columba_binary(), "stop", "-c", server.config_path],
                       timeout=20)
    assert p.returncode == 0
    assert server.proc.wait(20) == 0


def test_service_count_replaces_process(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba, extra_config=(
        "service imap-login {\n  service_count = 2\n}\n")).start()
    try:
        first = wait_children(server, ["imap-login"])
        first_pid = [p for p, s in first.items() if s == "imap-login"][0]
        conns = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", server.imap_port),
                                         timeout=10)
            assert s.makefile("rb").readline().startswith(b"* OK")
            conns.append(s)
        # the first process served its two clients: a new one takes over
        deadline = time.monotonic() + 10
        while len(server.child_pids("imap-login")) < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert greeting(server.imap_port).startswith(b"* OK")
        for s in conns:
            s.close()
        deadline = time.monotonic() + 10
        while first_pid in server.children():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        log = server.log()
        assert "Error" not in log and "keep dying" not in log, log
    finally:
        assert server.stop() == 0


def test_ssl_without_certificate_is_refused(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba, ssl=False)
    with open(server.config_path) as f:
        text = f.read().replace("ssl = no", "ssl = yes")
    server.write_config(text)
    server.start(wait=False)
    assert server.proc.wait(20) == 89
    assert "ssl_cert and ssl_key are not set" in server.log()


def test_broken_certificate_is_refused(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba)
    with open(server.key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    server.start(wait=False)
    assert server.proc.wait(20) == 89
    assert "ssl_key" in server.log()


@pytest.mark.skipif("asan" in os.environ.get("COLUMBA_BUILD", ""),
                    reason="vsz_limit is not applied in sanitizer builds")
def test_vsz_limit_applied(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba, extra_config=(
        "service imap-login {\n  vsz_limit = 300M\n}\n")).start()
    try:
        pid = wait_children(server, ["imap-login"])
        pid = server.child_pids("imap-login")[0]
        with open("/proc/%d/limits" % pid) as f:
            line = [l for l in f if l.startswith("Max address space")][0]
        assert line.split()[3] == str(300 * 1024 * 1024), line
    finally:
        assert server.stop() == 0


def test_log_timestamp_format(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba, extra_config=(
        'log_timestamp = "[%Y] "\n')).start()
    try:
        greeting(server.imap_port)
    finally:
        assert server.stop() == 0
    year = time.strftime("%Y")
    lines = [l for l in server.log().splitlines() if l]
    assert lines and all(l.startswith("[%s] " % year) for l in lines), lines


@pytest.mark.skipif(not ROOT, reason="needs root to become another user")
def test_started_as_ordinary_user_everything_runs_as_it(tmpdir_columba):
    """Development mode: no privilege changes, no chroot, one identity."""
    user = pwd.getpwnam("columba")
    server = ColumbaServer(tmpdir_columba)
    for path in (server.dir, server.base_dir):
        os.chown(path, user.pw_uid, user.pw_gid)
    os.chown(server.key, user.pw_uid, user.pw_gid)
    server.proc = subprocess.Popen(
        ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid,
         "--clear-groups", columba_binary(), "-F", "-c", server.config_path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_port(server.imap_port), server.log()
        # setpriv execs columba: the master is server.proc's pid
        kids = wait_children(server, ["imap-login", "auth", "mail"])
        assert "as an unprivileged user" in server.log()
        for pid in list(kids) + [server.proc.pid]:
            st = proc_status(pid)
            assert [int(x) for x in st["Uid"]] == [user.pw_uid] * 4
            assert os.readlink("/proc/%d/root" % pid) == "/"
        assert greeting(server.imap_port).startswith(b"* OK")
    finally:
        assert server.stop() == 0
