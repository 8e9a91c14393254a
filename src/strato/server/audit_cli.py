"""`strato audit status` and `strato audit run`: the auditor (bit rot) seen by an operator.

`status` reads what the server's auditor left (its last and current pass, in the data
directory's `auditor.json`) and every policy's quarantine directory: each quarantined blob
with the object it was and why. `run` makes one pass now, from this process, at the rate
given (safe while the server runs: every quarantine is a rename, and a row is removed only if
it still names the blob found corrupt).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from strato.server.cli import _settings, config_option, data_dir_option, require_data_dir
from strato.server.settings import Settings


def _when(stamp: object) -> str:
    if not isinstance(stamp, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _quarantined(settings: Settings) -> list[dict[str, Any]]:
    from strato.server.app import build_policies

    found = []
    for policy in build_policies(settings):
        for _, details in policy.blobs.quarantined():
            found.append({"policy": policy.name, **details})
    return found


@click.group()
def audit() -> None:
    """The auditor: blobs re-read and checked against their MD5, corrupt ones quarantined."""


@audit.command("status")
@config_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit_status(config: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Show the auditor's last pass and every quarantined blob (the objects lost)."""
    from strato.domain.auditor import read_state
    from strato.server.background import auditor_state_file

    settings = _settings(config, data_dir=data_dir)
    require_data_dir(settings)
    state = read_state(auditor_state_file(settings)) or {}
    quarantined = _quarantined(settings)
    if as_json:
        click.echo(json.dumps({"auditor": state, "quarantined": quarantined}))
        return
    rate = settings.auditor_bytes_per_second
    click.echo(f"auditor: {'off' if rate == 0 else f'{rate} bytes/s'}, a pass every "
               f"{settings.auditor_interval:g} s")
    for key, title in (("current", "pass running"), ("last", "last pass")):
        run = state.get(key)
        if isinstance(run, dict):
            click.echo(f"{title}: started {_when(run.get('started'))}, finished "
                       f"{_when(run.get('finished'))}: {run.get('blobs', 0)} blobs, "
                       f"{run.get('bytes', 0)} bytes checked, {run.get('quarantined', 0)} "
                       "quarantined")
    if not state:
        click.echo("no auditor pass recorded in this data directory")
    click.echo(f"quarantined: {len(quarantined)}")
    for item in quarantined:
        name = "/".join(str(item.get(k, "?")) for k in ("account", "container", "object"))
        click.echo(f"  {item['blob_id']}  {_when(item.get('quarantined_at'))}  {name}: "
                   f"{item.get('reason', '?')}")


@audit.command("run")
@config_option
@data_dir_option
@click.option("--bytes-per-second", type=click.IntRange(min=0), default=0,
              help="Read at most this fast (default 0: as fast as the disk goes).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit_run(config: str | None, data_dir: Path | None, bytes_per_second: int,
              as_json: bool) -> None:
    """Make one auditor pass over every blob now, then exit (status 1 if any blob was found
    corrupt)."""
    from strato.domain.auditor import Auditor, PassStats
    from strato.server.app import opened_storage

    settings = _settings(config, data_dir=data_dir)
    require_data_dir(settings)

    async def run() -> PassStats:
        async with opened_storage(settings) as storage:
            return await Auditor(storage, bytes_per_second).run_pass()

    stats = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(asdict(stats)))
    else:
        click.echo(f"checked {stats.blobs} blobs ({stats.bytes} bytes), quarantined "
                   f"{stats.quarantined}, skipped {stats.skipped} with no object")
    if stats.quarantined:
        raise SystemExit(1)
