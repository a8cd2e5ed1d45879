"""passdb and userdb sql against real databases: a PostgreSQL server that
this module starts itself (initdb + pg_ctl in a temp dir, as the
unprivileged columba user when run as root, listening only on a unix
socket there) and an SQLite file. Logins go through the auth process's
client socket (authclient.py), user lookups and listings through its
auth-userdb socket."""
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from authclient import AuthClient, fields_dict
from conftest import (ColumbaServer, columba_binary, password_hash,
                      start_auth_server, stop_checked)

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_PORT = 5432  # only names the socket file: no TCP listener

USERS = [
    # userid, password, nologin, reason, allow_nets, home, uid, gid, quota
    ("alice@example.com", None, None, None, None, "/home/alice", 1000, 1000,
     "*:storage=1G"),
    ("carol@example.com", "{PLAIN}carol-pw", "y", "Moved to imap.example.net",
     None, "/home/carol", 1001, 1001, None),
    ("dave@example.com", "{PLAIN}dave-pw", None, None, "192.0.2.0/24",
     "/home/dave", 1002, 1002, None),
    ("o'hara@example.com", "{PLAIN}quote-pw", None, None, None, "/home/o",
     1003, 1003, None),
]

SCHEMA = ("CREATE TABLE users (userid TEXT PRIMARY KEY, password TEXT, "
          "nologin TEXT, reason TEXT, allow_nets TEXT, home TEXT, "
          "uid INTEGER, gid INTEGER, quota_rule TEXT)")

QUERIES = """\
# as an admin writes it for Dovecot
password_query = SELECT userid AS user, password, nologin, reason, \\
  allow_nets, home AS userdb_home, uid AS userdb_uid, gid AS userdb_gid \\
  FROM users WHERE userid = '%u'
user_query = SELECT home, uid, gid, quota_rule FROM users WHERE userid = '%u'
iterate_query = SELECT userid AS user FROM users
"""


