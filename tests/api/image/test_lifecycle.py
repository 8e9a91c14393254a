"""The image status machine as Glance drives it over HTTP (glance-keystone.md A.3): every
transition a call can make, the ones refused with 409, and what a failed or cut upload
leaves behind (the image queued again, no bytes stored)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.image.support import (
    Glance,
    RawPut,
    admin,
    blob_bytes,
    error,
    image_objects,
    running,
)
from tests.harness import Server

DATA = bytes(range(256)) * 400  # 100 KiB: a blob file, not inlined in the database


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, users=(("alpha", "alice"),), workers=2) as srv:
        yield srv


def test_create_is_queued_and_upload_makes_it_active_once(alice: Glance, server: Server
                                                          ) -> None:
    resp = alice.http.post("/images", json={"name": "one", "disk_format": "raw",
                                            "container_format": "bare"})
    assert resp.status_code == 201
    image = resp.json()
    assert image["status"] == "queued" and image["size"] is None
    assert resp.headers["Location"] == f"{server.url}/image/v2/images/{image['id']}"
    assert alice.upload(image["id"], DATA).status_code == 204
    active = alice.get(image["id"])
    assert active["status"] == "active"
    assert active["size"] == len(DATA)
    assert active["checksum"] == hashlib.md5(DATA).hexdigest()
    assert active["os_hash_algo"] == "sha512"
    assert active["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    got = alice.http.get(f"/images/{image['id']}/file")
    assert got.status_code == 200 and got.content == DATA
    assert got.headers["Content-MD5"] == active["checksum"]
    error(alice.upload(image["id"], b"again"), 409, "active")
    error(alice.stage(image["id"], b"again"), 409)
    assert alice.get(image["id"])["size"] == len(DATA)
    assert alice.http.get(f"/images/{image['id']}/file").content == DATA


def test_a_queued_image_has_no_data(alice: Glance) -> None:
    image = alice.create(name="empty")
    resp = alice.http.get(f"/images/{image['id']}/file")
    assert resp.status_code == 204 and resp.content == b""


def test_stage_then_glance_direct_import(alice: Glance, server: Server) -> None:
    image = alice.create(name="staged")
    error(alice.import_(image["id"]), 409, "uploading")  # nothing staged yet
    assert alice.stage(image["id"], DATA).status_code == 204
    assert alice.status(image["id"]) == "uploading"
    assert image_objects(server, image["id"]) == {"\x00staging": len(DATA)}
    error(alice.upload(image["id"], DATA), 409)
    error(alice.stage(image["id"], DATA), 409)
    error(alice.import_(image["id"], "web-download",
                        extra={"uri": "http://example.com/x.img"}), 409, "queued")
    assert alice.import_(image["id"]).status_code == 202
    done = alice.wait_status(image["id"], "active")
    assert done["size"] == len(DATA)
    assert done["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert "os_glance_import_task" not in done and "os_glance_failed_import" not in done
    assert alice.http.get(f"/images/{image['id']}/file").content == DATA
    assert image_objects(server, image["id"]) == {"Policy-0": len(DATA)}, \
        "the staged copy must go once the import is done"
    [task] = alice.tasks(image["id"])
    assert task["status"] == "success" and task["type"] == "api_image_import"
    assert task["result"]["image_id"] == image["id"]
    error(alice.import_(image["id"]), 409)


def test_web_download_needs_a_queued_image(alice: Glance) -> None:
    image = alice.active(DATA)
    error(alice.import_(image["id"], "web-download",
                        extra={"uri": "http://example.com/x.img"}), 409, "queued")
    assert alice.status(image["id"]) == "active"


def test_import_needs_both_formats(alice: Glance) -> None:
    image = alice.create(name="formatless", disk_format=None, container_format=None)
    assert alice.stage(image["id"], DATA).status_code == 204
    error(alice.import_(image["id"]), 409, "container_format")
    assert alice.status(image["id"]) == "uploading"


def test_deactivate_and_reactivate(adm: Glance, alice: Glance) -> None:
    image = alice.active(DATA)
    iid = image["id"]
    error(alice.http.post(f"/images/{iid}/actions/deactivate"), 403, "deactivate")
    assert alice.status(iid) == "active"
    for _ in range(2):  # the second one is a no-op
        assert adm.http.post(f"/images/{iid}/actions/deactivate").status_code == 204
        assert alice.status(iid) == "deactivated"
    error(alice.http.get(f"/images/{iid}/file"), 403, "deactivated")
    got = adm.http.get(f"/images/{iid}/file")
    assert got.status_code == 200 and got.content == DATA
    error(alice.upload(iid, DATA), 409)
    error(alice.http.post(f"/images/{iid}/actions/reactivate"), 403, "reactivate")
    for _ in range(2):
        assert adm.http.post(f"/images/{iid}/actions/reactivate").status_code == 204
        assert alice.status(iid) == "active"
    assert alice.http.get(f"/images/{iid}/file").content == DATA
    error(adm.http.post(f"/images/{iid}/actions/explode"), 404)


def test_only_an_active_image_can_be_deactivated(adm: Glance, alice: Glance) -> None:
    image = alice.create(name="never-active")
    error(adm.http.post(f"/images/{image['id']}/actions/deactivate"), 409, "queued")
    error(adm.http.post(f"/images/{image['id']}/actions/reactivate"), 409, "queued")
    assert alice.status(image["id"]) == "queued"


@pytest.mark.parametrize("start", ["queued", "active", "deactivated", "uploading"])
def test_delete_from_every_status_is_final(adm: Glance, alice: Glance, server: Server,
                                           start: str) -> None:
    image = alice.create(name=f"doomed-{start}")
    iid = image["id"]
    if start in ("active", "deactivated"):
        assert alice.upload(iid, DATA).status_code == 204
    if start == "deactivated":
        assert adm.http.post(f"/images/{iid}/actions/deactivate").status_code == 204
    if start == "uploading":
        assert alice.stage(iid, DATA).status_code == 204
    assert alice.status(iid) == start
    assert alice.http.delete(f"/images/{iid}").status_code == 204
    for who in (alice, adm):
        error(who.http.get(f"/images/{iid}"), 404, iid)
        error(who.http.get(f"/images/{iid}/file"), 404)
    error(alice.http.delete(f"/images/{iid}"), 404)
    error(alice.upload(iid, DATA), 404)
    assert image_objects(server, iid) == {}, "a deleted image's bytes must go"
    listed = {i["id"] for i in adm.http.get("/images", params={"limit": 1000}).json()["images"]}
    assert iid not in listed


@pytest.mark.parametrize("chunked", [False, True])
def test_upload_cut_mid_body_leaves_the_image_queued_and_nothing_stored(
        alice: Glance, server: Server, chunked: bool) -> None:
    image = alice.create(name="cut")
    iid = image["id"]
    files = blob_bytes(server.data_dir)
    put = RawPut(server, f"/images/{iid}/file", alice.tok,
                 length=None if chunked else len(DATA) * 4)
    put.send(DATA)  # a quarter of what was announced
    alice.wait_status(iid, "saving", timeout=10)
    put.cut()
    queued = alice.wait_status(iid, "queued", timeout=10)
    assert queued["size"] is None and queued["checksum"] is None
    assert image_objects(server, iid) == {}
    assert blob_bytes(server.data_dir) == files
    assert list((server.data_dir / "tmp").glob("*.tmp")) == []
    assert alice.upload(iid, DATA).status_code == 204
    assert alice.get(iid)["size"] == len(DATA)
    assert alice.http.get(f"/images/{iid}/file").content == DATA


def test_chunked_upload_and_stage(alice: Glance, server: Server) -> None:
    for sub in ("file", "stage"):
        image = alice.create(name=f"chunked-{sub}")
        iid = image["id"]
        put = RawPut(server, f"/images/{iid}/{sub}", alice.tok, length=None,
                     headers={"x-openstack-image-size": str(len(DATA))})
        for start in range(0, len(DATA), 7000):
            put.send(DATA[start:start + 7000])
        put.end()
        assert put.response_status() == 204
        if sub == "stage":
            assert alice.import_(iid).status_code == 202
        assert alice.wait_status(iid, "active")["size"] == len(DATA)
        assert alice.http.get(f"/images/{iid}/file").content == DATA


def test_stage_cut_mid_body_leaves_the_image_queued(alice: Glance, server: Server) -> None:
    image = alice.create(name="cut-stage")
    iid = image["id"]
    put = RawPut(server, f"/images/{iid}/stage", alice.tok, length=len(DATA) * 4)
    put.send(DATA)
    alice.wait_status(iid, "uploading", timeout=10)
    put.cut()
    alice.wait_status(iid, "queued", timeout=10)
    assert image_objects(server, iid) == {}
    assert alice.stage(iid, DATA).status_code == 204
    assert alice.import_(iid).status_code == 202
    assert alice.wait_status(iid, "active")["size"] == len(DATA)


def test_a_second_upload_while_one_is_saving_gets_409(alice: Glance, server: Server) -> None:
    image = alice.create(name="busy")
    iid = image["id"]
    first = RawPut(server, f"/images/{iid}/file", alice.tok, length=len(DATA))
    first.send(DATA[:1000])
    alice.wait_status(iid, "saving", timeout=10)
    error(alice.upload(iid, b"other bytes"), 409, "saving")
    error(alice.stage(iid, b"other bytes"), 409)
    first.send(DATA[1000:])
    assert first.response_status() == 204
    assert alice.status(iid) == "active"
    assert alice.http.get(f"/images/{iid}/file").content == DATA


def race(alice: Glance, image_id: str, bodies: list[bytes], sub: str = "file"
         ) -> list[tuple[bytes, int]]:
    """PUT every body to the image's /file (or /stage) at the same moment, each on its own
    connection."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[bytes, int]] = []

    def put(body: bytes) -> None:
        with httpx.Client(base_url=str(alice.http.base_url),
                          headers={"X-Auth-Token": alice.tok}, timeout=60) as client:
            barrier.wait()
            resp = client.put(f"/images/{image_id}/{sub}", content=body,
                              headers={"Content-Type": "application/octet-stream"})
            results.append((body, resp.status_code))

    threads = [threading.Thread(target=put, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_uploads_racing_exactly_one_wins(alice: Glance) -> None:
    for round_ in range(3):
        image = alice.create(name=f"race-{round_}")
        iid = image["id"]
        results = race(alice, iid, [b"A" * len(DATA), b"B" * len(DATA)])
        assert sorted(code for _, code in results) == [204, 409], results
        winner = next(body for body, code in results if code == 204)
        assert alice.status(iid) == "active"
        assert alice.http.get(f"/images/{iid}/file").content == winner


def test_two_stages_racing_exactly_one_wins(alice: Glance) -> None:
    image = alice.create(name="stage-race")
    iid = image["id"]
    results = race(alice, iid, [b"A" * len(DATA), b"B" * len(DATA)], "stage")
    assert sorted(code for _, code in results) == [204, 409], results
    winner = next(body for body, code in results if code == 204)
    assert alice.import_(iid).status_code == 202
    assert alice.wait_status(iid, "active")["size"] == len(DATA)
    assert alice.http.get(f"/images/{iid}/file").content == winner


def test_two_imports_racing_exactly_one_starts(alice: Glance) -> None:
    for round_ in range(3):
        image = alice.create(name=f"import-race-{round_}")
        iid = image["id"]
        assert alice.stage(iid, DATA).status_code == 204
        barrier = threading.Barrier(2)
        codes: list[int] = []

        def start(iid: str = iid, barrier: threading.Barrier = barrier,
                  codes: list[int] = codes) -> None:
            with httpx.Client(base_url=str(alice.http.base_url),
                              headers={"X-Auth-Token": alice.tok}, timeout=60) as client:
                barrier.wait()
                codes.append(client.post(f"/images/{iid}/import", json={
                    "method": {"name": "glance-direct"}}).status_code)

        threads = [threading.Thread(target=start) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [202, 409], codes
        assert alice.wait_status(iid, "active")["size"] == len(DATA)
        assert len(alice.tasks(iid)) == 1


def test_upload_needs_both_formats(alice: Glance) -> None:
    for missing in ("disk_format", "container_format"):
        image = alice.create(name=f"no-{missing}", **{missing: None})
        error(alice.upload(image["id"], DATA), 400, "must be set prior to saving data")
        assert alice.status(image["id"]) == "queued"
    image = alice.create(name="set-later", disk_format=None, container_format=None)
    resp = alice.patch(image["id"], [{"op": "replace", "path": "/disk_format", "value": "raw"},
                                     {"op": "replace", "path": "/container_format",
                                      "value": "bare"}])
    assert resp.status_code == 200, resp.text
    assert alice.upload(image["id"], DATA).status_code == 204


def test_declared_size_must_match(alice: Glance, server: Server) -> None:
    image = alice.create(name="sized")
    iid = image["id"]
    for declared in (len(DATA) + 1, len(DATA) - 1):
        error(alice.upload(iid, DATA, **{"x-openstack-image-size": str(declared)}), 400,
              str(declared))
        queued = alice.get(iid)
        assert queued["status"] == "queued" and queued["size"] is None
        assert image_objects(server, iid) == {}
    error(alice.upload(iid, DATA, **{"x-openstack-image-size": "lots"}), 400)
    assert alice.status(iid) == "queued"
    assert alice.upload(iid, DATA, **{"x-openstack-image-size": str(len(DATA))}
                        ).status_code == 204
    assert alice.get(iid)["size"] == len(DATA)


def test_stage_declared_size_must_match(alice: Glance, server: Server) -> None:
    image = alice.create(name="stage-sized")
    iid = image["id"]
    error(alice.stage(iid, DATA, **{"x-openstack-image-size": "7"}), 400, "7")
    assert alice.status(iid) == "queued"
    assert image_objects(server, iid) == {}
    assert alice.stage(iid, DATA, **{"x-openstack-image-size": str(len(DATA))}
                       ).status_code == 204


def test_deleting_during_an_upload_answers_410_and_keeps_nothing(alice: Glance,
                                                                 server: Server) -> None:
    image = alice.create(name="gone")
    iid = image["id"]
    put = RawPut(server, f"/images/{iid}/file", alice.tok, length=len(DATA))
    put.send(DATA[:1000])
    alice.wait_status(iid, "saving", timeout=10)
    assert alice.http.delete(f"/images/{iid}").status_code == 204
    put.send(DATA[1000:])
    assert put.response_status() == 410
    error(alice.http.get(f"/images/{iid}"), 404)
    deadline = time.monotonic() + 10
    while image_objects(server, iid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert image_objects(server, iid) == {}


def test_changes_made_while_the_data_streams_are_kept(alice: Glance, server: Server) -> None:
    """A PATCH or a tag while the bytes are on their way is not undone when they land."""
    for kind in ("file", "stage"):
        image = alice.create(name="before", colour="red")
        iid = image["id"]
        put = RawPut(server, f"/images/{iid}/{kind}", alice.tok, length=len(DATA))
        put.send(DATA[:1000])
        alice.wait_status(iid, "saving" if kind == "file" else "uploading", timeout=10)
        resp = alice.patch(iid, [{"op": "replace", "path": "/name", "value": "after"},
                                 {"op": "add", "path": "/shape", "value": "round"},
                                 {"op": "remove", "path": "/colour"},
                                 {"op": "replace", "path": "/min_ram", "value": 512}])
        assert resp.status_code == 200, resp.text
        assert alice.http.put(f"/images/{iid}/tags/late").status_code == 204
        put.send(DATA[1000:])
        assert put.response_status() == 204
        if kind == "stage":
            assert alice.import_(iid).status_code == 202
        done = alice.wait_status(iid, "active")
        assert (done["name"], done.get("shape"), done["min_ram"], done["tags"]) == \
            ("after", "round", 512, ["late"]), kind
        assert "colour" not in done, kind
        assert done["size"] == len(DATA)


def test_a_server_killed_mid_upload_or_stage_requeues_on_restart(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    srv = Server(tmp_path_factory.mktemp("crash") / "data").start()
    try:
        adm = admin(srv)
        saving, staging = adm.create(name="saving"), adm.create(name="staging")
        puts = [RawPut(srv, f"/images/{saving['id']}/file", adm.tok, length=len(DATA)),
                RawPut(srv, f"/images/{staging['id']}/stage", adm.tok, length=len(DATA))]
        for put in puts:
            put.send(DATA[:1000])
        adm.wait_status(saving["id"], "saving", timeout=10)
        adm.wait_status(staging["id"], "uploading", timeout=10)
        srv.kill()
        for put in puts:
            put.cut()
        adm.close()
        srv.start()
        adm = admin(srv)
        for image in (saving, staging):
            after = adm.get(image["id"])
            assert after["status"] == "queued", after
            assert image_objects(srv, image["id"]) == {}
        assert adm.upload(saving["id"], DATA).status_code == 204
        assert adm.stage(staging["id"], DATA).status_code == 204
        assert adm.import_(staging["id"]).status_code == 202
        for image in (saving, staging):
            assert adm.wait_status(image["id"], "active")["size"] == len(DATA)
        adm.close()
    finally:
        srv.stop()
