"""Moving an embedded cloud up: copy a data directory's SQLite metadata into PostgreSQL.

Everything in the metadata database moves (identities with their password hashes, access
keys as the ciphertext they are, tokens, accounts, containers with their counters, objects,
inline bytes, images, sync state); the blob files stay where they are, in the data
directory the PostgreSQL-backed server keeps using, as do the credential keys.

The copy goes table by table in an order that respects foreign keys, in batches keyset on
the SQLite primary key. Each batch is one PostgreSQL transaction (COPY into a scratch
table, then one INSERT ... SELECT) that also records the last key copied
(`strato_migration`), so a run killed anywhere resumes after the last committed batch;
the inserts skip rows already there as well (`ON CONFLICT DO NOTHING`), so nothing is
doubled even if the progress row and the data disagreed. `objects` is copied before
`container_sync`, so the sync trigger on objects queues no change the source did not have.

The target is checked first: an empty database (schema created here by the store's own
migrations), or one this same cloud was being migrated into (its fingerprint, the source's
first user id, is in `strato_migration`). Anything else is another cloud and is refused.

The report counts each table's rows on both sides and digests them: a row's canonical form
(values as SQLite holds them: names as text, flags as integers, bytes as hex) is hashed and
the hashes are summed modulo 2**256, so the digest does not depend on row order and needs no
sort. Containers are compared with their counters (PostgreSQL's summed over its shards).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from strato.stores.metadata.postgresql.schema import migrate as migrate_postgres
from strato.stores.metadata.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

BATCH_ROWS = 1000
MODULUS = 1 << 256

RowMap = Callable[[Sequence[Any]], tuple[Any, ...]]


@dataclass(frozen=True)
class Table:
    """One table to copy: its primary key (the keyset order), its `bytea` columns (text in
    SQLite) and its boolean columns (integers in SQLite)."""

    name: str
    key: tuple[str, ...]
    binary: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()


def _t(name: str, key: str, binary: str = "", flags: str = "") -> Table:
    return Table(name, tuple(key.split()), frozenset(binary.split()), frozenset(flags.split()))


# parents before children; objects before container_sync (see the module docstring)
TABLES: tuple[Table, ...] = (
    _t("domains", "id", flags="enabled"),
    _t("roles", "id"),
    _t("projects", "id", flags="enabled"),
    _t("users", "id", flags="enabled"),
    _t("assignments", "user_id target role_id"),
    _t("groups", "id"),
    _t("group_members", "group_id user_id"),
    _t("group_assignments", "group_id target role_id"),
    _t("app_credentials", "id", flags="unrestricted"),
    _t("access_keys", "id"),
    _t("tokens", "token_hash"),
    _t("login_failures", "key"),
    _t("accounts", "name", binary="name"),
    _t("account_policies", "account policy", binary="account"),
    _t("containers", "id", binary="account name"),
    _t("objects", "container_id name", binary="name"),
    _t("inline_blobs", "id"),
    _t("container_sync", "container_id"),
    _t("sync_changes", "id", binary="name"),
    _t("tombstones", "container_id name", binary="name"),
    _t("usage_samples", "account container at", binary="account container"),
    _t("images", "id"),
    _t("image_members", "image_id member"),
    _t("image_tasks", "id"),
)

LEFT_BEHIND = {"schema_version", "rate_limits"}
"""Tables not copied: the target has its own schema version, and rate-limit state is
scratch (who was busy in the last seconds) that starts afresh on the target."""

COUNTERS = ("object_count", "bytes_used")
"""Columns of SQLite's containers that are rows of `container_counters` in PostgreSQL."""

IDENTITY_COLUMNS = (("containers", "id"), ("sync_changes", "id"))
"""GENERATED identity columns whose sequences must start past the copied ids."""


class MigrateError(Exception):
    """The migration cannot start or go on (the message says why and what to do)."""


@dataclass
class TableReport:
    table: str
    source_rows: int = 0
    target_rows: int = 0
    source_digest: str = ""
    target_digest: str = ""
    copied: int = 0

    @property
    def matches(self) -> bool:
        return (self.source_rows == self.target_rows
                and self.source_digest == self.target_digest)


@dataclass
class Report:
    resumed: bool = False
    tables: list[TableReport] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return all(table.matches for table in self.tables)


