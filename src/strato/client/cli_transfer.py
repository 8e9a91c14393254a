"""`upload` and `download`: files and trees of files, many at once on one connection pool,
large ones as parallel segments or ranges, with progress bars on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from strato.client.cli import (
    EXIT_ERROR,
    cloud_options,
    emit,
    exit_code,
    json_option,
    parse_size,
    quiet_option,
    run,
)
from strato.client.cli_objects import meta_headers
from strato.client.cloud import Cloud
from strato.client.errors import NotFound
from strato.client.objects import Entry, ObjectStore
from strato.client.progress import progress_for
from strato.client.sync import Item, same_content
from strato.client.transfers import MiB, TransferOptions
from strato.client.trees import (
    LocalFile,
    TreeResult,
    Wanted,
    as_json,
    describe,
    download_objects,
    pool,
    upload_files,
    walk,
)


def size_option(value: str | None) -> int | None:
    return None if value is None else parse_size(value)


def transfer_options(segment_size: str | None, segment_threads: int,
                     segment_container: str | None = None, leave_segments: bool = False,
                     use_slo: bool | None = None) -> TransferOptions:
    """TransferOptions from swift's option names; --segment-size is also the threshold
    above which a file is segmented, as in `swift upload`."""
    defaults = TransferOptions()
    size = size_option(segment_size)
    return TransferOptions(segment_size=size or defaults.segment_size,
                           threshold=size or defaults.threshold,
                           piece_size=size or defaults.piece_size,
                           concurrency=segment_threads, segment_container=segment_container,
                           leave_segments=leave_segments, use_slo=use_slo)


def object_name(path: str) -> str:
    """The object name `swift upload` gives a path: as written, without `./`, `../` or a
    leading `/`."""
    parts = [p for p in Path(os.path.normpath(path)).as_posix().split("/")
             if p not in ("", ".", "..")]
    return "/".join(parts)


def report(result: TreeResult, as_json_: bool, quiet: bool, describe_done: Any) -> None:
    """Per-file lines (or JSON) on stdout, failures on stderr, and the exit code."""
    if as_json_:
        emit(as_json(result), True, str)
    elif not quiet:
        for done in sorted(result.done, key=lambda d: d.name):
            click.echo(describe_done(done))
    for name, exc in result.failed:
        click.echo(f"error: {name}: {describe(exc)}", err=True)
    if result.failed:
        sys.exit(exit_code(result.failed[0][1]))


async def _unchanged(store: ObjectStore, container: str, files: Sequence[LocalFile],
                     identical: bool, changed: bool, concurrency: int) -> set[str]:
    """Names to skip: with --skip-identical same size and content (MD5, or the mtime of a
    large object); with --changed same size and mtime. One listing, then a read of each
    same-size file (or a HEAD for --changed)."""
    if not files:
        return set()
    names = sorted(f.name for f in files)
    prefix = os.path.commonprefix(names)  # noqa: RUF071 - a name prefix, not a path
    listed: dict[str, Entry] = {}
    try:
        async for entry in store.objects(container, prefix=prefix or None):
            listed[entry.name] = entry
    except NotFound:  # no container yet: nothing is unchanged
        return set()
    skip: set[str] = set()

    async def check(file: LocalFile) -> None:
        entry = listed.get(file.name)
        if entry is None or entry.bytes != file.size:
            return
        local = Item(file.name, file.size, file.mtime, path=file.path)
        if identical:
            remote = Item(file.name, entry.bytes, etag=entry.slo_etag or entry.hash,
                          large=bool(entry.slo_etag), name=entry.name)
            if await same_content(store, container, local, remote):
                skip.add(file.name)
        elif changed:
            mtime = (await store.head(container, file.name)).get("X-Object-Meta-Mtime")
            try:
                if mtime is not None and abs(float(mtime) - file.mtime) < 1e-3:
                    skip.add(file.name)
            except ValueError:
                pass

    await pool(files, concurrency, check)
    return skip


@click.command("upload")
@click.argument("container")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--object-name", "object_name_",
              help="Name of the object (one file), or the prefix that replaces the "
                   "directory's path (one directory).")
@click.option("-S", "--segment-size", metavar="SIZE",
              help="Segment files larger than this, in segments this big (1G, 64M, bytes) "
                   "[default: 64M].")
@click.option("--segment-threads", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Segments of one file sent at once.")
@click.option("--object-threads", type=click.IntRange(1, 1024), default=32,
              show_default=True, help="Files sent at once.")
@click.option("--segment-container", help="Where segments go [default: CONTAINER_segments].")
@click.option("--leave-segments", is_flag=True,
              help="Keep the segments of the object being replaced.")
@click.option("--use-slo/--use-dlo", "use_slo", default=None,
              help="Static (manifest of segments) or dynamic (prefix) large objects "
                   "[default: static where the cloud has it].")
@click.option("-H", "--header", multiple=True, metavar="NAME:VALUE",
              help="A header for every object, e.g. Content-Type:text/plain.")
@click.option("-m", "--meta", multiple=True, metavar="NAME:VALUE",
              help="Metadata for every object.")
@click.option("--changed", is_flag=True,
              help="Only files whose size or mtime differs from the object's.")
@click.option("--skip-identical", is_flag=True,
              help="Skip files whose content the object already has (same MD5).")
@click.option("--bulk/--no-bulk", default=None,
              help="Send files up to 1 MiB as tar archives (extract-archive) where the "
                   "cloud offers bulk upload, checked by one listing afterwards "
                   "[default: when there are 32 such files or more].")
@cloud_options
@json_option
@quiet_option
@click.pass_context
def upload(ctx: click.Context, /, container: str, paths: tuple[Path, ...],
           object_name_: str | None, **opts: Any) -> None:
    """Upload files or directories (recursively) to CONTAINER.

    Objects are named after the paths as given (`photos/a.jpg` for `upload c photos`);
    each carries the file's mtime as X-Object-Meta-Mtime."""
    if object_name_ and len(paths) > 1:
        raise click.UsageError("--object-name needs exactly one PATH")
    files: list[LocalFile] = []
    for path in paths:
        name = object_name_ if object_name_ is not None else object_name(str(path))
        files += walk(path, name)
    headers = meta_headers("object", opts["meta"], opts["header"])
    options = transfer_options(opts["segment_size"], opts["segment_threads"],
                               opts["segment_container"], opts["leave_segments"],
                               opts["use_slo"])
    threads = opts["object_threads"]

    async def work(cloud: Cloud) -> TreeResult:
        todo = files
        skipped: set[str] = set()
        if opts["changed"] or opts["skip_identical"]:
            skipped = await _unchanged(cloud.objects, container, files,
                                       opts["skip_identical"], opts["changed"], threads)
            todo = [f for f in files if f.name not in skipped]
        with progress_for(opts["quiet"] or opts["as_json"], "upload") as bars:
            bars.expect(len(todo), sum(f.size for f in todo))
            result = await upload_files(cloud.objects, container, todo, options=options,
                                        progress=bars, headers=headers, concurrency=threads,
                                        bulk=opts["bulk"])
        result.skipped = sorted(skipped)
        return result

    result = run(ctx, work, connections=threads + opts["segment_threads"])
    report(result, opts["as_json"], opts["quiet"], lambda d: d.name)


