"""One-way sync between a local directory and a container (or a prefix in it), either
direction: plan what to copy and what to delete, then apply the plan.

A remote location is written `swift://container[/prefix]`; anything else is a local path.
A file and an object (same path relative to the two roots) are the same when their sizes
match and then either the object's ETag equals the file's MD5 (computed only for files
whose size matches), or, for large objects whose ETag is not an MD5 of the content, the
object's `X-Object-Meta-Mtime` (which `upload` sets) equals the file's mtime. Include and
exclude patterns (`fnmatch` globs on the relative path; a pattern without `/` also matches
the last path part) apply to both sides, so `delete` never touches what was excluded.

    plan = await sync.plan(cloud.objects, "photos", "swift://backup/photos", delete=True)
    print(plan.summary())
    await sync.apply(cloud.objects, plan)
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from strato.client.errors import NotFound
from strato.client.objects import Entry, ObjectStore, unquote_etag
from strato.client.transfers import Progress, TransferOptions
from strato.client.trees import (
    DeleteResult,
    LocalFile,
    TreeResult,
    Wanted,
    delete_objects,
    download_objects,
    file_md5,
    is_directory_marker,
    pool,
    upload_files,
)

SCHEME = "swift://"
#: Two mtimes closer than this are the same (X-Object-Meta-Mtime keeps microseconds).
MTIME_SLACK = 1e-3


@dataclass(frozen=True)
class Location:
    """A local directory (`path`) or a container and prefix (`prefix` empty or ending `/`)."""

    path: Path | None = None
    container: str | None = None
    prefix: str = ""

    @property
    def remote(self) -> bool:
        return self.container is not None

    @classmethod
    def parse(cls, text: str) -> Location:
        if not text.startswith(SCHEME):
            return cls(path=Path(text))
        rest = text[len(SCHEME):]
        container, _, prefix = rest.partition("/")
        if not container:
            raise ValueError(f"{text!r}: no container (write {SCHEME}container[/prefix])")
        prefix = prefix.strip("/")
        return cls(container=container, prefix=prefix + "/" if prefix else "")

    def __str__(self) -> str:
        if self.remote:
            return f"{SCHEME}{self.container}/{self.prefix}"
        return str(self.path)


@dataclass(frozen=True)
class Item:
    """One file or object, by its path relative to the root of its side."""

    rel: str
    size: int
    mtime: float | None = None
    etag: str | None = None
    large: bool = False
    path: Path | None = None
    name: str | None = None


@dataclass(frozen=True)
class Action:
    kind: Literal["upload", "download", "delete-remote", "delete-local"]
    rel: str
    size: int
    reason: str


@dataclass
class SyncPlan:
    source: Location
    dest: Location
    copy: list[Action] = field(default_factory=list)
    delete: list[Action] = field(default_factory=list)
    unchanged: int = 0
    #: what `copy` and `delete` refer to, by relative path
    items: dict[str, Item] = field(default_factory=dict)
    dest_items: dict[str, Item] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(a.size for a in self.copy)

    def summary(self) -> str:
        return (f"{len(self.copy)} to copy ({self.bytes} bytes), {len(self.delete)} to "
                f"delete, {self.unchanged} unchanged")


@dataclass
class SyncResult:
    copied: TreeResult
    deleted: list[str]
    failed: list[tuple[str, str]]


def selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """`--include`/`--exclude`: excluded loses; with includes, only what one matches."""
    def hit(pattern: str) -> bool:
        return fnmatch.fnmatchcase(rel, pattern) or (
            "/" not in pattern and fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern))

    if any(hit(p) for p in exclude):
        return False
    return not include or any(hit(p) for p in include)


def scan_local(root: Path, include: Sequence[str] = (), exclude: Sequence[str] = (),
               ) -> dict[str, Item]:
    """Every regular file under `root` by relative `/`-separated path."""
    found: dict[str, Item] = {}
    if not root.exists():
        return found
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    for base, dirs, files in os.walk(root):
        dirs.sort()
        rel_base = Path(base).relative_to(root).as_posix()
        for file in files:
            rel = file if rel_base == "." else f"{rel_base}/{file}"
            path = Path(base) / file
            if not selected(rel, include, exclude) or file.endswith((".part", ".part.json")):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.is_file():
                found[rel] = Item(rel, stat.st_size, stat.st_mtime, path=path)
    return found


async def scan_remote(store: ObjectStore, container: str, prefix: str = "",
                      include: Sequence[str] = (), exclude: Sequence[str] = (),
                      ) -> dict[str, Item]:
    """Every object under `prefix` by path relative to it (one listing, paged)."""
    found: dict[str, Item] = {}
    async for entry in store.objects(container, prefix=prefix or None):
        rel = entry.name[len(prefix):]
        if not rel or is_directory_marker(entry) or not selected(rel, include, exclude):
            continue
        found[rel] = Item(rel, entry.bytes, etag=entry.slo_etag or unquote_etag(entry.hash),
                          large=bool(entry.slo_etag), name=entry.name)
    return found


async def same_content(store: ObjectStore, container: str, local: Item, remote: Item) -> bool:
    """Whether a file holds what an object holds: sizes, then MD5 against the ETag, then
    (for a large object, whose ETag is not an MD5 of the content) the mtime it carries."""
    if local.size != remote.size:
        return False
    assert local.path is not None and remote.name is not None
    if (not remote.large and remote.etag and len(remote.etag) == 32
            and await asyncio.to_thread(file_md5, local.path) == remote.etag):
        return True
    # not an MD5 of the content (a large object), or it differs: the object may still be
    # the file if it is a large object carrying the file's mtime
    head = await store.head(container, remote.name)
    if not (head.get("X-Static-Large-Object") or head.get("X-Object-Manifest")):
        return False
    mtime = head.get("X-Object-Meta-Mtime")
    try:
        return mtime is not None and abs(float(mtime) - (local.mtime or 0)) < MTIME_SLACK
    except ValueError:
        return False


async def plan(store: ObjectStore, source: str | Location, dest: str | Location, *,
               delete: bool = False, include: Sequence[str] = (),
               exclude: Sequence[str] = (), concurrency: int = 16) -> SyncPlan:
    """What makes `dest` match `source`: files to copy (new, other size, other content) and,
    with `delete`, what `dest` has that `source` lacks."""
    src = source if isinstance(source, Location) else Location.parse(source)
    dst = dest if isinstance(dest, Location) else Location.parse(dest)
    if src.remote == dst.remote:
        raise ValueError("sync goes between a local directory and swift://container[/prefix]")
    remote = dst if dst.remote else src
    local = src if dst.remote else dst
    assert remote.container is not None and local.path is not None
    try:
        remote_items = await scan_remote(store, remote.container, remote.prefix, include,
                                         exclude)
    except NotFound:
        if not dst.remote:
            raise
        remote_items = {}  # the upload makes the container
    local_items = await asyncio.to_thread(scan_local, local.path, include, exclude)
    src_items, dst_items = ((local_items, remote_items) if dst.remote
                            else (remote_items, local_items))
    result = SyncPlan(src, dst, items=src_items, dest_items=dst_items)
    kind: Literal["upload", "download"] = "upload" if dst.remote else "download"
    decisions: dict[str, str | None] = {}

    async def decide(rel: str) -> None:
        item, other = src_items[rel], dst_items.get(rel)
        if other is None:
            decisions[rel] = "new"
        elif item.size != other.size:
            decisions[rel] = "size"
        else:
            pair = (item, other) if dst.remote else (other, item)
            same = await same_content(store, remote.container or "", *pair)
            decisions[rel] = None if same else "content"

    await pool(sorted(src_items), concurrency, decide)
    for rel in sorted(src_items):
        reason = decisions[rel]
        if reason is None:
            result.unchanged += 1
        else:
            result.copy.append(Action(kind, rel, src_items[rel].size, reason))
    if delete:
        gone: Literal["delete-remote", "delete-local"] = (
            "delete-remote" if dst.remote else "delete-local")
        result.delete = [Action(gone, rel, dst_items[rel].size, "absent from source")
                         for rel in sorted(set(dst_items) - set(src_items))]
    return result


async def apply(store: ObjectStore, sync_plan: SyncPlan, *,
                options: TransferOptions | None = None, progress: Progress | None = None,
                concurrency: int = 32) -> SyncResult:
    """Carry out a plan: copies first, then deletes (so a failed copy deletes nothing)."""
    src, dst = sync_plan.source, sync_plan.dest
    failed: list[tuple[str, str]] = []
    deleted: list[str] = []
    if dst.remote:
        assert dst.container is not None
        files = [LocalFile(item.path, dst.prefix + a.rel, item.size, item.mtime or 0.0)
                 for a in sync_plan.copy
                 if (item := sync_plan.items[a.rel]).path is not None]
        copied = await upload_files(store, dst.container, files, options=options,
                                    progress=progress, concurrency=concurrency)
    else:
        assert src.container is not None and dst.path is not None
        wanted = [Wanted(Entry(name=item.name or a.rel, bytes=item.size, hash=item.etag),
                         dst.path / a.rel)
                  for a in sync_plan.copy if (item := sync_plan.items[a.rel])]
        copied = await download_objects(store, src.container, wanted, options=options,
                                        progress=progress, concurrency=concurrency)
    if copied.failed or not sync_plan.delete:
        return SyncResult(copied, deleted, failed)
    if dst.remote:
        assert dst.container is not None
        entries = [Entry(name=dst.prefix + a.rel, bytes=a.size,
                         slo_etag=item.etag if item.large else None)
                   for a in sync_plan.delete if (item := sync_plan.dest_items[a.rel])]
        gone: DeleteResult = await delete_objects(store, dst.container, entries,
                                                  concurrency=concurrency)
        deleted = [name[len(dst.prefix):] for name in gone.deleted]
        failed = [(name[len(dst.prefix):], why) for name, why in gone.failed]
    else:
        for action in sync_plan.delete:
            path = sync_plan.dest_items[action.rel].path
            assert path is not None
            try:
                path.unlink()
                deleted.append(action.rel)
            except OSError as exc:
                failed.append((action.rel, str(exc)))
    return SyncResult(copied, deleted, failed)


__all__ = ["SCHEME", "Action", "Item", "Location", "SyncPlan", "SyncResult", "apply", "plan",
           "same_content", "scan_local", "scan_remote", "selected"]
