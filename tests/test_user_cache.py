"""The mail process keeps a user's storage open for a few seconds after
their last session ends (src/mail/mail-user-cache.c) and hands it to the
same user's next login, IMAP or POP3. Checked from outside: which of the
mail process's descriptors point at the user's index.db (/proc/PID/fd),
and what the next session sees after changes made meanwhile by another
process, a deleted home and a changed userdb home."""
import imaplib
import os
import poplib
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (LOG_CRASH_OR_SANITIZER, columba_binary, free_port,
                      passwd_entry, start_with_users, stop_checked,
                      wait_port, write_passwd_file)

# mail-user-cache.h: MAIL_USER_CACHE_SECS, checked every second
KEEP_SECS = 5


def write_users(path, home_of):
    write_passwd_file(path, [passwd_entry(name, "secret", home)
                             for name, home in home_of.items()])


@pytest.fixture
def server(tmpdir_columba):
    pop3_port = free_port()
    config = (
        "protocols = imap pop3\n"
        "auth_mechanisms = plain login\n"
        "service pop3-login {\n  inet_listener pop3 {\n"
        "    port = %d\n  }\n}\n" % pop3_port)
    srv = start_with_users(tmpdir_columba, {"alice": "secret", "bob": "secret"},
                           config=config, ssl=False, wait_auth=False)
    assert wait_port(pop3_port), srv.log()
    srv.homes = srv.home
    srv.pop3_port = pop3_port
    yield srv
    stop_checked(srv, LOG_CRASH_OR_SANITIZER)


def mail_pid(srv):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = srv.child_pids("mail")
        if pids:
            assert len(pids) == 1, pids
            return pids[0]
        time.sleep(0.05)
    raise AssertionError("no mail process")


def index_fds(pid, home):
    """{fd: target} of pid's descriptors open on home/index.db (a
    deleted file's target ends in " (deleted)")."""
    path = os.path.join(home, "index.db")
    result = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target == path or target == path + " (deleted)":
            result[int(fd)] = target
    return result


def imap_session(srv, user, append=None):
    """Log in, optionally APPEND, and return INBOX's message count."""
    c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
    c.login(user, "secret")
    if append is not None:
        typ, _ = c.append("INBOX", None, None, append)
        assert typ == "OK"
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    count = int(data[0])
    c.logout()
    return count


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def msg(subject):
    return ("From: a@example.com\r\nSubject: %s\r\n\r\nbody\r\n"
            % subject).encode()


def test_kept_reused_and_expired(server):
    home = os.path.join(server.homes, "alice")
    assert imap_session(server, "alice", append=msg("one")) == 1
    pid = mail_pid(server)
    # kept after the logout: still open in the mail process
    assert wait_for(lambda: len(index_fds(pid, home)) == 1, 2)
    kept = index_fds(pid, home)

    # another user in between takes other descriptors
    assert imap_session(server, "bob") == 0
    # the same user again, over IMAP then POP3: the kept connection
    # is reused (a fresh open would show a second descriptor while the
    # kept one waits for its expiry)
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("alice", "secret")
    assert index_fds(pid, home) == kept
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    c.logout()
    assert wait_for(lambda: index_fds(pid, home) == kept, 2)
    p = poplib.POP3("127.0.0.1", server.pop3_port)
    p.user("alice")
    p.pass_("secret")
    assert index_fds(pid, home) == kept
    assert p.stat()[0] == 1
    p.quit()

    # closed a few seconds after the last session
    assert wait_for(lambda: len(index_fds(pid, home)) == 0, KEEP_SECS + 4)


def test_concurrent_sessions_do_not_share(server):
    """A kept user goes to one session; a second concurrent session of
    the same user opens its own."""
    home = os.path.join(server.homes, "alice")
    imap_session(server, "alice")
    pid = mail_pid(server)
    c1 = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c1.login("alice", "secret")
    c2 = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c2.login("alice", "secret")
    assert len(index_fds(pid, home)) == 2
    c1.select("INBOX")
    c2.select("INBOX")
    c1.append("INBOX", None, None, msg("x"))
    # the other session sees it: separate connections, same file
    c2.noop()
    typ, data = c2.search(None, "ALL")
    assert data[0].split() == [b"1"]
    c1.logout()
    c2.logout()
    # both kept, both closed in time
    assert wait_for(lambda: len(index_fds(pid, home)) == 2, 2)
    assert wait_for(lambda: len(index_fds(pid, home)) == 0, KEEP_SECS + 4)


