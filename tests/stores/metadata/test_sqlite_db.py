"""The SQLite database's writers in several processes: they take turns, and none is lost."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strato.stores.metadata.base import MetadataError
from strato.stores.metadata.records import (
    AppCredentialRecord,
    DomainRecord,
    TokenRecord,
    UserRecord,
)
from strato.stores.metadata.sqlite import LEAD_FILE, SqliteMetadataStore
from strato.stores.metadata.sqlite.db import Database

WRITES = 300


def _writer(path: str, name: str) -> None:
    async def run() -> None:
        db = Database(Path(path))
        db.open()
        try:
            async def add(i: int) -> None:
                await db.write(lambda conn: conn.execute(
                    "INSERT INTO accounts (name, created_at) VALUES (?, 0)", (f"{name}-{i}",)))

            await asyncio.gather(*(add(i) for i in range(WRITES)))
        finally:
            db.close()

    asyncio.run(run())


def test_writers_in_several_processes_all_commit(tmp_path: Path) -> None:
    """Three processes (as three workers) write at once through their own writer threads;
    every write is committed, and the lock file they take turns with is private."""
    path = tmp_path / "metadata.db"
    db = Database(path)
    db.open()  # creates the schema once, as the server's master does
    db.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), f"w{n}")) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    with sqlite3.connect(path) as conn:
        count = conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
    assert count == 3 * WRITES
    lock = path.with_name("metadata.db-lock")
    assert lock.exists() and lock.stat().st_mode & 0o077 == 0


def test_check_writable_names_a_held_write_lock_and_passes_once_it_is_free(
        tmp_path: Path) -> None:
    """Another process holding the writers' lock (a stuck writer) makes the readiness probe
    fail within its timeout, with a reason; once the lock is free the probe passes."""
    path = tmp_path / "metadata.db"
    db = Database(path)
    db.open()
    holder = os.open(path.with_name(path.name + "-lock"), os.O_RDWR)
    try:
        async def probe(timeout: float) -> str | None:
            return await db.check_writable(timeout)

        fcntl.flock(holder, fcntl.LOCK_EX)
        problem = asyncio.run(probe(0.3))
        assert problem is not None and "no write lock within 0.3 s" in problem
        fcntl.flock(holder, fcntl.LOCK_UN)
        assert asyncio.run(probe(5.0)) is None
    finally:
        os.close(holder)
        db.close()


def test_scratch_writes_alone_commit_without_fsync(tmp_path: Path) -> None:
    """A batch of scratch writes only (rate-limit state) commits with synchronous=NORMAL,
    which in WAL mode skips the commit's fsync; a durable write, alone or batched with
    scratch ones, commits with FULL, as every acknowledged write must."""
    db = Database(tmp_path / "metadata.db")
    db.open()

    def level(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])

    async def run() -> None:
        assert await db.write(level, durable=False) == 1  # NORMAL
        assert await db.write(level) == 2  # FULL
        assert await db.write(level, durable=False) == 1
        # queued together, they share one transaction: whichever batch holds the durable
        # write commits with FULL, and every job in it sees so
        levels = await asyncio.gather(db.write(level), *(db.write(level, durable=False)
                                                         for _ in range(20)))
        assert levels[0] == 2 and set(levels[1:]) <= {1, 2}

    try:
        asyncio.run(run())
    finally:
        db.close()


def test_the_store_reports_a_held_write_lock_and_leads_through_a_private_file(
        tmp_path: Path) -> None:
    """The store's own probe raises what the database found (the readiness check shows
    it), and the lead's lock file is readable by the owner only, like the database."""
    store = SqliteMetadataStore(tmp_path / "metadata.db")
    path = tmp_path / "metadata.db"
    holder = os.open(path.with_name(path.name + "-lock"), os.O_RDWR | os.O_CREAT, 0o600)

    async def run() -> None:
        await store.open()
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)
            with pytest.raises(MetadataError, match=r"no write lock within 0\.3 s"):
                await store.check_writable(0.3)
            fcntl.flock(holder, fcntl.LOCK_UN)
            await store.check_writable(5.0)
            assert await store.try_lead()
            assert (path.with_name(LEAD_FILE).stat().st_mode & 0o777) == 0o600
        finally:
            await store.close()

    old = os.umask(0)
    try:
        asyncio.run(run())
    finally:
        os.umask(old)
        os.close(holder)


