"""Two nodes on one PostgreSQL database and one data directory race on one name: PUTs of
one object through both end with one of the bodies, whole, listed once and counted once, and
the sweep leaves no blob of the losers (with clocks that disagree: test_clock_skew.py);
both nodes creating one container at once succeed, with one container."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.harness import Server
from tests.scaleout.nodes import on, start_nodes

SWEEP_MIN_AGE = 3.0
PUTS = 24


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Server, Server, str, str, str]]:
    """(node A, node B, A's storage URL of demo, its token, the database URL)."""
    url = pg.create_database()
    started = start_nodes(Path(tmp_path_factory.mktemp("races")), 2, url, extra_args=(
        "--sweep-min-age", str(SWEEP_MIN_AGE), "--sweep-interval", "1"))
    a, b = started
    storage, token = a.auth_v1("demo:demo", a.passwords["demo"])
    yield a, b, storage, token, url
    for node in started:
        node.stop()
    pg.drop_database(url)


def body(number: int) -> bytes:
    """Over inline_bytes for even numbers (a blob file each), under it for odd ones."""
    size = 100_000 + number if number % 2 == 0 else 1000 + number
    return bytes([number]) * size


def test_racing_puts_of_one_name_through_two_nodes_leave_one_whole_body_and_no_orphan(
        nodes: tuple[Server, Server, str, str, str]) -> None:
    a, b, storage, token, db = nodes
    headers = {"X-Auth-Token": token}
    assert httpx.put(f"{storage}/race", headers=headers).status_code == 201

    def put(number: int) -> int:
        node = (a, b)[number % 2]
        return httpx.put(on(node, f"{storage}/race/o"), headers=headers, content=body(number),
                         timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(put, range(PUTS)))
    # the newest timestamp wins: a PUT committed after a newer one of the name is accepted
    # and dropped (202, as Swift answers it)
    assert set(codes) <= {201, 202} and 201 in codes, codes

    bodies = {hashlib.md5(body(n)).hexdigest(): body(n) for n in range(PUTS)}
    winners = set()
    for node in (a, b):
        got = httpx.get(on(node, f"{storage}/race/o"), headers=headers)
        assert got.status_code == 200
        assert got.content in bodies.values(), "not the body of one PUT"
        winners.add(got.content)
        listing = httpx.get(on(node, f"{storage}/race"), headers=headers,
                            params={"format": "json"}).json()
        assert [(o["name"], o["bytes"], o["hash"]) for o in listing] == [
            ("o", len(got.content), hashlib.md5(got.content).hexdigest())]
        head = httpx.head(on(node, f"{storage}/race"), headers=headers)
        assert (head.headers["X-Container-Object-Count"],
                head.headers["X-Container-Bytes-Used"]) == ("1", str(len(got.content)))
    assert len(winners) == 1, "the nodes disagree on the winner"

    # the losers' blob files go with the sweep (replaced blobs at once, any orphan a
    # crash could leave after SWEEP_MIN_AGE); the winner's stays
    objects = a.data_dir / "objects"
    deadline = time.monotonic() + SWEEP_MIN_AGE + 30
    while time.monotonic() < deadline:
        files = {p.name for p in objects.rglob("*") if p.is_file()}
        rows = {str(r[0]) for r in pg.fetch(db, "SELECT blob_id FROM objects WHERE"
                                            " blob_id NOT LIKE 'inline:%'")}
        if files == rows:
            break
        time.sleep(0.5)
    assert files == rows
    assert len(files) == (1 if len(next(iter(winners))) > 64 * 1024 else 0)


def test_two_nodes_creating_one_container_at_once_both_succeed_with_one_container(
        nodes: tuple[Server, Server, str, str, str]) -> None:
    a, b, storage, token, _ = nodes
    headers = {"X-Auth-Token": token}
    for round_ in range(5):
        name = f"both-{round_}"

        def create(node: Server, name: str = name) -> int:
            return httpx.put(on(node, f"{storage}/{name}"), headers=headers,
                             timeout=60).status_code

        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(create, (a, b, a, b)))
        assert set(codes) <= {201, 202} and 201 in codes, codes
        listing = httpx.get(storage, headers=headers, params={"format": "json",
                                                             "prefix": name}).json()
        assert [c["name"] for c in listing] == [name]
