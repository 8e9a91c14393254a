"""`strato cloud-config --env`, `strato role` and `strato app-credential` on a live server."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api.identity.conftest import KeystoneUser, make_user
from tests.harness import Server

SWIFT_CLI = str(Path(sys.executable).parent / "swift")


@pytest.fixture(scope="module")
def ks_user(server: Server) -> KeystoneUser:
    return make_user(server)


def test_env_exports_drive_the_swift_cli(server: Server, ks_user: KeystoneUser,
                                         tmp_path: Path) -> None:
    printed = server.cli("cloud-config", "--user", ks_user.name, "--project", ks_user.project,
                         "--password", ks_user.password, "--url", server.url, "--env").stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
    for line in printed.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    result = subprocess.run([SWIFT_CLI, "stat"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"AUTH_{ks_user.project_id}" in result.stdout


def token_status(server: Server, body: dict[str, object]) -> int:
    return httpx.post(f"{server.url}/identity/v3/auth/tokens", json=body,
                      timeout=30).status_code


def test_role_grant_revoke_and_app_credentials(server: Server) -> None:
    user = make_user(server)
    other = make_user(server)
    scope_other = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user.name, "password": user.password}}},
        "scope": {"project": {"name": other.project}}}}
    assert token_status(server, scope_other) == 401
    server.cli("role", "grant", "--user", user.name, "--project", other.project,
               "--role", "reader")
    assert token_status(server, scope_other) == 201
    server.cli("role", "revoke", "--user", user.name, "--project", other.project,
               "--role", "reader")
    assert token_status(server, scope_other) == 401
    assert "ResellerAdmin" in server.cli("role", "list").stdout

    created = server.cli("app-credential", "create", "--user", user.name, "--project",
                         user.project, "--name", "backup", "--json").stdout
    cred = json.loads(created)
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred["id"],
                                                             "secret": cred["secret"]}}}}
    assert token_status(server, body) == 201
    assert "backup" in server.cli("app-credential", "list", "--user", user.name).stdout
    server.cli("app-credential", "delete", "--id", cred["id"])
    assert token_status(server, body) == 401
    missing = server.cli("role", "grant", "--user", "nobody-here", "--project", user.project,
                         "--role", "member", check=False)
    assert missing.returncode == 3
