"""The client side: one asyncio process (aiohttp on uvloop) driving a Swift-API server.

Every request's status code is checked and every body's MD5 verified, so a server cannot look
fast by failing. Loops are bounded by count (and the mixed run by time).
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp
import orjson

from bench.measure import Measure, Result

SMALL = 4096
CHUNK = 1 << 20
TIMEOUT = aiohttp.ClientTimeout(total=900, sock_read=120)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def steady_malloc() -> None:
    """Fix glibc's thresholds for large allocations in the client's process.

    By default glibc serves a block of 128 KiB or more with mmap, raises that threshold when
    such a block is freed, and returns free heap to the kernel past twice it: whether the
    client's 1 MiB reads cost fresh, zeroed pages then depends on what the process happened
    to do before. Measured: the same 256 MiB GETs from Strato at 270-370 MB/s, then at
    700-1,200 MB/s once the process had written one file in 1 MiB slices (as the nginx step
    does), with the server unchanged. Fixed once at the start, every server meets the same
    client. Servers are separate processes and keep their defaults."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to fix
    libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)


class BenchError(RuntimeError):
    """A server answered wrongly: the run stops rather than report a bogus figure."""


class Unavailable(BenchError):
    """503: the server refused the request for now."""


@dataclass
class Target:
    """A server under test: where to send requests and which processes are its server."""

    name: str
    storage_url: str
    token: str
    roots: Callable[[], list[int]]
    extra: dict[str, str] = field(default_factory=dict)
    # fill_direct(container, count): listing_name(0..count-1) written straight into the
    # server's database (bench/fill.py); returns objects/s
    fill_direct: Callable[[str, int], float] | None = None
    # evict(): every server's files out of the page cache, so that the next read of a large
    # object comes from the disk for every server alike (sc.drop_page_cache)
    evict: Callable[[], None] | None = None

    def url(self, container: str, obj: str | None = None) -> str:
        path = f"{self.storage_url}/{quote(container)}"
        return path if obj is None else f"{path}/{quote(obj)}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


def session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        timeout=TIMEOUT, auto_decompress=False)


def check(status: int, want: tuple[int, ...], what: str) -> None:
    if status not in want:
        kind = Unavailable if status == 503 else BenchError
        raise kind(f"{what}: HTTP {status}, wanted {want}")


def etag_of(headers: aiohttp.typedefs.LooseHeaders) -> str:
    return str(headers.get("ETag", "")).strip('"')  # type: ignore[union-attr]


