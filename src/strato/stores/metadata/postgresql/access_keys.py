"""Access keys in PostgreSQL: one row per key, looked up by id on every signed request."""

from __future__ import annotations

from typing import Any

import asyncpg

from strato.stores.metadata.base import AccessKeyStore, Conflict
from strato.stores.metadata.postgresql.db import Database
from strato.stores.metadata.records import AccessKeyRecord

COLUMNS = "id, secret, user_id, project_id, created_at"


def _key(row: Any) -> AccessKeyRecord:
    return AccessKeyRecord(row[0], row[1], row[2], row[3], row[4])


class PostgresAccessKeyStore(AccessKeyStore):
    db: Database

    async def create_access_key(self, record: AccessKeyRecord) -> AccessKeyRecord:
        try:
            await self.db.execute(f"INSERT INTO access_keys ({COLUMNS}) VALUES ($1, $2, $3, $4,"
                                  " $5)", record.id, record.secret, record.user_id,
                                  record.project_id, record.created_at)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        return record

    async def get_access_key(self, key_id: str) -> AccessKeyRecord | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM access_keys WHERE id = $1", key_id)
        return _key(row) if row else None

    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]:
        rows = await self.db.fetch(f"SELECT {COLUMNS} FROM access_keys WHERE user_id = $1"
                                   " ORDER BY created_at", user_id)
        return [_key(row) for row in rows]

    async def delete_access_key(self, key_id: str) -> bool:
        return await self.db.execute("DELETE FROM access_keys WHERE id = $1", key_id) > 0
