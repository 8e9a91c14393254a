"""The status machine where HTTP cannot reach it: the transition table against Glance's
(`glance.domain.Image.valid_state_targets`, glance-keystone.md A.3), start-up recovery of an
upload cut by a dying server, the scrubber and restore of delayed delete, all on an image
service of its own (a private data directory, no server)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from strato.domain.images import model
from strato.domain.images.config import ImageConfig
from strato.domain.images.model import ImageCaller
from strato.domain.images.service import ImageService
from strato.domain.storage import StorageService
from strato.server.app import build_policies, open_metadata
from strato.server.settings import Settings

GLANCE = {  # glance/domain/__init__.py, Image.valid_state_targets
    "queued": {"saving", "uploading", "importing", "active", "deleted"},
    "saving": {"active", "killed", "deleted", "queued"},
    "uploading": {"importing", "queued", "deleted"},
    "importing": {"active", "deleted", "queued"},
    "active": {"pending_delete", "deleted", "deactivated"},
    "killed": {"deleted"},
    "pending_delete": {"deleted", "active"},
    "deactivated": {"active", "deleted"},
    "deleted": set(),
}
OWNER = ImageCaller("p1", "u1")
ADMIN = ImageCaller("adminproject", "admin", admin=True)
DATA = b"\x5a" * (100 * 1024)


def test_the_table_is_glances() -> None:
    assert {s: set(t) for s, t in model.TRANSITIONS.items()} == GLANCE


@pytest.mark.parametrize(("current", "target"),
                         list(itertools.product(sorted(GLANCE), sorted(GLANCE))))
def test_check_transition_allows_exactly_the_table(current: str, target: str) -> None:
    if target in GLANCE[current]:
        model.check_transition("i", current, target)
        return
    with pytest.raises(model.InvalidTransition) as exc:
        model.check_transition("i", current, target)
    assert exc.value.status == 409
    assert f"from {current} to {target}" in str(exc.value)


def test_sources_of() -> None:
    assert set(model.sources_of("active")) == {"queued", "saving", "importing",
                                                "pending_delete", "deactivated"}
    assert set(model.sources_of("queued")) == {"saving", "uploading", "importing"}
    assert model.sources_of("killed") == ("saving",)


async def body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 16384):
        yield data[start:start + 16384]


def run(tmp_path: Path, test: Callable[[ImageService], Awaitable[Any]], **config: Any
        ) -> Any:
    async def main() -> Any:
        settings = Settings(data_dir=tmp_path)
        meta = open_metadata(settings)
        await meta.open()
        try:
            storage = StorageService(meta, build_policies(settings),
                                     max_file_size=settings.max_file_size)
            return await test(ImageService(meta, storage, ImageConfig(**config)))
        finally:
            await meta.close()

    return asyncio.run(main())


async def active_image(images: ImageService) -> str:
    image = await images.create(OWNER, {"disk_format": "raw", "container_format": "bare"}, {})
    await images.upload(OWNER, image.id, body(DATA))
    return image.id


async def stored(images: ImageService, image_id: str) -> bool:
    container = await images.data.store_container(images.default_store)
    return await images.storage.get_object(container, image_id) is not None


def test_recover_interrupted_requeues_cut_uploads_and_stages(tmp_path: Path) -> None:
    async def test(images: ImageService) -> None:
        saving = await images.create(OWNER, {"disk_format": "raw",
                                             "container_format": "bare"}, {})
        await images.meta.update_image(replace(saving, status="saving"))
        uploading = await images.create(OWNER, {}, {})
        await images.meta.update_image(replace(uploading, status="uploading",
                                               staged_size=10))
        cut = await images.create(OWNER, {}, {})  # a stage cut before anything was kept
        await images.meta.update_image(replace(cut, status="uploading"))
        active = await active_image(images)
        assert await images.recover_interrupted() == 2
        assert (await images.get(OWNER, saving.id)).status == "queued"
        assert (await images.get(OWNER, cut.id)).status == "queued"
        assert (await images.get(OWNER, uploading.id)).status == "uploading"
        assert (await images.get(OWNER, active)).status == "active"
        assert await images.recover_interrupted() == 0
        await images.upload(OWNER, saving.id, body(DATA))  # the owner can upload again
        assert (await images.get(OWNER, saving.id)).size == len(DATA)

    run(tmp_path, test)


def test_a_failed_upload_goes_back_to_queued_not_killed(tmp_path: Path) -> None:
    async def test(images: ImageService) -> None:
        image = await images.create(OWNER, {"disk_format": "raw",
                                            "container_format": "bare"}, {})

        async def broken() -> AsyncIterator[bytes]:
            yield DATA
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await images.upload(OWNER, image.id, broken())
        assert (await images.get(OWNER, image.id)).status == "queued"
        assert not await stored(images, image.id)

    run(tmp_path, test)


def test_delayed_delete_restore_and_scrub(tmp_path: Path) -> None:
    async def test(images: ImageService) -> None:
        kept, scrubbed = await active_image(images), await active_image(images)
        for image_id in (kept, scrubbed):
            await images.delete(OWNER, image_id)
            assert (await images.meta.get_image(image_id)).status == "pending_delete"
            with pytest.raises(model.NotFound):
                await images.get(OWNER, image_id)
            assert (await images.get(ADMIN, image_id)).status == "pending_delete"
            assert await stored(images, image_id)
        restored = await images.restore(kept)
        assert restored.status == "active" and restored.deleted_at is None
        assert (await images.get(OWNER, kept)).status == "active"
        with pytest.raises(model.Conflict, match="not pending_delete"):
            await images.restore(kept)
        # not old enough yet, then old enough
        assert await images.scrub_pass() == 0
        assert await images.scrub_pass(now_=10**10) == 1
        assert (await images.meta.get_image(scrubbed)).status == "deleted"
        assert not await stored(images, scrubbed)
        assert await stored(images, kept)
        with pytest.raises(model.NotFound):
            await images.restore(scrubbed)
        # the restored image is an ordinary active image: its data reads back
        _, record, reader = await images.download(OWNER, kept)
        assert record is not None and reader is not None
        got = b"".join([c async for c in reader.iter_range(0, record.size)])
        reader.close()
        assert got == DATA

    run(tmp_path, test, delayed_delete=True, scrub_time=60.0)


def test_delayed_delete_of_a_queued_image_is_immediate(tmp_path: Path) -> None:
    async def test(images: ImageService) -> None:
        image = await images.create(OWNER, {}, {})
        await images.delete(OWNER, image.id)
        assert (await images.meta.get_image(image.id)).status == "deleted"

    run(tmp_path, test, delayed_delete=True)
