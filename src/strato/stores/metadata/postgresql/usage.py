"""Usage history in PostgreSQL: samples of the containers' counters (summed over their
shards), written by the sampler only when they changed (an idle container costs one index
probe per pass, no row)."""

from __future__ import annotations

from strato.stores.metadata.base import ObjectStore
from strato.stores.metadata.postgresql.db import Database, affected
from strato.stores.metadata.records import UsageSample

_LATEST = ("LEFT JOIN LATERAL (SELECT u.object_count, u.bytes_used FROM usage_samples u"
           " WHERE u.account = {account} AND u.container = {container}"
           " ORDER BY u.at DESC LIMIT 1) l ON true")
"""The series' latest sample (NULLs when it has none): one probe from the end of the
primary key's index."""
_CHANGED = ("WHERE l.object_count IS DISTINCT FROM {objects}"
            " OR l.bytes_used IS DISTINCT FROM {nbytes}")

RECORD_CONTAINERS = (
    "WITH c AS (SELECT c.account, c.name, coalesce(sum(k.object_count), 0)::bigint AS objects,"
    "  coalesce(sum(k.bytes_used), 0)::bigint AS bytes FROM containers c"
    "  LEFT JOIN container_counters k ON k.container_id = c.id"
    "  GROUP BY c.id, c.account, c.name)"
    " INSERT INTO usage_samples (account, container, at, object_count, bytes_used)"
    " SELECT c.account, c.name, $1, c.objects, c.bytes FROM c "
    + _LATEST.format(account="c.account", container="c.name") + " "
    + _CHANGED.format(objects="c.objects", nbytes="c.bytes") + " ON CONFLICT DO NOTHING")
RECORD_ACCOUNTS = (
    "WITH t AS (SELECT a.account, coalesce(sum(k.object_count), 0)::bigint AS objects,"
    "  coalesce(sum(k.bytes_used), 0)::bigint AS bytes"
    "  FROM (SELECT account FROM account_policies UNION SELECT account FROM containers) a"
    "  LEFT JOIN containers c ON c.account = a.account"
    "  LEFT JOIN container_counters k ON k.container_id = c.id GROUP BY a.account)"
    " INSERT INTO usage_samples (account, container, at, object_count, bytes_used)"
    " SELECT t.account, ''::bytea, $1, t.objects, t.bytes FROM t "
    + _LATEST.format(account="t.account", container="''::bytea") + " "
    + _CHANGED.format(objects="t.objects", nbytes="t.bytes") + " ON CONFLICT DO NOTHING")
"""Accounts that ever had a container (`account_policies`) keep a series, so the fall to
zero after their last container goes is recorded."""

_LATER = ("EXISTS (SELECT 1 FROM usage_samples l WHERE l.account = s.account"
          " AND l.container = s.container AND l.at > s.at{same})")


class PostgresUsageStore(ObjectStore):
    db: Database

    async def record_usage(self, now: float) -> int:
        async with self.db.transaction() as conn:
            return (affected(await conn.execute(RECORD_CONTAINERS, now))
                    + affected(await conn.execute(RECORD_ACCOUNTS, now)))

    async def usage_series(self, account: str, container: str | None, since: float
                           ) -> list[UsageSample]:
        rows = await self.db.fetch(
            "(SELECT at, object_count, bytes_used FROM usage_samples WHERE account = $1"
            " AND container = $2 AND at < $3 ORDER BY at DESC LIMIT 1) UNION ALL"
            " (SELECT at, object_count, bytes_used FROM usage_samples WHERE account = $1"
            " AND container = $2 AND at >= $3) ORDER BY at",
            account.encode(), (container or "").encode(), since)
        return [UsageSample(row[0], row[1], row[2]) for row in rows]

    async def trim_usage(self, drop_before: float, thin_from: float, thin_before: float,
                         bucket: float) -> int:
        async with self.db.transaction() as conn:
            dropped = affected(await conn.execute(
                "DELETE FROM usage_samples s WHERE s.at < $1 AND " + _LATER.format(same=""),
                drop_before))
            thinned = affected(await conn.execute(
                "DELETE FROM usage_samples s WHERE s.at >= $1 AND s.at < $2 AND "
                + _LATER.format(same=" AND floor(l.at / $3) = floor(s.at / $3)"),
                thin_from, thin_before, bucket))
            return dropped + thinned
