"""The PostgreSQL store's plumbing on a real server: what its sessions are set to, the
connections given back without a reset, the host-local change mark it shares with the
other workers of a node, and the identity listener losing and regaining its connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from strato.stores.metadata.base import MetadataError
from strato.stores.metadata.postgresql import PostgresMetadataStore
from strato.stores.metadata.postgresql.db import (
    SESSION_SETTINGS,
    Batcher,
    Connections,
    Database,
    affected,
)
from strato.stores.metadata.postgresql.schema import LATEST, MIGRATE_LOCK, migrate
from strato.stores.metadata.records import DomainRecord, TokenRecord, UserRecord
from tests import pg


@pytest.fixture
def url() -> Iterator[str]:
    url = pg.create_database()
    yield url
    pg.drop_database(url)


def _store(url: str, mark_path: Path | None = None) -> PostgresMetadataStore:
    return PostgresMetadataStore(url, mark_path)


async def _live_mark(store: PostgresMetadataStore) -> bytes:
    for _ in range(200):
        if (mark := store.change_mark()) is not None:
            return mark
        await asyncio.sleep(0.025)
    raise AssertionError("the listener did not listen within 5 s")


async def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one query on a session of the test's own (not the store's)."""
    conn = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def _sessions(url: str) -> list[tuple[object, ...]]:
    """The store's sessions on its database: (pid, query) of each."""
    return await _query(url, "SELECT pid, query FROM pg_stat_activity WHERE datname ="
                             " current_database() AND application_name = 'strato'")


def _count(mark: bytes) -> int:
    """The listener's count in a mark (its first 8 bytes)."""
    return int.from_bytes(mark[:8], "little", signed=True)


def test_command_status_row_counts() -> None:
    assert affected("UPDATE 3") == 3
    assert affected("INSERT 0 1") == 1
    assert affected("DELETE 0") == 0
    assert affected("DELETE 12") == 12
    assert affected("CREATE TABLE") == 0  # no count: nothing counted
    assert affected("LISTEN") == 0


def test_sessions_carry_the_keepalive_settings_and_the_name(url: str) -> None:
    """Pooled connections and the store's own (`connect`) run with the keepalives that
    let another node notice a vanished leader within seconds, and are named `strato`."""
    names = sorted(SESSION_SETTINGS)

    async def run() -> None:
        store = _store(url)
        await store.open()
        try:
            shown = [await store.db.fetchval(f"SHOW {name}") for name in names]
            conn = await store.db.connect()
            try:
                own = [await conn.fetchval(f"SHOW {name}") for name in names]
            finally:
                await conn.close()
        finally:
            await store.close()
        expected = [SESSION_SETTINGS[name] for name in names]
        assert shown == expected
        assert own == expected

    asyncio.run(run())


def test_connections_open_as_needed_and_keep_session_state(url: str) -> None:
    """Opening holds no pooled connection (they open as requests need them, and the one
    just given back is the next one used); giving one back runs no reset (asyncpg's pool
    would `RESET ALL`, a round trip on every statement)."""
    async def run() -> None:
        store = _store(url)
        await store.open()
        try:
            assert await _sessions(url) == []
            async with store.db.pool.acquire() as conn:
                await conn.execute("SET work_mem = '7MB'")  # session-level, on purpose
            assert await store.db.fetchval("SHOW work_mem") == "7MB"
            assert len(await _sessions(url)) == 1
        finally:
            await store.close()
        assert await _sessions(url) == []  # every connection closed

    asyncio.run(run())


