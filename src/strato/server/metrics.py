"""Prometheus metrics, summed over every worker process (prometheus-client's multiprocess
mode): `strato serve` gives the workers a fresh directory of their own
(`PROMETHEUS_MULTIPROC_DIR`, made at each start, removed at a clean stop), where each
process keeps its values in a memory-mapped file, and a scrape reads them all.

A prometheus-client counter or histogram update in multiprocess mode costs several
microseconds (a lock and a write to the mapped file per value), as much again as the rest of
a request's bookkeeping. So the request path only adds to a dict in its own worker
(`RequestMetrics.record`, well under a microsecond), and each worker moves what it gathered
into the shared files once a second (`FLUSH_SECONDS`) and before it answers a scrape: a
scrape may miss up to the last second of another worker's requests, never counts one twice.

Everything else (logins, background jobs, per-policy totals) changes rarely and goes
straight to prometheus-client. `docs/operations.md` lists every metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "LoginMetrics", "RequestMetrics",
           "background_job", "render", "start_listener"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""Set by `strato serve` (`serve_cli.metrics_dir`) before this module is imported."""
CONTENT_TYPE = CONTENT_TYPE_LATEST
FLUSH_SECONDS = 1.0
METHODS = frozenset(("GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "PATCH"))
"""Request methods with a label of their own; any other is `other` (bounded labels)."""
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0, math.inf)

REQUESTS = Counter("strato_requests", "HTTP requests answered, by API (swift, identity, "
                   "image, console, ops, other), method, status class and storage policy (Swift "
                   "container and object requests; empty otherwise).",
                   ["api", "method", "status", "policy"])
DURATION = Histogram("strato_request_duration_seconds", "Time from a request's arrival "
                     "to the end of its response body, by API and method.",
                     ["api", "method"], buckets=LATENCY_BUCKETS)
RECEIVED = Counter("strato_request_body_bytes", "Request body bytes read (uploads).",
                   ["api", "policy"])
SENT = Counter("strato_response_body_bytes", "Response body bytes sent (downloads).",
               ["api", "policy"])

AUTH_FAILURES = Counter("strato_auth_failures", "Logins refused for wrong or unknown "
                        "credentials, by kind (password, application_credential).", ["kind"])
AUTH_REFUSED = Counter("strato_auth_refused", "Logins refused before any check: a lockout "
                       "(lockout_user_client, lockout_client, lockout_user) or too many "
                       "checks queued (busy).", ["reason"])

JOB_RUNS = Counter("strato_background_runs", "Passes of a background job, failed ones "
                   "included.", ["job"])
JOB_FAILURES = Counter("strato_background_failures", "Passes of a background job that "
                       "failed (the server log has the error).", ["job"])
JOB_LAST_RUN = Gauge("strato_background_last_run_timestamp_seconds", "When a background "
                     "job's last pass ended (Unix time).", ["job"], multiprocess_mode="max")
JOB_LAST_SUCCESS = Gauge("strato_background_last_success_timestamp_seconds", "When a "
                         "background job's last successful pass ended (Unix time).", ["job"],
                         multiprocess_mode="max")
JOB_ITEMS = Counter("strato_background_items", "What background jobs did: objects expired, "
                    "blobs and temp files swept, tokens and tasks purged, images scrubbed, "
                    "tasks taken over, blobs and bytes audited and blobs quarantined (job "
                    "auditor, kinds blobs, bytes, quarantined).", ["job", "kind"])

POLICY_CONTAINERS = Gauge("strato_policy_containers", "Containers in a storage policy.",
                          ["policy"], multiprocess_mode="mostrecent")
POLICY_OBJECTS = Gauge("strato_policy_objects", "Objects in a storage policy (from the "
                       "containers' counters).", ["policy"], multiprocess_mode="mostrecent")
POLICY_BYTES = Gauge("strato_policy_bytes", "Bytes of the objects in a storage policy "
                     "(from the containers' counters).", ["policy"],
                     multiprocess_mode="mostrecent")
POLICY_DISK_FREE = Gauge("strato_policy_disk_free_bytes", "Bytes free (for unprivileged "
                         "users) on the filesystem of a policy's directory.", ["policy"],
                         multiprocess_mode="mostrecent")
POLICY_DISK_SIZE = Gauge("strato_policy_disk_size_bytes", "Size of the filesystem of a "
                         "policy's directory.", ["policy"], multiprocess_mode="mostrecent")


class RequestMetrics:
    """One worker's request counts, gathered cheaply and moved to the shared files by
    `flush` (see the module docstring)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str, int, str], list[float]] = {}
        self._buckets: dict[tuple[str, str, int, str], list[int]] = {}

    def record(self, api: str, method: str, status: int, policy: str, seconds: float,
               received: int, sent: int) -> None:
        """Count one answered request (called for every request: keep it cheap)."""
        key = (api, method if method in METHODS else "other", status // 100, policy)
        totals = self._pending.get(key)
        if totals is None:
            totals = self._pending[key] = [0, 0, 0, 0.0]
            self._buckets[key] = [0] * len(LATENCY_BUCKETS)
        totals[0] += 1
        totals[1] += received
        totals[2] += sent
        totals[3] += seconds
        self._buckets[key][bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def flush(self) -> None:
        """Add what was gathered since the last flush to the shared metrics."""
        pending, buckets = self._pending, self._buckets
        if not pending:
            return
        self._pending, self._buckets = {}, {}
        for key, (count, received, sent, seconds) in pending.items():
            api, method, status, policy = key
            REQUESTS.labels(api, method, f"{status}xx", policy).inc(count)
            if received:
                RECEIVED.labels(api, policy).inc(received)
            if sent:
                SENT.labels(api, policy).inc(sent)
            _observe_many(DURATION.labels(api, method), buckets[key], seconds)

    async def run(self) -> None:
        """Flush every FLUSH_SECONDS until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                self.flush()
        finally:
            self.flush()


def _observe_many(child: Histogram, counts: list[int], total: float) -> None:
    """Add many observations at once: prometheus-client has no public call for it, so
    this adds to the child's per-bucket values (non-cumulative, as its `observe` keeps
    them) and its sum. The metrics tests check the histogram against the requests sent."""
    child._sum.inc(total)
    for bucket, count in zip(child._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


class LoginMetrics:
    """The identity service's `LoginObserver`: refused logins as counters."""

    def failed(self, kind: str) -> None:
        AUTH_FAILURES.labels(kind).inc()

    def refused(self, reason: str) -> None:
        AUTH_REFUSED.labels(reason).inc()


@contextlib.contextmanager
def background_job(job: str) -> Iterator[None]:
    """Count one pass of a background job, and whether it failed."""
    try:
        yield
    except Exception:
        JOB_FAILURES.labels(job).inc()
        raise
    else:
        JOB_LAST_SUCCESS.labels(job).set(time.time())
    finally:
        JOB_RUNS.labels(job).inc()
        JOB_LAST_RUN.labels(job).set(time.time())


def job_items(job: str, kind: str, count: int) -> None:
    if count:
        JOB_ITEMS.labels(job, kind).inc(count)


def record_policy(name: str, containers: int, objects: int, nbytes: int,
                  disk: tuple[int, int] | None) -> None:
    """Set a policy's gauges: its totals, and (free, size) of its filesystem."""
    POLICY_CONTAINERS.labels(name).set(containers)
    POLICY_OBJECTS.labels(name).set(objects)
    POLICY_BYTES.labels(name).set(nbytes)
    if disk is not None:
        POLICY_DISK_FREE.labels(name).set(disk[0])
        POLICY_DISK_SIZE.labels(name).set(disk[1])


def registry() -> CollectorRegistry:
    """What a scrape shows: every process's values in multiprocess mode, else this
    process's (a server run in-process by tests or an embedding program)."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    collected = CollectorRegistry()
    _multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def render() -> bytes:
    """The exposition text (reads every worker's file: run it off the event loop)."""
    return generate_latest(registry())


def start_listener(host: str, port: int) -> None:
    """Serve the metrics, without authentication, on a listener of their own (a thread of
    the `strato serve` process, so scrapes take no worker's time)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=registry())
