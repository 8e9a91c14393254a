"""Delayed delete (glance-keystone.md A.8): DELETE leaves an active image `pending_delete`,
hidden from its owner but not from an admin, its data still on disk; the scrubber reclaims
it after `--image-scrub-time`, and then the blob file is gone.

Restore through `strato image restore` while the server runs is tested in
tests/server/test_image_cli.py; the domain side in tests/domain/images/test_status_machine.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.image.support import (
    Glance,
    error,
    image_objects,
    running,
)
from tests.harness import Server

SCRUB_TIME = 3.0
DATA = bytes(range(251)) * 1200  # ~294 KiB: a blob file of its own, not inlined


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, "--image-delayed-delete", "--image-scrub-time",
                 str(SCRUB_TIME), "--image-scrub-interval", "0.5",
                 users=(("alpha", "alice"),)) as srv:
        yield srv


def blob_files(server: Server) -> set[Path]:
    return {p for p in (server.data_dir / "objects").rglob("*") if p.is_file()}


def listed(g: Glance) -> set[str]:
    resp = g.http.get("/images", params={"limit": 1000})
    assert resp.status_code == 200
    return {i["id"] for i in resp.json()["images"]}


def admin_gone(adm: Glance, image_id: str, timeout: float) -> float:
    """Seconds until the admin's GET says 404 (the scrubber made the image `deleted`)."""
    start = time.monotonic()
    while adm.http.get(f"/images/{image_id}").status_code != 404:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"image {image_id} was not scrubbed in {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


def test_delete_is_pending_then_scrubbed_with_its_blob(adm: Glance, alice: Glance,
                                                       server: Server) -> None:
    before = blob_files(server)
    image = alice.active(DATA, name="delayed")
    iid = image["id"]
    [blob] = blob_files(server) - before
    assert blob.stat().st_size == len(DATA)
    assert alice.http.delete(f"/images/{iid}").status_code == 204
    deleted_at = time.monotonic()
    error(alice.http.get(f"/images/{iid}"), 404)
    error(alice.http.get(f"/images/{iid}/file"), 404)
    error(alice.http.delete(f"/images/{iid}"), 404)
    assert iid not in listed(alice) and iid not in listed(adm)
    seen = adm.http.get(f"/images/{iid}")
    assert seen.status_code == 200 and seen.json()["status"] == "pending_delete"
    assert blob.exists(), "the data stays until the scrubber's turn"
    assert image_objects(server, iid) == {"Policy-0": len(DATA)}
    time.sleep(max(0.0, SCRUB_TIME / 3 - (time.monotonic() - deleted_at)))
    assert adm.get(iid)["status"] == "pending_delete", "scrubbed before scrub_time"
    admin_gone(adm, iid, SCRUB_TIME + 15)
    assert time.monotonic() - deleted_at >= SCRUB_TIME - 0.5, "scrubbed before scrub_time"
    # the object's row goes first and its file right after (never a row without data): on
    # a loaded machine the image can be gone a moment before the file is
    until = time.monotonic() + 10
    while blob.exists() and time.monotonic() < until:  # weak-tests: ok (asserted below)
        time.sleep(0.05)
    assert not blob.exists(), "the scrubber must remove the blob file"
    assert image_objects(server, iid) == {}
    error(alice.http.get(f"/images/{iid}"), 404)


def test_a_pending_delete_image_is_not_deactivated_or_deleted_again(adm: Glance,
                                                                     alice: Glance) -> None:
    image = alice.active(DATA, name="pending")
    assert alice.http.delete(f"/images/{image['id']}").status_code == 204
    assert adm.get(image["id"])["status"] == "pending_delete"
    error(adm.http.post(f"/images/{image['id']}/actions/deactivate"), 409)
    error(adm.http.delete(f"/images/{image['id']}"), 404)
    # nor patched (that would also move the scrubber's clock)
    error(adm.patch(image["id"], [{"op": "add", "path": "/x", "value": "y"}]), 404)
    assert adm.get(image["id"])["status"] == "pending_delete"


def test_images_without_data_are_deleted_at_once(adm: Glance, alice: Glance,
                                                 server: Server) -> None:
    queued = alice.create(name="queued")
    staged = alice.create(name="staged")
    assert alice.stage(staged["id"], DATA).status_code == 204
    for image in (queued, staged):
        assert alice.http.delete(f"/images/{image['id']}").status_code == 204
        error(adm.http.get(f"/images/{image['id']}"), 404)
        assert image_objects(server, image["id"]) == {}


def test_protected_image_is_not_deleted(alice: Glance, adm: Glance) -> None:
    image = alice.active(DATA, name="protected", protected=True)
    error(alice.http.delete(f"/images/{image['id']}"), 403, "protected")
    assert adm.get(image["id"])["status"] == "active"
