"""The workload plan run against each server, and the table its results print as."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench import workloads as w
from bench.measure import Result


@dataclass
class Plan:
    small_c1: int = 2000
    small_c32: int = 10000
    small_seconds: float | None = None  # each 4 KiB workload stops after this long
    list_sizes: list[int] = field(default_factory=lambda: [100_000])
    # containers filled straight into the database (bench/fill.py), for sizes the API
    # would take hours to fill
    direct_sizes: list[int] = field(default_factory=list)
    list_repeats: int = 50
    walk_repeats: int = 3
    large: list[int] = field(default_factory=lambda: [1 << 30])
    warm_reads: int = 3  # warm GETs of each large object, reported as one (total bytes/time)
    mixed_seconds: float = 0.0
    mixed_objects: int = 1000


WALK_MAX = 100_000  # a full walk of a bigger container takes minutes on Swift

QUICK = Plan(small_c1=300, small_c32=2000, list_sizes=[10_000], list_repeats=20,
             walk_repeats=1, large=[256 << 20])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


async def run(t: w.Target, plan: Plan, skip_fill: bool = False) -> dict[str, Result]:
    """Run the whole plan against one server; results keyed by workload name."""
    results: dict[str, Result] = {}

    def keep(r: Result, key: str | None = None) -> None:
        results[key or r.name] = r
        log(f"{t.name:>14} {row(r)}")

    body = w.small_body()
    for conc, count in ((1, plan.small_c1), (32, plan.small_c32)):
        if not count:
            continue
        container = f"bench-small-c{conc}"
        await w.make_container(t, container)
        for op in ("PUT", "GET", "HEAD", "DELETE"):
            r = await w.small_ops(t, op, container, count, conc, body, plan.small_seconds)
            keep(r)
            if op == "PUT":
                count = r.ops  # the others work on the objects the PUTs made

    sizes = [(n, False) for n in plan.list_sizes]
    sizes += [(n, True) for n in plan.direct_sizes if t.fill_direct]
    lists = {size: f"bench-{'direct' if direct else 'list'}-{size}" for size, direct in sizes}
    for size, direct in sizes:
        container = lists[size]
        await w.make_container(t, container)
        if skip_fill:
            continue
        if direct:
            rate = await asyncio.to_thread(t.fill_direct, container, size)  # type: ignore[arg-type]
            log(f"{t.name:>14} filled {size} objects into its database at {rate:.0f}/s")
        else:
            rate = await w.fill(t, container, size)
            log(f"{t.name:>14} filled {size} objects through the API at {rate:.0f}/s")
    for kind, label in (("first", "list first 1000"), ("delimiter", "list prefix+delimiter")):
        # the containers take turns request by request: a change in the machine's load then
        # weighs on every size alike instead of passing for a difference between sizes
        rounds: dict[int, list[Result]] = {size: [] for size in lists}
        for _ in range(plan.list_repeats):
            for size, container in lists.items():
                rounds[size].append(await w.listing(t, container, kind, 1, size))
        for size, parts in rounds.items():
            keep(Result.merge(parts[0].name, parts), f"{label} ({size // 1000}k)")
    for size, container in lists.items():
        if plan.walk_repeats and size <= WALK_MAX:
            keep(await w.listing(t, container, "walk", plan.walk_repeats, size),
                 f"list full walk ({size // 1000}k)")

    await w.make_container(t, "bench-large")
    for size in plan.large:
        md5, crc = w.pattern_sums(size)
        name = f"large-{size}"
        keep(await w.large_put(t, "bench-large", name, size, md5))
        # with evict: the first read from the disk, the second from the page cache where the
        # server keeps the object there (Swift drops objects past 5 MiB after every read)
        if t.evict is not None:
            await asyncio.to_thread(t.evict)
            keep(await w.large_get(t.url("bench-large", name), t.headers, size, crc, t.roots,
                                   f"GET {size >> 20} MiB cold"))
        warm = [await w.large_get(t.url("bench-large", name), t.headers, size, crc, t.roots,
                                  f"GET {size >> 20} MiB") for _ in range(plan.warm_reads)]
        keep(Result.merge(warm[0].name, warm))
        await delete(t, "bench-large", name)

    if plan.mixed_seconds:
        container = "bench-mixed"
        await w.make_container(t, container)
        await w.small_ops(t, "PUT", container, plan.mixed_objects, 32, body)
        keep(await w.mixed(t, container, plan.mixed_objects, plan.mixed_seconds, 32, body))
    return results


async def delete(t: w.Target, container: str, name: str) -> None:
    async with w.session(1) as s, s.delete(t.url(container, name), headers=t.headers) as r:
        w.check(r.status, (204,), "DELETE")


HEADER = (f"{'workload':<30}{'ops/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'MB/s':>9}"
          f"{'CPU ms/op':>11}{'peak RSS MB':>13}")


def row(r: Result) -> str:
    return (f"{r.name:<30}{r.ops_s:>10.1f}{r.pct(50):>9.2f}{r.pct(99):>9.2f}{r.mb_s:>9.1f}"
            f"{r.cpu_ms_per_op:>11.2f}{r.peak_rss / 1e6:>13.0f}"
            + (f"  ({r.errors} refused with 503)" if r.errors else ""))


def table(results: dict[str, Result]) -> str:
    lines = [HEADER]
    for key, r in results.items():
        lines.append(row(r).replace(f"{r.name:<30}", f"{key:<30}", 1))
    return "\n".join(lines)
