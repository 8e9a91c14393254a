"""Large and many transfers: uploads above a threshold as parallel SLO segments (DLO where
the cloud lacks SLO), downloads as parallel ranged GETs written in place, both resumable
and verified by MD5 end to end, with memory bounded by concurrency x chunk size whatever
the file size. Progress goes to a callback object; nothing here prints."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import logging
import mmap
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from strato.client.errors import (
    ChecksumMismatch,
    ClientError,
    ConnectionFailed,
    UnprocessableEntity,
)
from strato.client.objects import ObjectStore, object_path, unquote_etag

MiB = 2**20
log = logging.getLogger("strato.client")


class Progress(Protocol):
    """What a transfer reports; the CLI draws bars from it, a program may log it."""

    def start(self, name: str, total: int | None) -> None: ...
    def advance(self, name: str, done: int) -> None: ...
    def finish(self, name: str) -> None: ...


class NoProgress:
    def start(self, name: str, total: int | None) -> None:
        pass

    def advance(self, name: str, done: int) -> None:
        pass

    def finish(self, name: str) -> None:
        pass


@dataclass(frozen=True)
class TransferOptions:
    """`segment_size` and `threshold` apply to uploads (files above the threshold go as
    segments), `piece_size` to downloads (objects above it go as parallel ranges);
    `direct_io` lets those ranges be written around the page cache (O_DIRECT) where the
    filesystem allows it."""

    segment_size: int = 64 * MiB
    threshold: int = 64 * MiB
    piece_size: int = 64 * MiB
    concurrency: int = 8
    chunk_size: int = MiB
    segment_container: str | None = None
    use_slo: bool | None = None
    resume: bool = True
    leave_segments: bool = False
    checksum: bool = True
    piece_attempts: int = 4
    direct_io: bool = True


@dataclass(frozen=True)
class UploadResult:
    container: str
    name: str
    size: int
    etag: str
    segments: int = 0
    reused: int = 0


@dataclass(frozen=True)
class DownloadResult:
    container: str
    name: str
    path: Path
    size: int
    etag: str | None
    pieces: int = 0
    reused: int = 0


# -- reading files ---------------------------------------------------------------------------

def _read_range(fd: int, offset: int, length: int, chunk: int) -> list[bytes]:
    out, end = [], offset + length
    while offset < end:
        data = os.pread(fd, min(chunk, end - offset), offset)
        if not data:
            raise ClientError("the file shrank while it was being uploaded")
        out.append(data)
        offset += len(data)
    return out


ALIGN = 4096
"""O_DIRECT wants the buffer's address, the file offset and the length aligned to this."""
PIECE_BUFFER = 2 * MiB
"""A download piece's bytes go to a thread (MD5 and write) this much at a time, from one
page-aligned buffer per piece: enough that the hand-over and each direct write cost little,
little enough that 8 pieces hold only 16 MiB meanwhile."""
O_DIRECT = getattr(os, "O_DIRECT", 0)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        done = os.pwrite(fd, data, offset)
        data, offset = data[done:], offset + done


class _Target:
    """The `.part` file a ranged download writes in place. Whole aligned buffers go through
    a second descriptor opened with O_DIRECT, around the page cache: on a large download,
    copying every byte into the cache (and the kernel's work to find it pages and write
    them back) cost more client CPU than MD5. The rest (a piece's tail, a piece resumed at
    an odd byte) goes through the cache, and so does everything where the filesystem
    refuses O_DIRECT (tmpfs) or the platform has none."""

    def __init__(self, part: Path, size: int, direct: bool) -> None:
        self.fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        self.direct: int | None = None  # open until close(): pieces write from threads
        self.use_direct = False
        try:
            os.ftruncate(self.fd, size)
            if direct and O_DIRECT:
                with contextlib.suppress(OSError):
                    self.direct = os.open(part, os.O_WRONLY | O_DIRECT)
                    self.use_direct = True
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, data: memoryview, offset: int) -> None:
        if self.use_direct and self.direct is not None and not (offset % ALIGN
                                                                or len(data) % ALIGN):
            try:
                _pwrite_all(self.direct, data, offset)
                return
            except OSError as exc:  # a filesystem that takes the flag but not the write
                if exc.errno != errno.EINVAL:
                    raise
                log.debug("O_DIRECT refused (%s): writing through the page cache", exc)
                self.use_direct = False
        _pwrite_all(self.fd, data, offset)

    def close(self) -> None:
        for fd in (self.direct, self.fd):
            if fd is not None:
                os.close(fd)


