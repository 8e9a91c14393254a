"""Per-project image quotas (Glance's unified limits: image_count_total, image_size_total,
image_stage_total, image_count_uploading): 413 on create, upload and stage, and nothing
left half-stored. Each quota is tried in a project of its own; all are on at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.image.support import (
    Glance,
    RawPut,
    blob_bytes,
    error,
    image_objects,
    running,
)
from tests.harness import Server

COUNT = 3
UPLOADING = 2
BYTES = 300_000
STAGE_BYTES = 150_000
KB = 1000


def data(n: int, fill: int = 0x41) -> bytes:
    return bytes([fill]) * n


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, "--image-quota-count", str(COUNT), "--image-quota-bytes",
                 str(BYTES), "--image-quota-stage-bytes", str(STAGE_BYTES),
                 "--image-quota-uploading", str(UPLOADING),
                 users=(("alpha", "alice"), ("beta", "bob"), ("gamma", "carol"),
                        ("delta", "dave"))) as srv:
        yield srv


def untouched(server: Server, before: tuple[int, int], *image_ids: str) -> None:
    """No blob, no object row, no temporary file was left by a refused write."""
    assert blob_bytes(server.data_dir) == before
    for image_id in image_ids:
        assert image_objects(server, image_id) == {}
    assert list((server.data_dir / "tmp").glob("*.tmp")) == []


def test_image_count(alice: Glance, server: Server) -> None:
    first = alice.create(name="one")
    alice.create(name="two")
    alice.active(data(KB), name="three")
    error(alice.http.post("/images", json={"name": "four"}), 413, str(COUNT))
    names = {i["name"] for i in alice.http.get("/images").json()["images"]}
    assert names == {"one", "two", "three"}
    assert alice.http.delete(f"/images/{first['id']}").status_code == 204
    assert alice.create(name="four")["name"] == "four"
    error(alice.http.post("/images", json={"name": "five"}), 413)


def test_image_bytes_on_upload(bob: Glance, server: Server) -> None:
    first = bob.create(name="big")
    assert bob.upload(first["id"], data(200 * KB)).status_code == 204
    second = bob.create(name="too-big")
    before = blob_bytes(server.data_dir)
    error(bob.upload(second["id"], data(200 * KB, 0x42)), 413, "quota")
    after = bob.get(second["id"])
    assert after["status"] == "queued" and after["size"] is None
    untouched(server, before, second["id"])
    # exactly what is left fits
    assert bob.upload(second["id"], data(BYTES - 200 * KB, 0x43)).status_code == 204
    assert bob.get(second["id"])["size"] == BYTES - 200 * KB
    # full: even a byte is refused, and freeing space lets it in again
    assert bob.http.delete(f"/images/{second['id']}").status_code == 204
    third = bob.create(name="third")
    before = blob_bytes(server.data_dir)
    error(bob.upload(third["id"], data(BYTES - 200 * KB + 1)), 413)
    assert bob.status(third["id"]) == "queued"
    untouched(server, before, third["id"])
    assert bob.upload(third["id"], data(BYTES - 200 * KB)).status_code == 204


def test_image_bytes_on_import(bob: Glance, server: Server) -> None:
    """The size quota holds whichever way the data comes in."""
    images = bob.http.get("/images").json()["images"]
    for image in images:  # start from an empty project
        assert bob.http.delete(f"/images/{image['id']}").status_code == 204
    first = bob.create(name="uploaded")
    assert bob.upload(first["id"], data(200 * KB)).status_code == 204
    second = bob.create(name="imported")
    assert bob.stage(second["id"], data(STAGE_BYTES)).status_code == 204
    assert bob.import_(second["id"]).status_code == 202
    failed = bob.wait_status(second["id"], "queued")
    assert "quota" in failed["os_glance_failed_import_reason"]
    assert image_objects(server, second["id"]) == {}
    assert bob.get(first["id"])["size"] == 200 * KB


def test_stage_bytes(carol: Glance, server: Server) -> None:
    first, second = carol.create(name="s1"), carol.create(name="s2")
    assert carol.stage(first["id"], data(100 * KB)).status_code == 204
    before = blob_bytes(server.data_dir)
    error(carol.stage(second["id"], data(100 * KB)), 413, "staging")
    assert carol.status(second["id"]) == "queued"
    untouched(server, before, second["id"])
    assert carol.stage(second["id"], data(STAGE_BYTES - 100 * KB)).status_code == 204
    # importing frees the staging quota
    assert carol.import_(first["id"]).status_code == 202
    assert carol.wait_status(first["id"], "active")["size"] == 100 * KB
    assert carol.http.delete(f"/images/{second['id']}").status_code == 204
    third = carol.create(name="s3")
    assert carol.stage(third["id"], data(STAGE_BYTES)).status_code == 204


def test_uploads_at_once(dave: Glance, server: Server) -> None:
    """Images saving, uploading (staged) or importing all count, as in Glance."""
    saving, staged, other = (dave.create(name=n) for n in ("saving", "staged", "waiting"))
    put = RawPut(server, f"/images/{saving['id']}/file", dave.tok, length=50 * KB)
    put.send(data(10 * KB))
    dave.wait_status(saving["id"], "saving", timeout=10)
    assert dave.stage(staged["id"], data(10 * KB)).status_code == 204
    before = blob_bytes(server.data_dir)
    error(dave.upload(other["id"], data(10 * KB)), 413, "at once")
    error(dave.stage(other["id"], data(10 * KB)), 413, "at once")
    assert dave.status(other["id"]) == "queued"
    untouched(server, before, other["id"])
    put.send(data(40 * KB))
    assert put.response_status() == 204
    assert dave.upload(other["id"], data(10 * KB)).status_code == 204
    assert dave.import_(staged["id"]).status_code == 202
    assert dave.wait_status(staged["id"], "active")["size"] == 10 * KB


def test_quotas_are_per_project(alice: Glance, dave: Glance) -> None:
    """alice's project is full; dave's images are his own."""
    for _ in range(COUNT):  # full whichever of this module's tests ran before
        if alice.http.post("/images", json={"name": "fill"}).status_code == 413:
            break
    error(alice.http.post("/images", json={"name": "more"}), 413)
    mine = {i["owner"] for i in dave.http.get("/images").json()["images"]}
    assert mine == {dave.project_id}
