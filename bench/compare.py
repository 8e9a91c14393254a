"""Strato side by side with OpenStack Swift (and nginx as the large-GET ceiling), same disk,
same client, one invocation; prints each figure for each server and Strato's advantage.

    python -m bench.compare [--quick] [--part small|listing|large ...] [--chart F]

Needs root (apt-get, loop mount). Cleans up after itself: servers
stopped, the XFS image unmounted and deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop

from bench import fill, strato_server, suite
from bench import swift_cluster as sc
from bench import workloads as w
from bench.machine import describe, load
from bench.measure import Result
from tests.harness import Server

# listing containers are filled straight into each server's database: through the API,
# Swift takes ~10 minutes for 20,000 objects on a busy machine and hours for 1,000,000
FULL = suite.Plan(small_c1=1000, small_c32=5000, list_sizes=[], list_repeats=40,
                  walk_repeats=2, direct_sizes=[20_000, 1_000_000], large=[256 << 20, 4 << 30],
                  mixed_seconds=60)
# bounded in time, not count: under 2 minutes even when Swift is slowed by a busy machine
QUICK = suite.Plan(small_c1=300, small_c32=2000, small_seconds=2.5, list_sizes=[],
                   list_repeats=20, walk_repeats=0, direct_sizes=[20_000, 100_000],
                   large=[256 << 20])
# the listing-flatness targets compare the largest container with this one
FLAT_BASE = "20k"


PARTS = ("small", "listing", "large")


def only(plan: suite.Plan, parts: Sequence[str]) -> suite.Plan:
    """The plan with the parts not asked for left out (4 KiB ops, listings, large+mixed)."""
    plan = dataclasses.replace(plan)
    if "small" not in parts:
        plan.small_c1 = plan.small_c32 = 0
    if "listing" not in parts:
        plan.list_sizes, plan.direct_sizes = [], []
    if "large" not in parts:
        plan.large, plan.mixed_seconds = [], 0
    return plan


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


@contextlib.contextmanager
def environment(workdir: Path, venv: Path, image_gib: int) -> Iterator[dict[str, object]]:
    """Swift, Strato and nginx on one XFS image; everything torn down on exit."""
    sc.ensure_apt()
    bindir = sc.ensure_venv(venv)
    with contextlib.ExitStack() as stack:
        mnt: Path = stack.enter_context(sc.xfs_mount(workdir, image_gib))
        cluster = sc.SwiftCluster(bindir, mnt / "swift")
        stack.callback(cluster.stop)
        server = Server(data_dir=mnt / "strato" / "data", workers=os.cpu_count() or 1)
        stack.callback(server.stop)
        with ThreadPoolExecutor(1) as pool:  # both start slowly on a busy machine: overlap
            strato_up = pool.submit(strato_server.ready, server)
            cluster.configure()
            cluster.start()
            url, token = strato_up.result()
        suite.log("swift and strato started")
        docroot = mnt / "nginx" / "www"
        docroot.mkdir(parents=True)
        nginx, nginx_url = sc.start_nginx(mnt / "nginx", docroot)
        stack.callback(sc.stop_proc, nginx)
        yield {"cluster": cluster, "server": server, "strato_url": url, "strato_token": token,
               "nginx": nginx, "nginx_url": nginx_url, "docroot": docroot,
               "evict": lambda: sc.drop_page_cache(mnt, workdir / "xfs.img")}


def disk_writes(env: dict[str, object], sizes: list[int]) -> dict[str, Result]:
    """The disk's own pace for a large PUT: `dd` writing as many bytes to the same mount with
    direct I/O in 2 MiB blocks, then fsync (the ceiling for either server's PUT)."""
    results = {}
    docroot: Path = env["docroot"]  # type: ignore[assignment]
    for size in sizes:
        target = docroot.parent / "dd.out"
        t0 = time.perf_counter()
        subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=2M", f"count={size >> 21}",
                        "oflag=direct", "conv=fsync"], check=True, capture_output=True,
                       timeout=600)
        r = Result(f"PUT {size >> 20} MiB", ops=1, nbytes=size,
                   seconds=time.perf_counter() - t0)
        r.latencies.append(r.seconds)
        suite.log(f"{'dd':>14} {suite.row(r)}")
        results[r.name] = r
        target.unlink()
    return results


