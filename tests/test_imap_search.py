"""IMAP SEARCH, SORT and THREAD over a real login: every search key on
hand-made messages (encoded words, base64/QP bodies in UTF-8 and
ISO-8859-1, nested multiparts), charsets and BADCHARSET, ESEARCH RETURN
options, SEARCHRES's $, WITHIN, MODSEQ, errors; SORT (+ DISPLAY, ESORT)
and THREAD (REFERENCES, ORDEREDSUBJECT) with the RFC's rules, and both
compared with Dovecot's answers on corpus messages when Dovecot is
installed."""
import imaplib
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import ColumbaServer

MSGS = [
    # 1
    b"From: Alice Smith <alice@example.com>\r\n"
    b"To: bob@example.org\r\nCc: Carol <carol@example.net>\r\n"
    b"Subject: Hello world\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n\r\n"
    b"The quick brown fox\r\njumps over the lazy dog.\r\n",
    # 2: encoded words, QP ISO-8859-1 body
    b"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: =?UTF-8?B?w5xiZXIgZGllIEJyw7xja2U=?=\r\n"
    b"Date: Tue, 2 Jan 2024 23:30:00 -0500\r\n"
    b"Message-ID: <m2@example.de>\r\nIn-Reply-To: <m1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=FC=DFe aus K=F6ln, ein sehr lan=\r\nges Wort\r\n",
    # 3: nested multipart, base64 UTF-8, custom header
    b"From: carol@example.net\r\nTo: Alice <alice@example.com>\r\n"
    b"Subject: Re: Hello world\r\nX-Custom: Special Value\r\n"
    b"Date: Wed, 3 Jan 2024 08:00:00 +0100\r\n"
    b"Message-ID: <m3@example.net>\r\nReferences: <m1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"preamble is not searched\r\n"
    b"--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
    b"--YY\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n"
    b"w4lsw6lwaGFudCBuZWVkbGUgaW4gYSBoYXlzdGFjaw==\r\n"
    b"--YY\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n"
    b"<p>Caf\xe9 \x93quoted\x94</p>\r\n--YY--\r\n"
    b"--XX\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: inner@example.org\r\nSubject: inner subject\r\n\r\n"
    b"inner body text\r\n--XX--\r\n",
    # 4: [fwd: ...] wrapper, no Date, Bcc, a reply to 3
    b"From: Dave <dave@example.com>\r\nBcc: secret@example.com\r\n"
    b"Subject: [Fwd: Re: hello   WORLD]\r\n"
    b"Message-ID: <m4@example.com>\r\n"
    b"References: <m1@example.com> <m3@example.net>\r\n\r\n"
    b"forwarded\r\n",
    # 5: KOI8-R body, no Message-ID, a reply to a missing message
    b"From: ivan@example.ru\r\nTo: =?KOI8-R?B?8NLJ18XU?= <x@example.ru>\r\n"
    b"Subject: Privet\r\nDate: Fri, 5 Jan 2024 12:00:00 +0300\r\n"
    b"In-Reply-To: <missing@example.ru>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
    b"\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n",
]


@pytest.fixture(scope="module")
def server():
    tmpdir = tempfile.mkdtemp(prefix="columba-imapsearch-")
    users = os.path.join(tmpdir, "users")
    home = os.path.join(tmpdir, "home")
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o1777)
    with open(users, "w") as f:
        for u in ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"):
            f.write("%s:{PLAIN}pw::::%s/%s::\n" % (u, home, u))
    os.chmod(users, 0o644)
    config = ("auth_failure_delay = 0\n"
              "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "userdb {\n  driver = passwd-file\n  args = %s\n}\n"
              "mail_home = %s/%%Lu\n" % (users, users, home))
    srv = ColumbaServer(tmpdir, extra_config=config).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", srv.imap_port)) as s:
            if b"AUTH=PLAIN" in s.recv(4096):
                break
        time.sleep(0.05)
    yield srv
    rc = srv.stop()
    log = srv.log()
    assert "Panic:" not in log and "Fatal:" not in log, log
    assert "runtime error" not in log and "AddressSanitizer" not in log, log
    assert rc == 0, log
    shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.fixture(scope="module")
def imap(server):
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u1", "pw")
    dates = ['"01-Jan-2024 10:00:00 +0000"', '"02-Jan-2024 10:00:00 +0000"',
             '"03-Jan-2024 10:00:00 +0000"', '"04-Jan-2024 10:00:00 +0000"',
             '"05-Jan-2024 10:00:00 +0000"']
    flags = ["(\\Seen)", "(\\Answered \\Flagged)", "(\\Deleted $Work)",
             "(\\Draft)", None]
    for m, d, fl in zip(MSGS, dates, flags):
        typ, _ = c.append("INBOX", fl, d, m)
        assert typ == "OK"
    c.select("INBOX")
    yield c
    c.logout()


def search(c, *keys, charset=None):
    typ, data = c.search(charset, *keys)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def raw(c, line):
    """Send a command line, return (untagged, tagged)."""
    tag = c._new_tag().decode()
    c.send(("%s %s\r\n" % (tag, line)).encode())
    untagged = []
    while True:
        resp = c.readline().decode("utf-8", "replace").rstrip("\r\n")
        if resp.startswith(tag + " "):
            return untagged, resp[len(tag) + 1:]
        untagged.append(resp)


