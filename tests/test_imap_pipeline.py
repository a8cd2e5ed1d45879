"""IMAP command pipelining (RFC 9051 §5.5): commands of one session that
do not depend on each other run in parallel, the others in order.

The "slow" user's blob store is lib-blob's randomfail wrapper with its
test-only delay_get: the first read of every asynchronous get completes
DELAY seconds later, so a FETCH of a body (or a SEARCH BODY) waits that
long for its blob while later pipelined commands may go on. Each test
sends a pipeline in one write on a raw socket and records when every
response arrived; the responses are parsed (literals included), and each
tag must be answered exactly once."""
import imaplib
import os
import random
import re
import socket
import time

import pytest

from conftest import ColumbaServer

PASSWORD = "secret"
SLOW = "slow@example.com"
FAST = "fast@example.com"
# the slow user's blob reads wait this long for their first bytes
DELAY = 1.5
RANDOM_DELAY_MS = 150


def message(i, size=300):
    body = ("line %d of message %d\r\n" % (0, i)) * (size // 24 + 1)
    return ("From: sender%d@example.com\r\nTo: rcpt@example.com\r\n"
            "Subject: message %d\r\nMessage-ID: <m%d@example.com>\r\n"
            "\r\n" % (i, i, i) + body + "needle%d\r\n" % i).encode()


MESSAGES = [message(i) for i in range(1, 6)]


class Server:
    def __init__(self, tmpdir, delay_ms):
        home = os.path.join(tmpdir, "home")
        os.makedirs(home)
        os.chmod(home, 0o1777)
        users = os.path.join(tmpdir, "users")
        with open(users, "w") as f:
            f.write("%s:{PLAIN}%s::::%s/%s::\n" % (FAST, PASSWORD, home, FAST))
            f.write("%s:{PLAIN}%s::::%s/%s::userdb_mail_blob_store="
                    "randomfail:delay_get=%d:posix:%s/%s/blobs\n"
                    % (SLOW, PASSWORD, home, SLOW, delay_ms, home, SLOW))
        os.chmod(users, 0o644)
        config = (
            "auth_mechanisms = plain login\n"
            "auth_failure_delay = 0\n"
            "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
            "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
            % (users, users))
        self.server = ColumbaServer(tmpdir, extra_config=config,
                                    ssl=False).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1",
                                           self.server.imap_port)) as s:
                if b"AUTH=PLAIN" in s.recv(4096):
                    break
            time.sleep(0.05)
        for user in (SLOW, FAST):
            m = self.imap(user)
            m.create("Other")
            for data in MESSAGES:
                typ, _ = m.append("INBOX", None, None, data)
                assert typ == "OK"
            m.logout()

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.server.imap_port, timeout=30)
        m.login(user, PASSWORD)
        return m

    def raw(self, user, select=True):
        return Raw(self.server.imap_port, user, select)

    def stop(self):
        rc = self.server.stop()
        log = self.server.log()
        assert "Panic:" not in log, log
        assert "BUG:" not in log, log
        assert rc == 0, log


@pytest.fixture
def server(tmpdir_columba):
    s = Server(tmpdir_columba, int(DELAY * 1000))
    yield s
    s.stop()


class Response:
    def __init__(self, text, literals, when):
        # text: the response with each literal's bytes replaced by
        # {n}; literals: their bytes in order
        self.text = text
        self.literals = literals
        self.when = when

    @property
    def tag(self):
        return self.text.split(b" ", 1)[0]

    def __repr__(self):
        return "<%r at %.3f>" % (self.text[:100], self.when)


