"""Identity bodies with fields of the wrong type get Keystone's 400, never a 500 (issue 14).

The sweep takes one valid body per identity call that reads JSON and, for every field in it
(inner objects and lists included), sends it again with that field replaced by a value of
each other JSON type: null, a number, a list, an object, a boolean, a string. Keystone's
schemas refuse all of them (400), except where a schema allows null.

The same sweep then puts a NUL character into every string field but the secrets (kept only
as a hash): PostgreSQL's text holds none, so each must be a 400 naming the field on both
metadata backends, never a 500 from the database.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.identity.conftest import admin_token
from tests.harness import Server

WRONG: tuple[Any, ...] = (None, 7, [], {"x": 1}, True, "text")

NULLABLE = {
    # Keystone's schemas allow null here
    ("user", "password"), ("user", "default_project_id"), ("user", "description"),
    ("project", "description"), ("domain", "description"), ("group", "description"),
    ("application_credential", "secret"), ("application_credential", "description"),
    ("application_credential", "expires_at"),
}


def _same_type(a: Any, b: Any) -> bool:
    return type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))


def mutations(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) for every field under `body`, each wrong value in turn."""
    items = (body.items() if isinstance(body, dict)
             else enumerate(body) if isinstance(body, list) else ())
    for key, value in items:
        where = (*path, key)
        for wrong in WRONG:
            if not _same_type(wrong, value):
                yield where, wrong
        yield from mutations(value, where)


SECRETS = ("password", "original_password", "secret")


