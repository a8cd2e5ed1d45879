"""`columba mail ...`: import a Dovecot Maildir (UIDs, UIDVALIDITY, flags,
keywords kept), import an mbox, export and import the export again, rebuild
the index from the blobs, prune the change log; usage errors; and the
userdb lookup through a running master's auth process."""
import os
import re
import sqlite3
import subprocess

from conftest import (ColumbaServer, columba_binary, make_home_root,
                      passwd_config, passwd_entry, write_passwd_file)


def run_mail(*args, config=None):
    cmd = [columba_binary(), "mail"] + list(args)
    if config is not None:
        # options follow the command name
        cmd[3:3] = ["-c", config]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def write(path, text, mtime=None):
    with open(path, "w") as f:
        f.write(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def folder(path):
    for sub in ("", "cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def msg(subject):
    return "From: x@example.com\nSubject: %s\n\nbody of %s\n" % (subject, subject)


def open_world(top):
    """Run as root, the command works as the mail service's user."""
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o777)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666)


def make_maildir(root):
    folder(root)
    write(os.path.join(root, "dovecot-uidlist"),
          "3 V1234567 N20 G0123456789abcdef0123456789abcdef\n"
          "3 :1600000001.M1P1.host\n"
          "7 W123 :1600000002.M2P2.host\n"
          "12 :1600000003.M3P3.host\n")
    write(os.path.join(root, "dovecot-keywords"), "0 $Label1\n1 work\n")
    write(os.path.join(root, "cur", "1600000001.M1P1.host:2,S"), msg("one"),
          1600000001)
    write(os.path.join(root, "cur", "1600000002.M2P2.host:2,FRSab"),
          msg("two"), 1600000002)
    write(os.path.join(root, "cur", "1600000003.M3P3.host:2,DT"),
          msg("three"), 1600000003)
    sent = os.path.join(root, ".Sent")
    folder(sent)
    write(os.path.join(sent, "dovecot-uidlist"), "3 V555 N9\n8 :1600000010.M1.host\n")
    write(os.path.join(sent, "cur", "1600000010.M1.host:2,S"), msg("sent"),
          1600000010)


def index_state(index_path, mailbox):
    """(uidvalidity, [(uid, flags, [keywords])]) read from the index."""
    db = sqlite3.connect(index_path)
    try:
        box_id, uidvalidity = db.execute(
            "SELECT id, uidvalidity FROM mailboxes WHERE name = ?",
            (mailbox,)).fetchone()
        kw_names = dict(db.execute(
            "SELECT idx, name FROM keywords WHERE mailbox_id = ?", (box_id,)))
        msgs = []
        for uid, flags, kw in db.execute(
                "SELECT uid, flags, keywords FROM messages "
                "WHERE mailbox_id = ? ORDER BY uid", (box_id,)):
            names = []
            for byte_idx, byte in enumerate(kw or b""):
                for bit in range(8):
                    if byte & (1 << bit):
                        names.append(kw_names[byte_idx * 8 + bit])
            msgs.append((uid, flags, sorted(names)))
        return uidvalidity, msgs
    finally:
        db.close()


# flags as stored: answered 1, flagged 2, deleted 4, seen 8, draft 16
INBOX_STATE = (1234567, [(3, 8, []), (7, 11, ["$Label1", "work"]),
                         (12, 20, [])])


def setup_dirs(tmp):
    conf = os.path.join(tmp, "columba.conf")
    write(conf, "base_dir = %s/run\nstate_dir = %s/state\n" % (tmp, tmp))
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    return conf, home


def test_import_maildir_keeps_uids_flags_keywords(tmpdir_columba):
    tmp = tmpdir_columba
    conf, home = setup_dirs(tmp)
    src = os.path.join(tmp, "Maildir")
    make_maildir(src)
    open_world(tmp)

    r = run_mail("import-maildir", "-u", "alice", "-o", "home=" + home, src,
                 config=conf)
    assert r.returncode == 0, r.stderr
    assert "import-maildir: 2 mailboxes, 4 messages" in r.stdout
    index = os.path.join(home, "index.db")
    assert index_state(index, "INBOX") == INBOX_STATE
    assert index_state(index, "Sent") == (555, [(8, 8, [])])
    # UIDNEXT from the uidlist survives too
    db = sqlite3.connect(index)
    assert db.execute("SELECT uidnext FROM mailboxes WHERE name = 'INBOX'"
                      ).fetchone()[0] == 20
    db.close()
    if os.geteuid() == 0:
        # files belong to the mail service's user, not root
        assert os.stat(index).st_uid != 0


