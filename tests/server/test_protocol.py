"""The HTTP protocol layer, over raw sockets: what Swift's own server answers on the wire."""

from __future__ import annotations

import os
import re
import socket
import time
from urllib.parse import quote, urlsplit

from tests.api.swift.helpers import conn, new_container, uniq
from tests.harness import Server


def exchange(tester: tuple[str, str], *parts: bytes, pause: float = 0.0) -> bytes:
    """Send `parts` (with `pause` seconds between them), return all bytes until the server
    closes the connection (or 10 s pass)."""
    url = urlsplit(tester[0])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        reply = b""
        try:
            while data := sock.recv(65536):
                reply += data
        except TimeoutError:
            pass
        return reply


def head_of(tester: tuple[str, str], method: bytes, path: bytes, *headers: bytes) -> bytes:
    prefix = urlsplit(tester[0]).path.encode()
    lines = [method + b" " + prefix + path + b" HTTP/1.1", b"Host: x",
             b"X-Auth-Token: " + tester[1].encode(), *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_put_without_length_is_411_and_closes(tester: tuple[str, str]) -> None:
    """The unframed body must not be read as a next request (it used to answer 400)."""
    box = new_container(tester)
    put = head_of(tester, b"PUT", f"/{box}/o".encode())
    for pause in (0.0, 0.2):  # body in the same segment as the head, or a later one
        for _ in range(5):
            reply = exchange(tester, put, b"testing", pause=pause)
            assert reply.startswith(b"HTTP/1.1 411 Length Required\r\n"), reply
            assert reply.count(b"HTTP/1.1") == 1  # one answer, then the connection closes
            assert b"\r\nConnection: close\r\n" in reply
            assert b"\r\nX-Trans-Id: tx" in reply
            assert reply.endswith(b"\r\n\r\nMissing Content-Length header.")
    assert conn(tester).get_container(box)[1] == []


def test_unsupported_transfer_codings_are_swifts_501_and_400(tester: tuple[str, str]) -> None:
    box = new_container(tester)
    for coding, expected in ((b"gzip,chunked", b"501 Not Implemented"),
                             (b"gzip", b"400 Bad Request")):
        put = head_of(tester, b"PUT", f"/{box}/o".encode(), b"Transfer-Encoding: " + coding)
        reply = exchange(tester, put, b"raw body bytes")
        assert reply.startswith(b"HTTP/1.1 " + expected + b"\r\n"), reply
        assert reply.count(b"HTTP/1.1") == 1 and b"\r\nConnection: close\r\n" in reply
    assert conn(tester).get_container(box)[1] == []


def test_unknown_method_is_405(tester: tuple[str, str]) -> None:
    """llhttp knows a fixed list of methods; Swift answers any other with 405."""
    box = new_container(tester)
    for method, path in ((b"LICK", b""), (b"GETorHEAD_base", f"/{box}".encode()),
                         (b"LICK", f"/{box}/\u00e9".encode())):
        reply = exchange(tester, head_of(tester, method, path, b"Connection: close"))
        assert reply.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), (method, reply)
        assert b"\r\nX-Trans-Id: tx" in reply and b"\r\nAllow: " in reply


def test_framed_requests_keep_the_connection(tester: tuple[str, str]) -> None:
    box = new_container(tester)
    put = head_of(tester, b"PUT", f"/{box}/o".encode(), b"Content-Length: 4") + b"test"
    get = head_of(tester, b"GET", f"/{box}/o".encode(), b"Connection: close")
    reply = exchange(tester, put, get)
    assert reply.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"HTTP/1.1 200 OK\r\n" in reply and reply.endswith(b"\r\n\r\ntest")


def test_raw_utf8_path_is_taken_as_the_name(tester: tuple[str, str]) -> None:
    """Swift accepts unencoded UTF-8 bytes in the request line (llhttp refuses them)."""
    name = uniq("\u2603caf\u00e9")
    reply = exchange(tester, head_of(tester, b"PUT", b"/" + name.encode(),
                                     b"Content-Length: 0", b"Connection: close"))
    assert reply.startswith(b"HTTP/1.1 201 Created\r\n"), reply
    assert name in [c["name"] for c in conn(tester).get_account()[1]]
    # a `?` in a raw name starts the query string, as for Swift
    reply = exchange(tester, head_of(tester, b"PUT", f"/{name}/a\u00e9?b".encode(),
                                     b"Content-Length: 0", b"Connection: close"))
    assert reply.startswith(b"HTTP/1.1 201 Created\r\n"), reply
    assert [o["name"] for o in conn(tester).get_container(name)[1]] == ["a\u00e9"]


