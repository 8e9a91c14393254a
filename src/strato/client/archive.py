"""Many small objects in one response, where the cloud offers it: Strato's archive
download (`GET <container>?archive=tar`, `/info` `bulk_download`). The tar stream is read as
it arrives (no member is held whole), each member written to the path the caller names and
checked against the MD5 its listing gave. What the archive leaves out the caller fetches on
its own, so a partial archive loses nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import aiohttp

from strato.client.errors import ChecksumMismatch, ClientError
from strato.client.objects import ObjectStore, object_path
from strato.client.transfers import NoProgress, Progress

BLOCK = 512


@dataclass
class ArchiveResult:
    written: dict[str, Path] = field(default_factory=dict)
    bytes: int = 0


def _octal(field_bytes: bytes) -> int:
    text = field_bytes.rstrip(b"\0 ").decode("ascii") or "0"
    return int(text, 8)


def _pax(data: bytes) -> dict[str, str]:
    records, position = {}, 0
    while position < len(data):
        space = data.index(b" ", position)
        length = int(data[position:space])
        key, _, value = data[space + 1:position + length - 1].partition(b"=")
        records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


async def fetch_archive(store: ObjectStore, container: str, *,
                        target: Callable[[str], Path | None],
                        expected: dict[str, str | None], marker: str | None = None,
                        end_marker: str | None = None, prefix: str | None = None,
                        limit: int | None = None, progress: Progress | None = None,
                        chunk_size: int = 1 << 20) -> ArchiveResult:
    """Fetch a listing range as one tar stream; write each member to `target(name)` (None:
    skip it) through a `.part` file, checking it against `expected[name]` (its listing
    MD5; None: not checked). Returns what was written."""
    progress = progress or NoProgress()
    params = {"archive": "tar"}
    for key, value in (("marker", marker), ("end_marker", end_marker), ("prefix", prefix),
                       ("limit", str(limit) if limit else None)):
        if value is not None:
            params[key] = value
    result = ArchiveResult()
    writes = _Writes(result)
    url = await store.session.url("object-store", object_path(container))
    try:
        async with store.session.stream("GET", url, params=params) as response:
            stream = response.content
            pax: dict[str, str] = {}
            while True:
                header = await _exactly(stream, BLOCK)
                if header == b"\0" * BLOCK:
                    break
                size = _octal(header[124:136])
                kind = header[156:157]
                padded = size + (-size % BLOCK)
                if kind in (b"x", b"g"):
                    records = _pax((await _exactly(stream, padded))[:size])
                    if kind == b"x":
                        pax = records
                    continue
                name = pax.get("path") or _ustar_name(header)
                size = int(pax.get("size", size))
                padded = size + (-size % BLOCK)
                path = target(name) if kind in (b"0", b"\0") else None
                if path is None:
                    await _skip(stream, padded, chunk_size)
                    pax = {}
                    continue
                await _write_member(stream, name, size, path, expected.get(name), pax,
                                    _octal(header[136:148]), progress, chunk_size, writes)
                if padded > size:
                    await _exactly(stream, padded - size)
                pax = {}
        await writes.drain()
    finally:
        await writes.cancel()
    return result


def _ustar_name(header: bytes) -> str:
    name = header[0:100].rstrip(b"\0")
    prefix = header[345:500].rstrip(b"\0")
    full = prefix + b"/" + name if prefix else name
    return full.decode("utf-8", "surrogateescape")


async def _skip(stream: aiohttp.StreamReader, n: int, chunk_size: int) -> None:
    while n:
        n -= len(await _exactly(stream, min(chunk_size, n)))


async def _exactly(stream: aiohttp.StreamReader, n: int) -> bytes:
    try:
        return await stream.readexactly(n)
    except Exception as exc:  # IncompleteReadError, payload errors: the stream was cut
        raise ClientError(f"the archive stream ended early ({exc})") from exc


#: Members up to this size are read whole and written by worker threads, up to
#: WRITES_IN_FLIGHT of them while the stream reads on: creating a file costs the kernel far
#: more than the bytes, and overlapping those costs with each other and with the next
#: members' arrival is what makes many small files fast. Memory stays bounded by
#: WHOLE_MEMBER x WRITES_IN_FLIGHT per stream.
WHOLE_MEMBER = 1 << 20
WRITES_IN_FLIGHT = 16


class _Writes:
    """The member writes of one stream still in worker threads; a member counts as written
    (in the result) only once its file is in place."""

    def __init__(self, result: ArchiveResult) -> None:
        self.result = result
        self.pending: deque[tuple[asyncio.Task[None], str, Path, int]] = deque()

    async def add(self, name: str, data: bytes, path: Path, md5: str | None,
                  mtime: float) -> None:
        task = asyncio.ensure_future(asyncio.to_thread(_store, name, [data], path, md5, mtime))
        self.pending.append((task, name, path, len(data)))
        while len(self.pending) > WRITES_IN_FLIGHT:
            await self._oldest()

    async def _oldest(self) -> None:
        task, name, path, size = self.pending.popleft()
        await task  # its error (a checksum mismatch, a full disk) ends the stream
        self.result.written[name] = path
        self.result.bytes += size

    async def drain(self) -> None:
        while self.pending:
            await self._oldest()

    async def cancel(self) -> None:
        """After a failure: let the writes already in threads end (a thread cannot be
        stopped), so nothing is written after the call returns."""
        if self.pending:
            await asyncio.gather(*(task for task, *_ in self.pending), return_exceptions=True)
            self.pending.clear()


async def _write_member(stream: aiohttp.StreamReader, name: str, size: int, path: Path,
                        md5: str | None, pax: dict[str, str], mtime: int,
                        progress: Progress, chunk_size: int, writes: _Writes) -> None:
    when = float(pax.get("SCHILY.xattr.user.meta.mtime") or mtime)
    check = md5 if md5 and len(md5) == 32 and pax.get("STRATO.manifest") != "1" else None
    progress.start(name, size)
    try:
        if size <= WHOLE_MEMBER:
            data = await _exactly(stream, size)
            progress.advance(name, size)
            await writes.add(name, data, path, check, when)
            return
        await writes.drain()  # in order: the large member's file after the small ones
        digest = hashlib.md5(usedforsecurity=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as out:  # a large member: streamed, never held whole
            remaining = size
            while remaining:
                data = await _exactly(stream, min(chunk_size, remaining))
                out.write(data)
                digest.update(data)
                remaining -= len(data)
                progress.advance(name, len(data))
        _finish(name, part, path, digest.hexdigest(), check, when)
        writes.result.written[name] = path
        writes.result.bytes += size
    finally:
        progress.finish(name)


def _store(name: str, chunks: list[bytes], path: Path, md5: str | None, mtime: float) -> None:
    """Write through `<path>.part`, check the MD5, rename into place, set the mtime."""
    digest = hashlib.md5(usedforsecurity=False)
    part = path.with_name(path.name + ".part")
    with _create(part) as out:
        for data in chunks:
            out.write(data)
            digest.update(data)
    _finish(name, part, path, digest.hexdigest(), md5, mtime)


def _create(part: Path) -> BinaryIO:
    """Open a new file, making its directory only when the open finds it missing: most
    files go where others already went, so most pay no mkdir."""
    try:
        return open(part, "wb")
    except FileNotFoundError:
        part.parent.mkdir(parents=True, exist_ok=True)
        return open(part, "wb")


def _finish(name: str, part: Path, path: Path, got: str, md5: str | None,
            mtime: float) -> None:
    if md5 and got != md5:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{name}: MD5 {got} in the archive, {md5} in the listing")
    os.replace(part, path)
    os.utime(path, (mtime, mtime))
