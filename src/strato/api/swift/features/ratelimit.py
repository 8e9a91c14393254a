"""Rate limiting of writes, as Swift's `ratelimit` middleware offers; off by default.

- `--ratelimit-account R`: container PUT/DELETE per second per account.
- `--ratelimit-container 100:50,1000:20`: object PUT/POST/DELETE/COPY per second per
  container, by the container's object count: below the first size no limit, between two
  points the rate is interpolated, past the last it stays at the last rate. (As in Swift, an
  empty container is never limited.)
- `--ratelimit-container-listing SIZE:RATE,...`: container GETs the same way.
- `--ratelimit-max-sleep S` (default 60): a request over its rate waits until its turn; one
  that would wait longer than this gets `498 Rate Limited` (`Slow down`) at once.
- `--ratelimit-whitelist`/`--ratelimit-blacklist`: accounts never limited / refused every
  container and object request
  (`497 Blacklisted`).

The limits are shared by every worker of every node, as Swift shares them through
memcache: each check is one atomic statement in the metadata database (the store's
`rate_wait`, Swift's running-time algorithm on the database's clock), so an account gets
its rate however many workers and nodes serve it. That state is scratch: SQLite commits it
without an fsync of its own, PostgreSQL keeps it in an UNLOGGED table, and a crash only
forgets who was recently busy. Keys idle for a while are purged with the token purge. A burst
allowance of five seconds' worth of requests is kept, as Swift's `rate_buffer_seconds`
default. With no limit set, no request reads or writes any rate state.
"""

from __future__ import annotations

import asyncio
from typing import Any

from strato.api.http import Response
from strato.api.swift.context import SwiftRequest, SwiftServices
from strato.api.swift.pipeline import Feature, Handler

RATE_BUFFER = 5.0
WRITE_METHODS = ("PUT", "DELETE", "POST", "COPY")


def parse_points(values: list[str]) -> list[tuple[int, float]]:
    """`["100:50", "1000:20"]` -> sorted (size, rate) points; bad entries raise ValueError."""
    points = []
    for value in values:
        size, _, rate = value.partition(":")
        points.append((int(size), float(rate)))
    return sorted(points)


def max_rate(points: list[tuple[int, float]], size: int) -> float | None:
    """Swift's `get_maxrate`: linear between points, flat after the last, none before."""
    if not size or not points or size < points[0][0]:
        return None
    for index, (point_size, rate) in enumerate(points):
        nxt = points[index + 1] if index + 1 < len(points) else None
        if nxt is None or size < nxt[0]:
            if nxt is None:
                return rate
            slope = (nxt[1] - rate) / (nxt[0] - point_size)
            return (size - point_size) * slope + rate
    return None


class RateLimit(Feature):
    name = "ratelimit"

    def __init__(self, services: SwiftServices) -> None:
        super().__init__(services)
        settings = services.settings
        self.account_rate = float(settings.ratelimit_account) if settings else 0.0
        self.container_points = parse_points(settings.ratelimit_container if settings else [])
        self.listing_points = parse_points(
            settings.ratelimit_container_listing if settings else [])
        self.max_sleep = float(settings.ratelimit_max_sleep) if settings else 60.0
        self.whitelist = set(settings.ratelimit_whitelist if settings else [])
        self.blacklist = set(settings.ratelimit_blacklist if settings else [])
        self.enabled = bool(self.account_rate or self.container_points or self.listing_points
                            or self.blacklist)

    def capabilities(self) -> dict[str, Any]:
        return {"account_ratelimit": self.account_rate,
                "max_sleep_time_seconds": self.max_sleep,
                "container_ratelimits": [list(p) for p in self.container_points],
                "container_listing_ratelimits": [list(p) for p in self.listing_points]}

    async def handle(self, sr: SwiftRequest, call_next: Handler) -> Response:
        if not self.enabled or sr.container is None:
            return await call_next(sr)
        if sr.account in self.blacklist:
            return Response(497, {"Content-Type": "text/html; charset=UTF-8"},
                            b"Your account has been blacklisted")
        if sr.account in self.whitelist:
            return await call_next(sr)
        for key, rate in await self._keys(sr):
            delay = await sr.services.storage.meta.rate_wait(key, 1.0 / rate, self.max_sleep,
                                                             RATE_BUFFER)
            if delay is None:
                return Response(498, {"Content-Type": "text/html; charset=UTF-8"},
                                b"Slow down")
            if delay > 0:
                await asyncio.sleep(delay)
        return await call_next(sr)

    async def _keys(self, sr: SwiftRequest) -> list[tuple[str, float]]:
        method = sr.request.method
        keys: list[tuple[str, float]] = []
        if sr.obj is None:
            if self.account_rate and method in ("PUT", "DELETE"):
                keys.append((f"ratelimit/{sr.account}", self.account_rate))
            if self.listing_points and method == "GET":
                rate = await self._container_rate(sr, self.listing_points)
                if rate:
                    keys.append((f"ratelimit_listing/{sr.account}/{sr.container}", rate))
        elif self.container_points and method in WRITE_METHODS:
            rate = await self._container_rate(sr, self.container_points)
            if rate:
                keys.append((f"ratelimit/{sr.account}/{sr.container}", rate))
        return keys

    async def _container_rate(self, sr: SwiftRequest, points: list[tuple[int, float]]
                              ) -> float | None:
        assert sr.container is not None
        record = await sr.services.storage.get_container(sr.account, sr.container)
        return max_rate(points, record.object_count) if record else None