def test_raw_invalid_utf8_path_is_412(tester: tuple[str, str]) -> None:
    name = uniq("\u2603").encode()[::-1]  # reversed UTF-8: not valid UTF-8 any more
    before = conn(tester).get_account()[1]
    reply = exchange(tester, head_of(tester, b"PUT", b"/" + name, b"Content-Length: 0",
                                     b"Connection: close"))
    assert reply.startswith(b"HTTP/1.1 412 Precondition Failed\r\n"), reply
    assert b"\r\nX-Trans-Id: tx" in reply
    assert reply.endswith(b"\r\n\r\nInvalid UTF8 or contains NULL")
    assert conn(tester).get_account()[1] == before


def test_bad_request_lines_stay_400(tester: tuple[str, str]) -> None:
    """A raw space or control byte in the target is a syntax error for Swift too."""
    for target in (b"/info asdf", b"/info\x01"):
        reply = exchange(tester, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n"), reply


def test_header_names_keep_their_case(tester: tuple[str, str]) -> None:
    """Swift sends `X-Object-Meta-Color`; clients comparing names exactly rely on it."""
    box = new_container(tester)
    conn(tester).put_object(box, "o", b"", headers={"x-object-meta-color": "blUe"})
    reply = exchange(tester, head_of(tester, b"HEAD", quote(f"/{box}/o").encode(),
                                     b"Connection: close"))
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nX-Object-Meta-Color: blUe\r\n" in reply
    assert b"\r\nContent-Length: 0\r\n" in reply and b"\r\nDate: " in reply


def big_object(tester: tuple[str, str], size: int = 6 << 20) -> tuple[str, bytes]:
    box = new_container(tester)
    data = os.urandom(size)
    conn(tester).put_object(box, "big", data)
    return f"/{box}/big", data


def read_response(sock: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, what came after) of one Content-Length response read off `sock`."""
    while b"\r\n\r\n" not in pending:
        pending += sock.recv(65536)
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        data = sock.recv(1 << 20)
        assert data, "connection closed mid-body"
        rest += data
    return head, rest[:length], rest[length:]


def test_file_bodies_go_out_whole_with_ranges(tester: tuple[str, str]) -> None:
    """Object bodies are sent straight from their files: whole, a range, a suffix; the
    connection carries the next request after each."""
    path, data = big_object(tester)
    url = urlsplit(tester[0])
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        pending = b""
        for extra, status, expected in ((b"", b"200", data),
                                        (b"Range: bytes=1000-4000000", b"206", data[1000:4000001]),
                                        (b"Range: bytes=-70000", b"206", data[-70000:])):
            sock.sendall(head_of(tester, b"GET", path.encode(), *([extra] if extra else [])))
            head, body, pending = read_response(sock, pending)
            assert head.split(b" ")[1] == status
            assert body == expected
        sock.sendall(head_of(tester, b"HEAD", path.encode(), b"Connection: close"))
        while data := sock.recv(65536):
            pending += data
        assert pending.startswith(b"HTTP/1.1 200") and pending.endswith(b"\r\n\r\n")
        assert b"Content-Length: %d\r\n" % len(expected) not in pending  # not a range's
        assert b"Content-Length: %d\r\n" % (6 << 20) in pending


def test_pipelined_file_bodies_to_a_slow_reader(tester: tuple[str, str]) -> None:
    """Two GETs sent at once while the client reads nothing: the first body fills the
    socket, the second response waits behind it; read slowly, both arrive whole and in
    order."""
    path, data = big_object(tester)
    url = urlsplit(tester[0])
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        request = head_of(tester, b"GET", path.encode())
        sock.sendall(request + request)
        time.sleep(0.5)
        pending = b""
        for _ in range(20):  # a trickle first
            pending += sock.recv(4096)
            time.sleep(0.01)
        for _ in range(2):
            head, body, pending = read_response(sock, pending)
            assert head.startswith(b"HTTP/1.1 200")
            assert body == data


def test_client_leaving_mid_body_leaves_the_server_serving(
        tester: tuple[str, str], server: Server) -> None:
    path, data = big_object(tester, 32 << 20)
    url = urlsplit(tester[0])
    before = server.log_path.read_bytes().count(b"cut short")
    for _ in range(3):
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            sock.sendall(head_of(tester, b"GET", path.encode()))
            got = sock.recv(65536)
            assert got.startswith(b"HTTP/1.1 200")
        # closed with most of the body unread
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head_of(tester, b"GET", path.encode()))
        head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200")
    assert body == data
    deadline = time.monotonic() + 5  # the log says so (one line per cut response)
    while (server.log_path.read_bytes().count(b"cut short") < before + 3
           and time.monotonic() < deadline):
        time.sleep(0.1)
    assert server.log_path.read_bytes().count(b"cut short") == before + 3
