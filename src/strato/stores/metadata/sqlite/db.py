"""SQLite plumbing: one reader connection on the event loop, one writer thread.

Reads are index lookups that take microseconds, so they run inline; writes wait on fsync
(`synchronous=FULL`: an acknowledged write survives power loss), so they go to a single
writer thread per process. Several processes share the file through WAL and busy waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from strato.stores.metadata.sqlite.schema import migrate

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._writer = connect(self.path)
        self._executor.submit(lambda: None).result()
        migrate(self._writer)
        self._reader = connect(self.path)
        for suffix in ("", "-wal", "-shm"):  # holds temp URL keys and access-key secrets
            file = self.path.with_name(self.path.name + suffix)
            if file.exists():
                file.chmod(0o600)

    def close(self) -> None:
        if self._executor:
            self._executor.shutdown(wait=True)
            self._executor = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None

    @property
    def reader(self) -> sqlite3.Connection:
        assert self._reader is not None, "database not open"
        return self._reader

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.reader.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self.reader.execute(sql, params).fetchone()

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one IMMEDIATE transaction on the writer thread."""
        assert self._executor is not None and self._writer is not None, "database not open"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, fn)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._writer
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
