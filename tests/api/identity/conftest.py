"""Identity fixtures: a Keystone user of our own on the session server, and clouds.yaml files."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import Server


@dataclass(frozen=True)
class KeystoneUser:
    name: str
    password: str
    project: str
    project_id: str


def make_user(server: Server, role: str = "member", project: str | None = None
              ) -> KeystoneUser:
    suffix = uuid.uuid4().hex[:8]
    name, password = f"ks-{suffix}", f"pw-{suffix}-secret"
    project = project or f"proj-{suffix}"
    server.add_user(project, name, password, role=role)
    rows = json.loads(server.cli("project", "list", "--json").stdout)
    project_id = next(r["id"] for r in rows if r["name"] == project)
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
