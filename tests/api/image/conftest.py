"""Image client fixtures: Keystone users of their own, a raw image on disk, and the three
real clients (openstacksdk, the `glance` CLI, the `openstack` CLI) pointed at the server
exactly as a user would point them, from `strato cloud-config` output."""

from __future__ import annotations

import hashlib
import http.server
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import openstack
import pytest
from openstack.config import loader

from tests.api.identity.conftest import KeystoneUser, make_user, write_clouds
from tests.api.image.support import Glance, admin, member
from tests.harness import Server

BIN = Path(sys.executable).parent
GLANCE = str(BIN / "glance")
OPENSTACK = str(BIN / "openstack")
CLI_TIMEOUT = 120


@dataclass(frozen=True)
class RawImage:
    path: Path
    data: bytes

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data).hexdigest()

    @property
    def sha512(self) -> str:
        return hashlib.sha512(self.data).hexdigest()


def make_raw_image(path: Path, size: int = 3 << 20) -> RawImage:
    """Random bytes as a raw disk image (no format header anywhere, so the inspector says raw)."""
    data = os.urandom(size)
    path.write_bytes(data)
    return RawImage(path, data)


def sha512_of(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class CloudUser:
    """A Keystone user with its clouds.yaml and its `OS_*` environment."""

    server: Server
    user: KeystoneUser
    home: Path

    @property
    def clouds(self) -> Path:
        return self.home / "clouds.yaml"

    def connect(self, **kwargs: Any) -> openstack.connection.Connection:
        """openstacksdk from the clouds.yaml only (no environment, no ~/.config)."""
        config = loader.OpenStackConfig(config_files=[str(self.clouds)],
                                        secure_files=[str(self.home / "secure.yaml")],
                                        load_envvars=False)
        return openstack.connection.Connection(config=config.get_one(cloud="strato",
                                                                     **kwargs))

    @cached_property
    def _env(self) -> dict[str, str]:
        """What a shell user has after `eval $(strato cloud-config --env ...)`, plus a HOME
        of this user's own (glanceclient caches the schemas under ~/.glanceclient), and no
        PYTHONPATH: the clients run as installed, not against the worktree."""
        exports = self.server.cli("cloud-config", "--user", self.user.name, "--project",
                                  self.user.project, "--password", self.user.password,
                                  "--url", self.server.url, "--env").stdout
        env = {k: v for k, v in os.environ.items()
               if k != "PYTHONPATH" and not k.startswith(("OS_", "ST_"))}
        for line in exports.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = shlex.split(value)[0]
        env["HOME"] = str(self.home)
        return env

    def env(self) -> dict[str, str]:
        return dict(self._env)


def cloud_user(server: Server, home: Path, project: str | None = None) -> CloudUser:
    user = make_user(server, project=project)
    write_clouds(server, user, home)
    return CloudUser(server, user, home)


@pytest.fixture(scope="session")
def owner(server: Server, tmp_path_factory: pytest.TempPathFactory) -> CloudUser:
    """A member (not an administrator) of its own project: the usual image owner."""
    return cloud_user(server, tmp_path_factory.mktemp("owner-home"))


@pytest.fixture(scope="session")
def consumer(server: Server, tmp_path_factory: pytest.TempPathFactory) -> CloudUser:
    """A member of another project, to share images with."""
    return cloud_user(server, tmp_path_factory.mktemp("consumer-home"))


@pytest.fixture(scope="session")
def raw_image(tmp_path_factory: pytest.TempPathFactory) -> RawImage:
    return make_raw_image(tmp_path_factory.mktemp("images") / "disk.raw")


@pytest.fixture(scope="session")
def conn(owner: CloudUser) -> Iterator[openstack.connection.Connection]:
    connection = owner.connect()
    yield connection
    connection.close()


class _Files(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class WebImage:
    url: str
    raw: RawImage


@pytest.fixture(scope="session")
def web_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebImage]:
    """A raw image served over plain HTTP on a loopback port by this test process: the
    local mirror web-download imports from."""
    raw = make_raw_image(tmp_path_factory.mktemp("web") / "web.raw", 2 << 20)
    handler = type("Files", (_Files,), {"files": {"/images/web.raw": raw.data}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebImage(f"http://127.0.0.1:{httpd.server_address[1]}/images/web.raw", raw)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def import_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that may fetch from loopback on any port (what an operator sets to import
    from a local mirror); the session server keeps the defaults (public hosts, 80/443)."""
    srv = Server(tmp_path_factory.mktemp("import") / "data",
                 extra_args=("--image-import-allowed-hosts", "127.0.0.1",
                             "--image-import-allowed-ports", "")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def importer(import_server: Server, tmp_path_factory: pytest.TempPathFactory) -> CloudUser:
    """A member of its own project on the import server."""
    return cloud_user(import_server, tmp_path_factory.mktemp("importer-home"))


@dataclass
class Cli:
    """A command-line client run as a user runs it: a subprocess with the user's env."""

    program: str
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Stdin is /dev/null: not a TTY, so glanceclient reads image data from it when no
        --file is given (an empty upload), as it would in a script."""
        result = subprocess.run([self.program, *args], capture_output=True, text=True,
                                env=self.env, cwd=self.cwd, timeout=CLI_TIMEOUT,
                                stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, (
                f"{Path(self.program).name} {' '.join(args)} -> {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def __call__(self, *args: str) -> str:
        return self.run(*args).stdout

    def in_tty(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run under `script`, with a pseudo-terminal as stdin (glanceclient's
        image-create-via-import refuses --file when stdin is not a TTY: a documented client
        quirk, client-contracts.md section 8)."""
        command = shlex.join([self.program, *args])
        return subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                              text=True, env=self.env, cwd=self.cwd, timeout=CLI_TIMEOUT,
                              stdin=subprocess.DEVNULL)


def glance_cli(user: CloudUser, cwd: Path) -> Cli:
    """No OS_IMAGE_API_VERSION, as `strato cloud-config --env` prints none: glanceclient
    then discovers v2 through GET /image/versions (which must answer 200)."""
    return Cli(GLANCE, user.env(), cwd)


def openstack_cli(user: CloudUser, cwd: Path) -> Cli:
    env = {k: v for k, v in user.env().items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(user.clouds), OS_CLOUD="strato")
    return Cli(OPENSTACK, env, cwd)


def table(output: str) -> dict[str, str]:
    """A glanceclient `Property | Value` table as a dict (wrapped values joined)."""
    rows: dict[str, str] = {}
    last = None
    for line in output.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells == ["Property", "Value"]:
            continue
        key, value = cells
        if key:
            rows[key] = value
            last = key
        elif last is not None:
            rows[last] += value
    return rows


def column(output: str, index: int = 0) -> list[str]:
    """One column of a glanceclient listing table (header dropped)."""
    values = []
    for line in output.splitlines():
        if line.startswith("|"):
            values.append([c.strip() for c in line.strip().strip("|").split("|")][index])
    return values[1:]


def poll(check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.25,
         what: str = "condition") -> Any:
    """Call `check` until it returns something truthy, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# Callers of the image API on a module's own server (the `server` fixture a module defines
# with `support.running`, whose users are alice of alpha, bob of beta, carol of gamma and
# dave of delta).
def _glance(server: Server, project: str | None = None, user: str | None = None
            ) -> Iterator[Glance]:
    g = admin(server) if user is None else member(server, str(project), user)
    yield g
    g.close()


@pytest.fixture(scope="module")
def adm(server: Server) -> Iterator[Glance]:
    yield from _glance(server)


@pytest.fixture(scope="module")
def alice(server: Server) -> Iterator[Glance]:
    yield from _glance(server, "alpha", "alice")


@pytest.fixture(scope="module")
def bob(server: Server) -> Iterator[Glance]:
    yield from _glance(server, "beta", "bob")


@pytest.fixture(scope="module")
def carol(server: Server) -> Iterator[Glance]:
    yield from _glance(server, "gamma", "carol")


@pytest.fixture(scope="module")
def dave(server: Server) -> Iterator[Glance]:
    yield from _glance(server, "delta", "dave")
