"""The PostgreSQL store's plumbing on a real server: what its sessions are set to, the
connections given back without a reset, the host-local change mark it shares with the
other workers of a node, and the identity listener losing and regaining its connection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from strato.stores.metadata.base import MetadataError
from strato.stores.metadata.postgresql import PostgresMetadataStore
from strato.stores.metadata.postgresql.db import SESSION_SETTINGS, affected
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
