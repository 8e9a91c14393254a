"""Tar members read straight from a request body in the event loop: no worker thread, no
copy of the archive. Covers what `tar` and archiving libraries write: ustar and PAX headers
(global and per member), GNU long names, base-256 sizes, and gzip or bzip2 through
incremental decompressors. Extract-archive uses it; with tarfile behind a thread, each
member cost three thread hops, which outweighed the member's own PUT for small files. (The
archive download's member headers are written by `strato.tarformat`.)"""

from __future__ import annotations

import bz2
import tarfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from strato.tarformat import BLOCK

REGULAR = (b"0", b"\0", b"7")


@dataclass
class Member:
    name: str
    size: int
    type: bytes
    pax_headers: dict[str, str] = field(default_factory=dict)

    def isfile(self) -> bool:
        return self.type in REGULAR

    def isdir(self) -> bool:
        return self.type == b"5"


def _number(field_bytes: bytes) -> int:
    if field_bytes and field_bytes[0] in (0o200, 0o377):   # GNU base-256
        value = int.from_bytes(field_bytes[1:], "big")
        return value - 256 ** (len(field_bytes) - 1) if field_bytes[0] == 0o377 else value
    text = field_bytes.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise tarfile.ReadError("invalid header") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156])
    if stored == sum(block[:148]) + 256 + sum(block[156:]):
        return True
    # some old tars summed the bytes as signed chars (tarfile accepts both); counted only
    # when the usual sum fails, a byte at a time being the costly part of reading a header
    return stored == sum(b - 256 if b > 127 else b for b in block[:148]) + 256 + sum(
        b - 256 if b > 127 else b for b in block[156:])


def _pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        if space < 0:
            break
        try:
            length = int(data[position:space])
        except ValueError:
            raise tarfile.ReadError("invalid PAX header") from None
        if length <= 0:
            raise tarfile.ReadError("invalid PAX header")
        key, _, value = data[space + 1:position + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode(
            "utf-8", "surrogateescape")
        position += length
    return records


class TarStream:
    """`await next()` for each member, then (optionally) `body(member)` for its bytes;
    what a caller does not read of a member is skipped by the next `next()`."""

    def __init__(self, chunks: AsyncIterator[bytes], compression: str = "") -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._eof = False
        self._left = 0          # unread bytes of the current member, padding included
        self._decoder: Any = None
        if compression == "gz":
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == "bz2":
            self._decoder = bz2.BZ2Decompressor()
        self._global: dict[str, str] = {}

    async def _fill(self, n: int) -> None:
        while len(self._buffer) < n and not self._eof:
            chunk = await anext(self._chunks, b"")
            if not chunk:
                self._eof = True
                if self._decoder is not None and not self._decoder.eof:
                    raise EOFError("compressed archive ended early")
                break
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk)
            self._buffer += chunk

    async def _read(self, n: int) -> bytes:
        await self._fill(n)
        if len(self._buffer) < n:
            raise EOFError("unexpected end of archive")
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _skip(self, n: int) -> None:
        while n:
            await self._fill(min(n, 1 << 20))
            if not self._buffer:
                raise EOFError("unexpected end of archive")
            step = min(n, len(self._buffer))
            del self._buffer[:step]
            n -= step

    async def next(self) -> Member | None:
        await self._skip(self._left)
        self._left = 0
        pax: dict[str, str] = {}
        long_name: str | None = None
        while True:
            await self._fill(BLOCK)
            if not self._buffer and self._eof:
                return None   # no end-of-archive blocks: tolerated, as tarfile does
            block = await self._read(BLOCK)
            if block == b"\0" * BLOCK:
                return None
            if not _checksum_ok(block):
                raise tarfile.ReadError("bad checksum")
            size = _number(block[124:136])
            if size < 0:   # a base-256 field can say so: no member has a negative size
                raise tarfile.ReadError("negative member size")
            kind = block[156:157]
            padded = size + (-size % BLOCK)
            if kind in (b"x", b"g"):
                records = _pax((await self._read(padded))[:size])
                if kind == b"g":
                    self._global.update(records)
                else:
                    pax = records
                continue
            if kind in (b"L", b"K"):
                data = (await self._read(padded))[:size].rstrip(b"\0")
                if kind == b"L":
                    long_name = data.decode("utf-8", "surrogateescape")
                continue
            headers = {**self._global, **pax}
            name = headers.get("path") or long_name or self._ustar_name(block)
            if "size" in headers:
                try:
                    size = int(headers["size"])
                except ValueError:
                    raise tarfile.ReadError("invalid PAX size") from None
                padded = size + (-size % BLOCK)
            if size < 0:
                raise tarfile.ReadError("negative member size")
            self._left = padded
            if kind == b"5":
                name = name.rstrip("/")   # as tarfile reads a directory's name
            return Member(name, size, kind, headers)

    @staticmethod
    def _ustar_name(block: bytes) -> str:
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:262] == b"ustar":
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        return name.decode("utf-8", "surrogateescape")

    async def body(self, member: Member, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The member's bytes (only while it is the current member)."""
        remaining = member.size
        while remaining:
            await self._fill(min(chunk, remaining))
            if not self._buffer:
                raise EOFError("unexpected end of archive")
            step = min(chunk, remaining, len(self._buffer))
            data = bytes(self._buffer[:step])
            del self._buffer[:step]
            remaining -= step
            self._left -= step
            yield data


