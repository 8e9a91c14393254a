"""Background jobs: expired objects vanish at once for readers and are reclaimed on disk."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


def blobs(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "objects").rglob("*") if p.is_file()}


def test_expired_object_vanishes_and_is_reclaimed(server: Server,
                                                  tester: tuple[str, str]) -> None:
    url, token = tester
    container = uniq()
    c = conn(tester)
    c.put_container(container)
    before = blobs(server.data_dir)
    body = b"expiring data" * 6000  # past inline_bytes: it has a blob file to reclaim
    c.put_object(container, "keep", b"k" * 70_000)
    keep_blob = blobs(server.data_dir) - before
    delete_at = int(time.time()) + 2
    c.put_object(container, "gone", body, headers={"X-Delete-At": str(delete_at)})
    new = blobs(server.data_dir) - before - keep_blob
    assert len(new) == 1 and len(keep_blob) == 1
    assert c.get_object(container, "gone")[1] == body
    while time.time() < delete_at + 0.05:
        time.sleep(0.05)
    # gone for readers the moment delete-at passes, before the expirer has run
    hdr = {"X-Auth-Token": token}
    assert httpx.get(f"{url}/{container}/gone", headers=hdr).status_code == 404
    assert httpx.head(f"{url}/{container}/gone", headers=hdr).status_code == 404
    assert httpx.post(f"{url}/{container}/gone", headers=hdr).status_code == 404
    names = [o["name"] for o in c.get_container(container)[1]]
    assert names == ["keep"]
    # and reclaimed in the background: blob file, row and counters
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and new & blobs(server.data_dir):
        time.sleep(0.1)
    assert not new & blobs(server.data_dir), "expired blob still on disk"
    assert keep_blob <= blobs(server.data_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        head = c.head_container(container)
        if head["x-container-object-count"] == "1":
            break
        time.sleep(0.1)
    assert head["x-container-object-count"] == "1" and head["x-container-bytes-used"] == "70000"
    assert c.get_object(container, "keep")[1] == b"k" * 70_000


def test_delete_after_expired_object_is_404(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    container = uniq()
    c = conn(tester)
    c.put_container(container)
    c.put_object(container, "o", b"x", headers={"X-Delete-After": "1"})
    time.sleep(2.05)
    resp = httpx.delete(f"{url}/{container}/o", headers={"X-Auth-Token": token})
    assert resp.status_code == 404
    # PUT over an expired name is a fresh object
    c.put_object(container, "o", b"new")
    assert c.get_object(container, "o")[1] == b"new"
    assert c.head_container(container)["x-container-object-count"] == "1"