@pytest.mark.parametrize("keys,expected", [
    ("ALL", [1, 2, 3, 4, 5]),
    ("SEEN", [1]), ("UNSEEN", [2, 3, 4, 5]),
    ("ANSWERED", [2]), ("UNANSWERED", [1, 3, 4, 5]),
    ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5]),
    ("DELETED", [3]), ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3, 5]),
    ("KEYWORD $Work", [3]), ("UNKEYWORD $Work", [1, 2, 4, 5]),
    # appended before this session's SELECT: all \Recent to it
    ("NEW", [2, 3, 4, 5]), ("RECENT", [1, 2, 3, 4, 5]), ("OLD", []),
    ("BEFORE 03-Jan-2024", [1, 2]), ("ON 03-Jan-2024", [3]),
    ("SINCE 04-Jan-2024", [4, 5]),
    # sent dates: the Date: header's own day, not UTC (RFC 9051)
    ("SENTON 02-Jan-2024", [2]), ("SENTBEFORE 03-Jan-2024", [1, 2]),
    ("SENTSINCE 03-Jan-2024", [3, 5]),
    ("LARGER 400", [3]), ("SMALLER 200", [4]),
    ("1:2", [1, 2]), ("2,4:*", [2, 4, 5]), ("*", [5]),
    ("UID 1:3", [1, 2, 3]), ("UID *", [5]),
    ("FROM alice", [1]), ("FROM SMITH", [1]), ("FROM jörg".encode(), [2]),
    ("FROM müller".encode(), [2]),
    ("TO alice", [2, 3]), ("CC carol", [1]), ("BCC secret", [4]),
    ("SUBJECT hello", [1, 3, 4]), ("SUBJECT brücke".encode(), [2]),
    ("HEADER X-Custom special", [3]), ('HEADER X-Custom ""', [3]),
    ("HEADER Message-ID m3", [3]), ("HEADER In-Reply-To missing", [5]),
    ("BODY fox", [1]), ("BODY köln".encode(), [2]),
    # QP soft line break joins the word
    ("BODY langes", [2]), ("BODY élÉphant".encode(), [3]),
    ("BODY café".encode(), [3]), ("BODY “quoted”".encode(), [3]),
    ("BODY preamble", []), ("BODY \"inner body\"", [3]),
    ("BODY мир".encode(), [5]), ("BODY Привет".encode(), [5]),
    ("BODY Hello", []), ("TEXT Hello", [1, 3, 4]),
    ("TEXT fox", [1]), ("TEXT \"inner subject\"", [3]),
    ("TO Привет".encode(), [5]),
    ("NOT BODY fox", [2, 3, 4, 5]),
    ("OR BODY fox BODY needle", [1, 3]),
    ("OR SEEN OR FLAGGED DRAFT", [1, 2, 4]),
    ("(SEEN) (FROM alice)", [1]), ("NOT (OR SEEN FLAGGED)", [3, 4, 5]),
    ("UNSEEN BODY needle", [3]), ("SEEN BODY needle", []),
    ("NOT NOT SEEN", [1]), ("2:3 NOT DELETED", [2]),
])
def test_search_keys(imap, keys, expected):
    if isinstance(keys, bytes):
        k, v = keys.split(b" ", 1)
        imap.literal = v
        assert search(imap, k.decode(), charset="UTF-8") == expected
    else:
        assert search(imap, keys) == expected


def test_uid_search(imap):
    typ, data = imap.uid("SEARCH", "BODY fox")
    assert typ == "OK" and data == [b"1"]


def test_legacy_charset(imap):
    imap.literal = "köln".encode("iso-8859-1")
    assert search(imap, "BODY", charset="ISO-8859-1") == [2]
    imap.literal = "мир".encode("koi8-r")
    assert search(imap, "BODY", charset="KOI8-R") == [5]
    _, tagged = raw(imap, "SEARCH CHARSET X-NOSUCH BODY x")
    assert tagged.startswith("NO [BADCHARSET (UTF-8 US-ASCII")


@pytest.mark.parametrize("line", [
    "SEARCH", "SEARCH FOO", "SEARCH BODY", "SEARCH OR SEEN",
    "SEARCH NOT", "SEARCH BEFORE 32-Jan-2024", "SEARCH LARGER x",
    "SEARCH ()", "SEARCH UID x", "SEARCH RETURN (FOO) ALL",
    "SEARCH RETURN ALL", "SEARCH HEADER \"\" x", "SEARCH CHARSET",
    "SEARCH 1:x", "SEARCH " + "(" * 100 + "ALL" + ")" * 100,
])
def test_search_errors(imap, server, line):
    # a connection of its own: the server ends sessions after many BADs
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u1", "pw")
    c.select("INBOX")
    _, tagged = raw(c, line)
    assert tagged.startswith("BAD"), tagged
    # the session goes on
    assert search(c, "SEEN") == [1]
    c.logout()


