"""The token-reuse listener of a worker survives a PostgreSQL restart: while the database is
away the mark is unset (every request reads its token), and once it is back the listener
connects again and hears notifications sent after that."""

from __future__ import annotations

import asyncio
import time
import uuid

from strato.stores.metadata.postgresql import PostgresMetadataStore
from strato.stores.metadata.records import DomainRecord
from tests.scaleout.private_pg import PrivatePostgres


async def mark_within(store: PostgresMetadataStore, seconds: float) -> bytes | None:
    deadline = time.monotonic() + seconds
    while (mark := store.change_mark()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return mark


def test_the_listener_connects_again_after_a_database_restart() -> None:
    db = PrivatePostgres().init()
    try:
        async def run() -> None:
            store, writer = PostgresMetadataStore(db.url), PostgresMetadataStore(db.url)
            await store.open()
            await writer.open()
            try:
                assert await mark_within(store, 5) is not None
                db.stop("immediate")
                await asyncio.sleep(1.0)  # the loop notices the connection closed
                assert store.change_mark() is None
                db.start()
                before = await mark_within(store, 15)  # retries back off up to 5 s
                assert before is not None, "the listener did not connect again"
                heard = store.db.listener.heard
                name = uuid.uuid4().hex
                for _ in range(3):  # the writer's pooled connections died with the server
                    try:
                        await writer.create_domain(DomainRecord(name, name, True, ""))
                        break
                    except Exception as exc:
                        assert writer.unavailable(exc), exc
                deadline = time.monotonic() + 5
                while store.db.listener.heard == heard and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert store.db.listener.heard > heard
                assert store.change_mark() not in (before, None)
            finally:
                await store.close()
                await writer.close()

        asyncio.run(run())
    finally:
        db.destroy()
