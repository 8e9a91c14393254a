"""Rate limiting on a private server with limits switched on (they are off by default)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import swiftclient

from strato.api.swift.features.ratelimit import Buckets, MaxSleep, max_rate
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


def test_default_server_is_not_rate_limited(server: Server, tester: tuple[str, str]) -> None:
    url, token = tester
    statuses = {httpx.put(f"{url}/rl-default-{i}", headers={"X-Auth-Token": token}).status_code
                for i in range(5)}
    assert statuses <= {201, 202}


def test_sleep_then_refuse_and_interpolation() -> None:
    buckets = Buckets(max_sleep=1.0)
    assert buckets.sleep_for("k", 2.0, now=100.0) == 0.0
    assert buckets.sleep_for("k", 2.0, now=100.0) == 0.5  # waits its turn
    try:
        buckets.sleep_for("k", 2.0, now=100.0)
    except MaxSleep:
        pass
    else:
        raise AssertionError("a third request in the same instant must be refused")
    points = [(10, 100.0), (100, 10.0)]
    assert max_rate(points, 0) is None and max_rate(points, 5) is None
    assert max_rate(points, 10) == 100.0 and max_rate(points, 55) == 55.0
    assert max_rate(points, 1000) == 10.0
