"""Start the real server as a subprocess on a free loopback port, for integration tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests import pg

STARTUP_TIMEOUT = 60.0
RUNNING: set[Path] = set()
"""Data directories of the servers running now (their databases stay between modules)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def strato(*args: str, data_dir: Path, check: bool = True, input: str | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `strato` CLI (as `python -m strato`) against a data directory."""
    return subprocess.run(
        [sys.executable, "-m", "strato", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, check=check, input=input, timeout=120,
        env={**os.environ, **pg.metadata_env(data_dir), **(env or {})})


@dataclass
class Server:
    data_dir: Path
    port: int = field(default_factory=free_port)
    workers: int = 1
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    command_prefix: tuple[str, ...] = ()
    """Run the server through this (e.g. `setpriv` with fewer capabilities)."""
    process: subprocess.Popen[bytes] | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    cacert: Path | None = None
    """The CA that signed the server's certificate, when it serves TLS (`--tls-cert` among
    `extra_args`): the URL is then https and the readiness probe verifies against it."""
    host: str = "127.0.0.1"
    """The address in `url` (pass `--host` among `extra_args` to listen on another)."""

    @property
    def url(self) -> str:
        scheme = "https" if self.cacert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def healthy(self) -> bool:
        """The readiness probe; a server this process cannot reach (in a network namespace
        of its own) is asked from where it can be."""
        try:
            return httpx.get(f"{self.url}/healthcheck", timeout=1,
                             verify=self.verify).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should verify this server's certificate with."""
        return ssl.create_default_context(cafile=self.cacert) if self.cacert else True

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "strato", "serve",
             "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--workers", str(self.workers),
             "--expirer-interval", "0.5", *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **pg.metadata_env(self.data_dir), **self.env},
            start_new_session=True)
        RUNNING.add(self.data_dir)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            if self.healthy():
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")
        text = self.log_path.read_text(errors="replace")
        for user in ("admin", "demo"):
            match = re.search(rf"{user} user:\s+{user}\s+password: (\S+)", text)
            if match and user not in self.passwords:
                self.passwords[user] = match.group(1)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        RUNNING.discard(self.data_dir)
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs (crash tests)."""
        self.stop(signal.SIGKILL)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The CLI on this server's data directory, in the server's environment (its
        settings, as an operator's shell would have them)."""
        return strato(*args, data_dir=self.data_dir, check=check, env=self.env)

    def add_user(self, project: str, user: str, password: str, role: str = "member") -> None:
        self.cli("user", "add", "--project", project, "--user", user, "--password", password,
                 "--role", role)

    def auth_v1(self, user: str, key: str) -> tuple[str, str]:
        """(storage URL, token) through Swift v1.0 auth."""
        resp = httpx.get(f"{self.url}/auth/v1.0", verify=self.verify,
                         headers={"X-Auth-User": user, "X-Auth-Key": key})
        resp.raise_for_status()
        return resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]


@contextlib.contextmanager
def in_process_server(data_dir: Path) -> Iterator[str]:
    """Strato on `data_dir` (already seeded), served by uvicorn in a thread of this process,
    so a test can watch what happens inside it (logging, SQL); yields its origin."""
    import uvicorn

    from strato.server.app import StratoApp
    from strato.server.settings import Settings

    port = free_port()
    metadata = pg.metadata_env(data_dir).get("STRATO_METADATA", "")
    app = StratoApp(Settings(data_dir=data_dir, port=port, expirer_interval=3600.0,
                             metadata=metadata))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
