"""Browser-style form POST uploads, built as an HTML form would send them (httpx files=)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import swiftclient

from tests.harness import Server

KEY = "form-key"


def signature(path: str, redirect: str, max_size: int, max_count: int, expires: int,
              digest: str = "sha256") -> str:
    body = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    return hmac.new(KEY.encode(), body.encode(), getattr(hashlib, digest)).hexdigest()


def form(path: str, *, redirect: str = "", max_size: int = 1024, max_count: int = 2,
         expires: int | None = None, digest: str = "sha256", **extra: str) -> dict[str, str]:
    expires = expires or int(time.time()) + 60
    fields = {"redirect": redirect, "max_file_size": str(max_size),
              "max_file_count": str(max_count), "expires": str(expires),
              "signature": signature(path, redirect, max_size, max_count, expires, digest)}
    fields.update(extra)
    return fields


@pytest.fixture(scope="module")
def target(server: Server, tester: tuple[str, str]) -> tuple[swiftclient.Connection, str, str]:
    url, token = tester
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    container = f"fp-{uuid.uuid4().hex[:8]}"
    conn.put_container(container, headers={"X-Container-Meta-Temp-URL-Key": KEY})
    return conn, container, f"{url[url.index('/v1/'):]}/{container}"


def test_upload_with_redirect_stores_files(server: Server,
                                           target: tuple[swiftclient.Connection, str, str]
                                           ) -> None:
    conn, container, path = target
    redirect = "https://example.com/done?x=1"
    fields = form(path + "/up/", redirect=redirect, max_size=100_000, x_delete_after="3600")
    files = [("file1", ("a.txt", b"first file", "text/plain")),
             ("file2", ("b.bin", b"\x00\r\n--second\r\n" * 1000, "application/x-thing"))]
    resp = httpx.post(f"{server.url}{path}/up/", data=fields, files=files)
    assert resp.status_code == 303
    location = urlparse(resp.headers["location"])
    assert location.netloc == "example.com"
    assert parse_qs(location.query) == {"x": ["1"], "status": ["201"]}
    assert "Click to continue" in resp.text
    headers, body = conn.get_object(container, "up/a.txt")
    assert body == b"first file" and headers["content-type"] == "text/plain"
    assert "x-delete-at" in headers
    assert conn.get_object(container, "up/b.bin")[1] == b"\x00\r\n--second\r\n" * 1000


def test_without_redirect_and_sha1_signature(server: Server,
                                             target: tuple[swiftclient.Connection, str, str]
                                             ) -> None:
    conn, container, path = target
    resp = httpx.post(f"{server.url}{path}", data=form(path, digest="sha1"),
                      files={"f": ("plain.txt", b"no redirect", "text/plain")})
    assert (resp.status_code, resp.text) == (201, "201 Created")
    assert conn.get_object(container, "plain.txt")[1] == b"no redirect"


def test_limits_signature_and_expiry(server: Server,
                                     target: tuple[swiftclient.Connection, str, str]) -> None:
    conn, container, path = target
    url = f"{server.url}{path}"
    resp = httpx.post(url, data=form(path, max_count=1),
                      files=[("a", ("one.txt", b"1", "text/plain")),
                             ("b", ("two.txt", b"2", "text/plain"))])
    assert resp.status_code == 400
    assert resp.text == "400 Bad Request\r\nFormPost: Max File Count Exceeded"
    assert conn.get_object(container, "one.txt")[1] == b"1"
    with pytest.raises(swiftclient.ClientException):
        conn.head_object(container, "two.txt")

    resp = httpx.post(url, data=form(path, max_size=10),
                      files={"f": ("big.txt", b"x" * 11, "text/plain")})
    assert (resp.status_code, resp.text) == (400, "FormPost: max_file_size exceeded")
    with pytest.raises(swiftclient.ClientException):
        conn.head_object(container, "big.txt")

    bad = form(path)
    bad["signature"] = "0" * 64
    resp = httpx.post(url, data=bad, files={"f": ("x.txt", b"x", "text/plain")})
    assert (resp.status_code, resp.text) == (401, "FormPost: Invalid Signature")
    resp = httpx.post(url, data=form(path, expires=int(time.time()) - 5),
                      files={"f": ("x.txt", b"x", "text/plain")})
    assert (resp.status_code, resp.text) == (401, "FormPost: Form Expired")
    # a form signed for another container does not work here
    resp = httpx.post(url, data=form(path + "x"), files={"f": ("x.txt", b"x", "text/plain")})
    assert resp.status_code == 401
    with pytest.raises(swiftclient.ClientException):
        conn.head_object(container, "x.txt")
    resp = httpx.post(url, data=form(path), files={"note": (None, b"no file here")})
    assert (resp.status_code, resp.text) == (400, "400 Bad Request\r\nFormPost: No Files To "
                                                  "Process")


def test_failure_redirect_carries_status_and_message(
        server: Server, target: tuple[swiftclient.Connection, str, str]) -> None:
    _, _, path = target
    resp = httpx.post(f"{server.url}{path}", data=form(path, redirect="https://e.com/r",
                                                       max_count=0),
                      files={"f": ("z.txt", b"z", "text/plain")})
    assert resp.status_code == 303
    query = parse_qs(urlparse(resp.headers["location"]).query)
    assert query == {"status": ["400"], "message": ["max file count exceeded"]}


def test_container_quota_applies_to_form_uploads(
        server: Server, target: tuple[swiftclient.Connection, str, str]) -> None:
    conn, container, path = target
    small = container + "-q"
    conn.put_container(small, headers={"X-Container-Meta-Temp-URL-Key": KEY,
                                       "X-Container-Meta-Quota-Bytes": "5"})
    small_path = path.rsplit("/", 1)[0] + "/" + small
    resp = httpx.post(f"{server.url}{small_path}", data=form(small_path),
                      files={"f": ("q.txt", b"too many bytes", "text/plain")})
    assert resp.status_code == 413
    assert conn.get_container(small)[1] == []


def test_expiry_and_delete_at_out_of_range_are_not_500(
        server: Server, target: tuple[swiftclient.Connection, str, str]) -> None:
    """Issue 14: numbers no date can carry are refused like the temp URL's (401), and an
    x_delete_at past what the store can hold is Swift's 400, never a 500."""
    conn, container, path = target
    url = f"{server.url}{path}"
    ok = httpx.post(url, data=form(path, expires=253402300799),
                    files={"f": ("far.txt", b"far", "text/plain")})
    assert ok.status_code == 201, ok.text
    for expires in (253402300800, 10**30):
        resp = httpx.post(url, data=form(path, expires=expires),
                          files={"f": ("never.txt", b"x", "text/plain")})
        assert resp.status_code == 401, (expires, resp.text)
    for delete_at in (str(10**30), str(2**63)):
        resp = httpx.post(url, data=form(path, x_delete_at=delete_at),
                          files={"f": ("late.txt", b"x", "text/plain")})
        assert resp.status_code < 500, (delete_at, resp.status_code, resp.text)
    with pytest.raises(swiftclient.ClientException):
        conn.head_object(container, "never.txt")
