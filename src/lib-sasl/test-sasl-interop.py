#!/usr/bin/env python3
"""Interoperability of lib-sasl with an independent implementation.

Python's standard library has no SCRAM, so this file implements SCRAM
(RFC 5802, RFC 7677), SASLprep (RFC 4013, on the RFC 3454 tables of the
`stringprep` module and Unicode 3.2 NFKC), CRAM-MD5 (RFC 2195, including
Dovecot's stored HMAC context, with an MD5 compression function of its own)
and PLAIN straight from the RFCs with hashlib/hmac, and plays each role
against lib-sasl through sasl-interop-helper. It checks that both sides
accept each other, that exchanges with fixed nonces are byte-identical
whichever implementation sits on which side, and that each side rejects
what the other tampered with.

Usage: test-sasl-interop.py PATH-TO-sasl-interop-helper
Prints "N passed, N failed" last; exits non-zero on any failure.
"""
import base64
import hashlib
import hmac
import math
import stringprep
import struct
import subprocess
import sys
import traceback
import unicodedata

HELPER = sys.argv[1] if len(sys.argv) > 1 else "sasl-interop-helper"
HASHES = {"SHA-1": "sha1", "SHA-256": "sha256"}


# --- SASLprep (RFC 4013) -------------------------------------------------

def saslprep(text):
    mapped = []
    for ch in text:
        if stringprep.in_table_c12(ch):
            mapped.append(" ")
        elif stringprep.in_table_b1(ch):
            continue
        else:
            mapped.append(ch)
    out = unicodedata.ucd_3_2_0.normalize("NFKC", "".join(mapped))
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22,
                  stringprep.in_table_c3, stringprep.in_table_c4,
                  stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9)
    for ch in out:
        if any(table(ch) for table in prohibited):
            raise ValueError("prohibited")
    if any(stringprep.in_table_d1(ch) for ch in out):
        if any(stringprep.in_table_d2(ch) for ch in out):
            raise ValueError("bidi")
        if not (stringprep.in_table_d1(out[0]) and
                stringprep.in_table_d1(out[-1])):
            raise ValueError("bidi")
    if out == "":
        raise ValueError("empty")
    return out


# --- SCRAM (RFC 5802) ----------------------------------------------------

