"""Soak run: a mixed load at a steady rate for minutes, watching for what grows.

    python -m bench.soak --minutes 10            # the issue's run
    python -m bench.soak --minutes 2 --interval 10 --rate 40

Starts a private server (two workers, SQLite; `--metadata URL` for PostgreSQL), then sends
PUTs (4 KiB inline and 256 KiB files), GETs, HEADs, POSTs, COPYs, DELETEs and listings over a
bounded set of names at `--rate` operations per second, paced (not as fast as it goes), from
`--concurrency` connections. Every `--interval` seconds it samples the server's RSS (every
process), open file descriptors, metadata database size (with its WAL) and the p99 latency of
the operations of that interval. At the end it prints the samples and, per figure, whether
it stayed flat: the mean of the last third of the samples against the first third (the
first sample, warm-up, left out), within a tolerance per figure.

Bounded in time (`--minutes`, at most 60) and count (rate x time). Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import psutil

from bench.measure import rss_bytes, tree
from bench.strato_server import ready
from tests.harness import Server

NAMES = 500  # objects live in a bounded namespace: steady state, not growth by design
SMALL = 4096
MEDIUM = 256 * 1024
TOLERANCE = {"rss_mib": 1.15, "fds": 1.15, "db_mib": 1.25, "p99_ms": 2.0}
"""How much the last third may exceed the first third and still count as flat."""
SLACK = {"rss_mib": 8.0, "fds": 8.0, "db_mib": 1.0, "p99_ms": 5.0}
"""An absolute rise below this is flat whatever the ratio (small values are noisy)."""


@dataclass
class Sample:
    at: float
    ops: int
    errors: int
    rss_mib: float
    fds: int
    db_mib: float
    p99_ms: float


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ops: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)


def open_fds(roots: list[int]) -> int:
    total = 0
    for proc in tree(roots):
        try:
            total += proc.num_fds()
        except psutil.Error:
            continue
    return total


def db_mib(data_dir: Path) -> float:
    size = sum(p.stat().st_size for p in data_dir.glob("metadata.db*") if p.is_file())
    return size / 2**20


async def one_op(s: aiohttp.ClientSession, base: str, headers: dict[str, str],
                 rng: random.Random, bodies: dict[int, bytes]) -> int:
    """One operation picked at random; returns its status."""
    name = f"o{rng.randrange(NAMES)}"
    url = f"{base}/soak/{name}"
    pick = rng.random()
    if pick < 0.35:
        async with s.get(url, headers=headers) as r:
            await r.read()
            return r.status if r.status != 404 else 200  # not yet written: fine
    if pick < 0.60:
        size = SMALL if rng.random() < 0.8 else MEDIUM
        async with s.put(url, data=bodies[size], headers=headers) as r:
            return r.status
    if pick < 0.70:
        async with s.head(url, headers=headers) as r:
            return r.status if r.status != 404 else 200
    if pick < 0.78:
        async with s.post(url, headers={**headers, "X-Object-Meta-Soak": str(rng.random())}
                          ) as r:
            return r.status if r.status != 404 else 202
    if pick < 0.85:
        async with s.request("COPY", url, headers={
                **headers, "Destination": f"soak/o{rng.randrange(NAMES)}"}) as r:
            return r.status if r.status != 404 else 201
    if pick < 0.93:
        async with s.delete(url, headers=headers) as r:
            return r.status if r.status != 404 else 204
    async with s.get(f"{base}/soak", params={"prefix": f"o{rng.randrange(10)}",
                                             "limit": "100"}, headers=headers) as r:
        await r.read()
        return r.status


async def run_load(base: str, token: str, seconds: float, rate: float, concurrency: int,
                   interval: float, server: Server, soak: Soak) -> None:
    headers = {"X-Auth-Token": token}
    bodies = {SMALL: os.urandom(SMALL), MEDIUM: os.urandom(MEDIUM)}
    roots = [server.process.pid] if server.process else []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as s:
        async with s.put(f"{base}/soak", headers=headers) as r:
            assert r.status in (201, 202), r.status
        start = time.monotonic()
        end = start + seconds
        queue: asyncio.Queue[None] = asyncio.Queue(maxsize=concurrency * 2)

        async def pace() -> None:
            n = 0
            while time.monotonic() < end:
                n += 1
                wait = start + n / rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await queue.put(None)  # blocks when the server cannot keep up: no pile-up

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while True:
                await queue.get()
                t0 = time.perf_counter()
                try:
                    status = await one_op(s, base, headers, rng, bodies)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = -1
                    soak.error_kinds[type(exc).__name__] = soak.error_kinds.get(
                        type(exc).__name__, 0) + 1
                soak.latencies.append(time.perf_counter() - t0)
                soak.ops += 1
                if not 200 <= status < 300:
                    soak.errors += 1
                    soak.error_kinds[str(status)] = soak.error_kinds.get(str(status), 0) + 1
                queue.task_done()

        async def sample() -> None:
            while True:
                await asyncio.sleep(interval)
                lat, soak.latencies = soak.latencies, []
                p99 = statistics.quantiles(lat, n=100)[98] * 1000 if len(lat) >= 2 else 0.0
                soak.samples.append(Sample(
                    round(time.monotonic() - start, 1), len(lat), soak.errors,
                    round(rss_bytes(roots) / 2**20, 1), open_fds(roots),
                    round(db_mib(server.data_dir), 2), round(p99, 1)))
                last = soak.samples[-1]
                print(f"{last.at:7.1f}s ops {last.ops:5d} err {last.errors:3d} "
                      f"rss {last.rss_mib:7.1f} MiB fds {last.fds:4d} "
                      f"db {last.db_mib:6.2f} MiB p99 {last.p99_ms:7.1f} ms",
                      file=sys.stderr, flush=True)

        workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        sampler = asyncio.create_task(sample())
        await pace()
        await queue.join()
        for task in (*workers, sampler):
            task.cancel()
        await asyncio.gather(*workers, sampler, return_exceptions=True)


def verdict(samples: list[Sample]) -> dict[str, dict[str, float | bool]]:
    """Per figure: mean of the first and last third (warm-up sample left out), and flat?"""
    steady = samples[1:] if len(samples) > 3 else samples
    third = max(1, len(steady) // 3)
    out: dict[str, dict[str, float | bool]] = {}
    for key in ("rss_mib", "fds", "db_mib", "p99_ms"):
        first = statistics.fmean(getattr(s, key) for s in steady[:third])
        last = statistics.fmean(getattr(s, key) for s in steady[-third:])
        flat = last <= first * TOLERANCE[key] or last - first <= SLACK[key]
        out[key] = {"first": round(first, 2), "last": round(last, 2), "flat": flat}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=15.0,
                        help="seconds between samples")
    parser.add_argument("--rate", type=float, default=40.0, help="operations per second")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--metadata", default="", help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if not 0 < args.minutes <= 60:
        parser.error("--minutes must be in (0, 60]")
    with tempfile.TemporaryDirectory(prefix="strato-soak-") as tmp:
        env = {"STRATO_METADATA": args.metadata}
        server = Server(Path(tmp) / "data", workers=args.workers, env=env)
        soak = Soak()
        try:
            url, token = ready(server)
            asyncio.run(run_load(url, token, args.minutes * 60, args.rate, args.concurrency,
                                 args.interval, server, soak))
        finally:
            server.stop()
    result = {"minutes": args.minutes, "rate": args.rate, "ops": soak.ops,
              "ops_per_second": round(soak.ops / (args.minutes * 60), 1),
              "errors": soak.errors, "error_kinds": soak.error_kinds,
              "samples": [asdict(s) for s in soak.samples], "flat": verdict(soak.samples)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"{soak.ops} operations in {args.minutes:g} min "
          f"({result['ops_per_second']}/s, target {args.rate:g}/s), {soak.errors} errors "
          f"{soak.error_kinds or ''}")
    for key, v in verdict(soak.samples).items():
        print(f"{key:8} first third {v['first']:>9}  last third {v['last']:>9}  "
              f"{'flat' if v['flat'] else 'GROWS'}")


if __name__ == "__main__":
    main()