class Raw:
    """A socket IMAP client that sends pipelines in one write and parses
    whole responses (lines with their literals)."""

    def __init__(self, port, user, select=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.start = time.monotonic()
        greeting = self.read_response()
        assert greeting.text.startswith(b"* OK"), greeting
        self.run([b"L LOGIN %s %s" % (user.encode(), PASSWORD.encode())])
        if select:
            self.run([b"S SELECT INBOX"])

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(self.buf)
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _bytes(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self):
        text = b""
        literals = []
        while True:
            line = self._line()
            text += line
            m = re.search(rb"~?\{(\d+)\}$", line)
            if m is None:
                return Response(text, literals,
                                time.monotonic() - self.start)
            literals.append(self._bytes(int(m.group(1))))

    def pipeline(self, commands, untagged_until=None):
        """Send commands (tag first) in one write; read until every tag
        is answered. Returns the responses in arrival order."""
        tags = [c.split(b" ", 1)[0] for c in commands]
        self.start = time.monotonic()
        self.send(b"".join(c + b"\r\n" for c in commands))
        return self.read_until(tags)

    def read_until(self, tags):
        pending = set(tags)
        out = []
        while pending:
            r = self.read_response()
            out.append(r)
            if r.tag in pending:
                pending.discard(r.tag)
            else:
                assert r.tag in (b"*", b"+"), \
                    "unexpected or repeated tag: %r" % r
        return out

    def run(self, commands):
        out = self.pipeline(commands)
        for c in commands:
            tagged(out, c.split(b" ", 1)[0], b"OK")
        return out


def tagged(responses, tag, status=None):
    """The index of tag's tagged response (exactly one)."""
    found = [i for i, r in enumerate(responses) if r.tag == tag]
    assert len(found) == 1, (tag, responses)
    if status is not None:
        assert responses[found[0]].text.split(b" ")[1] == status, \
            responses[found[0]]
    return found[0]


def order(responses, tags):
    return [r.tag for r in responses if r.tag in tags]


def test_slow_fetch_does_not_hold_back_independent_commands(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"a1 FETCH 1 (BODY.PEEK[])",
                      b"a2 FETCH 2:3 (FLAGS UID)",
                      b"a3 STATUS Other (MESSAGES)",
                      b"a4 LIST \"\" *",
                      b"a5 FETCH 4 (RFC822.SIZE)"])
    i1 = tagged(out, b"a1", b"OK")
    for tag in (b"a2", b"a3", b"a4", b"a5"):
        i = tagged(out, tag, b"OK")
        # answered while a1 still waited for its blob
        assert i < i1, out
        assert out[i].when < DELAY * 0.8, out
    assert out[i1].when >= DELAY * 0.9, out
    # a1's literal came whole, and nothing was written into it
    bodies = [r for r in out if r.text.startswith(b"* 1 FETCH")]
    assert len(bodies) == 1 and bodies[0].literals == [MESSAGES[0]], bodies
    assert b"* 2 FETCH (FLAGS" in b"".join(r.text for r in out)
    c.close()


def test_two_slow_fetches_wait_together(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"b1 FETCH 1 (BODY.PEEK[])",
                      b"b2 FETCH 2 (BODY.PEEK[TEXT])",
                      b"b3 UID FETCH 3 (BODY.PEEK[HEADER])"])
    elapsed = max(r.when for r in out)
    # one after the other would take 3 * DELAY
    assert elapsed < DELAY * 2.2, out
    for tag in (b"b1", b"b2"):
        tagged(out, tag, b"OK")
    # a UID command after ones using sequence numbers waits for them
    # (an expunge it may report would shift their numbers)
    assert order(out, {b"b1", b"b2", b"b3"})[-1] == b"b3", out
    lits = {r.text.split(b" ")[1]: r.literals for r in out
            if b" FETCH (" in r.text}
    assert lits[b"1"] == [MESSAGES[0]]
    assert lits[b"2"] == [MESSAGES[1].split(b"\r\n\r\n", 1)[1]]
    assert lits[b"3"] == [MESSAGES[2].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"]
    c.close()


def test_slow_search_runs_beside_fetch(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"c1 SEARCH BODY needle3",
                      b"c2 FETCH 1:5 (FLAGS)",
                      b"c3 NAMESPACE"])
    i1 = tagged(out, b"c1", b"OK")
    assert tagged(out, b"c2", b"OK") < i1
    assert tagged(out, b"c3", b"OK") < i1
    assert [r.text for r in out if r.text.startswith(b"* SEARCH")] == \
        [b"* SEARCH 3"]
    c.close()


def test_pipelined_against_one_at_a_time(server, capsys):
    """Four FETCHes of bodies, each waiting DELAY for its blob: pipelined
    they wait together; sent one at a time (as every command ran before
    pipelining) they wait one after the other."""
    c = server.raw(SLOW)
    cmds = [b"p%d FETCH %d (BODY.PEEK[])" % (i, i) for i in range(1, 5)]
    out = c.pipeline(cmds)
    pipelined = max(r.when for r in out)
    t0 = time.monotonic()
    for cmd in cmds:
        c.pipeline([cmd])
    serial = time.monotonic() - t0
    with capsys.disabled():
        print("\n4 FETCH BODY.PEEK[] waiting %.1f s each: pipelined %.3f s, "
              "one at a time %.3f s" % (DELAY, pipelined, serial))
    assert pipelined < DELAY * 1.8, out
    assert serial >= DELAY * 4 * 0.95
    c.close()


