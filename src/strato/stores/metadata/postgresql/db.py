"""PostgreSQL plumbing: a connection pool per worker (asyncpg), migrations at open, the
advisory lock that elects the one process running background jobs, and the listener that
tells a worker when identity changed on any node (so it may reuse tokens it validated).

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
import collections
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg

from strato.stores.metadata.postgresql.schema import current_version, migrate
from strato.stores.metadata.sqlite.db import ChangeMark

log = logging.getLogger("strato.metadata")

T = TypeVar("T")
R = TypeVar("R")

POOL_SIZE = 10
"""Connections one worker process may hold; it opens them as concurrent requests need."""

CLOSE_SECONDS = 10.0
LEADER_LOCK = 0x5374_7261_746F_0002
"""Advisory lock key of the background-job runner ("Strato" + 2), per database."""

IDENTITY_CHANNEL = "strato_identity"
"""Notified at the commit of every write that could change a validated token (schema
version 2's triggers on the identity tables)."""
REUSE_SECONDS = 1.0
"""A worker reads a token afresh at least this often, whatever the notifications say: the
bound on a change being missed while the listener's connection is silently gone."""
LISTEN_RETRY = (0.5, 5.0)
"""First and longest wait before connecting the listener again after losing it."""

SESSION_SETTINGS = {
    # a leader whose host vanished (no FIN) is noticed within seconds, not hours, so
    # another node takes over its background jobs
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    # keepalives only probe an idle connection: one whose answer was in flight when its
    # host vanished would otherwise hold its row locks for TCP's ~15 minutes of retries
    "tcp_user_timeout": "11000",
    "application_name": "strato",
}


class Connections:
    """The connections one worker holds (at most `size`), reused last in, first out, and
    handed to waiting tasks first come, first served.

    asyncpg's pool, even without its reset query, cost 40-44 µs of the worker's CPU per
    `SELECT 1` here against 20 µs for this list, and PostgreSQL answered half as many: its
    acquire and release go through a queue, a proxy object, an inactivity timer and a
    reset hook on every statement, and it hands its connections round in turn, so every
    backend is woken in turn, where here the busiest stay warm (`python -m
    bench.pg_drivers`: a primary-key read 2x the ops/s at 40% of the client CPU). It keeps
    no session state to undo between uses: locks and settings are transaction-scoped, and
    LISTEN and the leader lock have connections of their own. A connection lost, or left in
    a transaction, is closed rather than reused."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[asyncpg.Connection] = []
        self._count = 0
        self._waiters: collections.deque[asyncio.Future[asyncpg.Connection | None]] = (
            collections.deque())
        self._closed = False

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._take()
        try:
            yield conn
        finally:
            # a statement cancelled mid-way (its client went away) is cancelled on the server
            # too: asyncpg sends the cancel request, and the connection's next use waits for
            # it (closing the connection instead would leave the statement running there)
            self._give(conn)

    async def _take(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the metadata store is closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._count -= 1
            if self._count < self._size:
                self._count += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._count -= 1
                    self._pass_on(None)
                    raise
            # all in use: wait for one handed over (first come, first served) or for room
            waiter: asyncio.Future[asyncpg.Connection | None] = (
                asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._pass_on(waiter.result())  # handed over, then cancelled: pass it on
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                raise
            if handed is not None:
                return handed

    def _give(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            self._drop(conn)
            return
        self._pass_on(conn)

    def _drop(self, conn: asyncpg.Connection) -> None:
        conn.terminate()
        self._count -= 1
        self._pass_on(None)

    def _pass_on(self, conn: asyncpg.Connection | None) -> None:
        """Hand `conn` to the longest waiter (None: there is room to open one), else keep
        it idle: a task that gives one back and asks again at once waits its turn."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._idle.append(conn)

    async def close(self, timeout: float) -> None:
        """Close the idle connections (those in use close when they are given back)."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._count -= len(idle)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)  # they find the store closed
        self._waiters.clear()
        results = await asyncio.gather(*(c.close(timeout=timeout) for c in idle),
                                       return_exceptions=True)
        for conn, result in zip(idle, results, strict=True):
            if isinstance(result, BaseException):
                conn.terminate()

    # the statements the store runs, each on a connection of its own for its duration
    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.acquire() as conn:
            return await conn.execute(sql, *args)


class Database:
    def __init__(self, url: str, mark_path: Path | None = None) -> None:
        """`mark_path`: a file the processes of this host share (in the data directory), so
        a marked write counts at once for every worker here, as on SQLite; other nodes
        learn of it through NOTIFY."""
        self.url = url
        self._pool: Connections | None = None
        self._leader: asyncpg.Connection | None = None
        self._mark_path = mark_path
        self._local: ChangeMark | None = None
        self.listener = IdentityListener(self.connect)

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
        self._pool = Connections(self.connect, POOL_SIZE)
        if self._mark_path is not None:
            try:
                self._local = ChangeMark(self._mark_path)
            except (OSError, ValueError):  # no shared mapping here: NOTIFY alone tells
                self._local = None

    def mark(self) -> bytes | None:
        """The store's change mark (`IdentityStore.change_mark`): the listener's, with this
        host's shared mark; None while the listener is not listening."""
        mark = self.listener.mark()
        if mark is None or self._local is None:
            return mark
        return mark + self._local.read()

    def changed(self) -> None:
        """A marked write ended (committed or not: a spurious change only costs a read):
        every worker of this host reads tokens afresh from now on."""
        if self._local is not None:
            self._local.change()

    async def close(self) -> None:
        await self.listener.stop()
        await self.release_lead()
        if self._local is not None:
            self._local.close()
            self._local = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(CLOSE_SECONDS)

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
    def pool(self) -> Connections:
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
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
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


class Batcher(Generic[T, R]):
    """Group commit for one kind of write: calls made while `inflight` batches are on their
    way wait and go together in the next, as one statement (one transaction, one WAL flush,
    one round trip). A call alone goes at once: batching adds no wait, it only shares one.

    `run` takes the items and returns one result per item, in order; if it raises, every
    call of that batch raises the same. A batch is one transaction: a deadlock with another
    writer (which key order makes unlikely) rolls it back whole, and it goes again once.
    32 concurrent deletes through one worker's pool cost 32 commits; batched, a few (6x the
    statements' throughput measured here)."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], *, inflight: int = 2,
                 limit: int = 128) -> None:
        self._run = run
        self._inflight = inflight
        self._limit = limit
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._running < self._inflight:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)  # a reference until it ends: the loop keeps weak ones
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self._limit]
                del self._queue[:self._limit]
                items = [item for item, _ in batch]
                try:
                    try:
                        results = await self._run(items)
                    except asyncpg.DeadlockDetectedError:  # rolled back whole: once more
                        results = await self._run(items)
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:  # every caller of the batch gets it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # its caller may have been cancelled
                        future.set_result(result)
        finally:
            self._running -= 1


class IdentityListener:
    """LISTEN on `IDENTITY_CHANNEL` on a connection of its own, counting notifications.

    `mark()` is the store's `change_mark`: it changes when a notification arrives, when the
    connection is made again, and every `REUSE_SECONDS`; it is None (reuse nothing) until
    the listener first listens and whenever its connection is lost. A worker that read the
    mark before reading a token and finds it unchanged later has seen every notification
    sent since, so a change committed on any node stops the reuse once its notification
    arrives (milliseconds), and within `REUSE_SECONDS` even when one never does.

    It starts on the first `mark()` (from a running event loop), so commands that never
    validate a token (the CLI) open no listening connection."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connect = connect
        self._count = 0
        self.heard = 0
        """Notifications received (for tests and diagnostics)."""
        self._live = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def mark(self) -> bytes | None:
        if not self._live:
            if self._task is None and not self._stopped:
                self._task = asyncio.get_running_loop().create_task(self._listen())
            return None
        return struct.pack("<qq", self._count, int(time.monotonic() / REUSE_SECONDS))

    def _notified(self, *_: object) -> None:
        self._count += 1
        self.heard += 1

    async def _listen(self) -> None:
        wait = LISTEN_RETRY[0]
        while True:
            try:
                conn, lost = await self._subscribe()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                log.debug("identity listener not connected (%s); again in %g s", exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, LISTEN_RETRY[1])
                continue
            wait = LISTEN_RETRY[0]
            self._count += 1  # notifications sent while nobody listened are lost
            self._live = True
            try:
                await lost.wait()
                log.warning("lost the identity listener's connection: tokens are read afresh "
                            "on every request until it is back")
            finally:
                self._live = False
                self._count += 1
                if not conn.is_closed():
                    conn.terminate()

    async def _subscribe(self) -> tuple[asyncpg.Connection, asyncio.Event]:
        """A listening connection, and the event set when it ends."""
        lost = asyncio.Event()
        conn = await self._connect()
        try:
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(IDENTITY_CHANNEL, self._notified)
        except BaseException:
            conn.terminate()
            raise
        return conn, lost

    async def stop(self) -> None:
        self._live = False
        self._stopped = True
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def affected(status: str) -> int:
    """The row count of a command status (`UPDATE 3`, `INSERT 0 1`, `DELETE 0`)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
