"""What one client may hold: time to send a request, request-head size, connections per
worker, and whose word about the client's address is believed.

| limit | setting or constant (default) | beyond it |
|---|---|---|
| time to send the request line and headers | `header_timeout` (60 s) | 408, close |
| silence within a request body | `body_timeout` (60 s) | 408, close |
| idle keep-alive between requests | `keepalive_timeout` (30 s) | close |
| connections per worker | `max_connections` (1024) | 503, close |
| request target | `MAX_TARGET` (8 KiB) | 414, close |
| request head (line and headers) | `MAX_HEAD` (~830 KiB) | 431, close |
| X-Forwarded-For believed from | `trusted_proxies` (nobody) | ignored |

`body_timeout` is Swift's `client_timeout`, `max_connections` its `max_clients`, MAX_TARGET
eventlet's request-line limit under Swift's proxy. A connection that sent nothing at all is
closed without a 408, and a 408 is sent only while no answer has started.

The two timeouts and the size limits live in `server/protocol.py` (uvicorn and httptools have
none); the others are uvicorn's own (`timeout_keep_alive`, `limit_concurrency`,
`forwarded_allow_ips`). docs/reliability.md has the figures the tests measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strato.api.swift.constraints import MAX_HEADER_COUNT, MAX_HEADER_SIZE
from strato.server.settings import Settings

MAX_TARGET = 8192
"""Longest request target; eventlet (under Swift's proxy) refuses a longer line with 414."""
MAX_HEAD = MAX_TARGET + 64 + MAX_HEADER_COUNT * (MAX_HEADER_SIZE + 4)
"""A request head longer than this cannot pass the app's own header checks (at most
MAX_HEADER_COUNT headers of MAX_HEADER_SIZE bytes each), so it is refused before it is all
buffered. The protocol counts whole reads, so a head is buffered up to this plus one read."""


@dataclass(slots=True)
class ConnectionLimits:
    header_timeout: float = 60.0
    body_timeout: float = 60.0

    @property
    def tick(self) -> float:
        """How often each connection's watchdog looks: a limit is enforced within a quarter
        of itself (a 60 s timeout closes the connection after 60 to 75 s)."""
        return min(self.header_timeout, self.body_timeout) / 4


LIMITS = ConnectionLimits()
"""The worker's limits, read by every connection; set by `configure` in each worker."""


def configure(settings: Settings) -> None:
    LIMITS.header_timeout = settings.header_timeout
    LIMITS.body_timeout = settings.body_timeout


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The connection limits uvicorn enforces itself, as `uvicorn.run` keyword arguments."""
    return {
        "timeout_keep_alive": settings.keepalive_timeout,
        # uvicorn counts this connection too: N-1 others may be open when a request is served
        "limit_concurrency": settings.max_connections + 1,
        # off unless proxies are named (uvicorn would believe 127.0.0.1 by default)
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
    }
