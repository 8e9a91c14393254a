"""The storage service: accounts, containers and objects over the metadata and blob stores.

It owns the durable write sequence (see `strato.stores.blob.local`): blob first, metadata row
second, the replaced blob last. It knows nothing of HTTP; the Swift, Glance and console
front-ends all call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Sequence
from dataclasses import replace

from strato.stores.blob.base import BlobNotFound, BlobReader, BlobStore
from strato.stores.metadata.base import Conflict, MetadataStore, NotFound
from strato.stores.metadata.records import (
    AccountRecord,
    AccountStats,
    ContainerRecord,
    ListingQuery,
    ObjectRecord,
    Subdir,
)

log = logging.getLogger("strato.storage")


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


class StorageService:
    def __init__(self, meta: MetadataStore, blobs: BlobStore, *, max_file_size: int) -> None:
        self.meta = meta
        self.blobs = blobs
        self.max_file_size = max_file_size

    # ---- accounts -----------------------------------------------------------------------
    async def get_account(self, account: str) -> AccountRecord | None:
        return await self.meta.get_account(account)

    async def account_stats(self, account: str) -> AccountStats:
        return await self.meta.account_stats(account)

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

    async def create_container(self, account: str, name: str, meta: dict[str, str]
                               ) -> tuple[ContainerRecord, bool]:
        return await self.meta.create_container(account, name, meta, time.time())

    async def update_container(self, account: str, name: str, set_meta: dict[str, str],
                               remove: Sequence[str] = ()) -> ContainerRecord:
        try:
            return await self.meta.update_container_meta(account, name, set_meta, remove,
                                                         now=time.time())
        except NotFound as exc:
            raise ContainerNotFound(name) from exc

    async def delete_container(self, account: str, name: str) -> None:
        try:
            await self.meta.delete_container(account, name)
        except NotFound as exc:
            raise ContainerNotFound(name) from exc
        except Conflict as exc:
            raise ContainerNotEmpty(name) from exc

    async def list_objects(self, container: ContainerRecord, query: ListingQuery
                           ) -> list[ObjectRecord | Subdir]:
        return await self.meta.list_objects(container.id, query, time.time())

    # ---- objects ------------------------------------------------------------------------
    async def get_object(self, container: ContainerRecord, name: str) -> ObjectRecord | None:
        """The live object; one past its delete-at time is already gone for readers."""
        record = await self.meta.get_object(container.id, name)
        if record is None or (record.delete_at is not None and record.delete_at <= time.time()):
            return None
        return record

    async def open_object(self, container: ContainerRecord, record: ObjectRecord
                          ) -> tuple[ObjectRecord, BlobReader]:
        """Open the blob; if an overwrite freed it in between, follow to the new version."""
        for _ in range(3):
            try:
                return record, self.blobs.open(record.blob_id)
            except BlobNotFound:
                fresh = await self.get_object(container, record.name)
                if fresh is None:
                    raise ObjectNotFound(record.name) from None
                record = fresh
        raise ObjectNotFound(record.name)

    async def put_object(
        self, container: ContainerRecord, name: str, body: AsyncIterable[bytes], *,
        content_type: str, meta: dict[str, str], expected_etag: str | None = None,
        expected_size: int | None = None, delete_at: int | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Store a stream durably; returns (new record, replaced record or None)."""
        writer = self.blobs.writer()
        try:
            async for chunk in body:
                if writer.size + len(chunk) > self.max_file_size:
                    raise ObjectTooLarge(name)
                await writer.write(chunk)
            etag = await writer.finish()
            if expected_size is not None and writer.size != expected_size:
                raise ObjectTooLarge(name) if writer.size > expected_size else EtagMismatch(name)
            if expected_etag is not None and expected_etag.strip('"').lower() != etag:
                raise EtagMismatch(name)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        record = ObjectRecord(container.id, name, writer.blob_id, writer.size, etag,
                              content_type, round(time.time(), 5), meta, delete_at)
        return record, await self._commit_row(record)

    async def copy_object(self, container: ContainerRecord, source: ObjectRecord,
                          name: str, *, content_type: str, meta: dict[str, str],
                          delete_at: int | None = None
                          ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Server-side copy: the data is shared, never streamed through the server."""
        try:
            blob_id = await self.blobs.copy(source.blob_id)
        except BlobNotFound as exc:
            raise ObjectNotFound(source.name) from exc
        record = replace(source, container_id=container.id, name=name, blob_id=blob_id,
                         content_type=content_type, meta=meta, timestamp=round(time.time(), 5),
                         delete_at=delete_at)
        return record, await self._commit_row(record)

    async def _commit_row(self, record: ObjectRecord) -> ObjectRecord | None:
        try:
            old = await self.meta.put_object(record)
        except NotFound as exc:
            await self.blobs.delete(record.blob_id)
            raise ContainerNotFound(str(record.container_id)) from exc
        if old is not None and old.blob_id != record.blob_id:
            await self.blobs.delete(old.blob_id)
        return old

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

    async def delete_object(self, container: ContainerRecord, name: str) -> ObjectRecord:
        old = await self.meta.delete_object(container.id, name)
        if old is None:
            raise ObjectNotFound(name)
        await self.blobs.delete(old.blob_id)
        if old.delete_at is not None and old.delete_at <= time.time():
            raise ObjectNotFound(name)  # already expired: to the client it was gone
        return old

    # ---- background work ----------------------------------------------------------------
    async def expire_pass(self, batch: int = 500) -> int:
        """Reclaim objects past their delete-at time, from the index; returns how many."""
        removed = 0
        while True:
            expired = await self.meta.expired_objects(time.time(), batch)
            # one metadata transaction per batch; a row replaced meanwhile is left alone
            for record in await self.meta.delete_objects_if(expired):
                await self.blobs.delete(record.blob_id)
                removed += 1
            if len(expired) < batch:
                return removed

    async def sweep_pass(self, min_age: float) -> tuple[int, int]:
        """Remove unreferenced blobs and stale temp files older than `min_age` seconds.

        The age guard protects a blob written but not yet committed to the metadata store.
        """
        cutoff = time.time() - min_age
        orphans = 0
        for blob_id in self.blobs.iter_blobs(cutoff):
            if not await self.meta.blob_referenced(blob_id):
                await self.blobs.delete(blob_id)
                orphans += 1
        temps = self.blobs.sweep_temp(cutoff)
        if orphans or temps:
            log.info("sweep removed %d orphan blobs and %d temp files", orphans, temps)
        return orphans, temps
