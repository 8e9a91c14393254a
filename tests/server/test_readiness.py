"""/ready fails with a reason, and recovers, when the conditions are made for real: a
policy's directory or the metadata database made unwritable (chmod, with the server run as
root without the capability that ignores file modes, as a dedicated user would be), and a
policy's filesystem (a small tmpfs) filled past `ready_disk_full_percent`. /healthcheck
stays 200 throughout: it says the process answers, not that it can write."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.harness import Server
from tests.tmpfs import small_tmpfs

# root that honours file modes, as the `strato` user of the systemd unit would
NO_DAC_OVERRIDE = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")
TMPFS_BYTES = 4 << 20


@pytest.fixture(scope="module")
def tiny_fs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 4 MiB tmpfs for one policy, unmounted afterwards."""
    with small_tmpfs(tmp_path_factory.mktemp("tinyfs"), TMPFS_BYTES) as mount:
        yield mount


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, tiny_fs: Path) -> Iterator[Server]:
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to run the server without "
                    "CAP_DAC_OVERRIDE")
    base = tmp_path_factory.mktemp("ready")
    policies = [{"name": "gold", "default": True},
                {"name": "cold", "directory": str(base / "cold")},
                {"name": "tiny", "directory": str(tiny_fs / "blobs")}]
    server = Server(base / "data", command_prefix=NO_DAC_OVERRIDE,
                    extra_args=("--storage-policies", json.dumps(policies),
                                "--ready-disk-full-percent", "90"))
    server.start()
    server.cold = base / "cold"  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


def ready(srv: Server) -> httpx.Response:
    resp = httpx.get(f"{srv.url}/ready", timeout=30)
    assert httpx.get(f"{srv.url}/healthcheck").status_code == 200
    return resp


def test_ready_when_everything_is_writable(srv: Server) -> None:
    resp = ready(srv)
    assert (resp.status_code, resp.text) == (200, "OK\n")
    assert httpx.head(f"{srv.url}/ready").status_code == 200


def test_an_unwritable_policy_directory_is_named(srv: Server) -> None:
    cold: Path = srv.cold  # type: ignore[attr-defined]
    modes = {path: path.stat().st_mode for path in (cold, cold / "tmp", cold / "objects")}
    for path in modes:
        path.chmod(0o555)  # as a restore or a mount with the wrong owner leaves it
    try:
        resp = ready(srv)
        assert resp.status_code == 503
        assert resp.text == "policy cold: directory cold is not writable by this process\n"
        assert str(cold) not in resp.text  # no paths for anonymous callers
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert ready(srv).status_code == 200


def test_an_unwritable_metadata_database_is_named(srv: Server) -> None:
    if pg.database_of(srv.data_dir) is not None:
        read_only_postgresql_database(srv)
        return
    db = srv.data_dir / "metadata.db"
    mode = db.stat().st_mode
    db.chmod(0o444)
    try:
        resp = ready(srv)
        assert resp.status_code == 503
        assert resp.text == "metadata store: file metadata.db is not writable by this process\n"
    finally:
        db.chmod(mode)
    assert ready(srv).status_code == 200


def read_only_postgresql_database(srv: Server) -> None:
    """PostgreSQL's way to make a database unwritable: read-only transactions by default
    (its sessions reconnect to take the setting), as an operator does for maintenance;
    then a session holding the table a write must lock."""
    url = pg.database_of(srv.data_dir)
    assert url is not None
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    kick = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    pg.execute(admin, f"ALTER DATABASE {name} SET default_transaction_read_only = on; {kick}")
    try:
        deadline = time.monotonic() + 10  # the first check may meet a terminated connection
        while "read-only" not in (resp := ready(srv)).text and time.monotonic() < deadline:
            time.sleep(0.2)
        assert resp.status_code == 503
        assert resp.text == ("metadata store: PostgreSQL cannot take a write: cannot "
                             "execute UPDATE in a read-only transaction\n")
    finally:
        pg.execute(admin, f"ALTER DATABASE {name} RESET default_transaction_read_only; "
                          f"{kick}")
    deadline = time.monotonic() + 10
    while ready(srv).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    with pg.holding(url, "LOCK TABLE schema_version IN EXCLUSIVE MODE"):
        resp = ready(srv)
        assert resp.status_code == 503
        assert resp.text == "metadata store: PostgreSQL gave no write lock within 5 s\n"
    assert ready(srv).status_code == 200


def test_a_nearly_full_filesystem_is_named(srv: Server, tiny_fs: Path) -> None:
    filler = tiny_fs / "filler"
    with open(filler, "wb") as f:  # 95% of the 4 MiB: past the 90% the server was given
        f.write(b"\0" * (TMPFS_BYTES * 95 // 100))
    try:
        resp = ready(srv)
        assert resp.status_code == 503
        lines = resp.text.splitlines()
        assert len(lines) == 1 and lines[0].startswith("policy tiny: filesystem 9")
        assert lines[0].endswith("% full (ready_disk_full_percent is 90)")
    finally:
        filler.unlink()
    deadline = time.monotonic() + 5
    while ready(srv).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
