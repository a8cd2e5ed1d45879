"""Memory per idle connection in the login process, plaintext and TLS, and
per idle IMAP session (LOGIN, SELECT, IDLE) over all processes: the
foundation's budget is a few KiB each (Dovecot spends about 516 KiB per idle
IMAP session). Under ASan the figures are printed, not checked."""
import os
import resource
import socket
import ssl
import time

import pytest

from conftest import BUILD, ColumbaServer

ASAN = "asan" in os.path.basename(os.path.normpath(BUILD))


def uss_kib(pid):
    """Private memory (USS) of a process, from smaps_rollup."""
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def open_idle(port, n, tls_ctx=None):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_hostname="localhost")
        conns.append(s)
    # every connection has its greeting: the server has finished with it
    for s in conns:
        buf = b""
        while not buf.endswith(b"\r\n"):
            chunk = s.recv(4096)
            assert chunk, "connection closed"
            buf += chunk
        assert buf.startswith(b"* OK ")
    return conns


def measure(server, port, n, tls_ctx):
    pid = server.child_pids("imap-login")[0]
    # warm up allocator pools with a few connections first
    warm = open_idle(port, 50, tls_ctx)
    for s in warm:
        s.close()
    time.sleep(0.3)
    before = uss_kib(pid)
    conns = open_idle(port, n, tls_ctx)
    time.sleep(0.3)
    after = uss_kib(pid)
    assert server.child_pids("imap-login") == [pid]
    for s in conns:
        s.close()
    return (after - before) / n


@pytest.fixture
def big_server(tmpdir_columba):
    server = ColumbaServer(tmpdir_columba, extra_config=(
        "service imap-login {\n  client_limit = 20000\n}\n")).start()
    yield server
    assert server.stop() == 0


def test_idle_connection_memory(big_server, capsys):
    n = raise_nofile(6000) - 200
    n_plain = min(n, 4000)
    n_tls = min(n, 1500)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    plain = measure(big_server, big_server.imap_port, n_plain, None)
    tls = measure(big_server, big_server.imaps_port, n_tls, ctx)
    with capsys.disabled():
        print("\nimap-login memory per idle connection: plaintext %.2f KiB "
              "(%d conns), TLS %.2f KiB (%d conns)%s"
              % (plain, n_plain, tls, n_tls, " [ASan]" if ASAN else ""))
    # measured 1.28 and 12.4 KiB (OpenSSL's state after the handshake is
    # most of the latter: pre-login sessions keep it); + ~15 %
    if not ASAN:
        assert plain < 1.5
        assert tls < 14.5


# --- idle IMAP sessions (LOGIN, SELECT INBOX, IDLE) ---
#
# Every columba process counts (the mail process holds the session, its
# user's index and mailbox view; imap-login keeps TLS and relays). Each
# session is its own user, as in bench/run scenario (c), and has been in
# IDLE long enough to close its index (mailbox.c closes it as soon as IDLE
# begins; the bench measures 2 s after the last session).
# Measured on the development machine (glibc, OpenSSL 3.0, N = 200):
# 8.6 KiB plaintext and 13.3 KiB TLS per session: in the mail process the
# client, conn, parser, IDLE's command, five events, the user and its
# suspended index, the mailbox and its view, the notify watch; with TLS
# 4.8 KiB more in imap-login, where a relayed TLS 1.3 session has left
# OpenSSL's ~13 KiB for tls.c's data-only record layer (~2.6 KiB: the two
# AEAD contexts), plus the client, its event and the relay's conns.
# Before: 8.6 / 24.9 with OpenSSL's state kept, 109 / 126 KiB with the
# index open, 263 / 281 before any of this work. The thresholds are the
# figures + ~15 %: a session that keeps its SQLite connection (+70 KiB)
# fails, and so does a relayed session that keeps OpenSSL's state, or one
# that keeps a pool or buffer of a KiB or two it no longer needs.
SESSION_PASSWORD = "secret"
SESSIONS = 200
SESSION_MAX_KIB_PLAIN = 10.0
SESSION_MAX_KIB_TLS = 15.5
# how long after the last IDLE the figure is taken (bench/run: 2 s); on a
# loaded machine some sessions may not have closed their index yet, so a
# figure over the threshold is taken once more, RESETTLE_SECS later
IDLE_SETTLE_SECS = 2
RESETTLE_SECS = 4


def tree_uss_kib(root):
    """USS summed over root and all its descendants."""
    pids = {root}
    changed = True
    while changed:
        changed = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in pids:
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) in pids:
                pids.add(int(entry))
                changed = True
    total = 0
    for pid in pids:
        try:
            total += uss_kib(pid)
        except OSError:
            pass
    return total


