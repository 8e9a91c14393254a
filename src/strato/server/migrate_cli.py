"""`strato migrate --to postgresql://...`: move an embedded (SQLite) cloud's metadata into
PostgreSQL (see `strato.server.migrate`), then serve it with `--metadata` and the same data
directory."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from strato.server.cli import _fail, _settings, config_option, data_dir_option
from strato.server.datadir import metadata_path, redacted

EXIT_MISMATCH = 3


@click.command("migrate")
@config_option
@data_dir_option
@click.option("--to", "url", required=True, metavar="postgresql://...",
              help="The PostgreSQL database to copy into: empty, or one a run of this "
              "command on this cloud did not finish.")
@click.option("--batch-rows", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Rows per transaction (a run stopped resumes after the last one).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def migrate(config: str | None, data_dir: Path | None, url: str, batch_rows: int,
            as_json: bool) -> None:
    """Copy this data directory's metadata (identities, containers, objects, inline bytes,
    images, sync state) into PostgreSQL; blob files and credential keys stay in the data
    directory. Stop the server first. Resumable: run it again after an interruption. Prints
    rows and a digest per table on both sides; exit status 3 if any differ."""
    from strato.server.migrate import MigrateError
    from strato.server.migrate import migrate as run

    if not url.startswith(("postgresql://", "postgres://")):
        _fail("--to takes a postgresql:// URL")
    settings = _settings(config, data_dir=data_dir)
    if settings.metadata:
        _fail("the cloud to move is the data directory's SQLite database: unset --metadata "
              "(STRATO_METADATA) for this command")

    def progress(table: str, rows: int) -> None:
        click.echo(f"{table}: {rows} rows copied", err=True)

    import asyncpg

    try:
        report = asyncio.run(run(metadata_path(settings), url, batch_rows=batch_rows,
                                 progress=progress))
    except MigrateError as exc:
        _fail(str(exc))
        raise
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, RuntimeError) as exc:
        # RuntimeError: a target schema newer than this release
        _fail(f"cannot migrate into {redacted(url)} ({exc.__class__.__name__}: {exc})")
        raise
    if as_json:
        click.echo(json.dumps({"resumed": report.resumed, "matches": report.matches,
                               "tables": [asdict(t) | {"matches": t.matches}
                                          for t in report.tables]}))
    else:
        click.echo(f"{'table':<18} {'rows':>9} {'target':>9}  digest (first 16)   state")
        for t in report.tables:
            click.echo(f"{t.table:<18} {t.source_rows:>9} {t.target_rows:>9}  "
                       f"{t.source_digest[:16]}   {'ok' if t.matches else 'DIFFERS'}")
    if not report.matches:
        click.echo("the copy differs from the source: see the tables marked DIFFERS",
                   err=True)
        sys.exit(EXIT_MISMATCH)
    click.echo(f"metadata {'(resumed) ' if report.resumed else ''}copied to {redacted(url)}; "
               f"serve it with --metadata and --data-dir {settings.data_dir}", err=True)
