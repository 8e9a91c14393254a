"""The expirer at scale: thousands of expiring objects reclaimed in bounded time, across a
crash and restart of the server (the delete-at index survives; nothing is scanned)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.harness import Server

OBJECTS = 2000
RECLAIM_DEADLINE = 60.0


def blob_count(data_dir: Path) -> int:
    return sum(1 for p in (data_dir / "objects").rglob("*") if p.is_file())


def test_thousands_expire_across_a_restart(make_server: Callable[..., Server]) -> None:
    server = make_server(extra_args=("--inline-bytes", "0"))  # each object has a blob file
    server.add_user("test", "tester", "testing", role="admin")
    url, token = server.auth_v1("test:tester", "testing")
    auth = {"X-Auth-Token": token}
    httpx.put(f"{url}/expiring", headers=auth).raise_for_status()
    httpx.put(f"{url}/expiring/keep", content=b"stays", headers=auth).raise_for_status()
    # due well after the upload ends even on a loaded 2-core CI machine
    delete_at = int(time.time()) + 45

    def put(batch: range) -> None:
        with httpx.Client(headers={**auth, "X-Delete-At": str(delete_at)}) as client:
            for i in batch:
                client.put(f"{url}/expiring/obj-{i:05d}", content=b"x" * 64).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [range(n, OBJECTS, 8) for n in range(8)]))
    head = httpx.head(f"{url}/expiring", headers=auth)
    assert int(head.headers["x-container-object-count"]) == OBJECTS + 1
    assert blob_count(server.data_dir) == OBJECTS + 1

    # crash before the objects are due: the index lives in the database, not in memory
    server.kill()
    server.start()
    url, token = server.auth_v1("test:tester", "testing")
    auth = {"X-Auth-Token": token}
    time.sleep(max(0.0, delete_at - time.time()))
    started = time.monotonic()
    while time.monotonic() - started < RECLAIM_DEADLINE:
        head = httpx.head(f"{url}/expiring", headers=auth)
        # rows go first, then their blobs: done when both are gone
        if head.headers["x-container-object-count"] == "1" and blob_count(
                server.data_dir) == 1:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    print(f"expirer reclaimed {OBJECTS} objects {elapsed:.1f} s after they were due")
    assert head.headers["x-container-object-count"] == "1", "expirer did not keep up"
    assert head.headers["x-container-bytes-used"] == str(len(b"stays"))
    assert blob_count(server.data_dir) == 1
    listing = httpx.get(f"{url}/expiring", headers=auth)
    assert listing.text == "keep\n"
