"""The data directory: what makes one a Strato data directory, and making one.

Only `strato serve` and `strato init` create a data directory; every other command refuses
a directory that is not one, so a mistyped `--data-dir` (or a command run from another
working directory, where `./strato-data` does not exist) is an error instead of a new,
empty cloud whose passwords nobody saw. A data directory is initialised when its metadata
database exists and holds the seeded identity (the `Default` domain); the creator prints the
generated passwords, and `strato user passwd --generate` sets and prints new ones later
(only hashes are stored, so they cannot be shown again).

Every failure here is a `DataDirError` whose message is one line saying what is wrong and
how to fix it; the CLI prints it as is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from strato.server.settings import Settings

if TYPE_CHECKING:
    from strato.domain.identity import IdentityService

__all__ = ["METADATA_FILE", "DataDirError", "check_initialised", "has_metadata", "initialise",
           "open_failure", "opened_identity", "redacted", "store_errors"]

METADATA_FILE = "metadata.db"


class DataDirError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


def metadata_path(settings: Settings) -> Path:
    return settings.data_dir / METADATA_FILE


def has_metadata(settings: Settings) -> bool:
    """Whether a metadata database may exist already (PostgreSQL's always may)."""
    return bool(settings.metadata) or metadata_path(settings).exists()


def not_initialised(settings: Settings) -> DataDirError:
    where = settings.data_dir
    if settings.metadata:
        return DataDirError(
            f"the metadata database {redacted(settings.metadata)} holds no Strato cloud yet: "
            "pass the right --metadata (or STRATO_METADATA), or create one with `strato init` "
            "or `strato serve` and the same settings")
    return DataDirError(
        f"{where} is not a Strato data directory (no {METADATA_FILE} with a seeded identity): "
        f"pass the right --data-dir (or STRATO_DATA_DIR), or create one with "
        f"`strato init --data-dir {where}` or `strato serve --data-dir {where}`")


def check_initialised(settings: Settings) -> None:
    """Before opening anything (opening would create the database): refuse a directory
    without one. (A PostgreSQL database is checked once opened: `is_bootstrapped`.)"""
    if not settings.metadata and not metadata_path(settings).is_file():
        raise not_initialised(settings)


def redacted(url: str) -> str:
    """A database URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def store_errors(settings: Settings) -> tuple[type[Exception], ...]:
    """What opening the configured metadata store raises when it cannot be used."""
    if settings.metadata:
        import asyncpg

        return (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError,
                ValueError, RuntimeError)
    return (sqlite3.Error, OSError)


def open_failure(settings: Settings, exc: Exception) -> DataDirError:
    """A one-line account of why the metadata database could not be opened."""
    if settings.metadata:
        return DataDirError(f"cannot open the metadata database {redacted(settings.metadata)} "
                            f"({exc.__class__.__name__}: {exc}): check that PostgreSQL runs "
                            "there and the URL's user, password and database are right")
    path = metadata_path(settings)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return DataDirError(f"{path} is not a usable Strato metadata database ({exc}): restore "
                            "it from a backup, or move it away to start an empty cloud")
    if isinstance(exc, sqlite3.OperationalError):
        return DataDirError(f"cannot open {path} ({exc}): check that the file and its "
                            "directory are writable by this user and the disk is not full")
    if isinstance(exc, OSError):
        return DataDirError(f"cannot use data directory {settings.data_dir} "
                            f"({exc.strerror or exc}): check its permissions or choose "
                            "another --data-dir")
    return DataDirError(f"cannot open {path}: {exc}")


def make_directory(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {settings.data_dir} "
                           f"({exc.strerror or exc}): choose another --data-dir") from None


async def initialise(settings: Settings) -> dict[str, str]:
    """Create the directory and database if need be and seed the identity; returns the
    generated passwords by user name, empty when it was initialised already."""
    from strato.server.credential_keys import prepare_credential_keys
    from strato.stores.metadata.base import AccessKeyStore
    from strato.stores.metadata.secretbox import CredentialKeyError

    make_directory(settings)
    async with opened_identity(settings) as identity:
        passwords = {} if await identity.is_bootstrapped() else await identity.bootstrap()
        assert isinstance(identity.store, AccessKeyStore)
        try:
            await prepare_credential_keys(settings, identity.store)
        except CredentialKeyError as exc:
            raise DataDirError(str(exc)) from None
        except OSError as exc:
            raise DataDirError(f"cannot create the credential key repository "
                               f"{settings.credential_keys_path} ({exc.strerror or exc})"
                               ) from None
        return passwords


@contextlib.asynccontextmanager
async def opened_identity(settings: Settings) -> AsyncIterator[IdentityService]:
    """The data directory's identity service (one hash thread, as a command needs), with its
    store open; both closed after. A store that cannot be opened is a DataDirError."""
    from strato.server.app import identity_service, open_metadata

    store = open_metadata(settings)
    try:
        await store.open()
    except store_errors(settings) as exc:
        raise open_failure(settings, exc) from None
    try:
        identity = identity_service(settings, store, threads=1)
        try:
            yield identity
        finally:
            identity.passwords.close()
    finally:
        await store.close()
