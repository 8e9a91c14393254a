"""`strato db status` and `strato db upgrade`: the metadata schema's version, and migrating it.

`strato serve` migrates on start (under a lock, so nodes starting together migrate once);
these commands let an operator see where a database stands and migrate it ahead of a
rolling restart. Both work on the data directory's SQLite database or on the PostgreSQL
database `--metadata` (STRATO_METADATA, the config file) names.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from strato.server.cli import _fail, _settings, config_option, data_dir_option
from strato.server.datadir import metadata_path, open_failure, redacted, store_errors
from strato.server.settings import Settings

metadata_option = click.option(
    "--metadata", "metadata", default=None,
    help="PostgreSQL URL of the metadata [env STRATO_METADATA; default: the SQLite database "
    "in the data directory].")


def _where(settings: Settings) -> str:
    if settings.metadata:
        return f"postgresql {redacted(settings.metadata)}"
    return f"sqlite {metadata_path(settings)}"


def _versions(settings: Settings, upgrade: bool) -> tuple[int, int, int]:
    """(version before, version after, this release's version)."""
    from strato.server.app import open_metadata

    async def run() -> tuple[int, int, int]:
        store = open_metadata(settings)
        before, latest = await store.schema_version()
        after = before
        if upgrade:
            await store.upgrade()
            after, latest = await store.schema_version()
        return before, after, latest

    try:
        return asyncio.run(run())
    except store_errors(settings) as exc:
        _fail(str(open_failure(settings, exc)))
        raise


@click.group()
def db() -> None:
    """The metadata database's schema: its version, and migrating it."""


@db.command("status")
@config_option
@data_dir_option
@metadata_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def db_status(config: str | None, data_dir: Path | None, metadata: str | None,
              as_json: bool) -> None:
    """Show the schema version and whether `strato db upgrade` has work to do."""
    settings = _settings(config, data_dir=data_dir, metadata=metadata)
    if not settings.metadata and not metadata_path(settings).is_file():
        _fail(f"no metadata database at {metadata_path(settings)}: pass the right --data-dir "
              "or --metadata")
    version, _, latest = _versions(settings, upgrade=False)
    state = ("current" if version == latest else
             "needs upgrade" if version < latest else "newer than this release")
    if as_json:
        click.echo(json.dumps({"metadata": _where(settings), "schema_version": version,
                               "release_version": latest, "state": state}))
        return
    click.echo(f"metadata: {_where(settings)}")
    click.echo(f"schema version: {version} (this release: {latest}): {state}")


@db.command("upgrade")
@config_option
@data_dir_option
@metadata_option
def db_upgrade(config: str | None, data_dir: Path | None, metadata: str | None) -> None:
    """Migrate the schema to this release's version (safe while other nodes start)."""
    settings = _settings(config, data_dir=data_dir, metadata=metadata)
    if not settings.metadata and not metadata_path(settings).is_file():
        _fail(f"no metadata database at {metadata_path(settings)}: pass the right --data-dir "
              "or --metadata (`strato init` creates one)")
    before, after, _ = _versions(settings, upgrade=True)
    if before == after:
        click.echo(f"schema version {after}: nothing to migrate", err=True)
    else:
        click.echo(f"schema migrated from version {before} to {after}", err=True)