class _PieceWriter:
    """One attempt at a piece, from `offset` on: bytes gathered in a page-aligned buffer
    (mmap), hashed and written a buffer at a time in a worker thread (MD5 and the write
    release the GIL, so the event loop reads the other pieces' streams meanwhile)."""

    def __init__(self, target: _Target, offset: int, digest: Any) -> None:
        self.target, self.offset, self.digest = target, offset, digest
        self.buffer = mmap.mmap(-1, PIECE_BUFFER)
        self.filled = 0

    async def add(self, data: bytes) -> int:
        """Take `data`; how many bytes reached the file meanwhile (0 or whole buffers)."""
        placed, view, room = 0, memoryview(data), memoryview(self.buffer)
        while view:
            n = min(len(view), PIECE_BUFFER - self.filled)
            room[self.filled:self.filled + n] = view[:n]
            self.filled += n
            view = view[n:]
            if self.filled == PIECE_BUFFER:
                placed += await asyncio.to_thread(self.flush)
        return placed

    def flush(self) -> int:
        """Hash and write what the buffer holds; how many bytes that was."""
        size, self.filled = self.filled, 0
        if size:
            data = memoryview(self.buffer)[:size]
            self.digest.update(data)
            self.target.write(data, self.offset)
            self.offset += size
        return size


def file_range_md5(path: Path, offset: int, length: int, chunk: int = 4 * MiB) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        f.seek(offset)
        remaining = length
        while remaining:
            data = f.read(min(chunk, remaining))
            if not data:
                break
            digest.update(data)
            remaining -= len(data)
    return digest.hexdigest()


def _read_hashed(fd: int, offset: int, length: int, chunk: int, digest: Any) -> list[bytes]:
    """Read and hash in one go, in a worker thread: MD5 releases the GIL, so the event loop
    sends the other segments meanwhile (hashed in the loop, the 8 streams of a large upload
    waited on one core's MD5)."""
    parts = _read_range(fd, offset, length, chunk)
    for data in parts:
        digest.update(data)
    return parts


class _RangeBody:
    """A body factory for one range of a file: each attempt reads it afresh (in a thread,
    `chunk_size` at a time) and hashes what it sends."""

    def __init__(self, fd: int, offset: int, length: int, chunk: int,
                 on_bytes: Callable[[int], None]) -> None:
        self.fd, self.offset, self.length, self.chunk = fd, offset, length, chunk
        self.on_bytes = on_bytes
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sent = 0

    def __call__(self) -> AsyncIterator[bytes]:
        self.md5 = hashlib.md5(usedforsecurity=False)
        if self.sent:
            self.on_bytes(-self.sent)
        self.sent = 0
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        position, end, digest = self.offset, self.offset + self.length, self.md5
        while position < end:
            step = min(self.chunk * 4, end - position)
            if step <= 256 * 1024:
                parts = _read_hashed(self.fd, position, step, self.chunk, digest)
            else:
                parts = await asyncio.to_thread(_read_hashed, self.fd, position, step,
                                                self.chunk, digest)
            for data in parts:
                self.sent += len(data)
                self.on_bytes(len(data))
                yield data
            position += step


# -- uploads ---------------------------------------------------------------------------------

async def upload_file(store: ObjectStore, container: str, name: str, path: str | Path, *,
                      options: TransferOptions | None = None, progress: Progress | None = None,
                      headers: dict[str, str] | None = None) -> UploadResult:
    """Upload one file: one PUT up to `threshold`, parallel segments above it."""
    options = options or TransferOptions()
    progress = progress or NoProgress()
    path = Path(path)
    stat = path.stat()
    sent_headers = {"X-Object-Meta-Mtime": f"{stat.st_mtime:.6f}", **(headers or {})}
    progress.start(name, stat.st_size)
    try:
        with open(path, "rb") as f:
            fd = f.fileno()
            if stat.st_size <= options.threshold:
                etag = await _put_range(store, container, name, fd, 0, stat.st_size, options,
                                        progress, name, sent_headers)
                return UploadResult(container, name, stat.st_size, etag)
            return await _upload_segments(store, container, name, path, fd, stat, options,
                                          progress, sent_headers)
    finally:
        progress.finish(name)


