"""openstacksdk 4.22 against the image service: the three ways `create_image` gets data in
(PUT /file, interoperable import, the legacy tasks API through Swift), web-download, and the
exceptions a user of the SDK sees."""

from __future__ import annotations

import uuid
from pathlib import Path

import openstack
import pytest
from openstack import exceptions

from tests.api.image.conftest import CloudUser, RawImage, WebImage, sha512_of


def _check_round_trip(conn: openstack.connection.Connection, image: openstack.image.v2.image.Image,
                      raw: RawImage, out: Path) -> None:
    """Active, hashes right, and the data comes back byte for byte (verified by the SDK too:
    download_image checks os_hash_value)."""
    assert image.status == "active"
    assert image.checksum == raw.md5
    assert image.hash_algo == "sha512"
    assert image.hash_value == raw.sha512
    assert image.size == len(raw.data)
    assert image.disk_format == "raw"
    assert image.container_format == "bare"
    conn.image.download_image(image, output=str(out))
    assert sha512_of(out) == raw.sha512 == image.hash_value


def test_create_image_put(conn: openstack.connection.Connection, owner: CloudUser,
                          raw_image: RawImage, tmp_path: Path) -> None:
    """The default path: POST /v2/images, PUT /file, poll until active."""
    name = f"sdk-put-{uuid.uuid4().hex[:8]}"
    image = conn.create_image(name, filename=str(raw_image.path), disk_format="raw",
                              container_format="bare", wait=True, timeout=60)
    _check_round_trip(conn, image, raw_image, tmp_path / "back.raw")
    fetched = conn.image.get_image(image.id)
    assert fetched.name == name
    assert fetched.owner == owner.user.project_id
    assert fetched.visibility == "shared"
    # the SDK's own marker properties come back as it stored them
    assert fetched.properties["owner_specified.openstack.object"] == f"images/{name}"
    assert conn.image.find_image(name).id == image.id
    conn.image.delete_image(image)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(image.id)


def test_create_image_validate_checksum(conn: openstack.connection.Connection,
                                        raw_image: RawImage, tmp_path: Path) -> None:
    """validate_checksum=True: the SDK stamps md5/sha256 and compares them after upload."""
    name = f"sdk-sum-{uuid.uuid4().hex[:8]}"
    image = conn.create_image(name, filename=str(raw_image.path), disk_format="raw",
                              container_format="bare", wait=True, timeout=60,
                              validate_checksum=True)
    _check_round_trip(conn, image, raw_image, tmp_path / "back.raw")
    assert conn.image.get_image(image.id).properties[
        "owner_specified.openstack.md5"] == raw_image.md5
    conn.image.delete_image(image)


def test_create_image_use_import(conn: openstack.connection.Connection, raw_image: RawImage,
                                 tmp_path: Path) -> None:
    """use_import=True: PUT /stage then POST /import (glance-direct). The SDK stops waiting
    at `importing`, so the image must be active when create_image returns."""
    name = f"sdk-import-{uuid.uuid4().hex[:8]}"
    image = conn.create_image(name, filename=str(raw_image.path), disk_format="raw",
                              container_format="bare", wait=True, timeout=60,
                              use_import=True)
    image = conn.image.get_image(image.id)
    _check_round_trip(conn, image, raw_image, tmp_path / "back.raw")
    assert not any(k.startswith("os_glance_import") for k in image.properties)
    assert image.properties["stores"] == "Policy-0"
    # the import ran as a task of the image's own (Glance 2.12: GET /images/{id}/tasks)
    mine = [conn.image.get_task(t) for t in conn.image.tasks()]
    assert [(t.type, t.status) for t in mine if (t.result or {}).get("image_id") == image.id
            ] == [("api_image_import", "success")]
    conn.image.delete_image(image)


