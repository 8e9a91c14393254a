"""Two nodes as separate hosts: each `strato serve` in a network namespace of its own,
PostgreSQL (the test's own, `private_pg.py`) in another, the test's requests sent from a
fourth, all on one bridge (`netns.py`); the nodes share one data directory, as a shared
filesystem, but not the identity mark the processes of one host share.

What separate network stacks show that processes on one loopback cannot: a write
acknowledged through one node reads at once through the other and the listings and
counters agree, over the network; a token revoked on one node is refused by the other
within REUSE_SECONDS, learnt through NOTIFY alone; and when the host of the node that runs
the background jobs vanishes without a FIN (its link cut: no packet in or out), PostgreSQL
notices through its TCP keepalives (SESSION_SETTINGS), the advisory lock goes, and the
other node takes the jobs over within a bound, while requests through it keep working and
nothing acknowledged is lost.

Needs root and `ip netns` (scripts/test runs as root); skips, saying why, without them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from strato.server.background import RETRY_LOCK_SECONDS
from strato.stores.metadata.postgresql.db import LEADER_LOCK, REUSE_SECONDS, SESSION_SETTINGS
from tests import pg
from tests.scaleout import netns
from tests.scaleout.netns import Client, Network, Node, RemoteError, Response, wait_for
from tests.scaleout.private_pg import PrivatePostgres

KEEPALIVE_SECONDS = (int(SESSION_SETTINGS["tcp_keepalives_idle"])
                     + int(SESSION_SETTINGS["tcp_keepalives_interval"])
                     * int(SESSION_SETTINGS["tcp_keepalives_count"]))
"""How long PostgreSQL keeps the session of a host that went silent (11 s)."""
TAKEOVER_BOUND = KEEPALIVE_SECONDS + RETRY_LOCK_SECONDS + 12.0
"""PostgreSQL's keepalives (counted from the leader's last check of its lock, at most
LEAD_CHECK_SECONDS before the cut), then the other node's next try for the lock (21 s),
with 12 s to spare for a loaded machine."""
LARGE = 100 * 1024  # over inline_bytes: a file in the shared data directory


@dataclass
class Cluster:
    network: Network
    db: PrivatePostgres
    nodes: list[Node]
    client: Client


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(reason)
    netns.delete_abandoned()
    network = Network()
    db: PrivatePostgres | None = None
    client: Client | None = None
    nodes: list[Node] = []
    try:
        network.create()
        db_host = network.add_host("db")
        node_hosts = [network.add_host("n1"), network.add_host("n2")]
        client = Client(network.add_host("client"))
        db = PrivatePostgres(db_host.address, db_host.prefix).init()
        for number, host in enumerate(node_hosts):
            node = netns.start_node(host, client, tmp_path / "data", db.url,
                                    port=8080 + number)
            if nodes:
                node.passwords = nodes[0].passwords
            nodes.append(node)
            node.start()
        yield Cluster(network, db, nodes, client)
    finally:
        try:
            for node in nodes:
                node.kill()  # the cut one could not shut down cleanly
            if client is not None:
                client.close()
            if db is not None:
                db.destroy()
        finally:
            network.destroy()  # kills whatever still runs in its namespaces


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # a checksum, as Swift's ETag


def leader(cluster: Cluster) -> str | None:
    """The address of the node whose session holds the background-job lock: the one
    thing namespaces make visible in PostgreSQL (every node has an address of its own)."""
    rows = pg.fetch(cluster.db.socket_url,
                    "SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a"
                    " USING (pid) WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid = $1 AND l.objid = $2",
                    LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFF_FFFF)
    return str(rows[0][0]) if rows else None


class Api:
    """Requests from the client host with one token, to whichever node."""

    def __init__(self, client: Client, token: str, path: str) -> None:
        self.client, self.token, self.path = client, token, path

    def __call__(self, node: Node, method: str, rest: str = "", *,
                 headers: dict[str, str] | None = None, content: bytes | None = None,
                 token: str | None = None) -> Response:
        sent = {"X-Auth-Token": token or self.token, **(headers or {})}
        return self.client.request(method, f"{node.url}{self.path}{rest}", headers=sent,
                                   content=content)

    def listing(self, node: Node, container: str) -> dict[str, tuple[int, str]]:
        resp = self(node, "GET", f"/{container}?format=json&limit=10000")
        assert resp.status_code == 200, resp.status_code
        listed = resp.json()
        assert isinstance(listed, list)
        return {o["name"]: (o["bytes"], o["hash"]) for o in listed}

    def counts(self, node: Node, container: str) -> tuple[str, str]:
        resp = self(node, "HEAD", f"/{container}")
        assert resp.status_code == 204, resp.status_code
        return resp.headers["x-container-object-count"], resp.headers["x-container-bytes-used"]


def login(cluster: Cluster, node: Node, user: str, project: str) -> str:
    """A Keystone token through `node`."""
    resp = cluster.client.request("POST", f"{node.url}/identity/v3/auth/tokens",
                                  headers={"Content-Type": "application/json"},
                                  content=json.dumps({"auth": {
                                      "identity": {"methods": ["password"], "password": {
                                          "user": {"name": user,
                                                   "password": node.passwords[user]}}},
                                      "scope": {"project": {"name": project}}},
                                  }).encode(), timeout=60)
    assert resp.status_code == 201, (resp.status_code, resp.content[:200])
    return resp.headers["x-subject-token"]


def test_separate_hosts_agree_and_a_vanished_leader_is_replaced(cluster: Cluster) -> None:
    a, b = cluster.nodes
    client = cluster.client
    auth = client.request("GET", f"{a.url}/auth/v1.0", headers={
        "X-Auth-User": "demo:demo", "X-Auth-Key": a.passwords["demo"]})
    assert auth.status_code == 200
    storage = auth.headers["x-storage-url"]
    api = Api(client, auth.headers["x-auth-token"], storage[storage.index("/v1/"):])
    assert api(a, "PUT", "/c").status_code == 201
    assert api(b, "PUT", "/exp").status_code == 201

    # (1) what one node acknowledges, the other serves at once, over the network
    acked: dict[str, bytes] = {}

    def write(node: Node, name: str, size: int) -> None:
        data = (name.encode() * (size // len(name) + 1))[:size]
        resp = api(node, "PUT", f"/c/{name}", content=data)
        assert resp.status_code == 201, (name, resp.status_code)
        acked[name] = data

    for number in range(8):
        here, there = (a, b) if number % 2 == 0 else (b, a)
        name = f"before-{number}"
        write(here, name, LARGE if number % 4 < 2 else 1000 + number)
        got = api(there, "GET", f"/c/{name}")
        assert (got.status_code, got.content) == (200, acked[name]), name
    assert api.listing(a, "c") == api.listing(b, "c")
    assert api.counts(a, "c") == api.counts(b, "c") == (
        str(len(acked)), str(sum(len(d) for d in acked.values())))

    # a token revoked through one node is refused by the other within REUSE_SECONDS
    demo = login(cluster, a, "demo", "demo")
    assert {api(b, "HEAD", "/c", token=demo).status_code for _ in range(6)} == {204}
    admin = login(cluster, a, "admin", "admin")
    revoke = client.request("DELETE", f"{a.url}/identity/v3/auth/tokens",
                            headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
    assert revoke.status_code == 204
    revoked = time.monotonic()  # committed before the answer came
    while True:
        sent = time.monotonic() - revoked
        code = api(b, "HEAD", "/c", token=demo).status_code
        if code == 401:
            break
        assert code == 204, code
        assert sent <= REUSE_SECONDS, f"still accepted {sent:.2f} s after the revocation"
    assert {api(b, "HEAD", "/c", token=demo).status_code for _ in range(6)} == {401}

    # (2) the leader's host vanishes: no FIN, no RST, just silence
    lead_at = wait_for("a node holds the background-job lock", lambda: leader(cluster)
                       is not None, timeout=RETRY_LOCK_SECONDS + 20)
    address = leader(cluster)
    victim, survivor = (a, b) if address == a.host else (b, a)
    assert address == victim.host, (address, a.host, b.host)
    # an object for the expirer, which only a leader runs (a listing would reap it too,
    # so `exp` is never listed)
    assert api(survivor, "PUT", "/exp/soon", headers={"X-Delete-After": "2"},
               content=b"x").status_code == 201
    host = next(h for h in cluster.network.hosts.values() if h.address == victim.host)
    cut_at = time.monotonic()
    cluster.network.cut(host)
    with pytest.raises(RemoteError):  # the cut is real: the victim answers nobody
        client.request("GET", f"{victim.url}/healthcheck", timeout=2)

    # requests through the survivor keep working while the lock is still held for a
    # host that is gone, and after it moves
    slowest = 0.0
    number = 0

    def took_over() -> bool:
        nonlocal number, slowest
        name = f"during-{number}"
        write(survivor, name, LARGE if number % 2 else 500)
        got = api(survivor, "GET", f"/c/{name}")
        assert (got.status_code, got.content) == (200, acked[name]), name
        slowest = max(slowest, got.seconds)
        number += 1
        return leader(cluster) == survivor.host

    wait_for("the survivor takes the lead", took_over,
             TAKEOVER_BOUND - (time.monotonic() - cut_at), interval=0.1)
    takeover = time.monotonic() - cut_at
    print(f"lead held by {address} after {lead_at:.1f} s; its host cut; "
          f"{survivor.host} led {takeover:.1f} s later (bound {TAKEOVER_BOUND:.0f} s); "
          f"{number} writes through it meanwhile, slowest read {slowest * 1000:.0f} ms; "
          f"token refused {sent * 1000:.0f} ms after the revocation")  # with -s

    # the survivor runs the jobs: the expirer reclaims the expired object's row
    wait_for("the expirer runs on the new leader", lambda: not pg.fetch(
        cluster.db.socket_url, "SELECT 1 FROM objects WHERE delete_at IS NOT NULL"),
        timeout=20)
    assert "background jobs run in worker" in survivor.log_path.read_text(errors="replace")

    # nothing acknowledged is lost, and the survivor's listing and counters say so
    for name, data in acked.items():
        got = api(survivor, "GET", f"/c/{name}")
        assert (got.status_code, digest(got.content)) == (200, digest(data)), name
    assert api.listing(survivor, "c") == {n: (len(d), digest(d)) for n, d in acked.items()}
    assert api.counts(survivor, "c") == (str(len(acked)),
                                         str(sum(len(d) for d in acked.values())))