def _canonical(value: Any) -> Any:
    """A value as SQLite holds it, whichever side it came from."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "x" + bytes(value).hex()
    return value


class Digest:
    """Count and order-independent digest of rows in canonical form."""

    def __init__(self) -> None:
        self.rows = 0
        self._sum = 0

    def add(self, row: Iterable[Any]) -> None:
        form = repr(tuple(_canonical(value) for value in row)).encode()
        self._sum = (self._sum + int.from_bytes(hashlib.sha256(form).digest())) % MODULUS
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self._sum:064x}"


def _columns(source: sqlite3.Connection, table: Table) -> list[str]:
    return [row[1] for row in source.execute(f"PRAGMA table_info({table.name})")]


def _to_target(table: Table, columns: Sequence[str]) -> RowMap:
    """A SQLite row (in `columns` order) as the PostgreSQL row to insert."""
    converters: list[Callable[[Any], Any]] = []
    for column in columns:
        if column in table.binary:
            converters.append(lambda v: None if v is None else v.encode())
        elif column in table.flags:
            converters.append(lambda v: None if v is None else bool(v))
        elif column == "data" and table.name == "inline_blobs":
            converters.append(bytes)
        else:
            converters.append(lambda v: v)
    return lambda row: tuple(convert(value) for convert, value in zip(converters, row, strict=True))


def _from_target(table: Table, columns: Sequence[str]) -> RowMap:
    """A PostgreSQL row back in SQLite's form, for the digest."""
    decode = [column in table.binary for column in columns]
    return lambda row: tuple(v.decode() if binary and v is not None else v
                             for binary, v in zip(decode, row, strict=True))


def open_source(path: Path) -> sqlite3.Connection:
    """The SQLite database, read only, at this release's schema version."""
    if not path.is_file():
        raise MigrateError(f"no metadata database at {path}: pass the data directory of the "
                           "cloud to move (--data-dir)")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    row = source.execute("SELECT version FROM schema_version").fetchone()
    if row is None or row[0] != len(SQLITE_MIGRATIONS):
        source.close()
        raise MigrateError(f"{path} has schema version {row[0] if row else 0}, not this "
                           f"release's {len(SQLITE_MIGRATIONS)}: run `strato db upgrade` on "
                           "it first")
    source.execute("BEGIN")  # one snapshot for the whole run
    return source


def fingerprint(source: sqlite3.Connection) -> str:
    """What names this cloud: its first user's id (random, made when it was created)."""
    row = source.execute("SELECT min(id) FROM users").fetchone()
    if row is None or row[0] is None:
        raise MigrateError("the source cloud has no users: nothing to move (`strato init`)")
    return str(row[0])


async def _prepare_target(target: asyncpg.Connection, cloud: str) -> bool:
    """Create the schema and claim the database for this cloud; True when resuming."""
    await migrate_postgres(target)
    await target.execute("CREATE TABLE IF NOT EXISTS strato_migration ("
                         " table_name text PRIMARY KEY, last_key text, done boolean NOT NULL"
                         " DEFAULT false)")
    async with target.transaction():
        await target.execute("LOCK TABLE strato_migration")
        claimed = await target.fetchval(
            "SELECT last_key FROM strato_migration WHERE table_name = ''")
        if claimed is not None:
            if claimed != cloud:
                raise MigrateError("the target database holds another cloud's migration: "
                                   "use an empty database")
            return True
        for table in ("users", "domains", "accounts", "containers", "images"):
            if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                raise MigrateError(f"the target database holds another cloud (its {table} "
                                   "table has rows): use an empty database")
        await target.execute("INSERT INTO strato_migration VALUES ('', $1, true)", cloud)
    return False


def _key_json(key: Sequence[Any]) -> str:
    return json.dumps(list(key))


async def _copy_table(source: sqlite3.Connection, target: asyncpg.Connection, table: Table,
                      columns: list[str], batch_rows: int,
                      progress: Callable[[str, int], None]) -> int:
    """Copy one table from after its recorded last key; returns the rows sent."""
    state = await target.fetchrow(
        "SELECT last_key, done FROM strato_migration WHERE table_name = $1", table.name)
    if state is not None and state["done"]:
        return 0
    after: list[Any] | None = (json.loads(state["last_key"])
                               if state is not None and state["last_key"] else None)
    copied_columns = [c for c in columns if not (table.name == "containers" and c in COUNTERS)]
    selected = ", ".join(columns)
    order = ", ".join(table.key)
    keys = [columns.index(k) for k in table.key]
    convert = _to_target(table, copied_columns)
    listed = ", ".join(copied_columns)
    stage = (f"CREATE TEMP TABLE migrate_stage (LIKE {table.name} INCLUDING DEFAULTS)"
             " ON COMMIT DROP")
    insert = (f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM migrate_stage"
              " ON CONFLICT DO NOTHING")

    async def put(records: list[tuple[Any, ...]]) -> None:
        # COPY into a scratch table, then one INSERT that skips rows already there
        await target.execute(stage)
        await target.copy_records_to_table("migrate_stage", records=records,
                                           columns=copied_columns)
        await target.execute(insert)
    counters = ("INSERT INTO container_counters VALUES ($1, 0, $2, $3)"
                " ON CONFLICT (container_id, shard) DO NOTHING")
    sent = 0
    while True:
        if after is None:
            rows = source.execute(f"SELECT {selected} FROM {table.name} ORDER BY {order} "
                                  "LIMIT ?", (batch_rows,)).fetchall()
        else:
            marks = ", ".join("?" for _ in table.key)
            rows = source.execute(
                f"SELECT {selected} FROM {table.name} WHERE ({order}) > ({marks}) "
                f"ORDER BY {order} LIMIT ?", (*after, batch_rows)).fetchall()
        if not rows:
            break
        after = [rows[-1][k] for k in keys]
        async with target.transaction():
            if table.name == "containers":
                plain = [tuple(v for c, v in zip(columns, row, strict=True) if c not in COUNTERS)
                         for row in rows]
                await put([convert(row) for row in plain])
                await target.executemany(counters, [
                    (row[columns.index("id")], row[columns.index("object_count")],
                     row[columns.index("bytes_used")]) for row in rows])
            else:
                await put([convert(row) for row in rows])
            await target.execute(
                "INSERT INTO strato_migration VALUES ($1, $2, false) ON CONFLICT (table_name)"
                " DO UPDATE SET last_key = excluded.last_key", table.name, _key_json(after))
        sent += len(rows)
        progress(table.name, sent)
    await target.execute(
        "INSERT INTO strato_migration VALUES ($1, NULL, true) ON CONFLICT (table_name)"
        " DO UPDATE SET done = true", table.name)
    return sent


