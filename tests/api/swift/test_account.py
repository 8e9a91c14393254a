"""Account HEAD/GET/POST: counts, metadata, listings, the trailing-slash URL."""

from __future__ import annotations

import httpx

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


def _fresh_account(server: Server) -> tuple[str, str]:
    project, user = uniq("p"), uniq("u")
    server.add_user(project, user, "pw", role="admin")
    return server.auth_v1(f"{project}:{user}", "pw")


def test_head_counts_and_meta(server: Server) -> None:
    url, token = _fresh_account(server)
    head = httpx.head(url, headers={"X-Auth-Token": token})
    assert head.status_code == 204
    assert head.headers["X-Account-Container-Count"] == "0"
    assert head.headers["X-Account-Object-Count"] == "0"
    assert head.headers["X-Account-Bytes-Used"] == "0"
    assert float(head.headers["X-Timestamp"]) > 0
    c = conn((url, token))
    c.put_container("a")
    c.put_container("b")
    c.put_object("a", "o1", b"12345")
    c.put_object("b", "o2", b"123")
    c.put_object("b", "o2", b"1234")  # overwrite: counts once, new size
    head = c.head_account()
    assert head["x-account-container-count"] == "2"
    assert head["x-account-object-count"] == "2"
    assert head["x-account-bytes-used"] == "9"
    c.delete_object("a", "o1")
    head = c.head_account()
    assert head["x-account-object-count"] == "1"
    assert head["x-account-bytes-used"] == "4"


def test_post_metadata_and_remove(server: Server) -> None:
    url, token = _fresh_account(server)
    c = conn((url, token))
    c.post_account({"X-Account-Meta-Color": "blue", "X-Account-Meta-Size": "L"})
    head = c.head_account()
    assert head["x-account-meta-color"] == "blue" and head["x-account-meta-size"] == "L"
    c.post_account({"X-Remove-Account-Meta-Color": "x", "X-Account-Meta-Size": ""})
    head = c.head_account()
    assert "x-account-meta-color" not in head and "x-account-meta-size" not in head
    resp = httpx.post(url, headers={"X-Auth-Token": token, "X-Account-Meta-A": "1"})
    assert resp.status_code == 204


def test_get_listing_formats_and_counts(server: Server) -> None:
    url, token = _fresh_account(server)
    c = conn((url, token))
    for name in ("b", "a", "c/d"):
        c.put_container(name.replace("/", "-"))
    c.put_object("a", "x", b"xyz")
    headers, listing = c.get_account()
    assert [e["name"] for e in listing] == ["a", "b", "c-d"]
    a = listing[0]
    assert set(a) == {"name", "count", "bytes", "last_modified", "storage_policy"}
    assert a["storage_policy"] == "Policy-0"  # Swift 2.38 names each container's policy
    assert a["count"] == 1 and a["bytes"] == 3
    assert headers["x-account-container-count"] == "3"
    assert headers["x-account-object-count"] == "1"
    plain = httpx.get(url, headers={"X-Auth-Token": token})
    assert plain.status_code == 200 and plain.text == "a\nb\nc-d\n"
    assert plain.headers["X-Account-Bytes-Used"] == "3"
    xml = httpx.get(url, params={"format": "xml"}, headers={"X-Auth-Token": token})
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert "<container><name>a</name><count>1</count><bytes>3</bytes>" in xml.text
    assert "</last_modified><storage_policy>Policy-0</storage_policy></container>" in xml.text
    limited = httpx.get(url, params={"format": "json", "limit": "1", "marker": "a"},
                        headers={"X-Auth-Token": token}).json()
    assert [e["name"] for e in limited] == ["b"]


def test_empty_account_listing(server: Server) -> None:
    url, token = _fresh_account(server)
    plain = httpx.get(url, headers={"X-Auth-Token": token})
    assert plain.status_code == 204 and plain.content == b""
    as_json = httpx.get(url + "?format=json", headers={"X-Auth-Token": token})
    assert as_json.status_code == 200 and as_json.json() == []


def test_trailing_slash_url(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    resp = httpx.head(url + "/", headers={"X-Auth-Token": token})
    assert resp.status_code == 204
    assert "X-Account-Container-Count" in resp.headers
    resp = httpx.get(url + "/?format=json", headers={"X-Auth-Token": token})
    assert resp.status_code == 200 and isinstance(resp.json(), list)


def test_anonymous_and_other_users_are_refused(server: Server, tester: tuple[str, str]) -> None:
    url, _ = tester
    assert httpx.head(url).status_code == 401
    other_url, other_token = _fresh_account(server)
    assert other_url != url
    assert httpx.head(url, headers={"X-Auth-Token": other_token}).status_code == 403
    assert httpx.post(url, headers={"X-Auth-Token": other_token,
                                    "X-Account-Meta-Evil": "1"}).status_code == 403