def nul_mutations(body: Any, path: tuple[Any, ...] = ()
                  ) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, the string with a NUL inside) for every string field under `body` but the
    secrets."""
    items = (body.items() if isinstance(body, dict)
             else enumerate(body) if isinstance(body, list) else ())
    for key, value in items:
        where = (*path, key)
        if isinstance(value, str) and key not in SECRETS:
            yield where, value[:1] + "\x00" + value[1:]
        yield from nul_mutations(value, where)


def replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(body)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _nullable(path: tuple[Any, ...]) -> bool:
    return len(path) >= 2 and (path[-2], path[-1]) in NULLABLE


def sweep(client: httpx.Client, method: str, url: str, body: dict[str, Any],
          *, fresh: bool = False, nul: bool = False) -> int:
    """Send every mutation of `body` (with `nul`, every string field with a NUL inside);
    fail on any 5xx, and on any status but 400 where the schema refuses the value. With
    `fresh`, names get a new suffix each time (creations that wrongly succeed do not
    collide). Returns how many requests were sent."""
    failures = []
    sent = 0
    for path, value in (nul_mutations(body) if nul else mutations(body)):
        doc = replaced(body, path, value)
        if fresh:
            _renamed(doc)
        resp = client.request(method, url, json=doc)
        sent += 1
        if resp.status_code >= 500 or (resp.status_code != 400 and not (
                value is None and _nullable(path))):
            failures.append(f"{'.'.join(map(str, path))}={value!r}: {resp.status_code} "
                            f"{resp.text[:120]}")
        elif resp.status_code == 400:
            assert resp.json()["error"]["code"] == 400
            if nul:
                field = "/".join(map(str, [k for k in path if isinstance(k, str)]))
                message = resp.json()["error"]["message"]
                assert "NUL" in message and field in message, (path, message)
    assert not failures, f"{method} {url}:\n" + "\n".join(failures)
    print(f"\n{method} {url}: {sent} bodies with a field "
          f"{'holding NUL' if nul else 'of the wrong type'}", end="")
    return sent


def _renamed(doc: dict[str, Any]) -> None:
    for inner in doc.values():
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            inner["name"] = f"{inner['name']}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/identity", timeout=60,
                      headers={"X-Auth-Token": admin_token(server)}) as client:
        yield client


def test_null_password_is_400_not_500(server: Server) -> None:
    """The three 500s found by hand."""
    v3 = httpx.post(f"{server.url}/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "admin", "password": None}}}}})
    assert v3.status_code == 400, v3.text
    assert v3.json()["error"]["title"] == "Bad Request"
    cred = httpx.post(f"{server.url}/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": "x", "secret": None}}}})
    assert cred.status_code == 400, cred.text
    v2 = httpx.post(f"{server.url}/identity/v2.0/tokens", json={"auth": {
        "passwordCredentials": {"username": "admin", "password": None}}})
    assert v2.status_code == 400, v2.text


BOTH = pytest.mark.parametrize("nul", [False, True], ids=["wrong-type", "NUL"])


@BOTH
def test_token_requests_sweep(admin: httpx.Client, nul: bool) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}"  # a wrongly accepted body still fails: 401
    user = {"name": nobody, "password": "pw", "domain": {"id": "default", "name": "Default"}}
    scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
    sweep(admin, "POST", "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": user}}, "scope": scope}},
          nul=nul)
    sweep(admin, "POST", "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"id": nobody,
                                                                    "password": "pw"}}},
        "scope": {"domain": {"name": "Default"}}}}, nul=nul)
    sweep(admin, "POST", "/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"name": "c", "secret": "s",
                                   "user": {"name": nobody, "domain": {"id": "default"}}}}}},
          nul=nul)
    sweep(admin, "POST", "/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["token"], "token": {"id": "not-a-token"}}}}, nul=nul)
    sweep(admin, "POST", "/v2.0/tokens", {"auth": {
        "passwordCredentials": {"username": nobody, "password": "pw"},
        "tenantName": "admin"}}, nul=nul)
    sweep(admin, "POST", "/v2.0/tokens", {"auth": {"token": {"id": "not-a-token"},
                                                    "tenantId": "x"}}, nul=nul)


@BOTH
def test_admin_requests_sweep(admin: httpx.Client, nul: bool) -> None:
    suffix = uuid.uuid4().hex[:8]
    project = admin.post("/v3/projects", json={"project": {"name": f"bad-{suffix}"}})
    user = admin.post("/v3/users", json={"user": {"name": f"bad-{suffix}", "password": "pw"}})
    group = admin.post("/v3/groups", json={"group": {"name": f"bad-{suffix}"}})
    role = admin.post("/v3/roles", json={"role": {"name": f"bad-{suffix}"}})
    domain = admin.post("/v3/domains", json={"domain": {"name": f"bad-{suffix}"}})
    ids = {kind: resp.json()[kind]["id"] for kind, resp in (
        ("project", project), ("user", user), ("group", group), ("role", role),
        ("domain", domain))}
    base = {
        "domain": {"name": "d", "enabled": True, "description": "x", "id": "x"},
        "project": {"name": "p", "domain_id": "default", "enabled": True, "description": "x"},
        "user": {"name": "u", "domain_id": "default", "password": "pw", "enabled": True,
                 "default_project_id": ids["project"], "description": "x"},
        "group": {"name": "g", "domain_id": "default", "description": "x"},
        "role": {"name": "r"},
    }
    for kind, body in base.items():
        sweep(admin, "POST", f"/v3/{kind}s", {kind: body}, fresh=True, nul=nul)
        patch = {k: v for k, v in body.items() if k not in ("domain_id", "id")}
        sweep(admin, "PATCH", f"/v3/{kind}s/{ids[kind]}", {kind: patch}, fresh=True,
              nul=nul)
    sweep(admin, "POST", f"/v3/users/{ids['user']}/password",
          {"user": {"original_password": "wrong", "password": "new"}}, nul=nul)


@BOTH
def test_application_credential_sweep(server: Server, admin: httpx.Client, nul: bool
                                      ) -> None:
    me = admin.get("/v3/auth/tokens", headers={"X-Subject-Token": admin_token(server)})
    user_id = me.json()["token"]["user"]["id"]
    sweep(admin, "POST", f"/v3/users/{user_id}/application_credentials",
          {"application_credential": {
              "name": "c", "secret": "s", "description": "d", "unrestricted": False,
              "expires_at": "2999-01-01T00:00:00Z", "roles": [{"name": "admin"},
                                                              {"id": "x"}]}},
          fresh=True, nul=nul)


def test_not_json_objects(admin: httpx.Client) -> None:
    for body in (b"null", b"7", b"[]", b'"x"', b"{", b"\xff"):
        resp = admin.post("/v3/auth/tokens", content=body,
                          headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (body, resp.text)