def idle_session(port, user, tls_ctx):
    """LOGIN, SELECT INBOX and IDLE, pipelined; returns the socket once
    the server has answered "+ idling"."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s, server_hostname="localhost")
    buf = b""
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "connection closed before the greeting"
        buf += chunk
    s.sendall(b"a LOGIN %s %s\r\nb SELECT INBOX\r\nc IDLE\r\n"
              % (user.encode(), SESSION_PASSWORD.encode()))
    while b"\r\n+ " not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed: %r" % buf
        buf += chunk
        assert b"c NO" not in buf and b"c BAD" not in buf, buf
    assert b"a OK" in buf and b"b OK" in buf, buf
    return s


def session_server(tmpdir, nusers):
    home = os.path.join(tmpdir, "home")
    os.makedirs(home)
    os.chmod(home, 0o1777)
    users = ["m%04d@example.com" % i for i in range(nusers)]
    path = os.path.join(tmpdir, "users")
    with open(path, "w") as f:
        for u in users:
            f.write("%s:{PLAIN}%s::::%s/%s::\n"
                    % (u, SESSION_PASSWORD, home, u))
    os.chmod(path, 0o644)
    config = (
        "auth_mechanisms = plain\n"
        "auth_failure_delay = 0\n"
        "mail_max_userip_connections = 0\n"
        "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
        "service imap-login {\n  client_limit = 20000\n}\n"
        "service mail {\n  client_limit = 20000\n}\n" % (path, path))
    return ColumbaServer(tmpdir, extra_config=config).start(), users


def read_until(s, what, timeout=10):
    s.settimeout(timeout)
    buf = b""
    while what not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed: %r" % buf
        buf += chunk
    return buf


def check_idle_wakes(server, idle_sock, user):
    """Another session appends to the user's INBOX: the IDLE session
    (its index closed while idle) reports it and still answers."""
    other = socket.create_connection(("127.0.0.1", server.imap_port),
                                     timeout=10)
    read_until(other, b"\r\n")
    msg = b"Subject: wake\r\n\r\nhello\r\n"
    other.sendall(b"a LOGIN %s %s\r\nb APPEND INBOX {%d+}\r\n%s\r\n"
                  % (user.encode(), SESSION_PASSWORD.encode(), len(msg),
                     msg))
    assert b"b OK" in read_until(other, b"b ")
    other.close()
    assert b"* 1 EXISTS" in read_until(idle_sock, b"* 1 EXISTS")
    idle_sock.sendall(b"DONE\r\nd FETCH 1 (FLAGS RFC822.SIZE)\r\n")
    buf = read_until(idle_sock, b"d OK")
    assert b"RFC822.SIZE %d" % len(msg) in buf, buf


def measure_sessions(server, users, n, tls_ctx):
    port = server.imaps_port if tls_ctx is not None else server.imap_port
    # what the first sessions start or load lazily stays out of the figure
    warm = [idle_session(port, users[i], tls_ctx) for i in range(20)]
    time.sleep(IDLE_SETTLE_SECS)
    before = tree_uss_kib(server.proc.pid)
    conns = [idle_session(port, users[20 + i], tls_ctx) for i in range(n)]
    # idle sessions close their index when IDLE begins (mailbox.c)
    time.sleep(IDLE_SETTLE_SECS)
    after = tree_uss_kib(server.proc.pid)
    limit = SESSION_MAX_KIB_TLS if tls_ctx is not None else \
        SESSION_MAX_KIB_PLAIN
    if (after - before) / n >= limit:
        time.sleep(RESETTLE_SECS)
        after = min(after, tree_uss_kib(server.proc.pid))
    check_idle_wakes(server, conns[0], users[20])
    for s in conns + warm:
        s.close()
    return (after - before) / n


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
def test_idle_session_memory(tmpdir_columba, capsys, tls):
    raise_nofile(4 * SESSIONS + 200)
    server, users = session_server(tmpdir_columba, SESSIONS + 20)
    try:
        ctx = None
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        per = measure_sessions(server, users, SESSIONS, ctx)
    finally:
        rc = server.stop()
    log = server.log()
    assert rc == 0 and "Panic:" not in log, log
    with capsys.disabled():
        print("\nmemory per idle IMAP session (LOGIN, SELECT, IDLE), %s: "
              "%.1f KiB (%d sessions)%s" % ("TLS" if tls else "plaintext",
                                           per, SESSIONS,
                                           " [ASan]" if ASAN else ""))
    if not ASAN:
        assert per < (SESSION_MAX_KIB_TLS if tls else SESSION_MAX_KIB_PLAIN)
