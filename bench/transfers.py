"""Client transfers against one Strato server: the `strato` CLI beside python-swiftclient's
`swift` and rclone, each with its best flags, moving (a) one large file and (b) a tree of
many small files, up and down, in one invocation.

    python -m bench.transfers [--quick] [--large-gib 2] [--files 5000] [--rounds 1]
                              [--tools strato,swift,rclone] [--json out.json]

Every tool logs in with the same token and storage URL (no auth round trip is timed) and
gets a fresh container per run. A run is the wall time of the whole command; the client's
peak RSS is its process tree's, sampled every 50 ms. Every download is checked byte for byte
against the source (MD5 per file). Tools take turns in a rotated order each round, so they
share the machine's noise. Targets (issue 12): on the small-file tree, `strato` at least 2x
the fastest of the others; on the large file no slower than the fastest; client peak RSS
under 150 MB. Bounded: sizes and rounds are capped; loopback only.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import strato
from bench import strato_server
from bench.machine import describe, load
from bench.measure import RssSampler, cpu_seconds
from tests.harness import Server

MiB = 1 << 20
TOOLS = ("strato", "swift", "rclone")
#: `strato-bulk` is `strato upload --bulk` (extract-archive); ask for it with --tools.
#: `strato-base` is the `strato` CLI of another source tree (--baseline SRC): a client
#: change measured against the code before it, in the same invocation.
EXTRA_TOOLS = ("strato-bulk", "strato-base")
BASELINE: Path | None = None
SEGMENT = "64M"
THREADS = 32


@dataclass
class Plan:
    large: int = 2 << 30
    files: int = 5000
    rounds: int = 1


QUICK = Plan(large=256 * MiB, files=1000, rounds=1)


@dataclass
class Run:
    tool: str
    workload: str
    direction: str
    seconds: float
    peak_rss: int
    bytes: int
    files: int
    client_cpu: float = 0.0
    server_cpu: float = 0.0


@dataclass
class Dataset:
    name: str
    root: Path
    files: dict[str, str] = field(default_factory=dict)   # relative path -> md5

    @property
    def size(self) -> int:
        return sum((self.root / rel).stat().st_size for rel in self.files)


def make_large(where: Path, size: int) -> Dataset:
    root = where / "large"
    root.mkdir()
    digest = hashlib.md5()
    block = os.urandom(MiB)
    with open(root / "disk.img", "wb") as f:
        for i in range(size // MiB):
            chunk = block[i % 251:] + block[:i % 251]   # varied, cheap to make
            f.write(chunk)
            digest.update(chunk)
    return Dataset("large", root, {"disk.img": digest.hexdigest()})


def make_tree(where: Path, count: int) -> Dataset:
    root = where / "tree"
    rng = random.Random(12)
    files = {}
    for i in range(count):
        rel = f"d{i % 50:02d}/f{i:05d}.bin"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1024, 64 * 1024))
        (root / rel).write_bytes(data)
        files[rel] = hashlib.md5(data).hexdigest()
    return Dataset("tree", root, files)


@dataclass
class Login:
    storage_url: str
    token: str


def command(tool: str, direction: str, data: Dataset, container: str, into: Path,
            login: Login) -> tuple[list[str], dict[str, str], Path]:
    """(argv, extra env, cwd) of one tool's best invocation."""
    env: dict[str, str] = {}
    if tool.startswith("strato"):
        strato = [sys.executable, "-m", "strato"]
        auth = ["--os-storage-url", login.storage_url, "--os-auth-token", login.token]
        if tool == "strato-base":
            assert BASELINE is not None, "strato-base needs --baseline SRC"
            env["PYTHONPATH"] = str(BASELINE / "src")
        if tool == "strato-bulk" and direction == "upload":
            auth.append("--bulk")
        if direction == "upload":
            return ([*strato, "upload", *auth, "--quiet", "--object-threads", str(THREADS),
                     "--segment-threads", "8", "--segment-size", SEGMENT, container, "."],
                    env, data.root)
        return ([*strato, "download", *auth, "--quiet", "--object-threads", str(THREADS),
                 container, "-D", str(into)], env, into)
    if tool == "swift":
        swift = [str(Path(sys.executable).with_name("swift")), "--os-storage-url",
                 login.storage_url, "--os-auth-token", login.token]
        if direction == "upload":
            return ([*swift, "upload", "-q", "--object-threads", str(THREADS),
                     "--segment-threads", "8", "--segment-size", SEGMENT, container, "."],
                    env, data.root)
        return ([*swift, "download", "-q", "--object-threads", str(THREADS), container, "-D",
                 str(into)], env, into)
    env = {"RCLONE_CONFIG_BENCH_TYPE": "swift", "RCLONE_CONFIG_BENCH_STORAGE_URL":
           login.storage_url, "RCLONE_CONFIG_BENCH_AUTH_TOKEN": login.token}
    flags = ["--transfers", str(THREADS), "--checkers", str(THREADS), "-q"]
    if direction == "upload":
        return (["rclone", "copy", *flags, ".", f"bench:{container}"], env, data.root)
    return (["rclone", "copy", *flags, f"bench:{container}", str(into)], env, into)