def test_esearch(imap):
    u, t = raw(imap, "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    assert t.startswith("OK")
    tag = imap.tagnum  # the raw() tag
    assert u == ['* ESEARCH (TAG "%s%d") MIN 2 MAX 5 COUNT 4 ALL 2:5' %
                 (imap.tagpre.decode(), tag - 1)]
    u, _ = raw(imap, "UID SEARCH RETURN () SEEN")
    assert u[0].endswith(") UID ALL 1")
    u, _ = raw(imap, "SEARCH RETURN (COUNT) BODY nothing-like-this")
    assert u[0].endswith(") COUNT 0")
    u, _ = raw(imap, "SEARCH RETURN (MIN) BODY nothing-like-this")
    assert u[0].endswith(")")


def test_searchres(imap):
    u, t = raw(imap, "SEARCH RETURN (SAVE) OR SEEN FLAGGED")
    assert t.startswith("OK") and u == []
    assert search(imap, "$") == [1, 2]
    assert search(imap, "$ BODY fox") == [1]
    assert search(imap, "UID $") == [1, 2]
    u, t = raw(imap, "SEARCH RETURN (SAVE MIN) UNSEEN")
    assert search(imap, "$") == [2]
    # SAVE with ALL reports and saves everything
    u, t = raw(imap, "SEARCH RETURN (SAVE ALL) DRAFT")
    assert u[0].endswith("ALL 4") and search(imap, "$") == [4]
    # a failed SAVE search empties $
    _, t = raw(imap, "SEARCH RETURN (SAVE) CHARSET X-NOSUCH BODY x")
    assert t.startswith("NO") and search(imap, "$") == []


def test_within(imap, server):
    # internal dates are in January 2024: all older than a day
    assert search(imap, "OLDER 86400") == [1, 2, 3, 4, 5]
    assert search(imap, "YOUNGER 86400") == []


def test_modseq(imap):
    u, t = raw(imap, "SEARCH MODSEQ 1")
    assert t.startswith("OK")
    assert u[0].startswith("* OK [HIGHESTMODSEQ ")
    assert u[-1].startswith("* SEARCH 1 2 3 4 5 (MODSEQ ")
    u, t = raw(imap, 'SEARCH MODSEQ "/flags/\\\\Seen" all 1 SEEN')
    assert t.startswith("OK") and u[-1].startswith("* SEARCH 1 (MODSEQ ")


def test_rev2_esearch(server):
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u1", "pw")
    u, _ = raw(c, "ENABLE IMAP4rev2")
    assert u == ["* ENABLED IMAP4rev2"], u
    c.select("INBOX")
    u, t = raw(c, "SEARCH SEEN")
    assert t.startswith("OK") and u[-1].endswith(") ALL 1"), u
    c.logout()


@pytest.mark.parametrize("crit,expected", [
    ("(ARRIVAL)", [1, 2, 3, 4, 5]),
    ("(REVERSE ARRIVAL)", [5, 4, 3, 2, 1]),
    # 4 has no Date: its internal date counts
    ("(DATE)", [1, 2, 3, 4, 5]),
    ("(SUBJECT)", [1, 3, 4, 5, 2]),
    ("(SUBJECT REVERSE DATE)", [4, 3, 1, 5, 2]),
    ("(FROM)", [1, 3, 4, 5, 2]),
    ("(TO)", [4, 2, 3, 1, 5]),
    ("(CC)", [2, 3, 4, 5, 1]),
    ("(SIZE)", [4, 1, 5, 2, 3]),
    ("(DISPLAYFROM)", [1, 3, 4, 5, 2]),
    # "Alice" sorts before "alice@example.com"
    ("(DISPLAYTO)", [4, 3, 2, 1, 5]),
])
def test_sort(imap, crit, expected):
    typ, data = imap.sort(crit, "UTF-8", "ALL")
    assert typ == "OK", data
    got = [int(x) for x in data[0].split()]
    assert sorted(got) == [1, 2, 3, 4, 5]
    assert got == expected


def test_sort_esort_and_errors(imap, server):
    u, t = raw(imap, "SORT RETURN (MIN MAX COUNT ALL) (REVERSE ARRIVAL) "
               "UTF-8 NOT DELETED")
    assert t.startswith("OK")
    assert u[0].endswith(") MIN 5 MAX 1 COUNT 4 ALL 5,4,2,1"), u
    u, t = raw(imap, "UID SORT (SIZE) UTF-8 1:3")
    assert u == ["* SORT 1 2 3"]
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
    imap.login("u1", "pw")
    imap.select("INBOX")
    for bad in ("SORT () UTF-8 ALL", "SORT (FOO) UTF-8 ALL",
                "SORT (REVERSE) UTF-8 ALL", "SORT (DATE)", "SORT DATE UTF-8 ALL"):
        _, t = raw(imap, bad)
        assert t.startswith("BAD"), (bad, t)
    _, t = raw(imap, "SORT (DATE) X-NOSUCH ALL")
    assert t.startswith("NO [BADCHARSET")


def test_thread(imap):
    typ, data = imap.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK"
    # hello world: 1, then 3 4 as its children (by date); then Über (2,
    # sent 3 Jan 04:30 UTC), then Privet (5); nested as RFC 5256's example
    assert data == [b"(1 (3)(4))(2)(5)"]
    typ, data = imap.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK"
    # 2 and 3 reply to 1, 4 to 3; 5's parent is missing (pruned)
    assert data == [b"(1 (2)(3 4))(5)"]
    typ, data = imap.uid("THREAD", "REFERENCES", "UTF-8", "NOT 1")
    # without 1: 2 and 3 share the missing parent <m1>, a dummy kept at
    # the root because it has two children (RFC 5256 (3)(B))
    assert data == [b"((2)(3 4))(5)"]
    u, t = raw(imap, "THREAD FOO UTF-8 ALL")
    assert t.startswith("BAD")
    u, t = raw(imap, "THREAD REFERENCES UTF-8 BODY nothing-like-this")
    assert u == ["* THREAD"] and t.startswith("OK")


def test_base_subject_threads(server):
    """RFC 5256's subject rules: leaders, blobs, trailers, [fwd:]."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u2", "pw")
    subjects = ["Meeting", "Re: meeting", "RE: [list] Re: Meeting (fwd)",
                "[fwd: meeting]", "Fwd: [x]  meeting ", "[list]",
                "Re: [list]", "Other"]
    for i, s in enumerate(subjects):
        m = ("From: a@b\r\nSubject: %s\r\nDate: %d Feb 2024 10:00:00 +0000\r\n"
             "Message-ID: <s%d@b>\r\n\r\nx\r\n" % (s, i + 1, i)).encode()
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")
    typ, data = c.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data == [b"(1 (2)(3)(4)(5))(6 7)(8)"], data
    typ, data = c.thread("REFERENCES", "UTF-8", "ALL")
    assert data == [b"(1 (2)(3)(4)(5))(6 7)(8)"], data
    typ, data = c.sort("(SUBJECT)", "UTF-8", "ALL")
    # "[LIST]" stays (nothing would be left without the blob); '[' sorts
    # after letters
    assert data == [b"1 2 3 4 5 8 6 7"], data
    c.logout()


def test_thread_references_dummy_order_and_nontext_parts(server):
    """RFC 5256 REFERENCES step 6 sorts the top level again: a dummy
    that step 5 filled with an older message sorts by that (its first
    child). BODY/TEXT search text and message parts only."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u4", "pw")
    msgs = [
        # 1, 2: replies to a message not in the mailbox: a dummy root
        ("foo", "4", "In-Reply-To: <x@b>\r\n"),
        ("Re: foo", "5", "In-Reply-To: <x@b>\r\n"),
        # 3: the oldest, same base subject: joins the dummy (step 5)
        ("foo", "1", ""),
        ("bar", "2", ""),
    ]
    for i, (subj, day, extra) in enumerate(msgs):
        m = ("From: a@b\r\nSubject: %s\r\nDate: %s Feb 2024 10:00:00 +0000"
             "\r\nMessage-ID: <t%d@b>\r\n%s\r\nx\r\n" %
             (subj, day, i, extra)).encode()
        assert c.append("INBOX", None, None, m)[0] == "OK"
    # 5: the word only in a signature (application/) and in a base64
    # attachment; 6: in a text/plain part; 7: in a message/ part
    sig = (b"From: a@b\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/signed; boundary=B\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
           b"--B\r\nContent-Type: application/pgp-signature\r\n\r\n"
           b"Version: GnuPG v1 (GNU/Zorblax)\r\n"
           b"--B\r\nContent-Type: application/octet-stream; name=\"z.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\nWm9yYmxheA==\r\n"
           b"--B--\r\n")
    txt = (b"From: a@b\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
           b"--B\r\nContent-Type: text/x-weird\r\n\r\nzorblax\r\n--B--\r\n")
    msg = (b"From: a@b\r\nSubject: d\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: message/delivery-status\r\n\r\n"
           b"Reporting-MTA: dns; zorblax.example\r\n")
    for m in (sig, txt, msg):
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")
    typ, data = c.thread("REFERENCES", "UTF-8", "1:4")
    assert data == [b"((3)(1)(2))(4)"], data
    assert search(c, "BODY zorblax") == [6, 7]
    assert search(c, "TEXT zorblax") == [6, 7]
    # a non-text part's MIME header is still text of the message
    assert search(c, "TEXT z.bin") == [5]
    c.logout()


