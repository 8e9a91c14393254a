"""The embedded metadata backend: SQLite in WAL mode, in the data directory."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from strato.stores.metadata.base import MetadataError, MetadataStore
from strato.stores.metadata.sqlite.access_keys import SqliteAccessKeyStore
from strato.stores.metadata.sqlite.db import Database, connect
from strato.stores.metadata.sqlite.identity import SqliteIdentityStore
from strato.stores.metadata.sqlite.images import SqliteImageStore
from strato.stores.metadata.sqlite.objects import SqliteObjectStore
from strato.stores.metadata.sqlite.rates import SqliteRateStore
from strato.stores.metadata.sqlite.schema import MIGRATIONS, current_version, migrate
from strato.stores.metadata.sqlite.usage import SqliteUsageStore

LEAD_FILE = "background.lock"
"""Beside the database: the process holding an exclusive flock on it runs the background
jobs; the kernel drops the lock when that process dies."""


class SqliteMetadataStore(SqliteObjectStore, SqliteUsageStore, SqliteIdentityStore,
                          SqliteAccessKeyStore, SqliteImageStore, SqliteRateStore,
                          MetadataStore):
    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self._lead: int | None = None

    async def open(self) -> None:
        self.db.open()

    async def close(self) -> None:
        self.db.close()
        if self._lead is not None:
            os.close(self._lead)
            self._lead = None

    async def try_lead(self) -> bool:
        if self._lead is not None:
            return True  # a flock lasts as long as the process
        fd = os.open(self.db.path.with_name(LEAD_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lead = fd
        return True

    async def schema_version(self) -> tuple[int, int]:
        return current_version(self.db.path), len(MIGRATIONS)

    async def upgrade(self) -> int:
        before = current_version(self.db.path)
        self.db.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.db.path)
        try:
            migrate(conn)
        finally:
            conn.close()
        return before

    def out_of_space(self, exc: BaseException) -> bool:
        """SQLITE_FULL: the database or its WAL could not grow (the transaction rolled back)."""
        return isinstance(exc, sqlite3.Error) and getattr(
            exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL

    async def check_writable(self, timeout: float) -> None:
        problem = await self.db.check_writable(timeout)
        if problem is not None:
            raise MetadataError(problem)


__all__ = ["SqliteMetadataStore"]