async def _put_range(store: ObjectStore, container: str, name: str, fd: int, offset: int,
                     length: int, options: TransferOptions, progress: Progress, label: str,
                     headers: dict[str, str]) -> str:
    """PUT `length` bytes from `offset`, checking the stored ETag against what was sent;
    a mismatch (bytes changed on the way) is sent again, then reported."""
    for _attempt in range(options.piece_attempts):
        body = _RangeBody(fd, offset, length, options.chunk_size,
                          lambda n: progress.advance(label, n))
        try:
            if length <= options.chunk_size:
                # small: sent with its MD5 as ETag, so the server refuses (422) what it
                # did not receive intact
                data = b"".join(_read_range(fd, offset, length, options.chunk_size))
                stored = await store.put(container, name, data, headers=headers)
                progress.advance(label, length)
                return stored
            sent = {**headers, "Content-Length": str(length)}
            stored = await store.put(container, name, body, headers=sent)
            if not options.checksum or stored == body.md5.hexdigest():
                return stored
            problem = (f"{container}/{name}: sent MD5 {body.md5.hexdigest()}, the server "
                       f"stored {stored}")
        except (UnprocessableEntity, ChecksumMismatch) as exc:
            problem = str(exc)
        progress.advance(label, -body.sent)
        log.warning("upload of %s/%s arrived damaged (%s); sending it again", container, name,
                    problem)
    raise ChecksumMismatch(problem)


def segment_prefix(name: str, stat: os.stat_result, segment_size: int, kind: str) -> str:
    """Where a file's segments go: its name, then what identifies this version of the file
    (mtime, size, segment size), so a re-run finds the segments of the same file."""
    return f"{name}/{kind}/{stat.st_mtime:.6f}/{stat.st_size}/{segment_size}/"


