"""Legacy versioned writes (X-Versions-Location / X-History-Location) with real clients."""

from __future__ import annotations

import uuid

import httpx
import pytest
from swiftclient import client as swift
from swiftclient.exceptions import ClientException

from tests.harness import Server


def containers(url: str, token: str, mode: str) -> tuple[str, str]:
    name = f"vw-{uuid.uuid4().hex[:8]}"
    archive = f"{name}-archive"
    swift.put_container(url, token, archive)
    swift.put_container(url, token, name, headers={mode: archive})
    return name, archive


def test_stack_mode_archives_and_restores(tester: tuple[str, str]) -> None:
    url, token = tester
    name, archive = containers(url, token, "X-Versions-Location")
    assert swift.head_container(url, token, name)["x-versions-location"] == archive
    for body in (b"one", b"two", b"three"):
        swift.put_object(url, token, name, "obj", body)
    versions = swift.get_container(url, token, archive)[1]
    assert [v["name"][:7] for v in versions] == ["003obj/", "003obj/"]
    assert swift.get_object(url, token, archive, versions[0]["name"])[1] == b"one"
    swift.delete_object(url, token, name, "obj")
    assert swift.get_object(url, token, name, "obj")[1] == b"two"
    swift.delete_object(url, token, name, "obj")
    assert swift.get_object(url, token, name, "obj")[1] == b"one"
    swift.delete_object(url, token, name, "obj")
    with pytest.raises(ClientException) as caught:
        swift.get_object(url, token, name, "obj")
    assert caught.value.http_status == 404
    assert swift.get_container(url, token, archive)[1] == []


def test_history_mode_writes_delete_markers(tester: tuple[str, str]) -> None:
    url, token = tester
    name, archive = containers(url, token, "X-History-Location")
    head = swift.head_container(url, token, name)
    assert head["x-history-location"] == archive and "x-versions-location" not in head
    swift.put_object(url, token, name, "obj", b"one")
    swift.put_object(url, token, name, "obj", b"two")
    swift.delete_object(url, token, name, "obj")
    with pytest.raises(ClientException):
        swift.head_object(url, token, name, "obj")
    versions = swift.get_container(url, token, archive)[1]
    assert [v["content_type"] for v in versions] == [
        "application/octet-stream", "application/octet-stream",
        "application/x-deleted;swift_versions_deleted=1"]
    assert swift.get_object(url, token, archive, versions[1]["name"])[1] == b"two"


def test_container_header_rules(tester: tuple[str, str]) -> None:
    url, token = tester
    name = f"vw-{uuid.uuid4().hex[:8]}"
    auth = {"X-Auth-Token": token}
    both = httpx.put(f"{url}/{name}", headers={**auth, "X-Versions-Location": "a",
                                               "X-History-Location": "b"})
    assert both.status_code == 400
    slash = httpx.put(f"{url}/{name}", headers={**auth, "X-Versions-Location": "a/b"})
    assert slash.status_code == 412
    swift.put_container(url, token, name, headers={"X-Versions-Location": "arch"})
    swift.post_container(url, token, name, headers={"X-Remove-Versions-Location": "x"})
    assert "x-versions-location" not in swift.head_container(url, token, name)
    # without an archive container an overwrite fails instead of losing the old data
    swift.put_container(url, token, name, headers={"X-Versions-Location": "missing-arch"})
    swift.put_object(url, token, name, "obj", b"one")
    resp = httpx.put(f"{url}/{name}/obj", content=b"two", headers=auth)
    assert resp.status_code == 412
    assert swift.get_object(url, token, name, "obj")[1] == b"one"


def test_info_lists_versioned_writes(server: Server) -> None:
    info = httpx.get(f"{server.url}/info").json()
    assert info["versioned_writes"]["allowed_flags"] == ["X-Versions-Location",
                                                         "X-History-Location"]
