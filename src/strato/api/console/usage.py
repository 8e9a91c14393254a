"""`GET /console/usage`: an account's or a container's bytes and object count, now and over
time, for the console's Usage page.

    GET /console/usage[?account=AUTH_x][&container=NAME][&days=N]

The account defaults to the signed-in project's. Access is Swift's to decide: the console
first sends a HEAD for the account (or the container) through the Swift front-end with the
user's own token, exactly as `/console/api` does, and answers with that HEAD's refusal (403,
404) when it is not a success. So only someone who may HEAD an account or container through
Swift (its owner, a reseller admin, a user a container ACL lets read it) sees its history,
and the figures "now" are that HEAD's counters. The history comes from the samples the
background sampler keeps (`strato.domain.usage`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from strato.api.http import Request, Response, json_response
from strato.domain.usage import UsageHistory

DEFAULT_DAYS = 7.0

Head = Callable[[str], Awaitable[Response]]
"""Sends a HEAD for a Swift path with the session's token; returns Swift's answer."""


class UsageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _count(headers: dict[str, str], name: str) -> int:
    try:
        return int(headers.get(name, "0"))
    except ValueError:
        return 0


async def usage_response(history: UsageHistory, request: Request, own_account: str,
                         head: Head) -> Response:
    account = request.query.get("account", "") or own_account
    container = request.query.get("container", "") or None
    try:
        days = float(request.query.get("days", DEFAULT_DAYS))
    except ValueError:
        days = 0.0
    if "/" in account or (container is not None and "/" in container) or not 0 < days <= 366:
        raise UsageError(400, "Give an account, optionally a container, and 0 to 366 days.")
    path = f"/v1/{account}" + (f"/{container}" if container is not None else "")
    answer = await head(path)
    what = f"container {container}" if container is not None else f"account {account}"
    if answer.status >= 300:
        raise UsageError(answer.status, f"You may not see the usage of {what}.")
    headers = {k.lower(): v for k, v in answer.headers.items()}
    level = "x-container-" if container is not None else "x-account-"
    now = time.time()
    current: dict[str, float | int] = {
        "time": now, "objects": _count(headers, level + "object-count"),
        "bytes": _count(headers, level + "bytes-used")}
    if container is None:
        current["containers"] = _count(headers, "x-account-container-count")
    samples = await history.series(account, container, now, days * 86400) \
        if history.enabled else []
    return json_response(200, {
        "account": account, "container": container, "now": current,
        "interval": history.interval, "retention": history.retention,
        "samples": [{"time": s.at, "objects": s.object_count, "bytes": s.bytes_used}
                    for s in samples]})
