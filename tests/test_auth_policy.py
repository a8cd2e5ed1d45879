"""The auth process's cache, master users and per-address penalty, over
its client socket (authclient.py) against the real server, with
passwd-files that the tests rewrite while it runs."""
import os
import time

import pytest

from authclient import AuthClient, fields_dict
from conftest import start_auth_server, stop_checked
from conftest import write_passwd_file as write

# a remote client: loopback clients get no auth penalty
REMOTE = dict(rip="198.51.100.7", lip="192.0.2.1")


@pytest.fixture
def auth(tmpdir_columba):
    """auth(lines, config="") starts a server whose passdb is a
    passwd-file of lines, at the returned server's .users_file (the tests
    rewrite it), after config's settings and passdbs; it is stopped and
    its log checked at the end."""
    servers = []

    def start(lines, config=""):
        users = write(os.path.join(tmpdir_columba, "users"), lines)
        server = start_auth_server(
            tmpdir_columba, "auth_failure_delay = 0\n" + config +
            "passdb {\n  driver = passwd-file\n  args = %s\n}\n" % users)
        server.users_file = users
        servers.append(server)
        return server
    yield start
    for server in servers:
        stop_checked(server)


def test_cache_keeps_old_password_until_ttl(auth):
    server = auth(["alice@example.com:{PLAIN}old-pw::::::"],
                  "auth_cache_size = 1M\n"
                  "auth_cache_ttl = 2 secs\n"
                  "auth_cache_negative_ttl = 2 secs\n")
    c = AuthClient(server.auth_path)
    assert c.plain(1, "alice@example.com", "old-pw")[0] == "OK"
    # unknown: a negative entry
    assert c.plain(2, "bob@example.com", "bob-pw")[0] == "FAIL"
    write(server.users_file, ["alice@example.com:{PLAIN}new-pw::::::",
                              "bob@example.com:{PLAIN}bob-pw::::::"])
    # the cached hash still answers: the old password works...
    assert c.plain(3, "alice@example.com", "old-pw")[0] == "OK"
    assert server.wait_log("Login successful (auth cache hit)")
    # ...and bob is still unknown (negative entry)
    assert c.plain(4, "bob@example.com", "bob-pw")[0] == "FAIL"
    # the new password is checked against the file again, since the
    # last login with the cached entry succeeded (Dovecot's rule)
    assert c.plain(5, "alice@example.com", "new-pw")[0] == "OK"
    assert c.plain(6, "alice@example.com", "old-pw")[0] == "FAIL"
    time.sleep(2.2)
    # after the TTLs, the file answers
    assert c.plain(7, "bob@example.com", "bob-pw")[0] == "OK"
    assert c.plain(8, "alice@example.com", "old-pw")[0] == "FAIL"
    assert c.plain(9, "alice@example.com", "new-pw")[0] == "OK"


def test_cache_off_by_default(auth):
    server = auth(["alice@example.com:{PLAIN}old-pw::::::"])
    c = AuthClient(server.auth_path)
    assert c.plain(1, "alice@example.com", "old-pw")[0] == "OK"
    write(server.users_file, ["alice@example.com:{PLAIN}new-pw::::::"])
    assert c.plain(2, "alice@example.com", "old-pw")[0] == "FAIL"
    assert c.plain(3, "alice@example.com", "new-pw")[0] == "OK"
    assert "auth cache hit" not in server.log()


def master_config(masters, pass_yes):
    """The master passdb, before the users' one."""
    return ("auth_master_user_separator = *\n"
            "passdb {\n  driver = passwd-file\n  args = %s\n"
            "  master = yes\n%s}\n" % (
                masters, "  result_success = continue\n" if pass_yes else ""))


