"""Many small files through command-line clients: `strato upload`/`download` (per-file PUTs,
and `--bulk` archives) against python-swiftclient's `swift` and rclone, on one private
Strato server. For each run: wall time, the client's CPU seconds and the server's (all its
processes), because on a shared machine wall time wanders and CPU does not.

    python -m bench.cli_small [--files 5000] [--threads 32] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench import strato_server


def server_cpu(pid: int) -> float:
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def measure(cmd: list[str], pid: int, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) of one command."""
    before, start = server_cpu(pid), time.monotonic()
    child = psutil.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, err = child.communicate()
    wall = time.monotonic() - start
    if child.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()}")
    return wall, server_cpu(pid) - before


def make_tree(root: Path, count: int) -> int:
    rng = random.Random(5)
    total = 0
    for i in range(count):
        path = root / f"d{i % 50:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 65536)
        path.write_bytes(os.urandom(size))
        total += size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    swift = shutil.which("swift") or str(Path(sys.executable).with_name("swift"))
    with tempfile.TemporaryDirectory(prefix="strato-cli-", dir=args.workdir) as tmp:
        work = Path(tmp)
        size = make_tree(work / "tree", args.files)
        server, url, token = strato_server.start(work / "data", workers=2)
        try:
            assert server.process is not None
            pid = server.process.pid
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
            env.update({"OS_STORAGE_URL": url, "OS_AUTH_TOKEN": token,
                        "RCLONE_CONFIG_S_TYPE": "swift", "RCLONE_CONFIG_S_STORAGE_URL": url,
                        "RCLONE_CONFIG_S_AUTH_TOKEN": token})
            t = str(args.threads)
            strato = [sys.executable, "-m", "strato"]
            auth = ["--os-storage-url", url, "--os-auth-token", token]
            runs = {
                "strato upload": lambda n: [*strato, "upload", f"s{n}", "tree", "-q",
                                            "--object-threads", t],
                "strato upload --bulk": lambda n: [*strato, "upload", f"b{n}", "tree", "-q",
                                                   "--bulk", "--object-threads", t],
                "swift upload": lambda n: [swift, *auth, "upload", "--object-threads", t,
                                           f"w{n}", "tree"],
                "rclone copy (up)": lambda n: ["rclone", "copy", "tree", f"s:r{n}/tree",
                                               "--transfers", t, "--checkers", t],
                "strato download": lambda n: [*strato, "download", f"s{n}", "-q", "-D",
                                              f"out-s{n}", "--object-threads", t],
                "swift download": lambda n: [swift, *auth, "download", f"w{n}",
                                             "--object-threads", t, "-D", f"out-w{n}"],
                "rclone copy (down)": lambda n: ["rclone", "copy", f"s:r{n}", f"out-r{n}",
                                                 "--transfers", t, "--checkers", t],
            }
            print(f"{args.files} files, {size / 1e6:.0f} MB, {args.threads} at once")
            print(f"{'run':24} {'wall s':>7} {'client CPU s':>13} {'server CPU s':>13}")
            for n in range(args.rounds):
                for label, make in runs.items():
                    if "rclone" in label and not shutil.which("rclone"):
                        continue
                    cpu0 = os.times()
                    wall, server_s = measure(make(n), pid, env, work)
                    cpu1 = os.times()
                    client = (cpu1.children_user - cpu0.children_user
                              + cpu1.children_system - cpu0.children_system)
                    print(f"{label:24} {wall:7.1f} {client:13.1f} {server_s:13.1f}",
                          flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
