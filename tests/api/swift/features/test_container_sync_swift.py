"""Container sync between Strato and a real OpenStack Swift cluster, both ways.

One realm (Swift's container-sync-realms.conf format on both sides) holds two clusters:
`strato` (a Strato server, whose sync job pushes by itself) and `swift` (Swift 2.38.3 with its
`container_sync` middleware, whose sync daemon is run once per round here). What one side
writes, posts and deletes arrives on the other with the same name, ETag, timestamp, content
type and metadata; a Static Large Object arrives with its segments (their container syncs
too) and reads back whole. Each side refuses a push signed with the wrong container key.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urlparse

import httpx
import pytest

from bench.swift_cluster import SwiftCluster, SyncRealm
from tests.api.swift.features.test_container_sync import listing, sign, wait_for
from tests.harness import Server, free_port
from tests.realswift import swift_cluster

REALM = "test_realm"
REALM_KEY = "realm-secret"
SYNC_KEY = "container-secret"
OBJECTS = 300
"""Small objects written to Strato and synced to Swift (a third as many go the other way)."""
ODD = ("odd/ünïcødé name.txt", "odd/plus+percent%25 amp&semi;=?.txt")
"""Names whose quoted form (which the signature covers) differs from the name itself."""
EXTRA = 4 + len(ODD)
"""Objects besides the numbered ones: the SLO `big`, `expiring`, `large`, `link` and the ODD
names."""
LARGE = 100 * 1024
BUDGET = 170.0
"""Seconds all three tests may take together, both servers' start not counted (Swift's
waits at most 90 s). Unloaded on 2 cores they take about 35 s (the Strato-to-Swift sync
11 s, two runs of Swift's daemon 13 s with their writes); the bound leaves room for load."""


@dataclass
class Pair:
    strato: Server
    swift: SwiftCluster
    to_strato: str
    """//realm/strato/<account>: where Swift's containers sync to."""
    until: float
    """time.monotonic() past which the tests have taken too long."""

    def run_daemon(self) -> str:
        """One run of Swift's container sync daemon, within the budget."""
        return self.swift.run_container_sync(timeout=max(1.0, self.until - time.monotonic()))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp_path = tmp_path_factory.mktemp("swiftsync")
    port = free_port()
    sync = SyncRealm(REALM, REALM_KEY, "swift", {"strato": f"http://127.0.0.1:{port}/v1/"})
    with swift_cluster(tmp_path / "swift", sync) as cluster:
        realms = tmp_path / "container-sync-realms.conf"
        realms.write_text((cluster.etc / "container-sync-realms.conf").read_text())
        srv = Server(tmp_path / "data", port=port, env={
            "STRATO_CONTAINER_SYNC_REALMS": str(realms),
            "STRATO_CONTAINER_SYNC_INTERVAL": "0.5",
            "STRATO_CONTAINER_SYNC_CURRENT": f"//{REALM}/strato"})
        try:
            srv.start()
            srv.add_user("test", "tester", "testing", role="admin")
            url, _ = srv.auth_v1("test:tester", "testing")
            yield Pair(srv, cluster, f"//{REALM}/strato/{urlparse(url).path.split('/')[2]}",
                       time.monotonic() + BUDGET)
        finally:
            srv.stop()


def settle(pair: Pair, check: Callable[[], bool], until: float, what: str) -> None:
    """wait_for, failing with what Strato's sync job said (its warnings name the refusals)."""
    try:
        wait_for(check, until, what)
    except AssertionError as exc:
        said = [line for line in pair.strato.log_path.read_text(errors="replace").splitlines()
                if "container_sync" in line or "container sync" in line]
        raise AssertionError(f"{exc}; Strato's sync job said:\n" + "\n".join(said[-20:])
                             ) from None


def strato_client(pair: Pair) -> httpx.Client:
    url, token = pair.strato.auth_v1("test:tester", "testing")
    return httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=60)


def swift_client(pair: Pair) -> httpx.Client:
    url, token = pair.swift.auth()
    return httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=60)


def account_of(http: httpx.Client) -> str:
    return urlparse(str(http.base_url)).path.split("/")[2]


