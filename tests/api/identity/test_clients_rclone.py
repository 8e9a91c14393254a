"""rclone (the Debian package) with Keystone v3: sync a tree up and back, check it clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.api.identity.conftest import KeystoneUser
from tests.harness import Server

RCLONE = shutil.which("rclone")


def test_rclone_sync_and_check_v3(server: Server, ks_user: KeystoneUser, tmp_path: Path) -> None:
    if RCLONE is None:
        pytest.skip("rclone is not installed (scripts/test installs the Debian package)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_", "RCLONE_"))}
    env.update(RCLONE_SWIFT_AUTH=f"{server.url}/identity/v3", RCLONE_SWIFT_USER=ks_user.name,
               RCLONE_SWIFT_KEY=ks_user.password, RCLONE_SWIFT_TENANT=ks_user.project,
               RCLONE_SWIFT_DOMAIN="Default", RCLONE_SWIFT_TENANT_DOMAIN="Default",
               RCLONE_SWIFT_AUTH_VERSION="3")
    source = tmp_path / "src"
    for rel, size in [("top.txt", 10), ("dir/a.bin", 3000), ("dir/sub/b+c d.txt", 1),
                      ("dir/sub/empty", 0)]:
        path = source / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    remote = f":swift:rc-{uuid.uuid4().hex[:8]}"

    def rclone(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RCLONE, "--config", "/dev/null", *args], capture_output=True,
                              text=True, env=env, timeout=180)

    up = rclone("sync", str(source), remote)
    assert up.returncode == 0, up.stderr
    check = rclone("check", str(source), remote)
    assert check.returncode == 0, check.stderr
    back = tmp_path / "back"
    down = rclone("sync", remote, str(back))
    assert down.returncode == 0, down.stderr
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(back) == files(source) and files(source)
    assert rclone("purge", remote).returncode == 0
