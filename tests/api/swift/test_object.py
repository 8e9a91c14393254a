"""Object PUT/GET/HEAD/POST/DELETE: bodies, ETags, content types, metadata, expiry headers."""

from __future__ import annotations

import hashlib
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
import swiftclient

from tests.api.swift.helpers import conn, new_container, raw, uniq


def test_put_with_length_returns_unquoted_md5(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        resp = http.put(f"{name}/a.bin", content=b"data",
                        headers={"Content-Type": "application/x-thing"})
        assert resp.status_code == 201
        assert resp.headers["Etag"] == hashlib.md5(b"data").hexdigest()
        get = http.get(f"{name}/a.bin")
        assert get.content == b"data"
        assert get.headers["Etag"] == hashlib.md5(b"data").hexdigest()
        assert get.headers["Content-Type"] == "application/x-thing"
        assert get.headers["Content-Length"] == "4"


def test_put_chunked(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    chunks = [b"x" * 1000, b"y" * 70000, b"z"]
    etag = conn(tester).put_object(name, "chunked", iter(chunks))
    assert etag == hashlib.md5(b"".join(chunks)).hexdigest()
    assert conn(tester).get_object(name, "chunked")[1] == b"".join(chunks)

    def gen():
        yield from chunks

    with raw(tester) as http:
        resp = http.put(f"{name}/chunked2", content=gen())
        assert resp.status_code == 201
        assert http.get(f"{name}/chunked2").content == b"".join(chunks)


def test_expect_100_continue(tester: tuple[str, str]) -> None:
    """Accepted PUT gets 100 then 201; refused PUT gets its error without sending the body."""
    name = new_container(tester)
    url, token = tester
    parts = urlsplit(url)

    def exchange(path: str, tok: str, send_body: bool) -> bytes:
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall((f"PUT {parts.path}/{path} HTTP/1.1\r\nHost: x\r\n"
                          f"X-Auth-Token: {tok}\r\nContent-Length: 5\r\n"
                          "Expect: 100-continue\r\n\r\n").encode())
            first = sock.recv(65536)
            if send_body and first.startswith(b"HTTP/1.1 100"):
                sock.sendall(b"hello")
                while b"201" not in first:
                    first += sock.recv(65536)
            return first

    ok = exchange(f"{name}/obj", token, True)
    assert ok.startswith(b"HTTP/1.1 100") and b"HTTP/1.1 201" in ok
    assert conn(tester).get_object(name, "obj")[1] == b"hello"
    refused = exchange(f"{name}/obj2", "bad-token", False)
    assert refused.startswith(b"HTTP/1.1 401"), refused
    missing = exchange(f"{uniq()}/obj", token, False)
    assert missing.startswith(b"HTTP/1.1 404"), missing


def test_etag_mismatch_is_422_and_stores_nothing(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"old")
        resp = http.put(f"{name}/o", content=b"new", headers={"ETag": "0" * 32})
        assert resp.status_code == 422
        assert http.get(f"{name}/o").content == b"old"
        good = http.put(f"{name}/o", content=b"new",
                        headers={"ETag": f'"{hashlib.md5(b"new").hexdigest()}"'})
        assert good.status_code == 201
        assert http.put(f"{name}/p", content=b"x", headers={"ETag": "zz"}).status_code == 422
        assert http.head(f"{name}/p").status_code == 404


@pytest.mark.parametrize(("obj", "expected"), [
    ("photo.jpg", "image/jpeg"), ("doc.html", "text/html"), ("noext", "application/octet-stream"),
])
def test_content_type_guessed(tester: tuple[str, str], obj: str, expected: str) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/{obj}", content=b"x")
        assert http.head(f"{name}/{obj}").headers["Content-Type"] == expected


def test_metadata_disposition_encoding(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    c = conn(tester)
    c.put_object(name, "o", b"body", headers={
        "X-Object-Meta-Color": "red", "Content-Disposition": "attachment; filename=o.txt",
        "Content-Encoding": "gzip", "X-Object-Sysmeta-Evil": "1"})
    head = c.head_object(name, "o")
    assert head["x-object-meta-color"] == "red"
    assert head["content-disposition"] == "attachment; filename=o.txt"
    assert head["content-encoding"] == "gzip"
    assert not any("sysmeta" in k for k in head)
    assert head["content-length"] == "4"
    assert head["accept-ranges"] == "bytes"
    assert "x-timestamp" in head and "last-modified" in head


def test_head_has_no_body(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"x" * 1000)
        head = http.head(f"{name}/o")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == "1000" and head.content == b""


def test_post_replaces_metadata(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    c = conn(tester)
    c.put_object(name, "o", b"body", headers={"X-Object-Meta-A": "1",
                                              "Content-Type": "text/plain"})
    with raw(tester) as http:
        resp = http.post(f"{name}/o", headers={"X-Object-Meta-B": "2",
                                               "Content-Type": "application/json"})
        assert resp.status_code == 202
        head = c.head_object(name, "o")
        assert "x-object-meta-a" not in head and head["x-object-meta-b"] == "2"
        assert head["content-type"] == "application/json"
        assert c.get_object(name, "o")[1] == b"body"
        assert http.post(f"{name}/missing", headers={"X-Object-Meta-B": "2"}).status_code == 404


def test_delete(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"x")
        assert http.delete(f"{name}/o").status_code == 204
        assert http.get(f"{name}/o").status_code == 404
        assert http.delete(f"{name}/o").status_code == 404
        assert http.put(f"{uniq()}/o", content=b"x").status_code == 404


def test_delete_after_and_at(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/soon", content=b"x", headers={"X-Delete-After": "2"})
        at = int(time.time()) + 1000
        http.put(f"{name}/later", content=b"y", headers={"X-Delete-At": str(at)})
        assert http.head(f"{name}/later").headers["X-Delete-At"] == str(at)
        assert "X-Delete-At" in http.head(f"{name}/soon").headers
        time.sleep(3.1)
        assert http.get(f"{name}/soon").status_code == 404
        assert http.head(f"{name}/soon").status_code == 404
        listing = http.get(name, params={"format": "json"}).json()
        assert [o["name"] for o in listing] == ["later"]
        assert http.put(f"{name}/past", content=b"x",
                        headers={"X-Delete-At": str(int(time.time()) - 10)}).status_code == 400
        assert http.put(f"{name}/bad", content=b"x",
                        headers={"X-Delete-After": "soon"}).status_code == 400
        # POST can set and clear expiry
        http.post(f"{name}/later", headers={"X-Delete-After": "1"})
        time.sleep(1.5)
        assert http.get(f"{name}/later").status_code == 404


def test_delete_at_far_future_is_capped(tester: tuple[str, str]) -> None:
    """Swift caps an expiry past 2286 at 9999999999 instead of refusing it."""
    name = new_container(tester)
    with raw(tester) as http:
        assert http.put(f"{name}/far", content=b"",
                        headers={"X-Delete-At": "1" * 100}).status_code == 201
        assert http.head(f"{name}/far").headers["X-Delete-At"] == "9" * 10
        assert http.post(f"{name}/far", headers={"X-Delete-After": "9" * 400}).status_code == 202
        assert http.head(f"{name}/far").headers["X-Delete-At"] == "9" * 10
        resp = http.put(f"{name}/frac", content=b"", headers={"X-Delete-At": "9999999998.5"})
        assert (resp.status_code, resp.text) == (400, "Non-integer X-Delete-At")


def test_delete_with_x_if_delete_at(tester: tuple[str, str]) -> None:
    """The expirer's guard: delete only the version that expires at the given time."""
    name = new_container(tester)
    at = int(time.time()) + 1000
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"x", headers={"X-Delete-At": str(at)})
        http.put(f"{name}/plain", content=b"x")
        for bad in ("bad", "-1", "1" * 11, "nan"):
            resp = http.delete(f"{name}/o", headers={"X-If-Delete-At": bad})
            assert (resp.status_code, resp.text) == (400, "Bad X-If-Delete-At header value")
            assert http.delete(f"{name}/missing",
                               headers={"X-If-Delete-At": bad}).status_code == 400
        for wrong, obj in ((str(at + 1), "o"), (str(at), "plain")):
            resp = http.delete(f"{name}/{obj}", headers={"X-If-Delete-At": wrong})
            assert resp.status_code == 412
            assert resp.text == "X-If-Delete-At and X-Delete-At do not match"
        assert http.head(f"{name}/o").status_code == 200
        assert http.delete(f"{name}/missing", headers={"X-If-Delete-At": str(at)}
                           ).status_code == 404
        assert http.delete(f"{name}/o", headers={"X-If-Delete-At": f"{at}.0"}
                           ).status_code == 204
        assert http.head(f"{name}/o").status_code == 404


def test_swiftclient_object_round_trip_large(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    data = bytes(range(256)) * 8192  # 2 MiB
    c = conn(tester)
    c.put_object(name, "big", data)
    headers, body = c.get_object(name, "big", resp_chunk_size=65536)
    assert b"".join(body) == data
    assert headers["etag"] == hashlib.md5(data).hexdigest()
    with pytest.raises(swiftclient.ClientException) as exc:
        c.get_object(name, "nope")
    assert exc.value.http_status == 404


def test_put_to_unicode_names(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq("ü")
    c.put_container(name)
    c.put_object(name, "日本/語 +%.txt", b"u")
    assert c.get_object(name, "日本/語 +%.txt")[1] == b"u"
    _, listing = c.get_container(name)
    assert listing[0]["name"] == "日本/語 +%.txt"
    url, token = tester
    assert httpx.get(f"{url}/{name}/x", headers={"X-Auth-Token": token}).status_code == 404


def test_head_never_opens_the_blob(server: object, tester: tuple[str, str]) -> None:
    """HEAD answers from metadata: it works even while the data file is out of reach."""
    from tests.harness import Server

    assert isinstance(server, Server)
    name = new_container(tester)
    objects = server.data_dir / "objects"
    before = {p for p in objects.rglob("*") if p.is_file()}
    body = b"12345" * 20_000  # past inline_bytes, so it gets a file
    conn(tester).put_object(name, "o", body)
    (blob,) = {p for p in objects.rglob("*") if p.is_file()} - before
    hidden = blob.with_name(blob.name + ".hidden")
    blob.rename(hidden)
    try:
        with raw(tester) as http:
            head = http.head(f"{name}/o")
            assert head.status_code == 200 and head.headers["Content-Length"] == "100000"
    finally:
        hidden.rename(blob)
    assert conn(tester).get_object(name, "o")[1] == body


def test_post_moves_last_modified(tester: tuple[str, str]) -> None:
    """A POST is a new version of the metadata: Last-Modified and the listing date move."""
    name = new_container(tester)
    c = conn(tester)
    c.put_object(name, "o", b"body")
    before_head = c.head_object(name, "o")
    before_listing = c.get_container(name)[1][0]["last_modified"]
    time.sleep(1.1)
    c.post_object(name, "o", {"X-Object-Meta-A": "1"})
    after_head = c.head_object(name, "o")
    assert float(after_head["x-timestamp"]) > float(before_head["x-timestamp"])
    assert after_head["last-modified"] != before_head["last-modified"]
    assert c.get_container(name)[1][0]["last_modified"] > before_listing
    assert after_head["etag"] == before_head["etag"]


def test_connection_keep_alive_is_echoed(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        http.put(f"{name}/o", content=b"x")
        assert http.get(f"{name}/o", headers={"Connection": "keep-alive"}
                        ).headers["Connection"] == "keep-alive"


def test_open_expired_reaches_an_expired_object_until_reclaimed(make_server: object) -> None:
    """allow_open_expired: `X-Open-Expired: true` reads an expired object and a POST with a
    new X-Delete-At restores it, as in Swift; without the option the header does nothing."""
    srv = make_server(extra_args=(  # type: ignore[operator]
        "--allow-open-expired", "--expirer-delay-reaping", "3600"))
    srv.add_user("test", "tester", "testing", role="admin")
    tester = srv.auth_v1("test:tester", "testing")
    assert httpx.get(srv.url + "/info").json()["swift"]["allow_open_expired"] is True
    name = new_container(tester)
    opened = {"X-Open-Expired": "true"}
    with raw(tester) as http:
        at = int(time.time()) + 2
        assert http.put(f"{name}/o", content=b"body", headers={"X-Delete-At": str(at)}
                        ).status_code == 201
        time.sleep(max(0.0, at - time.time()) + 1.1)
        assert http.get(f"{name}/o").status_code == 404
        assert http.get(f"{name}/o", headers={"X-Open-Expired": "false"}).status_code == 404
        got = http.get(f"{name}/o", headers=opened)
        assert (got.status_code, got.content, got.headers["X-Delete-At"]) == (200, b"body",
                                                                               str(at))
        assert http.head(f"{name}/o", headers=opened).status_code == 200
        assert http.post(f"{name}/o", headers={"X-Object-Meta-Test": "x"}).status_code == 404
        later = str(int(time.time()) + 3600)
        assert http.post(f"{name}/o", headers={**opened, "X-Object-Meta-Test": "restored!",
                                               "X-Delete-At": later}).status_code == 202
        head = http.head(f"{name}/o")
        assert head.status_code == 200 and head.headers["X-Object-Meta-Test"] == "restored!"
        assert head.headers["X-Delete-At"] == later


def test_open_expired_needs_the_option(tester: tuple[str, str]) -> None:
    name = new_container(tester)
    with raw(tester) as http:
        at = int(time.time()) + 1
        http.put(f"{name}/o", content=b"body", headers={"X-Delete-At": str(at)})
        time.sleep(max(0.0, at - time.time()) + 1.1)
        assert http.get(f"{name}/o", headers={"X-Open-Expired": "true"}).status_code == 404
