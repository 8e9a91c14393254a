"""The thread-free tar reader reads what tarfile (and so GNU tar and bsdtar) writes: every
format, long names, PAX records, compression; broken archives are errors, not guesses."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import tarfile
import zlib
from collections.abc import AsyncIterator

import pytest

from strato.api.swift.features.tarstream import TarStream
from strato.tarformat import pax_header

FILES = {"short.txt": b"hello", "dir/" + "long-name-" * 15 + ".bin": os.urandom(70_000),
         "ünï/çødé.txt": b"unicode", "empty": b""}


def _archive(fmt: int, mode: str = "w", pax: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=fmt) as tar:
        folder = tarfile.TarInfo("dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if pax:
                info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "short.txt"
        tar.addfile(link)
    return out.getvalue()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def _read(data: bytes, compression: str = "", chunk: int = 1000,
                read_bodies: bool = True) -> list[tuple[str, bytes, bytes, dict[str, str]]]:
    tar = TarStream(_chunks(data, chunk), compression)
    out = []
    while (member := await tar.next()) is not None:
        body = b"".join([c async for c in tar.body(member)]) if read_bodies else b""
        out.append((member.name, member.type, body, member.pax_headers))
    return out


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("chunk", [1, 511, 4096])
def test_every_format_in_any_chunking(fmt: int, chunk: int) -> None:
    if fmt == tarfile.USTAR_FORMAT:
        # ustar cannot hold the 150-character name: the shorter ones
        files = {k: v for k, v in FILES.items() if len(k.encode()) < 100}
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        got = asyncio.run(_read(out.getvalue(), chunk=chunk))
        assert {n: b for n, _, b, _ in got} == files
        return
    if chunk == 1 and fmt == tarfile.GNU_FORMAT:
        chunk = 7   # byte-at-a-time is covered by PAX; keep the test quick
    got = asyncio.run(_read(_archive(fmt), chunk=chunk))
    names = [n for n, _, _, _ in got]
    assert names == ["dir", *FILES, "link"]
    assert {n: b for n, t, b, _ in got if t in (b"0", b"\0")} == FILES
    assert [t for n, t, _, _ in got if n in ("dir", "link")] == [b"5", b"2"]


def test_pax_records_and_compression() -> None:
    pax = {"SCHILY.xattr.user.meta.color": "teal", "SCHILY.xattr.user.mime_type": "text/x"}
    plain = _archive(tarfile.PAX_FORMAT, pax=pax)
    gz = zlib.compress(plain)  # zlib container is not gzip: build a real gzip stream
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.pax_headers = pax
            tar.addfile(info, io.BytesIO(data))
    for data, compression in ((plain, ""), (out.getvalue(), "gz")):
        got = asyncio.run(_read(data, compression))
        files = {n: (b, h) for n, t, b, h in got if t == b"0"}
        assert files["short.txt"] == (b"hello", pax)
    bz = io.BytesIO()
    with tarfile.open(fileobj=bz, mode="w:bz2") as tar:
        info = tarfile.TarInfo("a")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert [(n, b) for n, _, b, _ in asyncio.run(_read(bz.getvalue(), "bz2"))] == [("a", b"abc")]
    assert gz  # the zlib container is refused as gzip below
    with pytest.raises(zlib.error):
        asyncio.run(_read(gz, "gz"))


def test_unread_bodies_are_skipped() -> None:
    got = asyncio.run(_read(_archive(tarfile.GNU_FORMAT), read_bodies=False))
    assert [n for n, _, _, _ in got] == ["dir", *FILES, "link"]


def test_broken_archives_are_errors() -> None:
    data = _archive(tarfile.PAX_FORMAT)
    with pytest.raises(EOFError):
        asyncio.run(_read(data[:1500]))                     # cut inside a member
    with pytest.raises(tarfile.ReadError):
        asyncio.run(_read(os.urandom(4096)))                # not a tar at all
    damaged = bytearray(data)
    damaged[10] ^= 0xFF                                     # header checksum no longer fits
    with pytest.raises(tarfile.ReadError):
        asyncio.run(_read(bytes(damaged)))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("a")
        info.size = 100_000
        tar.addfile(info, io.BytesIO(os.urandom(100_000)))
    with pytest.raises(EOFError):
        asyncio.run(_read(out.getvalue()[:50_000], "gz"))  # gzip stream cut short


def test_a_checksum_summed_as_signed_bytes_is_accepted() -> None:
    """Some old tars summed the header as signed chars: a name with bytes over 127 then
    has a smaller checksum, which tarfile accepts and so do we."""
    data = bytearray(_archive(tarfile.GNU_FORMAT))
    header = data[:512]
    assert header[:3] == b"dir"
    header[100 - 3:100] = "é".encode() + b"\0"   # bytes over 127, in the name's padding
    signed = sum(b - 256 if b > 127 else b for b in header[:148]) + 256 + sum(
        b - 256 if b > 127 else b for b in header[156:])
    header[148:156] = b"%06o\0 " % signed
    data[:512] = header
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        assert tar.getnames()[0] == "dir"
    assert asyncio.run(_read(bytes(data)))[0][0] == "dir"
    header[148:156] = b"%06o\0 " % (signed + 1)   # neither sum
    data[:512] = header
    with pytest.raises(tarfile.ReadError):
        asyncio.run(_read(bytes(data)))


@pytest.mark.parametrize("name, size, mtime, records", [
    ("plain.txt", 5, 1_700_000_000, {}),
    ("d/03-ü.txt", 3, 0, {"STRATO.etag": "d41d8cd98f00b204e9800998ecf8427e"}),
    ("x" * 100, 1, 1, {}),
    ("long/" + "y" * 150, 700, 1_700_000_000, {"SCHILY.xattr.user.meta.k": "v" * 600}),
    ("not-utf8-\udcff", 2, 12, {"SCHILY.xattr.user.meta.raw": "\udcfe"}),
    ("old", 4, -86400, {}),
])
def test_pax_headers_read_back_by_every_reader(name: str, size: int, mtime: int,
                                               records: dict[str, str]) -> None:
    """What the archive download writes, tarfile, GNU tar and our own reader read alike."""
    body = os.urandom(size)
    data = pax_header(name, size, mtime, records) + body + bytes(-size % 512) + bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|", encoding="utf-8",
                      errors="surrogateescape") as tar:
        info = tar.next()
        assert info is not None and info.isfile()
        assert (info.name, info.size, int(info.mtime), info.mode) == (name, size, mtime, 0o644)
        assert {k: v for k, v in info.pax_headers.items() if k in records} == records
        extracted = tar.extractfile(info)
        assert extracted is not None and extracted.read() == body
    listing = subprocess.run(["tar", "--list", "--verbose", "--full-time", "--file", "-"],
                             input=data, capture_output=True, check=True).stdout
    assert name.encode("utf-8", "surrogateescape") in listing.replace(b"\\377", b"\xff")
    assert b" %d " % size in listing
    [(got_name, kind, got_body, pax)] = asyncio.run(_read(data, chunk=100))
    assert (got_name, kind, got_body) == (name, b"0", body)
    assert {k: v for k, v in pax.items() if k in records} == records


def test_pax_headers_hold_what_ustar_cannot() -> None:
    """A size or time beyond ustar's 11 octal digits goes in the records, as tarfile does."""
    header = pax_header("huge", 8**11 + 5, 8**11, {})
    with tarfile.open(fileobj=io.BytesIO(header + bytes(1024)), mode="r|") as tar:
        info = tar.next()
        assert info is not None and (info.size, int(info.mtime)) == (8**11 + 5, 8**11)
    assert len(pax_header("small.txt", 10, 0, {})) == 512  # no records: ustar alone
