"""Container ACLs (`.r:*`, `.rlistings`, `project:user`) enforced for others and anonymous."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.swift.helpers import conn, uniq
from tests.harness import Server


@pytest.fixture(scope="module")
def other(server: Server) -> tuple[str, str, str]:
    """(project, user, token) of a member of another project."""
    project, user = uniq("p"), uniq("u")
    server.add_user(project, user, "pw", role="member")
    _, token = server.auth_v1(f"{project}:{user}", "pw")
    return project, user, token


@pytest.fixture
def container(tester: tuple[str, str]) -> Iterator[str]:
    c = conn(tester)
    name = uniq()
    c.put_container(name)
    c.put_object(name, "obj", b"secret")
    yield name


def test_private_by_default(tester: tuple[str, str], other: tuple[str, str, str],
                            container: str) -> None:
    url, _ = tester
    token = other[2]
    assert httpx.get(f"{url}/{container}/obj").status_code == 401
    assert httpx.get(f"{url}/{container}").status_code == 401
    assert httpx.get(f"{url}/{container}/obj", headers={"X-Auth-Token": token}).status_code == 403
    assert httpx.get(f"{url}/{container}", headers={"X-Auth-Token": token}).status_code == 403
    assert httpx.put(f"{url}/{container}/new", content=b"x",
                     headers={"X-Auth-Token": token}).status_code == 403
    assert httpx.delete(f"{url}/{container}/obj",
                        headers={"X-Auth-Token": token}).status_code == 403
    assert conn(tester).get_object(container, "obj")[1] == b"secret"


def test_public_read_without_listing(tester: tuple[str, str], container: str) -> None:
    url, _ = tester
    conn(tester).post_container(container, {"X-Container-Read": ".r:*"})
    resp = httpx.get(f"{url}/{container}/obj")
    assert resp.status_code == 200 and resp.content == b"secret"
    assert httpx.get(f"{url}/{container}").status_code == 401
    assert httpx.put(f"{url}/{container}/obj", content=b"x").status_code == 401
    assert httpx.delete(f"{url}/{container}/obj").status_code == 401
    conn(tester).post_container(container, {"X-Container-Read": ".r:*,.rlistings"})
    listing = httpx.get(f"{url}/{container}?format=json")
    assert listing.status_code == 200 and [o["name"] for o in listing.json()] == ["obj"]
    # ACL headers are the owner's business
    assert "X-Container-Read" not in httpx.head(f"{url}/{container}").headers


def test_user_acl_grants_read_and_write(tester: tuple[str, str], other: tuple[str, str, str],
                                        container: str) -> None:
    url, _ = tester
    project, user, token = other
    hdr = {"X-Auth-Token": token}
    conn(tester).post_container(container, {"X-Container-Read": f"{project}:{user}"})
    assert httpx.get(f"{url}/{container}/obj", headers=hdr).content == b"secret"
    assert httpx.get(f"{url}/{container}", headers=hdr).status_code == 200
    assert httpx.put(f"{url}/{container}/mine", content=b"x", headers=hdr).status_code == 403
    conn(tester).post_container(container, {"X-Container-Write": f"{project}:{user}"})
    assert httpx.put(f"{url}/{container}/mine", content=b"x", headers=hdr).status_code == 201
    assert conn(tester).get_object(container, "mine")[1] == b"x"
    assert httpx.delete(f"{url}/{container}/mine", headers=hdr).status_code == 204
    # the ACL never makes them the owner
    assert httpx.delete(f"{url}/{container}", headers=hdr).status_code == 403
    assert httpx.post(f"{url}/{container}", headers={**hdr, "X-Container-Read": ".r:*"}
                      ).status_code == 403
    assert httpx.head(url, headers=hdr).status_code == 403


def test_acl_for_someone_else_does_not_grant(tester: tuple[str, str],
                                             other: tuple[str, str, str],
                                             container: str) -> None:
    url, _ = tester
    conn(tester).post_container(container, {"X-Container-Read": "nobody:else",
                                            "X-Container-Write": "nobody:else"})
    hdr = {"X-Auth-Token": other[2]}
    assert httpx.get(f"{url}/{container}/obj", headers=hdr).status_code == 403
    assert httpx.put(f"{url}/{container}/x", content=b"1", headers=hdr).status_code == 403


def keystone_token(server: Server, user: str, password: str, project: str,
                   domain: str = "default") -> str:
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": domain}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": domain}}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"]


def test_acls_read_as_the_tokens_issuer_reads_them(server: Server,
                                                   tester: tuple[str, str]) -> None:
    """A v1.0 token gets tempauth's groups (a project name grants its users); a Keystone
    token keystoneauth's rules: a bare entry is a role in the caller's own account, and
    names count only in the default domain (ids always)."""
    from tests.api.identity.conftest import admin_token

    url, _ = tester
    reader = uniq("r")
    server.add_user("test", reader, "pw", role="reader")  # in the tester's project, no owner
    v1 = server.auth_v1(f"test:{reader}", "pw")[1]
    ks = keystone_token(server, reader, "pw", "test")
    name = uniq()
    c = conn(tester)
    c.put_container(name, headers={"X-Container-Read": "test"})
    c.put_object(name, "obj", b"data")

    def status(token: str, account_url: str = url) -> int:
        return httpx.get(f"{account_url}/{name}/obj", headers={"X-Auth-Token": token}
                         ).status_code

    assert (status(v1), status(ks)) == (200, 403)
    c.post_container(name, headers={"X-Container-Read": "reader"})  # a role name
    assert (status(v1), status(ks)) == (200, 200)
    # a user of another domain: its names do not count in a Keystone ACL, its ids do
    api = httpx.Client(base_url=f"{server.url}/identity/v3", timeout=60,
                       headers={"X-Auth-Token": admin_token(server)})
    with api:
        domain = api.post("/domains", json={"domain": {"name": uniq("d")}}).json()["domain"]
        project = api.post("/projects", json={"project": {
            "name": uniq("p"), "domain_id": domain["id"]}}).json()["project"]
        user = api.post("/users", json={"user": {"name": uniq("u"), "password": "pw",
                                                 "domain_id": domain["id"]}}).json()["user"]
        role = api.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]
        assert api.put(f"/projects/{project['id']}/users/{user['id']}/roles/{role}"
                       ).status_code == 204
    far = keystone_token(server, user["name"], "pw", project["name"], domain["id"])
    c.post_container(name, headers={"X-Container-Read": f"{project['name']}:{user['name']}"})
    assert status(far) == 403
    c.post_container(name, headers={"X-Container-Read": f"{project['id']}:*"})
    assert status(far) == 200
    # keystoneauth records the account's project domain, and shows it
    far_url = f"{server.url}/v1/AUTH_{project['id']}"
    head = httpx.head(far_url, headers={"X-Auth-Token": far})
    assert head.headers["X-Account-Project-Domain-Id"] == domain["id"]
    assert httpx.head(url, headers={"X-Auth-Token": tester[1]}
                      ).headers["X-Account-Project-Domain-Id"] == "default"
