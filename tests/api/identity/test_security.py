"""Swift authorisation with Keystone tokens: ACL grants and revokes, anonymous referrers,
account ACLs, expired and revoked tokens on every worker, failed-login rate limiting."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import swiftclient
from swiftclient.exceptions import ClientException

from tests.api.identity.conftest import KeystoneUser, make_user
from tests.harness import Server

ATTEMPTS = 24
"""Fresh connections per check: enough that both workers of the server answer some."""


def v3_token(server: Server, user: KeystoneUser) -> tuple[str, str]:
    resp = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user.name, "domain": {"name": "Default"}, "password": user.password}}},
        "scope": {"project": {"name": user.project, "domain": {"name": "Default"}}}}})
    assert resp.status_code == 201, resp.text
    body = resp.json()["token"]
    return resp.headers["X-Subject-Token"], body["user"]["id"]


def expires_at(server: Server, token: str) -> float:
    """The token's expiry as the server reports it (Unix time)."""
    resp = httpx.get(f"{server.url}/identity/v3/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status_code == 200, resp.text
    stamp = resp.json()["token"]["expires_at"]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def keystone_conn(server: Server, user: KeystoneUser) -> swiftclient.Connection:
    return swiftclient.Connection(
        authurl=f"{server.url}/identity/v3", user=user.name, key=user.password,
        auth_version="3", retries=0,
        os_options={"project_name": user.project, "user_domain_name": "Default",
                    "project_domain_name": "Default"})


@pytest.fixture(scope="module")
def other_user(server: Server) -> KeystoneUser:
    return make_user(server)


def statuses(method: str, url: str, token: str | None) -> set[int]:
    headers = {"X-Auth-Token": token} if token else {}
    return {httpx.request(method, url, headers=headers).status_code for _ in range(ATTEMPTS)}


@pytest.mark.parametrize("form", ["ids", "names", "any-project"])
def test_container_acl_grant_and_revoke(server: Server, ks_user: KeystoneUser,
                                        other_user: KeystoneUser, form: str) -> None:
    owner = keystone_conn(server, ks_user)
    container = f"acl-{uuid.uuid4().hex[:8]}"
    owner.put_container(container)
    owner.put_object(container, "doc.txt", b"shared")
    token, user_id = v3_token(server, other_user)
    guest = swiftclient.Connection(preauthurl=owner.url, preauthtoken=token, retries=0)
    with pytest.raises(ClientException) as refused:
        guest.get_object(container, "doc.txt")
    assert refused.value.http_status == 403
    grant = {"ids": f"{other_user.project_id}:{user_id}",
             "names": f"{other_user.project}:{other_user.name}",
             "any-project": f"*:{user_id}"}[form]
    owner.post_container(container, {"X-Container-Read": grant, "X-Container-Write": grant})
    assert guest.get_object(container, "doc.txt")[1] == b"shared"
    guest.put_object(container, "from-guest.txt", b"hi")
    assert [o["name"] for o in guest.get_container(container)[1]] == ["doc.txt",
                                                                      "from-guest.txt"]
    owner.post_container(container, {"X-Container-Read": "", "X-Container-Write": ""})
    for call in (lambda: guest.get_object(container, "doc.txt"),
                 lambda: guest.put_object(container, "again.txt", b"no")):
        with pytest.raises(ClientException) as again:
            call()
        assert again.value.http_status == 403


def test_anonymous_referrer_acl(server: Server, ks_user: KeystoneUser) -> None:
    owner = keystone_conn(server, ks_user)
    container = f"pub-{uuid.uuid4().hex[:8]}"
    owner.put_container(container, {"X-Container-Read": ".r:*"})
    owner.put_object(container, "page.html", b"<p>public</p>")
    url = f"{owner.url}/{container}"
    assert httpx.get(f"{url}/page.html").content == b"<p>public</p>"
    assert httpx.put(f"{url}/evil.html", content=b"x").status_code == 401
    assert httpx.get(url).status_code == 401
    owner.post_container(container, {"X-Container-Read": ".r:*,.rlistings"})
    listing = httpx.get(url, params={"format": "json"})
    assert listing.status_code == 200 and [o["name"] for o in listing.json()] == ["page.html"]
    assert httpx.delete(f"{url}/page.html").status_code == 401


def test_account_acl_levels_for_keystone_users(server: Server, ks_user: KeystoneUser,
                                               other_user: KeystoneUser) -> None:
    owner = keystone_conn(server, ks_user)
    container = f"acct-{uuid.uuid4().hex[:8]}"
    owner.put_container(container)
    owner.put_object(container, "a.txt", b"a")
    token, user_id = v3_token(server, other_user)
    guest = swiftclient.Connection(preauthurl=owner.url, preauthtoken=token, retries=0)
    who = f"{other_user.project_id}:{user_id}"

    def set_acl(level: str | None) -> None:
        value = json.dumps({level: [who]}) if level else ""
        owner.post_account({"X-Account-Access-Control": value})

    with pytest.raises(ClientException):
        guest.get_account()
    set_acl("read-only")
    assert container in [c["name"] for c in guest.get_account()[1]]
    assert guest.get_object(container, "a.txt")[1] == b"a"
    with pytest.raises(ClientException) as ro:
        guest.put_object(container, "b.txt", b"b")
    assert ro.value.http_status == 403
    set_acl("read-write")
    guest.put_object(container, "b.txt", b"b")
    guest.put_container(f"{container}-new")
    guest.delete_container(f"{container}-new")
    # only admins may change ACLs: as in Swift, anyone else's ACL headers are dropped
    guest.post_container(container, {"X-Container-Read": ".r:*"})
    assert "x-container-read" not in owner.head_container(container)
    set_acl("admin")
    guest.post_container(container, {"X-Container-Read": ".r:*"})
    assert "X-Account-Access-Control".lower() in guest.head_account()
    set_acl(None)
    with pytest.raises(ClientException):
        guest.get_account()
    bad = httpx.post(owner.url, headers={"X-Auth-Token": owner.token,
                                         "X-Account-Access-Control": '{"root": []}'})
    assert bad.status_code == 400


def test_token_of_one_project_cannot_reach_another(server: Server, ks_user: KeystoneUser,
                                                   other_user: KeystoneUser) -> None:
    token, _ = v3_token(server, other_user)
    url = f"{server.url}/v1/AUTH_{ks_user.project_id}"
    assert statuses("HEAD", url, token) == {403}


def test_revoked_token_refused_on_every_worker(server: Server, ks_user: KeystoneUser) -> None:
    token, _ = v3_token(server, ks_user)
    url = f"{server.url}/v1/AUTH_{ks_user.project_id}"
    assert statuses("HEAD", url, token) == {204}
    revoke = httpx.delete(f"{server.url}/identity/v3/auth/tokens",
                          headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert revoke.status_code == 204
    assert statuses("HEAD", url, token) == {401}


def test_expired_token_and_failed_login_limit(make_server: object) -> None:
    srv: Server = make_server(workers=2, extra_args=(  # type: ignore[operator]
        "--token-ttl", "8", "--login-max-failures", "3", "--login-lockout-seconds", "30"))
    user = make_user(srv)
    token, _ = v3_token(srv, user)
    url = f"{srv.url}/v1/AUTH_{user.project_id}"
    # one request proves the token works: 24 could outlast its TTL on a loaded machine
    assert httpx.head(url, headers={"X-Auth-Token": token}).status_code == 204
    time.sleep(max(0.0, expires_at(srv, token) - time.time()) + 0.5)
    assert statuses("HEAD", url, token) == {401}
    subject = httpx.get(f"{srv.url}/identity/v3/auth/tokens",
                        headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert subject.status_code == 401

    wrong = [f"wrong-{uuid.uuid4().hex}" for _ in range(3)]
    body = {"auth": {"identity": {"methods": ["password"],
                                  "password": {"user": {"name": user.name}}}}}
    for guess in wrong:
        body["auth"]["identity"]["password"]["user"]["password"] = guess
        resp = httpx.post(f"{srv.url}/identity/v3/auth/tokens", json=body, timeout=30)
        assert resp.status_code == 401
    body["auth"]["identity"]["password"]["user"]["password"] = user.password
    for _ in range(4):  # locked on every worker, even with the right password
        locked = httpx.post(f"{srv.url}/identity/v3/auth/tokens", json=body, timeout=30)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        assert locked.json()["error"]["code"] == 429
    v1 = httpx.get(f"{srv.url}/auth/v1.0", headers={"X-Auth-User": f"{user.project}:{user.name}",
                                                    "X-Auth-Key": user.password})
    assert v1.status_code == 429 and int(v1.headers["Retry-After"]) > 0  # as v3 answers
    log = srv.log_path.read_text()
    assert f"failed login for user {user.name}@default" in log
    for secret in [*wrong, user.password]:
        assert secret not in log
