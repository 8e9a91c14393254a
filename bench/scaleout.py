"""One node on SQLite, one node on PostgreSQL and three nodes on PostgreSQL behind haproxy, in
one run: the small-object and listing workloads of `bench.compare`, with ops/s, p50/p99,
Strato's CPU per operation and PostgreSQL's share of the CPU.

    python -m bench.scaleout [--quick] [--workers N]

PostgreSQL is a server of the benchmark's own (initdb in a temporary directory, as the
fault test does), so its CPU can be told from other work on the machine. Every node has
`--workers` workers (default: one per core). Bounded: each 4 KiB workload stops after a
count or a few seconds, listings run a fixed number of pages. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import asyncpg
import uvloop

from bench import suite
from bench import workloads as w
from bench.machine import describe, load
from bench.measure import Result, cpu_seconds
from tests.harness import Server
from tests.scaleout.haproxy import Haproxy
from tests.scaleout.nodes import start_nodes
from tests.scaleout.private_pg import PrivatePostgres

QUICK = suite.Plan(small_c1=200, small_c32=2000, small_seconds=4.0, list_sizes=[5000],
                   list_repeats=10, walk_repeats=0, large=[])
FULL = suite.Plan(small_c1=1000, small_c32=10_000, small_seconds=15.0, list_sizes=[20_000],
                  list_repeats=40, walk_repeats=1, large=[])


def postmaster(db: PrivatePostgres) -> list[int]:
    return [int((db.data / "postmaster.pid").read_text().split()[0])]


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def login(node: Server) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    node.add_user("bench", "bench", password, role="admin")
    return node.auth_v1("bench:bench", password)


@contextmanager
def single(root: Path, metadata: str, workers: int) -> Iterator[tuple[str, str, list[Server]]]:
    node = Server(root / "data", workers=workers, env={"STRATO_METADATA": metadata})
    try:
        node.start()
        yield *login(node), [node]
    finally:
        node.stop()


@contextmanager
def three(root: Path, metadata: str, workers: int) -> Iterator[tuple[str, str, list[Server]]]:
    nodes = start_nodes(root, 3, metadata, workers=workers)
    proxy = Haproxy(root, nodes)
    try:
        proxy.start()
        storage, token = login(nodes[0])
        yield f"{proxy.url}/{storage.split('/', 3)[3]}", token, nodes
    finally:
        proxy.stop()
        for node in nodes:
            node.stop()


Setup = Callable[[], AbstractContextManager[tuple[str, str, list[Server]]]]


def run_one(name: str, setup: Setup, plan: suite.Plan,
            db: PrivatePostgres | None) -> dict[str, object]:
    with setup() as (storage, token, nodes):
        def roots() -> list[int]:
            return [n.process.pid for n in nodes if n.process]

        target = w.Target(name, storage, token, roots)
        strato0 = cpu_seconds(roots())
        pg0 = cpu_seconds(postmaster(db)) if db else 0.0
        results: dict[str, Result] = uvloop.run(suite.run(target, plan))
        strato_cpu = cpu_seconds(roots()) - strato0
        pg_cpu = (cpu_seconds(postmaster(db)) - pg0) if db else 0.0
    share = pg_cpu / (pg_cpu + strato_cpu) if pg_cpu + strato_cpu else 0.0
    print(f"\n{name}: PostgreSQL {pg_cpu:.1f} s CPU, Strato {strato_cpu:.1f} s "
          f"(PostgreSQL's share {share:.0%})\n{suite.table(results)}", flush=True)
    return {"pg_cpu_s": pg_cpu, "strato_cpu_s": strato_cpu, "pg_share": share,
            "results": {k: {"ops_s": r.ops_s, "p50_ms": r.pct(50), "p99_ms": r.pct(99),
                            "cpu_ms_per_op": r.cpu_ms_per_op, "ops": r.ops}
                        for k, r in results.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    w.steady_malloc()
    print(f"{describe()}\nload before: {load()}", flush=True)
    out: dict[str, object] = {}
    db = PrivatePostgres().init()
    try:
        with tempfile.TemporaryDirectory(prefix="strato-scaleout-") as tmp:
            root = Path(tmp)
            for key in ("sqlite", "pg1", "pg3"):
                (root / key).mkdir()
            out["1 node, SQLite"] = run_one(
                "1 node SQLite", lambda: single(root / "sqlite", "", args.workers), plan, None)
            one = asyncio.run(create_database(db.url, "bench_one"))
            out["1 node, PostgreSQL"] = run_one(
                "1 node PG", lambda: single(root / "pg1", one, args.workers), plan, db)
            many = asyncio.run(create_database(db.url, "bench_three"))
            out["3 nodes, PostgreSQL, haproxy"] = run_one(
                "3 nodes PG", lambda: three(root / "pg3", many, args.workers), plan, db)
    finally:
        db.destroy()
    print(f"load after: {load()}  ({time.strftime('%H:%M:%S')})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
