"""Object versioning (X-Versions-Enabled) with python-swiftclient and raw HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

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
    assert copied.headers["x-copied-from-version-id"] == ids[1]  # as Swift's copy says
    assert swift.get_object(url, token, name, "obj")[1] == b"two"
    # the current version copied elsewhere names the version it came from
    current = swift.head_object(url, token, name, "obj")["x-object-version-id"]
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, plain)
    out = httpx.request("COPY", f"{url}/{name}/obj", headers={**auth,
                                                               "Destination": f"{plain}/o"})
    assert out.status_code == 201 and out.headers["x-copied-from-version-id"] == current
    # and an unversioned source names none
    back = httpx.request("COPY", f"{url}/{plain}/o", headers={**auth,
                                                              "Destination": f"{plain}/p"})
    assert back.status_code == 201 and "x-copied-from-version-id" not in back.headers


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


def put(url: str, token: str, path: str, body: bytes, **headers: str) -> str:
    """PUT an object; its version id (empty for an unversioned write)."""
    resp = httpx.put(f"{url}/{path}", content=body, headers={"X-Auth-Token": token, **headers})
    assert resp.status_code == 201, resp.text
    return resp.headers.get("x-object-version-id", "")


def test_container_bytes_count_every_version_once(tester: tuple[str, str]) -> None:
    """As in Swift: bytes used = unversioned objects + every version; the count is the
    container's current objects; account listings agree; a POST changes nothing."""
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "false"})
    put(url, token, f"{name}/plain", b"not-versioned")  # 13 bytes, version "null"
    swift.post_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    for body in (b"version1", b"version2", b"version3"):
        put(url, token, f"{name}/c-obj", body)
    swift.delete_object(url, token, name, "c-obj")
    put(url, token, f"{name}/b-obj", b"version1")
    assert httpx.delete(f"{url}/{name}/a-never", headers={"X-Auth-Token": token}
                        ).status_code == 404  # a delete marker only

    def stats() -> tuple[int, int]:
        head = swift.head_container(url, token, name)
        return int(head["x-container-bytes-used"]), int(head["x-container-object-count"])

    assert stats() == (13 + 4 * 8, 2)
    headers, _ = swift.get_container(url, token, name)
    assert int(headers["x-container-bytes-used"]) == 45
    listing = httpx.get(f"{url}/{name}", params={"versions": "", "format": "json"},
                        headers={"X-Auth-Token": token})
    assert int(listing.headers["x-container-bytes-used"]) == 45
    account = swift.get_account(url, token, prefix=name)[1]
    assert [(c["name"], c["bytes"], c["count"]) for c in account] == [(name, 45, 2)]
    swift.post_object(url, token, name, "b-obj", headers={"X-Object-Meta-Color": "blue"})
    assert stats() == (45, 2)
    # deleting versions gives their bytes back
    for entry in versions(url, token, name, prefix="c-"):
        httpx.delete(f"{url}/{name}/c-obj", params={"version-id": str(entry["version_id"])},
                     headers={"X-Auth-Token": token})
    assert stats() == (21, 2)


def test_version_listing_pages_across_a_null_version(tester: tuple[str, str]) -> None:
    """An object's null version lists before its other versions, and version_marker=null
    continues with them, as Swift pages."""
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    a1 = put(url, token, f"{name}/a", b"v1")
    b1 = put(url, token, f"{name}/b", b"v1")
    b2 = put(url, token, f"{name}/b", b"v2")
    swift.post_container(url, token, name, headers={"X-Versions-Enabled": "false"})
    assert put(url, token, f"{name}/b", b"vnull") == ""
    swift.post_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    c1 = put(url, token, f"{name}/c", b"v1")
    expected = [("a", a1, True), ("b", "null", True), ("b", b2, False), ("b", b1, False),
                ("c", c1, True)]

    def page(**params: str) -> list[tuple[object, object, object]]:
        return [(e["name"], e["version_id"], e["is_latest"])
                for e in versions(url, token, name, **params)]

    assert page() == expected
    assert page(limit="2") == expected[:2]
    assert page(limit="2", marker="b", version_marker="null") == expected[2:4]
    assert page(limit="2", marker="b", version_marker=b1) == expected[4:]
    # without a null version, version_marker=null starts before all of the object's
    # versions; like Swift, the current one is not marked latest when its object is
    # left out of the page by the marker
    assert page(marker="a", version_marker="null") == [("a", a1, False), *expected[1:]]


