"""The embedded metadata backend: SQLite in WAL mode, in the data directory."""

from __future__ import annotations

from pathlib import Path

from strato.stores.metadata.base import MetadataError, MetadataStore
from strato.stores.metadata.sqlite.access_keys import SqliteAccessKeyStore
from strato.stores.metadata.sqlite.db import Database
from strato.stores.metadata.sqlite.identity import SqliteIdentityStore
from strato.stores.metadata.sqlite.images import SqliteImageStore
from strato.stores.metadata.sqlite.objects import SqliteObjectStore


class SqliteMetadataStore(SqliteObjectStore, SqliteIdentityStore, SqliteAccessKeyStore,
                          SqliteImageStore, MetadataStore):
    def __init__(self, path: Path) -> None:
        self.db = Database(path)

    async def open(self) -> None:
        self.db.open()

    async def close(self) -> None:
        self.db.close()

    async def check_writable(self, timeout: float) -> None:
        problem = await self.db.check_writable(timeout)
        if problem is not None:
            raise MetadataError(problem)


__all__ = ["SqliteMetadataStore"]
