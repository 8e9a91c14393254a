"""The image orphan sweep: objects no image refers to go, data in use stays."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

from strato.domain.images.service import IMPORTING_TO, ImageService
from strato.domain.policies import PolicySet, StoragePolicy
from strato.domain.storage import StorageService
from strato.stores.blob.local import LocalBlobStore
from strato.stores.metadata.records import ImageRecord
from strato.stores.metadata.sqlite import SqliteMetadataStore


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def test_sweep_keeps_what_images_use(tmp_path: Path) -> None:
    async def run() -> None:
        meta = SqliteMetadataStore(tmp_path / "metadata.db")
        await meta.open()
        policies = PolicySet([
            StoragePolicy("gold", (), True, False, LocalBlobStore(tmp_path / "gold")),
            StoragePolicy("silver", (), False, False, LocalBlobStore(tmp_path / "silver"))])
        images = ImageService(meta, StorageService(meta, policies, max_file_size=1 << 30))
        try:
            gold = await images.data.store_container("gold")
            silver = await images.data.store_container("silver")
            staging = await images.data.staging_container()

            async def image(status: str, **fields: object) -> ImageRecord:
                rec = ImageRecord(str(uuid.uuid4()), status, "private", "p", 1.0, 1.0,
                                  **fields)  # type: ignore[arg-type]
                return await meta.create_image(rec)

            async def put(container: object, name: str) -> None:
                await images.data.write(container, name, _body(b"x" * 100),  # type: ignore[arg-type]
                                        max_size=1 << 20, disk_format="raw")

            active = await image("active", stores=("gold",))
            saving = await image("saving")
            copying = await image("active", stores=("gold",),
                                  properties={IMPORTING_TO: "silver"})
            staged = await image("uploading")
            deleted = await image("deleted", stores=("gold",))
            for name in (active.id, saving.id, copying.id, deleted.id, "no-such-image"):
                await put(gold, name)
            await put(silver, copying.id)
            await put(silver, active.id)  # not one of its stores
            await put(staging, staged.id)
            await put(staging, active.id)  # staged data of an image long imported

            assert await images.sweep_orphans() == 4
            left = {(c, n) for c, box in (("gold", gold), ("silver", silver),
                                          ("staging", staging))
                    async for n in images.data.names(box)}
            assert left == {("gold", active.id), ("gold", saving.id), ("gold", copying.id),
                            ("silver", copying.id), ("staging", staged.id)}
            await meta.update_image(replace(saving, status="queued"))
            assert await images.sweep_orphans() == 1  # a dead upload's data goes too
        finally:
            await meta.close()

    asyncio.run(run())
