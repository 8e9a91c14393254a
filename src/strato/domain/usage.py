"""Usage history: each account's and container's bytes and object count over time, for the
console's Usage page.

The sampler is a background job (`strato.server.background`, so one node samples even when
many share a PostgreSQL database). Every `usage_interval` seconds it copies the counters the
containers already keep (no object is counted) into `usage_samples`, one row per account or
container whose counters changed since its latest sample: an idle container writes nothing,
so a cloud of many quiet containers stays cheap. Its history is bounded:

- samples older than `usage_retention` go, except each series' latest (the value that still
  holds, one row per container at most);
- samples older than FULL_RESOLUTION are thinned to the last of each THIN_BUCKET (an hour),
  so a busy container keeps about a day at full resolution plus 24 samples a day;
- a deleted container's samples go with it, in the transaction that deletes it.

Readers (`UsageHistory.series`) get the samples of a window led by the value that held at its
start, so a chart can draw a step line from the window's left edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from strato.stores.metadata.base import ObjectStore
from strato.stores.metadata.records import UsageSample

FULL_RESOLUTION = 86400.0
"""Seconds of history kept at the sampling interval's resolution."""
THIN_BUCKET = 3600.0
"""Older samples are thinned to the last of each bucket of this many seconds."""


@dataclass(frozen=True, slots=True)
class UsagePass:
    written: int
    removed: int


class UsageSampler:
    """One sampling pass at a time; remembers how far it has thinned, so each pass thins only
    what aged past FULL_RESOLUTION since the last (a new leader starts at the retention)."""

    def __init__(self, meta: ObjectStore, retention: float) -> None:
        self.meta = meta
        self.retention = retention
        self._thinned_until: float | None = None

    async def run_pass(self, now: float) -> UsagePass:
        written = await self.meta.record_usage(now)
        drop_before = now - self.retention
        thin_before = max(drop_before, now - FULL_RESOLUTION)
        thin_from = drop_before if self._thinned_until is None else self._thinned_until
        # a bucket that straddles the previous pass's edge is thinned again from its start
        thin_from = min(thin_from - thin_from % THIN_BUCKET, thin_before)
        removed = await self.meta.trim_usage(drop_before, thin_from, thin_before, THIN_BUCKET)
        self._thinned_until = thin_before
        return UsagePass(written, removed)


class UsageHistory:
    """What the console reads: a series over the last `seconds`, within the retention."""

    def __init__(self, meta: ObjectStore, interval: float, retention: float) -> None:
        self.meta = meta
        self.interval = interval
        self.retention = retention

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    async def series(self, account: str, container: str | None, now: float,
                     seconds: float) -> list[UsageSample]:
        since = now - min(seconds, self.retention)
        return await self.meta.usage_series(account, container, since)
