"""The console's image and identity proxies over plain HTTP: CSRF on every state change,
Glance's and Keystone's own policies (a member is refused by them, not by the console),
only the identity collections the pages use, sandboxed image bytes, and sign-out when the
token stops working."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.api.console.conftest import Keystone
from tests.api.console.test_security import token_of
from tests.harness import Server

IMAGES = "/console/api/image/v2/images"
IDENTITY = "/console/api/identity/v3"


def signed_in(server: Server, user: str, password: str, project: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    resp = client.post("/console/session",
                       json={"user": user, "password": password, "project": project})
    assert resp.status_code == 200, resp.text
    client.headers["X-CSRF-Token"] = resp.json()["csrf"]
    return client


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    client = signed_in(server, "tester", "testing", "test")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def member(server: Server, keystone: Keystone) -> Iterator[httpx.Client]:
    keystone.user("proxy-member", "membering", {"test": "member"})
    client = signed_in(server, "proxy-member", "membering", "test")
    try:
        yield client
    finally:
        client.close()


def test_state_changes_need_the_csrf_token(admin: httpx.Client, keystone: Keystone) -> None:
    name = f"csrf-{uuid.uuid4().hex[:8]}"
    good = admin.headers.pop("X-CSRF-Token")
    image = {"name": name, "disk_format": "raw", "container_format": "bare"}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        assert admin.post(IMAGES, json=image, headers=headers).status_code == 403
        assert admin.post(f"{IDENTITY}/projects", headers=headers,
                          json={"project": {"name": name}}).status_code == 403
    assert admin.get(IMAGES, params={"name": name}).json()["images"] == []
    assert keystone.http.get("projects", params={"name": name}).json()["projects"] == []
    created = admin.post(IMAGES, json=image, headers={"X-CSRF-Token": good})
    assert created.status_code == 201, created.text
    project = admin.post(f"{IDENTITY}/projects", headers={"X-CSRF-Token": good},
                         json={"project": {"name": name}})
    assert project.status_code == 201, project.text
    image_id, project_id = created.json()["id"], project.json()["project"]["id"]
    assert admin.delete(f"{IMAGES}/{image_id}", headers={"X-CSRF-Token": good}
                        ).status_code == 204
    assert admin.delete(f"{IDENTITY}/projects/{project_id}", headers={"X-CSRF-Token": good}
                        ).status_code == 204


def test_a_member_is_refused_by_keystone_and_glance_themselves(member: httpx.Client) -> None:
    for path in ("/users", "/projects", "/roles", "/role_assignments"):
        resp = member.get(IDENTITY + path)
        assert resp.status_code == 403, path
        assert resp.json()["error"]["message"] == (
            "You are not authorized to perform the requested action.")
    assert member.post(f"{IDENTITY}/users", json={"user": {"name": "sneaky"}}
                       ).status_code == 403
    # the member's own image: made and uploaded, but only an admin may deactivate it
    image = member.post(IMAGES, json={"name": "mine", "disk_format": "raw",
                                      "container_format": "bare"}).json()
    assert member.put(f"{IMAGES}/{image['id']}/file", content=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"}
                      ).status_code == 204
    resp = member.post(f"{IMAGES}/{image['id']}/actions/deactivate")
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == (
        "You are not authorized to complete deactivate action.")
    assert member.get(f"{IMAGES}/{image['id']}").json()["status"] == "active"
    assert member.delete(f"{IMAGES}/{image['id']}").status_code == 204


def test_only_the_identity_collections_pass(admin: httpx.Client) -> None:
    """No request through the console reaches token issue or validation, so none can hand
    the page a token it could read."""
    for method, path in (("GET", "/auth/tokens"), ("POST", "/auth/tokens"),
                         ("GET", "/auth/projects"), ("GET", ""), ("GET", "/services"),
                         ("GET", "/domains"),
                         ("GET", "/users/%2e%2e/auth/tokens"), ("GET", "/credentials")):
        resp = admin.request(method, IDENTITY + path, json={})
        assert resp.status_code == 404, (method, path)
    for path in ("/console/api/identity/v2.0/tenants", "/console/api/identity/",
                 "/console/api/image/versions", "/console/api/image/v2/%2e%2e/v2/images"):
        assert admin.get(path).status_code == 404, path
    resp = admin.get(f"{IDENTITY}/users")
    assert resp.status_code == 200
    assert "x-subject-token" not in resp.headers
    assert "tester" in {u["name"] for u in resp.json()["users"]}


def test_image_bytes_are_sandboxed(admin: httpx.Client) -> None:
    image = admin.post(IMAGES, json={"name": "page", "disk_format": "raw",
                                     "container_format": "bare"}).json()
    html = b"<script>fetch('/console/session')</script>"
    assert admin.put(f"{IMAGES}/{image['id']}/file", content=html,
                     headers={"Content-Type": "application/octet-stream"}).status_code == 204
    resp = admin.get(f"{IMAGES}/{image['id']}/file")
    assert resp.content == html
    assert resp.headers["content-security-policy"].startswith("sandbox;")
    assert resp.headers["x-frame-options"] == "DENY"
    assert admin.delete(f"{IMAGES}/{image['id']}").status_code == 204


def test_a_revoked_token_signs_out_through_the_proxies(server: Server) -> None:
    for path in (IMAGES, f"{IDENTITY}/users"):
        client = signed_in(server, "tester", "testing", "test")
        try:
            token = token_of(server, client)
            assert httpx.delete(f"{server.url}/identity/v3/auth/tokens",
                                headers={"X-Auth-Token": token, "X-Subject-Token": token}
                                ).status_code == 204
            resp = client.get(path)
            assert resp.status_code == 401
            assert "www-authenticate" not in resp.headers
            assert "Max-Age=0" in resp.headers["set-cookie"]
        finally:
            client.close()
