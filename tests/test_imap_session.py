"""The IMAP session core and its session-level commands, driven through
real sessions: `columba imap -u USER` (PREAUTH on a socket pair, and on
pipes as ssh would give it) and LOGIN over TCP through imap-login's
hand-off. Covers CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE, SELECT,
EXAMINE, CLOSE, UNSELECT, NAMESPACE, IDLE, STARTTLS; pipelining; malformed
input (always a BAD or a BYE, never a hang); two sessions on one mailbox
seeing each other's changes, with the IDLE wake-up latency measured; BYE
on shutdown."""
import imaplib
import itertools
import os
import re
import select
import socket
import subprocess
import time

import pytest

from conftest import (as_internal_user, columba_binary, serve_in_tempdir,
                      start_with_users)

PASSWORD = "secret"
USERS = ["s%d@example.com" % i for i in range(1, 31)]
_user_iter = iter(USERS)


class Server:
    """A server whose passwd-file has users (PASSWORD for each)."""

    def __init__(self, tmpdir, users=USERS):
        self.tmpdir = tmpdir
        self.server = start_with_users(
            tmpdir, {u: PASSWORD for u in users}, ssl=False,
            config="auth_mechanisms = plain login\n")
        self.home = self.server.home

    def stop(self):
        return self.server.stop()

    def log(self):
        return self.server.log()

    def preauth(self, user, pipes=False):
        return Preauth(self, user, pipes)

    def tcp(self, user):
        return Tcp(self.server.imap_port, user)


class Client:
    """Line-level IMAP client over a socket or a pair of pipes."""

    def __init__(self):
        self.buf = b""
        self.tags = itertools.count(1)

    def readline(self, timeout=10):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(self.buf)
            r, _, _ = select.select([self.rfd], [], [], left)
            if not r:
                continue
            data = os.read(self.rfd, 65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_eof(self, timeout=10):
        """Everything until the server closes."""
        deadline = time.monotonic() + timeout
        out = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.rfd], [], [], 0.2)
            if r:
                data = os.read(self.rfd, 65536)
                if not data:
                    return out
                out += data
        raise TimeoutError(out)

    def send(self, data):
        os.write(self.wfd, data)

    def next_tag(self):
        return b"t%d" % next(self.tags)

    def read_tagged(self, tag, timeout=10):
        untagged = []
        while True:
            line = self.readline(timeout)
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)

    def command(self, text, timeout=10):
        tag = self.next_tag()
        self.send(tag + b" " + text + b"\r\n")
        return self.read_tagged(tag, timeout)

    def ok(self, text):
        untagged, tagged = self.command(text)
        assert tagged.split()[1] == b"OK", tagged
        return untagged, tagged


class Preauth(Client):
    def __init__(self, srv, user, pipes):
        super().__init__()
        argv = [columba_binary(), "imap", "-c", srv.server.config_path, "-u", user]
        if pipes:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE,
                                         preexec_fn=as_internal_user())
            self.rfd = self.proc.stdout.fileno()
            self.wfd = self.proc.stdin.fileno()
            self.sock = None
        else:
            self.sock, theirs = socket.socketpair()
            self.proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs,
                                         stderr=subprocess.PIPE,
                                         preexec_fn=as_internal_user())
            theirs.close()
            self.rfd = self.wfd = self.sock.fileno()
        self.greeting = self.readline()
        assert self.greeting.startswith(b"* PREAUTH [CAPABILITY IMAP4rev1"), \
            self.greeting

    def close(self):
        if self.sock is not None:
            self.sock.close()
        else:
            self.proc.stdin.close()
        rc = self.proc.wait(10)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        if self.sock is None:
            self.proc.stdout.close()
        return rc, err


class Tcp(Client):
    def __init__(self, port, user):
        super().__init__()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.rfd = self.wfd = self.sock.fileno()
        assert self.readline().startswith(b"* OK")
        _, tagged = self.command(b"LOGIN %s %s" % (user.encode(), PASSWORD.encode()))
        assert b" OK" in tagged, tagged

    def close(self):
        self.sock.close()


def message(n):
    return (b"From: a@example.com\r\nSubject: test %d\r\n"
            b"Message-ID: <s%d@example.com>\r\n\r\nBody %d\r\n" % (n, n, n))


@pytest.fixture(scope="module")
def srv():
    yield from serve_in_tempdir("columba-session-", Server, bad=("Panic:",))


