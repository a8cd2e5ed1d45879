#!/usr/bin/python3
"""SEARCH BODY on a 20,000-message mailbox built from the corpus, without
a full-text index, Columba against Dovecot on the same machine and the
same messages. Usage:
  COLUMBA_BUILD=build-x bench/search-body.py [COUNT] [NEEDLE...]
Prints one line per run: server, needle, matches, seconds."""
import imaplib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
from conftest import ColumbaServer, columba_binary  # noqa: E402

CORPUS = "/work/shared/corpus/spamassassin-corpus.tar.zst"
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
NEEDLES = sys.argv[2:] or ["xyzzyplugh", "viagra", "Linux"]
RUNS = 3


def corpus_messages():
    raw = subprocess.run(["zstd", "-dc", CORPUS], capture_output=True,
                         check=True).stdout
    msgs = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar:
            if m.isfile():
                data = tar.extractfile(m).read()
                if data:
                    msgs.append(data)
    return msgs


def make_maildir(root, msgs):
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, d))
    for i in range(COUNT):
        with open(os.path.join(root, "cur", "%d.M%dP1.bench:2," %
                               (1600000000 + i, i)), "wb") as f:
            f.write(msgs[i % len(msgs)])


def open_world(top):
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o777)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666)


def bench_columba(tmp, maildir):
    users = os.path.join(tmp, "users")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    with open(users, "w") as f:
        f.write("u1:{PLAIN}pw::::%s/u1::\n" % home)
    config = ("auth_failure_delay = 0\n"
              "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "mail_home = %s/%%Lu\n" % (users, users, home))
    open_world(tmp)
    srv = ColumbaServer(tmp, extra_config=config).start()
    try:
        t0 = time.monotonic()
        os.makedirs(os.path.join(home, "u1"), exist_ok=True)
        open_world(home)
        r = subprocess.run([columba_binary(), "mail", "import-maildir", "-c",
                            srv.config_path, "-u", "u1", "-o",
                            "home=" + os.path.join(home, "u1"), maildir],
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stderr
        print("columba import: %s (%.1f s)" % (r.stdout.strip(),
                                               time.monotonic() - t0))
        c = imaplib.IMAP4("127.0.0.1", srv.imap_port)
        c.login("u1", "pw")
        c.select("INBOX")
        for needle in NEEDLES:
            for _ in range(RUNS):
                t0 = time.monotonic()
                typ, data = c.search(None, "BODY", needle)
                dt = time.monotonic() - t0
                assert typ == "OK"
                print("columba BODY %s: %d matches, %.3f s" %
                      (needle, len(data[0].split()), dt))
        c.logout()
    finally:
        srv.stop()


def bench_dovecot(tmp, maildir):
    dove = os.path.join(tmp, "dovecot")
    os.makedirs(os.path.join(dove, "run"))
    shutil.copytree(maildir, os.path.join(dove, "Maildir"))
    conf = os.path.join(dove, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("base_dir = %s/run\nstate_dir = %s/run\n"
                "log_path = %s/dovecot.log\nprotocols = imap\nssl = no\n"
                "mail_location = maildir:%s/Maildir:INDEX=%s/index\n"
                "first_valid_uid = 1\n" % (dove, dove, dove, dove, dove))
    cmd = ["doveadm", "-c", conf, "exec", "imap"]
    env = dict(os.environ, HOME=dove)
    if os.getuid() == 0:
        for root, dirs, files in os.walk(dove):
            for name in dirs + files:
                os.chown(os.path.join(root, name), 65534, 65534)
        os.chown(dove, 65534, 65534)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534",
               "--clear-groups"] + cmd
        env["USER"] = "nobody"
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)

    def command(line):
        p.stdin.write(line.encode() + b"\r\n")
        p.stdin.flush()
        tag = line.split()[0].encode()
        out = []
        while True:
            resp = p.stdout.readline()
            assert resp, "dovecot closed"
            out.append(resp)
            if resp.startswith(tag + b" "):
                return out

    p.stdout.readline()
    t0 = time.monotonic()
    command("s SELECT INBOX")
    print("dovecot first SELECT (index build): %.1f s" %
          (time.monotonic() - t0))
    n = 0
    for needle in NEEDLES:
        for _ in range(RUNS):
            n += 1
            t0 = time.monotonic()
            out = command("b%d SEARCH BODY %s" % (n, needle))
            dt = time.monotonic() - t0
            hits = [x for x in out if x.startswith(b"* SEARCH")]
            print("dovecot BODY %s: %d matches, %.3f s" %
                  (needle, len(hits[0].split()) - 2, dt))
    command("z LOGOUT")
    p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="columba-bench-search.")
    os.chmod(tmp, 0o755)
    try:
        maildir = os.path.join(tmp, "Maildir")
        make_maildir(maildir, corpus_messages())
        size = sum(os.path.getsize(os.path.join(maildir, "cur", n))
                   for n in os.listdir(os.path.join(maildir, "cur")))
        print("%d messages, %.1f MB" % (COUNT, size / 1e6))
        bench_columba(os.path.join(tmp, "c"), maildir)
        if shutil.which("doveadm"):
            bench_dovecot(tmp, maildir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
