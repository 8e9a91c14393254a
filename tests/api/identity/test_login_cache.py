"""Workers remember secrets they verified, yet a password change, a disabled or deleted user
or a deleted application credential is honoured by every worker at once, a wrong secret is
never taken for a remembered one, and hashes are upgraded when the parameters change.

Each login goes on a fresh connection so the kernel spreads them over both workers; the
access log (with a `probe` query only this test sends) proves both workers verified the
secret, and so remember it, before the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import stored
from tests.api.identity.conftest import KeystoneUser, admin_token, make_user
from tests.harness import Server

ROUNDS = 16
BATCHES = 4
NO_LOCKOUT = ("--login-max-failures", "100000", "--login-max-failures-per-client", "100000")
"""The refusals below are counted as failures; without this they would turn into 429s."""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("login-cache") / "data", workers=2,
                    extra_args=NO_LOCKOUT).start()
    try:
        yield server
    finally:
        server.stop()


def password_body(name: str, password: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"name": "Default"}, "password": password}}}}}


def logins(server: Server, body: dict[str, object], probe: str, rounds: int = ROUNDS
           ) -> list[int]:
    """POST the body `rounds` times, each on a fresh connection; the statuses."""
    return [httpx.post(f"{server.url}/identity/v3/auth/tokens", params={"probe": probe},
                       json=body, timeout=60).status_code for _ in range(rounds)]


def served_by(server: Server, probe: str, status: int) -> set[str]:
    return {line.split()[2] for line in server.log_path.read_text(errors="replace").splitlines()
            if "strato.access" in line and f"probe={probe}\"" in line
            and f"\" {status} " in line}


def on_both_workers(server: Server, body: dict[str, Any], status: int) -> None:
    """Send the login until both workers have answered it, each time with `status`. The
    workers share one listening socket and the kernel wakes one to accept each connection:
    sent one after another on a loaded machine, 64 logins were once all taken by the same
    worker, so each batch goes on four connections at once (one worker busy with a login
    leaves the next connection to the other)."""
    probe = uuid.uuid4().hex[:12]
    for _ in range(BATCHES):
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(lambda _: logins(server, body, probe, 1)[0],
                                     range(ROUNDS)))
        assert statuses == [status] * ROUNDS
        if len(served_by(server, probe, status)) == 2:
            return
    raise AssertionError(f"{BATCHES * ROUNDS} logins did not reach both workers")


def warm(server: Server, body: dict[str, Any]) -> None:
    """Log in until both workers have verified (and so remember) the secret."""
    on_both_workers(server, body, 201)


def admin(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/identity/v3", timeout=60,
                        headers={"X-Auth-Token": admin_token(server)})


def user_id(server: Server, user: KeystoneUser) -> str:
    with admin(server) as api:
        return str(api.get("/users", params={"name": user.name}).json()["users"][0]["id"])


def change_password_by_admin(server: Server, user: KeystoneUser) -> str:
    with admin(server) as api:
        assert api.patch(f"/users/{user_id(server, user)}",
                         json={"user": {"password": "n3w-by-admin"}}).status_code == 200
    return "n3w-by-admin"


def change_own_password(server: Server, user: KeystoneUser) -> str:
    token = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60,
                       json=password_body(user.name, user.password)).headers["X-Subject-Token"]
    changed = httpx.post(f"{server.url}/identity/v3/users/{user_id(server, user)}/password",
                         headers={"X-Auth-Token": token}, timeout=60,
                         json={"user": {"original_password": user.password,
                                        "password": "n3w-by-self"}})
    assert changed.status_code == 204, changed.text
    return "n3w-by-self"


def change_password_with_cli(server: Server, user: KeystoneUser) -> str:
    server.cli("user", "passwd", "--user", user.name, "--password", "n3w-by-cli")
    return "n3w-by-cli"


@pytest.mark.parametrize("change", [change_password_by_admin, change_own_password,
                                    change_password_with_cli])
def test_a_changed_password_counts_at_once_on_every_worker(
        srv: Server, change: Callable[[Server, KeystoneUser], str]) -> None:
    user = make_user(srv)
    warm(srv, password_body(user.name, user.password))
    new = change(srv, user)
    on_both_workers(srv, password_body(user.name, user.password), 401)
    on_both_workers(srv, password_body(user.name, new), 201)


def test_a_disabled_user_is_refused_at_once_on_every_worker(srv: Server) -> None:
    user = make_user(srv)
    body = password_body(user.name, user.password)
    warm(srv, body)
    with admin(srv) as api:
        ident = user_id(srv, user)
        assert api.patch(f"/users/{ident}", json={"user": {"enabled": False}}
                         ).status_code == 200
        on_both_workers(srv, body, 401)
        v1 = httpx.get(f"{srv.url}/auth/v1.0", headers={
            "X-Auth-User": f"{user.project}:{user.name}", "X-Auth-Key": user.password})
        assert v1.status_code == 401
        assert api.patch(f"/users/{ident}", json={"user": {"enabled": True}}
                         ).status_code == 200
    on_both_workers(srv, body, 201)


def test_a_deleted_user_is_refused_at_once_on_every_worker(srv: Server) -> None:
    user = make_user(srv)
    body = password_body(user.name, user.password)
    warm(srv, body)
    with admin(srv) as api:
        assert api.delete(f"/users/{user_id(srv, user)}").status_code == 204
    on_both_workers(srv, body, 401)
    srv.cli("user", "add", "--project", user.project, "--user", user.name, "--password",
            user.password)  # the same name and password again: a new user, a new hash
    on_both_workers(srv, body, 201)


def app_credential(server: Server, user: KeystoneUser) -> tuple[str, str, str]:
    """(token of the user, credential id, secret)."""
    body = password_body(user.name, user.password)
    body["auth"]["scope"] = {"project": {"id": user.project_id}}
    login = httpx.post(f"{server.url}/identity/v3/auth/tokens", timeout=60, json=body)
    token = login.headers["X-Subject-Token"]
    created = httpx.post(f"{server.url}/identity/v3/users/{login.json()['token']['user']['id']}"
                         "/application_credentials", headers={"X-Auth-Token": token},
                         timeout=60, json={"application_credential": {"name": "cached"}})
    assert created.status_code == 201, created.text
    doc = created.json()["application_credential"]
    return token, doc["id"], doc["secret"]


def app_body(cred_id: str, secret: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id,
                                                             "secret": secret}}}}


def test_a_deleted_application_credential_is_refused_at_once_on_every_worker(
        srv: Server) -> None:
    user = make_user(srv)
    token, cred_id, secret = app_credential(srv, user)
    warm(srv, app_body(cred_id, secret))
    owner = httpx.get(f"{srv.url}/identity/v3/auth/tokens",
                      headers={"X-Auth-Token": token, "X-Subject-Token": token})
    deleted = httpx.delete(f"{srv.url}/identity/v3/users/{owner.json()['token']['user']['id']}"
                           f"/application_credentials/{cred_id}",
                           headers={"X-Auth-Token": token})
    assert deleted.status_code == 204
    on_both_workers(srv, app_body(cred_id, secret), 401)


def test_a_wrong_secret_is_never_taken_from_memory(srv: Server) -> None:
    user = make_user(srv)
    warm(srv, password_body(user.name, user.password))
    _, cred_id, secret = app_credential(srv, user)
    warm(srv, app_body(cred_id, secret))
    pw = user.password
    for wrong in (pw[:-1], pw + "x", pw.upper(), f" {pw}", "", pw + "\u0000", pw[::-1]):
        probe = uuid.uuid4().hex[:12]
        assert logins(srv, password_body(user.name, wrong), probe, 4) == [401] * 4
        assert logins(srv, app_body(cred_id, wrong or "x"), probe, 4) == [401] * 4
        if wrong == wrong.strip() and "\u0000" not in wrong:  # a header's value is trimmed
            v1 = httpx.get(f"{srv.url}/auth/v1.0", headers={
                "X-Auth-User": f"{user.project}:{user.name}", "X-Auth-Key": wrong})
            assert v1.status_code == 401
    other = make_user(srv)  # another user's remembered password is not this user's
    assert logins(srv, password_body(other.name, pw), "x", 4) == [401] * 4
    assert logins(srv, password_body(user.name, pw), "x", 4) == [201] * 4


def stored_hashes(data_dir: Path, name: str) -> tuple[str, str]:
    """(the user's password hash, its application credential's secret hash)."""
    [(user_hash, secret_hash)] = stored.rows(
        data_dir, "SELECT u.password_hash, a.secret_hash FROM users u JOIN app_credentials a"
        " ON a.user_id = u.id WHERE u.name = ?", name)
    return str(user_hash), str(secret_hash)


def test_hashes_are_upgraded_at_login_after_a_parameter_change(make_server: object) -> None:
    server: Server = make_server(workers=2)  # type: ignore[operator]
    user = make_user(server)
    _, cred_id, secret = app_credential(server, user)
    before = stored_hashes(server.data_dir, user.name)
    assert all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in before)
    server.stop()
    server.extra_args = ("--login-hash-memory-kib", "12288", "--login-hash-time-cost", "3")
    server.start()
    assert stored_hashes(server.data_dir, user.name) == before  # nothing happens unasked
    assert logins(server, password_body(user.name, user.password), "up", 1) == [201]
    assert logins(server, app_body(cred_id, secret), "up", 1) == [201]
    after = stored_hashes(server.data_dir, user.name)
    assert all(h.startswith("$argon2id$v=19$m=12288,t=3,p=1$") for h in after), after
    # the upgraded hashes verify on every worker, and wrong secrets still fail
    assert logins(server, password_body(user.name, user.password), "up") == [201] * ROUNDS
    assert logins(server, app_body(cred_id, secret), "up") == [201] * ROUNDS
    assert logins(server, password_body(user.name, "wrong"), "up", 2) == [401] * 2
    assert stored_hashes(server.data_dir, user.name) == after
    assert "re-hashed the password secret" in server.log_path.read_text()
