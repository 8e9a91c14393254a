"""Small objects keep their bytes in the metadata database, committed with their row.

Checked through the Swift API with swiftclient and raw HTTP, and beneath it: which objects got
a blob file, and which inline rows the metadata database (either backend) holds after every
kind of write and removal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import swiftclient

from tests import stored
from tests.api.swift.helpers import conn, new_container, raw
from tests.harness import Server

LIMIT = 64 * 1024  # the default inline_bytes


def blob_files(server: Server) -> set[Path]:
    return {p for p in (server.data_dir / "objects").rglob("*") if p.is_file()}


def inline_rows(server: Server) -> int:
    return stored.count(server.data_dir, "inline_blobs")


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_small_object_is_inline_and_reads_back(server: Server, tester: tuple[str, str]
                                                ) -> None:
    name = new_container(tester)
    c = conn(tester)
    files, rows = blob_files(server), inline_rows(server)
    body = bytes(range(256)) * 16  # 4 KiB
    etag = c.put_object(name, "small", body)
    assert etag == hashlib.md5(body).hexdigest()
    assert blob_files(server) == files, "a small object got a blob file"
    assert inline_rows(server) == rows + 1
    headers, got = c.get_object(name, "small")
    assert got == body and headers["etag"] == etag and headers["content-length"] == "4096"
    with raw(tester) as http:
        part = http.get(f"{name}/small", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == body[10:20]
        assert part.headers["Content-Range"] == "bytes 10-19/4096"
        two = http.get(f"{name}/small", headers={"Range": "bytes=0-0,-1"})
        assert two.status_code == 206 and body[:1] in two.content and body[-1:] in two.content
    c.delete_object(name, "small")
    assert inline_rows(server) == rows
    with pytest.raises(swiftclient.ClientException) as err:
        c.get_object(name, "small")
    assert err.value.http_status == 404


def test_inline_ids_follow_the_order_of_writes(server: Server, tester: tuple[str, str]
                                               ) -> None:
    """Small objects' ids sort in the order they were written, so the indexes keyed by them
    grow at one edge: random ids put each new row in a page of its own, read back and
    written again at every commit (8% of a 5,000-file bulk upload, docs/benchmarks.md)."""
    name = new_container(tester)
    c = conn(tester)
    for i in range(20):
        c.put_object(name, f"o{i:02d}", b"small")
    newest = stored.rows(server.data_dir, "SELECT blob_id FROM objects WHERE blob_id LIKE"
                         " 'inline:%' ORDER BY timestamp DESC LIMIT 20")  # these 20
    ids = [str(blob) for blob, in reversed(newest)]
    assert len(set(ids)) == 20 and ids == sorted(ids)


def test_the_threshold_is_inclusive(server: Server, tester: tuple[str, str]) -> None:
    """64 KiB stays inline; one byte more goes to a blob file, streamed in pieces that start
    inline (a chunked upload: the size is unknown until the end)."""
    name = new_container(tester)
    c = conn(tester)
    files, rows = blob_files(server), inline_rows(server)
    at_limit = b"a" * LIMIT
    over = bytes(range(251)) * (LIMIT // 251 + 1)
    over = over[:LIMIT + 1]
    c.put_object(name, "at", chunked(at_limit, 5000))
    c.put_object(name, "over", chunked(over, 5000))
    assert inline_rows(server) == rows + 1
    assert len(blob_files(server) - files) == 1
    assert c.get_object(name, "at")[1] == at_limit
    headers, got = c.get_object(name, "over")
    assert got == over and headers["etag"] == hashlib.md5(over).hexdigest()


def test_overwrites_between_inline_and_file_leave_nothing_behind(
        server: Server, tester: tuple[str, str]) -> None:
    name = new_container(tester)
    c = conn(tester)
    files, rows = blob_files(server), inline_rows(server)
    big = b"b" * (LIMIT + 100)
    for body in (b"first", b"second", big, b"third", big + b"!", b"fourth"):
        c.put_object(name, "o", body)
        assert c.get_object(name, "o")[1] == body
        assert c.head_container(name)["x-container-bytes-used"] == str(len(body))
    assert inline_rows(server) == rows + 1
    assert blob_files(server) == files
    c.delete_object(name, "o")
    assert inline_rows(server) == rows


def test_bad_upload_stores_nothing(server: Server, tester: tuple[str, str]) -> None:
    name = new_container(tester)
    rows = inline_rows(server)
    with raw(tester) as http:
        wrong = http.put(f"{name}/o", content=b"data", headers={"ETag": "0" * 32})
        assert wrong.status_code == 422
    assert inline_rows(server) == rows
    assert conn(tester).get_container(name)[1] == []


def test_copies_are_independent(server: Server, tester: tuple[str, str]) -> None:
    """A server-side copy of an inline object (within and across containers) has its own
    bytes: deleting or overwriting the source leaves the copy whole."""
    source, target = new_container(tester), new_container(tester)
    c = conn(tester)
    rows = inline_rows(server)
    c.put_object(source, "o", b"original", headers={"X-Object-Meta-Color": "blue"})
    c.copy_object(source, "o", f"/{target}/copy")
    with raw(tester) as http:
        assert http.put(f"{source}/o2", headers={"X-Copy-From": f"{source}/o"}
                        ).status_code == 201
    assert inline_rows(server) == rows + 3
    c.put_object(source, "o", b"changed")
    c.delete_object(source, "o2")
    headers, got = c.get_object(target, "copy")
    assert got == b"original" and headers["x-object-meta-color"] == "blue"
    c.delete_object(source, "o")
    c.delete_object(target, "copy")
    assert inline_rows(server) == rows


def test_expired_inline_object_is_reclaimed(server: Server, tester: tuple[str, str]) -> None:
    name = new_container(tester)
    c = conn(tester)
    rows = inline_rows(server)
    c.put_object(name, "o", b"soon gone", headers={"X-Delete-After": "1"})
    assert inline_rows(server) == rows + 1
    deadline = time.monotonic() + 20
    while inline_rows(server) != rows and time.monotonic() < deadline:
        time.sleep(0.2)
    assert inline_rows(server) == rows, "the expirer left the inline bytes behind"


def test_inline_off_keeps_every_object_in_files(make_server: object) -> None:
    assert callable(make_server)
    srv: Server = make_server(env={"STRATO_INLINE_BYTES": "0"})
    srv.add_user("p", "u", "pw", role="admin")
    url, token = srv.auth_v1("p:u", "pw")
    c = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    c.put_container("c")
    c.put_object("c", "empty", b"")
    c.put_object("c", "small", b"x")
    assert len(blob_files(srv)) == 2 and inline_rows(srv) == 0
    assert c.get_object("c", "small")[1] == b"x"
    assert httpx.get(f"{url}/c/empty", headers={"X-Auth-Token": token}).content == b""
