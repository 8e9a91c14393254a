"""Several processes or nodes on one metadata store, run against every backend: one of them
leads the background jobs and another takes over when it goes; concurrent writers of one
container keep exact counters; schema versions are reported and migrated once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import pytest

from strato.stores.metadata.base import Superseded
from strato.stores.metadata.postgresql import PostgresMetadataStore
from strato.stores.metadata.postgresql.db import POOL_SIZE
from strato.stores.metadata.postgresql.schema import LATEST
from strato.stores.metadata.records import (
    DomainRecord,
    ObjectRecord,
    TokenRecord,
    UserRecord,
)
from tests import pg
from tests.stores.metadata.conftest import Env


def test_one_store_leads_until_it_closes(make_env: Callable[[], Env]) -> None:
    first, second = make_env(), make_env()
    assert first.run(first.store.try_lead())
    assert first.run(first.store.try_lead())  # asked again: still the leader
    assert not second.run(second.store.try_lead())
    first.run(first.store.close())
    assert second.run(second.store.try_lead())
    assert second.run(second.store.try_lead())


def test_racing_writers_keep_exact_counters(make_env: Callable[[], Env]) -> None:
    """Two stores (as two nodes) create the same container and PUT the same new names at
    once: one container, each name counted once, every byte of its newest write counted
    (the newest timestamp wins whatever the commit order)."""
    a, b = make_env(), make_env()
    acct = f"AUTH_{uuid.uuid4().hex}"

    async def create(env: Env) -> tuple[int, bool]:
        record, created = await env.store.create_container(acct, "c", {}, 1.0, "gold")
        return record.id, created

    made = [a.run(create(a)), b.run(create(b))]
    assert made[0][0] == made[1][0] and sorted(c for _, c in made) == [False, True]
    container_id = made[0][0]

    async def put_all(env: Env, size: int) -> None:
        outcomes = await asyncio.gather(*(env.store.put_object(ObjectRecord(
            container_id, f"o{i % 40}", uuid.uuid4().hex, size, "e" * 32, "text/plain",
            size * 1000.0 + i, {})) for i in range(120)), return_exceptions=True)
        # an older write committed after a newer one of its name loses, changing nothing
        assert all(not isinstance(o, BaseException) or isinstance(o, Superseded)
                   for o in outcomes), outcomes

    for env, size in ((a, 3), (b, 5)):  # overwrites within each batch race on one name
        env.run(put_all(env, size))
    record = a.run(a.store.get_container(acct, "c"))
    assert record is not None and (record.object_count, record.bytes_used) == (40, 200)
    stats = b.run(b.store.account_stats(acct))
    assert (stats.container_count, stats.object_count, stats.bytes_used) == (1, 40, 200)


def test_schema_version_is_current_after_open(make_env: Callable[[], Env]) -> None:
    env = make_env()
    version, latest = env.run(env.store.schema_version())
    assert version == latest > 0
    assert env.run(env.store.upgrade()) == latest  # nothing left to migrate




def test_postgresql_leader_that_loses_its_connection_is_replaced(
        caplog: pytest.LogCaptureFixture) -> None:
    """The leader's session ends (its node died, or the database cut it off): another
    store takes the lead, and the old leader learns it lost it. (SQLite's lead is a file
    lock of the process: only the process's death releases it.)"""
    url = pg.create_database()
    first, second = PostgresMetadataStore(url), PostgresMetadataStore(url)

    async def run() -> None:
        try:
            # two nodes starting at once on an empty database: one migrates, both open
            await asyncio.gather(first.open(), second.open())
            assert await first.schema_version() == (LATEST, LATEST)
            assert await first.try_lead()
            assert not await second.try_lead()
            await second.db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())")
            assert await second.try_lead()
            assert not await first.try_lead()
            assert "lost the connection holding the background-job lock" in caplog.messages
        finally:
            await first.close()
            await second.close()

    try:
        asyncio.run(run())
    finally:
        pg.drop_database(url)


async def _live_mark(env: Env) -> bytes:
    """The store's change mark once it has one (PostgreSQL's listener connects lazily)."""
    for _ in range(100):
        if (mark := env.store.change_mark()) is not None:
            return mark
        await asyncio.sleep(0.05)
    raise AssertionError("no change mark within 5 s")


async def _heard(env: Env, seconds: float) -> int:
    """Notifications the store's listener received after `seconds` of running its loop."""
    await asyncio.sleep(seconds)
    assert isinstance(env.store, PostgresMetadataStore)
    return env.store.db.listener.heard


