"""Strato alone: 4 KiB ops/s at concurrency 1 and 32, listing latency on a 100,000-object
container, 1 GiB PUT/GET MB/s with peak server RSS.

    python -m bench.core [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import uvloop

from bench import strato_server, suite
from bench.machine import describe, load
from bench.workloads import Target, steady_malloc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller plan, under 2 minutes")
    parser.add_argument("--objects", type=int, help="listing container size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="where the data directory goes")
    args = parser.parse_args()
    steady_malloc()
    plan = suite.QUICK if args.quick else suite.Plan()
    if args.objects:
        plan.list_sizes = [args.objects]
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="strato-bench-", dir=args.workdir) as tmp:
        server, url, token = strato_server.start(Path(tmp) / "data")
        try:
            target = Target("strato", url, token, lambda: strato_server.roots(server))
            results = uvloop.run(suite.run(target, plan))
        finally:
            server.stop()
    print()
    print(suite.table(results))
    print(load())
    if args.json:
        args.json.write_text(json.dumps({k: vars(r) | {"latencies": None}
                                         for k, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
