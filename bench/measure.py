"""What a benchmark run records: latencies, throughput, and the server's CPU and memory.

Server CPU comes from /proc via psutil (user + system time of every process in the server's
tree, before and after a workload): on a 2-core machine where client and server share the
cores, CPU per operation is the fairest figure. Peak RSS is sampled by a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


def tree(roots: list[int]) -> list[psutil.Process]:
    """Every live process under (and including) the given roots."""
    procs: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                procs[proc.pid] = proc
        except psutil.NoSuchProcess:
            continue
    return list(procs.values())


def cpu_seconds(roots: list[int]) -> float:
    total = 0.0
    for proc in tree(roots):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def rss_bytes(roots: list[int]) -> int:
    total = 0
    for proc in tree(roots):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class RssSampler:
    """Samples the summed RSS of a process tree every `interval` seconds; keeps the peak."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 0.05) -> None:
        self.roots = roots
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.roots()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes(self.roots())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Result:
    """One workload against one server."""

    name: str
    ops: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0
    peak_rss: int = 0
    errors: int = 0
    """Requests refused with 503 (not counted as operations)."""

    @property
    def ops_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.nbytes / self.seconds / 1e6 if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000

    @property
    def cpu_ms_per_op(self) -> float:
        return self.cpu / self.ops * 1000 if self.ops else 0.0

    @classmethod
    def merge(cls, name: str, parts: list[Result]) -> Result:
        """One workload measured in several rounds, as one result."""
        return cls(name, sum(r.ops for r in parts), sum(r.nbytes for r in parts),
                   sum(r.seconds for r in parts), [x for r in parts for x in r.latencies],
                   sum(r.cpu for r in parts), max(r.peak_rss for r in parts),
                   sum(r.errors for r in parts))


class Measure:
    """Context manager filling a Result with wall time, server CPU and peak RSS."""

    def __init__(self, result: Result, roots: Callable[[], list[int]]) -> None:
        self.result = result
        self.roots = roots
        self.sampler = RssSampler(roots)

    def __enter__(self) -> Result:
        self.cpu0 = cpu_seconds(self.roots())
        self.sampler.__enter__()
        self.t0 = time.perf_counter()
        return self.result

    def __exit__(self, *exc: object) -> None:
        self.result.seconds = time.perf_counter() - self.t0
        self.sampler.__exit__()
        self.result.cpu = cpu_seconds(self.roots()) - self.cpu0
        self.result.peak_rss = self.sampler.peak