def write(http: httpx.Client, container: str, count: int, prefix: str) -> None:
    """`count` small objects with metadata, the ODD names, and an SLO `big` over two segments in
    `<container>-segs`."""
    def put(i: int) -> None:
        response = http.put(f"{container}/{prefix}-{i:04d}",
                            content=f"{prefix} {i}".encode() * (i % 5 + 1),
                            headers={"X-Object-Meta-Index": str(i), "Content-Type": "text/x-n"})
        assert response.status_code == 201, response.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    for name in ODD:
        assert http.put(f"{container}/{quote(name)}", content=name.encode()).status_code == 201
    assert http.put(f"{container}/expiring", content=b"e", headers={
        "X-Delete-At": str(int(time.time()) + 3600)}).status_code == 201
    # past 64 KiB Strato's job asks with a HEAD first; a symlink travels as one
    assert http.put(f"{container}/large", content=b"L" * LARGE).status_code == 201
    assert http.put(f"{container}/link", headers={
        "X-Symlink-Target": f"{container}/{prefix}-0040"}).status_code == 201
    manifest = []
    for n in range(2):
        body = bytes([65 + n]) * 1000
        assert http.put(f"{container}-segs/big/{n}", content=body).status_code == 201
        manifest.append({"path": f"/{container}-segs/big/{n}",
                         "etag": hashlib.md5(body).hexdigest(), "size_bytes": 1000})
    response = http.put(f"{container}/big", params={"multipart-manifest": "put"},
                        content=json.dumps(manifest).encode(),
                        headers={"X-Object-Meta-Kind": "slo"})
    assert response.status_code == 201, response.text


def change(http: httpx.Client, container: str, prefix: str) -> None:
    """Metadata POSTs on objects 0-19 and deletes of 20-29."""
    for i in range(20):
        assert http.post(f"{container}/{prefix}-{i:04d}",
                         headers={"X-Object-Meta-Posted": f"p{i}"}).status_code == 202
    for i in range(20, 30):
        assert http.delete(f"{container}/{prefix}-{i:04d}").status_code == 204


