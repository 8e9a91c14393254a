"""Shared rate limits in PostgreSQL: Swift's running-time algorithm as one upsert, so every
worker of every node counts together, on the database server's clock (nodes whose clocks
disagree still agree on the rate).

`rate_limits` is UNLOGGED (schema version 7): a statement that writes only it commits
without waiting for a WAL flush, and a crash of PostgreSQL empties it, which only forgets
who was recently busy."""

from __future__ import annotations

from strato.stores.metadata.base import RateStore
from strato.stores.metadata.postgresql.db import Database, affected

NOW = "extract(epoch FROM statement_timestamp())::float8"
"""The server's clock in Unix seconds, one value for the whole statement."""

_NEXT = (f"CASE WHEN greatest(r.next_at - {NOW}, 0) >= $3::float8 - 0.01 THEN r.next_at"
         f" WHEN {NOW} - r.next_at - $2::float8 > $4::float8 THEN {NOW} + $2::float8"
         " ELSE r.next_at + $2::float8 END")
"""Swift's `_get_sleep_time`: a refused request takes no slot; a key that fell more than
`burst` ($4) seconds behind the clock starts afresh one interval ($2) from now; else the slot
after the last one taken."""

TAKE = ("INSERT INTO rate_limits AS r (key, next_at, wait, idle_at)"
        f" VALUES ($1, {NOW} + $2::float8, 0, {NOW} + 2 * $2::float8 + $4::float8)"
        f" ON CONFLICT (key) DO UPDATE SET wait = greatest(r.next_at - {NOW}, 0),"
        f" next_at = {_NEXT}, idle_at = {_NEXT} + $2::float8 + $4::float8"
        " RETURNING wait")
"""($1 key, $2 interval, $3 max wait, $4 burst). Every SET expression sees the row as it
was: `wait` is the old next slot less now."""


class PostgresRateStore(RateStore):
    db: Database

    async def rate_wait(self, key: str, interval: float, max_wait: float, burst: float
                        ) -> float | None:
        wait = float(await self.db.pool.fetchval(TAKE, key, interval, max_wait, burst))
        return None if wait >= max_wait - 0.01 else wait

    async def purge_rates(self) -> int:
        return affected(await self.db.pool.execute(
            f"DELETE FROM rate_limits WHERE idle_at < {NOW}"))