def test_schema_version_reads_zero_before_a_schema_and_the_latest_after(
        tmp_path: Path) -> None:
    """What `strato upgrade`'s check reads: no file, or a file with no schema, is version
    0 (everything to do); an opened store is at the latest (read without writing)."""
    async def versions() -> list[tuple[int, int]]:
        path = tmp_path / "metadata.db"
        seen = [await SqliteMetadataStore(path).schema_version()]
        sqlite3.connect(path).execute("CREATE TABLE unrelated (x)").connection.close()
        seen.append(await SqliteMetadataStore(path).schema_version())
        path.unlink()
        store = SqliteMetadataStore(path)
        await store.open()
        await store.close()
        seen.append(await SqliteMetadataStore(path).schema_version())
        return seen

    (none, latest), (empty, _), (opened, _) = asyncio.run(versions())
    assert (none, empty, opened) == (0, 0, latest) and latest > 0


def test_a_full_database_is_told_apart_from_other_errors(tmp_path: Path) -> None:
    """SQLITE_FULL (here a page limit, as a full disk gives) is what `out_of_space` names;
    a constraint error or a file error is not."""
    store = SqliteMetadataStore(tmp_path / "a" / "b" / "metadata.db")
    assert asyncio.run(store.upgrade()) == 0  # creates the missing directories
    conn = sqlite3.connect(tmp_path / "full.db")
    conn.execute("CREATE TABLE t (x BLOB UNIQUE)")
    conn.execute("PRAGMA max_page_count = 4")
    with pytest.raises(sqlite3.Error) as full:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    conn.execute("INSERT INTO t VALUES (?)", (b"y",))
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        conn.execute("INSERT INTO t VALUES (?)", (b"y",))
    conn.close()
    assert store.out_of_space(full.value)
    assert not store.out_of_space(duplicate.value)
    assert not store.out_of_space(OSError(28, "No space left on device"))


def test_only_writes_that_can_change_a_token_view_move_the_change_mark(tmp_path: Path) -> None:
    """Workers reuse a validated token until the mark moves, so a new token, a login
    counter or a re-hash must not move it (each login would otherwise drop every worker's
    validated tokens); a user change must. (PostgreSQL's mark, which also moves every
    second and on NOTIFY, is tests/scaleout/test_listener.py's.)"""
    store = SqliteMetadataStore(tmp_path / "metadata.db")

    async def run() -> tuple[bytes | None, ...]:
        await store.open()
        try:
            domain = await store.create_domain(DomainRecord("md", "Md"))
            user = await store.create_user(UserRecord("mu", "mu", domain.id, "h"))
            cred = await store.create_app_credential(AppCredentialRecord(
                "mc", "mc", user.id, "mp", "s", (), 1.0))
            before = store.change_mark()
            await store.save_token(TokenRecord("mt", user.id, None, domain.id, 1.0, 4e9))
            await store.count_login_failure({"k|x": 3}, 1000.0, 60.0)
            await store.clear_login_failures("k|x")
            assert await store.replace_secret_hash(old="h", new="h2", user_id=user.id)
            assert await store.replace_secret_hash(old="s", new="s2", app_cred_id=cred.id)
            after = store.change_mark()
            await store.update_user(UserRecord(user.id, "mu", domain.id, "h2", enabled=False))
            disabled = store.change_mark()
            await store.delete_user(user.id)  # its validated tokens must not be reused
            return before, after, disabled, store.change_mark()
        finally:
            await store.close()

    before, after, disabled, deleted = asyncio.run(run())
    assert before is not None and after == before
    assert before != disabled != deleted


