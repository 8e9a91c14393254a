"""Rate limiting on a private server with limits switched on (they are off by default).

The limits are shared through the metadata store, so several workers together give an
account its rate once, not once each (`tests/scaleout/test_ratelimit_nodes.py`: nodes)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import swiftclient

from strato.api.swift.features.ratelimit import max_rate
from tests.harness import Server


def test_writes_over_the_rate_get_498(make_server: Callable[..., Server]) -> None:
    # one write per 5 s with at most 0.5 s of waiting: a second write within 4.5 s is
    # refused however slowly a loaded machine runs the requests
    srv = make_server(extra_args=("--ratelimit-account", "0.2", "--ratelimit-container",
                                  "1:0.2", "--ratelimit-max-sleep", "0.5"))
    srv.add_user("rl", "rl", "pw", role="admin")
    url, token = srv.auth_v1("rl:rl", "pw")
    headers = {"X-Auth-Token": token}
    assert httpx.put(f"{url}/c1", headers=headers).status_code == 201
    resp = httpx.put(f"{url}/c2", headers=headers)
    assert (resp.status_code, resp.text) == (498, "Slow down")
    # object writes in a container with objects: limited per container
    conn = swiftclient.Connection(preauthurl=url, preauthtoken=token, retries=0)
    conn.put_object("c1", "first", b"1")
    statuses = [httpx.put(f"{url}/c1/o{i}", headers=headers, content=b"x").status_code
                for i in range(3)]
    assert 498 in statuses
    # reads are never limited
    assert all(httpx.get(f"{url}/c1/first", headers=headers).status_code == 200
               for _ in range(5))
    info = httpx.get(f"{srv.url}/info").json()["ratelimit"]
    assert info["account_ratelimit"] == 0.2 and info["max_sleep_time_seconds"] == 0.5


def test_blacklist_is_refused_at_once_and_whitelist_never_limited(
        make_server: Callable[..., Server]) -> None:
    """As in Swift the check comes before authorization: a blacklisted account gets 497
    whoever asks; a whitelisted one is never counted (each request reaches the auth check,
    401 here), where any other account's second request within 5 s gets 498."""
    srv = make_server(extra_args=("--ratelimit-account", "0.2", "--ratelimit-max-sleep", "0.5",
                                  "--ratelimit-blacklist", "AUTH_black",
                                  "--ratelimit-whitelist", "AUTH_white"))
    resp = httpx.put(f"{srv.url}/v1/AUTH_black/c")
    assert (resp.status_code, resp.text) == (497, "Your account has been blacklisted")
    assert httpx.get(f"{srv.url}/v1/AUTH_black").status_code == 401  # account level: not
    assert [httpx.put(f"{srv.url}/v1/AUTH_white/c{i}").status_code for i in range(3)
            ] == [401] * 3
    assert [httpx.put(f"{srv.url}/v1/AUTH_other/c{i}").status_code for i in range(3)
            ] == [401, 498, 498]


def test_default_server_is_not_rate_limited(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    statuses = {httpx.put(f"{url}/rl-default-{i}", headers={"X-Auth-Token": token}).status_code
                for i in range(5)}
    assert statuses <= {201, 202}


def test_interpolation() -> None:
    points = [(10, 100.0), (100, 10.0)]
    assert max_rate(points, 0) is None and max_rate(points, 5) is None
    assert max_rate(points, 10) == 100.0 and max_rate(points, 55) == 55.0
    assert max_rate(points, 1000) == 10.0


def put_containers(urls: list[str], token: str, *, count: int = 0, seconds: float = 0.0,
                   threads: int = 8) -> tuple[list[int], float]:
    """Container PUTs from `threads` clients at once, each on a fresh connection (so the
    kernel spreads them over the workers), cycling through `urls` (storage URLs, one per
    node): `count` in all, or as many as fit in `seconds`. (statuses, seconds it took)."""
    started = time.monotonic()

    def one(n: int) -> int:
        url = urls[n % len(urls)]
        return httpx.put(f"{url}/rl-{uuid.uuid4().hex}", headers={"X-Auth-Token": token},
                         timeout=60).status_code

    def loop(n: int) -> list[int]:
        done = []
        while time.monotonic() - started < seconds:
            done.append(one(n + len(done)))
        return done

    with ThreadPoolExecutor(threads) as pool:
        if count:
            statuses = list(pool.map(one, range(count)))
        else:
            statuses = [code for codes in pool.map(loop, range(threads)) for code in codes]
    return statuses, time.monotonic() - started


def within_rate(statuses: list[int], took: float, rate: float, max_sleep: float) -> bool:
    """Whether the requests that went through (201) are those one limit of `rate` per
    second allows over `took` seconds: the first at once, then one per 1/rate, with slots
    up to `max_sleep` ahead taken too; and not fewer than demand kept filling."""
    passed = statuses.count(201)
    return int((took - 1.0) * rate) <= passed <= 1 + int((took + max_sleep) * rate)


def test_workers_share_the_rate(make_server: Callable[..., Server]) -> None:
    """Two workers give an account its rate once, not once each: of a burst, one container
    PUT per 5 s goes through and the rest get 498 at once; under steady demand, 2 per
    second go through in all."""
    srv = make_server(workers=2, extra_args=("--ratelimit-account", "0.2",
                                             "--ratelimit-max-sleep", "0.5"))
    srv.add_user("rlw", "rlw", "pw", role="admin")
    url, token = srv.auth_v1("rlw:rlw", "pw")
    statuses, took = put_containers([url], token, count=16)
    assert set(statuses) <= {201, 498}, statuses
    assert 1 <= statuses.count(201) <= 1 + int((took + 0.5) / 5), (statuses, took)

    steady = make_server(workers=2, extra_args=("--ratelimit-account", "2",
                                                "--ratelimit-max-sleep", "0.3"))
    steady.add_user("rls", "rls", "pw", role="admin")
    url, token = steady.auth_v1("rls:rls", "pw")
    statuses, took = put_containers([url], token, seconds=4.0)
    assert set(statuses) <= {201, 498}, statuses
    assert within_rate(statuses, took, 2.0, 0.3), (statuses.count(201), len(statuses), took)
