"""Power cut (issue 14): the durable write sequence checked where a SIGKILL cannot see it.

A SIGKILL leaves the page cache alone: everything written reaches the disk sooner or later,
so the crash loop (`tests/test_crash_loop.py`) cannot tell an fsync that is missing from one
that is there. A power cut loses what was not made durable. This test runs the real
storage service in-process (real `LocalBlobStore` with fsync on, real `SqliteMetadataStore`)
through a fixed sequence of writes, while a recording layer (the `os` functions wrapped for
the test only: nothing in `src/` knows about it) models what the disk holds:

- a file's bytes are durable as they were when `fsync`/`fdatasync` of it began;
- a directory's entries (create, mkdir, rename, link, unlink) are durable as they were when
  `fsync` of that directory began;
- a metadata commit is durable when COMMIT returns (SQLite's promise with
  `synchronous=FULL`, which the test checks is set): the database and its WAL are copied
  before and after every transaction.

After every recorded operation, and when each write is acknowledged, a power cut is
simulated: the disk's state is rebuilt in a fresh directory, under two extremes:

- `strict`: only what was fsynced survives (names and bytes);
- `names`: every name change survives (as a journaling filesystem may commit a rename before
  the data: ext4's data=writeback, or delayed allocation), but bytes only as fsynced;

and for every metadata commit in flight, the WAL torn: subsets of its new 512-byte sectors
written, the others old (SQLite must recover the commit whole or not at all).

Each image is opened with the real stores, as a restart would, and must show: the database
passes `PRAGMA integrity_check`; every write acknowledged before the cut reads back with its
ETag (MD5 of the bytes read); the write in flight is there whole or not at all; no name that
was not written appears; counters equal the listing; after the orphan sweep every blob file
left is referenced by a row and no temp file is left.

SQLite only: with PostgreSQL, durability of a commit is PostgreSQL's (its WAL and
`fsync`/`synchronous_commit`), not Strato's; the blob side is the same code either way.
Deterministic (a fixed seed for the torn sectors; blob ids are random but the sequence of
operations is not) and bounded: a few hundred images, well under a minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strato.domain.policies import PolicySet, StoragePolicy
from strato.domain.storage import EtagMismatch, StorageService
from strato.stores.blob.local import LocalBlobStore
from strato.stores.metadata.records import ContainerRecord, ListingQuery, ObjectRecord
from strato.stores.metadata.sqlite import SqliteMetadataStore
from strato.stores.metadata.sqlite.db import Database

ACCOUNT, CONTAINER = "AUTH_power", "c"
BLOB_ROOT = "policies/gold"
"""Under the modelled disk's top, made by the store's first start (as a second policy's is)."""
SECTOR = 512
SEED = 14
MODES = ("strict", "names")

# ---- the model of the disk ------------------------------------------------------------------


@dataclass(eq=False)
class Node:
    """An inode: a file's bytes (in the page cache, and as last fsynced), or a directory's
    entries (current, and as last fsynced)."""

    is_dir: bool
    data: bytearray = field(default_factory=bytearray)
    synced: bytes = b""
    entries: dict[str, Node] = field(default_factory=dict)
    synced_entries: dict[str, Node] = field(default_factory=dict)


Image = tuple[tuple[str, bytes | None], ...]
"""A disk's state: (relative path, bytes, or None for a directory), sorted."""
MetaFiles = tuple[bytes, bytes]
"""metadata.db and metadata.db-wal as they are on disk."""


@dataclass(frozen=True)
class Point:
    """A moment a power cut may strike: the disk under each mode, the metadata files, how
    many steps were acknowledged, whether the next is in flight, and what happened last."""

    step: int
    in_flight: bool
    last: str
    images: dict[str, Image]
    meta: MetaFiles


class Recorder:
    """Wraps the `os` functions the blob store calls (only for paths under `root`, the
    modelled disk) and `Database._transaction`, and keeps a Point after each operation."""

    def __init__(self, root: Path, db_path: Path) -> None:
        self.root = str(root)
        self.db_path = db_path
        self.disk = Node(is_dir=True)  # the modelled disk's top: there, and durable
        self.fds: dict[int, Node] = {}
        self.lock = threading.RLock()
        self.points: list[Point] = []
        self.torn: list[Point] = []
        self.meta: MetaFiles = self.meta_files()
        self.step = 0
        self.in_flight = False
        self.rng = random.Random(SEED)
        self.operations: dict[str, int] = {}

    # -- the model --
    def meta_files(self) -> MetaFiles:
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        return self.db_path.read_bytes(), wal.read_bytes() if wal.exists() else b""

    def locate(self, path: Any) -> tuple[Node, str] | None:
        """The directory holding `path` and its name there, or None outside the disk."""
        text = os.fsdecode(os.fspath(path))
        if not os.path.isabs(text):
            text = os.path.abspath(text)
        rel = os.path.relpath(text, self.root)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None
        parts = [] if rel == "." else rel.split(os.sep)
        node = self.disk
        if not parts:
            return self.disk, ""
        for part in parts[:-1]:
            node = node.entries[part]
        return node, parts[-1]

    def node(self, path: Any) -> Node | None:
        where = self.locate(path)
        if where is None:
            return None
        parent, name = where
        return parent if not name else parent.entries.get(name)

    def image(self, mode: str) -> Image:
        out: list[tuple[str, bytes | None]] = []

        def walk(node: Node, prefix: str) -> None:
            entries = node.synced_entries if mode == "strict" else node.entries
            for name, child in entries.items():
                path = f"{prefix}{name}"
                if child.is_dir:
                    out.append((path, None))
                    walk(child, path + "/")
                else:
                    out.append((path, child.synced))

        walk(self.disk, "")
        return tuple(sorted(out, key=lambda item: item[0]))

    def point(self, last: str) -> None:
        with self.lock:
            self.operations[last.split()[0]] = self.operations.get(last.split()[0], 0) + 1
            self.points.append(Point(self.step, self.in_flight, last,
                                     {mode: self.image(mode) for mode in MODES}, self.meta))

    # -- the wrapped calls --
    @contextmanager
    def recording(self) -> Iterator[None]:
        real = {name: getattr(os, name) for name in
                ("open", "close", "write", "fsync", "fdatasync", "rename", "unlink", "link",
                 "mkdir", "rmdir")}
        transaction = Database._transaction

        def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None
                  ) -> int:
            fd: int = real["open"](path, flags, mode, dir_fd=dir_fd)
            where = self.locate(path) if dir_fd is None else None
            if where is not None:
                with self.lock:
                    parent, name = where
                    node = parent if not name else parent.entries.get(name)
                    if node is None:
                        node = parent.entries[name] = Node(is_dir=False)
                        self.fds[fd] = node
                        self.point(f"create {name}")
                    self.fds[fd] = node
            return fd

        def close(fd: int) -> None:
            with self.lock:
                self.fds.pop(fd, None)
            real["close"](fd)

        def write(fd: int, data: Any) -> int:
            done: int = real["write"](fd, data)
            node = self.fds.get(fd)
            if node is not None and done:
                end = os.lseek(fd, 0, os.SEEK_CUR)
                with self.lock:
                    start = end - done
                    if len(node.data) < start:
                        node.data.extend(bytes(start - len(node.data)))
                    node.data[start:end] = bytes(memoryview(data)[:done])
                    self.point(f"write {done} bytes")
            return done

        def sync(name: str) -> Callable[[int], None]:
            def call(fd: int) -> None:
                node = self.fds.get(fd)
                if node is None:
                    real[name](fd)
                    return
                with self.lock:  # what the sync will carry: what was there when it began
                    data, entries = bytes(node.data), dict(node.entries)
                real[name](fd)
                with self.lock:
                    if node.is_dir:
                        node.synced_entries = entries
                        self.point(f"{name} directory")
                    else:
                        node.synced = data
                        self.point(f"{name} file")
            return call

        def rename(src: Any, dst: Any, **kw: Any) -> None:
            real["rename"](src, dst, **kw)
            a, b = self.locate(src), self.locate(dst)
            if a is not None and b is not None:
                with self.lock:
                    b[0].entries[b[1]] = a[0].entries.pop(a[1])
                    self.point("rename")

        def unlink(path: Any, **kw: Any) -> None:
            real["unlink"](path, **kw)
            where = self.locate(path)
            if where is not None:
                with self.lock:
                    where[0].entries.pop(where[1], None)
                    self.point("unlink")

        def link(src: Any, dst: Any, **kw: Any) -> None:
            real["link"](src, dst, **kw)
            a, b = self.locate(src), self.locate(dst)
            if a is not None and b is not None:
                with self.lock:
                    b[0].entries[b[1]] = a[0].entries[a[1]]
                    self.point("link")

        def mkdir(path: Any, mode: int = 0o777, **kw: Any) -> None:
            real["mkdir"](path, mode, **kw)
            where = self.locate(path)
            if where is not None:
                with self.lock:
                    where[0].entries[where[1]] = Node(is_dir=True)
                    self.point("mkdir")

        def rmdir(path: Any, **kw: Any) -> None:
            real["rmdir"](path, **kw)
            where = self.locate(path)
            if where is not None:
                with self.lock:
                    where[0].entries.pop(where[1], None)
                    self.point("rmdir")

        def recorded_transaction(db: Database, batch: list[Any]) -> list[tuple[bool, Any]]:
            assert db.path == self.db_path
            pre = self.meta_files()
            outcome = transaction(db, batch)
            post = self.meta_files()
            with self.lock:
                self.tear(pre, post)
                self.meta = post
                self.point("commit")
            return outcome

        wrapped: dict[str, Any] = {
            "open": open_, "close": close, "write": write, "fsync": sync("fsync"),
            "fdatasync": sync("fdatasync"), "rename": rename, "unlink": unlink, "link": link,
            "mkdir": mkdir, "rmdir": rmdir}
        for name, fn in wrapped.items():
            setattr(os, name, fn)
        Database._transaction = recorded_transaction  # type: ignore[method-assign]
        try:
            yield
        finally:
            for name, fn in real.items():
                setattr(os, name, fn)
            Database._transaction = transaction  # type: ignore[method-assign]

    def tear(self, pre: MetaFiles, post: MetaFiles) -> None:
        """Power cuts during a COMMIT: the WAL with some of the commit's sectors written and
        the rest as they were (the disk writes back pages in any order before the fsync)."""
        images = {mode: self.image(mode) for mode in MODES}
        if pre[0] != post[0]:  # a checkpoint wrote the database file: before or after only
            variants = [pre, post]
        else:
            old, new = pre[1], post[1]
            sectors = [i for i in range(0, len(new), SECTOR)
                       if new[i:i + SECTOR] != old[i:i + SECTOR]]
            half = len(sectors) // 2
            subsets = [[], sectors, sectors[:half], sectors[:-1], sectors[-1:], sectors[::2],
                       sectors[1:]]
            subsets += [sorted(self.rng.sample(sectors, self.rng.randint(0, len(sectors))))
                        for _ in range(3)]
            variants = []
            for subset in subsets:
                wal = bytearray(old)
                for i in subset:
                    if len(wal) < i:
                        wal.extend(bytes(i - len(wal)))
                    wal[i:i + SECTOR] = new[i:i + SECTOR]
                variants.append((pre[0], bytes(wal)))
        for meta in variants:
            self.torn.append(Point(self.step, True, "torn commit", images, meta))