def test_store_then_fetch_in_order(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"d1 FETCH 1 (BODY.PEEK[])",
                      b"d2 STORE 1 +FLAGS (\\Flagged)",
                      b"d3 FETCH 1 (FLAGS)",
                      b"d4 STORE 1 -FLAGS (\\Flagged)",
                      b"d5 FETCH 1 (FLAGS)"])
    assert order(out, {b"d1", b"d2", b"d3", b"d4", b"d5"}) == \
        [b"d1", b"d2", b"d3", b"d4", b"d5"], out
    i2, i3, i4, i5 = (tagged(out, t, b"OK") for t in
                      (b"d2", b"d3", b"d4", b"d5"))
    # each FETCH sees the STORE before it, and only that one
    assert b"\\Flagged" in out[i3 - 1].text, out
    assert b"\\Flagged" not in out[i5 - 1].text, out
    c.close()


def test_fetch_that_sets_seen_runs_alone(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"e1 SEARCH BODY needle2 UNSEEN",
                      b"e2 FETCH 2 (BODY[TEXT])",
                      b"e3 SEARCH UNSEEN"])
    assert order(out, {b"e1", b"e2", b"e3"}) == [b"e1", b"e2", b"e3"], out
    searches = [r.text for r in out if r.text.startswith(b"* SEARCH")]
    assert searches == [b"* SEARCH 2", b"* SEARCH 1 3 4 5"], out
    c.close()


def test_no_expunge_while_sequence_numbers_in_use(server):
    a = server.raw(SLOW)
    # another session expunges message 3: session a has it pending
    b = server.imap(SLOW)
    b.select("INBOX")
    b.store("3", "+FLAGS", "(\\Deleted)")
    b.expunge()
    b.logout()
    out = a.pipeline([b"f1 FETCH 1 (BODY.PEEK[])",
                      b"f2 STATUS Other (MESSAGES)",
                      b"f3 UID FETCH 1:* (FLAGS)",
                      b"f4 NOOP"])
    i1 = tagged(out, b"f1", b"OK")
    # STATUS ran beside the FETCH, and its tagged reply did not report
    # the expunge (RFC 9051 §7.5.1: not while a FETCH is in progress)
    assert tagged(out, b"f2", b"OK") < i1, out
    expunges = [i for i, r in enumerate(out) if r.text.endswith(b"EXPUNGE")]
    assert len(expunges) == 1 and out[expunges[0]].text == b"* 3 EXPUNGE"
    assert expunges[0] > i1, out
    assert expunges[0] < tagged(out, b"f4", b"OK")
    # the UID FETCH and NOOP came after the FETCH using sequence numbers
    assert order(out, {b"f1", b"f3", b"f4"}) == [b"f1", b"f3", b"f4"], out
    a.close()


def test_select_in_the_middle(server):
    c = server.raw(SLOW)
    out = c.pipeline([b"g1 FETCH 1 (BODY.PEEK[])",
                      b"g2 STATUS INBOX (MESSAGES)",
                      b"g3 EXAMINE Other",
                      b"g4 FETCH 1 (FLAGS)",
                      b"g5 SELECT INBOX",
                      b"g6 FETCH 5 (UID)"])
    assert order(out, {b"g1", b"g3", b"g4", b"g5", b"g6"}) == \
        [b"g1", b"g3", b"g4", b"g5", b"g6"], out
    i1 = tagged(out, b"g1", b"OK")
    assert tagged(out, b"g2", b"OK") < i1
    i3 = tagged(out, b"g3", b"OK")
    # EXAMINE's untagged responses come after the FETCH has finished
    exists = [i for i, r in enumerate(out) if r.text.endswith(b" EXISTS")]
    assert exists and min(exists) > i1, out
    # Other is empty: FETCH 1 there is BAD (no such message)
    assert out[tagged(out, b"g4")].text.split(b" ")[1] in (b"BAD", b"NO")
    assert tagged(out, b"g5", b"OK") > i3
    assert any(r.text == b"* 5 FETCH (UID 5)" for r in out), out
    c.close()


