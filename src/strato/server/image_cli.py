"""`strato image-admin ...`: the image service seen by an operator, on a data directory.

Like the identity commands these work while the server runs: the metadata store takes one
writer at a time, and every status change is compare-and-set, so a restore cannot race a
scrubber pass into a half state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from strato.api.image.views import image_view
from strato.domain.images.model import ImageError
from strato.server.cli import (
    EXIT_NOT_FOUND,
    _fail,
    _settings,
    config_option,
    data_dir_option,
    require_data_dir,
)
from strato.server.settings import Settings
from strato.stores.metadata.records import ImageQuery, ImageRecord

if TYPE_CHECKING:  # the service pulls in the format inspectors: only load it when used
    from strato.domain.images.service import ImageService

T = TypeVar("T")
HIDDEN = ("pending_delete", "deleted")


def _with_images(settings: Settings, fn: Callable[[ImageService], Awaitable[T]]) -> T:
    from strato.domain.images.service import ImageService
    from strato.server.app import image_config, opened_storage

    require_data_dir(settings)

    async def run() -> T:
        async with opened_storage(settings) as storage:
            return await fn(ImageService(storage.meta, storage, image_config(settings)))

    return asyncio.run(run())


@click.group("image-admin")
def image() -> None:
    """Inspect images, run the scrubber, restore deleted images (works while the server
    runs)."""


def _row(record: ImageRecord) -> str:
    size = "-" if record.size is None else str(record.size)
    return (f"{record.id}  {record.status:<14} {record.visibility:<9} {size:>12}  "
            f"{','.join(record.stores) or '-':<12} {record.name or ''}")


@image.command("list")
@config_option
@data_dir_option
@click.option("--status", default=None, help="Only images in this status (pending_delete "
              "lists what the scrubber will reclaim).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def image_list(config: str | None, data_dir: Path | None, status: str | None,
               as_json: bool) -> None:
    """List every project's images."""
    settings = _settings(config, data_dir=data_dir)

    async def run(images: ImageService) -> list[ImageRecord]:
        if status in HIDDEN:
            return await images.meta.images_in_status(status, limit=100_000)
        found: list[ImageRecord] = []
        marker = None
        while True:
            page = await images.meta.list_images(ImageQuery(
                viewer=None, admin=True, sort=(("created_at", "asc"),), marker=marker,
                limit=1000))
            found.extend(i for i in page if status is None or i.status == status)
            if len(page) < 1000:
                return found
            marker = page[-1]

    records = _with_images(settings, run)
    if as_json:
        click.echo(json.dumps([image_view(r) for r in records], indent=2))
        return
    for record in records:
        click.echo(_row(record))


@image.command("show")
@config_option
@data_dir_option
@click.argument("image_id")
def image_show(config: str | None, data_dir: Path | None, image_id: str) -> None:
    """Show one image as the API does (pending_delete and deleted ones too)."""
    settings = _settings(config, data_dir=data_dir)
    record = _with_images(settings, lambda images: images.meta.get_image(image_id))
    if record is None:
        _fail(f"no image {image_id}", EXIT_NOT_FOUND)
        return
    doc: dict[str, Any] = image_view(record)
    if record.deleted_at is not None:
        doc["deleted_at"] = record.deleted_at
    click.echo(json.dumps(doc, indent=2))


@image.command("scrub")
@config_option
@data_dir_option
@click.option("--scrub-time", type=float, default=None,
              help="Reclaim images deleted at least this many seconds ago [default: the "
              "image_scrub_time setting; 0: all].")
def image_scrub(config: str | None, data_dir: Path | None, scrub_time: float | None) -> None:
    """Run one scrubber pass: reclaim the data of images waiting in pending_delete."""
    overrides = {} if scrub_time is None else {"image_scrub_time": scrub_time}
    settings = _settings(config, data_dir=data_dir, **overrides)
    count = _with_images(settings, lambda images: images.scrub_pass())
    click.echo(f"reclaimed the data of {count} images", err=True)


@image.command("restore")
@config_option
@data_dir_option
@click.argument("image_id")
def image_restore(config: str | None, data_dir: Path | None, image_id: str) -> None:
    """Bring a pending_delete image back to active, data and all."""
    settings = _settings(config, data_dir=data_dir)
    try:
        record = _with_images(settings, lambda images: images.restore(image_id))
    except ImageError as exc:
        _fail(str(exc), EXIT_NOT_FOUND if exc.status == 404 else 1)
        return
    click.echo(f"image {record.id} is {record.status} again", err=True)
