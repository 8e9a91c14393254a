"""What a shared rate-limit check costs (`MetadataStore.rate_wait`), on each backend.

SQLite: the check goes through the writer thread; measured as it runs (a batch of scratch
writes commits with `synchronous=NORMAL`, no fsync) and, for comparison, as a durable write
would (`synchronous=FULL`, one fsync per batch). PostgreSQL (with `--dsn`): the check as it
runs, on the UNLOGGED table, and the same statement on a logged copy of the table.

Each round (two of each, alternating) is `--count` checks on distinct keys, one at a time
(latency) and from `--concurrency` tasks at once (group commit); prints the mean time per
check.

    python -m bench.ratelimit [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from strato.stores.metadata.postgresql import PostgresMetadataStore
from strato.stores.metadata.postgresql.rates import TAKE as PG_TAKE
from strato.stores.metadata.sqlite import SqliteMetadataStore
from strato.stores.metadata.sqlite.rates import TAKE as SQLITE_TAKE

Check = Callable[[str], Awaitable[object]]


async def rounds(name: str, check: Check, count: int, concurrency: int) -> None:
    started = time.perf_counter()
    for n in range(count):
        await check(f"one/{n}")
    alone = (time.perf_counter() - started) / count
    queue = iter(range(count))

    async def task() -> None:
        for n in queue:
            await check(f"many/{n}")

    started = time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    together = (time.perf_counter() - started) / count
    print(f"{name:42} one at a time {alone * 1e3:7.3f} ms/check   "
          f"{concurrency} at once {together * 1e3:7.3f} ms/check", flush=True)


def sqlite_check(store: SqliteMetadataStore, durable: bool) -> Check:
    async def check(key: str) -> object:
        params = {"key": f"{durable}/{key}", "interval": 0.01, "max_wait": 1.0, "burst": 5.0}
        return await store.db.write(
            lambda conn: conn.execute(SQLITE_TAKE, params).fetchone(), durable=durable)

    return check


async def sqlite_rounds(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteMetadataStore(Path(tmp) / "metadata.db")
        await store.open()
        try:
            for durable in (False, True, False, True):
                await rounds("sqlite " + ("durable (FULL, fsync)" if durable
                                          else "as built (NORMAL, no fsync)"),
                             sqlite_check(store, durable), count, concurrency)
        finally:
            await store.close()


async def postgres_rounds(dsn: str, count: int, concurrency: int) -> None:
    import asyncpg

    name = f"bench_rl_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    url = dsn.rsplit("/", 1)[0] + "/" + name
    store = PostgresMetadataStore(url)
    try:
        await store.open()
        await store.db.pool.execute("CREATE TABLE logged_rate_limits"
                                    " (LIKE rate_limits INCLUDING ALL)")
        logged = PG_TAKE.replace("INTO rate_limits", "INTO logged_rate_limits")

        async def unlogged(key: str) -> object:
            return await store.rate_wait(key, 0.01, 1.0, 5.0)

        async def logged_check(key: str) -> object:
            return await store.db.pool.fetchval(logged, key, 0.01, 1.0, 5.0)

        for _ in range(2):
            await rounds("postgresql as built (UNLOGGED)", unlogged, count, concurrency)
            await rounds("postgresql logged table (WAL flush)", logged_check, count,
                         concurrency)
    finally:
        await store.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="a PostgreSQL admin URL (a database is made and dropped)")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(sqlite_rounds(args.count, args.concurrency))
    if args.dsn:
        asyncio.run(postgres_rounds(args.dsn, args.count, args.concurrency))


if __name__ == "__main__":
    main()
