"""Many files at once: upload a tree of files, download many objects, delete many objects,
with file-level concurrency on one connection pool and as little work per file as the
protocol allows.

- **Upload**: each file is one PUT (large files go as parallel segments through
  `upload_file`); no HEAD, no listing per file. Where the cloud offers bulk upload (`/info`
  `bulk_upload`, Swift's extract-archive), small files travel instead as a few tar streams
  (one PUT each, built on the fly, never held whole), and one listing afterwards checks every
  stored ETag against the MD5 computed while the archive was written; a file the listing does
  not confirm is sent again by plain PUT. Each file's mtime rides in the archive as the
  `user.meta.mtime` extended attribute, so it becomes `X-Object-Meta-Mtime` as a plain
  upload sets it.
- **Download**: where the cloud offers archive download (`/info` `bulk_download`, Strato's
  `GET <container>?archive=tar`), small objects come as a few tar streams, each member
  checked against its listing MD5 (anything an archive leaves out is fetched on its own);
  otherwise, and for the rest, `download_object`: an object no larger than a download piece
  is one GET (no HEAD), written through `<file>.part`, its MD5 checked against the ETag,
  renamed into place and given the object's `X-Object-Meta-Mtime`; larger ones go as
  parallel ranges, resumable.
- **Delete**: bulk delete where the cloud has it; static large objects with
  `?multipart-manifest=delete` so their segments go too; dynamic ones' segments listed and
  deleted with them.

Failures of single files are collected (`failed`), not raised, so one bad file does not stop
five thousand good ones; a failure to reach the server or to log in stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from strato.client.archive import ArchiveResult, fetch_archive
from strato.client.errors import (
    ClientError,
    ConnectionFailed,
    HTTPError,
    InsufficientStorage,
    NotFound,
    Unauthorized,
)
from strato.client.objects import Entry, ObjectStore, object_path, unquote_etag
from strato.client.transfers import (
    DownloadResult,
    NoProgress,
    Progress,
    TransferOptions,
    UploadResult,
    download_object,
    upload_file,
)
from strato.tarformat import BLOCK, pax_header

T = TypeVar("T")


def even_share(count: int, streams: int, most: int) -> int:
    """Items per batch so that `count` items make whole rounds of `streams` batches of at
    most `most`: 5,000 files in batches of 1,000 over 4 streams made a fifth batch that ran
    alone after the others, where 4 of 1,250 run side by side."""
    rounds = -(-count // (streams * most)) or 1
    return max(1, -(-count // (streams * rounds)))

#: Objects up to this size may come in an archive download, from this many on, in archives
#: of at most ARCHIVE_BATCH objects, ARCHIVE_STREAMS at once (see even_share).
ARCHIVE_MAX_FILE = 1024 * 1024
ARCHIVE_MIN_FILES = 32
ARCHIVE_BATCH = 2000
ARCHIVE_STREAMS = 4
#: Files up to this size may travel in a bulk-upload archive.
BULK_MAX_FILE = 1024 * 1024
#: Bulk upload is worth its extra requests (capabilities, one listing) from this many files.
BULK_MIN_FILES = 32
#: Files per archive at most, and archives sent at once.
BULK_BATCH = 500
BULK_STREAMS = 4
#: Headers an extract-archive request applies to every file it makes (Swift's rule).
BULK_HEADERS = ("x-object-meta-", "x-delete-at", "x-delete-after")
#: Errors that stop a whole tree transfer: nothing else would succeed either.
FATAL = (ConnectionFailed, Unauthorized, InsufficientStorage)


@dataclass(frozen=True)
class LocalFile:
    """A file to upload and the object name it gets."""

    path: Path
    name: str
    size: int
    mtime: float

    @classmethod
    def of(cls, path: Path, name: str) -> LocalFile:
        stat = path.stat()
        return cls(path, name, stat.st_size, stat.st_mtime)


@dataclass
class TreeResult:
    """What a tree transfer did: files done, skipped as identical, and failed (with why)."""

    done: list[UploadResult | DownloadResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, ClientError | OSError]] = field(default_factory=list)
    bulk_files: int = 0
    bytes: int = 0


def walk(path: Path, name: str) -> Iterable[LocalFile]:
    """`path` itself if it is a file, else every file under it (following no symlinked
    directories), named `name` + the relative path with `/` separators, in name order."""
    if not path.is_dir():
        yield LocalFile.of(path, name)
        return
    base = name.rstrip("/")
    for root, dirs, files in os.walk(path):
        dirs.sort()
        rel_root = Path(root).relative_to(path).as_posix()
        for file in sorted(files):
            rel = file if rel_root == "." else f"{rel_root}/{file}"
            full = os.path.join(root, file)
            try:  # one stat per file (following symlinks, as is_file does)
                info = os.stat(full)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                yield LocalFile(Path(full), f"{base}/{rel}" if base else rel, info.st_size,
                                info.st_mtime)


def file_md5(path: Path, chunk: int = 4 * 2**20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while data := f.read(chunk):
            digest.update(data)
    return digest.hexdigest()


async def pool(items: Iterable[T], concurrency: int,
               work: Callable[[T], Awaitable[None]]) -> None:
    """Run `work` on every item with at most `concurrency` at once (a fixed set of workers,
    not a task per item); the first exception cancels the rest and is raised."""
    iterator = iter(items)

    async def worker() -> None:
        for item in iterator:
            await work(item)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


# -- uploads ---------------------------------------------------------------------------------

async def upload_files(store: ObjectStore, container: str, files: Sequence[LocalFile], *,
                       options: TransferOptions | None = None,
                       progress: Progress | None = None,
                       headers: Mapping[str, str] | None = None, concurrency: int = 32,
                       bulk: bool | None = None, create_container: bool = True,
                       ) -> TreeResult:
    """Upload `files` into `container`, `concurrency` files at a time. `bulk=True` sends
    the small ones as archives (when the cloud offers bulk upload; per file otherwise and
    for any the listing does not confirm); `None` (the default) does so when there are
    many small files and only headers an archive can carry (fewer requests, and on Strato
    less server CPU than a PUT each: docs/cli.md); False never."""
    options = options or TransferOptions()
    progress = progress or NoProgress()
    headers = dict(headers or {})
    result = TreeResult()
    if create_container:
        with contextlib.suppress(HTTPError):  # e.g. 403: may write into it, not create it
            await store.create_container(container)
    small: list[LocalFile] = []
    if bulk is not False and _bulk_headers_only(headers):
        small = [f for f in files if f.size <= BULK_MAX_FILE and bulk_safe_name(f.name)]
        if (len(small) < (1 if bulk else BULK_MIN_FILES)
                or "bulk_upload" not in await store.capabilities()):
            small = []
    chosen = {id(f) for f in small}
    single = [f for f in files if id(f) not in chosen]

    async def put_one(file: LocalFile) -> None:
        try:
            done = await upload_file(store, container, file.name, file.path, options=options,
                                     progress=progress, headers=headers)
        except FATAL:
            raise
        except (ClientError, OSError) as exc:
            result.failed.append((file.name, exc))
            return
        result.done.append(done)
        result.bytes += done.size

    jobs: list[Awaitable[None]] = []
    if small:
        jobs.append(_bulk_upload(store, container, small, headers, progress, result,
                                 put_one, concurrency))
    if single:
        jobs.append(pool(single, concurrency, put_one))
    await asyncio.gather(*jobs)
    return result


def _bulk_headers_only(headers: Mapping[str, str]) -> bool:
    return all(k.lower().startswith(BULK_HEADERS) for k in headers)


def bulk_safe_name(name: str) -> bool:
    """A name an archive member keeps unchanged through extraction (the server drops empty,
    `.` and `..` parts and leading slashes)."""
    parts = name.split("/")
    return bool(name) and all(p not in ("", ".", "..") for p in parts) and "\x00" not in name


def _tar_member(file: LocalFile, data: bytes) -> bytes:
    header = pax_header(file.name, len(data), int(file.mtime),
                        {"SCHILY.xattr.user.meta.mtime": f"{file.mtime:.6f}"})
    return b"".join((header, data, bytes(-len(data) % BLOCK)))


async def _bulk_upload(store: ObjectStore, container: str, files: list[LocalFile],
                       headers: Mapping[str, str], progress: Progress, result: TreeResult,
                       put_one: Callable[[LocalFile], Awaitable[None]],
                       concurrency: int) -> None:
    """Send `files` as tar archives to `?extract-archive=tar`, then confirm every one with a
    single listing; anything not confirmed goes again as a plain PUT."""
    streams = min(BULK_STREAMS, max(1, concurrency // 8))
    per = even_share(len(files), streams, BULK_BATCH)
    batches = [files[i:i + per] for i in range(0, len(files), per)]
    sent: dict[str, str] = {}
    retry: list[LocalFile] = []
    url = await store.session.url("object-store", object_path(container))

    async def send(batch: list[LocalFile]) -> None:
        md5s: dict[str, str] = {}

        async def body() -> AsyncIterator[bytes]:
            md5s.clear()
            for file in batch:
                try:
                    with open(file.path, "rb") as f:
                        data = f.read(BULK_MAX_FILE + 1)
                except OSError as exc:
                    result.failed.append((file.name, exc))
                    continue
                if len(data) > BULK_MAX_FILE:  # grew since it was listed
                    retry.append(file)
                    continue
                md5s[file.name] = hashlib.md5(data, usedforsecurity=False).hexdigest()
                progress.start(file.name, len(data))
                progress.advance(file.name, len(data))
                progress.finish(file.name)
                yield _tar_member(file, data)
            yield bytes(2 * BLOCK)  # the end-of-archive blocks

        try:
            response = await store.session.request(
                "PUT", url, params={"extract-archive": "tar"}, body=body,
                headers={**headers, "Accept": "application/json"})
            report = response.json() or {}
        except FATAL:
            raise
        except (ClientError, ValueError):
            report = {"Errors": [], "Response Status": "failed"}
        failed_names = {_member_name(container, str(path)) for path, _ in
                        report.get("Errors", [])}
        for name, md5 in md5s.items():
            if name not in failed_names:
                sent[name] = md5

    await pool(batches, streams, send)
    by_name = {f.name: f for f in files}
    confirmed = await _confirm(store, container, sent, by_name)
    for name in sent:
        if name in confirmed:
            result.bulk_files += 1
            result.bytes += by_name[name].size
            result.done.append(UploadResult(container, name, by_name[name].size, sent[name]))
    retry += [f for f in files if f.name not in confirmed and f.name not in
              {n for n, _ in result.failed}]
    if retry:
        await pool(retry, concurrency, put_one)


def _member_name(container: str, path: str) -> str:
    path = unquote(path).lstrip("/")
    return path[len(container) + 1:] if path.startswith(container + "/") else path


async def _confirm(store: ObjectStore, container: str, sent: Mapping[str, str],
                   files: Mapping[str, LocalFile]) -> set[str]:
    """The names whose listed size and ETag are what was sent: one listing, from the
    longest common prefix, stopping after the last name."""
    if not sent:
        return set()
    names = sorted(sent)
    prefix = os.path.commonprefix(names)  # noqa: RUF071 - a name prefix, not a path
    confirmed = set()
    async for entry in store.objects(container, prefix=prefix or None):
        if entry.name > names[-1]:
            break
        md5 = sent.get(entry.name)
        if md5 and entry.hash == md5 and entry.bytes == files[entry.name].size:
            confirmed.add(entry.name)
    return confirmed


# -- downloads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Wanted:
    """An object to download (as listed) and where it goes."""

    entry: Entry
    path: Path


def is_directory_marker(entry: Entry) -> bool:
    return (entry.name.endswith("/") and entry.bytes == 0) or (
        entry.content_type or "").startswith("application/directory")


async def download_objects(store: ObjectStore, container: str, wanted: Sequence[Wanted], *,
                           options: TransferOptions | None = None,
                           progress: Progress | None = None, concurrency: int = 32,
                           skip_identical: bool = False, archives: bool = True) -> TreeResult:
    """Download every `wanted` object, `concurrency` at a time; small ones as a few archive
    streams where the cloud offers them (`archives=False` never)."""
    options = options or TransferOptions()
    progress = progress or NoProgress()
    result = TreeResult()
    todo: list[Wanted] = []
    for item in wanted:
        if is_directory_marker(item.entry):
            item.path.mkdir(parents=True, exist_ok=True)
        elif skip_identical and await asyncio.to_thread(_same_file, item.path, item.entry):
            result.skipped.append(item.entry.name)
        else:
            todo.append(item)
    if archives and sum(w.entry.bytes <= ARCHIVE_MAX_FILE for w in todo) >= ARCHIVE_MIN_FILES:
        caps = await store.capabilities()
        if "bulk_download" in caps:
            todo = await _download_archives(store, container, todo, progress, result)

    async def get_one(item: Wanted) -> None:
        try:
            done = await download_object(store, container, item.entry.name, item.path,
                                         options=options, progress=progress,
                                         listed_size=item.entry.bytes)
        except FATAL:
            raise
        except (ClientError, OSError) as exc:
            result.failed.append((item.entry.name, exc))
            return
        result.done.append(done)
        result.bytes += done.size

    await pool(todo, concurrency, get_one)
    return result


def _archive_runs(todo: Sequence[Wanted]) -> list[tuple[str | None, list[Wanted]]]:
    """Runs of consecutive small objects (in name order), each with the listing marker just
    before it, cut to share ARCHIVE_STREAMS evenly (at most ARCHIVE_BATCH each); a large
    object between two runs stays out of both."""
    per = even_share(sum(w.entry.bytes <= ARCHIVE_MAX_FILE for w in todo), ARCHIVE_STREAMS,
                     ARCHIVE_BATCH)
    runs: list[tuple[str | None, list[Wanted]]] = []
    before: str | None = None
    current: list[Wanted] = []
    current_marker: str | None = None
    for item in sorted(todo, key=lambda w: w.entry.name):
        small = item.entry.bytes <= ARCHIVE_MAX_FILE
        if small and len(current) < per:
            if not current:
                current_marker = before
            current.append(item)
        else:
            if current:
                runs.append((current_marker, current))
            current = [item] if small else []
            current_marker = before
        before = item.entry.name
    if current:
        runs.append((current_marker, current))
    return runs


async def _download_archives(store: ObjectStore, container: str, todo: Sequence[Wanted],
                             progress: Progress, result: TreeResult) -> list[Wanted]:
    """Fetch the small objects as archive streams (Strato's `?archive=tar`); returns what
    is left to fetch one by one (large objects, and anything an archive left out)."""
    runs = _archive_runs(todo)
    written: set[str] = set()

    async def fetch(run: tuple[str | None, list[Wanted]]) -> None:
        marker, items = run
        where = {w.entry.name: w.path for w in items}
        names = list(where)
        prefix = _common_prefix(names) or None
        got = ArchiveResult()
        try:
            await fetch_archive(
                store, container, marker=marker, prefix=prefix, limit=len(items),
                target=where.get, expected={w.entry.name: w.entry.hash for w in items},
                progress=progress, into=got)
        except FATAL:
            raise
        except (ClientError, OSError):
            pass  # what arrived is kept; the rest is fetched one by one
        written.update(got.written)
        result.bytes += got.bytes
        result.done.extend(DownloadResult(container, name, path, got.sizes[name], None, 1)
                           for name, path in got.written.items())

    await pool(runs, ARCHIVE_STREAMS, fetch)
    result.bulk_files += len(written)
    return [w for w in todo if w.entry.name not in written]


def _common_prefix(names: Sequence[str]) -> str:
    """The longest string every name starts with (names are not paths: `a/b` and `a/bc`
    share `a/b`)."""
    first, last = min(names), max(names)
    size = 0
    while size < min(len(first), len(last)) and first[size] == last[size]:
        size += 1
    return first[:size]


def _same_file(path: Path, entry: Entry) -> bool:
    try:
        if path.stat().st_size != entry.bytes:
            return False
    except OSError:
        return False
    return bool(entry.hash) and file_md5(path) == unquote_etag(entry.hash)


# -- deletes ---------------------------------------------------------------------------------

@dataclass
class DeleteResult:
    """Names deleted, how many were already gone, and failures (name, status)."""

    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    missing: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


async def delete_objects(store: ObjectStore, container: str, entries: Sequence[Entry], *,
                         leave_segments: bool = False, concurrency: int = 32,
                         listed: bool = True) -> DeleteResult:
    """Delete objects of one container. `listed=True` says the entries come from a listing
    (so `slo_etag` marks static large objects, and only empty objects, which may be dynamic
    large object manifests, need a HEAD); otherwise each is looked at first, as `swift
    delete` does, which also tells which names did not exist."""
    result = DeleteResult()
    plain: list[str] = []
    manifests: list[tuple[str, dict[str, str]]] = []

    async def inspect(entry: Entry) -> None:
        if leave_segments and listed:
            plain.append(entry.name)
            return
        if listed and (entry.slo_etag or entry.bytes):
            if entry.slo_etag:
                manifests.append((entry.name, {"X-Static-Large-Object": "True"}))
            else:
                plain.append(entry.name)
            return
        try:
            head = await store.head(container, entry.name)
        except NotFound:
            result.not_found.append(entry.name)
            return
        if (head.get("X-Static-Large-Object", "").lower() == "true"
                or "X-Object-Manifest" in head) and not leave_segments:
            manifests.append((entry.name, head))
        else:
            plain.append(entry.name)

    await pool(entries, concurrency, inspect)
    segments: list[tuple[str, str | None]] = []

    async def delete_manifest(item: tuple[str, dict[str, str]]) -> None:
        name, head = item
        try:
            if "X-Object-Manifest" in head:
                seg_container, _, seg_prefix = head["X-Object-Manifest"].partition("/")
                async for seg in store.objects(unquote(seg_container),
                                               prefix=unquote(seg_prefix)):
                    segments.append((unquote(seg_container), seg.name))
                found = await store.delete(container, name)
            else:
                found = await store.delete(container, name,
                                           params={"multipart-manifest": "delete"})
        except FATAL:
            raise
        except HTTPError as exc:
            result.failed.append((name, f"{exc.status} {exc.detail}".strip()))
            return
        if found:
            result.deleted.append(name)
        else:
            result.not_found.append(name)

    await pool(manifests, concurrency, delete_manifest)
    if plain or segments:
        bulk = await store.bulk_delete([(container, n) for n in plain] + segments)
        failed = {unquote(path) for path, _ in bulk.errors}
        result.failed += [(_member_name(container, path), status)
                          for path, status in bulk.errors]
        # bulk delete counts what was already gone without naming it
        result.deleted += [n for n in plain if f"/{container}/{n}" not in failed]
        result.missing += bulk.not_found
    return result


def describe(exc: BaseException) -> str:
    if isinstance(exc, HTTPError):
        return f"{exc.status} on {exc.method}" + (f": {exc.detail}" if exc.detail else "")
    return str(exc) or type(exc).__name__


def as_json(result: TreeResult) -> dict[str, Any]:
    return {"done": [{"container": r.container, "name": r.name, "size": r.size,
                      "etag": r.etag} for r in result.done],
            "skipped": result.skipped,
            "failed": [{"name": n, "error": describe(e)} for n, e in result.failed],
            "bulk_files": result.bulk_files, "bytes": result.bytes}


__all__ = ["DeleteResult", "LocalFile", "TreeResult", "Wanted", "bulk_safe_name",
           "delete_objects", "download_objects", "file_md5", "upload_files",
           "walk"]
