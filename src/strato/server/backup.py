"""Online backup and restore of a data directory whose metadata is in SQLite.

A backup directory holds `metadata.db` (a complete SQLite database, no journal),
`blobs/<policy>/objects/...` (each storage policy's blob files, in the data directory's own
layout) and `backup.json` (format version, when, which policies, what was left out).

Taking one while the server writes, in this order, and why:

1. link (or copy) every blob file there is now. Blobs never change once committed, so a
   hard link is an instant, exact copy that survives the original's deletion; across
   filesystems the bytes are copied. Every object acknowledged before the backup began has
   its blob among these (a blob is committed before its row).
2. copy the metadata with SQLite's online backup API: one consistent snapshot, taken in a
   single step, so the server's writers are not blocked (WAL) and the copy is never a mix.
3. rows of the snapshot written during step 1 may name blobs step 1 did not see: link
   those now. If one was deleted meanwhile (its object was overwritten or deleted again
   after the snapshot), steps 2 and 3 are done again: the new snapshot has the newer
   version, whose blob is there. Only if that keeps happening (SNAPSHOTS times: a name
   overwritten several times a second while the backup runs) do such rows leave the backup,
   with their share of the container's counters, listed in `backup.json` and on stderr.

So the backup is self-consistent: every row names a blob that is in it, and the counters
are those of the rows. Hard links share the disk with the data: a backup on the same
filesystem guards against deletes and mistakes, not against losing the disk; give a DEST
on another filesystem (the blobs are then copied), or copy the backup elsewhere after
(`rsync -H` keeps the links).

PostgreSQL's metadata is backed up with PostgreSQL's own tools (`pg_dump`, or continuous
archiving), which know its transactions; `strato backup` refuses it rather than half-do it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from strato.server.datadir import METADATA_FILE
from strato.server.settings import Settings

FORMAT = 1
MANIFEST = "backup.json"
BLOBS = "blobs"
SNAPSHOTS = 5
"""Snapshots taken at most while one names a blob already deleted (see step 3)."""


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass
class Copier:
    """Hard links while the filesystem allows them (or not at all, with `copy`), else
    copies; counts both."""

    copy: bool = False
    linked: int = 0
    copied: int = 0
    bytes: int = 0

    def put(self, source: Path, target: Path) -> bool:
        """Link or copy one file; False if the source is gone."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if not self.copy:
            try:
                os.link(source, target)
            except FileNotFoundError:
                return False
            except FileExistsError:
                return True
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                self.copy = True  # another filesystem: copy from now on
            else:
                self.linked += 1
                return True
        try:
            shutil.copyfile(source, target)
        except FileNotFoundError:
            return False
        self.copied += 1
        self.bytes += target.stat().st_size
        return True


@dataclass
class BackupReport:
    objects: int = 0
    blobs: int = 0
    linked: int = 0
    copied: int = 0
    left_out: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0


def _blob_files(objects_dir: Path) -> Iterator[Path]:
    if not objects_dir.is_dir():
        return
    for level1 in sorted(objects_dir.iterdir()):
        if level1.is_dir():
            for level2 in sorted(level1.iterdir()):
                if level2.is_dir():
                    yield from (Path(e.path) for e in os.scandir(level2) if e.is_file())


def _blob_path(objects_dir: Path, blob_id: str) -> Path:
    return objects_dir / blob_id[0:2] / blob_id[2:4] / blob_id


def _policy_roots(settings: Settings) -> dict[str, Path]:
    return {p.name: settings.policy_root(p) for p in settings.storage_policies}


def backup(settings: Settings, dest: Path, *, copy: bool = False) -> BackupReport:
    """Take an online backup of the data directory into `dest` (new or empty)."""
    if settings.metadata:
        raise BackupError(
            "the metadata is in PostgreSQL: back it up with PostgreSQL's tools (`pg_dump "
            "--format=custom`, or continuous archiving) and copy the blob directories with "
            "`rsync -aH`, metadata first; `strato backup` covers SQLite data directories")
    source_db = settings.data_dir / METADATA_FILE
    if not source_db.is_file():
        raise BackupError(f"no {METADATA_FILE} in {settings.data_dir}: pass the right "
                          "--data-dir")
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: give a new directory for the backup")
    started = time.monotonic()
    dest.mkdir(parents=True, exist_ok=True)
    roots = _policy_roots(settings)
    copier = Copier(copy=copy)
    # 1. every blob there is now
    for name, root in roots.items():
        objects = root / "objects"
        for path in _blob_files(objects):
            copier.put(path, _blob_path(dest / BLOBS / name / "objects", path.name))
    # 2 and 3, again while a row of the snapshot names a blob deleted since (see above)
    target_db = dest / METADATA_FILE
    report = BackupReport()
    missing: list[tuple[int, str, int, str]] = []
    for _ in range(SNAPSHOTS):
        _snapshot(source_db, target_db)
        missing = _link_named(settings, dest, target_db, roots, copier, report)
        if not missing:
            break
    if missing:
        _drop_rows(target_db, missing)
    db = sqlite3.connect(target_db)
    try:
        report.objects = db.execute("SELECT count(*) FROM objects").fetchone()[0]
    finally:
        db.close()
    _drop_unreferenced(dest, target_db, roots)
    report.linked, report.copied = copier.linked, copier.copied
    report.seconds = round(time.monotonic() - started, 3)
    manifest = {"format": FORMAT, "created": time.time(), "data_dir": str(settings.data_dir),
                "policies": sorted(roots), "objects": report.objects, "blobs": report.blobs,
                "left_out": report.left_out}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1))
    os.sync()  # a backup reported done is on the disk
    return report