def test_a_host_local_mark_changes_for_every_store_on_it_at_once(
        url: str, tmp_path: Path) -> None:
    """Two workers of one node share the mark file: a marked write through one changes the
    other's mark before any notification could reach it (its loop has not run since), and
    a write that changes no validated token leaves it alone."""
    mark_path = tmp_path / "metadata.mark"
    a, b = _store(url, mark_path), _store(url, mark_path)
    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        loop_a.run_until_complete(a.open())
        loop_b.run_until_complete(b.open())
        before = loop_b.run_until_complete(_live_mark(b))
        assert len(before) == 16 + 8  # the listener's count and period, then the file's
        user = f"u-{uuid.uuid4().hex[:8]}"
        loop_a.run_until_complete(a.create_domain(DomainRecord(user, user, True, "")))
        loop_a.run_until_complete(a.create_user(UserRecord(user, user, user, "x", True,
                                                           None, {})))
        after_user = b.change_mark()
        assert after_user is not None and after_user[16:] != before[16:]
        token = TokenRecord(uuid.uuid4().hex, user, None, None, 1.0, 2e9, ("password",),
                            "a", {})
        loop_a.run_until_complete(a.save_token(token))  # unmarked: no token changes
        unchanged = b.change_mark()
        assert unchanged is not None and unchanged[16:] == after_user[16:]
        loop_a.run_until_complete(a.revoke_token(token.token_hash))
        revoked = b.change_mark()
        assert revoked is not None and revoked[16:] != after_user[16:]
    finally:
        loop_a.run_until_complete(a.close())
        loop_b.run_until_complete(b.close())
        loop_a.close()
        loop_b.close()
    assert a.db._local is None and b.change_mark() is None  # closed: reuse nothing


def test_a_mark_file_that_cannot_be_made_leaves_the_listener_alone(
        url: str, tmp_path: Path) -> None:
    async def run() -> None:
        store = _store(url, tmp_path / "missing" / "metadata.mark")
        await store.open()
        try:
            assert len(await _live_mark(store)) == 16
        finally:
            await store.close()

    asyncio.run(run())


