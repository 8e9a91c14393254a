"""Workers remember tokens they validated, yet a revoked token stops working at once.

Each request goes on a fresh connection so the kernel spreads them over both workers of the
session server; every check first warms both workers with the token, then changes what the
token stands on (through Keystone, or the CLI in a process of its own) and expects the very
next requests, on every worker, to be refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.client import HTTPConnection
from urllib.parse import urlsplit

import httpx

from tests.api.identity.conftest import KeystoneUser, admin_token, make_user
from tests.api.swift.helpers import uniq
from tests.harness import Server

ROUNDS = 16


def statuses(url: str, token: str) -> list[int]:
    """HEAD `url` ROUNDS times, each on a fresh connection."""
    parts = urlsplit(url)
    found = []
    for _ in range(ROUNDS):
        http = HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            http.request("HEAD", parts.path, headers={"X-Auth-Token": token})
            found.append(http.getresponse().status)
        finally:
            http.close()
    return found


def served_by(server: Server, container: str) -> set[str]:
    return {line.split()[2] for line in server.log_path.read_text(errors="replace").splitlines()
            if "strato.access" in line and f"/{container}\"" in line}


def warmed(server: Server) -> tuple[KeystoneUser, str, str, str]:
    """(user, its token, its container's URL, the container) with the token validated by
    both workers."""
    user = make_user(server)
    storage, token = server.auth_v1(f"{user.project}:{user.name}", user.password)
    container = uniq()
    assert httpx.put(f"{storage}/{container}", headers={"X-Auth-Token": token}
                     ).status_code == 201
    url = f"{storage}/{container}"
    assert statuses(url, token) == [204] * ROUNDS
    assert statuses(url, token) == [204] * ROUNDS  # now remembered where it was validated
    for _ in range(20):  # a busy machine may leave one worker idle for a while
        if len(served_by(server, container)) == 2:
            break
        time.sleep(0.25)
        assert statuses(url, token) == [204] * ROUNDS
    assert len(served_by(server, container)) == 2, "requests did not reach both workers"
    return user, token, url, container


def keystone(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/identity/v3", timeout=60,
                        headers={"X-Auth-Token": admin_token(server)})


def check_refused_at_once(server: Server, change: Callable[[KeystoneUser, str], None]
                          ) -> tuple[KeystoneUser, str, str]:
    user, token, url, _ = warmed(server)
    change(user, token)
    assert statuses(url, token) == [401] * ROUNDS
    return user, token, url


def test_revoked_token_is_refused_by_every_worker_at_once(server: Server) -> None:
    def revoke(_: KeystoneUser, token: str) -> None:
        with keystone(server) as api:
            assert api.delete("/auth/tokens", headers={"X-Subject-Token": token}
                              ).status_code == 204

    check_refused_at_once(server, revoke)


def test_role_revoked_by_the_cli_is_refused_at_once(server: Server) -> None:
    def revoke_role(user: KeystoneUser, _: str) -> None:
        server.cli("role", "revoke", "--user", user.name, "--project", user.project,
                   "--role", "member")

    check_refused_at_once(server, revoke_role)


def test_disabled_user_is_refused_at_once_and_accepted_again_once_enabled(
        server: Server) -> None:
    def user_id(api: httpx.Client, user: KeystoneUser) -> str:
        return str(api.get("/users", params={"name": user.name}).json()["users"][0]["id"])

    def disable(user: KeystoneUser, _: str) -> None:
        with keystone(server) as api:
            assert api.patch(f"/users/{user_id(api, user)}",
                             json={"user": {"enabled": False}}).status_code == 200

    user, token, url = check_refused_at_once(server, disable)
    with keystone(server) as api:
        assert api.patch(f"/users/{user_id(api, user)}",
                         json={"user": {"enabled": True}}).status_code == 200
    assert statuses(url, token) == [204] * ROUNDS


def test_disabled_project_is_refused_at_once(server: Server) -> None:
    def disable_project(user: KeystoneUser, _: str) -> None:
        with keystone(server) as api:
            assert api.patch(f"/projects/{user.project_id}",
                             json={"project": {"enabled": False}}).status_code == 200

    check_refused_at_once(server, disable_project)
