"""The image half of the PostgreSQL backend: images, members and tasks (listings: see
image_query.py, shared with SQLite)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import orjson

from strato.stores.metadata.base import Conflict, ImageStore, NotFound
from strato.stores.metadata.image_query import IMAGE_COLUMNS, POSTGRESQL, list_images_sql
from strato.stores.metadata.postgresql.db import Database
from strato.stores.metadata.records import (
    ImageMemberRecord,
    ImageQuery,
    ImageRecord,
    ImageUsage,
    TaskRecord,
)

MEMBER_COLUMNS = "image_id, member, status, created_at, updated_at"
TASK_COLUMNS = ("id, type, status, owner, created_at, updated_at, input, result, message,"
                " image_id, user_id, request_id, expires_at, heartbeat")
TASK_SORT_KEYS = {"created_at": "-1", "updated_at": "-1", "status": "''", "type": "''",
                  "id": "''", "owner": "''"}
"""Task sort keys, each with the value a NULL sorts as."""


def _image(row: Any) -> ImageRecord:
    return ImageRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]),
                       bool(row[8]), row[9], row[10], row[11], row[12], row[13], row[14],
                       row[15], row[16], row[17], orjson.loads(row[18]),
                       tuple(orjson.loads(row[19])), tuple(orjson.loads(row[20])), row[21],
                       row[22])


def _image_values(r: ImageRecord) -> tuple[Any, ...]:
    return (r.id, r.status, r.visibility, r.owner, r.created_at, r.updated_at, r.name,
            int(r.protected), int(r.os_hidden), r.disk_format, r.container_format, r.size,
            r.virtual_size, r.checksum, r.os_hash_algo, r.os_hash_value, r.min_disk,
            r.min_ram, orjson.dumps(r.properties).decode(), orjson.dumps(list(r.tags)).decode(),
            orjson.dumps(list(r.stores)).decode(), r.deleted_at, r.staged_size)


def _member(row: Any) -> ImageMemberRecord:
    return ImageMemberRecord(row[0], row[1], row[2], row[3], row[4])


def _task(row: Any) -> TaskRecord:
    return TaskRecord(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]),
                      orjson.loads(row[7]) if row[7] is not None else None, row[8], row[9],
                      row[10], row[11], row[12], row[13])


def _task_values(r: TaskRecord) -> tuple[Any, ...]:
    return (r.id, r.type, r.status, r.owner, r.created_at, r.updated_at,
            orjson.dumps(r.input).decode(),
            orjson.dumps(r.result).decode() if r.result is not None else None, r.message,
            r.image_id, r.user_id, r.request_id, r.expires_at, r.heartbeat)


def _numbered(sql: str) -> str:
    """`?` placeholders (the shared builder's) as PostgreSQL's `$1, $2, ...`."""
    counter = iter(range(1, sql.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def _assignments(columns: str) -> str:
    """`col2 = $2, col3 = $3, ...` for every column after the id ($1)."""
    names = [c.strip() for c in columns.split(",")]
    return ", ".join(f"{name} = ${i}" for i, name in enumerate(names[1:], start=2))


def _placeholders(count: int) -> str:
    return ", ".join(f"${i}" for i in range(1, count + 1))


class PostgresImageStore(ImageStore):
    db: Database

    async def _compare_and_set(self, table: str, columns: str, values: tuple[Any, ...],
                               expect_status: tuple[str, ...] | None,
                               expect_updated_at: float | None = None) -> None:
        """Write every column of the row `values[0]` names, only while its status is one of
        `expect_status` (any if None) and, if given, it still has `expect_updated_at`."""
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(f"SELECT status, updated_at FROM {table} WHERE id = $1"
                                      " FOR UPDATE", values[0])
            if row is None:
                raise NotFound(values[0])
            if expect_updated_at is not None and row[1] != expect_updated_at:
                raise Conflict("changed since read")
            if expect_status is not None and row[0] not in expect_status:
                raise Conflict(row[0])
            await conn.execute(f"UPDATE {table} SET {_assignments(columns)} WHERE id = $1",
                               *values)

    # images -----------------------------------------------------------------------------
    async def create_image(self, record: ImageRecord) -> ImageRecord:
        try:
            await self.db.execute(f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES"
                                  f" ({_placeholders(23)})", *_image_values(record))
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"image {record.id} exists") from exc
        return record

    async def get_image(self, image_id: str) -> ImageRecord | None:
        row = await self.db.fetchrow(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1",
                                     image_id)
        return _image(row) if row else None

    async def update_image(self, record: ImageRecord, *,
                           expect_status: tuple[str, ...] | None = None,
                           expect_updated_at: float | None = None) -> ImageRecord:
        await self._compare_and_set("images", IMAGE_COLUMNS, _image_values(record),
                                    expect_status, expect_updated_at)
        return record

    async def list_images(self, query: ImageQuery) -> list[ImageRecord]:
        sql, params = list_images_sql(query, POSTGRESQL)
        return [_image(row) for row in await self.db.fetch(_numbered(sql), *params)]

    async def images_in_status(self, status: str, *, changed_before: float | None = None,
                               limit: int = 100) -> list[ImageRecord]:
        rows = await self.db.fetch(
            f"SELECT {IMAGE_COLUMNS} FROM images WHERE status = $1"
            " AND ($2::float8 IS NULL OR updated_at <= $2) ORDER BY updated_at LIMIT $3",
            status, changed_before, limit)
        return [_image(row) for row in rows]

    async def image_usage(self, owner: str) -> ImageUsage:
        row = await self.db.fetchrow(
            "SELECT count(*), coalesce(sum(size), 0)::bigint,"
            " coalesce(sum(staged_size), 0)::bigint,"
            " count(*) FILTER (WHERE status IN ('saving', 'uploading', 'importing'))"
            " FROM images WHERE owner = $1 AND status NOT IN ('deleted', 'pending_delete')",
            owner)
        assert row is not None
        return ImageUsage(row[0], row[1], row[2], row[3])

    async def purge_image(self, image_id: str) -> None:
        await self.db.execute("DELETE FROM images WHERE id = $1", image_id)

    # members ----------------------------------------------------------------------------
    async def create_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        try:
            await self.db.execute(
                f"INSERT INTO image_members ({MEMBER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)",
                record.image_id, record.member, record.status, record.created_at,
                record.updated_at)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"{record.member} is already a member") from exc
        return record

    async def get_member(self, image_id: str, member: str) -> ImageMemberRecord | None:
        row = await self.db.fetchrow(f"SELECT {MEMBER_COLUMNS} FROM image_members"
                                     " WHERE image_id = $1 AND member = $2", image_id, member)
        return _member(row) if row else None

    async def update_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        changed = await self.db.execute(
            "UPDATE image_members SET status = $1, updated_at = $2"
            " WHERE image_id = $3 AND member = $4",
            record.status, record.updated_at, record.image_id, record.member)
        if not changed:
            raise NotFound(record.member)
        return record

    async def list_members(self, image_id: str) -> list[ImageMemberRecord]:
        rows = await self.db.fetch(f"SELECT {MEMBER_COLUMNS} FROM image_members"
                                   " WHERE image_id = $1 ORDER BY created_at, member", image_id)
        return [_member(row) for row in rows]

    async def delete_member(self, image_id: str, member: str) -> bool:
        return await self.db.execute(
            "DELETE FROM image_members WHERE image_id = $1 AND member = $2",
            image_id, member) > 0

    # tasks ------------------------------------------------------------------------------
    async def create_task(self, record: TaskRecord) -> TaskRecord:
        try:
            await self.db.execute(f"INSERT INTO image_tasks ({TASK_COLUMNS}) VALUES"
                                  f" ({_placeholders(14)})", *_task_values(record))
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"task {record.id} exists") from exc
        return record

    async def get_task(self, task_id: str) -> TaskRecord | None:
        row = await self.db.fetchrow(f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE id = $1",
                                     task_id)
        return _task(row) if row else None

    async def update_task(self, record: TaskRecord, *,
                          expect_status: tuple[str, ...] | None = None) -> TaskRecord:
        await self._compare_and_set("image_tasks", TASK_COLUMNS, _task_values(record),
                                    expect_status)
        return record

    async def claim_task(self, task_id: str, seen_heartbeat: float | None,
                         heartbeat: float) -> bool:
        return await self.db.execute(
            "UPDATE image_tasks SET status = 'processing', heartbeat = $1, updated_at = $1"
            " WHERE id = $2 AND status IN ('pending', 'processing')"
            " AND coalesce(heartbeat, -1) = coalesce($3::float8, -1)",
            heartbeat, task_id, seen_heartbeat) > 0

    async def list_tasks(self, *, owner: str | None, status: str | None = None,
                         type: str | None = None, image_id: str | None = None,
                         sort_key: str = "created_at", sort_dir: str = "desc",
                         marker: TaskRecord | None = None, limit: int = 20
                         ) -> list[TaskRecord]:
        if sort_key not in TASK_SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise ValueError(f"invalid sort {sort_key}:{sort_dir}")
        clauses, params = ["TRUE"], list[Any]()
        for column, wanted in (("owner", owner), ("status", status), ("type", type),
                              ("image_id", image_id)):
            if wanted is not None:
                params.append(wanted)
                clauses.append(f"{column} = ${len(params)}")
        op = ">" if sort_dir == "asc" else "<"
        key = f"coalesce({sort_key}, {TASK_SORT_KEYS[sort_key]})"
        if marker is not None:
            value = getattr(marker, sort_key)
            if value is None:
                value = -1 if TASK_SORT_KEYS[sort_key] == "-1" else ""
            params += [value, marker.id]
            clauses.append(f"({key} {op} ${len(params) - 1}"
                           f" OR ({key} = ${len(params) - 1} AND id {op} ${len(params)}))")
        params.append(limit)
        rows = await self.db.fetch(
            f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE {' AND '.join(clauses)}"
            f" ORDER BY {key} {sort_dir.upper()}, id {sort_dir.upper()} LIMIT ${len(params)}",
            *params)
        return [_task(row) for row in rows]

    async def stalled_tasks(self, heartbeat_before: float, limit: int = 20
                            ) -> list[TaskRecord]:
        rows = await self.db.fetch(
            f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE status IN ('pending', 'processing')"
            " AND coalesce(heartbeat, created_at) < $1 ORDER BY created_at LIMIT $2",
            heartbeat_before, limit)
        return [_task(row) for row in rows]

    async def purge_tasks(self, now: float) -> int:
        return await self.db.execute(
            "DELETE FROM image_tasks WHERE expires_at IS NOT NULL AND expires_at < $1", now)
