"""Shared rate limits in SQLite: Swift's running-time algorithm as one upsert on the
writer thread, so the workers of a node count together.

The rows are scratch state: they go through the writer as `durable=False`, so a batch of
rate checks alone commits without an fsync (a power loss may forget the latest slots taken,
which only lets a few requests through early once)."""

from __future__ import annotations

import sqlite3

from strato.stores.metadata.base import RateStore
from strato.stores.metadata.sqlite.db import Database

NOW = "((julianday('now') - 2440587.5) * 86400.0)"
"""The database's clock in Unix seconds (millisecond resolution; one value for the whole
statement, so every mention below reads the same instant)."""

_NEXT = (f"CASE WHEN max(r.next_at - {NOW}, 0.0) >= :max_wait - 0.01 THEN r.next_at"
         f" WHEN {NOW} - r.next_at - :interval > :burst THEN {NOW} + :interval"
         " ELSE r.next_at + :interval END")
"""Swift's `_get_sleep_time`: a refused request takes no slot; a key that fell more than
`burst` seconds behind the clock starts afresh one interval from now; else the slot after
the last one taken."""

TAKE = ("INSERT INTO rate_limits AS r (key, next_at, wait, idle_at)"
        f" VALUES (:key, {NOW} + :interval, 0.0, {NOW} + 2 * :interval + :burst)"
        f" ON CONFLICT (key) DO UPDATE SET wait = max(r.next_at - {NOW}, 0.0),"
        f" next_at = {_NEXT}, idle_at = {_NEXT} + :interval + :burst"
        " RETURNING wait")
"""Every SET expression sees the row as it was: `wait` is the old next slot less now."""


class SqliteRateStore(RateStore):
    db: Database

    async def rate_wait(self, key: str, interval: float, max_wait: float, burst: float
                        ) -> float | None:
        params = {"key": key, "interval": interval, "max_wait": max_wait, "burst": burst}

        def tx(conn: sqlite3.Connection) -> float:
            return float(conn.execute(TAKE, params).fetchone()[0])

        wait = await self.db.write(tx, durable=False)
        return None if wait >= max_wait - 0.01 else wait

    async def purge_rates(self) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            return conn.execute(f"DELETE FROM rate_limits WHERE idle_at < {NOW}").rowcount

        return await self.db.write(tx, durable=False)
