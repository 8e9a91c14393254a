"""Container PUT/HEAD/GET/POST/DELETE with Swift's status codes, counters and metadata."""

from __future__ import annotations

import time

import pytest
import swiftclient

from tests.api.swift.helpers import conn, raw, uniq


def test_put_201_then_202(tester: tuple[str, str]) -> None:
    name = uniq()
    with raw(tester) as http:
        assert http.put(name).status_code == 201
        assert http.put(name).status_code == 202


def test_head_counts_timestamp_meta(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    before = time.time()
    c.put_container(name, headers={"X-Container-Meta-Owner": "me"})
    c.put_object(name, "a", b"1234")
    c.put_object(name, "b", b"12")
    with raw(tester) as http:
        head = http.head(name)
    assert head.status_code == 204
    assert head.headers["X-Container-Object-Count"] == "2"
    assert head.headers["X-Container-Bytes-Used"] == "6"
    assert head.headers["X-Container-Meta-Owner"] == "me"
    ts = head.headers["X-Timestamp"]
    assert len(ts.split(".")[1]) == 5 and abs(float(ts) - before) < 60
    assert head.headers["X-Storage-Policy"]


def test_get_listing_carries_counts(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    c.put_container(name)
    c.put_object(name, "x", b"abc")
    headers, listing = c.get_container(name)
    assert headers["x-container-object-count"] == "1"
    assert headers["x-container-bytes-used"] == "3"
    assert [o["name"] for o in listing] == ["x"]


def test_post_meta_and_remove(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    c.put_container(name, headers={"X-Container-Meta-A": "1"})
    with raw(tester) as http:
        resp = http.post(name, headers={"X-Container-Meta-B": "2"})
        assert resp.status_code == 204
        head = c.head_container(name)
        assert head["x-container-meta-a"] == "1" and head["x-container-meta-b"] == "2"
        http.post(name, headers={"X-Remove-Container-Meta-A": "x", "X-Container-Meta-B": ""})
        head = c.head_container(name)
        assert "x-container-meta-a" not in head and "x-container-meta-b" not in head
        assert http.post(uniq(), headers={"X-Container-Meta-B": "2"}).status_code == 404


def test_put_existing_merges_meta(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    c.put_container(name, headers={"X-Container-Meta-A": "1"})
    c.put_container(name, headers={"X-Container-Meta-B": "2"})
    head = c.head_container(name)
    assert head["x-container-meta-a"] == "1" and head["x-container-meta-b"] == "2"


def test_delete_204_409_404(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    c.put_container(name)
    c.put_object(name, "o", b"x")
    with raw(tester) as http:
        assert http.delete(name).status_code == 409
        c.delete_object(name, "o")
        assert http.delete(name).status_code == 204
        assert http.delete(name).status_code == 404
        assert http.head(name).status_code == 404
        assert http.get(name).status_code == 404


def test_missing_container_via_swiftclient(tester: tuple[str, str]) -> None:
    with pytest.raises(swiftclient.ClientException) as exc:
        conn(tester).head_container(uniq())
    assert exc.value.http_status == 404


def test_container_in_account_listing(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq("zz")
    c.put_container(name)
    c.put_object(name, "x", b"12345")
    _, listing = c.get_account(prefix=name)
    assert listing == [{"name": name, "count": 1, "bytes": 5,
                        "last_modified": listing[0]["last_modified"],
                        "storage_policy": "Policy-0"}]


def test_bad_acl_is_400(tester: tuple[str, str]) -> None:
    with raw(tester) as http:
        name = uniq()
        assert http.put(name, headers={"X-Container-Read": ".bogus:x"}).status_code == 400
        assert http.head(name).status_code == 404
        assert http.put(name, headers={"X-Container-Write": ".r:*"}).status_code == 400


def test_post_moves_last_modified_but_object_writes_do_not(tester: tuple[str, str]) -> None:
    c = conn(tester)
    name = uniq()
    c.put_container(name)
    t0 = c.head_container(name)["last-modified"]
    time.sleep(1.05)
    c.post_container(name, {"X-Container-Meta-A": "1"})
    t1 = c.head_container(name)["last-modified"]
    assert t1 != t0
    time.sleep(1.05)
    c.put_object(name, "o", b"x")
    c.post_object(name, "o", {"X-Object-Meta-B": "2"})
    assert c.head_container(name)["last-modified"] == t1


def test_storage_policy_must_be_the_one_policy(tester: tuple[str, str]) -> None:
    """Swift refuses a policy name it does not know (any case of a known one is fine)."""
    name = uniq()
    with raw(tester) as http:
        resp = http.put(name, headers={"X-Storage-Policy": "gold"})
        assert (resp.status_code, resp.text) == (400, "Invalid X-Storage-Policy 'gold'")
        assert http.head(name).status_code == 404
        assert http.put(name, headers={"X-Storage-Policy": "policy-0"}).status_code == 201
        assert http.head(name).headers["X-Storage-Policy"] == "Policy-0"


def test_expired_objects_neither_count_nor_block_delete(make_server: object) -> None:
    """An expired object is gone for readers and listings at once; the container's counters
    and DELETE agree with that before the expirer's next pass (here: an hour away)."""
    srv = make_server(extra_args=("--expirer-interval", "3600"))  # type: ignore[operator]
    srv.add_user("test", "tester", "testing", role="admin")
    tester = srv.auth_v1("test:tester", "testing")
    name = uniq()
    with raw(tester) as http:
        assert http.put(name).status_code == 201
        at = str(int(time.time()) + 2)
        for obj in ("a", "b"):
            assert http.put(f"{name}/{obj}", content=b"12345",
                            headers={"X-Delete-At": at}).status_code == 201
        assert http.put(f"{name}-keep").status_code == 201
        assert http.put(f"{name}-keep/k", content=b"xyz",
                        headers={"X-Delete-At": at}).status_code == 201
        assert http.head(name).headers["X-Container-Object-Count"] == "2"
        time.sleep(max(0.0, int(at) - time.time()) + 1.1)
        assert http.get(f"{name}/a").status_code == 404
        assert http.get(name, params={"format": "json"}).json() == []
        head = http.head(name).headers
        assert (head["X-Container-Object-Count"], head["X-Container-Bytes-Used"]) == ("0", "0")
        listing = http.get("", params={"format": "json"}).json()
        assert {(c["name"], c["count"], c["bytes"]) for c in listing} == {
            (name, 0, 0), (f"{name}-keep", 0, 0)}
        account = http.head("").headers
        assert (account["X-Account-Object-Count"], account["X-Account-Bytes-Used"]) == ("0", "0")
        assert http.delete(name).status_code == 204
        assert http.delete(f"{name}-keep").status_code == 204
        assert http.head(name).status_code == 404
