"""The scale-out metadata backend: PostgreSQL, shared by any number of Strato nodes.

Selected with `--metadata postgresql://USER@HOST:PORT/DATABASE` (or `STRATO_METADATA`, or
`metadata` in the config file); the schema is created and migrated when a node starts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from strato.stores.metadata.base import MetadataError, MetadataStore
from strato.stores.metadata.postgresql.access_keys import PostgresAccessKeyStore
from strato.stores.metadata.postgresql.db import Database
from strato.stores.metadata.postgresql.identity import PostgresIdentityStore
from strato.stores.metadata.postgresql.images import PostgresImageStore
from strato.stores.metadata.postgresql.objects import PostgresObjectStore
from strato.stores.metadata.postgresql.rates import PostgresRateStore
from strato.stores.metadata.postgresql.schema import LATEST
from strato.stores.metadata.postgresql.usage import PostgresUsageStore

UNAVAILABLE = (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
               ConnectionError, TimeoutError)
"""What a request meets while PostgreSQL restarts or cannot be reached: the connection
refused, closed under it, or the server shutting down or still starting. (Not asyncpg's
InterfaceError: that is mostly a connection misused, a bug to report as one.)"""


class PostgresMetadataStore(PostgresObjectStore, PostgresUsageStore, PostgresIdentityStore,
                            PostgresAccessKeyStore, PostgresImageStore, PostgresRateStore,
                            MetadataStore):
    def __init__(self, url: str, mark_path: Path | None = None) -> None:
        self.db = Database(url, mark_path)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    def out_of_space(self, exc: BaseException) -> bool:
        """SQLSTATE 53100 (disk_full): the server refused the statement, nothing committed."""
        return isinstance(exc, asyncpg.DiskFullError)

    async def check_writable(self, timeout: float) -> None:
        """A write that changes nothing must commit within `timeout`: the database is up,
        this node can reach it and it accepts writes. A real UPDATE (of no row), as every
        request's writes run: PostgreSQL refuses it, whatever rows it touches, on a
        read-only standby and in a database made read-only (`default_transaction_read_only`,
        which `SET TRANSACTION READ WRITE` would have overridden); it takes the row-exclusive
        lock a write needs, so a session holding the table locked is noticed too."""
        try:
            async with asyncio.timeout(timeout), self.db.transaction() as conn:
                await conn.execute("UPDATE schema_version SET version = version WHERE false")
        except TimeoutError:
            raise MetadataError(f"PostgreSQL gave no write lock within {timeout:g} s") from None
        except (OSError, asyncpg.PostgresError) as exc:
            raise MetadataError(f"PostgreSQL cannot take a write: {exc}") from None

    def unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, UNAVAILABLE)

    def change_mark(self) -> bytes | None:
        return self.db.mark()

    async def try_lead(self) -> bool:
        return await self.db.try_lead()

    async def schema_version(self) -> tuple[int, int]:
        return await self.db.version(), LATEST

    async def upgrade(self) -> int:
        conn = await self.db.connect()
        try:
            from strato.stores.metadata.postgresql.schema import migrate

            return await migrate(conn)
        finally:
            await conn.close()


__all__ = ["PostgresMetadataStore"]
