"""`strato serve` and `strato init`: the two commands that may create a data directory.

`serve` checks everything it can before it prints its banner or writes anything, and a
failed check is one line on stderr saying what is wrong and how to fix it, with exit status
1 and no traceback:

1. the settings (`Settings` validates ranges, the data directory, the log level; a
   `--config` file that does not exist is an error, not an empty config);
2. the listening address, bound once and released (uvicorn binds it again with the same
   `SO_REUSEADDR`): already in use, not permitted, not an address of this host;
3. the data directory: creatable, and its metadata database readable
   (`datadir.initialise`, which also seeds a new one and returns its passwords);
4. the storage policies against what the directory holds.

Only then the banner, the first-start passwords (on stdout, when this start created them),
and uvicorn. `init` does steps 1 and 3 and prints the passwords, for a data directory made
ahead of the first start (provisioning users before it, containers); the storage policies
are checked, and their directories labelled, by the first `serve`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from strato import __version__
from strato.server.cli import (
    EXIT_EXISTS,
    _fail,
    _settings,
    config_option,
    data_dir_option,
    settings_options,
)
from strato.server.datadir import DataDirError, has_metadata, initialise, redacted
from strato.server.logs import configure_logging, logging_config
from strato.server.settings import Settings

__all__ = ["check_address", "init", "serve"]


@click.command()
@config_option
@settings_options
def serve(config: str | None, **options: Any) -> None:
    """Start the server: Swift, Keystone and Glance on one port (creates the data directory
    and prints the first passwords on the first start)."""
    settings = _settings(config, **options)
    check_address(settings.host, settings.port)
    if settings.metrics_port:
        if (settings.metrics_host, settings.metrics_port) == (settings.host, settings.port):
            _fail("metrics_port is the main port: choose another --metrics-port")
        check_address(settings.metrics_host, settings.metrics_port)
    metrics_dir()
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    tls = _tls_options(settings)
    configure_logging(settings.log_level, settings.log_format)
    passwords = _initialise(settings)
    _prepare_storage(settings)
    if passwords:
        _print_welcome(settings, passwords)
    os.environ.update(settings.to_env())
    import uvicorn

    from strato.server.accept import SLOTS_ENV, worker_slots
    from strato.server.connections import uvicorn_options

    metadata = f", metadata in {redacted(settings.metadata)}" if settings.metadata else ""
    click.echo(f"Strato {__version__} serving {settings.base_url} "
               f"(data in {settings.data_dir}{metadata}, {settings.workers} workers)",
               err=True)
    if settings.metrics_port:
        from strato.server.metrics import start_listener

        start_listener(settings.metrics_host, settings.metrics_port)
        click.echo(f"metrics without authentication at http://{settings.metrics_host}:"
                   f"{settings.metrics_port}/metrics", err=True)
    with contextlib.ExitStack() as stack:
        slots = stack.enter_context(worker_slots()) if settings.workers > 1 else None
        if slots is not None:  # the workers share new connections (server/accept.py)
            os.environ[SLOTS_ENV] = str(slots)
        uvicorn.run("strato.server.app:create_app", factory=True, host=settings.host,
                    port=settings.port,
                    workers=settings.workers if settings.workers > 1 else None,
                    loop="strato.server.accept:new_event_loop",
                    http="strato.server.protocol:SwiftHttpProtocol", lifespan="on",
                    access_log=False, log_level=settings.log_level,
                    log_config=logging_config(settings.log_level, settings.log_format),
                    server_header=False, **uvicorn_options(settings), **tls)


@click.command()
@config_option
@data_dir_option
def init(config: str | None, data_dir: Path | None) -> None:
    """Create a data directory and print its first passwords, without starting the server
    (`strato serve` does the same on its first start)."""
    settings = _settings(config, data_dir=data_dir)
    settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
    if has_metadata(settings):
        probe = _initialise(settings)  # seeds a directory whose first start was cut short
        if not probe:
            _fail(f"{settings.data_dir} is a Strato data directory already: `strato user "
                  "passwd --user admin --generate` sets a new admin password", EXIT_EXISTS)
        passwords = probe
    else:
        passwords = _initialise(settings)
    click.echo(f"initialised {settings.data_dir}", err=True)
    _print_welcome(settings, passwords)


def metrics_dir() -> Path:
    """A new, empty directory for the workers' metric files (`server/metrics.py`): each
    start begins at zero, as Prometheus expects of a restarted target. Named in the
    environment before prometheus-client is first imported (it reads the variable then),
    here and in every worker; removed when this process exits normally."""
    path = Path(tempfile.mkdtemp(prefix="strato-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    atexit.register(shutil.rmtree, path, ignore_errors=True)

    def removed_on_term(signum: int, _frame: object) -> None:
        # uvicorn stops on SIGTERM, then raises it again with this handler in place: the
        # process ends by the signal as before, without running atexit
        shutil.rmtree(path, ignore_errors=True)
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    signal.signal(signal.SIGTERM, removed_on_term)
    return path


def check_address(host: str, port: int) -> None:
    """Exit with one line unless `host:port` can be listened on now."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"cannot listen on {host}:{port} ({exc.strerror}): fix --host")
        return
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            where = f"{host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                _fail(f"{where} is already in use (another strato serve?): stop what holds "
                      "it or choose another --port")
            elif exc.errno == errno.EACCES:
                _fail(f"not permitted to listen on {where} (ports below 1024 need "
                      "privileges): choose another --port")
            elif exc.errno == errno.EADDRNOTAVAIL:
                _fail(f"{host} is not an address of this machine: fix --host "
                      "(0.0.0.0 listens on all of them)")
            _fail(f"cannot listen on {where} ({exc.strerror or exc}): fix --host or --port")


