"""OpenStack Keystone on loopback, for the login comparison (`bench/auth.py`).

Keystone 30.0.0 from PyPI in its own venv (created once, then reused), SQLite database,
Fernet tokens, passwords hashed with bcrypt at cost 12 (Keystone's default), served by
gunicorn's sync workers (one per core, as Strato runs) through a one-line shim: Keystone's
WSGI entry point parses `sys.argv` with oslo.config, which refuses gunicorn's own arguments.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.suite import log
from tests.harness import free_port

KEYSTONE_VERSION = "30.0.0"
GUNICORN_VERSION = "27.0.1"
ADMIN_PASSWORD = "bench-admin-password"
SHIM = "import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa\n"


def ensure_venv(venv: Path) -> Path:
    """A venv with keystone==30.0.0 and gunicorn (created once, then reused)."""
    bindir = venv / "bin"
    marker = venv / f".keystone-{KEYSTONE_VERSION}"
    if not marker.exists():
        log(f"installing keystone=={KEYSTONE_VERSION} into {venv} (a few minutes, once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        with open(venv / "install.log", "wb") as out:
            subprocess.run([str(bindir / "pip"), "install", "-q",
                            f"keystone=={KEYSTONE_VERSION}", f"gunicorn=={GUNICORN_VERSION}"],
                           check=True, timeout=1800, stdout=out, stderr=subprocess.STDOUT)
        marker.touch()
    return bindir


def _conf(root: Path) -> str:
    return f"""[DEFAULT]
log_file = {root}/keystone.log
[database]
connection = sqlite:///{root}/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = {root}/fernet
[fernet_receipts]
key_repository = {root}/fernet
[credential]
key_repository = {root}/credential
[identity]
password_hash_algorithm = bcrypt
password_hash_rounds = 12
"""


@dataclass
class Keystone:
    bindir: Path
    root: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The identity root, where Strato's is `<base>/identity`."""
        return f"http://127.0.0.1:{self.port}"

    def _manage(self, *args: str) -> None:
        with open(self.root / "manage.log", "ab") as out:
            subprocess.run([str(self.bindir / "keystone-manage"), "--config-file",
                            str(self.root / "keystone.conf"), *args], check=True, timeout=600,
                           stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        for sub in ("fernet", "credential"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "keystone.conf").write_text(_conf(self.root))
        (self.root / "ks_shim.py").write_text(SHIM)
        self._manage("db_sync")
        for setup in ("fernet_setup", "credential_setup"):
            self._manage(setup, "--keystone-user", "root", "--keystone-group", "root")
        self._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-admin-url", f"{self.url}/v3/",
                     "--bootstrap-public-url", f"{self.url}/v3/",
                     "--bootstrap-region-id", "RegionOne")
        out = open(self.root / "gunicorn.log", "ab")  # noqa: SIM115 - the child's
        self.proc = subprocess.Popen(
            [str(self.bindir / "gunicorn"), "-w", str(self.workers), "-b",
             f"127.0.0.1:{self.port}", "--timeout", "120", "--pythonpath", str(self.root),
             "ks_shim:application"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(self.root),
                 "OS_KEYSTONE_CONFIG_FILES": "keystone.conf"},
            start_new_session=True)
        out.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("keystone exited: "
                                   + (self.root / "gunicorn.log").read_text()[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v3", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError("keystone did not start")

    def roots(self) -> list[int]:
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self) -> None:
        if self.proc is not None:
            from bench.swift_cluster import stop_proc

            stop_proc(self.proc)
            self.proc = None
