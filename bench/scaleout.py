"""One node on SQLite, one node on PostgreSQL and three nodes on PostgreSQL behind haproxy, in
one run: the small-object and listing workloads of `bench.compare`, with ops/s, p50/p99,
Strato's CPU per operation and PostgreSQL's share of the CPU; with `--swift`, OpenStack
Swift's small-object figures too, and issue 17's goal checked workload by workload.

    python -m bench.scaleout [--quick] [--workers N] [--swift | --no-swift] [--json F]

PostgreSQL is a server of the benchmark's own (initdb in a temporary directory, as the
fault test does), so its CPU can be told from other work on the machine. Every node has
`--workers` workers (default: one per core). Bounded: each 4 KiB workload stops after a
count or a few seconds, listings run a fixed number of pages. Not part of the test suite.

`--swift` (the default when run as root, which it needs: apt-get and a loop-mounted XFS
image) also runs the 4 KiB workloads against the one-replica Swift of `bench.compare`
(`bench.swift_cluster`, its proxy with `--workers` workers), right after the PostgreSQL
node so that the two meet the same load, and ends with the goal "PostgreSQL single node
>= 50% of SQLite's small-object throughput and >= 5x Swift's" as PASS/MISS lines. Servers
are stopped and the image unmounted and deleted on every exit, SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import asyncpg
import uvloop

from bench import suite
from bench import swift_cluster as sc
from bench import workloads as w
from bench.compare import _terminate
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


# Swift's small objects need little room: 2,000 x 4 KiB and its databases fit many times over
SWIFT_IMAGE_GIB = 2
SMALL = [f"4k {op} c={c}" for c in (1, 32) for op in ("PUT", "GET", "HEAD", "DELETE")]
SQLITE, PG1, PG3 = "1 node, SQLite", "1 node, PostgreSQL", "3 nodes, PostgreSQL, haproxy"
SWIFT = f"Swift {sc.SWIFT_VERSION}, 1 replica"
# issue 17's goal: the PostgreSQL node's small-object ops/s over each rival's, at least this
GOAL = [(SQLITE, "SQLite", 0.5), (SWIFT, "Swift", 5.0)]

Roots = Callable[[], list[int]]


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
def single(root: Path, metadata: str, workers: int) -> Iterator[tuple[str, str, Roots]]:
    node = Server(root / "data", workers=workers, env={"STRATO_METADATA": metadata})
    try:
        node.start()
        yield *login(node), lambda: pids([node])
    finally:
        node.stop()


@contextmanager
def three(root: Path, metadata: str, workers: int) -> Iterator[tuple[str, str, Roots]]:
    nodes = start_nodes(root, 3, metadata, workers=workers)
    proxy = Haproxy(root, nodes)
    try:
        proxy.start()
        storage, token = login(nodes[0])
        yield f"{proxy.url}/{storage.split('/', 3)[3]}", token, lambda: pids(nodes)
    finally:
        proxy.stop()
        for node in nodes:
            node.stop()


def pids(nodes: list[Server]) -> list[int]:
    return [n.process.pid for n in nodes if n.process]


@contextmanager
def swift(workdir: Path, venv: Path, workers: int) -> Iterator[tuple[str, str, Roots]]:
    """bench.compare's one-replica Swift on an XFS image of its own (Swift keeps object
    metadata in xattrs), its proxy with as many workers as a Strato node; all torn down."""
    sc.ensure_apt()
    bindir = sc.ensure_venv(venv)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with sc.xfs_mount(workdir, SWIFT_IMAGE_GIB) as mnt:
            cluster = sc.SwiftCluster(bindir, mnt / "swift")
            try:
                cluster.configure()
                cluster.write_proxy_conf(workers)
                cluster.start()
                yield *cluster.auth(), cluster.roots
            finally:
                cluster.stop()
    finally:
        sc.remove_tree(workdir)


Setup = Callable[[], AbstractContextManager[tuple[str, str, Roots]]]


def run_one(name: str, setup: Setup, plan: suite.Plan, db: PrivatePostgres | None,
            server: str = "Strato") -> dict[str, object]:
    with setup() as (storage, token, roots):
        target = w.Target(name, storage, token, roots)
        strato0 = cpu_seconds(roots())
        pg0 = cpu_seconds(postmaster(db)) if db else 0.0
        results: dict[str, Result] = uvloop.run(suite.run(target, plan))
        strato_cpu = cpu_seconds(roots()) - strato0
        pg_cpu = (cpu_seconds(postmaster(db)) - pg0) if db else 0.0
    share = pg_cpu / (pg_cpu + strato_cpu) if pg_cpu + strato_cpu else 0.0
    cpu = (f"PostgreSQL {pg_cpu:.1f} s CPU, {server} {strato_cpu:.1f} s (PostgreSQL's share "
           f"{share:.0%})" if db else f"{server} {strato_cpu:.1f} s CPU")
    print(f"\n{name}: {cpu}\n{suite.table(results)}", flush=True)
    return {"pg_cpu_s": pg_cpu, f"{server.lower()}_cpu_s": strato_cpu, "pg_share": share,
            "results": {k: {"ops_s": r.ops_s, "p50_ms": r.pct(50), "p99_ms": r.pct(99),
                            "cpu_ms_per_op": r.cpu_ms_per_op, "ops": r.ops}
                        for k, r in results.items()}}


def goal(out: dict[str, dict[str, object]]) -> tuple[str, dict[str, dict[str, float]]]:
    """PostgreSQL single node's ops/s over SQLite's and Swift's per 4 KiB workload, as a
    table and PASS/MISS lines (a rival not run is left out)."""

    def ops(config: str, key: str) -> float:
        res = out.get(config, {}).get("results", {})
        return float(res[key]["ops_s"]) if key in res else 0.0  # type: ignore[index,operator]

    rivals = [(config, label, need) for config, label, need in GOAL if config in out]
    ratios: dict[str, dict[str, float]] = {}
    swift_col = SWIFT in out
    lines = [f"{'workload':<16}{'SQLite ops/s':>14}{'PG ops/s':>10}"
             + (f"{'Swift ops/s':>13}" if swift_col else "")
             + "".join(f"{'PG/' + label:>12}" for _, label, _ in rivals)]
    for key in SMALL:
        pg = ops(PG1, key)
        ratios[key] = {f"pg_over_{label.lower()}": pg / ops(config, key) if ops(config, key)
                       else 0.0 for config, label, _ in rivals}
        lines.append(f"{key:<16}{ops(SQLITE, key):>14.1f}{pg:>10.1f}"
                     + (f"{ops(SWIFT, key):>13.1f}" if swift_col else "")
                     + "".join(f"{r:>11.2f}x" for r in ratios[key].values()))
    lines.append("goal (issue 17): PostgreSQL single node >= 50% of SQLite's small-object "
                 "ops/s" + (" and >= 5x Swift's:" if SWIFT in out else " (Swift not run):"))
    met = 0
    for key in SMALL:
        for _, label, need in rivals:
            ratio = ratios[key][f"pg_over_{label.lower()}"]
            met += ratio >= need
            want = f"{need:.0%} of" if need < 1 else f"{need:g}x"
            lines.append(f"  {'PASS' if ratio >= need else 'MISS'}  "
                         f"{f'{key} PG >= {want} {label}':<38} {ratio:6.2f}x")
    total = len(SMALL) * len(rivals)
    lines.append(f"  {'PASS' if met == total else 'MISS'}  goal: {met} of {total} met")
    return "\n".join(lines), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--swift", action=argparse.BooleanOptionalAction,
                        default=os.geteuid() == 0,
                        help="also run the 4 KiB workloads on OpenStack Swift (needs root; "
                             "the default as root)")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/strato-scaleout-swift"),
                        help="where Swift's XFS image is mounted (removed afterwards)")
    parser.add_argument("--venv", type=Path,
                        default=Path.home() / ".cache" / "strato-bench" / "swift-venv",
                        help="Swift's venv, shared with bench.compare (made on first use)")
    args = parser.parse_args()
    if args.swift and os.geteuid() != 0:
        parser.error("--swift needs root (apt-get, a loop-mounted XFS image)")
    plan = QUICK if args.quick else FULL
    # Swift gets the 4 KiB workloads only: its listings would need their own fill
    small = dataclasses.replace(plan, list_sizes=[], direct_sizes=[], walk_repeats=0)
    signal.signal(signal.SIGTERM, _terminate)  # SystemExit: every finally below runs
    t0 = time.monotonic()
    w.steady_malloc()
    print(f"{describe()}\nload before: {load()}", flush=True)
    out: dict[str, dict[str, object]] = {}
    db = PrivatePostgres().init()
    try:
        with tempfile.TemporaryDirectory(prefix="strato-scaleout-") as tmp:
            root = Path(tmp)
            for key in ("sqlite", "pg1", "pg3"):
                (root / key).mkdir()
            out[SQLITE] = run_one(
                "1 node SQLite", lambda: single(root / "sqlite", "", args.workers), plan, None)
            one = asyncio.run(create_database(db.url, "bench_one"))
            out[PG1] = run_one(
                "1 node PG", lambda: single(root / "pg1", one, args.workers), plan, db)
            if args.swift:
                out[SWIFT] = run_one(
                    "Swift", lambda: swift(args.workdir, args.venv, args.workers), small, None,
                    server="Swift")
            many = asyncio.run(create_database(db.url, "bench_three"))
            out[PG3] = run_one(
                "3 nodes PG", lambda: three(root / "pg3", many, args.workers), plan, db)
    finally:
        db.destroy()
    text, ratios = goal(out)
    print(f"\n{text}\nload after: {load()}  ({time.strftime('%H:%M:%S')}, "
          f"{time.monotonic() - t0:.0f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({**out, "goal": ratios}, indent=2))


if __name__ == "__main__":
    main()
