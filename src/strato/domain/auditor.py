"""The auditor: finds blobs whose bytes no longer match what was stored (bit rot, a bad
sector, a stray write) and quarantines them, as Swift's object auditor does.

A pass walks every policy's blob files, reads each at no more than `bytes_per_second` (so it
takes little of the disk from clients), and compares its size and MD5 with the row that
names it. A row's ETag is the MD5 of the stored bytes (an SLO manifest keeps its own ETag in
sysmeta), so nothing more has to be stored to check against.

A mismatch, or a file that cannot be read: the file is moved to its store's quarantine
directory (`LocalBlobStore.quarantine`: kept, not deleted), then the row goes with its share
of the container's counters (only if it still names that blob: an overwrite meanwhile wins).
From then on GET and HEAD answer 404 and listings and counters leave it out - never a 200
with wrong bytes. Swift would wait for replication to bring a good copy back; Strato keeps
one copy, so the object is lost: that is logged at ERROR with its account, container, name,
expected and found MD5 and where the bytes went, for the operator to restore it from a
backup (`strato backup`) or have it uploaded again.

Not checked:
- objects kept inline in their metadata row (`inline_bytes`): they have no file; their bytes
  are the database's, which has its own checks (SQLite's `PRAGMA integrity_check`,
  PostgreSQL's data checksums) and its own backups;
- files no row names: a blob whose row is not committed yet, or an orphan the sweep reclaims.

Each pass first finishes any quarantine cut short: a quarantined blob whose row still exists
(a crash between the move and the row's delete, or a blob quarantined by another path) loses
its row, so an object never stays listed without its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from strato.domain.storage import StorageService
from strato.stores.blob.base import BlobNotFound, BlobStore
from strato.stores.metadata.records import is_inline

log = logging.getLogger("strato.auditor")

CHUNK = 1 << 20
MIN_COST = 4096
"""Bytes a file counts for at least against the rate: opening a tiny file costs a seek too."""
STATE_EVERY = 5.0
"""Seconds between writes of the state file while a pass runs."""


@dataclass
class PassStats:
    started: float = field(default_factory=time.time)
    finished: float | None = None
    blobs: int = 0
    bytes: int = 0
    quarantined: int = 0
    skipped: int = 0
    """Files no row names (not yet committed, or orphans for the sweep), or gone meanwhile."""


class Auditor:
    """One pass at a time over every policy's blobs; `observer(kind, count)` hears of each
    blob checked (`blobs`, `bytes`) and quarantined (`quarantined`), for the metrics."""

    def __init__(self, storage: StorageService, bytes_per_second: int, *,
                 state_file: Path | None = None,
                 observer: Callable[[str, int], None] | None = None) -> None:
        self.storage = storage
        self.rate = bytes_per_second
        self.state_file = state_file
        self.observer = observer or (lambda kind, count: None)
        self._last: PassStats | None = None
        self._saved = 0.0

    async def run_pass(self) -> PassStats:
        stats = PassStats()
        self._save(stats, running=True)
        try:
            for policy in self.storage.policies:
                await self._finish_quarantines(policy.blobs)
            clock = _Pacer(self.rate)
            for policy in self.storage.policies:
                for blob_id in policy.blobs.iter_blobs(time.time()):
                    await self._audit(policy.blobs, blob_id, stats, clock)
                    if time.monotonic() - self._saved >= STATE_EVERY:
                        self._save(stats, running=True)
        finally:
            stats.finished = time.time()
            self._last = stats
            self._save(stats, running=False)
        if stats.quarantined:
            log.error("auditor pass quarantined %d corrupt blobs (%d checked, %d bytes)",
                      stats.quarantined, stats.blobs, stats.bytes)
        else:
            log.info("auditor pass checked %d blobs (%d bytes), none corrupt",
                     stats.blobs, stats.bytes)
        return stats

    async def _finish_quarantines(self, blobs: BlobStore) -> None:
        for blob_id, _ in list(blobs.quarantined()):
            owner = await self.storage.meta.object_by_blob(blob_id)
            if owner is not None:
                account, container, record = owner
                if await self.storage.meta.delete_object_if(record):
                    log.error("object %s/%s/%s removed: its blob %s is in quarantine",
                              account, container, record.name, blob_id)

    async def _audit(self, blobs: BlobStore, blob_id: str, stats: PassStats,
                     clock: _Pacer) -> None:
        owner = await self.storage.meta.object_by_blob(blob_id)
        if owner is None or is_inline(owner[2].blob_id):
            stats.skipped += 1
            return
        account, container, record = owner
        try:
            reader = blobs.open(blob_id)
        except BlobNotFound:
            stats.skipped += 1  # overwritten or deleted since it was listed
            return
        problem: str | None = None
        try:
            fd = reader.fileno()
            md5 = hashlib.md5(usedforsecurity=False)
            size = 0
            try:
                if fd is None:
                    async for chunk in reader.iter_range(0, reader.size):
                        md5.update(chunk)
                        size += len(chunk)
                        await clock.spend(len(chunk))
                else:
                    while True:
                        read = await asyncio.to_thread(_read_into, fd, size, md5)
                        size += read
                        await clock.spend(read)
                        if read < CHUNK:
                            break
            except OSError as exc:
                problem = f"read error: {exc}"
            await clock.spend(MIN_COST)
        finally:
            reader.close()
        stats.blobs += 1
        stats.bytes += size
        self.observer("blobs", 1)
        self.observer("bytes", size)
        found = md5.hexdigest()
        if problem is None and size != record.size:
            problem = f"size {size}, expected {record.size}"
        elif problem is None and found != record.etag:
            problem = f"MD5 {found}, expected {record.etag}"
        if problem is None:
            return
        where = await self.storage.quarantine_object(
            record, problem, account=account, container=container)
        if where is not None:
            stats.quarantined += 1
            self.observer("quarantined", 1)

    def _save(self, stats: PassStats, *, running: bool) -> None:
        """The state file `strato audit status` reads (written whole, then renamed)."""
        self._saved = time.monotonic()
        if self.state_file is None:
            return
        state = {"pid": os.getpid(), "running": running, "bytes_per_second": self.rate,
                 "current" if running else "last": asdict(stats)}
        if running and self._last is not None:
            state["last"] = asdict(self._last)
        tmp = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(state, indent=1))
            os.replace(tmp, self.state_file)


def _read_into(fd: int, offset: int, md5: hashlib._Hash) -> int:
    """Read and hash one chunk in a worker thread (both release the GIL)."""
    data = os.pread(fd, CHUNK, offset)
    md5.update(data)
    return len(data)


class _Pacer:
    """Keeps the bytes read to `rate` per second on average (0: no limit)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.spent = 0

    async def spend(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        self.spent += nbytes
        ahead = self.spent / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            await asyncio.sleep(ahead)


def read_state(state_file: Path) -> dict[str, object] | None:
    """What the last auditor run wrote to `state_file`, or None."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