def test_export_round_trip_and_rebuild(tmpdir_columba):
    tmp = tmpdir_columba
    conf, home = setup_dirs(tmp)
    src = os.path.join(tmp, "Maildir")
    make_maildir(src)
    dest = os.path.join(tmp, "export")
    os.makedirs(dest)
    open_world(tmp)
    user = ["-u", "bob", "-o", "home=" + home]

    assert run_mail("import-maildir", *user, src, config=conf).returncode == 0
    r = run_mail("export-maildir", *user, dest, config=conf)
    assert r.returncode == 0, r.stderr
    assert "export-maildir: 2 mailboxes, 4 messages" in r.stdout
    with open(os.path.join(dest, "dovecot-uidlist")) as f:
        header = f.readline()
        uids = sorted(int(line.split()[0]) for line in f if line.strip())
    assert re.match(r"3 V1234567 N20\b", header), header
    assert uids == [3, 7, 12]
    names = os.listdir(os.path.join(dest, "cur"))
    flag_sets = sorted(n.split(":2,")[1] for n in names)
    kw = {}
    with open(os.path.join(dest, "dovecot-keywords")) as f:
        for line in f:
            idx, name = line.split()
            kw[chr(ord("a") + int(idx))] = name
    # \Seen; \Flagged \Answered \Seen + two keywords; \Draft \Deleted
    letters = sorted("".join(sorted(s)) for s in flag_sets)
    assert letters == sorted(["S", "DT", "".join(sorted("FRS" + "".join(
        k for k, v in kw.items() if v in ("$Label1", "work"))))])
    bodies = set()
    for n in names:
        with open(os.path.join(dest, "cur", n)) as f:
            bodies.add(f.read().replace("\r\n", "\n"))
    assert bodies == {msg("one"), msg("two"), msg("three")}

    # the export imports into a new user with the same state
    home2 = os.path.join(tmp, "home2")
    os.makedirs(home2)
    open_world(tmp)
    r = run_mail("import-maildir", "-u", "carol", "-o", "home=" + home2, dest,
                 config=conf)
    assert r.returncode == 0, r.stderr
    assert index_state(os.path.join(home2, "index.db"), "INBOX") == INBOX_STATE

    # rebuild: refused while the index exists, -f moves it aside
    r = run_mail("rebuild", *user, config=conf)
    assert r.returncode == 1 and "exists" in r.stderr
    r = run_mail("rebuild", "-f", *user, config=conf)
    assert r.returncode == 0, r.stderr
    assert "rebuild: 4 messages" in r.stdout
    state = index_state(os.path.join(home, "index.db"), "INBOX")
    assert state[0] == 1234567
    assert [m[0] for m in state[1]] == [3, 7, 12]
    assert [m[1] for m in state[1]] == [8, 11, 20]
    assert any(name.startswith("index.db.broken-") for name in os.listdir(home))


def test_import_mbox_and_prune(tmpdir_columba):
    tmp = tmpdir_columba
    conf, home = setup_dirs(tmp)
    mbox = os.path.join(tmp, "mbox")
    write(mbox,
          "From a@example.com Mon Jan  1 10:00:00 2024\n"
          "Subject: first\nStatus: RO\n\nhello\n>From quoted\n\n"
          "From b@example.com Tue Jan  2 10:00:00 2024\n"
          "Subject: second\nX-Status: F\n\nworld\n")
    open_world(tmp)
    user = ["-u", "dave", "-o", "home=" + home]
    r = run_mail("import-mbox", *user, mbox, "Archive", config=conf)
    assert r.returncode == 0, r.stderr
    assert "import-mbox: 1 mailboxes, 2 messages" in r.stdout
    uidvalidity, msgs = index_state(os.path.join(home, "index.db"), "Archive")
    assert [(uid, flags) for uid, flags, _ in msgs] == [(1, 8), (2, 2)]

    # the change log holds the mailboxes' creations (appends are not
    # logged): a second one, then a count limit of 1 prunes the rest
    r = run_mail("import-mbox", *user, mbox, "Old", config=conf)
    assert r.returncode == 0, r.stderr
    with open(conf, "a") as f:
        f.write("mail_index_log_max_changes = 1\n")
    r = run_mail("prune-changes", *user, config=conf)
    assert r.returncode == 0, r.stderr
    pruned = int(re.search(r"prune-changes: (\d+) entries", r.stdout).group(1))
    assert pruned >= 1
    db = sqlite3.connect(os.path.join(home, "index.db"))
    assert db.execute("SELECT count(*) FROM changes").fetchone()[0] == 1
    db.close()


def test_usage_errors(tmpdir_columba):
    conf, home = setup_dirs(tmpdir_columba)
    assert run_mail(config=None).returncode == 64
    r = run_mail("import-maildir", "/nonexistent", config=conf)
    assert r.returncode == 64 and "-u USER" in r.stderr
    r = run_mail("frobnicate", "-u", "x", config=conf)
    assert r.returncode == 64
    r = run_mail("export-maildir", "-u", "x", "-o", "novalue", "/tmp",
                 config=conf)
    assert r.returncode == 64 and "FIELD=VALUE" in r.stderr
    r = run_mail("import-mbox", "-u", "x", "-o", "home=" + home, "only-one",
                 config=conf)
    assert r.returncode == 64
    r = run_mail("export-maildir", "-u", "../x", "-o", "home=" + home, "/tmp",
                 config=conf)
    assert r.returncode == 1
    r = run_mail("import-maildir", "-u", "x", "-o", "home=" + home,
                 os.path.join(tmpdir_columba, "missing"), config=conf)
    assert r.returncode == 1 and r.stderr
    r = run_mail("rebuild", "-u", "x", config=os.path.join(tmpdir_columba, "nope"))
    assert r.returncode == 89


def test_userdb_lookup_through_master(tmpdir_columba):
    tmp = tmpdir_columba
    home = make_home_root(tmp, "homes")
    users = write_passwd_file(
        os.path.join(tmp, "users"),
        [passwd_entry("erin@example.com", "pw", os.path.join(home, "erin"))])
    server = ColumbaServer(tmp, extra_config=passwd_config(users))
    src = os.path.join(tmp, "Maildir")
    make_maildir(src)
    open_world(src)
    server.start()
    try:
        # home comes from userdb
        r = run_mail("import-maildir", "-u", "erin@example.com", src,
                     config=server.config_path)
        assert r.returncode == 0, r.stderr + server.log()
        assert index_state(os.path.join(home, "erin", "index.db"),
                           "INBOX") == INBOX_STATE
        # a user userdb does not know
        r = run_mail("export-maildir", "-u", "nobody@example.com",
                     os.path.join(tmp, "x"), config=server.config_path)
        assert r.returncode == 67, r.stderr
    finally:
        assert server.stop() == 0