def local_path(base: Path, name: str) -> Path | None:
    """Where object `name` goes under `base`; None for a name that would climb out."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return base.joinpath(*parts)


@click.command("download")
@click.argument("container", required=False)
@click.argument("objects", metavar="[OBJECT]...", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Every container (each into a directory of its name).")
@click.option("-p", "--prefix", help="Only objects whose names start with this.")
@click.option("--remove-prefix", is_flag=True, help="Leave --prefix out of the file names.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="The file to write one object to (- for stdout).")
@click.option("-D", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory to download into [default: the current one].")
@click.option("--object-threads", type=click.IntRange(1, 1024), default=32,
              show_default=True, help="Objects fetched at once.")
@click.option("--segment-threads", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Ranges of one large object fetched at once.")
@click.option("--skip-identical", is_flag=True,
              help="Skip objects whose file already has the same size and MD5.")
@cloud_options
@json_option
@quiet_option
@click.pass_context
def download(ctx: click.Context, container: str | None, objects: tuple[str, ...],
             all_: bool, prefix: str | None, remove_prefix: bool, output: Path | None,
             output_dir: Path | None, object_threads: int, segment_threads: int,
             skip_identical: bool, as_json: bool, quiet: bool) -> None:
    """Download objects, a container, or (--all) every container, through `.part` files,
    checked against their ETags, with the mtime they were uploaded with."""
    if all_ == (container is not None):
        raise click.UsageError("name a container (and objects), or give --all")
    if output is not None and len(objects) != 1:
        raise click.UsageError("-o/--output needs exactly one OBJECT")
    base = output_dir or Path(".")
    options = TransferOptions(concurrency=segment_threads, piece_size=64 * MiB)

    if output is not None and str(output) == "-":
        assert container is not None

        async def to_stdout(cloud: Cloud) -> None:
            out = sys.stdout.buffer
            async with cloud.objects.open(container, objects[0]) as response:
                async for data in response.content.iter_chunked(MiB):
                    out.write(data)
            out.flush()

        run(ctx, to_stdout)
        return

    async def work(cloud: Cloud) -> TreeResult:
        store = cloud.objects
        plan: list[tuple[str, Wanted]] = []
        bad: list[str] = []
        if container is not None and objects:
            heads = {}

            async def head(name: str) -> None:
                heads[name] = await store.head(container, name)

            await pool(objects, object_threads, head)
            for name in objects:
                path = output if output is not None else local_path(base, name)
                size = int(heads[name].get("Content-Length", 0))
                if path is None:
                    bad.append(name)
                else:
                    plan.append((container, Wanted(Entry(name=name, bytes=size), path)))
        else:
            names = [container] if container else [e.name async for e in store.containers()]
            for cname in names:
                root = base / cname if all_ else base
                async for entry in store.objects(cname, prefix=prefix):
                    rel = entry.name[len(prefix):] if remove_prefix and prefix else entry.name
                    path = local_path(root, rel)
                    if path is None:
                        bad.append(f"{cname}/{entry.name}")
                    else:
                        plan.append((cname, Wanted(entry, path)))
        result = TreeResult()
        with progress_for(quiet or as_json, "download") as bars:
            bars.expect(len(plan), sum(w.entry.bytes for _, w in plan))
            for cname in dict.fromkeys(c for c, _ in plan):
                part = await download_objects(store, cname, [w for c, w in plan if c == cname],
                                              options=options, progress=bars,
                                              concurrency=object_threads,
                                              skip_identical=skip_identical)
                result.done += part.done
                result.skipped += part.skipped
                result.failed += part.failed
                result.bytes += part.bytes
        result.failed += [(name, OSError(f"{name}: the name would leave the output directory"))
                          for name in bad]
        return result

    result = run(ctx, work, connections=object_threads + segment_threads)
    report(result, as_json, quiet, lambda d: f"{d.container}/{d.name}" if all_ else d.name)
    if result.failed:
        sys.exit(EXIT_ERROR)


COMMANDS = [upload, download]