async def nginx_gets(env: dict[str, object], plan: suite.Plan) -> dict[str, Result]:
    """The same large GETs as the suite's (cold, then warm_reads warm), from nginx."""
    results = {}
    docroot: Path = env["docroot"]  # type: ignore[assignment]
    nginx = env["nginx"]
    for size in plan.large:
        _, crc = w.pattern_sums(size)
        path = docroot / f"large-{size}"
        with open(path, "wb") as f:
            block = w.pattern()
            for off in range(0, size, w.CHUNK):
                f.write(block[: min(w.CHUNK, size - off)])
            f.flush()
            os.fsync(f.fileno())
        evict: Callable[[], None] = env["evict"]  # type: ignore[assignment]
        evict()
        for label, reads in ((f"GET {size >> 20} MiB cold", 1),
                             (f"GET {size >> 20} MiB", plan.warm_reads)):
            parts = [await w.large_get(f"{env['nginx_url']}/{path.name}", {}, size, crc,
                                       lambda: [nginx.pid],  # type: ignore[attr-defined]
                                       label) for _ in range(reads)]
            r = Result.merge(label, parts)
            suite.log(f"{'nginx':>14} {suite.row(r)}")
            results[r.name] = r
        path.unlink()
    return results


def names(count: int) -> Iterator[str]:
    return (w.listing_name(i) for i in range(count))


def run_all(env: dict[str, object], plan: suite.Plan, both_workers: bool
            ) -> dict[str, dict[str, Result]]:
    cluster: sc.SwiftCluster = env["cluster"]  # type: ignore[assignment]
    server = env["server"]
    strato_url = str(env["strato_url"])

    def strato_fill(container: str, count: int) -> float:
        return fill.strato(server.data_dir / "metadata.db",  # type: ignore[attr-defined]
                           fill.account_of(strato_url), container, names(count))

    evict: Callable[[], None] = env["evict"]  # type: ignore[assignment]
    strato = w.Target("strato", strato_url, str(env["strato_token"]),
                      lambda: strato_server.roots(server),  # type: ignore[arg-type]
                      fill_direct=strato_fill, evict=evict)
    out: dict[str, dict[str, Result]] = {}
    out["strato"] = uvloop.run(suite.run(strato, plan))
    # right after Strato's large GETs, so that a change in the machine's load between the
    # phases does not pass for a difference between the two servers
    out["nginx"] = uvloop.run(nginx_gets(env, plan))
    out["disk"] = disk_writes(env, plan.large)
    url, token = cluster.auth()

    def swift_fill(container: str, count: int) -> float:
        return fill.swift(cluster.bindir / "python", cluster.root / "node",
                          fill.account_of(url), container, names(count))

    swift = w.Target("swift 1 worker", url, token, cluster.roots, fill_direct=swift_fill,
                     evict=evict)
    out["swift-1w"] = uvloop.run(suite.run(swift, plan))
    if both_workers:
        cluster.restart_proxy(2)
        url, token = cluster.auth()
        swift2 = w.Target("swift 2 workers", url, token, cluster.roots, fill_direct=swift_fill,
                          evict=evict)
        out["swift-2w"] = uvloop.run(suite.run(swift2, plan, skip_fill=True))
    return out


# which figure decides "better" for each kind of workload, and its direction
def headline(key: str) -> tuple[str, bool]:
    """(attribute, higher_is_better) of the figure a workload is judged by."""
    if key.startswith("list"):
        return "p50", False
    if key.startswith(("PUT ", "GET ")):
        return "mb_s", True
    return "ops_s", True


def value(r: Result, attr: str) -> float:
    if attr in ("p50", "p99"):
        return r.pct(float(attr[1:]))
    return float(getattr(r, attr))


def advantage(ours: float, theirs: float, higher_is_better: bool) -> float:
    """How many times better Strato is (>1 = Strato wins)."""
    if not ours or not theirs:
        return 0.0
    return ours / theirs if higher_is_better else theirs / ours


FIGURES = [("ops_s", "ops/s", True), ("mb_s", "MB/s", True), ("p50", "p50 ms", False),
           ("p99", "p99 ms", False), ("cpu_ms_per_op", "CPU ms/op", False),
           ("peak_rss", "peak RSS MB", False)]