def meta(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-object-meta-")}


def assert_same(src: httpx.Client, dst: httpx.Client, container: str, prefix: str,
                count: int, to_swift: bool) -> None:
    """What the user sees on both sides: the listing (names and ETags), then each object's
    headers, and the SLO read whole. Swift lists a manifest that arrived by sync under the
    hash of the manifest itself (the SLO's own ETag is system metadata, which a sync does
    not carry), so there the SLO's ETag is compared on a GET; Strato lists it as the
    original does."""
    listed_src, listed_dst = listing(src, container), listing(dst, container)
    assert listed_src.keys() == listed_dst.keys()
    differ = {k: v for k, v in listed_src.items() if listed_dst[k] != v}
    assert differ == ({"big": listed_src["big"]} if to_swift else {})
    assert len(listing(dst, container)) == count - 10 + EXTRA
    for name in ODD:
        got = dst.get(f"{container}/{quote(name)}")
        assert got.content == name.encode(), name
        assert got.headers["X-Timestamp"] == src.head(f"{container}/{quote(name)}").headers[
            "X-Timestamp"]
    assert listing(src, f"{container}-segs") == listing(dst, f"{container}-segs")
    for i in (0, 19, 20, 29, 30, count - 1):
        name = f"{container}/{prefix}-{i:04d}"
        head_src, head_dst = src.head(name), dst.head(name)
        if 20 <= i < 30:
            assert head_src.status_code == head_dst.status_code == 404
            continue
        assert head_dst.status_code == 200, name
        for header in ("Etag", "X-Timestamp", "Content-Type", "Content-Length"):
            assert head_src.headers[header] == head_dst.headers[header], (name, header)
        assert meta(head_src) == meta(head_dst) == (
            {"x-object-meta-posted": f"p{i}"} if i < 20 else {"x-object-meta-index": str(i)})
    expiring = f"{container}/expiring"
    assert dst.head(expiring).headers["X-Delete-At"] == src.head(expiring).headers["X-Delete-At"]
    large = dst.get(f"{container}/large")
    assert large.content == b"L" * LARGE
    assert large.headers["X-Timestamp"] == src.head(f"{container}/large").headers["X-Timestamp"]
    link = dst.head(f"{container}/link", params={"symlink": "get"})
    assert link.headers["X-Symlink-Target"] == f"{container}/{prefix}-0040"
    assert dst.get(f"{container}/link").content == src.get(f"{container}/{prefix}-0040").content
    big_src, big_dst = src.get(f"{container}/big"), dst.get(f"{container}/big")
    assert big_dst.status_code == 200
    assert big_dst.content == big_src.content == b"A" * 1000 + b"B" * 1000
    for header in ("Etag", "X-Static-Large-Object", "X-Timestamp", "X-Object-Meta-Kind"):
        assert big_src.headers[header] == big_dst.headers[header], header


def test_strato_to_swift(pair: Pair) -> None:
    strato, swift = strato_client(pair), swift_client(pair)
    to_swift = f"//{REALM}/swift/{account_of(swift)}"
    # both list the realm alike, each marking itself current
    realms: dict[str, dict[str, dict[str, dict[str, bool]]]] = {
        "TEST_REALM": {"clusters": {}}}
    for url, current in ((pair.strato.url, "STRATO"), (pair.swift.url, "SWIFT")):
        realms["TEST_REALM"]["clusters"] = {"STRATO": {}, "SWIFT": {}, current: {"current": True}}
        assert httpx.get(url + "/info").json()["container_sync"] == {"realms": realms}, url
    for name in ("s2w", "s2w-segs"):
        assert swift.put(name, headers={"X-Container-Sync-Key": SYNC_KEY}).status_code == 201
        assert strato.put(name, headers={"X-Container-Sync-Key": SYNC_KEY}).status_code == 201
    write(strato, "s2w", OBJECTS, "obj")
    until = pair.until
    # both containers start syncing what they hold
    for name in ("s2w", "s2w-segs"):
        assert strato.post(name, headers={"X-Container-Sync-To": f"{to_swift}/{name}"}
                           ).status_code == 204
    settle(pair, lambda: len(listing(swift, "s2w")) == OBJECTS + EXTRA, until, "objects")
    change(strato, "s2w", "obj")
    settle(pair, lambda: len(listing(swift, "s2w")) == OBJECTS + EXTRA - 10
           and swift.head("s2w/obj-0019").headers.get("X-Object-Meta-Posted") == "p19",
           until, "POSTs and deletes")
    settle(pair, lambda: len(listing(swift, "s2w-segs")) == 2, until, "segments")
    assert_same(strato, swift, "s2w", "obj", OBJECTS, to_swift=True)


def test_swift_to_strato(pair: Pair) -> None:
    strato, swift = strato_client(pair), swift_client(pair)
    count = OBJECTS // 3
    for name in ("w2s", "w2s-segs"):
        assert strato.put(name, headers={"X-Container-Sync-Key": SYNC_KEY}).status_code == 201
        assert swift.put(name, headers={"X-Container-Sync-Key": SYNC_KEY,
                                        "X-Container-Sync-To": f"{pair.to_strato}/{name}"}
                         ).status_code == 201
    write(swift, "w2s", count, "up")
    pair.run_daemon()
    assert len(listing(strato, "w2s")) == count + EXTRA
    change(swift, "w2s", "up")
    pair.run_daemon()
    assert_same(swift, strato, "w2s", "up", count, to_swift=False)


def test_wrong_key_is_refused_on_both_sides(pair: Pair) -> None:
    strato, swift = strato_client(pair), swift_client(pair)
    stamp = f"{time.time():016.05f}"

    def push(http: httpx.Client, container: str, key: str) -> httpx.Response:
        """A signed PUT, as either side's sync sends it."""
        path = f"/v1/{account_of(http)}/{container}/pushed"
        nonce = uuid.uuid4().hex
        sig = sign("PUT", quote(path), stamp, nonce, REALM_KEY, key)
        return httpx.put(f"{urlparse(str(http.base_url))._replace(path='').geturl()}{path}",
                         content=b"pushed", headers={
                             "X-Timestamp": stamp,
                             "X-Container-Sync-Auth": f"{REALM} {nonce} {sig}"})

    for http in (strato, swift):
        assert http.put("guarded", headers={"X-Container-Sync-Key": SYNC_KEY}
                        ).status_code == 201
        assert push(http, "guarded", "not-the-key").status_code == 401
        assert http.head("guarded/pushed").status_code == 404
        # the same signature scheme with the right key is taken, with the sender's time
        assert push(http, "guarded", SYNC_KEY).status_code == 201
        assert http.head("guarded/pushed").headers["X-Timestamp"] == stamp

    # each side's own sync, to a container whose key differs, delivers nothing
    strato.put("keyed", headers={"X-Container-Sync-Key": "other-key"})
    swift.put("keyed", headers={"X-Container-Sync-Key": "other-key"})
    assert strato.put("wrong", headers={
        "X-Container-Sync-Key": SYNC_KEY,
        "X-Container-Sync-To": f"//{REALM}/swift/{account_of(swift)}/keyed"}).status_code == 201
    assert swift.put("wrong", headers={
        "X-Container-Sync-Key": SYNC_KEY,
        "X-Container-Sync-To": f"{pair.to_strato}/keyed"}).status_code == 201
    for http in (strato, swift):
        assert http.put("wrong/o", content=b"o").status_code == 201
    output = pair.run_daemon()
    assert "Unauth" in output  # Swift's daemon logs the 401
    wait_for(lambda: "refused the sync key" in pair.strato.log_path.read_text(errors="replace"),
             pair.until, "Strato's job told of the 401")
    assert listing(strato, "keyed") == listing(swift, "keyed") == {}