@pytest.mark.parametrize("pass_yes", [True, False])
def test_master_users(tmpdir_columba, auth, pass_yes):
    masters = write(os.path.join(tmpdir_columba, "masters"),
                    ["admin:{PLAIN}admin-pw::::::"])
    server = auth(["alice@example.com:{PLAIN}alice-pw::::::",
                   "carol@example.com:{PLAIN}carol-pw::::::nologin reason=Gone"],
                  master_config(masters, pass_yes))
    c = AuthClient(server.auth_path)
    cmd, _, fields = c.plain(1, "alice@example.com*admin", "admin-pw")
    assert cmd == "OK", server.log()
    assert fields[0] == "user=alice@example.com"
    assert server.wait_log("Master user admin logs in as alice@example.com")
    # the master's password, not the user's
    assert c.plain(2, "alice@example.com*admin", "alice-pw")[0] == "FAIL"
    # the master is no user of its own, nor the user a master
    assert c.plain(3, "admin", "admin-pw")[0] == "FAIL"
    assert c.plain(4, "bob@example.com*alice@example.com", "alice-pw")[0] == "FAIL"
    # SASL PLAIN's authorization identity does the same
    c.auth(5, "PLAIN", resp="alice@example.com\0admin\0admin-pw")
    cmd, _, fields = c.reply()
    assert (cmd, fields[0]) == ("OK", "user=alice@example.com")
    # the user's own login still works
    assert c.plain(6, "alice@example.com", "alice-pw")[0] == "OK"
    # a user no passdb knows: refused only with pass = yes
    cmd, _, fields = c.plain(7, "nobody@example.com*admin", "admin-pw")
    if pass_yes:
        assert cmd == "FAIL"
        assert server.wait_log("Master user admin: login as unknown user nobody@example.com")
        # and the user's own fields count: nologin
        cmd, _, fields = c.plain(8, "carol@example.com*admin", "admin-pw")
        assert cmd == "FAIL" and fields_dict(fields)["reason"] == "Gone"
    else:
        assert (cmd, fields[0]) == ("OK", "user=nobody@example.com")


def test_master_login_without_master_passdb(auth):
    server = auth(["alice@example.com:{PLAIN}alice-pw::::::"],
                  "auth_master_user_separator = *\n")
    c = AuthClient(server.auth_path)
    assert c.plain(1, "alice@example.com*x", "alice-pw")[0] == "FAIL"
    assert server.wait_log("no passdb has master = yes")


def test_auth_penalty(auth):
    server = auth(["alice@example.com:{PLAIN}alice-pw::::::"])
    c = AuthClient(server.auth_path)

    def timed(rid, password, **kw):
        t = time.monotonic()
        cmd = c.plain(rid, "alice@example.com", password, "secured", **kw)[0]
        return cmd, time.monotonic() - t

    # no penalty yet: immediate
    cmd, t = timed(1, "wrong1", **REMOTE)
    assert cmd == "FAIL" and t < 1
    # one failure: the next request from that address waits 4 s
    cmd, t = timed(2, "wrong2", **REMOTE)
    assert cmd == "FAIL" and 3.5 < t < 6, t
    assert server.wait_log("auth penalty 1 after failed logins")
    # another address is not affected, nor the loopback, nor no-penalty
    cmd, t = timed(3, "wrong3", rip="203.0.113.5", lip="192.0.2.1")
    assert cmd == "FAIL" and t < 1
    cmd, t = timed(4, "wrong4")
    assert cmd == "FAIL" and t < 1
    t0 = time.monotonic()
    cmd = c.plain(5, "alice@example.com", "alice-pw", "secured",
                  "no-penalty", **REMOTE)[0]
    assert cmd == "OK" and time.monotonic() - t0 < 1
    # penalty 2 now: 8 s from the last failure. A success after the
    # wait clears it.
    cmd, t = timed(6, "alice-pw", **REMOTE)
    assert cmd == "OK" and 6 < t < 10, t
    cmd, t = timed(7, "wrong5", **REMOTE)
    assert cmd == "FAIL" and t < 1