def test_logout_after_pipelined_commands(server):
    c = server.raw(SLOW)
    c.start = time.monotonic()
    c.send(b"h1 FETCH 1 (BODY.PEEK[])\r\nh2 FETCH 2 (FLAGS)\r\n"
           b"h3 NOOP\r\nh4 LOGOUT\r\nh5 NOOP\r\n")
    out = c.read_until([b"h1", b"h2", b"h3", b"h4"])
    texts = [r.text for r in out]
    assert order(out, {b"h1", b"h3", b"h4"}) == [b"h1", b"h3", b"h4"]
    bye = texts.index(b"* BYE Logging out")
    assert bye > tagged(out, b"h3", b"OK") and bye < tagged(out, b"h4", b"OK")
    tagged(out, b"h2", b"OK")
    # nothing after LOGOUT is read: h5 gets no answer, the server closes
    with pytest.raises(EOFError):
        c.read_response()
    c.close()


def test_idle_waits_for_commands_in_progress(server):
    c = server.raw(SLOW)
    c.send(b"i1 FETCH 1 (BODY.PEEK[])\r\ni2 FETCH 2 (FLAGS)\r\ni3 IDLE\r\n")
    c.start = time.monotonic()
    out = []
    while True:
        r = c.read_response()
        out.append(r)
        if r.tag == b"+":
            break
    i1 = tagged(out, b"i1", b"OK")
    assert tagged(out, b"i2", b"OK") < i1
    assert out[-1].when >= DELAY * 0.9 and len(out) - 1 > i1, out
    # another session's change reaches the idling one
    b = server.imap(SLOW)
    b.select("INBOX")
    b.store("2", "+FLAGS", "(\\Answered)")
    b.logout()
    r = c.read_response()
    assert r.text.startswith(b"* 2 FETCH (FLAGS (\\Answered"), r
    c.send(b"DONE\r\n")
    r = c.read_response()
    assert r.text.startswith(b"i3 OK"), r
    c.run([b"i4 NOOP"])
    c.close()


def test_literal_commands_keep_their_continuations(server):
    """A command with a synchronizing literal, read while a FETCH waits,
    gets its "+" between responses, and APPEND (which reads its literal
    itself) waits until the FETCH is done."""
    c = server.raw(SLOW)
    c.send(b"j1 FETCH 1 (BODY.PEEK[])\r\nj2 SEARCH BODY {7}\r\n")
    c.start = time.monotonic()
    r = c.read_response()
    assert r.text.startswith(b"+"), r
    assert r.when < DELAY * 0.8
    msg = MESSAGES[0]
    c.send(b"needle2\r\nj3 APPEND Other {%d}\r\n" % len(msg))
    out = []
    while True:
        r = c.read_response()
        out.append(r)
        if r.tag == b"+":
            break
    i1 = tagged(out, b"j1", b"OK")
    # the SEARCH reads blobs too: it waited beside the FETCH
    assert out[tagged(out, b"j2", b"OK")].when < DELAY * 1.6, out
    # APPEND's "+" came after both
    assert len(out) - 1 > max(i1, tagged(out, b"j2")), out
    c.send(msg + b"\r\n")
    out = c.read_until([b"j3"])
    tagged(out, b"j3", b"OK")
    c.close()


def test_mailbox_deleted_under_waiting_command(server):
    """The selected mailbox is deleted by another session while a FETCH
    waits for its blob; a STATUS beside it finds out in its tagged reply's
    sync: the waiting FETCH is cancelled (never answered, nothing of it
    half-written) and the session ends with BYE."""
    b = server.imap(SLOW)
    b.create("Gone")
    assert b.append("Gone", None, None, MESSAGES[0])[0] == "OK"
    a = server.raw(SLOW, select=False)
    a.run([b"S SELECT Gone"])
    a.start = time.monotonic()
    a.send(b"k1 FETCH 1 (BODY.PEEK[])\r\n")
    time.sleep(0.3)
    assert b.delete("Gone")[0] == "OK"
    b.logout()
    a.send(b"k2 STATUS INBOX (MESSAGES)\r\n")
    out = []
    with pytest.raises(EOFError):
        while True:
            out.append(a.read_response())
    texts = [r.text for r in out]
    assert texts[-1] == b"* BYE Selected mailbox was deleted, have to " \
        b"disconnect.", texts
    assert not any(t.startswith(b"k1 ") or b" FETCH " in t for t in texts), \
        texts
    a.close()


