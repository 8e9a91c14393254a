"""`strato backup DEST` and `strato restore SRC`: an online copy of a data directory (its
SQLite metadata and every policy's blobs) and bringing it back; see `strato.server.backup`
for what makes the copy consistent while the server takes writes."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from strato.server.cli import _fail, _settings, config_option, data_dir_option

copy_option = click.option(
    "--copy", is_flag=True,
    help="Copy every blob even where a hard link would do (a backup on the same "
    "filesystem otherwise shares the blobs' disk blocks with the data).")


@click.command("backup")
@config_option
@data_dir_option
@copy_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
def backup(config: str | None, data_dir: Path | None, copy: bool, as_json: bool,
           dest: Path) -> None:
    """Copy the data directory's metadata and blobs into DEST (new or empty), while the
    server runs. SQLite only: PostgreSQL's metadata is backed up with pg_dump."""
    from strato.server.backup import BackupError
    from strato.server.backup import backup as take_backup
    from strato.server.cli import require_data_dir

    settings = _settings(config, data_dir=data_dir)
    if not settings.metadata:
        require_data_dir(settings)
    try:
        report = take_backup(settings, dest, copy=copy)
    except BackupError as exc:
        _fail(str(exc))
        raise
    if as_json:
        click.echo(json.dumps(asdict(report)))
        return
    click.echo(f"backup in {dest}: {report.objects} objects, {report.blobs} blob files "
               f"({report.linked} linked, {report.copied} copied) in {report.seconds:.1f} s")
    for item in report.left_out:
        click.echo(f"left out (written and replaced while the backup ran): {item['account']}/"
                   f"{item['container']}/{item['object']}", err=True)


@click.command("restore")
@config_option
@data_dir_option
@copy_option
@click.option("--force", is_flag=True, help="Replace the metadata and blobs of a data "
              "directory that is not empty (stop its server first).")
@click.argument("src", type=click.Path(path_type=Path, file_okay=False, exists=True))
def restore(config: str | None, data_dir: Path | None, copy: bool, force: bool,
            src: Path) -> None:
    """Bring the backup in SRC into the data directory (new or empty, unless --force);
    then start `strato serve` on it."""
    from strato.server.backup import BackupError
    from strato.server.backup import restore as bring_back

    settings = _settings(config, data_dir=data_dir)
    try:
        done = bring_back(settings, src, force=force, copy=copy)
    except BackupError as exc:
        _fail(str(exc))
        raise
    click.echo(f"restored {src} into {settings.data_dir}: {done['blobs']} blob files "
               f"({done['linked']} linked, {done['copied']} copied)")
