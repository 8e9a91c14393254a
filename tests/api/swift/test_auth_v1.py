"""Swift v1.0 auth: every path alias, both header forms, expiry header, 401s, restarts."""

from __future__ import annotations

import httpx
import pytest
import swiftclient

from tests.harness import Server


@pytest.mark.parametrize("path", ["/auth/v1.0", "/auth/v1", "/auth", "/auth/"])
def test_every_auth_path_issues_a_working_token(server: Server, tester: object,
                                                path: str) -> None:
    resp = httpx.get(server.url + path,
                     headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
    assert resp.status_code == 200
    url, token = resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]
    assert resp.headers["X-Storage-Token"] == token
    assert "/v1/AUTH_" in url and url.startswith(server.url)
    assert 0 < int(resp.headers["X-Auth-Token-Expires"]) <= 3600
    assert resp.headers["X-Trans-Id"] and resp.headers["X-Openstack-Request-Id"]
    assert httpx.head(url, headers={"X-Auth-Token": token}).status_code == 204


def test_storage_user_pass_form(server: Server, tester: object) -> None:
    resp = httpx.get(server.url + "/auth/v1.0",
                     headers={"X-Storage-User": "test:tester", "X-Storage-Pass": "testing"})
    assert resp.status_code == 200
    assert httpx.head(resp.headers["X-Storage-Url"],
                      headers={"X-Storage-Token": resp.headers["X-Storage-Token"]}
                      ).status_code == 204


@pytest.mark.parametrize("headers", [
    {"X-Auth-User": "test:tester", "X-Auth-Key": "wrong"},
    {"X-Auth-User": "test:nobody", "X-Auth-Key": "testing"},
    {"X-Auth-User": "nope:tester", "X-Auth-Key": "testing"},
    {"X-Auth-User": "test:tester"},
    {},
])
def test_wrong_credentials_are_401(server: Server, tester: object,
                                   headers: dict[str, str]) -> None:
    resp = httpx.get(server.url + "/auth/v1.0", headers=headers)
    assert resp.status_code == 401
    assert "X-Auth-Token" not in resp.headers
    assert resp.headers["X-Trans-Id"]


def test_swiftclient_get_auth(server: Server, tester: object) -> None:
    url, token = swiftclient.get_auth(server.url + "/auth/v1.0", "test:tester", "testing")
    assert swiftclient.head_account(url, token)["x-account-container-count"] is not None


def test_token_survives_restart(make_server: object) -> None:
    srv: Server = make_server()  # type: ignore[operator]
    srv.add_user("p1", "u1", "pw1", role="admin")
    url, token = srv.auth_v1("p1:u1", "pw1")
    swiftclient.put_container(url, token, "kept")
    srv.stop()
    srv.start()
    assert httpx.get(url + "/kept", headers={"X-Auth-Token": token}).status_code == 204


def test_expired_token_is_401(make_server: object) -> None:
    srv: Server = make_server(extra_args=("--token-ttl", "1"))  # type: ignore[operator]
    srv.add_user("p1", "u1", "pw1", role="admin")
    url, token = srv.auth_v1("p1:u1", "pw1")
    import time
    time.sleep(2.1)
    assert httpx.head(url, headers={"X-Auth-Token": token}).status_code == 401


def test_bad_tokens_are_401(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    for bad in ("garbage", token + "x", "AUTH_tk" + "0" * 32, "x" * 300):
        resp = httpx.put(url + "/never-created", headers={"X-Auth-Token": bad})
        assert resp.status_code == 401, bad
    assert httpx.head(url + "/never-created",
                      headers={"X-Auth-Token": token}).status_code == 404
