"""Multi-store (Glance API 2.8+): every storage policy is a store. Listing the stores, upload
to a chosen one, copy-image to another, dropping one copy, and where the bytes are on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.image.support import (
    Glance,
    blob_bytes,
    error,
    image_objects,
    running,
)
from tests.harness import Server

POLICIES = [{"name": "gold", "default": True}, {"name": "silver", "aliases": ["argent"]}]
DATA = bytes(range(256)) * 300  # 75 KiB: blob files, not inlined


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, "--storage-policies", json.dumps(POLICIES),
                 users=(("alpha", "alice"),)) as srv:
        yield srv


def gold_blobs(server: Server) -> tuple[int, int]:
    return blob_bytes(server.data_dir)


def silver_blobs(server: Server) -> tuple[int, int]:
    return blob_bytes(server.data_dir / "policies" / "silver")


def test_info_stores_lists_both_with_the_default_marked(alice: Glance) -> None:
    resp = alice.http.get("/info/stores")
    assert resp.status_code == 200
    stores = {s["id"]: s for s in resp.json()["stores"]}
    assert set(stores) == {"gold", "silver"}
    assert stores["gold"].get("default") is True
    assert "default" not in stores["silver"] or stores["silver"]["default"] is False
    assert all(isinstance(s.get("description"), str) for s in stores.values())
    created = alice.http.post("/images", json={"name": "x"})
    assert created.headers["OpenStack-image-store-ids"].split(",") == ["gold", "silver"]


def test_versions_advertise_multi_store(server: Server) -> None:
    import httpx

    ids = {v["id"] for v in httpx.get(f"{server.url}/image/versions").json()["versions"]}
    assert {"v2.8", "v2.6"} <= ids


def test_upload_goes_to_the_default_store(alice: Glance, server: Server) -> None:
    gold, silver = gold_blobs(server), silver_blobs(server)
    image = alice.active(DATA, name="default-store")
    assert image["stores"] == "gold"
    assert image_objects(server, image["id"]) == {"gold": len(DATA)}
    assert gold_blobs(server) == (gold[0] + 1, gold[1] + len(DATA))
    assert silver_blobs(server) == silver


def test_upload_to_a_chosen_store_copy_and_drop(adm: Glance, alice: Glance,
                                                server: Server) -> None:
    gold, silver = gold_blobs(server), silver_blobs(server)
    image = alice.create(name="silver-first")
    iid = image["id"]
    assert alice.upload(iid, DATA, **{"X-Image-Meta-Store": "silver"}).status_code == 204
    assert alice.get(iid)["stores"] == "silver"
    assert image_objects(server, iid) == {"silver": len(DATA)}
    assert silver_blobs(server) == (silver[0] + 1, silver[1] + len(DATA))
    assert gold_blobs(server) == gold

    # copy-image is an admin's (Glance's copy_image policy)
    copy = {"stores": ["gold"]}
    error(alice.import_(iid, "copy-image", **copy), 403, "copy_image")
    assert adm.import_(iid, "copy-image", **copy).status_code == 202
    deadline_image = adm.wait_status(iid, "active")
    copied = adm.get(iid)
    assert set(copied["stores"].split(",")) == {"gold", "silver"}, deadline_image
    assert "os_glance_importing_to_stores" not in copied
    assert "os_glance_failed_import" not in copied
    assert image_objects(server, iid) == {"silver": len(DATA), "gold": len(DATA)}
    error(adm.import_(iid, "copy-image", **copy), 409, "already")
    for store in ("gold", "silver"):
        got = alice.http.get(f"/images/{iid}/file", params={"prefer": store})
        assert got.status_code == 200 and got.content == DATA

    # drop one copy: the other still serves the image
    error(alice.http.delete(f"/stores/bronze/{iid}"), 409, "bronze")
    assert alice.http.delete(f"/stores/silver/{iid}").status_code == 204
    after = alice.get(iid)
    assert after["stores"] == "gold" and after["status"] == "active"
    assert image_objects(server, iid) == {"gold": len(DATA)}
    assert silver_blobs(server) == silver
    assert alice.http.get(f"/images/{iid}/file").content == DATA
    got = alice.http.get(f"/images/{iid}/file", params={"prefer": "silver"})
    assert got.status_code == 200 and got.content == DATA, "prefer is a preference"
    error(alice.http.delete(f"/stores/silver/{iid}"), 404, "silver")
    # the last copy stays
    error(alice.http.delete(f"/stores/gold/{iid}"), 403, "delete the image")
    assert alice.get(iid)["stores"] == "gold"
    assert alice.http.get(f"/images/{iid}/file").content == DATA
    # deleting the image removes every copy
    assert alice.http.delete(f"/images/{iid}").status_code == 204
    assert image_objects(server, iid) == {}
    assert gold_blobs(server) == gold


def test_a_store_alias_names_the_policy(alice: Glance, server: Server) -> None:
    image = alice.create(name="alias")
    assert alice.upload(image["id"], DATA, **{"X-Image-Meta-Store": "argent"}
                        ).status_code == 204
    assert alice.get(image["id"])["stores"] == "silver"


def test_upload_to_an_unknown_store_is_refused_and_stays_queued(alice: Glance,
                                                                server: Server) -> None:
    image = alice.create(name="nowhere")
    error(alice.upload(image["id"], DATA, **{"X-Image-Meta-Store": "bronze"}), 400, "bronze")
    assert alice.status(image["id"]) == "queued"
    assert image_objects(server, image["id"]) == {}


def test_import_to_several_stores(adm: Glance, alice: Glance, server: Server) -> None:
    image = alice.create(name="everywhere")
    iid = image["id"]
    assert alice.stage(iid, DATA).status_code == 204
    assert alice.import_(iid, all_stores=True).status_code == 202
    done = alice.wait_status(iid, "active")
    assert set(done["stores"].split(",")) == {"gold", "silver"}
    assert image_objects(server, iid) == {"gold": len(DATA), "silver": len(DATA)}
    error(alice.import_(iid, stores=["gold"], all_stores=True), 400)


def test_import_to_an_unknown_store_is_refused_before_it_starts(alice: Glance) -> None:
    image = alice.create(name="bad-target")
    iid = image["id"]
    assert alice.stage(iid, DATA).status_code == 204
    error(alice.import_(iid, stores=["bronze"]), 400, "bronze")
    assert alice.status(iid) == "uploading"
    assert alice.import_(iid, stores=["silver"]).status_code == 202
    assert alice.wait_status(iid, "active")["stores"] == "silver"


def test_copy_image_needs_an_active_image(adm: Glance, alice: Glance) -> None:
    image = alice.create(name="queued-copy")
    error(adm.import_(image["id"], "copy-image", stores=["silver"]), 409, "active")
    assert alice.status(image["id"]) == "queued"
