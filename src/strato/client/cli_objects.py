"""`stat`, `list`, `post`, `copy` and `delete`: the object-store commands that move no file
data, with `swift`'s option names."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

import click

from strato.client.cli import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    cloud_options,
    emit,
    human,
    json_option,
    quiet_option,
    run,
)
from strato.client.cloud import Cloud
from strato.client.errors import NotFound
from strato.client.objects import Entry, metadata
from strato.client.trees import DeleteResult, delete_objects

#: Headers `stat` shows first, with swift's labels.
LABELS = {
    "X-Account-Container-Count": "Containers",
    "X-Account-Object-Count": "Objects",
    "X-Account-Bytes-Used": "Bytes",
    "X-Container-Object-Count": "Objects",
    "X-Container-Bytes-Used": "Bytes",
    "X-Container-Read": "Read ACL",
    "X-Container-Write": "Write ACL",
    "X-Container-Sync-To": "Sync To",
    "X-Versions-Location": "Versions",
    "X-Versions-Enabled": "Versioning",
    "X-Storage-Policy": "Storage Policy",
    "Content-Type": "Content Type",
    "Content-Length": "Content Length",
    "Last-Modified": "Last Modified",
    "Etag": "ETag",
    "X-Object-Manifest": "Manifest",
    "X-Static-Large-Object": "Static Large Object",
}
#: Transport headers `stat` leaves out of its text output.
NOISE = frozenset({"date", "connection", "keep-alive", "server", "transfer-encoding",
                   "x-trans-id", "x-openstack-request-id", "accept-ranges", "vary"})


def parse_pairs(values: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    """`Name:Value` pairs (`-m`, `-H`); `Name:` (empty value) removes, as in Swift."""
    pairs = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: expected {what} as Name:Value")
        pairs.append((name.strip(), rest.strip()))
    return pairs


def meta_headers(kind: str, meta: tuple[str, ...], header: tuple[str, ...]) -> dict[str, str]:
    """`-m` and `-H` as request headers for a `kind` (account, container, object)."""
    headers = {f"X-{kind.capitalize()}-Meta-{name}": value
               for name, value in parse_pairs(meta, "metadata")}
    headers.update(dict(parse_pairs(header, "a header")))
    return headers


def account_name(storage_url: str) -> str:
    return unquote(urlsplit(storage_url).path.rstrip("/").rsplit("/", 1)[-1])


def entry_json(entry: Entry) -> dict[str, Any]:
    if entry.is_prefix:
        return {"subdir": entry.name}
    return {k: v for k, v in dataclasses.asdict(entry).items()
            if v is not None and k != "is_prefix"}


# -- stat ------------------------------------------------------------------------------------

@click.command("stat")
@click.argument("container", required=False)
@click.argument("obj", metavar="[OBJECT]", required=False)
@cloud_options
@json_option
@click.pass_context
def stat(ctx: click.Context, container: str | None, obj: str | None, as_json: bool) -> None:
    """Show the account, a container or an object: counts, sizes, metadata (HEAD)."""
    async def work(cloud: Cloud) -> dict[str, Any]:
        store = cloud.objects
        url = await store.storage_url()
        if container is None:
            headers, kind = await store.account(), "account"
        elif obj is None:
            headers, kind = await store.container(container), "container"
        else:
            headers, kind = await store.head(container, obj), "object"
        doc = {"account": account_name(url), "container": container, "object": obj,
               "headers": headers, "metadata": metadata(headers, kind)}
        return {k: v for k, v in doc.items() if v is not None}

    doc = run(ctx, work)

    def text(d: dict[str, Any]) -> str:
        rows = [("Account", d["account"])]
        rows += [(k.capitalize(), d[k]) for k in ("container", "object") if k in d]
        headers = d["headers"]
        shown = {k.lower() for k in LABELS} | NOISE
        rows += [(label, headers[h]) for h, label in LABELS.items()
                 if h in headers and not (h == "Content-Length" and "object" not in d)]
        rows += [(f"Meta {k}", v) for k, v in sorted(d["metadata"].items())]
        rows += [(k, v) for k, v in sorted(headers.items())
                 if k.lower() not in shown and "-meta-" not in k.lower()]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:>{width}}: {value}" for label, value in rows)

    emit(doc, as_json, text)


# -- list ------------------------------------------------------------------------------------

@click.command("list")
@click.argument("container", required=False)
@click.option("-p", "--prefix", help="Only names that start with this.")
@click.option("-d", "--delimiter", help="Roll names up at this character into pseudo-folders.")
@click.option("-l", "--long", "long_", is_flag=True,
              help="Size, date and type (containers: count and bytes) too.")
@click.option("--lh", is_flag=True, help="As --long, with sizes like 1.2K, 64M.")
@click.option("-t", "--totals", is_flag=True, help="Only the totals (with --long).")
@click.option("--versions", is_flag=True, help="Every version of each object.")
@cloud_options
@json_option
@click.pass_context
def list_(ctx: click.Context, container: str | None, prefix: str | None,
          delimiter: str | None, long_: bool, lh: bool, totals: bool, versions: bool,
          as_json: bool) -> None:
    """List the containers, or the objects of CONTAINER."""
    async def work(cloud: Cloud) -> list[Entry]:
        if container is None:
            return [e async for e in cloud.objects.containers(prefix=prefix)]
        return [e async for e in cloud.objects.objects(container, prefix=prefix,
                                                       delimiter=delimiter,
                                                       versions=versions)]

    entries = run(ctx, work)
    if as_json:
        emit([entry_json(e) for e in entries], True, str)
        return
    if not (long_ or lh):
        for entry in entries:
            suffix = f"  {entry.version_id}" if versions and entry.version_id else ""
            click.echo(entry.name + suffix)
        return
    size = human if lh else str
    count = total = 0
    for entry in entries:
        total += entry.bytes
        if entry.is_prefix:
            if not totals:
                click.echo(f"{'':>12} {'':19} {'':24} {entry.name}")
            continue
        count += entry.count or 0
        modified = (entry.last_modified or "")[:19].replace("T", " ")
        if totals:
            continue
        if container is None:
            click.echo(f"{entry.count or 0:>12} {size(entry.bytes):>12} {modified:19} "
                       f"{entry.name}")
        else:
            version = f" {entry.version_id}" if versions and entry.version_id else ""
            click.echo(f"{size(entry.bytes):>12} {modified:19} "
                       f"{(entry.content_type or '')[:24]:24} {entry.name}{version}")
    if container is None:
        click.echo(f"{count:>12} {size(total):>12}")
    else:
        click.echo(f"{size(total):>12}")


# -- post ------------------------------------------------------------------------------------

@click.command("post")
@click.argument("container", required=False)
@click.argument("obj", metavar="[OBJECT]", required=False)
@click.option("-m", "--meta", multiple=True, metavar="NAME:VALUE",
              help="Set metadata (repeatable); NAME: with no value removes it.")
@click.option("-H", "--header", multiple=True, metavar="NAME:VALUE",
              help="Set a header (repeatable), e.g. X-Delete-After:3600.")
@click.option("-r", "--read-acl", help="Container read ACL, e.g. .r:*,.rlistings.")
@click.option("-w", "--write-acl", help="Container write ACL, e.g. project:user.")
@cloud_options
@click.pass_context
def post(ctx: click.Context, container: str | None, obj: str | None, meta: tuple[str, ...],
         header: tuple[str, ...], read_acl: str | None, write_acl: str | None) -> None:
    """Update metadata of the account, a container (made if missing) or an object."""
    kind = "account" if container is None else "container" if obj is None else "object"
    headers = meta_headers(kind, meta, header)
    if (read_acl is not None or write_acl is not None) and kind != "container":
        raise click.UsageError("--read-acl and --write-acl apply to a container")
    if read_acl is not None:
        headers["X-Container-Read"] = read_acl
    if write_acl is not None:
        headers["X-Container-Write"] = write_acl

    async def work(cloud: Cloud) -> None:
        store = cloud.objects
        if container is None:
            await store.post_account(headers)
        elif obj is None:
            try:
                await store.post_container(container, headers)
            except NotFound:
                await store.create_container(container, headers)
        else:
            await store.post(container, obj, headers)

    run(ctx, work)


# -- copy ------------------------------------------------------------------------------------

@click.command("copy")
@click.argument("container")
@click.argument("objects", metavar="OBJECT...", nargs=-1, required=True)
@click.option("-d", "--destination", metavar="/CONTAINER[/OBJECT]",
              help="Where to copy to (default: onto itself, to change its metadata).")
@click.option("-M", "--fresh-metadata", is_flag=True,
              help="Do not keep the source's metadata.")
@click.option("-m", "--meta", multiple=True, metavar="NAME:VALUE", help="Set metadata.")
@click.option("-H", "--header", multiple=True, metavar="NAME:VALUE", help="Set a header.")
@cloud_options
@json_option
@quiet_option
@click.pass_context
def copy(ctx: click.Context, container: str, objects: tuple[str, ...],
         destination: str | None, fresh_metadata: bool, meta: tuple[str, ...],
         header: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Copy objects on the server (no data passes through this machine)."""
    to_container, to_name = container, None
    if destination:
        to_container, _, to_name = destination.strip("/").partition("/")
        to_name = to_name or None
        if to_name and len(objects) > 1:
            raise click.UsageError("copying several objects needs -d /CONTAINER")
    headers = meta_headers("object", meta, header)

    async def work(cloud: Cloud) -> list[dict[str, str]]:
        done = []
        for name in objects:
            target = to_name or name
            await cloud.objects.copy(container, name, to_container, target, headers=headers,
                                     fresh_metadata=fresh_metadata)
            done.append({"from": f"{container}/{name}", "to": f"{to_container}/{target}"})
        return done

    done = run(ctx, work)
    if as_json:
        emit(done, True, str)
    elif not quiet:
        for row in done:
            click.echo(f"{row['from']} copied to {row['to']}")


