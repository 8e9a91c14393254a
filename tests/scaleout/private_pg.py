"""A PostgreSQL server of a test's own (initdb in a temporary directory, another port), for
tests that stop and restart the database: the machine's shared server serves other tests.

Debian's binaries (`/usr/lib/postgresql/<version>/bin`) run as the `postgres` user through
`runuser` when the test runs as root, as themselves otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.harness import free_port

BIN_ROOT = Path("/usr/lib/postgresql")


def binaries() -> Path | None:
    """The newest installed version's bin directory, or None."""
    found = sorted(BIN_ROOT.glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


class PrivatePostgres:
    def __init__(self, host: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> None:
        """`host`: the address to listen on; `prefix`: what to run the server's tools
        through (`ip netns exec NAME`, to put the server in a network namespace)."""
        bindir = binaries()
        if bindir is None:
            raise RuntimeError(f"no PostgreSQL binaries under {BIN_ROOT} (Debian's postgresql)")
        self.bin = bindir
        self.host = host
        self.prefix = prefix
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="strato-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def socket_url(self) -> str:
        """Through the Unix socket, which a process in any network namespace reaches."""
        return f"postgresql://postgres@/postgres?host={self.root}&port={self.port}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, *self._as, str(self.bin / tool), *args], check=True,
                       capture_output=True, timeout=120, cwd=self.root)

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync")
        with open(self.data / "pg_hba.conf", "a") as hba:  # initdb trusts 127.0.0.1 only
            hba.write("host all all 127.0.0.0/8 trust\n")  # nodes in network namespaces
        return self.start()

    def start(self) -> PrivatePostgres:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses={self.host}"
                   " -c max_connections=200 -c fsync=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                  "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no shutdown checkpoint, recovery from the WAL at start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
