"""sregistry's Swift client in its keystonev3, keystonev2 and preauth modes.

keystonev3 always scopes to a project literally named `Default` (hard-coded in sregistry),
which the first start seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.api.identity.conftest import KeystoneUser, make_user
from tests.harness import Server

SREGISTRY = str(Path(sys.executable).parent / "sregistry")


@pytest.fixture(scope="module")
def default_user(server: Server) -> KeystoneUser:
    """A member of the project named `Default`."""
    return make_user(server, project="Default")


def run_sregistry(env: dict[str, str], tmp: Path) -> None:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("OS_", "ST_", "SREGISTRY_"))}
    for name in ("home", "db", "storage"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    base.update(HOME=str(tmp / "home"), SREGISTRY_CLIENT="swift",
                SREGISTRY_DATABASE=str(tmp / "db"), SREGISTRY_STORAGE=str(tmp / "storage"),
                **env)
    image = tmp / "image.sif"
    image.write_bytes(os.urandom(4096))
    collection = f"coll{uuid.uuid4().hex[:8]}"

    def sreg(*args: str) -> str:
        result = subprocess.run([SREGISTRY, *args], capture_output=True, text=True, env=base,
                                cwd=tmp, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    sreg("push", "--name", f"{collection}/img:v1", str(image))
    assert f"{collection}/img:v1.sif" in sreg("search")
    pulled = sreg("pull", f"{collection}/img:v1")
    assert "Success" in pulled, pulled
    files = list((tmp / "storage" / collection / "img").glob("v1@*.sif"))
    assert len(files) == 1 and files[0].read_bytes() == image.read_bytes()


def test_sregistry_keystonev3(server: Server, default_user: KeystoneUser,
                              tmp_path: Path) -> None:
    run_sregistry({"SREGISTRY_SWIFT_AUTHTYPE": "keystonev3",
                   "SREGISTRY_SWIFT_USER": default_user.name,
                   "SREGISTRY_SWIFT_TOKEN": default_user.password,
                   "SREGISTRY_SWIFT_URL": f"{server.url}/identity"}, tmp_path)


def test_sregistry_keystonev2(server: Server, ks_user: KeystoneUser, tmp_path: Path) -> None:
    run_sregistry({"SREGISTRY_SWIFT_AUTHTYPE": "keystonev2",
                   "SREGISTRY_SWIFT_USER": ks_user.name,
                   "SREGISTRY_SWIFT_TOKEN": ks_user.password,
                   "SREGISTRY_SWIFT_TENANT": ks_user.project,
                   "SREGISTRY_SWIFT_REGION": "RegionOne",
                   "SREGISTRY_SWIFT_URL": f"{server.url}/identity"}, tmp_path)


def test_sregistry_preauth(server: Server, ks_user: KeystoneUser, tmp_path: Path) -> None:
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": ks_user.name, "password": ks_user.password}}},
        "scope": {"project": {"id": ks_user.project_id}}}})
    assert resp.status_code == 201
    run_sregistry({"SREGISTRY_SWIFT_AUTHTYPE": "preauth",
                   "SREGISTRY_SWIFT_OS_AUTH_TOKEN": resp.headers["X-Subject-Token"],
                   "SREGISTRY_SWIFT_OS_STORAGE_URL":
                       f"{server.url}/v1/AUTH_{ks_user.project_id}"}, tmp_path)
