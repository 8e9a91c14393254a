"""What a test server stored, read from its metadata database on either backend: SQLite's
metadata.db in the data directory, or (with STRATO_TEST_METADATA) the data directory's own
PostgreSQL database. So a test that looks beneath the API asserts the same thing on both.

Queries are written once with `?` placeholders and SQL both backends read alike; keep in
mind that account, container and object names are bytea on PostgreSQL (pass and expect
bytes there, as tests/api/image/support.py's image_objects does).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests import pg


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1`, `$2`, ..."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql)


def rows(data_dir: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Every row of one query on the metadata of the servers on `data_dir` (read-only on
    SQLite, so a running server is not disturbed)."""
    url = pg.database_of(data_dir)
    if url is not None:
        return pg.fetch(url, _numbered(sql), *args)
    db = sqlite3.connect(f"file:{data_dir / 'metadata.db'}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in db.execute(sql, args).fetchall()]
    finally:
        db.close()


def execute(data_dir: Path, *statements: str) -> None:
    """Change the stored metadata behind the server's back, in one transaction (a test that
    recreates what an older release or a crash left; stop the server first)."""
    url = pg.database_of(data_dir)
    if url is not None:
        pg.execute(url, "; ".join(statements))
        return
    with sqlite3.connect(data_dir / "metadata.db") as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def count(data_dir: Path, table: str) -> int:
    """How many rows `table` holds."""
    return int(rows(data_dir, f"SELECT count(*) FROM {table}")[0][0])  # type: ignore[call-overload]