FIELD_MSGS = [
    # 1: encoded words in Subject and From, a To list folded over lines
    b"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@vm1.ulg.ac.be>\r\n"
    b"To: alice@example.com,\r\n\t\"Bob B.\" <bob@example.org>\r\n"
    b"Subject: =?UTF-8?B?w5xiZXIgZGllIEJyw7xja2U=?= =?UTF-8?Q?_re?=\r\n"
    b"\r\nbody\r\n",
    # 2: two Subject fields, an empty Cc
    b"From: carol@example.net\r\nSubject: first part\r\n"
    b"Cc:\r\nSubject: second\r\n\r\nbody\r\n",
    # 3: a folded Subject
    b"From: dave@example.com\r\nSubject: a long\r\n  folded subject\r\n"
    b"\r\nbody\r\n",
    # 4: raw UTF-8 in the header
    "From: Jörg <joerg@example.de>\r\nSubject: Grüße aus Köln\r\n"
    "\r\nbody\r\n".encode(),
    # 5: raw 8-bit ISO-8859-1: each invalid byte is U+FFFD
    b"From: x@example.com\r\nSubject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n",
    # 6: no Subject; Bcc; an unknown charset and a "=?" that is no word
    b"From: =?x-unknown?Q?Mystery?= <m@example.com>\r\n"
    b"Bcc: secret@example.com\r\nX-Note: =?not a word\r\n\r\nbody\r\n",
    # 7: an empty Subject, a "=?" in it that is no encoded word
    b"From: y@example.com\r\nSubject: 50% =?off\r\nSubject:\r\n"
    b"\r\nbody\r\n",
]

