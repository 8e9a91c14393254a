"""Which PostgreSQL driver the metadata store uses: psycopg 3 (async, psycopg_pool) or asyncpg.

Measures, against a local PostgreSQL, what the store does most, with the same SQL and the
same pool size for both drivers, on uvloop as the server runs:

- `put`: a small object's row upserted and its container's counters moved, in one
  transaction (read the old row FOR UPDATE, upsert, add to a sharded counter row), from
  CONCURRENCY tasks at once;
- `get`: one object row by primary key (every GET and HEAD reads one);
- `list`: a 1,000-row keyset listing page (`name > marker ORDER BY name LIMIT 1000`).

asyncpg runs twice: through its own pool, and through the store's connection list
(`Connections` in `stores/metadata/postgresql/db.py`), which replaced the pool.

Bounded: a fixed number of operations per workload. Prints ops/s, p50/p99 latency and the
client CPU per operation (the driver's cost, which a 2-core server pays on every request).

    python -m bench.pg_drivers [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import psycopg_pool
import uvloop

from strato.stores.metadata.postgresql.db import Connections

POOL = 4
CONCURRENCY = 16
PUTS = 4000
GETS = 8000
PAGES = 400
ROWS = 10_000
SHARDS = 8
WARM_UP = 200

SCHEMA = """
DROP TABLE IF EXISTS bench_objects, bench_counters;
CREATE TABLE bench_counters (container_id bigint, shard int, object_count bigint NOT NULL,
  bytes_used bigint NOT NULL, PRIMARY KEY (container_id, shard));
CREATE TABLE bench_objects (container_id bigint, name bytea, blob_id text NOT NULL,
  size bigint NOT NULL, etag text NOT NULL, content_type text NOT NULL,
  timestamp double precision NOT NULL, meta text NOT NULL, delete_at bigint,
  PRIMARY KEY (container_id, name));
INSERT INTO bench_counters SELECT c, s, 0, 0 FROM generate_series(1, 2) c,
  generate_series(0, 7) s;
"""

FILL = f"""
INSERT INTO bench_objects SELECT 2, convert_to('obj/' || lpad(i::text, 8, '0'), 'UTF8'),
  md5(i::text), 100, repeat('e', 32), 'text/plain', 0, '{{}}', NULL
  FROM generate_series(0, {ROWS - 1}) i
"""
OLD = ("SELECT blob_id, size, meta FROM bench_objects WHERE container_id = {0} AND name = {1}"
       " FOR UPDATE")
UPSERT = ("INSERT INTO bench_objects VALUES ({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8})"
          " ON CONFLICT (container_id, name) DO UPDATE SET blob_id = excluded.blob_id,"
          " size = excluded.size, etag = excluded.etag, content_type = excluded.content_type,"
          " timestamp = excluded.timestamp, meta = excluded.meta, delete_at = excluded.delete_at")
COUNT = ("UPDATE bench_counters SET object_count = object_count + {0},"
         " bytes_used = bytes_used + {1} WHERE container_id = {2} AND shard = {3}")
GET = "SELECT * FROM bench_objects WHERE container_id = {0} AND name = {1}"
LIST = ("SELECT * FROM bench_objects WHERE container_id = {0} AND name > {1}"
        " ORDER BY name LIMIT 1000")


def dollar(sql: str) -> str:
    return sql.format(*(f"${i}" for i in range(1, 10)))


def percent(sql: str) -> str:
    return sql.format(*(["%s"] * 9))


def row(container: int, name: bytes) -> tuple[Any, ...]:
    return (container, name, uuid.uuid4().hex, 100, "e" * 32, "text/plain", time.time(),
            '{"meta-a": "b"}', None)


class Asyncpg:
    name = "asyncpg"

    async def open(self, dsn: str) -> None:
        self.pool = await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)

    async def close(self) -> None:
        await self.pool.close()

    async def execute(self, sql: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(sql)

    async def put(self, container: int, name: bytes) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            old = await conn.fetchrow(dollar(OLD), container, name)
            await conn.execute(dollar(UPSERT), *row(container, name))
            await conn.execute(dollar(COUNT), 0 if old else 1, 100 - (old[1] if old else 0),
                               container, random.randrange(SHARDS))

    async def get(self, container: int, name: bytes) -> None:
        async with self.pool.acquire() as conn:
            assert await conn.fetchrow(dollar(GET), container, name) is not None

    async def page(self, container: int, marker: bytes) -> int:
        async with self.pool.acquire() as conn:
            return len(await conn.fetch(dollar(LIST), container, marker))


class AsyncpgList(Asyncpg):
    """asyncpg under the store's own connection list (`Connections`) instead of its pool."""

    name = "asyncpg, the store's connection list"

    async def open(self, dsn: str) -> None:
        self.pool = Connections(lambda: asyncpg.connect(dsn), POOL)  # type: ignore[assignment]

    async def close(self) -> None:
        await self.pool.close(10.0)  # type: ignore[call-arg]


