"""Schema migrations applied to a database written by an older release."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from strato.stores.metadata.sqlite.schema import MIGRATIONS, migrate


def old_database(path: Path, version: int) -> sqlite3.Connection:
    """A database as a release with the first `version` migrations left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in ";".join(MIGRATIONS[:version]).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    return conn


def test_versioned_current_objects_stop_counting_their_bytes(tmp_path: Path) -> None:
    """Before migration 5 a versioned object's current copy counted its bytes as well as its
    version; afterwards each version's bytes count once, as Swift reports them."""
    conn = old_database(tmp_path / "metadata.db", 4)
    conn.execute("INSERT INTO containers (id, account, name, created_at, put_timestamp,"
                 " object_count, bytes_used, meta) VALUES (1, 'AUTH_a', 'c', 0, 0, 2, 15, '{}'),"
                 " (2, 'AUTH_a', char(0) || 'versions' || char(0) || 'c', 0, 0, 1, 5, '{}')")
    versioned = '{"x-object-sysmeta-version-id": "1700000000.00000"}'
    for container, name, size, meta in ((1, "current", 5, versioned), (1, "plain", 10, "{}"),
                                        (2, "current\x000299999999.99999", 5, versioned)):
        conn.execute("INSERT INTO objects (container_id, name, blob_id, size, etag,"
                     " content_type, timestamp, meta) VALUES (?, ?, 'b', ?, 'e', 't', 0, ?)",
                     (container, name, size, meta))
    assert migrate(conn) == len(MIGRATIONS)
    assert conn.execute("SELECT id, object_count, bytes_used FROM containers ORDER BY id"
                        ).fetchall() == [(1, 2, 10), (2, 1, 5)]
    flagged = conn.execute("SELECT container_id, name FROM objects WHERE"
                           " json_extract(meta, '$.\"x-object-sysmeta-uncounted\"') IS NOT NULL"
                           ).fetchall()
    assert flagged == [(1, "current")]


def test_accounts_remember_the_policies_their_containers_are_in(tmp_path: Path) -> None:
    """Migration 8 records each account's policies from its existing containers; those from
    before policies existed ('') are recorded when the server assigns them the default."""
    conn = old_database(tmp_path / "metadata.db", 7)
    conn.execute("INSERT INTO containers (account, name, created_at, put_timestamp, policy)"
                 " VALUES ('AUTH_a', 'g1', 0, 0, 'gold'), ('AUTH_a', 'g2', 0, 0, 'gold'),"
                 " ('AUTH_a', 's', 0, 0, 'silver'), ('AUTH_b', 'old', 0, 0, '')")
    assert migrate(conn) == len(MIGRATIONS)
    assert conn.execute("SELECT * FROM account_policies ORDER BY 1, 2").fetchall() == [
        ("AUTH_a", "gold"), ("AUTH_a", "silver")]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """A migration that fails (here: a table of its own already made by hand) raises its
    own error and rolls every statement of the run back, the version too, and leaves no
    transaction open: the next release may try again."""
    conn = old_database(tmp_path / "metadata.db", 7)
    conn.execute("CREATE TABLE account_policies (x)")  # what migration 8 creates
    tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    with pytest.raises(sqlite3.OperationalError, match="account_policies already exists"):
        migrate(conn)
    assert not conn.in_transaction
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(7,)]
    assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables
