"""A small client of Dovecot's auth client protocol (1.2) for the tests,
and a SCRAM client written from RFC 5802 with hashlib/hmac."""
import base64
import hashlib
import hmac
import os
import socket
import time


def escape(value):
    return (value.replace("\x01", "\x011").replace("\t", "\x01t")
            .replace("\n", "\x01n").replace("\r", "\x01r"))


def unescape(value):
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\x01":
            out.append({"1": "\x01", "t": "\t", "n": "\n", "r": "\r"}[value[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class AuthClient:
    def __init__(self, path, handshake=True, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.handshake = []
        if handshake:
            self.do_handshake()

    def do_handshake(self):
        while True:
            line = self.readline()
            assert line is not None, "disconnected during the handshake"
            self.handshake.append(line)
            if line == "DONE":
                break
        self.send("VERSION\t1\t2\nCPID\t%d\n" % os.getpid())

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def readline(self):
        """The next line without LF, or None at EOF."""
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def reply(self):
        """(command, id, [fields]) of the next reply, fields unescaped."""
        line = self.readline()
        assert line is not None, "auth server disconnected"
        parts = line.split("\t")
        return parts[0], parts[1], [unescape(p) for p in parts[2:]]

    def auth(self, rid, mech, *params, service="smtp", rip="127.0.0.1",
             lip="127.0.0.1", resp=None):
        fields = ["AUTH", str(rid), mech, "service=" + service]
        if lip is not None:
            fields.append("lip=" + lip)
        if rip is not None:
            fields.append("rip=" + rip)
        fields += list(params)
        if resp is not None:
            fields.append("resp=" + b64(resp))
        self.send("\t".join(fields) + "\n")

    def cont(self, rid, data):
        self.send("CONT\t%s\t%s\n" % (rid, b64(data)))

    def plain(self, rid, user, password, *params, **kw):
        self.auth(rid, "PLAIN", *params,
                  resp="\0%s\0%s" % (user, password), **kw)
        return self.reply()

    def is_closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def fields_dict(fields):
    out = {}
    for f in fields:
        k, _, v = f.partition("=")
        out[k] = v
    return out


def wait_socket(path, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                s.close()
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


class ScramClient:
    """RFC 5802 client side (no channel binding: gs2 header "n,,")."""

    def __init__(self, hashname, user, password):
        self.hash = hashname
        self.user = user
        self.password = password.encode()
        self.cnonce = b64(os.urandom(18))
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"),
                                   self.cnonce)

    def first(self):
        return "n,," + self.bare

    def _h(self, data):
        return hashlib.new(self.hash, data).digest()

    def _hmac(self, key, data):
        return hmac.new(key, data, self.hash).digest()

    def final(self, server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        nonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        assert nonce.startswith(self.cnonce)
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, salt, iters)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = self._h(client_key)
        without_proof = "c=%s,r=%s" % (b64(b"n,,"), nonce)
        auth_message = ",".join([self.bare, server_first, without_proof]).encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = self._hmac(salted, b"Server Key")
        self.server_signature = self._hmac(server_key, auth_message)
        return without_proof + ",p=" + b64(proof)

    def verify_server_final(self, server_final):
        return server_final == "v=" + b64(self.server_signature)