@dataclass
class Timing:
    seconds: float
    peak_rss: int
    client_cpu: float
    server_cpu: float


def timed(argv: list[str], env: dict[str, str], cwd: Path, server: list[int]) -> Timing:
    """Wall time, the client's peak RSS and CPU (user + system of the waited child tree),
    and the server's CPU over the run."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(server)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with RssSampler(lambda: [proc.pid]) as rss:
        _, err = proc.communicate(timeout=1800)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {err.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    return Timing(elapsed, rss.peak, client, cpu_seconds(server) - server_before)


def verify(data: Dataset, into: Path) -> None:
    for rel, md5 in data.files.items():
        got = hashlib.md5((into / rel).read_bytes()).hexdigest() if data.name == "tree" \
            else _md5_file(into / rel)
        if got != md5:
            raise RuntimeError(f"{into / rel}: MD5 {got}, expected {md5}")


def _md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def one(tool: str, data: Dataset, login: Login, work: Path, round_no: int,
        server: list[int]) -> list[Run]:
    container = f"bench-{tool}-{data.name}-{round_no}"
    into = work / f"down-{tool}-{data.name}-{round_no}"
    into.mkdir()
    runs = []
    for direction in ("upload", "download"):
        argv, env, cwd = command(tool, direction, data, container, into, login)
        t = timed(argv, env, cwd, server)
        runs.append(Run(tool, data.name, direction, t.seconds, t.peak_rss, data.size,
                        len(data.files), t.client_cpu, t.server_cpu))
    verify(data, into)
    if data.name != "tree":
        shutil.rmtree(into)
    # A tree's download stays until the end of the invocation: on ext4 (without a journal,
    # as here) a new inode is not taken from those freed in the last ~30 s, and creating
    # files right after 5,000 deletions spent most of the next tool's time in the kernel
    # skipping them (`recently_deleted` in a profile), whoever that tool was.
    return runs


def table(runs: list[Run], tools: list[str]) -> tuple[str, dict[str, object]]:
    width = 46
    lines = [f"{'workload':<10}{'direction':<10}" + "".join(f"{t:>{width}}" for t in tools)
             + f"{'strato/best other':>20}"]
    verdicts: dict[str, object] = {}
    for workload in ("tree", "large"):
        for direction in ("upload", "download"):
            cell, best = {}, {}
            for tool in tools:
                mine = [r for r in runs if (r.tool, r.workload, r.direction) ==
                        (tool, workload, direction)]
                if not mine:
                    continue
                seconds = statistics.median(r.seconds for r in mine)
                rate = (f"{mine[0].files / seconds:,.0f} files/s" if workload == "tree"
                        else f"{mine[0].bytes / MiB / seconds:,.0f} MiB/s")
                peak = max(r.peak_rss for r in mine) / MiB
                cpu = statistics.median(r.client_cpu for r in mine)
                server_cpu = statistics.median(r.server_cpu for r in mine)
                cell[tool] = (f"{seconds:5.1f}s {rate} {peak:3.0f}MB "
                              f"cpu {cpu:.1f}+{server_cpu:.1f}s")
                best[tool] = seconds
            others = [s for t, s in best.items() if not t.startswith("strato")]
            ratio = min(others) / best["strato"] if others and "strato" in best else None
            target = 2.0 if workload == "tree" else 1.0
            verdicts[f"{workload}/{direction}"] = {"ratio": ratio, "target": target,
                                                   "pass": ratio is not None and ratio >= target,
                                                   "seconds": best}
            lines.append(f"{workload:<10}{direction:<10}"
                         + "".join(f"{cell.get(t, '-'):>{width}}" for t in tools)
                         + (f"{ratio:>14.2f}x (>= {target:.0f}x)" if ratio else ""))
    strato_peak = max((r.peak_rss for r in runs if r.tool == "strato"), default=0) / MiB
    verdicts["strato_peak_rss_mb"] = strato_peak
    lines.append(f"strato client peak RSS {strato_peak:.0f} MB (target < 150 MB); cells: wall "
                 "time, rate, client peak RSS, CPU seconds client+server")
    return "\n".join(lines), verdicts


def compiled(*packages: Path) -> None:
    """Give the Strato sources the CLI runs their bytecode, as `pip install` does: with
    PYTHONDONTWRITEBYTECODE set (this machine sets it) or an unwritable tree, every
    command compiled the client's modules afresh, ~70 ms of each run that an installed
    `strato` never spends (the other tools are compiled programs or pip-installed)."""
    for package in packages:
        if not compileall.compile_dir(package, quiet=1):
            raise RuntimeError(f"{package}: could not compile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB and 1,000 files")
    parser.add_argument("--large-gib", type=float, help="size of the large file (GiB, <= 8)")
    parser.add_argument("--files", type=int, help="files in the tree (<= 50,000)")
    parser.add_argument("--rounds", type=int, help="rounds (<= 5)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument("--only", choices=("tree", "large"), help="one workload")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="where data and downloads go")
    parser.add_argument("--baseline", type=Path, help="also run the `strato` CLI of this "
                        "source tree (as the tool strato-base)")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    if args.large_gib:
        plan.large = int(min(max(args.large_gib, 1 / 64), 8) * (1 << 30)) // MiB * MiB
    if args.files:
        plan.files = min(max(args.files, 10), 50_000)
    if args.rounds:
        plan.rounds = min(max(args.rounds, 1), 5)
    tools = [t for t in args.tools.split(",") if t]
    if args.baseline:
        global BASELINE
        BASELINE = args.baseline.resolve()
        tools += [] if "strato-base" in tools else ["strato-base"]
    unknown = set(tools) - set(TOOLS) - set(EXTRA_TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}: {', '.join(TOOLS + EXTRA_TOOLS)}")
    if "rclone" in tools and not shutil.which("rclone"):
        print("rclone not installed (apt-get install rclone): left out", file=sys.stderr)
        tools.remove("rclone")
    compiled(Path(strato.__file__).parent, *([BASELINE / "src" / "strato"] if BASELINE else []))
    print(describe(), flush=True)
    started = time.monotonic()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="strato-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        datasets = []
        if args.only != "large":
            datasets.append(make_tree(work, plan.files))
        if args.only != "tree":
            datasets.append(make_large(work, plan.large))
        server = Server(data_dir=work / "data", workers=os.cpu_count() or 1)
        try:
            storage_url, token = strato_server.ready(server)
            login = Login(storage_url, token)
            for round_no in range(plan.rounds):
                order = tools[round_no % len(tools):] + tools[:round_no % len(tools)]
                for data in datasets:
                    for tool in order:
                        print(f"round {round_no + 1}: {tool} {data.name}", flush=True)
                        runs += one(tool, data, login, work, round_no,
                                    strato_server.roots(server))
        finally:
            server.stop()
    text, verdicts = table(runs, tools)
    print()
    print(text)
    print(f"{time.monotonic() - started:.0f} s; {load()}")
    if args.json:
        args.json.write_text(json.dumps({"runs": [r.__dict__ for r in runs],
                                         "verdicts": verdicts}, indent=1))


if __name__ == "__main__":
    main()
