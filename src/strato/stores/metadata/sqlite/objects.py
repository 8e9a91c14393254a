"""The object catalogue half of the SQLite backend."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from strato.stores.metadata.base import Conflict, NotFound, ObjectStore, Superseded
from strato.stores.metadata.listing import keyset_listing, prefix_end
from strato.stores.metadata.records import (
    AccountRecord,
    AccountStats,
    ContainerRecord,
    ListingQuery,
    Lookup,
    ObjectRecord,
    Subdir,
    SyncChange,
    counted_size,
    is_inline,
)
from strato.stores.metadata.sqlite.db import Database

LOG_CHANGE = ("INSERT INTO sync_changes (container_id, name, timestamp) SELECT ?, ?, ?"
              " WHERE EXISTS (SELECT 1 FROM container_sync WHERE container_id = ?)")
"""Queue a changed name for container sync, if its container syncs (one primary-key
probe for the others)."""


TOMBSTONE = ("INSERT INTO tombstones (container_id, name, timestamp) SELECT ?, ?, ?"
             " WHERE ? OR EXISTS (SELECT 1 FROM container_sync WHERE container_id = ?)"
             " ON CONFLICT (container_id, name) DO UPDATE"
             " SET timestamp = max(timestamp, excluded.timestamp)")
"""Remember when a name was deleted, if its container syncs or the delete was pushed by
another's sync (a container that only receives)."""


def _log_change(conn: sqlite3.Connection, container_id: int, name: str, when: float) -> None:
    conn.execute(LOG_CHANGE, (container_id, name, when, container_id))

CONTAINER_COLUMNS = ("id, account, name, created_at, put_timestamp, object_count, bytes_used,"
                     " meta, policy")
OBJECT_COLUMNS = "container_id, name, blob_id, size, etag, content_type, timestamp, meta, delete_at"

LOOKUP_SQL = (
    "SELECT a.created_at, a.meta, c.id, c.account, c.name, c.created_at, c.put_timestamp,"
    " c.object_count, c.bytes_used, c.meta, c.policy, o.container_id, o.name, o.blob_id,"
    " o.size, o.etag, o.content_type, o.timestamp, o.meta, o.delete_at, i.data"
    " FROM (SELECT ? AS name) k LEFT JOIN accounts a ON a.name = k.name"
    " LEFT JOIN containers c ON c.account = k.name AND c.name = ?"
    " LEFT JOIN objects o ON o.container_id = c.id AND o.name = ?"
    " LEFT JOIN inline_blobs i ON ? AND i.id = o.blob_id")
"""`ObjectStore.lookup` in one statement: always one row, its parts NULL where missing."""


def _container(row: tuple[Any, ...]) -> ContainerRecord:
    return ContainerRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                           orjson.loads(row[7]), row[8])


def _object(row: tuple[Any, ...]) -> ObjectRecord:
    return ObjectRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                        orjson.loads(row[7]), row[8])


def _merge(meta: dict[str, str], set_meta: dict[str, str], remove: Sequence[str]
           ) -> dict[str, str]:
    merged = dict(meta)
    for key in remove:
        merged.pop(key, None)
    for key, value in set_meta.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _range_clauses(after: str | None, before: str | None, prefix: str,
                   after_inclusive: bool = False) -> tuple[str, list[Any]]:
    sql, params = "", []
    if after is not None:
        sql += " AND name >= ?" if after_inclusive else " AND name > ?"
        params.append(after)
    if before is not None:
        sql += " AND name < ?"
        params.append(before)
    if prefix:
        sql += " AND name >= ?"
        params.append(prefix)
        end = prefix_end(prefix)
        if end is not None:
            sql += " AND name < ?"
            params.append(end)
    return sql, params