FIELD_QUERIES = [
    ('SUBJECT "re"', [1]),
    ('SUBJECT "br\u00fccke re"', [1]),
    ('SUBJECT "\u00fcber"', [1]),
    ('SUBJECT "first"', [2]), ('SUBJECT "second"', [2]),
    # two fields never join into one value
    ('SUBJECT "part second"', []), ('SUBJECT "partsecond"', []),
    ('SUBJECT "long  folded"', [3]), ('SUBJECT "long folded"', []),
    ('SUBJECT "GR\u00dc\u00dfE AUS"', [4]), ('SUBJECT "gruesse"', []),
    ('SUBJECT "caf\ufffd cr"', [5]), ('SUBJECT "cafe"', []),
    ('SUBJECT "=?off"', [7]), ('SUBJECT "50%"', [7]),
    # an empty string matches every message with the field
    ('SUBJECT ""', [1, 2, 3, 4, 5, 7]), ('NOT SUBJECT ""', [6]),
    ('HEADER SUBJECT ""', [1, 2, 3, 4, 5, 7]),
    ('HEADER SUBJECT "SeCoNd"', [2]),
    ('FROM "andr\u00e9 pirard"', [1]), ('FROM "<pirard@vm1"', [1]),
    ('FROM "j\u00f6rg <joerg"', [4]), ('FROM "mystery"', [6]),
    ('FROM "example"', [2, 3, 4, 5, 6, 7]),
    # address lists in their normalised form, as Dovecot
    ('TO "b.\\" <bob@example.org>"', [1]), ('TO "bob b. <bob"', []),
    ('TO "alice@example.com, "', [1]),
    ('CC ""', [2]), ('CC "x"', []), ('BCC "secret"', [6]),
    ('OR SUBJECT second FROM mystery', [2, 6]),
    ('SUBJECT re FROM "andr\u00e9"', [1]),
    ('SUBJECT re NOT FROM dave', [1]),
    # a header key decided before the body is read stays decided (the
    # answer was empty before, whatever the header held)
    ('SUBJECT re BODY body', [1]),
    ('NOT SUBJECT re BODY body', [2, 3, 4, 5, 6, 7]),
    ('OR SUBJECT second BODY nothing', [2]),
    ('FROM x@example.com HEADER X-Note ""', []),
    ('BCC secret HEADER X-Note "=?"', [6]),
    ('1:3 SUBJECT s', [2, 3]),
    ('HEADER X-Note "=?not"', [6]),
]


def raw_utf8(c, line):
    """raw() with each quoted string that is not ASCII sent as a
    synchronizing literal."""
    import re
    tag = c._new_tag().decode()
    parts = re.split(r'("[^"]*")', line)
    out = (tag + " ").encode()
    for p in parts:
        if p.startswith('"') and not p.isascii():
            data = p[1:-1].encode()
            c.send(out + b"{%d}\r\n" % len(data))
            assert c.readline().startswith(b"+")
            out = data
        else:
            out += p.encode()
    c.send(out + b"\r\n")
    untagged = []
    while True:
        resp = c.readline().decode("utf-8", "replace").rstrip("\r\n")
        if resp.startswith(tag + " "):
            return untagged, resp[len(tag) + 1:]
        untagged.append(resp)


def index_db(server, user):
    return sqlite3.connect(os.path.join(server.dir, "home", user, "index.db"),
                           timeout=30)


