"""Blobs as files on a local (or shared POSIX) filesystem.

Layout: `<root>/objects/<id[0:2]>/<id[2:4]>/<id>`, temp files in `<root>/tmp` on the same
filesystem so the final rename is atomic; blobs found corrupt are moved (never deleted) to
`<root>/quarantined/objects/<id>`, with `<id>.json` beside each saying what it was and why.
The write sequence, and why each step is where it is:

1. stream into a temp file, hashing as we go (large bodies in worker threads, written with
   O_DIRECT, see LocalBlobWriter) - nothing is visible under an object name;
2. `finish()` returns the MD5; the caller checks length and ETag, then `commit()`;
3. rename into place under the blob's id - atomic; nothing refers to that name until the
   row of step 5, and readers find blobs only through rows, so no reader can see it yet;
4. fsync the file, then the directory - the bytes and the name survive power loss. Renaming
   first lets the file's fsync carry the rename too on XFS and ext4 (the rename logs the
   inode, and one log force covers both), so the directory's fsync, kept for every other
   filesystem, finds nothing left to do: a small PUT waits for one journal flush, not two;
5. only then does the caller commit the metadata row, and only after that delete the blob the
   row replaced. A crash anywhere leaves at worst an unreferenced blob, which the sweeper
   reclaims; never a row that points at missing or partial data.

Before any of it, the store's start fsyncs the directories above `objects/` that gained a name,
so none of those names can be lost either. `tests/test_power_cut.py` replays this sequence
against a model of the disk that keeps only what was fsynced (docs/reliability.md, "Power cut").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import mmap
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from strato.stores.blob.base import BlobNotFound, BlobReader, BlobStore, BlobWriter

READ_CHUNK = 256 * 1024
LARGE_BYTES = 1 << 20  # a body this big streams through aligned buffers and worker threads
INLINE_BYTES = 64 << 10  # a smaller body up to this size is hashed and written on the loop
BUFFER_BYTES = 2 << 20  # one aligned buffer of a large body (two per upload)
ALIGN = 4096  # O_DIRECT wants the buffer's address, the file offset and the length aligned
SYNC_BYTES = 32 << 20  # without O_DIRECT, written back this often, in the background
O_DIRECT = getattr(os, "O_DIRECT", 0)
LABEL_FILE = "storage-policy"
QUARANTINE_DIR = "quarantined/objects"
"""Under the store's root: blobs taken out of service, by id (Swift's
`<device>/quarantined/objects/`)."""


class BlobStoreMismatch(Exception):
    """The directory belongs to another user of blob stores."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _valid_id(blob_id: str) -> bool:
    return len(blob_id) == 32 and all(c in "0123456789abcdef" for c in blob_id)


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _set_direct(fd: int, on: bool) -> bool:
    """Switch O_DIRECT on or off for `fd`; whether it is on now (some filesystems refuse)."""
    if not O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT if on else flags & ~O_DIRECT)
    except OSError:
        return False
    return on