def report(out: dict[str, dict[str, Result]]) -> tuple[str, dict[str, dict[str, float]]]:
    """The side-by-side table, and the headline advantages per workload and rival."""
    rivals = [k for k in ("swift-1w", "swift-2w") if k in out]
    cols = ["strato", *rivals]
    lines = [f"{'workload':<28}{'figure':<13}" + "".join(f"{c:>12}" for c in cols)
             + "".join(f"{'vs ' + c:>13}" for c in rivals)]
    ratios: dict[str, dict[str, float]] = {}
    for key, ours in out["strato"].items():
        main_attr, _ = headline(key)
        for attr, label, higher in FIGURES:
            if attr in ("ops_s", "mb_s") and attr != main_attr and not key.startswith("4k"):
                continue
            if attr == "mb_s" and key.startswith(("4k", "list", "mixed")):
                continue
            scale = 1e-6 if attr == "peak_rss" else 1.0
            vals = [value(out[c][key], attr) * scale if key in out[c] else 0.0 for c in cols]
            adv = [advantage(vals[0], v, higher) for v in vals[1:]]
            lines.append(f"{key:<28}{label:<13}" + "".join(f"{v:>12.2f}" for v in vals)
                         + "".join(f"{a:>12.2f}x" for a in adv))
            if attr == main_attr:
                ratios[key] = dict(zip(rivals, adv, strict=True))
        if key.startswith("GET ") and key in out.get("nginx", {}):
            nx = out["nginx"][key]
            frac = ours.mb_s / nx.mb_s if nx.mb_s else 0.0
            lines.append(f"{key:<28}{'nginx MB/s':<13}{nx.mb_s:>12.2f}   Strato = {frac:.0%}"
                         " of nginx")
            ratios.setdefault(key, {})["nginx"] = frac
        if key.startswith("PUT ") and key in out.get("disk", {}):
            dd = out["disk"][key]
            frac = ours.mb_s / dd.mb_s if dd.mb_s else 0.0
            lines.append(f"{key:<28}{'disk MB/s':<13}{dd.mb_s:>12.2f}   Strato = {frac:.0%}"
                         " of dd's direct write")
    return "\n".join(lines), ratios


# issue 5's targets: (label, workload, figure, higher_is_better, minimum advantage)
TARGETS = [
    ("4 KiB GET c=32 ops/s >= 10x", "4k GET c=32", "ops_s", True, 10.0),
    ("4 KiB HEAD c=32 ops/s >= 10x", "4k HEAD c=32", "ops_s", True, 10.0),
    ("4 KiB GET c=32 CPU/op <= 1/10", "4k GET c=32", "cpu_ms_per_op", False, 10.0),
    ("4 KiB HEAD c=32 CPU/op <= 1/10", "4k HEAD c=32", "cpu_ms_per_op", False, 10.0),
    ("4 KiB PUT c=32 ops/s >= 5x", "4k PUT c=32", "ops_s", True, 5.0),
    ("4 KiB DELETE c=32 ops/s >= 5x", "4k DELETE c=32", "ops_s", True, 5.0),
    ("4 KiB GET c=1 p50 <= 1/4", "4k GET c=1", "p50", False, 4.0),
    ("4 KiB PUT c=1 p50 <= 1/4", "4k PUT c=1", "p50", False, 4.0),
    ("4 KiB DELETE c=1 p50 <= 1/4", "4k DELETE c=1", "p50", False, 4.0),
]


