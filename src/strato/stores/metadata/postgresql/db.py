"""PostgreSQL plumbing: a connection pool per worker (asyncpg), migrations at open, and the
advisory lock that elects the one process running background jobs.

asyncpg was measured against psycopg 3 with psycopg_pool (`bench/pg_drivers.py`): the same
SQL cost the client a quarter less CPU per object upsert and per 1,000-row listing page,
which a node sharing its cores with the server's own work pays on every request.

Every statement is prepared once per connection (asyncpg's statement cache), and a write
that is one statement runs without BEGIN/COMMIT round trips (autocommit). PostgreSQL itself
groups the WAL flushes of commits that arrive together, so concurrent small writes share
fsyncs as the SQLite writer's group commit makes them do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from strato.stores.metadata.postgresql.schema import current_version, migrate

log = logging.getLogger("strato.metadata")

POOL_SIZE = 10
"""Connections one worker process may hold; it opens them as concurrent requests need."""

CLOSE_SECONDS = 10.0
LEADER_LOCK = 0x5374_7261_746F_0002
"""Advisory lock key of the background-job runner ("Strato" + 2), per database."""

SESSION_SETTINGS = {
    # a leader whose host vanished (no FIN) is noticed within seconds, not hours, so
    # another node takes over its background jobs
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "application_name": "strato",
}


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._leader: asyncpg.Connection | None = None

    async def open(self, *, upgrade: bool = True) -> None:
        """Connect; with `upgrade`, migrate the schema first (under the migration lock)."""
        if upgrade:
            conn = await self.connect()
            try:
                before = await migrate(conn)
            finally:
                await conn.close()
            if before != (version := await self.version()):
                log.info("metadata schema migrated from version %d to %d", before, version)
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=POOL_SIZE,
                                               server_settings=SESSION_SETTINGS)

    async def close(self) -> None:
        await self.release_lead()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
            except TimeoutError:  # a query still running: do not hold up the shutdown
                pool.terminate()

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own (not from the pool)."""
        return await asyncpg.connect(self.url, server_settings=SESSION_SETTINGS)

    async def version(self) -> int:
        conn = await self.connect()
        try:
            return await current_version(conn)
        finally:
            await conn.close()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "database not open"
        return self._pool

    # Reads by a value holding NUL (which PostgreSQL text cannot hold, so nothing stored has
    # it: a client's `?marker=%00`) find nothing, as they do on SQLite.
    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            return await self.pool.fetch(sql, *args)
        except asyncpg.CharacterNotInRepertoireError:
            return []

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        try:
            return await self.pool.fetchrow(sql, *args)
        except asyncpg.CharacterNotInRepertoireError:
            return None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self.pool.fetchval(sql, *args)
        except asyncpg.CharacterNotInRepertoireError:
            return None

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the rows it changed."""
        status = await self.pool.execute(sql, *args)
        return affected(status)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[Any]]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # the background-job runner ------------------------------------------------------------
    async def try_lead(self) -> bool:
        """Hold the leader lock: a session lock on a connection of this process's own, which
        PostgreSQL releases when the connection ends (the process died or its host went
        away: keepalives notice within seconds). While held, each call checks the
        connection still lives; False once it does not."""
        if self._leader is not None:
            try:
                await self._leader.fetchval("SELECT 1", timeout=10)
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                log.warning("lost the connection holding the background-job lock")
                self._leader.terminate()
                self._leader = None
                return False
        try:
            conn = await self.connect()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            return False  # the database is away: nobody can lead until it is back
        try:
            held = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK)
        except BaseException:
            conn.terminate()
            raise
        if not held:
            await conn.close()
            return False
        self._leader = conn
        return True

    async def release_lead(self) -> None:
        if self._leader is not None:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await self._leader.close(timeout=5)
            self._leader = None


def affected(status: str) -> int:
    """The row count of a command status (`UPDATE 3`, `INSERT 0 1`, `DELETE 0`)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
