"""The image half of the SQLite backend: images, members and tasks (listings: see
image_query.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from strato.stores.metadata.base import Conflict, ImageStore, NotFound
from strato.stores.metadata.image_query import IMAGE_COLUMNS, SQLITE, list_images_sql
from strato.stores.metadata.records import (
    ImageMemberRecord,
    ImageQuery,
    ImageRecord,
    ImageUsage,
    TaskRecord,
)
from strato.stores.metadata.sqlite.db import Database

MEMBER_COLUMNS = "image_id, member, status, created_at, updated_at"
TASK_COLUMNS = ("id, type, status, owner, created_at, updated_at, input, result, message,"
                " image_id, user_id, request_id, expires_at, heartbeat")

def _image(row: tuple[Any, ...]) -> ImageRecord:
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


def _member(row: tuple[Any, ...]) -> ImageMemberRecord:
    return ImageMemberRecord(row[0], row[1], row[2], row[3], row[4])


def _task(row: tuple[Any, ...]) -> TaskRecord:
    return TaskRecord(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]),
                      orjson.loads(row[7]) if row[7] is not None else None, row[8], row[9],
                      row[10], row[11], row[12], row[13])


def _task_values(r: TaskRecord) -> tuple[Any, ...]:
    return (r.id, r.type, r.status, r.owner, r.created_at, r.updated_at,
            orjson.dumps(r.input).decode(),
            orjson.dumps(r.result).decode() if r.result is not None else None, r.message,
            r.image_id, r.user_id, r.request_id, r.expires_at, r.heartbeat)


class SqliteImageStore(ImageStore):
    db: Database

    # images -----------------------------------------------------------------------------
    async def create_image(self, record: ImageRecord) -> ImageRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES "
                             f"({', '.join('?' * 23)})", _image_values(record))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"image {record.id} exists") from exc

        await self.db.write(tx)
        return record

    async def get_image(self, image_id: str) -> ImageRecord | None:
        row = self.db.query_one(f"SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?",
                                (image_id,))
        return _image(row) if row else None

    async def update_image(self, record: ImageRecord, *,
                           expect_status: tuple[str, ...] | None = None,
                           expect_updated_at: float | None = None) -> ImageRecord:
        assignments = ", ".join(f"{c.strip()} = ?" for c in IMAGE_COLUMNS.split(",")[1:])

        def tx(conn: sqlite3.Connection) -> None:
            if expect_updated_at is not None:
                row = conn.execute("SELECT updated_at FROM images WHERE id = ?",
                                   (record.id,)).fetchone()
                if row is not None and row[0] != expect_updated_at:
                    raise Conflict("changed since read")
            _compare_and_set(conn, "images", record.id, expect_status,
                             lambda: conn.execute(
                                 f"UPDATE images SET {assignments} WHERE id = ?",
                                 (*_image_values(record)[1:], record.id)))

        await self.db.write(tx)
        return record

    async def list_images(self, query: ImageQuery) -> list[ImageRecord]:
        sql, params = list_images_sql(query, SQLITE)
        return [_image(row) for row in self.db.query(sql, tuple(params))]

    async def images_in_status(self, status: str, *, changed_before: float | None = None,
                               limit: int = 100) -> list[ImageRecord]:
        sql = f"SELECT {IMAGE_COLUMNS} FROM images WHERE status = ?"
        params: list[Any] = [status]
        if changed_before is not None:
            sql += " AND updated_at <= ?"
            params.append(changed_before)
        rows = self.db.query(sql + " ORDER BY updated_at LIMIT ?", (*params, limit))
        return [_image(row) for row in rows]

    async def image_usage(self, owner: str) -> ImageUsage:
        row = self.db.query_one(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(staged_size), 0),"
            " coalesce(sum(status IN ('saving', 'uploading', 'importing')), 0)"
            " FROM images WHERE owner = ? AND status NOT IN ('deleted', 'pending_delete')",
            (owner,))
        assert row is not None
        return ImageUsage(row[0], row[1], row[2], row[3])

    async def purge_image(self, image_id: str) -> None:
        await self.db.write(lambda conn: conn.execute("DELETE FROM images WHERE id = ?",
                                                      (image_id,)))

    # members ----------------------------------------------------------------------------
    async def create_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO image_members ({MEMBER_COLUMNS}) VALUES "
                             "(?, ?, ?, ?, ?)", (record.image_id, record.member, record.status,
                                                 record.created_at, record.updated_at))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"{record.member} is already a member") from exc

        await self.db.write(tx)
        return record

    async def get_member(self, image_id: str, member: str) -> ImageMemberRecord | None:
        row = self.db.query_one(f"SELECT {MEMBER_COLUMNS} FROM image_members"
                                " WHERE image_id = ? AND member = ?", (image_id, member))
        return _member(row) if row else None

    async def update_member(self, record: ImageMemberRecord) -> ImageMemberRecord:
        def tx(conn: sqlite3.Connection) -> None:
            changed = conn.execute(
                "UPDATE image_members SET status = ?, updated_at = ?"
                " WHERE image_id = ? AND member = ?",
                (record.status, record.updated_at, record.image_id, record.member)).rowcount
            if not changed:
                raise NotFound(record.member)

        await self.db.write(tx)
        return record

    async def list_members(self, image_id: str) -> list[ImageMemberRecord]:
        rows = self.db.query(f"SELECT {MEMBER_COLUMNS} FROM image_members WHERE image_id = ?"
                             " ORDER BY created_at, member", (image_id,))
        return [_member(row) for row in rows]

    async def delete_member(self, image_id: str, member: str) -> bool:
        return bool(await self.db.write(lambda conn: conn.execute(
            "DELETE FROM image_members WHERE image_id = ? AND member = ?",
            (image_id, member)).rowcount))

    # tasks ------------------------------------------------------------------------------
    async def create_task(self, record: TaskRecord) -> TaskRecord:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO image_tasks ({TASK_COLUMNS}) VALUES "
                             f"({', '.join('?' * 14)})", _task_values(record))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"task {record.id} exists") from exc

        await self.db.write(tx)
        return record

    async def get_task(self, task_id: str) -> TaskRecord | None:
        row = self.db.query_one(f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE id = ?",
                                (task_id,))
        return _task(row) if row else None

    async def update_task(self, record: TaskRecord, *,
                          expect_status: tuple[str, ...] | None = None) -> TaskRecord:
        assignments = ", ".join(f"{c.strip()} = ?" for c in TASK_COLUMNS.split(",")[1:])

        def tx(conn: sqlite3.Connection) -> None:
            _compare_and_set(conn, "image_tasks", record.id, expect_status,
                             lambda: conn.execute(
                                 f"UPDATE image_tasks SET {assignments} WHERE id = ?",
                                 (*_task_values(record)[1:], record.id)))

        await self.db.write(tx)
        return record

    async def claim_task(self, task_id: str, seen_heartbeat: float | None,
                         heartbeat: float) -> bool:
        return bool(await self.db.write(lambda conn: conn.execute(
            "UPDATE image_tasks SET status = 'processing', heartbeat = ?, updated_at = ?"
            " WHERE id = ? AND status IN ('pending', 'processing')"
            " AND coalesce(heartbeat, -1) = coalesce(?, -1)",
            (heartbeat, heartbeat, task_id, seen_heartbeat)).rowcount))

    async def list_tasks(self, *, owner: str | None, status: str | None = None,
                         type: str | None = None, image_id: str | None = None,
                         sort_key: str = "created_at", sort_dir: str = "desc",
                         marker: TaskRecord | None = None, limit: int = 20
                         ) -> list[TaskRecord]:
        if sort_key not in ("created_at", "updated_at", "status", "type", "id", "owner") or \
                sort_dir not in ("asc", "desc"):
            raise ValueError(f"invalid sort {sort_key}:{sort_dir}")
        clauses, params = ["1"], []
        for column, value in (("owner", owner), ("status", status), ("type", type),
                              ("image_id", image_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        op = ">" if sort_dir == "asc" else "<"
        key = f"coalesce({sort_key}, '')"
        if marker is not None:
            value = getattr(marker, sort_key) or ""
            clauses.append(f"({key} {op} ? OR ({key} = ? AND id {op} ?))")
            params.extend([value, value, marker.id])
        rows = self.db.query(
            f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE {' AND '.join(clauses)}"
            f" ORDER BY {key} {sort_dir.upper()}, id {sort_dir.upper()} LIMIT ?",
            (*params, limit))
        return [_task(row) for row in rows]

    async def stalled_tasks(self, heartbeat_before: float, limit: int = 20
                            ) -> list[TaskRecord]:
        rows = self.db.query(
            f"SELECT {TASK_COLUMNS} FROM image_tasks WHERE status IN ('pending', 'processing')"
            " AND coalesce(heartbeat, created_at) < ? ORDER BY created_at LIMIT ?",
            (heartbeat_before, limit))
        return [_task(row) for row in rows]

    async def purge_tasks(self, now: float) -> int:
        return int(await self.db.write(lambda conn: conn.execute(
            "DELETE FROM image_tasks WHERE expires_at IS NOT NULL AND expires_at < ?",
            (now,)).rowcount))


def _compare_and_set(conn: sqlite3.Connection, table: str, row_id: str,
                     expect_status: tuple[str, ...] | None,
                     update: Callable[[], sqlite3.Cursor]) -> None:
    """Run `update` only while the row's status is one of `expect_status` (any if None)."""
    row = conn.execute(f"SELECT status FROM {table} WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        raise NotFound(row_id)
    if expect_status is not None and row[0] not in expect_status:
        raise Conflict(row[0])
    update()