def test_the_listener_comes_back_after_losing_its_connection(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Its session is cut (a restart, a failover): it says so, listens again, and the mark
    it then gives is new, since notifications sent in between were lost."""
    async def run() -> None:
        store = _store(url)
        await store.open()
        try:
            first = await _live_mark(store)
            for n in range(2):  # each notification counts once, the count only grows
                await store.create_domain(DomainRecord(f"d{n}{uuid.uuid4().hex[:8]}", f"d{n}"))
            for _ in range(250):
                await asyncio.sleep(0.02)
                if store.db.listener.heard == 2:
                    break
            before = await _live_mark(store)
            assert store.db.listener.heard == 2
            assert _count(before) == _count(first) + 2
            cut = await _query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                    " WHERE datname = current_database()"
                                    " AND query LIKE 'LISTEN%'")
            assert cut == [(True,)]
            for _ in range(250):
                await asyncio.sleep(0.02)
                mark = store.change_mark()
                if mark is not None and mark[:8] != before[:8]:
                    break
            else:
                raise AssertionError("no new mark within 5 s of the listener's loss")
            assert ("lost the identity listener's connection: tokens are read afresh on every"
                    " request until it is back") in caplog.messages
            again = await _live_mark(store)
            heard = store.db.listener.heard
            user = f"u-{uuid.uuid4().hex[:8]}"
            await store.create_domain(DomainRecord(user, user, True, ""))
            for _ in range(100):
                await asyncio.sleep(0.02)
                if store.db.listener.heard > heard:
                    break
            assert store.db.listener.heard == heard + 1  # listening again, counting
            assert _count(again) > _count(before)
            assert _count(await _live_mark(store)) == _count(again) + 1
        finally:
            await store.close()
        assert store.change_mark() is None  # stopped: no listener started again
        assert store.db.listener._task is None
        assert await _sessions(url) == []  # the listening connection too

    asyncio.run(run())


def test_a_listener_that_cannot_connect_keeps_trying(url: str) -> None:
    """The database is away when the first token is validated, or when the listener's
    connection is lost: no mark, and the listener keeps trying, half a second after the
    first refusal, doubling, and from half a second again once it was back."""
    async def run() -> None:
        store = _store(url)
        await store.open()
        real = store.db.listener._connect
        refusals = [2]

        async def refused() -> asyncpg.Connection:
            if refusals[0] > 0:
                refusals[0] -= 1
                raise OSError("connection refused")
            return await real()

        store.db.listener._connect = refused
        try:
            assert store.change_mark() is None
            await asyncio.sleep(0.2)
            assert store.change_mark() is None and refusals == [1]  # waits half a second
            await _live_mark(store)
            assert refusals == [0]
            refusals[0] = 1  # the next connection is refused once
            await _query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND query LIKE 'LISTEN%'")
            started = time.monotonic()
            for _ in range(100):
                await asyncio.sleep(0.02)
                if store.change_mark() is None:
                    break
            await _live_mark(store)
            assert refusals == [0] and time.monotonic() - started < 3.0
        finally:
            await store.close()

    asyncio.run(run())


def test_migrate_refuses_a_newer_schema_and_leaves_it(url: str) -> None:
    async def run() -> None:
        assert await _store(url).schema_version() == (0, LATEST)  # no schema yet
        conn = await asyncpg.connect(url)
        try:
            assert await migrate(conn) == 0
            assert await migrate(conn) == LATEST
            await conn.execute("UPDATE schema_version SET version = $1", LATEST + 1)
            with pytest.raises(RuntimeError, match=f"schema version {LATEST + 1}, newer "
                               f"than this release's {LATEST}: upgrade Strato"):
                await migrate(conn)
            assert await conn.fetchval("SELECT array_agg(version) FROM schema_version") \
                == [LATEST + 1]
        finally:
            await conn.close()

    asyncio.run(run())


def test_migrations_wait_for_the_migration_lock(url: str) -> None:
    """Another node migrating holds the lock: this one waits, then finds nothing to do."""
    async def run() -> None:
        holder = await asyncpg.connect(url)
        conn = await asyncpg.connect(url)
        try:
            assert await migrate(holder) == 0
            tx = holder.transaction()
            await tx.start()
            await holder.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
            waiting = asyncio.ensure_future(migrate(conn))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await tx.rollback()
            assert await asyncio.wait_for(waiting, 10) == LATEST
            assert await conn.fetchval("SELECT count(*) FROM schema_version") == 1
        finally:
            await holder.close()
            await conn.close()

    asyncio.run(run())


def test_check_writable_names_a_held_lock_and_a_read_only_database(url: str) -> None:
    """What `/healthcheck` and the start-up check report: a session holding the tables
    locked is noticed within the bound, and a database made read-only refuses the write."""
    store = _store(url)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(store.open())
        with pg.holding(url, "LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE"), \
                pytest.raises(MetadataError) as held:
            loop.run_until_complete(store.check_writable(0.4))
        assert str(held.value) == "PostgreSQL gave no write lock within 0.4 s"
        loop.run_until_complete(store.check_writable(5.0))  # free again
        name = url.rsplit("/", 1)[1]
        pg.execute(url, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        fresh = _store(url)  # new sessions take the database's new default
        loop.run_until_complete(fresh.db.open(upgrade=False))
        try:
            with pytest.raises(MetadataError) as refused:
                loop.run_until_complete(fresh.check_writable(5.0))
        finally:
            loop.run_until_complete(fresh.close())
        assert str(refused.value) == ("PostgreSQL cannot take a write: cannot execute"
                                      " UPDATE in a read-only transaction")
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def test_no_lead_while_the_database_is_away(url: str) -> None:
    """A node that cannot reach the database cannot tell whether another leads: it does not
    claim the background jobs."""
    store = _store(url)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(store.open())
        pg.drop_database(url)
        assert not loop.run_until_complete(store.try_lead())
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def test_open_logs_a_migration_once_and_close_needs_no_open(
        url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The operator is told when a start migrated the schema (from which version to
    which), and only then; a store whose open never ran or failed still closes."""
    caplog.set_level("INFO", logger="strato.metadata")

    async def run() -> None:
        for _ in range(2):
            store = _store(url)
            await store.open()
            await store.close()
        await _store(url).close()

    asyncio.run(run())
    assert [r.getMessage() for r in caplog.records if r.name == "strato.metadata"] == [
        f"metadata schema migrated from version 0 to {LATEST}"]


# the store's connection list (`Connections`) ------------------------------------------------
async def _backends(url: str, count: int) -> list[int]:
    """The pids of the store's sessions, once there are `count` of them (terminated ones
    take a moment to leave `pg_stat_activity`)."""
    for _ in range(250):
        pids = sorted(int(str(pid)) for pid, _ in await _sessions(url))
        if len(pids) == count:
            return pids
        await asyncio.sleep(0.02)
    raise AssertionError(f"not {count} sessions within 5 s: {pids}")


async def _pid(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


class _Held:
    """A connection taken from the list and held until `give_back`."""

    def __init__(self, pool: Connections) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.pool = pool

    async def take(self) -> asyncpg.Connection:
        return await self._stack.enter_async_context(self.pool.acquire())

    async def give_back(self) -> None:
        await self._stack.aclose()


async def _waiting(pool: Connections, got: list[int], release: asyncio.Event) -> None:
    """Waits for a connection, notes whose it is, holds it until `release`."""
    async with pool.acquire() as conn:
        got.append(await _pid(conn))
        await release.wait()


async def _waits(pool: Connections) -> bool:
    """Whether one more request waits (every place taken), rather than getting one."""
    got: list[int] = []
    task = asyncio.create_task(_waiting(pool, got, asyncio.Event()))
    await asyncio.sleep(0.1)
    waited = not got
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return waited


def test_connections_wait_their_turn_at_the_bound(url: str) -> None:
    """With every connection in use, a request waits (no connection beyond the bound), and
    the connections given back go to the waiters first come, first served; idle, the one
    given back last is the one used next (the busiest backends stay warm)."""
    async def run() -> None:
        pool = Connections(Database(url).connect, 2)
        a, b = _Held(pool), _Held(pool)
        pid_a, pid_b = await _pid(await a.take()), await _pid(await b.take())
        got: list[int] = []
        release = asyncio.Event()
        waiters = []
        for _ in range(3):
            waiters.append(asyncio.create_task(_waiting(pool, got, release)))
            await asyncio.sleep(0.05)  # in this order
        assert got == [] and not any(w.done() for w in waiters)
        assert await _backends(url, 2) == sorted([pid_a, pid_b])
        await b.give_back()
        await asyncio.sleep(0.1)
        assert got == [pid_b]
        await a.give_back()
        await asyncio.sleep(0.1)
        assert got == [pid_b, pid_a] and not waiters[2].done()
        release.set()
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        assert sorted(got[:2]) == sorted([pid_a, pid_b]) and got[2] in (pid_a, pid_b)
        last = a if got[2] == pid_a else b  # waiters[2] gave its connection back last
        assert await _pid(await last.take()) == got[2]
        await last.give_back()
        assert await _backends(url, 2) == sorted([pid_a, pid_b])
        await pool.close(5)
        assert await _backends(url, 0) == []

    asyncio.run(run())


def test_a_connection_lost_or_left_in_a_transaction_is_not_reused(url: str) -> None:
    """A connection cut while idle or while in use, or given back inside a transaction, is
    closed instead of reused, and frees its place: with room for one, the next request gets
    a new connection at once."""
    async def run() -> None:
        pool = Connections(Database(url).connect, 1)
        held = _Held(pool)
        conn = await held.take()
        first = await _pid(conn)
        await held.give_back()
        assert await _query(url, f"SELECT pg_terminate_backend({first})") == [(True,)]
        for _ in range(250):
            if conn.is_closed():
                break
            await asyncio.sleep(0.02)
        conn = await asyncio.wait_for(held.take(), 5)
        second = await _pid(conn)
        assert second != first and await _waits(pool)  # the lost one's place, no more
        await _query(url, f"SELECT pg_terminate_backend({second})")  # cut while in use
        for _ in range(250):
            if conn.is_closed():
                break
            await asyncio.sleep(0.02)
        await held.give_back()
        conn = await asyncio.wait_for(held.take(), 5)
        third = await _pid(conn)
        assert third not in (first, second) and await _waits(pool)
        await conn.execute("BEGIN")
        await conn.execute("SET LOCAL work_mem = '7MB'")
        await held.give_back()  # still in its transaction
        assert await _backends(url, 0) == []  # closed, not kept
        conn = await asyncio.wait_for(held.take(), 5)
        assert await _pid(conn) != third and not conn.is_in_transaction()
        assert await _waits(pool)
        await held.give_back()
        await pool.close(5)

    asyncio.run(run())


def test_a_refused_connection_frees_its_place(url: str) -> None:
    """A connection that cannot be opened raises to its request and leaves its place to the
    next: a request waiting for that place opens its own."""
    async def run() -> None:
        db = Database(url)
        gate = asyncio.Event()
        refusals = [1]

        async def connect() -> asyncpg.Connection:
            if refusals[0] > 0:
                refusals[0] -= 1
                await gate.wait()
                raise OSError("connection refused")
            return await db.connect()

        pool = Connections(connect, 1)
        held = _Held(pool)
        refused = asyncio.create_task(held.take())
        await asyncio.sleep(0.05)
        got: list[int] = []
        release = asyncio.Event()
        waiter = asyncio.create_task(_waiting(pool, got, release))
        await asyncio.sleep(0.05)
        assert not waiter.done() and got == []
        gate.set()
        with pytest.raises(OSError, match="connection refused"):
            await refused
        for _ in range(250):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got == await _backends(url, 1)
        release.set()
        await asyncio.wait_for(waiter, 5)
        assert await _pid(await asyncio.wait_for(held.take(), 5)) == got[0]
        assert await _waits(pool)  # the refused one took no place for good
        await held.give_back()
        await pool.close(5)

    asyncio.run(run())


def test_a_waiter_cancelled_as_a_connection_reaches_it_passes_it_on(url: str) -> None:
    """A request given up (its client went away) just as a connection was handed to it
    hands that connection to the next waiter: none is lost, none opened in its place."""
    async def run() -> None:
        pool = Connections(Database(url).connect, 1)
        held = _Held(pool)
        pid = await _pid(await held.take())
        got: list[int] = []
        release = asyncio.Event()
        first = asyncio.create_task(_waiting(pool, got, release))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(_waiting(pool, got, release))
        await asyncio.sleep(0.05)
        await held.give_back()  # handed to `first`, which has not run since
        first.cancel()
        release.set()
        await asyncio.wait_for(second, 5)
        with pytest.raises(asyncio.CancelledError):
            await first
        assert got == [pid] and await _backends(url, 1) == [pid]
        await pool.close(5)

    asyncio.run(run())


def test_closing_wakes_the_waiters_and_closes_what_comes_back(url: str) -> None:
    """Closing closes the idle connections at once; a waiting request and any later one
    are refused; a connection in use is closed when it is given back."""
    async def run() -> None:
        pool = Connections(Database(url).connect, 2)
        a, b = _Held(pool), _Held(pool)
        pid_a, pid_b = await _pid(await a.take()), await _pid(await b.take())
        waiter = asyncio.create_task(_waiting(pool, [], asyncio.Event()))
        await asyncio.sleep(0.05)
        await pool.close(5)
        with pytest.raises(asyncpg.InterfaceError, match=r"^the metadata store is closed$"):
            await asyncio.wait_for(waiter, 5)
        assert await _backends(url, 2) == sorted([pid_a, pid_b])  # in use: left alone
        await a.give_back()
        assert await _backends(url, 1) == [pid_b]
        await b.give_back()
        assert await _backends(url, 0) == []

        pool = Connections(Database(url).connect, 2)
        held = _Held(pool)
        await held.take()
        await held.give_back()
        await pool.close(5)
        assert await _backends(url, 0) == []  # the idle one
        with pytest.raises(asyncpg.InterfaceError, match=r"^the metadata store is closed$"):
            await held.take()

    asyncio.run(run())


# group commit (`Batcher`) --------------------------------------------------------------------
class _Runs:
    """A batch runner that notes each batch and how many ran at once; `gate`, while clear,
    holds the batches on their way."""

    def __init__(self, fail: Callable[[list[int]], BaseException | None] = lambda _: None
                 ) -> None:
        self.batches: list[list[int]] = []
        self.running = self.most = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)
            await self.gate.wait()
            if (exc := self.fail(items)) is not None:
                raise exc
            return [item * 10 for item in items]
        finally:
            self.running -= 1


def test_batcher_sends_alone_or_together_within_its_bounds() -> None:
    """A call alone goes at once; while two batches are on their way the others wait and
    go together, at most 128 a batch, and every caller gets its own result."""
    async def run() -> None:
        runs = _Runs()
        batcher: Batcher[int, int] = Batcher(runs)
        assert await asyncio.wait_for(batcher(7), 5) == 70
        assert runs.batches == [[7]]
        results = await asyncio.wait_for(asyncio.gather(*(batcher(i) for i in range(300))), 5)
        assert results == [i * 10 for i in range(300)]
        assert [len(b) for b in runs.batches[1:]] == [128, 128, 44]
        assert sorted(i for b in runs.batches[1:] for i in b) == list(range(300))
        assert runs.most == 2
        assert await asyncio.wait_for(batcher(8), 5) == 80  # goes again after all that
        assert runs.batches[-1] == [8] and runs.most == 2
        assert not batcher._tasks  # no task kept once its batches are done

    asyncio.run(run())


def test_batcher_gives_a_failed_batch_its_error_and_goes_on() -> None:
    """Every caller of a batch that failed gets its error; the calls queued meanwhile still
    go, in the next batch."""
    async def run() -> None:
        boom = ValueError("boom")
        runs = _Runs(lambda items: boom if 0 in items else None)
        batcher: Batcher[int, int] = Batcher(runs, inflight=1)
        runs.gate.clear()
        first = [asyncio.ensure_future(batcher(i)) for i in range(3)]
        await asyncio.sleep(0.05)  # on its way, held
        later = [asyncio.ensure_future(batcher(i)) for i in range(3, 6)]
        await asyncio.sleep(0.05)
        assert runs.batches == [[0, 1, 2]]  # one at a time: the rest wait
        runs.gate.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*first, return_exceptions=True), 5)
        assert all(o is boom for o in outcomes)
        assert await asyncio.wait_for(asyncio.gather(*later), 5) == [30, 40, 50]
        assert runs.batches == [[0, 1, 2], [3, 4, 5]]

    asyncio.run(run())


