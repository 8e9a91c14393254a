"""The usage sampler over simulated days: a busy container's history keeps the last day at
full resolution, one sample an hour before that, nothing past the retention but the value
that still holds; passes after the first thin only what aged since the last."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from strato.domain.usage import FULL_RESOLUTION, THIN_BUCKET, UsageHistory, UsageSampler
from strato.stores.metadata.records import ObjectRecord
from strato.stores.metadata.sqlite import SqliteMetadataStore

DAY = 86400.0
START = 1_700_000_000.0 - 1_700_000_000.0 % THIN_BUCKET  # on an hour


def test_history_is_thinned_after_a_day_and_dropped_after_the_retention(tmp_path: Path
                                                                         ) -> None:
    async def run() -> None:
        meta = SqliteMetadataStore(tmp_path / "metadata.db")
        await meta.open()
        try:
            busy, _ = await meta.create_container("AUTH_a", "busy", {}, START, "gold")
            await meta.create_container("AUTH_a", "idle", {}, START, "gold")
            sampler = UsageSampler(meta, retention=3 * DAY)
            interval = 600.0
            written = removed = 0
            now = START
            while now < START + 4 * DAY:  # one new object every interval
                await meta.put_object(ObjectRecord(busy.id, f"o{now}", uuid.uuid4().hex, 10,
                                                   "e" * 32, "text/plain", now, {}, None))
                done = await sampler.run_pass(now)
                written, removed = written + done.written, removed + done.removed
                now += interval
            now -= interval
            samples = await meta.usage_series("AUTH_a", "busy", 0.0)
            times = [s.at for s in samples]
            recent = [t for t in times if t >= now - FULL_RESOLUTION]
            older = [t for t in times if t < now - FULL_RESOLUTION]
            # the last day: every pass; before it, one an hour; nothing before the retention
            assert len(recent) == FULL_RESOLUTION / interval + 1
            hours = [int(t // THIN_BUCKET) for t in older]
            assert len(hours) == len(set(hours))
            assert min(older) >= now - 3 * DAY
            assert len(older) >= 2 * DAY / THIN_BUCKET - 1
            assert samples[-1].object_count == 4 * DAY / interval
            # the idle container wrote once and keeps that one sample past the retention
            idle = await meta.usage_series("AUTH_a", "idle", 0.0)
            assert [(s.at, s.object_count) for s in idle] == [(START, 0)]
            # everything written is still there or was counted as removed
            account = await meta.usage_series("AUTH_a", None, 0.0)
            assert written - removed == len(samples) + len(idle) + len(account)
            # the console's window: led by the value at its start
            history = UsageHistory(meta, interval, 3 * DAY)
            window = await history.series("AUTH_a", "busy", now, 3600.0)
            assert window[0].at < now - 3600.0 <= window[1].at
            assert len(window) == 3600.0 / interval + 2
        finally:
            await meta.close()

    asyncio.run(run())