@pytest.fixture
def user():
    return next(_user_iter)


def append_message(client, msg, box=b"INBOX"):
    """APPENDs msg to box; returns its UID."""
    untagged, tagged = client.command(b"APPEND %s {%d+}\r\n%s" % (box, len(msg), msg))
    assert b" OK" in tagged, tagged
    return int(re.search(rb"APPENDUID \d+ (\d+)", tagged).group(1))


def append(client, n, box=b"INBOX"):
    return append_message(client, message(n), box)


def test_preauth_basic_commands(srv, user):
    c = srv.preauth(user)
    caps = c.greeting.split(b"[CAPABILITY ")[1].split(b"]")[0].split()
    for cap in (b"IMAP4rev1", b"LITERAL+", b"ENABLE", b"ID", b"IDLE",
                b"NAMESPACE", b"UNSELECT"):
        assert cap in caps
    # nothing a pre-login client must not see after login
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
    untagged, _ = c.ok(b"CAPABILITY")
    assert untagged[0].split()[2:] == caps
    assert c.ok(b"NOOP") == ([], b"t2 OK NOOP completed.")
    untagged, _ = c.ok(b"NAMESPACE")
    assert untagged == [b'* NAMESPACE (("" "/")) NIL NIL']
    untagged, _ = c.ok(b'ID ("name" "pytest" "version" NIL)')
    assert untagged == [b'* ID ("name" "Columba")']
    c.ok(b"ID NIL")
    for bad in (b"ID", b"ID (\"name\")", b"ID foo", b"ID (\"a\" \"b\") x",
                b"ID (" + b" ".join(b'"k%d" "v"' % i for i in range(31)) + b")"):
        _, tagged = c.command(bad)
        assert b" BAD " in tagged, (bad, tagged)
    _, tagged = c.command(b"STARTTLS")
    assert b" BAD " in tagged
    _, tagged = c.command(b"NOOP extra")
    assert b" BAD " in tagged
    untagged, tagged = c.command(b"LOGOUT")
    assert untagged == [b"* BYE Logging out"]
    assert b"OK Logout completed." in tagged
    assert c.read_eof() == b""
    rc, err = c.close()
    assert rc == 0, err
    assert b"Logged out" in err


def test_preauth_pipes(srv, user):
    """ssh-style stdin/stdout pipes are relayed; the last bytes arrive."""
    c = srv.preauth(user, pipes=True)
    c.ok(b"SELECT INBOX")
    tag = c.next_tag()
    c.send(tag + b" LOGOUT\r\n")
    untagged, tagged = c.read_tagged(tag)
    assert tagged == tag + b" OK Logout completed."
    rc, err = c.close()
    assert rc == 0, err


def test_preauth_eof_ends_session(srv, user):
    c = srv.preauth(user)
    c.ok(b"NOOP")
    rc, err = c.close()
    assert rc == 0, err
    assert b"Connection closed" in err


