"""src/lib-auth-client/auth-master-client.c against the real auth process,
through the columba-auth-lookup tool: blocking and asynchronous lookups,
and an asynchronous client that outlives an auth process restart.
"""
import os
import signal
import subprocess
import time

from authclient import wait_socket
from conftest import (BUILD, passwd_config, start_auth_server, stop_checked,
                      write_passwd_file)

USERS = [
    "alice@example.com:{PLAIN}a:1000:1000::/home/alice::userdb_quota_rule=*:storage=1G",
    "bob@example.com:{PLAIN}b:1001:1001::/home/bob::",
]


def tool():
    return os.path.join(BUILD, "src/lib-auth-client/columba-auth-lookup")


def start(tmpdir):
    users = write_passwd_file(os.path.join(tmpdir, "users"), USERS, 0o600)
    return start_auth_server(tmpdir, passwd_config(users), "userdb_path")


def stop(server):
    stop_checked(server)


def test_sync_lookups(tmpdir_columba):
    server = start(tmpdir_columba)
    try:
        p = subprocess.run(
            [tool(), "-s", "lmtp", server.userdb_path, "Alice@example.com",
             "nobody@example.com", "bob@example.com"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=30)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[0].split()[0:2] == ["OK", "alice@example.com"]
        assert "home=/home/alice" in lines[0].split()
        assert "uid=1000" in lines[0].split()
        assert "quota_rule=*:storage=1G" in lines[0].split()
        assert lines[1] == "NOTFOUND nobody@example.com"
        assert lines[2].split()[0:2] == ["OK", "bob@example.com"]
    finally:
        stop(server)


def read_answers(proc, count, timeout=15):
    answers = []
    deadline = time.monotonic() + timeout
    while len(answers) < count:
        assert time.monotonic() < deadline, answers
        line = proc.stdout.readline()
        assert line, "tool exited early: %r" % proc.stderr.read()
        answers.append(line.rstrip("\n"))
    return sorted(answers)


def test_async_lookups_survive_auth_restart(tmpdir_columba):
    server = start(tmpdir_columba)
    proc = subprocess.Popen([tool(), "-a", "-t", "5000", server.userdb_path],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # many lookups in flight on one connection
        names = ["alice@example.com", "bob@example.com",
                 "nobody@example.com"] * 20
        proc.stdin.write(" ".join(names) + "\n")
        proc.stdin.flush()
        answers = read_answers(proc, len(names))
        assert answers.count("NOTFOUND nobody@example.com") == 20
        assert sum(a.startswith("OK alice@example.com ") for a in answers) == 20
        assert sum(a.startswith("OK bob@example.com ") for a in answers) == 20

        # the auth process dies and the master starts a new one: the
        # client's connection broke, and the next lookup reconnects
        pids = server.child_pids("auth")
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            new = server.child_pids("auth")
            if new and new != pids:
                break
            time.sleep(0.05)
        assert wait_socket(server.userdb_path)
        proc.stdin.write("bob@example.com\n")
        proc.stdin.flush()
        answer = read_answers(proc, 1)[0]
        # a lookup sent in the instant of the restart may FAIL (the MTA
        # retries); the one after it must work
        if answer.startswith("FAIL"):
            proc.stdin.write("bob@example.com\n")
            proc.stdin.flush()
            answer = read_answers(proc, 1)[0]
        assert answer.startswith("OK bob@example.com "), answer
        proc.stdin.close()
        assert proc.wait(10) in (0, 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop(server)
