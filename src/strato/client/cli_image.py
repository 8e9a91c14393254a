"""`strato image ...`: the image service (Glance v2) of any OpenStack cloud: list, show,
create (with the data at once, by upload or import), upload, download, update, delete, and
wait for `active` with the server's reason when an image fails."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from strato.client.cli import cloud_options, emit, human, json_option, quiet_option, run
from strato.client.cloud import Cloud
from strato.client.errors import ClientError, NotFound
from strato.client.images import Images
from strato.client.progress import progress_for

UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
IMPORT_METHODS = ("glance-direct", "web-download")
#: Image properties Glance types as numbers or booleans rather than strings.
TYPED: dict[str, Callable[[str], Any]] = {
    "min_disk": int, "min_ram": int, "protected": lambda v: v.lower() in ("true", "1")}


def parse_properties(values: tuple[str, ...]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint="--property")
        props[key] = TYPED[key](text) if key in TYPED else text
    return props


async def resolve(images: Images, ref: str) -> dict[str, Any]:
    """An image by id, or by name when exactly one visible image has it."""
    if UUID.match(ref):
        return await images.get(ref)
    found = [image async for image in images.list(name=ref)]
    if not found:
        raise NotFound(404, "GET", "/v2/images", f"no image with id or name {ref!r}")
    if len(found) > 1:
        raise ClientError(f"{len(found)} images are named {ref!r}; give the id "
                          f"({', '.join(i['id'] for i in found)})")
    return found[0]


def show_text(image: dict[str, Any]) -> str:
    width = max(len(k) for k in image)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in sorted(image.items()))


async def send_data(cloud: Cloud, image_id: str, path: Path, method: str | None,
                    quiet: bool) -> None:
    """Upload (PUT) or stage + import (glance-direct) a file, with a progress bar."""
    with progress_for(quiet, "image") as bars:
        bars.expect(1, path.stat().st_size)
        if method == "glance-direct":
            await cloud.images.stage(image_id, path, progress=bars)
        else:
            await cloud.images.upload(image_id, path, progress=bars)
    if method == "glance-direct":
        await cloud.images.import_(image_id, "glance-direct")


async def wait_for(cloud: Cloud, image_id: str, status: str, timeout: float,
                   to_stderr: bool) -> dict[str, Any]:
    def changed(image: dict[str, Any]) -> None:
        click.echo(f"{image['id']} {image.get('status')}", err=to_stderr)

    return await cloud.images.wait(image_id, status, timeout=timeout, on_status=changed)


@click.group("image")
def image() -> None:
    """The cloud's images (Glance v2): list, create, upload, download, wait for them."""


@image.command("list")
@click.option("--name", help="Only images of this name.")
@click.option("--status", help="Only images in this status.")
@click.option("--visibility", type=click.Choice(["public", "private", "shared",
                                                  "community", "all"]))
@cloud_options
@json_option
@click.pass_context
def list_images(ctx: click.Context, name: str | None, status: str | None,
                visibility: str | None, as_json: bool) -> None:
    """The images the project can see."""
    filters = {k: v for k, v in (("name", name), ("status", status),
                                 ("visibility", visibility)) if v}

    async def work(cloud: Cloud) -> list[dict[str, Any]]:
        return [i async for i in cloud.images.list(**filters)]

    found = run(ctx, work)

    def text(rows: list[dict[str, Any]]) -> str:
        return "\n".join(f"{i['id']}  {i.get('status', ''):<10} "
                         f"{human(i['size']) if i.get('size') is not None else '-':>6}  "
                         f"{i.get('name') or ''}" for i in rows)

    emit(found, as_json, text)


@image.command("show")
@click.argument("ref", metavar="IMAGE")
@cloud_options
@json_option
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """An image's fields and properties (IMAGE: id or unique name)."""
    emit(run(ctx, lambda cloud: resolve(cloud.images, ref)), as_json, show_text)


@image.command("create")
@click.argument("name")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Image data to send at once.")
@click.option("--disk-format", default="raw", show_default=True,
              help="raw, qcow2, vmdk, vhd, vhdx, vdi, iso, ploop, ami, ari, aki.")