def test_preauth_unknown_user_and_usage(srv):
    p = subprocess.run([columba_binary(), "imap", "-c", srv.server.config_path,
                        "-u", "nobody@example.com"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 67 and p.stdout == b"", p
    assert b"Unknown user" in p.stderr
    p = subprocess.run([columba_binary(), "imap"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 64 and b"Usage" in p.stderr


def test_select_examine_close_unselect(srv, user):
    c = srv.preauth(user)
    untagged, tagged = c.ok(b"SELECT INBOX")
    assert tagged.endswith(b"OK [READ-WRITE] Select completed.")
    assert untagged[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]" \
        in untagged[1]
    assert b"* 0 EXISTS" in untagged and b"* 0 RECENT" in untagged
    uidvalidity = [l for l in untagged if b"[UIDVALIDITY " in l]
    assert len(uidvalidity) == 1
    assert b"* OK [UIDNEXT 1] Predicted next UID" in untagged
    # no HIGHESTMODSEQ unless CONDSTORE was enabled
    assert not [l for l in untagged if b"HIGHESTMODSEQ" in l]

    uid1 = append(c, 1)
    uid2 = append(c, 2)
    assert uid2 == uid1 + 1
    c.ok(b"UID STORE %d +FLAGS (\\Seen)" % uid1)
    untagged, tagged = c.ok(b"EXAMINE inbox")
    assert tagged.endswith(b"OK [READ-ONLY] Examine completed.")
    assert b"* 2 EXISTS" in untagged
    assert b"* OK [PERMANENTFLAGS ()] Read-only mailbox." in untagged
    assert b"* OK [UNSEEN 2] First unseen." in untagged
    assert b"* OK [UIDNEXT %d] Predicted next UID" % (uid2 + 1) in untagged

    # CLOSE on a read-only mailbox expunges nothing
    c.ok(b"SELECT INBOX")
    c.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok(b"EXAMINE INBOX")
    untagged, _ = c.ok(b"CLOSE")
    assert untagged == []
    untagged, _ = c.ok(b"SELECT INBOX")
    assert b"* 2 EXISTS" in untagged
    # CLOSE expunges \Deleted silently: no EXPUNGE response
    untagged, tagged = c.ok(b"CLOSE")
    assert untagged == [] and tagged.endswith(b"OK Close completed.")
    untagged, _ = c.ok(b"SELECT INBOX")
    assert b"* 1 EXISTS" in untagged
    # UNSELECT leaves \Deleted alone
    c.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.ok(b"UNSELECT")
    untagged, _ = c.ok(b"SELECT INBOX")
    assert b"* 1 EXISTS" in untagged
    c.ok(b"CHECK")

    # commands that need a selected mailbox say so
    c.ok(b"UNSELECT")
    for cmd in (b"CLOSE", b"UNSELECT", b"CHECK", b"FETCH 1 FLAGS"):
        _, tagged = c.command(cmd)
        assert tagged.endswith(b"BAD No mailbox selected."), (cmd, tagged)

    _, tagged = c.command(b"SELECT nonexistent")
    assert b" NO [NONEXISTENT]" in tagged, tagged
    _, tagged = c.command(b"SELECT &Jjo")
    assert b" NO " in tagged and b"mUTF-7" in tagged
    # (CONDSTORE) is BAD only while not advertised:
    # test_select_condstore_qresync
    for bad in (b"SELECT", b"SELECT INBOX extra", b"SELECT INBOX (FOO)",
                b"SELECT (a)"):
        _, tagged = c.command(bad)
        assert b" BAD " in tagged, (bad, tagged)
    rc, err = c.close()
    assert rc == 0, err


def test_select_mutf7_name(srv, user):
    c = srv.preauth(user)
    _, tagged = c.command(b"CREATE K&AOQ-se")
    assert b" OK" in tagged, tagged
    untagged, tagged = c.ok(b"SELECT K&AOQ-se")
    assert b"* 0 EXISTS" in untagged
    untagged, _ = c.ok(b'LIST "" "*"')
    assert any(b"K&AOQ-se" in l for l in untagged), untagged
    c.close()


def test_enable(srv, user):
    c = srv.preauth(user)
    caps = c.greeting
    untagged, _ = c.ok(b"ENABLE CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2 X-FOO")
    # only what the capability list advertises can be enabled
    enabled = untagged[0].split()[2:]
    for name in enabled:
        assert name in caps
    assert untagged[0].startswith(b"* ENABLED")
    _, tagged = c.command(b"ENABLE")
    assert b" BAD " in tagged
    _, tagged = c.command(b'ENABLE "CONDSTORE"')
    assert b" BAD " in tagged
    c.close()


def test_pipelining_in_order(srv, user):
    c = srv.preauth(user)
    cmds = [b"a%d NOOP\r\n" % i for i in range(50)]
    cmds.insert(10, b"b1 SELECT INBOX\r\n")
    cmds.insert(20, b"b2 BOGUS\r\n")
    cmds.insert(30, b"b3 NAMESPACE\r\n")
    c.send(b"".join(cmds))
    tags = []
    while len(tags) < len(cmds):
        line = c.readline()
        if not line.startswith(b"*"):
            tags.append(line.split()[0])
    assert tags == [x.split()[0] for x in cmds]
    c.close()


def test_malformed_input(srv, user):
    c = srv.preauth(user)
    cases = [
        (b"+bad NOOP\r\n", b"* BAD Invalid tag"),
        (b"x\r\n", b"x BAD Missing command name."),
        (b"x BOGUS arg\r\n", b"x BAD Unknown command."),
        (b"x UID NOOP\r\n", b"x BAD Unknown command."),
        (b"x SELECT \"INBOX\r\n", b"x BAD Invalid character in quoted string"),
        (b"x SELECT (INBOX\r\n", b"x BAD Missing ')'"),
        (b"x SELECT INBOX)\r\n", b"x BAD Unexpected ')'"),
        (b"x SELECT \"a\\b\"\r\n", b"x BAD Invalid escape in quoted string"),
        (b"x SELECT \xff\r\n", b"x BAD Invalid character in atom"),
        (b"x SELECT {01}\r\n", b"x BAD Leading zero in literal size"),
        # a bad line with a LITERAL+ literal: the literal is skipped too
        (b"x SELECT a\"b {7+}\r\nx NOOP\r\n\r\n", b"x BAD Invalid character in atom"),
        # a synchronizing literal too large is refused before it is sent
        (b"x SELECT {99999999}\r\n", b"x BAD Literal too large"),
    ]
    for data, reply in cases:
        c.send(data)
        line = c.readline()
        assert line.startswith(reply), (data, line)
    # the session still works, and nothing was left over
    assert c.ok(b"NOOP")[0] == []
    # a synchronizing literal that fits gets "+ OK"
    c.send(b"y SELECT {5}\r\n")
    assert c.readline().startswith(b"+ ")
    c.send(b"INBOX\r\n")
    _, tagged = c.read_tagged(b"y")
    assert b"y OK [READ-WRITE]" in tagged
    c.close()


def test_fatal_input_closes(srv, user):
    # a non-synchronizing literal too large: its bytes are on the way
    c = srv.preauth(user)
    c.send(b"x SELECT {99999999+}\r\nabc")
    out = c.read_eof()
    assert b"x BAD Literal too large" in out and b"* BYE" in out, out
    c.close()
    # an endless line
    c = srv.preauth(user)
    c.send(b"x SELECT " + b"a" * (70 * 1024))
    out = c.read_eof()
    assert b"* BYE" in out and b"Too long" in out, out
    c.close()
    # too many errors
    c = srv.preauth(user)
    c.send(b"x BOGUS\r\n" * 25)
    out = c.read_eof()
    assert out.count(b"x BAD") == 20 and b"* BYE Too many invalid IMAP commands." in out
    c.close()


def test_idle_sees_other_session(srv, user):
    a = srv.preauth(user)
    b = srv.tcp(user)
    a.ok(b"SELECT INBOX")
    b.ok(b"SELECT INBOX")
    tag = a.next_tag()
    a.send(tag + b" IDLE\r\n")
    assert a.readline() == b"+ idling"

    latencies = []
    for n in range(1, 6):
        start = time.monotonic()
        append(b, n)
        line = a.readline(timeout=5)
        latencies.append(time.monotonic() - start)
        assert line == b"* %d EXISTS" % n, line
        # IMAP4rev1: RECENT follows EXISTS (the message is \Recent to
        # whichever of a and b synced first)
        assert re.match(rb"\* [0-%d] RECENT$" % n, a.readline(timeout=5))
    b.ok(b"STORE 2 +FLAGS (\\Flagged)")
    start = time.monotonic()
    line = a.readline(timeout=5)
    latencies.append(time.monotonic() - start)
    assert re.match(rb"\* 2 FETCH \(FLAGS \(\\Flagged( \\Recent)?\)\)$",
                    line), line
    b.ok(b"STORE 3 +FLAGS.SILENT (\\Deleted)")
    assert re.match(rb"\* 3 FETCH \(FLAGS \(\\Deleted( \\Recent)?\)\)$",
                    a.readline(timeout=5))
    b.ok(b"EXPUNGE")
    start = time.monotonic()
    assert a.readline(timeout=5) == b"* 3 EXPUNGE"
    latencies.append(time.monotonic() - start)
    a.send(b"DONE\r\n")
    untagged, tagged = a.read_tagged(tag)
    assert untagged == [] and tagged == tag + b" OK Idle completed."
    latencies.sort()
    median = latencies[len(latencies) // 2]
    print("IDLE wake-up latency: median %.1f ms, max %.1f ms (%d samples)" %
          (median * 1000, latencies[-1] * 1000, len(latencies)))
    # measured from the other session's tagged OK; includes its sync
    assert latencies[-1] < 1.0
    assert median < 0.1

    # NOOP in the other session reports what IDLE-less clients see
    append(a, 10)
    untagged, _ = b.ok(b"NOOP")
    assert b"* 5 EXISTS" in untagged, untagged
    # IDLE without a selected mailbox just waits for DONE
    a.ok(b"UNSELECT")
    tag = a.next_tag()
    a.send(tag + b" IDLE\r\n")
    assert a.readline() == b"+ idling"
    a.send(b"NOTDONE\r\n")
    _, tagged = a.read_tagged(tag)
    assert b" BAD Expected DONE." in tagged
    b.close()
    a.close()


def test_no_expunge_during_fetch(srv, user):
    """An expunge by another session is not announced during FETCH, STORE
    or SEARCH (sequence numbers would shift), only by the UID forms and
    other commands."""
    a = srv.preauth(user)
    b = srv.tcp(user)
    for n in range(3):
        append(a, n)
    a.ok(b"SELECT INBOX")
    b.ok(b"SELECT INBOX")
    b.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok(b"EXPUNGE")
    untagged, _ = a.ok(b"FETCH 1:* (FLAGS)")
    assert not [l for l in untagged if l.endswith(b"EXPUNGE")], untagged
    untagged, _ = a.ok(b"SEARCH ALL")
    assert not [l for l in untagged if l.endswith(b"EXPUNGE")], untagged
    untagged, _ = a.ok(b"NOOP")
    assert b"* 1 EXPUNGE" in untagged, untagged
    b.close()
    a.close()


def test_login_over_tcp_imaplib(srv, user):
    m = imaplib.IMAP4("127.0.0.1", srv.server.imap_port)
    typ, _ = m.login(user, PASSWORD)
    assert typ == "OK"
    # the LOGIN reply carries the post-login list; imaplib asks again
    typ, data = m.capability()
    assert b"IDLE" in data[0] and b"NAMESPACE" in data[0], data
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"0"]
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    typ, _ = m.noop()
    assert typ == "OK"
    typ, _ = m.unselect()
    assert typ == "OK"
    typ, data = m.logout()
    assert typ == "BYE"
    # the session's log lines carry its prefix once (the hand-off's own
    # prefix is replaced, not repeated)
    assert srv.server.wait_log("Disconnected: Logged out")
    lines = [l for l in srv.server.log().splitlines()
             if "imap(%s)" % user in l and "Logged in" in l]
    assert lines and all(l.count("imap(") == 1 for l in lines), lines


def test_bye_on_shutdown(tmpdir_columba):
    srv = Server(tmpdir_columba)
    c = srv.tcp(USERS[0])
    c.ok(b"SELECT INBOX")
    tag = c.next_tag()
    c.send(tag + b" IDLE\r\n")
    assert c.readline() == b"+ idling"
    rc = srv.server.stop()
    out = c.read_eof(timeout=15)
    assert b"* BYE Server shutting down." in out, out
    c.close()
    log = srv.server.log()
    assert rc == 0, log
    assert "Panic:" not in log, log


def test_new_keyword_and_deleted_mailbox(srv, user):
    """A keyword another session introduces comes with a new FLAGS list;
    a selected mailbox deleted by another session ends the session."""
    a = srv.preauth(user)
    b = srv.tcp(user)
    a.ok(b"CREATE Work")
    append(a, 1, b"Work")
    a.ok(b"SELECT Work")
    b.ok(b"SELECT Work")
    b.ok(b"STORE 1 +FLAGS ($Important)")
    untagged, _ = a.ok(b"NOOP")
    assert untagged[0] == (b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                           b"\\Draft $Important)"), untagged
    assert b"$Important \\*)]" in untagged[1]
    # a selected Work first: the message is \Recent to it
    assert untagged[2] == b"* 1 FETCH (FLAGS (\\Recent $Important))"
    b.ok(b"UNSELECT")
    b.ok(b"DELETE Work")
    # told at its next command (nothing is sent between commands)
    a.send(b"x NOOP\r\n")
    out = a.read_eof()
    assert out == b"* BYE Selected mailbox was deleted, have to disconnect.\r\n", out
    rc, err = a.close()
    assert rc == 0, err
    b.close()


def test_store_reports_other_sessions_changes(srv, user):
    """STORE syncs once: its own FETCH responses, and what another session
    changed before it, each once; what the other session changes after it
    comes with the STORE-ing session's next command."""
    a = srv.preauth(user)
    b = srv.tcp(user)
    uids = [append(a, n) for n in range(4)]
    a.ok(b"SELECT INBOX")
    b.ok(b"SELECT INBOX")

    def fetches(untagged):
        return [l for l in untagged if b" FETCH " in l]

    # b's change before a's STORE: reported by the STORE, once
    b.ok(b"STORE 2 +FLAGS.SILENT (\\Answered)")
    untagged, tagged = a.ok(b"STORE 1 +FLAGS (\\Flagged)")
    f = fetches(untagged)
    assert len(f) == 2, untagged
    assert [l for l in f if re.match(
        rb"\* 1 FETCH \(FLAGS \(\\Flagged( \\Recent)?\)\)$", l)], f
    assert [l for l in f if re.match(
        rb"\* 2 FETCH \(FLAGS \(\\Answered( \\Recent)?\)\)$", l)], f
    assert tagged.endswith(b"OK Store completed.")
    # nothing left over for the next command
    untagged, _ = a.ok(b"NOOP")
    assert fetches(untagged) == [], untagged

    # b's changes after a's STORE: a's next STORE reports them, then
    # its own FETCH (UID STORE: with the UID)
    b.ok(b"STORE 3 +FLAGS.SILENT (\\Seen)")
    untagged, _ = a.ok(b"UID STORE %d +FLAGS (\\Draft)" % uids[3])
    f = fetches(untagged)
    assert len(f) == 2, untagged
    assert re.match(rb"\* 3 FETCH \(FLAGS \(\\Seen( \\Recent)?\)\)$",
                    f[0]), f
    assert re.match(rb"\* 4 FETCH \(FLAGS \(\\Draft( \\Recent)?\) "
                    rb"UID %d\)$" % uids[3], f[1]), f
    # .SILENT: only b's change
    b.ok(b"STORE 1 -FLAGS.SILENT (\\Flagged)")
    untagged, _ = a.ok(b"STORE 2 +FLAGS.SILENT (\\Seen)")
    f = fetches(untagged)
    assert len(f) == 1 and re.match(
        rb"\* 1 FETCH \(FLAGS \(( ?\\Recent)?\)\)$", f[0]), untagged
    # b's change after a's silent STORE: a's NOOP reports it (and not a's)
    b.ok(b"STORE 4 -FLAGS.SILENT (\\Draft)")
    untagged, _ = a.ok(b"NOOP")
    f = fetches(untagged)
    assert len(f) == 1 and f[0].startswith(b"* 4 FETCH"), untagged
    # .SILENT on a message b changed too: a gets the flags both made (RFC
    # 9051 §6.4.6: a change from an external source is reported even
    # with .SILENT), once
    b.ok(b"STORE 3 +FLAGS.SILENT (\\Answered)")
    untagged, _ = a.ok(b"STORE 3 +FLAGS.SILENT (\\Flagged)")
    f = fetches(untagged)
    assert len(f) == 1 and f[0].startswith(b"* 3 FETCH (FLAGS ("), untagged
    assert all(fl in f[0] for fl in (b"\\Answered", b"\\Flagged",
                                     b"\\Seen")), f
    # ... and when a's STORE itself changes nothing there
    b.ok(b"STORE 3 +FLAGS.SILENT (\\Draft)")
    untagged, _ = a.ok(b"STORE 3 +FLAGS.SILENT (\\Flagged)")
    f = fetches(untagged)
    assert len(f) == 1 and b"\\Draft" in f[0], untagged
    untagged, _ = a.ok(b"NOOP")
    assert fetches(untagged) == [], untagged
    b.ok(b"STORE 3 -FLAGS.SILENT (\\Answered \\Flagged \\Draft)")
    a.ok(b"NOOP")

    # a new message from b: EXISTS with a's STORE
    append(b, 10)
    untagged, _ = a.ok(b"STORE 1 +FLAGS (\\Flagged)")
    assert b"* 5 EXISTS" in untagged, untagged
    assert len(fetches(untagged)) == 1, untagged
    # an expunge by b: not during STORE (sequence numbers), with UID STORE
    b.ok(b"STORE 5 +FLAGS.SILENT (\\Deleted)")
    b.ok(b"EXPUNGE")
    untagged, _ = a.ok(b"STORE 1 -FLAGS (\\Flagged)")
    assert not [l for l in untagged if l.endswith(b"EXPUNGE")], untagged
    untagged, _ = a.ok(b"UID STORE %d +FLAGS (\\Flagged)" % uids[0])
    assert b"* 5 EXPUNGE" in untagged, untagged

    # CONDSTORE: UNCHANGEDSINCE fails for what b changed since, MODSEQ in
    # the FETCH of what a changed
    untagged, _ = a.ok(b"FETCH 1:4 (MODSEQ)")
    modseqs = {int(l.split()[1]): int(re.search(rb"MODSEQ \((\d+)\)",
                                                 l).group(1))
               for l in fetches(untagged)}
    b.ok(b"STORE 2 +FLAGS.SILENT (\\Flagged)")
    untagged, tagged = a.ok(b"STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Deleted)"
                            % max(modseqs[1], modseqs[2]))
    assert b"[MODIFIED 2]" in tagged, tagged
    f = sorted(fetches(untagged))
    assert len(f) == 2 and f[0].startswith(b"* 1 FETCH (FLAGS (") and \
        b"\\Deleted" in f[0] and b"MODSEQ (" in f[0], f
    # b's change to the message that failed is reported (RFC 9051 §6.4.6,
    # RFC 7162 §3.1.3 example 6), with its new MODSEQ
    assert f[1].startswith(b"* 2 FETCH (FLAGS (") and \
        b"\\Flagged" in f[1] and b"\\Deleted" not in f[1], f
    m2 = int(re.search(rb"MODSEQ \((\d+)\)", f[1]).group(1))
    assert m2 > modseqs[2], (m2, modseqs)
    # the same STORE again: 2 still fails, but nothing new to report of it
    untagged, tagged = a.ok(b"STORE 2 (UNCHANGEDSINCE %d) +FLAGS.SILENT "
                            b"(\\Deleted)" % modseqs[2])
    assert b"[MODIFIED 2]" in tagged, tagged
    assert fetches(untagged) == [], untagged
    b.close()
    a.close()


def test_select_condstore_qresync(srv, user):
    """SELECT's CONDSTORE and QRESYNC parameters work exactly when the
    capability list offers them (their FETCH/STORE parts belong to other
    commands)."""
    a = srv.preauth(user)
    caps = a.greeting
    if b" QRESYNC" not in caps:
        untagged, _ = a.ok(b"ENABLE QRESYNC")
        assert untagged == [b"* ENABLED"]
        _, tagged = a.command(b"SELECT INBOX (QRESYNC (1 1))")
        assert b" BAD " in tagged
        if b" CONDSTORE" not in caps:
            _, tagged = a.command(b"SELECT INBOX (CONDSTORE)")
            assert b" BAD " in tagged
        a.close()
        return
    b = srv.tcp(user)
    uids = [append(a, n) for n in range(3)]
    untagged, _ = a.ok(b"ENABLE QRESYNC")
    assert untagged == [b"* ENABLED QRESYNC"]
    untagged, _ = a.ok(b"SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(untagged)).group(1))
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(untagged)).group(1))
    b.ok(b"SELECT INBOX")
    b.ok(b"UID STORE %d +FLAGS.SILENT (\\Seen)" % uids[1])
    b.ok(b"UID STORE %d +FLAGS.SILENT (\\Deleted)" % uids[2])
    b.ok(b"EXPUNGE")
    untagged, _ = a.ok(b"SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity, modseq))
    assert untagged[0] == b"* OK [CLOSED] Previous mailbox closed."
    assert b"* VANISHED (EARLIER) %d" % uids[2] in untagged, untagged
    fetch = [l for l in untagged if b" FETCH " in l]
    assert len(fetch) == 1 and fetch[0].startswith(b"* 2 FETCH (UID %d FLAGS (\\Seen) MODSEQ (" % uids[1]), fetch
    # known UIDs limit VANISHED
    untagged, _ = a.ok(b"SELECT INBOX (QRESYNC (%d %d %d:%d))"
                       % (uidvalidity, modseq, uids[0], uids[1]))
    assert not [l for l in untagged if b"VANISHED" in l], untagged
    # another UIDVALIDITY: a full resync, nothing incremental
    untagged, _ = a.ok(b"SELECT INBOX (QRESYNC (%d %d))" % (uidvalidity + 1, modseq))
    assert not [l for l in untagged if b"VANISHED" in l or b" FETCH " in l]
    b.close()
    a.close()
