"""Run the fuzz targets (fuzz/targets.py) with atheris, in one process that instruments strato.

    python -m fuzz.run --seconds 60            # every target, ~a minute each (10 min)
    python -m fuzz.run --seconds 5 tar slo     # some targets
    python -m fuzz.run --list

With several targets, each input's first byte picks its target (libFuzzer learns which
bytes reach new code in each), for N seconds times the number of targets. The run starts from
seeds made by fuzz/seeds.py (in a temporary corpus, so the checkout is never written to) and
prints the executions of each target. A crash (an input for which a target raised) is saved
under fuzz/crashes/ and the run exits 1, printing the command that replays it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRASHES = HERE / "crashes"
NAMES = ("request", "blob_path", "range", "conditional", "acl", "slo", "tar", "formpost",
         "tempurl", "app")
# the strato modules the targets reach, imported under instrumentation for coverage
MODULES = (
    "strato.api.http", "strato.api.swift.ranges", "strato.api.swift.conditional",
    "strato.api.swift.acl", "strato.api.swift.features.slo",
    "strato.api.swift.features.tarstream", "strato.api.swift.features.bulk",
    "strato.api.swift.features.multipart", "strato.api.swift.features.tempurl",
    "strato.stores.blob.local",
)


def child(names: list[str], seconds: int, corpus: Path, stats: Path, seed: int = 0) -> None:
    """In the fuzzing process: instrument strato, then hand over to libFuzzer (which exits
    the process when the time is up). With several targets, the input's first byte picks
    one: a single process pays for instrumenting strato once."""
    import importlib
    import json

    import atheris

    with atheris.instrument_imports(include=["strato"]):
        for module in MODULES + (("strato.server.app",) if "app" in names else ()):
            importlib.import_module(module)
    from fuzz.targets import TARGETS

    targets = [TARGETS[name] for name in names]
    counts = dict.fromkeys(names, 0)
    last = [time.monotonic()]

    def one(data: bytes) -> None:
        if len(targets) > 1:
            if not data:
                return
            index, data = data[0] % len(targets), data[1:]
        else:
            index = 0
        counts[names[index]] += 1
        now = time.monotonic()
        if now - last[0] > 0.5:   # libFuzzer ends with exit(): keep the counts on disk
            last[0] = now
            stats.write_text(json.dumps(counts))
        targets[index](data)

    CRASHES.mkdir(exist_ok=True)
    prefix = names[0] if len(names) == 1 else "multi"
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=60", f"-seed={seed}",
                   "-rss_limit_mb=3072", "-print_final_stats=1",
                   f"-artifact_prefix={CRASHES}/{prefix}-", str(corpus)], one)
    atheris.Fuzz()


def run(names: list[str], seconds: int, random_seed: int = 0
        ) -> tuple[dict[str, int], int, str | None]:
    """({target: executions}, exit status, crash file or None) of one bounded run."""
    import json

    from fuzz.seeds import seeds

    with tempfile.TemporaryDirectory(prefix="strato-fuzz-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        stats = Path(tmp) / "stats.json"
        for index, name in enumerate(names):
            tag = bytes([index]) if len(names) > 1 else b""
            for n, seed in enumerate(seeds(name)):
                (corpus / f"{name}-{n}").write_bytes(tag + seed)
        before = set(CRASHES.glob("*")) if CRASHES.exists() else set()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(HERE.parent), str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run(
            [sys.executable, "-m", "fuzz.run", "--child", ",".join(names),
             "--seconds", str(seconds), "--corpus", str(corpus), "--stats", str(stats),
             "--seed", str(random_seed)],
            capture_output=True, text=True, env=env, cwd=HERE.parent,
            timeout=seconds + 600, check=False)
        counts: dict[str, int] = json.loads(stats.read_text()) if stats.exists() else {}
    found = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    if found and len(names) == 1:
        counts = {names[0]: int(found.group(1))}
    after = set(CRASHES.glob("*")) if CRASHES.exists() else set()
    crash = sorted(after - before)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-40:])
        print(f"--- exit {proc.returncode}\n{tail}", file=sys.stderr)
    return counts, proc.returncode, str(crash[0]) if crash else None


def replay(name: str, path: Path) -> None:
    """Run one saved input through its target, outside libFuzzer (the traceback shows).
    A crash saved by a run of several targets starts with the byte that chose one: pass
    `multi:a,b,c` as the name to have it chosen the same way."""
    from fuzz.targets import TARGETS

    data = path.read_bytes()
    if name.startswith("multi:"):
        names = name[len("multi:"):].split(",")
        name, data = names[data[0] % len(names)], data[1:]
    TARGETS[name](data)
    print(f"{name}: {path} passes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(NAMES)}")
    parser.add_argument("--seconds", type=int, default=10, help="per target (default 10)")
    parser.add_argument("--seed", type=int, default=0,
                        help="libFuzzer's random seed (default 0: a new one each run); CI "
                             "fixes one, so its bounded run explores the same inputs")
    parser.add_argument("--list", action="store_true", help="name the targets and stop")
    parser.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child.split(","), args.seconds, args.corpus, args.stats, args.seed)
        return 0
    if args.list:
        print("\n".join(NAMES))
        return 0
    if args.replay:
        replay(args.replay[0], Path(args.replay[1]))
        return 0
    unknown = [t for t in args.targets if t not in NAMES]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    names = args.targets or list(NAMES)
    started = time.monotonic()
    counts, code, crash = run(names, args.seconds * len(names), args.seed)
    for name in names:
        print(f"{name:12} {counts.get(name, 0):>10,} executions", flush=True)
    print(f"{'total':12} {sum(counts.values()):>10,} executions in "
          f"{time.monotonic() - started:.0f} s ({args.seconds * len(names)} s fuzzing)")
    if code != 0:
        print(f"CRASH: {crash or f'exit {code}'}; replay: python -m fuzz.run --replay "
              f"{names[0] if len(names) == 1 else 'multi:' + ','.join(names)} {crash}")
        return 1
    if not sum(counts.values()):
        print("no input was run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
