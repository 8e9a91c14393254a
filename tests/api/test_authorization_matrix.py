"""Who may do what, as one table: every main Swift operation against every kind of caller,
checked over HTTP on a server of its own, each case on fresh resources.

The expected statuses are Swift's, read from its auth middlewares rather than from Strato:

- **keystoneauth** (Keystone tokens): the reseller-admin role reaches every account; a role
  in `operator_roles` (here `admin`, `member`) on the account's project makes the caller its
  owner; a role outside them (`reader`: Swift's `project_reader_roles` is empty by default)
  gives nothing; a token of another project gives nothing. A refusal is 401 without a
  valid identity (anonymous, expired, revoked, deleted user: the token is ignored) and 403
  with one.
- **container ACLs**, as the proxy applies them: `X-Container-Read` is consulted for
  container GET/HEAD and object GET/HEAD, `X-Container-Write` for object PUT/POST/DELETE
  only; container PUT/POST/DELETE and the account are the owner's. A COPY reads its source
  and writes its destination, so it needs both.
- **account ACLs** (`X-Account-Access-Control`, tempauth's rules, which Strato also applies
  to Keystone users): read-only reads everything; read-write also writes every container and
  object but only reads the account (its POST is the owner's); admin is an owner.
- **temp URLs**: a signature reaches only the object path it was made for, with the method
  it was signed for (HEAD rides on a GET signature); COPY is not a temp URL method; an
  account or container path with a signature is 401.

`test_matrix` is the table; a mismatch with Strato is a bug to fix or a difference to name
in docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from tests.api.identity.conftest import KeystoneUser, admin_token, make_user
from tests.harness import Server

OPS = ("account GET", "account HEAD", "account POST",
       "container PUT", "container GET", "container POST", "container DELETE",
       "object PUT", "object GET", "object HEAD", "object POST", "object DELETE",
       "object COPY")
OWNER = (200, 204, 204, 201, 200, 204, 204, 201, 200, 200, 202, 204, 201)
"""What an owner gets: the account lists containers, a container lists its object; the
container deleted is an empty one; PUT and COPY create new objects."""
DENIED = (403,) * len(OPS)
ANONYMOUS = (401,) * len(OPS)


def _row(**changes: int) -> tuple[int, ...]:
    """DENIED, with some operations allowed (their owner's status) or given another."""
    row = list(DENIED)
    for key, status in changes.items():
        row[OPS.index(key.replace("_", " ", 1))] = status
    return tuple(row)


def _owner_status(op: str) -> int:
    return OWNER[OPS.index(op)]


EXPECTED: dict[str, tuple[int, ...]] = {
    "anonymous": ANONYMOUS,
    "other project": DENIED,
    "reader role": DENIED,
    "member role": OWNER,
    "admin role": OWNER,
    "reseller admin": OWNER,
    "account ACL read-only": _row(**{
        "account_GET": 200, "account_HEAD": 204, "container_GET": 200, "object_GET": 200,
        "object_HEAD": 200}),
    "account ACL read-write": _row(**{
        op.replace(" ", "_", 1): _owner_status(op) for op in OPS if op != "account POST"}),
    "account ACL admin": OWNER,
    "container read ACL": _row(**{
        "container_GET": 200, "object_GET": 200, "object_HEAD": 200}),
    "container write ACL": _row(**{
        "object_PUT": 201, "object_POST": 202, "object_DELETE": 204}),
    "temp URL": (401, 401, 401, 401, 401, 401, 401, 201, 200, 200, 202, 204, 401),
    "expired token": ANONYMOUS,
    "revoked token": ANONYMOUS,
    "deleted user": ANONYMOUS,
}
CASES = [(caller, op, status) for caller, row in EXPECTED.items()
         for op, status in zip(OPS, row, strict=True)]
TEMP_URL_KEY = "matrix-temp-url-key"


@dataclass
class World:
    server: Server
    account: str
    """The owner project's storage URL path, /v1/AUTH_<project id>."""
    owner_token: str
    tokens: dict[str, str | None]
    """Each caller's X-Auth-Token (None: anonymous or temp URL)."""
    ids: dict[str, str]
    """Caller -> `project_id:user_id`, what ACLs name."""
    http: httpx.Client


def _login(server: Server, user: KeystoneUser) -> tuple[str, str]:
    """(token, user id) of `user`, scoped to its project."""
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user.name, "domain": {"id": "default"}, "password": user.password}}},
        "scope": {"project": {"id": user.project_id}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], resp.json()["token"]["user"]["id"]


