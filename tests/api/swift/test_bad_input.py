"""Bad input gets Swift's error and changes nothing: every test compares state before/after."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.swift.helpers import conn, raw, uniq
from tests.harness import Server


@pytest.fixture
def box(tester: tuple[str, str]) -> Iterator[str]:
    """A container holding one object `keep` = b'original'."""
    name = uniq()
    c = conn(tester)
    c.put_container(name)
    c.put_object(name, "keep", b"original")
    yield name


def state(tester: tuple[str, str], container: str) -> tuple[object, ...]:
    c = conn(tester)
    head, listing = c.get_container(container)
    account = c.head_account()
    return (head["x-container-object-count"], head["x-container-bytes-used"],
            [(o["name"], o["hash"], o["bytes"]) for o in listing],
            c.get_object(container, "keep")[1], account["x-account-container-count"])


def send_raw(tester: tuple[str, str], request: bytes, *, close: bool = False) -> bytes:
    """Send bytes as they are (no client-side normalisation); return the first reply."""
    parts = urlsplit(tester[0])
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        if close:
            sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:  # every request here says Connection: close  # weak-tests: ok (reads to EOF)
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        return reply


def request_line(tester: tuple[str, str], method: str, path: str, *headers: str,
                 body: bytes = b"") -> bytes:
    url, token = tester
    prefix = urlsplit(url).path
    lines = [f"{method} {prefix}/{path} HTTP/1.1", "Host: x", f"X-Auth-Token: {token}",
             "Connection: close", *headers]
    if body or method == "PUT":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize("path", ["{c}/%FF%FE", "{c}/a%00b", "{c}%00/x", "{c}/%C3%28"])
def test_invalid_utf8_and_nul_are_412(tester: tuple[str, str], box: str, path: str) -> None:
    before = state(tester, box)
    reply = send_raw(tester, request_line(tester, "PUT", path.format(c=box), body=b"x"))
    assert status(reply) == 412, reply
    assert state(tester, box) == before


def test_empty_container_segment_is_404(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    reply = send_raw(tester, request_line(tester, "PUT", "/obj", body=b"x"))
    assert status(reply) == 404, reply  # as Swift's proxy (and its functional tests) answer
    assert state(tester, box) == before


def test_percent_encoded_slash_is_a_slash(tester: tuple[str, str], box: str) -> None:
    with raw(tester) as http:
        assert http.put(f"{box}/a%2Fb", content=b"slash").status_code == 201
        assert http.get(f"{box}/a/b").content == b"slash"
        # a %2F in a container name makes it a container plus an object name
        before = state(tester, box)
        assert http.put(f"{uniq()}%2Fy", content=b"x").status_code == 404
        assert state(tester, box) == before


@pytest.mark.parametrize("name", ["..", "../..", "../../../../etc/passwd", "a/../../b",
                                  "./x", "x/./../y"])
def test_dot_segments_are_stored_literally(server: Server, tester: tuple[str, str],
                                           box: str, name: str) -> None:
    # larger than inline_bytes (64 KiB), so the body is a blob file whose name is checked below
    body = b"dots" * 20_000
    reply = send_raw(tester, request_line(tester, "PUT", f"{box}/{name}", body=body))
    assert status(reply) == 201, reply
    with raw(tester) as http:
        listing = [o["name"] for o in http.get(box, params={"format": "json"}).json()]
        assert name in listing
    assert b"dots" in send_raw(tester, request_line(tester, "GET", f"{box}/{name}"))
    # nothing was written outside the data directory's blob tree
    parent = server.data_dir.parent
    for root, _dirs, files in os.walk(parent):
        if root.startswith(str(server.data_dir)):
            continue
        assert "passwd" not in files and "b" not in files and "y" not in files, root
    blobs = [file for _root, _dirs, files in os.walk(server.data_dir / "objects")
             for file in files]
    assert blobs  # os.walk of a missing directory yields nothing: the check would pass empty
    for file in blobs:
        assert len(file) == 32 and all(ch in "0123456789abcdef" for ch in file), file


def test_dot_container_names_never_escape(tester: tuple[str, str]) -> None:
    reply = send_raw(tester, request_line(tester, "PUT", ".."))
    assert status(reply) in (201, 202)
    with raw(tester) as http:
        names = [c["name"] for c in http.get("", params={"format": "json"}).json()]
        assert ".." in names


def test_nul_in_header_is_400(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    reply = send_raw(tester, request_line(tester, "PUT", f"{box}/keep",
                                          "X-Object-Meta-A: a\x00b", body=b"changed"))
    assert status(reply) == 400, reply
    assert state(tester, box) == before


def test_too_many_headers_is_400(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    extra = [f"X-Junk-{i}: v" for i in range(101)]
    reply = send_raw(tester, request_line(tester, "PUT", f"{box}/keep", *extra,
                                          body=b"changed"))
    assert status(reply) == 400, reply
    assert b"X-Trans-Id" in reply or b"x-trans-id" in reply
    assert state(tester, box) == before


def test_oversize_header_is_400(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    reply = send_raw(tester, request_line(tester, "PUT", f"{box}/keep",
                                          "X-Object-Meta-Big: " + "v" * 9000, body=b"changed"))
    assert status(reply) == 400, reply
    assert state(tester, box) == before


def test_bad_content_length_is_400(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    url, token = tester
    prefix = urlsplit(url).path
    reply = send_raw(tester, (f"PUT {prefix}/{box}/keep HTTP/1.1\r\nHost: x\r\n"
                              f"X-Auth-Token: {token}\r\nContent-Length: abc\r\n"
                              "Connection: close\r\n\r\nchanged").encode())
    assert status(reply) == 400, reply
    assert state(tester, box) == before


def test_non_ascii_digits_in_numeric_headers_are_400(tester: tuple[str, str],
                                                     box: str) -> None:
    """'¹²' (latin-1 bytes B9 B2) passes str.isdigit() but not int(): a number in a header
    must be ASCII digits, else the request is refused, not a 500."""
    before = state(tester, box)
    url, token = tester
    prefix = urlsplit(url).path.encode()
    for head in (b"POST " + prefix + b"/" + box.encode() + b" HTTP/1.1\r\n"
                 b"X-Container-Meta-Quota-Bytes: \xb9\xb2\r\n",
                 b"POST " + prefix + b"/" + box.encode() + b" HTTP/1.1\r\n"
                 b"X-Container-Meta-Quota-Count: \xb3\r\n"):
        reply = send_raw(tester, head + b"Host: x\r\nX-Auth-Token: " + token.encode()
                         + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        assert status(reply) == 400, reply
    assert state(tester, box) == before


def test_bad_chunked_body_changes_nothing(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    url, token = tester
    prefix = urlsplit(url).path
    reply = send_raw(tester, (f"PUT {prefix}/{box}/keep HTTP/1.1\r\nHost: x\r\n"
                              f"X-Auth-Token: {token}\r\nTransfer-Encoding: chunked\r\n"
                              "Connection: close\r\n\r\n5\r\nabc\r\nZZ\r\n").encode(), close=True)
    assert reply == b"" or status(reply) in (400, 499), reply
    time.sleep(0.3)
    assert state(tester, box) == before


@pytest.mark.parametrize("sent", [0, 500, 999])
def test_truncated_body_keeps_old_version(server: Server, tester: tuple[str, str], box: str,
                                          sent: int) -> None:
    before = state(tester, box)
    url, token = tester
    prefix = urlsplit(url).path
    head = (f"PUT {prefix}/{box}/keep HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
            "Content-Length: 1000\r\n\r\n").encode()
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"n" * sent)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and list((server.data_dir / "tmp").iterdir()):
        time.sleep(0.05)
    assert not list((server.data_dir / "tmp").iterdir()), "temp file left behind"
    assert state(tester, box) == before
    # a new object name that was never completed does not appear either
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.replace(b"/keep ", b"/partial ") + b"p" * 10)
    time.sleep(0.3)
    assert state(tester, box) == before


def test_wrong_etag_keeps_old_version(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    with raw(tester) as http:
        resp = http.put(f"{box}/keep", content=b"changed",
                        headers={"ETag": "d41d8cd98f00b204e9800998ecf8427e"})
        assert resp.status_code == 422
    assert state(tester, box) == before


@pytest.mark.parametrize("token", ["", "bogus", "AUTH_tk00000000000000000000000000000000"])
def test_bad_token_changes_nothing(tester: tuple[str, str], box: str, token: str) -> None:
    before = state(tester, box)
    url = tester[0]
    import httpx
    headers = {"X-Auth-Token": token} if token else {}
    for method, path, kwargs in [
        ("PUT", f"{box}/keep", {"content": b"changed"}),
        ("PUT", f"{box}/new", {"content": b"new"}),
        ("POST", f"{box}/keep", {"headers": {"X-Object-Meta-X": "1"}}),
        ("DELETE", f"{box}/keep", {}),
        ("DELETE", box, {}),
        ("PUT", uniq(), {}),
        ("POST", "", {"headers": {"X-Account-Meta-X": "1"}}),
    ]:
        extra = kwargs.pop("headers", {})
        resp = httpx.request(method, f"{url}/{path}", headers={**headers, **extra}, **kwargs)
        assert resp.status_code == 401, (method, path)
    assert state(tester, box) == before


def test_bad_delete_at_changes_nothing(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    with raw(tester) as http:
        for value in ("tomorrow", "1", "-5"):
            assert http.put(f"{box}/keep", content=b"changed",
                            headers={"X-Delete-At": value}).status_code == 400
            assert http.post(f"{box}/keep", headers={"X-Delete-At": value}).status_code == 400
    assert state(tester, box) == before


def test_unknown_method_is_405(tester: tuple[str, str], box: str) -> None:
    before = state(tester, box)
    with raw(tester) as http:
        assert http.request("PATCH", f"{box}/keep", content=b"x").status_code == 405
        assert http.request("PATCH", box).status_code == 405
    assert state(tester, box) == before


def test_version_only_path_is_a_bad_url(server: Server) -> None:
    for path in ("/v1", "/v1/"):
        resp = httpx.put(f"{server.url}{path}")
        assert resp.status_code == 412 and resp.text == "Bad URL"


def test_unrouted_path_is_swifts_bad_url(server: Server) -> None:
    """Swift's proxy answers 412 when no controller takes a path, 400 for a bad version."""
    for path in ("/info%20asdf", "/nothing-here"):
        resp = httpx.get(f"{server.url}{path}", headers={"X-Auth-Token": "x"})
        assert (resp.status_code, resp.text) == (412, "Bad URL"), path
        assert resp.headers["X-Trans-Id"] == resp.headers["X-Openstack-Request-Id"]
        assert resp.headers["X-Trans-Id"].startswith("tx")
    assert httpx.get(f"{server.url}/v2/AUTH_x").status_code == 400
    assert httpx.get(f"{server.url}//v1/AUTH_x").status_code == 404
    assert httpx.get(f"{server.url}/").status_code == 200


def test_nul_in_listing_parameters_and_bodies_is_never_a_5xx(tester: tuple[str, str],
                                                             box: str) -> None:
    """A NUL that reaches the metadata store as a listing bound or as a name in a body:
    names are bytes on both backends, so it matches nothing instead of failing a query
    (PostgreSQL's text could not hold it)."""
    before = state(tester, box)
    with raw(tester) as http:
        for key in ("prefix", "marker", "end_marker", "delimiter", "path"):
            for where in (box, ""):
                resp = http.get(where, params={key: "a\x00b"})
                assert resp.status_code in (200, 204), (where, key, resp.text)
                if key in ("prefix", "path") and where:
                    assert resp.content == b"", (key, resp.text)
        bulk = http.post("", params={"bulk-delete": ""}, content=f"{box}/a%00b\n".encode(),
                         headers={"Content-Type": "text/plain", "Accept": "application/json"})
        assert bulk.status_code == 200 and bulk.json()["Errors"] == [
            [f"{box}/a%00b", "412 Precondition Failed"]], bulk.text
        slo = http.put(f"{box}/manifest", params={"multipart-manifest": "put"},
                       json=[{"path": f"/{box}/a\x00b"}])
        assert slo.status_code == 400, slo.text
    assert state(tester, box) == before
