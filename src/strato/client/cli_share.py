"""`tempurl` (as `swift tempurl`), `share` (a temp URL or an upload page for others) and
`sync` (one-way, a directory and a container/prefix, either direction)."""

from __future__ import annotations

import calendar
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click

from strato.client.cli import (
    cloud_options,
    emit,
    exit_code,
    json_option,
    parse_size,
    quiet_option,
    run,
)
from strato.client.cli_transfer import transfer_options
from strato.client.cloud import Cloud
from strato.client.objects import object_path
from strato.client.progress import progress_for
from strato.client.signing import DIGESTS, ISO8601, temp_url
from strato.client.sync import SCHEME, SyncPlan, SyncResult, apply, plan
from strato.client.trees import describe

METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")


def parse_time(text: str, absolute: bool) -> tuple[int, bool]:
    """`swift tempurl`'s TIME: seconds from now, a Unix time with --absolute, or an ISO 8601
    UTC time (`2030-01-01T00:00:00Z`, always absolute)."""
    if text.isascii() and text.isdigit():
        return int(text), absolute
    for fmt in (ISO8601, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt)), True
        except ValueError:
            continue
    raise click.BadParameter(f"{text!r}: give seconds, or a time like 2030-01-01T00:00:00Z")


@click.command("tempurl")
@click.argument("method", type=click.Choice(METHODS, case_sensitive=False))
@click.argument("seconds", metavar="TIME")
@click.argument("path")
@click.argument("key", required=False)
@click.option("--absolute", is_flag=True, help="TIME is a Unix time, not seconds from now.")
@click.option("--prefix-based", is_flag=True,
              help="Sign every object under PATH (which names a prefix).")
@click.option("--iso8601", is_flag=True, help="Write the expiry as an ISO 8601 time.")
@click.option("--ip-range", help="Only clients from this address or CIDR range.")
@click.option("--digest", type=click.Choice(sorted(DIGESTS)), default="sha256",
              show_default=True)
@cloud_options
@click.pass_context
def tempurl(ctx: click.Context, method: str, seconds: str, path: str, key: str | None,
            absolute: bool, prefix_based: bool, iso8601: bool, ip_range: str | None,
            digest: str) -> None:
    """A temp URL, as `swift tempurl` makes it. PATH is /v1/AUTH_account/container/object
    (or a full URL, or container/object for the logged-in account). Without KEY, the
    container's or account's temp URL key is used (this logs in)."""
    expires, absolute = parse_time(seconds, absolute)
    options = {"method": method.upper(), "seconds": expires, "absolute": absolute,
               "prefix": prefix_based, "iso8601": iso8601, "ip_range": ip_range,
               "digest": digest}
    parts = urlsplit(path)
    if path.startswith("/v1/") or parts.scheme:
        segments = unquote(parts.path).split("/", 4)
        if len(segments) < 4 or not segments[3]:
            raise click.BadParameter("PATH must be /v1/<account>/<container>/<object>")
        if key is not None:
            click.echo(sign(path, key, options))
            return
        container = segments[3]

        async def with_key(cloud: Cloud) -> str:
            return sign(path, await cloud.temp_url_key(container), options)

        click.echo(run(ctx, with_key))
        return
    container, _, name = path.partition("/")

    async def relative(cloud: Cloud) -> str:
        url = await cloud.objects.storage_url() + object_path(container, name)
        if prefix_based and not name:
            url += "/"
        return sign(unquote(url), key or await cloud.temp_url_key(container), options)

    click.echo(run(ctx, relative))


def sign(path: str, key: str, options: dict[str, Any]) -> str:
    try:
        return temp_url(path, key, **options)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("share")
@click.argument("container")
@click.argument("name", metavar="[OBJECT|PREFIX]", required=False, default="")
@click.option("--seconds", type=click.IntRange(1), default=86400, show_default=True,
              help="How long the link (or form) works.")
@click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default="GET",
              show_default=True, help="What the link allows (PUT: others upload to it).")
@click.option("--prefix", "prefix", is_flag=True,
              help="NAME is a prefix: the link works for every object under it.")
@click.option("--form", is_flag=True,
              help="An HTML upload page for the container (under PREFIX) instead.")
@click.option("--max-file-size", default="5G", show_default=True,
              help="With --form: largest file accepted.")
@click.option("--max-file-count", type=click.IntRange(1), default=10, show_default=True,
              help="With --form: files per submission.")
