"""Symlinks through python-swiftclient and raw HTTP, as Swift's symlink middleware answers."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from swiftclient import client as swift
from swiftclient.exceptions import ClientException

from tests.harness import Server


@pytest.fixture
def env(server: Server, tester: tuple[str, str]) -> tuple[str, str, str]:
    url, token = tester
    container = f"sym-{uuid.uuid4().hex[:8]}"
    swift.put_container(url, token, container)
    swift.put_object(url, token, container, "target", b"hello target",
                     content_type="text/target")
    return url, token, container


def link(url: str, token: str, container: str, name: str, target: str,
         **headers: str) -> None:
    swift.put_object(url, token, container, name, b"",
                     headers={"X-Symlink-Target": target, **headers})


def test_get_and_head_follow_the_link(env: tuple[str, str, str]) -> None:
    url, token, container = env
    link(url, token, container, "link", f"{container}/target")
    headers, body = swift.get_object(url, token, container, "link")
    assert body == b"hello target"
    assert headers["content-type"] == "text/target"
    account = url.rsplit("/", 1)[1]
    assert headers["content-location"] == f"/v1/{account}/{container}/target"
    head = swift.head_object(url, token, container, "link")
    assert head["content-length"] == str(len(b"hello target"))


def test_symlink_get_returns_the_link_itself(env: tuple[str, str, str]) -> None:
    url, token, container = env
    link(url, token, container, "link", f"{container}/target")
    headers, body = swift.get_object(url, token, container, "link",
                                     query_string="symlink=get")
    assert body == b""
    assert headers["x-symlink-target"] == f"{container}/target"
    assert headers["content-type"] == "application/symlink"
    assert "x-object-sysmeta-symlink-target" not in headers


def test_bad_symlink_puts_are_refused(env: tuple[str, str, str]) -> None:
    url, token, container = env
    cases = [({"X-Symlink-Target": f"{container}/target"}, b"body", 400),
             ({"X-Symlink-Target": f"/{container}/target"}, b"", 412),
             ({"X-Symlink-Target": "no-object-part"}, b"", 412),
             ({"X-Symlink-Target": f"{container}/self"}, b"", 400)]
    for headers, body, status in cases:
        resp = httpx.put(f"{url}/{container}/self", content=body,
                         headers={"X-Auth-Token": token, **headers})
        assert resp.status_code == status, (headers, resp.text)
    with pytest.raises(ClientException):
        swift.head_object(url, token, container, "self")


def test_missing_target_is_404_with_location(env: tuple[str, str, str]) -> None:
    url, token, container = env
    link(url, token, container, "dangling", f"{container}/nothing-here")
    resp = httpx.get(f"{url}/{container}/dangling", headers={"X-Auth-Token": token})
    assert resp.status_code == 404
    assert resp.headers["content-location"].endswith(f"/{container}/nothing-here")


def test_static_links_check_the_target_etag(env: tuple[str, str, str]) -> None:
    url, token, container = env
    etag = hashlib.md5(b"hello target").hexdigest()
    auth = {"X-Auth-Token": token}
    bad = httpx.put(f"{url}/{container}/static", content=b"",
                    headers={**auth, "X-Symlink-Target": f"{container}/target",
                             "X-Symlink-Target-Etag": "0" * 32})
    assert bad.status_code == 409
    assert b"does not match" in bad.content
    missing = httpx.put(f"{url}/{container}/static", content=b"",
                        headers={**auth, "X-Symlink-Target": f"{container}/gone",
                                 "X-Symlink-Target-Etag": etag})
    assert missing.status_code == 409
    assert missing.text == "X-Symlink-Target does not exist"
    link(url, token, container, "static", f"{container}/target",
         **{"X-Symlink-Target-Etag": etag})
    headers, _ = swift.get_object(url, token, container, "static",
                                  query_string="symlink=get")
    assert headers["x-symlink-target-etag"] == etag
    assert headers["x-symlink-target-bytes"] == str(len(b"hello target"))
    listing = swift.get_container(url, token, container)[1]
    entry = next(e for e in listing if e["name"] == "static")
    assert entry["symlink_etag"] == etag and entry["symlink_bytes"] == 12
    assert entry["symlink_path"].endswith(f"/{container}/target")
    # the target changes: the static link now refuses to serve it
    swift.put_object(url, token, container, "target", b"changed")
    resp = httpx.get(f"{url}/{container}/static", headers=auth)
    assert resp.status_code == 409


def test_loops_are_detected(env: tuple[str, str, str]) -> None:
    url, token, container = env
    link(url, token, container, "a", f"{container}/b")
    link(url, token, container, "b", f"{container}/a")
    resp = httpx.get(f"{url}/{container}/a", headers={"X-Auth-Token": token})
    assert resp.status_code == 409
    assert resp.text == "Too many levels of symbolic links, maximum allowed is 2"
    # two hops are allowed
    link(url, token, container, "hop2", f"{container}/hop1")
    link(url, token, container, "hop1", f"{container}/target")
    assert swift.get_object(url, token, container, "hop2")[1] == b"hello target"


def test_post_to_a_link_redirects_and_copy_copies_the_target(
        env: tuple[str, str, str]) -> None:
    url, token, container = env
    link(url, token, container, "link", f"{container}/target")
    resp = httpx.post(f"{url}/{container}/link",
                      headers={"X-Auth-Token": token, "X-Object-Meta-Color": "red"})
    assert resp.status_code == 307
    assert resp.headers["location"].endswith(f"/{container}/target")
    # the link keeps being a link after a POST
    headers, _ = swift.get_object(url, token, container, "link", query_string="symlink=get")
    assert headers["x-symlink-target"] == f"{container}/target"
    swift.put_object(url, token, container, "copy", b"",
                     headers={"X-Copy-From": f"{container}/link"})
    assert swift.get_object(url, token, container, "copy")[1] == b"hello target"


def test_info_lists_symlinks(server: Server) -> None:
    info = httpx.get(f"{server.url}/info").json()
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}


def test_cross_account_link_copies_and_revoked_reads(server: Server,
                                                     env: tuple[str, str, str]) -> None:
    """A link without a target account points into the account holding it, also after a
    copy to another account; a static link whose target may no longer be read answers 403
    (not the etag's 409), still naming the target."""
    url, token, container = env
    project = f"symacct-{uuid.uuid4().hex[:8]}"
    server.add_user(project, "peer", "pw", role="admin")
    peer_url, peer = server.auth_v1(f"{project}:peer", "pw")
    account = url.rsplit("/", 1)[1]
    swift.post_container(url, token, container, {"X-Container-Read": f"{project}:peer"})
    link(url, token, container, "rel", f"{container}/target")
    swift.put_container(peer_url, peer, "mine")
    for name, extra in (("moved", {}), ("pinned", {"X-Symlink-Target-Account": account})):
        resp = httpx.put(f"{peer_url}/mine/{name}", params={"symlink": "get"},
                         headers={"X-Auth-Token": peer, "X-Copy-From-Account": account,
                                  "X-Copy-From": f"{container}/rel", **extra})
        assert resp.status_code == 201
    moved = httpx.get(f"{peer_url}/mine/moved", headers={"X-Auth-Token": peer})
    peer_account = peer_url.rsplit("/", 1)[1]
    assert moved.status_code == 404
    assert moved.headers["content-location"] == f"/v1/{peer_account}/{container}/target"
    assert swift.get_object(peer_url, peer, "mine", "pinned")[1] == b"hello target"
    etag = hashlib.md5(b"hello target").hexdigest()
    link(peer_url, peer, "mine", "static", f"{container}/target",
         **{"X-Symlink-Target-Account": account, "X-Symlink-Target-Etag": etag})
    swift.put_object(url, token, container, "target", b"changed")
    assert httpx.get(f"{peer_url}/mine/static", headers={"X-Auth-Token": peer}
                     ).status_code == 409
    swift.post_container(url, token, container, {"X-Remove-Container-Read": "x"})
    denied = httpx.get(f"{peer_url}/mine/static", headers={"X-Auth-Token": peer})
    assert denied.status_code == 403
    assert denied.headers["content-location"] == f"/v1/{account}/{container}/target"
