"""Memory per idle connection in the login process, plaintext and TLS: the
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
    if not ASAN:
        assert plain < 4.0
        assert tls < 25.0