def test_search_stored_fields(server):
    """SUBJECT, FROM, TO, CC and BCC are searched in the form stored when
    a message is saved (message_search); messages saved before the index
    kept it, or with another version of it, are searched from the cached
    header block instead and get their rows then; the answers are the
    same either way, and COPY takes the rows along."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u8", "pw")
    for m in FIELD_MSGS:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")

    def run_all():
        got = []
        for q, _ in FIELD_QUERIES:
            u, t = raw_utf8(c, "SEARCH CHARSET UTF-8 " + q)
            assert t.startswith("OK"), (q, t)
            assert len(u) == 1 and u[0].startswith("* SEARCH"), (q, u)
            got.append((q, [int(x) for x in u[0].split()[2:]]))
        return got

    expected = [(q, want) for q, want in FIELD_QUERIES]
    assert run_all() == expected
    db = index_db(server, "u8")
    rows = db.execute("SELECT uid, version FROM message_search "
                      "ORDER BY uid").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(FIELD_MSGS) + 1))
    version = rows[0][1]
    assert all(r[1] == version for r in rows)
    subj = db.execute("SELECT hdr_subject, hdr_cc FROM message_search "
                      "WHERE uid = 2").fetchone()
    assert subj == (b"FIRST PART\0SECOND", b"")

    # as if saved before the table existed (1-3) or folded with other
    # Unicode data (4-7): searched from the header blocks, stored again
    db.execute("DELETE FROM message_search WHERE uid <= 3")
    db.execute("UPDATE message_search SET version = 1, hdr_subject = NULL, "
               "hdr_from = NULL WHERE uid > 3")
    db.commit()
    assert run_all() == expected
    rows = db.execute("SELECT uid, version FROM message_search "
                      "ORDER BY uid").fetchall()
    assert rows == [(uid, version)
                    for uid in range(1, len(FIELD_MSGS) + 1)]
    assert run_all() == expected

    # a copy has the rows too
    assert c.create("Other")[0] == "OK"
    assert c.copy("1:*", "Other")[0] == "OK"
    (other_id,) = db.execute("SELECT id FROM mailboxes "
                             "WHERE name = 'Other'").fetchone()
    assert db.execute("SELECT count(*) FROM message_search "
                      "WHERE mailbox_id = ? AND version = ?",
                      (other_id, version)).fetchone()[0] == len(FIELD_MSGS)
    c.select("Other")
    assert run_all() == expected
    # and expunged messages lose theirs
    c.store("1:*", "+FLAGS", "(\\Deleted)")
    c.expunge()
    assert db.execute("SELECT count(*) FROM message_search "
                      "WHERE mailbox_id = ?", (other_id,)).fetchone()[0] == 0
    db.close()
    c.logout()


def utf8_msg(subject, body, extra=""):
    return ("From: a@b\r\nSubject: %s\r\nMIME-Version: 1.0\r\n%s"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" %
            (subject, extra, body)).encode()


def test_unicode_casemap(server):
    """I18NLEVEL=1: SEARCH and SORT use i;unicode-casemap (RFC 5051):
    every character titlecased, then NFKD, then compared as octets."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u5", "pw")
    msgs = [
        # 1: precomposed, 2: decomposed (A + ring, o + diaeresis)
        utf8_msg("\u00c5ngstr\u00f6m", "Stra\u00dfe in K\u00f6ln"),
        utf8_msg("A\u030angstro\u0308m", "\ufb01nal \u01c6ungla"),
        # final sigma, tonos, circled digit
        utf8_msg("\u03c3\u03bf\u03c6\u03cc\u03c2", "\u03a3\u039f\u03a6\u039f\u03a3 \u2460"),
        utf8_msg("Zebra", "plain ascii"),
        # an encoded word: decoded before folding
        utf8_msg("=?UTF-8?B?w4VORw==?=", "\uff21\uff22\uff23"),
    ]
    for m in msgs:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")

    def s(*keys):
        return search(c, *keys, charset="UTF-8")

    def lit(key, value):
        c.literal = value.encode()
        return s(key)

    assert lit("SUBJECT", "\u00e5ngstr\u00f6m") == [1, 2]
    assert lit("SUBJECT", "A\u030aNGSTRO\u0308M") == [1, 2]
    # ANGSTROM SIGN: NFKD is A + ring (Dovecot 2.3 finds nothing here)
    assert lit("SUBJECT", "\u212bng") == [1, 2, 5]
    # German sharp s has no simple titlecase: not "SS"
    assert lit("BODY", "STRA\u00dfE") == [1]
    assert s("BODY", "STRASSE") == []
    # U+FB01 decomposes to a small "fi" after titlecasing (RFC 5051 as
    # Dovecot): the ligature finds itself, "FI" does not find it
    assert lit("BODY", "\ufb01NAL") == [2]
    assert s("BODY", "final") == []
    # U+01C6, U+01C5 and U+01C4 all become D, z, caron
    assert lit("BODY", "\u01c4ungla") == [2]
    assert lit("BODY", "\u01c5UNGLA") == [2]
    # sigma and final sigma; the accent is kept (NFKD, not stripped)
    assert lit("SUBJECT", "\u03a3\u039f\u03a6\u038c\u03a3") == [3]
    assert lit("SUBJECT", "\u03c3\u03bf\u03c6\u03bf\u03c3") == []
    assert lit("BODY", "\u03c3\u03bf\u03c6\u03bf\u03c2") == [3]
    # compatibility decompositions: circled one, fullwidth letters
    assert s("BODY", "1") == [3]
    assert s("BODY", "abc") == [5]
    assert lit("TEXT", "\uff3a\uff25\uff22\uff32\uff21") == [4]
    # another charset: converted, then the same canonical form
    c.literal = "\u00e5ngstr\u00f6m".encode("iso-8859-1")
    assert search(c, "SUBJECT", charset="ISO-8859-1") == [1, 2]
    # SORT: i;octet on the canonical forms, so the precomposed and the
    # decomposed subject are equal ("A" + ring sorts before "Z", Greek
    # after); ties by sequence number (Dovecot's answers)
    typ, data = c.sort("(SUBJECT)", "UTF-8", "ALL")
    assert data == [b"5 1 2 4 3"], data
    typ, data = c.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")
    assert data == [b"3 4 1 2 5"], data
    c.logout()


