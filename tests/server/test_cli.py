"""`strato user|project ...` on a live server's data directory, settings sources, --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from strato.server.settings import Settings
from tests.api.swift.helpers import uniq
from tests.harness import Server, free_port, strato


def auth(server: Server, user: str, key: str) -> httpx.Response:
    return httpx.get(server.url + "/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": key})


def test_user_lifecycle_while_serving(server: Server) -> None:
    project, user = uniq("p"), uniq("u")
    assert auth(server, f"{project}:{user}", "s3cret").status_code == 401
    server.cli("user", "add", "--project", project, "--user", user, "--password", "s3cret",
               "--role", "admin")
    resp = auth(server, f"{project}:{user}", "s3cret")
    assert resp.status_code == 200
    url, token = resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]
    assert httpx.put(f"{url}/box", headers={"X-Auth-Token": token}).status_code == 201

    listed = json.loads(server.cli("user", "list", "--json").stdout)
    mine = next(u for u in listed if u["name"] == user)
    assert f"{project}:admin" in mine["roles"]
    assert user in server.cli("user", "list").stdout

    dup = server.cli("user", "add", "--user", user, "--password", "x", check=False)
    assert dup.returncode == 4

    server.cli("user", "passwd", "--user", user, "--password", "n3w")
    assert auth(server, f"{project}:{user}", "s3cret").status_code == 401
    assert auth(server, f"{project}:{user}", "n3w").status_code == 200

    server.cli("user", "delete", "--user", user)
    assert httpx.head(url, headers={"X-Auth-Token": token}).status_code == 401
    assert auth(server, f"{project}:{user}", "n3w").status_code == 401
    assert user not in server.cli("user", "list").stdout
    missing = server.cli("user", "delete", "--user", user, check=False)
    assert missing.returncode == 3
    assert server.cli("user", "passwd", "--user", user, "--password", "x",
                      check=False).returncode == 3


def test_user_add_for_an_existing_user_never_ignores_an_argument(server: Server) -> None:
    """A --password the command would not apply is refused (pointing at `user passwd`);
    the user's own password with --project grants the role; what is created is said."""
    first, second, user = uniq("p"), uniq("p"), uniq("u")
    server.cli("user", "add", "--project", first, "--user", user, "--password", "old")
    other = server.cli("user", "add", "--project", second, "--user", user, "--password",
                       "new", "--role", "admin", check=False)
    assert other.returncode == 4
    assert f"strato user passwd --user {user}" in other.stderr
    assert auth(server, f"{first}:{user}", "new").status_code == 401
    assert auth(server, f"{first}:{user}", "old").status_code == 200
    assert auth(server, f"{second}:{user}", "old").status_code == 401  # nothing granted
    again = server.cli("user", "add", "--project", second, "--user", user, "--password",
                       "old", "--role", "admin")
    assert "password unchanged" in again.stderr and f"created project {second}" in again.stderr
    assert auth(server, f"{second}:{user}", "old").status_code == 200
    bare = server.cli("user", "add", "--user", user, "--password", "old", check=False)
    assert bare.returncode == 4 and "--project" in bare.stderr
    role = uniq("r")
    made = server.cli("user", "add", "--project", second, "--user", uniq("u"), "--password",
                      "pw", "--role", role)
    assert f"created role {role}" in made.stderr


def test_role_grant_and_revoke_say_what_happened(server: Server) -> None:
    project, user = uniq("p"), uniq("u")
    server.add_user(project, user, "pw")
    granted = server.cli("role", "grant", "--user", user, "--project", project, "--role",
                         "member")
    assert "already held by" in granted.stderr
    missing = server.cli("role", "revoke", "--user", user, "--project", project, "--role",
                         "reader", check=False)
    assert missing.returncode == 3 and "reader" in missing.stderr
    assert "revoked from" in server.cli("role", "revoke", "--user", user, "--project",
                                        project, "--role", "member").stderr


def test_project_lifecycle(server: Server) -> None:
    name = uniq("proj")
    project_id = server.cli("project", "add", "--project", name).stdout.strip()
    assert project_id
    rows = json.loads(server.cli("project", "list", "--json").stdout)
    row = next(r for r in rows if r["name"] == name)
    assert row["id"] == project_id and row["account"] == f"AUTH_{project_id}"
    assert f"AUTH_{project_id}" in server.cli("project", "list").stdout
    # the account named is the one storage URLs use: the first reseller prefix
    other = strato("project", "list", "--json", data_dir=server.data_dir,
                   env={"STRATO_RESELLER_PREFIXES": '["KEY_", "AUTH_"]'})
    assert next(r for r in json.loads(other.stdout) if r["id"] == project_id
                )["account"] == f"KEY_{project_id}"
    assert server.cli("project", "add", "--project", name, check=False).returncode == 4
    # a user joins it; its storage URL is the project's account
    user = uniq("u")
    server.add_user(name, user, "pw")
    url, _ = server.auth_v1(f"{name}:{user}", "pw")
    assert url.endswith(f"/v1/AUTH_{project_id}")
    server.cli("project", "delete", "--project", name)
    assert name not in server.cli("project", "list").stdout
    assert auth(server, f"{name}:{user}", "pw").status_code == 401
    assert server.cli("project", "delete", "--project", name, check=False).returncode == 3


def test_settings_from_file_env_and_flags(make_server: object, tmp_path: Path) -> None:
    config = tmp_path / "strato.toml"
    config.write_text("max_file_size = 1000\ntoken_ttl = 120\nport = 1\n")
    srv: Server = make_server(  # type: ignore[operator]
        extra_args=("--config", str(config)),
        env={"STRATO_MAX_FILE_SIZE": "2000", "STRATO_PORT": str(free_port())})
    # the flag (--port from the harness) beat both the env and the file, or it would not run
    info = httpx.get(srv.url + "/info").json()
    assert info["swift"]["max_file_size"] == 2000  # env beats file
    srv.add_user("p", "u", "pw", role="admin")
    resp = auth(srv, "p:u", "pw")
    assert 0 < int(resp.headers["X-Auth-Token-Expires"]) <= 120  # from the file


def test_config_from_strato_config_env(make_server: object, tmp_path: Path) -> None:
    config = tmp_path / "strato.toml"
    config.write_text("max_file_size = 4321\n")
    srv: Server = make_server(env={"STRATO_CONFIG": str(config)})  # type: ignore[operator]
    assert httpx.get(srv.url + "/info").json()["swift"]["max_file_size"] == 4321


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "strato.toml"
    config.write_text("no_such_setting = 1\n")
    result = subprocess.run([sys.executable, "-m", "strato", "serve", "--config", str(config),
                             "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "no_such_setting" in result.stderr


@pytest.mark.parametrize("command", [("serve",), ("user", "add"), ("project", "list")])
def test_help_documents_options(command: tuple[str, ...]) -> None:
    result = subprocess.run([sys.executable, "-m", "strato", *command, "--help"],
                            capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    if command == ("serve",):
        for name, field in Settings.model_fields.items():
            assert "--" + name.replace("_", "-") in text, name
            assert f"STRATO_{name.upper()}" in text, name
            assert field.description and " ".join(field.description.split())[:30] in text
        assert "--config" in text
    else:
        assert "--data-dir" in text
