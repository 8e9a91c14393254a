"""Account ACLs (`X-Account-Access-Control`) for v1.0 users, as tempauth grants them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


@pytest.fixture
def owner(server: Server) -> Iterator[tuple[str, str]]:
    """A fresh account (so ACLs set here touch no other test) and its owner's token."""
    project = uniq("acl")
    server.add_user(project, "boss", "pw", role="admin")
    yield server.auth_v1(f"{project}:boss", "pw")


@pytest.fixture
def guest(server: Server) -> tuple[str, str]:
    """`project:user` and token of a member of another project."""
    project = uniq("guest")
    server.add_user(project, "visitor", "pw", role="member")
    return f"{project}:visitor", server.auth_v1(f"{project}:visitor", "pw")[1]


def grant(owner: tuple[str, str], level: str | None, who: str) -> None:
    conn(owner).post_account({"X-Account-Access-Control":
                              json.dumps({level: [who]}) if level else "{}"})


def call(method: str, url: str, token: str | None, **headers: str) -> httpx.Response:
    if token:
        headers["X-Auth-Token"] = token
    return httpx.request(method, url, headers=headers)


def test_info_advertises_account_acls(server: Server) -> None:
    assert httpx.get(f"{server.url}/info").json()["tempauth"] == {"account_acls": True}


def test_read_only_reads_but_writes_nothing(owner: tuple[str, str],
                                            guest: tuple[str, str]) -> None:
    url, _ = owner
    who, token = guest
    conn(owner).put_container("box")
    conn(owner).put_object("box", "doc", b"data")
    conn(owner).post_account({"X-Account-Meta-Color": "blue",
                              "X-Account-Meta-Temp-URL-Key": "secret"})
    assert call("GET", url, token).status_code == 403
    assert call("GET", url, None).status_code == 401
    grant(owner, "read-only", who)
    head = call("HEAD", url, token)
    assert head.status_code == 204 and head.headers["X-Account-Meta-Color"] == "blue"
    # owner-only headers stay hidden: the ACL itself and the temp URL key
    assert "X-Account-Access-Control" not in head.headers
    assert "X-Account-Meta-Temp-Url-Key" not in head.headers
    assert call("GET", f"{url}/box/doc", token).content == b"data"
    assert call("POST", url, token, **{"X-Account-Meta-Color": "red"}).status_code == 403
    assert call("PUT", f"{url}/box/new", token).status_code == 403
    assert call("PUT", f"{url}/other", token).status_code == 403
    assert conn(owner).head_account()["x-account-meta-color"] == "blue"
    grant(owner, None, who)
    assert call("GET", f"{url}/box/doc", token).status_code == 403


def test_read_write_changes_content_but_not_privileged_headers(
        owner: tuple[str, str], guest: tuple[str, str]) -> None:
    url, _ = owner
    who, token = guest
    conn(owner).put_container("box", headers={"X-Container-Read": "someone:else",
                                              "X-Container-Meta-Temp-URL-Key": "k"})
    grant(owner, "read-write", who)
    assert call("PUT", f"{url}/made", token).status_code == 201
    assert call("PUT", f"{url}/made/o", token).status_code == 201
    assert call("DELETE", f"{url}/made/o", token).status_code == 204
    assert call("DELETE", f"{url}/made", token).status_code == 204
    head = call("HEAD", f"{url}/box", token)
    assert "X-Container-Read" not in head.headers
    assert "X-Container-Meta-Temp-Url-Key" not in head.headers
    # as Swift: the owner-only headers are dropped, the rest of the POST is applied
    resp = call("POST", f"{url}/box", token, **{"X-Container-Read": ".r:*",
                                                "X-Container-Meta-Note": "hi"})
    assert resp.status_code == 204
    meta = conn(owner).head_container("box")
    assert (meta["x-container-read"], meta["x-container-meta-note"]) == ("someone:else", "hi")
    assert call("POST", f"{url}/box", token, **{"X-Remove-Container-Read": "x"}
                ).status_code == 204
    assert conn(owner).head_container("box")["x-container-read"] == "someone:else"
    # container quotas are container metadata: whoever may set that may set them (Swift)
    assert call("POST", f"{url}/box", token, **{"X-Container-Meta-Quota-Bytes": "3"}
                ).status_code == 204
    big = httpx.put(f"{url}/box/big", content=b"four", headers={"X-Auth-Token": token})
    assert (big.status_code, big.text) == (413, "Upload exceeds quota.")
    # the account itself stays the owner's
    assert call("POST", url, token, **{"X-Account-Meta-A": "1"}).status_code == 403
    assert call("POST", url, token, **{"X-Account-Access-Control": "{}"}).status_code == 403
    assert "X-Account-Access-Control" not in call("HEAD", url, token).headers


