#!/usr/bin/env python3
"""Differential test against Dovecot: the ENVELOPE, BODY, BODYSTRUCTURE and
RFC822.SIZE that lib-mail computes (mail-dump) must be byte for byte those
of the installed Dovecot (doveadm fetch), for a set of hand-made broken and
edge-case messages and for every message of the corpus given.

  dovecot-diff.py MAIL_DUMP [corpus dir, message files, .tar.zst...]

Exits 77 (skipped) when doveadm is not installed or cannot be run here."""
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile


def edge_cases():
    """Messages that probe the corners where implementations differ."""
    msgs = []
    def M(s):
        if isinstance(s, str): s = s.encode('latin1')
        msgs.append(s)
    base = "From: a@b.c\nMIME-Version: 1.0\n"
    cts = ["text", "text/", "/plain", "text/plain charset=us-ascii", "text/plain;", "text/plain; charset",
     "text/plain; =x; a=b", "", "text/plain (comment); charset=utf-8", "text/plain; charset=\"utf-8\" ; format=flowed",
     "image/; name=x", "TEXT/HTML; CHARSET=US-ASCII", "text/plain; charset=US-ASCII; format=flowed",
     "text/plain; name*=utf-8''%E2%82%AC; name*0=x", "text/plain; title*0*=us-ascii'en'This%20is%20; title*1*=%2A%2Afun; title*2=\"isn't it!\"",
     "text/plain; t*0=a; t*2*=c", "text/plain; charset=\"unterminated", "text/plain; a=\"\xe9t\xe9\"",
     "text/plain; a=\"q\\\"q\\\"q\\\"q\\\"q\\\"\"", "text/plain; a=\"q\\\"q\\\"q\\\"q\\\"\"", "text/plain; charset=us-ascii; charset=utf-8",
     "application/x-stuff; name==?utf-8?Q?x?=", "text/plain; b*=''abc; b*1=d", "text/plain;charset=utf-8;format=flowed;delsp=yes",
     "text/plain; CHARSET=us-ascii", "text/plain; foo=bar", "text / plain", "text/plain ; charset = utf-8",
     "x-foo/x-bar", "message/partial; id=1; number=2", "text/plain; charset=us-ascii (comment)", "text/plain;; charset=x",
     "text/plain; charset=us-ascii bogus", "TEXT", "\t text/plain", "text/plain\n\t; charset=utf-8"]
    for ct in cts:
        M(base + "Content-Type: " + ct + "\n\nbody\n")
    # CTE and friends
    for cte in ["base64 ", "x-uuencode", "?bad", "7bit (comment)", "", "7BIT", "quoted-printable", "8bit garbage"]:
        M(base + "Content-Type: text/plain\nContent-Transfer-Encoding: " + cte + "\n\nbody\n")
    M("Content-Transfer-Encoding: base64\nContent-Description: d\n\nQUJD\n")
    M("MIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\nbody\n")
    M("Mime-Version: 1.0\nContent-ID: <x@y>\n\nbody\n")
    for cd in ["attachment", "attachment;", "", "inline; filename=a; filename=b", "ATTACHMENT; FILENAME=X",
               "attachment; filename*=utf-8''%E2%82%AC.txt; size=3", "attachment (c); filename=\"a b.txt\"", "inline\nContent-Disposition: attachment; filename=second",
               "attachment; filename=first\nContent-Disposition: inline; filename=second", "; filename=x", "attachment filename=x"]:
        M(base + "Content-Type: image/png\nContent-Disposition: " + cd + "\n\nbody\n")
    for cl in ["en", "en, fi", "", "(comment) en", "en-US; x", "en,,fi", "\xe9n"]:
        M(base + "Content-Type: text/html\nContent-Language: " + cl + "\n\nbody\n")
    for v in ["<a@b>", "\n <folded@x>", "", "  spaced  ", "\"quoted\"", "\xe9t\xe9", "a\"b\\c", "tab\there", "a\n\tb", "x\ry"]:
        M(base + "Content-Type: text/plain\nContent-ID: " + v + "\nContent-Description: " + v + "\nContent-Location: " + v + "\nContent-MD5: " + v + "\n\nbody\n")
    # addresses
    addrs = ["....@x", ".a@b", "a.@b", "a..b@c", "a . b@c", "user@", "user@dom.", "user@.dom", "<>", "user", "Mary Smith",
     "\"quoted\"", "Name <user@domain", "<@route>", "<@a,@b:u@d>", ";", "a@b c@d", "a@b,", "group: a@b", "group:;", "g: (c) ;",
     "(comment only)", "=?utf-8?q?x?= <a@b>", "\"a\\\"b\" <c@d>", "Name <u@[1.2.3.4]>", "u@d (Real Name)", "u@d (a) (b)",
     "\"\" <a@b>", "<a@b> trailing", "Name (comment) <a@b>", "a@b (unterminated", "undisclosed-recipients:;", ",a@b", ",", "",
     "Joe Q. Public <john.q.public@example.com>", "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
     "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
     "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
     "John Doe <jdoe@machine(comment).  example>", "\"quoted local\"@domain", "user@[192.0.2.1]", "r\xc3\xa9al <u@d>",
     "a@b, (c) d@e", "<a@b>, <c@d>", "a@b; c@d", "Name <a@b>, Name2 <c@d", "@b", "a@@b", "a@b@c", "<a@b", "a@b>",
     "\"unterminated <a@b>", "Name <a@b> (c)", "x <y <a@b>>", "g1: a@b;, g2: c@d;", "g1: a@b, g2: c@d;", "nogroup: a@b; x@y",
     "a@b.", "a@.b", "a.b.@c", "\t  spaced  @  dom  ", "=?iso-8859-1?q?J=F6rg?= <j@x>", "Tab\tName <a@b>", "Multi   Space <a@b>",
     "\"  lead\" <a@b>", "\"x\" \"y\" <a@b>", "x.y z <a@b>", "a@b (c\\)d)", "NUL\x00x <a@b>"]
    for a in addrs:
        M("From: " + a + "\nTo: " + a + "\n\nbody\n")
    M("From: a@b\nTo: x@y\nTo: z@w\nCc: c1@d\nCc: c2@d\nSubject: first\nSubject: second\nDate: d1\nDate: d2\nMessage-ID: <1@x>\nMessage-ID: <2@x>\nIn-Reply-To: <a>\nIn-Reply-To: <b>\n\n")
    M("From: a@b\nFrom: c@d\nSender: s1@x\nSender: s2@x\nReply-To: r1@x\nReply-To:\n\n")
    M("To: a@b\nTo:\nTo: c@d\n\n")
    for subj in ["\ttab lead", "a  b", "trail  ", "\xe9t\xe9", "q\"uote", "back\\slash", "a\n b\n\tc", "   ", "", "x\ry", "NUL\x00z", "\"\"\"\"\"", "=?utf-8?B?w6k=?="]:
        M("Subject: " + subj + "\nDate: " + subj + "\nMessage-ID: " + subj + "\nIn-Reply-To: " + subj + "\n\n")
    # structure
    def mp(boundary, parts, pre="", epi="", nl="\n"):
        s = "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"" + nl + nl + pre
        for p in parts:
            s += "--" + boundary + nl + p + nl
        s += "--" + boundary + "--" + nl + epi
        return s
    M(mp("b", ["\nx"]))
    M(mp("b---", ["Content-Type: text/plain\n\nx"]))
    M(mp("b--", ["\none", "\ntwo"]))
    M(mp("b", ["\none"], pre="preamble\n", epi="epilogue\n--b\n\nafter\n"))
    M(mp("b", ["\r\none"], nl="\r\n"))
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhello\n")
    M("Content-Type: multipart/mixed; boundary=b\n\njust text\n")
    M("Content-Type: multipart/mixed\n\n--b\n\nx\n")
    M("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n--\n\ny\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=b1\n\n--b1junk\n\ninner 1\n--b1\n\ninner 2\n--b\n\nouter 2\n--b--\n")
    M("Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\na\n--x--\n--x\n\nb\n--x--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n--b\n\nepilogue\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nSubject: no blank line\n--b\n\ntwo\n--b--\n")
    M("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b   \r\n\r\nbody\r\n--b--junk\r\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: inner\n\nhello\n\n--b--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n--b--\n")
    M("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d\nContent-Type: text/plain\n\ntext\n--d--\n")
    M("Content-Type: message/rfc822\n\nSubject: in\n\nx\n")
    M("Content-Type: message/rfc822\n\n")
    M("Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nz\n--q--\n")
    M("")
    M("\n")
    M("\nbody only")
    M("Subject: header only")
    M("Subject: a\rFrom: b\r\rbody\r")
    M("From: a@b\r\nSubject: x\r\n y\r\n\r\nbody\r\n")
    M("Subject: x\n\nnul\x00body\n")
    M("Content-Type: multipart/mixed; boundary=\"" + "0123456789"*9 + "\"\n\n--" + "0123456789"*9 + "xyz\nA: b\n\nbody\n--" + "0123456789"*9 + "--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b" + "x"*200 + "\n\nbody\n--b--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--b\n\n--b\n\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\nx\n--b--\n")
    M("Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n--b\nContent-Type: text/html\n\n<p>\n--b--")
    M("Content-Type: text/plain\n--b\n\nbody")
    M("no colon\n--b\n\n")
    M("A: b\n-")
    M("Content-Type: multipart/mixed; boundary=b\n\nx\r\n-")
    M("Content-Type: multipart/mixed; boundary=b\n\n\r")
    M("Content-Type: multipart/mixed; boundary=b\n\n--")
    s = ""
    for i in range(150):
        s += "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n" % (i, i)
    s += "\ninnermost\n"
    for i in range(150, 0, -1):
        s += "--b%d--\n" % (i-1)
    M(s)
    M("Content-Type: message/rfc822\n\n" * 150 + "innermost\n")
    M("Content-Type: multipart/digest; boundary=d\n\n--d\n\n" + "x"*10 + "\n--d--\n")
    M("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: a\n\n--d--\n--b--\n")
    M("Subject: x\n  \n \t\n\nbody")
    M(" leading space: x\n\nbody")
    M("Name  : v\nEmpty:\nSpaces:   \nFolded:\n x\n\n")
    M("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nA\n--b\r\nContent-Type: text/plain\r\n\r\nB\r\n--b--\r\n")
    return msgs