def _check_tables(source: sqlite3.Connection) -> None:
    """Every table of the source is one this module copies (a release adding a table and
    not listing it here would otherwise leave it behind silently)."""
    names = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = "
                                               "'table' AND name NOT LIKE 'sqlite_%'")}
    unknown = names - {table.name for table in TABLES} - LEFT_BEHIND
    if unknown:
        raise MigrateError(f"tables this release cannot migrate: {', '.join(sorted(unknown))}")


async def _check_columns(target: asyncpg.Connection, table: Table, columns: list[str]) -> None:
    """Both schemas must have the same columns (a release adding one to one side only would
    otherwise lose it silently)."""
    found = {row[0] for row in await target.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1"
        " AND table_schema = current_schema()", table.name)}
    wanted = {c for c in columns if not (table.name == "containers" and c in COUNTERS)}
    if found != wanted:
        raise MigrateError(f"table {table.name}: SQLite has columns {sorted(wanted)}, "
                           f"PostgreSQL {sorted(found)}; this release cannot migrate it")


async def _digest_target(target: asyncpg.Connection, table: Table,
                         columns: list[str]) -> Digest:
    digest = Digest()
    if table.name == "containers":
        selected = ", ".join(
            f"coalesce((SELECT sum({c}) FROM container_counters k WHERE k.container_id = c.id),"
            " 0)" if c in COUNTERS else f"c.{c}" for c in columns)
        query = f"SELECT {selected} FROM containers c"
    else:
        query = f"SELECT {', '.join(columns)} FROM {table.name}"
    back = _from_target(table, columns)
    async with target.transaction(isolation="repeatable_read", readonly=True):
        async for row in target.cursor(query, prefetch=2000):
            digest.add(back(tuple(row)))
    return digest


def _digest_source(source: sqlite3.Connection, table: Table, columns: list[str]) -> Digest:
    digest = Digest()
    for row in source.execute(f"SELECT {', '.join(columns)} FROM {table.name}"):
        digest.add(row)
    return digest


async def migrate(source_path: Path, url: str, *, batch_rows: int = BATCH_ROWS,
                  progress: Callable[[str, int], None] = lambda table, rows: None) -> Report:
    """Copy the SQLite database at `source_path` into the PostgreSQL database at `url`
    (resuming a run that stopped), then count and digest both sides."""
    source = open_source(source_path)
    try:
        target = await asyncpg.connect(url, server_settings={"application_name":
                                                             "strato-migrate"})
        try:
            report = Report(resumed=await _prepare_target(target, fingerprint(source)))
            _check_tables(source)
            plans = [(table, _columns(source, table)) for table in TABLES]
            for table, columns in plans:
                await _check_columns(target, table, columns)
            for table, columns in plans:
                copied = await _copy_table(source, target, table, columns, batch_rows,
                                           progress)
                report.tables.append(TableReport(table.name, copied=copied))
            for table_name, column in IDENTITY_COLUMNS:
                await target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table_name}', '{column}'),"
                    f" coalesce(max({column}), 0) + 1, false) FROM {table_name}")
            for entry, (table, columns) in zip(report.tables, plans, strict=True):
                mine, theirs = (_digest_source(source, table, columns),
                                await _digest_target(target, table, columns))
                entry.source_rows, entry.source_digest = mine.rows, mine.hexdigest()
                entry.target_rows, entry.target_digest = theirs.rows, theirs.hexdigest()
            return report
        finally:
            await target.close()
    finally:
        source.close()
