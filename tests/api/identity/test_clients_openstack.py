"""openstacksdk and the `openstack` CLI from a `strato cloud-config` clouds.yaml, unchanged.

Uploads pass `data=`: with a filename, openstacksdk first reads `/info` for the SLO segment
size, and that section belongs to the SLO feature, not to identity.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import openstack
import pytest

from tests.api.identity.conftest import KeystoneUser, write_clouds
from tests.harness import Server

OPENSTACK_CLI = str(Path(sys.executable).parent / "openstack")


@pytest.mark.parametrize(("auth_path", "domains"), [
    ("/identity", True), ("/identity", False), ("/identity/v3", True), ("/identity/v3", False),
], ids=["versionless", "versionless-no-domains", "v3", "v3-no-domains"])
def test_openstacksdk_round_trip(server: Server, ks_user: KeystoneUser, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, auth_path: str,
                                 domains: bool) -> None:
    extra = (["--v3-url"] if auth_path.endswith("v3") else []) + (
        [] if domains else ["--no-domains"])
    clouds = write_clouds(server, ks_user, tmp_path, *extra)
    text = clouds.read_text()
    assert f"{server.url}{auth_path}\"" in text
    assert ("user_domain_name" in text) == domains
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    conn = openstack.connect(cloud="strato")
    assert conn.has_service("object-store")
    container = f"sdk-{uuid.uuid4().hex[:8]}"
    conn.object_store.create_container(name=container)
    conn.object_store.upload_object(container=container, name="hello.txt",
                                    data=b"hello from the sdk")
    assert [o.name for o in conn.object_store.objects(container)] == ["hello.txt"]
    assert container in [c.name for c in conn.object_store.containers()]
    assert conn.object_store.download_object("hello.txt", container=container) == \
        b"hello from the sdk"
    conn.object_store.delete_object("hello.txt", container=container)
    conn.object_store.delete_container(container)
    assert container not in [c.name for c in conn.object_store.containers()]


def test_openstacksdk_with_secure_yaml(server: Server, ks_user: KeystoneUser, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    secure = tmp_path / "secure.yaml"
    clouds = write_clouds(server, ks_user, tmp_path, "--secure", str(secure))
    assert ks_user.password not in clouds.read_text()
    assert ks_user.password in secure.read_text()
    assert secure.stat().st_mode & 0o077 == 0
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(secure))
    conn = openstack.connect(cloud="strato")
    assert conn.has_service("object-store")
    assert conn.object_store.get_account_metadata() is not None


def test_openstack_cli_container_and_object(server: Server, ks_user: KeystoneUser,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = write_clouds(server, ks_user, tmp_path)
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "strato"}

    def run(*args: str) -> str:
        result = subprocess.run([OPENSTACK_CLI, *args], capture_output=True, text=True,
                                env=env, cwd=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    container = f"osc-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    openstack.connect(cloud="strato").object_store.create_container(name=container)
    assert container in run("container", "list", "-f", "value")
    (tmp_path / "note.txt").write_bytes(b"saved by openstack object save")
    run("object", "create", container, "note.txt")
    run("object", "save", container, "note.txt", "--file", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"saved by openstack object save"
