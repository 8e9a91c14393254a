"""Fill a listing container straight into each server's database, for sizes (1,000,000
objects) that would take hours through the API. Both servers then serve real listings over
HTTP from what was written; only the objects' bodies do not exist (listings never read them).

Strato: rows inserted with the store's own connection settings and column list, the
container's counters updated in the same transaction. Swift: its own ContainerBroker's
`merge_items` (the replicator's bulk path) run in Swift's venv, on the container's DB file.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from strato.stores.metadata.sqlite.db import connect
from strato.stores.metadata.sqlite.objects import OBJECT_COLUMNS

BATCH = 50_000
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
NO_BLOB = "0" * 32  # a valid id that no blob file has: a GET of a filled object would 404


def account_of(storage_url: str) -> str:
    return urlsplit(storage_url).path.rstrip("/").rsplit("/", 1)[-1]


def _batches(names: Iterable[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def strato(db_path: Path, account: str, container: str, names: Iterable[str]) -> float:
    """Insert empty objects into an existing container; returns objects/s."""
    conn = connect(db_path)
    t0, total = time.perf_counter(), 0
    try:
        row = conn.execute("SELECT id FROM containers WHERE account = ? AND name = ?",
                           (account, container)).fetchone()
        if row is None:
            raise RuntimeError(f"no container {account}/{container} in {db_path}")
        now = time.time()
        for batch in _batches(names):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                f"INSERT INTO objects ({OBJECT_COLUMNS}) VALUES (?,?,?,0,?,?,?,'{{}}',NULL)",
                ((row[0], name, NO_BLOB, EMPTY_MD5, "application/octet-stream", now)
                 for name in batch))
            conn.execute("UPDATE containers SET object_count = object_count + ? WHERE id = ?",
                         (len(batch), row[0]))
            conn.execute("COMMIT")
            total += len(batch)
    finally:
        conn.close()
    return total / (time.perf_counter() - t0)


SWIFT_SCRIPT = """
import glob, sys
from swift.common.utils import Timestamp
from swift.container.backend import ContainerBroker
devices, account, container, batch, etag = sys.argv[1:4] + [int(sys.argv[4]), sys.argv[5]]
for path in glob.glob(devices + "/*/containers/*/*/*/*.db"):
    broker = ContainerBroker(path)
    info = broker.get_info()
    if info["account"] == account and info["container"] == container:
        break
else:
    sys.exit("container DB not found")
ts = Timestamp.now().internal
items = []
def flush():
    broker.merge_items(items)
    items.clear()
for line in sys.stdin:
    items.append({"name": line.rstrip("\\n"), "created_at": ts, "size": 0, "deleted": 0,
                  "content_type": "application/octet-stream", "etag": etag,
                  "storage_policy_index": 0})
    if len(items) >= batch:
        flush()
if items:
    flush()
"""


def swift(python: Path, devices: Path, account: str, container: str,
          names: Iterable[str]) -> float:
    """The same for Swift, through its ContainerBroker; returns objects/s."""
    t0, total = time.perf_counter(), 0
    proc = subprocess.Popen([str(python), "-c", SWIFT_SCRIPT, str(devices), account, container,
                             str(BATCH), EMPTY_MD5],
                            stdin=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    for batch in _batches(names):
        proc.stdin.write("".join(f"{name}\n" for name in batch))
        total += len(batch)
    proc.stdin.close()
    if proc.wait(timeout=3600) != 0:
        raise RuntimeError("swift direct fill failed")
    return total / (time.perf_counter() - t0)
