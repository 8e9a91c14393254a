"""Keystone's `[security_compliance]` password options through python-keystoneclient and
raw HTTP, as a user and an administrator meet them: an admin-set password expires at once
(change_password_upon_first_use), a changed one expires after password_expires_days, a user
keeps its password for minimum_password_age and cannot reuse its last ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.api.identity.conftest import admin_token
from tests.harness import Server

DAY = 86_400


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("compliance") / "data", env={
        "STRATO_PASSWORD_EXPIRES_DAYS": "30", "STRATO_MINIMUM_PASSWORD_AGE": "1",
        "STRATO_UNIQUE_LAST_PASSWORD_COUNT": "3",
        "STRATO_CHANGE_PASSWORD_UPON_FIRST_USE": "true"}).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/identity/v3", timeout=60,
                      headers={"X-Auth-Token": admin_token(server)}) as client:
        yield client


def login(server: Server, name: str, password: str, project: str) -> ks_session.Session:
    auth = v3.Password(auth_url=f"{server.url}/identity/v3", username=name,
                       password=password, user_domain_id="default", project_name=project,
                       project_domain_id="default")
    session = ks_session.Session(auth=auth)
    session.get_token()
    return session


def change(server: Server, user_id: str, original: str, new: str) -> httpx.Response:
    """The self-service change: no token, the original password is the proof."""
    return httpx.post(f"{server.url}/identity/v3/users/{user_id}/password", timeout=60,
                      json={"user": {"original_password": original, "password": new}})


def stored(value: str) -> float:
    """Keystone's stored-time form (no zone, six fraction digits) as epoch seconds."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def test_password_lifecycle_under_every_rule(server: Server, admin: httpx.Client) -> None:
    project = admin.post("/projects", json={"project": {"name": "compliance"}}).json()
    member = admin.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]
    created = admin.post("/users", json={"user": {
        "name": "pci", "password": "first-pass", "default_project_id": project["project"]["id"]}})
    assert created.status_code == 201, created.text
    user = created.json()["user"]
    assert admin.put(f"/projects/{project['project']['id']}/users/{user['id']}/roles/{member}"
                     ).status_code == 204
    # an administrator's password is expired from the start: the user must change it first
    assert abs(stored(user["password_expires_at"]) - time.time()) < 60
    with pytest.raises(ks_exc.Unauthorized) as refused:
        login(server, "pci", "first-pass", "compliance")
    assert ("The password is expired and needs to be changed for user: "
            f"{user['id']}.") in str(refused.value)
    swift = httpx.get(f"{server.url}/auth/v1.0", headers={
        "X-Auth-User": "compliance:pci", "X-Auth-Key": "first-pass"})
    assert swift.status_code == 401
    assert change(server, user["id"], "wrong-pass", "second-pass").status_code == 401

    # the expired password still proves a change (no minimum age on an admin's password)
    assert change(server, user["id"], "first-pass", "second-pass").status_code == 204
    session = login(server, "pci", "second-pass", "compliance")
    token = session.get(f"{server.url}/identity/v3/auth/tokens", headers={
        "X-Subject-Token": session.get_token()}).json()["token"]
    expires = token["user"]["password_expires_at"]
    assert expires.endswith("Z")
    assert abs(stored(expires[:-1]) - (time.time() + 30 * DAY)) < 60
    shown = admin.get(f"/users/{user['id']}").json()["user"]["password_expires_at"]
    assert abs(stored(shown) - (time.time() + 30 * DAY)) < 60

    # a password the user set itself is kept for minimum_password_age
    too_soon = change(server, user["id"], "second-pass", "third-pass")
    assert too_soon.status_code == 400
    assert "minimum password age" in too_soon.json()["error"]["message"]
    assert "try again in 0 day(s)" in too_soon.json()["error"]["message"]
    login(server, "pci", "second-pass", "compliance")  # nothing changed

    # history: the current password and the one before it may not come back (count 3)
    for reused in ("second-pass", "first-pass"):
        resp = admin.patch(f"/users/{user['id']}", json={"user": {"password": reused}})
        assert resp.status_code == 400, reused
        assert "must be unique is 3" in resp.json()["error"]["message"]
    reset = admin.patch(f"/users/{user['id']}", json={"user": {"password": "third-pass"}})
    assert reset.status_code == 200
    assert abs(stored(reset.json()["user"]["password_expires_at"]) - time.time()) < 60
    # the admin's reset is expired again, and "second-pass" is still within the history
    history = change(server, user["id"], "third-pass", "second-pass")
    assert history.status_code == 400
    assert "identical to a previous password" in history.json()["error"]["message"]
    # "first-pass" has left the history (it keeps the latest two), so it may return
    assert change(server, user["id"], "third-pass", "first-pass").status_code == 204
    login(server, "pci", "first-pass", "compliance")


def test_operator_commands_are_not_bound_by_the_api_rules(server: Server) -> None:
    """`strato user add` (the operator on the host) sets a password that works at once and
    expires after password_expires_days like any other."""
    server.add_user("ops", "operator", "set-on-the-host", role="member")
    session = login(server, "operator", "set-on-the-host", "ops")
    token = session.get(f"{server.url}/identity/v3/auth/tokens", headers={
        "X-Subject-Token": session.get_token()}).json()["token"]
    assert abs(stored(token["user"]["password_expires_at"][:-1])
               - (time.time() + 30 * DAY)) < 120
