"""/metrics: scraped while a bounded load runs on two workers, its counters never run ahead
of the requests sent, and once the load is over they match them exactly (requests by API,
method, status class and policy; latency histogram; bytes in and out; per-policy totals;
refused logins; background jobs). /metrics on the main port needs an admin token."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Server, free_port

PUTS, GETS, MISSES, SIZE = 40, 60, 15, 3000
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and wanted <= lbls)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policies = [{"name": "gold", "default": True}, {"name": "cold"}]
    server = Server(tmp_path_factory.mktemp("metrics") / "data", workers=2,
                    extra_args=("--storage-policies", json.dumps(policies),
                                "--metrics-port", str(free_port()),
                                "--login-max-failures", "3", "--login-refused-delay", "0"))
    server.metrics_url = f"http://127.0.0.1:{server.extra_args[3]}/metrics"  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def scrape(srv: Server) -> Samples:
    resp = httpx.get(srv.metrics_url, timeout=10)  # type: ignore[attr-defined]
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(resp.text)


def test_counters_match_the_requests_sent(srv: Server) -> None:
    storage, token = srv.auth_v1("demo:demo", srv.passwords["demo"])
    auth = {"X-Auth-Token": token}
    with httpx.Client(headers=auth, timeout=30) as client:
        assert client.put(f"{storage}/hot").status_code == 201
        assert client.put(f"{storage}/cool", headers={"X-Storage-Policy": "cold"}
                          ).status_code == 201
    deadline = time.monotonic() + 10
    while True:  # the two container PUTs, flushed: the baseline the load is counted from
        before = scrape(srv)
        if all(value(before, "strato_requests_total", api="swift", method="PUT",
                     policy=policy) for policy in ("gold", "cold")):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    body = b"m" * SIZE
    seen: list[Samples] = []
    stop = threading.Event()

    def scraper() -> None:  # scrapes all through the load
        while not stop.is_set():
            seen.append(scrape(srv))
            time.sleep(0.05)

    def put(i: int) -> int:
        return httpx.put(f"{storage}/hot/o{i}", content=body, headers=auth,
                         timeout=30).status_code

    def get(i: int) -> int:
        resp = httpx.get(f"{storage}/hot/o{i % PUTS}", headers=auth, timeout=30)
        assert resp.content == body
        return resp.status_code

    def miss(i: int) -> int:
        return httpx.head(f"{storage}/cool/nothing{i}", headers=auth, timeout=30).status_code

    watcher = threading.Thread(target=scraper)
    watcher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(put, range(PUTS))) == {201}
            assert set(pool.map(get, range(GETS))) == {200}
            assert set(pool.map(miss, range(MISSES))) == {404}
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert len(seen) >= 3

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    gold_puts = dict(api="swift", method="PUT", status="2xx", policy="gold")
    gold_gets = dict(api="swift", method="GET", status="2xx", policy="gold")
    cold_misses = dict(api="swift", method="HEAD", status="4xx", policy="cold")
    for samples in seen:  # never ahead of what was sent
        assert delta(samples, "strato_requests_total", **gold_puts) <= PUTS
        assert delta(samples, "strato_requests_total", **gold_gets) <= GETS
    deadline = time.monotonic() + 10  # workers flush every second
    while True:
        after = scrape(srv)
        counts = (delta(after, "strato_requests_total", **gold_puts),
                  delta(after, "strato_requests_total", **gold_gets),
                  delta(after, "strato_requests_total", **cold_misses))
        if counts == (PUTS, GETS, MISSES) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counts == (PUTS, GETS, MISSES)
    assert delta(after, "strato_request_body_bytes_total", api="swift", policy="gold"
                 ) == PUTS * SIZE
    assert delta(after, "strato_response_body_bytes_total", api="swift", policy="gold"
                 ) == GETS * SIZE
    # the latency histogram counts every Swift GET (the auth requests included)
    swift_gets = value(after, "strato_requests_total", api="swift", method="GET")
    assert value(after, "strato_request_duration_seconds_count", api="swift", method="GET"
                 ) == swift_gets
    assert value(after, "strato_request_duration_seconds_bucket", api="swift",
                 method="GET", le="+Inf") == swift_gets
    assert 0 < value(after, "strato_request_duration_seconds_sum", api="swift",
                     method="GET") < swift_gets * 5

    deadline = time.monotonic() + 10  # set by the background worker every expirer pass
    while value(scrape(srv), "strato_policy_objects", policy="gold") != PUTS:
        assert time.monotonic() < deadline, "per-policy gauges not updated"
        time.sleep(0.2)
    samples = scrape(srv)
    assert value(samples, "strato_policy_bytes", policy="gold") == PUTS * SIZE
    assert value(samples, "strato_policy_containers", policy="cold") == 1
    assert value(samples, "strato_policy_objects", policy="cold") == 0
    assert value(samples, "strato_policy_disk_free_bytes", policy="gold") > 0
    assert value(samples, "strato_background_runs_total", job="expirer") >= 1
    assert time.time() - value(samples, "strato_background_last_success_timestamp_seconds",
                               job="expirer") < 60


def test_refused_logins_are_counted_by_kind_and_reason(srv: Server) -> None:
    before = scrape(srv)
    srv.add_user("metrics", "mallory", "right-password")
    for _ in range(3):  # wrong passwords up to the limit, then a lockout
        resp = httpx.get(f"{srv.url}/auth/v1.0", headers={"X-Auth-User": "metrics:mallory",
                                                          "X-Auth-Key": "wrong"})
        assert resp.status_code == 401
    resp = httpx.get(f"{srv.url}/auth/v1.0", headers={"X-Auth-User": "metrics:mallory",
                                                      "X-Auth-Key": "right-password"})
    assert resp.status_code == 429
    deadline = time.monotonic() + 10
    while True:
        after = scrape(srv)
        failures = (value(after, "strato_auth_failures_total", kind="password")
                    - value(before, "strato_auth_failures_total", kind="password"))
        refused = (value(after, "strato_auth_refused_total", reason="lockout_user_client")
                   - value(before, "strato_auth_refused_total", reason="lockout_user_client"))
        if (failures, refused) == (3, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (failures, refused) == (3, 1)


def test_main_port_metrics_need_an_admin_token(srv: Server) -> None:
    url = f"{srv.url}/metrics"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    _, member = srv.auth_v1("demo:demo", srv.passwords["demo"])
    assert httpx.get(url, headers={"X-Auth-Token": member}).status_code == 403
    _, admin = srv.auth_v1("admin:admin", srv.passwords["admin"])
    for headers in ({"X-Auth-Token": admin}, {"Authorization": f"Bearer {admin}"}):
        resp = httpx.get(url, headers=headers)
        assert resp.status_code == 200
        assert value(parse(resp.text), "strato_requests_total", api="swift") > 0
    assert httpx.post(url, headers={"X-Auth-Token": admin}).status_code == 405


def test_each_start_begins_at_zero_in_a_directory_it_removes(tmp_path: Path) -> None:
    """Prometheus expects a restarted target's counters to restart: the workers' metric
    files live in a directory made at start and removed at a clean stop."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = Server(tmp_path / "data", env={"TMPDIR": str(tmp)}).start()
    try:
        made = list(tmp.glob("strato-metrics-*"))
        assert len(made) == 1
        deadline = time.monotonic() + 10
        while not any(made[0].glob("*.db")):  # the worker's file, from its first flush
            assert time.monotonic() < deadline, "no metric file written"
            time.sleep(0.1)
    finally:
        server.stop()
    assert not made[0].exists()