async def drive(count: int, concurrency: int, one: Callable[[int], Awaitable[int]],
                result: Result, deadline: float | None = None) -> None:
    """Run one(i) for i in range(count) on `concurrency` workers (until `deadline`, a
    time.monotonic() value, if given); one() returns the bytes it moved."""
    next_i = iter(range(count))

    async def worker() -> None:
        # the deadline is checked before taking an index: the indices done are 0..ops-1
        while deadline is None or time.monotonic() <= deadline:
            i = next(next_i, None)
            if i is None:
                return
            t0 = time.perf_counter()
            try:
                moved = await one(i)
            except Unavailable:
                # a server shedding load (Swift's proxy answers 503 when a backend times
                # out): not an operation done, counted and shown; many of them end the run
                result.errors += 1
                if result.errors > max(3, count // 100):
                    raise
                continue
            result.nbytes += moved
            result.latencies.append(time.perf_counter() - t0)
            result.ops += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def make_container(t: Target, container: str) -> None:
    async with session(1) as s, s.put(t.url(container), headers=t.headers) as r:
        check(r.status, (201, 202), f"PUT container {container}")


def small_name(i: int) -> str:
    return f"small-{i:07d}"


async def small_ops(t: Target, op: str, container: str, count: int, concurrency: int,
                    body: bytes, seconds: float | None = None) -> Result:
    """4 KiB PUT/GET/HEAD/DELETE of objects small-0000000..; GET and PUT verify the MD5.
    With `seconds`, stops early after that long (objects 0..ops-1 are the ones done)."""
    etag = hashlib.md5(body).hexdigest()
    result = Result(f"4k {op} c={concurrency}")
    async with session(concurrency) as s:
        async def one(i: int) -> int:
            url = t.url(container, small_name(i))
            if op == "PUT":
                async with s.put(url, data=body, headers=t.headers) as r:
                    check(r.status, (201,), "PUT")
                    if etag_of(r.headers) != etag:
                        raise BenchError("PUT ETag mismatch")
                    return len(body)
            if op == "GET":
                async with s.get(url, headers=t.headers) as r:
                    check(r.status, (200,), "GET")
                    data = await r.read()
                    if hashlib.md5(data).hexdigest() != etag:
                        raise BenchError("GET body MD5 mismatch")
                    return len(data)
            if op == "HEAD":
                async with s.head(url, headers=t.headers) as r:
                    check(r.status, (200,), "HEAD")
                    if etag_of(r.headers) != etag:
                        raise BenchError("HEAD ETag mismatch")
                    return 0
            async with s.delete(url, headers=t.headers) as r:
                check(r.status, (204,), "DELETE")
                return 0

        deadline = None if seconds is None else time.monotonic() + seconds
        with Measure(result, t.roots):
            await drive(count, concurrency, one, result, deadline)
    return result


def listing_name(i: int) -> str:
    """Names shaped for delimiter roll-up: p<50 groups>/s<20 groups>/o<i>."""
    return f"p{i % 50:02d}/s{(i // 50) % 20:02d}/o{i:08d}"


async def fill(t: Target, container: str, count: int, concurrency: int = 64,
               start: int = 0) -> float:
    """PUT `count` empty objects through the API; returns objects/s."""
    result = Result("fill")
    async with session(concurrency) as s:
        async def one(i: int) -> int:
            async with s.put(t.url(container, listing_name(start + i)), data=b"",
                             headers=t.headers) as r:
                check(r.status, (201,), "fill PUT")
            return 0

        t0 = time.perf_counter()
        await drive(count, concurrency, one, result)
    return count / (time.perf_counter() - t0)


async def listing(t: Target, container: str, kind: str, repeats: int, total: int) -> Result:
    """Latency of a first 1,000-entry JSON page ("first"), of a prefix+delimiter page
    ("delimiter"), or of walking the whole container in 10,000-entry pages ("walk")."""
    result = Result(f"list {kind}")
    async with session(1) as s:
        async def page(params: dict[str, str]) -> list[dict[str, object]]:
            async with s.get(t.url(container), params={"format": "json", **params},
                             headers=t.headers) as r:
                check(r.status, (200,), "listing")
                return orjson.loads(await r.read())  # type: ignore[no-any-return]

        async def one(_: int) -> int:
            if kind == "first":
                entries = await page({"limit": "1000"})
                if len(entries) != min(1000, total):
                    raise BenchError(f"first page has {len(entries)} entries")
            elif kind == "delimiter":
                entries = await page({"limit": "1000", "prefix": "p07/", "delimiter": "/"})
                if len(entries) != min(20, total // 50):
                    raise BenchError(f"delimiter page has {len(entries)} entries")
            else:
                seen, marker = 0, ""
                while True:
                    entries = await page({"limit": "10000", "marker": marker})
                    if not entries:
                        break
                    seen += len(entries)
                    marker = str(entries[-1]["name"])
                if seen != total:
                    raise BenchError(f"walk saw {seen} of {total}")
            return 0

        with Measure(result, t.roots):
            await drive(repeats, 1, one, result)
    return result


def pattern() -> bytes:
    return random.Random(7).randbytes(CHUNK)


def pieces(size: int) -> Iterator[bytes]:
    """`size` bytes of the repeated pattern, 1 MiB a piece."""
    block = pattern()
    for off in range(0, size, CHUNK):
        yield block[: min(CHUNK, size - off)]


def pattern_sums(size: int) -> tuple[str, int]:
    """(MD5, CRC-32) of the repeated pattern, computed once outside the timed part."""
    digest, crc = hashlib.md5(), 0
    for piece in pieces(size):
        digest.update(piece)
        crc = zlib.crc32(piece, crc)
    return digest.hexdigest(), crc


async def stream(size: int) -> AsyncIterator[bytes]:
    """A request body of `size` bytes: the pattern, 1 MiB a chunk (memory bounded)."""
    for piece in pieces(size):
        yield piece


async def large_put(t: Target, container: str, name: str, size: int, md5: str) -> Result:
    result = Result(f"PUT {size >> 20} MiB")
    async with session(1) as s:
        with Measure(result, t.roots):
            t0 = time.perf_counter()
            async with s.put(t.url(container, name), data=stream(size),
                             headers={**t.headers, "Content-Length": str(size)}) as r:
                check(r.status, (201,), "large PUT")
                if etag_of(r.headers) != md5:
                    raise BenchError("large PUT ETag mismatch")
            result.latencies.append(time.perf_counter() - t0)
            result.ops, result.nbytes = 1, size
    return result


async def large_get(url: str, headers: dict[str, str], size: int, crc: int,
                    roots: Callable[[], list[int]], label: str) -> Result:
    """Stream a large body, checksumming it as it arrives (the same work for every server;
    CRC-32 rather than MD5 so that the client's hashing does not cap the figure — the server's
    MD5 was already checked by the PUT's ETag)."""
    result = Result(label)
    async with session(1) as s:
        with Measure(result, roots):
            t0 = time.perf_counter()
            running, got = 0, 0
            async with s.get(url, headers=headers) as r:
                check(r.status, (200,), "large GET")
                async for chunk in r.content.iter_chunked(CHUNK):
                    running = zlib.crc32(chunk, running)
                    got += len(chunk)
            if got != size or running != crc:
                raise BenchError("large GET body mismatch")
            result.latencies.append(time.perf_counter() - t0)
            result.ops, result.nbytes = 1, size
    return result


async def mixed(t: Target, container: str, objects: int, seconds: float, concurrency: int,
                body: bytes, max_ops: int = 1_000_000) -> Result:
    """80% GET / 20% PUT over `objects` existing 4 KiB objects for `seconds` (bounded)."""
    etag = hashlib.md5(body).hexdigest()
    result = Result(f"mixed 80/20 c={concurrency}")
    deadline = time.monotonic() + seconds
    rng = random.Random(11)
    async with session(concurrency) as s:
        async def one(_: int) -> int:
            url = t.url(container, small_name(rng.randrange(objects)))
            if rng.random() < 0.8:
                async with s.get(url, headers=t.headers) as r:
                    check(r.status, (200,), "mixed GET")
                    if hashlib.md5(await r.read()).hexdigest() != etag:
                        raise BenchError("mixed GET MD5 mismatch")
            else:
                async with s.put(url, data=body, headers=t.headers) as r:
                    # Swift answers 202 to a PUT that lost to a concurrent one of the same
                    # name (same timestamp, two proxy workers): accepted, and superseded
                    check(r.status, (201, 202), "mixed PUT")
            return len(body)

        with Measure(result, t.roots):
            await drive(max_ops, concurrency, one, result, deadline)
    return result


def small_body() -> bytes:
    return os.urandom(SMALL)