def _expiring_token(server: Server, user: KeystoneUser, user_id: str, token: str,
                    seconds: float) -> tuple[str, float]:
    """A token of `user` that expires in `seconds`: issued from an application credential
    that expires then (a token never outlives its credential)."""
    until = datetime.fromtimestamp(time.time() + seconds, UTC)
    made = httpx.post(f"{server.url}/identity/v3/users/{user_id}/application_credentials",
                      headers={"X-Auth-Token": token}, timeout=60, json={
                          "application_credential": {
                              "name": f"soon-{uuid.uuid4().hex[:6]}",
                              "expires_at": until.strftime("%Y-%m-%dT%H:%M:%S.%f")}})
    assert made.status_code == 201, made.text
    cred = made.json()["application_credential"]
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60, json={"auth": {
        "identity": {"methods": ["application_credential"], "application_credential": {
            "id": cred["id"], "secret": cred["secret"]}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], until.timestamp()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = Server(tmp_path_factory.mktemp("matrix") / "data").start()
    owner_project = f"owner-{uuid.uuid4().hex[:6]}"
    owner = make_user(srv, "member", owner_project)
    owner_token, _ = _login(srv, owner)
    tokens: dict[str, str | None] = {"anonymous": None, "temp URL": None}
    ids: dict[str, str] = {}
    users: dict[str, tuple[KeystoneUser, str]] = {}
    for caller, role, project in (
            ("other project", "member", None), ("reader role", "reader", owner_project),
            ("member role", "member", owner_project), ("admin role", "admin", owner_project),
            ("account ACL read-only", "member", None),
            ("account ACL read-write", "member", None), ("account ACL admin", "member", None),
            ("container read ACL", "member", None), ("container write ACL", "member", None),
            ("expired token", "member", owner_project),
            ("revoked token", "member", owner_project),
            ("deleted user", "member", owner_project)):
        user = make_user(srv, role, project)
        token, user_id = _login(srv, user)
        tokens[caller] = token
        ids[caller] = f"{user.project_id}:{user_id}"
        users[caller] = (user, user_id)
    tokens["reseller admin"] = admin_token(srv)  # admin:admin holds ResellerAdmin
    http = httpx.Client(base_url=srv.url, timeout=60)
    account = f"/v1/AUTH_{owner.project_id}"
    acl = {"read-only": [ids["account ACL read-only"].split(":")[1]],
           "read-write": [ids["account ACL read-write"].split(":")[1]],
           "admin": [ids["account ACL admin"].split(":")[1]]}
    assert http.post(account, headers={
        "X-Auth-Token": owner_token, "X-Account-Access-Control": orjson.dumps(acl).decode(),
        "X-Account-Meta-Temp-URL-Key": TEMP_URL_KEY}).status_code == 204
    assert http.put(f"{account}/listed", headers={"X-Auth-Token": owner_token}
                    ).status_code == 201  # an account GET lists something: 200

    user, user_id = users["expired token"]
    token, until = _expiring_token(srv, user, user_id, tokens["expired token"] or "", 3.0)
    tokens["expired token"] = token
    revoke = tokens["revoked token"] or ""
    assert http.delete("/identity/v3/auth/tokens", headers={
        "X-Auth-Token": revoke, "X-Subject-Token": revoke}).status_code == 204
    assert http.delete(f"/identity/v3/users/{users['deleted user'][1]}", headers={
        "X-Auth-Token": admin_token(srv)}).status_code == 204
    time.sleep(max(0.0, until - time.time()) + 0.5)
    try:
        yield World(srv, account, owner_token, tokens, ids, http)
    finally:
        http.close()
        srv.stop()


def _temp_url(path: str, method: str) -> str:
    expires = int(time.time()) + 600
    sig = hmac.new(TEMP_URL_KEY.encode(), f"{method}\n{expires}\n{path}".encode(),
                   hashlib.sha256).hexdigest()
    return f"{path}?temp_url_sig={sig}&temp_url_expires={expires}"


def _prepare(world: World, op: str) -> tuple[str, str]:
    """Fresh resources for one case, made by the owner; returns (method, path)."""
    kind, method = op.split()
    owner = {"X-Auth-Token": world.owner_token}
    container = f"{world.account}/m-{uuid.uuid4().hex[:10]}"
    if kind == "account":
        return method, world.account
    if (kind, method) == ("container", "PUT"):
        return method, container
    made = world.http.put(container, headers={
        **owner, "X-Container-Read": world.ids["container read ACL"],
        "X-Container-Write": world.ids["container write ACL"]})
    assert made.status_code == 201
    if (kind, method) == ("container", "DELETE"):
        return method, container
    assert world.http.put(f"{container}/obj", content=b"matrix", headers=owner
                          ).status_code == 201
    if kind == "container":
        return method, container
    if method == "PUT":
        return method, f"{container}/new"
    return method, f"{container}/obj"


@pytest.mark.parametrize(("caller", "op", "expected"), CASES,
                         ids=[f"{c}-{o}" for c, o, _ in CASES])
def test_matrix(world: World, caller: str, op: str, expected: int) -> None:
    method, path = _prepare(world, op)
    headers: dict[str, str] = {}
    token = world.tokens[caller]
    if token is not None:
        headers["X-Auth-Token"] = token
    if method == "COPY":
        headers["Destination"] = f"{path.split('/')[3]}/copied"
    if method == "POST":
        headers[f"X-{op.split()[0].capitalize()}-Meta-Touched"] = "yes"
    url = _temp_url(path, "GET" if method == "HEAD" else method) \
        if caller == "temp URL" else path
    resp = world.http.request(method, url, headers=headers,
                              content=b"written" if method == "PUT" else None)
    assert resp.status_code == expected, (caller, op, resp.status_code, resp.text[:200])
    _check_effect(world, op, path, allowed=resp.status_code < 300)


def _check_effect(world: World, op: str, path: str, *, allowed: bool) -> None:
    """A refused write changed nothing; an allowed one did what it says."""
    owner = {"X-Auth-Token": world.owner_token}
    kind, method = op.split()
    if method == "PUT":
        status = world.http.head(path, headers=owner).status_code
        assert status == ((200 if kind == "object" else 204) if allowed else 404)
    elif method == "DELETE":
        status = world.http.head(path, headers=owner).status_code
        assert status == (404 if allowed else (200 if kind == "object" else 204))
    elif method == "POST" and kind != "account":
        head = world.http.head(path, headers=owner).headers
        assert (head.get(f"X-{kind.capitalize()}-Meta-Touched") == "yes") == allowed
    elif method == "COPY":
        copied = path.rsplit("/", 1)[0] + "/copied"
        assert world.http.head(copied, headers=owner).status_code == (200 if allowed else 404)


def test_table_covers_every_operation_and_caller() -> None:
    """The table is whole: a row per caller, a status per operation."""
    assert all(len(row) == len(OPS) for row in EXPECTED.values())
    assert len(CASES) == len(EXPECTED) * len(OPS)
    assert Path(__file__).name == "test_authorization_matrix.py"
