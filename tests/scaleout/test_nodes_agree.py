"""Two nodes on one PostgreSQL database serve one cloud: what one node acknowledges, the
other applies at once (ACLs, quotas, new tokens: read from the database on every request),
or within `REUSE_SECONDS` for what its workers remember (tokens they validated: a revoked
token, a disabled or deleted user). In practice the notification arrives in milliseconds;
the bound holds even when it never does.

The nodes keep a data directory each, as hosts that share only the database: nodes on one
host (one data directory) also share a mark file that makes them agree at once, and that
is not what is tested here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from strato.stores.metadata.postgresql.db import REUSE_SECONDS
from tests import pg
from tests.api.identity.conftest import admin_token, make_user
from tests.harness import Server
from tests.scaleout.nodes import on, start_nodes

WARM_ROUNDS = 12
"""Requests on fresh connections that get the token validated by both workers of a node."""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    url = pg.create_database()
    started = start_nodes(Path(tmp_path_factory.mktemp("nodes")), 2, url, shared_data=False)
    yield started[0], started[1]
    for node in started:
        node.stop()
    pg.drop_database(url)


def status(method: str, url: str, token: str | None = None, *,
           headers: dict[str, str] | None = None, content: bytes | None = None) -> int:
    """One request on a fresh connection (the kernel spreads them over a node's workers)."""
    sent = {**(headers or {}), **({"X-Auth-Token": token} if token else {})}
    return httpx.request(method, url, headers=sent, content=content, timeout=30).status_code


def user_on(a: Server) -> tuple[str, str, str]:
    """(storage URL, token, user id) of a new user with a container `c`, through node A."""
    user = make_user(a)
    storage, token = a.auth_v1(f"{user.project}:{user.name}", user.password)
    assert status("PUT", f"{storage}/c", token) == 201
    me = httpx.get(f"{a.url}/identity/v3/auth/tokens",
                   headers={"X-Auth-Token": token, "X-Subject-Token": token})
    return storage, token, str(me.json()["token"]["user"]["id"])


def refused_within_bound(url: str, token: str, change: Callable[[], None]) -> float:
    """Make the change, then request `url` with `token` until refused (401): every request
    sent later than REUSE_SECONDS after the change must be refused, and stay refused.
    Returns the seconds until the first refusal."""
    change()
    changed = time.monotonic()
    while True:
        sent = time.monotonic() - changed
        code = status("HEAD", url, token)
        if code == 401:
            break
        assert code == 204, code
        assert sent <= REUSE_SECONDS, f"still accepted {sent:.2f} s after the change"
        time.sleep(0.01)
    assert {status("HEAD", url, token) for _ in range(WARM_ROUNDS)} == {401}
    print(f"refused {sent * 1000:.0f} ms after the change")  # shown with -s
    return sent


def warm(url: str, token: str) -> None:
    assert {status("HEAD", url, token) for _ in range(WARM_ROUNDS)} == {204}


def admin(node: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{node.url}/identity/v3", timeout=60,
                        headers={"X-Auth-Token": admin_token(node)})


def test_a_token_issued_on_one_node_works_on_the_other_at_once(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    storage, token, _ = user_on(a)
    assert status("HEAD", on(b, f"{storage}/c"), token) == 204


def test_a_token_revoked_on_one_node_is_refused_by_the_other(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    storage, token, _ = user_on(a)
    url = on(b, f"{storage}/c")
    warm(url, token)

    def revoke() -> None:
        with admin(a) as api:
            assert api.delete("/auth/tokens", headers={"X-Subject-Token": token}
                              ).status_code == 204

    refused_within_bound(url, token, revoke)


def test_a_user_disabled_then_deleted_on_one_node_is_refused_by_the_other(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    storage, token, user_id = user_on(a)
    url = on(b, f"{storage}/c")
    warm(url, token)

    def enable(enabled: bool) -> Callable[[], None]:
        def patch() -> None:
            with admin(a) as api:
                assert api.patch(f"/users/{user_id}", json={"user": {"enabled": enabled}}
                                 ).status_code == 200
        return patch

    refused_within_bound(url, token, enable(False))
    enable(True)()
    assert status("HEAD", url, token) == 204  # nothing cached a refusal
    warm(url, token)

    def delete() -> None:
        with admin(a) as api:
            assert api.delete(f"/users/{user_id}").status_code == 204

    refused_within_bound(url, token, delete)


def test_an_acl_changed_on_one_node_holds_on_the_other_at_once(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    storage, token, _ = user_on(a)
    public = on(b, f"{storage}/c")
    assert status("GET", public) == 401
    assert status("POST", f"{storage}/c", token,
                  headers={"X-Container-Read": ".r:*,.rlistings"}) == 204
    assert status("GET", public) == 204  # the empty listing
    assert status("POST", f"{storage}/c", token,
                  headers={"X-Remove-Container-Read": "x"}) == 204
    assert status("GET", public) == 401


def test_a_quota_set_on_one_node_holds_on_the_other_at_once(
        nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    storage, token, _ = user_on(a)
    name = uuid.uuid4().hex
    assert status("PUT", on(b, f"{storage}/c/{name}-1"), token, content=b"x") == 201
    assert status("POST", f"{storage}/c", token,
                  headers={"X-Container-Meta-Quota-Count": "1"}) == 204
    assert status("PUT", on(b, f"{storage}/c/{name}-2"), token, content=b"x") == 413
    assert status("POST", f"{storage}/c", token,
                  headers={"X-Remove-Container-Meta-Quota-Count": "x"}) == 204
    assert status("PUT", on(b, f"{storage}/c/{name}-2"), token, content=b"x") == 201
