"""How fast `strato migrate` moves objects' metadata into PostgreSQL, and what an object
costs there (rows, bytes of table and indexes), measured on one filled container.

    python -m bench.migrate_capacity [--objects 200000] [--pg postgresql://...]

Makes a data directory (`strato init`), fills one container of the demo account straight
into its SQLite database with realistic rows (names as a photo library's, an MD5 ETag, a
blob id, a content type and one metadata key), migrates it into a new database on the
PostgreSQL server, measures, and drops the database. Bounded by --objects (at most 2
million). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from strato.server.migrate import migrate
from strato.stores.metadata.sqlite.db import connect
from strato.stores.metadata.sqlite.objects import OBJECT_COLUMNS

MAX_OBJECTS = 2_000_000
BATCH = 50_000


def fill(db_path: Path, objects: int) -> None:
    """One container `photos` in the account `AUTH_bench`, holding `objects` rows."""
    conn = connect(db_path)
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO accounts (name, created_at) VALUES ('AUTH_bench', ?)", (now,))
    cid = conn.execute("INSERT INTO containers (account, name, created_at, put_timestamp, "
                       "policy) VALUES ('AUTH_bench', 'photos', ?, ?, 'gold') RETURNING id",
                       (now, now)).fetchone()[0]
    conn.execute("COMMIT")
    for start in range(0, objects, BATCH):
        rows = []
        for n in range(start, min(objects, start + BATCH)):
            name = f"{2000 + n % 25}/{n % 12 + 1:02d}/{n // 300 % 28 + 1:02d}/IMG_{n:08d}.jpg"
            rows.append((cid, name, uuid.uuid4().hex, 2_500_000 + n % 997,
                         hashlib.md5(name.encode()).hexdigest(), "image/jpeg", now + n / 1e3,
                         '{"x-object-meta-camera":"X100V"}'))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO objects ({OBJECT_COLUMNS}) "
                         "VALUES (?,?,?,?,?,?,?,?,NULL)", rows)
        conn.execute("UPDATE containers SET object_count = object_count + ?, "
                     "bytes_used = bytes_used + ? WHERE id = ?",
                     (len(rows), sum(r[3] for r in rows), cid))
        conn.execute("COMMIT")
    conn.close()


async def sizes(url: str) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE objects")
        rows = await conn.fetchval("SELECT count(*) FROM objects")
        return {
            "rows": rows,
            "row_bytes_avg": float(await conn.fetchval(
                "SELECT avg(pg_column_size(o.*)) FROM objects o")),
            "heap_bytes_per_object": await conn.fetchval(
                "SELECT pg_table_size('objects')") / rows,
            "pkey_bytes_per_object": await conn.fetchval(
                "SELECT pg_relation_size('objects_pkey')") / rows,
            "blob_index_bytes_per_object": await conn.fetchval(
                "SELECT pg_relation_size('objects_blob')") / rows,
            "total_bytes_per_object": await conn.fetchval(
                "SELECT pg_total_relation_size('objects')") / rows,
        }
    finally:
        await conn.close()


async def admin(base: str, sql: str) -> None:
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    objects = min(args.objects, MAX_OBJECTS)
    database = f"strato_bench_{uuid.uuid4().hex[:12]}"
    url = args.pg.rsplit("/", 1)[0] + "/" + database
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "strato", "init", "--data-dir", str(data)],
                       check=True, capture_output=True, env={"STRATO_METADATA": "",
                                                             "PATH": "/usr/bin:/bin"})
        t0 = time.perf_counter()
        fill(data / "metadata.db", objects)
        filled = time.perf_counter() - t0
        sqlite_bytes = (data / "metadata.db").stat().st_size
        asyncio.run(admin(args.pg, f"CREATE DATABASE {database}"))
        try:
            t0 = time.perf_counter()
            report = asyncio.run(migrate(data / "metadata.db", url, batch_rows=5000))
            took = time.perf_counter() - t0
            figures = asyncio.run(sizes(url))
        finally:
            asyncio.run(admin(args.pg, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
    print(json.dumps({
        "objects": objects, "fill_seconds": round(filled, 1),
        "migrate_seconds": round(took, 1), "migrate_objects_per_s": round(objects / took),
        "report_matches": report.matches,
        "sqlite_bytes_per_object": round(sqlite_bytes / objects, 1),
        **{k: round(v, 1) for k, v in figures.items()}}, indent=2))


if __name__ == "__main__":
    main()
