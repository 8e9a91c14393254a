"""Container sync between two real Strato servers in one realm, both ways, with a restart.

Each server reads the same realms file (Swift's container-sync-realms.conf format); the
sync job of each pushes over real sockets to the other. Syncing with a real OpenStack Swift
is in test_container_sync_swift.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlparse

import httpx
import pytest

from tests.harness import Server, free_port

REALM_KEY = "realm-secret"
SYNC_KEY = "container-secret"
OBJECTS = 1000
BACK = 50
DEADLINE = 150.0
"""Seconds the whole exchange may take. Unloaded it takes well under a minute; on a 2-core
machine at a load of 17 it took 38 s on SQLite and 104 s on PostgreSQL (1,000 uploads
26 s, the source's restart 13 s, the sync about 22 objects/s), so the bound leaves room."""


def sign(method: str, path: str, stamp: str, nonce: str, realm_key: str, key: str) -> str:
    """Swift's container sync signature, written out here so a wrong server-side scheme
    fails the test instead of agreeing with itself."""
    text = f"{method}\n{path}\n{stamp}\n{nonce}\n{key}".encode()
    return hmac.new(realm_key.encode(), text, hashlib.sha1).hexdigest()


def client(srv: Server) -> httpx.Client:
    url, token = srv.auth_v1("test:tester", "testing")
    return httpx.Client(base_url=url + "/", headers={"X-Auth-Token": token}, timeout=60)


def listing(http: httpx.Client, container: str) -> dict[str, str]:
    """name -> hash of every object, through as many pages as it takes."""
    found: dict[str, str] = {}
    marker = ""
    while True:
        page = http.get(container, params={"format": "json", "marker": marker}).json()
        if not page:
            return found
        for entry in page:
            assert entry["name"] not in found  # every object once
            found[entry["name"]] = entry.get("slo_etag", entry["hash"])
        marker = page[-1]["name"]


def wait_for(check: Callable[[], bool], until: float, what: str, pause: float = 0.5) -> None:
    while not check():
        if time.monotonic() > until:
            raise AssertionError(f"not synced in time: {what}")
        time.sleep(pause)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two servers (`east`, `west`) in one realm; each test uses containers of its own."""
    tmp_path = tmp_path_factory.mktemp("sync")
    ports = free_port(), free_port()
    realms = tmp_path / "container-sync-realms.conf"
    realms.write_text(f"[test_realm]\nkey = {REALM_KEY}\n"
                      f"cluster_east = http://127.0.0.1:{ports[0]}/v1/\n"
                      f"cluster_west = http://127.0.0.1:{ports[1]}/v1/\n")
    env = {"STRATO_CONTAINER_SYNC_REALMS": str(realms),
           "STRATO_CONTAINER_SYNC_INTERVAL": "0.5",
           # small batches, so the source's restart falls in the middle of the sync
           "STRATO_CONTAINER_SYNC_BATCH": "100"}
    servers = [Server(tmp_path / f"data-{i}", port=port,
                      env={**env, "STRATO_CONTAINER_SYNC_CURRENT": f"//test_realm/{place}"})
               for i, (port, place) in enumerate(zip(ports, ("east", "west"), strict=True))]
    try:
        for srv in servers:
            srv.start()
            srv.add_user("test", "tester", "testing", role="admin")
        yield servers[0], servers[1]
    finally:
        for srv in servers:
            srv.stop()


def test_two_servers_sync_both_ways_across_a_restart(pair: tuple[Server, Server]) -> None:
    east, west = pair
    until = time.monotonic() + DEADLINE
    a, b = client(east), client(west)
    account_a = urlparse(str(a.base_url)).path.split("/")[2]
    account_b = urlparse(str(b.base_url)).path.split("/")[2]
    info = httpx.get(east.url + "/info").json()
    assert info["container_sync"] == {
        "realms": {"TEST_REALM": {"clusters": {"EAST": {"current": True}, "WEST": {}}}}}
    assert httpx.get(west.url + "/info").json()["container_sync"]["realms"]["TEST_REALM"][
        "clusters"] == {"EAST": {}, "WEST": {"current": True}}

    # the destination's own objects exist before it syncs back: they go too
    assert b.put("dst").status_code == 201
    for i in range(BACK):
        assert b.put(f"dst/back-{i:03d}", content=f"back {i}".encode(),
                     headers={"X-Object-Meta-Origin": "west"}).status_code == 201
    for srv_client, name, to in ((a, "segs", f"//test_realm/west/{account_b}/segs"),
                                 (b, "segs", ""),
                                 (a, "src", ""),
                                 (b, "dst", f"//test_realm/east/{account_a}/src")):
        headers = {"X-Container-Sync-Key": SYNC_KEY}
        if to:
            headers["X-Container-Sync-To"] = to
        assert srv_client.put(name, headers=headers).status_code in (201, 202)
    # the key is shown to the owner, as Swift's HEAD does
    assert a.head("src").headers["X-Container-Sync-Key"] == SYNC_KEY

    def put(i: int) -> None:
        response = a.put(f"src/obj-{i:04d}", content=f"object {i}".encode() * (i % 7 + 1),
                         headers={"X-Object-Meta-Index": str(i), "Content-Type": "text/x-n"})
        assert response.status_code == 201, response.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(OBJECTS)))
    # a static large object: its segments sync through their own container
    seg_etags = []
    for n in range(2):
        body = bytes([65 + n]) * 1000
        assert a.put(f"segs/big/{n}", content=body).status_code == 201
        seg_etags.append(hashlib.md5(body).hexdigest())
    manifest = [{"path": f"/segs/big/{n}", "etag": seg_etags[n], "size_bytes": 1000}
                for n in range(2)]
    assert a.put("src/big", params={"multipart-manifest": "put"},
                 content=json.dumps(manifest).encode()).status_code == 201

    # symlinks travel as symlinks: a dynamic one and a static one (target etag and size)
    assert a.put("src/link", headers={"X-Symlink-Target": "src/obj-0500"}).status_code == 201
    target_etag = a.head("src/obj-0501").headers["Etag"]
    assert a.put("src/static", headers={"X-Symlink-Target": "src/obj-0501",
                                        "X-Symlink-Target-Etag": target_etag}
                 ).status_code == 201

    # the source starts syncing what it holds, dies midway (SIGKILL: nothing flushed on the
    # way out) and comes back
    assert a.post("src", headers={"X-Container-Sync-To": f"//test_realm/west/{account_b}/dst"}
                  ).status_code == 204
    wait_for(lambda: int(b.head("dst").headers["X-Container-Object-Count"]) >= BACK + 100,
             until, "first batches", pause=0.05)
    assert int(b.head("dst").headers["X-Container-Object-Count"]) < BACK + OBJECTS
    east.kill()
    east.start()
    a = client(east)

    # metadata POSTs and deletes on both sides after the restart
    for i in range(0, 100):
        assert a.post(f"src/obj-{i:04d}", headers={"X-Object-Meta-Posted": f"p{i}"}
                      ).status_code == 202
    for i in range(100, 150):
        assert a.delete(f"src/obj-{i:04d}").status_code == 204
    assert b.delete("dst/back-000").status_code == 204

    total = OBJECTS - 50 + 3 + BACK - 1  # deleted on the source; SLO, links; deleted on west
    wait_for(lambda: len(listing(a, "src")) == total and listing(b, "dst") == listing(a, "src"),
             until, "both containers hold the same objects")
    wait_for(lambda: b.head("dst/obj-0099").headers.get("X-Object-Meta-Posted") == "p99",
             until, "metadata POST")
    assert listing(a, "src") == listing(b, "dst")  # same names, same ETags

    for i in (0, 1, 99, 150, 151, 500, 998, 999):
        head_a, head_b = a.head(f"src/obj-{i:04d}"), b.head(f"dst/obj-{i:04d}")
        assert head_b.status_code == 200
        for header in ("Etag", "X-Timestamp", "Content-Type", "Content-Length"):
            assert head_a.headers[header] == head_b.headers[header], header
        meta_a = {k: v for k, v in head_a.headers.items() if k.startswith("x-object-meta-")}
        meta_b = {k: v for k, v in head_b.headers.items() if k.startswith("x-object-meta-")}
        # a POST replaces the user metadata, on both sides alike
        assert meta_a == meta_b == ({"x-object-meta-posted": f"p{i}"} if i < 100
                                    else {"x-object-meta-index": str(i)})
    assert a.head("src/obj-0120").status_code == 404
    assert b.head("dst/obj-0120").status_code == 404
    back = a.get("src/back-007")
    assert back.content == b"back 7" and back.headers["X-Object-Meta-Origin"] == "west"
    link = b.head("dst/link", params={"symlink": "get"})
    assert link.headers["X-Symlink-Target"] == "src/obj-0500"
    static = b.head("dst/static", params={"symlink": "get"})
    assert static.headers["X-Symlink-Target"] == "src/obj-0501"
    assert static.headers["X-Symlink-Target-Etag"] == target_etag
    assert static.headers["X-Symlink-Target-Bytes"] == a.head("src/obj-0501").headers[
        "Content-Length"]
    wait_for(lambda: b.head("segs/big/1").status_code == 200, until, "SLO segments")
    big = b.get("dst/big")
    assert big.status_code == 200
    assert big.content == b"A" * 1000 + b"B" * 1000
    assert big.headers["Etag"] == a.head("src/big").headers["Etag"]
    assert big.headers["X-Static-Large-Object"] == "True"


def test_wrong_key_unknown_realm_and_older_writes_are_refused(
        pair: tuple[Server, Server]) -> None:
    _, west = pair
    b = client(west)
    account_b = urlparse(str(b.base_url)).path.split("/")[2]
    assert b.put("guarded", headers={"X-Container-Sync-Key": SYNC_KEY}).status_code == 201
    path = f"/v1/{account_b}/guarded/o"
    stamp = f"{time.time():016.05f}"

    def signed(method: str, key: str, realm_key: str = REALM_KEY, ts: str = stamp,
               **kwargs: object) -> httpx.Response:
        nonce = uuid.uuid4().hex
        auth = f"test_realm {nonce} {sign(method, quote(path), ts, nonce, realm_key, key)}"
        return httpx.request(method, west.url + path, headers={
            "X-Container-Sync-Auth": auth, "X-Timestamp": ts}, **kwargs)  # type: ignore

    refused = signed("PUT", "not-the-key", content=b"x")
    assert refused.status_code == 401
    assert refused.text == ("X-Container-Sync-Auth header not valid; contact cluster "
                            "operator for support.")
    assert signed("PUT", SYNC_KEY, realm_key="wrong-realm-key", content=b"x"
                  ).status_code == 401
    assert b.head("guarded/o").status_code == 404
    # the right key writes, keeping the sender's timestamp; an older push loses
    assert signed("PUT", SYNC_KEY, content=b"new").status_code == 201
    assert b.head("guarded/o").headers["X-Timestamp"] == stamp
    older = f"{float(stamp) - 10:016.05f}"
    # (Swift's proxy turns its object servers' 409 into 202 for a PUT, not for a DELETE)
    assert signed("PUT", SYNC_KEY, ts=older, content=b"old").status_code == 202
    assert signed("DELETE", SYNC_KEY, ts=older).status_code == 409
    assert b.get("guarded/o").content == b"new"
    # a pushed delete is remembered (a tombstone): a push of anything older than the delete,
    # such as an echo of the deleted object still queued on the other side, stays refused
    deleted_at = f"{float(stamp) + 10:016.05f}"
    assert signed("DELETE", SYNC_KEY, ts=deleted_at).status_code == 204
    assert signed("PUT", SYNC_KEY, ts=stamp, content=b"new").status_code == 202
    assert signed("PUT", SYNC_KEY, ts=f"{float(stamp) + 5:016.05f}", content=b"between"
                  ).status_code == 202
    assert b.head("guarded/o").status_code == 404
    assert signed("PUT", SYNC_KEY, ts=f"{float(stamp) + 20:016.05f}", content=b"newer"
                  ).status_code == 201
    assert b.get("guarded/o").content == b"newer"
    # a signature covers one container only: the key of guarded does not reach another
    assert b.put("other").status_code == 201
    nonce = uuid.uuid4().hex
    other = f"/v1/{account_b}/other/o"
    assert httpx.put(west.url + other, content=b"x", headers={
        "X-Timestamp": stamp, "X-Container-Sync-Auth":
        f"test_realm {nonce} {sign('PUT', quote(other), stamp, nonce, REALM_KEY, SYNC_KEY)}"}
    ).status_code == 401
    # unknown realms and clusters are refused with Swift's messages
    bad = b.post("guarded", headers={"X-Container-Sync-To": f"//nope/west/{account_b}/x"})
    assert (bad.status_code, bad.text) == (400, "No realm key for 'nope'")
    bad = b.post("guarded", headers={"X-Container-Sync-To": f"//test_realm/north/{account_b}/x"})
    assert (bad.status_code, bad.text) == (400, "No cluster endpoint for 'test_realm' 'north'")
    assert b.put("versioned", headers={"X-Versions-Enabled": "true"}).status_code == 201
    bad = b.post("versioned", headers={"X-Container-Sync-To": f"//test_realm/west/{account_b}/x"})
    assert (bad.status_code, bad.text) == (400, "Cannot configure container sync on a "
                                                "container with object versioning configured.")
    assert b.put("source", headers={"X-Container-Sync-To": f"//test_realm/west/{account_b}/x",
                                    "X-Container-Sync-Key": SYNC_KEY}).status_code == 201
    bad = b.post("source", headers={"X-Versions-Enabled": "true"})
    assert (bad.status_code, bad.text) == (400, "Cannot enable object versioning on a "
                                                "container configured as source of container "
                                                "syncing.")
    assert b.post("guarded", headers={"X-Versions-Enabled": "true"}).status_code == 204
    # a client's own X-Timestamp, without a signature, is not believed
    assert b.put("guarded/p", content=b"x", headers={"X-Timestamp": "1000000000.00000"}
                 ).status_code == 201
    assert float(b.head("guarded/p").headers["X-Timestamp"]) > 1700000000
