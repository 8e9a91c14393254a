"""Where a Strato worker spends its time on 4 KiB GET/PUT/HEAD, listings, large PUTs and
image uploads (create + PUT /file of a 256 MiB raw image, `bench.images`).

    python -m bench.profile [--seconds 8] [--only LARGEPUT --only IMAGEPUT]

Starts Strato with one worker, drives one workload at a time while `py-spy record` samples
the worker (raw collapsed stacks, all threads, idle excluded), then prints the functions with
the largest share of samples, inclusive and self. Needs root (ptrace) and py-spy (bench extra).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import uvloop

from bench import images, strato_server
from bench import workloads as w

WORKLOADS = ("GET", "HEAD", "PUT", "LIST", "LARGEPUT", "IMAGEPUT")
LARGE = 256 << 20


async def loop_for(t: w.Target, kind: str, seconds: float, body: bytes,
                   api: images.Images) -> int:
    """Repeat the workload (concurrency 8; listings and 256 MiB PUTs 1) for `seconds`;
    returns ops done."""
    deadline, done = time.monotonic() + seconds, 0
    md5 = w.pattern_sums(LARGE)[0] if kind in ("LARGEPUT", "IMAGEPUT") else ""
    sha512 = images.sha512_of(LARGE) if kind == "IMAGEPUT" else ""
    while time.monotonic() < deadline and done < 1_000_000:
        if kind == "LARGEPUT":
            await w.large_put(t, "prof", "large", LARGE, md5)
            done += 1
        elif kind == "IMAGEPUT":
            _, image_id = await images.upload(api, LARGE, md5, sha512, "prof")
            await images.delete(api.url(image_id), api.headers)
            done += 1
        elif kind == "LIST":
            await w.listing(t, "prof-list", "first", 5, 5000)
            done += 5
        else:
            await w.small_ops(t, kind, "prof", 500, 8, body)
            done += 500
    return done


IDLE = ("_worker (thread.py)", "Runner.run (runners.py)", "Database._run (db.py)",
        "_wait (threading.py)", "wait (threading.py)")


def _frame(raw: str) -> str:
    """'func (path/to/file.py:12)' -> 'func (file.py)'."""
    func, _, where = raw.partition(" (")
    return f"{func} ({where.split(':')[0].rsplit('/', 1)[-1].rstrip(')')})" if where else raw


def summarize(raw: Path, top: int) -> str:
    """Share of busy samples per function: inclusive below the ASGI app, and self."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        frames = [_frame(f) for f in stack.split(";")]
        if frames[-1] in IDLE:
            continue
        count = int(count_s)
        busy += count
        own[frames[-1]] += count
        if "StratoApp.__call__ (app.py)" in frames:
            start = frames.index("StratoApp.__call__ (app.py)")
            for frame in set(frames[start:]):
                inclusive[frame] += count
    if not busy:
        return "  (no busy samples)"
    lines = [f"  {busy} busy samples (all threads). Inclusive, under the ASGI app:"]
    lines += [f"  {100 * n / busy:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines.append("  Self:")
    lines += [f"  {100 * n / busy:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", choices=WORKLOADS, action="append")
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="strato-prof-") as tmp:
        server, url, token = strato_server.start(Path(tmp) / "data", workers=1)
        try:
            target = w.Target("strato", url, token, lambda: strato_server.roots(server))
            api = images.Images(server.url, images.login(server)[0], target.roots)
            body = w.small_body()

            async def setup() -> None:
                await w.make_container(target, "prof")
                await w.make_container(target, "prof-list")
                await w.fill(target, "prof-list", 5000)
                await w.small_ops(target, "PUT", "prof", 500, 8, body)
            uvloop.run(setup())
            root = psutil.Process(server.process.pid)  # type: ignore[union-attr]
            procs = [root, *root.children(recursive=True)]  # one worker may run in the root
            worker = max(procs, key=lambda p: p.memory_info().rss).pid
            for kind in args.only or WORKLOADS:
                raw = Path(tmp) / f"{kind}.txt"
                spy = subprocess.Popen(
                    [pyspy, "record", "--pid", str(worker), "--format", "raw", "--rate", "250",
                     "--duration", str(int(args.seconds)), "--threads", "-o", str(raw)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                ops = uvloop.run(loop_for(target, kind, args.seconds - 1, body, api))
                spy.wait(timeout=60)
                print(f"\n== {kind} ({ops} ops in {args.seconds - 1:.0f} s while sampled)")
                print(summarize(raw, args.top) if raw.exists() else "  (no samples)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
