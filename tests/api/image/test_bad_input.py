"""Bad input gets Glance's status and a readable JSON message, never a 5xx: JSON patches,
read-only and reserved attributes, schema violations, policy refusals, listing parameters,
data calls in the wrong status, ranges and members."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.image.support import (
    OCTET,
    PATCH,
    Glance,
    error,
    image_objects,
    running,
)
from tests.harness import Server

DATA = bytes(range(256)) * 8
SIZE_CAP = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory, "--image-size-cap", str(SIZE_CAP)) as srv:
        yield srv


@pytest.fixture(scope="module")
def queued(alice: Glance) -> dict[str, Any]:
    return alice.create(name="victim", foo="bar")


@pytest.fixture(scope="module")
def active(alice: Glance) -> dict[str, Any]:
    return alice.active(DATA, name="active-victim")


# ---- JSON patch -----------------------------------------------------------------------------

@pytest.mark.parametrize(("ops", "words"), [
    ({"op": "replace", "path": "/name", "value": "x"}, "array"),
    ("replace", "array"),
    ([["replace", "/name", "x"]], "object"),
    ([{"op": "move", "path": "/name", "from": "/foo"}], "move"),
    ([{"op": "copy", "path": "/name", "from": "/foo"}], "copy"),
    ([{"path": "/name", "value": "x"}], "operation"),
    ([{"op": "replace", "path": "/name"}], "value"),
    ([{"op": "add", "path": "/foo2"}], "value"),
    ([{"op": "replace", "path": "name", "value": "x"}], "pointer"),
    ([{"op": "replace", "path": "/", "value": "x"}], "pointer"),
    ([{"op": "replace", "path": "/a/b", "value": "x"}], "pointer"),
    ([{"op": "replace", "path": 7, "value": "x"}], "pointer"),
    ([{"op": "replace", "value": "x"}], "pointer"),
])
def test_malformed_json_patch(alice: Glance, queued: dict[str, Any], ops: Any,
                              words: str) -> None:
    error(alice.patch(queued["id"], ops), 400, words)
    assert alice.get(queued["id"])["name"] == "victim"


def test_patch_body_not_json(alice: Glance, queued: dict[str, Any]) -> None:
    resp = alice.http.patch(f"/images/{queued['id']}", content=b"[{", headers=PATCH)
    error(resp, 400, "JSON")


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json-patch+json", "text/plain", None,
])
def test_patch_with_another_content_type_is_415(alice: Glance, queued: dict[str, Any],
                                                content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = alice.http.patch(f"/images/{queued['id']}", headers=headers,
                            content=json.dumps([{"op": "replace", "path": "/name",
                                                 "value": "x"}]))
    error(resp, 415, "application/openstack-images-v2.1-json-patch")
    assert alice.get(queued["id"])["name"] == "victim"


def test_the_v20_patch_dialect_still_works(alice: Glance) -> None:
    image = alice.create(name="old-dialect")
    resp = alice.patch(image["id"], [{"replace": "/name", "value": "renamed"}],
                       {"Content-Type": "application/openstack-images-v2.0-json-patch"})
    assert resp.status_code == 200 and resp.json()["name"] == "renamed"


@pytest.mark.parametrize("name", ["status", "size", "checksum", "virtual_size", "id",
                                  "created_at", "updated_at", "os_hash_value",
                                  "os_hash_algo", "self", "file", "schema", "direct_url"])
def test_read_only_attributes_are_403(alice: Glance, queued: dict[str, Any],
                                      name: str) -> None:
    for op in ("replace", "add"):
        error(alice.patch(queued["id"], [{"op": op, "path": f"/{name}", "value": "1"}]),
              403, name)
    error(alice.patch(queued["id"], [{"op": "remove", "path": f"/{name}"}]), 403)
    assert alice.get(queued["id"])["status"] == "queued"


@pytest.mark.parametrize("name", ["os_glance_x", "os_glance_import_task", "location",
                                  "deleted", "deleted_at", "locations"])
def test_reserved_attributes_are_403(alice: Glance, queued: dict[str, Any],
                                     name: str) -> None:
    error(alice.patch(queued["id"], [{"op": "add", "path": f"/{name}", "value": "1"}]), 403)
    error(alice.http.post("/images", json={"name": "r", name: "1"}), 403, name)


@pytest.mark.parametrize("name", ["status", "size", "checksum", "created_at", "self"])
def test_read_only_attributes_on_create_are_403(alice: Glance, name: str) -> None:
    error(alice.http.post("/images", json={"name": "ro", name: "1"}), 403, name)


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"], {"a": "b"}])
def test_custom_properties_are_strings(alice: Glance, queued: dict[str, Any],
                                       value: Any) -> None:
    error(alice.http.post("/images", json={"name": "p", "foo": value}), 400)
    error(alice.patch(queued["id"], [{"op": "add", "path": "/colour", "value": value}]), 400)
    assert "colour" not in alice.get(queued["id"])


def test_patch_replace_or_remove_of_a_missing_property_is_409(alice: Glance,
                                                              queued: dict[str, Any]) -> None:
    error(alice.patch(queued["id"], [{"op": "replace", "path": "/nope", "value": "x"}]), 409,
          "nope")
    error(alice.patch(queued["id"], [{"op": "remove", "path": "/nope"}]), 409, "nope")


def test_base_attributes_cannot_be_removed(alice: Glance, queued: dict[str, Any]) -> None:
    error(alice.patch(queued["id"], [{"op": "remove", "path": "/name"}]), 403, "name")


def test_formats_change_only_while_queued(alice: Glance, active: dict[str, Any]) -> None:
    error(alice.patch(active["id"], [{"op": "replace", "path": "/disk_format",
                                      "value": "qcow2"}]), 403, "queued")
    assert alice.get(active["id"])["disk_format"] == "raw"


def test_a_failed_patch_changes_nothing(alice: Glance, queued: dict[str, Any]) -> None:
    """One bad operation refuses the whole patch, including the good ones before it."""
    error(alice.patch(queued["id"], [{"op": "replace", "path": "/name", "value": "changed"},
                                     {"op": "add", "path": "/status", "value": "active"}]),
          403)
    assert alice.get(queued["id"])["name"] == "victim"


# ---- schema on create and update ------------------------------------------------------------

@pytest.mark.parametrize(("body", "words"), [
    ({"name": "n" * 256}, "name"),
    ({"disk_format": "floppy"}, "floppy"),
    ({"container_format": "crate"}, "crate"),
    ({"visibility": "secret"}, "secret"),
    ({"min_ram": -1}, "min_ram"),
    ({"min_disk": "ten"}, "min_disk"),
    ({"protected": "yes"}, "protected"),
    ({"os_hidden": 1}, "os_hidden"),
    ({"tags": "a,b"}, "tags"),
    ({"tags": ["t" * 256]}, "tags"),
    ({"id": "not-a-uuid"}, "id"),
])
def test_schema_violations_on_create(alice: Glance, body: dict[str, Any], words: str) -> None:
    error(alice.http.post("/images", json=body), 400, words)


@pytest.mark.parametrize(("path", "value"), [
    ("/name", "n" * 256), ("/disk_format", "floppy"), ("/visibility", "secret"),
    ("/min_ram", -5), ("/protected", "no"), ("/tags", "x"),
])
def test_schema_violations_on_patch(alice: Glance, queued: dict[str, Any], path: str,
                                    value: Any) -> None:
    error(alice.patch(queued["id"], [{"op": "replace", "path": path, "value": value}]), 400)


def test_property_names_stop_at_255_characters(alice: Glance, queued: dict[str, Any]
                                               ) -> None:
    error(alice.http.post("/images", json={"k" * 256: "v"}), 400, "255")
    error(alice.patch(queued["id"], [{"op": "add", "path": "/" + "k" * 256, "value": "v"}]),
          400, "255")
    assert alice.patch(queued["id"], [{"op": "add", "path": "/" + "k" * 255,
                                       "value": "v"}]).status_code == 200


def test_name_of_255_characters_is_fine(alice: Glance) -> None:
    assert alice.create(name="n" * 255)["name"] == "n" * 255


@pytest.mark.parametrize("raw", [b"{", b"not json", b"[1, 2", b"\xff\xfe", b""])
def test_malformed_json_body_is_400(alice: Glance, raw: bytes) -> None:
    resp = alice.http.post("/images", content=raw, headers={"Content-Type": "application/json"})
    error(resp, 400)


@pytest.mark.parametrize("body", [[], "image", 5, None, True])
def test_create_body_must_be_an_object(alice: Glance, body: Any) -> None:
    resp = alice.http.post("/images", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    error(resp, 400, "object")


def test_duplicate_id_is_409(alice: Glance) -> None:
    image = alice.create(name="first")
    error(alice.http.post("/images", json={"id": image["id"]}), 409, image["id"])


def test_json_body_too_large_is_413(alice: Glance) -> None:
    resp = alice.http.post("/images", json={"name": "big", "blob": "x" * (2 << 20)})
    error(resp, 413)


# ---- policy ---------------------------------------------------------------------------------

def test_publicize_as_non_admin_is_403(adm: Glance, alice: Glance,
                                       queued: dict[str, Any]) -> None:
    error(alice.http.post("/images", json={"name": "pub", "visibility": "public"}), 403,
          "publicize_image")
    error(alice.patch(queued["id"], [{"op": "replace", "path": "/visibility",
                                      "value": "public"}]), 403, "publicize_image")
    assert alice.get(queued["id"])["visibility"] == "shared"
    public = adm.create(name="admin-public", visibility="public")
    assert public["visibility"] == "public"
    for visibility in ("community", "private", "shared"):
        assert alice.create(name=visibility, visibility=visibility)["visibility"] == visibility


def test_delete_protected_is_403(alice: Glance) -> None:
    image = alice.create(name="keep", protected=True)
    error(alice.http.delete(f"/images/{image['id']}"), 403, "protected")
    assert alice.status(image["id"]) == "queued"
    resp = alice.patch(image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert resp.status_code == 200
    assert alice.http.delete(f"/images/{image['id']}").status_code == 204


def test_other_projects_cannot_touch_or_see(alice: Glance, bob: Glance,
                                            queued: dict[str, Any]) -> None:
    iid = queued["id"]
    for resp in (bob.http.get(f"/images/{iid}"),
                 bob.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}]),
                 bob.http.delete(f"/images/{iid}"),
                 bob.upload(iid, DATA),
                 bob.http.get(f"/images/{iid}/file")):
        error(resp, 404, iid)
    public = alice.create(name="community", visibility="community")
    error(bob.patch(public["id"], [{"op": "replace", "path": "/name", "value": "x"}]), 403)
    error(bob.http.delete(f"/images/{public['id']}"), 403)
    error(bob.upload(public["id"], DATA), 403)
    assert alice.get(public["id"])["name"] == "community"


def test_owner_is_changed_by_admins_only(alice: Glance, queued: dict[str, Any]) -> None:
    error(alice.patch(queued["id"], [{"op": "replace", "path": "/owner", "value": "other"}]),
          403, "owner")
    error(alice.http.post("/images", json={"owner": "someone-else"}), 403)


# ---- listing parameters ---------------------------------------------------------------------

@pytest.mark.parametrize(("params", "words"), [
    ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"marker": "00000000-0000-0000-0000-000000000000"}, "marker"),
    ({"marker": "junk"}, "marker"),
    ({"sort_key": "colour"}, "sort key"),
    ({"sort_dir": "sideways"}, "sideways"),
    ({"sort": "name:up"}, "up"),
    ({"sort": "flavour:asc"}, "flavour"),
    ({"sort": "name:asc", "sort_key": "size"}, "sort"),
    ({"visibility": "everyone"}, "everyone"),
    ({"member_status": "maybe"}, "maybe"),
    ({"size_min": "big"}, "size"),
    ({"size_max": "1.5"}, "size"),
    ({"created_at": "gt:yesterday"}, "created_at"),
    ({"os_hidden": "perhaps"}, "os_hidden"),
    ({"min_ram": "lots"}, "min_ram"),
    ({"foo": "gt:bar"}, "foo"),
])
def test_invalid_listing_parameters_are_400(alice: Glance, params: dict[str, str],
                                            words: str) -> None:
    error(alice.http.get("/images", params=params), 400, words)


@pytest.mark.parametrize(("params", "words"), [
    ({"limit": "-1"}, "limit"), ({"limit": "x"}, "limit"), ({"marker": "nope"}, "marker"),
    ({"sort_key": "colour"}, "colour"), ({"sort_dir": "up"}, "up"),
])
def test_invalid_task_listing_parameters_are_400(alice: Glance, params: dict[str, str],
                                                 words: str) -> None:
    error(alice.http.get("/tasks", params=params), 400, words)


def test_marker_of_an_invisible_image_is_400(alice: Glance, bob: Glance,
                                             queued: dict[str, Any]) -> None:
    error(bob.http.get("/images", params={"marker": queued["id"]}), 400, "marker")


# ---- data -----------------------------------------------------------------------------------

def test_data_for_an_active_image_is_409(alice: Glance, active: dict[str, Any]) -> None:
    error(alice.upload(active["id"], b"more"), 409, "active")
    error(alice.stage(active["id"], b"more"), 409, "active")
    error(alice.import_(active["id"]), 409)
    assert alice.http.get(f"/images/{active['id']}/file").content == DATA


@pytest.mark.parametrize("sub", ["file", "stage"])
def test_data_over_the_size_cap_is_413_and_not_kept(alice: Glance, server: Server,
                                                    sub: str) -> None:
    image = alice.create(name=f"capped-{sub}")
    iid = image["id"]
    put = alice.upload if sub == "file" else alice.stage
    error(put(iid, b"\x00" * (SIZE_CAP + 1)), 413, str(SIZE_CAP))
    assert alice.status(iid) == "queued"
    assert image_objects(server, iid) == {}
    assert put(iid, b"\x00" * SIZE_CAP).status_code == 204


def test_upload_content_type_must_be_octet_stream(alice: Glance) -> None:
    image = alice.create(name="typed")
    resp = alice.http.put(f"/images/{image['id']}/file", content=b"{}",
                          headers={"Content-Type": "application/json"})
    error(resp, 415, "application/octet-stream")
    assert alice.status(image["id"]) == "queued"


def test_declared_size_must_be_a_number(alice: Glance) -> None:
    image = alice.create(name="declared")
    for value in ("-1", "1e3", "", "abc"):
        error(alice.upload(image["id"], DATA, **{"x-openstack-image-size": value}), 400)
        assert alice.status(image["id"]) == "queued"


@pytest.mark.parametrize("value", ["bytes=0-1,5-6", "bytes=0-0,-1", "bytes=1-2, 3-4"])
def test_two_ranges_are_400(alice: Glance, active: dict[str, Any], value: str) -> None:
    error(alice.http.get(f"/images/{active['id']}/file", headers={"Range": value}), 400,
          "range")


@pytest.mark.parametrize("value", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 10}-"
                                   f"{len(DATA) + 20}"])
def test_unsatisfiable_range_is_416(alice: Glance, active: dict[str, Any], value: str
                                    ) -> None:
    error(alice.http.get(f"/images/{active['id']}/file", headers={"Range": value}), 416)


@pytest.mark.parametrize(("value", "start", "end"), [
    ("bytes=0-9", 0, 10), ("bytes=-10", len(DATA) - 10, len(DATA)),
    (f"bytes=100-{len(DATA) * 2}", 100, len(DATA)), ("bytes=2040-", 2040, len(DATA)),
])
def test_single_ranges_are_206(alice: Glance, active: dict[str, Any], value: str,
                               start: int, end: int) -> None:
    resp = alice.http.get(f"/images/{active['id']}/file", headers={"Range": value})
    assert resp.status_code == 206, resp.text
    assert resp.content == DATA[start:end]
    assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(DATA)}"


@pytest.mark.parametrize(("body", "status", "words"), [
    ({}, 400, "method"),
    ({"method": "glance-direct"}, 400, "method"),
    ({"method": {"name": "teleport"}}, 400, "teleport"),
    ({"method": {"name": "glance-direct"}, "stores": "gold"}, 400, "stores"),
    ({"method": {"name": "glance-direct"}, "stores": [1]}, 400, "stores"),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"}, 400, "all_stores"),
    ({"method": {"name": "web-download"}}, 400, "uri"),
    ({"method": {"name": "web-download", "uri": "file:///etc/passwd"}}, 400, "refused"),
    ({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}}, 400, "refused"),
    ({"method": {"name": "web-download", "uri": "ftp://example.com/x"}}, 400, "refused"),
])
def test_bad_import_requests(alice: Glance, body: dict[str, Any], status: int,
                             words: str) -> None:
    image = alice.create(name="import-bad")
    error(alice.http.post(f"/images/{image['id']}/import", json=body), status, words)
    assert alice.status(image["id"]) == "queued"


def test_import_body_not_json(alice: Glance) -> None:
    image = alice.create(name="import-junk")
    error(alice.http.post(f"/images/{image['id']}/import", content=b"{method",
                          headers={"Content-Type": "application/json"}), 400, "JSON")


# ---- members --------------------------------------------------------------------------------

def test_member_operations_on_a_private_image_are_403(alice: Glance, bob: Glance) -> None:
    image = alice.create(name="private", visibility="private")
    iid = image["id"]
    error(alice.http.post(f"/images/{iid}/members", json={"member": bob.project_id}), 403,
          "shared")
    error(alice.http.get(f"/images/{iid}/members"), 403, "shared")
    error(alice.http.delete(f"/images/{iid}/members/{bob.project_id}"), 403)


def test_member_status_values(alice: Glance, bob: Glance) -> None:
    image = alice.create(name="shared")
    iid = image["id"]
    resp = alice.http.post(f"/images/{iid}/members", json={"member": bob.project_id})
    assert resp.status_code == 200 and resp.json()["status"] == "pending"
    error(alice.http.post(f"/images/{iid}/members", json={"member": bob.project_id}), 409)
    url = f"/images/{iid}/members/{bob.project_id}"
    error(bob.http.put(url, json={"status": "delighted"}), 400, "delighted")
    error(bob.http.put(url, json={"state": "accepted"}), 400, "status")
    error(bob.http.put(url, content=b"{", headers={"Content-Type": "application/json"}), 400)
    error(alice.http.put(url, json={"status": "accepted"}), 403)  # only the member decides
    assert bob.http.get(url).json()["status"] == "pending"
    resp = bob.http.put(url, json={"status": "accepted"})
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    error(bob.http.post(f"/images/{iid}/members", json={"member": "x"}), 403)
    for body in ({}, {"member": ""}, {"member": 5}, {"member": "m" * 256}, []):
        error(alice.http.post(f"/images/{iid}/members", json=body), 400)


# ---- everything else: 401, 404, 405 and a sweep for 5xx -------------------------------------

def test_auth_errors(server: Server, queued: dict[str, Any]) -> None:
    base = f"{server.url}/image/v2"
    error(httpx.get(f"{base}/images"), 401)
    error(httpx.get(f"{base}/images", headers={"X-Auth-Token": "bogus"}), 401)
    error(httpx.get(f"{base}/images/{queued['id']}/file", headers={"X-Auth-Token": "x"}), 401)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/nothing", 404), ("GET", "/images/x/y/z/w", 404), ("PUT", "/images", 405),
    ("POST", "/images/{id}", 405), ("DELETE", "/images/{id}/file", 405),
    ("POST", "/images/{id}/stage", 405), ("GET", "/images/{id}/import", 405),
    ("GET", "/images/{id}/actions/deactivate", 405), ("GET", "/info/nothing", 404),
    ("GET", "/stores/gold/{id}", 405), ("GET", "/images/not-a-uuid", 404),
])
def test_unknown_paths_and_methods(alice: Glance, queued: dict[str, Any], method: str,
                                   path: str, status: int) -> None:
    error(alice.http.request(method, path.format(id=queued["id"])), status)


def test_nothing_a_client_sends_is_a_5xx(alice: Glance, queued: dict[str, Any],
                                         active: dict[str, Any]) -> None:
    weird = ["", "\x00", "%00", "é", "../..", "a" * 5000, "-1", "[]", "{}", "null", "in:",
             "gt:", "in:,", "eq:", "neq:\x01", "lte:9" * 100]
    iid = queued["id"]
    for value in weird:
        for key in ("name", "status", "size_min", "created_at", "marker", "limit", "sort",
                    "sort_key", "tag", "foo", "visibility", "os_hidden", "id"):
            resp = alice.http.get("/images", params={key: value})
            assert resp.status_code < 500, (key, value, resp.text)
            if resp.status_code >= 400:
                error(resp, resp.status_code)
        for ops in ([{"op": "add", "path": f"/{value}", "value": value}],
                    [{"op": "replace", "path": "/name", "value": value}],
                    [{"op": "add", "path": "/tags", "value": [value]}]):
            resp = alice.patch(iid, ops)
            assert resp.status_code < 500, (ops, resp.text)
            if resp.status_code >= 400:
                error(resp, resp.status_code)
        if value.isprintable() and value.isascii():
            resp = alice.http.get(f"/images/{active['id']}/file",
                                  headers={"Range": f"bytes={value}"})
            assert resp.status_code < 500, (value, resp.text)
    for raw in (b"\x00", b"{}", b"[]", "é".encode(), b'{"name": "\\ud800"}'):
        for path in ("/images", f"/images/{iid}/members", f"/images/{iid}/import", "/tasks"):
            resp = alice.http.post(path, content=raw,
                                   headers={"Content-Type": "application/json"})
            assert resp.status_code < 500, (path, raw, resp.text)
            if resp.status_code >= 400:
                error(resp, resp.status_code)
    resp = alice.http.put(f"/images/{iid}/tags/{'t' * 300}")
    error(resp, 400, "tag")
    resp = alice.http.put(f"/images/{iid}/file", content=b"", headers=OCTET)
    assert resp.status_code < 500


def test_metadefs_catalogue_is_empty_and_read_only(alice: Glance) -> None:
    listed = alice.http.get("/metadefs/namespaces")
    assert listed.status_code == 200 and listed.json()["namespaces"] == []
    assert alice.http.get("/metadefs/resource_types").json() == {"resource_types": []}
    error(alice.http.get("/metadefs/namespaces/OS::Compute::Hypervisor"), 404)
    error(alice.http.post("/metadefs/namespaces", json={"namespace": "x"}), 501)


UNSTORABLE = ["a\x00b", "\x00", "a\ud800"]  # no NUL in PostgreSQL text, no UTF-8 surrogate


def post_json(alice: Glance, path: str, body: Any) -> httpx.Response:
    """`body` as JSON with every non-ASCII character escaped (a lone surrogate included)."""
    return alice.http.post(path, content=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("value", UNSTORABLE)
def test_text_no_database_can_hold_is_a_400_on_every_backend(alice: Glance,
                                                             value: str) -> None:
    """Refused before it reaches the metadata store, on SQLite as on PostgreSQL, with the
    attribute named (Glance answers 400 for what its database cannot hold; a lone surrogate
    is already malformed JSON)."""
    named = "\x00" in value
    error(post_json(alice, "/images", {"name": value}), 400, *["name"][:named])
    error(post_json(alice, "/images", {"name": "p", "colour": value}), 400,
          *["colour"][:named])
    error(post_json(alice, "/images", {"name": "p", f"c{value}": "x"}), 400)
    error(post_json(alice, "/images", {"name": "p", "tags": [value]}), 400)
    image = alice.create(name="kept", colour="blue", tags=["t"], visibility="shared")
    iid = image["id"]
    for ops in ([{"op": "replace", "path": "/name", "value": value}],
                [{"op": "replace", "path": "/colour", "value": value}],
                [{"op": "add", "path": f"/c{value}", "value": "x"}],
                [{"op": "add", "path": "/tags", "value": ["t", value]}],
                [{"op": "replace", "path": "/container_format", "value": value}]):
        resp = alice.http.patch(f"/images/{iid}", content=json.dumps(ops).encode(),
                                headers=PATCH)
        error(resp, 400)
    if named:  # a path holding NUL is refused before routing, for every API as Swift does
        quoted = quote(value)  # (and a URL cannot spell a lone surrogate)
        for resp in (alice.http.put(f"/images/{iid}/tags/{quoted}"),
                     alice.http.get(f"/images/{quoted}"),
                     alice.http.get(f"/images/{iid}/members/{quoted}")):
            assert resp.status_code == 412 and "NULL" in resp.text, resp.text
        for key in ("name", "owner", "colour", "tag", "marker", "member_status"):
            resp = alice.http.get("/images", params={key: value})
            assert resp.status_code in (200, 400), (key, resp.text)
    error(post_json(alice, f"/images/{iid}/members", {"member": value}), 400,
          *["member"][:named])
    after = alice.get(iid)
    assert (after["name"], after["colour"], after["tags"]) == ("kept", "blue", ["t"])
    assert alice.http.get(f"/images/{iid}/members").json()["members"] == []