def test_version_keeps_symlink_get_and_copies_the_link(tester: tuple[str, str]) -> None:
    """`?version-id=&symlink=get` shows an old version that is a link as the link; COPY with
    both restores the link itself."""
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    auth = {"X-Auth-Token": token}
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    put(url, token, f"{name}/target", b"target object data", **{"Content-Type": "text/x-t"})
    link_vid = put(url, token, f"{name}/link", b"", **{"X-Symlink-Target": f"{name}/target"})
    put(url, token, f"{name}/link", b"this is not a symlink")
    followed = httpx.head(f"{url}/{name}/link", params={"version-id": link_vid}, headers=auth)
    assert followed.headers["content-type"] == "text/x-t"
    itself = httpx.head(f"{url}/{name}/link", params={"version-id": link_vid,
                                                      "symlink": "get"}, headers=auth)
    assert itself.headers["content-type"] == "application/symlink"
    assert itself.headers["x-symlink-target"] == f"{name}/target"
    restored = httpx.request("COPY", f"{url}/{name}/link",
                             params={"version-id": link_vid, "symlink": "get"},
                             headers={**auth, "Destination": f"{name}/link"})
    assert restored.status_code == 201
    assert swift.get_object(url, token, name, "link")[1] == b"target object data"
    assert httpx.head(f"{url}/{name}/link", params={"symlink": "get"}, headers=auth
                      ).headers["x-symlink-target"] == f"{name}/target"
    assert len(versions(url, token, name, prefix="link")) == 3


def test_current_versions_list_as_links_to_their_version(tester: tuple[str, str]) -> None:
    """A plain listing marks versioned objects as Swift's links to their version do."""
    url, token = tester
    name = f"ov-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "false"})
    put(url, token, f"{name}/old", b"unversioned")
    swift.post_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    vid = put(url, token, f"{name}/new", b"versioned")
    account = url[url.index("/v1/") + 4:]
    listing = {e["name"]: e for e in swift.get_container(url, token, name)[1]}
    assert listing["new"]["version_symlink"] is True
    assert listing["new"]["symlink_path"] == f"/v1/{account}/{name}/new?version-id={vid}"
    assert listing["new"]["bytes"] == 9
    assert "version_symlink" not in listing["old"]


def test_copy_into_a_versioned_container_makes_a_version(tester: tuple[str, str]) -> None:
    """A COPY from elsewhere onto a versioned object keeps the overwritten version."""
    url, token = tester
    name, source = f"ov-{uuid.uuid4().hex[:8]}", f"src-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    swift.put_container(url, token, source)
    first = put(url, token, f"{name}/obj", b"ccccc")
    put(url, token, f"{source}/s", b"ddddd", **{"Content-Type": "text/x-d"})
    copied = httpx.request("COPY", f"{url}/{source}/s",
                           headers={"X-Auth-Token": token, "Destination": f"{name}/obj"})
    assert copied.status_code == 201
    vid = copied.headers["x-object-version-id"]
    assert [(e["version_id"], e["is_latest"], e["content_type"])
            for e in versions(url, token, name)] == [
        (vid, True, "text/x-d"), (first, False, "application/octet-stream")]
    assert swift.get_object(url, token, name, "obj")[1] == b"ddddd"