# -- delete ----------------------------------------------------------------------------------

@click.command("delete")
@click.argument("container", required=False)
@click.argument("objects", metavar="[OBJECT]...", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Every container of the account and everything in them.")
@click.option("-p", "--prefix", help="Only the objects whose names start with this "
              "(the container stays).")
@click.option("--leave-segments", is_flag=True,
              help="Keep the segments of large objects (delete only the manifests).")
@click.option("--object-threads", type=click.IntRange(1, 256), default=32, show_default=True,
              help="Objects inspected or deleted at once.")
@cloud_options
@json_option
@quiet_option
@click.pass_context
def delete(ctx: click.Context, container: str | None, objects: tuple[str, ...], all_: bool,
           prefix: str | None, leave_segments: bool, object_threads: int, as_json: bool,
           quiet: bool) -> None:
    """Delete objects, a container with everything in it, or (--all) the whole account.

    Many objects go by bulk delete where the cloud offers it; large objects go with their
    segments."""
    if all_ == (container is not None):
        raise click.UsageError("name a container (and objects), or give --all")
    if objects and prefix:
        raise click.UsageError("give objects or --prefix, not both")
    report: dict[str, Any] = {"deleted": [], "not_found": [], "already_gone": 0,
                              "failed": [], "containers": []}

    def note(container_name: str, result: DeleteResult) -> None:
        report["deleted"] += [f"{container_name}/{n}" for n in result.deleted]
        report["not_found"] += [f"{container_name}/{n}" for n in result.not_found]
        report["already_gone"] += result.missing
        report["failed"] += [{"name": f"{container_name}/{n}", "error": why}
                             for n, why in result.failed]

    async def empty(cloud: Cloud, name: str, only: str | None) -> bool:
        entries = [e async for e in cloud.objects.objects(name, prefix=only)]
        result = await delete_objects(cloud.objects, name, entries,
                                      leave_segments=leave_segments,
                                      concurrency=object_threads)
        note(name, result)
        return not result.failed

    async def work(cloud: Cloud) -> None:
        if container is not None and objects:
            result = await delete_objects(
                cloud.objects, container, [Entry(name=n) for n in objects], listed=False,
                leave_segments=leave_segments, concurrency=object_threads)
            note(container, result)
            return
        if container is not None and prefix is not None:
            await empty(cloud, container, prefix)
            return
        names = [container] if container else [
            e.name async for e in cloud.objects.containers()]
        for name in names:
            if await empty(cloud, name, None):
                await cloud.objects.delete_container(name)
                report["containers"].append(name)

    run(ctx, work, connections=max(64, object_threads))
    if as_json:
        emit(report, True, str)
    elif not quiet:
        for name in report["deleted"] + report["containers"]:
            click.echo(name)
    for name in report["not_found"]:
        click.echo(f"error: {name}: not found", err=True)
    for row in report["failed"]:
        click.echo(f"error: {row['name']}: {row['error']}", err=True)
    if report["failed"]:
        sys.exit(EXIT_ERROR)
    if report["not_found"]:
        sys.exit(EXIT_NOT_FOUND)


COMMANDS = [stat, list_, post, copy, delete]
