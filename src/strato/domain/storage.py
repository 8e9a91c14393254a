"""The storage service: accounts, containers and objects over the metadata and blob stores.

It owns the durable write sequence (see `strato.stores.blob.local`): blob first, metadata row
second, the replaced blob last. An object of up to `inline_bytes` skips the blob store: its
bytes commit in the metadata row's own transaction, so one disk flush makes it durable instead
of two. It knows nothing of HTTP; the Swift, Glance and console front-ends all call it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterable, Sequence
from dataclasses import replace

from strato.domain.policies import PolicySet, StoragePolicy, UnknownPolicy
from strato.stores.blob.base import (
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobWriter,
    MemoryReader,
    out_of_space,
)
from strato.stores.metadata.base import (
    SYNC_KEY,
    Conflict,
    MetadataStore,
    NotFound,
    Superseded,
)
from strato.stores.metadata.records import (
    INLINE,
    AccountRecord,
    AccountStats,
    ContainerRecord,
    ListingQuery,
    Lookup,
    ObjectRecord,
    Subdir,
    is_inline,
)
from strato.stores.metadata.secretbox import CredentialKeyError

log = logging.getLogger("strato.storage")
SYNC_TO = "x-container-sync-to"


class StorageError(Exception):
    pass


class ContainerNotFound(StorageError):
    pass


class ObjectNotFound(StorageError):
    pass


class ContainerNotEmpty(StorageError):
    pass


class EtagMismatch(StorageError):
    pass


class ObjectTooLarge(StorageError):
    pass


class OlderThanStored(StorageError):
    """A write (PUT, copy, POST, DELETE) is not newer than the object it would replace or
    delete, or than the name's last delete: the stored state wins whatever the commit order,
    as in Swift (a skewed clock, a sync push's own X-Timestamp, or writes committed out of
    timestamp order). Nothing changed and the write's blob is gone; `stored` is the winning
    timestamp. Swift answers 202 to such a PUT, 409 to a POST or DELETE."""

    def __init__(self, name: str, stored: float | None = None) -> None:
        super().__init__(name)
        self.stored = stored


class InsufficientStorage(StorageError):
    """No room for the write: the policy's filesystem (or quota) or the metadata database is
    full. Nothing was stored; what was written of it is gone. `where` names the policy or
    `metadata`, for the operator (and Swift's `Drive:` line)."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class ObjectUnreadable(StorageError):
    """The disk could not read the object's bytes (EIO); its blob is quarantined."""


class PolicyConflict(StorageError):
    """The container exists in another storage policy; a policy is never changed."""


def new_inline_id() -> str:
    """Time-ordered (microseconds, then 72 random bits for uniqueness across workers and
    nodes): the ids of small objects written together sort together, so the indexes they
    key (`inline_blobs`, `objects_blob`) grow at one edge, where random ids touched a page
    of their own each, read back into the page cache and written again at every commit."""
    return f"{INLINE}{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


def _live(record: ObjectRecord, open_expired: bool) -> bool:
    """An object past its delete-at time is already gone for readers, unless `open_expired`
    (until the expirer reclaims it)."""
    return open_expired or record.delete_at is None or record.delete_at > time.time()


class StorageService:
    def __init__(self, meta: MetadataStore, policies: PolicySet, *, max_file_size: int,
                 inline_bytes: int = 0) -> None:
        self.meta = meta
        self.policies = policies
        self.max_file_size = max_file_size
        self.inline_bytes = inline_bytes
        """Objects up to this size are kept in the metadata store (0: none are)."""
        self._stores: dict[int, BlobStore] = {}
        """container id -> its policy's blob store; never stale (see domain.policies)."""
        """Rows of quarantined blobs being removed (held so they are not collected)."""

    # ---- policies -----------------------------------------------------------------------
    def policy_of(self, container: ContainerRecord) -> StoragePolicy:
        return self.policies.stored(container.policy)

    async def _blobs(self, container_id: int) -> BlobStore:
        store = self._stores.get(container_id)
        if store is None:
            name = await self.meta.container_policy(container_id)
            if name is None:
                raise ContainerNotFound(str(container_id))
            store = self.policies.stored(name).blobs
            if len(self._stores) >= 100_000:  # bound the memory; refills cost one lookup
                self._stores.clear()
            self._stores[container_id] = store
        return store

    async def open_blob(self, record: ObjectRecord) -> BlobReader:
        """A reader of an object's blob, from its container's policy. Raises BlobNotFound."""
        if is_inline(record.blob_id):
            return await self._open_inline(record.blob_id)
        try:
            store = await self._blobs(record.container_id)
        except ContainerNotFound:
            raise BlobNotFound(record.blob_id) from None
        return store.open(record.blob_id)

    async def _open_inline(self, blob_id: str) -> BlobReader:
        data = await self.meta.inline_data(blob_id)
        if data is None:
            raise BlobNotFound(blob_id)
        return MemoryReader(data)

    @staticmethod
    async def _drop_blob(blobs: BlobStore, blob_id: str) -> None:
        """Delete a blob no row refers to any more; an inline one went with its row."""
        if not is_inline(blob_id):
            await blobs.delete(blob_id)

    async def check_policies(self) -> int:
        """At start: containers from before policies join the default policy (returns how
        many), and every policy a container records must still be configured."""
        adopted = await self.meta.assign_legacy_policy(self.policies.default.name)
        for name in sorted(await self.meta.container_policies()):
            try:
                self.policies.stored(name)
            except UnknownPolicy:
                raise UnknownPolicy(
                    f"containers use storage policy {name!r}, which is not configured; "
                    "declare it (with deprecated = true to take no new containers) or "
                    "name it as an alias of another policy with the same directory") from None
        return adopted

    # ---- accounts -----------------------------------------------------------------------
    async def get_account(self, account: str) -> AccountRecord | None:
        return await self.meta.get_account(account)

    async def account_stats(self, account: str) -> AccountStats:
        """Totals, and per policy (keyed by the policy's current name): every policy the
        account has had containers in, at zero once they are gone, as Swift reports them; a
        policy since removed from the settings (it has no containers left) is left out.
        Expired objects waiting for the expirer are reaped first, so they never count."""
        await self.reap_expired(account)
        stats = await self.meta.account_stats(account)
        per_policy: dict[str, AccountStats] = {}
        for stored, part in stats.per_policy.items():
            try:
                name = self.policies.stored(stored).name
            except UnknownPolicy:
                continue
            seen = per_policy.get(name, AccountStats(0, 0, 0))
            per_policy[name] = AccountStats(seen.container_count + part.container_count,
                                            seen.object_count + part.object_count,
                                            seen.bytes_used + part.bytes_used)
        return replace(stats, per_policy=per_policy)

    async def update_account(self, account: str, set_meta: dict[str, str],
                             remove: Sequence[str] = ()) -> AccountRecord:
        return await self.meta.update_account_meta(account, set_meta, remove, time.time())

    async def list_containers(self, account: str, query: ListingQuery
                              ) -> list[ContainerRecord | Subdir]:
        return await self.meta.list_containers(account, query)

    # ---- containers ---------------------------------------------------------------------
    async def get_container(self, account: str, name: str) -> ContainerRecord | None:
        return await self.meta.get_container(account, name)

    async def require_container(self, account: str, name: str) -> ContainerRecord:
        container = await self.meta.get_container(account, name)
        if container is None:
            raise ContainerNotFound(name)
        return container

    def sync_key(self, container: ContainerRecord) -> str:
        """The container's sync key in clear: it is stored sealed. '' if it has none, or if
        it was sealed with a credential key this node lacks (logged: pushes are then
        refused with 401 and none are sent, until the key is copied here)."""
        try:
            return self.meta.open_secret(container.meta.get(SYNC_KEY, ""))
        except CredentialKeyError as exc:
            log.error("the container sync key of %s/%s cannot be opened: %s",
                      container.account, container.name, exc)
            return ""

    def _seal_sync_key(self, meta: dict[str, str]) -> dict[str, str]:
        """`meta` with a new sync key sealed (an empty value, which removes it, stays)."""
        if meta.get(SYNC_KEY):
            return {**meta, SYNC_KEY: self.meta.seal_secret(meta[SYNC_KEY])}
        return meta

    async def create_container(self, account: str, name: str, meta: dict[str, str],
                               policy: StoragePolicy | None = None
                               ) -> tuple[ContainerRecord, bool]:
        """Create (in `policy`, else the default), or update an existing container's
        metadata. Naming another policy than an existing container's raises PolicyConflict."""
        chosen = policy or self.policies.default
        meta = self._seal_sync_key(meta)
        before = await self._sync_to(account, name, meta, ())
        try:
            record, created = await self.meta.create_container(
                account, name, meta, time.time(), chosen.name,
                require_policy=policy is not None)
        except Conflict as exc:
            raise PolicyConflict(name) from exc
        await self._sync_changed(record, before)
        return record, created

    async def _sync_to(self, account: str, name: str, set_meta: dict[str, str],
                       remove: Sequence[str]) -> str | None:
        """The container's sync destination before a metadata change that may move it
        (None: the change leaves it alone, so nothing is read)."""
        if SYNC_TO not in set_meta and SYNC_TO not in remove:
            return None
        record = await self.meta.get_container(account, name)
        return record.meta.get(SYNC_TO, "") if record is not None else ""

    async def _sync_changed(self, record: ContainerRecord, before: str | None) -> None:
        """A new or changed `X-Container-Sync-To` queues every object for the new place (as
        Swift resets the sync points); removing it stops the sync and drops the queue."""
        if before is None:
            return
        after = record.meta.get(SYNC_TO, "")
        if after != before:
            await self.meta.set_container_sync(record.id, bool(after), time.time())

    async def update_container(self, account: str, name: str, set_meta: dict[str, str],
                               remove: Sequence[str] = ()) -> ContainerRecord:
        set_meta = self._seal_sync_key(set_meta)
        before = await self._sync_to(account, name, set_meta, remove)
        try:
            record = await self.meta.update_container_meta(account, name, set_meta, remove,
                                                           now=time.time())
        except NotFound as exc:
            raise ContainerNotFound(name) from exc
        await self._sync_changed(record, before)
        return record

    async def delete_container(self, account: str, name: str) -> None:
        """Delete an empty container; objects past their delete-at time do not count (they
        are reaped first, as they are already gone from reads and listings)."""
        for attempt in range(2):
            try:
                await self.meta.delete_container(account, name)
                return
            except NotFound as exc:
                raise ContainerNotFound(name) from exc
            except Conflict as exc:
                container = await self.meta.get_container(account, name)
                if attempt or container is None or not await self.reap_expired(
                        account, container.id):
                    raise ContainerNotEmpty(name) from exc

    async def list_objects(self, container: ContainerRecord, query: ListingQuery
                           ) -> list[ObjectRecord | Subdir]:
        return await self.meta.list_objects(container.id, query, time.time())

    # ---- objects ------------------------------------------------------------------------
    async def get_object(self, container: ContainerRecord, name: str, *,
                         open_expired: bool = False) -> ObjectRecord | None:
        """The live object; one past its delete-at time is already gone for readers, unless
        `open_expired` (until the expirer reclaims it)."""
        record = await self.meta.get_object(container.id, name)
        return record if record is not None and _live(record, open_expired) else None

    async def lookup(self, account: str, container: str, obj: str | None = None, *,
                     data: bool = False, counts: bool = True, open_expired: bool = False
                     ) -> Lookup:
        """The account's, container's and live object's rows (and the object's inline bytes
        if `data`) read together: an object request's reads before it acts, one round trip
        on PostgreSQL instead of three. The object as `get_object` sees it."""
        found = await self.meta.lookup(account, container, obj, data=data, counts=counts)
        if found.object is not None and not _live(found.object, open_expired):
            return replace(found, object=None, data=None)
        return found

    async def open_object(self, container: ContainerRecord, record: ObjectRecord,
                          data: bytes | None = None) -> tuple[ObjectRecord, BlobReader]:
        """Open the blob (`data`: its bytes, when inline and already read with its row); if
        an overwrite freed it in between, follow to the new version."""
        blobs = self.policy_of(container).blobs
        if data is not None and is_inline(record.blob_id):
            return record, MemoryReader(data)
        for _ in range(3):
            try:
                if is_inline(record.blob_id):
                    return record, await self._open_inline(record.blob_id)
                return record, blobs.open(record.blob_id)
            except BlobNotFound:
                fresh = await self.get_object(container, record.name)
                if fresh is None:
                    raise ObjectNotFound(record.name) from None
                record = fresh
        raise ObjectNotFound(record.name)

    def check_room(self, container: ContainerRecord, length: int) -> None:
        """Before reading a body of announced `length`: InsufficientStorage if its policy's
        filesystem has less room than that, so a client learns it before sending anything
        (Swift's object server reserves the length with fallocate for the same answer). A
        body kept inline needs no file. One statvfs call."""
        if length <= self.inline_bytes:
            return
        policy = self.policy_of(container)
        free, _ = policy.blobs.disk_usage()
        if free < length:
            log.warning("policy %s: %d bytes free, a PUT of %d refused", policy.name, free,
                        length)
            raise InsufficientStorage(policy.name)

    # ---- read errors --------------------------------------------------------------------
    async def read_failed(self, container: ContainerRecord, record: ObjectRecord,
                          exc: BaseException) -> bool:
        """An error while reading `record`'s blob: if the disk could not read it (EIO), the
        blob is quarantined, as Swift's object server does, and logged; later reads find the
        object missing (404) until it is written again. Returns whether it was that. Its row
        goes before this returns (so before the client learns of the error): a HEAD sent
        once the answer failed agrees with GET."""
        if not (isinstance(exc, OSError) and exc.errno == errno.EIO) or is_inline(
                record.blob_id):
            return False
        policy = self.policy_of(container)
        moved = policy.blobs.quarantine(record.blob_id, {
            "account": container.account, "container": container.name,
            "object": record.name, "container_id": record.container_id, "etag": record.etag,
            "size": record.size, "reason": f"read error: {exc}", "quarantined_at": time.time()})
        log.error("read error on object %s in container %s (policy %s, blob %s): %s; "
                  "blob quarantined to %s", record.name, container.name, policy.name,
                  record.blob_id, exc, moved or "(already gone)")
        if moved is not None:
            # as the auditor does: the row goes too, so HEAD and listings agree with GET (a
            # pass of the auditor finishes this if the worker stops first)
            await self.meta.delete_object_if(record)
        return True

    async def probe(self, container: ContainerRecord, record: ObjectRecord,
                    reader: BlobReader, offset: int) -> None:
        """Read the first byte to be sent before answering, so that a blob the disk cannot
        read gets a 5xx rather than a 200 cut short. Raises ObjectUnreadable (the reader is
        closed then). A page-cached byte costs one system call."""
        try:
            reader.probe(offset)
        except OSError as exc:
            if not await self.read_failed(container, record, exc):
                raise
            reader.close()
            raise ObjectUnreadable(record.name) from exc

    async def put_object(
        self, container: ContainerRecord, name: str, body: AsyncIterable[bytes], *,
        content_type: str, meta: dict[str, str], expected_etag: str | None = None,
        expected_size: int | None = None, delete_at: int | None = None,
        max_size: int | None = None, timestamp: float | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Store a stream durably; returns (new record, replaced record or None).

        The body is held in memory while it fits in `inline_bytes`; past that it streams into
        a blob, starting with what was held. `max_size` replaces the object size limit (the
        image service has its own). A full filesystem, before or while the body streams, is
        InsufficientStorage, and the partial file is removed."""
        limit = self.max_file_size if max_size is None else max_size
        if timestamp is not None:
            await self._check_newer(container, name, timestamp)
        policy = self.policy_of(container)
        blobs = policy.blobs
        writer: BlobWriter | None = None
        held: list[bytes] = []
        size = 0
        try:
            if not self.inline_bytes:
                writer = blobs.writer()
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise ObjectTooLarge(name)
                if writer is None:
                    if size <= self.inline_bytes:
                        held.append(chunk)
                        continue
                    writer = blobs.writer()
                    for piece in held:
                        await writer.write(piece)
                    held.clear()
                await writer.write(chunk)
            if writer is None:
                inline = b"".join(held)
                data: bytes | None = inline
                etag = hashlib.md5(inline, usedforsecurity=False).hexdigest()
            else:
                data = None
                etag = await writer.finish()
            if expected_size is not None and size != expected_size:
                raise ObjectTooLarge(name) if size > expected_size else EtagMismatch(name)
            if expected_etag is not None and expected_etag.strip('"').lower() != etag:
                raise EtagMismatch(name)
            if writer is not None:
                await writer.commit()
        except BaseException as exc:
            if writer is not None:
                await writer.abort()
            if out_of_space(exc):
                log.warning("policy %s is full: a PUT of %s failed after %d bytes (%s)",
                            policy.name, name, size, exc)
                raise InsufficientStorage(policy.name) from exc
            raise
        blob_id = new_inline_id() if writer is None else writer.blob_id
        record = ObjectRecord(container.id, name, blob_id, size, etag, content_type,
                              round(time.time(), 5) if timestamp is None else timestamp,
                              meta, delete_at)
        return record, await self._commit_row(record, blobs, data)

    async def copy_object(self, container: ContainerRecord, source: ObjectRecord,
                          name: str, *, content_type: str, meta: dict[str, str],
                          delete_at: int | None = None
                          ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Server-side copy: the data is shared where the stores allow (a hard link), else
        copied store to store (an inline object's bytes are copied into a new inline row);
        it never passes through the client."""
        blobs = self.policy_of(container).blobs
        data = None
        try:
            if is_inline(source.blob_id):
                data = await self.meta.inline_data(source.blob_id)
                if data is None:
                    raise BlobNotFound(source.blob_id)
                blob_id = new_inline_id()
            else:
                source_blobs = await self._blobs(source.container_id)
                blob_id = await blobs.copy(source.blob_id, source_blobs)
        except (BlobNotFound, ContainerNotFound) as exc:
            raise ObjectNotFound(source.name) from exc
        except OSError as exc:
            if out_of_space(exc):  # a link needs a directory entry, a cross-disk copy blocks
                log.warning("policy %s is full: a copy to %s failed (%s)",
                            self.policy_of(container).name, name, exc)
                raise InsufficientStorage(self.policy_of(container).name) from exc
            raise
        record = source._replace(container_id=container.id, name=name, blob_id=blob_id,
                                 content_type=content_type, meta=meta,
                                 timestamp=round(time.time(), 5),
                                 delete_at=delete_at)
        return record, await self._commit_row(record, blobs, data)

    def metadata_full(self, exc: BaseException) -> bool:
        """Whether `exc`, raised by a write, is the metadata store refusing it for want of
        room (nothing was written): any write may meet it, a container's as an object's."""
        return self.meta.out_of_space(exc)

    async def _commit_row(self, record: ObjectRecord, blobs: BlobStore,
                          data: bytes | None = None) -> ObjectRecord | None:
        """The row points at the new blob (in `blobs`, the container's store, or `data` for
        an inline one); then the replaced blob, of the same container, goes."""
        try:
            old = await self.meta.put_object(record, data)
        except Superseded as lost:  # a newer write of the name is there: this one's blob goes
            await self._drop_blob(blobs, record.blob_id)
            raise OlderThanStored(record.name, lost.stored) from None
        except NotFound as exc:
            await self._drop_blob(blobs, record.blob_id)
            raise ContainerNotFound(str(record.container_id)) from exc
        except Exception as exc:
            if not self.metadata_full(exc):
                raise  # it may have committed (a lost connection): the sweeper decides
            # the database refused the row, so nothing refers to the new blob
            await self._drop_blob(blobs, record.blob_id)
            log.warning("metadata store is full: the row of %s was not written (%s)",
                        record.name, exc)
            raise InsufficientStorage("metadata") from exc
        if old is not None and old.blob_id != record.blob_id:
            await self._drop_blob(blobs, old.blob_id)
        return old

    async def _delete_blob(self, record: ObjectRecord) -> None:
        """Drop a blob no row refers to; if its container is gone, the sweeper will."""
        try:
            store = await self._blobs(record.container_id)
        except ContainerNotFound:
            return
        await self._drop_blob(store, record.blob_id)

    async def update_object(self, container: ContainerRecord, record: ObjectRecord,
                            meta: dict[str, str], content_type: str | None,
                            delete_at: int | None, *, touch: bool = False) -> ObjectRecord:
        """Replace metadata; `touch` moves the timestamp too, as a client's POST does."""
        try:
            return await self.meta.update_object(container.id, record.name, meta,
                                                 content_type, delete_at,
                                                 now=round(time.time(), 5) if touch else None)
        except NotFound as exc:
            raise ObjectNotFound(record.name) from exc
        except Superseded as lost:
            raise OlderThanStored(record.name, lost.stored) from None

    async def _check_newer(self, container: ContainerRecord, name: str, timestamp: float
                           ) -> None:
        """Refuse a write timestamped no later than the stored object, or than the name's
        last delete (its tombstone), before its body is read (as Swift's object server
        before 100 Continue). The store's write applies the same rule atomically."""
        stored = await self.meta.get_object(container.id, name)
        if stored is not None and stored.timestamp >= timestamp:
            raise OlderThanStored(name, stored.timestamp)
        deleted = await self.meta.tombstone(container.id, name)
        if deleted is not None and deleted >= timestamp:
            raise OlderThanStored(name, deleted)

    async def delete_object(self, container: ContainerRecord, name: str, *,
                            timestamp: float | None = None) -> ObjectRecord:
        if timestamp is not None:
            await self._check_newer(container, name, timestamp)
        try:  # only a row older than this delete goes: a newer PUT wins whatever the order
            old = await self.meta.delete_object(container.id, name, timestamp,
                                                older_than=round(time.time(), 5))
        except Superseded as lost:
            raise OlderThanStored(name, lost.stored) from None
        if old is None:
            raise ObjectNotFound(name)
        await self._drop_blob(self.policy_of(container).blobs, old.blob_id)
        if old.delete_at is not None and old.delete_at <= time.time():
            raise ObjectNotFound(name)  # already expired: to the client it was gone
        return old

    # ---- background work ----------------------------------------------------------------
    async def expire_pass(self, batch: int = 500, delay: float = 0.0) -> int:
        """Reclaim objects at least `delay` seconds past their delete-at time, from the index;
        returns how many."""
        return await self.reap_expired(batch=batch, delay=delay)

    async def reap_expired(self, account: str | None = None, container_id: int | None = None,
                           *, batch: int = 500, delay: float = 0.0) -> int:
        """Reclaim expired objects (of `account` or one container, else all) now; returns
        how many. Reads of counters call it first, so an expired object never counts nor
        keeps its container from being deleted while it waits for the expirer's next pass;
        when there is nothing to reap it costs one read of the delete-at index."""
        removed = 0
        while True:
            expired = await self.meta.expired_objects(time.time() - delay, batch,
                                                      account=account,
                                                      container_id=container_id)
            if not expired:
                return removed
            # one metadata transaction per batch; a row replaced meanwhile is left alone
            for record in await self.meta.delete_objects_if(expired):
                await self._delete_blob(record)
                removed += 1
            if len(expired) < batch:
                return removed

    async def quarantine_object(self, record: ObjectRecord, reason: str, *, account: str = "",
                                container: str = "") -> str | None:
        """The object's blob is corrupt or unreadable: move it to quarantine
        (`BlobStore.quarantine`), then remove the row (if it still names that blob) with its
        share of the counters, so GET and HEAD answer 404 and listings leave it out. One
        copy only: the object is lost, and the log says so. Returns where the blob went, or
        None if it was gone already (an overwrite freed it meanwhile)."""
        try:
            blobs = await self._blobs(record.container_id)
        except ContainerNotFound:
            return None
        details: dict[str, object] = {
            "account": account, "container": container, "object": record.name,
            "container_id": record.container_id, "etag": record.etag, "size": record.size,
            "reason": reason, "quarantined_at": time.time()}
        where = blobs.quarantine(record.blob_id, details)
        if where is None:
            return None
        removed = await self.meta.delete_object_if(record)
        log.error("OBJECT LOST: %s/%s/%s (blob %s): %s; its bytes are in %s%s; restore it "
                  "from a backup or upload it again", account or "?", container or
                  record.container_id, record.name, record.blob_id, reason, where,
                  "" if removed else " (its row had changed already)")
        return where

    async def sweep_pass(self, min_age: float) -> tuple[int, int]:
        """Remove unreferenced blobs and stale temp files older than `min_age` seconds, in
        every policy's store.

        The age guard protects a blob written but not yet committed to the metadata store.
        """
        cutoff = time.time() - min_age
        orphans = temps = 0
        for policy in self.policies:
            for blob_id in policy.blobs.iter_blobs(cutoff):
                if not await self.meta.blob_referenced(blob_id):
                    await policy.blobs.delete(blob_id)
                    orphans += 1
            temps += policy.blobs.sweep_temp(cutoff)
        if orphans or temps:
            log.info("sweep removed %d orphan blobs and %d temp files", orphans, temps)
        return orphans, temps