async def _upload_segments(store: ObjectStore, container: str, name: str, path: Path, fd: int,
                           stat: os.stat_result, options: TransferOptions, progress: Progress,
                           headers: dict[str, str]) -> UploadResult:
    caps = await store.capabilities()
    slo = caps.get("slo") if options.use_slo is not False else None
    if options.use_slo and not slo:
        raise ClientError("the cloud has no static large objects (/info lacks slo)")
    size, segment_size = stat.st_size, options.segment_size
    if slo:
        most = int(slo.get("max_manifest_segments", 1000))
        segment_size = max(segment_size, -(-size // most))
        segment_size = max(segment_size, int(slo.get("min_segment_size", 1)))
    max_object = int(caps.get("swift", {}).get("max_file_size", 5 * 2**30))
    segment_size = min(segment_size, max_object)
    seg_container = options.segment_container or f"{container}_segments"
    prefix = segment_prefix(name, stat, segment_size, "slo" if slo else "dlo")
    await store.create_container(seg_container)
    existing: dict[str, tuple[int, str | None]] = {}
    if options.resume:
        async for entry in store.objects(seg_container, prefix=prefix):
            existing[entry.name] = (entry.bytes, entry.hash)
    count = -(-size // segment_size)
    etags: list[str] = [""] * count
    reused = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        nonlocal reused
        while not queue.empty():
            index = queue.get_nowait()
            offset = index * segment_size
            length = min(segment_size, size - offset)
            seg_name = f"{prefix}{index:08d}"
            have = existing.get(seg_name)
            if have and have[0] == length and have[1]:
                local = await asyncio.to_thread(file_range_md5, path, offset, length)
                if local == have[1]:
                    etags[index] = local
                    reused += 1
                    progress.advance(name, length)
                    continue
            etags[index] = await _put_range(store, seg_container, seg_name, fd, offset, length,
                                            options, progress, name, {})

    workers = [asyncio.create_task(worker()) for _ in range(min(options.concurrency, count))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    expected = hashlib.md5("".join(etags).encode(), usedforsecurity=False).hexdigest()
    if slo:
        manifest = [{"path": object_path(seg_container, f"{prefix}{i:08d}"), "etag": etags[i],
                     "size_bytes": min(segment_size, size - i * segment_size)}
                    for i in range(count)]
        stored = await store.put(container, name, json.dumps(manifest).encode(),
                                 headers={**headers, "Content-Type": headers.get(
                                     "Content-Type", "application/octet-stream")},
                                 params={"multipart-manifest": "put"},
                                 etag=expected if options.checksum else None)
    else:
        await store.put(container, name, b"", headers={
            **headers, "X-Object-Manifest": object_path(seg_container, prefix)[1:]})
        stored = unquote_etag((await store.head(container, name)).get("Etag")) or ""
    if options.checksum and stored != expected:
        raise ChecksumMismatch(f"{container}/{name}: manifest ETag {stored}, expected "
                               f"{expected} from the segments' ETags")
    if not options.leave_segments:
        await _delete_stale_segments(store, seg_container, name, prefix)
    return UploadResult(container, name, size, stored, count, reused)


async def _delete_stale_segments(store: ObjectStore, seg_container: str, name: str,
                                 keep_prefix: str) -> None:
    """Segments of earlier versions of this object (other mtime, size or segment size)."""
    stale = []
    async for entry in store.objects(seg_container, prefix=f"{name}/"):
        rest = entry.name[len(name) + 1:]
        if rest.startswith(("slo/", "dlo/")) and not entry.name.startswith(keep_prefix):
            stale.append((seg_container, entry.name))
    if stale:
        await store.bulk_delete(stale)


# -- downloads -------------------------------------------------------------------------------

@dataclass
class _Piece:
    index: int
    offset: int
    length: int
    md5: str | None


@dataclass
class _State:
    """What a `.part` file holds so far, kept beside it so a re-run fetches only the rest."""

    etag: str | None
    last_modified: str | None
    size: int
    pieces: int
    done: set[int] = field(default_factory=set)

    def matches(self, other: _State) -> bool:
        return (self.etag, self.last_modified, self.size, self.pieces) == (
            other.etag, other.last_modified, other.size, other.pieces)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"etag": self.etag, "last_modified": self.last_modified,
                                   "size": self.size, "pieces": self.pieces,
                                   "done": sorted(self.done)}))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> _State | None:
        try:
            doc = json.loads(path.read_text())
            return cls(doc["etag"], doc["last_modified"], int(doc["size"]), int(doc["pieces"]),
                       set(doc["done"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


async def _slo_pieces(store: ObjectStore, container: str, name: str, size: int,
                      ) -> list[_Piece] | None:
    """One piece per segment, each with the MD5 to check it against; None for manifests
    whose segments are themselves manifests or ranges (checked by size only then)."""
    _, body = await store.get(container, name, params={"multipart-manifest": "get"})
    try:
        rows = json.loads(body)
    except ValueError:
        return None
    pieces, offset = [], 0
    for index, row in enumerate(rows):
        if row.get("sub_slo") or row.get("range") or "data" in row:
            return None
        pieces.append(_Piece(index, offset, int(row["bytes"]), row.get("hash")))
        offset += int(row["bytes"])
    return pieces if offset == size else None


async def download_object(store: ObjectStore, container: str, name: str, path: str | Path, *,
                          options: TransferOptions | None = None,
                          progress: Progress | None = None,
                          listed_size: int | None = None) -> DownloadResult:
    """Download to `path` through `path.part`, renamed only once every byte is verified.
    `listed_size` (what a listing said) sends an object above `piece_size` straight to
    ranges; otherwise the first GET is dropped once its length shows a large object (which
    the server logs as a response cut short)."""
    options = options or TransferOptions()
    progress = progress or NoProgress()
    path = Path(path)
    part = path.with_name(path.name + ".part")
    state_path = path.with_name(path.name + ".part.json")
    known_large = listed_size is not None and listed_size > options.piece_size
    if not (known_large or (options.resume and state_path.exists())):
        whole = await _download_whole(store, container, name, path, part, options, progress)
        if whole is not None:
            return whole
    head = await store.head(container, name)
    size = int(head.get("Content-Length", 0))
    etag = unquote_etag(head.get("Etag"))
    is_slo = head.get("X-Static-Large-Object", "").lower() == "true"
    is_dlo = "X-Object-Manifest" in head
    pieces: list[_Piece] | None = None
    if is_slo and size > options.piece_size:
        pieces = await _slo_pieces(store, container, name, size)
    if pieces is None:
        step = size if size <= options.piece_size else options.piece_size
        pieces = [_Piece(i, off, min(step, size - off), None)
                  for i, off in enumerate(range(0, size, step or 1))] or [_Piece(0, 0, 0, None)]
        if len(pieces) == 1 and not (is_slo or is_dlo):
            pieces[0].md5 = etag
    state = _State(etag, head.get("Last-Modified"), size, len(pieces))
    whole_check = bool(options.checksum and len(pieces) > 1 and not (is_slo or is_dlo)
                       and etag and len(etag) == 32)
    # Pieces a checksum covers are not flushed before the state file names them (a flush
    # per piece made a large download wait on the disk): after a kill the page cache still
    # holds them, and after a power cut a reused piece is checked again below or the whole
    # file's MD5 catches it. Pieces nothing checks are flushed first.
    flush = len(pieces) > 1 and not (whole_check or (options.checksum
                                                     and all(p.md5 for p in pieces)))
    if options.resume and part.exists():
        saved = _State.load(state_path)
        if saved and saved.matches(state):
            state.done = await _still_whole(part, pieces, saved.done, options.checksum)
    if not state.done:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    progress.start(name, size)
    # the whole-file check reads the file back: from the page cache, so not around it
    target = _Target(part, size, direct=options.direct_io and not whole_check)
    try:
        reused = len(state.done)
        progress.advance(name, sum(p.length for p in pieces if p.index in state.done))
        todo: asyncio.Queue[_Piece] = asyncio.Queue()
        for piece in pieces:
            if piece.index not in state.done:
                todo.put_nowait(piece)
        conditions = {"If-Match": f'"{etag}"'} if etag and not is_dlo else {}

        async def worker() -> None:
            while not todo.empty():
                piece = todo.get_nowait()
                await _fetch_piece(store, container, name, target, piece, len(pieces) > 1,
                                   conditions, options, progress)
                state.done.add(piece.index)
                if flush:  # the piece is on disk before the state file says so
                    await asyncio.to_thread(os.fdatasync, target.fd)
                if len(pieces) > 1:
                    state.save(state_path)

        workers = [asyncio.create_task(worker())
                   for _ in range(max(1, min(options.concurrency, todo.qsize())))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        if whole_check:
            md5 = await asyncio.to_thread(file_range_md5, part, 0, size)
            if md5 != etag:
                state_path.unlink(missing_ok=True)
                raise ChecksumMismatch(f"{container}/{name}: downloaded MD5 {md5}, "
                                       f"ETag {etag}")
    finally:
        target.close()
        progress.finish(name)
    os.replace(part, path)
    state_path.unlink(missing_ok=True)
    _set_mtime(path, head)
    return DownloadResult(container, name, path, size, etag, len(pieces), reused)


async def _still_whole(part: Path, pieces: Sequence[_Piece], done: set[int],
                       checksum: bool) -> set[int]:
    """The pieces a resumed download may reuse: those whose MD5 is known are read back and
    kept only if they still match (their bytes may not have reached the disk before a
    power cut; reading them costs only on a resume)."""
    if not checksum:
        return done
    kept = set()
    for piece in pieces:
        if piece.index in done and (piece.md5 is None or await asyncio.to_thread(
                file_range_md5, part, piece.offset, piece.length) == piece.md5):
            kept.add(piece.index)
    return kept


def _set_mtime(path: Path, headers: Mapping[str, str]) -> None:
    """The file's modification time as uploaded (`X-Object-Meta-Mtime`, swift's and
    rclone's convention), so sync compares like with like."""
    mtime = headers.get("X-Object-Meta-Mtime")
    if mtime:
        with contextlib.suppress(ValueError, OSError):
            os.utime(path, (float(mtime), float(mtime)))


async def _download_whole(store: ObjectStore, container: str, name: str, path: Path,
                          part: Path, options: TransferOptions, progress: Progress,
                          ) -> DownloadResult | None:
    """One GET for an object that fits in one piece (most objects: no HEAD first); None,
    with the connection dropped unread, for a larger one, which then goes as ranges.
    Not fsynced: the object is still in the store if the machine loses the file."""
    for attempt in range(options.piece_attempts):
        received = 0
        try:
            async with store.open(container, name) as response:
                headers = response.headers
                length = response.content_length
                if length is not None and length > options.piece_size:
                    return None
                etag = unquote_etag(headers.get("Etag"))
                manifest = "X-Object-Manifest" in headers or headers.get(
                    "X-Static-Large-Object", "").lower() == "true"
                digest = hashlib.md5(usedforsecurity=False)
                if attempt == 0:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    progress.start(name, length)
                with open(part, "wb") as out:
                    async for data in response.content.iter_chunked(options.chunk_size):
                        out.write(data)
                        digest.update(data)
                        received += len(data)
                        progress.advance(name, len(data))
            complete = length is None or received == length
            intact = not (options.checksum and etag and len(etag) == 32 and not manifest
                          and digest.hexdigest() != etag)
            if complete and intact:
                os.replace(part, path)
                _set_mtime(path, headers)
                progress.finish(name)
                return DownloadResult(container, name, path, received, etag, 1)
            problem = (f"got {received} of {length} bytes" if not complete else
                       f"downloaded MD5 {digest.hexdigest()}, ETag {etag}")
            error: ClientError = ChecksumMismatch(f"{container}/{name}: {problem}")
        except (aiohttp.ClientPayloadError, aiohttp.ClientOSError, TimeoutError) as exc:
            error = ConnectionFailed("GET", f"{container}/{name}", str(exc))
        progress.advance(name, -received)
        part.unlink(missing_ok=True)
        if attempt + 1 == options.piece_attempts:
            progress.finish(name)
            raise error
        await asyncio.sleep(store.session.transport.retry.delay(attempt))
    raise AssertionError("unreachable")


async def _fetch_piece(store: ObjectStore, container: str, name: str, target: _Target,
                       piece: _Piece, ranged: bool, conditions: dict[str, str],
                       options: TransferOptions, progress: Progress) -> None:
    """GET one piece into place. A connection dropped in the middle continues from the byte
    it reached; a piece whose MD5 (where known) does not match is fetched again, and
    reported if it still does not."""
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    for attempt in range(options.piece_attempts):
        headers = dict(conditions)
        if ranged or received:
            headers["Range"] = f"bytes={piece.offset + received}-{piece.offset + piece.length - 1}"
        try:
            if piece.length:
                async with store.open(container, name, headers=headers) as response:
                    writer = _PieceWriter(target, piece.offset + received, digest)
                    cut: BaseException | None = None
                    try:
                        async for data in response.content.iter_any():
                            placed = await writer.add(data)
                            if placed:
                                received += placed
                                progress.advance(name, placed)
                    except (aiohttp.ClientPayloadError, aiohttp.ClientOSError,
                            TimeoutError) as exc:
                        cut = exc
                    # also what came before a cut: the retry continues after it
                    placed = await asyncio.to_thread(writer.flush)
                    received += placed
                    progress.advance(name, placed)
                    if cut is not None:
                        raise cut
            if received < piece.length:
                raise aiohttp.ClientPayloadError("the connection closed before the range ended")
        except (aiohttp.ClientPayloadError, aiohttp.ClientOSError, TimeoutError,
                ConnectionFailed) as exc:
            if attempt + 1 == options.piece_attempts:
                raise ConnectionFailed("GET", f"{container}/{name}", str(exc)) from exc
            await asyncio.sleep(store.session.transport.retry.delay(attempt))
            continue
        if received != piece.length or (options.checksum and piece.md5
                                         and digest.hexdigest() != piece.md5):
            progress.advance(name, -received)
            problem = (f"got {received} bytes of a {piece.length}-byte range"
                       if received != piece.length else
                       f"bytes {piece.offset}-{piece.offset + piece.length - 1} have MD5 "
                       f"{digest.hexdigest()}, expected {piece.md5}")
            if attempt + 1 == options.piece_attempts:
                raise ChecksumMismatch(f"{container}/{name}: {problem}")
            digest, received = hashlib.md5(usedforsecurity=False), 0
            continue
        return