# --- randomized pipelines ---

# (command, runs alone) - alone as the server must treat it: a command
# that changes state another command could see
RANDOM_COMMANDS = [
    (b"FETCH 1:3 (FLAGS UID)", False),
    (b"FETCH 2 (BODY.PEEK[])", False),
    (b"FETCH 1:* (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", False),
    (b"UID FETCH 1:* (FLAGS)", False),
    (b"UID FETCH 4 (BODY.PEEK[TEXT]<0.40>)", False),
    (b"FETCH 3 (BODY[TEXT])", True),
    (b"SEARCH BODY needle4", False),
    (b"SEARCH UNSEEN", False),
    (b"UID SEARCH FLAGGED", False),
    (b"STATUS Other (MESSAGES UNSEEN)", False),
    (b"LIST \"\" *", False),
    (b"NOOP", False),
    (b"CHECK", False),
    (b"CAPABILITY", False),
    (b"NAMESPACE", False),
    (b"STORE 1 +FLAGS (\\Flagged)", True),
    (b"STORE 1 -FLAGS (\\Flagged)", True),
    (b"UID STORE 2 FLAGS (\\Seen)", True),
    (b"STORE 3 -FLAGS (\\Seen)", True),
    (b"EXAMINE INBOX", True),
    (b"SELECT INBOX", True),
    (b"ENABLE CONDSTORE", True),
    (b"CREATE Sub", True),
    (b"DELETE Sub", True),
    (b"FETCH 9999 (FLAGS)", False),
    (b"BLURDYBLOOP", False),
]


def check_grammar(r):
    t = r.text
    if t.startswith(b"* "):
        assert re.match(rb"\* (OK|NO|BAD|BYE|PREAUTH|CAPABILITY|FLAGS|LIST|"
                        rb"LSUB|STATUS|SEARCH|ESEARCH|NAMESPACE|ENABLED|ID|"
                        rb"\d+ (EXISTS|RECENT|EXPUNGE|FETCH))\b", t), t
        if b" FETCH " in t:
            # parentheses balance outside the literals' bytes
            assert t.count(b"(") == t.count(b")"), t
    else:
        assert re.match(rb"r\d+ (OK|NO|BAD) ", t), t


def test_random_pipelines(tmpdir_columba):
    s = Server(tmpdir_columba, RANDOM_DELAY_MS)
    try:
        rng = random.Random(int(os.environ.get("PIPELINE_SEED", "7")))
        c = s.raw(SLOW)
        n = 0
        readonly = False
        for round_ in range(25):
            batch = []
            for _ in range(rng.randint(2, 9)):
                text, alone = rng.choice(RANDOM_COMMANDS)
                # a FETCH of a body on a read-only mailbox sets no
                # \Seen: it may run beside others there
                if text.startswith(b"FETCH 3 (BODY[") and readonly:
                    alone = False
                if text.startswith(b"EXAMINE"):
                    readonly = True
                elif text.startswith(b"SELECT"):
                    readonly = False
                batch.append((text, alone))
            tags = []
            cmds = []
            for text, _ in batch:
                n += 1
                tags.append(b"r%d" % n)
                cmds.append(b"r%d %s" % (n, text))
            out = c.pipeline(cmds)
            for r in out:
                check_grammar(r)
            done = order(out, set(tags))
            assert sorted(done) == sorted(tags)
            # a command that runs alone is answered after every earlier
            # one and before every later one
            for i, (text, alone) in enumerate(batch):
                if not alone:
                    continue
                pos = done.index(tags[i])
                assert set(done[:pos]) == set(tags[:i]), (cmds, out)
            # literals are whole (a FETCH of message 2's body)
            for r in out:
                if r.text.startswith(b"* 2 FETCH (BODY[] "):
                    assert r.literals == [MESSAGES[1]], r
            # no EXPUNGE here, and flag changes are consistent: the
            # client's view of message 1's \Flagged follows the STOREs
        c.close()
    finally:
        s.stop()
