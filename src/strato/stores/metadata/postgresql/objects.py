"""The object catalogue half of the PostgreSQL backend.

Names are `bytea` (see schema.py): encoded on the way in, decoded on the way out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import orjson

from strato.stores.metadata.base import Conflict, NotFound, ObjectStore, Superseded
from strato.stores.metadata.listing import keyset_listing_async, prefix_end
from strato.stores.metadata.postgresql.db import Batcher, Database, affected
from strato.stores.metadata.postgresql.schema import (
    COUNTER_SHARDS,
    PUT_NO_CONTAINER,
    PUT_SUPERSEDED,
)
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
)

_COUNTS = ("LEFT JOIN LATERAL (SELECT sum(object_count)::bigint AS objects,"
           " sum(bytes_used)::bigint AS bytes FROM container_counters"
           " WHERE container_id = c.id) s ON true")
CONTAINER_SELECT = ("SELECT c.id, c.account, c.name, c.created_at, c.put_timestamp,"
                    " coalesce(s.objects, 0), coalesce(s.bytes, 0), c.meta, c.policy"
                    f" FROM containers c {_COUNTS}")
"""A container with its counters folded from their shards."""
OBJECT_COLUMNS = "container_id, name, blob_id, size, etag, content_type, timestamp, meta, delete_at"


def _lookup_sql(counts: bool) -> str:
    """`ObjectStore.lookup` in one statement: always one row, its parts NULL where missing
    (without `counts`, the container's counters are 0, unread)."""
    return (
        "SELECT a.created_at, a.meta, c.id, c.account, c.name, c.created_at, c.put_timestamp,"
        + (" coalesce(s.objects, 0), coalesce(s.bytes, 0)," if counts else " 0::bigint, 0::bigint,")
        + " c.meta, c.policy, o.container_id, o.name, o.blob_id, o.size, o.etag,"
        " o.content_type, o.timestamp, o.meta, o.delete_at, i.data"
        " FROM (SELECT $1::bytea AS name) k LEFT JOIN accounts a ON a.name = k.name"
        " LEFT JOIN containers c ON c.account = k.name AND c.name = $2::bytea"
        + (f" {_COUNTS}" if counts else "")
        + " LEFT JOIN objects o ON o.container_id = c.id AND o.name = $3::bytea"
        " LEFT JOIN inline_blobs i ON $4::bool AND i.id = o.blob_id")


LOOKUP_SQL = {counts: _lookup_sql(counts) for counts in (True, False)}

REMOVE_SQL = (
    "WITH gone AS (DELETE FROM objects o USING unnest($1::bigint[], $2::bytea[], $3::text[],"
    " $4::bigint[], $5::bool[], $7::float8[]) AS t(c, n, b, d, k, g) WHERE o.container_id = t.c"
    " AND o.name = t.n AND (t.b IS NULL OR o.blob_id = t.b)"
    " AND (NOT t.k OR o.delete_at IS NOT DISTINCT FROM t.d)"
    " AND (t.g IS NULL OR o.timestamp < t.g) RETURNING o.*),"
    " blobs AS (DELETE FROM inline_blobs WHERE id IN"
    " (SELECT blob_id FROM gone WHERE blob_id LIKE 'inline:%')),"
    " counts AS (INSERT INTO container_counters AS k"
    " SELECT container_id, $6::smallint, -count(*), -sum(counted_size(size, meta))"
    " FROM gone GROUP BY container_id ON CONFLICT (container_id, shard) DO UPDATE"
    " SET object_count = k.object_count + excluded.object_count,"
    " bytes_used = k.bytes_used + excluded.bytes_used)"
    f" SELECT {OBJECT_COLUMNS} FROM gone")
"""Remove object rows (each only if it still refers to the given blob, when one is given,
when asked, still has the given delete-at, and, when a delete's timestamp is given, is older
than it) with their inline bytes and counters, in one statement; returns the rows removed."""


def _container(row: Any) -> ContainerRecord:
    return ContainerRecord(row[0], row[1].decode(), row[2].decode(), row[3], row[4], row[5],
                           row[6], orjson.loads(row[7]), row[8])


def _object(row: Any) -> ObjectRecord:
    return ObjectRecord(row[0], row[1].decode(), row[2], row[3], row[4], row[5], row[6],
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


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _shard() -> int:
    return random.randrange(COUNTER_SHARDS)  # nosec B311  # spreads counter writes, not a secret


def _range_clauses(after: str | None, before: str | None, prefix: str, inclusive: bool,
                   params: list[Any]) -> str:
    sql = ""
    if after is not None:
        params.append(after.encode())
        sql += f" AND name {'>=' if inclusive else '>'} ${len(params)}"
    if before is not None:
        params.append(before.encode())
        sql += f" AND name < ${len(params)}"
    if prefix:
        params.append(prefix.encode())
        sql += f" AND name >= ${len(params)}"
        end = prefix_end(prefix)
        if end is not None:
            params.append(end.encode())
            sql += f" AND name < ${len(params)}"
    return sql


class PostgresObjectStore(ObjectStore):
    db: Database

    # accounts -------------------------------------------------------------------------
    async def get_account(self, account: str) -> AccountRecord | None:
        row = await self.db.fetchrow("SELECT created_at, meta FROM accounts WHERE name = $1",
                                     account.encode())
        return AccountRecord(account, row[0], orjson.loads(row[1])) if row else None

    async def update_account_meta(self, account: str, set_meta: dict[str, str],
                                  remove: Sequence[str], now: float) -> AccountRecord:
        async with self.db.transaction() as conn:
            await conn.execute("INSERT INTO accounts (name, created_at) VALUES ($1, $2)"
                               " ON CONFLICT DO NOTHING", account.encode(), now)
            row = await conn.fetchrow("SELECT created_at, meta FROM accounts WHERE name = $1"
                                      " FOR UPDATE", account.encode())
            assert row is not None  # inserted above if missing, in this transaction
            meta = _merge(orjson.loads(row[1]), set_meta, remove)
            await conn.execute("UPDATE accounts SET meta = $2 WHERE name = $1",
                               account.encode(), _json(meta))
            return AccountRecord(account, row[0], meta)

    async def account_stats(self, account: str) -> AccountStats:
        rows = await self.db.fetch(
            "SELECT c.policy, count(*), coalesce(sum(s.objects), 0)::bigint,"
            f" coalesce(sum(s.bytes), 0)::bigint FROM containers c {_COUNTS}"
            " WHERE c.account = $1 GROUP BY c.policy", account.encode())
        per_policy = {row[0]: AccountStats(0, 0, 0) for row in await self.db.fetch(
            "SELECT policy FROM account_policies WHERE account = $1", account.encode())}
        per_policy.update((r[0], AccountStats(r[1], r[2], r[3])) for r in rows)
        return AccountStats(sum(r[1] for r in rows), sum(r[2] for r in rows),
                            sum(r[3] for r in rows), per_policy)

    async def list_containers(self, account: str, query: ListingQuery
                              ) -> list[ContainerRecord | Subdir]:
        async def fetch(after: str | None, before: str | None, prefix: str, reverse: bool,
                        limit: int, inclusive: bool) -> list[ContainerRecord]:
            params: list[Any] = [account.encode()]
            where = _range_clauses(after, before, prefix, inclusive, params)
            params.append(limit)
            order = "DESC" if reverse else "ASC"
            rows = await self.db.fetch(
                f"SELECT * FROM (SELECT * FROM containers WHERE account = $1{where}"
                f" ORDER BY name {order} LIMIT ${len(params)}) c {_COUNTS}"
                f" ORDER BY c.name {order}", *params)
            return [_container((r[0], r[1], r[2], r[3], r[4], r["objects"] or 0,
                                r["bytes"] or 0, r[5], r[6])) for r in rows]

        return await keyset_listing_async(fetch, query)

    # containers -----------------------------------------------------------------------
    async def get_container(self, account: str, name: str) -> ContainerRecord | None:
        row = await self.db.fetchrow(f"{CONTAINER_SELECT} WHERE c.account = $1 AND c.name = $2",
                                     account.encode(), name.encode())
        return _container(row) if row else None

    async def create_container(self, account: str, name: str, meta: dict[str, str],
                               now: float, policy: str, *, require_policy: bool = False
                               ) -> tuple[ContainerRecord, bool]:
        key = (account.encode(), name.encode())
        async with self.db.transaction() as conn:
            while True:
                row = await conn.fetchrow(
                    f"{CONTAINER_SELECT} WHERE c.account = $1 AND c.name = $2"
                    " FOR UPDATE OF c", *key)
                if row:
                    if require_policy and row[8] != policy:
                        raise Conflict(name)
                    merged = _merge(orjson.loads(row[7]), meta, ())
                    await conn.execute(
                        "UPDATE containers SET meta = $2, put_timestamp = $3 WHERE id = $1",
                        row[0], _json(merged), now)
                    return ContainerRecord(row[0], account, name, row[3], now, row[5], row[6],
                                           merged, row[8]), False
                clean = {k: v for k, v in meta.items() if v != ""}
                new_id = await conn.fetchval(
                    "INSERT INTO containers (account, name, created_at, put_timestamp, meta,"
                    " policy) VALUES ($1, $2, $3, $3, $4, $5) ON CONFLICT DO NOTHING"
                    " RETURNING id", *key, now, _json(clean), policy)
                if new_id is None:
                    continue  # created at this moment by another writer: merge into it
                await conn.execute("INSERT INTO account_policies VALUES ($1, $2)"
                                   " ON CONFLICT DO NOTHING", key[0], policy)
                return ContainerRecord(new_id, account, name, now, now, 0, 0, clean,
                                       policy), True

    async def update_container_meta(self, account: str, name: str, set_meta: dict[str, str],
                                    remove: Sequence[str], now: float | None = None
                                    ) -> ContainerRecord:
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                f"{CONTAINER_SELECT} WHERE c.account = $1 AND c.name = $2 FOR UPDATE OF c",
                account.encode(), name.encode())
            if not row:
                raise NotFound(name)
            merged = _merge(orjson.loads(row[7]), set_meta, remove)
            put_timestamp = row[4] if now is None else now
            await conn.execute(
                "UPDATE containers SET meta = $2, put_timestamp = $3 WHERE id = $1",
                row[0], _json(merged), put_timestamp)
            return ContainerRecord(row[0], account, name, row[3], put_timestamp, row[5],
                                   row[6], merged, row[8])

    async def container_policy(self, container_id: int) -> str | None:
        return await self.db.fetchval(  # type: ignore[no-any-return]
            "SELECT policy FROM containers WHERE id = $1", container_id)

    async def container_policies(self) -> set[str]:
        return {row[0] for row in await self.db.fetch("SELECT DISTINCT policy FROM containers")}

    async def policy_stats(self) -> dict[str, AccountStats]:
        rows = await self.db.fetch(
            "SELECT c.policy, count(*), coalesce(sum(s.objects), 0)::bigint,"
            f" coalesce(sum(s.bytes), 0)::bigint FROM containers c {_COUNTS}"
            " GROUP BY c.policy")
        return {row[0]: AccountStats(row[1], row[2], row[3]) for row in rows}

    async def assign_legacy_policy(self, policy: str) -> int:
        async with self.db.transaction() as conn:
            await conn.execute("INSERT INTO account_policies SELECT DISTINCT account, $1"
                               " FROM containers WHERE policy = '' ON CONFLICT DO NOTHING",
                               policy)
            return affected(await conn.execute(
                "UPDATE containers SET policy = $1 WHERE policy = ''", policy))

    async def delete_container(self, account: str, name: str) -> None:
        async with self.db.transaction() as conn:
            container_id = await conn.fetchval(
                "SELECT id FROM containers WHERE account = $1 AND name = $2 FOR UPDATE",
                account.encode(), name.encode())
            if container_id is None:
                raise NotFound(name)
            if await conn.fetchval("SELECT 1 FROM objects WHERE container_id = $1 LIMIT 1",
                                   container_id):
                raise Conflict(name)
            await conn.execute("DELETE FROM sync_changes WHERE container_id = $1", container_id)
            await conn.execute("DELETE FROM usage_samples WHERE account = $1 AND container = $2",
                               account.encode(), name.encode())
            await conn.execute("DELETE FROM containers WHERE id = $1", container_id)

    # objects --------------------------------------------------------------------------
    async def get_object(self, container_id: int, name: str) -> ObjectRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = $1 AND name = $2",
            container_id, name.encode())
        return _object(row) if row else None

    async def lookup(self, account: str, container: str, obj: str | None = None, *,
                     data: bool = False, counts: bool = True) -> Lookup:
        row = await self.db.fetchrow(LOOKUP_SQL[counts], account.encode(), container.encode(),
                                     None if obj is None else obj.encode(), data)
        assert row is not None  # the statement always yields its one row
        record = _container(row[2:11]) if row[2] is not None else None
        return Lookup(AccountRecord(account, row[0], orjson.loads(row[1]))
                      if row[0] is not None else None,
                      replace(record, counted=False) if record and not counts else record,
                      _object(row[11:20]) if row[11] is not None else None, row[20])

    async def put_object(self, record: ObjectRecord, data: bytes | None = None
                         ) -> ObjectRecord | None:
        result = await self._puts((record, data))
        if isinstance(result, Exception):
            raise result
        return result

    async def _put_each(self, puts: list[tuple[ObjectRecord, bytes | None]]
                        ) -> list[ObjectRecord | NotFound | Superseded | None]:
        """PUTs batched by `Batcher`, in one `put_objects` statement: for each, the row it
        replaced (None: a new name) or the error it met. Sent in key order, so two batches
        take the rows they share in the same order."""
        order = sorted(range(len(puts)),
                       key=lambda i: (puts[i][0].container_id, puts[i][0].name.encode()))
        sent = [puts[i] for i in order]
        rows = await self.db.fetch(
            "SELECT * FROM put_objects($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [r.container_id for r, _ in sent], [r.name.encode() for r, _ in sent],
            [r.blob_id for r, _ in sent], [r.size for r, _ in sent],
            [r.etag for r, _ in sent], [r.content_type for r, _ in sent],
            [r.timestamp for r, _ in sent], [_json(r.meta) for r, _ in sent],
            [r.delete_at for r, _ in sent], [d for _, d in sent], _shard())
        results: list[ObjectRecord | NotFound | Superseded | None] = [None] * len(puts)
        for row in rows:
            record = sent[row["ord"] - 1][0]
            if row["status"] == PUT_NO_CONTAINER:
                result: ObjectRecord | NotFound | Superseded | None = NotFound(
                    str(record.container_id))
            elif row["status"] == PUT_SUPERSEDED:
                result = Superseded(record.name, row["stored"])
            elif row["old_blob"] is not None:
                result = ObjectRecord(record.container_id, record.name, row["old_blob"],
                                      row["old_size"], row["old_etag"], row["old_type"],
                                      row["old_timestamp"], orjson.loads(row["old_meta"]),
                                      row["old_delete_at"])
            else:
                result = None
            results[order[row["ord"] - 1]] = result
        return results

    @cached_property
    def _puts(self) -> Batcher[tuple[ObjectRecord, bytes | None],
                               ObjectRecord | NotFound | Superseded | None]:
        return Batcher(self._put_each, limit=32)

    async def update_object(self, container_id: int, name: str, meta: dict[str, str],
                            content_type: str | None, delete_at: int | None,
                            now: float | None = None) -> ObjectRecord:
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = $1 AND name = $2"
                " FOR UPDATE", container_id, name.encode())
            if not row:
                raise NotFound(name)
            old = _object(row)
            if now is not None and old.timestamp >= now:
                raise Superseded(name, old.timestamp)
            new = old._replace(meta=meta, content_type=content_type or old.content_type,
                               delete_at=delete_at,
                               timestamp=old.timestamp if now is None else now)
            await conn.execute(
                "UPDATE objects SET meta = $3, content_type = $4, delete_at = $5,"
                " timestamp = $6 WHERE container_id = $1 AND name = $2",
                container_id, name.encode(), _json(meta), new.content_type, delete_at,
                new.timestamp)
            if counted_size(new) != counted_size(old):
                await conn.execute(
                    "INSERT INTO container_counters AS k VALUES ($1, $2, 0, $3)"
                    " ON CONFLICT (container_id, shard) DO UPDATE"
                    " SET bytes_used = k.bytes_used + excluded.bytes_used",
                    container_id, _shard(), counted_size(new) - counted_size(old))
            return new

    async def _remove(self, records: Sequence[tuple[int, str, str | None]],
                      guards: Sequence[ObjectRecord] | None = None,
                      older_than: Sequence[float | None] | None = None) -> list[ObjectRecord]:
        """`guards` (one per record): also require the row's delete-at to be theirs;
        `older_than` (one per record): the row's timestamp to be older than that."""
        delete_at = [None if g.delete_at is None else int(g.delete_at) for g in guards] \
            if guards else [None] * len(records)
        rows = await self.db.fetch(
            REMOVE_SQL, [r[0] for r in records], [r[1].encode() for r in records],
            [r[2] for r in records], delete_at, [guards is not None] * len(records), _shard(),
            list(older_than) if older_than is not None else [None] * len(records))
        return [_object(row) for row in rows]

    async def _remove_each(self, deletes: list[tuple[int, str, float | None]]
                           ) -> list[ObjectRecord | None]:
        """Client deletes (container, name, older than) batched by `Batcher`: the row each
        removed, None where there was none (a name twice in a batch: the first removed it).
        Sent in key order, so two batches lock the rows they share in the same order."""
        ordered = sorted(deletes, key=lambda d: (d[0], d[1].encode()))
        removed = await self._remove([(c, n, None) for c, n, _ in ordered],
                                     older_than=[o for _, _, o in ordered])
        gone = {(r.container_id, r.name): r for r in removed}
        return [gone.pop((c, n), None) for c, n, _ in deletes]

    @cached_property
    def _deletes(self) -> Batcher[tuple[int, str, float | None], ObjectRecord | None]:
        return Batcher(self._remove_each)

    async def delete_object(self, container_id: int, name: str, when: float | None = None,
                            *, older_than: float | None = None) -> ObjectRecord | None:
        stamp = when if when is not None else older_than
        if when is None:  # one statement, shared with the deletes sent meanwhile
            found = await self._deletes((container_id, name, stamp))
            removed = [found] if found is not None else []
        else:
            async with self.db.transaction() as conn:  # the delete trigger stamps with `when`
                await conn.execute("SELECT set_config('strato.deleted_at', $1, true)",
                                   repr(when))
                removed = [_object(row) for row in await conn.fetch(
                    REMOVE_SQL, [container_id], [name.encode()], [None], [None], [False],
                    _shard(), [stamp])]
        if removed:
            return removed[0]
        if stamp is not None:  # nothing removed: no row, or one newer than this delete
            kept = await self.get_object(container_id, name)
            if kept is not None and kept.timestamp >= stamp:
                raise Superseded(name, kept.timestamp)
        return None

    async def delete_object_if(self, record: ObjectRecord) -> bool:
        return bool(await self.delete_objects_if([record]))

    async def delete_objects_if(self, records: Sequence[ObjectRecord]) -> list[ObjectRecord]:
        """One statement for a whole expirer batch."""
        if not records:
            return []
        removed = {(r.container_id, r.name) for r in await self._remove(
            [(r.container_id, r.name, r.blob_id) for r in records], guards=records)}
        return [r for r in records if (r.container_id, r.name) in removed]

    async def list_objects(self, container_id: int, query: ListingQuery, now: float
                           ) -> list[ObjectRecord | Subdir]:
        async def fetch(after: str | None, before: str | None, prefix: str, reverse: bool,
                        limit: int, inclusive: bool) -> list[ObjectRecord]:
            params: list[Any] = [container_id]
            where = _range_clauses(after, before, prefix, inclusive, params)
            params += [int(now), limit]
            rows = await self.db.fetch(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE container_id = $1{where}"
                f" AND (delete_at IS NULL OR delete_at > ${len(params) - 1})"
                f" ORDER BY name {'DESC' if reverse else 'ASC'} LIMIT ${len(params)}", *params)
            return [_object(r) for r in rows]

        return await keyset_listing_async(fetch, query)

    async def expired_objects(self, now: float, limit: int, *, account: str | None = None,
                              container_id: int | None = None) -> list[ObjectRecord]:
        where, params = "", list[Any]([int(now), limit])
        if container_id is not None:
            where, params = " AND container_id = $3", [*params, container_id]
        elif account is not None:
            where = " AND container_id IN (SELECT id FROM containers WHERE account = $3)"
            params = [*params, account.encode()]
        rows = await self.db.fetch(
            f"SELECT {OBJECT_COLUMNS} FROM objects WHERE delete_at IS NOT NULL"
            f" AND delete_at <= $1{where} ORDER BY delete_at LIMIT $2", *params)
        return [_object(r) for r in rows]

    async def blob_referenced(self, blob_id: str) -> bool:
        return await self.db.fetchval("SELECT 1 FROM objects WHERE blob_id = $1 LIMIT 1",
                                      blob_id) is not None

    async def object_by_blob(self, blob_id: str) -> tuple[str, str, ObjectRecord] | None:
        columns = ", ".join(f"o.{c.strip()}" for c in OBJECT_COLUMNS.split(","))
        row = await self.db.fetchrow(
            f"SELECT c.account, c.name, {columns} FROM objects o"
            " JOIN containers c ON c.id = o.container_id WHERE o.blob_id = $1 LIMIT 1",
            blob_id)
        if row is None:
            return None
        account, container = (v.decode() if isinstance(v, bytes) else v for v in row[:2])
        return account, container, _object(tuple(row)[2:])

    async def inline_data(self, blob_id: str) -> bytes | None:
        return await self.db.fetchval(  # type: ignore[no-any-return]
            "SELECT data FROM inline_blobs WHERE id = $1", blob_id)

    # container sync -------------------------------------------------------------------
    async def set_container_sync(self, container_id: int, enabled: bool, now: float) -> None:
        async with self.db.transaction() as conn:
            # PUTs in flight (they hold the container row FOR KEY SHARE) finish first and
            # are seen below; later ones wait, then find the sync row and queue themselves.
            # A POST or DELETE does not take that lock: one racing this very moment may go
            # unqueued until the name's next write
            await conn.execute("SELECT 1 FROM containers WHERE id = $1 FOR UPDATE",
                               container_id)
            await conn.execute("DELETE FROM sync_changes WHERE container_id = $1", container_id)
            await conn.execute("DELETE FROM container_sync WHERE container_id = $1",
                               container_id)
            if enabled:  # a new or changed destination gets everything, as in Swift
                await conn.execute("INSERT INTO container_sync VALUES ($1, $2)",
                                   container_id, now)
                await conn.execute(
                    "INSERT INTO sync_changes (container_id, name, timestamp)"
                    " SELECT container_id, name, timestamp FROM objects"
                    " WHERE container_id = $1 ORDER BY name", container_id)

    async def syncing_containers(self) -> list[tuple[int, str, str]]:
        return [(row[0], row[1].decode(), row[2].decode()) for row in await self.db.fetch(
            "SELECT s.container_id, c.account, c.name FROM container_sync s"
            " JOIN containers c ON c.id = s.container_id ORDER BY s.container_id")]

    async def sync_changes(self, container_id: int, limit: int) -> list[SyncChange]:
        rows = await self.db.fetch("SELECT id, name, timestamp FROM sync_changes"
                                   " WHERE container_id = $1 ORDER BY id LIMIT $2",
                                   container_id, limit)
        return [SyncChange(row[0], row[1].decode(), row[2]) for row in rows]

    async def drop_sync_changes(self, container_id: int, ids: Sequence[int]) -> None:
        await self.db.execute("DELETE FROM sync_changes WHERE container_id = $1"
                              " AND id = ANY($2::bigint[])", container_id, list(ids))

    async def tombstone(self, container_id: int, name: str) -> float | None:
        value = await self.db.fetchval("SELECT timestamp FROM tombstones"
                                       " WHERE container_id = $1 AND name = $2",
                                       container_id, name.encode())
        return None if value is None else float(value)

    async def purge_tombstones(self, before: float) -> int:
        return await self.db.execute("DELETE FROM tombstones WHERE timestamp < $1", before)