def test_identity_written_through_one_node_changes_every_nodes_mark(
        make_env: Callable[[], Env]) -> None:
    """What lets a worker reuse a token it validated: a revocation (or any identity write)
    through another node changes its mark, and issuing tokens does not."""
    a, b = make_env(), make_env()
    user = f"u-{uuid.uuid4().hex[:8]}"
    a.run(a.store.create_domain(DomainRecord(user, user, True, "")))
    a.run(a.store.create_user(UserRecord(user, user, user, "x", True, None, {})))
    token = TokenRecord(uuid.uuid4().hex, user, None, None, 1.0, 2e9, ("password",), "a", {})
    before = b.run(_live_mark(b))
    postgres = isinstance(b.store, PostgresMetadataStore)
    heard = b.run(_heard(b, 0.3)) if postgres else 0
    a.run(a.store.save_token(token))  # a new token changes no validated one
    if postgres:
        assert b.run(_heard(b, 0.5)) == heard
    else:
        assert b.store.change_mark() == before
    a.run(a.store.revoke_token(token.token_hash))
    if postgres:  # told by NOTIFY, not just the mark's periodic change
        assert b.run(_heard(b, 2.0)) > heard
    assert b.store.change_mark() not in (before, None)


def test_the_older_releases_put_object_still_works() -> None:
    """A node still on the release before group-committed PUTs calls `put_object` (schema
    version 8's one-row function), which is now one item of `put_objects`: it still returns
    the row it replaced, and raises for a gone container or a write not newer."""
    url = pg.create_database()
    store = PostgresMetadataStore(url)
    env = Env(store)
    try:
        env.run(store.open())
        container, _ = env.run(store.create_container("AUTH_old", "c", {}, 1.0, "gold"))
        sql = ("SELECT * FROM put_object($1, $2, $3, $4, 'e', 't', $5, '{}', NULL, $6,"
               " 0::smallint)")

        def put(container_id: int, blob: str, size: int, stamp: float, data: bytes | None
                ) -> list[tuple[object, ...]]:
            return pg.fetch(url, sql, container_id, b"o", blob, size, stamp, data)

        assert put(container.id, "inline:1", 3, 10.0, b"one") == []
        assert put(container.id, "b2", 5, 11.0, None) == [
            (container.id, b"o", "inline:1", 3, "e", "t", 10.0, "{}", None)]
        with pytest.raises(asyncpg.PostgresError) as older:
            put(container.id, "b3", 7, 11.0, None)
        assert older.value.sqlstate == "SX409" and float(older.value.detail) == 11.0
        with pytest.raises(asyncpg.NoDataFoundError):
            put(10**9, "b4", 1, 12.0, None)
        assert env.run(store.inline_data("inline:1")) is None
        record = env.run(store.get_container("AUTH_old", "c"))
        assert record is not None and (record.object_count, record.bytes_used) == (1, 5)
    finally:
        env.run(store.close())
        env.loop.close()
        pg.drop_database(url)


def test_the_connection_list_recovers_from_cancels_crowds_and_killed_backends() -> None:
    """The store's own connection list (`Connections`): a statement cancelled mid-way stops
    on the server and its connection serves the next user; more concurrent statements than
    connections
    all run, first come, first served; connections PostgreSQL killed are replaced after the
    one statement that found them dead."""
    url = pg.create_database()
    store = PostgresMetadataStore(url)
    env = Env(store)

    async def scenario() -> None:
        pool = store.db.pool
        sleeper = asyncio.ensure_future(store.db.fetchval("SELECT pg_sleep(30)"))
        await asyncio.sleep(0.3)
        sleeper.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        assert await store.db.fetchval("SELECT 41 + 1") == 42  # not the cancelled one's
        crowd = POOL_SIZE * 3
        started = asyncio.get_running_loop().time()
        answers = await asyncio.gather(*(store.db.fetchval("SELECT $1::int FROM pg_sleep(0.2)",
                                                           i) for i in range(crowd)))
        assert answers == list(range(crowd))
        assert asyncio.get_running_loop().time() - started < 0.2 * crowd / 2
        assert pool._count <= POOL_SIZE
        assert await store.db.fetchval(  # cancelled on the server too
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND query = 'SELECT pg_sleep(30)' AND state = 'active'") == 0
        await store.db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                               " AND application_name = 'strato'")
        failed = 0
        for _ in range(POOL_SIZE + 2):  # each dead connection fails at most one statement
            try:
                assert await store.db.fetchval("SELECT 1") == 1
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                failed += 1
        assert failed <= POOL_SIZE
        assert await store.db.fetchval("SELECT 1") == 1

    try:
        env.run(store.open())
        env.run(scenario())
    finally:
        env.run(store.close())
        env.loop.close()
        pg.drop_database(url)
