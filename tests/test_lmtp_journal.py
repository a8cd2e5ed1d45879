"""The LMTP delivery journal (src/lmtp/lmtp-journal.c) under crashes: the
mail process is SIGKILLed while deliveries of all sizes (some too large
for the journal, some that make its ring wrap) arrive over several
connections; the master starts a new one, which replays the dead one's
journal. Every copy acknowledged with 250 must then be in its user's
mailbox exactly once, and no copy twice."""

import os
import pytest
import random
import re
import signal
import subprocess
import sqlite3
import threading
import time
from collections import Counter

from test_lmtp import Raw, start, stop

USERS = ("alice", "bob", "carol")
# bodies up to 700 KB: above the journal's limit (512 KiB) the delivery
# goes the direct way; ~100-400 KB ones make the ring wrap (the test's
# journal is 8 MiB, lmtp_journal_size: the default 32 MiB would seldom
# wrap before a kill)
SIZES = (300, 4000, 100000, 250000, 400000, 700000)


def deliver_until(port, tag, stop_flag, acked, seen, lock, rnd):
    n = 0
    try:
        c = Raw(port)
        c.cmd("LHLO crash.test")
        while not stop_flag.is_set():
            subject = "%s-%d" % (tag, n)
            n += 1
            rcpts = rnd.sample(USERS, rnd.choice((1, 1, 2, 3)))
            assert c.cmd("MAIL FROM:<s@crash.test>")[0] == 250
            for u in rcpts:
                assert c.cmd("RCPT TO:<%s@example.com>" % u)[0] == 250
            assert c.cmd("DATA")[0] == 354
            with lock:
                for u in rcpts:
                    seen.add((u, subject))
            size = rnd.choice(SIZES)
            line = b"x" * 76 + b"\r\n"
            body = line * (size // len(line) + 1)
            c.send(b"Subject: " + subject.encode() + b"\r\n\r\n" + body +
                   b".\r\n")
            for u in rcpts:
                code, _ = c.reply()
                if code == 250:
                    with lock:
                        acked.add((u, subject))
    except (OSError, AssertionError):
        # the mail process was killed under this connection
        pass


def subjects(server, user):
    """Subjects of the user's messages, from the index's cached
    ENVELOPEs (the export tool is too slow for 700 KB messages)."""
    path = os.path.join(server.home, user, "index.db")
    if not os.path.exists(path):
        return Counter()
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        rows = db.execute("SELECT c.envelope FROM messages m JOIN "
                          "message_cache c USING (mailbox_id, uid)").fetchall()
    finally:
        db.close()
    out = Counter()
    for (env,) in rows:
        m = re.match(r'\(?(?:NIL|"[^"]*") "([^"]*)"', env)
        out[m.group(1) if m else env] += 1
    return out


def wait_subjects(server, user, count, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = subjects(server, user)
        if sum(got.values()) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


# 4 connections: group commits of several deliveries; 1 connection: the
# saves of a delivery start only with the next one's fdatasync() (or 2 ms
# later), so a kill often finds acknowledged records whose saves have
# not even started
@pytest.mark.parametrize("conns", [4, 1])
def test_journal_replay_after_kill(tmpdir_columba, conns):
    server = start(tmpdir_columba, "lmtp_journal_size = 8M\n")
    journal_dir = os.path.join(server.dir, "state", "lmtp")
    rnd = random.Random(int(os.environ.get("LMTP_CRASH_SEED", time.time())))
    acked, seen, lock = set(), set(), threading.Lock()
    kills = int(os.environ.get("LMTP_CRASH_KILLS", "5"))
    try:
        for rnd_no in range(kills):
            stop_flag = threading.Event()
            threads = [threading.Thread(target=deliver_until, args=(
                server.lmtp_port, "k%d-c%d" % (rnd_no, i), stop_flag, acked,
                seen, lock, random.Random(rnd.random())))
                for i in range(conns)]
            for t in threads:
                t.start()
            # the mail process starts with the first connection
            deadline = time.monotonic() + 30
            while len(server.child_pids("mail")) != 1:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            mail = server.child_pids("mail")
            time.sleep(rnd.uniform(0.3, 1.5))
            os.kill(mail[0], signal.SIGKILL)
            stop_flag.set()
            for t in threads:
                t.join(30)
            # the next mail process replays the journal when it starts
            # (the next round's connections start it)
        assert len(acked) > 20, "too few deliveries to mean anything"
        # a last mail process replays the last kill's journal
        c = Raw(server.lmtp_port)
        c.cmd("LHLO last.test")
        c.close()
        for u in USERS:
            want = {s for (user, s) in acked if user == u}
            got = wait_subjects(server, u, len(want))
            missing = want - set(got)
            assert not missing, (u, sorted(missing)[:10], list(got.items())[:3], server.log()[-2000:])
            twice = [s for s, n in got.items() if n > 1]
            assert not twice, (u, twice)
            # what was never sent is not there either
            assert set(got) <= {s for (user, s) in seen if user == u}
        # the replays happened (some kills land before the first
        # append, but not all of them)
        assert "lmtp journal: " in server.log() and "replayed" in server.log() or kills < 3
    finally:
        stop(server)
    # a graceful stop saves everything and removes the journal
    assert os.listdir(journal_dir) == []


# --- deferred durability: saves from the journal are written without
# syncs, and the journal keeps each record until one syncfs() per
# filesystem (every lmtp_journal_sync_interval) has covered them ---

def deliver_numbered(server, user, prefix, count):
    """count deliveries to user, each acknowledged; their bodies by
    subject."""
    bodies = {}
    c = Raw(server.lmtp_port)
    c.cmd("LHLO deferred.test")
    for n in range(count):
        subject = "%s-%d" % (prefix, n)
        line = ("%s line %%d " % subject).encode()
        body = b"".join(line % i + b"y" * 50 + b"\r\n" for i in range(60))
        assert c.cmd("MAIL FROM:<s@deferred.test>")[0] == 250
        assert c.cmd("RCPT TO:<%s@example.com>" % user)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: " + subject.encode() + b"\r\n\r\n" + body + b".\r\n")
        assert c.reply()[0] == 250
        bodies[subject] = body
    c.close()
    return bodies


def imap_fetch_inbox(server, user, items):
    """The (envelope, literal) pairs of UID FETCH 1:* items in the
    user's INBOX."""
    import imaplib
    i = imaplib.IMAP4("127.0.0.1", server.imap_port)
    try:
        i.login("%s@example.com" % user, "x")
        i.select("INBOX")
        typ, data = i.uid("FETCH", "1:*", items)
        assert typ == "OK", data
        i.logout()
    finally:
        try:
            i.shutdown()
        except OSError:
            pass
    return [item for item in data if isinstance(item, tuple)]


def imap_messages(server, user):
    """subject -> list of full messages (RFC822) in the user's INBOX."""
    out = {}
    for _, msg in imap_fetch_inbox(server, user, "(BODY.PEEK[])"):
        m = re.search(rb"^Subject: (\S+)\r\n", msg, re.M)
        out.setdefault(m.group(1).decode() if m else None, []).append(msg)
    return out


def blob_files(server, user):
    """subject -> path of each message blob file of the user."""
    out = {}
    for root, _, files in os.walk(os.path.join(server.home, user)):
        for name in files:
            path = os.path.join(root, name)
            if "/tmp" in path[len(server.home):]:
                continue
            try:
                with open(path, "rb") as f:
                    head = f.read(65536)
            except OSError:
                continue
            m = re.search(rb"\r\nSubject: (\S+)\r\n", head)
            if m and b"SQLite format" not in head[:16]:
                out[m.group(1).decode()] = path
    return out


def deliver_saved(server, user, prefix, count):
    """deliver_numbered(), then wait until every message is in the index
    and its blob written."""
    bodies = deliver_numbered(server, user, prefix, count)
    got = wait_subjects(server, user, len(bodies))
    assert sum(got.values()) == len(bodies), got
    deadline = time.monotonic() + 30
    while len(blob_files(server, user)) < len(bodies):
        assert time.monotonic() < deadline, blob_files(server, user)
        time.sleep(0.1)
    return bodies


def kill_mail(server):
    mail = server.child_pids("mail")
    assert len(mail) == 1, server.log()
    os.kill(mail[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while mail[0] in server.child_pids("mail"):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def restart_mail(server):
    # the next mail process replays the dead one's journal as it starts
    c = Raw(server.lmtp_port)
    c.cmd("LHLO restart.test")
    c.close()


def kill_mail_and_restart(server):
    kill_mail(server)
    restart_mail(server)


def test_deferred_saves_rewritten_after_lost_blobs(tmpdir_columba):
    """Deliveries acknowledged and saved (deferred: no fsync of their
    blobs) but not yet covered by a durability point: the process dies
    and the blobs a power failure would have lost (deleted, truncated,
    damaged here) are written again from the journal at the next start.
    Every message is then there once, with its full content."""
    server = start(tmpdir_columba, "lmtp_journal_sync_interval = 1 hour\n")
    try:
        bodies = deliver_saved(server, "alice", "lost", 12)
        files = blob_files(server, "alice")
        victims = sorted(files)[:6]
        os.unlink(files[victims[0]])
        os.unlink(files[victims[1]])
        os.truncate(files[victims[2]], 0)
        os.truncate(files[victims[3]], os.path.getsize(files[victims[3]]) // 2)
        with open(files[victims[4]], "r+b") as f:
            f.seek(-10, os.SEEK_END)
            f.write(b"XXXXXXXXXX")
        os.truncate(files[victims[5]], os.path.getsize(files[victims[5]]) - 1)
        kill_mail_and_restart(server)
        assert server.wait_log("replayed", 30), server.log()[-3000:]
        msgs = imap_messages(server, "alice")
        assert sorted(s for s in msgs if s) == sorted(bodies), msgs.keys()
        for subject, body in bodies.items():
            assert len(msgs[subject]) == 1, (subject, len(msgs[subject]))
            assert msgs[subject][0].endswith(b"\r\n\r\n" + body), subject
        log = server.log()
        assert log.count("written again from the LMTP journal") == 6, log[-3000:]
    finally:
        stop(server)


def test_durability_point_retires_records(tmpdir_columba):
    """With the default interval the journal's records go once a
    syncfs() has covered their saves: a process killed a little later
    leaves nothing to replay."""
    server = start(tmpdir_columba, "lmtp_journal_sync_interval = 100 ms\n")
    try:
        bodies = deliver_numbered(server, "bob", "kept", 8)
        got = wait_subjects(server, "bob", len(bodies))
        assert sum(got.values()) == len(bodies), got
        # a point (100 ms) and the head's header (100 ms after it)
        time.sleep(1.5)
        kill_mail_and_restart(server)
        time.sleep(1)
        assert "replayed" not in server.log(), server.log()[-3000:]
        msgs = imap_messages(server, "bob")
        assert sorted(s for s in msgs if s) == sorted(bodies)
    finally:
        stop(server)


def test_durability_point_pending_is_replayed(tmpdir_columba):
    """The same with a long interval: the records stay until the point,
    so a process killed before it leaves them to the next one's replay,
    which finds every copy saved already and saves none twice."""
    server = start(tmpdir_columba, "lmtp_journal_sync_interval = 1 hour\n")
    try:
        bodies = deliver_numbered(server, "carol", "pending", 8)
        got = wait_subjects(server, "carol", len(bodies))
        assert sum(got.values()) == len(bodies), got
        time.sleep(0.5)
        kill_mail_and_restart(server)
        assert server.wait_log("replayed", 30), server.log()[-3000:]
        assert re.search(r"replayed 8 deliveries, 0 copies saved now",
                         server.log()), server.log()[-3000:]
        # the same boot: the page cache lost nothing, no UID is skipped
        assert "skips UIDs" not in server.log(), server.log()[-3000:]
        msgs = imap_messages(server, "carol")
        assert sorted(s for s in msgs if s) == sorted(bodies)
        assert all(len(v) == 1 for v in msgs.values())
    finally:
        stop(server)


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def journal_from_another_boot(server):
    """Rewrites the boot id in the dead process's journal header (both
    copies) as if the machine had restarted since it was written."""
    import struct
    jdir = os.path.join(server.dir, "state", "lmtp")
    names = [n for n in os.listdir(jdir) if n.startswith("journal.")]
    assert len(names) == 1, names
    with open(os.path.join(jdir, names[0]), "r+b") as f:
        for off in (0, 4096):
            f.seek(off)
            hdr = bytearray(f.read(88))
            if hdr[:8] != struct.pack("<Q", 0x4a50544d4c6c6f43):
                continue
            hdr[40:80] = b"another-boot".ljust(40, b"\0")
            hdr[80:88] = struct.pack("<Q", fnv1a64(bytes(hdr[:80])))
            f.seek(off)
            f.write(hdr)


def imap_uids(server, user):
    """subject -> UID in the user's INBOX."""
    out = {}
    for env, hdr in imap_fetch_inbox(
            server, user, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"):
        uid = int(re.search(rb"UID (\d+)", env).group(1))
        subj = re.search(rb"Subject: (\S+)", hdr).group(1)
        out[subj.decode()] = uid
    return out


def lose_tail_and_boot(server, cut, lost_blobs):
    """With the master stopped: kills the mail process, then makes its
    user alice's state what a power failure before a durability point
    leaves: the rows of UIDs cut and up gone (and all that hangs on
    them), the UID counter back at cut, those blobs gone, and the
    journal from another boot."""
    mail = server.child_pids("mail")
    assert len(mail) == 1, server.log()
    os.kill(mail[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        with open("/proc/%d/stat" % mail[0]) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    index = os.path.join(server.home, "alice", "index.db")
    st = os.stat(index)

    def as_owner():
        os.setgid(st.st_gid)
        os.setuid(st.st_uid)
    script = (
        "import sqlite3,sys\n"
        "c = sqlite3.connect(sys.argv[1]); cut = int(sys.argv[2])\n"
        "c.execute('PRAGMA foreign_keys = ON')\n"
        "for (t,) in c.execute(\"SELECT name FROM sqlite_master WHERE "
        "type = 'table'\").fetchall():\n"
        "    cols = [r[1] for r in c.execute('PRAGMA table_info(%s)' % t)]\n"
        "    if 'uid' in cols and 'mailbox_id' in cols:\n"
        "        c.execute('DELETE FROM %s WHERE uid >= ?' % t, (cut,))\n"
        "c.execute('DELETE FROM flag_snapshots')\n"
        "c.execute(\"UPDATE mailboxes SET uid_alloc_next = ?, uidnext = ? "
        "WHERE name = 'INBOX'\", (cut, cut))\n"
        "c.commit()\n")
    subprocess.run(["python3", "-c", script, index, str(cut)],
                   check=True, preexec_fn=as_owner)
    for path in lost_blobs:
        os.unlink(path)
    journal_from_another_boot(server)


def test_replay_after_power_failure_skips_seen_uids(tmpdir_columba):
    """The machine went down before a durability point: the index lost
    the WAL tail holding the last deferred saves (their rows and the UID
    counter), after IMAP had shown their UIDs. The replay, seeing a
    journal of another boot, saves them again above every UID a client
    may have seen, never under one of those UIDs."""
    server = start(tmpdir_columba, "lmtp_journal_sync_interval = 1 hour\n")
    try:
        bodies = deliver_saved(server, "alice", "pf", 10)
        seen = imap_uids(server, "alice")
        assert len(seen) == 10, seen
        max_seen = max(seen.values())
        lost = sorted(seen, key=seen.get)[5:]
        cut = min(seen[s] for s in lost)
        blobs = blob_files(server, "alice")
        # the master held still, so that no mail process replays the
        # journal before the power failure's losses are in place
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            lose_tail_and_boot(server, cut, [blobs[s] for s in lost])
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

        restart_mail(server)
        assert server.wait_log("replayed", 30), server.log()[-3000:]
        log = server.log()
        assert re.search(r"replayed 10 deliveries, 5 copies saved now", log), \
            log[-3000:]
        assert "skips UIDs" in log, log[-3000:]
        now = imap_uids(server, "alice")
        assert sorted(now) == sorted(seen), now
        for s in seen:
            if s in lost:
                # saved again: above every UID shown before
                assert now[s] > max_seen, (s, now[s], max_seen)
            else:
                assert now[s] == seen[s], (s, now[s], seen[s])
        msgs = imap_messages(server, "alice")
        for subject, body in bodies.items():
            assert len(msgs[subject]) == 1, subject
            assert msgs[subject][0].endswith(b"\r\n\r\n" + body), subject
    finally:
        stop(server)
