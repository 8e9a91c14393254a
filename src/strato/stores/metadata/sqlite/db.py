"""SQLite plumbing: one reader connection on the event loop, one writer thread.

Reads are index lookups that take microseconds, so they run inline; writes wait on fsync
(`synchronous=FULL`: an acknowledged write survives power loss), so they go to a single
writer thread per process. Several processes share the file through WAL and busy waits.

Group commit: the writer takes every write queued while the previous commit was on disk and
runs them in one transaction, each inside its own SAVEPOINT (so one write's error undoes only
that write), then commits once. A write is acknowledged only after the COMMIT that holds it
returned, so durability is the same as one commit per write, with one fsync per batch.
A batch of scratch writes only (`durable=False`: rate-limit state) commits with
`synchronous=NORMAL`, which in WAL mode skips the fsync of the commit but keeps the database
consistent (a power loss may only forget such a commit); the next durable commit's fsync
covers them too, since the WAL is written in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from strato.stores.metadata.sqlite.schema import migrate

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 256
CACHE_KIB = 4 * 1024
"""Page cache per connection (two per worker). Enough for the index pages listings and
lookups walk; small objects' bytes (inline) pass through it too, and the kernel's page cache
holds the rest without a private copy in every worker."""

_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.AbstractEventLoop, asyncio.Future[Any],
             bool, bool]
"""(write, its loop, its future, marked, durable)"""


class ChangeMark:
    """Eight shared bytes next to the database that change whenever a marked write commits.

    Every process using the database maps the same file, so reading it costs a memory
    load, where asking SQLite whether anything changed (`PRAGMA data_version`) costs a
    read transaction. A writer stores fresh random bytes after its COMMIT and before the
    write is acknowledged, so a reader that looks after that sees a value it has not
    seen with the old state (a repeat has odds of 2**-64)."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)  # several processes may race here: all make 8 zeros
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return self._map[:8]

    def change(self) -> None:
        self._map[:8] = os.urandom(8)

    def close(self) -> None:
        self._map.close()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    # a row's old bytes are zeroed in its page when it is updated or deleted (FAST: only
    # where that costs no extra I/O): a secret re-encrypted or removed leaves no copy in
    # the page's free space for the next checkpoint to write back
    conn.execute("PRAGMA secure_delete=FAST")
    return conn


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._mark: ChangeMark | None = None
        self._lock: int | None = None
        self._durable = True  # the writer connection's synchronous setting: FULL

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = connect(self.path)
        migrate(self._writer)
        self._lock = os.open(self.path.with_name(self.path.name + "-lock"),
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._reader = connect(self.path)
        try:
            self._mark = ChangeMark(self.path.with_name(self.path.name + "-mark"))
        except (OSError, ValueError):  # no shared mapping here: callers just cannot rely on it
            self._mark = None
        for suffix in ("", "-wal", "-shm"):  # holds temp URL keys and access-key secrets
            file = self.path.with_name(self.path.name + suffix)
            if file.exists():
                file.chmod(0o600)
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._mark is not None:
            self._mark.close()
            self._mark = None

    def mark(self) -> bytes | None:
        """The shared change mark: differs from any value read before a marked write
        committed (`write(..., marked=True)`), in any process; None if unavailable."""
        return self._mark.read() if self._mark is not None else None

    @property
    def reader(self) -> sqlite3.Connection:
        assert self._reader is not None, "database not open"
        return self._reader

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.reader.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.reader.execute(sql, params).fetchone()
        return row

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, marked: bool = False,
                    durable: bool = True) -> T:
        """Run `fn` in an IMMEDIATE transaction on the writer thread (possibly sharing the
        transaction, never a failure, with other writes); returns once it is committed.
        `marked`: also change the shared mark (`mark()`) after the commit, before returning
        (done on the writer thread, so it happens even if the caller is cancelled).
        `durable=False`: scratch state a power loss may forget; committed without an fsync
        of its own when no durable write shares its batch."""
        assert self._thread is not None and self._writer is not None, "database not open"
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future, marked, durable))
        return await future

    async def check_writable(self, timeout: float) -> str | None:
        """Why a write could not commit now, or None: the files SQLite writes must be
        writable by this process (a restore with the wrong owner or mode, a read-only
        filesystem), and the writer thread must get the write lock (`BEGIN IMMEDIATE`, a
        transaction that changes nothing) within `timeout` seconds."""
        for file in (self.path.parent, *(self.path.with_name(self.path.name + suffix)
                                         for suffix in ("", "-wal", "-shm", "-lock"))):
            if file.exists() and not os.access(file, os.W_OK):
                kind = "directory" if file.is_dir() else "file"
                return f"{kind} {file.name} is not writable by this process"
        try:
            await asyncio.wait_for(self.write(_nothing), timeout)
        except TimeoutError:
            return f"no write lock within {timeout:g} s (a writer is stuck or holds it)"
        except sqlite3.Error as exc:
            return f"write failed: {exc}"
        return None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch, stop = [job], False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            outcomes = self._commit(batch)
            if self._mark is not None and any(job[3] for job in batch):
                self._mark.change()  # even after a failed commit: a spurious change is harmless
            for (_, loop, future, _, _), outcome in zip(batch, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):  # that event loop is closed
                    loop.call_soon_threadsafe(_settle, future, outcome)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        """One transaction for the batch: (True, result) or (False, exception) per job.

        Workers take turns through a lock file first: the kernel wakes a waiting worker the
        moment the lock is free, where SQLite's busy handler polls with sleeps growing to
        100 ms, and a worker that lost a few rounds to a busy one could wait 0.3 s or more."""
        assert self._lock is not None
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            return self._transaction(batch)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _transaction(self, batch: list[_Job]) -> list[tuple[bool, Any]]:
        conn = self._writer
        assert conn is not None
        outcomes: list[tuple[bool, Any]] = []
        durable = any(job[4] for job in batch)
        if durable != self._durable:  # a connection setting, so outside the transaction
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _, _, _, _ in batch:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, fn(conn)))
                except Exception as exc:
                    if not conn.in_transaction:  # SQLite rolled back everything
                        raise
                    conn.execute("ROLLBACK TO job")
                    outcomes.append((False, exc))
                conn.execute("RELEASE job")
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return [(False, exc)] * len(batch)
        return outcomes


def _nothing(conn: sqlite3.Connection) -> None:
    """A write that changes nothing (its transaction still takes the write lock)."""


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
