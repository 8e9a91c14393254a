"""The operator's endpoints on the main port: `/ready` (readiness) and `/metrics`.

`/healthcheck` (Swift's, in the Swift front-end) answers 200 whenever a worker can answer at
all: it is the liveness check and costs nothing. `/ready` says whether this server can take
writes now, for a load balancer or an orchestrator to route by: 503, one reason per line,
when the metadata store cannot commit (`MetadataStore.check_writable`), a storage policy's
directory cannot take a new blob (`BlobStore.check_writable`), or a filesystem holding
either is fuller than `ready_disk_full_percent`. It costs a few system calls and one empty
write transaction. Reasons name policies and files, never full paths (the endpoint needs no
token); the server log has the paths.

`/metrics` is the Prometheus text of every worker (`server/metrics.py`). Here it needs a
token with the admin role (`X-Auth-Token`, or `Authorization: Bearer <token>`); an
unauthenticated listener of its own is the `metrics_port` setting (off by default).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from strato.api.http import Request, Response, text_response
from strato.domain.identity import IdentityService
from strato.domain.storage import StorageService
from strato.server import metrics
from strato.stores.metadata.base import MetadataError, MetadataStore

log = logging.getLogger("strato.server")

READY_PATH = "/ready"
METRICS_PATH = "/metrics"
METRICS_ROLE = "admin"
WRITE_TIMEOUT = 5.0
"""Seconds the metadata store's empty write may wait for the write lock."""


def percent_used(free: int, size: int) -> float:
    """How full a filesystem is for the server: the space only root may use (ext4 keeps 5%
    back) counts as used, since the server does not run as root."""
    return 100.0 * (size - free) / size if size else 0.0


async def readiness_problems(meta: MetadataStore, storage: StorageService, data_dir: Path,
                             disk_full_percent: float) -> list[str]:
    """Why this server cannot take writes now: one line per problem, empty when ready."""
    problems: list[str] = []
    try:
        await meta.check_writable(WRITE_TIMEOUT)
    except MetadataError as exc:
        problems.append(f"metadata store: {exc}")

    def data_disk() -> tuple[int, int]:
        disk = os.statvfs(data_dir)
        return disk.f_bavail * disk.f_frsize, disk.f_blocks * disk.f_frsize

    full = _full(data_disk, disk_full_percent)
    if full:
        problems.append(f"metadata store: {full}")
    for policy in storage.policies:
        try:
            problem = policy.blobs.check_writable()
        except OSError as exc:
            problem = f"cannot check its directory ({exc.strerror})"
        if problem:
            problems.append(f"policy {policy.name}: {problem}")
        full = _full(policy.blobs.disk_usage, disk_full_percent)
        if full:
            problems.append(f"policy {policy.name}: {full}")
    return problems


def _full(usage: Callable[[], tuple[int, int]], limit: float) -> str | None:
    try:
        used = percent_used(*usage())
    except OSError as exc:
        return f"cannot read its filesystem's usage ({exc.strerror})"
    if used > limit:
        return f"filesystem {used:.1f}% full (ready_disk_full_percent is {limit:g})"
    return None


class OperationsFrontend:
    """`/ready` and `/metrics` (see the module docstring)."""

    name = "ops"

    def __init__(self, meta: MetadataStore, storage: StorageService,
                 identity: IdentityService, data_dir: Path, disk_full_percent: float,
                 requests: metrics.RequestMetrics) -> None:
        self.meta = meta
        self.storage = storage
        self.identity = identity
        self.data_dir = data_dir
        self.disk_full_percent = disk_full_percent
        self.requests = requests
        self._reported: list[str] = []

    def owns(self, path: str) -> bool:
        return path in (READY_PATH, METRICS_PATH)

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return text_response(405, "Method Not Allowed\n", {"Allow": "GET, HEAD"})
        if request.path == READY_PATH:
            return await self.ready()
        return await self.metrics(request)

    async def ready(self) -> Response:
        problems = await readiness_problems(self.meta, self.storage, self.data_dir,
                                            self.disk_full_percent)
        if problems != self._reported:  # one log line per change, not per probe
            self._reported = problems
            if problems:
                log.warning("not ready: %s", "; ".join(problems))
            else:
                log.info("ready")
        if problems:
            return text_response(503, "".join(f"{p}\n" for p in problems))
        return text_response(200, "OK\n")

    async def metrics(self, request: Request) -> Response:
        token = request.headers.get("x-auth-token")
        bearer = request.headers.get("authorization", "")
        if not token and bearer[:7].lower() == "bearer ":
            token = bearer[7:].strip()
        auth = await self.identity.validate_token(token) if token else None
        if auth is None:
            return text_response(401, "a token with the admin role is needed "
                                 "(X-Auth-Token or Authorization: Bearer)\n",
                                 {"WWW-Authenticate": "Bearer"})
        if not auth.has_any_role((METRICS_ROLE,)):
            return text_response(403, "the token has no admin role\n")
        self.requests.flush()
        body = await asyncio.to_thread(metrics.render)
        return Response(200, {"Content-Type": metrics.CONTENT_TYPE}, body)