def _snapshot(source_db: Path, target_db: Path) -> None:
    """Step 2: SQLite's online backup, all pages in one step: one consistent snapshot, and
    the server's writers go on meanwhile (WAL)."""
    source = sqlite3.connect(source_db)  # only read (read-only opening wants a -shm file)
    try:
        target = sqlite3.connect(target_db)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    finally:
        source.close()


def _link_named(settings: Settings, dest: Path, target_db: Path, roots: dict[str, Path],
                copier: Copier, report: BackupReport) -> list[tuple[int, str, int, str]]:
    """Step 3: link the blobs the snapshot's rows name that step 1 did not see; returns the
    rows whose blob is gone (and notes them in `report.left_out`, replacing any earlier
    attempt's)."""
    db = sqlite3.connect(target_db)
    try:
        policy_of = dict(db.execute("SELECT id, policy FROM containers").fetchall())
        rows = db.execute("SELECT o.container_id, o.name, o.blob_id, o.size, o.meta, "
                          "c.account, c.name FROM objects o JOIN containers c "
                          "ON c.id = o.container_id WHERE o.blob_id NOT LIKE 'inline:%'"
                          ).fetchall()
    finally:
        db.close()
    default = next(p.name for p in settings.storage_policies if p.default)
    missing = []
    report.left_out, report.blobs = [], 0
    for container_id, name, blob_id, size, meta, account, container in rows:
        policy = _canonical(settings, policy_of.get(container_id) or default)
        target_path = _blob_path(dest / BLOBS / policy / "objects", blob_id)
        if target_path.exists() or copier.put(
                _blob_path(roots[policy] / "objects", blob_id), target_path):
            report.blobs += 1
            continue
        missing.append((container_id, name, size, meta))
        report.left_out.append({"account": account, "container": container, "object": name,
                                "blob_id": blob_id})
    return missing


def _canonical(settings: Settings, stored: str) -> str:
    """The configured policy a container's stored policy name (or alias) means."""
    for policy in settings.storage_policies:
        if stored.lower() in {n.lower() for n in (policy.name, *policy.aliases)}:
            return policy.name
    raise BackupError(f"containers use storage policy {stored!r}, which is not configured")


def _drop_rows(target_db: Path, rows: list[tuple[int, str, int, str]]) -> None:
    """Remove rows from the backup with their share of the counters (as the store does)."""
    from strato.stores.metadata.records import UNCOUNTED

    db = sqlite3.connect(target_db, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        for container_id, name, size, meta in rows:
            counted = 0 if UNCOUNTED in json.loads(meta) else size
            db.execute("DELETE FROM objects WHERE container_id = ? AND name = ?",
                       (container_id, name))
            db.execute("UPDATE containers SET object_count = object_count - 1, "
                       "bytes_used = bytes_used - ? WHERE id = ?", (counted, container_id))
        db.execute("COMMIT")
    finally:
        db.close()


def _drop_unreferenced(dest: Path, target_db: Path, roots: dict[str, Path]) -> None:
    """Blobs linked in step 1 whose rows were gone by the snapshot: not part of the backup
    (the sweep would remove them after a restore anyway)."""
    db = sqlite3.connect(target_db)
    try:
        referenced = {row[0] for row in db.execute("SELECT blob_id FROM objects")}
    finally:
        db.close()
    for name in roots:
        for path in list(_blob_files(dest / BLOBS / name / "objects")):
            if path.name not in referenced:
                path.unlink()


def restore(settings: Settings, source: Path, *, force: bool = False,
            copy: bool = False) -> dict[str, int]:
    """Bring the backup in `source` into the data directory of `settings` (new or empty,
    or replaced with `force`). The server must not run on it."""
    if settings.metadata:
        raise BackupError("the metadata is in PostgreSQL: restore it with PostgreSQL's tools "
                          "(`pg_restore`); `strato restore` covers SQLite data directories")
    manifest_path = source / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} is not a Strato backup (cannot read {MANIFEST}: "
                          f"{exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is a backup in format {manifest.get('format')!r}; this "
                          f"release reads format {FORMAT}")
    data_dir = settings.data_dir
    if data_dir.exists() and any(data_dir.iterdir()) and not force:
        raise BackupError(f"{data_dir} is not empty: restore into a new directory, or pass "
                          "--force to replace its metadata and blobs (stop the server first)")
    roots = _policy_roots(settings)
    unknown = set(manifest.get("policies", [])) - set(roots)
    if unknown:
        raise BackupError(f"the backup holds storage policies {sorted(unknown)} that are not "
                          "configured here: configure them (same names) before restoring")
    data_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"{METADATA_FILE}{suffix}").unlink(missing_ok=True)
        for root in roots.values():
            for sub in ("objects", "tmp"):
                shutil.rmtree(root / sub, ignore_errors=True)
    copier = Copier(copy=copy)
    for name in manifest.get("policies", []):
        objects = source / BLOBS / name / "objects"
        for path in _blob_files(objects):
            copier.put(path, _blob_path(roots[name] / "objects", path.name))
    os.sync()  # the blobs reach the disk before the database that names them
    tmp = data_dir / f".{METADATA_FILE}.restoring"
    shutil.copyfile(source / METADATA_FILE, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, data_dir / METADATA_FILE)  # the database last: all or nothing visible
    with contextlib.suppress(OSError):
        fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    return {"blobs": copier.linked + copier.copied, "linked": copier.linked,
            "copied": copier.copied}
