"""Several processes or nodes on one metadata store, run against every backend: one of them
leads the background jobs and another takes over when it goes; concurrent writers of one
container keep exact counters; schema versions are reported and migrated once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from strato.stores.metadata.base import Superseded
from strato.stores.metadata.postgresql import PostgresMetadataStore
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