def _tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options (none without a certificate), once the certificate and key are
    known to load: a bad file is one line before the banner, not a traceback per worker."""
    from strato.server.tls import TlsError, context, context_factory

    if settings.tls_cert is None:
        return {}
    cert = settings.tls_cert.resolve()
    key = settings.tls_key.resolve() if settings.tls_key else None
    try:
        context(cert, key)
    except TlsError as exc:
        _fail(str(exc))
    return {"ssl_context_factory": context_factory(cert, key)}


def _initialise(settings: Settings) -> dict[str, str]:
    try:
        return asyncio.run(initialise(settings))
    except DataDirError as exc:
        _fail(str(exc))
        raise


def _prepare_storage(settings: Settings) -> None:
    from strato.domain.policies import UnknownPolicy
    from strato.server.app import prepare_storage
    from strato.stores.blob.local import BlobStoreMismatch

    try:
        adopted = asyncio.run(prepare_storage(settings))
    except (UnknownPolicy, BlobStoreMismatch) as exc:
        _fail(f"storage policies: {exc}")
        return
    except OSError as exc:
        _fail(f"cannot prepare storage under {settings.data_dir} ({exc}): check the "
              "permissions of the data and policy directories")
        return
    if adopted:
        default = next(p.name for p in settings.storage_policies if p.default)
        click.echo(f"{adopted} containers created before storage policies now belong to "
                   f"the default policy {default!r}.", err=True)


def _path_hint() -> str:
    """How to get `strato` (and the clients installed beside it) on PATH, if it is not."""
    bin_dir = Path(sys.executable).parent
    found = shutil.which("strato")
    if found and Path(found).resolve().parent == bin_dir.resolve():
        return ""
    activate = bin_dir / "activate"
    if not activate.is_file():
        return ""
    return f"""
In another shell, put strato, swift and openstack on PATH first:
  . {activate}
"""


def _print_welcome(settings: Settings, passwords: dict[str, str]) -> None:
    base = settings.base_url
    data = "" if settings.data_dir == Path("strato-data").resolve() else \
        f" --data-dir {settings.data_dir}"
    ca_hint = ("  export OS_CACERT=/path/to/ca.pem   # the CA of --tls-cert, unless the "
               "system trusts it\n") if settings.tls_cert else ""
    click.echo(f"""
First start: created domain 'Default', projects 'admin', 'demo' and 'Default'.
  admin user: admin   password: {passwords['admin']}   (roles admin, ResellerAdmin)
  demo user:  demo    password: {passwords['demo']}   (role member on project demo)
These passwords are shown only once (only their hashes are kept); a new one for a user:
  strato user passwd{data} --user demo --generate
{_path_hint()}
Use the swift CLI right away:
  export ST_AUTH={base}/auth/v1.0
  export ST_USER=demo:demo
  export ST_KEY={passwords['demo']}
{ca_hint}  swift stat

Or write a clouds.yaml for openstack/openstacksdk (Keystone at {base}/identity):
  strato cloud-config{data} --user demo --project demo --password "$ST_KEY" > clouds.yaml
  export OS_CLIENT_CONFIG_FILE=$PWD/clouds.yaml OS_CLOUD=strato
  openstack container list; openstack image list   # objects at /v1, images at /image
""", nl=True)
    sys.stdout.flush()