def targets(out: dict[str, dict[str, Result]]) -> str:
    """Each target against the strongest Swift configuration measured (the smallest
    advantage), plus the nginx, large-PUT and memory targets."""
    rivals = [k for k in ("swift-1w", "swift-2w") if k in out]
    ours = out["strato"]
    lines = ["targets (vs the better of " + ", ".join(rivals) + "):"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    for label, key, attr, higher, need in TARGETS:
        if key not in ours:
            continue
        adv = min(advantage(value(ours[key], attr), value(out[r][key], attr), higher)
                  for r in rivals if key in out[r])
        lines.append(f"  {verdict(adv >= need)}  {label:<34} {adv:6.2f}x")
    for key in ours:
        if key.startswith("list first"):
            adv = min(advantage(ours[key].pct(50), out[r][key].pct(50), False)
                      for r in rivals if key in out[r])
            lines.append(f"  {verdict(adv >= 5)}  {key + ' p50 <= 1/5':<34} {adv:6.2f}x")
        if key.startswith("list prefix+delimiter"):
            adv = min(advantage(ours[key].pct(50), out[r][key].pct(50), False)
                      for r in rivals if key in out[r])
            lines.append(f"  {verdict(adv > 1)}  {key + ' p50 < Swift':<34} {adv:6.2f}x")
        if key.startswith("PUT "):
            adv = min(advantage(ours[key].mb_s, out[r][key].mb_s, True)
                      for r in rivals if key in out[r])
            lines.append(f"  {verdict(adv >= 2)}  {key + ' MB/s >= 2x':<34} {adv:6.2f}x")
        if key.startswith("GET ") and key in out.get("nginx", {}):
            frac = ours[key].mb_s / out["nginx"][key].mb_s
            lines.append(f"  {verdict(frac >= 0.8)}  {key + ' >= 80% of nginx':<34} {frac:6.0%}")
        if key.startswith(("PUT ", "GET ")):
            rss = ours[key].peak_rss / 1e6
            lines.append(f"  {verdict(rss < 200)}  {key + ' peak RSS < 200 MB':<34} "
                         f"{rss:6.0f} MB")
    lines += flatness(out)
    return "\n".join(lines)


def flatness(out: dict[str, dict[str, Result]]) -> list[str]:
    """Listing page time on the largest container over the same page on the 20k one: within
    20% for Strato (Swift's figure shown for comparison)."""
    ours = out["strato"]
    sizes = [k[k.rindex("(") + 1:-1] for k in ours if k.startswith("list first")]
    big = max(sizes, key=lambda tag: int(tag[:-1]), default=FLAT_BASE)
    lines = []
    for kind in ("first 1000", "prefix+delimiter"):
        base, top = f"list {kind} ({FLAT_BASE})", f"list {kind} ({big})"
        if big == FLAT_BASE or base not in ours or top not in ours:
            continue
        ratio = ours[top].pct(50) / ours[base].pct(50)
        theirs = "  ".join(f"{r} {out[r][top].pct(50) / out[r][base].pct(50):.2f}"
                           for r in out if r.startswith("swift") and top in out[r])
        label = f"list {kind} {big} vs {FLAT_BASE} <= 1.2"
        lines.append(f"  {'PASS' if ratio <= 1.2 else 'MISS'}  {label:<34} {ratio:6.2f}"
                     f"   (p50 ratio; {theirs})")
    return lines


def chart(ratios: dict[str, dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(ratios)
    rivals = sorted({r for v in ratios.values() for r in v if r != "nginx"})
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(keys) + 1.6))
    height = 0.8 / max(1, len(rivals))
    for n, rival in enumerate(rivals):
        ys = [i + n * height for i in range(len(keys))]
        ax.barh(ys, [ratios[k].get(rival, 0) for k in keys], height=height,
                label=f"Strato vs {rival}")
    ax.set_yticks([i + height * (len(rivals) - 1) / 2 for i in range(len(keys))], keys)
    ax.invert_yaxis()
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("times better than Swift (throughput, or latency for listings); >1 = Strato")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="headline ratios in < 2 minutes")
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp/strato-compare"))
    parser.add_argument("--venv", type=Path,
                        default=Path.home() / ".cache" / "strato-bench" / "swift-venv")
    parser.add_argument("--part", choices=PARTS, action="append",
                        help="run only this part of the plan (repeatable)")
    parser.add_argument("--chart", type=Path, help="write a PNG of the ratios here")
    parser.add_argument("--json", type=Path, help="write the headline ratios here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    w.steady_malloc()
    plan = only(QUICK if args.quick else FULL, args.part or PARTS)
    image_gib = 6 if args.quick else 16
    print(describe(), flush=True)
    t0 = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        with environment(args.workdir, args.venv, image_gib) as env:
            out = run_all(env, plan, both_workers=not args.quick)
    finally:
        sc.remove_tree(args.workdir)
    text, ratios = report(out)
    print()
    print(text)
    print()
    print(targets(out))
    print(load())
    print(f"\n{'quick ' if args.quick else ''}comparison took {time.monotonic() - t0:.0f} s "
          f"(pid {os.getpid()})")
    if args.chart:
        chart(ratios, args.chart, "Strato vs OpenStack Swift 2.38.3, same machine and client")
        print(f"chart: {args.chart}")
    if args.json:
        args.json.write_text(json.dumps(ratios, indent=1))


if __name__ == "__main__":
    main()
