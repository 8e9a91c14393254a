"""The image service against Strato's own object path: 1 GiB upload and download, and the
create-to-active latency of a 64 MiB image, each beside the object PUT/GET of the same size
on the same server in the same run (target: the image path within 10% of the object path).

    python -m bench.images [--quick] [--size-gib 1] [--rounds N] [--json out.json]

One Strato server (one worker per core), the admin user's Keystone token for both paths, the
same client (aiohttp, one connection, 1 MiB chunks of one random pattern, streamed with a
Content-Length) for both: only the server's path differs. Each round runs the object and the
image side of every figure back to back, the order swapped every round so both share the
machine's noise:

- upload: object PUT vs image create (`POST /v2/images`) + `PUT /file` until its 204 (the
  image is active then; its size, MD5 checksum and sha512 are checked afterwards);
- download: object GET vs `GET /file`, cold (after the data directory is dropped from the
  page cache), then warm (three reads of each, taking turns, as one figure per side); the
  CRC-32 and size of every read checked;
- create-to-active: a 64 MiB object PUT vs a 64 MiB image's POST + PUT /file, p50 over N.

MB/s are medians of the rounds; the ratio is image/object (throughput: >= 0.90 passes;
latency: <= 1.10 passes). Not a test: bounded in rounds and size, loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import uvloop

from bench import strato_server, suite
from bench import workloads as w
from bench.machine import describe, load
from bench.measure import Measure, Result
from bench.swift_cluster import drop_page_cache
from tests.harness import Server

MiB = 1 << 20
LATENCY_SIZE = 64 * MiB
TARGET = 0.10
CONTAINER = "bench-images"
OCTET_STREAM = "application/octet-stream"
PATHS = ("object", "image")


@dataclass
class Plan:
    size: int = 1 << 30
    rounds: int = 8
    latency_rounds: int = 20
    warm_reads: int = 3  # warm GETs of each side per round, reported as one (bytes / time)


QUICK = Plan(size=256 * MiB, rounds=6, latency_rounds=10)


@dataclass
class Images:
    """The image API of the server under test, for the same project as `target`."""

    origin: str
    token: str
    roots: Callable[[], list[int]]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def url(self, image_id: str = "", file: bool = False) -> str:
        url = f"{self.origin}/image/v2/images"
        return url + (f"/{image_id}" if image_id else "") + ("/file" if file else "")


def login(server: Server) -> tuple[str, str]:
    """(token, project id) of the admin user, scoped to the admin project (Keystone v3)."""
    user = {"name": "admin", "domain": {"id": "default"}, "password": server.passwords["admin"]}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", json=body, timeout=30)
    resp.raise_for_status()
    return resp.headers["X-Subject-Token"], resp.json()["token"]["project"]["id"]


def sha512_of(size: int) -> str:
    """sha512 of the body `workloads.stream(size)` sends, computed outside the timed part."""
    digest = hashlib.sha512()
    for piece in w.pieces(size):
        digest.update(piece)
    return digest.hexdigest()


async def upload(api: Images, size: int, md5: str, sha512: str, label: str
                 ) -> tuple[Result, str]:
    """Create an image and upload its data: timed from the POST to the PUT's 204, then the
    record is checked (active, size, checksum, os_hash_value). Returns (result, image id)."""
    result = Result(label)
    async with w.session(1) as s:
        with Measure(result, api.roots):
            t0 = time.perf_counter()
            async with s.post(api.url(), headers=api.headers,
                              json={"name": label, "disk_format": "raw",
                                    "container_format": "bare"}) as r:
                w.check(r.status, (201,), "image create")
                image_id = str(orjson.loads(await r.read())["id"])
            async with s.put(api.url(image_id, file=True), data=w.stream(size),
                             headers={**api.headers, "Content-Type": OCTET_STREAM,
                                      "Content-Length": str(size)}) as r:
                w.check(r.status, (204,), "image upload")
            result.latencies.append(time.perf_counter() - t0)
            result.ops, result.nbytes = 1, size
        async with s.get(api.url(image_id), headers=api.headers) as r:
            w.check(r.status, (200,), "image show")
            doc = orjson.loads(await r.read())
    got = (doc["status"], doc["size"], doc["checksum"], doc["os_hash_value"])
    if got != ("active", size, md5, sha512):
        raise w.BenchError(f"image {image_id} after upload: {got[:2]}, checksums "
                           f"{'match' if got[2:] == (md5, sha512) else 'differ'}")
    return result, image_id


async def delete(url: str, headers: dict[str, str]) -> None:
    """DELETE an object, or an image given the URL of the image or of its data."""
    async with w.session(1) as s, s.delete(url.removesuffix("/file"), headers=headers) as r:
        w.check(r.status, (204,), "DELETE")


Figures = dict[str, dict[str, list[Result]]]


@dataclass
class Body:
    """A request body `workloads.stream(size)` sends, and its sums (computed before timing)."""

    size: int
    md5: str
    crc: int
    sha512: str

    @classmethod
    def of(cls, size: int) -> Body:
        return cls(size, *w.pattern_sums(size), sha512_of(size))


@dataclass
class Bench:
    t: w.Target
    api: Images
    plan: Plan
    evict: Callable[[], None]
    figures: Figures = field(default_factory=dict)

    def keep(self, figure: str, path: str, r: Result) -> None:
        self.figures.setdefault(figure, {p: [] for p in PATHS})[path].append(r)
        suite.log(f"{path:>7} {suite.row(r)}")

    async def put(self, path: str, body: Body, name: str) -> tuple[Result, str]:
        """The object `name`, or a new image: (result, URL of its data)."""
        if path == "object":
            r = await w.large_put(self.t, CONTAINER, name, body.size, body.md5)
            return r, self.t.url(CONTAINER, name)
        r, image_id = await upload(self.api, body.size, body.md5, body.sha512,
                                   f"upload {body.size // MiB} MiB")
        return r, self.api.url(image_id, file=True)

    async def get(self, urls: dict[str, str], body: Body) -> None:
        """Both sides' data out of the page cache, a cold read of each, then warm reads of
        each, taking turns; the warm reads of one side count as one figure."""
        mib = body.size // MiB

        async def read(path: str, how: str) -> Result:
            what = "GET" if path == "object" else "download"
            return await w.large_get(urls[path], self.t.headers, body.size, body.crc,
                                     self.t.roots, f"{what} {mib} MiB {how}")

        self.evict()
        for path in urls:
            self.keep(f"{mib} MiB download cold (MB/s)", path, await read(path, "cold"))
        warm: dict[str, list[Result]] = {path: [] for path in urls}
        for _ in range(self.plan.warm_reads):
            for path in urls:
                warm[path].append(await read(path, "warm"))
        for path, reads in warm.items():
            self.keep(f"{mib} MiB download warm (MB/s)", path, Result.merge(reads[0].name, reads))

    async def run(self) -> Figures:
        await w.make_container(self.t, CONTAINER)
        suite.log("checksums of the bodies (not timed)")
        large, small = Body.of(self.plan.size), Body.of(LATENCY_SIZE)
        for i in range(self.plan.rounds):
            order = PATHS if i % 2 == 0 else PATHS[::-1]
            suite.log(f"round {i + 1}/{self.plan.rounds}: {' then '.join(order)}")
            urls = {}
            for path in order:
                r, urls[path] = await self.put(path, large, f"large-{i}")
                self.keep(f"{large.size // MiB} MiB upload (MB/s)", path, r)
            await self.get(urls, large)
            for url in urls.values():
                await delete(url, self.t.headers)
        suite.log(f"{self.plan.latency_rounds} x create-to-active")
        for i in range(self.plan.latency_rounds):
            for path in PATHS if i % 2 == 0 else PATHS[::-1]:
                r, url = await self.put(path, small, "small")
                self.keep(f"{LATENCY_SIZE // MiB} MiB create-to-active (ms)", path, r)
                await delete(url, self.t.headers)
        return self.figures


def is_latency(figure: str) -> bool:
    return figure.endswith("(ms)")


def value(figure: str, results: list[Result]) -> float:
    """The figure for one path: p50 latency over every round, or the median MB/s."""
    if is_latency(figure):
        return Result.merge("", results).pct(50)
    return statistics.median(r.mb_s for r in results)


def ratio(figure: str, paths: dict[str, list[Result]]) -> float:
    return value(figure, paths["image"]) / value(figure, paths["object"])


def passes(figure: str, r: float) -> bool:
    return r <= 1 + TARGET if is_latency(figure) else r >= 1 - TARGET


def table(figures: Figures) -> str:
    lines = [f"{'figure':<36}{'object':>10}{'image':>10}{'image/object':>14}"
             f"{'per round':>16}{'CPU ms obj/img':>18}{'RSS MB obj/img':>18}"]
    for figure, paths in figures.items():
        obj, img = paths["object"], paths["image"]
        pairs = [(i.latencies[0] / o.latencies[0]) if is_latency(figure) else i.mb_s / o.mb_s
                 for o, i in zip(obj, img, strict=True)]
        cpu = [statistics.median(r.cpu_ms_per_op for r in rs) for rs in (obj, img)]
        rss = [max(r.peak_rss for r in rs) / 1e6 for rs in (obj, img)]
        lines.append(f"{figure:<36}{value(figure, obj):>10.1f}{value(figure, img):>10.1f}"
                     f"{ratio(figure, paths):>13.2f}x{min(pairs):>9.2f}-{max(pairs):.2f}x"
                     f"{cpu[0]:>10.0f} / {cpu[1]:<5.0f}{rss[0]:>10.0f} / {rss[1]:<5.0f}")
    lines.append(f"\ntargets (image path within {TARGET:.0%} of the object path):")
    for figure, paths in figures.items():
        r = ratio(figure, paths)
        rule = f"<= {1 + TARGET:.2f}x" if is_latency(figure) else f">= {1 - TARGET:.2f}x"
        lines.append(f"  {'PASS' if passes(figure, r) else 'MISS'}  {figure:<36} image/object "
                     f"{r:.2f}x ({rule})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, fewer rounds: < 2 min")
    parser.add_argument("--size-gib", type=float, help="the large image and object (GiB)")
    parser.add_argument("--rounds", type=int, help="rounds of the large upload and download")
    parser.add_argument("--latency-rounds", type=int, help="64 MiB create-to-active samples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path, help="where the data directory goes")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    if args.size_gib:
        plan.size = int(min(max(args.size_gib, 1 / 64), 8) * (1 << 30)) // MiB * MiB
    if args.rounds:
        plan.rounds = min(max(args.rounds, 1), 20)
    if args.latency_rounds:
        plan.latency_rounds = min(max(args.latency_rounds, 1), 100)
    w.steady_malloc()
    print(describe(), flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strato-bench-", dir=args.workdir) as tmp:
        data = Path(tmp) / "data"
        server = Server(data_dir=data, workers=os.cpu_count() or 1)
        try:
            server.start()
            token, project = login(server)

            def roots() -> list[int]:
                return strato_server.roots(server)

            target = w.Target("strato", f"{server.url}/v1/AUTH_{project}", token, roots)
            bench = Bench(target, Images(server.url, token, roots), plan,
                          lambda: drop_page_cache(data))
            figures = uvloop.run(bench.run())
        finally:
            server.stop()
    print()
    print(table(figures))
    print(f"{time.monotonic() - started:.0f} s; {load()}")
    if args.json:
        args.json.write_text(json.dumps({figure: {
            "ratio": ratio(figure, paths), "pass": passes(figure, ratio(figure, paths)),
            **{path: {"value": value(figure, rs), "mb_s": [r.mb_s for r in rs],
                      "seconds": [x for r in rs for x in r.latencies],
                      "cpu_s": [r.cpu for r in rs], "peak_rss": max(r.peak_rss for r in rs)}
               for path, rs in paths.items()}} for figure, paths in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
