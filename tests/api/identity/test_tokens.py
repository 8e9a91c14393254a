"""Keystone v3 tokens on the wire: discovery, every auth method and scope, validate, revoke."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.identity.conftest import KeystoneUser
from tests.harness import Server


def password_auth(user: dict[str, Any], password: str, scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"],
                                         "password": {"user": {**user, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def issue(server: Server, body: dict[str, Any], query: str = "") -> httpx.Response:
    return httpx.post(f"{server.url}/identity/v3/auth/tokens{query}", json=body, timeout=30)


def test_discovery_documents_have_absolute_self_links(server: Server) -> None:
    root = httpx.get(f"{server.url}/identity", headers={"Accept": "application/json"})
    assert root.status_code == 300
    versions = root.json()["versions"]["values"]
    assert [v["id"] for v in versions] == ["v3.14"]  # v2.0 is never advertised
    assert versions[0]["links"][0]["href"] == f"{server.url}/identity/v3/"
    v3 = httpx.get(f"{server.url}/identity/v3")
    assert v3.status_code == 200 and v3.json()["version"]["status"] == "stable"
    v2 = httpx.get(f"{server.url}/identity/v2.0")
    assert v2.status_code == 200 and v2.json()["version"]["id"] == "v2.0"


def test_password_by_name_without_domain_defaults_to_default(server: Server,
                                                             ks_user: KeystoneUser) -> None:
    resp = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                       {"project": {"name": ks_user.project}}))
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert resp.headers["X-Subject-Token"]
    assert token["project"]["id"] == ks_user.project_id
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["expires_at"].endswith("Z") and "member" in [r["name"] for r in token["roles"]]
    services = {s["type"]: s for s in token["catalog"]}
    swift = services["object-store"]
    assert swift["name"] == "swift"
    urls = {e["interface"]: e for e in swift["endpoints"]}
    assert set(urls) == {"public", "internal", "admin"}
    assert urls["public"]["url"] == f"{server.url}/v1/AUTH_{ks_user.project_id}"
    assert urls["public"]["region"] == urls["public"]["region_id"] == "RegionOne"
    assert services["identity"]["endpoints"][0]["url"] == f"{server.url}/identity"


def test_user_id_project_id_domain_ids_and_nocatalog(server: Server,
                                                     ks_user: KeystoneUser) -> None:
    first = issue(server, password_auth(
        {"name": ks_user.name, "domain": {"name": "Default"}}, ks_user.password,
        {"project": {"name": ks_user.project, "domain": {"id": "default"}}}))
    assert first.status_code == 201, first.text
    user_id = first.json()["token"]["user"]["id"]
    second = issue(server, password_auth({"id": user_id}, ks_user.password,
                                         {"project": {"id": ks_user.project_id}}),
                   "?nocatalog")
    assert second.status_code == 201
    assert "catalog" not in second.json()["token"]
    assert second.json()["token"]["project"]["name"] == ks_user.project


def test_token_method_rescopes_and_never_extends(server: Server, ks_user: KeystoneUser) -> None:
    unscoped = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                           "unscoped"))
    assert unscoped.status_code == 201
    body = unscoped.json()["token"]
    assert "project" not in body and "catalog" not in body and "roles" not in body
    token = unscoped.headers["X-Subject-Token"]
    projects = httpx.get(f"{server.url}/identity/v3/auth/projects",
                         headers={"X-Auth-Token": token}).json()["projects"]
    assert ks_user.project_id in [p["id"] for p in projects]
    scoped = issue(server, {"auth": {"identity": {"methods": ["token"],
                                                  "token": {"id": token}},
                                     "scope": {"project": {"id": ks_user.project_id}}}})
    assert scoped.status_code == 201, scoped.text
    assert scoped.json()["token"]["project"]["id"] == ks_user.project_id
    assert scoped.json()["token"]["expires_at"] <= body["expires_at"]
    # the rescoped token works against Swift straight away
    storage = f"{server.url}/v1/AUTH_{ks_user.project_id}"
    head = httpx.head(storage, headers={"X-Auth-Token": scoped.headers["X-Subject-Token"]})
    assert head.status_code == 204


def test_domain_scope_needs_a_domain_role(server: Server, ks_user: KeystoneUser) -> None:
    resp = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                       {"domain": {"id": "default"}}))
    assert resp.status_code == 401
    admin = issue(server, password_auth({"name": "admin"}, server.passwords["admin"],
                                        {"project": {"name": "admin"}}))
    admin_token = admin.headers["X-Subject-Token"]
    roles = httpx.get(f"{server.url}/identity/v3/roles",
                      headers={"X-Auth-Token": admin_token}).json()["roles"]
    member_id = next(r["id"] for r in roles if r["name"] == "member")
    user_id = httpx.get(f"{server.url}/identity/v3/users", params={"name": ks_user.name},
                        headers={"X-Auth-Token": admin_token}).json()["users"][0]["id"]
    grant = httpx.put(f"{server.url}/identity/v3/domains/default/users/{user_id}/roles/"
                      f"{member_id}", headers={"X-Auth-Token": admin_token})
    assert grant.status_code == 204
    scoped = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                         {"domain": {"name": "Default"}}))
    assert scoped.status_code == 201, scoped.text
    token = scoped.json()["token"]
    assert token["domain"] == {"id": "default", "name": "Default"}
    assert "object-store" not in [s["type"] for s in token["catalog"]]
    domains = httpx.get(f"{server.url}/identity/v3/auth/domains",
                        headers={"X-Auth-Token": scoped.headers["X-Subject-Token"]})
    assert [d["id"] for d in domains.json()["domains"]] == ["default"]


def test_cannot_scope_to_a_project_without_a_role(server: Server,
                                                  ks_user: KeystoneUser) -> None:
    resp = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                       {"project": {"name": "admin"}}))
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert error["code"] == 401 and error["title"] == "Unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_validate_check_and_revoke(server: Server, ks_user: KeystoneUser) -> None:
    resp = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                       {"project": {"name": ks_user.project}}))
    token = resp.headers["X-Subject-Token"]
    other = issue(server, password_auth({"name": ks_user.name}, ks_user.password,
                                        {"project": {"name": ks_user.project}}))
    caller = other.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": caller, "X-Subject-Token": token}
    url = f"{server.url}/identity/v3/auth/tokens"
    got = httpx.get(url, headers=headers)
    assert got.status_code == 200 and got.headers["X-Subject-Token"] == token
    assert got.json()["token"]["project"]["id"] == ks_user.project_id
    assert httpx.head(url, headers=headers).status_code == 200
    catalog = httpx.get(f"{server.url}/identity/v3/auth/catalog",
                        headers={"X-Auth-Token": token}).json()["catalog"]
    assert "object-store" in [s["type"] for s in catalog]
    assert httpx.delete(url, headers=headers).status_code == 204
    assert httpx.get(url, headers=headers).status_code == 404
    assert httpx.head(f"{server.url}/v1/AUTH_{ks_user.project_id}",
                      headers={"X-Auth-Token": token}).status_code == 401
    unknown = httpx.get(url, headers={"X-Auth-Token": caller, "X-Subject-Token": "nope"})
    assert unknown.status_code == 404
    assert httpx.get(url, headers={"X-Subject-Token": caller}).status_code == 401


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"auth": {}}'])
def test_malformed_requests_get_400(server: Server, body: bytes) -> None:
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", content=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 400


def test_v2_tokens_and_rax_kskey_refused(server: Server, ks_user: KeystoneUser) -> None:
    url = f"{server.url}/identity/v2.0/tokens"
    rax = httpx.post(url, json={"auth": {"RAX-KSKEY:apiKeyCredentials": {
        "username": ks_user.name, "apiKey": ks_user.password}, "tenantName": ks_user.project}})
    assert rax.status_code == 401
    resp = httpx.post(url, json={"auth": {"passwordCredentials": {
        "username": ks_user.name, "password": ks_user.password},
        "tenantName": ks_user.project}}, timeout=30)
    assert resp.status_code == 200, resp.text
    access = resp.json()["access"]
    assert access["token"]["tenant"]["id"] == ks_user.project_id
    assert access["token"]["expires"].endswith("Z")
    swift = next(s for s in access["serviceCatalog"] if s["type"] == "object-store")
    endpoint = swift["endpoints"][0]
    assert endpoint["publicURL"] == f"{server.url}/v1/AUTH_{ks_user.project_id}"
    assert endpoint["region"] == "RegionOne"
    by_id = httpx.post(url, json={"auth": {"passwordCredentials": {
        "username": ks_user.name, "password": ks_user.password},
        "tenantId": ks_user.project_id}}, timeout=30)
    assert by_id.json()["access"]["token"]["tenant"]["name"] == ks_user.project


def test_v1_token_rescopes_through_the_token_method(server: Server,
                                                    ks_user: KeystoneUser) -> None:
    _, v1_token = server.auth_v1(f"{ks_user.project}:{ks_user.name}", ks_user.password)
    resp = issue(server, {"auth": {"identity": {"methods": ["token"],
                                                "token": {"id": v1_token}}}})
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["project"]["id"] == ks_user.project_id
    assert token["methods"][0] == "token"
