"""A full disk (issue 14): the server's data directory on a small tmpfs made by the test.

PUTs that find no room get Swift's `507 Insufficient Storage`, before the body is read when
its length is announced and while it streams otherwise (or when the disk fills meanwhile),
and image uploads get Glance's 413;
the partial file is removed, nothing half-written is visible, the counters still equal the
listing, reads keep working throughout, and writes work again once space is freed. With
SQLite the metadata database is on the full filesystem too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.api.image.support import OCTET, Glance
from tests.api.swift.features.test_bulk import _file, _tar
from tests.harness import Server
from tests.tmpfs import small_tmpfs

FS_BYTES = 32 << 20
MIB = 1 << 20
SWIFT_507 = ("<html><h1>Insufficient Storage</h1><p>There was not enough space to save the "
             "resource. Drive: Policy-0</p></html>")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", FS_BYTES) as mount:
        yield mount


def free_bytes(path: Path) -> int:
    disk = os.statvfs(path)
    return disk.f_bavail * disk.f_frsize


def fill(path: Path, leave: int) -> None:
    """Take all but `leave` bytes of the filesystem (all of it: until ENOSPC)."""
    with open(path, "ab") as f:
        want = max(0, free_bytes(path.parent) - leave)
        block = b"\0" * MIB
        try:
            while want > 0:
                want -= f.write(block[:min(len(block), want)])
            if not leave:
                while True:
                    f.write(block)
                    f.flush()
        except OSError:
            pass


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def temp_files(srv: Server) -> list[Path]:
    return list((srv.data_dir / "tmp").glob("*.tmp"))


def consistent(http: httpx.Client, url: str, expected: dict[str, bytes]) -> None:
    """Exactly the expected objects, whole, and counters equal to what the listing counts."""
    listing = http.get(f"{url}/c", params={"format": "json"}).json()
    assert {o["name"]: o["hash"] for o in listing} == {n: md5(b) for n, b in expected.items()}
    head = http.head(f"{url}/c")
    assert int(head.headers["x-container-object-count"]) == len(listing)
    assert int(head.headers["x-container-bytes-used"]) == sum(o["bytes"] for o in listing)
    for name, data in expected.items():
        resp = http.get(f"{url}/c/{name}")
        assert resp.status_code == 200 and resp.content == data, name
        assert resp.headers["etag"] == md5(data)


def test_full_disk_gets_507_and_recovers(full_disk: Path) -> None:
    srv = Server(full_disk / "data")
    srv.start()
    try:
        url, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
        http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
        stored = {"big": os.urandom(2 * MIB), "small": b"small body"}
        assert http.put(f"{url}/c").status_code == 201
        for name, data in stored.items():
            assert http.put(f"{url}/c/{name}", content=data).status_code == 201
        glance = Glance(srv, "admin", srv.passwords["admin"], "admin")
        image = glance.create(name="too-big")["id"]
        filler = full_disk / "filler"
        fill(filler, leave=3 * MIB)

        # image data: Glance's 413, and the image is ready for another try
        resp = glance.http.put(f"/images/{image}/file", content=os.urandom(8 * MIB),
                               headers=OCTET)
        assert resp.status_code == 413, resp.text
        assert "Image storage media is full" in resp.text
        assert glance.status(image) == "queued"
        glance.close()
        assert not temp_files(srv)

        # announced length past the free space: 507 before the body, no 100 Continue
        path = url[url.index("/v1/"):]
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
            sock.sendall(f"PUT {path}/c/huge HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
                         f"Content-Length: {8 * MIB}\r\nExpect: 100-continue\r\n\r\n".encode())
            raw = b""
            while not raw.endswith(SWIFT_507.encode()) and (got := sock.recv(65536)):
                raw += got
        head = raw.decode()
        assert head.startswith("HTTP/1.1 507 Insufficient Storage\r\n"), head
        assert head.endswith(SWIFT_507) and "100 Continue" not in head, head

        # no length announced (chunked): the disk fills while the body streams
        def chunks() -> Iterator[bytes]:
            for _ in range(8):
                yield os.urandom(MIB)

        resp = http.put(f"{url}/c/streamed", content=chunks())
        assert (resp.status_code, resp.text) == (507, SWIFT_507)
        assert resp.headers["content-type"] == "text/html; charset=UTF-8"
        assert not temp_files(srv), "the partial upload's temp file was left"

        # the length fits when the PUT starts; another writer takes the rest meanwhile
        def then_fill() -> Iterator[bytes]:
            yield os.urandom(MIB)
            fill(full_disk / "filler2", leave=0)
            yield os.urandom(MIB)

        resp = http.put(f"{url}/c/raced", content=then_fill(),
                        headers={"Content-Length": str(2 * MIB)})
        assert (resp.status_code, resp.text) == (507, SWIFT_507)
        assert not temp_files(srv)

        # the disk is full now: a small PUT is stored (it fits in the database) or 507
        # (SQLite's database on this filesystem could not grow): never another answer
        resp = http.put(f"{url}/c/tiny", content=b"x" * 100)
        assert resp.status_code in (201, 507), (resp.status_code, resp.text)
        if resp.status_code == 201:
            stored["tiny"] = b"x" * 100
        else:
            assert resp.text.startswith("<html><h1>Insufficient Storage</h1>")
        consistent(http, url, stored)  # reads work on a full disk; nothing half-written
        assert "policy Policy-0 is full" in srv.log_path.read_text()

        # space freed: writes work again
        filler.unlink()
        (full_disk / "filler2").unlink()
        stored["huge"] = os.urandom(8 * MIB)
        assert http.put(f"{url}/c/huge", content=stored["huge"]).status_code == 201
        consistent(http, url, stored)
        assert not temp_files(srv)
        http.close()
    finally:
        srv.stop()
    with contextlib.suppress(FileNotFoundError):
        (full_disk / "filler").unlink()


def test_bulk_upload_onto_a_full_disk_reports_each_member(full_disk: Path) -> None:
    """An archive extraction that runs out of room answers as Swift's bulk middleware does:
    200 with a report naming each member refused with its 507 ("502 Bad Gateway" as the
    status), the members stored before it counted and listed (the whole request was a bare
    507, which named none of them). With SQLite on the full disk, a container the database
    has no room for is a 507 too (it was a 500)."""
    srv = Server(full_disk / "data")
    srv.start()
    try:
        url, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
        http = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
        assert http.put(f"{url}/c").status_code == 201
        fill(full_disk / "filler", leave=2 * MIB)
        # past the inline size, so blobs on the full disk whatever the metadata store
        members = {f"m{i:03d}": os.urandom(100 * 1024) for i in range(60)}  # 5.9 MiB
        archive = _tar([_file(n, d) for n, d in members.items()], "w")
        resp = http.put(f"{url}/c", params={"extract-archive": "tar"}, content=archive,
                        headers={"Accept": "application/json"})
        assert resp.status_code == 200, resp.text
        report = resp.json()
        assert report["Response Status"] == "502 Bad Gateway", report
        refused = {path for path, _ in report["Errors"]}  # "c/m023", as Swift names them
        assert refused and {s for _, s in report["Errors"]} == {"507 Insufficient Storage"}
        assert report["Number Files Created"] + len(refused) == len(members), report
        stored = {n: d for n, d in members.items() if f"c/{n}" not in refused}
        assert len(stored) == report["Number Files Created"]
        consistent(http, url, stored)

        if pg.database_of(srv.data_dir) is not None:
            return  # PostgreSQL's database is elsewhere, with room
        fill(full_disk / "filler2", leave=0)
        for i in range(2000):  # until the database cannot grow (its free pages run out)
            resp = http.put(f"{url}/more-{i}")
            if resp.status_code != 201:
                break
        assert (resp.status_code, resp.text) == (507, SWIFT_507.replace("Policy-0", "metadata"))
        assert "Traceback" not in srv.log_path.read_text()
        http.close()
    finally:
        srv.stop()