def test_changes_by_another_process_are_seen(server, tmpdir_columba):
    home = os.path.join(server.homes, "alice")
    assert imap_session(server, "alice", append=msg("one")) == 1
    pid = mail_pid(server)
    assert wait_for(lambda: len(index_fds(pid, home)) == 1, 2)
    kept = index_fds(pid, home)
    mbox = os.path.join(tmpdir_columba, "mbox")
    with open(mbox, "w") as f:
        f.write("From b@example.com Mon Jan  1 10:00:00 2024\n"
                "Subject: imported\n\nhello\n")
    os.chmod(mbox, 0o644)
    # another process writes to the kept user's index
    r = subprocess.run([columba_binary(), "mail", "import-mbox", "-c",
                        server.config_path, "-u", "alice", "-o",
                        "home=" + home, mbox, "INBOX"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the kept connection, reused, sees it
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("alice", "secret")
    assert index_fds(pid, home) == kept
    typ, data = c.select("INBOX")
    assert int(data[0]) == 2
    typ, data = c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"imported" in data[0][1]
    c.logout()


def test_deleted_home_is_not_reused(server):
    home = os.path.join(server.homes, "alice")
    assert imap_session(server, "alice", append=msg("one")) == 1
    pid = mail_pid(server)
    assert wait_for(lambda: len(index_fds(pid, home)) == 1, 2)
    # the user is deleted (and comes back as a new user)
    shutil.rmtree(home)
    assert list(index_fds(pid, home).values()) == [
        os.path.join(home, "index.db") + " (deleted)"]
    assert imap_session(server, "alice") == 0
    # the stale one was closed when it was found stale
    assert wait_for(lambda: list(index_fds(pid, home).values()) ==
                    [os.path.join(home, "index.db")], 2)


def test_userdb_change_is_not_reused(server):
    old_home = os.path.join(server.homes, "alice")
    new_home = os.path.join(server.homes, "alice2")
    assert imap_session(server, "alice", append=msg("one")) == 1
    pid = mail_pid(server)
    assert wait_for(lambda: len(index_fds(pid, old_home)) == 1, 2)
    # the userdb moves the user to another (new) home
    write_users(server.users_file, {"alice": new_home,
                                    "bob": os.path.join(server.homes, "bob")})
    time.sleep(1.1)  # passwd-file reloads on a changed mtime
    os.utime(server.users_file)
    assert imap_session(server, "alice") == 0
    assert len(index_fds(pid, new_home)) == 1
    # the old home's user is kept under its own fields until it expires
    assert wait_for(lambda: len(index_fds(pid, old_home)) == 0,
                    KEEP_SECS + 4)


def test_kept_after_idle_is_resumed(server):
    """A session that ends in IDLE has closed its index connection
    (mail_index_suspend()); the user is kept without it, and the next
    login's first index call reopens it (not told apart here from a
    fresh open: neither holds a descriptor before), which must see what
    arrived meanwhile."""
    home = os.path.join(server.homes, "alice")
    assert imap_session(server, "alice", append=msg("one")) == 1
    pid = mail_pid(server)
    s = socket.create_connection(("127.0.0.1", server.imap_port))
    f = s.makefile("rwb")
    f.readline()
    for line in (b"a LOGIN alice secret", b"b SELECT INBOX", b"c IDLE"):
        f.write(line + b"\r\n")
        f.flush()
        while True:
            reply = f.readline()
            assert reply, "connection closed"
            if reply.startswith(line[:2]) or reply.startswith(b"+"):
                break
    # suspended while idle: no descriptor on the index
    assert wait_for(lambda: len(index_fds(pid, home)) == 0, 2)
    f.write(b"DONE\r\nd LOGOUT\r\n")
    f.flush()
    while f.readline():
        pass
    s.close()
    assert imap_session(server, "bob", append=msg("bob")) == 1
    assert imap_session(server, "alice", append=msg("two")) == 2
    assert len(index_fds(pid, home)) == 1
