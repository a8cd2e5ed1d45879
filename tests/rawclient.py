"""Raw-socket IMAP for the integration tests: what imaplib hides (the
exact bytes of a response, literals as sent, pipelining, commands it
does not know), and the TLS context that accepts the tests' self-signed
certificate."""
import re
import socket
import ssl

# a server literal announces its size at the end of a line: {n}, or ~{n}
# for literal8
LITERAL = re.compile(rb"\{(\d+)\}$")


def tls_context():
    """A client context that accepts the tests' self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImapConn:
    """One IMAP connection, in bytes. Lines come back without their CRLF;
    a response comes with its literals inlined after their "{n}" line as
    the server sent them; a command's tagged line comes without its tag.
    Tags are t1, t2... unless a command names its own."""

    def __init__(self, port, timeout=20, tag_prefix=b"t", name="the server"):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.n = 0
        self.tag_prefix = tag_prefix
        self.name = name
        self.greeting = self.readline()
        assert self.greeting.startswith(b"* OK"), self.greeting

    def send(self, data):
        self.sock.sendall(data)

    def next_tag(self):
        self.n += 1
        return self.tag_prefix + b"%d" % self.n

    def readline(self):
        line = self.f.readline()
        if not line:
            raise EOFError("%s closed the connection" % self.name)
        # only the line end: a CR before it is the server's byte
        return line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")

    def read(self, size):
        data = self.f.read(size)
        if len(data) != size:
            raise EOFError("%s closed the connection inside a literal"
                           % self.name)
        return data

    def response_parts(self):
        """One response as [line, literal, line, ..., line]."""
        parts = [self.readline()]
        while True:
            m = LITERAL.search(parts[-1])
            if not m:
                return parts
            parts.append(self.read(int(m.group(1))))
            parts.append(self.readline())

    def response(self):
        """One response as sent, without its final CRLF."""
        parts = self.response_parts()
        out = parts[0]
        for i in range(1, len(parts), 2):
            out += b"\r\n" + parts[i] + parts[i + 1]
        return out

    def read_tagged(self, tag, read=None):
        """(untagged responses, the tagged one without "tag ") up to the
        response tagged tag; read reads one (default: response())."""
        read = read or self.response
        untagged = []
        while True:
            resp = read()
            if resp.startswith(tag + b" "):
                return untagged, resp[len(tag) + 1:]
            untagged.append(resp)

    def command(self, text, tag=None):
        """Sends "tag text" and returns read_tagged(tag)."""
        tag = tag or self.next_tag()
        self.send(tag + b" " + text + b"\r\n")
        return self.read_tagged(tag)

    def ok(self, text, tag=None):
        untagged, tagged = self.command(text, tag)
        assert tagged.startswith(b"OK"), (text, untagged, tagged)
        return untagged

    def login(self, user, password):
        _, tagged = self.command(b"LOGIN %s %s" % (user.encode(),
                                                  password.encode()))
        assert tagged.startswith(b"OK"), tagged

    def close(self):
        self.f.close()
        self.sock.close()


class ImapLines(ImapConn):
    """An ImapConn in text: cmd() returns (untagged lines, tagged text)
    decoded from UTF-8 (errors as str.decode takes them); a literal's data
    comes as lines of its own."""

    def __init__(self, port, timeout=20, errors="strict"):
        super().__init__(port, timeout)
        self.errors = errors

    def cmd(self, line, tag=None):
        tag = (tag or self.next_tag().decode()).encode()
        self.send(tag + b" " + line.encode() + b"\r\n")
        untagged, tagged = self.read_tagged(tag, read=self.readline)
        return ([u.decode("utf-8", self.errors) for u in untagged],
                tagged.decode("utf-8", self.errors))

    def ok(self, line, tag=None):
        untagged, tagged = self.cmd(line, tag)
        assert tagged.startswith("OK"), (line, untagged, tagged)
        return untagged

    def close(self):
        """LOGOUT, then the connection closes."""
        try:
            self.cmd("LOGOUT")
        finally:
            super().close()