def _open_files_under(directory: Path) -> list[str]:
    """The files under `directory` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{directory}/"):
                held.append(target)
    return held


def test_the_files_are_private_and_the_change_mark_is_eight_bytes_next_to_them(
        tmp_path: Path) -> None:
    """The database and its log are owner-only whatever the umask; every process maps
    `<db>-mark`: created owner-only (whoever can write it can keep workers trusting
    revoked tokens), exactly 8 bytes, in a directory made on the way; only marked writes
    move it, and closing unmaps it and frees the files (the last connection's close folds
    the log back and removes it)."""
    path = tmp_path / "new" / "dir" / "metadata.db"
    mark_file = path.with_name("metadata.db-mark")
    old = os.umask(0)
    try:
        db = Database(path)
        db.open()
    finally:
        os.umask(old)
    try:
        for suffix in ("", "-wal", "-shm", "-mark"):  # secrets (sealed or not) live here
            assert (path.with_name(path.name + suffix).stat().st_mode & 0o777) == 0o600
        assert mark_file.stat().st_size == 8
        # a worker that exits without closing must not hang on the writer thread
        [writer] = [t for t in threading.enumerate() if t.name == "sqlite-writer"]
        assert writer.daemon
        first = db.mark()
        assert first is not None and len(first) == 8

        async def run() -> None:
            await db.write(lambda conn: conn.execute(
                "INSERT INTO accounts (name, created_at) VALUES ('a', 0)"))
            assert db.mark() == first  # unmarked by default
            await db.write(lambda conn: None, marked=True)

        asyncio.run(run())
        second = db.mark()
        assert second != first and second == mark_file.read_bytes()
    finally:
        db.close()
    assert not path.with_name("metadata.db-wal").exists()
    assert str(mark_file) not in Path("/proc/self/maps").read_text()
    assert _open_files_under(path.parent) == []
    db.close()  # a second close (a shutdown path that runs twice) is harmless
    assert db.mark() is None
    with pytest.raises(AssertionError):
        asyncio.run(db.write(lambda conn: None))


def test_without_a_shared_mark_the_store_says_so_and_still_writes(tmp_path: Path) -> None:
    """Where the mark file cannot be mapped (here a directory is in its place) the store
    reports no mark, so no worker reuses a validated token, and writes go on."""
    path = tmp_path / "metadata.db"
    path.with_name("metadata.db-mark").mkdir()
    db = Database(path)
    db.open()
    try:
        asyncio.run(db.write(lambda conn: None, marked=True))
        assert db.mark() is None
    finally:
        db.close()
    db.close()


def test_a_batch_that_sqlite_rolled_back_fails_every_write_in_it(tmp_path: Path) -> None:
    """When a write's statement ends the whole transaction (SQLite does so itself on a full
    disk or an I/O error), every write batched with it gets that error and none is kept;
    a commit that fails (a deferred foreign key) is rolled back and fails its batch too.
    The writer goes on in both cases."""
    db = Database(tmp_path / "metadata.db")
    db.open()

    def add(name: str) -> Callable[[sqlite3.Connection], None]:
        return lambda conn: conn.execute(
            "INSERT INTO accounts (name, created_at) VALUES (?, 0)", (name,)).close()

    def rolled_back(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    def dangling(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO objects (container_id, name, blob_id, size, etag, "
                     "content_type, timestamp, meta) VALUES (424242, 'o', 'b', 0, '', '', 1, "
                     "'{}')")

    def hold(conn: sqlite3.Connection) -> None:
        time.sleep(0.3)  # the writes below queue meanwhile: one batch

    async def raised(job: Callable[[sqlite3.Connection], Any]) -> BaseException | None:
        try:
            await db.write(job)
        except Exception as exc:
            return exc
        return None

    async def batch(*jobs: Callable[[sqlite3.Connection], Any]) -> list[Any]:
        first = asyncio.ensure_future(db.write(hold))
        await asyncio.sleep(0.05)
        outcomes = await asyncio.wait_for(asyncio.gather(*(raised(job) for job in jobs)), 20)
        await first
        return outcomes

    async def run() -> None:
        outcomes = await batch(add("a"), rolled_back, add("b"))
        assert all(isinstance(o, sqlite3.OperationalError) for o in outcomes), outcomes
        outcomes = await batch(add("c"), dangling)
        assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes), outcomes
        await asyncio.wait_for(db.write(add("d")), 20)

    try:
        asyncio.run(run())
        assert [r[0] for r in db.query("SELECT name FROM accounts")] == ["d"]
    finally:
        db.close()


def test_close_commits_the_writes_queued_before_it_then_stops(tmp_path: Path) -> None:
    """A shutdown with writes still queued (a worker stopping mid-request) commits them and
    answers each before the writer stops; close() returns instead of waiting forever."""
    path = tmp_path / "metadata.db"
    db = Database(path)
    db.open()
    closer = threading.Thread(target=db.close)

    def hold(conn: sqlite3.Connection) -> None:
        time.sleep(0.3)  # the writes and close() below queue meanwhile: one batch

    async def run() -> None:
        first = asyncio.ensure_future(db.write(hold))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(db.write(lambda conn, n=n: conn.execute(
            "INSERT INTO accounts (name, created_at) VALUES (?, 0)", (n,)).close()))
            for n in "abc"]
        await asyncio.sleep(0.01)  # each has put its job on the queue
        closer.start()
        await asyncio.wait_for(asyncio.gather(first, *queued), 20)

    asyncio.run(run())
    closer.join(20)
    assert not closer.is_alive()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT name FROM accounts")) == ["a", "b", "c"]


def test_close_after_a_failed_open_releases_what_was_opened(tmp_path: Path) -> None:
    """Opening a file that is not a database fails in its migration; closing then (as the
    server does on a failed start) releases the connection made so far and raises
    nothing, and so does closing a database never opened."""
    path = tmp_path / "metadata.db"
    path.write_bytes(b"not a database, " * 512)
    db = Database(path)
    with pytest.raises(sqlite3.DatabaseError):
        db.open()
    db.close()
    assert db._writer is None and db._lock is None and db.mark() is None
    Database(tmp_path / "never.db").close()