# ---- the sequence of writes -------------------------------------------------------------------


def body_of(size: int, tag: int) -> bytes:
    return hashlib.sha256(str(tag).encode()).digest() * (size // 32) + b"x" * (size % 32)


async def stream(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 64 * 1024):
        yield data[start:start + 64 * 1024]


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


Effect = dict[str, str | None]
"""What a step does when acknowledged: name -> its ETag, or None (deleted/never there)."""
Step = tuple[str, Callable[[StorageService, ContainerRecord], Awaitable[None]], Effect]


def put(name: str, data: bytes, *, etag: str | None = None) -> Step:
    async def run(storage: StorageService, container: ContainerRecord) -> None:
        try:
            await storage.put_object(container, name, stream(data),
                                     content_type="application/octet-stream", meta={},
                                     expected_etag=etag)
        except EtagMismatch:
            assert etag is not None and etag != md5(data)

    refused = etag is not None and etag != md5(data)
    return (f"PUT {name} ({len(data)} bytes{', bad ETag' if refused else ''})", run,
            {} if refused else {name: md5(data)})


def copy(source: str, name: str, etag: str) -> Step:
    async def run(storage: StorageService, container: ContainerRecord) -> None:
        record = await storage.get_object(container, source)
        assert record is not None
        await storage.copy_object(container, record, name, content_type=record.content_type,
                                  meta={})

    return f"COPY {source} to {name}", run, {name: etag}


def delete(name: str) -> Step:
    async def run(storage: StorageService, container: ContainerRecord) -> None:
        await storage.delete_object(container, name)

    return f"DELETE {name}", run, {name: None}


SMALL, SMALL2, LARGE = body_of(10_000, 1), body_of(20_000, 2), body_of(1_600_000, 3)
STEPS: list[Step] = [
    put("small", SMALL),
    put("large", LARGE),  # over LARGE_BYTES: aligned buffers, worker threads, O_DIRECT
    put("small", SMALL2),  # an overwrite: the row moves, then the old blob goes
    copy("large", "copy", md5(LARGE)),  # a hard link, committed as a row of its own
    delete("small"),  # the row goes, then the blob
    put("empty", b""),
    put("refused", SMALL, etag="0" * 32),  # a bad ETag: aborted, nothing may show
    put("small", SMALL),
    delete("copy"),  # the link goes; the original's blob must stay
    *(put(f"many/{i}", body_of(3000 + i, 100 + i)) for i in range(4)),
]
NAMES = sorted({name for _, _, effect in STEPS for name in effect} | {"refused"})


def expected(upto: int) -> dict[str, str | None]:
    """Every name's ETag once steps [0, upto) are acknowledged."""
    state: dict[str, str | None] = dict.fromkeys(NAMES)
    for _, _, effect in STEPS[:upto]:
        state.update(effect)
    return state


def open_stores(disk: Path, db: Path, *, fsync: bool) -> tuple[SqliteMetadataStore,
                                                                StorageService]:
    meta = SqliteMetadataStore(db)
    blobs = LocalBlobStore(disk / BLOB_ROOT, fsync=fsync)
    policies = PolicySet([StoragePolicy("gold", (), True, False, blobs)])
    return meta, StorageService(meta, policies, max_file_size=1 << 30)


async def record_sequence(tmp: Path) -> Recorder:
    disk, db = tmp / "live" / "disk", tmp / "live" / "meta" / "metadata.db"
    disk.mkdir(parents=True)
    meta = SqliteMetadataStore(db)
    await meta.open()  # the schema: created before the sequence, and durable (as at init)
    try:
        await meta.create_container(ACCOUNT, CONTAINER, {}, time.time(), "gold")
        assert meta.db._writer is not None
        assert meta.db._writer.execute("PRAGMA synchronous").fetchone() == (2,), \
            "the model takes a commit as durable when it returns: synchronous=FULL"
    finally:
        await meta.close()
    recorder = Recorder(disk, db)
    with recorder.recording():
        meta, storage = open_stores(disk, db, fsync=True)  # the blob store's first start
        await meta.open()
        try:
            container = await meta.get_container(ACCOUNT, CONTAINER)
            assert container is not None
            for number, (_, run, _) in enumerate(STEPS):
                recorder.step, recorder.in_flight = number, True
                await run(storage, container)
                recorder.step, recorder.in_flight = number + 1, False
                recorder.point("acknowledged")
        finally:
            await meta.close()
    return recorder


# ---- a restart after the cut ------------------------------------------------------------------


def materialise(root: Path, image: Image, meta: MetaFiles) -> tuple[Path, Path]:
    disk, db = root / "disk", root / "meta" / "metadata.db"
    disk.mkdir(parents=True)
    db.parent.mkdir()
    for path, data in image:
        if data is None:
            (disk / path).mkdir()
        else:
            (disk / path).write_bytes(data)
    db.write_bytes(meta[0])
    if meta[1]:
        db.with_name(db.name + "-wal").write_bytes(meta[1])
    return disk, db


async def check_restart(root: Path, point: Point, mode: str) -> tuple[int, int, int]:
    """Open the image as a restarted server would and check everything; returns how many
    objects were read back, and the orphan blobs and temp files the sweep removed."""
    disk, db = materialise(root, point.images[mode], point.meta)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    now = expected(point.step)
    then = expected(point.step + 1)
    meta, storage = open_stores(disk, db, fsync=False)
    await meta.open()
    verified = 0
    try:
        container = await meta.get_container(ACCOUNT, CONTAINER)
        assert container is not None
        listed: list[ObjectRecord] = []
        for entry in await storage.list_objects(container, ListingQuery()):
            assert isinstance(entry, ObjectRecord)
            listed.append(entry)
        assert {r.name for r in listed} <= set(NAMES), "a name nobody wrote"
        assert container.object_count == len(listed)
        assert container.bytes_used == sum(r.size for r in listed)
        for name in NAMES:
            allowed = {now[name], then[name]} if point.in_flight else {now[name]}
            record = await storage.get_object(container, name)
            assert (record.etag if record else None) in allowed, \
                f"{name}: {record.etag if record else 'missing'}, expected one of {allowed}"
            if record is None:
                continue
            record, reader = await storage.open_object(container, record)
            try:
                data = b"".join([c async for c in reader.iter_range(0, reader.size)])
            finally:
                reader.close()
            assert reader.size == record.size and md5(data) == record.etag, \
                f"{name}: its blob is torn ({len(data)} of {record.size} bytes)"
            verified += 1
        orphans, temps = await storage.sweep_pass(min_age=-3600)  # every age: none in flight
        blobs = disk / BLOB_ROOT
        for blob in (blobs / "objects").rglob("*"):
            if blob.is_file():
                assert await meta.blob_referenced(blob.name), f"orphan blob {blob.name}"
        assert not [p for p in (blobs / "tmp").iterdir() if p.is_file()], "temp files left"
    finally:
        await meta.close()
    return verified, orphans, temps


def test_every_power_cut_in_the_write_sequence_loses_nothing_acknowledged(
        tmp_path: Path) -> None:
    async def main() -> None:
        recorder = await record_sequence(tmp_path)
        assert recorder.operations.get("fsync", 0) and recorder.operations.get("commit", 0)
        cases = [(p, mode) for p in recorder.points for mode in MODES]
        cases += [(p, "strict") for p in recorder.torn]
        seen: set[tuple[Any, ...]] = set()
        checked = verified = orphans = temps = 0
        for number, (point, mode) in enumerate(cases):
            key = (point.images[mode], point.meta, point.step, point.in_flight)
            if key in seen:
                continue
            seen.add(key)
            try:
                read, swept, reclaimed = await check_restart(tmp_path / f"cut{number}", point,
                                                             mode)
            except Exception as exc:
                when = (f"during {STEPS[point.step][0]}" if point.in_flight else
                        f"with {point.step} steps acknowledged")
                raise AssertionError(f"power cut after {point.last!r} {when} ({mode}): {exc}"
                                     ) from exc
            shutil.rmtree(tmp_path / f"cut{number}")
            checked, verified = checked + 1, verified + read
            orphans, temps = orphans + swept, temps + reclaimed
        print(f"\npower cut: {len(recorder.points)} points in the sequence "
              f"({', '.join(f'{n} {op}' for op, n in sorted(recorder.operations.items()))}), "
              f"{len(recorder.torn)} torn commits; {checked} distinct disk states restarted, "
              f"{verified} objects read back and verified; the sweeps removed {orphans} "
              f"orphan blobs and {temps} temp files")
        # the cuts reached the states the sequence's order is there for
        assert orphans and temps, "no cut left an orphan blob or a temp file to sweep"

    asyncio.run(main())
