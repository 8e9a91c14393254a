"""Two nodes on one PostgreSQL database whose clocks disagree: node B runs 30 seconds
behind node A (libfaketime preloaded into B's processes, as a host whose clock drifted).
The newest timestamp wins whatever the commit order, as in Swift: B's PUT of a name A wrote
is older and loses with 202 even though it commits last, its DELETE and POST get 409, and
the listing, the counters and the blob files on disk hold A's object alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import pg
from tests.harness import Server
from tests.scaleout.nodes import on, start_nodes

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
SKEW = 30.0

pytestmark = pytest.mark.skipif(not FAKETIME.exists(),
                                reason="needs libfaketime (scripts/test installs it)")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Server, Server, str, dict[str, str], str]]:
    """(node A, node B behind it, A's storage URL of demo, its auth headers, database)."""
    url = pg.create_database()
    behind = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": f"-{SKEW:g}",
              "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    started = start_nodes(Path(tmp_path_factory.mktemp("skew")), 2, url,
                          node_env={1: behind})
    a, b = started
    storage, token = a.auth_v1("demo:demo", a.passwords["demo"])
    yield a, b, storage, {"X-Auth-Token": token}, url
    for node in started:
        node.stop()
    pg.drop_database(url)


def body(tag: str) -> bytes:
    """Over inline_bytes: each PUT writes a blob file of its own."""
    return tag.encode() * (100_000 // len(tag))


def files_and_rows(server: Server, db: str, container: str) -> tuple[set[str], set[str], int]:
    """The blob files on disk, the blob ids rows refer to, and how many in `container`."""
    files = {p.name for p in (server.data_dir / "objects").rglob("*") if p.is_file()}
    rows = {str(r[0]) for r in pg.fetch(db, "SELECT blob_id FROM objects"
                                        " WHERE blob_id NOT LIKE 'inline:%'")}
    mine = pg.fetch(db, "SELECT count(*) FROM objects o JOIN containers c"
                    " ON c.id = o.container_id WHERE c.name = $1 AND o.blob_id NOT LIKE"
                    " 'inline:%'", container.encode())
    return files, rows, int(mine[0][0])  # type: ignore[call-overload]


def test_node_b_clock_is_behind(nodes: tuple[Server, Server, str, dict[str, str], str]
                                ) -> None:
    """The premise: B stamps its writes SKEW seconds earlier than A."""
    a, b, storage, headers, _ = nodes
    assert httpx.put(f"{storage}/premise", headers=headers).status_code == 201
    stamps = []
    for node, name in ((a, "from-a"), (b, "from-b")):
        url = on(node, f"{storage}/premise/{name}")
        assert httpx.put(url, headers=headers, content=b"x").status_code == 201
        stamps.append(float(httpx.head(url, headers=headers).headers["X-Timestamp"]))
    assert stamps[0] - stamps[1] > SKEW - 5, stamps


def test_newer_put_wins_whatever_the_commit_order(
        nodes: tuple[Server, Server, str, dict[str, str], str]) -> None:
    a, b, storage, headers, db = nodes
    assert httpx.put(f"{storage}/skew", headers=headers).status_code == 201
    new, old = body("new-from-a"), body("old-from-b")
    # A first, then B (committed last, yet older): B's PUT is accepted and dropped
    assert httpx.put(on(a, f"{storage}/skew/first-a"), headers=headers,
                     content=new).status_code == 201
    late = httpx.put(on(b, f"{storage}/skew/first-a"), headers=headers, content=old)
    assert late.status_code == 202, late.text
    # B first, then A: A replaces it as usual
    assert httpx.put(on(b, f"{storage}/skew/first-b"), headers=headers,
                     content=old).status_code == 201
    assert httpx.put(on(a, f"{storage}/skew/first-b"), headers=headers,
                     content=new).status_code == 201
    for node in (a, b):
        for name in ("first-a", "first-b"):
            got = httpx.get(on(node, f"{storage}/skew/{name}"), headers=headers)
            assert got.status_code == 200 and got.content == new, (node.url, name)
        listing = httpx.get(on(node, f"{storage}/skew"), headers=headers,
                            params={"format": "json"}).json()
        digest = hashlib.md5(new).hexdigest()
        assert [(o["name"], o["bytes"], o["hash"]) for o in listing] == [
            ("first-a", len(new), digest), ("first-b", len(new), digest)]
        head = httpx.head(on(node, f"{storage}/skew"), headers=headers)
        assert (head.headers["X-Container-Object-Count"],
                head.headers["X-Container-Bytes-Used"]) == ("2", str(2 * len(new)))
    # the loser's blob went with its answer, the replaced one with the replacement: no
    # sweep needed, every file on disk is a row's
    files, rows, here = files_and_rows(a, db, "skew")
    assert files == rows and here == 2


def test_older_delete_and_post_leave_the_newer_object(
        nodes: tuple[Server, Server, str, dict[str, str], str]) -> None:
    a, b, storage, headers, _ = nodes
    assert httpx.put(f"{storage}/kept", headers=headers).status_code == 201
    url = f"{storage}/kept/o"
    assert httpx.put(on(a, url), headers=headers, content=b"from a").status_code == 201
    assert httpx.delete(on(b, url), headers=headers).status_code == 409
    assert httpx.post(on(b, url), headers={**headers, "X-Object-Meta-B": "1"}
                      ).status_code == 409
    got = httpx.get(on(a, url), headers=headers)
    assert got.content == b"from a" and "X-Object-Meta-B" not in got.headers
    head = httpx.head(on(b, f"{storage}/kept"), headers=headers)
    assert head.headers["X-Container-Object-Count"] == "1"
    # A's own clock is newer: its POST and DELETE go through
    assert httpx.post(on(a, url), headers={**headers, "X-Object-Meta-A": "1"}
                      ).status_code == 202
    assert httpx.delete(on(a, url), headers=headers).status_code == 204
    assert httpx.head(on(b, url), headers=headers).status_code == 404


def test_racing_puts_through_both_nodes_leave_a_body_of_node_a(
        nodes: tuple[Server, Server, str, dict[str, str], str]) -> None:
    """Every PUT through A is newer than every PUT through B sent at about the same time:
    whatever order they commit in, one of A's bodies is the object, counted once, and no
    blob of the others stays."""
    a, b, storage, headers, db = nodes
    assert httpx.put(f"{storage}/race", headers=headers).status_code == 201
    bodies = {n: body(f"body-{n:02d}-") for n in range(16)}

    def put(number: int) -> int:
        node = (a, b)[number % 2]
        return httpx.put(on(node, f"{storage}/race/o"), headers=headers,
                         content=bodies[number], timeout=60).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(put, range(16)))
    assert set(codes) <= {201, 202} and codes.count(201) >= 1, codes
    got = httpx.get(on(b, f"{storage}/race/o"), headers=headers)
    winner = next(n for n, data in bodies.items() if data == got.content)
    assert winner % 2 == 0, f"body {winner}, written through B, beat A's newer ones"
    head = httpx.head(on(a, f"{storage}/race"), headers=headers)
    assert (head.headers["X-Container-Object-Count"],
            head.headers["X-Container-Bytes-Used"]) == ("1", str(len(got.content)))
    files, rows, here = files_and_rows(a, db, "race")  # each answer came after its blob
    assert files == rows and here == 1  # was dropped: no sweep needed
