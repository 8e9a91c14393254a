"""Throw-away PostgreSQL databases for tests: one per store or server under test, so tests
are isolated from each other and from parallel pytest workers.

The server is `STRATO_TEST_PG` (an admin URL; default the local trust-auth server that
scripts/test starts). `STRATO_TEST_METADATA=postgresql://...` makes every test server use
a fresh database on that server instead of SQLite (see harness.Server).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import asyncpg

ADMIN_URL = os.environ.get("STRATO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_METADATA = os.environ.get("STRATO_TEST_METADATA", "")
"""A postgresql:// URL: servers under test keep their metadata there (a database each)."""

_created: list[str] = []
_by_data_dir: dict[Path, str] = {}


def _url(base: str, database: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + database


async def _admin(sql: str, base: str) -> None:
    try:
        conn = await asyncpg.connect(base, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"no PostgreSQL at {base} ({exc}): start one (scripts/test "
                           "installs and starts Debian's) or set STRATO_TEST_PG") from exc
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(base: str = ADMIN_URL) -> str:
    """A new empty database; returns its URL. Dropped when this process exits."""
    name = f"strato_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}", base))
    url = _url(base, name)
    _created.append(url)
    return url


def drop_database(url: str) -> None:
    """Drop it, closing the connections of any server still on it."""
    base, name = url.rsplit("/", 1)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", base + "/postgres"))
    if url in _created:
        _created.remove(url)


def metadata_env(data_dir: Path) -> dict[str, str]:
    """What a server or CLI run on `data_dir` needs in its environment: with
    STRATO_TEST_METADATA, the URL of the data directory's own database (made on first use,
    kept across restarts of servers on the directory); else nothing (SQLite)."""
    if not SERVER_METADATA:
        return {}
    key = data_dir.resolve()
    if key not in _by_data_dir:
        _by_data_dir[key] = create_database(SERVER_METADATA)
    return {"STRATO_METADATA": _by_data_dir[key]}


def database_of(data_dir: Path) -> str | None:
    """The URL of the database the servers on `data_dir` use; None when they use SQLite."""
    return _by_data_dir.get(data_dir.resolve()) if SERVER_METADATA else None


def fetch(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of one query (tests that look at what the server stored)."""
    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def execute(url: str, sql: str) -> None:
    """Run statements (several, `;`-separated, no parameters) as one implicit transaction."""
    asyncio.run(_admin(sql, url))


@contextlib.contextmanager
def holding(url: str, sql: str) -> Iterator[None]:
    """Run `sql` in a transaction of another session and keep it open (its locks held)
    until the block ends."""
    import threading

    started, done = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute(sql)
                started.set()
                await asyncio.get_running_loop().run_in_executor(None, done.wait)
        finally:
            await conn.close()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:  # reported to the test below
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(30)
    try:
        if failed:
            raise failed[0]
        yield
    finally:
        done.set()
        thread.join(30)


def drop_unused(in_use: Iterable[Path]) -> None:
    """Drop the databases of data directories no running server uses (a test module ends)."""
    keep = {path.resolve() for path in in_use}
    for data_dir, url in list(_by_data_dir.items()):
        if data_dir not in keep:
            del _by_data_dir[data_dir]
            drop_database(url)


@atexit.register
def _drop_left() -> None:
    for url in list(_created):
        with contextlib.suppress(Exception):  # best effort at exit
            drop_database(url)
