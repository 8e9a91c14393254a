"""Service tokens: `SERVICE_<project>` accounts need the user's token plus an
`X-Service-Token` holding the service role, as keystoneauth's `SERVICE_service_roles`."""

from __future__ import annotations

import httpx
import pytest

from tests.api.swift.helpers import uniq
from tests.harness import Server


@pytest.fixture(scope="module")
def users(server: Server) -> dict[str, str]:
    """Tokens: `user` (owner of a project), `service` (service role), `plain` (no service
    role), and the user's `auth` and `service_account` URLs."""
    tokens = {}
    for key, role in (("user", "admin"), ("service", "service"), ("plain", "admin")):
        project, name = uniq(key), uniq(key)
        server.add_user(project, name, "pw", role=role)
        url, tokens[key] = server.auth_v1(f"{project}:{name}", "pw")
        if key == "user":
            tokens["auth"] = url
            tokens["service_account"] = url.replace("/AUTH_", "/SERVICE_")
    return tokens


def call(method: str, url: str, **headers: str) -> int:
    return httpx.request(method, url, headers=headers).status_code


def test_user_plus_service_token_reaches_the_service_account(users: dict[str, str]) -> None:
    base = users["service_account"]
    both = {"X-Auth-Token": users["user"], "X-Service-Token": users["service"]}
    assert call("PUT", f"{base}/images", **both) == 201
    assert httpx.put(f"{base}/images/disk", content=b"img", headers=both).status_code == 201
    assert httpx.get(f"{base}/images/disk", headers=both).content == b"img"
    assert call("POST", base, **both, **{"X-Account-Meta-Kind": "service"}) == 204
    assert call("HEAD", base, **both) == 204
    assert call("DELETE", f"{base}/images/disk", **both) == 204
    assert call("DELETE", f"{base}/images", **both) == 204


def test_service_account_refused_without_both_tokens(users: dict[str, str]) -> None:
    base = users["service_account"]
    both = {"X-Auth-Token": users["user"], "X-Service-Token": users["service"]}
    assert call("PUT", f"{base}/kept", **both) == 201
    for headers in (
            {"X-Auth-Token": users["user"]},  # the user alone
            {"X-Auth-Token": users["service"]},  # the service alone
            {"X-Auth-Token": users["service"], "X-Service-Token": users["service"]},
            {"X-Auth-Token": users["user"], "X-Service-Token": users["plain"]},  # no role
            {"X-Auth-Token": users["user"], "X-Service-Token": "not-a-token"},
            {"X-Auth-Token": users["plain"], "X-Service-Token": users["service"]}):
        for method, path in (("GET", ""), ("HEAD", "/kept"), ("PUT", "/kept/o"),
                             ("DELETE", "/kept")):
            assert call(method, base + path, **headers) == 403, (headers, method, path)
    assert call("GET", base) == 401
    assert call("HEAD", f"{base}/kept", **both) == 204
    # the user's own account needs no service token
    assert call("HEAD", users["auth"], **{"X-Auth-Token": users["user"]}) == 204


def test_prefixes_are_a_setting(make_server: object) -> None:
    srv: Server = make_server(extra_args=(  # type: ignore[operator]
        "--reseller-prefixes", "KEY_,SVC_", "--service-roles", "SVC_:robot"))
    srv.add_user("p", "u", "pw", role="admin")
    srv.add_user("bots", "r2", "pw", role="robot")
    url, user = srv.auth_v1("p:u", "pw")
    assert "/v1/KEY_" in url  # the first prefix names the storage account
    _, robot = srv.auth_v1("bots:r2", "pw")
    service_account = url.replace("/KEY_", "/SVC_")
    assert call("HEAD", url, **{"X-Auth-Token": user}) == 204
    assert call("HEAD", url.replace("/KEY_", "/AUTH_"), **{"X-Auth-Token": user}) == 403
    assert call("HEAD", service_account, **{"X-Auth-Token": user}) == 403
    assert call("HEAD", service_account, **{"X-Auth-Token": user,
                                            "X-Service-Token": robot}) == 204
    catalog = httpx.post(f"{srv.url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "u", "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"project": {"name": "p", "domain": {"id": "default"}}}}})
    swift = next(s for s in catalog.json()["token"]["catalog"] if s["type"] == "object-store")
    assert swift["endpoints"][0]["url"] == url
