"""`strato credential-key setup|rotate`: the key repository that encrypts the secrets kept in
the metadata, access-key (EC2) secrets and container sync keys (`stores/metadata/secretbox.py`
says how).

`strato serve` and `strato init` call `prepare_credential_keys` before anything is served:
a data directory without a repository gets one (its first start, or the first after an
upgrade from a release that kept secrets in clear), and every secret still in clear is
encrypted then. A database that holds encrypted secrets while the repository is missing is
refused with one line: making new keys would lose those secrets for good.

Rotation, on the node that holds the repository (copy it to the other nodes of a
scaled-out cloud afterwards; their workers read it again when they meet a value sealed with
a key they have not loaded):

    strato credential-key rotate            # new primary key, re-encrypt, keep 3 keys
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from strato.server.cli import _fail, _settings, config_option, data_dir_option
from strato.server.datadir import DataDirError, check_initialised, opened_identity
from strato.server.settings import Settings
from strato.stores.metadata.base import AccessKeyStore
from strato.stores.metadata.secretbox import CredentialKeyError, KeyRepository

__all__ = ["credential_key", "prepare_credential_keys"]

log = logging.getLogger("strato.server")


async def prepare_credential_keys(settings: Settings, store: AccessKeyStore) -> tuple[bool, int]:
    """Make the repository if it is missing and nothing needs its keys; encrypt the secrets
    still in clear. Returns (repository created, secrets encrypted)."""
    repository = KeyRepository(settings.credential_keys_path)
    created = False
    if not repository.exists():
        if await store.sealed_secrets():
            repository.load()  # raises: the keys these secrets need are gone
        created = repository.setup()
        if created:
            log.info("credential key repository created at %s (back it up apart from the "
                     "metadata)", repository.path)
    resealed = await store.reseal_secrets()
    if resealed:
        log.info("secrets encrypted with the primary credential key (access-key secrets, "
                 "container sync keys): %d", resealed)
    return created, resealed


def _run(settings: Settings, rotate: bool, keep: int) -> tuple[bool, int, list[int]]:
    async def run() -> tuple[bool, int, list[int]]:
        check_initialised(settings)
        async with opened_identity(settings) as identity:
            store = identity.store
            assert isinstance(store, AccessKeyStore)
            created, resealed = await prepare_credential_keys(settings, store)
            pruned: list[int] = []
            if rotate:
                KeyRepository(settings.credential_keys_path).add_primary()
                assert store.secret_box is not None
                store.secret_box.reload()
                resealed = await store.reseal_secrets()
                pruned = KeyRepository(settings.credential_keys_path).prune(keep)
            return created, resealed, pruned

    try:
        return asyncio.run(run())
    except (DataDirError, CredentialKeyError) as exc:
        _fail(str(exc))
        raise


@click.group("credential-key")
def credential_key() -> None:
    """The keys that encrypt access-key (EC2) secrets in the metadata database."""


@credential_key.command("setup")
@config_option
@data_dir_option
def setup(config: str | None, data_dir: Path | None) -> None:
    """Create the key repository if it is missing, and encrypt every secret still in clear
    (`strato serve` does both on start)."""
    settings = _settings(config, data_dir=data_dir)
    created, resealed, _ = _run(settings, rotate=False, keep=0)
    where = settings.credential_keys_path
    click.echo(f"{'created' if created else 'found'} credential keys in {where}; "
               f"{resealed} secrets encrypted", err=True)


@credential_key.command("rotate")
@config_option
@data_dir_option
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Keys kept after the rotation, the new primary included (older ones are "
              "removed once nothing is encrypted with them).")
def rotate(config: str | None, data_dir: Path | None, keep: int) -> None:
    """Add a new primary key, re-encrypt every secret with it, and drop the oldest keys."""
    settings = _settings(config, data_dir=data_dir)
    _, resealed, pruned = _run(settings, rotate=True, keep=keep)
    numbers = KeyRepository(settings.credential_keys_path).numbers()
    click.echo(f"primary credential key is now {numbers[-1]}; {resealed} secrets re-encrypted;"
               f" keys kept: {', '.join(map(str, numbers))}"
               + (f"; removed: {', '.join(map(str, pruned))}" if pruned else ""), err=True)
