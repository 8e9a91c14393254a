"""The image service: Glance's images, members, tags and statuses, with no HTTP in sight.

Policy follows Glance's defaults: anyone may read public and community images, the owner
and the projects it shares an image with read it too, only the owner (or an administrator)
changes or deletes it, and only an administrator makes an image public, deactivates it or
sees one waiting for the scrubber. An image another project may not see is "not found", as
in Glance, so ids do not leak.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import replace
from typing import Any

from strato.domain.images import model
from strato.domain.images.config import UNLIMITED, ImageConfig
from strato.domain.images.data import ImageData, TooLarge, inspects
from strato.domain.images.inspection import InvalidImageData
from strato.domain.images.model import (
    ACTIVE,
    DEACTIVATED,
    DELETED,
    PENDING_DELETE,
    QUEUED,
    SAVING,
    UPLOADING,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    ImageCaller,
    NotFound,
    QuotaExceeded,
)
from strato.domain.storage import InsufficientStorage, ObjectNotFound, StorageService
from strato.stores.blob.base import BlobReader
from strato.stores.metadata import base as store_errors
from strato.stores.metadata.base import MetadataStore
from strato.stores.metadata.records import (
    ContainerRecord,
    ImageMemberRecord,
    ImageQuery,
    ImageRecord,
    ObjectRecord,
)

log = logging.getLogger("strato.images")

CREATE_ATTRIBUTES = ("id", "name", "visibility", "protected", "os_hidden", "disk_format",
                     "container_format", "min_disk", "min_ram", "owner", "tags")
"""Base attributes a client may give on create (the rest of the body: custom properties)."""
UPDATABLE = ("name", "visibility", "protected", "os_hidden", "disk_format",
             "container_format", "min_disk", "min_ram", "owner", "tags")
QUEUED_ONLY = ("disk_format", "container_format")
"""Glance lets these change only before the image has data."""
IMPORT_LOCK = "os_glance_import_task"
FAILED_IMPORT = "os_glance_failed_import"
IMPORTING_TO = "os_glance_importing_to_stores"


def now() -> float:
    return round(time.time(), 6)


class ImageService:
    def __init__(self, meta: MetadataStore, storage: StorageService,
                 config: ImageConfig | None = None) -> None:
        self.meta = meta
        self.storage = storage
        self.config = config or ImageConfig()
        self.data = ImageData(storage, self.config.hash_algo)

    # ---- stores -------------------------------------------------------------------------
    @property
    def default_store(self) -> str:
        return self.storage.policies.default.name

    def stores(self) -> list[tuple[str, bool]]:
        """(store id, is default) for every policy that takes new data."""
        return [(p.name, p.default) for p in self.storage.policies if not p.deprecated]

    def store_name(self, store: str | None) -> str:
        """The canonical name of the store a client named (a policy or an alias)."""
        if store is None:
            return self.default_store
        policy = self.storage.policies.find(store)
        if policy is None or policy.deprecated:
            raise BadRequest(f"Store for identifier {store} not found")
        return policy.name

    # ---- who may see and do what ----------------------------------------------------------
    async def _visible(self, caller: ImageCaller, image: ImageRecord) -> bool:
        if image.status == DELETED:
            return False
        if caller.admin:
            return True
        if image.status == PENDING_DELETE:
            return False
        if image.visibility in ("public", "community") or image.owner == caller.project_id:
            return True
        if image.visibility == "shared" and caller.project_id:
            return await self.meta.get_member(image.id, caller.project_id) is not None
        return False

    async def get(self, caller: ImageCaller, image_id: str) -> ImageRecord:
        image = await self.meta.get_image(image_id)
        if image is None or not await self._visible(caller, image):
            raise NotFound(f"No image found with ID {image_id}")
        return image

    async def _owned(self, caller: ImageCaller, image_id: str) -> ImageRecord:
        """The image, if the caller may change it (403 if they only see it)."""
        image = await self.get(caller, image_id)
        if not (caller.admin or image.owner == caller.project_id):
            raise Forbidden("You are not permitted to modify this image.")
        return image

    def _check_visibility(self, caller: ImageCaller, visibility: str) -> None:
        if visibility == "public" and not caller.admin:
            raise Forbidden("You are not authorized to complete publicize_image action.")

    async def list(self, caller: ImageCaller, query: ImageQuery) -> list[ImageRecord]:
        query = replace(query, viewer=caller.project_id, admin=caller.admin)
        try:
            return await self.meta.list_images(query)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    # ---- create, update, delete -----------------------------------------------------------
    async def create(self, caller: ImageCaller, attributes: dict[str, Any],
                     properties: dict[str, str]) -> ImageRecord:
        owner = attributes.get("owner") or caller.project_id
        if owner != caller.project_id and not caller.admin:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        visibility = attributes.get("visibility") or "shared"
        self._check_visibility(caller, visibility)
        model.check_storable(attributes)
        model.check_storable(properties, names=True)
        _check_not_negative(attributes)
        self._check_quota_counts(len(properties), len(attributes.get("tags") or ()))
        await self._check_count_quota(owner)
        stamp = now()
        image = ImageRecord(
            id=attributes.get("id") or str(uuid.uuid4()), status=QUEUED,
            visibility=visibility, owner=owner, created_at=stamp, updated_at=stamp,
            name=attributes.get("name"), protected=bool(attributes.get("protected", False)),
            os_hidden=bool(attributes.get("os_hidden", False)),
            disk_format=attributes.get("disk_format"),
            container_format=attributes.get("container_format"),
            min_disk=attributes.get("min_disk") or 0, min_ram=attributes.get("min_ram") or 0,
            properties=dict(properties), tags=_unique(attributes.get("tags") or ()))
        try:
            return await self.meta.create_image(image)
        except store_errors.Conflict:
            raise Conflict(f"Image with identifier {image.id} already exists!") from None

    def _check_quota_counts(self, properties: int, tags: int) -> None:
        if properties > self.config.property_quota:
            raise QuotaExceeded("Maximum number of image properties exceeded "
                                f"({self.config.property_quota}).")
        if tags > self.config.tag_quota:
            raise QuotaExceeded(f"Maximum number of tags exceeded ({self.config.tag_quota}).")

    async def update(self, caller: ImageCaller, image_id: str, attributes: dict[str, Any],
                     properties: dict[str, str], removed: Sequence[str]) -> ImageRecord:
        """Apply a patch already reduced to new base attributes, set and removed custom
        properties (the front-end checks read-only and reserved names)."""
        for _ in range(5):  # compare-and-set: retried if another write got in between
            image = await self._owned(caller, image_id)
            if image.status == PENDING_DELETE:  # deleted: only a restore brings it back
                raise NotFound(f"No image found with ID {image_id}")
            changes = dict(attributes)
            model.check_storable(changes)
            model.check_storable(properties, names=True)
            _check_not_negative(changes)
            for key in QUEUED_ONLY:
                if key in changes and changes[key] != getattr(image, key) and \
                        image.status != QUEUED:
                    raise Forbidden(f"Attribute {key} can be only replaced for a queued "
                                    "image.")
            if "visibility" in changes and changes["visibility"] != image.visibility:
                self._check_visibility(caller, changes["visibility"])
            if "owner" in changes and changes["owner"] != image.owner and not caller.admin:
                raise Forbidden("Owner can't be updated by non-admin.")
            merged = dict(image.properties)
            for key in removed:
                if key not in merged:
                    raise Conflict(f"Property {key} does not exist.")
                del merged[key]
            merged.update(properties)
            if "tags" in changes:
                changes["tags"] = _unique(changes["tags"] or ())
            self._check_quota_counts(len(_custom(merged)),
                                     len(changes.get("tags", image.tags)))
            for key in ("protected", "os_hidden"):
                if key in changes:
                    changes[key] = bool(changes[key])
            for key in ("min_disk", "min_ram"):
                if key in changes and changes[key] is None:
                    changes[key] = 0
            updated = replace(image, **changes, properties=merged,
                              updated_at=max(now(), image.updated_at + 1e-6))
            try:
                return await self.meta.update_image(updated, expect_status=(image.status,),
                                                    expect_updated_at=image.updated_at)
            except store_errors.Conflict:
                continue
            except store_errors.NotFound:
                break
        raise Conflict(f"Image {image_id} changed while it was being updated; try again.")

    async def _transition(self, image: ImageRecord, target: str, **changes: Any
                          ) -> ImageRecord:
        """Move `image` to `target` if it is still in the status it was read in."""
        model.check_transition(image.id, image.status, target)
        updated = replace(image, status=target, updated_at=now(), **changes)
        try:
            return await self.meta.update_image(updated, expect_status=(image.status,))
        except store_errors.Conflict as exc:
            raise model.InvalidTransition(image.id, str(exc), target) from None
        except store_errors.NotFound:
            raise NotFound(f"No image found with ID {image.id}") from None

    async def add_tag(self, caller: ImageCaller, image_id: str, tag: str) -> None:
        image = await self._owned(caller, image_id)
        if tag not in image.tags:
            await self.update(caller, image_id, {"tags": (*image.tags, tag)}, {}, ())

    async def delete_tag(self, caller: ImageCaller, image_id: str, tag: str) -> None:
        image = await self._owned(caller, image_id)
        if tag not in image.tags:
            raise NotFound(f"Tag {tag} not found on image {image_id}")
        await self.update(caller, image_id,
                          {"tags": tuple(t for t in image.tags if t != tag)}, {}, ())

    async def delete(self, caller: ImageCaller, image_id: str) -> None:
        """Delete (or, with delayed delete, leave the data to the scrubber)."""
        image = await self._owned(caller, image_id)
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        if image.status == PENDING_DELETE:
            raise NotFound(f"No image found with ID {image_id}")
        stamp = now()
        if self.config.delayed_delete and image.stores and image.status == ACTIVE:
            await self._transition(image, PENDING_DELETE, deleted_at=stamp)
            log.info("image %s deleted: data kept for the scrubber", image_id)
            return
        await self._transition(image, DELETED, deleted_at=stamp)
        await self._drop_data(image)
        log.info("image %s deleted", image_id)

    async def _drop_data(self, image: ImageRecord) -> None:
        for store in image.stores:
            if self.data.policy(store) is not None:
                await self.data.delete(await self.data.store_container(store), image.id)
        await self.data.delete(await self.data.staging_container(), image.id)

    async def deactivate(self, caller: ImageCaller, image_id: str) -> None:
        image = await self._admin_only(caller, image_id, "deactivate")
        if image.status == DEACTIVATED:
            return
        if image.status != ACTIVE:
            raise Conflict("Not allowed to deactivate image in status "
                           f"'{image.status}'")
        await self._transition(image, DEACTIVATED)

    async def reactivate(self, caller: ImageCaller, image_id: str) -> None:
        image = await self._admin_only(caller, image_id, "reactivate")
        if image.status == ACTIVE:
            return
        if image.status != DEACTIVATED:
            raise Conflict("Not allowed to reactivate image in status "
                           f"'{image.status}'")
        await self._transition(image, ACTIVE)

    async def _admin_only(self, caller: ImageCaller, image_id: str, action: str
                          ) -> ImageRecord:
        image = await self.get(caller, image_id)
        if not caller.admin:
            raise Forbidden(f"You are not authorized to complete {action} action.")
        return image

    # ---- data ----------------------------------------------------------------------------
    async def _max_bytes(self, owner: str | None, *, staging: bool = False) -> int:
        """What one more stream of this owner may hold: the size cap, or less under quota."""
        limit = self.config.size_cap
        quotas = self.config.quotas
        if owner is None:
            return limit
        usage = await self.meta.image_usage(owner)
        if quotas.image_count_uploading != UNLIMITED and \
                usage.uploading >= quotas.image_count_uploading:
            raise QuotaExceeded("Maximum number of images uploading at once reached "
                                f"({quotas.image_count_uploading}).")
        total = quotas.image_stage_total if staging else quotas.image_size_total
        used = usage.staging_bytes if staging else usage.bytes
        if total != UNLIMITED:
            if used >= total:
                raise QuotaExceeded(f"Image {'staging' if staging else 'size'} total quota "
                                    f"of {total} bytes reached.")
            limit = min(limit, total - used)
        return limit

    async def _check_count_quota(self, owner: str | None) -> None:
        limit = self.config.quotas.image_count_total
        if owner is not None and limit != UNLIMITED and \
                (await self.meta.image_usage(owner)).count >= limit:
            raise QuotaExceeded(f"Maximum number of images reached ({limit}).")

    async def upload(self, caller: ImageCaller, image_id: str, body: AsyncIterable[bytes],
                     *, declared_size: int | None = None, store: str | None = None
                     ) -> ImageRecord:
        """`PUT /file`: queued -> saving -> active, or back to queued on any failure."""
        image = await self._owned(caller, image_id)
        store = self.store_name(store)
        if image.status != QUEUED:
            raise model.InvalidTransition(image_id, image.status, SAVING)
        _require_formats(image)
        max_bytes = await self._max_bytes(image.owner)
        image = await self._transition(image, SAVING)
        container = await self.data.store_container(store)
        try:
            written = await self._write(container, image, body, max_bytes, declared_size)
        except BaseException:
            await self._reset_to_queued(image)
            raise
        return await self._activate(image, store, written)

    async def _write(self, container: Any, image: ImageRecord, body: AsyncIterable[bytes],
                     max_bytes: int, declared_size: int | None) -> Any:
        try:
            written = await self.data.write(container, image.id, body, max_size=max_bytes,
                                            disk_format=image.disk_format,
                                            inspect=inspects(image))
        except TooLarge:
            raise QuotaExceeded(f"Image exceeds the storage quota or size limit of "
                                f"{max_bytes} bytes.") from None
        except InvalidImageData as exc:
            raise BadRequest(f"Image data is not acceptable: {exc}") from None
        except InsufficientStorage as exc:
            raise model.StorageFull(f"Image storage media is full: no space left in store "
                                    f"{exc.where}") from None
        if declared_size is not None and written.size != declared_size:
            await self.data.delete(container, image.id)
            raise BadRequest(f"Image size {written.size} does not match the declared size "
                             f"{declared_size}.")
        return written

    async def _reset_to_queued(self, image: ImageRecord) -> None:
        """A failed write leaves the image as it was, ready for another try (Glance's
        `_restore`); if it was deleted meanwhile, there is nothing to restore."""
        current = await self.meta.get_image(image.id)
        if current is not None and current.status in (SAVING, UPLOADING, model.IMPORTING):
            with contextlib.suppress(store_errors.Conflict, store_errors.NotFound):
                await self.meta.update_image(
                    replace(current, status=QUEUED, updated_at=now(), staged_size=None),
                    expect_status=(current.status,))

    async def _activate(self, image: ImageRecord, store: str, written: Any,
                        *, from_status: str = SAVING, **changes: Any) -> ImageRecord:
        inspection = written.inspection
        virtual_size = inspection.virtual_size if inspection is not None else None
        for _ in range(5):
            # the record as it is now: a PATCH or tag made while the data streamed stays
            current = await self.meta.get_image(image.id)
            if current is None or current.status != from_status:
                break  # deleted while the data was on its way
            updated = replace(current, status=ACTIVE, updated_at=now(), size=written.size,
                              checksum=written.checksum, os_hash_algo=self.config.hash_algo,
                              os_hash_value=written.os_hash_value, virtual_size=virtual_size,
                              stores=_unique((*current.stores, store)), **changes)
            try:
                return await self.meta.update_image(updated, expect_status=(from_status,),
                                                    expect_updated_at=current.updated_at)
            except store_errors.Conflict:
                continue  # changed between the read and the write: read again
            except store_errors.NotFound:
                break
        else:  # changed five times in a row: give up cleanly rather than spin
            await self.data.delete(await self.data.store_container(store), image.id)
            await self._reset_to_queued(image)
            raise Conflict(f"Image {image.id} kept changing during the upload; try again.")
        await self.data.delete(await self.data.store_container(store), image.id)
        raise Gone(f"Image {image.id} was deleted during the upload.")

    async def download(self, caller: ImageCaller, image_id: str,
                       prefer: Sequence[str] = ()
                       ) -> tuple[ImageRecord, ObjectRecord | None, BlobReader | None]:
        """The image and a reader of its data (None, None when it has none: 204)."""
        image = await self.get(caller, image_id)
        if image.status == DEACTIVATED and not caller.admin:
            raise Forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        if image.status not in (ACTIVE, DEACTIVATED) or not image.stores:
            return image, None, None
        # `prefer` (?prefer=a,b) orders the copies tried: those stores first, in that order,
        # then the image's other ones
        order = [p.name for p in map(self.data.policy, prefer) if p is not None]
        stores = sorted(image.stores,
                        key=lambda s: order.index(s) if s in order else len(order))
        for name in stores:
            if self.data.policy(name) is None:
                continue
            try:
                record, reader = await self.data.open(await self.data.store_container(name),
                                                      image.id)
            except ObjectNotFound:
                log.warning("image %s has no data in store %s", image.id, name)
                continue
            return image, record, reader
        raise NotFound(f"Image {image_id} has no data in the store(s) asked for.")

    async def stage(self, caller: ImageCaller, image_id: str, body: AsyncIterable[bytes],
                    *, declared_size: int | None = None) -> ImageRecord:
        """`PUT /stage`: queued -> uploading, the bytes kept in the staging container."""
        image = await self._owned(caller, image_id)
        if "glance-direct" not in self.config.import_methods:
            raise NotFound("The glance-direct import method is not enabled.")
        if image.status != QUEUED:
            raise model.InvalidTransition(image_id, image.status, UPLOADING)
        max_bytes = await self._max_bytes(image.owner, staging=True)
        image = await self._transition(image, UPLOADING)
        container = await self.data.staging_container()
        try:
            written = await self.data.write(container, image.id, body, max_size=max_bytes,
                                            disk_format=None, inspect=False)
            if declared_size is not None and written.size != declared_size:
                await self.data.delete(container, image.id)
                raise BadRequest(f"Image size {written.size} does not match the declared "
                                 f"size {declared_size}.")
        except TooLarge:
            await self._reset_to_queued(image)
            raise QuotaExceeded(f"Staged data exceeds the staging quota or size limit of "
                                f"{max_bytes} bytes.") from None
        except BaseException:
            await self._reset_to_queued(image)
            raise
        try:
            current = await self.meta.get_image(image.id) or image  # changes made meanwhile
            return await self.meta.update_image(replace(current, staged_size=written.size,
                                                        updated_at=now()),
                                                expect_status=(UPLOADING,))
        except (store_errors.Conflict, store_errors.NotFound):
            await self.data.delete(container, image.id)
            raise Gone(f"Image {image.id} was deleted during the upload.") from None

    async def delete_from_store(self, caller: ImageCaller, image_id: str, store: str) -> None:
        """`DELETE /v2/stores/{store}/{image}`: drop one copy; the last one stays."""
        image = await self._owned(caller, image_id)
        try:
            name = self.store_name(store)
        except BadRequest:  # Glance: 409, "not available on this node"
            raise Conflict(f"The selected store {store} is not available on this node."
                           ) from None
        if name not in image.stores:
            raise NotFound(f"Image {image_id} has no data in store {store}")
        if image.status != ACTIVE:
            raise Conflict(f"Image {image_id} is {image.status}: it must be active to delete "
                           "its data from a store")
        if len(image.stores) == 1:
            raise Forbidden(f"Cannot delete image data from the only store containing it "
                            f"({store}); delete the image {image_id} instead.")
        try:
            await self.meta.update_image(
                replace(image, stores=tuple(s for s in image.stores if s != name),
                        updated_at=now()), expect_status=(ACTIVE,),
                expect_updated_at=image.updated_at)
        except store_errors.Conflict:
            raise Conflict(f"Image {image_id} changed meanwhile; try again.") from None
        await self.data.delete(await self.data.store_container(name), image_id)

    # ---- members ------------------------------------------------------------------------
    async def members(self, caller: ImageCaller, image_id: str
                      ) -> builtins.list[ImageMemberRecord]:  # `list` is a method here
        image = await self.get(caller, image_id)
        _shared_only(image)
        members = await self.meta.list_members(image_id)
        if caller.admin or image.owner == caller.project_id:
            return members
        return [m for m in members if m.member == caller.project_id]

    async def member(self, caller: ImageCaller, image_id: str, member: str
                     ) -> ImageMemberRecord:
        for record in await self.members(caller, image_id):
            if record.member == member:
                return record
        raise NotFound(f"{member} is not a member of image {image_id}")

    async def add_member(self, caller: ImageCaller, image_id: str, member: str
                         ) -> ImageMemberRecord:
        image = await self._owned(caller, image_id)
        _shared_only(image)
        model.check_storable({"member": member})
        if len(await self.meta.list_members(image_id)) >= self.config.member_quota:
            raise QuotaExceeded(f"Maximum number of image members reached "
                                f"({self.config.member_quota}).")
        stamp = now()
        try:
            return await self.meta.create_member(
                ImageMemberRecord(image_id, member, "pending", stamp, stamp))
        except store_errors.Conflict:
            raise Conflict(f"Member {member} already exists for image {image_id}.") from None

    async def update_member(self, caller: ImageCaller, image_id: str, member: str,
                            status: str) -> ImageMemberRecord:
        """Only the member project itself accepts or rejects a share."""
        record = await self.member(caller, image_id, member)
        if caller.project_id != member:
            raise Forbidden("You are not permitted to modify 'status' on this image member.")
        if status not in model.MEMBER_STATUSES:
            raise BadRequest(f"Invalid status: {status}")
        return await self.meta.update_member(replace(record, status=status,
                                                     updated_at=now()))

    async def remove_member(self, caller: ImageCaller, image_id: str, member: str) -> None:
        image = await self._owned(caller, image_id)
        _shared_only(image)
        if not await self.meta.delete_member(image_id, member):
            raise NotFound(f"{member} is not a member of image {image_id}")

    # ---- delayed delete -------------------------------------------------------------------
    async def restore(self, image_id: str) -> ImageRecord:
        """pending_delete -> active, data and all: nothing was removed until the scrub."""
        image = await self.meta.get_image(image_id)
        if image is None or image.status == DELETED:
            raise NotFound(f"No image found with ID {image_id}")
        if image.status != PENDING_DELETE:
            raise Conflict(f"Image {image_id} is {image.status}, not pending_delete: "
                           "nothing to restore")
        return await self._transition(image, ACTIVE, deleted_at=None)

    async def scrub_pass(self, *, now_: float | None = None, limit: int = 100) -> int:
        """Reclaim the data of images deleted at least `scrub_time` ago; returns how many."""
        cutoff = (now_ or time.time()) - self.config.scrub_time
        done = 0
        while True:
            batch = [image for image in await self.meta.images_in_status(
                PENDING_DELETE, changed_before=cutoff, limit=limit)
                if (image.deleted_at or 0) <= cutoff]
            for image in batch:
                try:
                    image = await self._transition(image, DELETED)
                except (model.InvalidTransition, NotFound):
                    continue  # restored (or scrubbed elsewhere) meanwhile
                await self._drop_data(image)
                done += 1
            if len(batch) < limit:
                break
        if done:
            log.info("scrubber reclaimed the data of %d images", done)
        return done

    async def sweep_orphans(self) -> int:
        """Remove image objects no image refers to (a worker that died between storing the
        data and recording it leaves one); returns how many. Data of an upload or import in
        progress is left alone."""
        removed = 0
        containers: builtins.list[tuple[ContainerRecord, str | None]] = [
            (await self.data.staging_container(), None)]
        containers += [(await self.data.store_container(name), name)
                       for name, _ in self.stores()]
        for container, store in containers:
            async for name in self.data.names(container):
                image = await self.meta.get_image(name)
                if image is not None and _wanted(image, store):
                    continue
                if await self.data.delete(container, name):
                    removed += 1
        if removed:
            log.info("image sweep removed %d objects no image refers to", removed)
        return removed

    async def recover_interrupted(self) -> int:
        """At start, before any worker serves: an image left `saving` (or `uploading` with
        nothing staged) by a process that died mid-upload goes back to `queued`, so its
        owner can upload again."""
        count = 0
        for image in await self.meta.images_in_status(SAVING, limit=10_000):
            await self._reset_to_queued(image)
            count += 1
        for image in await self.meta.images_in_status(UPLOADING, limit=10_000):
            if image.staged_size is None:  # its stage was cut: nothing staged to import
                await self.data.delete(await self.data.staging_container(), image.id)
                await self._reset_to_queued(image)
                count += 1
        return count


def _wanted(image: ImageRecord, store: str | None) -> bool:
    """Whether `image` still needs its object in `store` (None: the staging container)."""
    if store is None:
        return image.status in (UPLOADING, model.IMPORTING)
    if image.status in (SAVING, model.IMPORTING) or store in image.stores:
        return image.status != DELETED
    return store in image.properties.get(IMPORTING_TO, "").split(",")


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _custom(properties: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in properties.items() if not k.startswith("os_glance")}


def _shared_only(image: ImageRecord) -> None:
    if image.visibility != "shared":
        raise Forbidden("Only shared images have members.")


def _check_not_negative(attributes: dict[str, Any]) -> None:
    """Glance's Image.min_disk/min_ram setters: 400 for a negative value (the schema only
    says integer)."""
    for key in ("min_disk", "min_ram"):
        value = attributes.get(key)
        if isinstance(value, int) and value < 0:
            raise BadRequest(f"Invalid value '{value}' for parameter '{key}': Cannot be a "
                             "negative value")


def _require_formats(image: ImageRecord) -> None:
    if not image.disk_format or not image.container_format:
        raise BadRequest("Properties disk_format, container_format must be set prior to "
                         "saving data.")