def test_create_image_tasks_api(owner: CloudUser, raw_image: RawImage, tmp_path: Path) -> None:
    """image_api_use_tasks: true in clouds.yaml: upload to Swift (images/<name>), POST
    /v2/tasks with import_from "images/<name>", poll the task, PATCH the properties, delete
    the object."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(owner.clouds.read_text() + "    image_api_use_tasks: true\n")
    home = CloudUser(owner.server, owner.user, tmp_path)
    conn = home.connect()
    assert conn.image_api_use_tasks
    name = f"sdk-task-{uuid.uuid4().hex[:8]}"
    try:
        image = conn.create_image(name, filename=str(raw_image.path), disk_format="raw",
                                  container_format="bare", wait=True, timeout=60)
        image = conn.image.get_image(image.id)
        _check_round_trip(conn, image, raw_image, tmp_path / "back.raw")
        assert image.name == name
        assert image.owner == owner.user.project_id
        # the properties the SDK PATCHed after the task
        assert image.properties["owner_specified.openstack.object"] == f"images/{name}"
        # the staging object is gone, and the task says which image it made
        assert name not in [o.name for o in conn.object_store.objects("images")]
        done = [t for t in (conn.image.get_task(t) for t in conn.image.tasks())
                if t.type == "import" and (t.result or {}).get("image_id") == image.id]
        assert len(done) == 1 and done[0].status == "success"
        assert done[0].input["import_from"] == f"images/{name}"
        assert done[0].expires_at
        conn.image.delete_image(image)
    finally:
        conn.close()


# ---- web-download -----------------------------------------------------------------------------

def test_web_download_import(importer: CloudUser, web_image: WebImage, tmp_path: Path) -> None:
    """import_image(method="web-download") on a server whose allow-list has the mirror."""
    conn = importer.connect()
    try:
        image = conn.image.create_image(name=f"web-{uuid.uuid4().hex[:8]}",
                                        disk_format="raw", container_format="bare")
        assert image.status == "queued"
        assert "web-download" in image.image_import_methods
        response = conn.image.import_image(image, method="web-download", uri=web_image.url)
        assert response.status_code == 202, response.text
        image = conn.image.wait_for_status(image, "active", failures=["killed"], wait=60)
        _check_round_trip(conn, image, web_image.raw, tmp_path / "back.raw")
        assert not image.properties.get("os_glance_failed_import")
        conn.image.delete_image(image)
    finally:
        conn.close()


def test_web_download_refused_without_allow_list(conn: openstack.connection.Connection,
                                                 web_image: WebImage) -> None:
    """The session server has no allow-list: a loopback URI is refused at once, 400 with a
    message naming the reason, and the image stays queued (nothing was fetched)."""
    uri = web_image.url
    image = conn.image.create_image(name=f"web-no-{uuid.uuid4().hex[:8]}",
                                    disk_format="raw", container_format="bare")
    # Client quirk: Proxy.import_image returns the raw response and never raises; the SDK
    # itself calls raise_from_response after its own uploads, so a user does the same here.
    response = conn.image.import_image(image, method="web-download", uri=uri)
    assert response.status_code == 400
    with pytest.raises(exceptions.BadRequestException) as caught:
        exceptions.raise_from_response(response)
    message = response.json()["error"]["message"]
    assert "refused" in message.lower()
    assert message in str(caught.value)
    assert conn.image.get_image(image.id).status == "queued"
    conn.image.delete_image(image)


# ---- errors as the SDK shows them -------------------------------------------------------------

def test_missing_image_not_found(conn: openstack.connection.Connection) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(exceptions.NotFoundException) as caught:
        conn.image.get_image(missing)
    assert caught.value.status_code == 404
    assert f"No image found with ID {missing}" in str(caught.value)
    assert conn.image.find_image(f"no-such-{missing}") is None
    assert conn.get_image(missing) is None
    with pytest.raises(exceptions.NotFoundException):
        conn.image.delete_image(missing, ignore_missing=False)


def test_upload_to_active_image_conflicts(conn: openstack.connection.Connection,
                                          raw_image: RawImage) -> None:
    image = conn.create_image(f"sdk-409-{uuid.uuid4().hex[:8]}",
                              filename=str(raw_image.path), disk_format="raw",
                              container_format="bare", wait=True, timeout=60)
    assert image.status == "active"
    # Image.upload returns the response: the SDK's own upload path then calls
    # raise_from_response, as done here.
    response = image.upload(conn.image, data=b"more data")
    assert response.status_code == 409
    with pytest.raises(exceptions.ConflictException) as caught:
        exceptions.raise_from_response(response)
    assert "active" in str(caught.value)
    # staging into an active image is refused by the SDK before any request
    with pytest.raises(exceptions.SDKException, match="queued"):
        conn.image.stage_image(image, data=b"more data")
    # the data is untouched
    after = conn.image.get_image(image.id)
    assert (after.status, after.checksum, after.size) == ("active", raw_image.md5,
                                                          len(raw_image.data))
    # members: a second add of the same member is a conflict, raised by the proxy
    other = str(uuid.uuid4().hex)
    conn.image.add_member(image, member_id=other)
    with pytest.raises(exceptions.ConflictException):
        conn.image.add_member(image, member_id=other)
    conn.image.delete_image(image)


def test_foreign_image_forbidden(conn: openstack.connection.Connection, consumer: CloudUser,
                                 raw_image: RawImage) -> None:
    """A project that sees a shared image may not change it (403); one that is not a member
    does not see it at all (404, as in Glance: ids do not leak)."""
    image = conn.create_image(f"sdk-403-{uuid.uuid4().hex[:8]}",
                              filename=str(raw_image.path), disk_format="raw",
                              container_format="bare", wait=True, timeout=60)
    other = consumer.connect()
    try:
        with pytest.raises(exceptions.NotFoundException):
            other.image.get_image(image.id)
        conn.image.add_member(image, member_id=consumer.user.project_id)
        seen = other.image.get_image(image.id)
        assert seen.checksum == raw_image.md5
        with pytest.raises(exceptions.ForbiddenException) as caught:
            other.image.update_image(seen, name="stolen")
        assert "not permitted" in str(caught.value)
        with pytest.raises(exceptions.ForbiddenException):
            other.image.delete_image(seen)
        assert conn.image.get_image(image.id).name == image.name
    finally:
        other.close()
    conn.image.delete_image(image)