class SqliteObjectStore(ObjectStore):
    db: Database

    # accounts -------------------------------------------------------------------------
    async def get_account(self, account: str) -> AccountRecord | None:
        row = self.db.query_one("SELECT name, created_at, meta FROM accounts WHERE name = ?",
                                (account,))
        return AccountRecord(row[0], row[1], orjson.loads(row[2])) if row else None

    async def update_account_meta(self, account: str, set_meta: dict[str, str],
                                  remove: Sequence[str], now: float) -> AccountRecord:
        def tx(conn: sqlite3.Connection) -> AccountRecord:
            row = conn.execute("SELECT created_at, meta FROM accounts WHERE name = ?",
                               (account,)).fetchone()
            created, meta = (row[0], orjson.loads(row[1])) if row else (now, {})
            meta = _merge(meta, set_meta, remove)
            conn.execute("INSERT OR REPLACE INTO accounts (name, created_at, meta) VALUES (?,?,?)",
                         (account, created, orjson.dumps(meta).decode()))
            return AccountRecord(account, created, meta)

        return await self.db.write(tx)

    async def account_stats(self, account: str) -> AccountStats:
        rows = self.db.query(
            "SELECT policy, count(*), sum(object_count), sum(bytes_used)"
            " FROM containers WHERE account = ? GROUP BY policy", (account,))
        per_policy = {row[0]: AccountStats(0, 0, 0) for row in self.db.query(
            "SELECT policy FROM account_policies WHERE account = ?", (account,))}
        per_policy.update((r[0], AccountStats(r[1], r[2], r[3])) for r in rows)
        return AccountStats(sum(r[1] for r in rows), sum(r[2] for r in rows),
                            sum(r[3] for r in rows), per_policy)

    async def list_containers(self, account: str, query: ListingQuery
                              ) -> list[ContainerRecord | Subdir]:
        def fetch(after: str | None, before: str | None, prefix: str, reverse: bool,
                  limit: int, inclusive: bool) -> list[ContainerRecord]:
            where, params = _range_clauses(after, before, prefix, inclusive)
            order = "DESC" if reverse else "ASC"
            rows = self.db.query(
                f"SELECT {CONTAINER_COLUMNS} FROM containers WHERE account = ?{where}"
                f" ORDER BY name {order} LIMIT ?", (account, *params, limit))
            return [_container(r) for r in rows]

        return keyset_listing(fetch, query)

    # containers -----------------------------------------------------------------------
    async def get_container(self, account: str, name: str) -> ContainerRecord | None:
        row = self.db.query_one(
            f"SELECT {CONTAINER_COLUMNS} FROM containers WHERE account = ? AND name = ?",
            (account, name))
        return _container(row) if row else None

    async def create_container(self, account: str, name: str, meta: dict[str, str],
                               now: float, policy: str, *, require_policy: bool = False
                               ) -> tuple[ContainerRecord, bool]:
        def tx(conn: sqlite3.Connection) -> tuple[ContainerRecord, bool]:
            row = conn.execute(
                f"SELECT {CONTAINER_COLUMNS} FROM containers WHERE account = ? AND name = ?",
                (account, name)).fetchone()
            if row:
                if require_policy and row[8] != policy:
                    raise Conflict(name)
                merged = _merge(orjson.loads(row[7]), meta, ())
                conn.execute("UPDATE containers SET meta = ?, put_timestamp = ? WHERE id = ?",
                             (orjson.dumps(merged).decode(), now, row[0]))
                return _container((*row[:4], now, row[5], row[6], orjson.dumps(merged),
                                   row[8])), False
            clean = {k: v for k, v in meta.items() if v != ""}
            cur = conn.execute(
                "INSERT INTO containers (account, name, created_at, put_timestamp, meta, policy)"
                " VALUES (?,?,?,?,?,?)",
                (account, name, now, now, orjson.dumps(clean).decode(), policy))
            conn.execute("INSERT OR IGNORE INTO account_policies VALUES (?, ?)", (account, policy))
            assert cur.lastrowid is not None
            return ContainerRecord(cur.lastrowid, account, name, now, now, 0, 0, clean,
                                   policy), True

        return await self.db.write(tx)

    async def update_container_meta(self, account: str, name: str, set_meta: dict[str, str],
                                    remove: Sequence[str], now: float | None = None
                                    ) -> ContainerRecord:
        def tx(conn: sqlite3.Connection) -> ContainerRecord:
            row = conn.execute(
                f"SELECT {CONTAINER_COLUMNS} FROM containers WHERE account = ? AND name = ?",
                (account, name)).fetchone()
            if not row:
                raise NotFound(name)
            merged = _merge(orjson.loads(row[7]), set_meta, remove)
            put_timestamp = row[4] if now is None else now
            conn.execute("UPDATE containers SET meta = ?, put_timestamp = ? WHERE id = ?",
                         (orjson.dumps(merged).decode(), put_timestamp, row[0]))
            return _container((*row[:4], put_timestamp, *row[5:7], orjson.dumps(merged),
                               row[8]))

        return await self.db.write(tx)

    async def container_policy(self, container_id: int) -> str | None:
        row = self.db.query_one("SELECT policy FROM containers WHERE id = ?", (container_id,))
        return row[0] if row else None

    async def container_policies(self) -> set[str]:
        return {row[0] for row in self.db.query("SELECT DISTINCT policy FROM containers")}

    async def policy_stats(self) -> dict[str, AccountStats]:
        rows = self.db.query("SELECT policy, count(*), sum(object_count), sum(bytes_used)"
                             " FROM containers GROUP BY policy")
        return {row[0]: AccountStats(row[1], row[2], row[3]) for row in rows}

    async def assign_legacy_policy(self, policy: str) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT OR IGNORE INTO account_policies"
                         " SELECT DISTINCT account, ? FROM containers WHERE policy = ''",
                         (policy,))
            return conn.execute("UPDATE containers SET policy = ? WHERE policy = ''",
                                (policy,)).rowcount

        return await self.db.write(tx)

    async def delete_container(self, account: str, name: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT id FROM containers WHERE account = ? AND name = ?",
                               (account, name)).fetchone()
            if not row:
                raise NotFound(name)
            if conn.execute("SELECT 1 FROM objects WHERE container_id = ? LIMIT 1",
                            (row[0],)).fetchone():
                raise Conflict(name)
            conn.execute("DELETE FROM sync_changes WHERE container_id = ?", (row[0],))
            conn.execute("DELETE FROM container_sync WHERE container_id = ?", (row[0],))
            conn.execute("DELETE FROM tombstones WHERE container_id = ?", (row[0],))
            conn.execute("DELETE FROM usage_samples WHERE account = ? AND container = ?",
                         (account, name))
            conn.execute("DELETE FROM containers WHERE id = ?", (row[0],))

        await self.db.write(tx)

    # objects --------------------------------------------------------------------------
    async def get_object(self, container_id: int, name: str) -> ObjectRecord | None:
        row = self.db.query_one(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?",
            (container_id, name))
        return _object(row) if row else None

    async def lookup(self, account: str, container: str, obj: str | None = None, *,
                     data: bool = False, counts: bool = True) -> Lookup:
        # the counters are columns of the container's row here: read whatever `counts` says
        row = self.db.query_one(LOOKUP_SQL, (account, container, obj, data))
        assert row is not None  # the statement always yields its one row
        return Lookup(AccountRecord(account, row[0], orjson.loads(row[1]))
                      if row[0] is not None else None,
                      _container(row[2:11]) if row[2] is not None else None,
                      _object(row[11:20]) if row[11] is not None else None, row[20])

    async def put_object(self, record: ObjectRecord, data: bytes | None = None
                         ) -> ObjectRecord | None:
        def tx(conn: sqlite3.Connection) -> ObjectRecord | None:
            if not conn.execute("SELECT 1 FROM containers WHERE id = ?",
                                (record.container_id,)).fetchone():
                raise NotFound(str(record.container_id))
            row = conn.execute(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?",
                (record.container_id, record.name)).fetchone()
            old = _object(row) if row else None
            if old is not None and old.timestamp >= record.timestamp:
                raise Superseded(record.name, old.timestamp)  # the newest timestamp wins
            if old is None:
                deleted = conn.execute(
                    "SELECT timestamp FROM tombstones WHERE container_id = ? AND name = ?",
                    (record.container_id, record.name)).fetchone()
                if deleted is not None and deleted[0] >= record.timestamp:
                    raise Superseded(record.name, deleted[0])
            if old is not None and old.blob_id != record.blob_id:
                self._drop_inline(conn, old.blob_id)
            if data is not None:
                conn.execute("INSERT INTO inline_blobs (id, data) VALUES (?, ?)",
                             (record.blob_id, data))
            conn.execute(
                f"INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (record.container_id, record.name, record.blob_id, record.size, record.etag,
                 record.content_type, record.timestamp, orjson.dumps(record.meta).decode(),
                 record.delete_at))
            conn.execute(
                "UPDATE containers SET object_count = object_count + ?,"
                " bytes_used = bytes_used + ? WHERE id = ?",
                (0 if old else 1, counted_size(record) - (counted_size(old) if old else 0),
                 record.container_id))
            _log_change(conn, record.container_id, record.name, record.timestamp)
            return old

        return await self.db.write(tx)

    async def update_object(self, container_id: int, name: str, meta: dict[str, str],
                            content_type: str | None, delete_at: int | None,
                            now: float | None = None) -> ObjectRecord:
        def tx(conn: sqlite3.Connection) -> ObjectRecord:
            row = conn.execute(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?",
                (container_id, name)).fetchone()
            if not row:
                raise NotFound(name)
            if now is not None and row[6] >= now:
                raise Superseded(name, row[6])
            ctype = content_type or row[5]
            timestamp = row[6] if now is None else now
            conn.execute(
                "UPDATE objects SET meta = ?, content_type = ?, delete_at = ?, timestamp = ?"
                " WHERE container_id = ? AND name = ?",
                (orjson.dumps(meta).decode(), ctype, delete_at, timestamp, container_id, name))
            old, new = _object(row), _object((*row[:5], ctype, timestamp, orjson.dumps(meta),
                                                delete_at))
            if counted_size(new) != counted_size(old):
                conn.execute("UPDATE containers SET bytes_used = bytes_used + ? WHERE id = ?",
                             (counted_size(new) - counted_size(old), container_id))
            _log_change(conn, container_id, name, timestamp)
            return new

        return await self.db.write(tx)

    async def delete_object(self, container_id: int, name: str, when: float | None = None,
                            *, older_than: float | None = None) -> ObjectRecord | None:
        stamp = when if when is not None else older_than

        def tx(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?",
                (container_id, name)).fetchone()
            if not row:
                return None
            old = _object(row)
            if stamp is not None and old.timestamp >= stamp:
                raise Superseded(name, old.timestamp)  # a newer PUT wins over this delete
            self._remove_row(conn, old, when)
            return old

        return await self.db.write(tx)

    @staticmethod
    def _drop_inline(conn: sqlite3.Connection, blob_id: str) -> None:
        """An inline blob's bytes leave in the transaction that lets go of its row."""
        if is_inline(blob_id):
            conn.execute("DELETE FROM inline_blobs WHERE id = ?", (blob_id,))

    @staticmethod
    def _remove_row(conn: sqlite3.Connection, old: ObjectRecord, when: float | None = None
                    ) -> None:
        conn.execute("DELETE FROM objects WHERE container_id = ? AND name = ?",
                     (old.container_id, old.name))
        SqliteObjectStore._drop_inline(conn, old.blob_id)
        conn.execute(
            "UPDATE containers SET object_count = object_count - 1, bytes_used = bytes_used - ?"
            " WHERE id = ?", (counted_size(old), old.container_id))
        pushed = when is not None
        when = time.time() if when is None else when
        _log_change(conn, old.container_id, old.name, when)
        conn.execute(TOMBSTONE, (old.container_id, old.name, when, pushed, old.container_id))

    async def delete_object_if(self, record: ObjectRecord) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?"
                " AND blob_id = ? AND delete_at IS ?",
                (record.container_id, record.name, record.blob_id, record.delete_at)).fetchone()
            if not row:
                return False
            self._remove_row(conn, _object(row))
            return True

        return await self.db.write(tx)

    async def delete_objects_if(self, records: Sequence[ObjectRecord]) -> list[ObjectRecord]:
        """One transaction (one fsync) for a whole expirer batch, not one per object."""
        def tx(conn: sqlite3.Connection) -> list[ObjectRecord]:
            removed = []
            for record in records:
                row = conn.execute(
                    f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ? AND name = ?"
                    " AND blob_id = ? AND delete_at IS ?",
                    (record.container_id, record.name, record.blob_id, record.delete_at)
                ).fetchone()
                if row:
                    self._remove_row(conn, _object(row))
                    removed.append(record)
            return removed

        return await self.db.write(tx)

    async def list_objects(self, container_id: int, query: ListingQuery, now: float
                           ) -> list[ObjectRecord | Subdir]:
        def fetch(after: str | None, before: str | None, prefix: str, reverse: bool,
                  limit: int, inclusive: bool) -> list[ObjectRecord]:
            where, params = _range_clauses(after, before, prefix, inclusive)
            order = "DESC" if reverse else "ASC"
            rows = self.db.query(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = ?{where}"
                " AND (delete_at IS NULL OR delete_at > ?)"
                f" ORDER BY name {order} LIMIT ?", (container_id, *params, now, limit))
            return [_object(r) for r in rows]

        return keyset_listing(fetch, query)

    async def expired_objects(self, now: float, limit: int, *, account: str | None = None,
                              container_id: int | None = None) -> list[ObjectRecord]:
        # INDEXED BY: with a container filter the planner would otherwise walk the whole
        # container through the primary key instead of the (short) expired part of the index
        where, params = "", list[Any]([now])
        if container_id is not None:
            where, params = " AND container_id = ?", [now, container_id]
        elif account is not None:
            where = " AND container_id IN (SELECT id FROM containers WHERE account = ?)"
            params = [now, account]
        rows = self.db.query(
            f"SELECT {OBJECT_COLUMNS} FROM objects INDEXED BY objects_delete_at"
            f" WHERE delete_at IS NOT NULL AND delete_at <= ?{where}"
            " ORDER BY delete_at LIMIT ?", (*params, limit))
        return [_object(r) for r in rows]

    async def blob_referenced(self, blob_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM objects WHERE blob_id = ? LIMIT 1",
                                 (blob_id,)) is not None

    async def object_by_blob(self, blob_id: str) -> tuple[str, str, ObjectRecord] | None:
        columns = ", ".join(f"o.{c.strip()}" for c in OBJECT_COLUMNS.split(","))
        row = self.db.query_one(
            f"SELECT c.account, c.name, {columns} FROM objects o"
            " JOIN containers c ON c.id = o.container_id WHERE o.blob_id = ? LIMIT 1",
            (blob_id,))
        return None if row is None else (row[0], row[1], _object(row[2:]))

    async def inline_data(self, blob_id: str) -> bytes | None:
        row = self.db.query_one("SELECT data FROM inline_blobs WHERE id = ?", (blob_id,))
        return row[0] if row else None

    # container sync -------------------------------------------------------------------
    async def set_container_sync(self, container_id: int, enabled: bool, now: float) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sync_changes WHERE container_id = ?", (container_id,))
            conn.execute("DELETE FROM container_sync WHERE container_id = ?", (container_id,))
            if enabled:  # a new or changed destination gets everything, as in Swift
                conn.execute("INSERT INTO container_sync VALUES (?, ?)", (container_id, now))
                conn.execute("INSERT INTO sync_changes (container_id, name, timestamp)"
                             " SELECT container_id, name, timestamp FROM objects"
                             " WHERE container_id = ? ORDER BY name", (container_id,))

        await self.db.write(tx)

    async def syncing_containers(self) -> list[tuple[int, str, str]]:
        return [(row[0], row[1], row[2]) for row in self.db.query(
            "SELECT s.container_id, c.account, c.name FROM container_sync s"
            " JOIN containers c ON c.id = s.container_id ORDER BY s.container_id")]

    async def sync_changes(self, container_id: int, limit: int) -> list[SyncChange]:
        rows = self.db.query("SELECT id, name, timestamp FROM sync_changes"
                             " WHERE container_id = ? ORDER BY id LIMIT ?",
                             (container_id, limit))
        return [SyncChange(*row) for row in rows]

    async def drop_sync_changes(self, container_id: int, ids: Sequence[int]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM sync_changes WHERE id = ? AND container_id = ?",
                             [(i, container_id) for i in ids])

        await self.db.write(tx)

    async def tombstone(self, container_id: int, name: str) -> float | None:
        row = self.db.query_one("SELECT timestamp FROM tombstones"
                                " WHERE container_id = ? AND name = ?", (container_id, name))
        return float(row[0]) if row else None

    async def purge_tombstones(self, before: float) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM tombstones WHERE timestamp < ?",
                                (before,)).rowcount

        return await self.db.write(tx)
