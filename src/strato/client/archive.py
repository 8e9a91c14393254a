"""Many small objects in one response, where the cloud offers it: Strato's archive
download (`GET <container>?archive=tar`, `/info` `bulk_download`). The tar stream is read as
it arrives (no member is held whole), each member written to the path the caller names and
checked against the MD5 its listing gave. What the archive leaves out the caller fetches on
its own, so a partial archive loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from strato.client.errors import ChecksumMismatch, ClientError
from strato.client.objects import ObjectStore, object_path
from strato.client.transfers import NoProgress, Progress
from strato.tarformat import BLOCK

ZERO_BLOCK = bytes(BLOCK)


@dataclass
class ArchiveResult:
    written: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    bytes: int = 0

    def wrote(self, name: str, path: Path, size: int) -> None:
        self.written[name] = path
        self.sizes[name] = size
        self.bytes += size


class DamagedArchive(ClientError):
    """A tar header that cannot be read: the stream cannot be followed past it."""


def _octal(field_bytes: bytes) -> int:
    try:
        return int(field_bytes.rstrip(b"\0 ").decode("ascii") or "0", 8)
    except ValueError as exc:
        raise DamagedArchive(f"the archive stream is damaged ({exc})") from exc


def _pax(data: bytes) -> dict[str, str]:
    records, position = {}, 0
    try:
        while position < len(data):
            space = data.index(b" ", position)
            length = int(data[position:space])
            if length <= space - position:
                raise ValueError(f"a PAX record of {length} bytes")
            key, _, value = data[space + 1:position + length - 1].partition(b"=")
            records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
            position += length
        if "size" in records:
            int(records["size"])
    except ValueError as exc:  # UnicodeDecodeError is one
        raise DamagedArchive(f"the archive stream is damaged ({exc})") from exc
    return records


async def fetch_archive(store: ObjectStore, container: str, *,
                        target: Callable[[str], Path | None],
                        expected: dict[str, str | None], marker: str | None = None,
                        end_marker: str | None = None, prefix: str | None = None,
                        limit: int | None = None, progress: Progress | None = None,
                        chunk_size: int = 1 << 20,
                        into: ArchiveResult | None = None) -> ArchiveResult:
    """Fetch a listing range as one tar stream; write each member to `target(name)` (None:
    skip it) through a `.part` file, checking it against `expected[name]` (its listing
    MD5; None: not checked). Returns what was written: `into`, where given, which holds
    what was written before a failure too (the caller need not fetch those again)."""
    progress = progress or NoProgress()
    params = {"archive": "tar"}
    for key, value in (("marker", marker), ("end_marker", end_marker), ("prefix", prefix),
                       ("limit", str(limit) if limit else None)):
        if value is not None:
            params[key] = value
    result = into if into is not None else ArchiveResult()
    writes = _Writes(result)
    url = await store.session.url("object-store", object_path(container))
    try:
        async with store.session.stream("GET", url, params=params) as response:
            stream = _Buffered(response.content)
            pax: dict[str, str] = {}
            while True:
                header = bytes(await stream.read(BLOCK))
                if header == ZERO_BLOCK:
                    break
                size = _octal(header[124:136])
                kind = header[156:157]
                padded = size + (-size % BLOCK)
                if kind in (b"x", b"g"):
                    records = _pax(bytes((await stream.read(padded))[:size]))
                    if kind == b"x":
                        pax = records
                    continue
                name = pax.get("path") or _ustar_name(header)
                size = int(pax.get("size", size))
                padded = size + (-size % BLOCK)
                path = target(name) if kind in (b"0", b"\0") else None
                if path is None:
                    await stream.skip(padded, chunk_size)
                    pax = {}
                    continue
                await _write_member(stream, name, size, path, expected.get(name), pax,
                                    _octal(header[136:148]), progress, chunk_size, writes)
                if padded > size:
                    await stream.read(padded - size)
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


class _Buffered:
    """Exact reads off a response body, served from whole chunks as they arrive: the tar
    stream asks for four or five pieces per small member, and aiohttp's own `readexactly`
    spent more on each than the parsing did. A piece that lies within one chunk is a view
    of it, not a copy: most members do, and copying each byte twice more cost the loop as
    much as the parsing."""

    def __init__(self, stream: aiohttp.StreamReader) -> None:
        self.stream = stream
        self.data = b""      # the chunk being read
        self.position = 0    # how far

    async def read(self, n: int) -> bytes | memoryview:
        end = self.position + n
        if end <= len(self.data):
            piece = memoryview(self.data)[self.position:end]
            self.position = end
            return piece
        parts: list[bytes | memoryview] = [memoryview(self.data)[self.position:]]
        have = len(parts[0])
        while True:
            try:
                chunk = await self.stream.readany()
            except Exception as exc:  # payload errors: the stream was cut
                raise ClientError(f"the archive stream ended early ({exc})") from exc
            if not chunk:
                raise ClientError(f"the archive stream ended early ({have} of {n} bytes)")
            if have + len(chunk) >= n:
                self.data, self.position = chunk, n - have
                parts.append(memoryview(chunk)[:self.position])
                return b"".join(parts)
            parts.append(chunk)
            have += len(chunk)

    async def skip(self, n: int, chunk_size: int) -> None:
        while n:
            n -= len(await self.read(min(chunk_size, n)))


#: Members up to this size are read whole and written by worker threads while the stream
#: reads on: creating a file costs the kernel far more than the bytes, and overlapping
#: those costs with each other and with the next members' arrival is what makes many small
#: files fast. They go to a thread in batches (up to BATCH_FILES files or BATCH_BYTES), up
#: to BATCHES_IN_FLIGHT batches a stream: a hand-over per file cost the event loop more
#: than its parsing. Memory stays bounded by about (BATCH_BYTES + WHOLE_MEMBER) x
#: (BATCHES_IN_FLIGHT + 1) per stream.
WHOLE_MEMBER = 1 << 20
BATCH_FILES = 32
BATCH_BYTES = 1 << 20
BATCHES_IN_FLIGHT = 4


@dataclass
class _Member:
    name: str
    data: bytes | memoryview
    path: Path
    md5: str | None
    mtime: float


class _Writes:
    """The member writes of one stream not yet done; a member counts as written (in the
    result) only once its file is in place."""

    def __init__(self, result: ArchiveResult) -> None:
        self.result = result
        self.batch: list[_Member] = []
        self.batch_bytes = 0
        self.pending: deque[tuple[asyncio.Future[None], list[_Member]]] = deque()

    async def add(self, member: _Member) -> None:
        self.batch.append(member)
        self.batch_bytes += len(member.data)
        if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
            await self._send()

    async def _send(self) -> None:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        self.pending.append((asyncio.ensure_future(asyncio.to_thread(_store_all, batch)),
                             batch))
        while len(self.pending) > BATCHES_IN_FLIGHT:
            await self._oldest()

    async def _oldest(self) -> None:
        future, batch = self.pending.popleft()
        await future  # its error (a checksum mismatch, a full disk) ends the stream
        for member in batch:
            self.result.wrote(member.name, member.path, len(member.data))

    async def drain(self) -> None:
        if self.batch:
            await self._send()
        while self.pending:
            await self._oldest()

    async def cancel(self) -> None:
        """After a failure: let the writes already in threads end (a thread cannot be
        stopped), so nothing is written after the call returns, and count the batches
        that were written whole; a batch not sent is dropped (the caller fetches its
        members one by one)."""
        self.batch, self.batch_bytes = [], 0
        while self.pending:
            with contextlib.suppress(Exception):
                await self._oldest()


async def _write_member(stream: _Buffered, name: str, size: int, path: Path,
                        md5: str | None, pax: dict[str, str], mtime: int,
                        progress: Progress, chunk_size: int, writes: _Writes) -> None:
    when = float(pax.get("SCHILY.xattr.user.meta.mtime") or mtime)
    check = md5 if md5 and len(md5) == 32 and pax.get("STRATO.manifest") != "1" else None
    progress.start(name, size)
    try:
        if size <= WHOLE_MEMBER:
            data = await stream.read(size)
            progress.advance(name, size)
            await writes.add(_Member(name, data, path, check, when))
            return
        await writes.drain()  # in order: the large member's file after the small ones
        digest = hashlib.md5(usedforsecurity=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        with open(part, "wb") as out:  # a large member: streamed, never held whole
            remaining = size
            while remaining:
                data = await stream.read(min(chunk_size, remaining))
                out.write(data)
                digest.update(data)
                remaining -= len(data)
                progress.advance(name, len(data))
        _finish(name, part, path, digest.hexdigest(), check, when)
        writes.result.wrote(name, path, size)
    finally:
        progress.finish(name)


def _store_all(batch: list[_Member]) -> None:
    """Check each member's MD5, write it through `<path>.part` with its mtime, rename it
    into place; stop at the first that fails. File descriptors, not file objects: a
    buffered file object and a second path lookup for the mtime cost more than the bytes
    of a small file."""
    for member in batch:
        _check(member.name, hashlib.md5(member.data, usedforsecurity=False).hexdigest(),
               member.md5)
        path = os.fspath(member.path)
        part = path + ".part"
        fd = _create(part)
        try:
            view = memoryview(member.data)
            while view:
                view = view[os.write(fd, view):]
            os.utime(fd, (member.mtime, member.mtime))
        except OSError:  # a full disk: no half-written file left behind
            os.close(fd)
            os.unlink(part)
            raise
        os.close(fd)
        os.replace(part, path)


def _create(part: str) -> int:
    """Open a new file, making its directory only when the open finds it missing: most
    files go where others already went, so most pay no mkdir."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        return os.open(part, flags, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(part), exist_ok=True)
        return os.open(part, flags, 0o666)


def _check(name: str, got: str, md5: str | None) -> None:
    if md5 and got != md5:
        raise ChecksumMismatch(f"{name}: MD5 {got} in the archive, {md5} in the listing")


def _finish(name: str, part: Path, path: Path, got: str, md5: str | None,
            mtime: float) -> None:
    try:
        _check(name, got, md5)
    except ChecksumMismatch:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
    os.utime(path, (mtime, mtime))