@click.option("--redirect", default="", help="With --form: where the browser goes after.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="With --form: write the page here instead of stdout.")
@click.option("--temp-url-key", "key",
              help="The key to sign with [default: the container's or account's].")
@cloud_options
@json_option
@click.pass_context
def share(ctx: click.Context, container: str, name: str, seconds: int, method: str,
          prefix: bool, form: bool, max_file_size: str, max_file_count: int, redirect: str,
          output: Path | None, key: str | None, as_json: bool) -> None:
    """Give others access without an account: a temp URL for an object (or, with
    --prefix, every object under a prefix), or with --form an upload page for the
    container. Needs a temp URL key: `strato post CONTAINER -m Temp-URL-Key:SECRET`."""
    if output is not None and not form:
        raise click.UsageError("-o/--output is for the --form page; the link goes to stdout")
    if not (name or prefix or form):
        raise click.UsageError("name an OBJECT, or give --prefix (with a PREFIX or none for "
                               "the whole container) or --form")
    size = parse_size(max_file_size)

    async def work(cloud: Cloud) -> dict[str, Any]:
        if form:
            folder = name.rstrip("/") + "/" if name else ""
            page = await cloud.form_post(container, folder, key=key, seconds=seconds,
                                         redirect=redirect, max_file_size=size,
                                         max_file_count=max_file_count)
            return {"action": page.action, "fields": page.fields(), "expires": page.expires,
                    "html": page.html(f"Upload to {container}/{name}".rstrip("/"))}
        url = await cloud.temp_url(container, name, method=method.upper(), seconds=seconds,
                                   key=key, prefix=prefix)
        return {"url": url, "method": method.upper(), "expires": int(time.time()) + seconds,
                "prefix": prefix}

    doc = run(ctx, work)
    if form and output is not None:
        output.write_text(doc["html"])
        if as_json:
            emit({k: v for k, v in doc.items() if k != "html"}, True, str)
        return
    emit(doc, as_json, lambda d: d["html"].rstrip("\n") if form else d["url"])


@click.command("sync")
@click.argument("source")
@click.argument("dest")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be done; do nothing.")
@click.option("--delete", is_flag=True, help="Delete from DEST what SOURCE does not have.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Only paths matching (repeatable; `*.jpg`, `2024/*`).")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Leave out paths matching (repeatable); wins over --include.")
@click.option("--object-threads", type=click.IntRange(1, 1024), default=32,
              show_default=True, help="Files transferred at once.")
@click.option("-S", "--segment-size", metavar="SIZE", help="As for upload [default: 64M].")
@click.option("--segment-threads", type=click.IntRange(1, 256), default=8, show_default=True)
@cloud_options
@json_option
@quiet_option
@click.pass_context
def sync(ctx: click.Context, source: str, dest: str, dry_run: bool, delete: bool,
         include: tuple[str, ...], exclude: tuple[str, ...], object_threads: int,
         segment_size: str | None, segment_threads: int, as_json: bool, quiet: bool) -> None:
    """Make DEST like SOURCE, one way: a local directory and swift://CONTAINER[/PREFIX],
    either way round. Files are compared by size, then MD5 against the ETag (large
    objects: by the mtime they carry); only what differs is copied."""
    if source.startswith(SCHEME) == dest.startswith(SCHEME):
        raise click.UsageError(f"one side must be a local directory and the other "
                               f"{SCHEME}CONTAINER[/PREFIX]")
    if not source.startswith(SCHEME) and not Path(source).is_dir():
        raise click.BadParameter(f"{source} is not a directory", param_hint="SOURCE")
    options = transfer_options(segment_size, segment_threads)

    async def work(cloud: Cloud) -> tuple[SyncPlan, SyncResult | None]:
        todo = await plan(cloud.objects, source, dest, delete=delete, include=include,
                          exclude=exclude, concurrency=min(object_threads, 16))
        if dry_run:
            return todo, None
        with progress_for(quiet or as_json, "sync") as bars:
            bars.expect(len(todo.copy), todo.bytes)
            done = await apply(cloud.objects, todo, options=options, progress=bars,
                               concurrency=object_threads)
        return todo, done

    try:
        todo, done = run(ctx, work, connections=object_threads + segment_threads)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    failed = [] if done is None else (
        [(n, describe(e)) for n, e in done.copied.failed] + done.failed)
    copied = {d.name for d in done.copied.done} if done else set()
    deleted = set(done.deleted) if done else set()
    prefix = todo.dest.prefix if todo.dest.remote else todo.source.prefix
    if as_json:
        emit({"dry_run": dry_run, "unchanged": todo.unchanged,
              "copy": [{"path": a.rel, "size": a.size, "reason": a.reason, "action": a.kind}
                       for a in todo.copy],
              "delete": [{"path": a.rel, "action": a.kind} for a in todo.delete],
              "failed": [{"path": n, "error": e} for n, e in failed]}, True, str)
    elif not quiet:
        for action in todo.copy:
            if dry_run or (prefix + action.rel) in copied or action.rel in copied:
                click.echo(f"{action.kind} {action.rel} ({action.reason})")
        for action in todo.delete:
            if dry_run or action.rel in deleted:
                click.echo(f"{action.kind} {action.rel}")
        word = "would copy" if dry_run else "copied"
        click.echo(f"{word} {len(todo.copy) - len(failed) * (not dry_run)}, "
                   f"{'would delete' if dry_run else 'deleted'} "
                   f"{len(todo.delete) if dry_run else len(deleted)}, "
                   f"unchanged {todo.unchanged}", err=True)
    for name, why in failed:
        click.echo(f"error: {name}: {why}", err=True)
    if failed:
        first = done.copied.failed[0][1] if done and done.copied.failed else None
        sys.exit(exit_code(first) if first else 1)


COMMANDS = [tempurl, share, sync]