class Psycopg:
    name = "psycopg"

    async def open(self, dsn: str) -> None:
        self.pool = psycopg_pool.AsyncConnectionPool(
            dsn, min_size=POOL, max_size=POOL, open=False,
            kwargs={"autocommit": True, "prepare_threshold": 0})
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    async def execute(self, sql: str) -> None:
        async with self.pool.connection() as conn:
            for statement in filter(str.strip, sql.split(";")):  # prepared: one at a time
                await conn.execute(statement, prepare=False)

    async def put(self, container: int, name: bytes) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(percent(OLD), (container, name))
            old = await cur.fetchone()
            await conn.execute(percent(UPSERT), row(container, name))
            await conn.execute(percent(COUNT), (0 if old else 1, 100 - (old[1] if old else 0),
                                                container, random.randrange(SHARDS)))

    async def get(self, container: int, name: bytes) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(percent(GET), (container, name))
            assert await cur.fetchone() is not None

    async def page(self, container: int, marker: bytes) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(percent(LIST), (container, marker))
            return len(await cur.fetchall())


async def run(count: int, op: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    """`count` calls of op(i) from CONCURRENCY tasks; latency figures in ms."""
    latencies: list[float] = []
    todo = iter(range(count))

    async def task() -> None:
        for i in todo:
            started = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task() for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cuts = statistics.quantiles(latencies, n=100)
    return {"ops/s": count / wall, "p50 ms": cuts[49] * 1e3, "p99 ms": cuts[98] * 1e3,
            "client CPU us/op": cpu / count * 1e6}


async def measure(driver: Asyncpg | AsyncpgList | Psycopg, dsn: str) -> dict[str, dict[str, float]]:
    await driver.open(dsn)
    try:
        await driver.execute(SCHEMA)
        names = [f"obj/{i:08d}".encode() for i in range(ROWS)]
        # container 2 gets ROWS rows to read and list; a warm-up prepares every statement
        await driver.execute(FILL)
        await run(WARM_UP, lambda i: driver.put(2, names[i]))
        results = {
            # half new names, half overwrites, in container 1
            "put": await run(PUTS, lambda i: driver.put(1, names[i % (PUTS // 2)])),
            "get": await run(GETS, lambda i: driver.get(2, names[(i * 7919) % ROWS])),
        }
        markers = [b""] + [names[i] for i in range(999, ROWS, 1000)]

        async def page(i: int) -> None:
            await driver.page(2, markers[i % 9])

        results["list"] = await run(PAGES, page)
        return results
    finally:
        await driver.execute("DROP TABLE IF EXISTS bench_objects, bench_counters")
        await driver.close()


async def main(dsn: str) -> None:
    database = f"strato_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE DATABASE {database}")
    target = dsn.rsplit("/", 1)[0] + "/" + database
    try:
        for round_ in range(2):  # alternate, so neither driver always runs on a warmer server
            drivers = (Asyncpg(), AsyncpgList(), Psycopg())
            for driver in drivers if round_ == 0 else drivers[::-1]:
                for workload, figures in (await measure(driver, target)).items():
                    print(f"round {round_ + 1} {driver.name:<8}\n  {workload:<5} " + "  ".join(
                        f"{key} {value:8.1f}" for key, value in figures.items()), flush=True)
    finally:
        await admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
        await admin.close()
    print(f"psycopg {psycopg.__version__}, asyncpg {asyncpg.__version__}; pool {POOL}, "
          f"{CONCURRENCY} concurrent tasks")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    uvloop.run(main(parser.parse_args().dsn))
