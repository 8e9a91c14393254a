"""Identity fixtures: a Keystone user of our own on the session server, and clouds.yaml files."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import Server


@dataclass(frozen=True)
class KeystoneUser:
    name: str
    password: str
    project: str
    project_id: str


_admin_tokens: dict[str, str] = {}


def admin_token(server: Server) -> str:
    """A cached admin token per server (each login costs a slow password hash)."""
    if server.url not in _admin_tokens:
        resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "password": server.passwords["admin"]}}},
            "scope": {"project": {"name": "admin"}}}})
        resp.raise_for_status()
        _admin_tokens[server.url] = resp.headers["X-Subject-Token"]
    return _admin_tokens[server.url]


def make_user(server: Server, role: str = "member", project: str | None = None
              ) -> KeystoneUser:
    """A new user with `role` on `project` (created unless it exists), made through the
    Keystone admin API."""
    suffix = uuid.uuid4().hex[:8]
    name, password = f"ks-{suffix}", f"pw-{suffix}-secret"
    project = project or f"proj-{suffix}"
    api = httpx.Client(base_url=f"{server.url}/identity/v3", timeout=60,
                       headers={"X-Auth-Token": admin_token(server)})
    with api:
        found = api.get("/projects", params={"name": project}).json()["projects"]
        if found:
            project_id = found[0]["id"]
        else:
            created = api.post("/projects", json={"project": {"name": project}})
            assert created.status_code == 201, created.text
            project_id = created.json()["project"]["id"]
        user = api.post("/users", json={"user": {"name": name, "password": password,
                                                 "default_project_id": project_id}})
        assert user.status_code == 201, user.text
        role_id = api.get("/roles", params={"name": role}).json()["roles"][0]["id"]
        grant = api.put(f"/projects/{project_id}/users/{user.json()['user']['id']}/roles/"
                        f"{role_id}")
        assert grant.status_code == 204
    return KeystoneUser(name, password, project, project_id)


@pytest.fixture(scope="session")
def ks_user(server: Server) -> KeystoneUser:
    """A member (account owner) of its own project."""
    return make_user(server)


def write_clouds(server: Server, user: KeystoneUser, directory: Path, *extra: str
                 ) -> Path:
    """`strato cloud-config` output as a clouds.yaml in `directory`."""
    result = server.cli("cloud-config", "--user", user.name, "--project", user.project,
                        "--password", user.password, "--url", server.url, *extra)
    path = directory / "clouds.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(result.stdout)
    return path