def test_slo_manifest_delete_of_one_version(tester: tuple[str, str]) -> None:
    """`DELETE ?multipart-manifest=delete&version-id=` removes that version and its segments;
    the current manifest stays (and, its segments shared, now fails as in Swift)."""
    url, token = tester
    name, segs = f"ov-{uuid.uuid4().hex[:8]}", f"seg-{uuid.uuid4().hex[:8]}"
    auth = {"X-Auth-Token": token}
    swift.put_container(url, token, name, headers={"X-Versions-Enabled": "true"})
    swift.put_container(url, token, segs)
    etag = swift.put_object(url, token, segs, "a", b"a" * 1024)
    manifest = [{"path": f"/{segs}/a", "etag": etag, "size_bytes": 1024}]
    v1 = httpx.put(f"{url}/{name}/big", params={"multipart-manifest": "put"},
                   json=manifest, headers=auth).headers["x-object-version-id"]
    httpx.put(f"{url}/{name}/big", params={"multipart-manifest": "put"}, json=manifest,
              headers=auth)
    assert httpx.get(f"{url}/{name}/big", params={"version-id": v1}, headers=auth
                     ).content == b"a" * 1024
    resp = httpx.delete(f"{url}/{name}/big", params={"multipart-manifest": "delete",
                                                     "version-id": v1},
                        headers={**auth, "Accept": "application/json"})
    assert resp.status_code == 200
    assert (resp.json()["Number Deleted"], resp.json()["Errors"]) == (2, [])
    assert [e["version_id"] for e in versions(url, token, name)] != [v1]
    assert len(versions(url, token, name)) == 1
    assert httpx.get(f"{url}/{name}/big", headers=auth).status_code == 409


def slow_body(until: float) -> Iterator[bytes]:
    """A body whose last byte goes after the wall clock passes `until`."""
    yield b"aaa"
    time.sleep(max(0.0, until - time.time()) + 0.2)
    yield b"aa"


def test_an_object_due_before_its_write_ends_keeps_its_version(
        tester: tuple[str, str]) -> None:
    """Swift's test_expiry, made certain instead of timing-dependent: a PUT or POST with
    X-Delete-After: 1 may end after its due time (now + 1 truncated to a whole second) has
    passed; the link is gone for readers then, but the version, which never expires, must
    have been written (PUT) or given the new metadata (POST). Re-reading the link after the
    write as a reader would lost both (seen on PostgreSQL, whose slower writes widen the
    window). The PUT's body ends after the due time for certain; the POST is sent a few
    milliseconds before a whole second, so it ends after its due time as a rule."""
    url, token = tester
    auth = {"X-Auth-Token": token}
    box = f"ov-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, box, headers={"X-Versions-Enabled": "true"})
    started = time.time()
    resp = httpx.put(f"{url}/{box}/one", content=slow_body(int(started) + 2), headers={
        **auth, "X-Delete-After": "1", "Content-Type": "text/blah",
        "X-Object-Meta-Color": "blue"}, timeout=30)
    assert resp.status_code == 201, resp.text
    vid1 = resp.headers["x-object-version-id"]
    vid2 = put(url, token, f"{box}/two", b"bbbbb")
    with httpx.Client(headers=auth) as client:
        client.head(f"{url}/{box}/two")  # a warm connection: the POST goes out at once
        time.sleep(0.995 - time.time() % 1 if time.time() % 1 < 0.995 else 0.995)
        posted = time.time()
        resp = client.post(f"{url}/{box}/two", headers={"X-Delete-After": "1",
                                                        "X-Object-Meta-Color": "red"})
    assert resp.status_code == 202
    time.sleep(max(0.0, int(posted) + 2.1 - time.time()))  # due either way by then
    for name in ("one", "two"):
        assert httpx.head(f"{url}/{box}/{name}", headers=auth).status_code == 404
    one = httpx.head(f"{url}/{box}/one", params={"version-id": vid1}, headers=auth)
    assert one.status_code == 200, "the version of an object due at once was never written"
    assert (one.headers["content-type"], one.headers["x-object-meta-color"]) == (
        "text/blah", "blue")
    two = httpx.head(f"{url}/{box}/two", params={"version-id": vid2}, headers=auth)
    assert two.status_code == 200 and two.headers["x-object-meta-color"] == "red"
    assert len(versions(url, token, box)) == 2
