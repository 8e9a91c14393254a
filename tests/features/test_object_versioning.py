"""Object versioning (X-Versions-Enabled) with python-swiftclient and raw HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest
from swiftclient import client as swift
from swiftclient.exceptions import ClientException

from tests.harness import Server

MARKER = "application/x-deleted;swift_versions_deleted=1"


def versions(url: str, token: str, container: str, **params: str) -> list[dict[str, object]]:
    resp = httpx.get(f"{url}/{container}", params={"versions": "", "format": "json", **params},
                     headers={"X-Auth-Token": token})
    assert resp.status_code == 200
    return resp.json()


def test_versions_markers_and_version_ids(tester: tuple[str, str]) -> None:
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    auth = {"X-Auth-Token": token}
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    assert swift.head_container(url, token, name)["x-versions-enabled"] == "True"
    ids = []
    for body in (b"one", b"two"):
        resp = httpx.put(f"{url}/{name}/obj", content=body, headers=auth)
        assert resp.status_code == 201
        ids.append(resp.headers["x-object-version-id"])
    head = swift.head_object(url, token, name, "obj")
    assert head["x-object-version-id"] == ids[1]
    listing = versions(url, token, name)
    assert [(e["version_id"], e["is_latest"]) for e in listing] == [(ids[1], True),
                                                                     (ids[0], False)]
    old = httpx.get(f"{url}/{name}/obj", params={"version-id": ids[0]}, headers=auth)
    assert old.content == b"one" and old.headers["x-object-version-id"] == ids[0]
    # DELETE leaves a marker; the data stays reachable by version id
    gone = httpx.delete(f"{url}/{name}/obj", headers=auth)
    assert gone.status_code == 204
    marker_id = gone.headers["x-object-version-id"]
    with pytest.raises(ClientException):
        swift.get_object(url, token, name, "obj")
    listing = versions(url, token, name)
    assert listing[0]["content_type"] == MARKER and listing[0]["is_latest"] is True
    assert httpx.head(f"{url}/{name}/obj", params={"version-id": marker_id},
                      headers=auth).status_code == 404
    assert httpx.get(f"{url}/{name}/obj", params={"version-id": ids[1]},
                     headers=auth).content == b"two"
    # restoring an old version by PUT ?version-id with an empty body
    assert httpx.put(f"{url}/{name}/obj", params={"version-id": ids[0]}, content=b"",
                     headers=auth).status_code == 201
    assert swift.get_object(url, token, name, "obj")[1] == b"one"
    # COPY of an old version onto the object makes a new version of it
    copied = httpx.request("COPY", f"{url}/{name}/obj", params={"version-id": ids[1]},
                           headers={**auth, "Destination": f"{name}/obj"})
    assert copied.status_code == 201
    assert copied.headers["x-object-version-id"] not in ids
    assert swift.get_object(url, token, name, "obj")[1] == b"two"


def test_version_api_errors_and_container_delete(tester: tuple[str, str]) -> None:
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    auth = {"X-Auth-Token": token}
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    resp = httpx.put(f"{url}/{name}/obj", content=b"data", headers=auth)
    vid = resp.headers["x-object-version-id"]
    assert httpx.put(f"{url}/{name}/obj", params={"version-id": "bad"}, content=b"",
                     headers=auth).status_code == 400
    assert httpx.post(f"{url}/{name}/obj", params={"version-id": "null"},
                      headers=auth).status_code == 400
    # legacy versioning and object versioning exclude each other
    assert httpx.post(f"{url}/{name}", headers={**auth, "X-Versions-Location": "x"}
                      ).status_code == 400
    # a versioned container is deleted only when no versions are left
    swift.delete_object(url, token, name, "obj")
    assert httpx.delete(f"{url}/{name}", headers=auth).status_code == 409
    swift.post_container(url, token, name, headers={"X-Versions-Enabled": "false"})
    refused = httpx.delete(f"{url}/{name}", headers=auth)
    assert refused.status_code == 409
    assert refused.text == "Delete all versions before deleting container."
    for entry in versions(url, token, name):
        assert httpx.delete(f"{url}/{name}/obj", params={"version-id": entry["version_id"]},
                            headers=auth).status_code == 204
    assert versions(url, token, name) == []
    assert vid
    swift.delete_container(url, token, name)
    # the hidden version container never shows in the account listing
    names = [c["name"] for c in swift.get_account(url, token, full_listing=True)[1]]
    assert not any(n.startswith("\x00") for n in names)


def test_info_lists_object_versioning(server: Server) -> None:
    assert "object_versioning" in httpx.get(f"{server.url}/info").json()
