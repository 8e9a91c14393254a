"""Access keys in SQLite: one row per key, looked up by id on every signed request."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from strato.stores.metadata.base import SYNC_KEY, AccessKeyStore, Conflict
from strato.stores.metadata.records import AccessKeyRecord
from strato.stores.metadata.sqlite.db import Database, connect

COLUMNS = "id, secret, user_id, project_id, created_at"
SYNC_KEY_PATH = f'$."{SYNC_KEY}"'
"""The JSON path of a container's sync key in its `meta`."""


class SqliteAccessKeyStore(AccessKeyStore):
    db: Database

    def _key(self, row: tuple[Any, ...]) -> AccessKeyRecord:
        return AccessKeyRecord(row[0], self.open_secret(row[1]), row[2], row[3], row[4])

    async def create_access_key(self, record: AccessKeyRecord) -> AccessKeyRecord:
        sealed = self.seal_secret(record.secret)

        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO access_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                             (record.id, sealed, record.user_id, record.project_id,
                              record.created_at))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self.db.write(tx)
        return record

    async def get_access_key(self, key_id: str) -> AccessKeyRecord | None:
        row = self.db.query_one(f"SELECT {COLUMNS} FROM access_keys WHERE id = ?", (key_id,))
        return self._key(row) if row else None

    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]:
        rows = self.db.query(f"SELECT {COLUMNS} FROM access_keys WHERE user_id = ? "
                             "ORDER BY created_at", (user_id,))
        return [self._key(row) for row in rows]

    async def delete_access_key(self, key_id: str) -> bool:
        return bool(await self.db.write(
            lambda conn: conn.execute("DELETE FROM access_keys WHERE id = ?",
                                      (key_id,)).rowcount))

    async def stored_access_key_secrets(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self.db.query("SELECT id, secret FROM access_keys")]

    async def replace_access_key_secret(self, key_id: str, old: str, new: str) -> bool:
        return bool(await self.db.write(
            lambda conn: conn.execute("UPDATE access_keys SET secret = ? WHERE id = ? AND "
                                      "secret = ?", (new, key_id, old)).rowcount))

    async def stored_sync_keys(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in self.db.query(
            "SELECT id, json_extract(meta, ?) FROM containers"
            " WHERE json_extract(meta, ?) IS NOT NULL", (SYNC_KEY_PATH, SYNC_KEY_PATH))]

    async def replace_sync_key(self, container_id: int, old: str, new: str) -> bool:
        return bool(await self.db.write(
            lambda conn: conn.execute(
                "UPDATE containers SET meta = json_set(meta, ?, ?)"
                " WHERE id = ? AND json_extract(meta, ?) = ?",
                (SYNC_KEY_PATH, new, container_id, SYNC_KEY_PATH, old)).rowcount))

    async def drop_old_row_versions(self, tables: Sequence[str]) -> None:
        """The log still holds the pages as they were: checkpoint it and truncate it (on a
        connection of its own, outside the writer's transactions; best effort, since a
        reader that is still busy keeps its frames)."""
        def checkpoint() -> None:
            conn = connect(self.db.path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        await asyncio.to_thread(checkpoint)