def corpus_messages(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    yield from corpus_messages([os.path.join(root, name)])
        elif path.endswith(".tar.zst"):
            if shutil.which("zstd") is None:
                print("dovecot-diff: zstd not installed, %s skipped" % path)
                continue
            data = subprocess.run(["zstd", "-dcq", "--", path], check=True,
                                  stdout=subprocess.PIPE).stdout
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar:
                    if member.isfile():
                        yield tar.extractfile(member).read()
        elif os.path.isfile(path):
            with open(path, "rb") as f:
                yield f.read()


def skip(why):
    print("dovecot-diff: skipped: " + why)
    sys.exit(77)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    mail_dump = os.path.abspath(sys.argv[1])
    doveadm = shutil.which("doveadm")
    if doveadm is None:
        skip("doveadm is not installed")
    msgs = edge_cases() + list(corpus_messages(sys.argv[2:]))
    # Dovecot ignores an empty Maildir file (it may still be being
    # written), so empty messages cannot be compared here
    msgs = [m for m in msgs if len(m) > 0]

    tmp = tempfile.mkdtemp(prefix="columba-dovecot-diff.")
    try:
        os.chmod(tmp, 0o755)
        cur = os.path.join(tmp, "Maildir", "cur")
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(tmp, "Maildir", d))
        for i, msg in enumerate(msgs):
            with open(os.path.join(cur, "m%06d:2," % i), "wb") as f:
                f.write(msg)
        conf = os.path.join(tmp, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("base_dir = %s/run\nstate_dir = %s/run\n"
                    "log_path = %s/dovecot.log\nprotocols =\nssl = no\n"
                    "mail_location = maildir:%s/Maildir:INDEX=%s/index\n"
                    "first_valid_uid = 1\n" % (tmp, tmp, tmp, tmp, tmp))
        os.makedirs(os.path.join(tmp, "run"))
        cmd = [doveadm, "-c", conf, "-f", "pager", "fetch",
               "guid size.virtual imap.envelope imap.body imap.bodystructure",
               "mailbox", "INBOX", "all"]
        env = dict(os.environ, HOME=tmp)
        if os.getuid() == 0:
            # Dovecot will not touch mail as root: run it as nobody
            for root, dirs, files in os.walk(tmp):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), 65534, 65534)
            os.chown(tmp, 65534, 65534)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534",
                   "--clear-groups"] + cmd
            env["USER"] = "nobody"
        try:
            dovecot = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            skip("doveadm could not run: %s" % e)
        if dovecot.returncode != 0 or not dovecot.stdout:
            skip("doveadm failed: " + dovecot.stderr.decode(errors="replace"))

        def split_records(out):
            # pager output separates records with a form feed line (not
            # after the last one)
            return [r.rstrip(b"\n") for r in out.split(b"\f\n")
                    if r.strip(b"\n")]

        records = split_records(dovecot.stdout)
        files = [os.path.join(cur, r.split(b"\n", 1)[0][6:].decode() + ":2,")
                 for r in records]
        mine = subprocess.run([mail_dump], input="\n".join(files).encode(),
                              stdout=subprocess.PIPE, check=True).stdout
        ours = split_records(mine)
        bad = [(a, b) for a, b in zip(records, ours) if a != b]
        if len(records) != len(msgs) or len(ours) != len(records):
            print("dovecot-diff: %d messages, Dovecot gave %d, mail-dump %d"
                  % (len(msgs), len(records), len(ours)))
            bad.append((b"", b""))
        for a, b in bad[:10]:
            print("--- Dovecot\n%s\n+++ lib-mail\n%s\n" % (
                a.decode("latin-1"), b.decode("latin-1")))
        version = ""
        if shutil.which("dovecot") is not None:
            version = subprocess.run(["dovecot", "--version"],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL).stdout
        print("dovecot-diff: %d messages compared with Dovecot %s" % (
            len(records), version.decode().strip()))
        print("%d passed, %d failed" % (len(records) - len(bad), len(bad)))
        sys.exit(1 if bad else 0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