def as_pg_user(args, **kw):
    if os.getuid() == 0:
        # PostgreSQL refuses to run as root
        args = ["runuser", "-u", "columba", "--"] + args
    return subprocess.run(args, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


class Postgres:
    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            pytest.skip("PostgreSQL server binaries not installed")
        self.dir = tempfile.mkdtemp(prefix="columba-pg-")
        os.chmod(self.dir, 0o755)
        if os.getuid() == 0:
            pwent = pwd.getpwnam("columba")
            os.chown(self.dir, pwent.pw_uid, pwent.pw_gid)
        self.data = os.path.join(self.dir, "data")
        as_pg_user([PG_BIN + "/initdb", "-D", self.data, "-A", "trust",
                    "-U", "columba", "--no-sync", "-E", "UTF8"])
        self.start()
        self.psql("CREATE DATABASE mail", db="postgres")

    def start(self):
        as_pg_user([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "-l",
                    os.path.join(self.dir, "pg.log"), "-o",
                    "-c listen_addresses='' -c unix_socket_directories=%s "
                    "-c port=%d -c fsync=off" % (self.dir, PG_PORT),
                    "start"])

    def stop(self):
        as_pg_user([PG_BIN + "/pg_ctl", "-D", self.data, "-w", "-m", "fast",
                    "stop"])

    def psql(self, sql, db="mail"):
        return as_pg_user(["psql", "-h", self.dir, "-p", str(PG_PORT), "-d",
                           db, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def sql_quote(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + v.replace("'", "''") + "'"


def insert_sql(hash_alice):
    rows = []
    for u in USERS:
        u = list(u)
        if u[0] == "alice@example.com":
            u[1] = hash_alice
        rows.append("INSERT INTO users VALUES (%s)" %
                    ", ".join(sql_quote(v) for v in u))
    return rows


@pytest.fixture(scope="module")
def alice_hash():
    return password_hash("SHA512-CRYPT", "alice-pw")


@pytest.fixture(scope="module")
def postgres(alice_hash):
    pg = Postgres()
    try:
        pg.psql(SCHEMA + ";" + ";".join(insert_sql(alice_hash)))
        yield pg
    finally:
        pg.destroy()


class Backend:
    """Where the users table lives and how the test changes it."""

    def __init__(self, kind, tmpdir, postgres=None, alice_hash=None):
        self.kind = kind
        self.pg = postgres
        conf = os.path.join(tmpdir, "columba-sql.conf.ext")
        if kind == "pgsql":
            connect = "host=%s port=%d dbname=mail user=columba maxconns=2" % (
                postgres.dir, PG_PORT)
        else:
            self.db = os.path.join(tmpdir, "users.db")
            con = sqlite3.connect(self.db)
            con.execute(SCHEMA)
            for stmt in insert_sql(alice_hash):
                con.execute(stmt)
            con.commit()
            con.close()
            os.chmod(self.db, 0o644)
            connect = self.db
        with open(conf, "w") as f:
            f.write("driver = %s\nconnect = %s\ndefault_pass_scheme = PLAIN\n%s"
                    % (kind, connect, QUERIES))
        self.conf = conf

    def execute(self, sql):
        if self.kind == "pgsql":
            self.pg.psql(sql)
        else:
            con = sqlite3.connect(self.db)
            con.execute(sql)
            con.commit()
            con.close()


def start(tmpdir, backend, extra=""):
    config = (
        "auth_failure_delay = 0\n"
        "passdb {\n  driver = sql\n  args = %s\n}\n"
        "userdb {\n  driver = sql\n  args = %s\n}\n" % (
            backend.conf, backend.conf)) + extra
    return start_auth_server(tmpdir, config)


@pytest.fixture(params=["pgsql", "sqlite"])
def sql_server(request, tmpdir_columba, alice_hash):
    pg = request.getfixturevalue("postgres") if request.param == "pgsql" else None
    backend = Backend(request.param, tmpdir_columba, pg, alice_hash)
    server = start(tmpdir_columba, backend)
    server.backend = backend
    yield server
    stop_checked(server)


def userdb_conn(server):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    # the fixture waits for the TCP listeners; the master may still be
    # binding its UNIX sockets (seen once in ~20 runs on a loaded machine)
    deadline = time.monotonic() + 10
    while not os.path.exists(server.userdb_path) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    s.connect(server.userdb_path)
    f = s.makefile("rwb")
    assert f.readline() == b"VERSION\t1\t2\n"
    assert f.readline().startswith(b"SPID\t")
    f.write(b"VERSION\t1\t0\n")
    return s, f


def test_sql_plain_logins(sql_server):
    c = AuthClient(sql_server.auth_path)
    cmd, _, fields = c.plain(1, "alice@example.com", "alice-pw")
    assert cmd == "OK", sql_server.log()
    assert fields[0] == "user=alice@example.com"
    cmd, _, fields = c.plain(2, "alice@example.com", "wrong")
    assert cmd == "FAIL" and "temp" not in fields
    cmd, _, fields = c.plain(3, "nobody@example.com", "x")
    assert cmd == "FAIL" and "temp" not in fields
    assert sql_server.wait_log("plain(nobody@example.com,127.0.0.1): unknown user")
    # the quote stays inside the query's string
    assert c.plain(4, "o'hara@example.com", "quote-pw")[0] == "OK"
    assert c.plain(5, "x' OR '1'='1", "quote-pw")[0] == "FAIL"
    cmd, _, fields = c.plain(6, "carol@example.com", "carol-pw")
    assert cmd == "FAIL"
    assert fields_dict(fields)["reason"] == "Moved to imap.example.net"
    cmd, _, fields = c.plain(7, "dave@example.com", "dave-pw")
    assert cmd == "FAIL"
    assert sql_server.wait_log("allow_nets check failed")
    cmd, _, fields = c.plain(8, "dave@example.com", "dave-pw", "secured",
                             rip="192.0.2.9", lip="192.0.2.1")
    assert cmd == "OK", fields
    log = sql_server.log()
    assert "alice-pw" not in log and "quote-pw" not in log


def test_sql_userdb_and_iterate(sql_server):
    s, f = userdb_conn(sql_server)
    f.write(b"USER\t1\tAlice@Example.com\tservice=lmtp\n"
            b"USER\t2\tnobody@example.com\tservice=lmtp\n"
            b"LIST\t3\n"
            b"LIST\t4\tuser=*@example.com\n"
            b"LIST\t5\tuser=d*\n")
    f.flush()
    replies = {}
    done = set()
    while len(done) < 3 or "1" not in replies or "2" not in replies:
        line = f.readline().decode().rstrip("\n").split("\t")
        if line[0] in ("USER", "NOTFOUND"):
            replies[line[1]] = line
        elif line[0] == "LIST":
            replies.setdefault("list" + line[1], []).append(line[2])
        elif line[0] == "DONE":
            assert line[2] == "", line
            done.add(line[1])
    user = replies["1"]
    assert user[:3] == ["USER", "1", "alice@example.com"]
    fields = fields_dict(user[3:])
    assert fields["home"] == "/home/alice" and fields["uid"] == "1000"
    assert fields["quota_rule"] == "*:storage=1G"
    assert replies["2"] == ["NOTFOUND", "2"]
    everyone = sorted(u[0] for u in USERS)
    assert sorted(replies["list3"]) == everyone
    assert sorted(replies["list4"]) == everyone
    assert replies["list5"] == ["dave@example.com"]
    s.close()


def test_sql_row_changes_are_seen(sql_server):
    """Without a cache every login asks the database."""
    c = AuthClient(sql_server.auth_path)
    sql_server.backend.execute(
        "INSERT INTO users (userid, password, home, uid, gid) VALUES "
        "('new@example.com', '{PLAIN}new-pw', '/home/new', 5, 5)")
    try:
        assert c.plain(1, "new@example.com", "new-pw")[0] == "OK"
        sql_server.backend.execute(
            "UPDATE users SET password = '{PLAIN}changed' WHERE userid = 'new@example.com'")
        assert c.plain(2, "new@example.com", "new-pw")[0] == "FAIL"
        assert c.plain(3, "new@example.com", "changed")[0] == "OK"
    finally:
        sql_server.backend.execute("DELETE FROM users WHERE userid = 'new@example.com'")


def test_pgsql_down_is_a_temporary_failure(postgres, tmpdir_columba,
                                           alice_hash):
    backend = Backend("pgsql", tmpdir_columba, postgres, alice_hash)
    server = start(tmpdir_columba, backend)
    try:
        c = AuthClient(server.auth_path)
        assert c.plain(1, "alice@example.com", "alice-pw")[0] == "OK"
        postgres.stop()
        try:
            start_t = time.monotonic()
            cmd, _, fields = c.plain(2, "alice@example.com", "alice-pw")
            assert cmd == "FAIL" and "temp" in fields, fields
            assert fields_dict(fields)["code"] == "temp_fail"
            assert time.monotonic() - start_t < 5
            # while the server is down every attempt answers at once
            cmd, _, fields = c.plain(3, "alice@example.com", "alice-pw")
            assert cmd == "FAIL" and "temp" in fields
        finally:
            postgres.start()
        # reconnects (after at most the backoff) and works again
        deadline = time.monotonic() + 15
        ok = False
        rid = 10
        while time.monotonic() < deadline and not ok:
            rid += 1
            ok = c.plain(rid, "alice@example.com", "alice-pw")[0] == "OK"
            if not ok:
                time.sleep(0.3)
        assert ok, server.log()
        assert "pgsql: " in server.log()
    finally:
        assert server.stop() == 0
        assert "Panic:" not in server.log()


def process_maps(server):
    """{service name: /proc/PID/maps} of the master and its children."""
    with open("/proc/%d/maps" % server.proc.pid) as f:
        out = {"master": f.read()}
    for pid, name in server.children().items():
        try:
            with open("/proc/%d/maps" % pid) as f:
                out[name] = f.read()
        except OSError:
            continue
    return out


def test_libpq_is_loaded_by_the_auth_process_only(sql_server):
    """libpq and its dependencies are dlopen()ed by the pgsql driver, in
    the auth process, not linked into every process (docs/performance.md:
    0.6 MiB of private relocated data per process)."""
    c = AuthClient(sql_server.auth_path)
    assert c.plain(1, "alice@example.com", "alice-pw")[0] == "OK"
    maps = process_maps(sql_server)
    assert {"master", "auth", "imap-login"} <= set(maps), maps.keys()
    for name, text in maps.items():
        loaded = "/libpq.so" in text
        want = name == "auth" and sql_server.backend.kind == "pgsql"
        assert loaded == want, (name, loaded)
        if not want:
            assert "/libgnutls.so" not in text, name


def libpq_path():
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu",
              "/usr/lib64", "/usr/lib"):
        path = os.path.join(d, "libpq.so.5")
        if os.path.exists(path):
            return os.path.realpath(path)
    return None


def test_missing_libpq_is_a_clear_error(tmpdir_columba, alice_hash):
    """Without libpq.so.5 at run time a pgsql database is a start-up error
    of the auth process naming the package, not a crash (libpq is hidden
    by a bind mount in a private mount namespace)."""
    lib = libpq_path()
    if os.geteuid() != 0 or lib is None or shutil.which("unshare") is None:
        pytest.skip("needs root, unshare and libpq.so.5")
    if subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("unshare -m not permitted here")
    conf = os.path.join(tmpdir_columba, "pgsql.conf")
    with open(conf, "w") as f:
        f.write("driver = pgsql\nconnect = host=127.0.0.1 port=1 dbname=x\n"
                "password_query = SELECT password FROM users "
                "WHERE userid = '%u'\n")
    server = ColumbaServer(tmpdir_columba, extra_config=(
        "passdb {\n  driver = sql\n  args = %s\n}\n"
        "userdb {\n  driver = static\n  args = uid=65534 gid=65534 "
        "home=/nonexistent\n}\n" % conf))
    server.proc = subprocess.Popen(
        ["unshare", "-m", "sh", "-c",
         'mount --bind /dev/null "$0" && exec "$1" -F -c "$2"',
         lib, columba_binary(), server.config_path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.wait_log(
            "driver pgsql: Cannot load the PostgreSQL client library "
            "libpq.so.5 (install the libpq5 package)"), server.log()
    finally:
        server.stop()
    log = server.log()
    assert "Panic:" not in log and "signal 11" not in log, log