@click.option("--container-format", default="bare", show_default=True,
              help="bare, ovf, ova, ami, ari, aki, docker, compressed.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="A property (repeatable), e.g. os_distro=debian.")
@click.option("--visibility", type=click.Choice(["public", "private", "shared",
                                                  "community"]))
@click.option("--import-method", type=click.Choice(IMPORT_METHODS),
              help="Send --file by glance-direct import (stage + import), or let the "
                   "server fetch --uri (web-download) [default: plain upload].")
@click.option("--uri", help="With web-download: the URL the server fetches.")
@click.option("--wait", is_flag=True, help="Wait until the image is active.")
@click.option("--timeout", type=float, default=3600, show_default=True,
              help="With --wait: give up after this many seconds.")
@cloud_options
@json_option
@quiet_option
@click.pass_context
def create(ctx: click.Context, name: str, file: Path | None, disk_format: str,
           container_format: str, properties: tuple[str, ...], visibility: str | None,
           import_method: str | None, uri: str | None, wait: bool, timeout: float,
           as_json: bool, quiet: bool) -> None:
    """Create an image; with --file or --uri, give it its data too."""
    if uri and import_method not in (None, "web-download"):
        raise click.UsageError("--uri goes with --import-method web-download")
    if uri:
        import_method = "web-download"
    if import_method == "web-download" and not uri:
        raise click.UsageError("web-download needs --uri")
    if import_method == "glance-direct" and file is None:
        raise click.UsageError("glance-direct needs --file")
    if file is not None and uri:
        raise click.UsageError("give --file or --uri, not both")
    props = parse_properties(properties)
    if visibility:
        props["visibility"] = visibility

    async def work(cloud: Cloud) -> dict[str, Any]:
        made = await cloud.images.create(name, disk_format=disk_format,
                                         container_format=container_format, **props)
        image_id = str(made["id"])
        if file is not None:
            await send_data(cloud, image_id, file, import_method, quiet or as_json)
        elif uri:
            await cloud.images.import_(image_id, "web-download", uri=uri)
        if wait:
            return await wait_for(cloud, image_id, "active", timeout, True)
        return await cloud.images.get(image_id)

    made = run(ctx, work)
    emit(made, as_json, lambda i: i["id"])


@image.command("upload")
@click.argument("ref", metavar="IMAGE")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--import-method", type=click.Choice(["glance-direct"]),
              help="Stage and import instead of a plain upload.")
@click.option("--wait", is_flag=True, help="Wait until the image is active.")
@cloud_options
@quiet_option
@click.pass_context
def upload(ctx: click.Context, ref: str, file: Path, import_method: str | None, wait: bool,
           quiet: bool) -> None:
    """Give an image (queued) its data."""
    async def work(cloud: Cloud) -> None:
        image_id = str((await resolve(cloud.images, ref))["id"])
        await send_data(cloud, image_id, file, import_method, quiet)
        if wait:
            await wait_for(cloud, image_id, "active", 3600, True)

    run(ctx, work)


@image.command("download")
@click.argument("ref", metavar="IMAGE")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The file to write.")
@cloud_options
@quiet_option
@click.pass_context
def download(ctx: click.Context, ref: str, output: Path, quiet: bool) -> None:
    """Download an image's data, checked against its checksum (os_hash_value)."""
    async def work(cloud: Cloud) -> None:
        found = await resolve(cloud.images, ref)
        with progress_for(quiet, "image") as bars:
            bars.expect(1, found.get("size"))
            await cloud.images.download(str(found["id"]), output, progress=bars)

    run(ctx, work)


@image.command("update")
@click.argument("ref", metavar="IMAGE")
@click.option("--name", help="A new name.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Set a property (repeatable).")
@click.option("--remove-property", multiple=True, metavar="KEY",
              help="Remove a property (repeatable).")
@cloud_options
@json_option
@click.pass_context
def update(ctx: click.Context, ref: str, name: str | None, properties: tuple[str, ...],
           remove_property: tuple[str, ...], as_json: bool) -> None:
    """Change an image's name or properties."""
    changes: dict[str, Any] = parse_properties(properties)
    changes.update(dict.fromkeys(remove_property))
    if name:
        changes["name"] = name
    if not changes:
        raise click.UsageError("nothing to change: give --name, --property or "
                               "--remove-property")

    async def work(cloud: Cloud) -> dict[str, Any]:
        found = await resolve(cloud.images, ref)
        return await cloud.images.update(str(found["id"]), **changes)

    emit(run(ctx, work), as_json, show_text)


@image.command("delete")
@click.argument("refs", metavar="IMAGE...", nargs=-1, required=True)
@cloud_options
@click.pass_context
def delete(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Delete images."""
    async def work(cloud: Cloud) -> None:
        for ref in refs:
            await cloud.images.delete(str((await resolve(cloud.images, ref))["id"]))

    run(ctx, work)


@image.command("wait")
@click.argument("ref", metavar="IMAGE")
@click.option("--status", default="active", show_default=True, help="The status to wait for.")
@click.option("--timeout", type=float, default=3600, show_default=True,
              help="Give up after this many seconds.")
@cloud_options
@click.pass_context
def wait(ctx: click.Context, ref: str, status: str, timeout: float) -> None:
    """Wait for an image to reach a status, printing each status it passes through; if it
    fails, print the reason the server gives (exit code 1)."""
    async def work(cloud: Cloud) -> None:
        found = await resolve(cloud.images, ref)
        await wait_for(cloud, str(found["id"]), status, timeout, False)

    run(ctx, work)


COMMANDS = [image]