class LocalBlobWriter(BlobWriter):
    """A small body is gathered on the event loop and hashed and written at the end: a thread
    hop would cost more than the work. A large one streams through two page-aligned buffers:
    while worker threads hash one and write it (each releases the GIL, so both cores work),
    the loop fills the other, so memory stays at two buffers whatever the size.

    With fsync on, large bodies are written with O_DIRECT: straight from the buffer to the
    disk, without the copy into the page cache (the disk takes direct writes faster, too).
    Where the filesystem refuses it, the same buffers go through the page cache, and an
    fdatasync every SYNC_BYTES, in another thread while the stream goes on, writes the dirty
    pages back as Swift's mb_per_sync does, so the final fsync waits for little, not the
    whole object. (With O_DIRECT, periodic syncs only slowed the writes down, measured.)"""

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self.blob_id = secrets.token_hex(16)
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._tmp = store.tmp_dir / f"{self.blob_id}.tmp"
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # live: sweep_temp leaves it alone
        self._small: list[bytes] = []  # the body while it is small
        self._buffers: list[mmap.mmap] | None = None  # [filling, spare] once it is large
        self._filled = 0
        self._inflight: asyncio.Future[Any] | None = None
        self._sync: asyncio.Future[None] | None = None  # the write-back in progress
        self._direct = False
        self._unsynced = 0

    async def write(self, chunk: bytes) -> None:
        assert self._fd is not None, "writer closed"
        self.size += len(chunk)
        if self._buffers is not None:
            await self._fill(chunk)
            return
        self._small.append(chunk)
        if self.size >= LARGE_BYTES:
            self._buffers = [mmap.mmap(-1, BUFFER_BYTES), mmap.mmap(-1, BUFFER_BYTES)]
            self._direct = self._store.fsync and _set_direct(self._fd, True)
            small, self._small = self._small, []
            for piece in small:
                await self._fill(piece)

    async def _fill(self, chunk: bytes) -> None:
        assert self._buffers is not None
        view = memoryview(chunk)
        while view:
            taken = min(BUFFER_BYTES - self._filled, len(view))
            self._buffers[0][self._filled:self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == BUFFER_BYTES:
                await self._hand_off()

    async def _hand_off(self) -> None:
        assert self._buffers is not None
        await self._drain()  # one buffer in the threads at a time: memory stays bounded
        full, spare = self._buffers
        self._buffers = [spare, full]
        data, self._filled = memoryview(full)[:self._filled], 0
        loop = asyncio.get_running_loop()
        if (self._store.fsync and not self._direct and self._unsynced >= SYNC_BYTES
                and self._sync_done()):
            fd = self._fd
            assert fd is not None  # the file is open while data is handed off
            self._sync = loop.run_in_executor(None, os.fdatasync, fd)
            self._unsynced = 0
        # every future is waited for, even after an error
        self._inflight = asyncio.gather(loop.run_in_executor(None, self._md5.update, data),
                                        loop.run_in_executor(None, self._write_large, data),
                                        return_exceptions=True)

    async def _drain(self) -> None:
        if self._inflight is not None:
            # shielded, and forgotten only once done: if the request is cancelled meanwhile,
            # abort() still sees the threads at work and closes the file after them
            outcomes = await asyncio.shield(self._inflight)
            self._inflight = None
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome

    def _sync_done(self) -> bool:
        """No write-back in progress (raises the last one's error, if it failed)."""
        if self._sync is None:
            return True
        if not self._sync.done():
            return False
        sync, self._sync = self._sync, None
        sync.result()
        return True

    def _write_large(self, data: memoryview) -> None:
        assert self._fd is not None, "writer closed"
        if self._direct:
            aligned = len(data) - len(data) % ALIGN
            try:
                _write_all(self._fd, data[:aligned])
                data = data[aligned:]
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                # the device wants another alignment: all of it through the page cache
            if data:  # the unaligned end of the body (or all of it, after EINVAL)
                self._direct = _set_direct(self._fd, False)
        if data:
            _write_all(self._fd, data)
            self._unsynced += len(data)

    def _write_small(self, chunks: list[bytes]) -> None:
        assert self._fd is not None, "writer closed"
        for chunk in chunks:
            self._md5.update(chunk)
            _write_all(self._fd, chunk)

    async def finish(self) -> str:
        if self._buffers is None:
            small, self._small = self._small, []
            if self.size > INLINE_BYTES:
                await asyncio.to_thread(self._write_small, small)
            else:
                self._write_small(small)
        else:
            if self._filled:
                await self._hand_off()
            await self._drain()
            self._buffers = None
            if self._sync is not None:
                await asyncio.shield(self._sync)  # shielded: see _drain
                self._sync_done()
        return self._md5.hexdigest()

    async def commit(self) -> None:
        assert self._fd is not None, "writer closed"
        assert self._inflight is None and self._sync is None and not self._small, \
            "finish() first"
        fd, self._fd = self._fd, None
        await asyncio.to_thread(self._commit, fd)

    def _commit(self, fd: int) -> None:
        """Steps 3 and 4 of the write sequence (module docstring)."""
        final = self._store.path_for(self.blob_id)
        try:
            self._store.ensure_dir(final.parent)
            os.rename(self._tmp, final)
            if self._store.fsync:
                try:
                    os.fsync(fd)
                except BaseException:
                    final.unlink(missing_ok=True)  # not durable: never leave it in place
                    raise
        finally:
            os.close(fd)
        if self._store.fsync:
            _fsync_dir(final.parent)

    async def abort(self) -> None:
        self._small = []
        busy = [f for f in (self._inflight, self._sync) if f is not None and not f.done()]
        self._inflight = self._sync = None
        if not busy:
            self._discard()
        else:
            # threads may still use the file: drop it once they are done, without waiting
            # here (abort also runs while the request is being cancelled)
            asyncio.gather(*busy, return_exceptions=True).add_done_callback(self._discard)

    def _discard(self, done: asyncio.Future[Any] | None = None) -> None:
        self._buffers = None  # unmapped once the threads' views of them are gone
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class LocalBlobReader(BlobReader):
    def __init__(self, path: str) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(os.path.basename(path)) from exc
        self.size = os.fstat(self._fd).st_size

    async def iter_range(self, start: int, end: int) -> AsyncIterator[bytes]:
        pos = start
        while pos < end:
            assert self._fd is not None, "reader closed"
            chunk = os.pread(self._fd, min(READ_CHUNK, end - pos), pos)
            if not chunk:
                raise OSError(f"blob truncated at {pos} of {end}")
            pos += len(chunk)
            yield chunk

    def fileno(self) -> int | None:
        return self._fd

    def probe(self, offset: int) -> None:
        if offset < self.size:
            assert self._fd is not None, "reader closed"
            os.pread(self._fd, 1, offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LocalBlobStore(BlobStore):
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self._objects = str(self.objects_dir)
        self.tmp_dir = root / "tmp"
        self.fsync = fsync
        existing = root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        if fsync:
            # The names `objects/`, the root's and those of any directories made above it
            # (`policies/<name>/`) must survive a power cut too: each write fsyncs the
            # directories it makes under objects/, not above, so without this a cut after
            # the first acknowledged PUT into a fresh store could lose every blob
            # (tests/test_power_cut.py found it). The root's parent always: the data
            # directory itself may have just been made, unsynced, by `strato init`.
            last = existing if existing != root else root.parent
            path = root
            _fsync_dir(path)
            while path != last and path != path.parent:
                path = path.parent
                # above the root, a directory we may not read (a home directory with mode
                # 711) cannot be opened to be fsynced; it existed before, so that is for the
                # operator's setup, not a reason to refuse to start
                with contextlib.suppress(PermissionError):
                    _fsync_dir(path)

    def claim(self, label: str, accepted: Sequence[str]) -> None:
        """Label the root with who uses it (a storage policy's name) on first use, and refuse
        a root labelled for someone else: a changed directory or default policy would
        otherwise look for blobs in the wrong place. `accepted`: the names that may match."""
        path = self.root / LABEL_FILE
        if not path.exists():
            tmp = self.tmp_dir / f"{LABEL_FILE}.{os.getpid()}"
            tmp.write_text(label + "\n")
            try:
                os.link(tmp, path)  # appears whole or not at all, even if several start at once
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        owner = path.read_text().strip()
        if owner.lower() not in {name.lower() for name in accepted}:
            raise BlobStoreMismatch(f"{self.root} holds the blobs of {owner!r}, not of "
                                    f"{label!r} (see {path})")

    def check_writable(self) -> str | None:
        """The directories a write goes through must be writable, and a file must be
        creatable where uploads start (which a full inode table or a read-only remount
        refuses even when the permissions look right)."""
        for path in (self.root, self.objects_dir, self.tmp_dir):
            if not os.access(path, os.W_OK | os.X_OK):
                return f"directory {path.name or path} is not writable by this process"
        probe = self.tmp_dir / f"ready-{os.getpid()}-{secrets.token_hex(8)}.tmp"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            return f"cannot create a file in {self.tmp_dir.name}/ ({exc.strerror})"
        with contextlib.suppress(OSError):
            os.unlink(probe)
        return None

    @property
    def quarantine_dir(self) -> Path:
        return self.root / QUARANTINE_DIR

    def quarantine(self, blob_id: str, details: dict[str, object] | None = None) -> str | None:
        """Rename the blob into the quarantine directory (same filesystem: atomic, so from
        then on no reader opens it; a GET that opened it before keeps its descriptor). The
        details go first, so a quarantined blob always has them; the caller then removes the
        object's row (`StorageService.quarantine_object`), which a crash in between leaves to
        the auditor's next pass. Returns the new path, or None if the blob was already gone
        (deleted by an overwrite, or quarantined by another process)."""
        source = self._file(blob_id)
        target = self.quarantine_dir / blob_id
        note = self.quarantine_dir / f"{blob_id}.json"
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        note.write_text(json.dumps({"blob_id": blob_id, **(details or {})}, default=str))
        try:
            os.rename(source, target)
        except FileNotFoundError:
            note.unlink(missing_ok=True)
            return None
        # no fsync: it is the row's removal that takes the object out of service; a move
        # lost at a power cut leaves the blob in objects/, where a read or the auditor meets
        # it again (if its row is back) or the sweep removes it (if not). And a failing disk
        # is best written to as little as possible.
        return str(target)

    def quarantined(self) -> Iterator[tuple[str, dict[str, object]]]:
        if not self.quarantine_dir.is_dir():
            return
        for entry in sorted(os.scandir(self.quarantine_dir), key=lambda e: e.name):
            if not _valid_id(entry.name):
                continue
            try:
                details = json.loads((self.quarantine_dir / f"{entry.name}.json").read_text())
            except (OSError, ValueError):
                details = {}
            if not isinstance(details, dict):
                details = {}
            details.setdefault("blob_id", entry.name)
            with contextlib.suppress(OSError):
                details.setdefault("size", entry.stat().st_size)
            yield entry.name, details

    def disk_usage(self) -> tuple[int, int]:
        disk = os.statvfs(self.root)
        return disk.f_bavail * disk.f_frsize, disk.f_blocks * disk.f_frsize

    def path_for(self, blob_id: str) -> Path:
        return Path(self._file(blob_id))

    def _file(self, blob_id: str) -> str:
        """The blob's file as a plain string: every GET opens one, and pathlib's joins cost
        more than the open itself."""
        if not _valid_id(blob_id):  # ids come from us; refuse anything that could escape root
            raise BlobNotFound(blob_id)
        return f"{self._objects}/{blob_id[0:2]}/{blob_id[2:4]}/{blob_id}"

    def ensure_dir(self, path: Path) -> None:
        if path.is_dir():
            return
        path.mkdir(parents=True, exist_ok=True)
        if self.fsync:  # the new directory entries must survive too
            _fsync_dir(path.parent)
            _fsync_dir(path.parent.parent)

    def writer(self) -> LocalBlobWriter:
        return LocalBlobWriter(self)

    def open(self, blob_id: str) -> LocalBlobReader:
        return LocalBlobReader(self._file(blob_id))

    async def copy(self, blob_id: str, source: BlobStore | None = None) -> str:
        origin = self if source is None else source
        if not isinstance(origin, LocalBlobStore):
            raise TypeError("a local blob store copies from local blob stores only")
        return await asyncio.to_thread(self._link, origin.path_for(blob_id))

    def _link(self, source: Path) -> str:
        """A hard link: blobs are immutable, so sharing the inode is a safe, instant copy.
        Across filesystems (another policy's disk) the bytes are copied instead."""
        new_id = secrets.token_hex(16)
        target = self.path_for(new_id)
        self.ensure_dir(target.parent)
        try:
            os.link(source, target)
        except FileNotFoundError as exc:
            raise BlobNotFound(source.name) from exc
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy_file(source, new_id)
        else:
            # The link shares the source's old mtime; refresh it so the orphan sweep's age
            # check does not take the new, not yet referenced blob for an old orphan.
            os.utime(target)
        if self.fsync:
            _fsync_dir(target.parent)
        return new_id

    def _copy_file(self, source: Path, new_id: str) -> None:
        """The write sequence above, fed from another file in chunks instead of a client."""
        tmp = self.tmp_dir / f"{new_id}.tmp"
        try:
            with open(source, "rb") as src, open(tmp, "xb") as dst:
                fcntl.flock(dst.fileno(), fcntl.LOCK_EX)  # live: sweep_temp leaves it alone
                shutil.copyfileobj(src, dst, READ_CHUNK)
                if self.fsync:
                    os.fsync(dst.fileno())
            os.rename(tmp, self.path_for(new_id))
        except FileNotFoundError as exc:
            raise BlobNotFound(source.name) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    async def delete(self, blob_id: str) -> None:
        # off the event loop: an unlink waits on the filesystem journal, which concurrent
        # fsyncs keep busy, and would stall every other request of this worker meanwhile
        await asyncio.to_thread(self._unlink, blob_id)

    def _unlink(self, blob_id: str) -> None:
        with contextlib.suppress(FileNotFoundError, BlobNotFound):
            os.unlink(self.path_for(blob_id))

    def iter_blobs(self, older_than: float) -> Iterator[str]:
        for level1 in sorted(self.objects_dir.iterdir()):
            if not level1.is_dir():
                continue
            for level2 in sorted(level1.iterdir()):
                for entry in os.scandir(level2):
                    if _valid_id(entry.name) and entry.stat().st_mtime < older_than:
                        yield entry.name

    def sweep_temp(self, older_than: float) -> int:
        """Remove temp files last written before `older_than` that no live writer holds.

        Every writer holds an exclusive flock on its temp file from the moment it creates
        it, so a file whose lock can be taken belongs to a process that died mid-write (a
        SIGKILL, a power cut). At start (`prepare_storage` in `strato serve`, before any
        worker runs) that reclaims at once what a killed server left; the background sweep
        does the same after its age guard. Other entries (directories) are left alone."""
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            try:
                if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime >= older_than:
                    continue
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            except (FileNotFoundError, IsADirectoryError):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer, in another process
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
            finally:
                os.close(fd)
        return removed


