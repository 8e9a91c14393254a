"""Access keys in SQLite: one row per key, looked up by id on every signed request."""

from __future__ import annotations

import sqlite3
from typing import Any

from strato.stores.metadata.base import AccessKeyStore, Conflict
from strato.stores.metadata.records import AccessKeyRecord
from strato.stores.metadata.sqlite.db import Database

COLUMNS = "id, secret, user_id, project_id, created_at"


def _key(row: tuple[Any, ...]) -> AccessKeyRecord:
    return AccessKeyRecord(row[0], row[1], row[2], row[3], row[4])


class SqliteAccessKeyStore(AccessKeyStore):
    db: Database

    async def create_access_key(self, record: AccessKeyRecord) -> AccessKeyRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO access_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                             (record.id, record.secret, record.user_id, record.project_id,
                              record.created_at))
            except sqlite3.IntegrityError as exc:
                raise Conflict(str(exc)) from exc

        await self.db.write(tx)
        return record

    async def get_access_key(self, key_id: str) -> AccessKeyRecord | None:
        row = self.db.query_one(f"SELECT {COLUMNS} FROM access_keys WHERE id = ?", (key_id,))
        return _key(row) if row else None

    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]:
        rows = self.db.query(f"SELECT {COLUMNS} FROM access_keys WHERE user_id = ? "
                             "ORDER BY created_at", (user_id,))
        return [_key(row) for row in rows]

    async def delete_access_key(self, key_id: str) -> bool:
        return bool(await self.db.write(
            lambda conn: conn.execute("DELETE FROM access_keys WHERE id = ?",
                                      (key_id,)).rowcount))
