"""Container sync, the pushing half: a background job (leader only) that mirrors each syncing
container's changes to its `X-Container-Sync-To` destination.

Every object write in a syncing container queues its name in the metadata store, in the
write's own transaction (`sync_changes`); setting or changing the destination queues every
object the container holds. A pass takes up to `container_sync_batch` queued changes per
container, looks at each name's current state and pushes it, as Swift's sync daemon does:

- a live object: a signed PUT of the data, streamed from the store, with its
  `X-Timestamp`, content type, ETag, user metadata and `X-Delete-At`. The remote keeps it
  only if it is newer than its own copy (else 409), which is also what stops two
  containers syncing to each other from echoing writes back and forth; for an object over
  64 KiB a signed HEAD asks first, so the data travels only when needed. A
  POST moves an object's timestamp, so metadata changes travel as a PUT too. A Static
  Large Object goes as its stored manifest with `X-Static-Large-Object: True`; its segments
  travel only if their own container syncs (as in Swift: sync the segment container too).
  A symlink goes as a symlink (`X-Symlink-Target`, `-Account`, and for a static link
  `-Etag` and `-Bytes`), its target unchecked on arrival.
- a gone object: a signed DELETE carrying the time of the delete; 404 (already gone) and
  409 (the remote holds a newer object) count as done. Each delete in a syncing container
  leaves a tombstone (the name and the delete's time, kept TOMBSTONE_SECONDS): a push of an
  older version of the name is refused with 409, so with two containers syncing to each
  other a delete is not undone by the other side's echo of the object, still queued.

A change leaves the queue only once pushed, so a restart (or a new leader) resumes where
the last pass stopped; pushing a name twice is harmless. A container whose push fails is
retried after a backoff that doubles from 1 s up to 5 minutes; the others go on. A remote
that refuses the signature (401: keys differ) is logged without the keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import quote, urlparse

from strato.api.swift.headers import x_timestamp
from strato.domain.container_sync import Realms, SyncTarget, signature
from strato.domain.storage import ObjectNotFound, StorageService
from strato.stores.metadata.records import ContainerRecord, ObjectRecord, SyncChange

if TYPE_CHECKING:  # imported when a container first syncs: most servers never need it,
    import aiohttp  # and it costs each process ~25 MB

log = logging.getLogger("strato.container_sync")

PARALLEL_PUSHES = 8
HEAD_FIRST_BYTES = 64 * 1024
"""Past this size, a HEAD asks whether the remote already has this version before the data
goes; a smaller object is just PUT, and a remote that has it as new answers 409 (Swift:
202), which costs no more than the HEAD would have."""
MAX_BACKOFF = 300.0
TOMBSTONE_SECONDS = 7 * 86400.0
"""How long a delete in a syncing container is remembered (Swift's default reclaim age): a
push of an older version of the name within that time is refused, so the other side's
queued echo of what was deleted cannot bring it back. A remote down for longer than this may
still resurrect an object it held when it comes back, as in Swift."""
PURGE_EVERY = 3600.0
SLO_MARKER = "x-static-large-object"
SYMLINK_HEADERS = {f"x-object-sysmeta-symlink-{part}": f"X-Symlink-{part.title()}"
                   for part in ("target", "target-account", "target-etag", "target-bytes")}
"""A symlink's stored target, and the headers that set it on a PUT."""
DONE_STATUSES = {"PUT": (202, 409), "DELETE": (404, 409)}
"""Answers that mean the remote already has this state (or a newer one): Swift's proxy
answers 202 to a PUT older than what it holds (its object servers' 409)."""


class PushFailed(Exception):
    """The remote answered a push with an error (the change stays queued)."""


class ContainerSyncJob:
    def __init__(self, storage: StorageService, realms: Realms, batch: int = 1000) -> None:
        self.storage = storage
        self.realms = realms
        self.batch = batch
        self._retry: dict[int, tuple[float, float]] = {}
        """container id -> (monotonic time of the next try, current backoff)."""
        self._session: aiohttp.ClientSession | None = None
        self.backlog = False
        """The last pass left a full batch behind somewhere: the next may start at once."""
        self._purged = 0.0
        """Monotonic time of the last purge of old tombstones."""

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp  # here, not at the top: see the TYPE_CHECKING import

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120),
                auto_decompress=False)
        return self._session

    async def run_pass(self) -> int:
        """One pass over every syncing container; returns how many writes were sent."""
        pushed = 0
        self.backlog = False
        now = time.monotonic()
        if now - self._purged >= PURGE_EVERY or not self._purged:
            self._purged = now
            gone = await self.storage.meta.purge_tombstones(time.time() - TOMBSTONE_SECONDS)
            if gone:
                log.info("container sync forgot %d deletes older than %d days", gone,
                         TOMBSTONE_SECONDS // 86400)
        for container_id, account, name in await self.storage.meta.syncing_containers():
            retry = self._retry.get(container_id)
            if retry is not None and retry[0] > now:
                continue
            try:
                pushed += await self.sync_container(container_id, account, name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(MAX_BACKOFF, retry[1] * 2) if retry else 1.0
                self._retry[container_id] = (time.monotonic() + delay, delay)
                log.warning("container sync of %s/%s failed (%s); retrying in %.0f s",
                            account, name, exc, delay)
            else:
                self._retry.pop(container_id, None)
        return pushed

    async def sync_container(self, container_id: int, account: str, name: str) -> int:
        container = await self.storage.get_container(account, name)
        if container is None or container.id != container_id:
            return 0
        sync_to = container.meta.get("x-container-sync-to", "")
        user_key = self.storage.sync_key(container)
        if not sync_to or not user_key:
            return 0  # Swift's daemon also waits until both are set
        try:
            target = self.realms.validate(sync_to)
        except ValueError as exc:  # the realm or cluster left the configuration since
            raise PushFailed(str(exc)) from None
        if target is None:
            return 0
        changes = await self.storage.meta.sync_changes(container_id, self.batch)
        if not changes:
            return 0
        self.backlog |= len(changes) == self.batch
        latest: dict[str, list[SyncChange]] = {}
        for change in changes:
            latest.setdefault(change.name, []).append(change)
        done: list[int] = []
        sent = 0
        gate = asyncio.Semaphore(PARALLEL_PUSHES)

        async def push(group: list[SyncChange]) -> None:
            nonlocal sent
            async with gate:
                pushed = await self._push(container, target, user_key, group[-1].name,
                                          max(c.timestamp for c in group))
                sent += pushed
                done.extend(c.id for c in group)

        try:
            results = await asyncio.gather(*(push(g) for g in latest.values()),
                                           return_exceptions=True)
        finally:
            if done:
                await self.storage.meta.drop_sync_changes(container_id, done)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sent

    async def _push(self, container: ContainerRecord, target: SyncTarget, user_key: str,
                    name: str, changed_at: float) -> bool:
        """Bring the remote copy of `name` up to date; whether anything was sent."""
        record = await self.storage.get_object(container, name)
        url = f"{target.url}/{quote(name)}"
        path = f"{urlparse(target.url).path}/{quote(name)}"
        if record is None:
            return await self._send("DELETE", url, path, x_timestamp(changed_at), target,
                                    user_key) is not None
        stamp = x_timestamp(record.timestamp)
        if record.size > HEAD_FIRST_BYTES:
            head = await self._send("HEAD", url, path, stamp, target, user_key)
            remote = _float(head.get("x-timestamp")) if head is not None else None
            if remote is not None and remote >= record.timestamp:
                return False  # the remote copy is as new: nothing to send
        try:
            return await self._put(container, record, url, path, stamp, target, user_key)
        except ObjectNotFound:
            return False  # deleted meanwhile: its delete is queued behind this change

    async def _put(self, container: ContainerRecord, record: ObjectRecord, url: str,
                   path: str, stamp: str, target: SyncTarget, user_key: str) -> bool:
        """Whether the remote took it (False: it holds this version or a newer one)."""
        headers = {"Content-Type": record.content_type, "Content-Length": str(record.size)}
        for key, value in record.meta.items():
            if key in SYMLINK_HEADERS:  # a symlink goes as one: its target, as stored
                headers[SYMLINK_HEADERS[key]] = value
            elif "-sysmeta-" not in key:
                headers[key] = value
        if record.meta.get(SLO_MARKER, "").lower() in ("true", "1", "yes", "on"):
            headers[SLO_MARKER] = "True"  # the stored manifest goes as it is
        else:
            headers["Etag"] = record.etag
        if record.delete_at is not None:
            headers["X-Delete-At"] = str(record.delete_at)
        record, reader = await self.storage.open_object(container, record)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in reader.iter_range(0, reader.size):
                    yield chunk
            finally:
                reader.close()

        return await self._send("PUT", url, path, stamp, target, user_key, headers,
                                body()) is not None

    async def _send(self, method: str, url: str, path: str, stamp: str, target: SyncTarget,
                    user_key: str, headers: dict[str, str] | None = None,
                    body: AsyncIterator[bytes] | None = None) -> dict[str, str] | None:
        """One signed request; the response headers (lower-case) of a 2xx, None for an
        answer that means done (or a HEAD's 404); raises PushFailed otherwise."""
        nonce = uuid.uuid4().hex
        sig = signature(method, path, stamp, nonce, target.realm_key, user_key)
        sent = {**(headers or {}), "X-Timestamp": stamp,
                "X-Container-Sync-Auth": f"{target.realm} {nonce} {sig}"}
        async with self._http().request(method, url, headers=sent, data=body) as response:
            await response.read()
            if response.status in DONE_STATUSES.get(method, ()) or (
                    method == "HEAD" and response.status == 404):
                return None
            if 200 <= response.status < 300:
                return {k.lower(): v for k, v in response.headers.items()}
            if response.status == 401:
                raise PushFailed(f"{method} {url}: 401, the destination refused the sync "
                                 "key (it must hold the same X-Container-Sync-Key)")
            raise PushFailed(f"{method} {url}: {response.status}")


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
