"""The IMAP pre-login protocol of the imap-login process, over real sockets
with Python's imaplib and raw sockets."""
import imaplib
import socket
import ssl
import time

import pytest

from rawclient import tls_context


def raw(port, source=None):
    """A plain connection; source="127.0.0.2" makes an untrusted client
    (Dovecot's rule, which Columba follows: a client is secured by TLS, by
    login_trusted_networks, or by connecting from the server's own
    address)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=(source, 0) if source else None)
    return s, s.makefile("rb")


def read_line(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    return line[:-2].decode()


def read_eof(f):
    """The server closed: EOF, or a reset when it closed with our unread
    bytes still in its socket buffer (normal TCP behaviour)."""
    try:
        return f.read() == b""
    except ConnectionResetError:
        return True


PRELOGIN_CAPS = "IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE IDLE LITERAL+"


def test_greeting_capability_noop_logout(columba):
    # from the server's own address: secured, so LOGIN and AUTH=PLAIN
    imap = imaplib.IMAP4("127.0.0.1", columba.imap_port)
    assert imap.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert b"Columba ready." in imap.welcome
    caps = imap.capabilities
    for cap in ("IMAP4REV1", "STARTTLS", "SASL-IR", "ID", "AUTH=PLAIN"):
        assert cap in caps
    assert "LOGINDISABLED" not in caps
    # never advertised: referrals are not implemented
    assert "LOGIN-REFERRALS" not in caps
    typ, data = imap.capability()
    assert typ == "OK"
    assert data[0].decode() == PRELOGIN_CAPS + " STARTTLS AUTH=PLAIN"
    assert imap.noop()[0] == "OK"
    typ, data = imap.logout()
    assert typ == "BYE"


def test_exact_responses(columba):
    # an untrusted plaintext client: LOGINDISABLED, no AUTH=PLAIN
    s, f = raw(columba.imap_port, source="127.0.0.2")
    greeting = read_line(f)
    assert greeting == ("* OK [CAPABILITY %s STARTTLS LOGINDISABLED] "
                        "Columba ready." % PRELOGIN_CAPS)
    s.sendall(b"a1 noop\r\nA2 Capability\r\n")
    assert read_line(f) == "a1 OK NOOP completed."
    assert read_line(f) == "* CAPABILITY %s STARTTLS LOGINDISABLED" % PRELOGIN_CAPS
    assert read_line(f).startswith("A2 OK ")
    s.sendall(b"a3 LOGIN user pass\r\n")
    assert read_line(f) == ("a3 NO [PRIVACYREQUIRED] Plaintext authentication "
                            "disallowed on non-secure (SSL/TLS) connections.")
    s.sendall(b"a4 AUTHENTICATE PLAIN\r\n")
    assert read_line(f) == ("a4 NO [PRIVACYREQUIRED] Plaintext authentication "
                            "disallowed on non-secure (SSL/TLS) connections.")
    s.sendall(b"a5 SELECT INBOX\r\n")
    assert read_line(f) == "a5 BAD Command is not valid before authentication."
    s.sendall(b"a6 XYZZY\r\n")
    assert read_line(f) == "a6 BAD Unknown command."
    s.sendall(b"a7 NOOP extra\r\n")
    assert read_line(f) == "a7 BAD Unexpected arguments."
    s.sendall(b"\r\n+bad CAPABILITY\r\n")
    assert read_line(f).startswith("* BAD ")
    s.sendall(b"a8 LOGOUT\r\n")
    assert read_line(f) == "* BYE Logging out"
    assert read_line(f) == "a8 OK Logout completed."
    assert f.read() == b""
    s.close()
    assert columba.wait_log("Disconnected: Logged out")


def test_pipelined_commands_in_one_packet(columba):
    s, f = raw(columba.imap_port)
    read_line(f)
    s.sendall(b"".join(b"p%d NOOP\r\n" % i for i in range(200)))
    for i in range(200):
        assert read_line(f) == "p%d OK NOOP completed." % i
    s.close()


def test_input_one_byte_at_a_time(columba):
    s, f = raw(columba.imap_port)
    read_line(f)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in b"x1 NOOP\r\nx2 CAPABILITY\r\n":
        s.send(bytes([b]))
        time.sleep(0.002)
    assert read_line(f) == "x1 OK NOOP completed."
    assert read_line(f).startswith("* CAPABILITY")
    assert read_line(f).startswith("x2 OK")
    s.close()


def test_too_many_bad_commands(columba):
    s, f = raw(columba.imap_port)
    read_line(f)
    for i in range(9):
        s.sendall(b"b%d FOO\r\n" % i)
        assert read_line(f) == "b%d BAD Unknown command." % i
    s.sendall(b"b9 FOO\r\n")
    assert read_line(f) == "b9 BAD Unknown command."
    assert read_line(f) == "* BYE Too many invalid commands."
    assert f.read() == b""
    assert columba.wait_log("Disconnected: Too many invalid commands")


def test_line_too_long(columba):
    s, f = raw(columba.imap_port)
    read_line(f)
    # longer than the 64 KiB pre-login limit, with no newline at all
    try:
        s.sendall(b"a NOOP " + b"x" * (200 * 1024))
    except OSError:
        pass
    assert read_line(f) == "* BYE Command line too long."
    assert read_eof(f)
    assert columba.wait_log("Disconnected: Command line too long")


def test_synchronising_literal_rejected_without_continuation(columba):
    # LOGIN is refused to an untrusted plaintext client before its
    # literal is sent: no "+" continuation, so the client sends nothing
    s, f = raw(columba.imap_port, source="127.0.0.2")
    read_line(f)
    s.sendall(b"l1 LOGIN {4}\r\n")
    line = read_line(f)
    assert line.startswith("l1 NO [PRIVACYREQUIRED] "), line
    s.sendall(b"l2 NOOP\r\n")
    assert read_line(f) == "l2 OK NOOP completed."
    s.close()


def test_non_synchronising_literal_skipped(columba):
    # the refused command's LITERAL+ bytes are consumed, not executed
    s, f = raw(columba.imap_port, source="127.0.0.2")
    read_line(f)
    s.sendall(b"l1 LOGIN {4+}\r\nuser {3+}\r\npwd\r\nl2 NOOP\r\n")
    assert read_line(f).startswith("l1 NO [PRIVACYREQUIRED] ")
    assert read_line(f) == "l2 OK NOOP completed."
    s.close()


def test_huge_literal_disconnects(columba):
    s, f = raw(columba.imap_port)
    read_line(f)
    s.sendall(b"l1 LOGIN {999999999999+}\r\n")
    assert read_line(f).startswith("* BYE ")
    assert f.read() == b""


def test_starttls_with_imaplib(columba):
    imap = imaplib.IMAP4("127.0.0.1", columba.imap_port)
    typ, _ = imap.starttls(ssl_context=tls_context())
    assert typ == "OK"
    # after TLS, STARTTLS is no longer offered and LOGIN is allowed
    assert "STARTTLS" not in imap.capabilities
    assert "LOGINDISABLED" not in imap.capabilities
    assert "AUTH=PLAIN" in imap.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="TLS is already active"):
        imap._simple_command("STARTTLS")
    assert imap.noop()[0] == "OK"
    imap.logout()
    assert columba.wait_log(", TLS")


def test_implicit_tls_with_imaplib(columba):
    imap = imaplib.IMAP4_SSL("127.0.0.1", columba.imaps_port,
                             ssl_context=tls_context())
    assert "STARTTLS" not in imap.capabilities
    assert imap.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert imap.noop()[0] == "OK"
    with pytest.raises(imaplib.IMAP4.error, match="TLS is already active"):
        imap._simple_command("STARTTLS")
    imap.logout()


def test_starttls_discards_pipelined_plaintext(columba):
    """Bytes after STARTTLS in the same packet must never be executed
    (the STARTTLS command-injection class)."""
    s = socket.create_connection(("127.0.0.1", columba.imap_port), timeout=10)
    f = s.makefile("rb")
    read_line(f)
    s.sendall(b"t1 STARTTLS\r\nt2 CAPABILITY\r\n")
    assert read_line(f) == "t1 OK Begin TLS negotiation now."
    tls = tls_context().wrap_socket(s, server_hostname="localhost")
    tls.settimeout(1.0)
    with pytest.raises((socket.timeout, TimeoutError)):
        # t2 was injected before the handshake: no answer may come
        data = tls.recv(1024)
        if data == b"":
            raise AssertionError("connection closed")
        raise AssertionError("injected command was answered: %r" % data)
    tls.settimeout(10)
    tls.sendall(b"t3 NOOP\r\n")
    assert tls.recv(1024) == b"t3 OK NOOP completed.\r\n"
    tls.close()
    assert columba.wait_log("Discarded")


def test_plaintext_on_tls_port(columba):
    s, f = raw(columba.imaps_port)
    s.sendall(b"a CAPABILITY\r\n" * 10)
    assert read_eof(f)
    s.close()
    assert columba.wait_log("TLS handshake failed")
    # the server is unharmed
    imap = imaplib.IMAP4_SSL("127.0.0.1", columba.imaps_port,
                             ssl_context=tls_context())
    imap.logout()


def test_old_tls_versions_refused(columba):
    ctx = tls_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, OSError)):
        imaplib.IMAP4_SSL("127.0.0.1", columba.imaps_port, ssl_context=ctx)


def test_many_concurrent_clients(columba):
    socks = []
    for _ in range(300):
        s, f = raw(columba.imap_port)
        socks.append((s, f))
    for s, f in socks:
        assert read_line(f).startswith("* OK ")
    for i, (s, f) in enumerate(socks):
        s.sendall(b"c%d NOOP\r\n" % i)
    for i, (s, f) in enumerate(socks):
        assert read_line(f) == "c%d OK NOOP completed." % i
    for s, f in socks:
        s.close()
