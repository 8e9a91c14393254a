"""Usage history in SQLite: samples of the containers' counters, written by the sampler
only when they changed (an idle container costs one index probe per pass, no row)."""

from __future__ import annotations

import sqlite3

from strato.stores.metadata.base import ObjectStore
from strato.stores.metadata.records import UsageSample
from strato.stores.metadata.sqlite.db import Database

_LATEST = ("(SELECT u.object_count, u.bytes_used FROM usage_samples u"
           " WHERE u.account = {account} AND u.container = {container}"
           " ORDER BY u.at DESC LIMIT 1)")
"""The series' latest sample as a row value (NULLs when it has none): the primary key's
index ends on `at`, so this is one probe from its end."""

RECORD_CONTAINERS = (
    "INSERT OR IGNORE INTO usage_samples (account, container, at, object_count, bytes_used)"
    " SELECT c.account, c.name, ?, c.object_count, c.bytes_used FROM containers c"
    " WHERE (c.object_count, c.bytes_used) IS NOT "
    + _LATEST.format(account="c.account", container="c.name"))
RECORD_ACCOUNTS = (
    "INSERT OR IGNORE INTO usage_samples (account, container, at, object_count, bytes_used)"
    " SELECT t.account, '', ?, t.objects, t.bytes FROM ("
    "  SELECT a.account, coalesce(sum(c.object_count), 0) AS objects,"
    "   coalesce(sum(c.bytes_used), 0) AS bytes"
    "  FROM (SELECT account FROM account_policies UNION SELECT account FROM containers) a"
    "  LEFT JOIN containers c ON c.account = a.account GROUP BY a.account) t"
    " WHERE (t.objects, t.bytes) IS NOT " + _LATEST.format(account="t.account", container="''"))
"""Accounts that ever had a container (`account_policies`) keep a series, so the fall to
zero after their last container goes is recorded."""

_LATER = ("EXISTS (SELECT 1 FROM usage_samples l WHERE l.account = usage_samples.account"
          " AND l.container = usage_samples.container AND l.at > usage_samples.at{same})")


class SqliteUsageStore(ObjectStore):
    db: Database

    async def record_usage(self, now: float) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            return (conn.execute(RECORD_CONTAINERS, (now,)).rowcount
                    + conn.execute(RECORD_ACCOUNTS, (now,)).rowcount)

        return await self.db.write(tx)

    async def usage_series(self, account: str, container: str | None, since: float
                           ) -> list[UsageSample]:
        key = (account, container or "")
        before = self.db.query(
            "SELECT at, object_count, bytes_used FROM usage_samples WHERE account = ?"
            " AND container = ? AND at < ? ORDER BY at DESC LIMIT 1", (*key, since))
        rows = self.db.query(
            "SELECT at, object_count, bytes_used FROM usage_samples WHERE account = ?"
            " AND container = ? AND at >= ? ORDER BY at", (*key, since))
        return [UsageSample(*row) for row in [*before, *rows]]

    async def trim_usage(self, drop_before: float, thin_from: float, thin_before: float,
                         bucket: float) -> int:
        def tx(conn: sqlite3.Connection) -> int:
            dropped = conn.execute(
                "DELETE FROM usage_samples WHERE at < ? AND " + _LATER.format(same=""),
                (drop_before,)).rowcount
            thinned = conn.execute(
                "DELETE FROM usage_samples WHERE at >= ? AND at < ? AND " + _LATER.format(
                    same=" AND CAST(l.at / ? AS INTEGER) = CAST(usage_samples.at / ? AS INTEGER)"),
                (thin_from, thin_before, bucket, bucket)).rowcount
            return dropped + thinned

        return await self.db.write(tx)