def test_batcher_sends_a_deadlocked_batch_once_more() -> None:
    """PostgreSQL rolled the batch back whole: it goes again, once; a second deadlock is
    every caller's error."""
    async def run() -> None:
        deadlocks = [1]

        def fail(items: list[int]) -> BaseException | None:
            if deadlocks[0] > 0:
                deadlocks[0] -= 1
                return asyncpg.DeadlockDetectedError("deadlock detected")
            return None

        runs = _Runs(fail)
        batcher: Batcher[int, int] = Batcher(runs)
        assert await asyncio.wait_for(batcher(1), 5) == 10
        assert runs.batches == [[1], [1]]
        deadlocks[0] = 2
        with pytest.raises(asyncpg.DeadlockDetectedError):
            await asyncio.wait_for(batcher(2), 5)
        assert runs.batches == [[1], [1], [2], [2]]
        assert await asyncio.wait_for(batcher(3), 5) == 30

    asyncio.run(run())


def test_batcher_answers_the_others_when_a_caller_gives_up() -> None:
    """A caller cancelled while its batch is on its way (its client went away) leaves the
    batch to run: the others get their results, or their error."""
    async def run() -> None:
        for failing in (False, True):
            def fail(items: list[int], failing: bool = failing) -> BaseException | None:
                return ValueError("boom") if failing and min(items) < 4 else None

            runs = _Runs(fail)
            batcher: Batcher[int, int] = Batcher(runs, inflight=1)
            runs.gate.clear()
            calls = [asyncio.ensure_future(batcher(i)) for i in range(4)]
            await asyncio.sleep(0.05)
            calls[1].cancel()
            runs.gate.set()
            outcomes = await asyncio.wait_for(
                asyncio.gather(*calls, return_exceptions=True), 5)
            assert isinstance(outcomes[1], asyncio.CancelledError)
            rest = [outcomes[0], *outcomes[2:]]
            if failing:
                assert all(isinstance(o, ValueError) for o in rest)
            else:
                assert rest == [0, 20, 30]
            assert await asyncio.wait_for(batcher(5), 5) == 50

    asyncio.run(run())
