"""The `swift` CLI through Keystone v3, v2.0 and pre-authenticated, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from tests.api.identity.conftest import KeystoneUser
from tests.harness import Server

SWIFT_CLI = str(Path(sys.executable).parent / "swift")


def swift(args: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    result = subprocess.run([SWIFT_CLI, *args], capture_output=True, text=True, cwd=cwd,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def round_trip(auth: list[str], tmp_path: Path, expected_account: str) -> None:
    container = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.txt").write_bytes(b"alpha" * 100)
    assert expected_account in swift([*auth, "stat"], tmp_path)
    swift([*auth, "upload", container, "up/a.txt"], tmp_path)
    assert swift([*auth, "list", container], tmp_path).split() == ["up/a.txt"]
    (tmp_path / "down").mkdir()
    swift([*auth, "download", container, "up/a.txt", "-o", "down/a.txt"], tmp_path)
    assert (tmp_path / "down" / "a.txt").read_bytes() == b"alpha" * 100


def v3_args(server: Server, user: KeystoneUser) -> list[str]:
    return ["--auth-version", "3", "-A", f"{server.url}/identity/v3", "-U", user.name,
            "-K", user.password, "--os-project-name", user.project,
            "--os-user-domain-name", "Default", "--os-project-domain-name", "Default"]


def test_swift_cli_keystone_v3(server: Server, ks_user: KeystoneUser, tmp_path: Path) -> None:
    round_trip(v3_args(server, ks_user), tmp_path, f"AUTH_{ks_user.project_id}")


def test_swift_cli_keystone_v2(server: Server, ks_user: KeystoneUser, tmp_path: Path) -> None:
    auth = ["--auth-version", "2", "-A", f"{server.url}/identity/v2.0", "-U", ks_user.name,
            "-K", ks_user.password, "--os-tenant-name", ks_user.project]
    round_trip(auth, tmp_path, f"AUTH_{ks_user.project_id}")


def test_swift_cli_preauthenticated(server: Server, ks_user: KeystoneUser,
                                    tmp_path: Path) -> None:
    printed = swift([*v3_args(server, ks_user), "auth"], tmp_path)
    url = re.search(r"OS_STORAGE_URL=(\S+)", printed)
    token = re.search(r"OS_AUTH_TOKEN=(\S+)", printed)
    assert url and token, printed
    assert url.group(1) == f"{server.url}/v1/AUTH_{ks_user.project_id}"
    auth = ["--os-auth-token", token.group(1), "--os-storage-url", url.group(1)]
    round_trip(auth, tmp_path, f"AUTH_{ks_user.project_id}")
