"""Image bytes as objects in Strato's own object store.

Each Glance store is a storage policy. An image's data in a store is the object
`<image id>` in that store's container of the hidden account `IMAGE_ACCOUNT` (a name no
client can address: request paths may not hold NUL). Staged data for an import is the object
`<image id>` in the staging container, so any worker, or any node, can finish the import.
Writes go through the storage service's durable write sequence; a body that fails (cut,
refused by inspection, over quota) is removed before the caller answers, so nothing
half-stored is ever referenced.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from strato.domain.images.inspection import Inspection, StreamInspector
from strato.domain.policies import StoragePolicy
from strato.domain.storage import ObjectNotFound, ObjectTooLarge, StorageService
from strato.stores.blob.base import BlobReader
from strato.stores.metadata.records import ContainerRecord, ImageRecord, ObjectRecord

IMAGE_ACCOUNT = "\x00images"
STAGING_CONTAINER = "\x00staging"
CONTENT_TYPE = "application/octet-stream"
HASH_ALGOS = ("sha512", "sha384", "sha256", "sha3_512", "sha3_256", "blake2b")
"""`os_hash_algo` choices: hashlib names that openstacksdk and glanceclient can verify with."""
HASH_BATCH = 1 << 20
"""Bytes gathered before the hash of a stream moves on, in a worker thread (hashlib
releases the GIL), so hashing runs beside the loop and the blob writer's own threads."""


def inspects(image: ImageRecord) -> bool:
    """Glance inspects the data of bare images only: an ova or docker container is a tarball
    whose disk_format describes what is inside it."""
    return image.container_format in (None, "bare")


class TooLarge(Exception):
    """The stream passed the size limit it was given."""


@dataclass(frozen=True, slots=True)
class Written:
    size: int
    checksum: str
    """MD5 hex (Glance's legacy `checksum`)."""
    os_hash_value: str
    inspection: Inspection | None


class _Digest:
    """The `os_hash_algo` hash of a stream, computed in a worker thread a batch at a time."""

    def __init__(self, algo: str) -> None:
        self._hash = hashlib.new(algo)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._inflight: asyncio.Future[None] | None = None

    async def add(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= HASH_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        if self._inflight is not None:
            await self._inflight
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        self._inflight = asyncio.get_running_loop().run_in_executor(
            None, _update, self._hash, batch)

    async def hexdigest(self) -> str:
        await self._flush()
        if self._inflight is not None:
            await self._inflight
        return self._hash.hexdigest()


def _update(digest: hashlib._Hash, batch: list[bytes]) -> None:
    for chunk in batch:
        digest.update(chunk)


class ImageData:
    def __init__(self, storage: StorageService, hash_algo: str = "sha512") -> None:
        self.storage = storage
        self.hash_algo = hash_algo
        self._containers: dict[str, ContainerRecord] = {}

    def policy(self, store: str) -> StoragePolicy | None:
        return self.storage.policies.find(store)

    async def _container(self, name: str, policy: StoragePolicy) -> ContainerRecord:
        container = self._containers.get(name)
        if container is None:
            container = await self.storage.get_container(IMAGE_ACCOUNT, name)
            if container is None:
                container, _ = await self.storage.create_container(IMAGE_ACCOUNT, name, {},
                                                                   policy)
            self._containers[name] = container
        return container

    async def store_container(self, store: str) -> ContainerRecord:
        policy = self.policy(store)
        assert policy is not None, f"unknown store {store}"
        return await self._container(policy.name, policy)

    async def staging_container(self) -> ContainerRecord:
        return await self._container(STAGING_CONTAINER, self.storage.policies.default)

    async def write(self, container: ContainerRecord, image_id: str,
                    body: AsyncIterable[bytes], *, max_size: int,
                    disk_format: str | None, inspect: bool = True) -> Written:
        """Store `body` as the image's object in `container`, hashing (MD5 and os_hash_algo) and
        inspecting it on the way. Raises TooLarge past `max_size`, InvalidImageData when the
        content is refused, and whatever cut the stream; the object is gone in every case."""
        digest = _Digest(self.hash_algo)
        inspector = StreamInspector(disk_format) if inspect else None

        async def tapped() -> AsyncIterator[bytes]:
            async for chunk in body:
                if inspector is not None:
                    inspector.feed(chunk)
                await digest.add(chunk)
                yield chunk

        try:
            record, _ = await self.storage.put_object(
                container, image_id, tapped(), content_type=CONTENT_TYPE, meta={},
                max_size=max_size)
        except ObjectTooLarge:
            raise TooLarge(image_id) from None
        try:
            os_hash_value = await digest.hexdigest()
            inspection = inspector.finish() if inspector is not None else None
        except BaseException:
            await self.delete(container, image_id)
            raise
        return Written(record.size, record.etag, os_hash_value, inspection)

    async def open(self, container: ContainerRecord, image_id: str
                   ) -> tuple[ObjectRecord, BlobReader]:
        """The image's object and a reader of its bytes. Raises ObjectNotFound."""
        record = await self.storage.get_object(container, image_id)
        if record is None:
            raise ObjectNotFound(image_id)
        return await self.storage.open_object(container, record)

    async def read(self, container: ContainerRecord, image_id: str) -> AsyncIterator[bytes]:
        record, reader = await self.open(container, image_id)
        try:
            async for chunk in reader.iter_range(0, record.size):
                yield chunk
        finally:
            reader.close()

    async def delete(self, container: ContainerRecord, image_id: str) -> bool:
        try:
            await self.storage.delete_object(container, image_id)
        except ObjectNotFound:
            return False
        return True

    async def copy(self, source: ContainerRecord, target: ContainerRecord,
                   image_id: str) -> None:
        """A server-side copy (a hard link within one filesystem). Raises ObjectNotFound."""
        record = await self.storage.get_object(source, image_id)
        if record is None:
            raise ObjectNotFound(image_id)
        await self.storage.copy_object(target, record, image_id, content_type=CONTENT_TYPE,
                                       meta={})

    async def names(self, container: ContainerRecord) -> AsyncIterator[str]:
        """Every object name in the container (for the orphan sweep)."""
        from strato.stores.metadata.records import ListingQuery, Subdir

        marker = ""
        while True:
            page = await self.storage.list_objects(container, ListingQuery(marker=marker,
                                                                           limit=1000))
            for entry in page:
                if not isinstance(entry, Subdir):
                    yield entry.name
            if len(page) < 1000:
                return
            marker = page[-1].name