def test_admin_acts_as_owner_and_may_revoke_itself(owner: tuple[str, str],
                                                   guest: tuple[str, str]) -> None:
    url, _ = owner
    who, token = guest
    grant(owner, "admin", who)
    head = call("HEAD", url, token)
    assert json.loads(head.headers["X-Account-Access-Control"]) == {"admin": [who]}
    assert call("POST", url, token, **{"X-Account-Meta-Temp-URL-Key": "s"}).status_code == 204
    assert call("HEAD", url, token).headers["X-Account-Meta-Temp-Url-Key"] == "s"
    assert call("PUT", f"{url}/c", token, **{"X-Container-Read": ".r:*"}).status_code == 201
    assert conn(owner).head_container("c")["x-container-read"] == ".r:*"
    assert call("POST", url, token, **{"X-Account-Access-Control": "{}"}).status_code == 204
    assert call("HEAD", url, token).status_code == 403


def test_invalid_account_acls_are_refused(owner: tuple[str, str]) -> None:
    url, token = owner
    grant(owner, "read-only", "a:b")
    for bad in ("not json", '{"admin": "x"}', '{"root": ["a:b"]}', '["a:b"]'):
        assert call("POST", url, token, **{"X-Account-Access-Control": bad}).status_code == 400
    assert json.loads(conn(owner).head_account()["x-account-access-control"]) == {
        "read-only": ["a:b"]}


def test_project_and_account_names_as_container_acl_entries(
        server: Server, owner: tuple[str, str], guest: tuple[str, str]) -> None:
    """As tempauth's groups: a project name grants its users, an account its owners."""
    who, token = guest
    project = who.split(":")[0]
    url, _ = owner
    c = conn(owner)
    c.put_container("by-project", headers={"X-Container-Read": project})
    c.put_object("by-project", "o", b"1")
    assert call("GET", f"{url}/by-project/o", token).status_code == 200
    server.add_user(project, "reader", "pw", role="reader")
    reader = server.auth_v1(f"{project}:reader", "pw")[1]
    assert call("GET", f"{url}/by-project/o", reader).status_code == 200
    guest_account = server.auth_v1(who, "pw")[0].rsplit("/", 1)[1]
    c.put_container("by-account", headers={"X-Container-Read": guest_account})
    c.put_object("by-account", "o", b"2")
    assert call("GET", f"{url}/by-account/o", reader).status_code == 403  # not an owner
    assert call("GET", f"{url}/by-account/o", token).status_code == 200  # a member owns it


def test_read_only_reads_large_objects_assembled(owner: tuple[str, str],
                                                 guest: tuple[str, str]) -> None:
    """SLO and DLO apply the same read rule as plain objects: an account reader gets the
    assembled bytes, never the manifest."""
    url, _ = owner
    who, token = guest
    c = conn(owner)
    c.put_container("lo")
    c.put_object("lo", "seg/1", b"abc")
    c.put_object("lo", "seg/2", b"def")
    manifest = [{"path": "/lo/seg/1"}, {"path": "/lo/seg/2"}]
    c.put_object("lo", "slo", json.dumps(manifest).encode(),
                 query_string="multipart-manifest=put")
    c.put_object("lo", "dlo", b"", headers={"X-Object-Manifest": "lo/seg/"})
    assert call("GET", f"{url}/lo/slo", token).status_code == 403
    grant(owner, "read-only", who)
    for name in ("slo", "dlo"):
        resp = call("GET", f"{url}/lo/{name}", token)
        assert (resp.status_code, resp.content) == (200, b"abcdef"), name