def test_search_body_pieces(server):
    """A character cut between two reads of the message, single-part and
    multipart bodies of more than one read, a match across the cut."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u6", "pw")
    hdr = utf8_msg("big", "")[:-2]
    msgs = []
    for cut in range(28, 36):
        # the needle "x\u00e9y" straddles byte 2^15 + cut - 32 (the
        # first read is 32 KiB) in one of them, with its two bytes apart
        # in another
        pad = b"a" * (32768 - len(hdr) + cut - 32)
        msgs.append(hdr + pad + "x\u00e9y end".encode() + b"\r\n")
    mp = (b"From: a@b\r\nSubject: mp\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
          b"b" * 40000 + "x\u00e9y\r\n".encode() + b"--B--\r\n")
    msgs.append(mp)
    for m in msgs:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")
    c.literal = "X\u00c9Y END".encode()
    assert search(c, "BODY", charset="UTF-8") == list(range(1, 9))
    c.literal = "x\u00e9y".encode()
    assert search(c, "BODY", charset="UTF-8") == list(range(1, 10))
    assert search(c, "BODY", "aaaaaaaaaaaaaaaaaaaaaaax") == list(range(1, 9))
    assert search(c, "NOT", "BODY", "zzz") == list(range(1, 10))
    # invalid UTF-8 in a search string: a protocol error, not a crash
    _, t = raw(c, "SEARCH CHARSET UTF-8 BODY \"\xff\"")
    assert t.startswith("BAD") or t.startswith("NO"), t
    c.logout()


def test_search_body_root_header_and_ascii_charsets(server):
    """BODY alone: the root header's MIME fields among many others (folded,
    after long non-MIME fields, CRLF and LF), a single-byte charset whose
    ASCII runs skip iconv, windows-1258 (a letter and the combining mark
    after it compose), a match after the first 4 KiB slice, a word found
    early with more parts after it."""
    c = imaplib.IMAP4("127.0.0.1", server.imap_port)
    c.login("u7", "pw")
    junk = "".join("X-Junk-%d: %s\r\n" % (i, "v" * 70) for i in range(80))
    msgs = [
        # 1: multipart, Content-Type folded after 6 KiB of other fields
        ("From: a@b\r\n" + junk + "Subject: mp\r\nContent-Type: multipart/"
         "mixed;\r\n\tboundary=\"B\"\r\nX-After: y\r\nMIME-Version: 1.0\r\n"
         "\r\n--B\r\nContent-Type: text/plain\r\n\r\nalpha the\r\n--B\r\n"
         "Content-Type: text/plain; charset=windows-1252\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         "caf=E9 " + "pad " * 1500 + "na=EFve zulu\r\n--B--\r\n").encode(),
        # 2: LF only, iso-8859-1 single part, the word after 4 KiB
        ("From: a@b\nX-Long: " + "w" * 5000 + "\nContent-Type: text/plain;"
         " charset=iso-8859-1\n\n" + "b " * 3000 + "\xe9t\xe9 zulu\n"
         ).encode("latin-1"),
        # 3: windows-1258: "a" + combining acute (0xEC) composes
        (b"From: a@b\r\nContent-Type: text/plain; charset=windows-1258\r\n"
         b"\r\nxa\xecy zulu\r\n"),
        # 4: no MIME fields in the header: not MIME, searched as text
        ("From: a@b\r\n" + junk + "\r\nplain zulu the\r\n").encode(),
    ]
    for m in msgs:
        assert c.append("INBOX", None, None, m)[0] == "OK"
    c.select("INBOX")
    assert search(c, "BODY", "zulu") == [1, 2, 3, 4]
    assert search(c, "BODY", "the") == [1, 4]
    assert search(c, "BODY", "vvvv") == []
    assert search(c, "BODY", "boundary") == []
    c.literal = "caf\u00e9 pad".encode()
    assert search(c, "BODY", charset="UTF-8") == [1]
    c.literal = "NA\u00cfVE".encode()
    assert search(c, "BODY", charset="UTF-8") == [1]
    c.literal = "b \u00e9t\u00e9 ZULU".encode()
    assert search(c, "BODY", charset="UTF-8") == [2]
    c.literal = "x\u00e1y".encode()
    assert search(c, "BODY", charset="UTF-8") == [3]
    # with a header key the parser sees the whole header again
    assert search(c, "BODY", "zulu", "HEADER", "X-After", "y") == [1]
    assert search(c, "TEXT", "vvvv") == [1, 4]
    c.logout()


# --- comparison with Dovecot ---

CORPUS = "/work/shared/corpus/spamassassin-corpus.tar.zst"
COMPARE_COUNT = 400


def corpus_sample():
    raw_tar = subprocess.run(["zstd", "-dc", CORPUS], capture_output=True,
                             check=True).stdout
    msgs = []
    with tarfile.open(fileobj=io.BytesIO(raw_tar)) as tar:
        for m in tar:
            if m.isfile() and len(msgs) < COMPARE_COUNT:
                data = tar.extractfile(m).read()
                if data:
                    msgs.append(data.replace(b"\r\n", b"\n")
                                .replace(b"\n", b"\r\n"))
    return msgs


class Dovecot:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "dovecot")
        os.makedirs(os.path.join(self.dir, "run"))
        os.chmod(tmp, 0o755)
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("base_dir = %s/run\nstate_dir = %s/run\n"
                    "log_path = %s/dovecot.log\nprotocols = imap\n"
                    "ssl = no\nmail_location = maildir:%s/Maildir\n"
                    "first_valid_uid = 1\n" % ((self.dir,) * 4))
        cmd = ["doveadm", "-c", conf, "exec", "imap"]
        env = dict(os.environ, HOME=self.dir)
        if os.getuid() == 0:
            for root, dirs, files in os.walk(self.dir):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), 65534, 65534)
            os.chown(self.dir, 65534, 65534)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534",
                   "--clear-groups"] + cmd
            env["USER"] = "nobody"
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        assert self.p.stdout.readline().startswith(b"* PREAUTH")
        self.n = 0

    def command(self, line, literal=None):
        self.n += 1
        tag = b"d%d" % self.n
        if literal is not None:
            self.p.stdin.write(tag + b" " + line + b" {%d+}\r\n" % len(literal)
                               + literal + b"\r\n")
        else:
            self.p.stdin.write(tag + b" " + line + b"\r\n")
        self.p.stdin.flush()
        out = []
        while True:
            resp = self.p.stdout.readline()
            assert resp, "dovecot closed"
            if resp.startswith(tag + b" "):
                assert resp.startswith(tag + b" OK"), resp
                return out
            out.append(resp.rstrip(b"\r\n"))

    def close(self):
        self.command(b"LOGOUT")
        self.p.wait(10)


@pytest.mark.skipif(shutil.which("doveadm") is None or
                    shutil.which("zstd") is None,
                    reason="Dovecot (dovecot-imapd) or zstd not installed")
def test_compare_with_dovecot(server):
    msgs = corpus_sample()
    tmp = tempfile.mkdtemp(prefix="columba-search-dovecot-")
    dove = Dovecot(tmp)
    try:
        c = imaplib.IMAP4("127.0.0.1", server.imap_port)
        c.login("u3", "pw")
        for i, m in enumerate(msgs):
            date = '"%02d-Mar-2024 %02d:%02d:00 +0000"' % (
                1 + i % 28, i % 24, i % 60)
            assert c.append("INBOX", None, date, m)[0] == "OK"
            dove.command(b"APPEND INBOX " + date.encode(), m)
        c.select("INBOX")
        dove.command(b"SELECT INBOX")
        queries = [
            b"SORT (SUBJECT) UTF-8 ALL", b"SORT (REVERSE DATE) UTF-8 ALL",
            b"SORT (FROM) UTF-8 ALL", b"SORT (TO) UTF-8 ALL",
            b"SORT (CC DATE) UTF-8 ALL", b"SORT (SIZE) UTF-8 ALL",
            b"SORT (ARRIVAL) UTF-8 ALL",
            b"THREAD ORDEREDSUBJECT UTF-8 ALL",
            b"THREAD REFERENCES UTF-8 ALL",
            # "Linux" is in many PGP signatures (application/ parts)
            b"SEARCH BODY Linux", b"SEARCH TEXT Linux",
            b"SEARCH BODY money",
            b"SEARCH FROM yahoo", b"SEARCH SUBJECT re",
            b"SEARCH HEADER X-Mailer outlook", b"SEARCH LARGER 5000",
            b"SEARCH OR BODY click SUBJECT free",
        ]
        # the header fields SEARCH keeps per message (message_search)
        field_queries = [
            b"SEARCH SUBJECT re", b"SEARCH FROM yahoo",
            b'SEARCH SUBJECT "re:"', b'SEARCH SUBJECT ""',
            b"SEARCH TO linux", b'SEARCH FROM "@"', b'SEARCH CC ""',
            b"SEARCH CC spamassassin", b"SEARCH BCC a",
            b"SEARCH OR FROM yahoo TO ie", b"SEARCH SUBJECT the BODY the",
        ]
        mismatches = []
        for q in queries + field_queries:
            _, t = raw(c, q.decode())
            want = dove.command(q)
            u, t = raw(c, q.decode())
            assert t.startswith("OK"), (q, t)
            if [x.encode() for x in u] != want:
                mismatches.append((q, u[0][:200], want[0][:200]))
        assert not mismatches, mismatches
        # the same from the cached header blocks, as for messages saved
        # before the index kept the fields
        db = index_db(server, "u3")
        db.execute("DELETE FROM message_search")
        db.commit()
        db.close()
        for q in field_queries:
            u, t = raw(c, q.decode())
            assert t.startswith("OK"), (q, t)
            if [x.encode() for x in u] != dove.command(q):
                mismatches.append((q, u[0][:200]))
        assert not mismatches, mismatches
        c.logout()
    finally:
        dove.close()
        shutil.rmtree(tmp, ignore_errors=True)