def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def escape_name(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def parse_attrs(msg):
    return [(f[0], f[2:]) for f in msg.split(",")]


def scram_keys(hash_name, password, salt, iterations):
    salted = hashlib.pbkdf2_hmac(hash_name, saslprep(password).encode(),
                                 salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    stored_key = hashlib.new(hash_name, client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hash_name).digest()
    return client_key, stored_key, server_key


def mech_hash(mech):
    for suffix, name in HASHES.items():
        if mech in ("SCRAM-" + suffix, "SCRAM-" + suffix + "-PLUS"):
            return name
    raise ValueError(mech)


class ScramClient:
    def __init__(self, mech, user, password, authzid=None, nonce="pyclientnonce",
                 cb=None, flag=None):
        self.hash = mech_hash(mech)
        self.plus = mech.endswith("-PLUS")
        self.user, self.password, self.nonce, self.cb = user, password, nonce, cb
        if flag is None:
            flag = "p=" + cb[0] if self.plus else ("y" if cb else "n")
        self.gs2 = flag + "," + ("a=" + escape_name(authzid) if authzid else "") + ","
        self.bare = "n=" + escape_name(saslprep(user)) + ",r=" + nonce

    def first(self):
        return (self.gs2 + self.bare).encode()

    def final(self, server_first, password=None, cb_data=None):
        server_first = server_first.decode()
        attrs = parse_attrs(server_first)
        assert [a for a, _ in attrs[:3]] == ["r", "s", "i"], server_first
        nonce, salt, iterations = attrs[0][1], unb64(attrs[1][1]), int(attrs[2][1])
        assert nonce.startswith(self.nonce) and len(nonce) > len(self.nonce)
        cbind = self.gs2.encode()
        if self.gs2.startswith("p="):
            cbind += cb_data if cb_data is not None else self.cb[1]
        without_proof = "c=" + b64(cbind) + ",r=" + nonce
        client_key, stored_key, server_key = scram_keys(
            self.hash, password or self.password, salt, iterations)
        auth = (self.bare + "," + server_first + "," + without_proof).encode()
        signature = hmac.new(stored_key, auth, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = hmac.new(server_key, auth, self.hash).digest()
        return (without_proof + ",p=" + b64(proof)).encode()

    def verify(self, server_final):
        return server_final == b"v=" + b64(self.server_signature).encode()


class ScramServer:
    """users: name -> (salt, iterations, stored_key, server_key)"""

    def __init__(self, mech, users, nonce="pyservernonce", cbs=None):
        self.hash = mech_hash(mech)
        self.plus = mech.endswith("-PLUS")
        self.users, self.nonce, self.cbs = users, nonce, cbs or {}

    def first(self, msg):
        msg = msg.decode()
        flag, authzid, bare = msg.split(",", 2)
        self.gs2 = flag + "," + authzid + ","
        if self.plus:
            assert flag.startswith("p=") and flag[2:] in self.cbs, "binding"
            self.cb = self.cbs[flag[2:]]
        else:
            assert flag == "n" or (flag == "y" and not self.cbs), "flag"
            self.cb = b""
        self.authzid = authzid[2:].replace("=2C", ",").replace("=3D", "=") or None
        attrs = parse_attrs(bare)
        assert attrs[0][0] == "n" and attrs[1][0] == "r"
        self.user = attrs[0][1].replace("=2C", ",").replace("=3D", "=")
        salt, iterations, self.stored_key, self.server_key = self.users[self.user]
        self.full_nonce = attrs[1][1] + self.nonce
        self.bare = bare
        self.server_first = "r=%s,s=%s,i=%d" % (self.full_nonce, b64(salt), iterations)
        return self.server_first.encode()

    def final(self, msg):
        msg = msg.decode()
        without_proof, proof = msg.rsplit(",p=", 1)
        attrs = parse_attrs(without_proof)
        assert attrs[0] == ("c", b64(self.gs2.encode() + self.cb)), "cbind"
        assert attrs[1] == ("r", self.full_nonce), "nonce"
        auth = (self.bare + "," + self.server_first + "," + without_proof).encode()
        signature = hmac.new(self.stored_key, auth, self.hash).digest()
        client_key = bytes(a ^ b for a, b in zip(unb64(proof), signature))
        assert hashlib.new(self.hash, client_key).digest() == self.stored_key, "proof"
        return b"v=" + b64(hmac.new(self.server_key, auth, self.hash).digest()).encode()


# --- CRAM-MD5 with Dovecot's stored context ------------------------------

MD5_K = [int(abs(math.sin(i + 1)) * 2 ** 32) & 0xffffffff for i in range(64)]
MD5_S = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4


def md5_compress(state, block):
    a, b, c, d = state
    words = struct.unpack("<16I", block)
    for i in range(64):
        if i < 16:
            f, g = (b & c) | (~b & d), i
        elif i < 32:
            f, g = (b & d) | (c & ~d), (5 * i + 1) % 16
        elif i < 48:
            f, g = b ^ c ^ d, (3 * i + 5) % 16
        else:
            f, g = c ^ (b | ~d), (7 * i) % 16
        f = (f + a + MD5_K[i] + words[g]) & 0xffffffff
        a, d, c = d, c, b
        b = (b + ((f << MD5_S[i]) | (f >> (32 - MD5_S[i])))) & 0xffffffff
    return [(x + y) & 0xffffffff for x, y in zip(state, (a, b, c, d))]


def cram_md5_context(password):
    key = password.encode()
    if len(key) > 64:
        key = hashlib.md5(key).digest()
    key = key.ljust(64, b"\0")
    init = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
    outer = md5_compress(init, bytes(k ^ 0x5c for k in key))
    inner = md5_compress(init, bytes(k ^ 0x36 for k in key))
    return struct.pack("<4I", *outer) + struct.pack("<4I", *inner)


# --- driving the helper --------------------------------------------------

def enc(data):
    return "=" if data == b"" else b64(data)


def dec(text):
    return b"" if text == "=" else unb64(text)


class Helper:
    def __init__(self, *args):
        self.proc = subprocess.Popen([HELPER] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        assert line != "", "helper exited early"
        return line.rstrip("\n")

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        assert rc == 0, "helper exit code %d" % rc


def cb_arg(cb):
    return "cb=%s:%s" % (cb[0], cb[1].hex())


def c_server_scram(mech, client, users, cbs=None, ir=True, nonce=None,
                   tamper=None):
    """Python client against lib-sasl's server. Returns the helper's last
    line and the transcript."""
    args = ["server", mech] + ([cb_arg(cb) for cb in (cbs or {}).items()])
    if nonce:
        args.append("nonce=" + nonce)
    h = Helper(*args)
    transcript = []
    first = client.first()
    transcript.append(first)
    if ir:
        h.send("IR " + enc(first))
    else:
        h.send("IR -")
        line = h.recv()
        assert line == "CHALLENGE =", line
        h.send("RESPONSE " + enc(first))
    line = h.recv()
    if not line.startswith("NEED_CREDENTIALS"):
        h.close()
        return line, transcript
    _, authcid, ctype = line.split(" ")
    authcid = dec(authcid).decode()
    assert ctype == mech.replace("-PLUS", ""), ctype
    if authcid in users:
        salt, iterations, stored, server = users[authcid]
        h.send("CREDS %s %d %s %s" % (enc(salt), iterations, enc(stored), enc(server)))
    else:
        h.send("NOUSER")
    line = h.recv()
    assert line.startswith("CHALLENGE "), line
    server_first = dec(line.split(" ")[1])
    transcript.append(server_first)
    final = client.final(server_first, **(tamper or {}))
    transcript.append(final)
    h.send("RESPONSE " + enc(final))
    line = h.recv()
    if line.startswith("SUCCESS"):
        fields = line.split(" ")
        assert client.verify(dec(fields[4])), "server signature"
        transcript.append(dec(fields[4]))
    h.close()
    return line, transcript


def c_client_scram(mech, user, password, server, extra=(), tamper_final=None):
    """lib-sasl's client against the Python server. Returns the helper's
    last line and the transcript."""
    h = Helper("client", mech, user, password, *extra)
    transcript = []
    line = h.recv()
    if not line.startswith("START "):
        h.close()
        return line, transcript
    first = dec(line.split(" ")[1])
    transcript.append(first)
    server_first = server.first(first)
    transcript.append(server_first)
    h.send("CHALLENGE " + enc(server_first))
    line = h.recv()
    if not line.startswith("RESPONSE "):
        h.close()
        return line, transcript
    final = dec(line.split(" ")[1])
    transcript.append(final)
    server_final = server.final(final)
    if tamper_final:
        server_final = tamper_final(server_final)
    transcript.append(server_final)
    h.send("SUCCESS " + enc(server_final))
    line = h.recv()
    h.close()
    return line, transcript


def users_for(mech, user, password, salt=b"interop-salt", iterations=4096):
    _, stored, server = scram_keys(mech_hash(mech), password, salt, iterations)
    return {saslprep(user): (salt, iterations, stored, server)}


# --- the tests -----------------------------------------------------------

CB_UNIQUE = ("tls-unique", bytes(range(12)))
CB_EXPORTER = ("tls-exporter", bytes(range(100, 132)))
SCRAM_MECHS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"]
IDENTITIES = [
    ("user", "pencil", None),
    ("us,er=x", "p@ss,w=rd", "ad,min=1"),
    ("j\u00f6rg", "pa\u00a0ss\u00adword", None),
]


def test_python_vectors():
    """The Python implementation reproduces the RFCs' exchanges (so that
    agreeing with it means something)."""
    vectors = [
        ("SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
         "QSXCR+Q6sek8bf92", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
         "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
        ("SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
         "W22ZaJ0SNY7soEsUEjb6gQ==", "c=biws,r=rOprNGfwEbeRWgbNEkqO"
         "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
         "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    ]
    for mech, cnonce, snonce, salt, final, server_final in vectors:
        users = users_for(mech, "user", "pencil", unb64(salt))
        client = ScramClient(mech, "user", "pencil", nonce=cnonce)
        server = ScramServer(mech, users, nonce=snonce)
        sf = server.first(client.first())
        assert client.final(sf).decode() == final
        assert server.final(client.final(sf)).decode() == server_final
        assert client.verify(server_final.encode())
    ctx = cram_md5_context("tanstaaftanstaaf")
    assert ctx.hex() == ("d06d4e1b26fccaa4b0b61801132340a3"
                         "54b21152711fb604ca3e035e7015116b")


def test_python_client_c_server():
    for mech in SCRAM_MECHS:
        for user, password, authzid in IDENTITIES:
            for ir in (True, False):
                cb = CB_EXPORTER if mech.endswith("-PLUS") else None
                cbs = dict([CB_UNIQUE, CB_EXPORTER]) if cb else None
                client = ScramClient(mech, user, password, authzid, cb=cb)
                line, _ = c_server_scram(mech, client,
                                         users_for(mech, user, password),
                                         cbs=cbs, ir=ir)
                fields = line.split(" ")
                assert fields[0] == "SUCCESS", (mech, user, line)
                assert dec(fields[1]).decode() == saslprep(user)
                assert fields[2] == ("-" if authzid is None else enc(authzid.encode()))
                assert fields[3] == (cb[0] if cb else "-")


def test_c_client_python_server():
    for mech in SCRAM_MECHS:
        for user, password, authzid in IDENTITIES:
            for cb in (CB_UNIQUE, CB_EXPORTER):
                plus = mech.endswith("-PLUS")
                server = ScramServer(mech, users_for(mech, user, password),
                                     cbs=dict([cb]) if plus else None)
                extra = [cb_arg(cb)] if plus else []
                if authzid:
                    extra.append("authzid=" + authzid)
                line, _ = c_client_scram(mech, user, password, server, extra)
                assert line == "OK", (mech, user, line)
                assert server.authzid == authzid


def test_transcripts_identical():
    """Fixed nonces: every pairing produces the same bytes."""
    for mech in SCRAM_MECHS:
        plus = mech.endswith("-PLUS")
        cb = CB_UNIQUE if plus else None
        cbs = dict([cb]) if plus else None
        user, password, authzid = "us,er=x", "p@ss,w=rd", "ad,min=1"
        users = users_for(mech, user, password)

        client = ScramClient(mech, user, password, authzid, nonce="CNONCE", cb=cb)
        server = ScramServer(mech, users, nonce="SNONCE", cbs=cbs)
        sf = server.first(client.first())
        final = client.final(sf)
        py_py = [client.first(), sf, final, server.final(final)]

        client = ScramClient(mech, user, password, authzid, nonce="CNONCE", cb=cb)
        _, py_c = c_server_scram(mech, client, users, cbs=cbs, nonce="SNONCE")

        server = ScramServer(mech, users, nonce="SNONCE", cbs=cbs)
        extra = ["nonce=CNONCE", "authzid=" + authzid] + ([cb_arg(cb)] if plus else [])
        _, c_py = c_client_scram(mech, user, password, server, extra)

        assert py_py == py_c, (mech, py_py, py_c)
        assert py_py == c_py, (mech, py_py, c_py)


def test_c_server_rejects():
    mech = "SCRAM-SHA-256"
    users = users_for(mech, "user", "pencil")
    # wrong password
    line, _ = c_server_scram(mech, ScramClient(mech, "user", "pencil"), users,
                             tamper={"password": "pencil2"})
    assert line.startswith("FAILURE") and "invalid proof" in line, line
    # unknown user: the exchange runs to the end, then fails
    line, _ = c_server_scram(mech, ScramClient(mech, "nobody", "pencil"), users)
    assert line.startswith("FAILURE") and "unknown user" in line, line
    # tampered channel binding
    plus = "SCRAM-SHA-256-PLUS"
    line, _ = c_server_scram(plus, ScramClient(plus, "user", "pencil", cb=CB_UNIQUE),
                             users_for(plus, "user", "pencil"),
                             cbs=dict([CB_UNIQUE]),
                             tamper={"cb_data": b"\x00" * 12})
    assert line.startswith("FAILURE") and "channel binding" in line, line
    # downgrade: 'y' while the server offers binding
    line, _ = c_server_scram(mech, ScramClient(mech, "user", "pencil", cb=CB_UNIQUE),
                             users, cbs=dict([CB_UNIQUE]))
    assert line.startswith("FAILURE") and "downgrade" in line, line


def test_c_client_rejects():
    mech = "SCRAM-SHA-256"
    users = users_for(mech, "user", "pencil")
    # a server that does not know the password: wrong v=
    line, _ = c_client_scram(mech, "user", "pencil", ScramServer(mech, users),
                             tamper_final=lambda v: v[:-4] + b"AAA=")
    assert line.startswith("ERROR") and "server signature" in line, line
    # an iteration count below the minimum
    weak = users_for(mech, "user", "pencil", iterations=1000)
    line, _ = c_client_scram(mech, "user", "pencil", ScramServer(mech, weak))
    assert line.startswith("ERROR") and "below the minimum" in line, line
    # an error instead of v=
    line, _ = c_client_scram(mech, "user", "pencil", ScramServer(mech, users),
                             tamper_final=lambda v: b"e=invalid-proof")
    assert line.startswith("ERROR") and "invalid-proof" in line, line


def test_cram_md5():
    challenge = "<1896.697170952@postoffice.reston.mci.net>"
    # Python client against the C server, with the stored context
    # computed here and with the plaintext
    for creds in ("CREDS_CRAM " + cram_md5_context("tanstaaftanstaaf").hex(),
                  "CREDS_PLAIN " + enc(b"tanstaaftanstaaf"),
                  "CREDS_PLAIN " + enc(b"wrong")):
        h = Helper("server", "CRAM-MD5", "nonce=1896.697170952")
        h.send("IR -")
        line = h.recv()
        assert line.startswith("CHALLENGE "), line
        got = dec(line.split(" ")[1]).decode()
        assert got == "<1896.697170952@localhost>", got
        digest = hmac.new(b"tanstaaftanstaaf", got.encode(), "md5").hexdigest()
        h.send("RESPONSE " + enc(("tim " + digest).encode()))
        assert h.recv() == "NEED_CREDENTIALS %s CRAM-MD5" % enc(b"tim")
        h.send(creds)
        line = h.recv()
        if "wrong" in creds or creds.endswith(enc(b"wrong")):
            assert line.startswith("FAILURE"), line
        else:
            assert line.startswith("SUCCESS " + enc(b"tim")), line
        h.close()
    # C client against a Python server
    h = Helper("client", "CRAM-MD5", "tim", "tanstaaftanstaaf")
    assert h.recv() == "START -"
    h.send("CHALLENGE " + enc(challenge.encode()))
    line = h.recv()
    assert dec(line.split(" ")[1]) == b"tim b913a602c7eda7a495b4e6e7334d3890", line
    h.send("SUCCESS -")
    assert h.recv() == "OK"
    h.close()


def test_plain():
    # Python client, C server: RFC 4616 message
    h = Helper("server", "PLAIN")
    h.send("IR " + enc("ad\u00efmin\0j\u00f6rg\0s\u00e9cret".encode()))
    line = h.recv()
    assert line == "NEED_VERIFY %s %s" % (enc("j\u00f6rg".encode()),
                                          enc("s\u00e9cret".encode())), line
    h.send("VERIFY 1")
    line = h.recv()
    assert line.startswith("SUCCESS %s %s" % (enc("j\u00f6rg".encode()),
                                               enc("ad\u00efmin".encode()))), line
    h.close()
    # C client, Python server
    h = Helper("client", "PLAIN", "tim", "tanstaaf", "authzid=bob")
    line = h.recv()
    assert dec(line.split(" ")[1]) == b"bob\0tim\0tanstaaf", line
    h.send("SUCCESS -")
    assert h.recv() == "OK"
    h.close()


def saslprep_candidates():
    """Single code points from every table's neighbourhood, plus the RFC
    examples and mixed strings."""
    points = list(range(0x20, 0x250)) + list(range(0x300, 0x380)) + \
        list(range(0x5b0, 0x700)) + list(range(0x1680, 0x1690)) + \
        list(range(0x1800, 0x1810)) + list(range(0x2000, 0x2070)) + \
        list(range(0x2150, 0x2190)) + list(range(0x2ff0, 0x3010)) + \
        list(range(0xfb00, 0xfb60)) + list(range(0xfdd0, 0xfe20)) + \
        list(range(0xfeff, 0xff70)) + list(range(0xfff0, 0x10000)) + \
        [0x1d173, 0x1d17a, 0x1fffe, 0xe0001, 0xe0020, 0xe007f, 0xf0000, 0x10fffd]
    cases = ["a" + chr(p) + "b" for p in points if not 0xd800 <= p <= 0xdfff]
    cases += [chr(p) for p in points if not 0xd800 <= p <= 0xdfff]
    cases += ["I\u00adX", "user", "USER", "\u00aa", "\u2168", "\u0007",
              "\u0627\u0031", "\u0627\u0031\u0628", "\u0627a\u0628",
              "\ufdfa", "e\u0301", "\u1e9b\u0323", "\ufb01x", "\u3000x\u3000"]
    return cases


def icu_bidi_deviation(text):
    """ICU's bidi check reads today's Unicode bidi classes (with their
    right-to-left defaults for unassigned code points in Hebrew and Arabic
    blocks), so a code point unassigned in Unicode 3.2 -- allowed in
    queries -- can fail it, while RFC 3454's table D.1, which Python
    follows, does not list it. A known ICU deviation, on characters no
    user name can have been created with under Unicode 3.2."""
    return any(unicodedata.ucd_3_2_0.category(c) == "Cn" for c in text)


def test_saslprep():
    h = Helper("saslprep")
    complete = h.recv() == "COMPLETE 1"
    checked = 0
    for text in saslprep_candidates():
        try:
            expected = "OK " + saslprep(text).encode().hex()
        except ValueError:
            expected = "ERR"
        if not complete:
            # Without ICU lib-sasl neither normalizes nor checks bidi:
            # compare only where neither step would matter.
            nfkc = unicodedata.ucd_3_2_0.normalize("NFKC", text)
            bidi = any(stringprep.in_table_d1(c) or stringprep.in_table_d2(c)
                       for c in text)
            if nfkc != text or bidi:
                continue
        h.send(text.encode().hex())
        got = h.recv()
        if icu_bidi_deviation(text) and got == "ERR bidirectional check failed":
            continue
        if expected == "ERR":
            assert got.startswith("ERR"), (repr(text), got)
        else:
            assert got == expected, (repr(text), got, expected)
        checked += 1
    h.close()
    # the subset build compares only where normalization changes nothing
    assert checked > (1000 if complete else 300), checked


TESTS = [
    test_python_vectors,
    test_python_client_c_server,
    test_c_client_python_server,
    test_transcripts_identical,
    test_c_server_rejects,
    test_c_client_rejects,
    test_cram_md5,
    test_plain,
    test_saslprep,
]


def main():
    passed = failed = 0
    for test in TESTS:
        try:
            test()
        except Exception:
            traceback.print_exc()
            print("%-60s FAILED" % test.__name__)
            failed += 1
        else:
            print("%-60s ok" % test.__name__)
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
