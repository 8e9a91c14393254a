"""The `strato` command: client commands that work over HTTP against any Swift/OpenStack
cloud, and server commands that run Strato or administer its data directory. The client
commands never import the server; the server's are loaded only when asked for (and, when
the `server` extra is not installed, say how to get it). The client's are loaded only for a
client command or the help: `strato serve` would otherwise carry the HTTP client (aiohttp,
~25 MB) in the server's master process for nothing."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import ssl
from collections.abc import Iterator
from typing import Any

import click

from strato import __version__

#: Server commands and what they do, for help without importing the server.
SERVER_COMMANDS = {
    "serve": "Run Strato on this machine.",
    "init": "Create and seed a data directory without starting the server.",
    "user": "Manage users on a data directory.",
    "project": "Manage projects on a data directory.",
    "role": "Manage roles and role assignments on a data directory.",
    "access-key": "Manage per-user access keys (HP-style temp URLs).",
    "app-credential": "Manage application credentials.",
    "cloud-config": "Print a clouds.yaml (or OS_* variables) for a user.",
    "image-admin": "The image service on a data directory: list, show, scrub, restore.",
    "credential-key": "The keys that encrypt access-key secrets: setup, rotate.",
    "db": "The metadata database: schema status and upgrade (SQLite or PostgreSQL).",
    "audit": "The auditor (bit rot): its last pass, quarantined objects, a pass now.",
    "backup": "Copy the metadata and blobs to a directory, online.",
    "restore": "Bring a backup back into a data directory.",
    "migrate": "Move this data directory's metadata into PostgreSQL (scale-out).",
}


def server_installed() -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None
                   for name in ("uvicorn", "pydantic_settings", "argon2"))
    except ImportError:
        return False


@contextlib.contextmanager
def _ca_directory_only() -> Iterator[None]:
    """While the client commands import: OpenSSL is shown no CA bundle file, only the
    system's CA directory, which holds the same certificates hashed by subject (Debian,
    Ubuntu, Alpine; `update-ca-certificates` keeps both). aiohttp makes its verifying TLS
    context on import, and loading the bundle file parses every certificate in it: 40 ms,
    a sixth of a command's start, spent even when no connection uses TLS. From the
    directory a handshake reads just the certificate it needs. Left as it is unless both
    SSL_CERT_FILE and SSL_CERT_DIR are unset or name the system's own bundle and directory,
    and the directory is hashed (otherwise the bundle may hold what the directory lacks)."""
    paths = ssl.get_default_verify_paths()
    system = {"SSL_CERT_FILE": paths.openssl_cafile, "SSL_CERT_DIR": paths.openssl_capath}
    if any(name in os.environ and os.path.realpath(os.environ[name]) != os.path.realpath(path)
           for name, path in system.items()) or not _hashed(paths.openssl_capath):
        yield
        return
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = os.path.join(paths.openssl_capath, ".strato-no-bundle")
    try:
        yield
    finally:
        if before is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = before


def _hashed(directory: str) -> bool:
    """Whether `directory` holds certificates under OpenSSL's hashed names (`5ad8a5d6.0`)."""
    try:
        with os.scandir(directory) as entries:
            return any(HASHED_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return False


HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


class StratoGroup(click.Group):
    """Client commands registered on first need; server commands fetched from the server."""

    all_client = False

    def _client(self, wanted: str | None = None) -> None:
        """Register the client commands: all of them, or those up to `wanted`'s module."""
        if self.all_client or (wanted is not None and wanted in self.commands):
            return
        with _ca_directory_only():
            from strato.client.cli import register

            self.all_client = register(self, wanted)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._client()
        return sorted(set(super().list_commands(ctx)) | set(SERVER_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SERVER_COMMANDS:
            return _server_command(cmd_name)
        self._client(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._client()
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        client = [(name, cmd.get_short_help_str(limit))
                  for name, cmd in sorted(self.commands.items()) if not cmd.hidden]
        with formatter.section("Client commands (any Swift/OpenStack cloud, over HTTP)"):
            formatter.write_dl(client)
        server = [(name, help_text) for name, help_text in SERVER_COMMANDS.items()]
        title = "Server commands (this machine: run Strato, administer its data directory)"
        if not server_installed():
            title += " [not installed: pip install 'strato[server]']"
        with formatter.section(title):
            formatter.write_dl(server)


def _server_command(name: str) -> click.Command:
    if not server_installed():
        @click.command(name, context_settings={"ignore_unknown_options": True,
                                               "allow_extra_args": True},
                       help=SERVER_COMMANDS[name], add_help_option=False)
        def missing(**_: Any) -> None:
            raise click.ClickException(
                f"`strato {name}` is a server command and the server is not installed here: "
                "pip install 'strato[server]'")
        return missing
    from strato.server.cli import main as server_main

    command = server_main.commands.get(name)
    if command is None:
        raise click.ClickException(f"no server command {name!r}")
    return command


@click.group(cls=StratoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="strato")
def main() -> None:
    """Strato: a self-hosted, OpenStack-compatible storage cloud (object storage with the
    Swift v1 API, Keystone identity, Glance v2 images), and a fast client for it and for
    any Swift/OpenStack cloud.

    Start a cloud on this machine with `strato serve` (it creates ./strato-data and prints
    the first passwords). The client commands log in the way `swift` and `openstack` do:
    --os-cloud / OS_CLOUD with clouds.yaml, OS_* variables, or ST_AUTH/ST_USER/ST_KEY."""

