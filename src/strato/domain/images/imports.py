"""Interoperable import (`glance-direct`, `web-download`, `copy-image`) and Glance's tasks.

Every import is a task record. The worker that accepted the import runs it at once (the
client's `POST /import` waits for it up to `import_wait` seconds, because clients that wait
on the image stop waiting at `importing`); while it runs it beats a heartbeat into the task,
and the background runner takes over a task whose heartbeat stopped (its worker died) or that
never started. Data travels object store to object store: staged bytes live in the staging
container, so any worker or node can finish an import.

A failed import puts the image back where the client can try again (`queued`), names the
stores that failed in `os_glance_failed_import` as Glance does, and says why in the task's
message and in `os_glance_failed_import_reason` (Glance only says which stores failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from strato.domain.images import model
from strato.domain.images.config import UNLIMITED
from strato.domain.images.data import TooLarge, inspects
from strato.domain.images.fetch import FetchFailed, FetchPolicy, FetchRefused, check_url, fetch
from strato.domain.images.inspection import InvalidImageData, inspect_file
from strato.domain.images.model import (
    ACTIVE,
    IMPORTING,
    QUEUED,
    TASK_FAILURE,
    TASK_PENDING,
    TASK_PROCESSING,
    TASK_SUCCESS,
    UPLOADING,
    BadRequest,
    Conflict,
    Forbidden,
    ImageCaller,
    NotFound,
)
from strato.domain.images.service import (
    FAILED_IMPORT,
    IMPORT_LOCK,
    IMPORTING_TO,
    ImageService,
    now,
)
from strato.domain.storage import ObjectNotFound
from strato.stores.metadata import base as store_errors
from strato.stores.metadata.records import ImageRecord, TaskRecord

log = logging.getLogger("strato.images.import")

FAILED_REASON = "os_glance_failed_import_reason"
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER = 4 * HEARTBEAT_SECONDS
IMPORT_TASK = "api_image_import"
LEGACY_TASK = "import"
FETCH_CHUNK = 1 << 20


SCRATCH_PREFIX = "strato-convert-"


def reclaim_scratch(directory: Path, older_than: float) -> int:
    """Remove conversion scratch directories (`SCRATCH_PREFIX*`) last changed before
    `older_than`: called at start, before any worker runs, so none is in use; a killed
    import leaves one with up to two copies of an image."""
    removed = 0
    for entry in directory.glob(f"{SCRATCH_PREFIX}*"):
        try:
            if entry.is_dir() and not entry.is_symlink() and \
                    entry.stat().st_mtime < older_than:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    return removed


class ImportFailed(Exception):
    """The import could not finish: str(exc) is the reason the user reads."""


class ImportService:
    def __init__(self, images: ImageService, *, account_prefix: str = "AUTH_",
                 scratch_dir: Path | None = None) -> None:
        self.images = images
        self.meta = images.meta
        self.config = images.config
        self.account_prefix = account_prefix
        self.scratch_dir = scratch_dir
        self._running: dict[str, asyncio.Task[TaskRecord]] = {}

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(allowed_hosts=self.config.import_allowed_hosts,
                           allowed_ports=self.config.import_allowed_ports,
                           max_bytes=self.config.size_cap)

    # ---- interoperable import --------------------------------------------------------------
    async def start_import(self, caller: ImageCaller, image_id: str, method: dict[str, Any],
                           stores: list[str] | None = None, all_stores: bool = False,
                           all_stores_must_succeed: bool = True) -> TaskRecord:
        """`POST /import`: check, take the image's import lock, and start the task."""
        name = method.get("name")
        if name not in self.config.import_methods:
            raise BadRequest(f"Import method {name} is not valid or not enabled; enabled: "
                             f"{', '.join(self.config.import_methods)}")
        image = await self.images.get(caller, image_id)
        if name == "copy-image":
            if not caller.admin:
                raise Forbidden("You are not authorized to complete copy_image action.")
        elif not (caller.admin or image.owner == caller.project_id):
            raise Forbidden("You are not permitted to modify this image.")
        if not image.disk_format or not image.container_format:
            raise Conflict("'disk_format' and 'container_format' must be set before an "
                           "import")
        wanted = {"glance-direct": UPLOADING, "web-download": QUEUED, "copy-image": ACTIVE}
        if image.status != wanted[name]:
            raise Conflict(f"Image {image_id} is {image.status}; {name} needs it "
                           f"{wanted[name]}")
        if name == "web-download":
            uri = method.get("uri")
            if not isinstance(uri, str) or not uri:
                raise BadRequest("web-download needs a 'uri'")
            try:
                check_url(uri, self.fetch_policy())
            except FetchRefused as exc:
                raise BadRequest(f"Import URI refused: {exc}") from None
        targets = self._targets(image, stores, all_stores, name == "copy-image")
        lock = image.properties.get(IMPORT_LOCK)
        if lock and await self._lock_alive(lock):
            raise Conflict(f"Image {image_id} has an import in progress (task {lock})")
        stamp = now()
        task = TaskRecord(
            id=str(uuid.uuid4()), type=IMPORT_TASK, status=TASK_PENDING,
            owner=image.owner, created_at=stamp, updated_at=stamp,
            input={"image_id": image_id, "import_req": {
                "method": method, "stores": targets,
                "all_stores_must_succeed": all_stores_must_succeed}},
            image_id=image_id, user_id=caller.user_id, request_id=caller.request_id,
            heartbeat=stamp)
        properties = {k: v for k, v in image.properties.items()
                      if k not in (FAILED_IMPORT, FAILED_REASON)}
        properties[IMPORT_LOCK] = task.id
        properties[IMPORTING_TO] = ",".join(targets)
        status = image.status if name == "copy-image" else IMPORTING
        try:
            await self.meta.update_image(
                replace(image, status=status, properties=properties, updated_at=stamp),
                expect_status=(image.status,))
        except store_errors.Conflict:
            raise Conflict(f"Image {image_id} changed while the import was starting; try "
                           "again") from None
        await self.meta.create_task(task)
        return await self.run_soon(task, wait=self.config.import_wait)

    def _targets(self, image: ImageRecord, stores: list[str] | None, all_stores: bool,
                 copying: bool) -> list[str]:
        if all_stores:
            names = [name for name, _ in self.images.stores()]
        elif stores:
            names = [self.images.store_name(s) for s in stores]
        else:
            names = [self.images.default_store]
        names = list(dict.fromkeys(names))
        if copying:
            names = [n for n in names if n not in image.stores]
            if not names:
                raise Conflict(f"Image {image.id} is already in every store asked for")
        return names

    async def _lock_alive(self, task_id: str) -> bool:
        task = await self.meta.get_task(task_id)
        return task is not None and task.status in (TASK_PENDING, TASK_PROCESSING) and \
            (task.heartbeat or task.created_at) > time.time() - STALLED_AFTER

    # ---- legacy tasks API -------------------------------------------------------------------
    async def create_task(self, caller: ImageCaller, task_type: str, task_input: dict[str, Any]
                          ) -> TaskRecord:
        """`POST /v2/tasks` (type `import`): an image made from `import_from`, a URL or a
        `container/object` of the caller's own Swift account."""
        if task_type != LEGACY_TASK:
            raise BadRequest(f"Task type {task_type} is not supported; use 'import'")
        source = task_input.get("import_from")
        if not isinstance(source, str) or not source:
            raise BadRequest("Input does not contain 'import_from' field")
        properties = task_input.get("image_properties") or {}
        if not isinstance(properties, dict):
            raise BadRequest("'image_properties' must be an object")
        if "://" in source:
            try:
                check_url(source, self.fetch_policy())
            except FetchRefused as exc:
                raise BadRequest(f"import_from refused: {exc}") from None
        elif "/" not in source.strip("/"):
            raise BadRequest("import_from must be a URL or 'container/object' in your "
                             "object store account")
        stamp = now()
        task = TaskRecord(id=str(uuid.uuid4()), type=LEGACY_TASK, status=TASK_PENDING,
                          owner=caller.project_id, created_at=stamp, updated_at=stamp,
                          input=dict(task_input), user_id=caller.user_id,
                          request_id=caller.request_id, heartbeat=stamp)
        await self.meta.create_task(task)
        return await self.run_soon(task, wait=0)

    async def get_task(self, caller: ImageCaller, task_id: str) -> TaskRecord:
        task = await self.meta.get_task(task_id)
        if task is None or not (caller.admin or task.owner == caller.project_id):
            raise NotFound(f"Task with the given ID {task_id} not found")
        return task

    # ---- running ---------------------------------------------------------------------------
    async def run_soon(self, task: TaskRecord, *, wait: float) -> TaskRecord:
        """Start `task` in this process; wait up to `wait` seconds for it to end."""
        runner = self._running.get(task.id)
        if runner is None:
            runner = asyncio.create_task(self.run(task))
            self._running[task.id] = runner
            runner.add_done_callback(lambda _: self._running.pop(task.id, None))
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(runner), wait)
        return await self.meta.get_task(task.id) or task

    async def run(self, task: TaskRecord) -> TaskRecord:
        """Claim the task (pending, or stalled as last read), run it with a heartbeat, record
        the end. A run whose heartbeat finds the task taken over stops at once."""
        stamp = time.time()
        if not await self.meta.claim_task(task.id, task.heartbeat, stamp):
            return await self.meta.get_task(task.id) or task
        task = replace(task, status=TASK_PROCESSING, heartbeat=stamp)
        work = asyncio.ensure_future(self._import(task) if task.type == IMPORT_TASK
                                     else self._legacy_import(task))
        beat = asyncio.create_task(self._heartbeat(task.id, stamp, work))
        try:
            result = await work
        except asyncio.CancelledError:
            if beat.done():  # taken over: the new runner records the end
                log.warning("task %s was taken over by another runner", task.id)
                return await self.meta.get_task(task.id) or task
            raise
        except ImportFailed as exc:
            return await self._finish(task, TASK_FAILURE, message=str(exc))
        except Exception as exc:
            log.exception("task %s failed", task.id)
            return await self._finish(task, TASK_FAILURE, message=f"Internal error: {exc}")
        finally:
            beat.cancel()
        return await self._finish(task, TASK_SUCCESS, result=result)

    async def _heartbeat(self, task_id: str, last: float, work: asyncio.Future[Any]) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            now_ = time.time()
            if not await self.meta.claim_task(task_id, last, now_):
                work.cancel()
                return
            last = now_

    async def _finish(self, task: TaskRecord, status: str, *, message: str = "",
                      result: dict[str, Any] | None = None) -> TaskRecord:
        current = await self.meta.get_task(task.id) or task
        stamp = now()
        image_id = (result or {}).get("image_id", current.image_id)
        done = replace(current, status=status, message=message, result=result,
                       image_id=image_id, updated_at=stamp,
                       expires_at=stamp + self.config.task_ttl)
        with contextlib.suppress(store_errors.Conflict, store_errors.NotFound):
            await self.meta.update_task(done, expect_status=(TASK_PROCESSING,))
        if status == TASK_FAILURE:
            log.info("task %s (%s) failed: %s", task.id, task.type, message)
        return done

    async def recover(self) -> int:
        """Run tasks whose worker stopped beating (or that never started): the background
        runner calls this; the import itself is written so a second run does no harm."""
        stalled = await self.meta.stalled_tasks(time.time() - STALLED_AFTER)
        for task in stalled:
            if task.id not in self._running:
                log.info("taking over task %s (%s), last heard of %.0f s ago", task.id,
                         task.type, time.time() - (task.heartbeat or task.created_at))
                await self.run_soon(task, wait=0)
        return len(stalled)

    # ---- the work ----------------------------------------------------------------------------
    async def _import(self, task: TaskRecord) -> dict[str, Any]:
        request = task.input["import_req"]
        method = request["method"]
        image_id = task.input["image_id"]
        image = await self.meta.get_image(image_id)
        if image is None or image.properties.get(IMPORT_LOCK) != task.id:
            raise ImportFailed(f"Image {image_id} is no longer waiting for this import")
        stores: list[str] = request["stores"]
        must_succeed = request.get("all_stores_must_succeed", True)
        if method["name"] == "copy-image":
            return await self._copy_image(image, task, stores, must_succeed)
        try:
            if method["name"] == "glance-direct":
                source = self.images.data.read(await self.images.data.staging_container(),
                                               image_id)
            else:
                source = fetch(method["uri"], self.fetch_policy(), chunk_size=FETCH_CHUNK)
            image = await self._store_first(image, stores[0], source)
        except (ImportFailed, FetchFailed, FetchRefused, ObjectNotFound) as exc:
            reason = (f"staged data of image {image_id} is missing"
                      if isinstance(exc, ObjectNotFound) else str(exc))
            await self._fail_image(image_id, task.id, stores, reason)
            raise ImportFailed(reason) from None
        failed = await self._copy_to(image, stores[0], stores[1:])
        if failed and must_succeed:
            await self.images._drop_data(image)
            await self._fail_image(image_id, task.id, failed,
                                   f"could not copy the data to store(s) {', '.join(failed)}")
            raise ImportFailed(f"import to store(s) {', '.join(failed)} failed")
        stored = [s for s in stores if s not in failed]
        await self._end_import(image_id, task.id, ACTIVE, stored, failed, "")
        if method["name"] == "glance-direct":
            await self.images.data.delete(await self.images.data.staging_container(),
                                          image_id)
        return {"image_id": image_id, "stores": stored}

    async def _store_first(self, image: ImageRecord, store: str,
                           source: AsyncIterator[bytes]) -> ImageRecord:
        """Write the data into the first store (inspecting it; converting it when the
        operator asked for a target format) and record its size and hashes."""
        container = await self.images.data.store_container(store)
        max_size = await self._room(image.owner)
        try:
            written = await self.images.data.write(
                container, image.id, source, max_size=max_size,
                disk_format=image.disk_format,
                inspect=inspects(image))
        except TooLarge:
            raise ImportFailed(f"image data exceeds the storage quota or size limit of "
                               f"{max_size} bytes") from None
        except InvalidImageData as exc:
            raise ImportFailed(f"image data is not acceptable: {exc}") from None
        changes: dict[str, Any] = {}
        target = self.config.conversion_format
        if target and written.inspection is not None and written.inspection.format != target:
            try:
                written = await self._convert(container, image.id,
                                              written.inspection.format, target, max_size)
            except BaseException:  # the unconverted data is no image's: it goes
                await self.images.data.delete(container, image.id)
                raise
            changes["disk_format"] = target
        inspection = written.inspection
        current = await self.meta.get_image(image.id)
        if current is None or current.status != IMPORTING:
            await self._drop_unrecorded(container, image.id)
            raise ImportFailed(f"image {image.id} is no longer importing")
        properties = dict(current.properties)
        for key, value in self.config.inject_properties.items():
            properties.setdefault(key, value)
        updated = replace(current, size=written.size, checksum=written.checksum,
                          os_hash_algo=self.config.hash_algo,
                          os_hash_value=written.os_hash_value,
                          virtual_size=inspection.virtual_size if inspection else None,
                          stores=(store,), properties=properties, staged_size=None,
                          updated_at=now(), **changes)
        try:
            return await self.meta.update_image(updated, expect_status=(IMPORTING,))
        except (store_errors.Conflict, store_errors.NotFound):
            await self._drop_unrecorded(container, image.id)
            raise ImportFailed(f"image {image.id} is no longer importing") from None

    async def _drop_unrecorded(self, container: Any, image_id: str) -> None:
        """Data written for an image that left `importing` meanwhile: removed if the image
        is gone; otherwise (it may be another run's, now recorded) the orphan sweep decides."""
        current = await self.meta.get_image(image_id)
        if current is None or current.status == model.DELETED:
            await self.images.data.delete(container, image_id)

    async def _room(self, owner: str | None) -> int:
        """The most bytes the image may have: the size cap, or less under the owner's
        image_size_total (the image being imported has no size yet, so is not counted)."""
        total = self.config.quotas.image_size_total
        if owner is None or total == UNLIMITED:
            return self.config.size_cap
        used = (await self.meta.image_usage(owner)).bytes
        return max(0, min(self.config.size_cap, total - used))

    async def _convert(self, container: Any, image_id: str, source_format: str, target: str,
                       max_size: int) -> Any:
        """qemu-img convert, always with explicit formats; the output is inspected again
        (a conversion must not unfold into another rich format)."""
        qemu_img = shutil.which("qemu-img")
        if qemu_img is None:
            raise ImportFailed("image conversion is configured but qemu-img is not installed")
        if self.scratch_dir is not None:
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.scratch_dir)
        try:
            source = os.path.join(scratch, "source")
            output = os.path.join(scratch, "output")
            with open(source, "wb") as out:
                async for chunk in self.images.data.read(container, image_id):
                    await asyncio.to_thread(out.write, chunk)
            proc = await asyncio.create_subprocess_exec(
                qemu_img, "convert", "-f", source_format, "-O", target, source, output,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise ImportFailed(f"converting {source_format} to {target} failed: "
                                   f"{err.decode(errors='replace').strip()[:500]}")
            try:
                await asyncio.to_thread(inspect_file, output, target)
            except InvalidImageData as exc:
                raise ImportFailed(f"converted image refused: {exc}") from None

            async def chunks() -> AsyncIterator[bytes]:
                with open(output, "rb") as data:
                    while chunk := await asyncio.to_thread(data.read, FETCH_CHUNK):
                        yield chunk

            try:
                return await self.images.data.write(container, image_id, chunks(),
                                                    max_size=max_size, disk_format=target)
            except TooLarge:
                raise ImportFailed(f"the converted image exceeds the storage quota or size "
                                   f"limit of {max_size} bytes") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _copy_to(self, image: ImageRecord, source: str, stores: list[str]
                       ) -> list[str]:
        failed = []
        source_container = await self.images.data.store_container(source)
        for store in stores:
            try:
                await self.images.data.copy(source_container,
                                            await self.images.data.store_container(store),
                                            image.id)
            except Exception:
                log.exception("copying image %s to store %s failed", image.id, store)
                failed.append(store)
        return failed

    async def _copy_image(self, image: ImageRecord, task: TaskRecord, stores: list[str],
                          must_succeed: bool) -> dict[str, Any]:
        source = next((s for s in image.stores if self.images.data.policy(s)), None)
        if source is None:
            await self._end_import(image.id, task.id, None, [], stores,
                                   "the image has no data to copy")
            raise ImportFailed("the image has no data to copy")
        failed = await self._copy_to(image, source, stores)
        copied = [s for s in stores if s not in failed]
        if failed and must_succeed:
            for store in copied:
                await self.images.data.delete(await self.images.data.store_container(store),
                                              image.id)
            copied = []
        reason = f"could not copy the data to store(s) {', '.join(failed)}" if failed else ""
        await self._end_import(image.id, task.id, None, copied, failed, reason)
        if failed and must_succeed:
            raise ImportFailed(reason)
        return {"image_id": image.id, "stores": copied}

    async def _end_import(self, image_id: str, task_id: str, status: str | None,
                          stored: list[str], failed: list[str], reason: str) -> None:
        """Release the import lock, record the stores that got the data and those that
        failed; `status`: where the image goes (None: it stays as it is)."""
        for _ in range(5):
            image = await self.meta.get_image(image_id)
            if image is None or image.properties.get(IMPORT_LOCK) != task_id:
                return
            properties = {k: v for k, v in image.properties.items()
                          if k not in (IMPORT_LOCK, IMPORTING_TO, FAILED_REASON)}
            if failed:
                properties[FAILED_IMPORT] = ",".join(failed)
                properties[FAILED_REASON] = reason
            else:
                properties.pop(FAILED_IMPORT, None)
            updated = replace(image, properties=properties, updated_at=now(),
                              stores=() if status == QUEUED else tuple(
                                  dict.fromkeys((*image.stores, *stored))),
                              status=status or image.status)
            if status is not None and image.status != status:
                model.check_transition(image_id, image.status, status)
            try:
                await self.meta.update_image(updated, expect_status=(image.status,),
                                             expect_updated_at=image.updated_at)
                return
            except store_errors.Conflict:
                continue
            except store_errors.NotFound:
                return

    async def _fail_image(self, image_id: str, task_id: str, stores: list[str],
                          reason: str) -> None:
        """Back to queued (Glance reverts a failed import so the client can retry); the
        staged data goes, as in Glance."""
        await self._end_import(image_id, task_id, QUEUED, [], stores, reason)
        image = await self.meta.get_image(image_id)
        if image is not None and image.status == QUEUED:
            with contextlib.suppress(store_errors.Conflict, store_errors.NotFound):
                await self.meta.update_image(replace(image, staged_size=None),
                                             expect_status=(QUEUED,))
        await self.images.data.delete(await self.images.data.staging_container(), image_id)

    async def _legacy_import(self, task: TaskRecord) -> dict[str, Any]:
        """A task of type `import`: make the image, fill it from `import_from`."""
        caller = ImageCaller(task.owner, task.user_id, admin=False)
        properties = dict(task.input.get("image_properties") or {})
        # the image's id follows from the task's, so a run that takes over finds the image
        # an earlier run made instead of making a second one
        image_id = task.image_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"task:{task.id}"))
        if await self.meta.get_image(image_id) is None:
            base = {k: properties.pop(k) for k in list(properties)
                    if k in ("name", "disk_format", "container_format", "visibility",
                             "min_disk", "min_ram", "protected", "tags", "os_hidden")}
            base.setdefault("disk_format", task.input.get("import_from_format") or "raw")
            base.setdefault("container_format", "bare")
            base["id"] = image_id
            if base.get("visibility") == "public":
                base["visibility"] = "shared"
            try:
                await self.images.create(caller, base,
                                         {k: str(v) for k, v in properties.items()})
            except model.ImageError as exc:
                raise ImportFailed(f"could not create the image: {exc}") from None
        image = await self.meta.get_image(image_id)
        if image is None or image.status not in (QUEUED, IMPORTING):
            raise ImportFailed(f"image {image_id} is not waiting for data")
        if image.status == QUEUED:
            image = await self.meta.update_image(replace(image, status=IMPORTING,
                                                         updated_at=now()),
                                                 expect_status=(QUEUED,))
        source = task.input["import_from"]
        try:
            if "://" in source:
                stream = fetch(source, self.fetch_policy(), chunk_size=FETCH_CHUNK)
            else:
                stream = await self._account_object(task.owner, source)
            image = await self._store_first(image, self.images.default_store, stream)
        except (ImportFailed, FetchFailed, FetchRefused) as exc:
            await self._abandon(image_id)
            raise ImportFailed(str(exc)) from None
        await self.meta.update_image(replace(image, status=ACTIVE, updated_at=now()),
                                     expect_status=(IMPORTING,))
        return {"image_id": image_id}

    async def _account_object(self, owner: str | None, path: str) -> AsyncIterator[bytes]:
        container_name, _, name = path.strip("/").partition("/")
        storage = self.images.storage
        container = await storage.get_container(f"{self.account_prefix}{owner}",
                                                 container_name)
        record = await storage.get_object(container, name) if container else None
        if container is None or record is None:
            raise ImportFailed(f"import_from object {path} not found in your account")

        async def chunks() -> AsyncIterator[bytes]:
            record_, reader = await storage.open_object(container, record)
            try:
                async for chunk in reader.iter_range(0, record_.size):
                    yield chunk
            finally:
                reader.close()

        return chunks()

    async def _abandon(self, image_id: str) -> None:
        """A legacy import that failed leaves no image behind (Glance deletes it)."""
        image = await self.meta.get_image(image_id)
        if image is not None and image.status != model.DELETED:
            with contextlib.suppress(store_errors.Conflict, store_errors.NotFound):
                await self.meta.update_image(
                    replace(image, status=model.DELETED, deleted_at=now(), updated_at=now()),
                    expect_status=(image.status,))
            await self.images._drop_data(image)
