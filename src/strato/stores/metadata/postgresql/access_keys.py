"""Access keys in PostgreSQL: one row per key, looked up by id on every signed request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from strato.stores.metadata.base import SYNC_KEY, AccessKeyStore, Conflict
from strato.stores.metadata.postgresql.db import Database
from strato.stores.metadata.records import AccessKeyRecord

COLUMNS = "id, secret, user_id, project_id, created_at"


class PostgresAccessKeyStore(AccessKeyStore):
    db: Database

    def _key(self, row: Any) -> AccessKeyRecord:
        return AccessKeyRecord(row[0], self.open_secret(row[1]), row[2], row[3], row[4])

    async def create_access_key(self, record: AccessKeyRecord) -> AccessKeyRecord:
        sealed = self.seal_secret(record.secret)
        try:
            await self.db.execute(f"INSERT INTO access_keys ({COLUMNS}) VALUES ($1, $2, $3, $4,"
                                  " $5)", record.id, sealed, record.user_id,
                                  record.project_id, record.created_at)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(str(exc)) from exc
        return record

    async def get_access_key(self, key_id: str) -> AccessKeyRecord | None:
        row = await self.db.fetchrow(f"SELECT {COLUMNS} FROM access_keys WHERE id = $1", key_id)
        return self._key(row) if row else None

    async def list_access_keys(self, user_id: str) -> list[AccessKeyRecord]:
        rows = await self.db.fetch(f"SELECT {COLUMNS} FROM access_keys WHERE user_id = $1"
                                   " ORDER BY created_at", user_id)
        return [self._key(row) for row in rows]

    async def delete_access_key(self, key_id: str) -> bool:
        return await self.db.execute("DELETE FROM access_keys WHERE id = $1", key_id) > 0

    async def stored_access_key_secrets(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in await self.db.fetch("SELECT id, secret FROM "
                                                                 "access_keys")]

    async def replace_access_key_secret(self, key_id: str, old: str, new: str) -> bool:
        return await self.db.execute("UPDATE access_keys SET secret = $1 WHERE id = $2 AND "
                                     "secret = $3", new, key_id, old) > 0

    async def stored_sync_keys(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in await self.db.fetch(
            "SELECT id, meta::jsonb ->> $1 FROM containers WHERE meta::jsonb ? $1", SYNC_KEY)]

    async def replace_sync_key(self, container_id: int, old: str, new: str) -> bool:
        return await self.db.execute(
            "UPDATE containers SET meta = jsonb_set(meta::jsonb, ARRAY[$1], to_jsonb($2::text))"
            "::text WHERE id = $3 AND meta::jsonb ->> $1 = $4",
            SYNC_KEY, new, container_id, old) > 0

    async def drop_old_row_versions(self, tables: Sequence[str]) -> None:
        # an UPDATE leaves the old tuple in the table's files until vacuumed; FULL rewrites
        # the table into new files (rare: only after a reseal changed rows)
        for table in tables:
            if table in ("access_keys", "containers"):
                await self.db.execute(f"VACUUM FULL {table}")  # nosec B608  # fixed names
